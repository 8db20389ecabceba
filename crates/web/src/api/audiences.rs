//! Audiences: counts and previews of who a filter, lists and segments
//! select; saved segments; marketing lists with subscriptions; the
//! blocklist.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_core::FieldError;
use swell_core::entity::{Builtin, EntityKind};
use swell_core::filter::Filter;
use swell_core::record::{ContactRef, parse_contact_ref};
use swell_store::consent::{AudienceSpec, Channel};
use swell_store::contacts::ContactKey;
use swell_store::import::{ImportReport, RowError};
use swell_store::lists::Status;
use swell_store::workspaces::Workspace;

use super::{Params, json_object, require_csv};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audiences/count", post(count))
        .route("/audiences/preview", post(preview))
        .route("/segments", post(create_segment).get(segments))
        .route(
            "/segments/{slug}",
            get(segment).put(put_segment).delete(delete_segment),
        )
        .route("/segments/{slug}/members", get(segment_members))
        .route("/lists", post(create_list).get(lists))
        .route("/lists/{slug}", get(list).put(put_list).delete(delete_list))
        .route("/lists/{slug}/refresh", post(refresh_list))
        .route("/lists/{slug}/members", get(members).post(add_members))
        .route("/lists/{slug}/members/import", post(import_members))
        .route("/lists/{slug}/members/{contact_id}", delete(remove_member))
        .route("/lists/{slug}/subscribe", post(subscribe))
        .route("/lists/{slug}/unsubscribe", post(unsubscribe))
        .route("/blocklist", get(blocklist).post(block))
        .route("/blocklist/{kind}/{value}", delete(unblock))
}

/// A filter given as text or as its JSON tree; errors say where.
fn parse_filter(v: &Value, field: &str) -> Result<Filter, ApiError> {
    Filter::from_json_or_text(v).map_err(|e| ApiError::field(field, e.to_string()))
}

/// Reads `{"entity", "filter", "lists", "segments", "exclude": {...},
/// "channel"}`.
fn audience_request(
    obj: &Map<String, Value>,
) -> Result<(EntityKind, AudienceSpec, Option<Channel>), ApiError> {
    const KEYS: &[&str] = &[
        "entity", "filter", "lists", "segments", "exclude", "channel", "limit",
    ];
    super::only_keys(obj, KEYS, "")?;
    let entity = match obj
        .get("entity")
        .and_then(Value::as_str)
        .unwrap_or("contact")
    {
        "contact" => EntityKind::Contact,
        n => Builtin::from_name(n)
            .map(EntityKind::Builtin)
            .unwrap_or_else(|| EntityKind::Custom(n.to_string())),
    };
    let spec = AudienceSpec::from_json(obj).map_err(ApiError::from_field)?;
    let channel = match obj.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            Channel::parse(s)
                .ok_or_else(|| ApiError::field("channel", "must be email, sms or zalo"))?,
        ),
        Some(_) => return Err(ApiError::field("channel", "must be email, sms or zalo")),
    };
    if entity != EntityKind::Contact
        && (!spec.lists.is_empty() || !spec.segments.is_empty() || channel.is_some())
    {
        return Err(ApiError::field(
            "entity",
            "lists, segments and channels select contacts; use a filter for other types",
        ));
    }
    Ok((entity, spec, channel))
}

async fn count_for(
    state: &AppState,
    ws: &Workspace,
    (entity, spec, channel): &(EntityKind, AudienceSpec, Option<Channel>),
) -> Result<Value, ApiError> {
    let channel = *channel;
    if *entity == EntityKind::Contact {
        let report = state.store.resolve_audience(ws.id, spec, channel).await?;
        let mut out = json!({"count": report.total});
        if channel.is_some() {
            out["sendable"] = json!(report.sendable);
            out["removed"] = serde_json::to_value(&report.removed).expect("serialises");
        }
        return Ok(out);
    }
    let filter = spec
        .filter
        .as_ref()
        .ok_or_else(|| ApiError::field("filter", "is required for this entity"))?;
    let catalog = state.store.catalog(ws.id).await?;
    state
        .store
        .entity_type(ws.id, entity.name())
        .await?
        .ok_or_else(|| {
            ApiError::field("entity", format!("unknown entity type '{}'", entity.name()))
        })?;
    filter
        .validate(&catalog, entity)
        .map_err(|e| ApiError::field("filter", e.to_string()))?;
    let n = state
        .store
        .count_audience(ws.id, entity, filter, &catalog)
        .await?;
    Ok(json!({"count": n}))
}

