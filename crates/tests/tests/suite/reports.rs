//! Ad metrics, the reports on ads and reps, and marketing campaigns with
//! their roll-up, through the real server on both backends. Every figure
//! is checked against a number worked out by hand from a small data set.

use std::time::Duration;

use serde_json::{Value, json};
use swell_tests::{TestApp, app_test};

/// Asserts a report figure: a number close to `want`, or null.
fn figure(v: &Value, want: Option<f64>, what: &str) {
    match want {
        None => assert!(v.is_null(), "{what}: expected null, got {v}"),
        Some(w) => {
            let got = v
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: expected {w}, got {v}"));
            assert!((got - w).abs() < 1e-9, "{what}: expected {w}, got {got}");
        }
    }
}

/// The first quoted URL (an HTML attribute, not the text part's copy)
/// that starts with `marker`.
fn link_in(text: &str, marker: &str) -> String {
    let quoted = format!("\"{marker}");
    let at = text
        .find(&quoted)
        .unwrap_or_else(|| panic!("{marker} not in {text}"))
        + 1;
    let end = text[at..].find('"').unwrap();
    text[at..at + end].replace("&amp;", "&")
}

async fn marketing_campaign(app: &TestApp, body: Value) -> i64 {
    let r = app.post("/api/v1/marketing-campaigns", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

app_test! {
    async fn marketing_campaigns_are_created_changed_and_checked(app: &TestApp) {
        let id = marketing_campaign(app, json!({
            "name": "Tết 2027", "code": "tet-2027", "starts_on": "2027-01-10", "ends_on": "2027-02-15", "budget": 50000000
        })).await;
        let got = app.get(&format!("/api/v1/marketing-campaigns/{id}")).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.json["code"], "tet-2027");
        assert_eq!(got.json["starts_on"], "2027-01-10");
        assert_eq!(got.json["members"], json!({"broadcasts": [], "campaigns": [], "ad_campaigns": []}));

        // The same code twice is a conflict; a code a URL would escape, an
        // end before the start, a negative budget and an unknown owner are
        // refused with the field named.
        let dup = app.post("/api/v1/marketing-campaigns", json!({"name": "Again", "code": "tet-2027"})).await;
        assert_eq!(dup.status, 409, "{}", dup.text);
        let bad = app.post("/api/v1/marketing-campaigns", json!({"name": "X", "code": "tết 2027"})).await;
        assert_eq!((bad.status, bad.error_fields()), (422, vec!["code".to_string()]), "{}", bad.text);
        let bad = app.patch(&format!("/api/v1/marketing-campaigns/{id}"), json!({"ends_on": "2027-01-01"})).await;
        assert_eq!((bad.status, bad.error_fields()), (422, vec!["ends_on".to_string()]), "{}", bad.text);
        let bad = app.patch(&format!("/api/v1/marketing-campaigns/{id}"), json!({"budget": -1})).await;
        assert_eq!(bad.error_fields(), vec!["budget".to_string()], "{}", bad.text);
        let bad = app.patch(&format!("/api/v1/marketing-campaigns/{id}"), json!({"owner_id": 999})).await;
        assert_eq!(bad.error_fields(), vec!["owner_id".to_string()], "{}", bad.text);
        let bad = app.post("/api/v1/marketing-campaigns", json!({"name": "No code"})).await;
        assert_eq!(bad.error_fields(), vec!["code".to_string()], "{}", bad.text);
        let bad = app.post("/api/v1/marketing-campaigns", json!({"name": "X", "code": "x", "colour": "red"})).await;
        assert_eq!(bad.error_fields(), vec!["colour".to_string()], "{}", bad.text);

        // A partial change keeps the rest; null clears.
        let r = app.patch(&format!("/api/v1/marketing-campaigns/{id}"), json!({"name": "Tết Đinh Mùi", "ends_on": null})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.json["name"].as_str(), r.json["code"].as_str(), r.json["ends_on"].is_null()), (Some("Tết Đinh Mùi"), Some("tet-2027"), true));
        figure(&r.json["budget"], Some(50_000_000.0), "budget");
        let second = marketing_campaign(app, json!({"name": "Hè", "code": "he_2027"})).await;
        let list = app.get("/api/v1/marketing-campaigns").await.json;
        let codes: Vec<_> = list["items"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["tet-2027", "he_2027"]);

        // Another workspace sees none of it.
        let other = app.other_workspace_key("other").await;
        let foreign = app.request(reqwest::Method::GET, &format!("/api/v1/marketing-campaigns/{id}"), Some(&other), None).await;
        assert_eq!(foreign.status, 404);

        assert_eq!(app.delete(&format!("/api/v1/marketing-campaigns/{second}")).await.status, 204);
        assert_eq!(app.get(&format!("/api/v1/marketing-campaigns/{second}")).await.status, 404);
    }
}

