//! Contacts as they come in: the parsed form of an API payload or CSV row.

use serde_json::{Map, Value};

use crate::email::Email;
use crate::error::FieldError;
use crate::name::split_name;
use crate::phone::Phone;
use crate::schema::{FieldType, Schema, json_kind};
use crate::time;

/// A field of an update: left alone, cleared, or set.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
    pub fn as_set(&self) -> Option<&T> {
        match self {
            Patch::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// A contact's fields as given by a caller, every one parsed and checked.
/// `Keep` means "not given", so the same type serves create, upsert and
/// partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactInput {
    pub external_id: Patch<String>,
    pub email: Patch<Email>,
    pub phone: Patch<Phone>,
    pub name: Patch<String>,
    pub given_name: Patch<String>,
    pub family_name: Patch<String>,
    pub birthday: Patch<jiff::civil::Date>,
    pub timezone: Patch<String>,
    pub locale: Patch<String>,
    /// Replaces the whole tag set when given.
    pub tags: Patch<Vec<String>>,
    /// Tags taken off, then tags put on, the set as it is stored when the
    /// write happens (not as some earlier read saw it): two writers that
    /// each add a tag keep both.
    pub remove_tags: Vec<String>,
    pub add_tags: Vec<String>,
    pub owner: Patch<String>,
    pub score: Patch<i64>,
    /// Per-channel marketing opt-outs.
    pub email_optout: Patch<bool>,
    pub sms_optout: Patch<bool>,
    pub zalo_optout: Patch<bool>,
    /// Custom attributes, checked against the schema; `Value::Null` clears one.
    pub attributes: Map<String, Value>,
}

/// The fields a payload may name. Anything else is an error, so a typo never
/// disappears silently.
pub const CONTACT_INPUT_FIELDS: &[&str] = &[
    "external_id",
    "email",
    "phone",
    "name",
    "given_name",
    "family_name",
    "birthday",
    "timezone",
    "locale",
    "tags",
    "owner",
    "score",
    "email_optout",
    "sms_optout",
    "zalo_optout",
    "attributes",
];

/// What a parser needs to know about the workspace.
pub struct ParseContext<'a> {
    pub schema: &'a Schema,
    /// Region for phone numbers written without a country code.
    pub phone_region: &'a str,
}

