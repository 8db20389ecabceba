//! Kill the sending process in the middle of a broadcast and start it
//! again: the rest go out, and nobody gets the message twice.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use swell_tests::smtp_sink::SmtpSink;

const RECIPIENTS: usize = 3000;

fn swell(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_swell"));
    c.arg("--db")
        .arg(db)
        .env("SWELL_LOG", "warn")
        .env_remove("SWELL_CONFIG");
    c
}

/// Starts `swell serve` and waits for it to listen.
fn serve(db: &str, port: u16, sink: u16) -> Child {
    let mut child = swell(db)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--smtp")
        .arg(format!("smtp://127.0.0.1:{sink}?tls=none&connections=4"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start swell serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .expect("swell serve exited before listening")
            .expect("read stderr");
        if line.contains("swell is listening on") {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// A server process, killed when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Value {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some((ct, b)) = body {
            req = req.header("Content-Type", ct).body(b);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            path,
            Some(("application/json", body.to_string())),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_killed_midway_resumes_without_sending_anyone_twice() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("swell.db").display().to_string();
    let out = swell(&db)
        .args(["key", "create", "--workspace", "shop"])
        .output()
        .expect("swell key create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();

    let sink = SmtpSink::start().await;
    let port = free_port();
    let mut child = Running(serve(&db, port, sink.port()));
    let api = Api {
        base: format!("http://127.0.0.1:{port}/api/v1"),
        key,
        client: reqwest::Client::new(),
    };

    let mut csv = String::from("email,name,tags\n");
    for i in 0..RECIPIENTS {
        csv.push_str(&format!("person{i}@example.com,Người {i},tet\n"));
    }
    let report = api
        .call(
            reqwest::Method::POST,
            "/contacts/import",
            Some(("text/csv", csv)),
        )
        .await;
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

    let _child = Running(serve(&db, port, sink.port()));
    let mut stats = Value::Null;
    for _ in 0..600 {
        stats = api
            .call(
                reqwest::Method::GET,
                &format!("/broadcasts/{id}/stats"),
                None,
            )
            .await;
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
