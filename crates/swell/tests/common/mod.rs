//! What the process-level tests share: the `swell` binary as a child
//! process, waited for until it says it is up and killed however the test
//! ends, a workspace key from `swell key create`, and the API over HTTP.
//! (Each test binary includes it and uses part of it.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The `swell` binary on database `db`, quiet, without a config file.
pub fn swell(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_swell"));
    c.arg("--db")
        .arg(db)
        .env("SWELL_LOG", "warn")
        .env_remove("SWELL_CONFIG");
    c
}

/// A child process, killed when the test ends however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a `swell` command and waits for the line that says it is up.
pub fn start(mut command: Command, ready: &str) -> Running {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start swell");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("swell exited before saying {ready:?}"))
            .expect("read stderr");
        if line.contains(ready) {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running(child)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A new key of workspace `shop` (made if missing): the last line `swell
/// key create` prints.
pub fn create_key(db: &str) -> String {
    let out = swell(db)
        .args(["key", "create", "--workspace", "shop"])
        .output()
        .expect("swell key create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

/// The API of a running server, with a workspace key.
pub struct Api {
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(port: u16, key: String) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}/api/v1"),
            key,
            client: reqwest::Client::new(),
        }
    }

    /// POSTs `body` as `content_type`; the call must succeed.
    pub async fn send(&self, path: &str, content_type: &str, body: String) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        ok_json(path, r).await
    }

    /// GETs `path`; the call must succeed.
    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        ok_json(path, r).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.send(path, "application/json", body.to_string()).await
    }
}

/// The JSON of a reply that must be a success (null when it has none).
async fn ok_json(path: &str, r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
