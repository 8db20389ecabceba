//! E-mail end to end through the real server: templates, broadcasts sent
//! through SMTP to a real sink on loopback (or to the outbox), tracking
//! links followed against the server, unsubscribes, bounces.

use std::time::Duration;

use serde_json::{Value, json};
use swell_tests::smtp_sink::{ReceivedMessage, SmtpSink};
use swell_tests::{Backend, TestApp, app_test};

/// Runs a test body against both backends with an SMTP sink and an app
/// that sends through it.
macro_rules! smtp_test {
    (async fn $name:ident($app:ident : &TestApp, $sink:ident : &SmtpSink) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: &TestApp, $sink: &SmtpSink) $body
            async fn start(backend: Backend) {
                let sink = SmtpSink::start().await;
                let app = TestApp::start_with(backend, Some(vec![relay(sink.port())])).await;
                run(&app, &sink).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                start(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                start(Backend::Postgres).await;
            }
        }
    };
}

/// The SMTP sink on `port` as the app's one relay.
pub(crate) fn relay(port: u16) -> swell_channels::SmtpServer {
    swell_channels::SmtpServer {
        name: "sink".into(),
        host: "127.0.0.1".into(),
        port,
        tls: swell_channels::Tls::None,
        accept_invalid_certs: false,
        username: None,
        password: None,
        weight: 1,
        max_connections: 4,
        rate_per_second: None,
    }
}

const HTML: &str = r#"<html><head><style>p { color: #333; }</style></head><body>
<p>Chào {{ contact.given_name | default("bạn") }},</p>
<p>Ưu đãi Tết: <a href="https://shop.example.vn/tet?ref=email">xem ngay</a></p>
<p><a href="{{ unsubscribe_url }}">Hủy đăng ký</a></p>
</body></html>"#;

