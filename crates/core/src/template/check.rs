//! What a template may refer to, and the errors a template can have.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::entity::EntityType;
use crate::schema::Schema;

/// Which part of a message an error is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplatePart {
    Subject,
    Preheader,
    Html,
    Text,
    Sms,
    /// A ZNS parameter, by name.
    ZnsParam(String),
}

impl fmt::Display for TemplatePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplatePart::Subject => f.write_str("subject"),
            TemplatePart::Preheader => f.write_str("preheader"),
            TemplatePart::Html => f.write_str("html"),
            TemplatePart::Text => f.write_str("text"),
            TemplatePart::Sms => f.write_str("sms"),
            TemplatePart::ZnsParam(name) => write!(f, "zns parameter {name}"),
        }
    }
}

/// A problem with a template: a syntax error, an unknown variable, or a
/// failure while rendering, with where it is in what the author wrote.
///
/// Lines and columns count from 1; a column counts characters, not bytes,
/// so it matches what an editor shows for Vietnamese text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct TemplateError {
    pub part: TemplatePart,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.part)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl TemplateError {
    /// An error at byte `offset` of `source` (or nowhere in particular).
    pub(crate) fn at(
        part: TemplatePart,
        source: &str,
        offset: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = match offset {
            Some(offset) => {
                let (l, c) = line_column(source, offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Self {
            part,
            line,
            column,
            message: message.into(),
        }
    }

    /// A MiniJinja error raised by `source` (parsing or rendering it).
    pub(crate) fn from_minijinja(part: TemplatePart, source: &str, err: &minijinja::Error) -> Self {
        let offset = err.range().map(|r| r.start);
        let mut e = Self::at(part, source, offset, describe(err));
        if e.line.is_none() {
            e.line = err.line();
        }
        e
    }
}

/// A MiniJinja error in words a marketer can act on.
pub(crate) fn describe(err: &minijinja::Error) -> String {
    use minijinja::ErrorKind;
    match err.kind() {
        ErrorKind::OutOfFuel => "the template does too much work (a loop that runs too long?) \
                                 and was stopped"
            .to_string(),
        ErrorKind::SyntaxError => {
            format!("syntax error: {}", err.detail().unwrap_or("invalid syntax"))
        }
        kind => match err.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        },
    }
}

/// 1-based line and character column of byte `offset` in `source`.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The fields of a contact a template may use, as the render context
/// provides them under `contact`.
pub const CONTACT_FIELDS: &[&str] = &[
    "id",
    "email",
    "phone",
    "name",
    "given_name",
    "family_name",
    "birthday",
    "timezone",
    "locale",
    "score",
    "owner",
    "tags",
    "created_at",
];

/// What a template may refer to: top-level objects and their fields.
///
/// Templates are checked against it when saved, so a misspelt
/// `contact.givn_name` is caught by the author rather than rendering empty
/// for 100,000 recipients. At render time unknown names are lenient (they
/// render empty), because by then the template has passed this check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableSchema {
    roots: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// A value with no fields of its own.
    Value,
    /// An object whose fields are known.
    Fields(BTreeMap<String, Node>),
    /// An object with fields unknown here: any path below it is accepted.
    Open,
}

impl VariableSchema {
    /// An empty schema: nothing may be referred to.
    pub fn new() -> Self {
        Self::default()
    }

    /// What every contact-targeted message may use: `contact.*` (the
    /// standard [`CONTACT_FIELDS`], and the workspace's custom attributes as
    /// `contact.attr.KEY` or `contact.attributes.KEY`), `workspace.name`,
    /// `campaign.name`, `unsubscribe_url` and `view_in_browser_url`.
    pub fn standard(contact_attributes: &Schema) -> Self {
        let mut schema = Self::new();
        for field in CONTACT_FIELDS {
            schema = schema.allow(&format!("contact.{field}"));
        }
        for map in ["attr", "attributes"] {
            let path = format!("contact.{map}");
            schema.insert(&path, Node::Fields(BTreeMap::new()));
            for f in &contact_attributes.fields {
                schema = schema.allow(&format!("{path}.{}", f.key));
            }
        }
        schema
            .allow("workspace.name")
            .allow("campaign.name")
            .allow("unsubscribe_url")
            .allow("view_in_browser_url")
    }

    /// Adds `record.FIELD` for every standard column and custom field of a
    /// record type, for campaigns that target records (orders, leads).
    pub fn with_record(mut self, record_type: &EntityType) -> Self {
        self.insert("record", Node::Fields(BTreeMap::new()));
        for column in record_type.kind.columns() {
            self = self.allow(&format!("record.{}", column.name));
        }
        for field in &record_type.schema.fields {
            self = self.allow(&format!("record.{}", field.key));
        }
        self
    }

    /// Allows a dotted path (`"campaign.name"`), and the objects on the way.
    pub fn allow(mut self, path: &str) -> Self {
        self.insert(path, Node::Value);
        self
    }

    /// Allows a path and anything below it (`"event"` for a webhook payload
    /// whose shape is not known).
    pub fn allow_any(mut self, path: &str) -> Self {
        self.insert(path, Node::Open);
        self
    }

    fn insert(&mut self, path: &str, leaf: Node) {
        let mut segments = path.split('.');
        let Some(first) = segments.next() else {
            return;
        };
        let mut node = self.roots.entry(first.to_string()).or_insert(Node::Value);
        for segment in segments {
            if matches!(node, Node::Value) {
                *node = Node::Fields(BTreeMap::new());
            }
            node = match node {
                Node::Fields(fields) => fields.entry(segment.to_string()).or_insert(Node::Value),
                Node::Open | Node::Value => return,
            };
        }
        if matches!(node, Node::Value) || matches!(leaf, Node::Open) {
            *node = leaf;
        }
    }

    /// `Ok` when `path` (as MiniJinja reports it: `contact.attr.tier`) is
    /// allowed, else the shortest unknown prefix and a suggestion.
    pub(crate) fn resolve(&self, path: &str) -> Result<(), Unknown> {
        let mut segments = path.split('.');
        let first = segments.next().unwrap_or_default();
        let Some(mut node) = self.roots.get(first) else {
            return Err(Unknown {
                path: first.to_string(),
                suggestion: closest(first, self.roots.keys()),
            });
        };
        let mut known = first.len();
        for segment in segments {
            let prefix = &path[..known];
            node = match node {
                Node::Open => return Ok(()),
                Node::Value => {
                    return Err(Unknown {
                        path: format!("{prefix}.{segment}"),
                        suggestion: None,
                    });
                }
                Node::Fields(fields) => match fields.get(segment) {
                    Some(n) => n,
                    None => {
                        return Err(Unknown {
                            path: format!("{prefix}.{segment}"),
                            suggestion: closest(segment, fields.keys())
                                .map(|s| format!("{prefix}.{s}")),
                        });
                    }
                },
            };
            known += 1 + segment.len();
        }
        Ok(())
    }
}

/// An unknown variable: the first part of a path that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unknown {
    pub path: String,
    pub suggestion: Option<String>,
}

