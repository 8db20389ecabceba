//! The SMTP transport against real SMTP servers (test sinks on
//! 127.0.0.1): pooling, weights, failover, how replies are classified, and
//! DKIM signatures that verify on arrival.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use swell_channels::{
    Channel, DeliveryError, DkimKey, Mailbox, Message, OutgoingEmail, SendError, SmtpChannel,
    SmtpServer, SmtpTransport, Tls, build_mime, new_message_id,
};
use swell_core::Email;
use swell_tests::dkim;
use swell_tests::smtp_sink::{SinkTls, SmtpSink, closed_port};

const WAIT: Duration = Duration::from_secs(10);
const DKIM_KEY: &str = include_str!("../../fixtures/dkim_test_key.pem");
const DKIM_PUBLIC_KEY: &str = include_str!("../../fixtures/dkim_test_key.pub.pem");

fn address(raw: &str) -> Email {
    Email::parse(raw).expect("valid test address")
}

fn relay(name: &str, port: u16, weight: u32) -> SmtpServer {
    SmtpServer {
        name: name.into(),
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        accept_invalid_certs: false,
        username: None,
        password: None,
        weight,
        max_connections: 2,
        rate_per_second: None,
    }
}

fn transport(relays: Vec<SmtpServer>) -> SmtpTransport {
    SmtpTransport::new(relays, "sender.swell.test").expect("transport")
}

fn email_to(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: Mailbox::new("Cửa hàng Hoa Sen", address("news@shop.example.vn")),
        reply_to: None,
        to: Mailbox::new("Nguyễn Văn An", address(to)),
        subject: "Ưu đãi cuối tuần dành riêng cho bạn".into(),
        html: "<p>Xin chào <b>An</b>, giảm 30% cho mọi đơn hàng.</p>\n".repeat(30),
        text: "Xin chào An, giảm 30% cho mọi đơn hàng.\n".repeat(30),
        message_id: new_message_id("shop.example.vn"),
        list_unsubscribe: Some("https://shop.example.vn/u/token".into()),
        headers: vec![("X-Swell-Campaign".into(), "12".into())],
    }
}

/// Builds a message to `to` and sends it from the bounce address.
async fn send(transport: &SmtpTransport, to: &str) -> Result<swell_channels::Delivered, SendError> {
    let raw = build_mime(&email_to(to), None).expect("build");
    transport
        .send_raw(&address("bounces@shop.example.vn"), &address(to), &raw)
        .await
}

#[tokio::test]
async fn messages_in_a_row_reuse_one_pooled_connection() {
    let sink = SmtpSink::start().await;
    let transport = transport(vec![relay("main", sink.port(), 1)]);

    for i in 0..5 {
        let delivered = send(&transport, &format!("an{i}@example.com"))
            .await
            .unwrap();
        assert_eq!(&*delivered.server, "main");
        assert!(
            delivered.reply.starts_with("250 2.0.0 Ok"),
            "{}",
            delivered.reply
        );
    }

    let messages = sink.wait_for(5, WAIT).await;
    assert_eq!(sink.connections(), 1);
    assert!(messages.iter().all(|m| m.connection == 1));
    assert_eq!(messages[0].envelope_from, "bounces@shop.example.vn");
    assert_eq!(messages[3].recipients, ["an3@example.com"]);
}

#[tokio::test]
async fn a_pooled_connection_the_relay_closed_is_replaced_without_a_failure() {
    let sink = SmtpSink::start().await;
    let transport = transport(vec![relay("main", sink.port(), 1)]);
    send(&transport, "first@example.com").await.unwrap();

    sink.close_connections().await;
    send(&transport, "second@example.com").await.unwrap();

    let messages = sink.wait_for(2, WAIT).await;
    assert_eq!(sink.connections(), 2);
    assert_eq!(messages[1].connection, 2);
}

#[tokio::test]
async fn concurrent_sends_open_no_more_than_max_connections() {
    let sink = SmtpSink::start().await;
    let transport = Arc::new(transport(vec![relay("main", sink.port(), 1)]));

    let sends = (0..20).map(|i| {
        let transport = Arc::clone(&transport);
        tokio::spawn(async move { send(&transport, &format!("c{i}@example.com")).await })
    });
    for send in futures_join(sends).await {
        send.unwrap();
    }

    sink.wait_for(20, WAIT).await;
    assert!(
        sink.connections() <= 2,
        "{} connections",
        sink.connections()
    );
}

#[tokio::test]
async fn weights_share_messages_between_relays() {
    let (big, small) = (SmtpSink::start().await, SmtpSink::start().await);
    let transport = transport(vec![
        relay("big", big.port(), 3),
        relay("small", small.port(), 1),
    ]);

    for i in 0..40 {
        send(&transport, &format!("w{i}@example.com"))
            .await
            .unwrap();
    }

    assert_eq!(big.wait_for(30, WAIT).await.len(), 30);
    assert_eq!(small.wait_for(10, WAIT).await.len(), 10);
}

