//! Three `swell worker` processes share one campaign of 10,000 people on
//! PostgreSQL, and one of them is killed with SIGKILL midway: every step
//! of every participant still runs exactly once. Nothing is lost, nothing
//! happens twice, and the webhook the campaign calls sees each step's
//! idempotency key (a step cut off mid-call may repeat its call, under the
//! same key, and nothing else). The score step runs in its parent's batch
//! (see `Automation::run_due_children`), the tag step through the queue:
//! both exactly once.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use common::{Api, Running, create_key, free_port, start, swell};
use serde_json::json;
use sqlx::Row;
use swell_tests::TestDb;

const PEOPLE: usize = 10_000;
/// Steps per person: the webhook, the tag and the score.
const STEPS: usize = 3;

/// The campaign's webhook peer: counts the calls per idempotency key.
async fn receiver() -> (u16, Arc<Mutex<HashMap<String, u32>>>) {
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let s = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let s = Arc::clone(&s);
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            *s.lock().unwrap().entry(key).or_default() += 1;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

/// `swell serve --no-worker` on `url`: the API alone, with a key for it.
fn api_only(url: &str) -> (Running, Api) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key = create_key(url);
    let port = free_port();
    let mut serve = swell(url);
    serve.args([
        "serve",
        "--no-worker",
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]);
    (start(serve, "swell is listening on"), Api::new(port, key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_killed_run_every_step_exactly_once() {
    let db = TestDb::postgres().await;
    let url = db.url.clone();
    // The API alone: the three workers do all the campaign's work.
    let (_api_process, api) = api_only(&url);

    let mut csv = String::from("email,name,tags\n");
    for i in 0..PEOPLE {
        csv.push_str(&format!("person{i}@example.com,Người {i},tet\n"));
    }
    let report = api.send("/contacts/import", "text/csv", csv).await;
    assert_eq!(report["created"], PEOPLE as u64, "{report}");

    let (hook_port, seen) = receiver().await;
    let campaign = json!({
        "name": "Tết", "trigger": {"kind": "manual"}, "filter": "has tag \"tet\"",
        "activities": [
            {"name": "Tell the CRM", "kind": "webhook",
             "config": {"url": format!("http://127.0.0.1:{hook_port}/crm"), "secret": "crm-key"},
             "children": [
                {"name": "Mark", "kind": "action", "trigger": "after_parent",
                 "config": {"action": "add_tag", "tag": "reached"}},
                {"name": "Count", "kind": "action", "trigger": "after_parent",
                 "config": {"action": "add_score", "points": 1}},
             ]},
        ],
    });
    let c = api.post("/campaigns", campaign).await;
    let id = c["id"].as_i64().expect("campaign id");
    let launched = api
        .post(&format!("/campaigns/{id}/launch"), json!({}))
        .await;
    assert_eq!(launched["entered"], PEOPLE as u64, "{launched}");

    let workers: Vec<Running> = (0..3)
        .map(|_| {
            let mut w = swell(&url);
            w.args(["worker", "--lease", "3"]);
            start(w, "swell worker is running")
        })
        .collect();
    let mut workers = workers.into_iter();
    let mut victim = workers.next().unwrap();
    let _others: Vec<Running> = workers.collect();

    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let processed = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM traces WHERE state = 'processed'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    // Kill one worker hard once a fifth of the steps have run.
    for _ in 0..1200 {
        if processed(pool.clone()).await >= (STEPS * PEOPLE / 5) as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    victim.0.kill().expect("SIGKILL");
    victim.0.wait().unwrap();
    let at_kill = processed(pool.clone()).await;
    assert!(
        at_kill < (STEPS * PEOPLE) as i64,
        "the campaign finished before the kill; nothing was tested"
    );

    // The other two finish, the killed one's leased steps included.
    let mut done = 0;
    for _ in 0..2400 {
        done = processed(pool.clone()).await;
        if done == (STEPS * PEOPLE) as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        done,
        (STEPS * PEOPLE) as i64,
        "every step ran (killed at {at_kill})"
    );

    // Exactly one trace per participant and step, all processed.
    let rows = sqlx::query(
        "SELECT state, COUNT(*) AS n, COUNT(DISTINCT (participant_id, activity_id)) AS pairs
         FROM traces GROUP BY state",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "only processed traces are left");
    assert_eq!(rows[0].get::<String, _>("state"), "processed");
    assert_eq!(rows[0].get::<i64, _>("n"), (STEPS * PEOPLE) as i64);
    assert_eq!(rows[0].get::<i64, _>("pairs"), (STEPS * PEOPLE) as i64);
    let completed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM participants WHERE state = 'completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(completed, PEOPLE as i64);

    // The tag was added once per person: one change each, not two.
    let tagged: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT record_id, COUNT(*) FROM changes
         WHERE entity = 'contact' AND op = 'update' AND CAST(changes AS TEXT) LIKE '%reached%'
         GROUP BY record_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tagged.len(), PEOPLE, "everyone was tagged");
    let twice: Vec<_> = tagged.iter().filter(|(_, n)| *n != 1).collect();
    assert!(twice.is_empty(), "tagged more than once: {twice:?}");

    // The point was added once per person, with one change each.
    let scores: Vec<(i64, i64)> =
        sqlx::query_as("SELECT score, COUNT(*) FROM contacts GROUP BY score")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(scores, vec![(1, PEOPLE as i64)], "every score is 1");
    let scored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM changes WHERE entity = 'contact' AND op = 'update'
           AND CAST(changes AS TEXT) LIKE '%score%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(scored, PEOPLE as i64, "one score change per person");

    // Every step's call arrived under its own key; a repeat happens only
    // for the calls the killed worker had in flight (its lanes' claimed
    // batches), under the same key.
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.contains_key(""),
        "every call carries an idempotency key"
    );
    assert_eq!(seen.len(), PEOPLE, "one key per participant's webhook step");
    let repeated = seen.values().filter(|n| **n > 1).count();
    let cfg = swell_engine::AutomationConfig::default();
    let in_flight = cfg.lanes * cfg.batch as usize;
    assert!(
        repeated <= in_flight,
        "{repeated} calls repeated: more than the killed worker's claimed batches ({in_flight})"
    );
}

/// A contact changed through one process's API wakes a `swell worker` in
/// another at once (PostgreSQL's LISTEN/NOTIFY): the campaign the change
/// triggers runs its first step long before the worker's next look, here a
/// minute away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_the_api_wakes_a_worker_in_another_process() {
    let db = TestDb::postgres().await;
    let url = db.url.clone();
    let (_api_process, api) = api_only(&url);

    let person = api
        .post(
            "/contacts",
            json!({"email": "an@example.vn", "locale": "en"}),
        )
        .await;
    let id = person["id"].as_i64().expect("contact id");
    let campaign = json!({
        "name": "Moved", "trigger": {"kind": "updated", "fields": ["locale"]},
        "activities": [{"name": "Tag", "kind": "action", "config": {"action": "add_tag", "tag": "moved"}}],
    });
    let c = api.post("/campaigns", campaign).await;
    let campaign = c["id"].as_i64().expect("campaign id");
    api.post(&format!("/campaigns/{campaign}/launch"), json!({}))
        .await;
    let mut worker = swell(&url);
    worker.args(["worker", "--poll", "60"]);
    let _worker = start(worker, "swell worker is running");
    // The worker has looked, found nothing, and sleeps its minute.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let at = std::time::Instant::now();
    api.post(
        "/contacts",
        json!({"email": "an@example.vn", "locale": "vi"}),
    )
    .await;
    loop {
        let tags = api.get(&format!("/contacts/{id}")).await["tags"].clone();
        if tags == json!(["moved"]) {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(15),
            "the worker was not woken: tags {tags}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
