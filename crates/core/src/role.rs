//! What a person who signs in to a workspace is: the one role type that the
//! web app's pages, the API's scoping and the store's users share.

use serde::{Deserialize, Serialize};

/// A user's role: what they may open and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Users, keys, channels and the audit log, and everything a marketer does.
    Admin,
    /// Audiences, content, sending, ads and every lead.
    Marketer,
    /// The leads assigned to them, nothing else.
    Sales,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "marketer" => Some(Role::Marketer),
            "sales" => Some(Role::Sales),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::Sales => "sales",
        }
    }
}
