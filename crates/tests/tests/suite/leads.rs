//! Leads: intake by every path (one call, CSV, a web form, Facebook Lead
//! Ads), the ads hierarchy it fills in, dedupe against contacts,
//! assignment by rules (round-robin, weighted, filtered, capped, in
//! working hours; fair across two servers), notices to reps, the pipeline,
//! reassignment on a controlled clock, and what a sales rep's key may do.

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use swell_tests::{Backend, Body, ManualClock, Response, TestApp, app_test};

async fn user(app: &TestApp, name: &str, role: &str, extra: Value) -> i64 {
    let mut body =
        json!({"name": name, "email": format!("{}@shop.vn", name.to_lowercase()), "role": role});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let r = app.post("/api/v1/users", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

async fn rule(app: &TestApp, body: Value) -> i64 {
    let r = app.post("/api/v1/assignment-rules", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

async fn lead(app: &TestApp, body: Value) -> Response {
    app.post("/api/v1/leads", body).await
}

/// The owner a new lead of phone `n` goes to.
async fn owner_of_new(app: &TestApp, n: u32, extra: Value) -> Option<i64> {
    let mut body = json!({"phone": format!("0912{n:06}")});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let r = lead(app, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["assigned_to"].as_i64()
}

/// Drives the sender until the lead's notices are all delivered (the
/// app's own sender may hold one under its lease meanwhile).
async fn notices_delivered(app: &TestApp, lead: i64) {
    for _ in 0..200 {
        app.run_due_work().await;
        let detail = app.get(&format!("/api/v1/leads/{lead}")).await.json;
        if detail["notices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["state"] == "sent")
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the notices of lead {lead} were not delivered");
}

fn items(r: &Response) -> Vec<Value> {
    r.json["items"].as_array().cloned().unwrap_or_default()
}

/// Runs a test body on both backends with the app on a clock the test
/// moves.
macro_rules! clock_test {
    (async fn $name:ident($app:ident, $clock:ident) at $at:literal $body:block) => {
        mod $name {
            use super::*;
            async fn run($app: &TestApp, $clock: &ManualClock) $body
            async fn start(backend: Backend) {
                let clock = ManualClock::at($at);
                let app = TestApp::start_with_clock(backend, clock.clone()).await;
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

app_test! {
    async fn one_call_makes_whichever_ad_parents_are_missing_and_reports_switched_off_ones(app: &TestApp) {
        // Nothing exists yet: account, campaign and ad are made.
        let r = lead(app, json!({"name": "Nguyễn An", "phone": "0912 345 678", "account_id": "act_1", "campaign": "Tết", "ad": "Sofa A", "region": "HN"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["created"], json!({"account": true, "campaign": true, "ad": true}));
        assert_eq!((r.json["contact_created"].as_bool(), r.json["duplicate"].as_bool()), (Some(true), Some(false)));
        assert_eq!(r.json["lead"]["phone"], "+84912345678");
        assert!(r.json.get("warnings").is_none(), "{}", r.text);
        let ad_a = r.json["lead"]["ad_id"].as_i64().unwrap();
        // The campaign exists: only the ad is made.
        let r = lead(app, json!({"email": "binh@example.vn", "account_id": "act_1", "campaign": "Tết", "ad": "Sofa B"})).await;
        assert_eq!(r.json["created"], json!({"account": false, "campaign": false, "ad": true}), "{}", r.text);
        // The ad exists: nothing is made.
        let r = lead(app, json!({"email": "chi@example.vn", "account_id": "act_1", "campaign": "Tết", "ad": "Sofa A"})).await;
        assert_eq!(r.json["created"], json!({"account": false, "campaign": false, "ad": false}), "{}", r.text);
        assert_eq!(r.json["lead"]["ad_id"].as_i64(), Some(ad_a));
        assert_eq!(items(&app.get("/api/v1/ad-accounts").await).len(), 1);
        assert_eq!(items(&app.get("/api/v1/ad-campaigns").await).len(), 1);
        let ads = items(&app.get("/api/v1/ads").await);
        assert_eq!(ads.len(), 2);
        let campaign = ads[0]["ad_campaign_id"].as_i64().unwrap();

        // A switched-off ad and campaign still take the lead, and say so.
        assert_eq!(app.patch(&format!("/api/v1/ads/{ad_a}"), json!({"active": false})).await.status, 200);
        assert_eq!(app.patch(&format!("/api/v1/ad-campaigns/{campaign}"), json!({"active": false})).await.status, 200);
        let r = lead(app, json!({"email": "dung@example.vn", "ad_id": ad_a})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let warnings: Vec<&str> = r.json["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("ad campaign 'Tết'") && warnings[1].contains("ad 'Sofa A'"), "{warnings:?}");

        // Bad input names the field, and writes nothing.
        for (body, field) in [
            (json!({"email": "e@example.vn", "ad_id": 999999}), "ad_id"),
            (json!({"name": "Không liên lạc"}), "phone"),
            (json!({"phone": "12"}), "phone"),
            (json!({"email": "e@example.vn", "account_id": "act_2", "campaign": "X"}), "ad"),
            (json!({"email": "e@example.vn", "account_id": "act_2", "campaign": "X", "ad": "Y", "value": -5}), "value"),
            (json!({"email": "e@example.vn", "colour": "red"}), "colour"),
        ] {
            let r = lead(app, body).await;
            assert_eq!((r.status, r.error_fields()), (422, vec![field.to_string()]), "{}", r.text);
        }
        assert_eq!(items(&app.get("/api/v1/ad-accounts").await).len(), 1, "no account act_2 was left behind");
        assert_eq!(items(&app.get("/api/v1/leads").await).len(), 4);

        // The hierarchy's own API: a duplicate name is a conflict, a parent
        // of another workspace is not found, a level with leads stays.
        let dup = app.post("/api/v1/ads", json!({"ad_campaign_id": campaign, "name": "Sofa A"})).await;
        assert_eq!(dup.status, 409, "{}", dup.text);
        let bad = app.post("/api/v1/ads", json!({"ad_campaign_id": 999999, "name": "X"})).await;
        assert_eq!(bad.error_fields(), vec!["ad_campaign_id".to_string()], "{}", bad.text);
        assert_eq!(app.delete(&format!("/api/v1/ads/{ad_a}")).await.status, 409);
        let other = app.other_workspace_key("other").await;
        let foreign = app.request(Method::GET, &format!("/api/v1/ads/{ad_a}"), Some(&other), None).await;
        assert_eq!(foreign.status, 404);
        let acct = app.post("/api/v1/ad-accounts", json!({"platform": "google", "account_id": "123-456", "name": "Google"})).await;
        assert_eq!((acct.status, acct.json["running"].as_bool()), (201, Some(true)), "{}", acct.text);
        let id = acct.json["id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/ad-accounts/{id}")).await.status, 204);
    }
}

clock_test! {
    async fn a_repeat_lead_within_the_window_is_a_duplicate_kept_by_the_first_rep_and_not_assigned_again(app, clock) at "2026-12-07T03:00:00Z" {
        let a = user(app, "An", "sales", json!({})).await;
        let b = user(app, "Binh", "sales", json!({})).await;
        rule(app, json!({"name": "All", "strategy": "round_robin", "reps": [a, b]})).await;
        let first = lead(app, json!({"name": "Chi", "phone": "0912345678", "email": "chi@example.vn"})).await;
        assert_eq!(first.json["assigned_to"].as_i64(), Some(a), "{}", first.text);
        let first_id = first.json["lead"]["id"].as_i64().unwrap();

        clock.advance(24 * 3600 * 1000);
        // The same person by phone, written another way.
        let again = lead(app, json!({"name": "Chi", "phone": "+84 912 345 678"})).await;
        assert_eq!(again.status, 201, "{}", again.text);
        assert_eq!(again.json["duplicate"], true);
        assert_eq!(again.json["lead"]["duplicate_of"].as_i64(), Some(first_id));
        assert!(again.json["assigned_to"].is_null());
        assert_eq!(again.json["lead"]["owner_id"].as_i64(), Some(a), "the first rep keeps the person");
        assert_eq!(again.json["lead"]["contact_id"], first.json["lead"]["contact_id"]);
        assert!(!again.json["contact_created"].as_bool().unwrap());
        // The turn did not move: the next new person goes to Bình.
        assert_eq!(owner_of_new(app, 1, json!({})).await, Some(b));
        let detail = app.get(&format!("/api/v1/leads/{}", again.json["lead"]["id"])).await;
        let kinds: Vec<&str> = detail.json["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["created", "duplicate"]);

        // Past the window (30 days unless set) the person is a new lead.
        assert_eq!(app.get("/api/v1/lead-settings").await.json["duplicate_window_days"], 30);
        clock.advance(30 * 24 * 3600 * 1000);
        let later = lead(app, json!({"email": "CHI@example.vn"})).await;
        assert_eq!((later.json["duplicate"].as_bool(), later.json["assigned_to"].as_i64()), (Some(false), Some(a)), "{}", later.text);
        // A wider window makes it a repeat again.
        let r = app.put("/api/v1/lead-settings", json!({"duplicate_window_days": 90})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = lead(app, json!({"phone": "0912345678"})).await;
        assert_eq!(r.json["lead"]["duplicate_of"].as_i64(), Some(first_id), "{}", r.text);
        let bad = app.put("/api/v1/lead-settings", json!({"duplicate_window_days": -1})).await;
        assert_eq!(bad.error_fields(), vec!["duplicate_window_days".to_string()]);
    }
}

clock_test! {
    async fn rules_take_turns_by_weight_filter_cap_activity_and_working_hours(app, clock) at "2026-12-07T03:00:00Z" {
        // 2026-12-07 10:00 in Hồ Chí Minh City is a Monday.
        let office = json!({"working_hours": {"days": [1, 2, 3, 4, 5], "from": "08:00", "to": "17:00"}});
        let an = user(app, "An", "sales", office.clone()).await;
        let binh = user(app, "Binh", "sales", json!({"lead_cap": 2})).await;
        let chi = user(app, "Chi", "sales", json!({})).await;
        let hanoi = user(app, "Hanoi", "sales", json!({"regions": ["HN"]})).await;
        let hn = rule(app, json!({"name": "Hà Nội", "strategy": "round_robin", "filter": "region = \"HN\"", "reps": [hanoi]})).await;
        let all = rule(app, json!({"name": "Everyone", "strategy": "weighted", "working_hours": true,
                                   "reps": [{"user": an, "weight": 2}, {"user": chi, "weight": 1}]})).await;

        // The filter sends Hà Nội to its rep; the rest go by weight, 2:1.
        assert_eq!(owner_of_new(app, 1, json!({"region": "HN"})).await, Some(hanoi));
        let mut got = Vec::new();
        for n in 2..8 {
            got.push(owner_of_new(app, n, json!({"region": "HCM"})).await.unwrap());
        }
        assert_eq!(got, [an, chi, an, an, chi, an]);

        // Outside An's hours (Sunday) Chi takes every turn.
        clock.set(swell_core::time::to_millis("2026-12-06T03:00:00Z".parse().unwrap()));
        assert_eq!(owner_of_new(app, 8, json!({})).await, Some(chi));
        assert_eq!(owner_of_new(app, 9, json!({})).await, Some(chi));

        // Round-robin with a cap of open leads: Bình takes two, then is
        // passed over until one closes; an inactive rep never takes any.
        let r = app.patch(&format!("/api/v1/assignment-rules/{all}"), json!({"strategy": "round_robin", "working_hours": false, "reps": [binh, chi]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let got: Vec<i64> = futures_in_order(app, 10..15).await;
        assert_eq!(got, [binh, chi, binh, chi, chi]);
        let binhs: Vec<Value> = items(&app.get(&format!("/api/v1/leads?owner={binh}")).await);
        assert_eq!(binhs.len(), 2);
        let r = app.patch(&format!("/api/v1/leads/{}", binhs[0]["id"]), json!({"status": "lost", "reason": "wrong number"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(owner_of_new(app, 15, json!({})).await, Some(binh));
        assert_eq!(app.patch(&format!("/api/v1/users/{chi}"), json!({"active": false})).await.status, 200);
        assert_eq!(owner_of_new(app, 16, json!({})).await, None, "Bình is full and Chi is off: nobody");

        // Rules are checked when written.
        for (body, field) in [
            (json!({"name": "X", "strategy": "round_robin", "reps": [999999]}), "reps[0].user"),
            (json!({"name": "X", "strategy": "random", "reps": [an]}), "strategy"),
            (json!({"name": "X", "strategy": "round_robin", "reps": [an], "filter": "colour = \"red\""}), "filter"),
            (json!({"name": "X", "strategy": "weighted", "reps": [{"user": an, "weight": 0}]}), "reps[0].weight"),
            (json!({"name": "X", "strategy": "round_robin", "reps": []}), "reps"),
            (json!({"name": "X", "strategy": "round_robin", "reps": [an], "notify": {"webhook": "ftp://x"}}), "notify.webhook"),
        ] {
            let r = app.post("/api/v1/assignment-rules", body).await;
            assert_eq!((r.status, r.error_fields()), (422, vec![field.to_string()]), "{}", r.text);
        }
        let rules = items(&app.get("/api/v1/assignment-rules").await);
        assert_eq!(rules.iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>(), [hn, all]);
        assert_eq!(rules[0]["filter"], "region = \"HN\"");
    }
}

/// Owners of new leads of phones `range`, one after the other.
async fn futures_in_order(app: &TestApp, range: std::ops::Range<u32>) -> Vec<i64> {
    let mut out = Vec::new();
    for n in range {
        out.push(owner_of_new(app, n, json!({})).await.unwrap_or(0));
    }
    out
}

/// A receiver of webhooks on 127.0.0.1 that keeps what it is sent.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>) {
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

app_test! {
    async fn an_assignment_tells_the_rep_by_signed_webhook_email_and_task_and_is_in_the_history(app: &TestApp) {
        let (url, got) = webhook_receiver().await;
        let an = user(app, "An", "sales", json!({})).await;
        rule(app, json!({"name": "All", "strategy": "round_robin", "reps": [an],
                         "notify": {"webhook": url, "secret": "bí mật", "email": true, "task": true}})).await;
        let r = lead(app, json!({"name": "Chi", "phone": "0912345678", "product": "sofa"})).await;
        assert_eq!(r.json["assigned_to"].as_i64(), Some(an), "{}", r.text);
        let id = r.json["lead"]["id"].as_i64().unwrap();
        notices_delivered(app, id).await;

        let hooks = got.lock().unwrap().clone();
        assert_eq!(hooks.len(), 1, "one webhook");
        let (headers, body) = &hooks[0];
        let ts = headers["x-swell-timestamp"].to_str().unwrap();
        let sig = headers["x-swell-signature"].to_str().unwrap();
        assert_eq!(sig, swell_channels::webhook::sign("bí mật".as_bytes(), ts, body.as_bytes()));
        let doc: Value = serde_json::from_str(body).unwrap();
        assert_eq!((doc["event"].as_str(), doc["lead"]["id"].as_i64(), doc["rep"]["email"].as_str()), (Some("lead.assigned"), Some(id), Some("an@shop.vn")));

        let outbox = items(&app.get("/api/v1/outbox").await);
        let mail: Vec<&Value> = outbox.iter().filter(|m| m["recipient"] == "an@shop.vn").collect();
        assert_eq!(mail.len(), 1, "{outbox:?}");
        assert!(mail[0]["subject"].as_str().unwrap().contains("Chi"), "{}", mail[0]["subject"]);

        let detail = app.get(&format!("/api/v1/leads/{id}")).await.json;
        let states: Vec<(&str, &str)> = detail["notices"].as_array().unwrap().iter()
            .map(|n| (n["channel"].as_str().unwrap(), n["state"].as_str().unwrap())).collect();
        assert_eq!(states, [("webhook", "sent"), ("email", "sent")]);
        assert_eq!(detail["tasks"][0]["owner"], "an@shop.vn");
        let assigned = &detail["history"][1];
        assert_eq!((assigned["kind"].as_str(), assigned["to"].as_str()), (Some("assigned"), Some(an.to_string().as_str())));
    }
}

app_test! {
    /// A lead no rule gave, given by hand: the workspace's notices tell
    /// the rep, and its webhook secret is kept but never shown back.
    async fn a_lead_given_by_hand_tells_the_rep_by_the_workspace_notices(app: &TestApp) {
        let (url, got) = webhook_receiver().await;
        let an = user(app, "An", "sales", json!({})).await;
        let binh = user(app, "Binh", "sales", json!({})).await;
        // Nothing by default: a hand-given lead is in the history only.
        let quiet = lead(app, json!({"name": "Dung", "phone": "0912000009"})).await.json["lead"]["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/leads/{quiet}/assign"), json!({"user_id": an})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let detail = app.get(&format!("/api/v1/leads/{quiet}")).await.json;
        assert_eq!((detail["notices"].as_array().unwrap().len(), detail["tasks"].as_array().unwrap().len()), (0, 0), "{detail}");

        let r = app.put("/api/v1/lead-settings", json!({"notify": {"webhook": url, "secret": "khoá", "email": true, "task": true}})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["duplicate_window_days"], 30, "what is not sent stays: {}", r.text);
        let shown = app.get("/api/v1/lead-settings").await;
        assert_eq!((shown.json["notify"]["webhook"].as_str(), shown.json["notify"]["task"].as_bool()), (Some(url.as_str()), Some(true)));
        assert!(!shown.text.contains("khoá"), "the secret is not shown: {}", shown.text);
        // Sent again without the secret, it is kept.
        let r = app.put("/api/v1/lead-settings", json!({"notify": {"webhook": url, "email": true, "task": true}, "duplicate_window_days": 7})).await;
        assert_eq!((r.status, r.json["duplicate_window_days"].as_i64()), (200, Some(7)), "{}", r.text);
        let bad = app.put("/api/v1/lead-settings", json!({"notify": {"webhook": "ftp://x"}})).await;
        assert_eq!(bad.error_fields(), vec!["notify.webhook".to_string()]);

        let id = lead(app, json!({"name": "Chi", "phone": "0912000010"})).await.json["lead"]["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/leads/{id}/assign"), json!({"user_id": binh})).await;
        assert_eq!((r.status, r.json["owner_id"].as_i64()), (200, Some(binh)), "{}", r.text);
        notices_delivered(app, id).await;
        let hooks = got.lock().unwrap().clone();
        assert_eq!(hooks.len(), 1, "one webhook");
        let (headers, body) = &hooks[0];
        let ts = headers["x-swell-timestamp"].to_str().unwrap();
        assert_eq!(headers["x-swell-signature"].to_str().unwrap(), swell_channels::webhook::sign("khoá".as_bytes(), ts, body.as_bytes()));
        let doc: Value = serde_json::from_str(body).unwrap();
        assert_eq!((doc["lead"]["id"].as_i64(), doc["rep"]["id"].as_i64()), (Some(id), Some(binh)));
        let detail = app.get(&format!("/api/v1/leads/{id}")).await.json;
        let channels: Vec<&str> = detail["notices"].as_array().unwrap().iter().map(|n| n["channel"].as_str().unwrap()).collect();
        assert_eq!(channels, ["webhook", "email"]);
        assert_eq!(detail["tasks"][0]["owner"], "binh@shop.vn");
        let outbox = items(&app.get("/api/v1/outbox").await);
        assert_eq!(outbox.iter().filter(|m| m["recipient"] == "binh@shop.vn").count(), 1, "{outbox:?}");
    }
}

app_test! {
    async fn a_sales_key_sees_and_moves_only_its_own_leads_through_the_pipeline(app: &TestApp) {
        let an = user(app, "An", "sales", json!({})).await;
        let binh = user(app, "Binh", "sales", json!({})).await;
        let marketer = user(app, "Mai", "marketer", json!({})).await;
        let mine = lead(app, json!({"name": "Chi", "phone": "0912000001"})).await.json["lead"]["id"].as_i64().unwrap();
        let theirs = lead(app, json!({"name": "Dung", "phone": "0912000002"})).await.json["lead"]["id"].as_i64().unwrap();
        for (id, to) in [(mine, an), (theirs, binh)] {
            let r = app.post(&format!("/api/v1/leads/{id}/assign"), json!({"user_id": to})).await;
            assert_eq!((r.status, r.json["owner_id"].as_i64()), (200, Some(to)), "{}", r.text);
        }
        let key = app.user_key(an).await;
        let as_an = |m: Method, path: String, body: Option<Value>| {
            let key = key.clone();
            async move { app.request(m, &path, Some(&key), body.map(Body::Json)).await }
        };

        let list = as_an(Method::GET, "/api/v1/leads".into(), None).await;
        assert_eq!(items(&list).iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>(), [mine]);
        let list = as_an(Method::GET, format!("/api/v1/leads?owner={binh}"), None).await;
        assert_eq!(items(&list).len(), 1, "a rep's owner filter is always themselves");
        assert_eq!(as_an(Method::GET, format!("/api/v1/leads/{theirs}"), None).await.status, 404);
        assert_eq!(as_an(Method::PATCH, format!("/api/v1/leads/{theirs}"), Some(json!({"status": "contacted"}))).await.status, 404);

        let r = as_an(Method::PATCH, format!("/api/v1/leads/{mine}"), Some(json!({"status": "contacted"}))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json["first_contacted_at"].is_string());
        let r = as_an(Method::POST, format!("/api/v1/leads/{mine}/notes"), Some(json!({"kind": "call", "text": "Gọi lúc 10h, hẹn xem sofa"}))).await;
        assert_eq!(r.status, 201, "{}", r.text);
        for (body, field) in [
            (json!({"status": "new"}), "status"),
            (json!({"status": "lost"}), "reason"),
            (json!({"status": "won"}), "order_id"),
            (json!({"status": "won", "order_external_id": "DH-404"}), "order_external_id"),
            (json!({"status": "sold"}), "status"),
        ] {
            let r = as_an(Method::PATCH, format!("/api/v1/leads/{mine}"), Some(body)).await;
            assert_eq!((r.status, r.error_fields()), (422, vec![field.to_string()]), "{}", r.text);
        }
        let order = app.post("/api/v1/records/order", json!({"external_id": "DH-1", "total": 12000000})).await;
        assert_eq!(order.status, 201, "{}", order.text);
        let r = as_an(Method::PATCH, format!("/api/v1/leads/{mine}"), Some(json!({"status": "qualified"}))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = as_an(Method::PATCH, format!("/api/v1/leads/{mine}"), Some(json!({"status": "won", "order_external_id": "DH-1"}))).await;
        assert_eq!((r.status, r.json["order_id"].clone()), (200, order.json["id"].clone()), "{}", r.text);
        let moves: Vec<(String, String, Option<i64>)> = r.json["history"].as_array().unwrap().iter()
            .filter(|h| h["kind"] == "status" || h["kind"] == "call")
            .map(|h| (h["kind"].as_str().unwrap().to_string(), h["to"].as_str().unwrap_or("").to_string(), h["user_id"].as_i64()))
            .collect();
        assert_eq!(moves, [
            ("status".to_string(), "contacted".to_string(), Some(an)),
            ("call".to_string(), String::new(), Some(an)),
            ("status".to_string(), "qualified".to_string(), Some(an)),
            ("status".to_string(), "won".to_string(), Some(an)),
        ]);

        // Everything but their leads is closed to a rep: 403.
        for (m, path, body) in [
            (Method::GET, "/api/v1/contacts", None),
            (Method::POST, "/api/v1/leads", Some(json!({"phone": "0912000003"}))),
            (Method::POST, &*format!("/api/v1/leads/{mine}/assign"), Some(json!({"user_id": an}))),
            (Method::GET, "/api/v1/assignment-rules", None),
            (Method::GET, "/api/v1/users", None),
            (Method::GET, "/api/v1/reports/reps?from=2026-01-01&to=2026-12-31", None),
        ] {
            let r = as_an(m, path.to_string(), body).await;
            assert_eq!(r.status, 403, "{path}: {}", r.text);
        }
        // A marketer's key works the leads and ads but not the users.
        let mkey = app.user_key(marketer).await;
        assert_eq!(app.request(Method::GET, "/api/v1/users", Some(&mkey), None).await.status, 403);
        assert_eq!(items(&app.request(Method::GET, "/api/v1/leads", Some(&mkey), None).await).len(), 2);
        // A deactivated rep's key opens nothing.
        assert_eq!(app.patch(&format!("/api/v1/users/{an}"), json!({"active": false})).await.status, 200);
        assert_eq!(as_an(Method::GET, "/api/v1/leads".into(), None).await.status, 401);
    }
}

clock_test! {
    async fn a_lead_left_new_past_the_rules_time_goes_to_the_next_rep(app, clock) at "2026-12-07T03:00:00Z" {
        let an = user(app, "An", "sales", json!({})).await;
        let binh = user(app, "Binh", "sales", json!({})).await;
        rule(app, json!({"name": "Fast", "strategy": "round_robin", "reps": [an, binh], "reassign_after_minutes": 30,
                         "notify": {"email": true}})).await;
        let slow = lead(app, json!({"name": "Chi", "phone": "0912000001"})).await.json["lead"]["id"].as_i64().unwrap();
        let quick = lead(app, json!({"name": "Dung", "phone": "0912000002"})).await.json["lead"]["id"].as_i64().unwrap();
        let r = app.patch(&format!("/api/v1/leads/{quick}"), json!({"status": "contacted"})).await;
        assert_eq!(r.status, 200, "{}", r.text);

        clock.advance(29 * 60 * 1000);
        assert_eq!(app.store().reassign_overdue().await.unwrap(), 0);
        clock.advance(2 * 60 * 1000);
        assert_eq!(app.store().reassign_overdue().await.unwrap(), 1, "only the lead still new moves");
        let detail = app.get(&format!("/api/v1/leads/{slow}")).await.json;
        assert_eq!(detail["owner_id"].as_i64(), Some(binh));
        let last = detail["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["kind"].as_str(), last["from"].as_str(), last["to"].as_str()),
                   (Some("reassigned"), Some(an.to_string().as_str()), Some(binh.to_string().as_str())));
        notices_delivered(app, slow).await;
        let outbox = items(&app.get("/api/v1/outbox").await);
        assert!(outbox.iter().any(|m| m["recipient"] == "binh@shop.vn" && m["subject"].as_str().unwrap().contains("passed to you")), "{outbox:?}");
        // The clock starts again for Bình; nothing more is due yet.
        assert_eq!(app.store().reassign_overdue().await.unwrap(), 0);
    }
}

app_test! {
    async fn leads_by_csv_land_row_by_row_with_errors_by_line_column_and_reason(app: &TestApp) {
        let an = user(app, "An", "sales", json!({})).await;
        rule(app, json!({"name": "All", "strategy": "round_robin", "reps": [an]})).await;
        let csv = "name,phone,email,account_id,campaign,ad,region\n\
                   An,0912000001,,act_1,Tết,Sofa,HN\n\
                   Bình,12,,act_1,Tết,Sofa,HN\n\
                   Chi,,chi@example.vn,act_1,Tết,,HCM\n\
                   An lần hai,0912000001,,act_1,Tết,Sofa,HN\n\
                   Dung,0912000004,,,,,\n";
        let r = app.post_csv("/api/v1/leads/import", csv).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.json["created"].as_i64(), r.json["failed"].as_i64(), r.json["duplicates"].as_i64(), r.json["assigned"].as_i64()),
                   (Some(3), Some(2), Some(1), Some(2)), "{}", r.text);
        let errors: Vec<(i64, &str)> = r.json["errors"].as_array().unwrap().iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap())).collect();
        assert_eq!(errors, [(3, "phone"), (4, "ad")]);
        let bad = app.post_csv("/api/v1/leads/import", "name,phone,colour\nAn,0912000001,red\n").await;
        assert_eq!((bad.status, bad.error_fields()), (422, vec!["header".to_string()]), "{}", bad.text);
    }
}

app_test! {
    async fn a_public_form_takes_leads_drops_the_honeypot_and_limits_each_address(app: &TestApp) {
        let ad = lead(app, json!({"email": "seed@example.vn", "account_id": "act_1", "campaign": "Web", "ad": "Landing"})).await.json["lead"]["ad_id"].clone();
        let f = app.post("/api/v1/lead-forms", json!({"name": "Website", "ad_id": ad, "per_minute": 3})).await;
        assert_eq!(f.status, 201, "{}", f.text);
        let key = f.json["key"].as_str().unwrap().to_string();
        assert!(app.get(&format!("/api/v1/lead-forms/{}", f.json["id"])).await.json.get("key").is_none(), "the key is shown once");
        let post_form = |body: &'static str| {
            app.client.post(app.url(&format!("/f/{key}"))).header("content-type", "application/x-www-form-urlencoded").body(body).send()
        };

        let r = post_form("name=Nguy%E1%BB%85n+An&phone=0912345678&message=Sofa+g%C3%B3c").await.unwrap();
        assert_eq!(r.status(), 201);
        assert!(r.text().await.unwrap().contains("Cảm ơn"));
        let r = post_form("name=Bot&phone=0912000009&website=http%3A%2F%2Fspam.example").await.unwrap();
        assert_eq!(r.status(), 201, "spam is answered as a success");
        let bad = app.client.post(app.url(&format!("/f/{key}"))).json(&json!({"phone": "12"})).send().await.unwrap();
        assert_eq!(bad.status(), 422);
        let limited = post_form("phone=0912000010").await.unwrap();
        assert_eq!(limited.status(), 429, "a fourth post in the minute");
        assert_eq!(app.client.post(app.url("/f/lf_nope")).json(&json!({"phone": "0912000011"})).send().await.unwrap().status(), 404);

        let leads = items(&app.get("/api/v1/leads").await);
        assert_eq!(leads.len(), 2, "the seed and the person; no bot");
        let l = &leads[0];
        assert_eq!((l["name"].as_str(), l["source"].as_str(), l["data"]["message"].as_str()), (Some("Nguyễn An"), Some("form:Website"), Some("Sofa góc")));
        assert_eq!((l["ad_id"].clone(), l["form_id"].clone()), (ad, f.json["id"].clone()));
    }
}

fn facebook_signature(secret: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body.as_bytes());
    format!(
        "sha256={}",
        tag.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

app_test! {
    async fn facebook_lead_ads_are_verified_signed_mapped_and_taken_once(app: &TestApp) {
        let f = app.post("/api/v1/lead-forms", json!({"name": "FB", "facebook_verify_token": "tok-123", "facebook_app_secret": "app-secret"})).await;
        assert_eq!(f.status, 201, "{}", f.text);
        assert_eq!(f.json["facebook_app_secret_set"], true);
        assert!(f.json.get("facebook_app_secret").is_none());
        let url = app.url(f.json["facebook_url"].as_str().unwrap());

        let ok = app.client.get(format!("{url}?hub.mode=subscribe&hub.verify_token=tok-123&hub.challenge=1158201444")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.unwrap(), "1158201444");
        let wrong = app.client.get(format!("{url}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")).send().await.unwrap();
        assert_eq!(wrong.status(), 403);

        let body = json!({"object": "page", "entry": [{"id": "1", "time": 1, "changes": [
            {"field": "leadgen", "value": {"leadgen_id": "444", "page_id": "1", "form_id": "9", "ad_id": "77", "created_time": 1764900000,
              "field_data": [{"name": "full_name", "values": ["Trần Bình"]}, {"name": "phone_number", "values": ["0912 345 678"]},
                             {"name": "email", "values": ["binh@example.vn"]}, {"name": "city", "values": ["Đà Nẵng"]},
                             {"name": "budget", "values": ["20tr"]}]}},
            {"field": "leadgen", "value": {"leadgen_id": "445", "field_data": [{"name": "full_name", "values": ["Không số"]}]}}
        ]}]}).to_string();
        let send = |sig: String| app.client.post(&url).header("content-type", "application/json").header("x-hub-signature-256", sig).body(body.clone()).send();
        assert_eq!(send("sha256=00".into()).await.unwrap().status(), 401);
        let r = send(facebook_signature("app-secret", &body)).await.unwrap();
        assert_eq!(r.status(), 200);
        let out: Value = r.json().await.unwrap();
        assert_eq!(out["leads"].as_array().unwrap().len(), 1, "{out}");
        assert_eq!(out["errors"][0]["change"], 1, "{out}");
        // Facebook delivers again: the same lead, not a second.
        let again: Value = send(facebook_signature("app-secret", &body)).await.unwrap().json().await.unwrap();
        assert_eq!(again["leads"], out["leads"]);
        let leads = items(&app.get("/api/v1/leads").await);
        assert_eq!(leads.len(), 1);
        let l = &leads[0];
        assert_eq!((l["name"].as_str(), l["phone"].as_str(), l["region"].as_str(), l["source"].as_str(), l["external_id"].as_str()),
                   (Some("Trần Bình"), Some("+84912345678"), Some("Đà Nẵng"), Some("facebook"), Some("facebook:444")));
        assert_eq!((l["data"]["budget"].as_str(), l["data"]["facebook_ad_id"].as_str()), (Some("20tr"), Some("77")));
    }
}

app_test! {
    async fn users_are_admins_business_and_checked_field_by_field(app: &TestApp) {
        let r = app.post("/api/v1/users", json!({"name": "An", "email": "An@Shop.vn", "role": "sales", "phone": "0912 345 678",
            "working_hours": {"days": [1,2,3,4,5], "from": "08:00", "to": "17:30"}, "regions": ["HN"], "products": ["sofa"], "lead_cap": 20})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!((r.json["email"].as_str(), r.json["phone"].as_str(), r.json["lead_cap"].as_i64()), (Some("an@shop.vn"), Some("+84912345678"), Some(20)));
        let id = r.json["id"].as_i64().unwrap();
        for (body, field) in [
            (json!({"name": "X", "email": "x@shop.vn", "role": "boss"}), "role"),
            (json!({"name": "X", "email": "not mail", "role": "sales"}), "email"),
            (json!({"name": "X", "email": "x@shop.vn", "role": "sales", "working_hours": {"days": [9], "from": "08:00", "to": "17:00"}}), "working_hours"),
            (json!({"name": "X", "email": "x@shop.vn", "role": "sales", "lead_cap": -1}), "lead_cap"),
            (json!({"name": "X", "email": "x@shop.vn", "role": "sales", "password": "short"}), "password"),
            (json!({"email": "x@shop.vn", "role": "sales"}), "name"),
        ] {
            let r = app.post("/api/v1/users", body).await;
            assert_eq!((r.status, r.error_fields()), (422, vec![field.to_string()]), "{}", r.text);
        }
        assert_eq!(app.post("/api/v1/users", json!({"name": "Again", "email": "an@shop.vn", "role": "sales"})).await.status, 409);
        let r = app.patch(&format!("/api/v1/users/{id}"), json!({"lead_cap": null, "working_hours": null})).await;
        assert_eq!((r.json["lead_cap"].is_null(), r.json["working_hours"].is_null(), r.json["regions"].clone()), (true, true, json!(["HN"])), "{}", r.text);
        let admin = user(app, "Root", "admin", json!({})).await;
        let admin_key = app.user_key(admin).await;
        assert_eq!(items(&app.request(Method::GET, "/api/v1/users", Some(&admin_key), None).await).len(), 2);
        assert_eq!(app.delete(&format!("/api/v1/users/{id}")).await.status, 204);
    }
}

/// Runs the automation engine until nothing is due and nothing in flight.
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

app_test! {
    async fn automations_create_leads_through_the_intake_and_assign_them_by_the_rules(app: &TestApp) {
        let an = user(app, "An", "sales", json!({})).await;
        let binh = user(app, "Binh", "sales", json!({})).await;
        rule(app, json!({"name": "Hà Nội", "strategy": "round_robin", "filter": "region = \"HN\"", "reps": [an]})).await;
        let r = app.post("/api/v1/contacts", json!({"name": "Chi", "phone": "0912345678", "tags": ["hot"]})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        // A campaign over contacts makes a lead of each (Hà Nội: An's).
        let c = app.post("/api/v1/campaigns", json!({"name": "Hot", "filter": "has tag \"hot\"", "activities": [
            {"name": "Lead", "kind": "action", "config": {"action": "create_lead", "region": "HN", "product": "sofa"}}]})).await;
        assert_eq!(c.status, 201, "{}", c.text);
        let r = app.post(&format!("/api/v1/campaigns/{}/launch", c.json["id"]), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        settle(app).await;
        let leads = items(&app.get("/api/v1/leads").await);
        assert_eq!(leads.len(), 1, "{leads:?}");
        assert_eq!((leads[0]["source"].as_str(), leads[0]["product"].as_str(), leads[0]["owner_id"].as_i64()),
                   (Some("campaign:Hot"), Some("sofa"), Some(an)));

        // A campaign over leads gives the ones no rule took to Bình.
        let c = app.post("/api/v1/campaigns", json!({"name": "Others", "entity": "lead", "trigger": {"kind": "created"},
            "filter": "region = \"HCM\"", "activities": [
            {"name": "Give", "kind": "action", "config": {"action": "assign_owner", "owner": "binh@shop.vn"}}]})).await;
        assert_eq!(c.status, 201, "{}", c.text);
        let r = app.post(&format!("/api/v1/campaigns/{}/launch", c.json["id"]), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let l = lead(app, json!({"phone": "0912000009", "region": "HCM"})).await;
        assert!(l.json["assigned_to"].is_null(), "{}", l.text);
        settle(app).await;
        let got = app.get(&format!("/api/v1/leads/{}", l.json["lead"]["id"])).await.json;
        assert_eq!(got["owner_id"].as_i64(), Some(binh), "{got}");
    }
}

/// Two servers on one PostgreSQL database take leads at once: every lead
/// lands, and round-robin gives each rep exactly their share.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_intake_on_two_servers_is_fair_and_complete() {
    let app = TestApp::start(Backend::Postgres).await;
    let reps = [
        user(&app, "An", "sales", json!({})).await,
        user(&app, "Binh", "sales", json!({})).await,
        user(&app, "Chi", "sales", json!({})).await,
        user(&app, "Dung", "sales", json!({})).await,
    ];
    rule(
        &app,
        json!({"name": "All", "strategy": "round_robin", "reps": reps}),
    )
    .await;
    let second = app.second_server().await;
    const N: u32 = 200;
    let mut tasks = Vec::new();
    for n in 0..N {
        let base = if n % 2 == 0 {
            app.url("")
        } else {
            format!("http://{}", second.addr)
        };
        let (client, key) = (app.client.clone(), app.key.clone());
        tasks.push(tokio::spawn(async move {
            let r = client.post(format!("{base}/api/v1/leads")).bearer_auth(key)
                .json(&json!({"phone": format!("0913{n:06}"), "account_id": "act_1", "campaign": "Tết", "ad": "Sofa"}))
                .send().await.unwrap();
            assert_eq!(r.status(), 201);
            let v: Value = r.json().await.unwrap();
            v["assigned_to"].as_i64().unwrap()
        }));
    }
    let mut counts = std::collections::HashMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    for rep in reps {
        assert_eq!(counts.get(&rep), Some(&(N / 4)), "{counts:?}");
    }
    let all = app
        .store()
        .leads(
            app.workspace.id,
            &swell_store::leads::LeadQuery {
                limit: 1000,
                ..Default::default()
            },
            swell_store::leads::Actor::WORKSPACE,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), N as usize);
    assert_eq!(
        items(&app.get("/api/v1/ads").await).len(),
        1,
        "one ad made, however many raced to make it"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_leads_routes() {
    let spec: Value = serde_json::from_str(swell_web::api::OPENAPI_JSON).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/users",
        "/users/{id}",
        "/ad-accounts",
        "/ad-accounts/{id}",
        "/ad-campaigns",
        "/ad-campaigns/{id}",
        "/ads",
        "/ads/{id}",
        "/leads",
        "/leads/import",
        "/leads/{id}",
        "/leads/{id}/assign",
        "/leads/{id}/notes",
        "/assignment-rules",
        "/assignment-rules/{id}",
        "/lead-forms",
        "/lead-forms/{id}",
        "/lead-settings",
    ] {
        assert!(paths.contains_key(route), "{route} is not in openapi.json");
    }
}

app_test! {
    /// Leads that arrive at once share intake transactions: a bad one in
    /// a batch fails alone, a person sent twice is one lead and one
    /// duplicate, a replayed external id is one lead, and every lead has
    /// its history and change-log entries with round-robin exact.
    async fn leads_arriving_together_land_as_if_taken_one_by_one(app: &TestApp) {
        let reps = [
            user(app, "An", "sales", json!({})).await,
            user(app, "Binh", "sales", json!({})).await,
            user(app, "Chi", "sales", json!({})).await,
            user(app, "Dung", "sales", json!({})).await,
        ];
        rule(app, json!({"name": "All", "strategy": "round_robin", "reps": reps})).await;
        let ws = app.workspace.id;
        let mut bodies = Vec::new();
        for n in 0..48u32 {
            bodies.push(json!({"phone": format!("0914{n:06}"), "account_id": "act_1", "campaign": "Tết", "ad": format!("Ad {}", n % 3)}));
        }
        for n in 0..6u32 {
            bodies.push(json!({"phone": format!("0914{n:06}"), "name": "again", "account_id": "act_1", "campaign": "Tết", "ad": "Ad 0"}));
            bodies.push(json!({"phone": format!("0915{n:06}"), "ad_id": 999_999}));
            bodies.push(json!({"phone": "0916000000", "external_id": "fb-77"}));
        }
        let mut tasks = Vec::new();
        for body in bodies {
            let store = app.store().clone();
            tasks.push(tokio::spawn(async move {
                let input = swell_store::leads::LeadInput::from_json(body.as_object().unwrap(), "VN").unwrap();
                store.intake_lead(ws, &input).await
            }));
        }
        let (mut landed, mut replayed, mut refused) = (Vec::new(), 0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(i) if i.replayed => replayed += 1,
                Ok(i) => landed.push(i.lead),
                Err(swell_store::StoreError::Invalid(e)) => {
                    assert_eq!(e[0].field, "ad_id");
                    assert!(e[0].reason.contains("999999"), "{}", e[0].reason);
                    refused += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((landed.len(), replayed, refused), (55, 5, 6));
        let duplicates: Vec<_> = landed.iter().filter(|l| l.duplicate_of.is_some()).collect();
        assert_eq!(duplicates.len(), 6);
        for d in &duplicates {
            let first = landed.iter().find(|l| Some(l.id) == d.duplicate_of).unwrap();
            assert_eq!((first.phone.as_deref(), d.owner_id), (d.phone.as_deref(), first.owner_id));
        }
        let mut counts = std::collections::HashMap::new();
        for l in landed.iter().filter(|l| l.duplicate_of.is_none()) {
            *counts.entry(l.owner_id.unwrap()).or_insert(0) += 1;
        }
        let mut shares: Vec<i32> = counts.values().copied().collect();
        shares.sort();
        assert_eq!(shares, [12, 12, 12, 13], "49 first leads over 4 reps: {counts:?}");
        for l in &landed {
            // The answer is the stored lead.
            assert_eq!(&app.store().lead(ws, l.id, swell_store::leads::Actor::WORKSPACE).await.unwrap(), l);
            let kinds: Vec<String> = app.store().lead_history(ws, l.id).await.unwrap().into_iter().map(|h| h.kind).collect();
            let second = if l.duplicate_of.is_some() { "duplicate" } else { "assigned" };
            assert_eq!(kinds, ["created", second], "lead {}", l.id);
        }
        let changes = app.get("/api/v1/changes?entity=lead&limit=1000").await;
        assert_eq!(changes.status, 200, "{}", changes.text);
        let created = items(&changes).iter().filter(|c| c["op"] == "create").count();
        assert_eq!(created, 55, "{}", changes.text);
        let contacts = app.get("/api/v1/contacts?limit=1000").await;
        assert_eq!(items(&contacts).len(), 49, "48 people and the one replayed: {}", contacts.text);
        let turns: i64 = items(&app.get("/api/v1/assignment-rules").await)[0]["cursor"].as_i64().unwrap_or(-1);
        assert_eq!(turns, 1, "49 leads over 4 reps: the next turn is the second rep's");
    }
}