/// The candidate within two edits of `name`, if one is.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The variables a part of a template refers to, found once at compile
/// time, so that checking against a schema costs nothing more.
#[derive(Debug, Clone)]
pub(crate) struct PartVariables {
    pub part: TemplatePart,
    pub source: String,
    pub names: Vec<String>,
}

impl PartVariables {
    /// Reads the variables of a parsed template (nested: `contact.email`),
    /// less the environment's own globals (`range`, `dict`, ...). Loop
    /// variables and `{% set %}` names are not reported by MiniJinja.
    pub fn of(
        part: TemplatePart,
        template: &minijinja::Template<'_, '_>,
        globals: &[String],
    ) -> Self {
        let mut names: Vec<String> = template
            .undeclared_variables(true)
            .into_iter()
            .filter(|n| {
                !globals
                    .iter()
                    .any(|g| g == n.split('.').next().unwrap_or(n))
            })
            .collect();
        names.sort();
        Self {
            part,
            source: template.source().to_string(),
            names,
        }
    }

    /// Every name not in `known`, once, with where it first appears.
    pub fn check(&self, known: &VariableSchema) -> Vec<TemplateError> {
        let mut unknown: Vec<Unknown> = Vec::new();
        for name in &self.names {
            if let Err(u) = known.resolve(name)
                && !unknown.iter().any(|seen| seen.path == u.path)
            {
                unknown.push(u);
            }
        }
        unknown
            .into_iter()
            .map(|u| {
                let message = match &u.suggestion {
                    Some(s) => format!("unknown variable `{}` (did you mean `{s}`?)", u.path),
                    None => format!("unknown variable `{}`", u.path),
                };
                TemplateError::at(
                    self.part.clone(),
                    &self.source,
                    find_name(&self.source, &u.path),
                    message,
                )
            })
            .collect()
    }
}

/// Where a dotted name first appears as a whole name in a template source.
fn find_name(source: &str, path: &str) -> Option<usize> {
    let is_name_char = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    source.match_indices(path).map(|(i, _)| i).find(|&i| {
        let before_ok = !source[..i].chars().next_back().is_some_and(is_name_char);
        let after = &source[i + path.len()..];
        let after_ok = !after
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        before_ok && after_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldDef, FieldType};

    fn schema() -> VariableSchema {
        let attrs = Schema {
            fields: vec![FieldDef {
                key: "tier".into(),
                kind: FieldType::Text,
                label: None,
            }],
        };
        VariableSchema::standard(&attrs)
    }

    #[test]
    fn standard_schema_knows_contact_fields_and_attributes() {
        let s = schema();
        for ok in [
            "contact.given_name",
            "contact.attr",
            "contact.attr.tier",
            "contact.attributes.tier",
            "workspace.name",
            "unsubscribe_url",
            "contact",
        ] {
            assert_eq!(s.resolve(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            s.resolve("contact.givn_name"),
            Err(Unknown {
                path: "contact.givn_name".into(),
                suggestion: Some("contact.given_name".into())
            })
        );
        assert_eq!(
            s.resolve("contact.attr.vip").unwrap_err().path,
            "contact.attr.vip"
        );
        assert_eq!(s.resolve("record.total").unwrap_err().path, "record");
        assert_eq!(
            s.resolve("contact.email.domain").unwrap_err().path,
            "contact.email.domain"
        );
    }

    #[test]
    fn record_fields_come_from_the_record_type() {
        use crate::entity::{Builtin, EntityKind};
        let order = EntityType {
            kind: EntityKind::Builtin(Builtin::Order),
            label: None,
            schema: Schema::default(),
        };
        let s = schema().with_record(&order);
        assert_eq!(s.resolve("record.total"), Ok(()));
        assert_eq!(s.resolve("record.created_at"), Ok(()));
        assert!(s.resolve("record.colour").is_err());
        let open = VariableSchema::new().allow_any("event");
        assert_eq!(open.resolve("event.payload.items"), Ok(()));
    }

    #[test]
    fn positions_count_characters_from_one() {
        let src = "Chào\nbạn {{ x }}";
        assert_eq!(line_column(src, src.find("{{").unwrap()), (2, 5));
        assert_eq!(find_name("{{ a.bc }} {{ a.b }}", "a.b"), Some(14));
    }
}
