//! Entity types: the built-in `contact`, `company`, `lead` and `order`, and
//! the types a workspace defines.
//!
//! Built-in types keep their standard fields in real columns of their own
//! table (so audiences over a million orders compile to plain, indexed SQL);
//! custom fields of any type, and every field of a workspace-defined type,
//! live in the record's JSON `data`.

use serde::Serialize;

use crate::schema::{FieldType, Schema};

/// How a standard column is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Number,
    Integer,
    /// `YYYY-MM-DD` text.
    Date,
    /// Milliseconds since the epoch.
    Timestamp,
}

/// A standard field stored in its own column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Allowed values, when the column is an enumeration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<&'static [&'static str]>,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        values: None,
    }
}

/// Lead statuses, in pipeline order.
pub const LEAD_STATUSES: &[&str] = &["new", "contacted", "qualified", "won", "lost"];

/// The built-in record types other than contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Company,
    Lead,
    Order,
}

impl Builtin {
    pub const ALL: [Builtin; 3] = [Builtin::Company, Builtin::Lead, Builtin::Order];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Company => "company",
            Builtin::Lead => "lead",
            Builtin::Order => "order",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The table that holds this type's records.
    pub fn table(self) -> &'static str {
        match self {
            Builtin::Company => "companies",
            Builtin::Lead => "leads",
            Builtin::Order => "orders",
        }
    }

    /// Standard fields in their own columns (besides `id`, `external_id`,
    /// `contact_id`, `created_at` and `updated_at`, which every record has).
    pub fn columns(self) -> &'static [Column] {
        const COMPANY: &[Column] = &[
            col("name", ColumnType::Text),
            col("domain", ColumnType::Text),
            col("industry", ColumnType::Text),
            col("phone", ColumnType::Text),
            col("city", ColumnType::Text),
            col("country", ColumnType::Text),
        ];
        const LEAD: &[Column] = &[
            col("name", ColumnType::Text),
            col("email", ColumnType::Text),
            col("phone", ColumnType::Text),
            Column {
                name: "status",
                ty: ColumnType::Text,
                values: Some(LEAD_STATUSES),
            },
            col("source", ColumnType::Text),
            col("region", ColumnType::Text),
            col("product", ColumnType::Text),
            col("value", ColumnType::Number),
        ];
        const ORDER: &[Column] = &[
            col("total", ColumnType::Number),
            col("currency", ColumnType::Text),
            col("status", ColumnType::Text),
        ];
        match self {
            Builtin::Company => COMPANY,
            Builtin::Lead => LEAD,
            Builtin::Order => ORDER,
        }
    }
}

/// Columns every record has, whatever its type.
pub const RECORD_COMMON_COLUMNS: &[Column] = &[
    col("id", ColumnType::Integer),
    col("external_id", ColumnType::Text),
    col("contact_id", ColumnType::Integer),
    col("created_at", ColumnType::Timestamp),
    col("updated_at", ColumnType::Timestamp),
];

/// Standard contact columns, as the filter language and the API name them.
pub const CONTACT_COLUMNS: &[Column] = &[
    col("id", ColumnType::Integer),
    col("external_id", ColumnType::Text),
    col("email", ColumnType::Text),
    col("phone", ColumnType::Text),
    col("name", ColumnType::Text),
    col("given_name", ColumnType::Text),
    col("family_name", ColumnType::Text),
    col("birthday", ColumnType::Date),
    col("timezone", ColumnType::Text),
    col("locale", ColumnType::Text),
    col("owner", ColumnType::Text),
    col("score", ColumnType::Integer),
    col("created_at", ColumnType::Timestamp),
    col("updated_at", ColumnType::Timestamp),
];

/// What kind of entity a type name refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Contact,
    Builtin(Builtin),
    /// A workspace-defined type, by name; stored in the `records` table.
    Custom(String),
}

impl EntityKind {
    pub fn name(&self) -> &str {
        match self {
            EntityKind::Contact => "contact",
            EntityKind::Builtin(b) => b.name(),
            EntityKind::Custom(n) => n,
        }
    }

    /// The table holding this kind's rows.
    pub fn table(&self) -> &'static str {
        match self {
            EntityKind::Contact => "contacts",
            EntityKind::Builtin(b) => b.table(),
            EntityKind::Custom(_) => "records",
        }
    }

    /// Standard columns of a record of this kind, common ones included.
    pub fn columns(&self) -> Vec<Column> {
        match self {
            EntityKind::Contact => CONTACT_COLUMNS.to_vec(),
            EntityKind::Builtin(b) => RECORD_COMMON_COLUMNS
                .iter()
                .chain(b.columns())
                .copied()
                .collect(),
            EntityKind::Custom(_) => RECORD_COMMON_COLUMNS.to_vec(),
        }
    }
}

/// A type as a workspace sees it: its kind and its custom field schema.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityType {
    pub kind: EntityKind,
    pub label: Option<String>,
    pub schema: Schema,
}

impl EntityType {
    /// The type of a field by name: a standard column or a custom field.
    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        if let Some(c) = self.kind.columns().iter().find(|c| c.name == field) {
            return Some(match (c.ty, c.values) {
                (_, Some(values)) => FieldType::Enum {
                    values: values.iter().map(|s| s.to_string()).collect(),
                },
                (ColumnType::Text, _) => FieldType::Text,
                (ColumnType::Number | ColumnType::Integer, _) => FieldType::Number,
                (ColumnType::Date, _) => FieldType::Date,
                (ColumnType::Timestamp, _) => FieldType::Datetime,
            });
        }
        self.schema.get(field).map(|f| f.kind.clone())
    }
}
