//! Ad metrics in (`POST /ads/metrics`, JSON or CSV) and the reports on ads
//! and reps out (`/reports/ads`, `/reports/reps`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use swell_store::reports::metrics::MetricInput;
use swell_store::reports::{AdGrouping, DateRange};
use swell_store::workspaces::Workspace;

use super::{Params, json_body};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ads/metrics", post(import_metrics))
        .route("/reports/ads", get(ads))
        .route("/reports/reps", get(reps))
}

/// `POST /ads/metrics`: a JSON array of rows (or one row), or a CSV file
/// (`Content-Type: text/csv`) with the same fields as columns. Answers
/// with the import report; the valid rows are stored in one transaction.
async fn import_metrics(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let is_csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/csv"));
    let report = if is_csv {
        state
            .store
            .import_ad_metrics_csv(ws, std::io::Cursor::new(body))
            .await?
    } else {
        let items = match json_body(&headers, &body)? {
            Value::Array(items) => items,
            one @ Value::Object(_) => vec![one],
            _ => {
                return Err(ApiError::BadRequest(
                    "expected a JSON array of metrics rows (or one row as an object)".into(),
                ));
            }
        };
        let rows = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let parsed = match item {
                    Value::Object(obj) => MetricInput::from_json(obj),
                    _ => Err(swell_core::FieldError::new("", "is not an object")),
                };
                (i as u64 + 1, parsed)
            })
            .collect();
        state.store.import_ad_metrics(ws, rows).await?
    };
    Ok(Json(report))
}

/// `from` and `to` (`YYYY-MM-DD`, both included, in the workspace's zone);
/// by default the 30 days that end today.
pub(crate) fn range(p: &Params, ws: &Workspace, now: i64) -> Result<DateRange, ApiError> {
    let date = |k: &str| {
        p.get(k)
            .map(|v| swell_core::time::parse_date(v).map_err(|e| ApiError::field(k, e)))
            .transpose()
    };
    let today = || {
        let zone = jiff::tz::TimeZone::get(&ws.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        swell_core::time::from_millis(now).to_zoned(zone).date()
    };
    let to = date("to")?.unwrap_or_else(today);
    let from = match date("from")? {
        Some(d) => d,
        None => to
            .checked_sub(jiff::Span::new().days(29))
            .map_err(|e| ApiError::field("to", e.to_string()))?,
    };
    DateRange::new(from, to).map_err(ApiError::from_field)
}

/// `GET /reports/ads?from&to&by=ad|campaign|account`.
async fn ads(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let range = range(&p, &auth.0, state.store.now())?;
    let by = match p.get("by") {
        None => AdGrouping::Ad,
        Some(v) => AdGrouping::parse(v).ok_or_else(|| {
            ApiError::field("by", format!("'{v}' is not ad, campaign or account"))
        })?,
    };
    Ok(Json(state.store.ad_report(auth.0.id, range, by).await?))
}

/// `GET /reports/reps?from&to`.
async fn reps(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let range = range(&p, &auth.0, state.store.now())?;
    Ok(Json(state.store.rep_report(auth.0.id, range).await?))
}
