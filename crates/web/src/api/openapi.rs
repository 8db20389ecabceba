//! The OpenAPI document of the API, kept beside the routes it describes; a
//! test checks that every route is in it.

use axum::Router;
use axum::http::header;
use axum::routing::get;

use crate::AppState;

pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/openapi.json",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON) }),
    )
}
