//! The web app over plain HTTP: signing in and out, the session cookie,
//! CSRF checks, the sign-in rate limit, roles on every route and the audit
//! log, on SQLite and PostgreSQL.

use serde_json::json;
use swell_tests::ui::{Session, set_cookie_line};
use swell_tests::{TestApp, app_test};
use swell_web::ui::{Need, route_table};

app_test!(
    async fn the_right_password_signs_in_and_a_wrong_one_is_refused(app: &TestApp) {
        let (email, password) = app.create_user("marketer").await;

        let wrong = app.post_login(&email, "not the password").await;
        assert_eq!(wrong.status().as_u16(), 401);
        assert!(set_cookie_line(&wrong, "swell_session").is_none());
        let page = wrong.text().await.unwrap();
        assert!(page.contains("login-error"), "{page}");

        let unknown = app.post_login("nobody@shop.test", &password).await;
        assert_eq!(unknown.status().as_u16(), 401);

        let right = app.post_login(&email.to_uppercase(), &password).await;
        assert_eq!(right.status().as_u16(), 303);
        let line = set_cookie_line(&right, "swell_session").expect("session cookie");
        assert!(line.contains("HttpOnly"), "{line}");
        assert!(line.contains("SameSite=Lax"), "{line}");
        assert!(!line.contains("Secure"), "plain http test server: {line}");
    }
);

app_test!(
    async fn pages_need_a_session(app: &TestApp) {
        let resp = app
            .client
            .get(app.url("/contacts?q=an"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            "/login?next=/contacts%3Fq%3Dan"
        );
        let forged = Session {
            cookie: "made-up".into(),
            csrf: "made-up".into(),
        };
        assert_eq!(app.ui_get(&forged, "/").await.0, 303);
    }
);

app_test!(
    async fn signing_out_ends_the_session(app: &TestApp) {
        let s = app.signed_in("admin").await;
        assert_eq!(app.ui_get(&s, "/settings").await.0, 200);
        let (status, _) = app.ui_post(&s, "/logout", &[], true).await;
        assert_eq!(status, 303);
        assert_eq!(
            app.ui_get(&s, "/settings").await.0,
            303,
            "the old cookie opens nothing"
        );
    }
);

app_test!(
    async fn a_form_without_its_csrf_token_changes_nothing(app: &TestApp) {
        let s = app.signed_in("admin").await;
        let keys_before = app
            .store()
            .list_api_keys(app.workspace.id)
            .await
            .unwrap()
            .len();

        let (status, _) = app
            .ui_post(&s, "/settings/keys", &[("label", "forged")], false)
            .await;
        assert_eq!(status, 403);
        let mut wrong = s.clone();
        wrong.csrf = "not-the-token".into();
        let (status, _) = app
            .ui_post(&wrong, "/settings/keys", &[("label", "forged")], true)
            .await;
        assert_eq!(status, 403);
        assert_eq!(
            app.store()
                .list_api_keys(app.workspace.id)
                .await
                .unwrap()
                .len(),
            keys_before
        );

        let (status, page) = app
            .ui_post(&s, "/settings/keys", &[("label", "from the app")], true)
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("swk_"), "the new key is shown once");
        assert_eq!(
            app.store()
                .list_api_keys(app.workspace.id)
                .await
                .unwrap()
                .len(),
            keys_before + 1
        );
    }
);

