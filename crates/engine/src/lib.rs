//! Swell's engine: the sender that takes broadcasts through their audience
//! and the signed tokens its tracking links carry. (The workflow scheduler
//! joins it with automated campaigns.)

pub mod bounce;
pub mod mailer;
pub mod tokens;

pub use mailer::{MailError, Mailer, MailerConfig, Transport};
pub use tokens::{Token, Tokens};
