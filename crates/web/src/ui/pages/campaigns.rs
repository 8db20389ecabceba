//! `/campaigns`: automated campaigns. The list (the six ready-made
//! campaigns as cards when there is none), a campaign's page with its
//! entry trigger and filter, the cost estimate, launch / pause / stop, the
//! workflow builder (the activity tree with each activity's figures, a
//! child added under any activity, edited or removed, each step's
//! settings in fields for its kind and action or as JSON), test mode, and the
//! participants and traces pages. Every change goes through
//! `/api/v1/campaigns` from `app.js`, so the API's checks are the page's.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use swell_core::filter::Filter;
use swell_core::schema::FieldType;
use swell_store::automation::views::{ActivityFigures, Participant, Trace, TraceQuery};
use swell_store::automation::{Activity, Campaign, KINDS, TRIGGERS};

use crate::ui::i18n::{self, Locale};
use crate::ui::{Ctx, Shell, UiError, html};

/// A ready-made campaign as a card.
struct Card {
    slug: String,
    name: String,
    about: String,
}

/// The six ready-made campaigns, named in the page's language (the
/// engine's catalogue is English; the table has the Vietnamese).
fn cards(locale: Locale) -> Vec<Card> {
    swell_engine::automation::templates::catalog()
        .into_iter()
        .map(|t| {
            let slug = t["slug"].as_str().unwrap_or_default().to_string();
            let said = |k: &str, fallback: &str| {
                i18n::lookup(locale, &format!("ctpl.{slug}.{k}"))
                    .unwrap_or(fallback)
                    .to_string()
            };
            Card {
                name: said("name", t["name"].as_str().unwrap_or_default()),
                about: said("about", t["description"].as_str().unwrap_or_default()),
                slug,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct ListPage {
    shell: Shell,
    campaigns: Vec<Campaign>,
    cards: Vec<Card>,
    entities: Vec<String>,
}

impl ListPage {
    /// The campaign's entry trigger in words.
    fn trigger(&self, c: &Campaign) -> String {
        label(
            &self.shell,
            "trigger",
            c.trigger["kind"].as_str().unwrap_or("manual"),
        )
    }
}

pub(super) async fn list(ctx: Ctx) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let page = ListPage {
        campaigns: ctx.store().campaigns(ws).await?,
        cards: cards(ctx.locale),
        entities: entity_names(&ctx).await?,
        shell: ctx.shell("/campaigns"),
    };
    Ok(html(page.render()?))
}

async fn entity_names(ctx: &Ctx) -> Result<Vec<String>, UiError> {
    Ok(ctx
        .store()
        .list_entity_types(ctx.ws().id)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect())
}

/// One activity as the tree draws it: depth-first, indented by depth.
struct Node {
    a: Activity,
    f: ActivityFigures,
    depth: usize,
    /// Its parent is an A/B split, so it takes a share.
    under_split: bool,
}

impl Node {
    fn indent(&self) -> String {
        format!("{:.1}", (self.depth.min(6) as f64) * 1.4)
    }

    fn is_message(&self) -> bool {
        matches!(
            self.a.kind.as_str(),
            "email" | "sms" | "zalo" | "inapp" | "message"
        )
    }

    fn delay(&self) -> String {
        duration_text(self.a.delay_ms)
    }

    fn filter(&self) -> String {
        filter_text(&self.a.filter)
    }

    fn share(&self) -> String {
        self.a.share.map(|s| s.to_string()).unwrap_or_default()
    }
}

/// The activity tree in drawing order: each activity followed by its
/// children, by position then id.
fn tree(activities: Vec<Activity>, figures: &BTreeMap<i64, ActivityFigures>) -> Vec<Node> {
    let splits: Vec<i64> = activities
        .iter()
        .filter(|a| a.kind == "split")
        .map(|a| a.id)
        .collect();
    let mut children: BTreeMap<Option<i64>, Vec<Activity>> = BTreeMap::new();
    for a in activities.into_iter().filter(|a| a.deleted_at.is_none()) {
        children.entry(a.parent_id).or_default().push(a);
    }
    for list in children.values_mut() {
        list.sort_by_key(|a| (a.position, a.id));
    }
    let mut out = Vec::new();
    let mut stack: Vec<(Activity, usize)> = children
        .remove(&None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|a| (a, 0))
        .collect();
    while let Some((a, depth)) = stack.pop() {
        if let Some(kids) = children.remove(&Some(a.id)) {
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
        let f = figures.get(&a.id).cloned().unwrap_or_default();
        let under_split = a.parent_id.is_some_and(|p| splits.contains(&p));
        out.push(Node {
            a,
            f,
            depth,
            under_split,
        });
    }
    out
}

/// `2d`, `3h`, `30m`, `1w` for a delay the API reads back; other amounts
/// in milliseconds, which it reads too.
fn duration_text(ms: i64) -> String {
    const UNITS: &[(i64, &str)] = &[
        (7 * 86_400_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
    ];
    if ms == 0 {
        return String::new();
    }
    UNITS
        .iter()
        .find(|(unit, _)| ms % unit == 0)
        .map(|(unit, name)| format!("{}{name}", ms / unit))
        .unwrap_or_else(|| ms.to_string())
}

/// A stored filter in the filter language's text.
fn filter_text(f: &Option<Value>) -> String {
    f.as_ref()
        .and_then(|v| Filter::from_json(v).ok())
        .map(|f| f.to_string())
        .unwrap_or_default()
}

/// How a setting of a step is written in its config.
#[derive(Clone, Copy)]
enum Setting {
    /// Text, never empty (the form leaves an empty box out).
    Text,
    /// A whole number.
    Whole,
    /// `update_fields`' object: one field and its new value.
    OneField,
}

/// The settings the step form has a field for, by kind (and action);
/// `None` for a kind whose settings are only written as JSON (`message`).
fn form_settings(kind: &str, action: &str) -> Option<&'static [(&'static str, Setting)]> {
    use Setting::*;
    Some(match (kind, action) {
        ("email" | "sms" | "zalo", _) => &[("template_id", Whole)],
        ("inapp", _) => &[
            ("kind", Text),
            ("title", Text),
            ("body", Text),
            ("url", Text),
        ],
        ("webhook", _) => &[("url", Text), ("secret", Text)],
        ("split", _) => &[],
        ("action", "add_tag" | "remove_tag") => &[("action", Text), ("tag", Text)],
        ("action", "add_to_list" | "remove_from_list") => &[("action", Text), ("list", Text)],
        ("action", "add_score") => &[("action", Text), ("points", Whole)],
        ("action", "update_fields") => &[("action", Text), ("fields", OneField)],
        ("action", "assign_owner") => &[("action", Text), ("owner", Text)],
        ("action", "create_task") => &[
            ("action", Text),
            ("title", Text),
            ("note", Text),
            ("due_in_hours", Whole),
            ("owner", Text),
        ],
        ("action", "create_lead") => &[
            ("action", Text),
            ("source", Text),
            ("product", Text),
            ("region", Text),
            ("value", Whole),
        ],
        ("action", "end") => &[("action", Text)],
        _ => return None,
    })
}

/// A field `update_fields` may set: its path in the config's `fields`
/// (`name`, `attributes.plan`) and how its value is read (`text`,
/// `number`, `bool`).
struct FieldChoice {
    key: String,
    ty: &'static str,
}

/// A step's settings as the step form shows them: each field's value,
/// the JSON, and which of the two the form opens on.
struct StepForm {
    kind: String,
    config: Value,
    /// The fields hold the whole config, so saving them loses nothing;
    /// otherwise the form opens on the JSON.
    fits: bool,
}

impl StepForm {
    fn new(kind: &str, config: &Value, fields: &[FieldChoice]) -> StepForm {
        let fits = match config {
            Value::Null => true,
            Value::Object(m) => {
                let action = m.get("action").and_then(Value::as_str).unwrap_or("");
                form_settings(kind, action).is_some_and(|settings| {
                    m.iter().all(|(k, v)| {
                        settings.iter().any(|(name, how)| {
                            name == k
                                && match how {
                                    Setting::Text => v.as_str().is_some_and(|s| !s.is_empty()),
                                    Setting::Whole => v.is_i64(),
                                    Setting::OneField => one_field(v).is_some_and(|(key, _)| {
                                        fields.iter().any(|f| f.key == key)
                                    }),
                                }
                        })
                    })
                })
            }
            _ => false,
        };
        StepForm {
            kind: kind.to_string(),
            config: config.clone(),
            fits,
        }
    }

    /// Whether a part of the form marked `data-when="SWITCH:v1 v2"` starts
    /// disabled (app.js keeps it in step with the switch afterwards).
    fn is_off(&self, when: &str) -> bool {
        let (switch, values) = when.split_once(':').unwrap_or((when, ""));
        let value = match switch {
            "mode" if self.fits => "fields",
            "mode" => "json",
            "kind" => self.kind.as_str(),
            _ => self.action(),
        };
        !values.split(' ').any(|v| v == value)
    }

    /// A setting as its box shows it (text, or a number written out).
    fn text(&self, key: &str) -> String {
        match &self.config[key] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        }
    }

    fn whole(&self, key: &str) -> i64 {
        self.config[key].as_i64().unwrap_or(0)
    }

    fn action(&self) -> &str {
        self.config["action"].as_str().unwrap_or("add_tag")
    }

    /// The field `update_fields` sets and its value, as the boxes show them.
    fn one_field(&self) -> (String, String) {
        one_field(&self.config["fields"])
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k, v)
            })
            .unwrap_or_default()
    }

    /// The config as the JSON box shows it.
    fn json(&self) -> String {
        match &self.config {
            Value::Null => String::new(),
            Value::Object(m) if m.is_empty() => String::new(),
            v => serde_json::to_string_pretty(v).unwrap_or_default(),
        }
    }
}