app_test!(
    async fn the_api_takes_a_session_with_its_csrf_header(app: &TestApp) {
        let s = app.signed_in("marketer").await;
        let cookie = format!("swell_session={}", s.cookie);
        let read = app
            .client
            .get(app.url("/api/v1/segments"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status().as_u16(), 200);

        let body = json!({"slug": "vip", "name": "VIP", "filter": "has tag \"vip\""});
        let without = app
            .client
            .post(app.url("/api/v1/segments"))
            .header("cookie", &cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(without.status().as_u16(), 401);
        assert!(
            app.store()
                .list_segments(app.workspace.id)
                .await
                .unwrap()
                .is_empty()
        );

        let with = app
            .client
            .post(app.url("/api/v1/segments"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &s.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(with.status().as_u16(), 201);

        let sales = app.signed_in("sales").await;
        let refused = app
            .client
            .get(app.url("/api/v1/segments"))
            .header("cookie", format!("swell_session={}", sales.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status().as_u16(),
            403,
            "a sales rep's session does not open marketers' API routes"
        );
        let own = app
            .client
            .get(app.url("/api/v1/leads"))
            .header("cookie", format!("swell_session={}", sales.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(own.status().as_u16(), 200, "but it opens their leads");
    }
);

app_test!(
    async fn sign_in_attempts_are_limited_per_email(app: &TestApp) {
        let (email, password) = app.create_user("marketer").await;
        for _ in 0..5 {
            assert_eq!(
                app.post_login(&email, "wrong password")
                    .await
                    .status()
                    .as_u16(),
                401
            );
        }
        let limited = app.post_login(&email, &password).await;
        assert_eq!(
            limited.status().as_u16(),
            429,
            "even the right password waits"
        );
        assert!(limited.text().await.unwrap().contains("login-error"));
        // Another person is not held up by it.
        let (other, other_password) = app.create_user("marketer").await;
        assert_eq!(
            app.post_login(&other, &other_password)
                .await
                .status()
                .as_u16(),
            303
        );
    }
);

/// Every route of the web app, for each role: a sales rep gets a 403 page
/// on marketers' and admins' routes, a marketer on admins' routes.
async fn roles_hold_on_every_route(app: &TestApp) {
    for (role, refused) in [
        ("sales", &[Need::Marketer, Need::Admin][..]),
        ("marketer", &[Need::Admin][..]),
    ] {
        let s = app.signed_in(role).await;
        for (method, path, need) in route_table() {
            let (status, body) = match method {
                "GET" => app.ui_get(&s, path).await,
                _ => app.ui_post(&s, path, &[], true).await,
            };
            if refused.contains(&need) {
                assert_eq!(status, 403, "{role} {method} {path}: {body}");
                assert!(
                    body.contains("id=\"main-nav\""),
                    "the 403 page keeps the app's shell: {body}"
                );
            } else {
                assert_ne!(status, 403, "{role} {method} {path}");
            }
        }
    }
}

app_test!(
    async fn a_sales_rep_cannot_open_marketer_or_admin_pages(app: &TestApp) {
        roles_hold_on_every_route(app).await;
    }
);

app_test!(
    async fn changes_made_in_the_app_are_in_the_audit_log(app: &TestApp) {
        let s = app.signed_in("admin").await;
        let (status, _) = app
            .ui_post(&s, "/settings/keys", &[("label", "for the shop")], true)
            .await;
        assert_eq!(status, 200);
        let api = app
            .client
            .post(app.url("/api/v1/segments"))
            .header("cookie", format!("swell_session={}", s.cookie))
            .header("x-csrf-token", &s.csrf)
            .json(&json!({"slug": "gold", "name": "Gold", "filter": "score >= 50"}))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status().as_u16(), 201);

        let log = app
            .store()
            .audit_log(app.workspace.id, None, 50)
            .await
            .unwrap();
        let key = log
            .iter()
            .find(|e| e.entity == "settings" && e.entity_id.as_deref() == Some("keys"))
            .expect("the key's creation is logged");
        assert_eq!(key.action, "post");
        assert_eq!(key.detail["form"]["label"], "for the shop");
        assert!(
            key.detail["form"].get("_csrf").is_none(),
            "tokens stay out of the log"
        );
        assert!(key.user_name.as_deref().unwrap().starts_with("Người admin"));
        let seg = log
            .iter()
            .find(|e| e.entity == "api:segments")
            .expect("the API call is logged");
        assert_eq!(seg.detail["body"]["slug"], "gold");
        assert!(log.iter().any(|e| e.action == "sign_in"));

        let (status, page) = app.ui_get(&s, "/audit").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("api:segments") && page.contains("for the shop"),
            "{page}"
        );
    }
);

app_test!(
    async fn every_page_renders_for_an_admin(app: &TestApp) {
        app.import_csv(
            "email,name,tags\nan@shop.test,Nguyễn Văn An,vip\nbinh@shop.test,Trần Bình,\n",
        )
        .await;
        let s = app.signed_in("admin").await;
        for path in [
            "/",
            "/contacts",
            "/contacts?q=nguyen",
            "/import",
            "/segments",
            "/segments/new",
            "/lists",
            "/templates",
            "/templates/new",
            "/broadcasts",
            "/broadcasts/new",
            "/outbox",
            "/settings",
            "/audit",
        ] {
            let (status, body) = app.ui_get(&s, path).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        let (_, search) = app.ui_get(&s, "/contacts?q=nguyen").await;
        assert!(
            search.contains("Nguyễn Văn An") && !search.contains("Trần Bình"),
            "accent-insensitive search"
        );
        assert_eq!(app.ui_get(&s, "/contacts/999999").await.0, 404);
    }
);

app_test!(
    async fn the_language_follows_the_cookie_then_the_workspace(app: &TestApp) {
        let s = app.signed_in("admin").await;
        let (_, vi) = app.ui_get(&s, "/").await;
        assert!(vi.contains("lang=\"vi\"") && vi.contains("Tổng quan"));
        let en = app.ui_get_lang(&s, "/", "en").await;
        assert!(
            en.contains("lang=\"en\"") && en.contains("Dashboard"),
            "{en}"
        );
    }
);
