//! Swell's domain, free of I/O.
//!
//! Everything that crosses into Swell (an email address, a phone number, a
//! custom attribute value, a filter) is parsed here into a type that can only
//! hold a valid value; the store and the web layer never see raw strings.

pub mod contact;
pub mod email;
pub mod entity;
pub mod error;
pub mod filter;
pub mod hours;
pub mod name;
pub mod phone;
pub mod record;
pub mod role;
pub mod schema;
pub mod template;
pub mod text;
pub mod time;

pub use email::Email;
pub use error::FieldError;
pub use phone::Phone;
