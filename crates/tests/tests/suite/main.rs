//! The integration suite in one test binary: each module is one area of the
//! product, run against the real server and both stores. One binary links
//! once instead of a dozen times.

mod api_audiences;
mod api_contacts;
mod api_records_events;
mod automation;
mod channel_settings;
mod email;
mod filter_sql;
mod import;
mod leads;
mod reports;
mod smtp;
mod smtp_settings;
mod store;
mod ui_browser;
mod ui_browser_campaigns;
mod ui_browser_triggers;
mod ui_campaigns;
mod ui_http;
mod ui_leads;
