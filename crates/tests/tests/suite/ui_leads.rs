//! The leads board, the assignment rules page and the ads page: what a
//! sales rep and a marketer each see and may do, over HTTP on both
//! backends, and a rep working a lead in headless Chromium.

use serde_json::{Value, json};
use swell_tests::browser::Browser;
use swell_tests::ui::Session;
use swell_tests::{Backend, TestApp, app_test};

/// A sales rep who can sign in: their id, e-mail and password.
async fn rep(app: &TestApp) -> (i64, String, String) {
    let (email, password) = app.create_user("sales").await;
    let id = app
        .store()
        .user_by_email(app.workspace.id, &email)
        .await
        .expect("the rep")
        .id;
    (id, email, password)
}

/// A lead from an ad, given to `owner` by hand; returns its id.
async fn lead_for(app: &TestApp, name: &str, phone: &str, owner: i64) -> i64 {
    let r = app
        .post(
            "/api/v1/leads",
            json!({"name": name, "phone": phone, "product": "Áo dài lụa",
                   "account_id": "act_1", "campaign": "Tết", "ad": "Video 15s"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["lead"]["id"].as_i64().expect("lead id");
    let r = app
        .post(
            &format!("/api/v1/leads/{id}/assign"),
            json!({"user_id": owner}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

/// A JSON call from the app's own scripts: the session and its CSRF token.
async fn script_call(app: &TestApp, s: &Session, method: &str, path: &str, body: Value) -> u16 {
    app.client
        .request(method.parse().unwrap(), app.url(path))
        .header("cookie", format!("swell_session={}", s.cookie))
        .header("x-csrf-token", &s.csrf)
        .json(&body)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

app_test!(
    async fn a_sales_rep_sees_and_moves_only_their_own_leads(app: &TestApp) {
        let (me, email, password) = rep(app).await;
        let (other, _, _) = rep(app).await;
        let mine = lead_for(app, "Nguyễn Thị Mai", "0912000101", me).await;
        let theirs = lead_for(app, "Trần Văn Khoa", "0912000102", other).await;
        let s = app.sign_in(&email, &password).await;

        let (status, board) = app.ui_get(&s, "/leads").await;
        assert_eq!(status, 200);
        assert!(board.contains("Nguyễn Thị Mai"), "{board}");
        assert!(!board.contains("Trần Văn Khoa"), "another rep's lead shows");
        assert!(board.contains("tel:+84912000101"), "a call link: {board}");
        assert!(board.contains(r#"data-move="contacted""#));
        assert_eq!(app.ui_get(&s, &format!("/leads/{theirs}")).await.0, 404);
        assert_eq!(app.ui_get(&s, "/ads").await.0, 403);
        assert_eq!(app.ui_get(&s, "/leads/rules").await.0, 403);

        // The board's buttons call the API with the session.
        let path = format!("/api/v1/leads/{mine}");
        assert_eq!(
            script_call(app, &s, "PATCH", &path, json!({"status": "contacted"})).await,
            200
        );
        let other_path = format!("/api/v1/leads/{theirs}");
        assert_eq!(
            script_call(
                app,
                &s,
                "PATCH",
                &other_path,
                json!({"status": "contacted"})
            )
            .await,
            404
        );
        let notes = format!("/api/v1/leads/{mine}/notes");
        assert_eq!(
            script_call(
                app,
                &s,
                "POST",
                &notes,
                json!({"kind": "call", "text": "Hẹn thứ Bảy"})
            )
            .await,
            201
        );

        let (_, detail) = app.ui_get(&s, &format!("/leads/{mine}")).await;
        assert!(detail.contains("Hẹn thứ Bảy"), "{detail}");
        assert!(detail.contains("mới → đã liên hệ"), "{detail}");
        assert!(
            detail.contains("Tết › Video 15s"),
            "the lead's ad: {detail}"
        );
        let (_, board) = app.ui_get(&s, "/leads").await;
        let contacted = &board[board.find(r#"id="col-contacted""#).unwrap()..];
        assert!(contacted.contains("Nguyễn Thị Mai"), "{board}");
        // Still untouched: the other rep's lead.
        let theirs = app.get(&other_path).await;
        assert_eq!(theirs.json["status"], "new", "{}", theirs.text);
    }
);

app_test!(
    async fn a_marketer_sees_every_rep_and_the_ads_and_rules(app: &TestApp) {
        let (a, _, _) = rep(app).await;
        let (b, _, _) = rep(app).await;
        lead_for(app, "Lê Minh Anh", "0912000201", a).await;
        lead_for(app, "Phạm Văn Bình", "0912000202", b).await;
        let r = app
            .post(
                "/api/v1/assignment-rules",
                json!({"name": "Hà Nội trước", "strategy": "round_robin", "reps": [a, b],
                       "filter": "region = \"Hà Nội\"", "reassign_after_minutes": 30}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let s = app.signed_in("marketer").await;

        let (status, board) = app.ui_get(&s, "/leads").await;
        assert_eq!(status, 200);
        assert!(board.contains("Lê Minh Anh") && board.contains("Phạm Văn Bình"));
        let (_, only_a) = app.ui_get(&s, &format!("/leads?owner={a}")).await;
        assert!(only_a.contains("Lê Minh Anh") && !only_a.contains("Phạm Văn Bình"));

        let (status, ads) = app.ui_get(&s, "/ads").await;
        assert_eq!(status, 200);
        assert!(ads.contains("act_1") && ads.contains("Tết") && ads.contains("Video 15s"));
        let row = &ads[ads.find("Video 15s").unwrap()..];
        assert!(
            row.contains(r#"<td class="num">2</td>"#),
            "two leads: {row}"
        );

        // Spend on the ad today: the report divides it by the two leads.
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap())
            .date()
            .to_string();
        let r = app
            .post(
                "/api/v1/ads/metrics",
                json!([{"date": today, "account_id": "act_1", "campaign": "Tết", "ad": "Video 15s",
                        "spend": 400000, "impressions": 9000, "clicks": 120}]),
            )
            .await;
        assert!(r.status < 300, "{}", r.text);
        let (status, report) = app
            .ui_get(&s, &format!("/reports/ads?from={today}&to={today}"))
            .await;
        assert_eq!(status, 200);
        let row = &report[report.find("Video 15s").expect("the ad's row")..];
        assert!(row.contains("400.000 ₫"), "spend: {row}");
        assert!(row.contains("200.000 ₫"), "cost per lead: {row}");
        assert!(row.contains("9.000"), "impressions: {row}");

        let (status, rules) = app.ui_get(&s, "/leads/rules").await;
        assert_eq!(status, 200);
        assert!(rules.contains("Hà Nội trước"), "{rules}");
        assert!(rules.contains("region = &#34;Hà Nội&#34;"), "{rules}");
        assert!(rules.contains("30 phút"), "reassigned after: {rules}");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_rep_works_a_lead_in_the_browser() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (me, email, password) = rep(&app).await;
    let id = lead_for(&app, "Võ Thị Hạnh", "0912000301", me).await;
    let order = app
        .post(
            "/api/v1/records/order",
            json!({"external_id": "SO-7001", "total": 2500000, "currency": "VND", "status": "paid"}),
        )
        .await;
    assert!(order.status < 300, "{}", order.text);
    let b = Browser::start(&app.url("")).await;
    b.sign_in(&email, &password).await;

    b.open("/leads").await;
    b.wait_text("#col-new", |t| t.contains("Võ Thị Hạnh")).await;
    b.screenshot("leads-board").await;
    b.click(&format!("#lead-{id} button[data-move=\"contacted\"]"))
        .await;
    b.wait_text("#col-contacted", |t| t.contains("Võ Thị Hạnh"))
        .await;
    assert!(!b.text("#col-new").await.contains("Võ Thị Hạnh"));

    b.open(&format!("/leads/{id}")).await;
    b.fill("#note-text", "Khách muốn thử size M").await;
    b.click("#add-note").await;
    b.wait_text("#history", |t| t.contains("Khách muốn thử size M"))
        .await;
    b.fill("#won-order", "SO-7001").await;
    b.click("#mark-won").await;
    b.wait_text("#lead-status", |t| t == "thành công").await;
    b.screenshot("lead-won").await;
    b.quit().await;

    let lead = app.get(&format!("/api/v1/leads/{id}")).await;
    assert_eq!(lead.json["status"], "won", "{}", lead.text);
    assert!(lead.json["order_id"].as_i64().is_some(), "{}", lead.text);
}

/// A marketer sets up assignment in the browser: a rule whose reps are told
/// by e-mail and webhook, and the workspace's duplicate window and its
/// notices for leads given by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketer_sets_rules_and_their_notices_in_the_browser() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (a, _, _) = rep(&app).await;
    let (email, password) = app.create_user("marketer").await;
    let b = Browser::start(&app.url("")).await;
    b.sign_in(&email, &password).await;

    b.open("/leads/rules").await;
    b.fill("#rule-form input[name=name]", "Mọi người").await;
    b.click(&format!("#rule-form input[name=reps][value=\"{a}\"]"))
        .await;
    b.click("#rule-form input[name=\"notify.email\"]").await;
    b.fill(
        "#rule-form input[name=\"notify.webhook\"]",
        "https://crm.shop.vn/hooks/leads",
    )
    .await;
    b.fill("#rule-form input[name=\"notify.secret\"]", "bí mật")
        .await;
    b.click_and_reload("#create-rule").await;
    b.wait_text("#rules", |t| {
        t.contains("Mọi người") && t.contains("qua e-mail") && t.contains("crm.shop.vn")
    })
    .await;

    let days = "#lead-settings input[name=duplicate_window_days]";
    b.fill(days, "14").await;
    b.click("#lead-settings input[name=\"notify.task\"]").await;
    b.click_and_reload("#save-lead-settings").await;
    b.screenshot("lead-rules").await;
    b.quit().await;

    let rules = app.get("/api/v1/assignment-rules").await;
    let rule = &rules.json["items"][0];
    assert_eq!(
        (
            rule["name"].as_str(),
            rule["notify"]["email"].as_bool(),
            rule["notify"]["task"].as_bool(),
            rule["notify"]["webhook"].as_str()
        ),
        (
            Some("Mọi người"),
            Some(true),
            Some(false),
            Some("https://crm.shop.vn/hooks/leads")
        ),
        "{}",
        rules.text
    );
    assert_eq!(rule["reps"][0]["user"].as_i64(), Some(a), "{}", rules.text);
    let settings = app.get("/api/v1/lead-settings").await.json;
    assert_eq!(settings["duplicate_window_days"], 14, "{settings}");
    assert_eq!(
        (
            settings["notify"]["task"].as_bool(),
            settings["notify"]["email"].as_bool()
        ),
        (Some(true), Some(false)),
        "{settings}"
    );
}