impl ContactInput {
    /// Parses a JSON object. Every problem is reported, not just the first.
    pub fn from_json(obj: &Map<String, Value>, cx: &ParseContext) -> Result<Self, Vec<FieldError>> {
        let mut input = ContactInput::default();
        let mut errors = Vec::new();
        for (key, value) in obj {
            let r = match key.as_str() {
                "attributes" => match value {
                    Value::Object(attrs) => {
                        for (k, v) in attrs {
                            match check_attribute(cx.schema, k, v) {
                                Ok(v) => {
                                    input.attributes.insert(k.clone(), v);
                                }
                                Err(e) => errors.push(e),
                            }
                        }
                        Ok(())
                    }
                    Value::Null => Ok(()),
                    other => Err(FieldError::new(
                        "attributes",
                        format!("expected an object, got {}", json_kind(other)),
                    )),
                },
                "tags" => match value {
                    Value::Null => {
                        input.tags = Patch::Clear;
                        Ok(())
                    }
                    Value::Array(items) => {
                        let mut tags = Vec::new();
                        let mut bad = None;
                        for item in items {
                            match item.as_str().map(normalise_tag) {
                                Some(Ok(t)) => tags.push(t),
                                Some(Err(e)) => bad = Some(e),
                                None => {
                                    bad =
                                        Some(format!("tags must be text, got {}", json_kind(item)))
                                }
                            }
                        }
                        match bad {
                            Some(reason) => Err(FieldError::new("tags", reason)),
                            None => {
                                tags.sort();
                                tags.dedup();
                                input.tags = Patch::Set(tags);
                                Ok(())
                            }
                        }
                    }
                    other => Err(FieldError::new(
                        "tags",
                        format!("expected a list of text, got {}", json_kind(other)),
                    )),
                },
                "score" => match value {
                    Value::Null => {
                        input.score = Patch::Clear;
                        Ok(())
                    }
                    Value::Number(n) => match n.as_i64() {
                        Some(i) => {
                            input.score = Patch::Set(i);
                            Ok(())
                        }
                        None => Err(FieldError::new("score", "must be a whole number")),
                    },
                    other => Err(FieldError::new(
                        "score",
                        format!("expected number, got {}", json_kind(other)),
                    )),
                },
                "email_optout" | "sms_optout" | "zalo_optout" => match value {
                    Value::Bool(b) => {
                        *input.optout_mut(key) = Patch::Set(*b);
                        Ok(())
                    }
                    Value::Null => {
                        *input.optout_mut(key) = Patch::Clear;
                        Ok(())
                    }
                    other => Err(FieldError::new(
                        key,
                        format!("expected true or false, got {}", json_kind(other)),
                    )),
                },
                field if CONTACT_INPUT_FIELDS.contains(&field) => match value {
                    Value::Null => input.set_text(field, None, cx),
                    Value::String(s) => input.set_text(field, Some(s), cx),
                    other => Err(FieldError::new(
                        field,
                        format!("expected text, got {}", json_kind(other)),
                    )),
                },
                unknown => Err(FieldError::new(
                    unknown,
                    "unknown field (custom attributes go under \"attributes\")",
                )),
            };
            if let Err(e) = r {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }

    /// Sets a standard text-valued field from its written form; `None` or
    /// blank text clears it. Used by the JSON parser and by CSV import.
    pub fn set_text(
        &mut self,
        field: &str,
        raw: Option<&str>,
        cx: &ParseContext,
    ) -> Result<(), FieldError> {
        let raw = raw.map(str::trim).filter(|s| !s.is_empty());
        let err = |reason: String| FieldError::new(field, reason);
        fn patch<T>(v: Option<T>) -> Patch<T> {
            match v {
                Some(v) => Patch::Set(v),
                None => Patch::Clear,
            }
        }
        match field {
            "external_id" => self.external_id = patch(raw.map(str::to_string)),
            "email" => self.email = patch(raw.map(Email::parse).transpose().map_err(err)?),
            "phone" => {
                self.phone = patch(
                    raw.map(|p| Phone::parse(p, cx.phone_region))
                        .transpose()
                        .map_err(err)?,
                )
            }
            "name" => self.name = patch(raw.map(collapse_spaces)),
            "given_name" => self.given_name = patch(raw.map(collapse_spaces)),
            "family_name" => self.family_name = patch(raw.map(collapse_spaces)),
            "birthday" => {
                self.birthday = patch(raw.map(time::parse_date).transpose().map_err(err)?)
            }
            "timezone" => {
                self.timezone = patch(raw.map(time::parse_timezone).transpose().map_err(err)?)
            }
            "locale" => self.locale = patch(raw.map(parse_locale).transpose().map_err(err)?),
            "owner" => self.owner = patch(raw.map(str::to_lowercase)),
            "score" => {
                self.score = patch(
                    raw.map(|s| {
                        s.parse::<i64>()
                            .map_err(|_| format!("'{s}' is not a whole number"))
                    })
                    .transpose()
                    .map_err(err)?,
                )
            }
            "email_optout" | "sms_optout" | "zalo_optout" => {
                let v = match raw.map(str::to_ascii_lowercase).as_deref() {
                    None => Patch::Clear,
                    Some("true" | "yes" | "1" | "y") => Patch::Set(true),
                    Some("false" | "no" | "0" | "n") => Patch::Set(false),
                    Some(other) => return Err(err(format!("'{other}' is not true or false"))),
                };
                *self.optout_mut(field) = v;
            }
            "tags" => {
                let mut tags = Vec::new();
                for t in raw
                    .unwrap_or("")
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                {
                    tags.push(normalise_tag(t).map_err(err)?);
                }
                tags.sort();
                tags.dedup();
                self.tags = Patch::Set(tags);
            }
            other => return Err(FieldError::new(other, "unknown field")),
        }
        Ok(())
    }

    fn optout_mut(&mut self, field: &str) -> &mut Patch<bool> {
        match field {
            "sms_optout" => &mut self.sms_optout,
            "zalo_optout" => &mut self.zalo_optout,
            _ => &mut self.email_optout,
        }
    }

    /// True when the input names a way to find an existing contact.
    pub fn has_identity(&self) -> bool {
        self.external_id.as_set().is_some()
            || self.email.as_set().is_some()
            || self.phone.as_set().is_some()
    }
}

/// Fills in the name parts from each other: a full name gives the given and
/// family names unless those were given too, and given + family give a full
/// name when none was. `locale` decides the order (see [`split_name`]).
pub fn complete_names(
    name: Option<String>,
    given: Option<String>,
    family: Option<String>,
    locale: Option<&str>,
    name_changed: bool,
) -> (Option<String>, Option<String>, Option<String>) {
    match (&name, name_changed) {
        (Some(full), true) => {
            let parts = split_name(full, locale);
            (name.clone(), given.or(parts.given), family.or(parts.family))
        }
        _ if name.is_none() && (given.is_some() || family.is_some()) => {
            let family_first = locale.map(|l| l.starts_with("vi")).unwrap_or(true);
            let joined = match (&given, &family) {
                (Some(g), Some(f)) if family_first => format!("{f} {g}"),
                (Some(g), Some(f)) => format!("{g} {f}"),
                (Some(x), None) | (None, Some(x)) => x.clone(),
                (None, None) => unreachable!("guarded above"),
            };
            (Some(joined), given, family)
        }
        _ => (name, given, family),
    }
}

/// Checks one custom attribute against the schema.
pub fn check_attribute(schema: &Schema, key: &str, value: &Value) -> Result<Value, FieldError> {
    let field = format!("attributes.{key}");
    let def = schema.get(key).ok_or_else(|| {
        FieldError::new(
            &field,
            "unknown attribute (define it in the attribute schema first)",
        )
    })?;
    def.kind
        .check_json(value)
        .map_err(|r| FieldError::new(&field, r))
}

/// Parses a CSV cell for a custom attribute.
pub fn parse_attribute_text(schema: &Schema, key: &str, raw: &str) -> Result<Value, FieldError> {
    let field = format!("attr.{key}");
    let def = schema.get(key).ok_or_else(|| {
        FieldError::new(
            &field,
            "unknown attribute (define it in the attribute schema first)",
        )
    })?;
    if let FieldType::List = def.kind {
        return def
            .kind
            .parse_text(raw)
            .map_err(|r| FieldError::new(&field, r));
    }
    def.kind
        .parse_text(raw)
        .map_err(|r| FieldError::new(&field, r))
}

/// Tags are trimmed and lower-cased; at most 64 characters.
pub fn normalise_tag(t: &str) -> Result<String, String> {
    let t = t.trim().to_lowercase();
    if t.is_empty() {
        return Err("a tag cannot be empty".into());
    }
    if t.chars().count() > 64 {
        return Err(format!("tag '{t}' is longer than 64 characters"));
    }
    Ok(t)
}

/// Locales are BCP 47 tags such as `vi`, `en`, `vi-VN`.
pub fn parse_locale(s: &str) -> Result<String, String> {
    let ok = s.len() <= 35
        && s.split(['-', '_']).enumerate().all(|(i, part)| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && (i > 0 || part.len() <= 3)
        });
    if ok {
        Ok(s.replace('_', "-"))
    } else {
        Err(format!("'{s}' is not a locale such as vi or en-US"))
    }
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldDef;
    use serde_json::json;

    fn cx(schema: &Schema) -> ParseContext<'_> {
        ParseContext {
            schema,
            phone_region: "VN",
        }
    }