/// `{"count": N}`; with a `channel`, also how many may be sent to and why
/// the others may not.
async fn count(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let request = audience_request(&json_object(&headers, &body)?)?;
    Ok(Json(count_for(&state, &auth.0, &request).await?))
}

/// The count and a sample of the first matching records.
async fn preview(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let limit = obj
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(20)
        .clamp(1, 100) as u32;
    let request = audience_request(&obj)?;
    let mut out = count_for(&state, &auth.0, &request).await?;
    let (entity, spec, channel) = request;
    let ws = auth.0.id;
    let items: Vec<Value> = if entity == EntityKind::Contact {
        let ids = state
            .store
            .sendable_ids(ws, &spec, channel, 0, limit)
            .await?;
        state
            .store
            .contacts_by_ids(ws, &ids)
            .await?
            .into_iter()
            .map(|c| serde_json::to_value(c).expect("serialises"))
            .collect()
    } else {
        let filter = spec.filter.expect("checked by count_for");
        let catalog = state.store.catalog(ws).await?;
        let ty = state
            .store
            .entity_type(ws, entity.name())
            .await?
            .expect("checked by count_for");
        let ids = state
            .store
            .audience_ids(ws, &entity, &filter, &catalog, 0, limit)
            .await?;
        let mut items = Vec::new();
        for id in ids {
            items.push(state.store.record(ws, &ty, id).await?.to_json());
        }
        items
    };
    out["items"] = Value::Array(items);
    Ok(Json(out))
}

// --- segments and lists

/// `{"slug", "name", "filter"}`, the body of a segment or a list; the slug
/// is required on POST (it is in the path on PUT). A missing filter is
/// `None`: lists may be static, segments must have one.
fn named_filter_body(
    obj: &Map<String, Value>,
    slug_required: bool,
) -> Result<(Option<String>, String, Option<Filter>), ApiError> {
    if let Some(k) = obj
        .keys()
        .find(|k| !["slug", "name", "filter"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            k.clone(),
            "unknown field (slug, name, filter)",
        ));
    }
    let slug = obj.get("slug").and_then(Value::as_str).map(str::to_string);
    if slug_required && slug.is_none() {
        return Err(ApiError::field("slug", "is required"));
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field("name", "is required"))?
        .to_string();
    let filter = obj
        .get("filter")
        .filter(|v| !v.is_null())
        .map(|v| parse_filter(v, "filter"))
        .transpose()?;
    Ok((slug, name, filter))
}

fn segment_body(
    obj: &Map<String, Value>,
    slug_required: bool,
) -> Result<(Option<String>, String, Filter), ApiError> {
    let (slug, name, filter) = named_filter_body(obj, slug_required)?;
    let filter = filter.ok_or_else(|| ApiError::field("filter", "is required"))?;
    Ok((slug, name, filter))
}

async fn create_segment(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (slug, name, filter) = segment_body(&json_object(&headers, &body)?, true)?;
    let slug = slug.expect("required");
    if state.store.segment(auth.0.id, &slug).await.is_ok() {
        return Err(ApiError::Conflict(format!(
            "segment '{slug}' exists; PUT /segments/{slug} changes it"
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .put_segment(auth.0.id, &slug, &name, &filter)
                .await?,
        ),
    ))
}

async fn put_segment(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (_, name, filter) = segment_body(&json_object(&headers, &body)?, false)?;
    Ok(Json(
        state
            .store
            .put_segment(auth.0.id, &slug, &name, &filter)
            .await?,
    ))
}

async fn segments(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.list_segments(auth.0.id).await?))
}