/// The one field an `update_fields` object sets (`{"name": ..}` or
/// `{"attributes": {"plan": ..}}`), as a dotted path and a plain value.
fn one_field(v: &Value) -> Option<(String, &Value)> {
    let m = v.as_object().filter(|m| m.len() == 1)?;
    let (k, v) = m.iter().next()?;
    match v {
        Value::Object(_) if k == "attributes" => {
            one_field(v).map(|(inner, v)| (format!("attributes.{inner}"), v))
        }
        Value::Object(_) | Value::Array(_) | Value::Null => None,
        v => Some((k.clone(), v)),
    }
}

/// A template that a message activity may send.
struct TemplateChoice {
    id: i64,
    label: String,
}

/// The entry triggers the settings form offers by name (anything else,
/// such as several watched fields, through its JSON).
const TRIGGER_KINDS: &[&str] = &[
    "manual",
    "created",
    "updated",
    "created_or_updated",
    "webhook",
    "recurring",
    "anniversary",
];

#[derive(Template)]
#[template(path = "campaign.html")]
struct DetailPage {
    shell: Shell,
    c: Campaign,
    nodes: Vec<Node>,
    participants: BTreeMap<String, i64>,
    templates: Vec<TemplateChoice>,
    tests: Vec<(Participant, Vec<Trace>)>,
    names: BTreeMap<i64, String>,
    kinds: &'static [&'static str],
    triggers: &'static [&'static str],
    actions: &'static [&'static str],
    /// The workspace's lists (slug, name), for the list actions.
    lists: Vec<(String, String)>,
    /// The workspace's users (e-mail, name), for owners and tasks.
    users: Vec<(String, String)>,
    /// The fields `update_fields` may set.
    fields: Vec<FieldChoice>,
    /// Records to pick from for test mode: id and a label.
    records: Vec<(i64, String)>,
}

