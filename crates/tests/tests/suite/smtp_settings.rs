//! A workspace's own SMTP relays, set by its admins: checked field by
//! field, passwords kept but never shown, and the workspace's mail going
//! through them (to a real SMTP sink on loopback) at once, then back to the
//! outbox when they are removed; on both backends.

use std::time::Duration;

use serde_json::json;
use swell_tests::smtp_sink::SmtpSink;
use swell_tests::{TestApp, app_test};

async fn test_send(app: &TestApp, template: i64, to: &str) {
    let r = app
        .post(
            &format!("/api/v1/templates/{template}/test"),
            json!({"to": [to]}),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
}

app_test!(
    async fn a_workspaces_own_relays_carry_its_mail_and_keep_their_passwords(app: &TestApp) {
        let sink = SmtpSink::start().await;
        let t = app
            .post(
                "/api/v1/templates",
                json!({"name": "Chào", "channel": "email", "subject": "Xin chào", "html": "<p>Chào bạn</p>"}),
            )
            .await;
        assert_eq!(t.status, 201, "{}", t.text);
        let template = t.json["id"].as_i64().unwrap();

        // Checked field by field.
        for (body, field) in [
            (
                json!({"name": "a", "host": "h", "port": 70000, "tls": "none"}),
                "port",
            ),
            (
                json!({"name": "a", "host": "h", "port": 25, "tls": "ssl"}),
                "tls",
            ),
            (json!({"name": "a", "host": "h", "port": 25}), "tls"),
            (
                json!({"name": "a", "host": "h", "port": 25, "tls": "none", "username": "u"}),
                "password",
            ),
            (
                json!({"name": "a", "host": "h", "port": 25, "tls": "none", "colour": "red"}),
                "colour",
            ),
        ] {
            let r = app.post("/api/v1/smtp-servers", body.clone()).await;
            assert_eq!(r.status, 422, "{body}: {}", r.text);
            assert!(r.text.contains(field), "{body}: {}", r.text);
        }

        // A password goes in and never comes out.
        let r = app
            .post(
                "/api/v1/smtp-servers",
                json!({"name": "ses", "host": "email-smtp.example.com", "port": 587, "tls": "starttls",
                       "username": "AKIA", "password": "s3cret-pass"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["has_password"], true);
        assert!(!r.text.contains("s3cret-pass"), "{}", r.text);
        let ses = r.json["id"].as_i64().unwrap();
        let list = app.get("/api/v1/smtp-servers").await;
        assert!(!list.text.contains("s3cret-pass"), "{}", list.text);
        let again = app
            .post(
                "/api/v1/smtp-servers",
                json!({"name": "ses", "host": "h", "port": 25, "tls": "none"}),
            )
            .await;
        assert_eq!(again.status, 409, "{}", again.text);
        // A change that leaves the password out keeps it.
        let r = app
            .patch(
                &format!("/api/v1/smtp-servers/{ses}"),
                json!({"port": 2587}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            (r.json["port"].as_i64(), r.json["has_password"].as_bool()),
            (Some(2587), Some(true))
        );
        assert_eq!(
            app.delete(&format!("/api/v1/smtp-servers/{ses}"))
                .await
                .status,
            204
        );

        // Mail goes through the workspace's relay at once ...
        let r = app
            .post(
                "/api/v1/smtp-servers",
                json!({"name": "sink", "host": "127.0.0.1", "port": sink.port(), "tls": "none"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let sink_id = r.json["id"].as_i64().unwrap();
        let outbox_before = app.get("/api/v1/outbox").await.json["items"]
            .as_array()
            .unwrap()
            .len();
        test_send(app, template, "an@shop.vn").await;
        let got = sink.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(got[0].recipients, vec!["an@shop.vn".to_string()]);
        assert!(
            String::from_utf8_lossy(&got[0].raw).contains("X-Swell-Test: 1"),
            "the test message"
        );
        let outbox_now = app.get("/api/v1/outbox").await.json["items"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(outbox_now, outbox_before, "nothing went to the outbox");

        // ... and back to the outbox once it is gone.
        assert_eq!(
            app.delete(&format!("/api/v1/smtp-servers/{sink_id}"))
                .await
                .status,
            204
        );
        test_send(app, template, "binh@shop.vn").await;
        let outbox = app.get("/api/v1/outbox").await;
        assert!(outbox.text.contains("binh@shop.vn"), "{}", outbox.text);
        assert_eq!(sink.messages().len(), 1);

        // Admins only; the settings page shows the relay, not its password.
        let s = app.signed_in("marketer").await;
        let (status, _) = app.ui_get(&s, "/api/v1/smtp-servers").await;
        assert_eq!(status, 403);
        let r = app
            .post(
                "/api/v1/smtp-servers",
                json!({"name": "relay-vn", "host": "smtp.shop.vn", "port": 465, "tls": "tls",
                       "username": "news", "password": "another-secret"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let admin = app.signed_in("admin").await;
        let (status, page) = app.ui_get(&admin, "/settings").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("relay-vn") && page.contains("smtp.shop.vn:465"),
            "{page}"
        );
        assert!(!page.contains("another-secret"));
    }
);
