//! `/leads`: intake (one call, CSV), the list and detail a rep works from,
//! the pipeline, notes and calls, assignment by hand; the rules that assign
//! (`/assignment-rules`), the public forms (`/lead-forms`) and the
//! duplicate window and the notices of leads given by hand
//! (`/lead-settings`).
//!
//! A sales rep (a session or a key acting as one) reaches the list, the
//! detail, the pipeline and notes of their own leads only; everything else
//! here is a marketer's.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_store::Workspace;
use swell_store::leads::forms::LeadFormInput;
use swell_store::leads::rules::{Notify, RepWeight, RuleInput, Strategy, parse_filter};
use swell_store::leads::{Intake, LeadInput, LeadQuery, LeadStatus, OrderRef, StatusChange};

use super::{Params, body_reader, given, json_object, only_keys, patch, path_id, require_csv};
use crate::auth::{Auth, Caller};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/leads", post(intake).get(list))
        .route("/leads/import", post(import))
        .route("/leads/{id}", get(read).patch(move_status))
        .route("/leads/{id}/assign", post(assign))
        .route("/leads/{id}/notes", post(note))
        .route("/assignment-rules", get(list_rules).post(create_rule))
        .route(
            "/assignment-rules/{id}",
            get(read_rule).patch(update_rule).delete(remove_rule),
        )
        .route("/lead-forms", get(list_forms).post(create_form))
        .route(
            "/lead-forms/{id}",
            get(read_form).patch(update_form).delete(remove_form),
        )
        .route("/lead-settings", get(settings).put(put_settings))
}

/// The answer to an intake: the lead, what was made on the way, the
/// warnings, and its rep.
pub(crate) fn intake_response(i: Intake) -> (StatusCode, Json<Value>) {
    let status = if i.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut body = json!({
        "lead": i.lead,
        "duplicate": i.lead.duplicate_of.is_some(),
        "replayed": i.replayed,
        "contact_created": i.contact_created,
        "created": i.created,
        "assigned_to": if i.lead.duplicate_of.is_none() { json!(i.lead.owner_id) } else { Value::Null },
    });
    if !i.warnings.is_empty() {
        body["warnings"] = json!(i.warnings);
    }
    (status, Json(body))
}

/// Takes a lead from a parsed body, waking the sender for its notices.
pub(crate) async fn take(
    state: &AppState,
    ws: &Workspace,
    input: &LeadInput,
) -> Result<Intake, ApiError> {
    let intake = state.store.intake_lead(ws.id, input).await?;
    if intake.lead.owner_id.is_some() {
        state.mailer.wake();
    }
    Ok(intake)
}

async fn intake(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    let input = LeadInput::from_json(&obj, &auth.0.phone_region).map_err(ApiError::from_field)?;
    Ok(intake_response(take(&state, &auth.0, &input).await?))
}

async fn import(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    require_csv(&headers)?;
    let report = state
        .store
        .import_leads_csv(auth.0.id, body_reader(body))
        .await?;
    if report.assigned > 0 {
        state.mailer.wake();
    }
    Ok(Json(report))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let p = Params::from_uri(&uri);
    let status = p
        .get("status")
        .map(|s| {
            LeadStatus::parse(s).ok_or_else(|| {
                ApiError::field(
                    "status",
                    format!("'{s}' is not new, contacted, qualified, won or lost"),
                )
            })
        })
        .transpose()?;
    let since = p
        .get("since")
        .map(|s| {
            swell_core::time::parse_datetime(s)
                .map(swell_core::time::to_millis)
                .or_else(|_| {
                    swell_core::time::parse_date(s).and_then(|d| {
                        d.to_zoned(
                            jiff::tz::TimeZone::get(&caller.workspace.timezone)
                                .unwrap_or(jiff::tz::TimeZone::UTC),
                        )
                        .map(|z| z.timestamp().as_millisecond())
                        .map_err(|e| e.to_string())
                    })
                })
                .map_err(|e| ApiError::field("since", e))
        })
        .transpose()?;
    let q = LeadQuery {
        status,
        owner: p.int("owner")?,
        ad: p.int("ad")?,
        since,
        before: p.cursor()?,
        originals_only: false,
        limit: p.limit()?,
    };
    let items = state
        .store
        .leads(caller.workspace.id, &q, caller.actor)
        .await?;
    let next = (items.len() == q.limit as usize)
        .then(|| items.last().map(|l| l.id.to_string()))
        .flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn detail(state: &AppState, caller: &Caller, id: i64) -> Result<Value, ApiError> {
    let ws = caller.workspace.id;
    let lead = state.store.lead(ws, id, caller.actor).await?;
    let mut out = json!(lead);
    out["history"] = json!(state.store.lead_history(ws, id).await?);
    out["notices"] = json!(state.store.lead_notices(ws, id).await?);
    out["tasks"] = json!(state.store.lead_tasks(ws, id).await?);
    Ok(out)
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(detail(&state, &caller, path_id(&id)?).await?))
}

