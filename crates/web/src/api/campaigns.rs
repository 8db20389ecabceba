//! Automated campaigns: the campaign, its tree of activities, launching
//! and stopping, participants, traces and figures, test mode, the cost
//! estimate, the ready-made templates; and what activities reach: tasks,
//! in-app messages.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use swell_core::entity::EntityKind;
use swell_core::filter::Filter;
use swell_engine::automation::{EngineError, TriggerSpec, templates};
use swell_store::WorkspaceId;
use swell_store::automation::views::TraceQuery;
use swell_store::automation::{ActivityInput, Campaign, CampaignInput, KINDS, TRIGGERS};
use swell_store::consent::{AudienceSpec, Channel};

use super::{Params, json_object, path_id};
use crate::auth::Auth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/campaigns", post(create).get(list))
        .route("/campaigns/templates", get(template_list))
        .route("/campaigns/templates/{name}", post(from_template))
        .route("/campaigns/{id}", get(show).put(replace).delete(remove))
        .route("/campaigns/{id}/launch", post(launch))
        .route("/campaigns/{id}/pause", post(pause))
        .route("/campaigns/{id}/resume", post(resume_campaign))
        .route("/campaigns/{id}/stop", post(stop))
        .route(
            "/campaigns/{id}/activities",
            post(add_activity).get(activities),
        )
        .route(
            "/campaigns/{id}/activities/{activity}",
            put(edit_activity).delete(remove_activity),
        )
        .route("/campaigns/{id}/participants", get(participants))
        .route("/campaigns/{id}/traces", get(traces))
        .route("/campaigns/{id}/stats", get(stats))
        .route("/campaigns/{id}/estimate", get(estimate))
        .route("/campaigns/{id}/test", post(test_enter))
        .route(
            "/campaigns/{id}/participants/{participant}/step",
            post(step),
        )
        .route("/traces/{id}/simulate", post(simulate))
        .route("/messages/{id}/reply", post(reply))
        .route("/tasks", get(tasks))
        .route("/tasks/{id}/done", post(task_done))
        .route("/inapp/{contact}", get(inapp))
        .route("/inapp/messages/{id}/{action}", post(inapp_action))
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Invalid(m) => ApiError::BadRequest(m),
        }
    }
}

/// The entity kind a campaign targets.
async fn entity_kind(
    state: &AppState,
    ws: WorkspaceId,
    name: &str,
) -> Result<EntityKind, ApiError> {
    state
        .store
        .entity_type(ws, name)
        .await?
        .map(|t| t.kind)
        .ok_or_else(|| ApiError::field("entity", format!("unknown entity type {name:?}")))
}

