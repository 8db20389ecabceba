//! A recording HTTP endpoint on 127.0.0.1 for the provider and webhook
//! tests: it keeps every request it receives and answers each one the
//! same way.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// A request as the endpoint received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("a text header")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// How the endpoint answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status and JSON body.
    Json(StatusCode, serde_json::Value),
    /// This status and text body.
    Text(StatusCode, &'static str),
    /// Never: the request hangs until the client gives up.
    Hang,
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
}

pub struct Endpoint {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Endpoint {
    pub async fn start(answer: Answer) -> Endpoint {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            received: received.clone(),
            answer,
        };
        let app = Router::new().fallback(record).with_state(shared);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Endpoint { base, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The one request received; fails the test if there were more or none.
    pub fn only_request(&self) -> Received {
        let received = self.received.lock().unwrap();
        assert_eq!(received.len(), 1, "requests received: {received:?}");
        received[0].clone()
    }
}

async fn record(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.received.lock().unwrap().push(Received {
        method,
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    });
    match shared.answer {
        Answer::Json(status, json) => (status, axum::Json(json)).into_response(),
        Answer::Text(status, text) => (status, text).into_response(),
        Answer::Hang => std::future::pending().await,
    }
}

/// A URL on 127.0.0.1 where nothing listens.
pub async fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/")
}
