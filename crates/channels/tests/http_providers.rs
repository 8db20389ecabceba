//! SMS and Zalo ZNS providers against real HTTP endpoints on 127.0.0.1:
//! the body each sends, the headers, how replies are read and classified.

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::json;
use swell_channels::{
    Channel, ChannelKind, DeliveryError, HttpProvider, InvalidProvider, Message, ProviderConfig,
    ProviderRequest, http_client,
};
use swell_core::Phone;

use common::{Answer, Endpoint, closed_url};

fn phone(raw: &str) -> Phone {
    Phone::parse(raw, "VN").expect("a valid test number")
}

fn provider(kind: ChannelKind, config: ProviderConfig) -> HttpProvider {
    HttpProvider::new(kind, config, http_client().expect("client")).expect("valid provider")
}

/// The generic SMS preset pointed at `endpoint`, with a sender id.
fn sms_provider(endpoint: &Endpoint) -> HttpProvider {
    let config = ProviderConfig {
        sender: Some("SWELL".into()),
        ..ProviderConfig::generic_sms(&endpoint.url("/v1/messages"), "sk_test_1")
    };
    provider(ChannelKind::Sms, config)
}

/// The Zalo ZNS preset with its URL pointed at `endpoint`.
fn zalo_provider(endpoint: &Endpoint) -> HttpProvider {
    let config = ProviderConfig {
        url: endpoint.url("/message/template"),
        ..ProviderConfig::zalo_zns("zalo-oa-token")
    };
    provider(ChannelKind::Zalo, config)
}

fn zns_params() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "customer_name".to_string(),
            "Nguyễn Thị \"Hoa\"".to_string(),
        ),
        (
            "order_code".to_string(),
            "DH-2024/001\n(giao nhanh)".to_string(),
        ),
    ])
}

/// A ZNS message with [`zns_params`] to `raw`.
fn zns_message(raw: &str) -> Message {
    Message::Zalo {
        to: phone(raw),
        template_id: "248000".into(),
        params: zns_params(),
    }
}

async fn send_sms(
    provider: &HttpProvider,
    text: &str,
) -> Result<swell_channels::Receipt, DeliveryError> {
    provider
        .send(&ProviderRequest::sms(
            phone("0912 345 678"),
            text,
            "trace-7:step-2",
        ))
        .await
}

#[tokio::test]
async fn an_sms_body_is_valid_json_whatever_the_text_and_the_provider_id_comes_back() {
    let endpoint = Endpoint::start(Answer::Json(
        StatusCode::OK,
        json!({"message_id": "sms-8841"}),
    ))
    .await;
    let text = "Chào \"An\",\nđơn hàng C:\\2024 đã giao. Ưu đãi 50% <b>hôm nay</b> & mai!";

    let receipt = send_sms(&sms_provider(&endpoint), text)
        .await
        .expect("sent");

    assert_eq!(receipt.provider_id.as_deref(), Some("sms-8841"));
    assert_eq!(receipt.detail, "HTTP 200 OK");
    let request = endpoint.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(
        request.json(),
        json!({"to": "+84912345678", "text": text, "from": "SWELL", "reference": "trace-7:step-2"})
    );
    // Vietnamese travels as UTF-8, not as \u escapes.
    assert!(
        String::from_utf8(request.body.clone())
            .unwrap()
            .contains("Ưu đãi")
    );
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("authorization"), "Bearer sk_test_1");
    assert_eq!(request.header("idempotency-key"), "trace-7:step-2");
}

#[tokio::test]
async fn the_zalo_preset_sends_zalos_documented_body_and_reads_its_msg_id() {
    let endpoint = Endpoint::start(Answer::Json(
        StatusCode::OK,
        json!({"error": 0, "message": "Success", "data": {"msg_id": "a1b2c3", "sent_time": "1767225600000"}}),
    ))
    .await;
    let message = zns_message("+84 912 345 678");

    let receipt = Channel::send(&zalo_provider(&endpoint), "trace-9:step-1", &message)
        .await
        .expect("sent");

    assert_eq!(receipt.provider_id.as_deref(), Some("a1b2c3"));
    assert_eq!(receipt.detail, "HTTP 200 OK: Success");
    let request = endpoint.only_request();
    assert_eq!(request.path, "/message/template");
    assert_eq!(
        request.json(),
        json!({
            "phone": "84912345678",
            "template_id": "248000",
            "template_data": {
                "customer_name": "Nguyễn Thị \"Hoa\"",
                "order_code": "DH-2024/001\n(giao nhanh)"
            },
            "tracking_id": "trace-9:step-1"
        })
    );
    assert_eq!(request.header("access_token"), "zalo-oa-token");
    assert_eq!(request.header("idempotency-key"), "trace-9:step-1");
}

#[tokio::test]
async fn a_listed_error_code_in_a_200_reply_is_a_permanent_failure() {
    let endpoint = Endpoint::start(Answer::Json(
        StatusCode::OK,
        json!({"error": -108, "message": "Phone number invalid"}),
    ))
    .await;
    let message = zns_message("0912345678");

    let error = Channel::send(&zalo_provider(&endpoint), "k", &message)
        .await
        .unwrap_err();

    assert_eq!(
        error,
        DeliveryError::Permanent {
            reason: "HTTP 200 OK, error -108: Phone number invalid".into()
        }
    );
}