/// Reads and checks a campaign body (create and replace). Returns the
/// campaign, its activity tree (if given) and the new webhook secret.
async fn campaign_input(
    state: &AppState,
    ws: WorkspaceId,
    obj: &Map<String, Value>,
) -> Result<(CampaignInput, Option<Vec<Value>>, Option<String>), ApiError> {
    const KEYS: &[&str] = &[
        "name",
        "entity",
        "filter",
        "trigger",
        "reentry",
        "budget",
        "hook_signing_secret",
        "activities",
        "marketing_campaign_id",
    ];
    super::only_keys(obj, KEYS, "")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::field("name", "is required"))?
        .to_string();
    let entity = obj
        .get("entity")
        .and_then(Value::as_str)
        .unwrap_or("contact")
        .to_string();
    let kind = entity_kind(state, ws, &entity).await?;
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let f = Filter::from_json_or_text(v)
                .map_err(|e| ApiError::field("filter", e.to_string()))?;
            let catalog = state.store.catalog(ws).await?;
            f.validate(&catalog, &kind)
                .map_err(|e| ApiError::field("filter", e.to_string()))?;
            Some(f.to_json())
        }
    };
    let trigger = obj
        .get("trigger")
        .cloned()
        .unwrap_or(json!({"kind": "manual"}));
    let spec = TriggerSpec::parse(&trigger).map_err(|e| ApiError::field("trigger", e))?;
    if matches!(spec, TriggerSpec::Anniversary { .. }) && kind != EntityKind::Contact {
        return Err(ApiError::field(
            "trigger",
            "anniversary triggers are for contact campaigns",
        ));
    }
    let reentry = obj
        .get("reentry")
        .and_then(Value::as_str)
        .unwrap_or("once")
        .to_string();
    if reentry != "once" && reentry != "each" {
        return Err(ApiError::field("reentry", "must be once or each"));
    }
    let budget = match obj.get("budget") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|b| *b >= 0.0)
                .ok_or_else(|| ApiError::field("budget", "must be a number >= 0"))?,
        ),
    };
    let (hook_key, secret) = if spec == TriggerSpec::Webhook {
        let secret = swell_engine::tokens::random_secret();
        (
            Some(swell_store::workspaces::hash_key(&secret)),
            Some(secret),
        )
    } else {
        (None, None)
    };
    let hook_signing = obj
        .get("hook_signing_secret")
        .and_then(Value::as_str)
        .map(str::to_string);
    let activities = match obj.get("activities") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => {
            return Err(ApiError::field(
                "activities",
                "must be a list of activities",
            ));
        }
    };
    Ok((
        CampaignInput {
            name,
            entity,
            filter,
            trigger,
            reentry,
            budget,
            hook_key,
            hook_signing,
            marketing_campaign_id: super::marketing::member_of(state, ws, obj).await?,
        },
        activities,
        secret,
    ))
}

/// Milliseconds from `"2d"`, `"12h"`, `"30m"`, `"1w"`, `"1mo"`, or a number
/// of milliseconds.
fn duration_ms(v: &Value, field: &str) -> Result<i64, ApiError> {
    if let Some(n) = v.as_i64() {
        return if n >= 0 {
            Ok(n)
        } else {
            Err(ApiError::field(field, "must not be negative"))
        };
    }
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::field(field, "expected a duration such as \"2d\""))?;
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| ApiError::field(field, format!("{s:?} is not a duration such as \"2d\"")))?;
    let unit_ms = match unit {
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "mo" => 30 * 86_400_000,
        _ => {
            return Err(ApiError::field(
                field,
                format!("{s:?}: unit must be m, h, d, w or mo"),
            ));
        }
    };
    Ok(n * unit_ms)
}

