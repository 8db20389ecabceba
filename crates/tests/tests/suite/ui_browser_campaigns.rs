//! Automated and marketing campaigns in a real browser (headless Chromium
//! through Debian's chromedriver, SQLite): a campaign made from a template
//! card, a step added in the workflow builder, a test record stepped
//! through it, action and webhook steps made and edited through the
//! builder's fields, and a marketing campaign's roll-up. Screenshots under
//! target/ui-screenshots/.

use serde_json::{Value, json};
use swell_tests::browser::Browser;
use swell_tests::{Backend, TestApp};

async fn app_and_browser() -> (TestApp, Browser) {
    let app = TestApp::start(Backend::Sqlite).await;
    let browser = Browser::start(&app.url("")).await;
    (app, browser)
}

/// The activities of a campaign, by name.
async fn activities(app: &TestApp, campaign: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/campaigns/{campaign}/activities"))
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn id_of(acts: &[Value], name: &str) -> i64 {
    acts.iter().find(|a| a["name"] == name).unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_card_makes_a_campaign_a_step_is_added_and_a_test_record_walks_it() {
    let (app, b) = app_and_browser().await;
    let an = app
        .post(
            "/api/v1/contacts",
            json!({"email": "an@shop.test", "name": "Nguyễn Văn An"}),
        )
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let (email, password) = app.create_user("marketer").await;
    b.sign_in(&email, &password).await;

    // The empty page offers the six templates; one click makes a campaign.
    b.open("/campaigns").await;
    b.wait_text("#campaigns-empty", |t| !t.is_empty()).await;
    b.screenshot("campaigns-templates").await;
    b.click("#use-welcome-flow").await;
    let path = b.wait_path("/campaigns/").await;
    let campaign = path.trim_start_matches("/campaigns/").to_string();
    b.wait_text("#workflow", |t| {
        t.contains("Welcome") && t.contains("Reminder")
    })
    .await;
    // Before launch, the cost: the template has no filter, so everyone
    // with an address (An) gets its first e-mail.
    assert_eq!(b.text("#estimate-audience").await, "1");
    let acts = activities(&app, &campaign).await;
    assert_eq!(acts.len(), 3);
    let welcome = id_of(&acts, "Welcome");

    // The builder: a step under "Welcome" for those who click.
    let node = format!("#activity-{welcome}");
    b.click(&format!("{node} .add-child summary")).await;
    b.fill(&format!("{node} .add-child .act-name"), "Gắn thẻ quan tâm")
        .await;
    b.choose(&format!("{node} .add-child .act-kind"), "action")
        .await;
    b.choose(&format!("{node} .add-child .act-trigger"), "clicked")
        .await;
    b.choose(&format!("{node} .add-child .act-action"), "add_tag")
        .await;
    b.fill(&format!("{node} .add-child .act-tag"), "quan-tam")
        .await;
    b.screenshot("campaign-add-step").await;
    b.click_and_reload(&format!("{node} .add-child button[type=submit]"))
        .await;
    b.wait_text("#workflow", |t| t.contains("Gắn thẻ quan tâm"))
        .await;
    let acts = activities(&app, &campaign).await;
    let added = acts
        .iter()
        .find(|a| a["name"] == "Gắn thẻ quan tâm")
        .unwrap();
    assert_eq!(
        (
            added["parent_id"].as_i64(),
            added["trigger"].as_str(),
            added["kind"].as_str()
        ),
        (Some(welcome), Some("clicked"), Some("action"))
    );
    let step = added["id"].as_i64().unwrap();
    let drawn = b.find(&format!("#activity-{step}")).await;
    assert_eq!(
        drawn.attr("data-depth").await.unwrap().as_deref(),
        Some("1")
    );
    assert!(drawn.text().await.unwrap().contains("Đã nhấp email"));
    b.screenshot("campaign-tree").await;

    // Test mode: An enters, the e-mail goes out, a simulated click lets
    // the new step run.
    b.fill("#test-record", &an.to_string()).await;
    b.click_and_reload("#test-start").await;
    b.click_and_reload(".test-participant .test-step").await;
    let welcome_row = format!("#test-mode tr[data-activity=\"{welcome}\"]");
    b.wait_text(&format!("{welcome_row} .trace-state"), |t| t == "đã xử lý")
        .await;
    b.click_and_reload(&format!("{welcome_row} .simulate-click"))
        .await;
    // The click resumed the waiting step: run it now (the app's own
    // worker may take it first, and a page drawn meanwhile shows it
    // running: look again).
    let state = format!("#test-mode tr[data-activity=\"{step}\"] .trace-state");
    let mut done = false;
    for _ in 0..100 {
        match b.text(&state).await.as_str() {
            "đã xử lý" => {
                done = true;
                break;
            }
            "đã lên lịch" => b.click_and_reload(".test-participant .test-step").await,
            _ => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                b.open(&format!("/campaigns/{campaign}")).await;
            }
        }
    }
    assert!(
        done,
        "the clicked branch's step was not processed: {}",
        b.text(&state).await
    );
    b.screenshot("campaign-test-mode").await;
    let tags = app.get(&format!("/api/v1/contacts/{an}")).await.json["tags"].clone();
    assert!(
        tags.as_array().unwrap().contains(&json!("quan-tam")),
        "{tags}"
    );

    // On a phone the tree stays readable.
    b.resize(390, 844).await;
    b.open(&format!("/campaigns/{campaign}")).await;
    b.find("#workflow").await;
    b.screenshot("campaign-phone").await;
    b.quit().await;
}

/// The campaign's activities as `GET /api/v1/campaigns/{id}` gives them,
/// by name: kind, parent and config.
async fn steps(app: &TestApp, campaign: i64) -> Vec<Value> {
    app.get(&format!("/api/v1/campaigns/{campaign}")).await.json["activities"]
        .as_array()
        .unwrap()
        .clone()
}

fn step<'a>(acts: &'a [Value], name: &str) -> &'a Value {
    acts.iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {acts:?}"))
}