#[tokio::test]
async fn an_unlisted_error_code_in_a_200_reply_is_a_temporary_failure() {
    let endpoint = Endpoint::start(Answer::Json(
        StatusCode::OK,
        json!({"error": -124, "message": "Access token invalid", "data": null}),
    ))
    .await;
    let request = ProviderRequest::zns(phone("0912345678"), "248000", zns_params(), "k");

    let error = zalo_provider(&endpoint).send(&request).await.unwrap_err();

    assert_eq!(
        error,
        DeliveryError::Temporary {
            reason: "HTTP 200 OK, error -124: Access token invalid".into()
        }
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_temporary_failures() {
    for (status, body) in [
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream   carrier\ndown",
        ),
        (StatusCode::SERVICE_UNAVAILABLE, ""),
        (StatusCode::TOO_MANY_REQUESTS, "slow down"),
        (StatusCode::REQUEST_TIMEOUT, "timeout"),
    ] {
        let endpoint = Endpoint::start(Answer::Text(status, body)).await;

        let error = send_sms(&sms_provider(&endpoint), "hi").await.unwrap_err();

        let expected = if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!(
                "HTTP {status}: {}",
                body.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        };
        assert_eq!(error, DeliveryError::Temporary { reason: expected });
    }
}

#[tokio::test]
async fn a_client_error_is_permanent_and_names_the_providers_code_and_message() {
    let endpoint = Endpoint::start(Answer::Json(
        StatusCode::BAD_REQUEST,
        json!({"error": {"code": "INVALID_NUMBER", "message": "number not on any network"}}),
    ))
    .await;

    let error = send_sms(&sms_provider(&endpoint), "hi").await.unwrap_err();

    assert_eq!(
        error,
        DeliveryError::Permanent {
            reason: "HTTP 400 Bad Request: error INVALID_NUMBER: number not on any network".into()
        }
    );
}

#[tokio::test]
async fn a_provider_that_does_not_answer_in_time_is_a_temporary_failure() {
    let endpoint = Endpoint::start(Answer::Hang).await;
    let config = ProviderConfig {
        timeout_ms: 300,
        ..ProviderConfig::generic_sms(&endpoint.url("/send"), "k")
    };

    let error = send_sms(&provider(ChannelKind::Sms, config), "hi")
        .await
        .unwrap_err();

    assert_eq!(
        error,
        DeliveryError::Temporary {
            reason: "no reply within 300 ms".into()
        }
    );
    assert_eq!(endpoint.only_request().path, "/send");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_temporary_failure() {
    let config = ProviderConfig::generic_sms(&closed_url().await, "k");

    let error = send_sms(&provider(ChannelKind::Sms, config), "hi")
        .await
        .unwrap_err();

    assert!(
        matches!(&error, DeliveryError::Temporary { reason } if reason.starts_with("cannot connect")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_form_gateway_with_its_own_success_code_is_read_per_its_configuration() {
    // A gateway in the style of eSMS: form fields in, `CodeResult` "100"
    // for accepted, anything else an error.
    let endpoint = Endpoint::start(Answer::Json(
        StatusCode::OK,
        json!({"CodeResult": "100", "SMSID": "e1f2", "ErrorMessage": null}),
    ))
    .await;
    let config: ProviderConfig = serde_json::from_value(json!({
        "url": endpoint.url("/MainService.svc/json/SendMultipleMessage_V4_post"),
        "content_type": "application/x-www-form-urlencoded",
        "body": "Phone={{ to | urlencode }}&Content={{ text | urlencode }}&Brandname={{ sender }}&RequestId={{ idempotency_key | urlencode }}",
        "sender": "SWELL",
        "id_path": "/SMSID",
        "error_path": "/CodeResult",
        "error_message_path": "/ErrorMessage",
        "success_codes": ["100"],
        "unit_cost": 750
    }))
    .expect("config");

    let receipt = send_sms(&provider(ChannelKind::Sms, config), "Mã OTP: 1234 & 5678")
        .await
        .expect("sent");

    assert_eq!(receipt.provider_id.as_deref(), Some("e1f2"));
    let request = endpoint.only_request();
    assert_eq!(
        request.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        "Phone=%2B84912345678&Content=M%C3%A3%20OTP%3A%201234%20%26%205678&Brandname=SWELL&RequestId=trace-7%3Astep-2"
    );
}

#[tokio::test]
async fn a_channel_refuses_a_message_of_another_kind_without_sending() {
    let endpoint = Endpoint::start(Answer::Json(StatusCode::OK, json!({}))).await;
    let sms = sms_provider(&endpoint);
    let error = Channel::send(&sms, "k", &zns_message("0912345678"))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        DeliveryError::WrongKind {
            channel: ChannelKind::Sms,
            message: ChannelKind::Zalo
        }
    );
    let text = Message::Sms {
        to: phone("0912345678"),
        text: "ok".into(),
    };
    let sent = Channel::send(&sms, "k2", &text).await;
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(endpoint.only_request().header("idempotency-key"), "k2");
}

#[test]
fn a_provider_is_made_only_from_a_valid_configuration_for_sms_or_zalo() {
    let client = http_client().expect("client");
    let bad = ProviderConfig {
        body: "{{ text".into(),
        ..ProviderConfig::generic_sms("ftp://sms.example.vn", "k")
    };

    let error = HttpProvider::new(ChannelKind::Email, bad, client).unwrap_err();

    let InvalidProvider { problems } = error;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        problems[0],
        "an HTTP provider delivers SMS or Zalo, not email"
    );
    assert_eq!(
        problems[1],
        "url: 'ftp://sms.example.vn' is not an http or https URL"
    );
    assert!(
        problems[2].starts_with("body: syntax error"),
        "{problems:?}"
    );
}
