//! Automated campaigns end to end through the real server, on both
//! backends, on a clock the test moves: triggers, the activity tree and its
//! branches, rejection and cancellation, test mode, the ready-made
//! templates, SMS and webhooks to real HTTP servers on loopback.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use swell_tests::{Backend, ManualClock, TestApp};

const DAY: i64 = 24 * 3600 * 1000;

/// Runs a test body against both backends on a manual clock.
macro_rules! clock_test {
    (async fn $name:ident($app:ident : &TestApp, $clock:ident : &ManualClock) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: &TestApp, $clock: &ManualClock) $body
            async fn start(backend: Backend) {
                let _ = tracing_subscriber::fmt().with_env_filter("error").with_test_writer().try_init();
                // 2026-11-23T00:00:00Z
                let clock = Arc::new(ManualClock::new(1_795_392_000_000));
                let app = TestApp::start_with_clock(backend, Arc::clone(&clock)).await;
                run(&app, &clock).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                start(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                start(Backend::Postgres).await;
            }
        }
    };
}

/// Runs the engine until nothing is due now and nothing is in flight.
async fn settle(app: &TestApp) {
    for _ in 0..500 {
        app.automation.drain().await.expect("engine");
        if app.store().traces_in_flight().await.expect("store") == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the engine did not settle");
}

async fn advance(app: &TestApp, clock: &ManualClock, ms: i64) {
    clock.advance(ms);
    settle(app).await;
}

async fn email_template(app: &TestApp, name: &str) -> i64 {
    let r = app
        .post(
            "/api/v1/templates",
            json!({"name": name, "channel": "email", "subject": format!("{name} cho {{{{ contact.given_name }}}}"),
                   "html": "<html><body><p>Chào {{ contact.given_name }}</p><a href=\"https://shop.example.vn/sale\">Xem</a></body></html>"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

async fn contact(app: &TestApp, body: Value) -> i64 {
    let r = app.post("/api/v1/contacts", body).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

async fn campaign(app: &TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/campaigns", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

async fn launch(app: &TestApp, id: i64) -> Value {
    let r = app
        .post(&format!("/api/v1/campaigns/{id}/launch"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

async fn tags(app: &TestApp, id: i64) -> Vec<String> {
    let c = app.get(&format!("/api/v1/contacts/{id}")).await.json;
    serde_json::from_value(c["tags"].clone()).unwrap()
}

/// Traces of a campaign as (activity name, state, reason).
async fn traces(app: &TestApp, id: i64) -> Vec<(String, String, Option<String>, Value)> {
    let c = app.get(&format!("/api/v1/campaigns/{id}")).await.json;
    let names: std::collections::HashMap<i64, String> = c["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                a["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let t = app
        .get(&format!("/api/v1/campaigns/{id}/traces?limit=1000"))
        .await
        .json;
    t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                names
                    .get(&t["activity_id"].as_i64().unwrap())
                    .cloned()
                    .unwrap_or_default(),
                t["state"].as_str().unwrap().to_string(),
                t["reason"].as_str().map(str::to_string),
                t.clone(),
            )
        })
        .collect()
}

/// The tracked URL with `marker` in the outbox message to `to`.
async fn link_to(app: &TestApp, to: &str, marker: &str) -> String {
    let outbox = app.get("/api/v1/outbox?limit=100").await.json;
    let m = outbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["recipient"] == to)
        .unwrap_or_else(|| panic!("no message to {to} in {outbox}"));
    let raw = m["raw"]
        .as_str()
        .unwrap()
        .replace("=\r\n", "")
        .replace("=3D", "=");
    let marker = format!("http://{}{marker}", app.addr);
    let at = raw
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} not in {raw}"));
    let end = raw[at..]
        .find(['"', '\r', '\n', ' ', '>', ']', ')'])
        .unwrap();
    raw[at..at + end].replace("&amp;", "&")
}

clock_test! {
    async fn a_new_contact_gets_the_welcome_and_branches_on_opening(app: &TestApp, clock: &ManualClock) {
        let welcome = email_template(app, "Chào mừng").await;
        let c = campaign(app, json!({
            "name": "Welcome", "trigger": {"kind": "created"},
            "activities": [{"name": "Welcome", "kind": "email", "config": {"template_id": welcome}, "children": [
                {"name": "Engaged", "kind": "action", "trigger": "opened", "delay": "1d", "config": {"action": "add_tag", "tag": "engaged"}},
                {"name": "Cold", "kind": "action", "trigger": "not_opened", "delay": "3d", "config": {"action": "add_tag", "tag": "cold"}},
            ]}],
        })).await;
        let id = c["id"].as_i64().unwrap();
        assert_eq!(c["state"], "draft");
        // Someone created before the launch does not enter.
        contact(app, json!({"email": "truoc@example.vn", "name": "Lê Trước"})).await;
        launch(app, id).await;
        let an = contact(app, json!({"email": "an@example.vn", "name": "Nguyễn Văn An"})).await;
        let binh = contact(app, json!({"email": "binh@example.vn", "name": "Trần Thị Bình"})).await;
        settle(app).await;
        let outbox = app.get("/api/v1/outbox").await.json;
        let subjects: Vec<&str> = outbox["items"].as_array().unwrap().iter().map(|m| m["subject"].as_str().unwrap()).collect();
        assert_eq!(subjects.len(), 2, "{outbox}");
        assert!(subjects.contains(&"Chào mừng cho An") && subjects.contains(&"Chào mừng cho Bình"), "{subjects:?}");

        // An opens (a person, not a proxy); the opened branch waits its day.
        let pixel = link_to(app, "an@example.vn", "/t/o/").await;
        let r = app.client.get(&pixel).header("User-Agent", "Mozilla/5.0 (Windows NT 10.0) Thunderbird/128.0").send().await.unwrap();
        assert_eq!(r.status(), 200);
        advance(app, clock, DAY - 60_000).await;
        assert!(tags(app, an).await.is_empty());
        advance(app, clock, 120_000).await;
        assert_eq!(tags(app, an).await, vec!["engaged"]);
        // Three days on: Bình never opened and goes cold; An's "not opened"
        // branch is cancelled, and Bình's "opened" branch stays waiting.
        advance(app, clock, 2 * DAY).await;
        assert_eq!(tags(app, binh).await, vec!["cold"]);
        assert_eq!(tags(app, an).await, vec!["engaged"]);
        let t = traces(app, id).await;
        let an_participant = app.get(&format!("/api/v1/campaigns/{id}/participants")).await.json["items"]
            .as_array().unwrap().iter().find(|p| p["record_id"] == an).unwrap()["id"].clone();
        let cancelled = t.iter().find(|(name, _, _, raw)| name == "Cold" && raw["participant_id"] == an_participant).unwrap();
        assert_eq!(cancelled.1, "cancelled");
        assert_eq!(cancelled.2.as_deref(), Some("parent message opened"));
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        let welcome_fig = stats["activities"].as_array().unwrap().iter().find(|a| a["name"] == "Welcome").unwrap();
        assert_eq!(welcome_fig["processed"], 2, "{stats}");
        assert_eq!(welcome_fig["sent"], 2, "{stats}");
        assert_eq!(welcome_fig["opened"], 1, "{stats}");
        // The waits end after 30 days: everyone completes.
        advance(app, clock, 31 * DAY).await;
        let p = app.get(&format!("/api/v1/campaigns/{id}/participants?state=completed")).await.json;
        assert_eq!(p["items"].as_array().unwrap().len(), 2, "{p}");
    }
}

clock_test! {
    async fn an_order_going_from_pending_to_delivered_enters(app: &TestApp, clock: &ManualClock) {
        let c = campaign(app, json!({
            "name": "Delivered", "entity": "order",
            "trigger": {"kind": "updated", "fields": ["status"], "from": "pending", "to": "delivered"},
            "filter": "total >= 100000",
            "activities": [
                {"name": "Thank", "kind": "action", "config": {"action": "add_score", "points": 10}, "children": [
                    {"name": "Call", "kind": "action", "delay": "2h", "config": {"action": "create_task", "title": "Hỏi thăm khách", "owner": "sale@shop.vn"}},
                ]},
            ],
        })).await;
        let id = c["id"].as_i64().unwrap();
        launch(app, id).await;
        let order = |ext: &str, status: &str, total: i64| json!({"external_id": ext, "total": total, "currency": "VND", "status": status, "contact_email": "khach@example.vn"});
        for (ext, total) in [("A1", 500_000), ("A2", 500_000), ("A3", 50_000)] {
            let r = app.post("/api/v1/records/order", order(ext, "pending", total)).await;
            assert!(r.status == 201, "{}", r.text);
        }
        let patch = |ext: &str, status: &str, total: i64| app.post("/api/v1/records/order", order(ext, status, total));
        assert_eq!(patch("A1", "delivered", 500_000).await.status, 200); // enters
        assert_eq!(patch("A2", "cancelled", 500_000).await.status, 200); // wrong target value
        assert_eq!(patch("A3", "delivered", 50_000).await.status, 200); // filtered out
        settle(app).await;
        let p = app.get(&format!("/api/v1/campaigns/{id}/participants")).await.json;
        assert_eq!(p["items"].as_array().unwrap().len(), 1, "{p}");
        let customer = p["items"][0]["contact_id"].as_i64().unwrap();
        let c = app.get(&format!("/api/v1/contacts/{customer}")).await.json;
        assert_eq!(c["score"], 10);
        // The score change is in the change log like every change.
        let changes = app.get(&format!("/api/v1/contacts/{customer}/changes")).await;
        assert!(changes.text.contains("score"), "{}", changes.text);
        assert!(app.get("/api/v1/tasks").await.json["items"].as_array().unwrap().is_empty());
        advance(app, clock, 2 * 3600 * 1000).await;
        let tasks = app.get("/api/v1/tasks?owner=sale@shop.vn").await.json;
        assert_eq!(tasks["items"].as_array().unwrap().len(), 1, "{tasks}");
        assert_eq!(tasks["items"][0]["title"], "Hỏi thăm khách");
        // Entering is once per record: A1 going back and forth does not re-enter.
        patch("A1", "pending", 500_000).await;
        patch("A1", "delivered", 500_000).await;
        settle(app).await;
        let p = app.get(&format!("/api/v1/campaigns/{id}/participants")).await.json;
        assert_eq!(p["items"].as_array().unwrap().len(), 1, "{p}");
    }
}

/// A loopback HTTP server that records what it is sent and answers like an
/// SMS provider.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
}

async fn receiver() -> Receiver {
    let seen: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>> = Arc::default();
    let s = Arc::clone(&seen);
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let s = Arc::clone(&s);
            async move {
                s.lock()
                    .unwrap()
                    .push((uri.path().to_string(), headers, body));
                axum::Json(json!({"error": 0, "data": {"msg_id": "sms-42"}}))
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { port, seen }
}

clock_test! {
    async fn an_inbound_webhook_enters_and_sms_and_webhooks_go_out(app: &TestApp, _clock: &ManualClock) {
        let rx = receiver().await;
        let r = app.put("/api/v1/channels/sms", json!({
            "provider": {"url": format!("http://127.0.0.1:{}/sms", rx.port),
                         "body": "{\"to\": {{ to | tojson }}, \"text\": {{ text | tojson }}}",
                         "id_path": "/data/msg_id", "error_path": "/error"},
            "unit_cost": 800, "currency": "VND",
        })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let sms = app.post("/api/v1/templates", json!({"name": "OTP", "channel": "sms", "body": "Chào {{ contact.given_name }}, xem ưu đãi https://shop.example.vn/uu-dai"})).await;
        assert_eq!(sms.status, 201, "{}", sms.text);
        let c = campaign(app, json!({
            "name": "Mini app signups", "trigger": {"kind": "webhook"}, "hook_signing_secret": "s3cret",
            "activities": [
                {"name": "SMS", "kind": "sms", "config": {"template_id": sms.json["id"]}},
                {"name": "Notify CRM", "kind": "webhook", "config": {"url": format!("http://127.0.0.1:{}/crm", rx.port), "secret": "crm-key"}},
            ],
        })).await;
        let id = c["id"].as_i64().unwrap();
        let hook = c["hook_url"].as_str().unwrap().to_string();
        // Not running yet.
        let body = json!({"phone": "0912 345 678", "name": "Phạm Minh Châu", "external_id": "zalo-1"}).to_string();
        let post = |body: String, sig: Option<String>| {
            let mut req = app.client.post(&hook).header("Content-Type", "application/json").body(body.clone());
            if let Some(sig) = sig {
                req = req.header("X-Swell-Timestamp", "1795392000").header("X-Swell-Signature", sig);
            }
            req.send()
        };
        let sign = |body: &str| swell_channels::webhook::sign(b"s3cret", "1795392000", body.as_bytes());
        assert_eq!(post(body.clone(), Some(sign(&body))).await.unwrap().status(), 409);
        launch(app, id).await;
        assert_eq!(post(body.clone(), None).await.unwrap().status(), 401);
        assert_eq!(post(body.clone(), Some(sign("something else"))).await.unwrap().status(), 401);
        let r = post(body.clone(), Some(sign(&body))).await.unwrap();
        assert_eq!(r.status(), 202);
        let outcome: Value = r.json().await.unwrap();
        assert_eq!(outcome["entered"], true, "{outcome}");
        let wrong = app.client.post(format!("http://{}/hooks/not-a-secret", app.addr)).body("{}").send().await.unwrap();
        assert_eq!(wrong.status(), 404);
        settle(app).await;
        let seen = rx.seen.lock().unwrap().clone();
        let sms = seen.iter().find(|(p, _, _)| p == "/sms").expect("the SMS provider was called");
        let sent: Value = serde_json::from_slice(&sms.2).unwrap();
        assert_eq!(sent["to"], "+84912345678");
        let text = sent["text"].as_str().unwrap();
        assert!(text.starts_with("Chào Châu, xem ưu đãi http://"), "{text}");
        assert!(text.contains("/t/c/"), "the link is tracked: {text}");
        assert_eq!(sms.1["idempotency-key"].to_str().unwrap(), format!("swell-trace-{}", traces(app, id).await.iter().find(|t| t.0 == "SMS").unwrap().3["id"]));
        let crm = seen.iter().find(|(p, _, _)| p == "/crm").expect("the webhook was called");
        let ts = crm.1["x-swell-timestamp"].to_str().unwrap();
        let sig = crm.1["x-swell-signature"].to_str().unwrap();
        assert!(swell_channels::webhook::verify_signature(b"crm-key", ts, &crm.2, sig));
        let payload: Value = serde_json::from_slice(&crm.2).unwrap();
        assert_eq!(payload["contact"]["phone"], "+84912345678");
        assert_eq!(payload["campaign"]["id"], id);
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        assert_eq!(stats["spent"], 800.0, "{stats}");
        // A click on the SMS link is tracked like an e-mail's.
        let link = format!("http://{}{}", app.addr, &text[text.find("/t/c/").unwrap()..]);
        let r = app.client.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "https://shop.example.vn/uu-dai");
        // ... and it is an SMS click to filters, not an e-mail click.
        let count = |f: &'static str| async move { app.post("/api/v1/audiences/count", json!({"filter": f})).await.json["count"].clone() };
        assert_eq!(count("exists(event \"sms_clicked\")").await, 1);
        assert_eq!(count("exists(event \"email_clicked\")").await, 0);
    }
}

clock_test! {
    async fn rejection_validity_and_splits(app: &TestApp, clock: &ManualClock) {
        let c = campaign(app, json!({
            "name": "Rules", "trigger": {"kind": "manual"}, "filter": "email is set",
            "activities": [
                {"name": "VIP only", "kind": "action", "filter": "has tag \"vip\"", "config": {"action": "add_tag", "tag": "seen"}},
                {"name": "Late", "kind": "action", "delay": "2d", "validity": "1h", "config": {"action": "add_tag", "tag": "late"}},
                {"name": "Split", "kind": "split", "children": [
                    {"name": "Half A", "kind": "action", "share": 50, "config": {"action": "add_tag", "tag": "a"}},
                    {"name": "Half B", "kind": "action", "share": 50, "config": {"action": "add_tag", "tag": "b"}},
                ]},
            ],
        })).await;
        let id = c["id"].as_i64().unwrap();
        let mut ids = Vec::new();
        for i in 0..40 {
            let tags = if i < 3 { json!(["vip"]) } else { json!([]) };
            ids.push(contact(app, json!({"email": format!("p{i}@example.vn"), "tags": tags})).await);
        }
        contact(app, json!({"phone": "0912000111"})).await; // no e-mail: not in the audience
        let launched = launch(app, id).await;
        assert_eq!(launched["entered"], 40, "{launched}");
        settle(app).await;
        let t = traces(app, id).await;
        let count = |name: &str, state: &str| t.iter().filter(|x| x.0 == name && x.1 == state).count();
        assert_eq!(count("VIP only", "processed"), 3);
        assert_eq!(count("VIP only", "rejected"), 37);
        let (a, b) = (count("Half A", "processed"), count("Half B", "processed"));
        assert_eq!(a + b, 40);
        assert!(a >= 10 && b >= 10, "a 50/50 split: {a}/{b}");
        // The worker was away for three days: "Late" missed its hour.
        advance(app, clock, 3 * DAY).await;
        let t = traces(app, id).await;
        let late: Vec<_> = t.iter().filter(|x| x.0 == "Late").collect();
        assert!(late.iter().all(|x| x.1 == "cancelled" && x.2.as_deref() == Some("validity ended")), "{late:?}");
        assert!(!tags(app, ids[0]).await.contains(&"late".to_string()));
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        let vip = stats["activities"].as_array().unwrap().iter().find(|a| a["name"] == "VIP only").unwrap();
        assert_eq!(vip["rejected"], 37, "{stats}");
    }
}

clock_test! {
    async fn test_mode_and_the_six_templates(app: &TestApp, _clock: &ManualClock) {
        let list = app.get("/api/v1/campaigns/templates").await.json;
        assert_eq!(list["items"].as_array().unwrap().len(), 6);
        let mut made = std::collections::HashMap::new();
        for t in list["items"].as_array().unwrap() {
            let slug = t["slug"].as_str().unwrap();
            let r = app.post(&format!("/api/v1/campaigns/templates/{slug}"), json!({})).await;
            assert_eq!(r.status, 201, "{slug}: {}", r.text);
            assert!(!r.json["activities"].as_array().unwrap().is_empty(), "{slug}");
            made.insert(slug.to_string(), r.json["id"].as_i64().unwrap());
        }
        // Test mode on a draft: a chosen contact walks Tag Hot Contacts, the
        // click is simulated, and none of it counts in the figures.
        let hot = made["tag-hot-contacts"];
        let lan = contact(app, json!({"email": "lan@example.vn", "name": "Lan"})).await;
        let r = app.post(&format!("/api/v1/campaigns/{hot}/test"), json!({"records": [lan]})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let participant = r.json["participants"][0].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/campaigns/{hot}/participants/{participant}/step"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let sent = r.json["traces"].as_array().unwrap().iter().find(|t| t["message_id"].is_i64()).cloned().unwrap_or_else(|| panic!("the e-mail went out: {}", r.json));
        let r = app.post(&format!("/api/v1/traces/{}/simulate", sent["id"]), json!({"action": "click"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["resumed"], 1);
        settle(app).await;
        assert_eq!(tags(app, lan).await, vec!["hot"]);
        let stats = app.get(&format!("/api/v1/campaigns/{hot}/stats")).await.json;
        assert!(stats["activities"].as_array().unwrap().iter().all(|a| a["processed"] == 0), "{stats}");

        // Double opt-in really confirms: the click subscribes the member.
        let optin = made["double-opt-in"];
        launch(app, optin).await;
        let minh = contact(app, json!({"email": "minh@example.vn", "name": "Minh"})).await;
        settle(app).await;
        let pending = app.get("/api/v1/lists/newsletter/members?status=pending").await.json;
        assert!(pending.to_string().contains(&format!("\"contact_id\":{minh}")), "{pending}");
        let confirm = link_to(app, "minh@example.vn", "/t/c/").await;
        let r = app.client.get(&confirm).send().await.unwrap();
        assert_eq!(r.status(), 303);
        settle(app).await;
        let subscribed = app.get("/api/v1/lists/newsletter/members?status=subscribed").await.json;
        assert!(subscribed.to_string().contains(&format!("\"contact_id\":{minh}")), "{subscribed}");

        // Priority Hot Leads: a big lead gets a call task at once.
        launch(app, made["priority-hot-leads"]).await;
        let r = app.post("/api/v1/records/lead", json!({"name": "Công ty Sao Mai", "value": 50000000, "contact_email": "saomai@example.vn"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app.post("/api/v1/records/lead", json!({"name": "Nhỏ", "status": "new", "value": 1000, "contact_email": "nho@example.vn"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        settle(app).await;
        let tasks = app.get("/api/v1/tasks").await.json;
        let titles: Vec<&str> = tasks["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
        assert_eq!(titles, vec!["Priority lead: call now"], "{tasks}");
    }
}

clock_test! {
    async fn a_recurring_campaign_runs_at_each_contacts_local_time(app: &TestApp, clock: &ManualClock) {
        let hcm = contact(app, json!({"email": "hcm@example.vn", "timezone": "Asia/Ho_Chi_Minh"})).await;
        let london = contact(app, json!({"email": "ldn@example.co.uk", "timezone": "Europe/London"})).await;
        let c = campaign(app, json!({
            "name": "Daily nine", "trigger": {"kind": "recurring", "every": "day", "at": "09:00"}, "reentry": "each",
            "activities": [{"name": "Tick", "kind": "action", "config": {"action": "add_score", "points": 1}}],
        })).await;
        let id = c["id"].as_i64().unwrap();
        launch(app, id).await; // 2026-11-23 00:00 UTC = 07:00 in Hồ Chí Minh City
        settle(app).await;
        let score = |id: i64| async move { app.get(&format!("/api/v1/contacts/{id}")).await.json["score"].as_i64().unwrap() };
        assert_eq!((score(hcm).await, score(london).await), (0, 0));
        advance(app, clock, 2 * 3600 * 1000 + 60_000).await; // 09:01 in Hồ Chí Minh City, 02:01 in London
        assert_eq!((score(hcm).await, score(london).await), (1, 0));
        advance(app, clock, 7 * 3600 * 1000).await; // 09:01 in London
        assert_eq!((score(hcm).await, score(london).await), (1, 1));
        advance(app, clock, DAY).await; // the next day, both again
        assert_eq!((score(hcm).await, score(london).await), (2, 2));
    }
}

clock_test! {
    async fn one_batch_of_mixed_outcomes_is_recorded_exactly(app: &TestApp, _clock: &ManualClock) {
        // A webhook to a port nobody listens on: tried again later.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mail = email_template(app, "Batch").await;
        let c = campaign(app, json!({
            "name": "Mixed", "trigger": {"kind": "manual"},
            "activities": [
                {"name": "Plus 2", "kind": "action", "config": {"action": "add_score", "points": 2}},
                {"name": "Plus 3", "kind": "action", "config": {"action": "add_score", "points": 3}},
                {"name": "Mail", "kind": "email", "config": {"template_id": mail}, "children": [
                    {"name": "Plus 10", "kind": "action", "config": {"action": "add_score", "points": 10}},
                ]},
                {"name": "Hook", "kind": "webhook", "config": {"url": format!("http://127.0.0.1:{closed}/hook")}},
            ],
        })).await;
        let id = c["id"].as_i64().unwrap();
        let reached = contact(app, json!({"email": "an@example.vn", "given_name": "An", "score": 1})).await;
        let opted_out = contact(app, json!({"email": "binh@example.vn", "email_optout": true})).await;
        // Both participants' four first steps are claimed as one batch:
        // two additions to each contact, a sent and a rejected e-mail, two
        // webhooks to try again.
        assert_eq!(launch(app, id).await["entered"], 2);
        settle(app).await;

        let t = traces(app, id).await;
        let states = |name: &str| {
            let mut s: Vec<(String, Option<String>)> = t.iter().filter(|x| x.0 == name).map(|x| (x.1.clone(), x.2.clone())).collect();
            s.sort();
            s
        };
        let processed = ("processed".to_string(), None);
        assert_eq!(states("Plus 2"), vec![processed.clone(), processed.clone()]);
        assert_eq!(states("Plus 3"), vec![processed.clone(), processed.clone()]);
        assert_eq!(states("Mail"), vec![processed.clone(), ("rejected".to_string(), Some("opted_out".to_string()))]);
        assert_eq!(states("Plus 10"), vec![processed.clone()], "only the sent e-mail's child runs");
        let hooks = states("Hook");
        assert_eq!(hooks.len(), 2);
        assert!(hooks.iter().all(|h| h.0 == "scheduled" && h.1.as_deref().is_some_and(|r| r.contains("cannot connect"))), "{hooks:?}");
        let mail_trace = t.iter().find(|x| x.0 == "Mail" && x.1 == "processed").unwrap();
        assert_eq!(mail_trace.3["channel"], "email", "{}", mail_trace.3);

        // Every addition counted once, each with its change-log entry, in a
        // chain from the old score to the new.
        let score = |id: i64| async move { app.get(&format!("/api/v1/contacts/{id}")).await.json["score"].as_i64().unwrap() };
        assert_eq!(score(reached).await, 1 + 2 + 3 + 10);
        assert_eq!(score(opted_out).await, 2 + 3);
        let changes = app.store().changes_since(app.workspace.id, "contact", 0, 1000).await.unwrap();
        for (contact, from, to, steps) in [(reached, 1, 16, 3), (opted_out, 0, 5, 2)] {
            let mut pairs: Vec<(i64, i64)> = changes.iter()
                .filter(|ch| ch.record_id == contact && ch.op == "update" && ch.changes["score"][0].is_i64())
                .map(|ch| (ch.changes["score"][0].as_i64().unwrap(), ch.changes["score"][1].as_i64().unwrap()))
                .collect();
            pairs.sort();
            assert_eq!(pairs.len(), steps, "{pairs:?}");
            assert_eq!(pairs[0].0, from, "{pairs:?}");
            assert_eq!(pairs[pairs.len() - 1].1, to, "{pairs:?}");
            assert!(pairs.windows(2).all(|w| w[0].1 == w[1].0), "a chain: {pairs:?}");
        }

        // One message, in the outbox and sent, to the reachable contact.
        let outbox = app.get("/api/v1/outbox?limit=100").await.json;
        let to: Vec<&str> = outbox["items"].as_array().unwrap().iter().map(|m| m["recipient"].as_str().unwrap()).collect();
        assert_eq!(to, vec!["an@example.vn"]);
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        let mail_stats = stats["activities"].as_array().unwrap().iter().find(|a| a["name"] == "Mail").unwrap();
        assert_eq!(mail_stats["processed"], 1, "{stats}");
        assert_eq!(mail_stats["rejected"], 1, "{stats}");
    }
}

/// An engine of a test's own on `store`, its e-mails kept in the outbox
/// (no loop runs it until the test says).
fn outbox_engine(
    store: &swell_store::Store,
    cfg: swell_engine::AutomationConfig,
) -> Arc<swell_engine::Automation> {
    let from = swell_channels::Mailbox::new(
        "Swell",
        swell_core::email::Email::parse("news@shop.test").unwrap(),
    );
    let mailer = swell_engine::Mailer::new(
        store.clone(),
        swell_engine::Transport::Outbox,
        swell_engine::Tokens::new(b"test"),
        swell_engine::MailerConfig::new("http://127.0.0.1:9", from),
    );
    swell_engine::Automation::new(store.clone(), mailer, cfg)
}

/// Steps due at once after a step that ran (splits, and server actions
/// written in the outcome's transaction, without a filter) run in the same
/// batch and are written with it, each its own trace under its parent's;
/// the rest (a delay, a filter, a send, a tag) go through the queue as
/// before. An engine of its own, with no loop
/// running beside the test, so that one call is one batch.
mod steps_due_at_once_run_in_their_parents_batch {
    use super::*;
    use swell_store::automation::ActivityInput;

    async fn run(backend: Backend) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = swell_tests::TestDb::new(backend).await;
        let clock = Arc::new(ManualClock::new(1_795_392_000_000));
        let store = db.store.clone().with_clock(clock.clone());
        let ws = store.ensure_workspace("w").await.unwrap().id;
        let template = store
            .put_template(
                ws,
                None,
                "Chào",
                "email",
                &json!({"subject": "Chào {{ contact.given_name }}", "html": "<p>Chào</p>"}),
            )
            .await
            .unwrap();
        let campaign = swell_tests::manual_campaign(&store, ws, "Chain").await;
        let add = |parent: Option<i64>, name: &str, kind: &str, config: Value| ActivityInput {
            parent_id: parent,
            name: name.into(),
            kind: kind.into(),
            config,
            trigger: if parent.is_some() {
                "after_parent".into()
            } else {
                "start".into()
            },
            ..Default::default()
        };
        let step = |input: ActivityInput| {
            let store = store.clone();
            async move {
                store
                    .add_activity(ws, campaign.id, &input)
                    .await
                    .unwrap()
                    .id
            }
        };
        let mail = step(add(
            None,
            "Mail",
            "email",
            json!({"template_id": template.id}),
        ))
        .await;
        let plus = step(add(
            Some(mail),
            "Plus 5",
            "action",
            json!({"action": "add_score", "points": 5}),
        ))
        .await;
        let split = step(add(Some(plus), "Split", "split", json!({}))).await;
        let tag_a = step(add(
            Some(split),
            "Tag A",
            "action",
            json!({"action": "add_tag", "tag": "a"}),
        ))
        .await;
        let tag_b = step(add(
            Some(split),
            "Tag B",
            "action",
            json!({"action": "add_tag", "tag": "b"}),
        ))
        .await;
        let call = step(add(
            Some(plus),
            "Call",
            "action",
            json!({"action": "create_task", "title": "Call"}),
        ))
        .await;
        let cold = step(ActivityInput {
            trigger: "not_opened".into(),
            delay_ms: 3 * DAY,
            ..add(
                Some(mail),
                "Cold",
                "action",
                json!({"action": "add_tag", "tag": "cold"}),
            )
        })
        .await;
        let unopened = step(ActivityInput {
            trigger: "not_opened".into(),
            ..add(
                Some(mail),
                "Unopened now",
                "action",
                json!({"action": "create_task", "title": "Not opened"}),
            )
        })
        .await;
        let vip = step(ActivityInput {
            filter: Some(
                swell_core::filter::Filter::parse("has tag \"vip\"")
                    .unwrap()
                    .to_json(),
            ),
            ..add(
                Some(mail),
                "VIP",
                "action",
                json!({"action": "add_tag", "tag": "vip-seen"}),
            )
        })
        .await;
        let person = |email: &str| swell_store::contacts::ContactWrite {
            target: swell_store::contacts::Target::Upsert,
            input: swell_core::contact::ContactInput {
                email: swell_core::contact::Patch::Set(
                    swell_core::email::Email::parse(email).unwrap(),
                ),
                ..Default::default()
            },
        };
        let written = store
            .write_contacts(
                ws,
                &[person("an@example.vn"), person("binh@example.vn")],
                false,
            )
            .await
            .unwrap();
        let people: Vec<i64> = written.iter().map(|r| r.as_ref().unwrap().1).collect();

        let engine = outbox_engine(&store, swell_engine::AutomationConfig::default());
        assert_eq!(engine.launch(ws, campaign.id).await.unwrap(), 2);

        // One batch: the two e-mails it claimed, and after each the score,
        // the split and the task; the split's branches add a tag, which is
        // written outside the batch's transaction, so they wait for the
        // queue.
        assert_eq!(engine.run_batch().await.unwrap(), 2);
        let q = swell_store::automation::views::TraceQuery {
            limit: 100,
            ..Default::default()
        };
        let traces = store.traces(ws, campaign.id, &q).await.unwrap();
        let of = |activity: i64| {
            traces
                .iter()
                .filter(|t| t.activity_id == activity)
                .collect::<Vec<_>>()
        };
        let states = |activity: i64| {
            let mut s: Vec<&str> = of(activity).iter().map(|t| t.state.as_str()).collect();
            s.sort();
            s
        };
        for activity in [mail, plus, split, call] {
            assert_eq!(
                states(activity),
                ["processed", "processed"],
                "activity {activity}: {traces:?}"
            );
        }
        let mut branches: Vec<&str> = of(tag_a)
            .iter()
            .chain(of(tag_b).iter())
            .map(|t| t.state.as_str())
            .collect();
        branches.sort();
        assert_eq!(
            branches,
            ["scheduled", "scheduled"],
            "one branch each: {traces:?}"
        );
        assert_eq!(
            states(cold),
            ["scheduled", "scheduled"],
            "a delay waits for the queue"
        );
        assert!(
            of(cold)
                .iter()
                .all(|t| t.due_at == Some(store.now() + 3 * DAY)),
            "{traces:?}"
        );
        assert_eq!(
            states(vip),
            ["scheduled", "scheduled"],
            "a step with a filter waits for the queue"
        );
        assert_eq!(
            states(unopened),
            ["scheduled", "scheduled"],
            "a step on what became of the parent's message waits for the queue, which looks"
        );
        // Each under its parent's trace, of the same participant.
        for t in &traces {
            let parent = t.parent_id.map(|p| {
                traces
                    .iter()
                    .find(|x| x.id == p)
                    .expect("the parent's trace")
            });
            let expected = store.activity(ws, t.activity_id).await.unwrap().parent_id;
            assert_eq!(parent.map(|p| p.activity_id), expected, "{t:?}");
            assert!(
                parent.is_none_or(|p| p.participant_id == t.participant_id),
                "{t:?}"
            );
        }
        for c in &people {
            let contact = store.contact(ws, *c).await.unwrap();
            assert_eq!(contact.score, 5);
            assert!(contact.tags.is_empty(), "{:?}", contact.tags);
        }
        let tasks = store.tasks(ws, None, false).await.unwrap();
        let calls: Vec<i64> = of(call).iter().map(|t| t.id).collect();
        assert_eq!(tasks.len(), 2);
        assert!(
            tasks
                .iter()
                .all(|t| t.trace_id.is_some_and(|id| calls.contains(&id))),
            "{tasks:?}"
        );

        // The queue does the rest: the filter rejects, the wait ends.
        engine.drain().await.unwrap();
        let traces = store.traces(ws, campaign.id, &q).await.unwrap();
        assert!(
            traces
                .iter()
                .filter(|t| t.activity_id == vip)
                .all(|t| t.state == "rejected"),
            "{traces:?}"
        );
        let tagged = traces
            .iter()
            .filter(|t| [tag_a, tag_b].contains(&t.activity_id) && t.state == "processed")
            .count();
        assert_eq!(tagged, 2, "{traces:?}");
        let unopened_done = traces
            .iter()
            .filter(|t| t.activity_id == unopened && t.state == "processed")
            .count();
        assert_eq!(unopened_done, 2, "nobody opened: {traces:?}");
        for c in &people {
            assert_eq!(store.contact(ws, *c).await.unwrap().tags.len(), 1);
        }
        let running = store
            .participants(ws, campaign.id, Some("running"), None, 10)
            .await
            .unwrap();
        assert_eq!(running.len(), 2, "the not-opened branch still waits");
        clock.advance(3 * DAY + 1000);
        engine.drain().await.unwrap();
        let completed = store
            .participants(ws, campaign.id, Some("completed"), None, 10)
            .await
            .unwrap();
        assert_eq!(completed.len(), 2);
        for c in &people {
            assert!(
                store
                    .contact(ws, *c)
                    .await
                    .unwrap()
                    .tags
                    .contains(&"cold".to_string())
            );
        }

        // A step that ends the participant, run in its parent's batch: the
        // participant's other steps are cancelled with it.
        let ender = swell_tests::manual_campaign(&store, ws, "Ender").await;
        let add_to = |input: ActivityInput| {
            let store = store.clone();
            async move { store.add_activity(ws, ender.id, &input).await.unwrap().id }
        };
        let first = add_to(add(
            None,
            "Plus 1",
            "action",
            json!({"action": "add_score", "points": 1}),
        ))
        .await;
        let end = add_to(add(Some(first), "End", "action", json!({"action": "end"}))).await;
        let later = add_to(ActivityInput {
            delay_ms: DAY,
            ..add(
                Some(first),
                "Later",
                "action",
                json!({"action": "add_tag", "tag": "later"}),
            )
        })
        .await;
        assert_eq!(engine.launch(ws, ender.id).await.unwrap(), 2);
        assert_eq!(engine.run_batch().await.unwrap(), 2);
        let traces = store.traces(ws, ender.id, &q).await.unwrap();
        let after_first = traces.iter().filter(|t| t.activity_id != first).count();
        assert_eq!(after_first, 4, "an end and a later step each: {traces:?}");
        for t in traces.iter().filter(|t| t.activity_id == end) {
            assert_eq!(t.state, "processed", "{t:?}");
        }
        for t in traces.iter().filter(|t| t.activity_id == later) {
            assert_eq!(
                (t.state.as_str(), t.reason.as_deref()),
                ("cancelled", Some("participant ended")),
                "{t:?}"
            );
        }
        let exited = store
            .participants(ws, ender.id, Some("exited"), None, 10)
            .await
            .unwrap();
        assert_eq!(exited.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}

/// The trace of activity `name` for the participant of contact `contact`.
async fn trace_of(app: &TestApp, id: i64, name: &str, contact: i64) -> Value {
    let p = app
        .get(&format!("/api/v1/campaigns/{id}/participants?limit=100"))
        .await
        .json;
    let participant = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["contact_id"] == contact)
        .unwrap_or_else(|| panic!("contact {contact} is not in {p}"))["id"]
        .clone();
    traces(app, id)
        .await
        .into_iter()
        .find(|t| t.0 == name && t.3["participant_id"] == participant)
        .unwrap_or_else(|| panic!("no {name} trace for contact {contact}"))
        .3
}

/// A trace's state and reason.
fn outcome(t: &Value) -> (String, Option<String>) {
    (
        t["state"].as_str().unwrap().to_string(),
        t["reason"].as_str().map(str::to_string),
    )
}

async fn sorted_tags(app: &TestApp, id: i64) -> Vec<String> {
    let mut t = tags(app, id).await;
    t.sort();
    t
}

clock_test! {
    async fn each_branch_follows_what_the_person_did_with_the_message(app: &TestApp, clock: &ManualClock) {
        let mail = email_template(app, "Ưu đãi").await;
        let branch = |name: &str, trigger: &str, delay: Option<&str>, tag: &str| {
            let mut a = json!({"name": name, "kind": "action", "trigger": trigger, "config": {"action": "add_tag", "tag": tag}});
            if let Some(d) = delay {
                a["delay"] = json!(d);
            }
            a
        };
        let c = campaign(app, json!({
            "name": "Branches", "trigger": {"kind": "manual"},
            "activities": [{"name": "Mail", "kind": "email", "config": {"template_id": mail}, "children": [
                branch("Clicked", "clicked", Some("1h"), "clicked"),
                branch("Not clicked", "not_clicked", Some("2d"), "not_clicked"),
                branch("Replied", "replied", None, "replied"),
                branch("Not replied", "not_replied", Some("2d"), "not_replied"),
                branch("Bounced", "bounced", None, "bounced"),
            ]}],
        })).await;
        let id = c["id"].as_i64().unwrap();
        let clicker = contact(app, json!({"email": "click@example.vn", "given_name": "Bấm"})).await;
        let replier = contact(app, json!({"email": "reply@example.vn", "given_name": "Đáp"})).await;
        let bounced = contact(app, json!({"email": "bounce@example.vn", "given_name": "Sai"})).await;
        let idle = contact(app, json!({"email": "idle@example.vn", "given_name": "Lặng"})).await;
        assert_eq!(launch(app, id).await["entered"], 4);
        settle(app).await;
        assert_eq!(app.get("/api/v1/outbox").await.json["items"].as_array().unwrap().len(), 4);

        // A click on the e-mail's link, a reply an integration reports, a
        // hard bounce.
        let link = link_to(app, "click@example.vn", "/t/c/").await;
        let r = app.client.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let message = trace_of(app, id, "Mail", replier).await["message_id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/messages/{message}/reply"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["resumed"], 1, "{}", r.text);
        let r = app.post("/api/v1/bounces", json!({"kind": "hard", "address": "bounce@example.vn", "status": "5.1.1", "diagnostic": "no such user"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        settle(app).await;
        assert_eq!(tags(app, replier).await, vec!["replied"]);
        assert_eq!(tags(app, bounced).await, vec!["bounced"]);
        // The click's branch waits its hour.
        assert!(tags(app, clicker).await.is_empty());
        advance(app, clock, 3600 * 1000 - 60_000).await;
        assert!(tags(app, clicker).await.is_empty());
        advance(app, clock, 120_000).await;
        assert_eq!(tags(app, clicker).await, vec!["clicked"]);
        assert!(tags(app, idle).await.is_empty(), "the not-branches wait their two days");

        // Two days on, the "not" branches run for those who did not, and
        // are cancelled, with why, for those who did.
        advance(app, clock, 2 * DAY).await;
        // Both at the same moment, each adding its tag: both kept.
        assert_eq!(sorted_tags(app, idle).await, vec!["not_clicked", "not_replied"]);
        assert_eq!(sorted_tags(app, clicker).await, vec!["clicked", "not_replied"]);
        assert_eq!(sorted_tags(app, replier).await, vec!["not_clicked", "replied"]);
        assert_eq!(
            outcome(&trace_of(app, id, "Not clicked", clicker).await),
            ("cancelled".into(), Some("parent message clicked".into()))
        );
        assert_eq!(
            outcome(&trace_of(app, id, "Not replied", replier).await),
            ("cancelled".into(), Some("parent message replied".into()))
        );
        // A bounced message never reached its person: no "not" branch.
        assert_eq!(tags(app, bounced).await, vec!["bounced"]);
        for name in ["Not clicked", "Not replied"] {
            assert_eq!(
                outcome(&trace_of(app, id, name, bounced).await),
                ("cancelled".into(), Some("parent message bounced".into()))
            );
        }
        assert_eq!(outcome(&trace_of(app, id, "Clicked", idle).await).0, "waiting");
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        let mail_fig = stats["activities"].as_array().unwrap().iter().find(|a| a["name"] == "Mail").unwrap();
        assert_eq!((mail_fig["sent"].as_i64(), mail_fig["clicked"].as_i64()), (Some(4), Some(1)), "{stats}");
        // The waits end: everyone completes.
        advance(app, clock, 31 * DAY).await;
        let p = app.get(&format!("/api/v1/campaigns/{id}/participants?state=completed")).await.json;
        assert_eq!(p["items"].as_array().unwrap().len(), 4, "{p}");
    }
}

clock_test! {
    async fn a_message_goes_by_the_cheapest_channel_each_person_can_receive(app: &TestApp, clock: &ManualClock) {
        let rx = receiver().await;
        let zns_body = concat!(
            r#"{"phone": {{ to | replace("+", "") | tojson }}, "template_id": {{ template_id | tojson }}, "#,
            r#""template_data": {{ params | tojson }}, "tracking_id": {{ idempotency_key | tojson }}}"#
        );
        for (channel, path, body) in [("sms", "/sms", r#"{"to": {{ to | tojson }}, "text": {{ text | tojson }}}"#), ("zalo", "/zns", zns_body)] {
            let r = app.put(&format!("/api/v1/channels/{channel}"), json!({
                "provider": {"url": format!("http://127.0.0.1:{}{path}", rx.port), "body": body,
                             "id_path": "/data/msg_id", "error_path": "/error"},
                "unit_cost": 300, "currency": "VND",
            })).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let sms = app.post("/api/v1/templates", json!({"name": "Ưu đãi SMS", "channel": "sms", "body": "Chào {{ contact.given_name }}, xem https://shop.example.vn/uu-dai"})).await;
        assert_eq!(sms.status, 201, "{}", sms.text);
        let zns = app.post("/api/v1/templates", json!({"name": "Ưu đãi ZNS", "channel": "zns", "template_id": "231456", "params": {"ten": "{{ contact.given_name }}"}})).await;
        assert_eq!(zns.status, 201, "{}", zns.text);
        let mail = email_template(app, "Ưu đãi").await;
        let c = campaign(app, json!({
            "name": "Cheapest first", "trigger": {"kind": "manual"},
            "activities": [{"name": "Offer", "kind": "message", "config": {
                "channels": ["inapp", "zalo", "sms", "email"],
                "templates": {
                    "inapp": {"title": "Ưu đãi", "body": "Chào {{ contact.given_name }}", "url": "https://shop.example.vn/uu-dai"},
                    "zalo": zns.json["id"], "sms": sms.json["id"], "email": mail,
                },
            }, "children": [
                {"name": "SMS clicked", "kind": "action", "trigger": "sms_clicked", "config": {"action": "add_tag", "tag": "sms_clicked"}},
                {"name": "SMS not clicked", "kind": "action", "trigger": "sms_not_clicked", "delay": "1d", "config": {"action": "add_tag", "tag": "sms_idle"}},
            ]}],
        })).await;
        let id = c["id"].as_i64().unwrap();
        // Seen in the app lately: in-app. A phone: Zalo, unless refused, then
        // SMS. Only an address: e-mail. Nothing that can be reached: none.
        let in_app = contact(app, json!({"email": "app@example.vn", "phone": "0912000001", "given_name": "Lan"})).await;
        let r = app.post("/api/v1/events", json!({"event": "app_open", "contact": {"id": in_app}})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let zalo = contact(app, json!({"phone": "0912000002", "given_name": "Hạnh"})).await;
        let texter = contact(app, json!({"phone": "0912000003", "given_name": "Tú", "zalo_optout": true})).await;
        let quiet = contact(app, json!({"phone": "0912000004", "given_name": "Yên", "zalo_optout": true})).await;
        let mailer = contact(app, json!({"email": "mail@example.vn", "given_name": "Minh"})).await;
        let nobody = contact(app, json!({"email": "no@example.vn", "email_optout": true})).await;
        // The cost before launch counts each person on the channel they
        // will get.
        let estimate = app.get(&format!("/api/v1/campaigns/{id}/estimate")).await.json;
        let messages = |ch: &str| estimate["channels"][ch]["messages"].as_u64();
        assert_eq!(
            [messages("inapp"), messages("zalo"), messages("sms"), messages("email")],
            [Some(1), Some(1), Some(2), Some(1)],
            "{estimate}"
        );
        assert_eq!(estimate["total_cost"], 900.0, "{estimate}");
        assert_eq!(launch(app, id).await["entered"], 6);
        settle(app).await;

        let channel = |who: i64| async move { trace_of(app, id, "Offer", who).await["channel"].as_str().map(str::to_string) };
        assert_eq!(channel(in_app).await.as_deref(), Some("inapp"));
        assert_eq!(channel(zalo).await.as_deref(), Some("zalo"));
        assert_eq!(channel(texter).await.as_deref(), Some("sms"));
        assert_eq!(channel(quiet).await.as_deref(), Some("sms"));
        assert_eq!(channel(mailer).await.as_deref(), Some("email"));
        let (state, reason) = outcome(&trace_of(app, id, "Offer", nobody).await);
        assert_eq!(state, "rejected");
        assert!(reason.as_deref().is_some_and(|r| r.starts_with("no reachable channel") && r.contains("email: ")), "{reason:?}");

        // The app shows the banner; its view comes back as an open.
        let banners = app.get(&format!("/api/v1/inapp/{in_app}")).await.json;
        assert_eq!(banners["items"].as_array().unwrap().len(), 1, "{banners}");
        assert_eq!(banners["items"][0]["body"], "Chào Lan");
        let r = app.post(&format!("/api/v1/inapp/messages/{}/view", banners["items"][0]["id"]), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Zalo's API got the template and its parameters.
        let seen = rx.seen.lock().unwrap().clone();
        let zns_calls: Vec<Value> = seen.iter().filter(|(p, _, _)| p == "/zns").map(|(_, _, b)| serde_json::from_slice(b).unwrap()).collect();
        assert_eq!(zns_calls.len(), 1, "{zns_calls:?}");
        assert_eq!(zns_calls[0]["phone"], "84912000002");
        assert_eq!(zns_calls[0]["template_id"], "231456");
        assert_eq!(zns_calls[0]["template_data"]["ten"], "Hạnh");
        let texts: Vec<Value> = seen.iter().filter(|(p, _, _)| p == "/sms").map(|(_, _, b)| serde_json::from_slice(b).unwrap()).collect();
        let mut to: Vec<&str> = texts.iter().map(|t| t["to"].as_str().unwrap()).collect();
        to.sort();
        assert_eq!(to, ["+84912000003", "+84912000004"]);
        let outbox = app.get("/api/v1/outbox").await.json;
        let recipients: Vec<&str> = outbox["items"].as_array().unwrap().iter().map(|m| m["recipient"].as_str().unwrap()).collect();
        assert_eq!(recipients, ["mail@example.vn"]);
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        assert_eq!(stats["spent"], 900.0, "a ZNS and two SMS at 300: {stats}");

        // The SMS link clicked: its branch runs; the other SMS's "not
        // clicked" branch runs after its day.
        let text = texts.iter().find(|t| t["to"] == "+84912000003").unwrap()["text"].as_str().unwrap().to_string();
        let link = format!("http://{}{}", app.addr, &text[text.find("/t/c/").unwrap()..]);
        let r = app.client.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303);
        settle(app).await;
        assert_eq!(tags(app, texter).await, vec!["sms_clicked"]);
        advance(app, clock, DAY + 60_000).await;
        assert_eq!(tags(app, quiet).await, vec!["sms_idle"]);
        assert_eq!(tags(app, texter).await, vec!["sms_clicked"]);
        assert_eq!(
            outcome(&trace_of(app, id, "SMS not clicked", texter).await),
            ("cancelled".into(), Some("parent message clicked".into()))
        );
    }
}

clock_test! {
    async fn created_or_updated_and_yearly_date_triggers(app: &TestApp, clock: &ManualClock) {
        // Created, or updated in its locale.
        let c = campaign(app, json!({
            "name": "Locale", "trigger": {"kind": "created_or_updated", "fields": ["locale"]},
            "activities": [{"name": "Greet", "kind": "action", "config": {"action": "add_tag", "tag": "greeted"}}],
        })).await;
        let locale = c["id"].as_i64().unwrap();
        let moved = contact(app, json!({"email": "moved@example.vn", "locale": "en"})).await;
        let renamed = contact(app, json!({"email": "renamed@example.vn", "locale": "en"})).await;
        launch(app, locale).await;
        let fresh = contact(app, json!({"email": "fresh@example.vn"})).await;
        contact(app, json!({"email": "moved@example.vn", "locale": "vi"})).await;
        contact(app, json!({"email": "renamed@example.vn", "name": "Tên Mới"})).await;
        settle(app).await;
        assert_eq!(tags(app, fresh).await, vec!["greeted"]);
        assert_eq!(tags(app, moved).await, vec!["greeted"]);
        assert!(tags(app, renamed).await.is_empty(), "a change of another field does not let it in");

        // Three days before each contact's birthday, at 09:00 where they
        // live. The clock: 2026-11-23 00:00 UTC.
        let c = campaign(app, json!({
            "name": "Birthday", "trigger": {"kind": "anniversary", "field": "birthday", "days_before": 3, "at": "09:00"},
            "reentry": "each",
            "activities": [{"name": "Gift", "kind": "action", "config": {"action": "add_score", "points": 5}}],
        })).await;
        let birthday = c["id"].as_i64().unwrap();
        let hanoi = contact(app, json!({"email": "hn@example.vn", "birthday": "1990-11-27", "timezone": "Asia/Ho_Chi_Minh"})).await;
        let paris = contact(app, json!({"email": "pa@example.fr", "birthday": "1988-11-27", "timezone": "Europe/Paris"})).await;
        let later = contact(app, json!({"email": "later@example.vn", "birthday": "1990-12-25", "timezone": "Asia/Ho_Chi_Minh"})).await;
        launch(app, birthday).await;
        settle(app).await;
        let score = |id: i64| async move { app.get(&format!("/api/v1/contacts/{id}")).await.json["score"].as_i64().unwrap() };
        // 2026-11-24 09:00 in Hồ Chí Minh City is 02:00 UTC; in Paris, 08:00 UTC.
        advance(app, clock, 26 * 3600 * 1000 - 60_000).await;
        assert_eq!((score(hanoi).await, score(paris).await, score(later).await), (0, 0, 0));
        advance(app, clock, 120_000).await;
        assert_eq!((score(hanoi).await, score(paris).await, score(later).await), (5, 0, 0));
        advance(app, clock, 6 * 3600 * 1000).await;
        assert_eq!((score(hanoi).await, score(paris).await, score(later).await), (5, 5, 0));
        // Not again the next day.
        advance(app, clock, DAY).await;
        assert_eq!((score(hanoi).await, score(paris).await, score(later).await), (5, 5, 0));
        let p = app.get(&format!("/api/v1/campaigns/{birthday}/participants")).await.json;
        assert_eq!(p["items"].as_array().unwrap().len(), 2, "{p}");
    }
}

/// A campaign's e-mail through an SMTP server (the sink on loopback), not
/// the outbox: delivered, its tracked link followed; refused by the server,
/// a bounce (the reply recorded on the trace) whose branch runs at once.
mod a_campaign_step_sends_through_smtp {
    use super::*;
    use swell_tests::smtp_sink::SmtpSink;

    async fn run(backend: Backend) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("error")
            .with_test_writer()
            .try_init();
        let clock = Arc::new(ManualClock::new(1_795_392_000_000));
        let sink = SmtpSink::start().await;
        sink.reject_rcpt_with(|to| {
            (to == "gone@example.vn").then(|| (550, "5.1.1 no such user".to_string()))
        });
        let app = TestApp::start_at(
            backend,
            Some(vec![crate::email::relay(sink.port())]),
            clock.clone(),
        )
        .await;
        let app = &app;
        let mail = email_template(app, "Chào").await;
        let c = campaign(app, json!({
            "name": "By SMTP", "trigger": {"kind": "manual"},
            "activities": [{"name": "Mail", "kind": "email", "config": {"template_id": mail}, "children": [
                {"name": "Clicked", "kind": "action", "trigger": "clicked", "config": {"action": "add_tag", "tag": "clicked"}},
                {"name": "Bounced", "kind": "action", "trigger": "bounced", "config": {"action": "add_tag", "tag": "bounced"}},
            ]}],
        })).await;
        let id = c["id"].as_i64().unwrap();
        let an = contact(app, json!({"email": "an@example.vn", "given_name": "An"})).await;
        let gone = contact(
            app,
            json!({"email": "gone@example.vn", "given_name": "Mất"}),
        )
        .await;
        assert_eq!(launch(app, id).await["entered"], 2);
        settle(app).await;

        let got = sink.wait_for(1, std::time::Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].recipients, ["an@example.vn"]);
        assert_eq!(got[0].subject().as_deref(), Some("Chào cho An"));
        let sent = trace_of(app, id, "Mail", an).await;
        assert_eq!(
            (outcome(&sent).0.as_str(), sent["channel"].as_str()),
            ("processed", Some("email"))
        );
        let (state, reason) = outcome(&trace_of(app, id, "Mail", gone).await);
        assert_eq!(state, "processed");
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.starts_with("bounced") && r.contains("no such user")),
            "{reason:?}"
        );
        assert_eq!(tags(app, gone).await, vec!["bounced"]);
        let suppressed = app.get("/api/v1/suppressions").await;
        assert!(
            suppressed.text.contains("gone@example.vn"),
            "{}",
            suppressed.text
        );
        assert!(
            app.get("/api/v1/outbox").await.json["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        let html = got[0].html().unwrap();
        let base = format!("http://{}/t/c/", app.addr);
        let at = html
            .find(&base)
            .unwrap_or_else(|| panic!("no tracked link in {html}"));
        let link = html[at..at + html[at..].find('"').unwrap()].replace("&amp;", "&");
        let r = app.client.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(
            to.starts_with("https://shop.example.vn/sale?") && to.contains("utm_campaign=by-smtp"),
            "{to}"
        );
        settle(app).await;
        assert_eq!(tags(app, an).await, vec!["clicked"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}

clock_test! {
    async fn server_actions_an_edit_while_running_and_the_budget(app: &TestApp, clock: &ManualClock) {
        for (slug, name) in [("vip", "VIP"), ("newsletter", "Newsletter")] {
            assert_eq!(app.post("/api/v1/lists", json!({"slug": slug, "name": name})).await.status, 201);
        }
        let a = contact(app, json!({"email": "a@example.vn", "phone": "0912000011", "tags": ["lead", "keep"]})).await;
        let b = contact(app, json!({"email": "b@example.vn", "phone": "0912000012", "tags": ["lead"]})).await;
        let r = app.post("/api/v1/lists/newsletter/members", json!({"contacts": [{"id": a}, {"id": b}]})).await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
        let act = |name: &str, config: Value| json!({"name": name, "kind": "action", "config": config});
        let mut step = act("Step", json!({"action": "add_score", "points": 1}));
        step["children"] = json!([{"name": "Later", "kind": "action", "delay": "1d", "config": {"action": "add_tag", "tag": "v1"}}]);
        let c = campaign(app, json!({
            "name": "Actions", "trigger": {"kind": "manual"},
            "activities": [
                act("Fields", json!({"action": "update_fields", "fields": {"locale": "vi", "timezone": "Asia/Ho_Chi_Minh"}})),
                act("Join VIP", json!({"action": "add_to_list", "list": "vip"})),
                act("Leave newsletter", json!({"action": "remove_from_list", "list": "newsletter"})),
                act("Untag", json!({"action": "remove_tag", "tag": "lead"})),
                act("Owner", json!({"action": "assign_owner", "owners": ["sale1@shop.vn", "sale2@shop.vn"]})),
                step,
            ],
        })).await;
        let id = c["id"].as_i64().unwrap();
        assert_eq!(launch(app, id).await["entered"], 2);
        settle(app).await;

        let get = |id: i64| async move { app.get(&format!("/api/v1/contacts/{id}")).await.json };
        let (ca, cb) = (get(a).await, get(b).await);
        assert_eq!((ca["locale"].as_str(), ca["timezone"].as_str()), (Some("vi"), Some("Asia/Ho_Chi_Minh")), "{ca}");
        assert_eq!(tags(app, a).await, vec!["keep"]);
        assert!(tags(app, b).await.is_empty());
        let mut owners = vec![ca["owner"].as_str().unwrap().to_string(), cb["owner"].as_str().unwrap().to_string()];
        owners.sort();
        assert_eq!(owners, ["sale1@shop.vn", "sale2@shop.vn"], "round robin");
        let members = |list: &'static str| async move {
            let m = app.get(&format!("/api/v1/lists/{list}/members?status=subscribed")).await.json;
            let mut ids: Vec<i64> = m["items"].as_array().unwrap().iter().map(|m| m["contact_id"].as_i64().unwrap()).collect();
            ids.sort();
            ids
        };
        assert_eq!(members("vip").await, vec![a, b]);
        assert!(members("newsletter").await.is_empty());
        assert_eq!((ca["score"].as_i64(), cb["score"].as_i64()), (Some(1), Some(1)));

        // Edited while running: the step both have passed keeps what it
        // did; the one they have not reached runs as it is now.
        let ids: std::collections::HashMap<String, i64> = c["activities"].as_array().unwrap().iter()
            .map(|a| (a["name"].as_str().unwrap().to_string(), a["id"].as_i64().unwrap())).collect();
        let r = app.put(&format!("/api/v1/campaigns/{id}/activities/{}", ids["Step"]),
            json!({"name": "Step", "kind": "action", "config": {"action": "add_score", "points": 5}})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.put(&format!("/api/v1/campaigns/{id}/activities/{}", ids["Later"]),
            json!({"name": "Later", "kind": "action", "delay": "1d", "config": {"action": "add_tag", "tag": "v2"}})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        advance(app, clock, DAY + 60_000).await;
        assert_eq!(tags(app, a).await, vec!["keep", "v2"]);
        assert_eq!(tags(app, b).await, vec!["v2"]);
        assert_eq!(get(a).await["score"], 1);
        let step_trace = trace_of(app, id, "Step", a).await;
        let later_trace = trace_of(app, id, "Later", a).await;
        // Each trace says which version of its step it ran: the score step
        // before its edit, the tag step after.
        assert_eq!((step_trace["version"].as_i64(), later_trace["version"].as_i64()), (Some(1), Some(2)));
        let now = app.get(&format!("/api/v1/campaigns/{id}/activities")).await.json;
        let step_now = now["items"].as_array().unwrap().iter().find(|a| a["name"] == "Step").unwrap();
        assert_eq!((step_now["version"].as_i64(), step_now["config"]["points"].as_i64()), (Some(2), Some(5)));

        // The cost before launch, and a budget that pauses the campaign.
        let rx = receiver().await;
        let r = app.put("/api/v1/channels/sms", json!({
            "provider": {"url": format!("http://127.0.0.1:{}/sms", rx.port), "body": r#"{"to": {{ to | tojson }}, "text": {{ text | tojson }}}"#,
                         "id_path": "/data/msg_id", "error_path": "/error"},
            "unit_cost": 500, "currency": "VND",
        })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let sms = app.post("/api/v1/templates", json!({"name": "Nhắc", "channel": "sms", "body": "Chào bạn"})).await;
        assert_eq!(sms.status, 201, "{}", sms.text);
        contact(app, json!({"phone": "0912000013"})).await;
        contact(app, json!({"email": "nophone@example.vn"})).await;
        let paid = campaign(app, json!({
            "name": "Paid", "trigger": {"kind": "manual"}, "budget": 1000,
            "activities": [{"name": "Text", "kind": "sms", "config": {"template_id": sms.json["id"]}}],
        })).await;
        let paid = paid["id"].as_i64().unwrap();
        let estimate = app.get(&format!("/api/v1/campaigns/{paid}/estimate")).await.json;
        assert_eq!(estimate["channels"]["sms"]["messages"], 3, "{estimate}");
        assert_eq!(estimate["total_cost"], 1500.0, "{estimate}");
        assert_eq!(estimate["within_budget"], false, "{estimate}");
        // A campaign over other records counts each of them on its order's
        // first channel.
        let r = app.post("/api/v1/records/order", json!({"external_id": "O1", "total": 1000, "currency": "VND", "status": "paid", "contact_email": "a@example.vn"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let orders = campaign(app, json!({
            "name": "Orders", "entity": "order", "trigger": {"kind": "manual"},
            "activities": [{"name": "Thanks", "kind": "message", "config": {"channels": ["sms"], "templates": {"sms": sms.json["id"]}}}],
        })).await;
        let estimate = app.get(&format!("/api/v1/campaigns/{}/estimate", orders["id"])).await.json;
        assert_eq!(estimate["channels"]["sms"]["messages"], 1, "{estimate}");
        launch(app, paid).await;
        settle(app).await;
        let shown = app.get(&format!("/api/v1/campaigns/{paid}")).await.json;
        assert_eq!((shown["state"].as_str(), shown["reason"].as_str()), (Some("paused"), Some("budget reached")), "{shown}");
        let stats = app.get(&format!("/api/v1/campaigns/{paid}/stats")).await.json;
        assert!(stats["spent"].as_f64().unwrap() >= 1000.0, "{stats}");
    }
}

clock_test! {
    async fn a_webhook_that_keeps_failing_is_tried_again_with_backoff_then_failed(app: &TestApp, clock: &ManualClock) {
        // A server that is down for maintenance: 503 to every call.
        let calls: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
        let seen = Arc::clone(&calls);
        let down = axum::Router::new().fallback(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(headers);
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "maintenance")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, down).await.unwrap() });
        let c = campaign(app, json!({
            "name": "Notify", "trigger": {"kind": "manual"},
            "activities": [{"name": "Hook", "kind": "webhook", "config": {"url": format!("http://127.0.0.1:{port}/crm"), "secret": "k"}}],
        })).await;
        let id = c["id"].as_i64().unwrap();
        let who = contact(app, json!({"email": "an@example.vn"})).await;
        launch(app, id).await;
        settle(app).await;
        let count = || calls.lock().unwrap().len();
        assert_eq!(count(), 1);
        let (state, reason) = outcome(&trace_of(app, id, "Hook", who).await);
        assert_eq!(state, "scheduled");
        assert!(reason.as_deref().is_some_and(|r| r.contains("503")), "{reason:?}");
        // The test app's policy: 300 ms after each failure (minutes to hours
        // in `swell serve`), never before, four attempts in all.
        for after in 2..=4 {
            advance(app, clock, 200).await;
            assert_eq!(count(), after - 1, "not before its wait");
            advance(app, clock, 200).await;
            assert_eq!(count(), after, "after its wait");
        }
        let (state, reason) = outcome(&trace_of(app, id, "Hook", who).await);
        assert_eq!(state, "failed");
        assert!(reason.as_deref().is_some_and(|r| r.starts_with("gave up after 4 attempts") && r.contains("503")), "{reason:?}");
        advance(app, clock, DAY).await;
        assert_eq!(count(), 4, "a failed step is not tried again");
        // Every attempt the same call: one idempotency key, each signed.
        let calls = calls.lock().unwrap().clone();
        let keys: std::collections::HashSet<&str> = calls.iter().map(|h| h["idempotency-key"].to_str().unwrap()).collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(calls.iter().all(|h| h.contains_key("x-swell-signature")));
        let stats = app.get(&format!("/api/v1/campaigns/{id}/stats")).await.json;
        let hook = stats["activities"].as_array().unwrap().iter().find(|a| a["name"] == "Hook").unwrap();
        assert_eq!(hook["failed"], 1, "{stats}");
    }
}

/// A change to a record wakes the engine of its process: the campaign it
/// triggers starts at once, though this engine would otherwise look for
/// work only once a minute. (Across processes, PostgreSQL's notification
/// does the same: `crates/swell/tests/workers.rs`.)
mod a_record_change_wakes_the_engine_at_once {
    use super::*;
    use swell_core::contact::{ContactInput, Patch};
    use swell_store::automation::ActivityInput;
    use swell_store::contacts::{ContactWrite, Target};

    async fn run(backend: Backend) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = swell_tests::TestDb::new(backend).await;
        let store = db.store.clone();
        let ws = store.ensure_workspace("w").await.unwrap().id;
        let campaign = swell_tests::contact_campaign(
            &store,
            ws,
            "Moved",
            json!({"kind": "updated", "fields": ["locale"]}),
        )
        .await;
        store
            .add_activity(
                ws,
                campaign.id,
                &ActivityInput {
                    name: "Tag".into(),
                    kind: "action".into(),
                    config: json!({"action": "add_tag", "tag": "moved"}),
                    trigger: "start".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let locale = |target: Target, locale: &str| ContactWrite {
            target,
            input: ContactInput {
                email: Patch::Set(swell_core::email::Email::parse("an@example.vn").unwrap()),
                locale: Patch::Set(locale.into()),
                ..Default::default()
            },
        };
        let written = store
            .write_contacts(ws, &[locale(Target::Upsert, "en")], false)
            .await
            .unwrap();
        let id = written[0].as_ref().unwrap().1;

        let engine = outbox_engine(
            &store,
            swell_engine::AutomationConfig {
                poll: std::time::Duration::from_secs(60),
                ..Default::default()
            },
        );
        engine.launch(ws, campaign.id).await.unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(Arc::clone(&engine).run(stopped));
        // The engine has looked, found nothing, and sleeps its minute.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let at = std::time::Instant::now();
        store
            .write_contacts(ws, &[locale(Target::Id(id), "vi")], false)
            .await
            .unwrap();
        loop {
            if store.contact(ws, id).await.unwrap().tags == ["moved"] {
                break;
            }
            assert!(
                at.elapsed() < std::time::Duration::from_secs(10),
                "the change did not wake the engine"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        runner.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await;
    }
}
