//! Outbound webhooks against a real HTTP endpoint on 127.0.0.1: what
//! arrives, that its signature verifies as a receiver would check it, and
//! how failures are classified.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use swell_channels::{
    Channel, DeliveryError, Message, SigningSecret, Webhook, http_client, verify_signature,
};

use common::{Answer, Endpoint, closed_url};

const SECRET: &[u8] = b"whsec_9f8e7d";

fn webhook() -> Webhook {
    Webhook::new(http_client().expect("client"))
}

fn payload() -> serde_json::Value {
    json!({
        "event": "order.paid",
        "contact": {"name": "Trần Văn \"Bình\"", "phone": "+84912345678"},
        "note": "giao trước 17h\nkhông gọi",
        "total": 1_250_000
    })
}

#[tokio::test]
async fn a_webhook_arrives_signed_and_verifies_as_the_receiver_checks_it() {
    let endpoint = Endpoint::start(Answer::Json(StatusCode::OK, json!({"ok": true}))).await;

    let receipt = webhook()
        .send(
            &endpoint.url("/hooks/orders"),
            SECRET,
            &payload(),
            "trace-3:step-4",
        )
        .await
        .expect("sent");

    assert_eq!(receipt.detail, "HTTP 200 OK");
    let request = endpoint.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/orders");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("idempotency-key"), "trace-3:step-4");
    assert_eq!(request.json(), payload());
    let timestamp = request.header("x-swell-timestamp");
    let sent_at: i64 = timestamp.parse().expect("unix seconds");
    assert!((jiff::Timestamp::now().as_second() - sent_at).abs() < 60);
    let signature = request.header("x-swell-signature");
    assert!(verify_signature(
        SECRET,
        timestamp,
        &request.body,
        signature
    ));

    let mut altered = request.body.clone();
    let at = altered
        .iter()
        .position(|&b| b == b'1')
        .expect("a digit in the total");
    altered[at] = b'9';
    assert!(!verify_signature(SECRET, timestamp, &altered, signature));
    assert!(!verify_signature(
        b"another secret",
        timestamp,
        &request.body,
        signature
    ));
    let earlier = (sent_at - 1).to_string();
    assert!(!verify_signature(
        SECRET,
        &earlier,
        &request.body,
        signature
    ));
}

#[tokio::test]
async fn webhook_failures_are_temporary_or_permanent_by_status() {
    for (status, temporary) in [
        (StatusCode::INTERNAL_SERVER_ERROR, true),
        (StatusCode::BAD_GATEWAY, true),
        (StatusCode::TOO_MANY_REQUESTS, true),
        (StatusCode::GONE, false),
        (StatusCode::UNAUTHORIZED, false),
        // Redirects are not followed: the URL is wrong.
        (StatusCode::FOUND, false),
    ] {
        let endpoint = Endpoint::start(Answer::Text(status, "receiver says no")).await;

        let error = webhook()
            .send(&endpoint.url("/h"), SECRET, &payload(), "k")
            .await
            .unwrap_err();

        let reason = format!("HTTP {status}: receiver says no");
        let expected = if temporary {
            DeliveryError::Temporary { reason }
        } else {
            DeliveryError::Permanent { reason }
        };
        assert_eq!(error, expected);
        assert_eq!(endpoint.only_request().path, "/h");
    }
}

#[tokio::test]
async fn a_receiver_that_hangs_or_is_down_is_a_temporary_failure() {
    let endpoint = Endpoint::start(Answer::Hang).await;
    let hook = webhook().with_timeout(Duration::from_millis(250));

    let hung = hook
        .send(&endpoint.url("/h"), SECRET, &payload(), "k")
        .await;
    let down = hook
        .send(&closed_url().await, SECRET, &payload(), "k")
        .await;

    assert_eq!(
        hung.unwrap_err(),
        DeliveryError::Temporary {
            reason: "no reply within 250 ms".into()
        }
    );
    assert!(
        matches!(down, Err(DeliveryError::Temporary { ref reason }) if reason.starts_with("cannot connect")),
        "{down:?}"
    );
}

#[tokio::test]
async fn the_webhook_channel_delivers_webhook_messages_and_refuses_bad_urls() {
    let endpoint = Endpoint::start(Answer::Text(StatusCode::NO_CONTENT, "")).await;
    let channel: Box<dyn Channel> = Box::new(webhook());
    let message = Message::Webhook {
        url: endpoint.url("/in"),
        secret: SigningSecret::new(SECRET),
        payload: payload(),
    };

    let receipt = channel
        .send("trace-5:step-1", &message)
        .await
        .expect("sent");
    let bad = Message::Webhook {
        url: "not a url".into(),
        secret: SigningSecret::new(SECRET),
        payload: payload(),
    };
    let refused = channel.send("trace-5:step-2", &bad).await.unwrap_err();

    assert_eq!(receipt.detail, "HTTP 204 No Content");
    let request = endpoint.only_request();
    assert_eq!(request.header("idempotency-key"), "trace-5:step-1");
    assert!(verify_signature(
        SECRET,
        request.header("x-swell-timestamp"),
        &request.body,
        request.header("x-swell-signature")
    ));
    assert!(
        matches!(refused, DeliveryError::Permanent { ref reason } if reason.contains("not a URL")),
        "{refused:?}"
    );
}