async fn segment(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let seg = state.store.segment(auth.0.id, &slug).await?;
    let catalog = state.store.catalog(auth.0.id).await?;
    let filter = Filter::from_json(&seg.filter_json)
        .map_err(|e| ApiError::Internal(e.to_string().into()))?;
    let count = state
        .store
        .count_audience(auth.0.id, &EntityKind::Contact, &filter, &catalog)
        .await?;
    let mut v = serde_json::to_value(seg).expect("serialises");
    v["count"] = json!(count);
    Ok(Json(v))
}

async fn delete_segment(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.delete_segment(auth.0.id, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The segment's contacts now, a page at a time (cursor = last contact id).
async fn segment_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let seg = state.store.segment(auth.0.id, &slug).await?;
    let filter = Filter::from_json(&seg.filter_json)
        .map_err(|e| ApiError::Internal(e.to_string().into()))?;
    let catalog = state.store.catalog(auth.0.id).await?;
    let limit = p.limit()?;
    let mut ids = state
        .store
        .audience_ids(
            auth.0.id,
            &EntityKind::Contact,
            &filter,
            &catalog,
            p.cursor()?.unwrap_or(0),
            limit + 1,
        )
        .await?;
    let next = if ids.len() > limit as usize {
        ids.truncate(limit as usize);
        ids.last().map(|id| id.to_string())
    } else {
        None
    };
    let items = state.store.contacts_by_ids(auth.0.id, &ids).await?;
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

// --- lists

async fn create_list(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (slug, name, filter) = named_filter_body(&json_object(&headers, &body)?, true)?;
    let slug = slug.expect("required");
    if state.store.list(auth.0.id, &slug).await.is_ok() {
        return Err(ApiError::Conflict(format!(
            "list '{slug}' exists; PUT /lists/{slug} changes it"
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .put_list(auth.0.id, &slug, &name, filter.as_ref())
                .await?,
        ),
    ))
}

async fn put_list(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let (_, name, filter) = named_filter_body(&json_object(&headers, &body)?, false)?;
    Ok(Json(
        state
            .store
            .put_list(auth.0.id, &slug, &name, filter.as_ref())
            .await?,
    ))
}

async fn lists(State(state): State<AppState>, auth: Auth) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.list_lists(auth.0.id).await?))
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.list(auth.0.id, &slug).await?))
}

async fn delete_list(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.delete_list(auth.0.id, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn refresh_list(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (added, dropped) = state.store.refresh_list(auth.0.id, &slug).await?;
    Ok(Json(
        json!({"added": added, "dropped": dropped, "list": state.store.list(auth.0.id, &slug).await?}),
    ))
}

async fn members(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let status = p
        .get("status")
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be subscribed, unsubscribed, pending or removed",
                )
            })
        })
        .transpose()?;
    Ok(Json(
        state
            .store
            .list_members(auth.0.id, &slug, status, p.cursor()?, p.limit()?)
            .await?,
    ))
}

/// Reads a contact reference: an id, or `{"id"|"email"|"phone"|"external_id": v}`.
fn contact_key(v: &Value, field: &str, region: &str) -> Result<ContactKey, ApiError> {
    let (kind, raw) = match v {
        Value::Number(n) => ("id", n.to_string()),
        Value::Object(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            let raw = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(ApiError::field(
                        format!("{field}.{k}"),
                        "must be text or a number",
                    ));
                }
            };
            (k.as_str(), raw)
        }
        _ => {
            return Err(ApiError::field(
                field,
                "expected a contact id or {\"email\"|\"phone\"|\"external_id\"|\"id\": ...}",
            ));
        }
    };
    let r = parse_contact_ref(kind, &raw, region)
        .map_err(|e| ApiError::field(format!("{field}.{kind}"), e))?;
    Ok(match r {
        ContactRef::Id(id) => ContactKey::Id(id),
        ContactRef::ExternalId(x) => ContactKey::ExternalId(x),
        ContactRef::Email(x) => ContactKey::Email(x),
        ContactRef::Phone(x) => ContactKey::Phone(x),
    })
}