impl DetailPage {
    fn filter(&self) -> String {
        filter_text(&self.c.filter)
    }

    fn trigger(&self) -> String {
        serde_json::to_string(&self.c.trigger).unwrap_or_default()
    }

    fn trigger_kind(&self) -> &str {
        self.c.trigger["kind"].as_str().unwrap_or("manual")
    }

    /// A value of the trigger as a form field shows it: text as it is, a
    /// number written out, a list by its first item; "" when not set.
    fn tv(&self, key: &str) -> String {
        match &self.c.trigger[key] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            serde_json::Value::Null => String::new(),
            v => v.to_string(),
        }
    }

    fn tv_or(&self, key: &str, default: &str) -> String {
        let v = self.tv(key);
        if v.is_empty() { default.to_string() } else { v }
    }

    fn every_key(&self, every: &str) -> &'static str {
        match every {
            "day" => "campaigns.every_day",
            "week" => "campaigns.every_week",
            "month" => "campaigns.every_month",
            _ => "campaigns.every_year",
        }
    }

    fn budget(&self) -> String {
        self.c.budget.map(|b| b.to_string()).unwrap_or_default()
    }

    fn activity_name(&self, id: &i64) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn kind_label(&self, kind: &str) -> String {
        label(&self.shell, "kind", kind)
    }

    fn trigger_label(&self, trigger: &str) -> String {
        label(&self.shell, "trigger", trigger)
    }

    fn action_label(&self, action: &str) -> String {
        label(&self.shell, "action", action)
    }

    /// The step form of an activity, filled with its settings.
    fn form(&self, a: &Activity) -> StepForm {
        StepForm::new(&a.kind, &a.config, &self.fields)
    }

    /// The step form of a new activity.
    fn blank(&self) -> StepForm {
        StepForm::new("email", &Value::Null, &self.fields)
    }

    /// A lead campaign's owner may be left to the assignment rules.
    fn is_lead(&self) -> bool {
        self.c.entity == "lead"
    }

    fn participant_count(&self, state: &str) -> i64 {
        self.participants.get(state).copied().unwrap_or(0)
    }

    fn is_editable(&self) -> bool {
        self.c.state != "stopped"
    }

    fn simulate_key(&self, action: &str) -> &'static str {
        match action {
            "open" => "campaigns.sim_open",
            "click" => "campaigns.sim_click",
            _ => "campaigns.sim_reply",
        }
    }
}