/// `PATCH /leads/{id}`: `{"status": "lost", "reason": "..."}`, `{"status":
/// "won", "order_id": 7}` or `"order_external_id"`.
async fn move_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let obj = json_object(&headers, &body)?;
    only_keys(
        &obj,
        &["status", "reason", "order_id", "order_external_id"],
        "",
    )?;
    let to = match obj.get("status").and_then(Value::as_str) {
        Some(s) => LeadStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                format!("'{s}' is not new, contacted, qualified, won or lost"),
            )
        })?,
        None => return Err(ApiError::field("status", "is required")),
    };
    let order = match (
        given(&obj, "order_id", Value::as_i64, "an order id")?,
        given(
            &obj,
            "order_external_id",
            |v| v.as_str().map(str::to_string),
            "text",
        )?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "order_id",
                "give order_id or order_external_id, not both",
            ));
        }
        (Some(o), None) => Some(OrderRef::Id(o)),
        (None, Some(x)) => Some(OrderRef::External(x)),
        (None, None) => None,
    };
    let reason = given(&obj, "reason", |v| v.as_str().map(str::to_string), "text")?;
    state
        .store
        .move_lead(
            caller.workspace.id,
            id,
            caller.actor,
            &StatusChange { to, reason, order },
        )
        .await?;
    Ok(Json(detail(&state, &caller, id).await?))
}

/// `POST /leads/{id}/assign`: `{"user_id": 3}` by hand, or `{}` for the
/// rules' next rep.
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(crate::ui::Need::Marketer)?;
    let id = path_id(&id)?;
    let obj = if body.is_empty() {
        Map::new()
    } else {
        json_object(&headers, &body)?
    };
    only_keys(&obj, &["user_id"], "")?;
    let to = given(&obj, "user_id", Value::as_i64, "a user id")?;
    state
        .store
        .assign_lead(caller.workspace.id, id, to, caller.actor)
        .await?;
    state.mailer.wake();
    Ok(Json(detail(&state, &caller, id).await?))
}

/// `POST /leads/{id}/notes`: `{"kind": "call", "text": "..."}` (kind note
/// unless given).
async fn note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    let obj = json_object(&headers, &body)?;
    only_keys(&obj, &["kind", "text"], "")?;
    let kind = given(
        &obj,
        "kind",
        |v| v.as_str().map(str::to_string),
        "note or call",
    )?
    .unwrap_or_else(|| "note".into());
    let text = given(&obj, "text", |v| v.as_str().map(str::to_string), "text")?
        .ok_or_else(|| ApiError::field("text", "is required"))?;
    let entry = state
        .store
        .add_lead_note(caller.workspace.id, id, caller.actor, &kind, &text)
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

const RULE_FIELDS: &[&str] = &[
    "position",
    "name",
    "strategy",
    "filter",
    "reps",
    "working_hours",
    "reassign_after_minutes",
    "notify",
    "active",
];