fn status_of(obj: &Map<String, Value>) -> Result<Status, ApiError> {
    match obj.get("status").and_then(Value::as_str) {
        None => Ok(Status::Subscribed),
        Some(s) => match Status::parse(s) {
            Some(st) if st != Status::Removed => Ok(st),
            _ => Err(ApiError::field(
                "status",
                "must be subscribed, unsubscribed or pending",
            )),
        },
    }
}

/// `{"contacts": [12, {"email": "a@x.vn"}], "status": "subscribed"}`:
/// contacts named by email, phone or external id are created if new.
async fn add_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let ws = &auth.0;
    state.store.list(ws.id, &slug).await?;
    let status = status_of(&obj)?;
    let Some(Value::Array(items)) = obj.get("contacts") else {
        return Err(ApiError::field(
            "contacts",
            "must be a list of contact ids or references",
        ));
    };
    let keys = items
        .iter()
        .enumerate()
        .map(|(i, v)| contact_key(v, &format!("contacts[{i}]"), &ws.phone_region))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids = Vec::with_capacity(keys.len());
    for k in &keys {
        ids.push(state.store.find_or_create_contact(ws.id, k).await?);
    }
    let changed = state.store.set_members(ws.id, &slug, &ids, status).await?;
    Ok(Json(
        json!({"changed": changed, "contact_ids": ids, "list": state.store.list(ws.id, &slug).await?}),
    ))
}