/// `{group}.{value}` from the table, or the value itself.
fn label(shell: &Shell, group: &str, value: &str) -> String {
    i18n::lookup(shell.locale, &format!("{group}.{value}"))
        .unwrap_or(value)
        .to_string()
}

pub(super) async fn detail(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let id = crate::api::path_id(&id)?;
    let c = ctx.store().campaign(ws, id).await?;
    let activities = ctx.store().activities(ws, id).await?;
    let names = activities.iter().map(|a| (a.id, a.name.clone())).collect();
    let figures = ctx.store().activity_figures(ws, id).await?;
    let templates = ctx
        .store()
        .templates(ws)
        .await?
        .into_iter()
        .map(|t| TemplateChoice {
            id: t.id,
            label: format!("{} · {}", t.channel, t.name),
        })
        .collect();
    let mut tests = Vec::new();
    for p in ctx.store().test_participants(ws, id, 10).await? {
        let q = TraceQuery {
            participant: Some(p.id),
            limit: 200,
            ..Default::default()
        };
        let traces = ctx.store().traces(ws, id, &q).await?;
        tests.push((p, traces));
    }
    let records = test_records(&ctx, &c).await?;
    let lists = ctx
        .store()
        .list_lists(ws)
        .await?
        .into_iter()
        .map(|l| (l.slug, l.name))
        .collect();
    let users = ctx
        .store()
        .users(ws)
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| (u.email, u.name))
        .collect();
    let page = DetailPage {
        records,
        lists,
        users,
        fields: field_choices(&ctx, &c.entity).await?,
        actions: crate::api::campaigns::ACTIONS,
        participants: ctx.store().participant_figures(ws, id).await?,
        nodes: tree(activities, &figures),
        shell: ctx.shell("/campaigns"),
        c,
        templates,
        tests,
        names,
        kinds: KINDS,
        triggers: TRIGGERS,
    };
    Ok(html(page.render()?))
}