/// Reads and checks one activity.
async fn activity_input(
    state: &AppState,
    ws: WorkspaceId,
    entity: &str,
    parent: Option<i64>,
    obj: &Map<String, Value>,
    at: &str,
) -> Result<ActivityInput, ApiError> {
    const KEYS: &[&str] = &[
        "name",
        "kind",
        "config",
        "trigger",
        "delay",
        "filter",
        "validity",
        "share",
        "position",
        "parent_id",
        "children",
    ];
    let field = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    super::only_keys(obj, KEYS, at)?;
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !KINDS.contains(&kind) {
        return Err(ApiError::field(
            field("kind"),
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    let default_trigger = if parent.is_some() {
        "after_parent"
    } else {
        "start"
    };
    let trigger = obj
        .get("trigger")
        .and_then(Value::as_str)
        .unwrap_or(default_trigger);
    if !TRIGGERS.contains(&trigger) {
        return Err(ApiError::field(
            field("trigger"),
            format!("must be one of {}", TRIGGERS.join(", ")),
        ));
    }
    if parent.is_none() && trigger != "start" {
        return Err(ApiError::field(
            field("trigger"),
            "a top activity starts with the workflow (start)",
        ));
    }
    if parent.is_some() && trigger == "start" {
        return Err(ApiError::field(
            field("trigger"),
            "only top activities use start",
        ));
    }
    let config = obj.get("config").cloned().unwrap_or(json!({}));
    check_config(state, ws, kind, &config, &field("config")).await?;
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let f = Filter::from_json_or_text(v)
                .map_err(|e| ApiError::field(field("filter"), e.to_string()))?;
            let k = entity_kind(state, ws, entity).await?;
            let catalog = state.store.catalog(ws).await?;
            f.validate(&catalog, &k)
                .map_err(|e| ApiError::field(field("filter"), e.to_string()))?;
            Some(f.to_json())
        }
    };
    Ok(ActivityInput {
        parent_id: parent,
        name: obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(kind)
            .to_string(),
        kind: kind.to_string(),
        config,
        trigger: trigger.to_string(),
        delay_ms: obj
            .get("delay")
            .map(|v| duration_ms(v, &field("delay")))
            .transpose()?
            .unwrap_or(0),
        filter,
        validity_ms: obj
            .get("validity")
            .filter(|v| !v.is_null())
            .map(|v| duration_ms(v, &field("validity")))
            .transpose()?,
        share: obj.get("share").and_then(Value::as_i64),
        position: obj.get("position").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// The actions an `action` step may take (`{"action": ...}`), as the
/// engine runs them; the workflow builder offers the same list.
pub const ACTIONS: &[&str] = &[
    "add_tag",
    "remove_tag",
    "add_to_list",
    "remove_from_list",
    "add_score",
    "update_fields",
    "assign_owner",
    "create_task",
    "create_lead",
    "end",
];

/// Checks what an activity's config names exists and fits.
async fn check_config(
    state: &AppState,
    ws: WorkspaceId,
    kind: &str,
    config: &Value,
    at: &str,
) -> Result<(), ApiError> {
    let template = |channel: &'static str, config: Value, at: String| async move {
        let id = config
            .get("template_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::field(format!("{at}.template_id"), "is required"))?;
        let t = state.store.template(ws, id).await.map_err(|_| {
            ApiError::field(
                format!("{at}.template_id"),
                format!("template {id} not found"),
            )
        })?;
        if t.channel != channel {
            return Err(ApiError::field(
                format!("{at}.template_id"),
                format!(
                    "template {id} is a {} template; this step needs {channel}",
                    t.channel
                ),
            ));
        }
        Ok::<(), ApiError>(())
    };
    match kind {
        "email" => template("email", config.clone(), at.to_string()).await,
        "sms" => template("sms", config.clone(), at.to_string()).await,
        "zalo" => template("zns", config.clone(), at.to_string()).await,
        "inapp" => match config.get("body").and_then(Value::as_str) {
            Some(_) => Ok(()),
            None => Err(ApiError::field(format!("{at}.body"), "is required")),
        },
        "webhook" => match config.get("url").and_then(Value::as_str) {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => Ok(()),
            _ => Err(ApiError::field(
                format!("{at}.url"),
                "an http(s) URL is required",
            )),
        },
        "message" => {
            let channels = config
                .get("channels")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ApiError::field(
                        format!("{at}.channels"),
                        "a list such as [\"inapp\", \"zalo\", \"sms\", \"email\"] is required",
                    )
                })?;
            for ch in channels {
                let name = ch.as_str().unwrap_or("");
                let sub = config.get("templates").and_then(|t| t.get(name)).cloned();
                let Some(sub) = sub else {
                    return Err(ApiError::field(
                        format!("{at}.templates.{name}"),
                        "is required",
                    ));
                };
                let sub = match sub {
                    Value::Number(id) => json!({"template_id": id}),
                    other => other,
                };
                let kind = match name {
                    "email" | "sms" | "zalo" | "inapp" => name,
                    other => {
                        return Err(ApiError::field(
                            format!("{at}.channels"),
                            format!("unknown channel {other:?}"),
                        ));
                    }
                };
                Box::pin(check_config(
                    state,
                    ws,
                    kind,
                    &sub,
                    &format!("{at}.templates.{name}"),
                ))
                .await?;
            }
            Ok(())
        }
        "action" => {
            let action = config.get("action").and_then(Value::as_str).unwrap_or("");
            if !ACTIONS.contains(&action) {
                return Err(ApiError::field(
                    format!("{at}.action"),
                    format!("must be one of {}", ACTIONS.join(", ")),
                ));
            }
            let need = |k: &str| -> Result<(), ApiError> {
                if config.get(k).is_none_or(Value::is_null) {
                    Err(ApiError::field(format!("{at}.{k}"), "is required"))
                } else {
                    Ok(())
                }
            };
            // A number given as text would run as nothing at all.
            let whole = |k: &str, required: bool| -> Result<(), ApiError> {
                match config.get(k) {
                    None | Some(Value::Null) if !required => Ok(()),
                    Some(v) if v.is_i64() => Ok(()),
                    _ => Err(ApiError::field(
                        format!("{at}.{k}"),
                        "a whole number is required",
                    )),
                }
            };
            match action {
                "add_tag" | "remove_tag" => need("tag"),
                "add_to_list" | "remove_from_list" => {
                    need("list")?;
                    let slug = config["list"].as_str().unwrap_or("");
                    state.store.list(ws, slug).await.map(|_| ()).map_err(|_| {
                        ApiError::field(format!("{at}.list"), format!("no list {slug:?}"))
                    })
                }
                "add_score" => whole("points", true),
                "update_fields" => match config.get("fields") {
                    Some(Value::Object(f)) if !f.is_empty() => Ok(()),
                    _ => Err(ApiError::field(
                        format!("{at}.fields"),
                        "an object of fields and their new values is required",
                    )),
                },
                "create_task" => {
                    need("title")?;
                    whole("due_in_hours", false)
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// An activity of a tree given in one body, checked, with its children.
struct Node {
    input: ActivityInput,
    children: Vec<Node>,
}

/// Reads and checks a tree of activities before anything is stored, so a
/// bad tree leaves nothing half-made. Children are read as children
/// (their parent's id is filled in when stored).
async fn read_tree(
    state: &AppState,
    ws: WorkspaceId,
    entity: &str,
    top: bool,
    items: &[Value],
    at: &str,
) -> Result<Vec<Node>, ApiError> {
    let mut nodes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| ApiError::field(at.clone(), "must be an object"))?;
        let parent = if top { None } else { Some(0) };
        let input = activity_input(state, ws, entity, parent, obj, &at).await?;
        let children = match obj.get("children") {
            Some(Value::Array(kids)) => {
                Box::pin(read_tree(
                    state,
                    ws,
                    entity,
                    false,
                    kids,
                    &format!("{at}.children"),
                ))
                .await?
            }
            _ => Vec::new(),
        };
        nodes.push(Node { input, children });
    }
    Ok(nodes)
}

/// Stores a checked tree under `parent`, depth first.
async fn store_tree(
    state: &AppState,
    ws: WorkspaceId,
    campaign: i64,
    parent: Option<i64>,
    nodes: Vec<Node>,
) -> Result<(), ApiError> {
    for mut node in nodes {
        node.input.parent_id = parent;
        let a = state.store.add_activity(ws, campaign, &node.input).await?;
        Box::pin(store_tree(state, ws, campaign, Some(a.id), node.children)).await?;
    }
    Ok(())
}

/// A campaign with its activities and figures.
async fn campaign_json(state: &AppState, ws: WorkspaceId, c: &Campaign) -> Result<Value, ApiError> {
    let activities = state.store.activities(ws, c.id).await?;
    let figures = state.store.activity_figures(ws, c.id).await?;
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["activities"] = json!(
        activities
            .iter()
            .map(|a| {
                let mut j = serde_json::to_value(a).unwrap_or_default();
                j["figures"] =
                    serde_json::to_value(figures.get(&a.id).cloned().unwrap_or_default())
                        .unwrap_or_default();
                j
            })
            .collect::<Vec<_>>()
    );
    v["participants"] = json!(state.store.participant_figures(ws, c.id).await?);
    Ok(v)
}

async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let obj = json_object(&headers, &body)?;
    let (input, tree, secret) = campaign_input(&state, ws, &obj).await?;
    let tree = match &tree {
        Some(items) => read_tree(&state, ws, &input.entity, true, items, "activities").await?,
        None => Vec::new(),
    };
    let c = state.store.create_campaign(ws, &input).await?;
    if let Err(e) = store_tree(&state, ws, c.id, None, tree).await {
        let _ = state.store.delete_campaign(ws, c.id).await;
        return Err(e);
    }
    let mut v = campaign_json(&state, ws, &c).await?;
    if let Some(secret) = secret {
        v["hook_url"] = json!(format!("{}/hooks/{secret}", state.mailer.config().base_url));
    }
    Ok((StatusCode::CREATED, Json(v)))
}

async fn list(State(state): State<AppState>, auth: Auth) -> Result<impl IntoResponse, ApiError> {
    let items = state.store.campaigns(auth.0.id).await?;
    Ok(Json(json!({"items": items})))
}

async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let c = state.store.campaign(auth.0.id, path_id(&id)?).await?;
    Ok(Json(campaign_json(&state, auth.0.id, &c).await?))
}

async fn replace(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    let before = state.store.campaign(ws, id).await?;
    let obj = json_object(&headers, &body)?;
    if obj.contains_key("activities") {
        return Err(ApiError::field(
            "activities",
            "edit activities through /campaigns/{id}/activities",
        ));
    }
    let (mut input, _, secret) = campaign_input(&state, ws, &obj).await?;
    // A running webhook campaign keeps its URL.
    let secret = if before.has_hook { None } else { secret };
    if secret.is_none() {
        input.hook_key = None;
    }
    let c = state.store.update_campaign(ws, id, &input).await?;
    let mut v = campaign_json(&state, ws, &c).await?;
    if let Some(secret) = secret {
        v["hook_url"] = json!(format!("{}/hooks/{secret}", state.mailer.config().base_url));
    }
    Ok(Json(v))
}

async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .store
        .delete_campaign(auth.0.id, path_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn launch(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    let c = state.store.campaign(ws, id).await?;
    if c.state == "running" {
        return Err(ApiError::Conflict("the campaign is already running".into()));
    }
    if state.store.activities(ws, id).await?.is_empty() {
        return Err(ApiError::field(
            "activities",
            "a campaign needs at least one activity to launch",
        ));
    }
    let entered = state.automation.launch(ws, id).await?;
    let c = state.store.campaign(ws, id).await?;
    let mut v = campaign_json(&state, ws, &c).await?;
    v["entered"] = json!(entered);
    Ok(Json(v))
}

async fn set_state(
    state: &AppState,
    ws: WorkspaceId,
    id: &str,
    from: &[&str],
    to: &str,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    let c = state.store.campaign(ws, id).await?;
    if !from.contains(&c.state.as_str()) {
        return Err(ApiError::Conflict(format!(
            "a {} campaign cannot move to {to}",
            c.state
        )));
    }
    let c = state.store.set_campaign_state(ws, id, to, None).await?;
    state.automation.wake();
    Ok(Json(campaign_json(state, ws, &c).await?))
}

async fn pause(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_state(&state, auth.0.id, &id, &["running"], "paused").await
}

async fn resume_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_state(&state, auth.0.id, &id, &["paused"], "running").await
}

async fn stop(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_state(
        &state,
        auth.0.id,
        &id,
        &["draft", "running", "paused"],
        "stopped",
    )
    .await
}

async fn activities(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id)?;
    state.store.campaign(auth.0.id, id).await?;
    Ok(Json(
        json!({"items": state.store.activities(auth.0.id, id).await?}),
    ))
}

async fn add_activity(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let c = state.store.campaign(ws, path_id(&id)?).await?;
    let obj = json_object(&headers, &body)?;
    let parent = obj.get("parent_id").and_then(Value::as_i64);
    let input = activity_input(&state, ws, &c.entity, parent, &obj, "").await?;
    let a = state.store.add_activity(ws, c.id, &input).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

async fn edit_activity(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, activity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let c = state.store.campaign(ws, path_id(&id)?).await?;
    let before = state.store.activity(ws, path_id(&activity)?).await?;
    if before.campaign_id != c.id || before.deleted_at.is_some() {
        return Err(ApiError::NotFound(
            "no such activity in this campaign".into(),
        ));
    }
    let obj = json_object(&headers, &body)?;
    if obj
        .get("parent_id")
        .and_then(Value::as_i64)
        .is_some_and(|p| Some(p) != before.parent_id)
    {
        return Err(ApiError::field(
            "parent_id",
            "an activity cannot move; remove it and add a new one",
        ));
    }
    let input = activity_input(&state, ws, &c.entity, before.parent_id, &obj, "").await?;
    Ok(Json(
        state.store.update_activity(ws, before.id, &input).await?,
    ))
}

async fn remove_activity(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, activity)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let c = state.store.campaign(ws, path_id(&id)?).await?;
    let a = state.store.activity(ws, path_id(&activity)?).await?;
    if a.campaign_id != c.id {
        return Err(ApiError::NotFound(
            "no such activity in this campaign".into(),
        ));
    }
    state.store.delete_activity(ws, a.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn participants(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    state.store.campaign(ws, id).await?;
    let params = Params::from_uri(&uri);
    let limit = params.limit()?;
    let items = state
        .store
        .participants(ws, id, params.get("state"), params.int("cursor")?, limit)
        .await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|p| p.id.to_string()))
        .flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn traces(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    state.store.campaign(ws, id).await?;
    let params = Params::from_uri(&uri);
    let q = TraceQuery {
        participant: params.int("participant")?,
        activity: params.int("activity")?,
        state: params.get("state").map(str::to_string),
        cursor: params.int("cursor")?,
        limit: params.limit()?,
    };
    let items = state.store.traces(ws, id, &q).await?;
    let next = (items.len() == q.limit as usize)
        .then(|| items.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn stats(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    let c = state.store.campaign(ws, id).await?;
    let figures = state.store.activity_figures(ws, id).await?;
    let activities: Vec<Value> = state
        .store
        .activities(ws, id)
        .await?
        .into_iter()
        .map(|a| {
            let mut f = serde_json::to_value(figures.get(&a.id).cloned().unwrap_or_default())
                .unwrap_or_default();
            f["activity_id"] = json!(a.id);
            f["name"] = json!(a.name);
            f
        })
        .collect();
    Ok(Json(json!({
        "campaign": c.id,
        "spent": c.spent,
        "budget": c.budget,
        "participants": state.store.participant_figures(ws, id).await?,
        "activities": activities,
    })))
}

/// For the current audience: messages per channel and their cost at each
/// channel's unit cost. A message step with a channel order counts each
/// person on the first channel they can receive.
async fn estimate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(cost_estimate(&state, auth.0.id, path_id(&id)?).await?))
}

/// The estimate's body, which the campaign's page shows too.
pub(crate) async fn cost_estimate(
    state: &AppState,
    ws: WorkspaceId,
    id: i64,
) -> Result<Value, ApiError> {
    let c = state.store.campaign(ws, id).await?;
    let settings = state.store.channel_settings(ws).await?;
    let cost_of = |ch: &str| {
        settings
            .iter()
            .find(|s| s.channel == ch)
            .map(|s| (s.unit_cost, s.currency.clone()))
    };
    let entry = c
        .entry_filter()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let kind = entity_kind(state, ws, &c.entity).await?;
    let catalog = state.store.catalog(ws).await?;
    let audience = state
        .store
        .count_audience(ws, &kind, &entry, &catalog)
        .await?;
    // The resolver wants a filter, and an empty one does not validate: a
    // campaign without one takes every contact, which this one says.
    let filter = match c.filter {
        Some(_) => entry,
        None => Filter::parse("created_at is set")
            .map_err(|e| ApiError::Internal(Box::new(std::io::Error::other(e.to_string()))))?,
    };
    let filter = Some(filter);
    let mut per_channel: Map<String, Value> = Map::new();
    let mut total = 0.0;
    let mut currency = "VND".to_string();
    let contacts = kind == EntityKind::Contact;
    let spec = AudienceSpec {
        filter,
        ..Default::default()
    };
    for a in state.store.activities(ws, id).await? {
        // (channel, messages) the step sends, each reachable person counted
        // by the same rules sends use.
        let sends: Vec<(String, u64)> = match a.kind.as_str() {
            "email" | "sms" | "zalo" => {
                let reachable = match (contacts, Channel::parse(&a.kind)) {
                    (true, Some(ch)) => {
                        state
                            .store
                            .resolve_audience(ws, &spec, Some(ch))
                            .await?
                            .sendable
                    }
                    _ => audience,
                };
                vec![(a.kind.clone(), reachable)]
            }
            "inapp" => vec![("inapp".to_string(), audience)],
            // A channel order: each person on the first channel they can
            // receive, as the step will choose.
            "message" if contacts => {
                let order: Vec<&str> = a.config["channels"]
                    .as_array()
                    .map(|o| o.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let since = state.store.now() - swell_engine::automation::APP_SEEN_MS;
                state
                    .store
                    .first_reachable(ws, &spec, &order, since)
                    .await?
                    .into_iter()
                    .filter_map(|(ch, n)| Some((ch?, n)))
                    .collect()
            }
            // Records of other kinds: everyone on the order's first channel.
            "message" => {
                let first = a.config["channels"][0].as_str().unwrap_or("email");
                vec![(first.to_string(), audience)]
            }
            _ => continue,
        };
        for (channel, reachable) in sends {
            let (unit, cur) = cost_of(&channel).unwrap_or((0.0, currency.clone()));
            currency = cur;
            let entry = per_channel
                .entry(channel)
                .or_insert(json!({"messages": 0, "cost": 0.0}));
            let messages = entry["messages"].as_u64().unwrap_or(0) + reachable;
            let cost = entry["cost"].as_f64().unwrap_or(0.0) + reachable as f64 * unit;
            *entry = json!({"messages": messages, "cost": cost, "unit_cost": unit});
            total += reachable as f64 * unit;
        }
    }
    Ok(json!({
        "campaign": c.id,
        "audience": audience,
        "channels": per_channel,
        "total_cost": total,
        "currency": currency,
        "budget": c.budget,
        "within_budget": c.budget.is_none_or(|b| total <= b),
    }))
}

async fn test_enter(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    let obj = json_object(&headers, &body)?;
    let records: Vec<i64> = obj
        .get("records")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .filter(|v: &Vec<i64>| !v.is_empty())
        .ok_or_else(|| ApiError::field("records", "a list of record ids is required"))?;
    let participants = state.automation.enter_test(ws, id, &records).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"participants": participants})),
    ))
}

