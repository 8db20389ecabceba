//! The web app in a real browser: headless Chromium driven through Debian's
//! chromedriver against the real server on 127.0.0.1 (SQLite; the store's
//! behaviour is tested on both backends elsewhere). Screenshots of the main
//! screens are saved under target/ui-screenshots/.

use swell_tests::browser::Browser;
use swell_tests::{Backend, TestApp};
use thirtyfour::prelude::ElementWaitable;

async fn app_and_browser() -> (TestApp, Browser) {
    let app = TestApp::start(Backend::Sqlite).await;
    let browser = Browser::start(&app.url("")).await;
    (app, browser)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_the_language_switches_to_english_and_back() {
    let (app, b) = app_and_browser().await;
    let (email, password) = app.create_user("admin").await;

    b.open("/contacts").await;
    b.wait_path("/login").await;
    b.screenshot("login").await;
    b.fill("#email", &email).await;
    b.fill("#password", "not my password").await;
    b.click("#sign-in").await;
    let error = b.text("#login-error").await;
    assert_eq!(error, "Sai email hoặc mật khẩu.");

    b.fill("#email", &email).await;
    b.fill("#password", &password).await;
    b.click("#sign-in").await;
    // Back where the person was going.
    b.wait_path("/contacts").await;

    b.open("/").await;
    b.wait_text("nav a.active", |t| t == "Tổng quan").await;
    b.click("#lang-en").await;
    b.wait_text("nav a.active", |t| t == "Dashboard").await;
    assert!(b.body_text().await.contains("This week"));
    b.screenshot("dashboard-en").await;
    b.click("#lang-vi").await;
    b.wait_text("nav a.active", |t| t == "Tổng quan").await;
    assert!(b.body_text().await.contains("Tuần này"));

    b.click("#logout").await;
    b.wait_path("/login").await;
    b.open("/").await;
    b.wait_path("/login").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sales_rep_cannot_open_marketer_pages() {
    let (app, b) = app_and_browser().await;
    let (email, password) = app.create_user("sales").await;
    b.sign_in(&email, &password).await;
    let nav = b.text("header.top nav").await;
    assert!(nav.contains("Tổng quan"));
    assert!(
        !nav.contains("Liên hệ") && !nav.contains("Cài đặt"),
        "{nav}"
    );
    for path in [
        "/contacts",
        "/segments/new",
        "/broadcasts",
        "/settings",
        "/audit",
    ] {
        b.open(path).await;
        b.wait_text("main h1", |t| t == "Không được phép").await;
    }
    b.screenshot("forbidden-sales").await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketer_imports_segments_writes_and_sends_a_broadcast_to_the_outbox() {
    let (app, b) = app_and_browser().await;
    let (email, password) = app.create_user("admin").await;
    b.sign_in(&email, &password).await;
    b.screenshot("dashboard").await;

    // Import with a mapping step: "Họ tên" maps to name by hand; one row
    // has a broken e-mail and is reported on its line.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("khach-hang.csv");
    std::fs::write(
        &file,
        "email,Họ tên,tags\n\
         an@shop.test,Nguyễn Văn An,vip\n\
         binh@shop.test,Trần Thị Bình,vip;new\n\
         chi@shop.test,Lê Chi,\n\
         not-an-address,Phạm Dũng,vip\n",
    )
    .unwrap();
    b.open("/import").await;
    b.find("#import-file")
        .await
        .send_keys(file.display().to_string())
        .await
        .unwrap();
    b.click("#import-upload-submit").await;
    let name_column = b.find("#map-1").await;
    thirtyfour::components::SelectElement::new(&name_column)
        .await
        .unwrap()
        .select_by_value("name")
        .await
        .unwrap();
    b.screenshot("import-mapping").await;
    b.click("#import-run").await;
    assert_eq!(b.text("#import-created").await, "3");
    assert_eq!(b.text("#import-failed").await, "1");
    let errors = b.text("#import-errors").await;
    assert!(errors.contains("5") && errors.contains("email"), "{errors}");
    b.screenshot("import-report").await;

    // Accent-insensitive search.
    b.open("/contacts").await;
    b.fill("#contact-search", "nguyen van").await;
    b.wait_text("#contact-results", |t| {
        t.contains("Nguyễn Văn An") && !t.contains("Lê Chi")
    })
    .await;
    b.screenshot("contacts").await;

    // A segment: the text fills the builder, the builder fills the text,
    // and the live count follows both.
    b.open("/segments/new").await;
    b.fill("#segment-name", "Khách VIP").await;
    b.fill("#segment-slug", "vip").await;
    b.fill("#filter-text", "has tag \"vip\"").await;
    b.wait_text("#live-count", |t| t == "2").await;
    let value = b.find("#builder .cond-value").await;
    assert_eq!(value.prop("value").await.unwrap().as_deref(), Some("vip"));
    value.clear().await.unwrap();
    value.send_keys("new").await.unwrap();
    b.wait_text("#live-count", |t| t == "1").await;
    let text = b.find("#filter-text").await.prop("value").await.unwrap();
    assert_eq!(text.as_deref(), Some("has tag \"new\""));
    b.fill("#filter-text", "has tag \"vip\"").await;
    b.wait_text("#live-count", |t| t == "2").await;
    b.screenshot("segment-builder").await;
    b.click("#segment-save").await;
    b.wait_path("/segments/vip").await;

    // A template with a live preview and a test send.
    b.open("/templates/new").await;
    b.fill("#template-name", "Khuyến mãi Tết").await;
    b.fill(
        "#template-subject",
        "Chào {{ contact.name | default(\"bạn\") }}",
    )
    .await;
    b.fill(
        "#template-html",
        "<h1>Tết sale</h1><p>Chào {{ contact.name | default(\"bạn\") }}!</p><a href=\"https://shop.test/tet\">Mua ngay</a>",
    )
    .await;
    b.click("#template-save").await;
    // Saved, the editor is the template's own page, with its preview.
    b.wait_text("#preview-subject", |t| t == "Chào Nguyễn Văn An")
        .await;
    assert_ne!(b.path().await, "/templates/new");
    b.fill("#template-subject", "Xin chào {{ contact.name }}")
        .await;
    b.wait_text("#preview-subject", |t| t == "Xin chào Nguyễn Văn An")
        .await;
    let preview = b
        .find("#preview-frame")
        .await
        .prop("srcdoc")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(preview.contains("Chào Nguyễn Văn An!"), "{preview}");
    b.click("#test-send").await;
    b.wait_text("#test-form [data-form-done]", |t| t == "Đã gửi thử.")
        .await;
    b.screenshot("template-editor").await;
    // Saving reloads the editor.
    let before = b.find("#template-form").await;
    b.click("#template-save").await;
    before
        .wait_until()
        .stale()
        .await
        .expect("the editor reloads after saving");
    b.wait_text("#preview-subject", |t| t == "Xin chào Nguyễn Văn An")
        .await;

    // A broadcast to the segment: the count, the send, the progress.
    b.open("/broadcasts/new").await;
    b.fill("#broadcast-name", "Tết 2026").await;
    b.click("input[name='audience.segments'][value='vip']")
        .await;
    b.wait_text("#audience-count", |t| t == "2").await;
    b.screenshot("broadcast-new").await;
    b.click("#broadcast-create").await;
    b.click("#broadcast-send").await;
    b.wait_text("#broadcast-sent", |t| t == "2").await;
    b.wait_text("#broadcast-state", |t| t == "đã gửi xong")
        .await;
    b.screenshot("broadcast-sent").await;

    // The outbox shows what An got, as An would see it.
    b.open("/outbox").await;
    b.wait_text("#outbox-table", |t| t.contains("an@shop.test"))
        .await;
    b.screenshot("outbox").await;
    b.click("#outbox-table a.outbox-open").await;
    b.wait_text("#message-subject", |t| t.starts_with("Xin chào"))
        .await;
    let frame = b.find("#message-frame").await;
    let srcdoc = frame.attr("srcdoc").await.unwrap().unwrap_or_default();
    assert!(srcdoc.contains("Tết sale"), "{srcdoc}");
    b.screenshot("outbox-message").await;

    // The audit log has the changes, and the settings page its users.
    b.open("/audit").await;
    b.wait_text("#audit-table", |t| t.contains("api:broadcasts"))
        .await;
    b.screenshot("audit").await;
    b.open("/settings").await;
    b.wait_text("#users-table", |t| t.contains(&email)).await;
    b.screenshot("settings").await;

    // On a phone the nav folds into a menu.
    b.resize(390, 844).await;
    b.open("/").await;
    b.screenshot("dashboard-phone").await;
    b.open("/contacts").await;
    b.screenshot("contacts-phone").await;
    b.quit().await;
}

/// An admin sets the Zalo provider with its access token alone: the form
/// shows the preset's fields, or the JSON box once Custom is chosen; the
/// table then shows the provider with its token masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_the_zalo_provider_from_its_preset_without_json() {
    let (app, b) = app_and_browser().await;
    let (email, password) = app.create_user("admin").await;
    b.sign_in(&email, &password).await;
    b.open("/settings#channels").await;
    let token = b.find("#channel-zalo-form [name=access_token]").await;
    let custom = b.find("#channel-zalo-form textarea[name=provider]").await;
    assert!(token.is_displayed().await.unwrap(), "the token field");
    assert!(
        !custom.is_displayed().await.unwrap(),
        "no JSON for a preset"
    );

    b.fill("#channel-zalo-form [name=access_token]", "zalo-oa-token-b7")
        .await;
    b.fill("#channel-zalo-form [name=unit_cost]", "300").await;
    b.click_and_reload("#channel-zalo-form button[type=submit]")
        .await;
    let row = b
        .wait_text("#channel-row-zalo", |t| t.contains("Zalo ZNS"))
        .await;
    assert!(row.contains("access_token: ••••••"), "{row}");
    assert!(!b.body_text().await.contains("zalo-oa-token-b7"));
    b.screenshot("settings-channels").await;

    thirtyfour::components::SelectElement::new(&b.find("#channel-zalo-form [name=preset]").await)
        .await
        .unwrap()
        .select_by_value("custom")
        .await
        .unwrap();
    let custom = b.find("#channel-zalo-form textarea[name=provider]").await;
    assert!(
        custom.is_displayed().await.unwrap(),
        "the JSON box for Custom"
    );
    let json = custom.prop("value").await.unwrap().unwrap_or_default();
    assert!(
        json.contains("••••••") && !json.contains("zalo-oa-token-b7"),
        "{json}"
    );
    b.screenshot("settings-channels-custom").await;
    b.quit().await;
}