/// The fields an `update_fields` step may set: a contact's own text
/// fields, its score and custom attributes; a record's fields.
async fn field_choices(ctx: &Ctx, entity: &str) -> Result<Vec<FieldChoice>, UiError> {
    fn ty(t: &FieldType) -> &'static str {
        match t {
            FieldType::Number => "number",
            FieldType::Bool => "bool",
            _ => "text",
        }
    }
    let ws = ctx.ws().id;
    if entity == "contact" {
        let mut out: Vec<FieldChoice> = [
            "name",
            "given_name",
            "family_name",
            "email",
            "phone",
            "birthday",
            "timezone",
            "locale",
            "owner",
        ]
        .into_iter()
        .map(|k| FieldChoice {
            key: k.into(),
            ty: "text",
        })
        .collect();
        out.push(FieldChoice {
            key: "score".into(),
            ty: "number",
        });
        for f in ctx.store().contact_schema(ws).await?.fields {
            out.push(FieldChoice {
                key: format!("attributes.{}", f.key),
                ty: ty(&f.kind),
            });
        }
        return Ok(out);
    }
    Ok(match ctx.store().entity_type(ws, entity).await? {
        Some(t) => t
            .schema
            .fields
            .iter()
            .map(|f| FieldChoice {
                key: f.key.clone(),
                ty: ty(&f.kind),
            })
            .collect(),
        None => Vec::new(),
    })
}

