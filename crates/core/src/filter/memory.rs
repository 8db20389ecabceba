//! Owned subjects: a contact with everything a filter can ask about, held
//! in memory. Tests use them directly; the store's property tests write the
//! same data to a database and check that the SQL compiler selects exactly
//! the subjects [`Filter::matches`](super::Filter::matches) accepts.

use std::collections::{BTreeMap, BTreeSet};

use super::eval::{ContactView, RecordView, Value};
use crate::time::Millis;

/// A contact and its related data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryContact {
    /// Standard fields by name (`email`, `birthday`, `score`, ...). A field
    /// that is absent is unset.
    pub fields: BTreeMap<String, Value>,
    /// Custom attributes by key.
    pub attrs: BTreeMap<String, Value>,
    /// Normalised tags (lower case).
    pub tags: BTreeSet<String>,
    /// Slugs of the lists the contact is subscribed to.
    pub lists: BTreeSet<String>,
    /// Records linked to the contact, of any type.
    pub records: Vec<MemoryRecord>,
    pub events: Vec<MemoryEvent>,
}

/// A record of some entity type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryRecord {
    /// The entity type's name: `order`, `lead`, a custom type.
    pub entity: String,
    /// Standard columns and custom fields by name.
    pub fields: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEvent {
    pub name: String,
    pub at: Millis,
    /// A JSON object.
    pub properties: serde_json::Value,
}

impl RecordView for MemoryRecord {
    fn field(&self, name: &str) -> Value {
        self.fields.get(name).cloned().unwrap_or(Value::Null)
    }
}

impl ContactView for MemoryContact {
    fn field(&self, name: &str) -> Value {
        self.fields.get(name).cloned().unwrap_or(Value::Null)
    }

    fn attr(&self, key: &str) -> Value {
        self.attrs.get(key).cloned().unwrap_or(Value::Null)
    }

    fn has_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }

    fn in_list(&self, slug: &str) -> bool {
        self.lists.contains(slug)
    }

    fn records<'a>(&'a self, entity: &str) -> Box<dyn Iterator<Item = &'a dyn RecordView> + 'a> {
        let entity = entity.to_string();
        Box::new(
            self.records
                .iter()
                .filter(move |r| r.entity == entity)
                .map(|r| r as &dyn RecordView),
        )
    }

    fn events<'a>(
        &'a self,
        name: &str,
    ) -> Box<dyn Iterator<Item = (Millis, &'a serde_json::Value)> + 'a> {
        let name = name.to_string();
        Box::new(
            self.events
                .iter()
                .filter(move |e| e.name == name)
                .map(|e| (e.at, &e.properties)),
        )
    }
}