    #[test]
    fn a_payload_is_parsed_into_normalised_fields() {
        let schema = Schema {
            fields: vec![FieldDef {
                key: "tier".into(),
                kind: FieldType::Text,
                label: None,
            }],
        };
        let obj = json!({"email": " An@X.vn ", "phone": "0912 345 678", "name": "Nguyễn Văn An",
            "tags": ["VIP", "vip", "new"], "attributes": {"tier": "gold"}, "score": 5});
        let c = ContactInput::from_json(obj.as_object().unwrap(), &cx(&schema)).unwrap();
        assert_eq!(c.email.as_set().unwrap().as_str(), "an@x.vn");
        assert_eq!(c.phone.as_set().unwrap().as_str(), "+84912345678");
        assert_eq!(c.tags, Patch::Set(vec!["new".into(), "vip".into()]));
        assert_eq!(c.attributes["tier"], json!("gold"));
    }

    #[test]
    fn every_bad_field_is_reported_by_name() {
        let schema = Schema::default();
        let obj = json!({"email": "nope", "phone": "12", "emial": "x", "attributes": {"tier": 1}, "score": "a"});
        let errs = ContactInput::from_json(obj.as_object().unwrap(), &cx(&schema)).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in ["email", "phone", "emial", "attributes.tier", "score"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn names_complete_each_other() {
        let (n, g, f) = complete_names(Some("Nguyễn Văn An".into()), None, None, None, true);
        assert_eq!(
            (n.as_deref(), g.as_deref(), f.as_deref()),
            (Some("Nguyễn Văn An"), Some("An"), Some("Nguyễn"))
        );
        let (n, _, _) = complete_names(
            None,
            Some("An".into()),
            Some("Nguyễn".into()),
            Some("vi"),
            false,
        );
        assert_eq!(n.as_deref(), Some("Nguyễn An"));
        let (n, _, _) = complete_names(
            None,
            Some("John".into()),
            Some("Smith".into()),
            Some("en"),
            false,
        );
        assert_eq!(n.as_deref(), Some("John Smith"));
    }
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Contact {
    pub id: i64,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birthday: Option<String>,
    pub timezone: String,
    pub locale: Option<String>,
    pub tags: Vec<String>,
    pub owner: Option<String>,
    pub score: i64,
    pub email_optout: bool,
    pub sms_optout: bool,
    pub zalo_optout: bool,
    pub attributes: Map<String, Value>,
    #[serde(serialize_with = "crate::time::serialize_millis")]
    pub created_at: time::Millis,
    #[serde(serialize_with = "crate::time::serialize_millis")]
    pub updated_at: time::Millis,
}

/// One field's change, for the change log: `(field, old, new)`.
pub type FieldChange = (String, Value, Value);

/// A changed field's name: a standard field, or a custom attribute
/// (`attr.KEY`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldName<'a> {
    Standard(&'static str),
    Attribute(&'a str),
}

impl serde::Serialize for FieldName<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldName::Standard(name) => s.serialize_str(name),
            FieldName::Attribute(_) => s.collect_str(self),
        }
    }
}

impl std::fmt::Display for FieldName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldName::Standard(name) => f.write_str(name),
            FieldName::Attribute(key) => write!(f, "attr.{key}"),
        }
    }
}

