//! The pages, one module per screen, and the routes of each role's group
//! (the group's guard does the signing in, role and CSRF checks).

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

mod broadcasts;
mod campaigns;
mod contacts;
mod dashboard;
mod import;
mod leads;
mod lists;
mod marketing;
mod outbox;
mod reports;
mod segments;
mod settings;
mod templates;

/// Pages anyone signed in may open.
pub(super) fn any_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/leads", get(leads::board))
        .route("/leads/{id}", get(leads::detail))
}

/// Marketers' (and admins') pages. Every route here refuses sales reps.
pub(super) fn marketer_routes() -> Router<AppState> {
    Router::new()
        .route("/contacts", get(contacts::list))
        .route("/contacts/{id}", get(contacts::detail))
        .route("/import", get(import::form).post(import::upload))
        .route("/import/run", post(import::run))
        .route("/segments", get(segments::list))
        .route("/segments/new", get(segments::new))
        .route("/segments/{slug}", get(segments::edit))
        .route("/filter", post(segments::convert))
        .route("/lists", get(lists::list))
        .route("/lists/{slug}", get(lists::detail))
        .route("/templates", get(templates::list))
        .route("/templates/new", get(templates::new))
        .route("/templates/{id}", get(templates::edit))
        .route("/templates/preview", post(templates::preview))
        .route("/broadcasts", get(broadcasts::list))
        .route("/broadcasts/new", get(broadcasts::new))
        .route("/broadcasts/{id}", get(broadcasts::detail))
        .route("/broadcasts/{id}/progress", get(broadcasts::progress))
        .route("/outbox", get(outbox::list))
        .route("/outbox/{id}", get(outbox::show))
        .route("/leads/rules", get(leads::rules))
        .route("/ads", get(leads::ads))
        .route("/campaigns", get(campaigns::list))
        .route("/campaigns/{id}", get(campaigns::detail))
        .route("/campaigns/{id}/estimate", get(campaigns::estimate))
        .route("/campaigns/{id}/participants", get(campaigns::participants))
        .route("/campaigns/{id}/traces", get(campaigns::traces))
        .route("/marketing", get(marketing::list))
        .route("/marketing/{id}", get(marketing::detail))
        .route("/reports/ads", get(reports::ads))
        .route("/reports/reps", get(reports::reps))
}

/// Admins' pages.
pub(super) fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings::page))
        .route("/settings/workspace", post(settings::workspace))
        .route("/settings/users", post(settings::add_user))
        .route("/settings/keys", post(settings::create_key))
        .route("/settings/keys/{id}/revoke", post(settings::revoke_key))
        .route("/settings/channels", post(settings::save_channel))
        .route("/audit", get(super::audit::page))
}

/// Every page route with the role it needs, for tests and docs: the
/// method, the path (with sample ids) and the need.
pub fn route_table() -> Vec<(&'static str, &'static str, super::Need)> {
    use super::Need::*;
    vec![
        ("GET", "/", Any),
        ("GET", "/leads", Any),
        ("GET", "/leads/1", Any),
        ("GET", "/leads/rules", Marketer),
        ("GET", "/ads", Marketer),
        ("GET", "/contacts", Marketer),
        ("GET", "/contacts/1", Marketer),
        ("GET", "/import", Marketer),
        ("POST", "/import", Marketer),
        ("POST", "/import/run", Marketer),
        ("GET", "/segments", Marketer),
        ("GET", "/segments/new", Marketer),
        ("GET", "/segments/any", Marketer),
        ("POST", "/filter", Marketer),
        ("GET", "/lists", Marketer),
        ("GET", "/lists/any", Marketer),
        ("GET", "/templates", Marketer),
        ("GET", "/templates/new", Marketer),
        ("GET", "/templates/1", Marketer),
        ("POST", "/templates/preview", Marketer),
        ("GET", "/broadcasts", Marketer),
        ("GET", "/broadcasts/new", Marketer),
        ("GET", "/broadcasts/1", Marketer),
        ("GET", "/broadcasts/1/progress", Marketer),
        ("GET", "/outbox", Marketer),
        ("GET", "/outbox/1", Marketer),
        ("GET", "/campaigns", Marketer),
        ("GET", "/campaigns/1", Marketer),
        ("GET", "/campaigns/1/estimate", Marketer),
        ("GET", "/campaigns/1/participants", Marketer),
        ("GET", "/campaigns/1/traces", Marketer),
        ("GET", "/marketing", Marketer),
        ("GET", "/marketing/1", Marketer),
        ("GET", "/reports/ads", Marketer),
        ("GET", "/reports/reps", Marketer),
        ("GET", "/settings", Admin),
        ("POST", "/settings/workspace", Admin),
        ("POST", "/settings/users", Admin),
        ("POST", "/settings/keys", Admin),
        ("POST", "/settings/keys/1/revoke", Admin),
        ("POST", "/settings/channels", Admin),
        ("GET", "/audit", Admin),
    ]
}
