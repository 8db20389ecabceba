//! Kill the sending process in the middle of a broadcast and start it
//! again: the rest go out, and nobody gets the message twice.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Api, Running, create_key, free_port, start, swell};
use serde_json::{Value, json};
use swell_tests::smtp_sink::SmtpSink;

const RECIPIENTS: usize = 3000;

/// Starts `swell serve` sending through the sink, and waits for it to listen.
fn serve(db: &str, port: u16, sink: u16) -> Running {
    let mut c = swell(db);
    c.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--smtp")
        .arg(format!("smtp://127.0.0.1:{sink}?tls=none&connections=4"));
    start(c, "swell is listening on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_killed_midway_resumes_without_sending_anyone_twice() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("swell.db").display().to_string();
    let key = create_key(&db);

    let sink = SmtpSink::start().await;
    let port = free_port();
    let mut child = serve(&db, port, sink.port());
    let api = Api::new(port, key);

    let mut csv = String::from("email,name,tags\n");
    for i in 0..RECIPIENTS {
        csv.push_str(&format!("person{i}@example.com,Người {i},tet\n"));
    }
    let report = api.send("/contacts/import", "text/csv", csv).await;
    assert_eq!(report["created"], RECIPIENTS as u64, "{report}");
    let t = api.post("/templates", json!({"name": "Tết", "subject": "Chúc mừng năm mới {{ contact.name }}", "html": "<p>Chào {{ contact.name }}</p><p><a href=\"https://shop.example.vn/\">Mua sắm</a></p>"})).await;
    let b = api.post("/broadcasts", json!({"name": "Tết", "template_id": t["id"], "audience": {"filter": "has tag \"tet\""}})).await;
    let id = b["id"].as_i64().unwrap();
    api.post(&format!("/broadcasts/{id}/send"), json!({})).await;

    // Kill it hard once a tenth has gone out.
    sink.wait_for(RECIPIENTS / 10, Duration::from_secs(60))
        .await;
    child.0.kill().expect("kill");
    child.0.wait().unwrap();
    let at_kill = sink.messages().len();
    assert!(
        at_kill < RECIPIENTS,
        "the send finished before the kill; nothing was tested"
    );

    let _child = serve(&db, port, sink.port());
    let mut stats = Value::Null;
    for _ in 0..600 {
        stats = api.get(&format!("/broadcasts/{id}/stats")).await;
        if stats["state"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stats["state"], "sent", "{stats}");

    let received = sink.messages();
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for m in &received {
        for r in &m.recipients {
            *per_address.entry(r.clone()).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_address.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let sent = stats["sent"].as_u64().unwrap() as usize;
    let failed = stats["failed"].as_u64().unwrap() as usize;
    assert_eq!(sent + failed, RECIPIENTS, "{stats}");
    // Only messages in flight at the kill may be unaccounted for: those
    // are recorded as interrupted, never sent again.
    assert!(
        failed <= 500,
        "at most one claimed batch is interrupted: {stats}"
    );
    assert!(
        received.len() >= sent && received.len() <= sent + failed,
        "{} received, {stats}",
        received.len()
    );
    assert!(
        received.len() > at_kill,
        "the rest went out after the restart"
    );
}
