//! A campaign's entry trigger set in a real browser (headless Chromium,
//! SQLite) through the settings form's fields, not JSON: a field going to a
//! value, a monthly schedule, and an inbound webhook whose secret URL the
//! page shows once.

use serde_json::{Value, json};
use swell_tests::browser::Browser;
use swell_tests::{Backend, TestApp};

/// Opens the campaign's settings (folded once it has steps).
async fn open_settings(b: &Browser) {
    b.driver
        .execute(
            "document.getElementById('campaign-settings').open = true;",
            vec![],
        )
        .await
        .expect("open the settings");
}

async fn trigger(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/campaigns/{id}")).await.json["trigger"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_trigger_is_set_from_fields_and_its_webhook_url_is_shown_once() {
    let app = TestApp::start(Backend::Sqlite).await;
    let r = app
        .post(
            "/api/v1/campaigns",
            json!({"name": "Đơn đã giao", "entity": "order"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_i64().unwrap();
    let (email, password) = app.create_user("marketer").await;
    let b = Browser::start(&app.url("")).await;
    b.sign_in(&email, &password).await;
    let form = "#campaign-settings-form";

    // An order whose status goes to delivered.
    b.open(&format!("/campaigns/{id}")).await;
    open_settings(&b).await;
    b.choose("#trigger-kind", "updated").await;
    b.fill(&format!("{form} input[name=\"trigger.fields\"]"), "status")
        .await;
    b.fill(&format!("{form} input[name=\"trigger.to\"]"), "delivered")
        .await;
    b.screenshot("campaign-trigger").await;
    b.click_and_reload("#campaign-save").await;
    assert_eq!(
        trigger(&app, id).await,
        json!({"kind": "updated", "fields": ["status"], "to": "delivered"})
    );
    // The form shows what is stored.
    open_settings(&b).await;
    let to = b
        .find(&format!("{form} input[name=\"trigger.to\"]"))
        .await
        .value()
        .await
        .unwrap();
    assert_eq!(to.as_deref(), Some("delivered"));

    // On the 1st of every month at 08:30 in each person's zone.
    b.choose("#trigger-kind", "recurring").await;
    b.choose(&format!("{form} select[name=\"trigger.every\"]"), "month")
        .await;
    b.fill(&format!("{form} input[name=\"trigger.day\"]"), "1")
        .await;
    let at = b
        .find(&format!(
            "{form} [data-when=\"trigger:recurring\"] input[name=\"trigger.at\"]"
        ))
        .await;
    b.driver
        .execute("arguments[0].value = '08:30';", vec![at.to_json().unwrap()])
        .await
        .unwrap();
    b.click_and_reload("#campaign-save").await;
    assert_eq!(
        trigger(&app, id).await,
        json!({"kind": "recurring", "every": "month", "day": 1, "at": "08:30"})
    );

    // An inbound webhook: the URL is shown once, and it lets a record in.
    open_settings(&b).await;
    b.choose("#trigger-kind", "webhook").await;
    b.click("#campaign-save").await;
    b.wait_text("#hook-url", |t| !t.is_empty()).await;
    let shown = b
        .find("#hook-url input")
        .await
        .value()
        .await
        .unwrap()
        .unwrap_or_default();
    b.screenshot("campaign-hook-url").await;
    b.quit().await;
    assert!(
        shown.starts_with(&app.url("/hooks/")),
        "the webhook URL: {shown}"
    );
    assert_eq!(trigger(&app, id).await, json!({"kind": "webhook"}));
    let r = app
        .client
        .post(&shown)
        .json(&json!({"external_id": "SO-1", "total": 100000, "status": "paid"}))
        .send()
        .await
        .unwrap();
    // The URL is the campaign's: a draft answers that it is not running
    // (an unknown URL is a 404).
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("not running"));
}
