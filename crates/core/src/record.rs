//! Records of entity types (orders, companies, leads, custom types) as they
//! come in and as they are stored.

use serde_json::{Map, Value};

use crate::contact::Patch;
use crate::email::Email;
use crate::entity::{ColumnType, EntityKind, EntityType};
use crate::error::FieldError;
use crate::phone::Phone;
use crate::schema::{json_kind, number_value};
use crate::time::{self, Millis};

/// How a record names the contact it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactRef {
    Id(i64),
    ExternalId(String),
    Email(Email),
    Phone(Phone),
}

/// A record's fields as given by a caller, checked against its type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordInput {
    pub external_id: Patch<String>,
    pub contact: Option<ContactRef>,
    /// When the thing happened (an order's placement time); now if not given.
    pub created_at: Option<Millis>,
    /// Standard columns and custom fields, in stored form; `null` clears.
    pub values: Map<String, Value>,
}

/// Fields of a payload that are about the record, not its values.
const META_FIELDS: &[&str] = &[
    "external_id",
    "created_at",
    "contact",
    "contact_id",
    "contact_email",
    "contact_phone",
    "contact_external_id",
];

impl RecordInput {
    /// Parses a flat JSON object: `external_id`, `created_at`, the contact
    /// link (`contact: {email|phone|external_id|id}`, or `contact_id`,
    /// `contact_email`, `contact_phone`, `contact_external_id`), and the
    /// type's fields by name.
    pub fn from_json(
        ty: &EntityType,
        obj: &Map<String, Value>,
        phone_region: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut input = RecordInput::default();
        let mut errors = Vec::new();
        for (key, value) in obj {
            let text = || match value {
                Value::String(s) => Ok(Some(s.as_str())),
                Value::Number(_) if key == "contact_id" => Ok(None),
                Value::Null => Ok(None),
                other => Err(FieldError::new(
                    key,
                    format!("expected text, got {}", json_kind(other)),
                )),
            };
            let r: Result<(), FieldError> = match key.as_str() {
                "contact" => match value {
                    Value::Object(m) if m.len() == 1 => {
                        let (k, v) = m.iter().next().expect("one entry");
                        let raw = match v {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            other => {
                                errors.push(FieldError::new(
                                    format!("contact.{k}"),
                                    format!("expected text, got {}", json_kind(other)),
                                ));
                                continue;
                            }
                        };
                        parse_contact_ref(k, &raw, phone_region)
                            .map(|r| input.contact = Some(r))
                            .map_err(|e| FieldError::new(format!("contact.{k}"), e))
                    }
                    Value::Null => Ok(()),
                    _ => Err(FieldError::new(
                        "contact",
                        "expected an object with one of id, external_id, email, phone",
                    )),
                },
                "contact_id" => match value {
                    Value::Number(n) => match n.as_i64() {
                        Some(id) => {
                            input.contact = Some(ContactRef::Id(id));
                            Ok(())
                        }
                        None => Err(FieldError::new(key, "must be a whole number")),
                    },
                    Value::String(s) => parse_contact_ref("id", s, phone_region)
                        .map(|r| input.contact = Some(r))
                        .map_err(|e| FieldError::new(key, e)),
                    Value::Null => Ok(()),
                    other => Err(FieldError::new(
                        key,
                        format!("expected number, got {}", json_kind(other)),
                    )),
                },
                "contact_email" | "contact_phone" | "contact_external_id" => {
                    text().and_then(|raw| {
                        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
                            return Ok(());
                        };
                        let kind = key.trim_start_matches("contact_");
                        parse_contact_ref(kind, raw, phone_region)
                            .map(|r| {
                                // The first named link wins, so a CSV row with both
                                // email and phone links by email.
                                if input.contact.is_none() {
                                    input.contact = Some(r)
                                }
                            })
                            .map_err(|e| FieldError::new(key, e))
                    })
                }
                "external_id" => text().map(|raw| {
                    input.external_id = match raw.map(str::trim).filter(|s| !s.is_empty()) {
                        Some(s) => Patch::Set(s.to_string()),
                        None => Patch::Clear,
                    }
                }),
                "created_at" => text().and_then(|raw| match raw {
                    Some(s) => time::parse_datetime(s)
                        .map(|t| input.created_at = Some(time::to_millis(t)))
                        .map_err(|e| FieldError::new(key, e)),
                    None => Ok(()),
                }),
                field => match check_value(ty, field, value) {
                    Ok(v) => {
                        input.values.insert(field.to_string(), v);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
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

    /// Parses a CSV cell into the input (column named by the header).
    pub fn set_text(
        &mut self,
        ty: &EntityType,
        column: &str,
        raw: &str,
        phone_region: &str,
    ) -> Result<(), FieldError> {
        if META_FIELDS.contains(&column) {
            let mut one = Map::new();
            one.insert(column.to_string(), Value::String(raw.to_string()));
            let parsed =
                RecordInput::from_json(ty, &one, phone_region).map_err(|mut e| e.remove(0))?;
            if parsed.external_id != Patch::Keep {
                self.external_id = parsed.external_id;
            }
            if parsed.created_at.is_some() {
                self.created_at = parsed.created_at;
            }
            if parsed.contact.is_some() && self.contact.is_none() {
                self.contact = parsed.contact;
            }
            return Ok(());
        }
        let ft = ty
            .field_type(column)
            .ok_or_else(|| unknown_field(ty, column))?;
        if is_common_column(column) {
            return Err(FieldError::new(
                column,
                "is set by Swell and cannot be written",
            ));
        }
        let v = ft.parse_text(raw).map_err(|e| FieldError::new(column, e))?;
        self.values.insert(column.to_string(), v);
        Ok(())
    }
}

fn is_common_column(field: &str) -> bool {
    matches!(field, "id" | "updated_at")
}

fn unknown_field(ty: &EntityType, field: &str) -> FieldError {
    FieldError::new(field, format!("unknown field of type '{}'", ty.kind.name()))
}

fn check_value(ty: &EntityType, field: &str, value: &Value) -> Result<Value, FieldError> {
    if is_common_column(field) {
        return Err(FieldError::new(
            field,
            "is set by Swell and cannot be written",
        ));
    }
    let ft = ty
        .field_type(field)
        .ok_or_else(|| unknown_field(ty, field))?;
    ft.check_json(value).map_err(|e| FieldError::new(field, e))
}

pub fn parse_contact_ref(kind: &str, raw: &str, phone_region: &str) -> Result<ContactRef, String> {
    let raw = raw.trim();
    match kind {
        "id" => raw
            .parse::<i64>()
            .map(ContactRef::Id)
            .map_err(|_| format!("'{raw}' is not a contact id")),
        "external_id" if !raw.is_empty() => Ok(ContactRef::ExternalId(raw.to_string())),
        "external_id" => Err("is empty".into()),
        "email" => Email::parse(raw).map(ContactRef::Email),
        "phone" => Phone::parse(raw, phone_region).map(ContactRef::Phone),
        other => Err(format!(
            "'{other}' is not one of id, external_id, email, phone"
        )),
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: i64,
    pub entity: String,
    pub external_id: Option<String>,
    pub contact_id: Option<i64>,
    /// Standard columns and custom fields together, by field name.
    pub values: Map<String, Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Record {
    /// The API's flat JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::from(self.id));
        m.insert("type".into(), Value::from(self.entity.clone()));
        m.insert(
            "external_id".into(),
            self.external_id
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        m.insert(
            "contact_id".into(),
            self.contact_id.map(Value::from).unwrap_or(Value::Null),
        );
        for (k, v) in &self.values {
            m.insert(k.clone(), v.clone());
        }
        m.insert(
            "created_at".into(),
            Value::from(time::format_millis(self.created_at)),
        );
        m.insert(
            "updated_at".into(),
            Value::from(time::format_millis(self.updated_at)),
        );
        Value::Object(m)
    }

    /// The value of a field by name, as JSON (timestamps as milliseconds).
    pub fn field(&self, field: &str) -> Value {
        match field {
            "id" => Value::from(self.id),
            "external_id" => self
                .external_id
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
            "contact_id" => self.contact_id.map(Value::from).unwrap_or(Value::Null),
            "created_at" => Value::from(self.created_at),
            "updated_at" => Value::from(self.updated_at),
            f => self.values.get(f).cloned().unwrap_or(Value::Null),
        }
    }

    /// Applies an input; returns the changed fields.
    pub fn apply(
        &mut self,
        input: &RecordInput,
        contact_id: Option<i64>,
    ) -> Vec<crate::contact::FieldChange> {
        let mut changes = Vec::new();
        let mut change = |field: &str, old: Value, new: Value| {
            if old != new {
                changes.push((field.to_string(), old, new));
            }
        };
        match &input.external_id {
            Patch::Set(v) => {
                change(
                    "external_id",
                    self.field("external_id"),
                    Value::from(v.clone()),
                );
                self.external_id = Some(v.clone());
            }
            Patch::Clear => {
                change("external_id", self.field("external_id"), Value::Null);
                self.external_id = None;
            }
            Patch::Keep => {}
        }
        if let Some(id) = contact_id {
            change("contact_id", self.field("contact_id"), Value::from(id));
            self.contact_id = Some(id);
        }
        if let Some(at) = input.created_at {
            change("created_at", Value::from(self.created_at), Value::from(at));
            self.created_at = at;
        }
        for (k, v) in &input.values {
            let old = self.values.get(k).cloned().unwrap_or(Value::Null);
            change(k, old, v.clone());
            if v.is_null() {
                self.values.remove(k);
            } else {
                self.values.insert(k.clone(), v.clone());
            }
        }
        changes
    }
}

/// Splits a record's values into its table's standard columns (in order)
/// and the JSON `data` of everything else.
pub fn split_columns(
    kind: &EntityKind,
    values: &Map<String, Value>,
) -> (Vec<(&'static str, ColumnType, Value)>, Map<String, Value>) {
    let std_cols: Vec<_> = match kind {
        EntityKind::Builtin(b) => b.columns().to_vec(),
        _ => Vec::new(),
    };
    let cols = std_cols
        .iter()
        .map(|c| {
            (
                c.name,
                c.ty,
                values.get(c.name).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let data = values
        .iter()
        .filter(|(k, _)| !std_cols.iter().any(|c| c.name == k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (cols, data)
}

/// Normalises a number read back from a REAL column (so `5.0` shows as 5).
pub fn number_from_f64(n: f64) -> Value {
    number_value(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::Builtin;
    use crate::schema::Schema;
    use serde_json::json;

    fn order() -> EntityType {
        EntityType {
            kind: EntityKind::Builtin(Builtin::Order),
            label: None,
            schema: Schema::default(),
        }
    }

    #[test]
    fn an_order_payload_is_parsed_with_its_contact_link() {
        let obj = json!({"external_id": "SO-1", "total": 250000, "currency": "VND", "status": "paid",
            "created_at": "2026-01-31T10:00:00+07:00", "contact": {"email": "An@X.vn"}});
        let r = RecordInput::from_json(&order(), obj.as_object().unwrap(), "VN").unwrap();
        assert_eq!(
            r.contact,
            Some(ContactRef::Email(Email::parse("an@x.vn").unwrap()))
        );
        assert_eq!(r.values["total"], json!(250000));
        assert_eq!(r.created_at, Some(1769828400000));
    }

    #[test]
    fn unknown_and_mistyped_fields_are_named() {
        let obj = json!({"totl": 1, "total": "many", "contact": {"phone": "12"}});
        let errs = RecordInput::from_json(&order(), obj.as_object().unwrap(), "VN").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields.len(), 3, "{errs:?}");
        assert!(
            fields.contains(&"totl")
                && fields.contains(&"total")
                && fields.contains(&"contact.phone")
        );
    }
}
