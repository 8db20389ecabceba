//! Swell's engine: the sender that takes broadcasts through their audience,
//! the automation engine that walks campaign participants through their
//! workflows, and the signed tokens tracking links carry.

pub mod automation;
pub mod bounce;
pub mod mailer;
mod notices;
pub mod tokens;

pub use automation::{Automation, AutomationConfig, EngineError};
pub use mailer::{MailError, Mailer, MailerConfig, Transport};
pub use tokens::{Token, Tokens};