/// Test mode: runs the participant's scheduled steps now.
async fn step(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, participant)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = path_id(&id)?;
    let p = state.store.participant(ws, path_id(&participant)?).await?;
    if p.campaign_id != id {
        return Err(ApiError::NotFound(
            "no such participant in this campaign".into(),
        ));
    }
    let hurried = state.store.hurry_participant(ws, p.id).await?;
    // Run what is due now; another worker may have taken a step (or put
    // it back for a retry): wait, briefly, until none is in flight.
    let query = TraceQuery {
        participant: Some(p.id),
        limit: 1000,
        ..Default::default()
    };
    let mut traces = Vec::new();
    for _ in 0..100 {
        state.automation.drain().await?;
        traces = state.store.traces(ws, id, &query).await?;
        let now = state.store.now();
        let in_flight = |t: &&swell_store::automation::views::Trace| {
            t.state == "running" || (t.state == "scheduled" && t.due_at.is_some_and(|d| d <= now))
        };
        if !traces.iter().any(|t| in_flight(&t)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(Json(json!({"ran": hurried, "traces": traces})))
}

/// Test mode: pretends the trace's message was opened, clicked or replied
/// to, so the branches waiting for it go on.
async fn simulate(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let t = state.store.trace(ws, path_id(&id)?).await?;
    let obj = json_object(&headers, &body)?;
    let action = obj.get("action").and_then(Value::as_str).unwrap_or("");
    let Some(pk) = t.message_id else {
        return Err(ApiError::Conflict("this trace sent no message".into()));
    };
    let m = state.store.message(pk).await?;
    let (kind, link) = match action {
        "open" => ("open", None),
        "click" => ("click", Some((0, "test"))),
        "reply" => ("reply", None),
        _ => return Err(ApiError::field("action", "must be open, click or reply")),
    };
    let resumed = state
        .store
        .record_engagement(&m, kind, link, false, Some("test mode"))
        .await?;
    state.woke(resumed);
    Ok(Json(json!({"resumed": resumed})))
}

/// An integration reports that a person replied to a message.
async fn reply(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let m = state.store.message(path_id(&id)?).await?;
    if m.workspace != auth.0.id {
        return Err(ApiError::NotFound("not found".into()));
    }
    let resumed = state
        .store
        .record_engagement(&m, "reply", None, false, None)
        .await?;
    state.woke(resumed);
    Ok(Json(json!({"resumed": resumed})))
}

async fn template_list() -> impl IntoResponse {
    Json(json!({"items": templates::catalog()}))
}

async fn from_template(
    State(state): State<AppState>,
    auth: Auth,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let id = templates::create(state.automation.as_ref(), ws, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no campaign template {name:?}")))?;
    let c = state.store.campaign(ws, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(campaign_json(&state, ws, &c).await?),
    ))
}

async fn tasks(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
) -> Result<impl IntoResponse, ApiError> {
    let params = Params::from_uri(&uri);
    let open = params.get("open").is_none_or(|v| v != "false");
    let items = state
        .store
        .tasks(auth.0.id, params.get("owner"), open)
        .await?;
    Ok(Json(json!({"items": items})))
}

async fn task_done(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.finish_task(auth.0.id, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The banners and pop-ups active for a person: what the app shows.
async fn inapp(
    State(state): State<AppState>,
    auth: Auth,
    Path(contact): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let contact = state.store.contact(ws, path_id(&contact)?).await?;
    Ok(Json(
        json!({"items": state.store.active_inapp(ws, contact.id).await?}),
    ))
}

/// The app reports a view, click or dismissal; views and clicks become
/// events and count as the message's open and click.
async fn inapp_action(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, action)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let ws = auth.0.id;
    let m = state.store.mark_inapp(ws, path_id(&id)?, &action).await?;
    let mut resumed = 0;
    if let Some(pk) = m.message_id {
        let row = state.store.message(pk).await?;
        match action.as_str() {
            "view" => {
                resumed = state
                    .store
                    .record_engagement(&row, "open", None, false, Some("in-app view"))
                    .await?;
            }
            "click" => {
                let url = m.url.clone().unwrap_or_default();
                resumed = state
                    .store
                    .record_engagement(&row, "click", Some((0, &url)), false, Some("in-app click"))
                    .await?;
            }
            _ => {}
        }
    }
    let name = match action.as_str() {
        "view" => "inapp_viewed",
        "click" => "inapp_clicked",
        _ => "inapp_dismissed",
    };
    state
        .store
        .append_events(
            ws,
            &[swell_store::events::NewEvent {
                name: name.into(),
                contact: Some(swell_core::record::ContactRef::Id(m.contact_id)),
                at: state.store.now(),
                properties: json!({"inapp": m.id, "message": m.message_id}),
            }],
        )
        .await?;
    state.woke(resumed);
    Ok(Json(json!({"message": m, "resumed": resumed})))
}