async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((slug, contact_id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let id = super::path_id(&contact_id)?;
    state.store.remove_member(auth.0.id, &slug, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"contact": {...}, "double_opt_in": true}`: subscribed at once, or
/// pending until the person confirms.
async fn subscribe(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let ws = &auth.0;
    state.store.list(ws.id, &slug).await?;
    let key = contact_key(
        obj.get("contact").unwrap_or(&Value::Null),
        "contact",
        &ws.phone_region,
    )?;
    let double = obj
        .get("double_opt_in")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = state.store.find_or_create_contact(ws.id, &key).await?;
    let status = if double {
        Status::Pending
    } else {
        Status::Subscribed
    };
    state.store.set_members(ws.id, &slug, &[id], status).await?;
    Ok(Json(json!({"contact_id": id, "status": status.as_str()})))
}

async fn unsubscribe(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let ws = &auth.0;
    state.store.list(ws.id, &slug).await?;
    let key = contact_key(
        obj.get("contact").unwrap_or(&Value::Null),
        "contact",
        &ws.phone_region,
    )?;
    let contact = state
        .store
        .find_contact(ws.id, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such contact".into()))?;
    state
        .store
        .set_members(ws.id, &slug, &[contact.id], Status::Unsubscribed)
        .await?;
    Ok(Json(
        json!({"contact_id": contact.id, "status": "unsubscribed"}),
    ))
}

/// A CSV of members: one of `contact_id`, `email`, `phone`, `external_id`
/// per row, and an optional `status`. New people are created.
async fn import_members(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    require_csv(&headers)?;
    let ws = &auth.0;
    state.store.list(ws.id, &slug).await?;
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .map_err(|_| ApiError::BadRequest("the CSV is larger than 64 MB; split it".into()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(bytes.as_ref());
    let header = rdr
        .headers()
        .map_err(|e| ApiError::field("header", e.to_string()))?
        .clone();
    const COLUMNS: &[&str] = &["contact_id", "email", "phone", "external_id", "status"];
    if let Some((i, h)) = header
        .iter()
        .enumerate()
        .find(|(_, h)| !COLUMNS.contains(h))
    {
        return Err(ApiError::field(
            "header",
            format!(
                "column {} '{h}' is not one of {}",
                i + 1,
                COLUMNS.join(", ")
            ),
        ));
    }
    if !header.iter().any(|h| h != "status") {
        return Err(ApiError::field(
            "header",
            "needs one of contact_id, email, phone, external_id",
        ));
    }
    let mut report = ImportReport::default();
    let fail = |report: &mut ImportReport, row: u64, column: Option<&str>, reason: String| {
        report.failed += 1;
        report.errors.push(RowError {
            row,
            column: column.map(str::to_string),
            reason,
        });
    };
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map(|p| p.line()).unwrap_or(0);
                fail(
                    &mut report,
                    row,
                    None,
                    format!("the row is not valid CSV: {e}"),
                );
                continue;
            }
        };
        let row = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != header.len() {
            fail(
                &mut report,
                row,
                None,
                format!(
                    "the row has {} fields but the header has {}",
                    rec.len(),
                    header.len()
                ),
            );
            continue;
        }
        let mut key = None;
        let mut status = Status::Subscribed;
        let mut bad = None;
        for (h, v) in header.iter().zip(rec.iter()) {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            if h == "status" {
                match Status::parse(v).filter(|s| *s != Status::Removed) {
                    Some(s) => status = s,
                    None => {
                        bad = Some((
                            h.to_string(),
                            format!("'{v}' is not subscribed, unsubscribed or pending"),
                        ))
                    }
                }
            } else if key.is_none() {
                let kind = if h == "contact_id" { "id" } else { h };
                match parse_contact_ref(kind, v, &ws.phone_region) {
                    Ok(r) => key = Some(ContactKey::from(r)),
                    Err(e) => bad = Some((h.to_string(), e)),
                }
            }
        }
        if let Some((col, reason)) = bad {
            fail(&mut report, row, Some(&col), reason);
            continue;
        }
        let Some(key) = key else {
            fail(&mut report, row, None, "the row names no contact".into());
            continue;
        };
        let id = match state.store.find_or_create_contact(ws.id, &key).await {
            Ok(id) => id,
            Err(swell_store::StoreError::Invalid(e)) => {
                fail(
                    &mut report,
                    row,
                    e.first().map(|e| e.field.as_str()),
                    e.first().map(|e| e.reason.clone()).unwrap_or_default(),
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let before = state.store.membership(ws.id, &slug, id).await?;
        state.store.set_members(ws.id, &slug, &[id], status).await?;
        match before {
            None => report.created += 1,
            Some(s) if s == status.as_str() => report.unchanged += 1,
            Some(_) => report.updated += 1,
        }
    }
    Ok(Json(report))
}

// --- blocklist

async fn blocklist(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.blocklist(auth.0.id).await?))
}

/// `{"email": "a@x.vn"}` or `{"phone": "0912 345 678"}`, with an optional
/// `reason`.
async fn block(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["email", "phone", "reason"].contains(&k.as_str()))
    {
        return Err(ApiError::field(
            k.clone(),
            "unknown field (email, phone, reason)",
        ));
    }
    let reason = obj.get("reason").and_then(Value::as_str);
    let (kind, value) = match (
        obj.get("email").and_then(Value::as_str),
        obj.get("phone").and_then(Value::as_str),
    ) {
        (Some(e), None) => (
            "email",
            swell_core::Email::parse(e)
                .map_err(|r| ApiError::field("email", r))?
                .to_string(),
        ),
        (None, Some(p)) => (
            "phone",
            swell_core::Phone::parse(p, &auth.0.phone_region)
                .map_err(|r| ApiError::field("phone", r))?
                .to_string(),
        ),
        _ => {
            return Err(ApiError::invalid(
                "give one of email or phone",
                vec![FieldError::new("", "give one of email or phone")],
            ));
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.block(auth.0.id, kind, &value, reason).await?),
    ))
}

async fn unblock(
    State(state): State<AppState>,
    auth: Auth,
    Path((kind, value)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let value = match kind.as_str() {
        "email" => swell_core::Email::parse(&value)
            .map(|e| e.to_string())
            .unwrap_or(value),
        "phone" => swell_core::Phone::parse(&value, &auth.0.phone_region)
            .map(|p| p.to_string())
            .unwrap_or(value),
        _ => return Err(ApiError::NotFound("kind is email or phone".into())),
    };
    state.store.unblock(auth.0.id, &kind, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}