/// A few contacts to pick for a test run of a contact campaign (any id
/// may be typed in; record campaigns take their record's id).
async fn test_records(ctx: &Ctx, c: &Campaign) -> Result<Vec<(i64, String)>, UiError> {
    if c.entity != "contact" {
        return Ok(Vec::new());
    }
    let q = swell_store::contacts::ContactQuery {
        limit: 20,
        ..Default::default()
    };
    Ok(ctx
        .store()
        .list_contacts(ctx.ws().id, &q)
        .await?
        .items
        .into_iter()
        .map(|c| {
            let label = [c.name.clone(), c.email.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            (c.id, label)
        })
        .collect())
}

/// The cost before launch, which the campaign's page loads after it
/// shows: for the current audience, messages and cost per channel (the
/// audience is counted through the consent checks, the page's slowest
/// part on a large workspace).
#[derive(Template)]
#[template(path = "campaign_estimate.html")]
struct EstimatePart {
    shell: Shell,
    c: Campaign,
    estimate: Value,
    /// Why there is no estimate, when there is none.
    estimate_error: Option<String>,
}

impl EstimatePart {
    /// Estimated messages and cost per channel, for the estimate card.
    fn estimate_rows(&self) -> Vec<(String, i64, f64)> {
        self.estimate["channels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(ch, v)| {
                        (
                            ch.clone(),
                            v["messages"].as_i64().unwrap_or(0),
                            v["cost"].as_f64().unwrap_or(0.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn estimate_int(&self, k: &str) -> i64 {
        self.estimate[k].as_i64().unwrap_or(0)
    }

    fn estimate_total(&self) -> f64 {
        self.estimate["total_cost"].as_f64().unwrap_or(0.0)
    }

    fn within_budget(&self) -> bool {
        self.estimate["within_budget"].as_bool().unwrap_or(true)
    }

    fn kind_label(&self, kind: &str) -> String {
        label(&self.shell, "kind", kind)
    }
}

pub(super) async fn estimate(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let c = ctx.store().campaign(ws, crate::api::path_id(&id)?).await?;
    // An estimate that cannot be made (a filter that no longer reads)
    // shows why in its card.
    let (estimate, estimate_error) =
        match crate::api::campaigns::cost_estimate(&ctx.state, ws, c.id).await {
            Ok(v) => (v, None),
            Err(e) => (Value::Null, Some(shown_reason(e.into()))),
        };
    let part = EstimatePart {
        shell: ctx.shell("/campaigns"),
        c,
        estimate,
        estimate_error,
    };
    Ok(html(part.render()?))
}

/// What a page may say of an error: the reason of a refusal; an internal
/// error is logged and shown as a dash.
fn shown_reason(e: UiError) -> String {
    match e {
        UiError::Invalid(m) => m,
        UiError::Internal(cause) => {
            tracing::error!(error = %cause, "a campaign's cost estimate failed");
            "—".into()
        }
        _ => "—".into(),
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    cursor: Option<i64>,
    participant: Option<i64>,
    activity: Option<i64>,
}

impl ListQuery {
    fn state(&self) -> Option<&str> {
        self.state.as_deref().filter(|s| !s.is_empty())
    }
}

const PAGE: u32 = 50;

/// The cursor of the next page: the last id of a full page.
fn next_cursor<T>(items: &[T], id: impl Fn(&T) -> i64) -> Option<i64> {
    (items.len() == PAGE as usize)
        .then(|| items.last().map(id))
        .flatten()
}

#[derive(Template)]
#[template(path = "campaign_participants.html")]
struct ParticipantsPage {
    shell: Shell,
    c: Campaign,
    items: Vec<Participant>,
    state: String,
    next: Option<i64>,
}

pub(super) async fn participants(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let c = ctx.store().campaign(ws, crate::api::path_id(&id)?).await?;
    let items = ctx
        .store()
        .participants(ws, c.id, q.state(), q.cursor, PAGE)
        .await?;
    let next = next_cursor(&items, |p| p.id);
    let page = ParticipantsPage {
        shell: ctx.shell("/campaigns"),
        state: q.state().unwrap_or_default().to_string(),
        c,
        items,
        next,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "campaign_traces.html")]
struct TracesPage {
    shell: Shell,
    c: Campaign,
    items: Vec<Trace>,
    names: BTreeMap<i64, String>,
    state: String,
    /// The filters of this page as a query string, for the next page.
    query: String,
    next: Option<i64>,
}

impl TracesPage {
    fn activity_name(&self, id: &i64) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

pub(super) async fn traces(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let c = ctx.store().campaign(ws, crate::api::path_id(&id)?).await?;
    let tq = TraceQuery {
        participant: q.participant,
        activity: q.activity,
        state: q.state().map(str::to_string),
        cursor: q.cursor,
        limit: PAGE,
    };
    let items = ctx.store().traces(ws, c.id, &tq).await?;
    let next = next_cursor(&items, |t| t.id);
    let names = ctx
        .store()
        .activities(ws, c.id)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut query = String::new();
    for (k, v) in [("participant", q.participant), ("activity", q.activity)] {
        if let Some(v) = v {
            query.push_str(&format!("&{k}={v}"));
        }
    }
    if let Some(s) = q.state() {
        query.push_str(&format!("&state={}", crate::ui::urlencode(s)));
    }
    let page = TracesPage {
        shell: ctx.shell("/campaigns"),
        state: q.state().unwrap_or_default().to_string(),
        c,
        items,
        names,
        query,
        next,
    };
    Ok(html(page.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delays_are_written_the_way_the_api_reads_them() {
        assert_eq!(duration_text(0), "");
        assert_eq!(duration_text(2 * 86_400_000), "2d");
        assert_eq!(duration_text(14 * 86_400_000), "2w");
        assert_eq!(duration_text(90 * 60_000), "90m");
        assert_eq!(duration_text(1500), "1500");
    }

    #[test]
    fn every_kind_trigger_and_ready_made_campaign_has_words_in_both_languages() {
        let mut keys: Vec<String> = KINDS.iter().map(|k| format!("kind.{k}")).collect();
        keys.extend(TRIGGERS.iter().map(|t| format!("trigger.{t}")));
        keys.extend(
            crate::api::campaigns::ACTIONS
                .iter()
                .map(|a| format!("action.{a}")),
        );
        for t in swell_engine::automation::templates::catalog() {
            let slug = t["slug"].as_str().unwrap();
            keys.push(format!("ctpl.{slug}.name"));
            keys.push(format!("ctpl.{slug}.about"));
        }
        for key in keys {
            for locale in [Locale::Vi, Locale::En] {
                assert!(i18n::lookup(locale, &key).is_some(), "{key}");
            }
        }
    }

    #[test]
    fn every_action_has_fields_in_the_step_form() {
        for a in crate::api::campaigns::ACTIONS {
            assert!(form_settings("action", a).is_some(), "{a}");
        }
    }

    #[test]
    fn a_step_opens_on_its_fields_only_when_they_hold_its_whole_config() {
        let fields = vec![FieldChoice {
            key: "attributes.plan".into(),
            ty: "text",
        }];
        let fits = |kind: &str, config: Value| StepForm::new(kind, &config, &fields).fits;
        assert!(fits("action", json!({"action": "add_tag", "tag": "hot"})));
        assert!(fits(
            "action",
            json!({"action": "create_task", "title": "Call", "due_in_hours": 4})
        ));
        assert!(fits(
            "action",
            json!({"action": "update_fields", "fields": {"attributes": {"plan": "pro"}}})
        ));
        assert!(fits("email", json!({"template_id": 3})));
        assert!(fits(
            "webhook",
            json!({"url": "https://x.test", "secret": "s"})
        ));
        assert!(fits("email", Value::Null));
        // A key the fields lack, a number written as text, a list of
        // owners, two fields at once, a field not offered: JSON.
        assert!(!fits(
            "action",
            json!({"action": "add_tag", "tag": "hot", "x": 1})
        ));
        assert!(!fits(
            "action",
            json!({"action": "add_score", "points": "10"})
        ));
        assert!(!fits(
            "action",
            json!({"action": "assign_owner", "owners": ["a@x.vn", "b@x.vn"]})
        ));
        assert!(!fits(
            "action",
            json!({"action": "update_fields", "fields": {"attributes": {"plan": "a", "tier": "b"}}})
        ));
        assert!(!fits(
            "action",
            json!({"action": "update_fields", "fields": {"city": "HN"}})
        ));
        assert!(!fits(
            "webhook",
            json!({"url": "https://x.test", "payload": {"a": 1}})
        ));
        assert!(!fits(
            "message",
            json!({"channels": ["email"], "templates": {"email": 1}})
        ));
    }

    #[test]
    fn the_step_form_starts_with_only_the_chosen_kind_and_action_enabled() {
        let f = StepForm::new("action", &json!({"action": "add_score", "points": 5}), &[]);
        assert!(!f.is_off("mode:fields") && f.is_off("mode:json"));
        assert!(!f.is_off("kind:action") && f.is_off("kind:email sms zalo"));
        assert!(!f.is_off("action:add_score") && f.is_off("action:add_tag remove_tag"));
        assert_eq!(f.text("points"), "5");
        let blank = StepForm::new("email", &Value::Null, &[]);
        assert!(!blank.is_off("kind:email sms zalo") && blank.is_off("kind:webhook"));
    }

    fn activity(id: i64, parent: Option<i64>, position: i64) -> Activity {
        Activity {
            id,
            campaign_id: 1,
            parent_id: parent,
            name: format!("a{id}"),
            kind: "email".into(),
            config: Value::Null,
            trigger: "start".into(),
            delay_ms: 0,
            filter: None,
            validity_ms: None,
            share: None,
            version: 1,
            position,
            deleted_at: None,
        }
    }

    #[test]
    fn the_tree_lists_each_activity_before_its_children() {
        let acts = vec![
            activity(1, None, 0),
            activity(2, Some(1), 1),
            activity(3, Some(1), 0),
            activity(4, Some(3), 0),
            activity(5, None, 1),
        ];
        let order: Vec<(i64, usize)> = tree(acts, &BTreeMap::new())
            .iter()
            .map(|n| (n.a.id, n.depth))
            .collect();
        assert_eq!(order, vec![(1, 0), (3, 1), (4, 2), (2, 1), (5, 0)]);
    }
}
