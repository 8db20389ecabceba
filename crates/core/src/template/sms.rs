//! SMS and Zalo ZNS templates: plain text, rendered in the same sandbox and
//! checked against the same [`VariableSchema`] as email.

use std::collections::BTreeMap;

use minijinja::{Environment, Value};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use super::check::{PartVariables, TemplateError, TemplatePart, VariableSchema};
use super::env::{environment, global_names};
use super::{SmsTemplate, ZnsTemplate};

const SMS: &str = "sms";

/// How an SMS is encoded on the air, which decides what a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    /// The GSM 03.38 alphabet, 7 bits a character: 160 characters in one
    /// message, 153 per part of a longer one.
    Gsm7,
    /// UTF-16, needed as soon as one character is outside GSM-7 (any
    /// Vietnamese letter with a diacritic but à, è, é, ì, ò, ù): 70 units
    /// in one message, 67 per part.
    Ucs2,
}

/// The size of an SMS as operators bill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsSegments {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) the text takes.
    pub units: usize,
    /// Messages (parts) the text is sent as; 0 for empty text.
    pub count: usize,
}

/// One recipient's SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedSms {
    pub body: String,
    pub segments: SmsSegments,
}

/// Counts the segments `body` is sent as.
///
/// Parts are filled as a handset does: a character that takes two units
/// (a GSM-7 escape such as `€`, or a UTF-16 surrogate pair) is never split
/// across two parts.
pub fn sms_segments(body: &str) -> SmsSegments {
    let gsm: Option<Vec<usize>> = body.chars().map(gsm7_septets).collect();
    let (encoding, widths, single, part) = match gsm {
        Some(widths) => (SmsEncoding::Gsm7, widths, 160, 153),
        None => (
            SmsEncoding::Ucs2,
            body.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units = widths.iter().sum();
    let count = match units {
        0 => 0,
        u if u <= single => 1,
        _ => {
            let (mut count, mut used) = (1, 0);
            for w in widths {
                if used + w > part {
                    count += 1;
                    used = 0;
                }
                used += w;
            }
            count
        }
    };
    SmsSegments {
        encoding,
        units,
        count,
    }
}

/// Septets a character takes in GSM-7 (2 for the escaped extension
/// characters), or `None` when GSM-7 cannot carry it.
fn gsm7_septets(c: char) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "\u{0C}^{}\\[~]|€";
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Rendered text as SMS and ZNS send it: trimmed, and in NFC, so a name
/// imported in decomposed form (`e` + combining marks) neither doubles the
/// segment count nor breaks a ZNS length limit.
fn finish(text: &str) -> String {
    text.trim().nfc().collect()
}

/// An SMS template ready to render many times.
#[derive(Debug)]
pub struct CompiledSms {
    env: Environment<'static>,
    variables: PartVariables,
}

impl CompiledSms {
    /// Parses the body; a syntax error names its line and column.
    pub fn compile(template: &SmsTemplate) -> Result<Self, Vec<TemplateError>> {
        let mut env = environment();
        env.add_template_owned(SMS, template.body.clone())
            .map_err(|e| {
                vec![TemplateError::from_minijinja(
                    TemplatePart::Sms,
                    &template.body,
                    &e,
                )]
            })?;
        let globals = global_names(&env);
        let variables = match env.get_template(SMS) {
            Ok(t) => PartVariables::of(TemplatePart::Sms, &t, &globals),
            Err(e) => {
                return Err(vec![TemplateError::from_minijinja(
                    TemplatePart::Sms,
                    &template.body,
                    &e,
                )]);
            }
        };
        Ok(Self { env, variables })
    }

    /// The variables `known` does not allow.
    pub fn check_variables(&self, known: &VariableSchema) -> Vec<TemplateError> {
        self.variables.check(known)
    }

    /// Renders the SMS for one recipient and counts its segments.
    pub fn render(&self, ctx: &Value) -> Result<RenderedSms, TemplateError> {
        let template = self
            .env
            .get_template(SMS)
            .map_err(|e| TemplateError::from_minijinja(TemplatePart::Sms, "", &e))?;
        let body = template
            .render(ctx)
            .map_err(|e| TemplateError::from_minijinja(TemplatePart::Sms, template.source(), &e))?;
        let body = finish(&body);
        let segments = sms_segments(&body);
        Ok(RenderedSms { body, segments })
    }
}

/// Renders an SMS template once (a preview, a test send). A broadcast
/// compiles with [`CompiledSms::compile`] and renders many times instead.
pub fn render_sms(template: &SmsTemplate, ctx: &Value) -> Result<RenderedSms, TemplateError> {
    CompiledSms::compile(template)
        .map_err(first_error)?
        .render(ctx)
}

/// A Zalo ZNS template ready to render many times: the provider's template
/// id and one small template per parameter.
#[derive(Debug)]
pub struct CompiledZns {
    template_id: String,
    env: Environment<'static>,
    /// Parameter name and the name of its template in `env`.
    params: Vec<(String, String)>,
    variables: Vec<PartVariables>,
}

impl CompiledZns {
    /// Parses every parameter; each syntax error names its parameter.
    pub fn compile(template: &ZnsTemplate) -> Result<Self, Vec<TemplateError>> {
        let mut env = environment();
        let globals = global_names(&env);
        let mut errors = Vec::new();
        let mut params = Vec::new();
        for (name, source) in &template.params {
            // Prefixed so a parameter called `html` is not HTML-escaped.
            let key = format!("zns:{name}");
            match env.add_template_owned(key.clone(), source.clone()) {
                Ok(()) => params.push((name.clone(), key)),
                Err(e) => errors.push(TemplateError::from_minijinja(
                    TemplatePart::ZnsParam(name.clone()),
                    source,
                    &e,
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut variables = Vec::new();
        for (name, key) in &params {
            let template = env.get_template(key).map_err(|e| {
                vec![TemplateError::from_minijinja(
                    TemplatePart::ZnsParam(name.clone()),
                    "",
                    &e,
                )]
            })?;
            variables.push(PartVariables::of(
                TemplatePart::ZnsParam(name.clone()),
                &template,
                &globals,
            ));
        }
        Ok(Self {
            template_id: template.template_id.clone(),
            env,
            params,
            variables,
        })
    }

    /// The variables `known` does not allow, parameter by parameter.
    pub fn check_variables(&self, known: &VariableSchema) -> Vec<TemplateError> {
        self.variables.iter().flat_map(|p| p.check(known)).collect()
    }

    /// Renders the parameters for one recipient: the provider's template id
    /// and the parameter values to send with it.
    pub fn render(&self, ctx: &Value) -> Result<(String, BTreeMap<String, String>), TemplateError> {
        let mut values = BTreeMap::new();
        for (name, key) in &self.params {
            let part = || TemplatePart::ZnsParam(name.clone());
            let template = self
                .env
                .get_template(key)
                .map_err(|e| TemplateError::from_minijinja(part(), "", &e))?;
            let value = template
                .render(ctx)
                .map_err(|e| TemplateError::from_minijinja(part(), template.source(), &e))?;
            values.insert(name.clone(), finish(&value));
        }
        Ok((self.template_id.clone(), values))
    }
}

/// Renders a ZNS template once (a preview, a test send). A broadcast
/// compiles with [`CompiledZns::compile`] and renders many times instead.
pub fn render_zns(
    template: &ZnsTemplate,
    ctx: &Value,
) -> Result<(String, BTreeMap<String, String>), TemplateError> {
    CompiledZns::compile(template)
        .map_err(first_error)?
        .render(ctx)
}

fn first_error(mut errors: Vec<TemplateError>) -> TemplateError {
    errors.swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn sms(body: &str) -> SmsTemplate {
        SmsTemplate { body: body.into() }
    }

    #[test]
    fn plain_ascii_is_gsm7_and_fits_160_characters() {
        let s = sms_segments(&"a".repeat(160));
        assert_eq!((s.encoding, s.units, s.count), (SmsEncoding::Gsm7, 160, 1));
        assert_eq!(sms_segments(&"a".repeat(161)).count, 2);
        assert_eq!(sms_segments(&"a".repeat(306)).count, 2);
        assert_eq!(sms_segments(&"a".repeat(307)).count, 3);
        // Vietnamese without diacritics, or with only the accented letters
        // GSM-7 has, stays GSM-7; one more diacritic makes it UCS-2.
        assert_eq!(
            sms_segments("Chao ban, ma giam gia: SALE50").encoding,
            SmsEncoding::Gsm7
        );
        assert_eq!(
            sms_segments("Chào ban, é è ù ì ò").encoding,
            SmsEncoding::Gsm7
        );
        assert_eq!(sms_segments("Chao ban, Hà Nội").encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_segments("").count, 0);
    }

    #[test]
    fn extension_characters_take_two_septets_and_are_not_split() {
        assert_eq!(sms_segments("€").units, 2);
        assert_eq!(sms_segments(&"€".repeat(80)).count, 1);
        // 152 septets, then a two-septet euro: it moves whole to part two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(sms_segments(&text).count, 2);
    }

    #[test]
    fn vietnamese_with_diacritics_is_ucs2() {
        let s = sms_segments(&"ạ".repeat(70));
        assert_eq!((s.encoding, s.count), (SmsEncoding::Ucs2, 1));
        assert_eq!(sms_segments(&"ạ".repeat(71)).count, 2);
        assert_eq!(sms_segments(&"ạ".repeat(134)).count, 2);
        assert_eq!(sms_segments(&"ạ".repeat(135)).count, 3);
    }

    proptest::proptest! {
        /// Parts are as full as they can be: never over the limit, and never
        /// more than one unit short of it but for the last.
        #[test]
        fn segments_are_packed_tightly(body in "[a-z €ạ🙂]{0,400}") {
            let s = sms_segments(&body);
            let (single, part) = match s.encoding {
                SmsEncoding::Gsm7 => (160, 153),
                SmsEncoding::Ucs2 => (70, 67),
            };
            proptest::prop_assert_eq!(s.count == 0, body.is_empty());
            if s.count == 1 {
                proptest::prop_assert!(s.units <= single);
            }
            if s.count > 1 {
                proptest::prop_assert!(s.units > single);
                proptest::prop_assert!(s.units <= s.count * part);
                proptest::prop_assert!(s.units > (s.count - 1) * (part - 1));
            }
        }
    }

    #[test]
    fn sms_renders_with_fallbacks_and_counts_segments() {
        let t = sms(
            "Chào {{ contact.given_name | default('bạn') }}, đơn {{ order.total | vnd }} đã giao.",
        );
        let out = render_sms(&t, &context! { order => context! { total => 1_500_000 } }).unwrap();
        assert_eq!(out.body, "Chào bạn, đơn 1.500.000 ₫ đã giao.");
        assert_eq!(out.segments.encoding, SmsEncoding::Ucs2);
        assert_eq!(out.segments.count, 1);
        // Not escaped: SMS is not HTML.
        let out = render_sms(&sms("{{ a }}"), &context! { a => "Tom & Jerry <3" }).unwrap();
        assert_eq!(out.body, "Tom & Jerry <3");
    }

    #[test]
    fn decomposed_names_are_normalised_before_counting() {
        let decomposed = "Nguye\u{302}\u{303}n"; // "Nguyễn" as e + two combining marks
        let out = render_sms(&sms("{{ n }}"), &context! { n => decomposed }).unwrap();
        assert_eq!(out.body, "Nguyễn");
        assert_eq!(out.segments.units, 6);
    }

    #[test]
    fn sms_errors_and_unknown_variables_are_reported() {
        let errors = CompiledSms::compile(&sms("Hi\n{{ contact.name")).unwrap_err();
        assert_eq!(errors[0].part, TemplatePart::Sms);
        assert_eq!(errors[0].line, Some(2));
        let compiled = CompiledSms::compile(&sms("Hi {{ contact.nmae }}")).unwrap();
        let errors = compiled.check_variables(&VariableSchema::standard(&Default::default()));
        assert_eq!(
            errors[0].message,
            "unknown variable `contact.nmae` (did you mean `contact.name`?)"
        );
    }

    #[test]
    fn zns_renders_each_parameter() {
        let t = ZnsTemplate {
            template_id: "248000".into(),
            params: BTreeMap::from([
                (
                    "customer_name".into(),
                    "{{ contact.name | default('Quý khách') }}".into(),
                ),
                ("order_code".into(), "DH{{ record.id }}".into()),
                ("html".into(), "{{ note }}".into()),
            ]),
        };
        let ctx = context! { record => context! { id => 1001 }, note => "<b>&</b>" };
        let (id, params) = render_zns(&t, &ctx).unwrap();
        assert_eq!(id, "248000");
        assert_eq!(params["customer_name"], "Quý khách");
        assert_eq!(params["order_code"], "DH1001");
        assert_eq!(params["html"], "<b>&</b>");

        let compiled = CompiledZns::compile(&t).unwrap();
        let errors = compiled.check_variables(&VariableSchema::standard(&Default::default()));
        let parts: Vec<_> = errors
            .iter()
            .map(|e| (e.part.clone(), e.message.clone()))
            .collect();
        assert_eq!(
            parts,
            vec![
                (
                    TemplatePart::ZnsParam("html".into()),
                    "unknown variable `note`".to_string()
                ),
                (
                    TemplatePart::ZnsParam("order_code".into()),
                    "unknown variable `record`".to_string()
                ),
            ]
        );
    }

    #[test]
    fn zns_syntax_errors_name_the_parameter() {
        let t = ZnsTemplate {
            template_id: "1".into(),
            params: BTreeMap::from([
                ("a".into(), "{{ ok }}".into()),
                ("b".into(), "{% if %}".into()),
            ]),
        };
        let errors = CompiledZns::compile(&t).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].part, TemplatePart::ZnsParam("b".into()));
    }
}