/// A field's value as the change log shows it, borrowed from a contact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Bool(bool),
    Tags(&'a [String]),
    Json(&'a Value),
}

impl FieldValue<'_> {
    pub fn to_value(self) -> Value {
        match self {
            FieldValue::Text(t) => t.map(Value::from).unwrap_or(Value::Null),
            FieldValue::Int(n) => Value::from(n),
            FieldValue::Bool(b) => Value::from(b),
            FieldValue::Tags(tags) => Value::from(tags.to_vec()),
            FieldValue::Json(v) => v.clone(),
        }
    }
}

impl serde::Serialize for FieldValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Text(t) => t.serialize(s),
            FieldValue::Int(n) => s.serialize_i64(*n),
            FieldValue::Bool(b) => s.serialize_bool(*b),
            FieldValue::Tags(tags) => tags.serialize(s),
            FieldValue::Json(v) => v.serialize(s),
        }
    }
}

/// The change log's JSON of a contact's changes since `before`, `{"field":
/// [old, new], ...}`, serialised straight from the two versions.
pub struct ChangesSince<'a> {
    pub before: &'a Contact,
    pub after: &'a Contact,
}

impl serde::Serialize for ChangesSince<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        let mut failed = None;
        self.after.each_change(self.before, |field, old, new| {
            if failed.is_none() {
                failed = map.serialize_entry(&field, &(old, new)).err();
            }
        });
        match failed {
            Some(e) => Err(e),
            None => map.end(),
        }
    }
}

