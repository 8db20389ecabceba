//! The automated campaign, marketing campaign and report pages over plain
//! HTTP, on SQLite and PostgreSQL: what each page shows after real work
//! through the API and the engine, and that the app's script calls need
//! the session's CSRF token.

use reqwest::Method;
use serde_json::{Value, json};
use swell_tests::ui::Session;
use swell_tests::{TestApp, app_test};

async fn contact(app: &TestApp, email: &str) -> i64 {
    let r = app
        .post("/api/v1/contacts", json!({"email": email, "tags": ["moi"]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

async fn email_template(app: &TestApp) -> i64 {
    let t = app
        .post(
            "/api/v1/templates",
            json!({
                "name": "Chào", "channel": "email", "subject": "Chào bạn",
                "html": "<p>Chào <a href=\"https://shop.example.vn/\">ghé shop</a></p>"
            }),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    t.json["id"].as_i64().unwrap()
}

/// The welcome-flow card's call, as app.js makes it: with or without the
/// session's CSRF token.
async fn welcome_flow(app: &TestApp, s: &Session, csrf: bool) -> (u16, Value) {
    app.ui_api(
        s,
        Method::POST,
        "/api/v1/campaigns/templates/welcome-flow",
        json!({}),
        csrf,
    )
    .await
}

/// A call of the page scripts' kind, with the session's CSRF token.
async fn call(app: &TestApp, s: &Session, method: Method, path: &str, body: Value) -> (u16, Value) {
    app.ui_api(s, method, path, body, true).await
}

/// A page's body, asserting it rendered.
async fn page(app: &TestApp, s: &Session, path: &str) -> String {
    let (status, body) = app.ui_get(s, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The HTML of the element with this id, up to the next element of the
/// same id prefix or the end: enough to look for figures inside it.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    &html[at..]
}

app_test!(
    async fn an_empty_campaigns_page_offers_six_templates_and_a_click_makes_one(app: &TestApp) {
        let s = app.signed_in("marketer").await;
        let body = page(app, &s, "/campaigns").await;
        assert!(body.contains("id=\"campaigns-empty\""), "{body}");
        for (slug, name) in [
            ("tag-hot-contacts", "Gắn thẻ khách hàng tiềm năng"),
            ("welcome-flow", "Chuỗi chào mừng"),
            ("double-opt-in", "Xác nhận đăng ký hai bước"),
            ("commercial-prospection", "Tiếp cận thương mại"),
            ("schedule-calls", "Lên lịch gọi điện"),
            ("priority-hot-leads", "Ưu tiên khách nóng"),
        ] {
            assert!(
                body.contains(&format!(
                    "data-api-url=\"/api/v1/campaigns/templates/{slug}\""
                )) && body.contains(name),
                "card {slug}"
            );
        }

        // The card's call, as app.js makes it; without the token, refused.
        let (status, _) = welcome_flow(app, &s, false).await;
        assert_eq!(status, 401, "a session's call without its CSRF token");
        assert!(
            app.store()
                .campaigns(app.workspace.id)
                .await
                .unwrap()
                .is_empty()
        );
        let (status, made) = welcome_flow(app, &s, true).await;
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_i64().unwrap();

        let body = page(app, &s, "/campaigns").await;
        assert!(!body.contains("id=\"campaigns-empty\""));
        assert!(
            body.contains(&format!("href=\"/campaigns/{id}\""))
                && body.contains("Welcome Flow")
                && body.contains("Khi tạo bản ghi"),
            "{body}"
        );
        // The template's tree: three steps, two of them under the first.
        let body = page(app, &s, &format!("/campaigns/{id}")).await;
        assert_eq!(body.matches("class=\"node\"").count(), 3, "{body}");
        assert_eq!(body.matches("data-depth=\"1\"").count(), 2);
        assert!(body.contains("Đã mở email") && body.contains("Chưa mở email"));
        // The page loads its estimate after it shows; no filter: the
        // estimate counts everyone (here, no one).
        assert!(body.contains(&format!("hx-get=\"/campaigns/{id}/estimate\"")));
        let estimate = page(app, &s, &format!("/campaigns/{id}/estimate")).await;
        assert!(
            estimate.contains("id=\"estimate-audience\">0<"),
            "{estimate}"
        );
    }
);

app_test!(
    async fn a_campaign_page_shows_tree_estimate_figures_and_test_runs(app: &TestApp) {
        let r = app
            .put(
                "/api/v1/channels/email",
                json!({"unit_cost": 500, "currency": "VND"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let t = email_template(app).await;
        contact(app, "an@example.vn").await;
        contact(app, "binh@example.vn").await;
        let c = app
            .post(
                "/api/v1/campaigns",
                json!({
                    "name": "Chào khách mới", "filter": "has tag \"moi\"",
                    "activities": [{"name": "Thư chào", "kind": "email", "config": {"template_id": t},
                        "children": [{"name": "Gắn thẻ đã mở", "kind": "action", "trigger": "opened", "delay": "1d",
                            "config": {"action": "add_tag", "tag": "da-mo"}}]}]
                }),
            )
            .await;
        assert_eq!(c.status, 201, "{}", c.text);
        let id = c.json["id"].as_i64().unwrap();
        let acts = app
            .get(&format!("/api/v1/campaigns/{id}/activities"))
            .await
            .json;
        let child = acts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["parent_id"].is_i64())
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let s = app.signed_in("marketer").await;

        // Before launch: the tree and the cost of two e-mails at 500.
        let body = page(app, &s, &format!("/campaigns/{id}")).await;
        assert!(body.contains("data-state=\"draft\"") && body.contains("id=\"campaign-launch\""));
        let child_node = section(&body, &format!("activity-{child}"));
        assert!(child_node.contains("data-depth=\"1\"") && child_node.contains("Gắn thẻ đã mở"));
        assert!(child_node.contains("Đã mở email · sau 1d"), "{child_node}");
        let estimate = page(app, &s, &format!("/campaigns/{id}/estimate")).await;
        assert!(
            estimate.contains("id=\"estimate-audience\">2<"),
            "{estimate}"
        );
        assert!(estimate.contains("2 tin · 1.000 ₫"), "{estimate}");
        assert!(estimate.contains("<strong>1.000 ₫</strong>"));

        // Launched and run: both e-mails went out, both wait for an open.
        let (status, _) = call(
            app,
            &s,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/launch"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        app.settle_campaigns().await;
        let body = page(app, &s, &format!("/campaigns/{id}")).await;
        assert!(body.contains("data-state=\"running\"") && body.contains("id=\"campaign-stop\""));
        let root = section(&body, "workflow");
        assert!(root.contains("class=\"fig-processed\">2<"), "{root}");
        let child_node = section(&body, &format!("activity-{child}"));
        assert!(
            child_node.contains("class=\"fig-scheduled\">2<"),
            "{child_node}"
        );

        let participants = page(app, &s, &format!("/campaigns/{id}/participants")).await;
        assert_eq!(
            participants.matches("data-state=\"running\"").count(),
            2,
            "{participants}"
        );
        let traces = page(app, &s, &format!("/campaigns/{id}/traces?activity={child}")).await;
        assert_eq!(
            traces.matches("data-state=\"waiting\"").count(),
            2,
            "{traces}"
        );
        assert!(!traces.contains("Thư chào</a>"), "filtered to the child");

        // Test mode: a new record, stepped through by hand.
        let chi = contact(app, "chi@example.vn").await;
        let (status, entered) = call(
            app,
            &s,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/test"),
            json!({"records": [chi]}),
        )
        .await;
        assert_eq!(status, 201, "{entered}");
        let body = page(app, &s, &format!("/campaigns/{id}")).await;
        let p = entered["participants"][0]["id"]
            .as_i64()
            .or_else(|| entered["participants"][0].as_i64())
            .unwrap_or_else(|| panic!("participant id in {entered}"));
        let test = section(&body, &format!("test-participant-{p}"));
        assert!(test.contains("Chạy bước tiếp theo"), "{test}");
        let (status, _) = call(
            app,
            &s,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/participants/{p}/step"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        let body = page(app, &s, &format!("/campaigns/{id}")).await;
        let test = section(&body, &format!("test-participant-{p}"));
        assert!(
            test.contains("simulate-open"),
            "the e-mail step sent a message: {test}"
        );
        let sent: Vec<Value> = app
            .get(&format!("/api/v1/campaigns/{id}/traces?participant={p}"))
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .clone();
        let mail = sent.iter().find(|t| t["message_id"].is_i64()).unwrap()["id"]
            .as_i64()
            .unwrap();
        let (status, _) = call(
            app,
            &s,
            Method::POST,
            &format!("/api/v1/traces/{mail}/simulate"),
            json!({"action": "open"}),
        )
        .await;
        assert_eq!(status, 200);
        call(
            app,
            &s,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/participants/{p}/step"),
            json!({}),
        )
        .await;
        let chi_now = app.get(&format!("/api/v1/contacts/{chi}")).await.json;
        assert!(
            chi_now["tags"]
                .as_array()
                .unwrap()
                .contains(&json!("da-mo")),
            "the opened branch ran: {chi_now}"
        );
        // Test runs stay out of the figures.
        let body = page(app, &s, &format!("/campaigns/{id}")).await;
        assert!(section(&body, "workflow").contains("class=\"fig-processed\">2<"));
    }
);

/// One activity's part of the tree: its node, up to the next node.
fn node<'a>(html: &'a str, id: i64) -> &'a str {
    let rest = section(html, &format!("activity-{id}"));
    let end = rest[1..]
        .find("<li class=\"node\"")
        .or_else(|| rest.find("</ol>"))
        .unwrap_or(rest.len());
    &rest[..end]
}

app_test!(
    async fn a_step_form_shows_its_settings_in_fields_or_as_json_if_they_do_not_fit(app: &TestApp) {
        let c = app
            .post(
                "/api/v1/campaigns",
                json!({"name": "Chia đôi", "activities": [
                    {"name": "Chia", "kind": "split", "children": [
                        {"name": "Nhánh A", "kind": "action", "share": 70,
                            "config": {"action": "add_score", "points": 5}},
                        {"name": "Nhánh B", "kind": "action", "share": 30,
                            "config": {"action": "assign_owner", "owners": ["a@shop.vn", "b@shop.vn"]}}]}]}),
            )
            .await;
        assert_eq!(c.status, 201, "{}", c.text);
        let id = c.json["id"].as_i64().unwrap();
        let acts = app
            .get(&format!("/api/v1/campaigns/{id}/activities"))
            .await
            .json["items"]
            .clone();
        let id_of = |name: &str| {
            acts.as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == name)
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        };
        let s = app.signed_in("marketer").await;
        let body = page(app, &s, &format!("/campaigns/{id}")).await;

        // A score step: its fields, with its action, points and share.
        let a = node(&body, id_of("Nhánh A"));
        assert!(a.contains("<option value=\"fields\" selected>"), "{a}");
        assert!(a.contains("<option value=\"add_score\" selected>"), "{a}");
        assert!(
            a.contains("value=\"5\" placeholder=\"10\" class=\"act-points\""),
            "{a}"
        );
        assert!(
            a.contains("value=\"70\" placeholder=\"50\" size=\"5\" class=\"act-share\""),
            "{a}"
        );
        // Several owners in turn: more than the owner select holds, so JSON.
        let b = node(&body, id_of("Nhánh B"));
        assert!(b.contains("<option value=\"json\" selected>"), "{b}");
        assert!(b.contains("b@shop.vn"), "{b}");
        // A step under the split takes a share; the split itself does not.
        let split = node(&body, id_of("Chia"));
        assert_eq!(split.matches("class=\"act-share\"").count(), 1, "{split}");
        assert!(split.contains("Chia nhánh A/B"));
    }
);

app_test!(
    async fn a_marketing_campaign_page_rolls_up_its_automated_campaign(app: &TestApp) {
        let s = app.signed_in("marketer").await;
        let (status, mc) = call(
            app,
            &s,
            Method::POST,
            "/api/v1/marketing-campaigns",
            json!({"name": "Chào mừng 2027", "code": "welcome-2027", "budget": 4000}),
        )
        .await;
        assert_eq!(status, 201, "{mc}");
        let mc = mc["id"].as_i64().unwrap();
        app.put(
            "/api/v1/channels/email",
            json!({"unit_cost": 500, "currency": "VND"}),
        )
        .await;
        let t = email_template(app).await;
        contact(app, "an@example.vn").await;
        contact(app, "binh@example.vn").await;
        let c = app
            .post(
                "/api/v1/campaigns",
                json!({"name": "Thư chào mừng", "filter": "has tag \"moi\"",
                    "activities": [{"name": "Mail", "kind": "email", "config": {"template_id": t}}]}),
            )
            .await;
        let cid = c.json["id"].as_i64().unwrap();
        // Attached from the page's form call.
        let (status, _) = call(
            app,
            &s,
            Method::PUT,
            &format!("/api/v1/marketing-campaigns/{mc}/campaigns/{cid}"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        app.post(&format!("/api/v1/campaigns/{cid}/launch"), json!({}))
            .await;
        app.settle_campaigns().await;

        let list = page(app, &s, "/marketing").await;
        assert!(list.contains("welcome-2027") && list.contains(&format!("/marketing/{mc}")));
        let body = page(app, &s, &format!("/marketing/{mc}")).await;
        // Two e-mails at 500: 1.000 ₫ of a 4.000 ₫ budget, ROI -100%.
        assert!(body.contains("id=\"r-sent\">2<"), "{body}");
        assert!(body.contains("id=\"r-spend\">1.000 ₫<"));
        assert!(body.contains("id=\"r-budget-used\">25,0%<"));
        assert!(body.contains("id=\"r-roi\">-100,0%<"));
        assert!(
            body.contains("id=\"r-cpl\">—<"),
            "no leads: no cost per lead"
        );
        let members = section(&body, "member-campaigns");
        assert!(members.contains("Thư chào mừng"), "{members}");

        // In English the same figures read the English way.
        let en = app.ui_get_lang(&s, &format!("/marketing/{mc}"), "en").await;
        assert!(en.contains("Roll-up report") && en.contains("id=\"r-budget-used\">25.0%<"));
    }
);

app_test!(
    async fn the_ads_and_reps_reports_show_the_range_and_every_rep(app: &TestApp) {
        let (rep_email, _) = app.create_user("sales").await;
        let s = app.signed_in("admin").await;
        let body = page(
            app,
            &s,
            "/reports/ads?from=2026-11-01&to=2026-11-30&by=campaign",
        )
        .await;
        assert!(body.contains("value=\"2026-11-01\"") && body.contains("value=\"2026-11-30\""));
        assert!(
            body.contains("<option value=\"campaign\" selected>"),
            "{body}"
        );
        assert!(body.contains("id=\"report-empty\""), "no ads, no rows");
        let (status, _) = app.ui_get(&s, "/reports/ads?from=2026-11-31").await;
        assert_eq!(status, 422, "a date that does not exist");

        let reps = page(app, &s, "/reports/reps?from=2026-11-01&to=2026-11-30").await;
        let table = section(&reps, "reps-report");
        assert!(
            table.contains(&rep_email),
            "every sales rep is listed: {table}"
        );
    }
);

app_test!(
    async fn a_sales_rep_is_refused_the_campaign_and_report_pages_and_their_api(app: &TestApp) {
        let s = app.signed_in("sales").await;
        for path in ["/campaigns", "/marketing", "/reports/ads", "/reports/reps"] {
            assert_eq!(app.ui_get(&s, path).await.0, 403, "{path}");
        }
        let (status, _) = welcome_flow(app, &s, true).await;
        assert_eq!(
            status, 403,
            "the API refuses a sales rep's session on marketers' routes"
        );
        assert!(
            app.store()
                .campaigns(app.workspace.id)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

app_test!(
    async fn settings_say_messages_go_to_the_outbox_without_a_relay(app: &TestApp) {
        let s = app.signed_in("admin").await;
        let body = page(app, &s, "/settings").await;
        assert!(body.contains("id=\"smtp-outbox\""), "no relay: the outbox");
    }
);

/// An admin sees each relay the server sends through, its password only as
/// "set".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_lists_smtp_relays_and_hides_their_passwords() {
    let relay = swell_channels::SmtpServer {
        name: "ses-ap".into(),
        host: "email-smtp.ap-southeast-1.amazonaws.com".into(),
        port: 587,
        tls: swell_channels::Tls::StartTls,
        accept_invalid_certs: false,
        username: Some("AKIA-SWELL".into()),
        password: Some(swell_channels::smtp::Password::new("very-secret-pass")),
        weight: 3,
        max_connections: 8,
        rate_per_second: Some(14),
    };
    let app = TestApp::start_with(swell_tests::Backend::Sqlite, Some(vec![relay])).await;
    let s = app.signed_in("admin").await;
    let body = page(&app, &s, "/settings").await;
    let relays = section(&body, "smtp-relays");
    for shown in [
        "ses-ap",
        "email-smtp.ap-southeast-1.amazonaws.com:587",
        "STARTTLS",
        "AKIA-SWELL",
        "đã đặt",
        "14/s",
    ] {
        assert!(relays.contains(shown), "{shown} in {relays}");
    }
    assert!(!body.contains("very-secret-pass"));
}
