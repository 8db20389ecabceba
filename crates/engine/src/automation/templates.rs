//! The six ready-made campaigns a marketer starts from (as in Odoo's
//! marketing automation): each made by one call, with its message
//! templates and its tree of activities, as a draft to adjust and launch.

use serde_json::{Value, json};
use swell_store::automation::{ActivityInput, CampaignInput};
use swell_store::{StoreError, WorkspaceId};

use super::{Automation, EngineError};

/// A template's name, title and what it does, for the campaigns page.
pub fn catalog() -> Vec<Value> {
    [
        ("tag-hot-contacts", "Tag Hot Contacts", "E-mail everyone matching; those who click a link are tagged hot."),
        ("welcome-flow", "Welcome Flow", "Welcome each new contact; tips to those who opened, a reminder to those who did not."),
        ("double-opt-in", "Double Opt-in", "New contacts join the newsletter as pending and are subscribed when they click the confirmation link."),
        ("commercial-prospection", "Commercial Prospection", "An offer to leads; openers score up, the others get a call task after three days."),
        ("schedule-calls", "Schedule Calls", "New leads get an e-mail; those who click get a call scheduled with their owner."),
        ("priority-hot-leads", "Priority Hot Leads", "Big new leads: a call task within the hour, and an e-mail the next day."),
    ]
    .into_iter()
    .map(|(slug, name, about)| json!({"slug": slug, "name": name, "description": about}))
    .collect()
}

/// One activity of a template tree.
struct Step {
    name: &'static str,
    kind: &'static str,
    config: Value,
    trigger: &'static str,
    delay_ms: i64,
    children: Vec<Step>,
}

fn step(
    name: &'static str,
    kind: &'static str,
    config: Value,
    trigger: &'static str,
    delay_ms: i64,
) -> Step {
    Step {
        name,
        kind,
        config,
        trigger,
        delay_ms,
        children: Vec::new(),
    }
}