fn rule_input(obj: &Map<String, Value>) -> Result<RuleInput, ApiError> {
    only_keys(obj, RULE_FIELDS, "")?;
    let reps = match obj.get("reps") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    match r {
                        Value::Number(n) => n.as_i64().map(|user| RepWeight { user, weight: 1 }),
                        Value::Object(o) => {
                            o.get("user").and_then(Value::as_i64).map(|user| RepWeight {
                                user,
                                weight: o
                                    .get("weight")
                                    .and_then(Value::as_u64)
                                    .unwrap_or(1)
                                    .min(u32::MAX as u64)
                                    as u32,
                            })
                        }
                        _ => None,
                    }
                    .ok_or_else(|| {
                        ApiError::field(
                            format!("reps[{i}]"),
                            "must be a user id or {\"user\": id, \"weight\": n}",
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(ApiError::field("reps", "must be a list of reps")),
    };
    let filter = match obj.get("filter") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(Some(parse_filter(v).map_err(ApiError::from_field)?)),
    };
    let reassign = match patch(obj, "reassign_after_minutes", |v| {
        v.as_i64()
            .ok_or_else(|| "must be a whole number of minutes".into())
    })? {
        swell_core::contact::Patch::Keep => None,
        swell_core::contact::Patch::Clear => Some(None),
        swell_core::contact::Patch::Set(m) => Some(Some(m)),
    };
    Ok(RuleInput {
        position: given(obj, "position", Value::as_i64, "a whole number")?,
        name: given(obj, "name", |v| v.as_str().map(str::to_string), "text")?,
        strategy: given(
            obj,
            "strategy",
            |v| v.as_str().and_then(Strategy::parse),
            "round_robin or weighted",
        )?,
        filter,
        reps,
        working_hours: given(obj, "working_hours", Value::as_bool, "true or false")?,
        reassign_after_minutes: reassign,
        notify: obj
            .get("notify")
            .map(Notify::from_json)
            .transpose()
            .map_err(ApiError::from_field)?,
        active: given(obj, "active", Value::as_bool, "true or false")?,
    })
}

async fn list_rules(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        json!({"items": state.store.assignment_rules(auth.0.id).await?}),
    ))
}

async fn create_rule(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = rule_input(&json_object(&headers, &body)?)?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .write_assignment_rule(auth.0.id, None, &input)
                .await?,
        ),
    ))
}

async fn read_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        state
            .store
            .assignment_rule(auth.0.id, path_id(&id)?)
            .await?,
    ))
}

async fn update_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = rule_input(&json_object(&headers, &body)?)?;
    Ok(Json(
        state
            .store
            .write_assignment_rule(auth.0.id, Some(path_id(&id)?), &input)
            .await?,
    ))
}

async fn remove_rule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .delete_assignment_rule(auth.0.id, path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn form_input(obj: &Map<String, Value>) -> Result<LeadFormInput, ApiError> {
    only_keys(
        obj,
        &[
            "name",
            "ad_id",
            "per_minute",
            "facebook_verify_token",
            "facebook_app_secret",
        ],
        "",
    )?;
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| "must be text".to_string())
    };
    Ok(LeadFormInput {
        name: given(obj, "name", |v| v.as_str().map(str::to_string), "text")?,
        ad_id: patch(obj, "ad_id", |v| {
            v.as_i64().ok_or_else(|| "must be an ad id".into())
        })?,
        per_minute: given(obj, "per_minute", Value::as_i64, "a whole number")?,
        facebook_verify_token: patch(obj, "facebook_verify_token", text)?,
        facebook_app_secret: patch(obj, "facebook_app_secret", text)?,
    })
}

async fn list_forms(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        json!({"items": state.store.lead_forms(auth.0.id).await?}),
    ))
}

/// Creates a form; the answer carries its key and URLs, shown this once.
async fn create_form(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = form_input(&json_object(&headers, &body)?)?;
    let (form, key) = state.store.write_lead_form(auth.0.id, None, &input).await?;
    let key = key.unwrap_or_default();
    let mut out = json!(form);
    out["key"] = json!(key);
    out["url"] = json!(format!("/f/{key}"));
    out["facebook_url"] = json!(format!("/f/{key}/facebook"));
    Ok((StatusCode::CREATED, Json(out)))
}

async fn read_form(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.lead_form(auth.0.id, path_id(&id)?).await?))
}

async fn update_form(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let input = form_input(&json_object(&headers, &body)?)?;
    Ok(Json(
        state
            .store
            .write_lead_form(auth.0.id, Some(path_id(&id)?), &input)
            .await?
            .0,
    ))
}

async fn remove_form(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .delete_lead_form(auth.0.id, path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.store.lead_settings(auth.0.id).await?))
}

async fn put_settings(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let obj = json_object(&headers, &body)?;
    only_keys(&obj, &["duplicate_window_days", "notify"], "")?;
    let days = given(
        &obj,
        "duplicate_window_days",
        Value::as_i64,
        "a whole number of days",
    )?;
    let notify = obj
        .get("notify")
        .map(swell_store::leads::Notify::from_json)
        .transpose()
        .map_err(ApiError::from_field)?;
    Ok(Json(
        state
            .store
            .set_lead_settings(auth.0.id, days, notify)
            .await?,
    ))
}
