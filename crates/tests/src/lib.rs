//! Test support: real databases and the real server.
//!
//! [`TestDb`] gives a fresh SQLite file or a fresh PostgreSQL database per
//! test; [`TestApp`] starts the whole HTTP application on a random port over
//! one and talks to it with a real HTTP client. The [`store_test!`] and
//! [`app_test!`] macros run one test body against both backends.

use std::sync::Arc;

use serde_json::Value;
use sqlx::Connection;
pub use swell_core::time::ManualClock;
use swell_store::{Store, Workspace};

pub mod browser;
pub mod dkim;
pub mod smtp_sink;
pub mod ui;

/// The PostgreSQL server tests create their databases on. The test script
/// makes sure one is running; a test that cannot reach it fails, it never
/// skips.
pub fn pg_admin_url() -> String {
    std::env::var("SWELL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store on a database that exists for one test and is removed after it.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite().await,
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("swell.db").display().to_string();
        let store = Store::open(&url).await.expect("open SQLite store");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    pub async fn postgres() -> TestDb {
        let admin = pg_admin_url();
        let name = format!(
            "swell_test_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is not reachable at {admin} ({e}); start it with scripts/test.sh or set SWELL_TEST_PG")
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let store = Store::open(&url).await.expect("open PostgreSQL store");
        TestDb {
            store,
            url,
            _dir: None,
            pg_name: Some(name),
        }
    }

    /// A second store on the same database, as another process would open it.
    pub async fn reopen(&self) -> Store {
        Store::open(&self.url).await.expect("reopen store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let store = self.store.clone();
            // Drop runs outside async code; a short-lived runtime on its own
            // thread closes the pool and drops the database.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    store.close().await;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The real server on a random port, with a workspace and its API key.
pub struct TestApp {
    pub db: TestDb,
    pub addr: std::net::SocketAddr,
    pub key: String,
    pub workspace: Workspace,
    pub client: reqwest::Client,
    /// The automation engine the server runs (tests drain it directly).
    pub automation: Arc<swell_engine::Automation>,
    /// The sender; it runs by itself unless the app was started with
    /// [`TestApp::start_at`], where [`TestApp::run_due_work`] drives it.
    pub mailer: Arc<swell_engine::Mailer>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    /// The application with the built-in outbox as its mail transport.
    pub async fn start(backend: Backend) -> TestApp {
        TestApp::start_with(backend, None).await
    }

    /// The application sending through SMTP relays given as URLs (see
    /// `swell serve --smtp`), or through the outbox when `None`.
    pub async fn start_with(
        backend: Backend,
        smtp: Option<Vec<swell_channels::SmtpServer>>,
    ) -> TestApp {
        TestApp::start_inner(backend, smtp, None, false).await
    }

    /// The application on a clock the test moves (see [`ManualClock`]);
    /// its sender and automation engine run by themselves.
    pub async fn start_with_clock(backend: Backend, clock: Arc<ManualClock>) -> TestApp {
        TestApp::start_inner(backend, None, Some(clock), false).await
    }

    /// The application on a clock the test moves, sending through SMTP
    /// relays (or the outbox); its sender does not run by itself: drive it
    /// with [`TestApp::run_due_work`].
    pub async fn start_at(
        backend: Backend,
        smtp: Option<Vec<swell_channels::SmtpServer>>,
        clock: Arc<dyn swell_core::time::Clock>,
    ) -> TestApp {
        TestApp::start_inner(backend, smtp, Some(clock), true).await
    }

    async fn start_inner(
        backend: Backend,
        smtp: Option<Vec<swell_channels::SmtpServer>>,
        clock: Option<Arc<dyn swell_core::time::Clock>>,
        driven: bool,
    ) -> TestApp {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut db = TestDb::new(backend).await;
        if let Some(clock) = clock {
            db.store = db.store.clone().with_clock(clock);
        }
        let workspace = db.store.ensure_workspace("test").await.expect("workspace");
        let (_, key) = db
            .store
            .create_api_key(workspace.id, Some("tests"))
            .await
            .expect("key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let transport = match smtp {
            Some(servers) => swell_engine::Transport::Smtp(Arc::new(
                swell_channels::SmtpTransport::new(servers, "swell.test").expect("SMTP transport"),
            )),
            None => swell_engine::Transport::Outbox,
        };
        let from = swell_channels::Mailbox::new(
            "Cửa hàng Swell",
            swell_core::email::Email::parse("news@shop.test").expect("address"),
        );
        let mut cfg = swell_engine::MailerConfig::new(&format!("http://{addr}"), from);
        cfg.poll = std::time::Duration::from_millis(100);
        cfg.batch = 50;
        cfg.concurrency = 4;
        // Retries within the test's patience rather than minutes apart.
        cfg.retry = swell_channels::Retry::new(vec![std::time::Duration::from_millis(300); 3]);
        cfg.dkim = Some(Arc::new(test_dkim_key()));
        let mailer = swell_engine::Mailer::new(
            db.store.clone(),
            transport,
            swell_engine::Tokens::new(b"test tracking key"),
            cfg,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if !driven {
            tokio::spawn(Arc::clone(&mailer).run(stop_rx.clone()));
        }
        let automation = swell_engine::Automation::new(
            db.store.clone(),
            Arc::clone(&mailer),
            swell_engine::AutomationConfig {
                poll: std::time::Duration::from_millis(100),
                retry: swell_channels::Retry::new(vec![std::time::Duration::from_millis(300); 3]),
                ..Default::default()
            },
        );
        tokio::spawn(Arc::clone(&automation).run(stop_rx));
        let state = swell_web::AppState {
            store: db.store.clone(),
            mailer: Arc::clone(&mailer),
            automation: Arc::clone(&automation),
            access: swell_web::ui::Access::new(false),
        };
        tokio::spawn(async move {
            swell_web::serve(listener, state, async move {
                let _ = rx.await;
                let _ = stop_tx.send(true);
            })
            .await
            .expect("server");
        });
        TestApp {
            db,
            addr,
            key,
            workspace,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            automation,
            mailer,
            shutdown: Some(tx),
        }
    }

    /// Another server over the same database, with its own pool, sender
    /// and engine, as a second `swell serve` process would run; it stops
    /// when dropped.
    pub async fn second_server(&self) -> SecondServer {
        let store = self.db.reopen().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let from = swell_channels::Mailbox::new(
            "Cửa hàng Swell",
            swell_core::email::Email::parse("news@shop.test").expect("address"),
        );
        let mailer = swell_engine::Mailer::new(
            store.clone(),
            swell_engine::Transport::Outbox,
            swell_engine::Tokens::new(b"test tracking key"),
            swell_engine::MailerConfig::new(&format!("http://{addr}"), from),
        );
        let automation = swell_engine::Automation::new(
            store.clone(),
            Arc::clone(&mailer),
            swell_engine::AutomationConfig::default(),
        );
        let state = swell_web::AppState {
            store,
            mailer,
            automation,
            access: swell_web::ui::Access::new(false),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            swell_web::serve(listener, state, async move {
                let _ = rx.await;
            })
            .await
            .expect("second server");
        });
        SecondServer {
            addr,
            _shutdown: tx,
        }
    }

    /// An API key of this workspace that acts as `user`.
    pub async fn user_key(&self, user: i64) -> String {
        self.db
            .store
            .create_user_api_key(self.workspace.id, Some("tests"), Some(user))
            .await
            .expect("user key")
            .1
    }

    /// Runs the sender until it has nothing due at the clock's time.
    pub async fn run_due_work(&self) {
        while self.mailer.run_once().await.expect("sender") {}
    }

    /// Runs the automation engine until nothing is due and nothing in
    /// flight (a campaign's steps and the ones they schedule now).
    pub async fn settle_campaigns(&self) {
        for _ in 0..500 {
            self.automation.drain().await.expect("engine");
            if self.store().traces_in_flight().await.expect("store") == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the engine did not settle");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// Creates another workspace and returns a key for it.
    pub async fn other_workspace_key(&self, name: &str) -> String {
        let ws = self
            .db
            .store
            .ensure_workspace(name)
            .await
            .expect("workspace");
        self.db
            .store
            .create_api_key(ws.id, None)
            .await
            .expect("key")
            .1
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Body>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        match body {
            Some(Body::Json(v)) => req = req.json(&v),
            Some(Body::Csv(s)) => req = req.header("content-type", "text/csv").body(s),
            Some(Body::Raw(ct, s)) => req = req.header("content-type", ct).body(s),
            None => {}
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Response { status, json, text }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path, Some(&self.key.clone()), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(
            reqwest::Method::POST,
            path,
            Some(&self.key.clone()),
            Some(Body::Json(body)),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(
            reqwest::Method::PATCH,
            path,
            Some(&self.key.clone()),
            Some(Body::Json(body)),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.request(
            reqwest::Method::PUT,
            path,
            Some(&self.key.clone()),
            Some(Body::Json(body)),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(reqwest::Method::DELETE, path, Some(&self.key.clone()), None)
            .await
    }

    pub async fn post_csv(&self, path: &str, csv: &str) -> Response {
        self.request(
            reqwest::Method::POST,
            path,
            Some(&self.key.clone()),
            Some(Body::Csv(csv.to_string())),
        )
        .await
    }

    /// Imports contacts from CSV and returns the report.
    pub async fn import_csv(&self, csv: &str) -> Value {
        let r = self.post_csv("/api/v1/contacts/import", csv).await;
        assert_eq!(r.status, 200, "import failed: {}", r.text);
        r.json
    }

    /// A snapshot of everything a workspace holds, to show a failed request
    /// changed nothing.
    pub async fn snapshot(&self) -> Value {
        let contacts = self.get("/api/v1/contacts?limit=1000").await.json;
        let changes = self.get("/api/v1/changes?limit=1000").await.json;
        let orders = self.get("/api/v1/records/order?limit=1000").await.json;
        let events = self.get("/api/v1/events?limit=1000").await.json;
        serde_json::json!({"contacts": contacts, "changes": changes, "orders": orders, "events": events})
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub enum Body {
    Json(Value),
    Csv(String),
    Raw(&'static str, String),
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

impl Response {
    /// The `error.details[].field` names of an error response.
    pub fn error_fields(&self) -> Vec<String> {
        self.json["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A second server over a [`TestApp`]'s database.
pub struct SecondServer {
    pub addr: std::net::SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Runs an async test body with a fresh [`Store`] on SQLite and again on
/// PostgreSQL: one suite, two backends.
#[macro_export]
macro_rules! store_test {
    ($(#[$meta:meta])* async fn $name:ident($store:ident : Store) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($store: swell_store::Store) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = swell_tests::TestDb::sqlite().await;
                run(db.store.clone()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = swell_tests::TestDb::postgres().await;
                run(db.store.clone()).await;
            }
        }
    };
}

/// Runs an async test body against the real server over SQLite and again
/// over PostgreSQL.
#[macro_export]
macro_rules! app_test {
    ($(#[$meta:meta])* async fn $name:ident($app:ident : &TestApp) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($app: &swell_tests::TestApp) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = swell_tests::TestApp::start(swell_tests::Backend::Sqlite).await;
                run(&app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = swell_tests::TestApp::start(swell_tests::Backend::Postgres).await;
                run(&app).await;
            }
        }
    };
}

pub type Shared<T> = Arc<T>;

/// The DKIM key the test application signs with (`fixtures/`), for the
/// domain `shop.test` and selector `swell`.
pub fn test_dkim_key() -> swell_channels::DkimKey {
    let pem = include_str!("../fixtures/dkim_test_key.pem");
    swell_channels::DkimKey::from_pem("swell", "shop.test", pem).expect("the test DKIM key")
}

/// The public half of [`test_dkim_key`], PEM.
pub const TEST_DKIM_PUBLIC_KEY: &str = include_str!("../fixtures/dkim_test_key.pub.pem");

/// A contact campaign started by hand, each contact let in once, with no
/// activities yet.
pub async fn manual_campaign(
    store: &Store,
    ws: swell_store::WorkspaceId,
    name: &str,
) -> swell_store::automation::Campaign {
    contact_campaign(store, ws, name, serde_json::json!({"kind": "manual"})).await
}

/// A contact campaign entered by `trigger`, each contact let in once, with
/// no activities yet.
pub async fn contact_campaign(
    store: &Store,
    ws: swell_store::WorkspaceId,
    name: &str,
    trigger: serde_json::Value,
) -> swell_store::automation::Campaign {
    let input = swell_store::automation::CampaignInput {
        marketing_campaign_id: None,
        name: name.into(),
        entity: "contact".into(),
        filter: None,
        trigger,
        reentry: "once".into(),
        budget: None,
        hook_key: None,
        hook_signing: None,
    };
    store.create_campaign(ws, &input).await.expect("campaign")
}