impl Step {
    fn then(mut self, children: Vec<Step>) -> Step {
        self.children = children;
        self
    }
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn email(subject: &str, body: &str) -> Value {
    json!({
        "subject": subject,
        "html": format!(
            "<html><body><p>Xin chào {{{{ contact.given_name | default(\"bạn\") }}}},</p>{body}\
             <p style=\"font-size:12px\"><a href=\"{{{{ unsubscribe_url }}}}\">Unsubscribe</a></p></body></html>"
        ),
    })
}

/// Creates template `slug` in a workspace; None when there is no such
/// template. Returns the new campaign's id.
pub async fn create(
    engine: &Automation,
    ws: WorkspaceId,
    slug: &str,
) -> Result<Option<i64>, EngineError> {
    let store = engine.store();
    let template = async |name: &str, content: Value| -> Result<i64, EngineError> {
        Ok(store
            .put_template(ws, None, name, "email", &content)
            .await?
            .id)
    };
    let (name, entity, trigger, filter, steps) = match slug {
        "tag-hot-contacts" => {
            let t = template(
                "Tag Hot Contacts: offer",
                email("Something new for you", "<p>We have something you may like. <a href=\"https://example.com/offer\">Take a look</a>.</p>"),
            )
            .await?;
            (
                "Tag Hot Contacts",
                "contact",
                json!({"kind": "manual"}),
                None,
                vec![
                    step(
                        "Send the offer",
                        "email",
                        json!({"template_id": t}),
                        "start",
                        0,
                    )
                    .then(vec![step(
                        "Tag as hot",
                        "action",
                        json!({"action": "add_tag", "tag": "hot"}),
                        "clicked",
                        0,
                    )]),
                ],
            )
        }
        "welcome-flow" => {
            let welcome = template(
                "Welcome Flow: welcome",
                email("Welcome!", "<p>Thanks for joining us.</p>"),
            )
            .await?;
            let tips = template(
                "Welcome Flow: tips",
                email("Three tips to get started", "<p>Here are three tips. <a href=\"https://example.com/tips\">Read them</a>.</p>"),
            )
            .await?;
            let reminder = template(
                "Welcome Flow: reminder",
                email(
                    "Did you see our welcome?",
                    "<p>We are glad you are here.</p>",
                ),
            )
            .await?;
            (
                "Welcome Flow",
                "contact",
                json!({"kind": "created"}),
                None,
                vec![
                    step(
                        "Welcome",
                        "email",
                        json!({"template_id": welcome}),
                        "start",
                        0,
                    )
                    .then(vec![
                        step(
                            "Tips for openers",
                            "email",
                            json!({"template_id": tips}),
                            "opened",
                            DAY,
                        ),
                        step(
                            "Reminder",
                            "email",
                            json!({"template_id": reminder}),
                            "not_opened",
                            3 * DAY,
                        ),
                    ]),
                ],
            )
        }
        "double-opt-in" => {
            match store.list(ws, "newsletter").await {
                Ok(_) => {}
                Err(StoreError::NotFound) => {
                    store.put_list(ws, "newsletter", "Newsletter", None).await?;
                }
                Err(e) => return Err(e.into()),
            }
            let confirm = template(
                "Double Opt-in: confirm",
                email(
                    "Please confirm your subscription",
                    "<p>Click to confirm you want our newsletter: <a href=\"https://example.com/confirmed\">Yes, subscribe me</a>.</p>",
                ),
            )
            .await?;
            (
                "Double Opt-in",
                "contact",
                json!({"kind": "created"}),
                Some(Value::String("email is set".into())),
                vec![step(
                    "Join as pending",
                    "action",
                    json!({"action": "add_to_list", "list": "newsletter", "status": "pending"}),
                    "start",
                    0,
                )
                .then(vec![step("Ask to confirm", "email", json!({"template_id": confirm}), "after_parent", 0).then(vec![step(
                    "Subscribe",
                    "action",
                    json!({"action": "add_to_list", "list": "newsletter", "status": "subscribed"}),
                    "clicked",
                    0,
                )])])],
            )
        }
        "commercial-prospection" => {
            let offer = template(
                "Commercial Prospection: offer",
                email(
                    "An offer for {{ record.name | default(\"you\") }}",
                    "<p>Let us show you what we can do.</p>",
                ),
            )
            .await?;
            (
                "Commercial Prospection",
                "lead",
                json!({"kind": "manual"}),
                None,
                vec![step("Send the offer", "email", json!({"template_id": offer}), "start", 0).then(vec![
                    step("Score openers", "action", json!({"action": "add_score", "points": 10}), "opened", 0),
                    step(
                        "Call those who did not open",
                        "action",
                        json!({"action": "create_task", "title": "Call about our offer", "due_in_hours": 24}),
                        "not_opened",
                        3 * DAY,
                    ),
                ])],
            )
        }
        "schedule-calls" => {
            let intro = template(
                "Schedule Calls: introduction",
                email(
                    "Can we call you?",
                    "<p><a href=\"https://example.com/book\">Pick a time for a call</a>.</p>",
                ),
            )
            .await?;
            (
                "Schedule Calls",
                "lead",
                json!({"kind": "created"}),
                None,
                vec![step("Introduce", "email", json!({"template_id": intro}), "start", 0).then(vec![step(
                    "Schedule a call",
                    "action",
                    json!({"action": "create_task", "title": "Call this lead", "due_in_hours": 4}),
                    "clicked",
                    0,
                )])],
            )
        }
        "priority-hot-leads" => {
            let follow = template(
                "Priority Hot Leads: follow-up",
                email(
                    "Thank you for your interest",
                    "<p>Our team will call you shortly.</p>",
                ),
            )
            .await?;
            (
                "Priority Hot Leads",
                "lead",
                json!({"kind": "created"}),
                Some(Value::String("value >= 10000000".into())),
                vec![
                    step(
                        "Call within the hour",
                        "action",
                        json!({"action": "create_task", "title": "Priority lead: call now", "due_in_hours": 1}),
                        "start",
                        0,
                    ),
                    step(
                        "Follow up by e-mail",
                        "email",
                        json!({"template_id": follow}),
                        "start",
                        DAY,
                    ),
                ],
            )
        }
        _ => return Ok(None),
    };
    let filter = match filter {
        Some(Value::String(text)) => Some(
            swell_core::filter::Filter::parse(&text)
                .map_err(|e| EngineError::Invalid(e.to_string()))?
                .to_json(),
        ),
        other => other,
    };
    let c = store
        .create_campaign(
            ws,
            &CampaignInput {
                marketing_campaign_id: None,
                name: name.to_string(),
                entity: entity.to_string(),
                filter,
                trigger,
                reentry: "once".into(),
                budget: None,
                hook_key: None,
                hook_signing: None,
            },
        )
        .await?;
    let mut pending: Vec<(Option<i64>, Step)> =
        steps.into_iter().rev().map(|s| (None, s)).collect();
    while let Some((parent, s)) = pending.pop() {
        let a = store
            .add_activity(
                ws,
                c.id,
                &ActivityInput {
                    parent_id: parent,
                    name: s.name.into(),
                    kind: s.kind.into(),
                    config: s.config,
                    trigger: s.trigger.into(),
                    delay_ms: s.delay_ms,
                    ..Default::default()
                },
            )
            .await?;
        pending.extend(s.children.into_iter().rev().map(|k| (Some(a.id), k)));
    }
    Ok(Some(c.id))
}
