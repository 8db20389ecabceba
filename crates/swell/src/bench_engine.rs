//! `swell bench engine`: participants through a three-activity workflow
//! (an e-mail to the outbox, then two actions), traces per second on SQLite
//! (the engine in this process) and on PostgreSQL with one and two `swell
//! worker` processes, and the latency from a record update, and from a
//! webhook call through the HTTP server, to the first trace processed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use swell_core::contact::{ContactInput, Patch};
use swell_engine::{Automation, AutomationConfig, Mailer, MailerConfig, Tokens, Transport};
use swell_store::automation::{ActivityInput, CampaignInput};
use swell_store::contacts::{ContactWrite, Target};
use swell_store::{Store, WorkspaceId};

use crate::bench::{CpuShare, drop_pg_database, fresh_pg_database, peak_rss_mb};

/// Which backends a run measures.
pub struct Backends {
    pub sqlite: bool,
    pub postgres: bool,
}

pub async fn run(
    participants: u64,
    postgres: &str,
    backends: Backends,
    lanes: usize,
) -> anyhow::Result<()> {
    println!(
        "swell bench engine: {participants} participants, three activities each (e-mail to the outbox, add to score, split), {lanes} lane(s) per engine"
    );
    let dir = tempfile::tempdir()?;
    if backends.sqlite {
        let sqlite = dir.path().join("engine.db").to_string_lossy().into_owned();
        let one = throughput(&sqlite, participants, lanes).await?;
        println!("SQLite, 1 worker: {:.0} traces/s", one);
        let (p50, p99) = latency(&sqlite).await?;
        println!(
            "SQLite trigger latency (record update -> first trace processed): p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
        let hooks = dir.path().join("hooks.db").to_string_lossy().into_owned();
        let (p50, p99) = hook_latency(&hooks).await?;
        println!(
            "SQLite trigger latency (POST /hooks/... -> first trace processed): p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
    }
    if backends.postgres {
        let mut rates = Vec::new();
        for workers in [1, 2] {
            let url = fresh_pg_database(postgres, &format!("swell_bench_engine_{workers}")).await?;
            let rate = throughput_processes(&url, participants, workers, lanes).await?;
            println!("PostgreSQL, {workers} `swell worker` process(es): {rate:.0} traces/s");
            rates.push(rate);
            if workers == 1 {
                let (p50, p99) = latency(&url).await?;
                println!("PostgreSQL trigger latency: p50 {p50:.1} ms, p99 {p99:.1} ms");
                let (p50, p99) = hook_latency(&url).await?;
                println!(
                    "PostgreSQL trigger latency (POST /hooks/...): p50 {p50:.1} ms, p99 {p99:.1} ms"
                );
            }
            drop_pg_database(postgres, &url).await?;
        }
        println!(
            "PostgreSQL scaling, 2 worker processes / 1: {:.2}x",
            rates[1] / rates[0]
        );
    }
    println!("peak RSS {:.0} MB", peak_rss_mb());
    Ok(())
}

fn engine(store: &Store, clock_free: bool) -> Arc<Automation> {
    engine_with(store, clock_free, AutomationConfig::default().lanes).0
}

fn engine_with(store: &Store, clock_free: bool, lanes: usize) -> (Arc<Automation>, Arc<Mailer>) {
    let from = swell_channels::Mailbox::new(
        "Bench",
        swell_core::email::Email::parse("bench@swell.local").expect("address"),
    );
    let mailer = Mailer::new(
        store.clone(),
        Transport::Outbox,
        Tokens::new(b"bench"),
        MailerConfig::new("http://127.0.0.1:8080", from),
    );
    let mut cfg = AutomationConfig {
        concurrency: 32,
        lanes: lanes.max(1),
        ..Default::default()
    };
    if clock_free {
        cfg.poll = Duration::from_millis(500);
    }
    (
        Automation::new(store.clone(), Arc::clone(&mailer), cfg),
        mailer,
    )
}

async fn workflow(
    store: &Store,
    ws: WorkspaceId,
    trigger: serde_json::Value,
    hook_key: Option<String>,
) -> anyhow::Result<i64> {
    let t = store
        .put_template(
            ws,
            None,
            "bench",
            "email",
            &json!({"subject": "Chào {{ contact.given_name }}", "html": "<p>Xin chào {{ contact.name }}</p><a href=\"https://shop.example.vn/\">Xem</a>"}),
        )
        .await?;
    let c = store
        .create_campaign(
            ws,
            &CampaignInput {
                marketing_campaign_id: None,
                name: "bench".into(),
                entity: "contact".into(),
                filter: None,
                trigger,
                reentry: "each".into(),
                budget: None,
                hook_key,
                hook_signing: None,
            },
        )
        .await?;
    let step = |parent: Option<i64>, kind: &str, config: serde_json::Value| ActivityInput {
        parent_id: parent,
        name: kind.into(),
        kind: kind.into(),
        config,
        trigger: if parent.is_some() {
            "after_parent".into()
        } else {
            "start".into()
        },
        ..Default::default()
    };
    let a = store
        .add_activity(ws, c.id, &step(None, "email", json!({"template_id": t.id})))
        .await?;
    let b = store
        .add_activity(
            ws,
            c.id,
            &step(
                Some(a.id),
                "action",
                json!({"action": "add_score", "points": 1}),
            ),
        )
        .await?;
    store
        .add_activity(ws, c.id, &step(Some(b.id), "split", json!({})))
        .await?;
    Ok(c.id)
}

/// A store with `participants` contacts let into the bench's campaign:
/// the store, the workspace, the campaign and how many entered.
async fn launched(db: &str, participants: u64) -> anyhow::Result<(Store, WorkspaceId, i64, u64)> {
    let store = Store::open(db).await?;
    let ws = store.ensure_workspace("bench").await?.id;
    swell_store::bench::generate_contacts(&store, ws, participants).await?;
    let id = workflow(&store, ws, json!({"kind": "manual"}), None).await?;
    let started = Instant::now();
    let entered = engine(&store, false).launch(ws, id).await?;
    println!(
        "  entered {entered} participants in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok((store, ws, id, entered))
}

/// Traces per second of an engine in this process draining one campaign.
async fn throughput(db: &str, participants: u64, lanes: usize) -> anyhow::Result<f64> {
    let (store, ws, id, _) = launched(db, participants).await?;
    let started = Instant::now();
    let cpu = CpuShare::start();
    let e = engine_with(&store, false, lanes).0;
    tokio::spawn(async move { e.drain().await }).await??;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu.describe();
    let done = processed(&store, ws, id).await?;
    println!("  {done} traces processed in {secs:.1} s; {cpu}");
    store.close().await;
    Ok(done as f64 / secs)
}

/// Traces per second of `workers` `swell worker` processes (this binary,
/// with its defaults) draining one campaign: from their start until no
/// trace is left waiting, scheduled or running.
async fn throughput_processes(
    db: &str,
    participants: u64,
    workers: usize,
    lanes: usize,
) -> anyhow::Result<f64> {
    let (store, ws, id, entered) = launched(db, participants).await?;
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let cpu = CpuShare::start();
    let mut children = Vec::new();
    for _ in 0..workers {
        let child = std::process::Command::new(&exe)
            .args(["worker", "--db", db, "--lanes", &lanes.to_string()])
            .env("SWELL_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()?;
        children.push(KillOnDrop(child));
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for c in &mut children {
            if let Some(status) = c.0.try_wait()? {
                anyhow::bail!("a swell worker stopped with {status} before the campaign was done");
            }
        }
        if !store.has_pending_traces().await? {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu.describe();
    drop(children);
    let done = processed(&store, ws, id).await?;
    println!("  {done} traces processed in {secs:.1} s; {cpu} (server and workers)");
    if done != 3 * entered as i64 {
        anyhow::bail!("{done} traces processed, expected {}", 3 * entered);
    }
    store.close().await;
    Ok(done as f64 / secs)
}

/// A child process killed when the bench is done with it, or fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Milliseconds from a contact's update to the first trace of the
/// campaign it triggers being processed, with the engine running as in
/// `swell serve`: p50 and p99 over 200 updates.
async fn latency(db: &str) -> anyhow::Result<(f64, f64)> {
    let store = Store::open(db).await?;
    let ws = store.ensure_workspace("latency").await?.id;
    swell_store::bench::generate_contacts(&store, ws, 200).await?;
    let id = workflow(
        &store,
        ws,
        json!({"kind": "updated", "fields": ["locale"]}),
        None,
    )
    .await?;
    let e = engine(&store, true);
    e.launch(ws, id).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(Arc::clone(&e).run(stop_rx));
    let contacts: Vec<i64> = store
        .audience_ids(
            ws,
            &swell_core::entity::EntityKind::Contact,
            &swell_core::filter::Filter::parse("email is set")?,
            &store.catalog(ws).await?,
            0,
            200,
        )
        .await?;
    let mut samples = Vec::new();
    for (i, contact) in contacts.iter().enumerate() {
        let input = ContactInput {
            locale: Patch::Set(if i % 2 == 0 { "en".into() } else { "vi".into() }),
            ..Default::default()
        };
        let before = processed(&store, ws, id).await?;
        let t = Instant::now();
        store
            .write_contacts(
                ws,
                &[ContactWrite {
                    target: Target::Id(*contact),
                    input,
                }],
                false,
            )
            .await?;
        // Nothing wakes the engine here but the change itself (the store's
        // notice in this process; on PostgreSQL also the change log's
        // notification), as after an update through `swell serve`'s API.
        samples.push(first_trace_ms(&store, ws, id, before, t, "an update").await?);
        // Let the rest of the workflow finish before the next update.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let _ = runner.await;
    store.close().await;
    Ok(p50_p99(samples))
}

/// Milliseconds from a `POST /hooks/{secret}` (a new person each time,
/// through the HTTP server as `swell serve` runs it) to the first trace of
/// the campaign being processed: p50 and p99 over 200 calls.
async fn hook_latency(db: &str) -> anyhow::Result<(f64, f64)> {
    let store = Store::open(db).await?;
    let ws = store.ensure_workspace("hooks").await?.id;
    let secret = "bench-hook-secret";
    let id = workflow(
        &store,
        ws,
        json!({"kind": "webhook"}),
        Some(swell_store::workspaces::hash_key(secret)),
    )
    .await?;
    let (e, mailer) = engine_with(&store, true, AutomationConfig::default().lanes);
    e.launch(ws, id).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(Arc::clone(&e).run(stop_rx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks/{secret}", listener.local_addr()?);
    let state = swell_web::AppState {
        store: store.clone(),
        mailer,
        automation: Arc::clone(&e),
        access: swell_web::ui::Access::new(false),
    };
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(swell_web::serve(listener, state, async move {
        let _ = server_stopped.await;
    }));
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    for i in 0..200 {
        let before = processed(&store, ws, id).await?;
        let t = Instant::now();
        let r = http
            .post(&url)
            .json(&json!({"email": format!("hook{i}@bench.vn"), "name": format!("Khách {i}")}))
            .send()
            .await?;
        if !r.status().is_success() {
            anyhow::bail!("POST /hooks: {} {}", r.status(), r.text().await?);
        }
        samples.push(first_trace_ms(&store, ws, id, before, t, "a webhook call").await?);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_server.send(());
    let _ = server.await;
    let _ = stop_tx.send(true);
    let _ = runner.await;
    store.close().await;
    Ok(p50_p99(samples))
}

/// Traces of the campaign processed so far.
async fn processed(store: &Store, ws: WorkspaceId, campaign: i64) -> anyhow::Result<i64> {
    Ok(store
        .activity_figures(ws, campaign)
        .await?
        .values()
        .map(|f| f.processed)
        .sum())
}

/// Milliseconds from `since` until the campaign has processed more than
/// `before` traces (`what` started it, for the error).
async fn first_trace_ms(
    store: &Store,
    ws: WorkspaceId,
    campaign: i64,
    before: i64,
    since: Instant,
    what: &str,
) -> anyhow::Result<f64> {
    while processed(store, ws, campaign).await? <= before {
        if since.elapsed() > Duration::from_secs(10) {
            anyhow::bail!("no trace processed 10 s after {what}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(since.elapsed().as_secs_f64() * 1000.0)
}

fn p50_p99(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}