#[tokio::test]
async fn a_relay_that_is_down_fails_over_to_the_next() {
    let sink = SmtpSink::start().await;
    let transport = transport(vec![
        relay("down", closed_port().await, 1),
        relay("backup", sink.port(), 0),
    ]);

    for i in 0..3 {
        let delivered = send(&transport, &format!("f{i}@example.com"))
            .await
            .unwrap();
        assert_eq!(&*delivered.server, "backup");
    }
    assert_eq!(sink.wait_for(3, WAIT).await.len(), 3);
}

#[tokio::test]
async fn when_every_relay_is_down_the_failure_is_temporary() {
    let transport = transport(vec![
        relay("a", closed_port().await, 1),
        relay("b", closed_port().await, 1),
    ]);

    let error = send(&transport, "an@example.com").await.unwrap_err();

    assert!(
        matches!(error, SendError::Temporary { code: None, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_451_is_temporary_and_the_send_succeeds_once_the_relay_relents() {
    let sink = SmtpSink::start().await;
    let refusals = AtomicU32::new(2);
    sink.reject_rcpt_with(move |address| {
        let busy = address == "busy@example.com"
            && refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        busy.then(|| (451, "4.3.0 try later".into()))
    });
    let transport = transport(vec![relay("main", sink.port(), 1)]);

    for _ in 0..2 {
        let error = send(&transport, "busy@example.com").await.unwrap_err();
        assert_eq!(
            error,
            SendError::Temporary {
                code: Some(451),
                reply: "4.3.0 try later".into()
            }
        );
    }
    send(&transport, "busy@example.com").await.unwrap();

    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages[0].recipients, ["busy@example.com"]);
    assert_eq!(sink.connections(), 1, "RSET kept the connection");
}

#[tokio::test]
async fn a_451_on_one_relay_tries_the_next() {
    let (busy, calm) = (SmtpSink::start().await, SmtpSink::start().await);
    busy.reject_rcpt_with(|_| Some((451, "4.7.1 rate limited".into())));
    let transport = transport(vec![
        relay("busy", busy.port(), 1),
        relay("calm", calm.port(), 0),
    ]);

    let delivered = send(&transport, "an@example.com").await.unwrap();

    assert_eq!(&*delivered.server, "calm");
    assert_eq!(calm.wait_for(1, WAIT).await.len(), 1);
    assert!(busy.messages().is_empty());
}

#[tokio::test]
async fn a_relay_that_pipelines_gets_mail_rcpt_and_data_in_one_write() {
    let sink = SmtpSink::start().await;
    let transport = transport(vec![relay("main", sink.port(), 1)]);

    for i in 0..3 {
        send(&transport, &format!("an{i}@example.com"))
            .await
            .unwrap();
    }

    let messages = sink.wait_for(3, WAIT).await;
    assert_eq!(messages[2].recipients, vec!["an2@example.com".to_string()]);
    assert_eq!(sink.pipelined(), 3, "every MAIL came with RCPT and DATA");
    assert_eq!(sink.connections(), 1);
}

#[tokio::test]
async fn a_relay_without_pipelining_gets_one_command_at_a_time_and_refusals_keep_the_connection() {
    let sink = SmtpSink::start().await;
    sink.offer_pipelining(false);
    sink.reject_rcpt_with(|address| {
        (address == "gone@example.com").then(|| (550, "5.1.1 no such user".into()))
    });
    let transport = transport(vec![relay("main", sink.port(), 1)]);

    send(&transport, "an@example.com").await.unwrap();
    let error = send(&transport, "gone@example.com").await.unwrap_err();
    send(&transport, "binh@example.com").await.unwrap();

    assert_eq!(
        error,
        SendError::Permanent {
            code: 550,
            reply: "5.1.1 no such user".into()
        }
    );
    let messages = sink.wait_for(2, WAIT).await;
    assert_eq!(messages[1].recipients, vec!["binh@example.com".to_string()]);
    assert_eq!(sink.pipelined(), 0);
    assert_eq!(sink.connections(), 1);
}

#[tokio::test]
async fn a_550_is_permanent_with_the_relays_reply_and_no_other_relay_is_tried() {
    let (strict, other) = (SmtpSink::start().await, SmtpSink::start().await);
    strict.reject_rcpt_with(|address| {
        (address == "gone@example.com").then(|| (550, "5.1.1 no such user".into()))
    });
    let transport = transport(vec![
        relay("strict", strict.port(), 1),
        relay("other", other.port(), 0),
    ]);

    let error = send(&transport, "gone@example.com").await.unwrap_err();

    assert_eq!(
        error,
        SendError::Permanent {
            code: 550,
            reply: "5.1.1 no such user".into()
        }
    );
    assert!(
        other.messages().is_empty(),
        "a 5xx is not retried elsewhere"
    );
    // The relay goes on accepting other recipients, on the same connection.
    send(&transport, "present@example.com").await.unwrap();
    assert_eq!(strict.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(strict.connections(), 1);
}

/// A relay on `sink` secured with `tls`, trusting its self-signed
/// certificate if `accept_invalid_certs`.
fn tls_relay(sink: &SmtpSink, tls: Tls, accept_invalid_certs: bool) -> SmtpServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SmtpServer {
        tls,
        accept_invalid_certs,
        ..relay("tls", sink.port(), 1)
    }
}

#[tokio::test]
async fn starttls_to_a_self_signed_relay_works_when_its_certificate_is_accepted() {
    let sink = SmtpSink::start_with(SinkTls::StartTls).await;
    let transport = transport(vec![tls_relay(&sink, Tls::StartTls, true)]);

    for i in 0..3 {
        send(&transport, &format!("s{i}@example.com"))
            .await
            .unwrap();
    }

    assert_eq!(sink.wait_for(3, WAIT).await.len(), 3);
    assert_eq!(sink.connections(), 1, "the TLS connection is reused");
}

#[tokio::test]
async fn tls_from_the_first_byte_works_too() {
    let sink = SmtpSink::start_with(SinkTls::Tls).await;
    let transport = transport(vec![tls_relay(&sink, Tls::Tls, true)]);

    send(&transport, "an@example.com").await.unwrap();

    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_unless_accepted() {
    let sink = SmtpSink::start_with(SinkTls::StartTls).await;
    let transport = transport(vec![tls_relay(&sink, Tls::StartTls, false)]);

    let error = send(&transport, "an@example.com").await.unwrap_err();

    assert!(
        matches!(error, SendError::Temporary { code: None, .. }),
        "{error:?}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_relay_without_starttls_is_refused_when_starttls_is_required() {
    let sink = SmtpSink::start().await;
    let transport = transport(vec![tls_relay(&sink, Tls::StartTls, true)]);

    let error = send(&transport, "an@example.com").await.unwrap_err();

    assert!(matches!(error, SendError::Temporary { .. }), "{error:?}");
    assert!(sink.messages().is_empty(), "nothing goes out in plain text");
}

#[tokio::test]
async fn the_rate_limit_paces_a_relay() {
    let sink = SmtpSink::start().await;
    let transport = transport(vec![SmtpServer {
        rate_per_second: Some(50),
        ..relay("paced", sink.port(), 1)
    }]);

    let started = Instant::now();
    for i in 0..60 {
        send(&transport, &format!("r{i}@example.com"))
            .await
            .unwrap();
    }

    // A burst of 50, then ten more at one every 20 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    sink.wait_for(60, WAIT).await;
}

#[tokio::test]
async fn the_email_channel_delivers_a_dkim_signed_message_that_verifies() {
    let sink = SmtpSink::start().await;
    let key = DkimKey::from_pem("swell2025", "shop.example.vn", DKIM_KEY).unwrap();
    let channel = SmtpChannel::new(
        transport(vec![relay("main", sink.port(), 1)]),
        Some(key),
        address("bounces@shop.example.vn"),
    );
    let email = email_to("an@example.com");

    let receipt = channel
        .send("trace-1:step-2", &Message::Email(email.clone()))
        .await
        .unwrap();

    assert_eq!(
        receipt.provider_id.as_deref(),
        Some(email.message_id.as_str())
    );
    assert!(
        receipt.detail.starts_with("main: 250"),
        "{}",
        receipt.detail
    );
    let messages = sink.wait_for(1, WAIT).await;
    let received = &messages[0];
    dkim::verify(&received.raw, DKIM_PUBLIC_KEY.as_bytes()).expect("the signature verifies");
    assert_eq!(received.envelope_from, "bounces@shop.example.vn");
    assert_eq!(received.subject().as_deref(), Some(email.subject.as_str()));
    assert_eq!(
        received.header("List-Unsubscribe").as_deref(),
        Some("<https://shop.example.vn/u/token>")
    );
    assert_eq!(
        received.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        received.header("Message-ID").as_deref(),
        Some(email.message_id.as_str())
    );
    assert_eq!(received.html().unwrap().replace("\r\n", "\n"), email.html);
    assert_eq!(received.text().unwrap().replace("\r\n", "\n"), email.text);
}

#[tokio::test]
async fn the_email_channel_reports_a_rejected_recipient_as_permanent() {
    let sink = SmtpSink::start().await;
    sink.reject_rcpt_with(|_| Some((550, "5.1.1 no such user".into())));
    let channel = SmtpChannel::new(
        transport(vec![relay("main", sink.port(), 1)]),
        None,
        address("bounces@shop.example.vn"),
    );

    let error = channel
        .send("k", &Message::Email(email_to("gone@example.com")))
        .await
        .unwrap_err();

    assert_eq!(
        error,
        DeliveryError::Permanent {
            reason: "550 5.1.1 no such user".into()
        }
    );
}

/// Awaits every task, in order.
async fn futures_join<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.expect("task"));
    }
    out
}