app_test! {
    async fn a_marketing_campaign_rolls_up_its_broadcasts_sends_opens_clicks_and_attributed_visits(app: &TestApp) {
        for email in ["an@example.com", "binh@example.com", "chi@example.com"] {
            let r = app.post("/api/v1/contacts", json!({"email": email, "tags": ["tet"]})).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let t = app.post("/api/v1/templates", json!({
            "name": "Tết", "channel": "email", "subject": "Tết đến rồi",
            "html": "<p>Ưu đãi: <a href=\"https://shop.example.vn/tet\">xem ngay</a></p>"
        })).await;
        assert_eq!(t.status, 201, "{}", t.text);
        let b = app.post("/api/v1/broadcasts", json!({
            "name": "Tết 2027", "template_id": t.json["id"], "audience": {"filter": "has tag \"tet\""}
        })).await;
        assert_eq!(b.status, 201, "{}", b.text);
        let bid = b.json["id"].as_i64().unwrap();
        // A broadcast outside the marketing campaign does not count.
        let t2 = app.post("/api/v1/templates", json!({
            "name": "Khác", "channel": "email", "subject": "Tin khác",
            "html": "<p><a href=\"https://shop.example.vn/\">xem</a></p>"
        })).await;
        let outside = app.post("/api/v1/broadcasts", json!({
            "name": "Khác", "template_id": t2.json["id"], "audience": {"filter": "has tag \"tet\""}
        })).await.json["id"].as_i64().unwrap();

        let mc = marketing_campaign(app, json!({"name": "Tết 2027", "code": "tet2027", "budget": 1000000})).await;
        let r = app.put(&format!("/api/v1/marketing-campaigns/{mc}/broadcasts/{bid}"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["members"]["broadcasts"], json!([bid]));
        assert_eq!(app.put(&format!("/api/v1/marketing-campaigns/{mc}/broadcasts/999999"), json!({})).await.status, 404);
        assert_eq!(app.put(&format!("/api/v1/marketing-campaigns/{mc}/posters/{bid}"), json!({})).await.status, 404);

        for id in [bid, outside] {
            let r = app.post(&format!("/api/v1/broadcasts/{id}/send"), json!({})).await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let mut outbox = Vec::new();
        for _ in 0..200 {
            outbox = app.get("/api/v1/outbox?limit=100").await.json["items"].as_array().cloned().unwrap_or_default();
            let done = app.get(&format!("/api/v1/broadcasts/{bid}/stats")).await.json["state"] == "sent"
                && app.get(&format!("/api/v1/broadcasts/{outside}/stats")).await.json["state"] == "sent";
            if done && outbox.len() == 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(outbox.len(), 6, "both broadcasts went out");

        // Messages of the marketing campaign's broadcast: An opens and
        // clicks, Bình opens twice, Chi's only open comes from a scanner.
        // Every message of the other broadcast is opened and clicked.
        let pixel_marker = format!("http://{}/t/o/", app.addr);
        let click_marker = format!("http://{}/t/c/", app.addr);
        let person = "Mozilla/5.0 (Macintosh) AppleWebKit Thunderbird";
        let scanner = "Mozilla/5.0 (via ggpht.com GoogleImageProxy)";
        for m in &outbox {
            let raw = m["raw"].as_str().unwrap().replace("=\r\n", "").replace("=3D", "=");
            let (pixel, click) = (link_in(&raw, &pixel_marker), link_in(&raw, &click_marker));
            let get = |url: &str, ua: &str| app.client.get(url).header("User-Agent", ua).send();
            let actions: &[(&str, &str)] = match (m["subject"].as_str().unwrap(), m["recipient"].as_str().unwrap()) {
                ("Tin khác", _) => &[("open", person), ("click", person)],
                (_, "an@example.com") => &[("open", person), ("click", person)],
                (_, "binh@example.com") => &[("open", person), ("open", person)],
                _ => &[("open", scanner)],
            };
            for (what, ua) in actions {
                let url = if *what == "open" { &pixel } else { &click };
                let status = get(url, ua).await.unwrap().status().as_u16();
                assert!(status == 200 || status == 303, "{what}: {status}");
            }
        }

        // Visits that carry the code, and one that carries another.
        let r = app.post("/api/v1/events", json!([
            {"event": "page_view", "contact": {"email": "an@example.com"}, "properties": {"url": "https://shop.example.vn/tet", "utm_campaign": "tet2027"}},
            {"event": "page_view", "contact": {"email": "an@example.com"}, "properties": {"url": "https://shop.example.vn/tet/ao-dai", "utm_campaign": "tet2027"}},
            {"event": "page_view", "contact": {"email": "moi@example.com"}, "properties": {"url": "https://shop.example.vn/", "pk_campaign": "tet2027"}},
            {"event": "add_to_cart", "contact": {"email": "moi@example.com"}, "properties": {"sku": "AD-1", "utm_campaign": "tet2027"}},
            {"event": "page_view", "contact": {"email": "binh@example.com"}, "properties": {"utm_campaign": "he2027"}},
            {"event": "page_view", "contact": {"email": "binh@example.com"}, "properties": {"utm_campaign": "TET2027"}}
        ])).await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);

        let rep = app.get(&format!("/api/v1/marketing-campaigns/{mc}/report")).await;
        assert_eq!(rep.status, 200, "{}", rep.text);
        let rep = rep.json;
        // By hand: 3 messages sent; opened by a person: An, Bình (Chi's
        // only open was a scanner's) = 2; clicked: An = 1.
        assert_eq!((rep["messages"].as_i64(), rep["sent"].as_i64(), rep["opened"].as_i64(), rep["clicked"].as_i64()),
            (Some(3), Some(3), Some(2), Some(1)), "{rep}");
        figure(&rep["open_rate"], Some(2.0 / 3.0), "open rate");
        figure(&rep["click_rate"], Some(1.0 / 3.0), "click rate");
        // Events carrying the code exactly: 2 + 1 page views and 1 cart
        // event, from An and the new visitor.
        assert_eq!((rep["attributed_events"].as_i64(), rep["visits"].as_i64(), rep["visitors"].as_i64()), (Some(4), Some(3), Some(2)), "{rep}");
        // No leads, no spend: every ratio over them is null, not 0.
        assert_eq!((rep["leads"].as_i64(), rep["won"].as_i64()), (Some(0), Some(0)));
        figure(&rep["spend"], Some(0.0), "spend");
        figure(&rep["roi"], None, "roi");
        figure(&rep["cost_per_lead"], None, "cost per lead");
        figure(&rep["budget_used"], Some(0.0), "budget used");

        // Taken out again, the broadcast no longer counts.
        let r = app.delete(&format!("/api/v1/marketing-campaigns/{mc}/broadcasts/{bid}")).await;
        assert_eq!(r.json["members"]["broadcasts"], json!([]));
        let rep = app.get(&format!("/api/v1/marketing-campaigns/{mc}/report")).await.json;
        assert_eq!((rep["messages"].as_i64(), rep["opened"].as_i64()), (Some(0), Some(0)));
        figure(&rep["open_rate"], None, "open rate with nothing sent");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_reports_and_marketing_routes() {
    let spec: Value = serde_json::from_str(swell_web::api::OPENAPI_JSON).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/ads/metrics",
        "/reports/ads",
        "/reports/reps",
        "/marketing-campaigns",
        "/marketing-campaigns/{id}",
        "/marketing-campaigns/{id}/report",
        "/marketing-campaigns/{id}/{kind}/{member_id}",
    ] {
        assert!(paths.contains_key(route), "{route} is not in openapi.json");
    }
}

app_test! {
    async fn an_automated_campaign_named_in_its_body_counts_its_messages_and_their_cost(app: &TestApp) {
        let mc = marketing_campaign(app, json!({"name": "Chào mừng", "code": "welcome", "budget": 4000})).await;
        let r = app.put("/api/v1/channels/email", json!({"unit_cost": 500, "currency": "VND"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let t = app.post("/api/v1/templates", json!({
            "name": "Chào", "channel": "email", "subject": "Chào bạn",
            "html": "<p>Chào <a href=\"https://shop.example.vn/\">ghé shop</a></p>"
        })).await;
        for email in ["an@example.vn", "binh@example.vn"] {
            app.post("/api/v1/contacts", json!({"email": email, "tags": ["moi"]})).await;
        }
        let bad = app.post("/api/v1/campaigns", json!({
            "name": "X", "filter": "has tag \"moi\"", "marketing_campaign_id": 999999,
            "activities": [{"name": "Mail", "kind": "email", "config": {"template_id": t.json["id"]}}]
        })).await;
        assert_eq!((bad.status, bad.error_fields()), (422, vec!["marketing_campaign_id".to_string()]), "{}", bad.text);
        let c = app.post("/api/v1/campaigns", json!({
            "name": "Welcome", "filter": "has tag \"moi\"", "marketing_campaign_id": mc,
            "activities": [{"name": "Mail", "kind": "email", "config": {"template_id": t.json["id"]}}]
        })).await;
        assert_eq!(c.status, 201, "{}", c.text);
        let cid = c.json["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/campaigns/{cid}/launch"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.settle_campaigns().await;

        let got = app.get(&format!("/api/v1/marketing-campaigns/{mc}")).await.json;
        assert_eq!(got["members"]["campaigns"], json!([cid]));
        let rep = app.get(&format!("/api/v1/marketing-campaigns/{mc}/report")).await.json;
        // Two e-mails at 500 each: 1,000 spent of a 4,000 budget; nothing
        // won yet, so ROI is -100%.
        assert_eq!((rep["messages"].as_i64(), rep["sent"].as_i64(), rep["opened"].as_i64()), (Some(2), Some(2), Some(0)), "{rep}");
        figure(&rep["message_cost"], Some(1000.0), "message cost");
        figure(&rep["spend"], Some(1000.0), "spend");
        figure(&rep["budget_used"], Some(0.25), "budget used");
        figure(&rep["roi"], Some(-1.0), "roi");
        figure(&rep["cost_per_lead"], None, "cost per lead");
    }
}

app_test! {
    async fn ad_metrics_rows_that_do_not_read_are_reported_by_row_column_and_reason(app: &TestApp) {
        let r = app.post("/api/v1/ads/metrics", json!([
            {"date": "2026-11-31", "ad_id": 1, "spend": 10},
            {"date": "2026-11-01", "ad_id": 424242, "spend": 10},
            {"date": "2026-11-01", "account_id": "act_9", "campaign": "Tết", "ad": "Không có", "spend": 10},
            {"date": "2026-11-01", "ad_id": 1, "account_id": "act_9", "campaign": "Tết", "ad": "A"},
            {"date": "2026-11-01", "account_id": "act_9", "ad": "A"},
            {"date": "2026-11-01", "ad_id": 1, "spend": -5},
            {"date": "2026-11-01", "ad_id": 1, "clicks": 2.5},
            {"date": "2026-11-01", "ad_id": 1, "cost": 3},
            "not a row"
        ])).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.json["created"].as_i64(), r.json["failed"].as_i64()), (Some(0), Some(9)), "{}", r.text);
        let errors: Vec<(i64, Value)> = r.json["errors"].as_array().unwrap().iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["column"].clone())).collect();
        assert_eq!(errors, vec![
            (1, json!("date")), (2, json!("ad_id")), (3, json!("ad")), (4, json!("ad_id")), (5, json!("campaign")),
            (6, json!("spend")), (7, json!("clicks")), (8, json!("cost")), (9, Value::Null),
        ]);
        assert!(r.json["errors"][2]["reason"].as_str().unwrap().contains("never create"), "{}", r.text);

        // CSV: the same report, rows counted as lines; an unknown column
        // refuses the file.
        let csv = app.post_csv("/api/v1/ads/metrics", "date,ad_id,spend\n2026-11-01,424242,5\nyesterday,1,5\n").await;
        assert_eq!(csv.status, 200, "{}", csv.text);
        let rows: Vec<i64> = csv.json["errors"].as_array().unwrap().iter().map(|e| e["row"].as_i64().unwrap()).collect();
        assert_eq!(rows, vec![2, 3]);
        let bad = app.post_csv("/api/v1/ads/metrics", "date,ad_id,cost\n2026-11-01,1,5\n").await;
        assert_eq!((bad.status, bad.error_fields()), (422, vec!["header".to_string()]), "{}", bad.text);
        let bad = app.post("/api/v1/ads/metrics", json!("rows")).await;
        assert_eq!(bad.status, 400, "{}", bad.text);
    }
}
