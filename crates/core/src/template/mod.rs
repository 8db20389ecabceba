//! Message templates: email, SMS and Zalo ZNS (DESIGN.md C4).
//!
//! Templates use Jinja syntax through MiniJinja, with the filters marketers
//! need (`{{ contact.given_name | default("bạn") }}`, `{{ order.total | vnd }}`,
//! `{{ contact.birthday | date("%d/%m") }}`). The life of a template:
//!
//! 1. **Saved:** [`EmailTemplate::check`] (and its SMS and ZNS
//!    counterparts) reports syntax errors and unknown variables by part,
//!    line and column, against a [`VariableSchema`] of what the workspace's
//!    contacts and records have.
//! 2. **Sent:** [`CompiledEmail::compile`] does the expensive work once per
//!    broadcast (CSS inlining, link extraction, the text part, the
//!    preheader); [`CompiledEmail::render`] then renders one recipient's
//!    message, handing each link to the click tracker.
//!
//! Rendering is sandboxed ([`environment`]): no file access, and a fuel
//! budget that stops a template looping forever. A render context is a
//! MiniJinja [`Value`]: build it with [`context!`] or from JSON with
//! `Value::from_serialize`.

mod check;
mod email;
mod env;
mod html;
mod sms;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use check::{CONTACT_FIELDS, TemplateError, TemplatePart, VariableSchema};
pub use email::{CompiledEmail, LinkInfo, RenderedEmail};
pub use env::{FUEL_PER_RENDER, environment, format_vnd};
pub use minijinja::{Value, context};
pub use sms::{
    CompiledSms, CompiledZns, RenderedSms, SmsEncoding, SmsSegments, render_sms, render_zns,
    sms_segments,
};

/// An email as its author writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailTemplate {
    pub subject: String,
    /// The preview line inbox lists show after the subject; placed hidden
    /// at the top of the body.
    #[serde(default)]
    pub preheader: Option<String>,
    pub html: String,
    /// The plain-text part; made from the HTML when `None`.
    #[serde(default)]
    pub text: Option<String>,
}

impl EmailTemplate {
    /// Everything wrong with the template: syntax errors, or else the
    /// variables `known` does not allow. Empty when it may be saved.
    pub fn check(&self, known: &VariableSchema) -> Vec<TemplateError> {
        match CompiledEmail::compile(self) {
            Ok(compiled) => compiled.check_variables(known),
            Err(errors) => errors,
        }
    }
}

/// An SMS as its author writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsTemplate {
    pub body: String,
}

impl SmsTemplate {
    /// Syntax errors, or else the variables `known` does not allow.
    pub fn check(&self, known: &VariableSchema) -> Vec<TemplateError> {
        match CompiledSms::compile(self) {
            Ok(compiled) => compiled.check_variables(known),
            Err(errors) => errors,
        }
    }
}

/// A Zalo ZNS message: a template approved at Zalo, referred to by its id,
/// and the values of its parameters, each a template of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZnsTemplate {
    pub template_id: String,
    pub params: BTreeMap<String, String>,
}

impl ZnsTemplate {
    /// Syntax errors, or else the variables `known` does not allow.
    pub fn check(&self, known: &VariableSchema) -> Vec<TemplateError> {
        match CompiledZns::compile(self) {
            Ok(compiled) => compiled.check_variables(known),
            Err(errors) => errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_from_json_with_optional_parts() {
        let t: EmailTemplate =
            serde_json::from_str(r#"{"subject": "Chào", "html": "<p>{{ contact.name }}</p>"}"#)
                .unwrap();
        assert_eq!(t.preheader, None);
        assert_eq!(t.text, None);
        let z: ZnsTemplate = serde_json::from_str(
            r#"{"template_id": "248000", "params": {"name": "{{ contact.name }}"}}"#,
        )
        .unwrap();
        assert_eq!(z.params["name"], "{{ contact.name }}");
    }

    #[test]
    fn check_reports_syntax_first_then_variables() {
        let known = VariableSchema::standard(&Default::default());
        let broken = EmailTemplate {
            subject: "{{ x".into(),
            preheader: None,
            html: "<p>{{ contact.givn_name }}</p>".into(),
            text: None,
        };
        let errors = broken.check(&known);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].part, TemplatePart::Subject);

        let misspelt = EmailTemplate {
            subject: "Chào".into(),
            ..broken
        };
        let errors = misspelt.check(&known);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("contact.givn_name"));
        assert!(
            SmsTemplate {
                body: "{{ contact.phone }}".into()
            }
            .check(&known)
            .is_empty()
        );
    }
}
