//! The REST API, `/api/v1`. One module per domain area, each with its own
//! `router()`.

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::{ApiError, AppState};

mod ads;
mod audiences;
pub(crate) mod campaigns;
pub(crate) mod channels;
mod contacts;
pub(crate) mod email;
mod events;
pub(crate) mod leads;
pub(crate) mod marketing;
mod openapi;
pub use openapi::OPENAPI_JSON;
mod records;
pub(crate) mod reports;
mod schema;
mod smtp;
pub(crate) mod users;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(contacts::router())
        .merge(audiences::router())
        .merge(campaigns::router())
        .merge(channels::router())
        .merge(email::router())
        .merge(records::router())
        .merge(events::router())
        .merge(marketing::router())
        .merge(users::router())
        .merge(ads::router())
        .merge(leads::router())
        .merge(reports::router())
        .merge(schema::router())
        .merge(smtp::router())
        .merge(openapi::router())
}

/// The one result of a one-item batch write: an error about `id` is a
/// 404 (no such contact or record), any other a 422.
pub(crate) fn single_write(
    results: Vec<swell_store::contacts::WriteResult>,
    what: &str,
) -> Result<(swell_store::contacts::Outcome, i64), ApiError> {
    match results.into_iter().next() {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) if e.field == "id" => Err(ApiError::NotFound(e.reason)),
        Some(Err(e)) => Err(ApiError::invalid(e.to_string(), vec![e])),
        None => Err(ApiError::Internal(
            format!("a write of one {what} reported nothing").into(),
        )),
    }
}

/// Reads a JSON body, saying where it is broken when it is.
pub(crate) fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !ct.starts_with("application/json")
        && !ct.contains("+json")
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got {ct}"
        )));
    }
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the request body is empty; expected JSON".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "malformed JSON at line {}, column {}: {}",
            e.line(),
            e.column(),
            e
        ))
    })
}

/// Reads a JSON body that must be an object.
pub(crate) fn json_object(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    match json_body(headers, body)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::BadRequest(format!(
            "expected a JSON object, got {}",
            swell_core::schema::json_kind(&other)
        ))),
    }
}

/// Refuses a body with a field outside `known`, naming it (under `at`,
/// when the object is nested) and listing the fields there are.
pub(crate) fn only_keys(
    obj: &Map<String, Value>,
    known: &[&str],
    at: &str,
) -> Result<(), ApiError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(ApiError::field(
            if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            },
            format!("unknown field ({})", known.join(", ")),
        )),
    }
}

/// Parses an id from the path; anything but a positive integer is simply
/// not found.
pub(crate) fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no such id '{raw}'")))
}

/// Query-string helpers with errors in the API's shape.
pub(crate) struct Params(pub std::collections::HashMap<String, String>);

impl Params {
    pub fn from_uri(uri: &axum::http::Uri) -> Params {
        Params::parse(uri.query().unwrap_or(""))
    }

    /// Reads `a=1&b=two` (a query string or a urlencoded form body).
    pub fn parse(query: &str) -> Params {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Params(pairs)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        self.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::field(k, format!("'{v}' is not a whole number")))
            })
            .transpose()
    }

    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.int("limit")? {
            None => Ok(50),
            Some(n) if (1..=1000).contains(&n) => Ok(n as u32),
            Some(n) => Err(ApiError::field(
                "limit",
                format!("{n} is not between 1 and 1000"),
            )),
        }
    }

    pub fn cursor(&self) -> Result<Option<i64>, ApiError> {
        self.get("cursor")
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::field("cursor", "is not a cursor this API returned"))
            })
            .transpose()
    }

    pub fn flag(&self, k: &str) -> Result<bool, ApiError> {
        match self.get(k) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(v) => Err(ApiError::field(k, format!("'{v}' is not true or false"))),
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A streamed request body as a blocking reader, for the CSV parser's
/// thread.
pub(crate) fn body_reader(body: axum::body::Body) -> impl std::io::Read + Send + 'static {
    use futures::TryStreamExt;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}

/// Checks that an import body is CSV.
pub(crate) fn require_csv(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("text/csv") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: text/csv, got {}",
            if ct.is_empty() { "none" } else { ct }
        )))
    }
}

/// A field that may be given, cleared with null, or left out.
pub(crate) fn patch<T>(
    obj: &Map<String, Value>,
    k: &str,
    parse: impl FnOnce(&Value) -> Result<T, String>,
) -> Result<swell_core::contact::Patch<T>, ApiError> {
    match obj.get(k) {
        None => Ok(swell_core::contact::Patch::Keep),
        Some(Value::Null) => Ok(swell_core::contact::Patch::Clear),
        Some(v) => parse(v)
            .map(swell_core::contact::Patch::Set)
            .map_err(|e| ApiError::field(k, e)),
    }
}

/// An optional field that may not be null.
pub(crate) fn given<T>(
    obj: &Map<String, Value>,
    k: &str,
    parse: impl FnOnce(&Value) -> Option<T>,
    want: &str,
) -> Result<Option<T>, ApiError> {
    match obj.get(k) {
        None => Ok(None),
        Some(v) => parse(v)
            .map(Some)
            .ok_or_else(|| ApiError::field(k, format!("must be {want}"))),
    }
}
