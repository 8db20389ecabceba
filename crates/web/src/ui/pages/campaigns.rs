//! `/campaigns`: automated campaigns. The list (the six ready-made
//! campaigns as cards when there is none), a campaign's page with its
//! entry trigger and filter, the cost estimate, launch / pause / stop, the
//! workflow builder (the activity tree with each activity's figures, a
//! child added under any activity, edited or removed), test mode, and the
//! participants and traces pages. Every change goes through
//! `/api/v1/campaigns` from `app.js`, so the API's checks are the page's.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use swell_core::filter::Filter;
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

    /// The config as the edit form shows it.
    fn config(&self) -> String {
        serde_json::to_string(&self.a.config).unwrap_or_default()
    }

    /// The template a message step sends (0: none).
    fn template_id(&self) -> i64 {
        self.a.config["template_id"].as_i64().unwrap_or(0)
    }
}

/// The activity tree in drawing order: each activity followed by its
/// children, by position then id.
fn tree(activities: Vec<Activity>, figures: &BTreeMap<i64, ActivityFigures>) -> Vec<Node> {
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
        out.push(Node { a, f, depth });
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
    let page = DetailPage {
        records,
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
