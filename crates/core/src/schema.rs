//! Typed custom fields: the per-workspace attribute schema of contacts and
//! the field schemas of record types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time;

/// The type of a custom field, and how its values are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Bool,
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
    /// An instant, stored as RFC 3339 UTC with milliseconds.
    Datetime,
    /// One of a fixed set of strings.
    Enum {
        values: Vec<String>,
    },
    /// A list of strings (in CSV: separated by `;`).
    List,
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Enum { .. } => "enum",
            FieldType::List => "list",
        }
    }

    /// Checks a JSON value against the type and returns it in stored form.
    /// `null` is always accepted: it clears the field.
    pub fn check_json(&self, v: &Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        match (self, v) {
            (FieldType::Text, Value::String(s)) => Ok(Value::String(s.clone())),
            (FieldType::Number, Value::Number(_)) => Ok(v.clone()),
            (FieldType::Bool, Value::Bool(_)) => Ok(v.clone()),
            (FieldType::Date, Value::String(s)) => self.parse_text(s),
            (FieldType::Datetime, Value::String(s)) => self.parse_text(s),
            (FieldType::Enum { .. }, Value::String(s)) => self.parse_text(s),
            (FieldType::List, Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(Value::String(s.clone())),
                        other => {
                            return Err(format!(
                                "list items must be text, got {}",
                                json_kind(other)
                            ));
                        }
                    }
                }
                Ok(Value::Array(out))
            }
            (t, other) => Err(format!("expected {}, got {}", t.name(), json_kind(other))),
        }
    }

    /// Parses a value written as text (a CSV cell). An empty cell is `null`.
    pub fn parse_text(&self, s: &str) -> Result<Value, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Value::Null);
        }
        match self {
            FieldType::Text => Ok(Value::String(s.to_string())),
            FieldType::Number => s
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(number_value)
                .ok_or_else(|| format!("'{s}' is not a number")),
            FieldType::Bool => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "y" => Ok(Value::Bool(true)),
                "false" | "no" | "0" | "n" => Ok(Value::Bool(false)),
                _ => Err(format!("'{s}' is not true or false")),
            },
            FieldType::Date => time::parse_date(s).map(|d| Value::String(d.to_string())),
            FieldType::Datetime => time::parse_datetime(s)
                .map(|t| Value::String(time::format_millis(time::to_millis(t)))),
            FieldType::Enum { values } => {
                if values.iter().any(|v| v == s) {
                    Ok(Value::String(s.to_string()))
                } else {
                    Err(format!("'{s}' is not one of {}", values.join(", ")))
                }
            }
            FieldType::List => Ok(Value::Array(
                s.split(';')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|x| Value::String(x.into()))
                    .collect(),
            )),
        }
    }
}

/// A number as JSON: integral values stay integers, so `5` does not come
/// back as `5.0`.
pub fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "text",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// One custom field of an entity type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub key: String,
    #[serde(flatten)]
    pub kind: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl FieldDef {
    /// Checks the definition itself: a key of lower-case letters, digits and
    /// `_` starting with a letter, and an enum with at least one value.
    pub fn validate(&self) -> Result<(), String> {
        check_key(&self.key)?;
        if let FieldType::Enum { values } = &self.kind
            && values.is_empty()
        {
            return Err(format!(
                "enum field '{}' needs at least one value",
                self.key
            ));
        }
        Ok(())
    }
}

/// Keys of fields and entity types: `[a-z][a-z0-9_]*`, at most 63 long.
pub fn check_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 63
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not a valid key (lower-case letters, digits and _, starting with a letter)"
        ))
    }
}

/// A set of custom fields, e.g. a workspace's contact attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<FieldDef>,
}

impl Schema {
    pub fn get(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_and_normalised() {
        assert_eq!(FieldType::Number.parse_text("12.5").unwrap(), json!(12.5));
        assert_eq!(FieldType::Number.parse_text("12").unwrap(), json!(12));
        assert_eq!(FieldType::Bool.parse_text("Yes").unwrap(), json!(true));
        assert_eq!(
            FieldType::Datetime
                .parse_text("2026-01-31T10:00:00+07:00")
                .unwrap(),
            json!("2026-01-31T03:00:00.000Z")
        );
        assert_eq!(
            FieldType::List.parse_text("a; b;;c").unwrap(),
            json!(["a", "b", "c"])
        );
        let tier = FieldType::Enum {
            values: vec!["gold".into(), "silver".into()],
        };
        assert!(
            tier.parse_text("bronze")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(
            FieldType::Number
                .check_json(&json!("12"))
                .unwrap_err()
                .contains("expected number, got text")
        );
        assert!(FieldType::Date.check_json(&json!("2026-13-01")).is_err());
    }

    #[test]
    fn field_definitions_read_as_flat_json() {
        let f: FieldDef =
            serde_json::from_value(json!({"key": "tier", "type": "enum", "values": ["gold"]}))
                .unwrap();
        assert_eq!(
            f.kind,
            FieldType::Enum {
                values: vec!["gold".into()]
            }
        );
        assert!(f.validate().is_ok());
        assert!(check_key("Tier").is_err());
        assert!(check_key("1x").is_err());
    }
}