impl Contact {
    /// A contact with nothing set but its zone, about to be created.
    pub fn blank(timezone: &str, now: time::Millis) -> Self {
        Contact {
            id: 0,
            external_id: None,
            email: None,
            phone: None,
            name: None,
            given_name: None,
            family_name: None,
            birthday: None,
            timezone: timezone.to_string(),
            locale: None,
            tags: Vec::new(),
            owner: None,
            score: 0,
            email_optout: false,
            sms_optout: false,
            zalo_optout: false,
            attributes: Map::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The value of a standard field or `attr.KEY` as JSON, for change logs
    /// and the filter language.
    pub fn field(&self, field: &str) -> Value {
        let s = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        match field {
            "id" => Value::from(self.id),
            "external_id" => s(&self.external_id),
            "email" => s(&self.email),
            "phone" => s(&self.phone),
            "name" => s(&self.name),
            "given_name" => s(&self.given_name),
            "family_name" => s(&self.family_name),
            "birthday" => s(&self.birthday),
            "timezone" => Value::String(self.timezone.clone()),
            "locale" => s(&self.locale),
            "owner" => s(&self.owner),
            "score" => Value::from(self.score),
            "email_optout" => Value::from(self.email_optout),
            "sms_optout" => Value::from(self.sms_optout),
            "zalo_optout" => Value::from(self.zalo_optout),
            "tags" => Value::from(self.tags.clone()),
            "created_at" => Value::from(self.created_at),
            "updated_at" => Value::from(self.updated_at),
            other => match other.strip_prefix("attr.") {
                Some(k) => self.attributes.get(k).cloned().unwrap_or(Value::Null),
                None => Value::Null,
            },
        }
    }

    /// Applies an input and returns the changes made, field by field.
    /// An empty list means the input changed nothing.
    pub fn apply(&mut self, input: &ContactInput) -> Vec<FieldChange> {
        let before = self.clone();
        self.apply_input(input);
        self.diff(&before)
    }

    /// Applies an input without listing what it changed (see
    /// [`Contact::each_change`] for that, against a copy kept before).
    pub fn apply_input(&mut self, input: &ContactInput) {
        fn set<T: Clone, U>(slot: &mut Option<U>, p: &Patch<T>, f: impl Fn(&T) -> U) {
            match p {
                Patch::Keep => {}
                Patch::Clear => *slot = None,
                Patch::Set(v) => *slot = Some(f(v)),
            }
        }
        let had_name = self.name.is_some();
        set(&mut self.external_id, &input.external_id, Clone::clone);
        set(&mut self.email, &input.email, |e| e.as_str().to_string());
        set(&mut self.phone, &input.phone, |p| p.as_str().to_string());
        set(&mut self.birthday, &input.birthday, |d| d.to_string());
        set(&mut self.locale, &input.locale, Clone::clone);
        set(&mut self.owner, &input.owner, Clone::clone);
        match &input.timezone {
            Patch::Set(tz) => self.timezone = tz.clone(),
            Patch::Clear | Patch::Keep => {}
        }
        match &input.score {
            Patch::Set(v) => self.score = *v,
            Patch::Clear => self.score = 0,
            Patch::Keep => {}
        }
        for (slot, p) in [
            (&mut self.email_optout, &input.email_optout),
            (&mut self.sms_optout, &input.sms_optout),
            (&mut self.zalo_optout, &input.zalo_optout),
        ] {
            match p {
                Patch::Set(v) => *slot = *v,
                Patch::Clear => *slot = false,
                Patch::Keep => {}
            }
        }
        match &input.tags {
            Patch::Set(t) => self.tags = t.clone(),
            Patch::Clear => self.tags.clear(),
            Patch::Keep => {}
        }
        if !input.remove_tags.is_empty() {
            self.tags.retain(|t| !input.remove_tags.contains(t));
        }
        for t in &input.add_tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
        for (k, v) in &input.attributes {
            if v.is_null() {
                self.attributes.remove(k);
            } else {
                self.attributes.insert(k.clone(), v.clone());
            }
        }
        // Names: explicit parts win; a new full name fills the parts not given.
        let name_changed = !input.name.is_keep();
        let mut name = self.name.take();
        set(&mut name, &input.name, Clone::clone);
        let mut given = if name_changed {
            None
        } else {
            self.given_name.take()
        };
        let mut family = if name_changed {
            None
        } else {
            self.family_name.take()
        };
        set(&mut given, &input.given_name, Clone::clone);
        set(&mut family, &input.family_name, Clone::clone);
        let parts_changed = !input.given_name.is_keep() || !input.family_name.is_keep();
        let (n, g, f) = complete_names(name, given, family, self.locale.as_deref(), name_changed);
        self.name = if !name_changed && parts_changed && had_name {
            // Parts edited on a contact that has a full name: rebuild it.
            complete_names(None, g.clone(), f.clone(), self.locale.as_deref(), false).0
        } else {
            n
        };
        self.given_name = g;
        self.family_name = f;
    }

    /// The fields that differ from `before`, in the change log's order.
    fn diff(&self, before: &Contact) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        self.each_change(before, |field, old, new| {
            changes.push((field.to_string(), old.to_value(), new.to_value()));
        });
        changes
    }

    /// Calls `f` with each field that differs from `before` (its name, old
    /// and new value, borrowed), in the change log's order. Fields are
    /// compared as they are; nothing is copied.
    pub fn each_change<'a>(
        &'a self,
        before: &'a Contact,
        mut f: impl FnMut(FieldName<'a>, FieldValue<'a>, FieldValue<'a>),
    ) {
        use FieldValue::{Bool, Int, Json, Tags, Text};
        let texts: [(&'static str, &Option<String>, &Option<String>); 7] = [
            ("external_id", &before.external_id, &self.external_id),
            ("email", &before.email, &self.email),
            ("phone", &before.phone, &self.phone),
            ("name", &before.name, &self.name),
            ("given_name", &before.given_name, &self.given_name),
            ("family_name", &before.family_name, &self.family_name),
            ("birthday", &before.birthday, &self.birthday),
        ];
        for (field, old, new) in texts {
            if old != new {
                f(
                    FieldName::Standard(field),
                    Text(old.as_deref()),
                    Text(new.as_deref()),
                );
            }
        }
        if before.timezone != self.timezone {
            f(
                FieldName::Standard("timezone"),
                Text(Some(&before.timezone)),
                Text(Some(&self.timezone)),
            );
        }
        for (field, old, new) in [
            ("locale", &before.locale, &self.locale),
            ("owner", &before.owner, &self.owner),
        ] {
            if old != new {
                f(
                    FieldName::Standard(field),
                    Text(old.as_deref()),
                    Text(new.as_deref()),
                );
            }
        }
        if before.score != self.score {
            f(
                FieldName::Standard("score"),
                Int(before.score),
                Int(self.score),
            );
        }
        for (field, old, new) in [
            ("email_optout", before.email_optout, self.email_optout),
            ("sms_optout", before.sms_optout, self.sms_optout),
            ("zalo_optout", before.zalo_optout, self.zalo_optout),
        ] {
            if old != new {
                f(FieldName::Standard(field), Bool(old), Bool(new));
            }
        }
        if before.tags != self.tags {
            f(
                FieldName::Standard("tags"),
                Tags(&before.tags),
                Tags(&self.tags),
            );
        }
        let mut keys: Vec<&String> = before
            .attributes
            .keys()
            .chain(self.attributes.keys())
            .collect();
        keys.sort();
        keys.dedup();
        static MISSING: Value = Value::Null;
        for k in keys {
            let old = before.attributes.get(k).unwrap_or(&MISSING);
            let new = self.attributes.get(k).unwrap_or(&MISSING);
            if old != new {
                f(FieldName::Attribute(k), Json(old), Json(new));
            }
        }
    }

    /// The text the accent-insensitive search runs over: see
    /// [`search_text_of`].
    pub fn search_text(&self) -> String {
        search_text_of(
            self.name.as_deref(),
            [
                self.email.as_deref(),
                self.phone.as_deref(),
                self.external_id.as_deref(),
            ],
        )
    }
}

/// What ends the name at the start of a contact's search text: a combining
/// mark, which folding removes, so no folded text holds one.
pub const SEARCH_NAME_END: char = '\u{300}';

/// The text the accent-insensitive search runs over: the folded name (empty
/// when unset), [`SEARCH_NAME_END`], then the folded e-mail, phone and
/// external id, each followed by a space. A filter on the name reads the
/// name's part without folding the name again.
pub fn search_text_of(name: Option<&str>, rest: [Option<&str>; 3]) -> String {
    let mut s = name.map(crate::text::fold).unwrap_or_default();
    s.push(SEARCH_NAME_END);
    for part in rest.into_iter().flatten() {
        s.push_str(&crate::text::fold(part));
        s.push(' ');
    }
    s
}

#[cfg(test)]
mod apply_tests {
    use super::*;
    use crate::schema::Schema;
    use serde_json::json;

    fn input(v: Value) -> ContactInput {
        ContactInput::from_json(
            v.as_object().unwrap(),
            &ParseContext {
                schema: &Schema::default(),
                phone_region: "VN",
            },
        )
        .unwrap()
    }

    #[test]
    fn applying_an_input_reports_each_changed_field() {
        let mut c = Contact::blank("Asia/Ho_Chi_Minh", 0);
        let changes = c.apply(&input(json!({"email": "a@x.vn", "name": "Nguyễn Văn An"})));
        let fields: Vec<_> = changes.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(fields, ["email", "name", "given_name", "family_name"]);
        assert_eq!(c.given_name.as_deref(), Some("An"));
        assert!(
            c.apply(&input(json!({"email": "A@X.VN"}))).is_empty(),
            "same email, no change"
        );
        let changes = c.apply(&input(json!({"given_name": "Bình"})));
        assert_eq!(c.name.as_deref(), Some("Nguyễn Bình"));
        assert_eq!(
            changes[0],
            ("name".into(), json!("Nguyễn Văn An"), json!("Nguyễn Bình"))
        );
    }

    #[test]
    fn the_change_log_json_made_from_two_versions_lists_what_apply_lists() {
        let schema = Schema {
            fields: vec![
                crate::schema::FieldDef {
                    key: "tier".into(),
                    kind: FieldType::Text,
                    label: None,
                },
                crate::schema::FieldDef {
                    key: "points".into(),
                    kind: FieldType::Number,
                    label: None,
                },
            ],
        };
        let parse = |v: Value| {
            ContactInput::from_json(
                v.as_object().unwrap(),
                &ParseContext {
                    schema: &schema,
                    phone_region: "VN",
                },
            )
            .unwrap()
        };
        let mut c = Contact::blank("Asia/Ho_Chi_Minh", 0);
        for v in [
            json!({"external_id": "X1", "email": "a@x.vn", "phone": "0912 345 678",
                   "name": "Trần Thị Mai", "birthday": "1990-02-03", "tags": ["vip"],
                   "score": 5, "attributes": {"tier": "gold", "points": 10}}),
            json!({"timezone": "Europe/Paris", "owner": "rep@x.vn", "locale": "fr",
                   "email_optout": true, "attributes": {"tier": null, "points": 12}}),
            json!({"tags": [], "phone": null, "score": 0}),
        ] {
            let before = c.clone();
            let changes = c.apply(&parse(v));
            assert!(!changes.is_empty());
            let listed: Map<String, Value> = changes
                .into_iter()
                .map(|(field, old, new)| (field, json!([old, new])))
                .collect();
            let made = serde_json::to_string(&ChangesSince {
                before: &before,
                after: &c,
            })
            .unwrap();
            assert_eq!(made, Value::Object(listed).to_string());
        }
        assert_eq!(c.attributes.get("points"), Some(&json!(12)));
        assert_eq!(c.timezone, "Europe/Paris");
    }
}