async fn template(app: &TestApp, subject: &str) -> i64 {
    let r = app
        .post("/api/v1/templates", json!({"name": "Tết", "channel": "email", "subject": subject, "preheader": "Giảm 30%", "html": HTML}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

async fn contacts(app: &TestApp, rows: &[Value]) {
    for c in rows {
        let r = app.post("/api/v1/contacts", c.clone()).await;
        assert!(r.status == 201 || r.status == 200, "{}", r.text);
    }
}

async fn broadcast(app: &TestApp, template: i64, audience: Value) -> i64 {
    let r = app
        .post("/api/v1/broadcasts", json!({"name": "Tết 2027", "template_id": template, "audience": audience, "from_name": "Shop Áo Dài", "from_email": "news@shop.test"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_i64().unwrap()
}

/// Waits until the broadcast is no longer sending and returns its stats.
async fn finished(app: &TestApp, id: i64) -> Value {
    for _ in 0..200 {
        let s = app.get(&format!("/api/v1/broadcasts/{id}/stats")).await;
        if s.json["state"] == "sent" {
            return s.json;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "broadcast {id} did not finish: {}",
        app.get(&format!("/api/v1/broadcasts/{id}/stats"))
            .await
            .text
    );
}

fn link_in(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    let end = html[at..].find('"').unwrap();
    html[at..at + end].replace("&amp;", "&")
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    format!("/{}", rest.split_once('/').unwrap().1)
}

fn by_recipient<'a>(msgs: &'a [ReceivedMessage], to: &str) -> &'a ReceivedMessage {
    msgs.iter()
        .find(|m| m.recipients.iter().any(|r| r == to))
        .unwrap_or_else(|| panic!("nothing for {to}"))
}

smtp_test! {
    async fn a_broadcast_goes_out_through_smtp_personalised_signed_and_tracked(app: &TestApp, sink: &SmtpSink) {
        contacts(app, &[
            json!({"email": "an@example.com", "name": "Nguyễn Văn An", "tags": ["tet"]}),
            json!({"email": "binh@example.com", "tags": ["tet"]}),
            json!({"email": "lan@example.com", "name": "Trần Thị Lan", "tags": ["tet"], "email_optout": true}),
            json!({"email": "spam@example.com", "name": "Blocked", "tags": ["tet"]}),
            json!({"phone": "0912345678", "name": "No Email", "tags": ["tet"]}),
            json!({"email": "other@example.com", "name": "Not Tagged"}),
        ]).await;
        assert_eq!(app.post("/api/v1/blocklist", json!({"email": "spam@example.com"})).await.status, 201);
        let t = template(app, "{{ contact.given_name | default(\"Bạn\") }} ơi, Tết đến rồi!").await;
        let id = broadcast(app, t, json!({"filter": "has tag \"tet\""})).await;
        let created = app.get(&format!("/api/v1/broadcasts/{id}")).await;
        assert_eq!(created.json["audience_count"]["sendable"], 2, "{}", created.text);

        let r = app.post(&format!("/api/v1/broadcasts/{id}/send"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let msgs = sink.wait_for(2, Duration::from_secs(20)).await;
        let stats = finished(app, id).await;
        assert_eq!((stats["recipients"].as_i64(), stats["sent"].as_i64(), stats["skipped"].as_i64()), (Some(5), Some(2), Some(3)), "{stats}");
        assert_eq!(stats["skipped_reasons"], json!({"blocklisted": 1, "no_address": 1, "opted_out": 1}));
        assert_eq!(msgs.len(), 2, "each person once");

        let an = by_recipient(&msgs, "an@example.com");
        assert_eq!(an.subject().as_deref(), Some("An ơi, Tết đến rồi!"));
        assert_eq!(by_recipient(&msgs, "binh@example.com").subject().as_deref(), Some("Bạn ơi, Tết đến rồi!"));
        swell_tests::dkim::verify(&an.raw, swell_tests::TEST_DKIM_PUBLIC_KEY.as_bytes()).expect("DKIM verifies");
        let unsub_header = an.header("List-Unsubscribe").expect("List-Unsubscribe");
        assert!(unsub_header.contains("/t/u/"), "{unsub_header}");
        assert_eq!(an.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert_ne!(an.header("Message-ID"), by_recipient(&msgs, "binh@example.com").header("Message-ID"));
        let html = an.html().expect("html part");
        assert!(html.contains("Chào An,"), "{html}");
        assert!(html.contains("color: #333") || html.contains("color:#333"), "CSS inlined: {html}");
        assert!(!html.contains("https://shop.example.vn/tet?ref=email\""), "links are tracked: {html}");
        let text = an.text().expect("text part");
        assert!(text.contains("Chào An"), "{text}");

        // The tracked link redirects to the page, with UTM parameters.
        let click = link_in(&html, &format!("http://{}/t/c/", app.addr));
        let r = app.request(reqwest::Method::GET, &path_of(&click), None, None).await;
        assert_eq!(r.status, 303, "{}", r.text);
        // A forged token changes nothing.
        let forged = format!("{}x", path_of(&click));
        assert_eq!(app.request(reqwest::Method::GET, &forged, None, None).await.status, 404);

        // Opens: a person's mail client, then a privacy proxy.
        let pixel = link_in(&html, &format!("http://{}/t/o/", app.addr));
        for ua in ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"] {
            let r = app.client.get(&pixel).header("User-Agent", ua).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "image/gif");
        }
        let stats = app.get(&format!("/api/v1/broadcasts/{id}/stats")).await.json;
        assert_eq!(stats["opens"], json!({"unique_human": 1, "total": 2, "machine": 1}), "{stats}");
        assert_eq!(stats["clicks"]["unique"], 1);
        assert_eq!(stats["clicks"]["links"][0]["url"].as_str().map(|u| u.starts_with("https://shop.example.vn/tet?ref=email&utm_source=swell")), Some(true), "{stats}");

        // Opens and clicks are events that filters can use.
        let count = app.post("/api/v1/audiences/count", json!({"filter": "exists(event \"email_clicked\" where at >= -1d) and exists(event \"email_opened\")"})).await;
        assert_eq!(count.json["count"], 1, "{}", count.text);

        // One-click unsubscribe (RFC 8058) opts An out of e-mail...
        let unsub = path_of(unsub_header.trim_matches(['<', '>']));
        let r = app.request(reqwest::Method::POST, &unsub, None, Some(swell_tests::Body::Raw("application/x-www-form-urlencoded", "List-Unsubscribe=One-Click".into()))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let an_contact = app.get("/api/v1/contacts?q=an@example.com").await;
        assert_eq!(an_contact.json["items"][0]["email_optout"], true, "{}", an_contact.text);
        assert_eq!(app.get(&format!("/api/v1/broadcasts/{id}/stats")).await.json["unsubscribes"], 1);

        // ...so the next broadcast to the same people leaves An out.
        let next = broadcast(app, t, json!({"filter": "has tag \"tet\""})).await;
        app.post(&format!("/api/v1/broadcasts/{next}/send"), json!({})).await;
        let stats = finished(app, next).await;
        assert_eq!(stats["sent"], 1, "{stats}");
        let msgs = sink.wait_for(3, Duration::from_secs(10)).await;
        assert_eq!(msgs.iter().filter(|m| m.recipients.contains(&"an@example.com".to_string())).count(), 1);
    }
}

smtp_test! {
    async fn temporary_failures_are_retried_and_permanent_ones_recorded_with_the_reply(app: &TestApp, sink: &SmtpSink) {
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = tries.clone();
        sink.reject_rcpt_with(move |to| match to {
            "gone@example.com" => Some((550, "5.1.1 <gone@example.com>: Recipient address rejected: User unknown".into())),
            "busy@example.com" if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 1 => Some((451, "4.3.0 try again later".into())),
            _ => None,
        });
        contacts(app, &[
            json!({"email": "ok@example.com", "tags": ["x"]}),
            json!({"email": "gone@example.com", "tags": ["x"]}),
            json!({"email": "busy@example.com", "tags": ["x"]}),
        ]).await;
        let t = template(app, "Xin chào").await;
        let id = broadcast(app, t, json!({"filter": "has tag \"x\""})).await;
        app.post(&format!("/api/v1/broadcasts/{id}/send"), json!({})).await;
        let stats = finished(app, id).await;
        assert_eq!((stats["sent"].as_i64(), stats["failed"].as_i64()), (Some(2), Some(1)), "{stats}");
        assert!(tries.load(std::sync::atomic::Ordering::SeqCst) >= 2, "busy@ was tried again");
        let msgs = sink.messages();
        assert_eq!(msgs.len(), 2);
        // The 550 suppressed the address: it is never tried again.
        let s = app.get("/api/v1/suppressions").await;
        assert_eq!(s.json[0]["address"], "gone@example.com", "{}", s.text);
        assert!(s.json[0]["detail"].as_str().unwrap().contains("User unknown"));
    }
}

app_test! {
    async fn templates_are_checked_when_saved_and_previewed_for_a_contact(app: &TestApp) {
        let bad = app.post("/api/v1/templates", json!({"name": "x", "subject": "Hi", "html": "<p>a</p>\n<p>b</p>\n<p>{{ contact.given_name </p>"})).await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert!(bad.text.contains("line 3"), "{}", bad.text);
        let unknown = app.post("/api/v1/templates", json!({"name": "x", "subject": "Hi {{ contact.givn_name }}", "html": "<p>a</p>"})).await;
        assert_eq!(unknown.status, 422, "{}", unknown.text);
        assert!(unknown.text.contains("contact.givn_name"), "{}", unknown.text);
        let before = app.get("/api/v1/templates").await.json;
        assert_eq!(before, json!([]), "nothing stored by a refused template");

        let t = template(app, "Chào {{ contact.given_name | default(\"bạn\") }}").await;
        let c = app.post("/api/v1/contacts", json!({"email": "duc@example.com", "name": "Lê Minh Đức"})).await;
        let cid = c.json["id"].as_i64().unwrap();
        let p = app.post(&format!("/api/v1/templates/{t}/preview"), json!({"contact_id": cid})).await;
        assert_eq!(p.status, 200, "{}", p.text);
        assert_eq!(p.json["subject"], "Chào Đức");
        assert!(p.json["html"].as_str().unwrap().contains("Chào Đức,"));
        assert!(p.json["text"].as_str().unwrap().contains("Chào Đức,"));
        let anon = app.post(&format!("/api/v1/templates/{t}/preview"), json!({})).await;
        assert_eq!(anon.json["subject"], "Chào bạn");
        // A test send lands in the outbox.
        let r = app.post(&format!("/api/v1/templates/{t}/test"), json!({"to": ["me@shop.test"], "contact_id": cid})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let outbox = app.get("/api/v1/outbox").await;
        assert_eq!(outbox.json["items"][0]["recipient"], "me@shop.test", "{}", outbox.text);
        assert!(outbox.json["items"][0]["raw"].as_str().unwrap().contains("Subject: "));
    }
}

app_test! {
    async fn broadcasts_to_the_outbox_pause_resume_and_cancel(app: &TestApp) {
        let rows: Vec<Value> = (0..30).map(|i| json!({"email": format!("p{i}@example.com"), "tags": ["b"]})).collect();
        contacts(app, &rows).await;
        let t = template(app, "Tin mới").await;
        let id = broadcast(app, t, json!({"filter": "has tag \"b\""})).await;
        let cancelled = broadcast(app, t, json!({"filter": "has tag \"b\""})).await;
        let r = app.post(&format!("/api/v1/broadcasts/{cancelled}/cancel"), json!({})).await;
        assert_eq!(r.json["state"], "cancelled", "{}", r.text);
        let r = app.post(&format!("/api/v1/broadcasts/{cancelled}/send"), json!({})).await;
        assert_eq!(r.status, 409, "a cancelled broadcast does not start: {}", r.text);

        let r = app.post(&format!("/api/v1/broadcasts/{id}/send"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.post(&format!("/api/v1/broadcasts/{id}/pause"), json!({})).await;
        // It may have finished already on a fast machine; if not, it pauses.
        if r.status == 200 {
            assert_eq!(r.json["state"], "paused");
            let r = app.post(&format!("/api/v1/broadcasts/{id}/resume"), json!({})).await;
            assert_eq!(r.json["state"], "sending", "{}", r.text);
        }
        let stats = finished(app, id).await;
        assert_eq!(stats["sent"], 30, "{stats}");
        let outbox = app.get("/api/v1/outbox?limit=100").await;
        let items = outbox.json["items"].as_array().unwrap();
        assert_eq!(items.len(), 30);
        let mut to: Vec<&str> = items.iter().map(|i| i["recipient"].as_str().unwrap()).collect();
        to.sort();
        to.dedup();
        assert_eq!(to.len(), 30, "nobody twice");
        assert!(items[0]["id"].as_i64() > items[29]["id"].as_i64(), "newest first");
    }
}

app_test! {
    async fn bounces_and_complaints_suppress_addresses_for_the_next_send(app: &TestApp) {
        contacts(app, &[
            json!({"email": "hard@example.com", "tags": ["c"]}),
            json!({"email": "soft@example.com", "tags": ["c"]}),
            json!({"email": "angry@example.com", "tags": ["c"]}),
            json!({"email": "fine@example.com", "tags": ["c"]}),
        ]).await;
        let t = template(app, "Tin").await;
        let id = broadcast(app, t, json!({"filter": "has tag \"c\""})).await;
        app.post(&format!("/api/v1/broadcasts/{id}/send"), json!({})).await;
        finished(app, id).await;
        let outbox = app.get("/api/v1/outbox").await.json;
        let mid = outbox["items"].as_array().unwrap().iter()
            .find(|i| i["recipient"] == "hard@example.com").unwrap()["message_id"].as_str().unwrap().to_string();

        let dsn = format!(
            "From: MAILER-DAEMON@mx.example.com\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
             Final-Recipient: rfc822; hard@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n\
             --b\r\nContent-Type: text/rfc822-headers\r\n\r\nTo: hard@example.com\r\nMessage-ID: {mid}\r\n\r\n--b--\r\n"
        );
        let r = app.request(reqwest::Method::POST, "/api/v1/bounces", Some(&app.key), Some(swell_tests::Body::Raw("message/rfc822", dsn))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["processed"][0]["suppressed"], true, "{}", r.text);
        assert!(r.json["processed"][0]["message"].is_number(), "found by Message-ID: {}", r.text);

        for n in 1..=3 {
            let r = app.post("/api/v1/bounces", json!({"address": "soft@example.com", "kind": "soft", "status": "4.2.2", "diagnostic": "mailbox full"})).await;
            assert_eq!(r.json["processed"][0]["suppressed"], n == 3, "soft bounce {n}: {}", r.text);
        }
        let r = app.post("/api/v1/bounces", json!({"address": "angry@example.com", "kind": "complaint"})).await;
        assert_eq!(r.json["processed"][0]["suppressed"], true);
        let bad = app.post("/api/v1/bounces", json!({"kind": "melted"})).await;
        assert_eq!(bad.status, 422);

        let stats = app.get(&format!("/api/v1/broadcasts/{id}/stats")).await.json;
        assert_eq!((stats["bounces"].as_i64(), stats["complaints"].as_i64(), stats["delivered"].as_i64()), (Some(2), Some(1), Some(2)), "hard and soft bounces, one complaint: {stats}");

        let count = app.post("/api/v1/audiences/count", json!({"filter": "has tag \"c\"", "channel": "email"})).await;
        assert_eq!(count.json["sendable"], 1, "{}", count.text);
        assert_eq!(count.json["removed"]["suppressed"], 3, "{}", count.text);
        let next = broadcast(app, t, json!({"filter": "has tag \"c\""})).await;
        app.post(&format!("/api/v1/broadcasts/{next}/send"), json!({})).await;
        let stats = finished(app, next).await;
        assert_eq!((stats["sent"].as_i64(), stats["skipped_reasons"]["suppressed"].as_i64()), (Some(1), Some(3)), "{stats}");
    }
}

app_test! {
    async fn an_ab_test_sends_the_winner_to_the_rest(app: &TestApp) {
        let rows: Vec<Value> = (0..40).map(|i| json!({"email": format!("ab{i}@example.com"), "tags": ["ab"]})).collect();
        contacts(app, &rows).await;
        let t = template(app, "Gốc").await;
        let r = app.post("/api/v1/broadcasts", json!({
            "name": "A/B", "template_id": t, "audience": {"filter": "has tag \"ab\""},
            "ab": {"variants": [{"subject": "Chủ đề A"}, {"subject": "Chủ đề B"}], "sample_percent": 50, "wait_minutes": 0.05, "metric": "opens"}
        })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.json["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/broadcasts/{id}/send"), json!({})).await;
        // The sample goes out; open every B message as a person would.
        let mut sample = Vec::new();
        for _ in 0..100 {
            sample = app.get("/api/v1/outbox?limit=100").await.json["items"].as_array().unwrap().clone();
            if !sample.is_empty() && app.get(&format!("/api/v1/broadcasts/{id}/stats")).await.json["queued"] == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let stats = app.get(&format!("/api/v1/broadcasts/{id}/stats")).await.json;
        let held = stats["held"].as_i64().unwrap();
        assert!(held > 0 && !sample.is_empty(), "{stats}");
        for m in sample.iter().filter(|m| m["subject"] == "Chủ đề B") {
            let raw = m["raw"].as_str().unwrap().replace("=\r\n", "").replace("=3D", "=");
            let pixel = link_in(&raw, &format!("http://{}/t/o/", app.addr));
            app.client.get(&pixel).header("User-Agent", "Mozilla/5.0 (Macintosh) AppleWebKit Thunderbird").send().await.unwrap();
        }
        let stats = finished(app, id).await;
        assert_eq!(stats["winner"], 2, "{stats}");
        assert_eq!(stats["sent"], 40);
        let outbox = app.get("/api/v1/outbox?limit=100").await.json;
        let b = outbox["items"].as_array().unwrap().iter().filter(|m| m["subject"] == "Chủ đề B").count() as i64;
        let a = outbox["items"].as_array().unwrap().iter().filter(|m| m["subject"] == "Chủ đề A").count() as i64;
        assert_eq!(a + b, 40);
        assert!(b >= held, "the rest got B: a={a} b={b} held={held}");
    }
}

/// Who the sink has received a message for, in order of address.
fn recipients(sink: &SmtpSink) -> Vec<String> {
    let mut to: Vec<String> = sink
        .messages()
        .iter()
        .flat_map(|m| m.recipients.clone())
        .collect();
    to.sort();
    to
}

async fn a_local_time_send_reaches_each_contact_at_their_own_local_time(backend: Backend) {
    // Wednesday 10 March 2027, 01:30 UTC: 08:30 in Hồ Chí Minh City, 10:30
    // in Tokyo, 01:30 in London and 20:30 the evening before in New York.
    let clock = swell_tests::ManualClock::at("2027-03-10T01:30:00Z");
    let sink = SmtpSink::start().await;
    let app = TestApp::start_at(backend, Some(vec![relay(sink.port())]), clock.clone()).await;
    contacts(
        &app,
        &[
            json!({"email": "an@example.vn", "timezone": "Asia/Ho_Chi_Minh", "tags": ["tet"]}),
            json!({"email": "amelia@example.co.uk", "timezone": "Europe/London", "tags": ["tet"]}),
            json!({"email": "jack@example.com", "timezone": "America/New_York", "tags": ["tet"]}),
            json!({"email": "yuki@example.jp", "timezone": "Asia/Tokyo", "tags": ["tet"]}),
        ],
    )
    .await;
    let t = template(&app, "Chào buổi sáng").await;
    let id = broadcast(&app, t, json!({"filter": "has tag \"tet\""})).await;

    let r = app
        .post(
            &format!("/api/v1/broadcasts/{id}/send"),
            json!({"local_time": "09:00"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.run_due_work().await;
    let stats = app
        .get(&format!("/api/v1/broadcasts/{id}/stats"))
        .await
        .json;
    assert_eq!(
        (
            stats["state"].as_str(),
            stats["recipients"].as_i64(),
            stats["queued"].as_i64()
        ),
        (Some("sending"), Some(4), Some(4)),
        "started, everyone held: {stats}"
    );
    assert!(recipients(&sink).is_empty(), "nobody's 09:00 has come");

    let (an, amelia, jack, yuki) = (
        "an@example.vn",
        "amelia@example.co.uk",
        "jack@example.com",
        "yuki@example.jp",
    );
    let steps: [(&str, &[&str]); 7] = [
        ("2027-03-10T01:59:59Z", &[]),
        // 09:00 in Hồ Chí Minh City (UTC+7).
        ("2027-03-10T02:00:00Z", &[an]),
        ("2027-03-10T08:59:59Z", &[an]),
        // 09:00 in London (GMT).
        ("2027-03-10T09:00:00Z", &[amelia, an]),
        ("2027-03-10T13:59:59Z", &[amelia, an]),
        // 09:00 in New York (EST, UTC-5).
        ("2027-03-10T14:00:00Z", &[amelia, an, jack]),
        // Tokyo's 09:00 had passed when the send started: the next day's.
        ("2027-03-11T00:00:00Z", &[amelia, an, jack, yuki]),
    ];
    for (at, expected) in steps {
        clock.set(
            at.parse::<jiff::Timestamp>()
                .expect("an instant")
                .as_millisecond(),
        );
        app.run_due_work().await;
        assert_eq!(recipients(&sink), expected, "at {at}");
    }
    let stats = app
        .get(&format!("/api/v1/broadcasts/{id}/stats"))
        .await
        .json;
    assert_eq!(
        (stats["state"].as_str(), stats["sent"].as_i64()),
        (Some("sent"), Some(4)),
        "{stats}"
    );
}

mod a_local_time_send_reaches_each_contact_at_their_own_local_time {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        a_local_time_send_reaches_each_contact_at_their_own_local_time(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        a_local_time_send_reaches_each_contact_at_their_own_local_time(Backend::Postgres).await;
    }
}