async fn value_of(b: &Browser, css: &str) -> String {
    b.find(css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn shown(b: &Browser, css: &str) -> bool {
    b.find(css).await.is_displayed().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_and_webhook_steps_are_made_and_edited_through_fields_without_json() {
    let (app, b) = app_and_browser().await;
    let c = app
        .post("/api/v1/campaigns", json!({"name": "Khách mới"}))
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let (email, password) = app.create_user("marketer").await;
    b.sign_in(&email, &password).await;
    b.open(&format!("/campaigns/{c}")).await;

    // A first step: add a tag. Only the tag's box shows for that action.
    let top = "#add-top";
    b.fill(&format!("{top} .act-name"), "Gắn thẻ nóng").await;
    b.choose(&format!("{top} .act-kind"), "action").await;
    assert!(!shown(&b, &format!("{top} .act-template")).await);
    assert!(!shown(&b, &format!("{top} .act-config")).await);
    b.choose(&format!("{top} .act-action"), "add_tag").await;
    assert!(shown(&b, &format!("{top} .act-tag")).await);
    assert!(!shown(&b, &format!("{top} .act-points")).await);
    b.fill(&format!("{top} .act-tag"), "nong").await;
    b.click_and_reload(&format!("{top} button[type=submit]"))
        .await;
    b.wait_text("#workflow", |t| t.contains("Gắn thẻ nóng"))
        .await;

    // A second: add to the score.
    b.click(&format!("{top} summary")).await;
    b.fill(&format!("{top} .act-name"), "Cộng điểm").await;
    b.choose(&format!("{top} .act-kind"), "action").await;
    b.choose(&format!("{top} .act-action"), "add_score").await;
    b.fill(&format!("{top} .act-points"), "10").await;
    b.click_and_reload(&format!("{top} button[type=submit]"))
        .await;
    b.wait_text("#workflow", |t| t.contains("Cộng điểm")).await;

    // Under the first: a task for the marketer, due in a day.
    let tag_step = step(&steps(&app, c).await, "Gắn thẻ nóng")["id"]
        .as_i64()
        .unwrap();
    let node = format!("#activity-{tag_step} .add-child");
    b.click(&format!("{node} summary")).await;
    b.fill(&format!("{node} .act-name"), "Gọi điện").await;
    b.choose(&format!("{node} .act-kind"), "action").await;
    b.choose(&format!("{node} .act-action"), "create_task")
        .await;
    b.fill(&format!("{node} .act-task-title"), "Gọi cho khách")
        .await;
    b.fill(&format!("{node} .act-task-due"), "24").await;
    b.fill(&format!("{node} .act-task-note"), "Hỏi về gói Pro")
        .await;
    b.choose(&format!("{node} .act-task-owner"), &email).await;
    b.screenshot("campaign-builder-task").await;
    b.click_and_reload(&format!("{node} button[type=submit]"))
        .await;
    b.wait_text("#workflow", |t| t.contains("Gọi điện")).await;

    let acts = steps(&app, c).await;
    assert_eq!(
        step(&acts, "Gắn thẻ nóng")["config"],
        json!({"action": "add_tag", "tag": "nong"})
    );
    assert_eq!(
        step(&acts, "Cộng điểm")["config"],
        json!({"action": "add_score", "points": 10})
    );
    let task = step(&acts, "Gọi điện");
    assert_eq!(
        task["config"],
        json!({"action": "create_task", "title": "Gọi cho khách", "due_in_hours": 24,
            "note": "Hỏi về gói Pro", "owner": email})
    );
    assert_eq!(
        (task["kind"].as_str(), task["parent_id"].as_i64()),
        (Some("action"), Some(tag_step))
    );

    // Editing the task shows its values in its fields; a changed due time
    // saves with the rest kept.
    let task_id = task["id"].as_i64().unwrap();
    let edit = format!("#activity-{task_id} .edit-activity");
    b.click(&format!("{edit} summary")).await;
    assert_eq!(
        value_of(&b, &format!("{edit} .act-action")).await,
        "create_task"
    );
    assert_eq!(
        value_of(&b, &format!("{edit} .act-task-title")).await,
        "Gọi cho khách"
    );
    assert_eq!(
        value_of(&b, &format!("{edit} .act-task-owner")).await,
        email
    );
    assert!(!shown(&b, &format!("{edit} .act-tag")).await);
    b.screenshot("campaign-builder-edit").await;
    b.fill(&format!("{edit} .act-task-due"), "48").await;
    b.click_and_reload(&format!("{edit} button[type=submit]"))
        .await;
    b.find("#workflow").await;
    let acts = steps(&app, c).await;
    assert_eq!(
        step(&acts, "Gọi điện")["config"],
        json!({"action": "create_task", "title": "Gọi cho khách", "due_in_hours": 48,
            "note": "Hỏi về gói Pro", "owner": email})
    );

    // The JSON (advanced) view of a step holds what its fields hold.
    let edit = format!("#activity-{tag_step} .edit-activity");
    b.click(&format!("{edit} summary")).await;
    assert_eq!(value_of(&b, &format!("{edit} .act-tag")).await, "nong");
    b.choose(&format!("{edit} .act-mode"), "json").await;
    assert!(!shown(&b, &format!("{edit} .act-tag")).await);
    let json_box: Value =
        serde_json::from_str(&value_of(&b, &format!("{edit} .act-config")).await).unwrap();
    assert_eq!(json_box, json!({"action": "add_tag", "tag": "nong"}));

    // A webhook step: the API's refusal shows beside the URL.
    b.open(&format!("/campaigns/{c}")).await;
    b.click(&format!("{node} summary")).await;
    b.fill(&format!("{node} .act-name"), "Báo CRM").await;
    b.choose(&format!("{node} .act-kind"), "webhook").await;
    b.fill(
        &format!("{node} .act-webhook-url"),
        "ftp://crm.example.vn/hook",
    )
    .await;
    b.fill(&format!("{node} .act-webhook-secret"), "bi-mat")
        .await;
    b.click(&format!("{node} button[type=submit]")).await;
    let said = b
        .wait_text(&format!("{node} .field-error"), |t| !t.is_empty())
        .await;
    assert!(said.contains("http"), "{said}");
    b.screenshot("campaign-builder-error").await;
    b.fill(
        &format!("{node} .act-webhook-url"),
        "https://crm.example.vn/hook",
    )
    .await;
    b.click_and_reload(&format!("{node} button[type=submit]"))
        .await;
    b.wait_text("#workflow", |t| t.contains("Báo CRM")).await;
    assert_eq!(
        step(&steps(&app, c).await, "Báo CRM")["config"],
        json!({"url": "https://crm.example.vn/hook", "secret": "bi-mat"})
    );
    b.screenshot("campaign-builder").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketing_campaign_made_in_the_app_rolls_up_its_automated_campaign() {
    let (app, b) = app_and_browser().await;
    app.put("/api/v1/channels/email", json!({"unit_cost": 500}))
        .await;
    let t = app
        .post(
            "/api/v1/templates",
            json!({"name": "Chào", "channel": "email", "subject": "Chào bạn", "html": "<p>Chào</p>"}),
        )
        .await
        .json["id"]
        .clone();
    for email in ["an@shop.test", "binh@shop.test"] {
        app.post("/api/v1/contacts", json!({"email": email, "tags": ["moi"]}))
            .await;
    }
    let c = app
        .post(
            "/api/v1/campaigns",
            json!({"name": "Thư chào mừng", "filter": "has tag \"moi\"",
                "activities": [{"name": "Mail", "kind": "email", "config": {"template_id": t}}]}),
        )
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/v1/campaigns/{c}/launch"), json!({}))
        .await;
    app.settle_campaigns().await;

    let (email, password) = app.create_user("marketer").await;
    b.sign_in(&email, &password).await;
    b.open("/marketing").await;
    b.fill("#mc-name", "Chào mừng 2027").await;
    b.fill("#mc-code", "welcome-2027").await;
    b.fill("#mc-budget", "4000").await;
    b.click("#marketing-create").await;
    b.wait_path("/marketing/").await;
    b.wait_text("#r-sent", |t| t == "0").await;
    b.choose("#attach-campaign select", &c.to_string()).await;
    b.click_and_reload("#attach-campaign button").await;
    b.wait_text("#member-campaigns", |t| t.contains("Thư chào mừng"))
        .await;
    // Two e-mails at 500 đồng: 1.000 ₫ of a 4.000 ₫ budget.
    assert_eq!(b.text("#r-sent").await, "2");
    assert_eq!(b.text("#r-spend").await, "1.000 ₫");
    assert_eq!(b.text("#r-budget-used").await, "25,0%");
    assert_eq!(b.text("#r-roi").await, "-100,0%");
    b.screenshot("marketing-rollup").await;
    b.quit().await;
}
