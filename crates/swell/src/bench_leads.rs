//! `swell bench leads`: leads through the real HTTP API (`POST
//! /api/v1/leads`, ad by names, contact dedupe, assignment by a
//! round-robin rule over four reps, history) from concurrent clients,
//! beside the cheapest write the API has (`POST /api/v1/events` of one
//! event) through the same server, clients and database in the same run.
//! Leads/s and the 50th and 99th percentile latency, on SQLite and
//! PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};
use swell_store::Store;

use crate::bench::{drop_pg_database, fresh_pg_database};

struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Sends `n` requests made by `body(i)` to `path`, `clients` at a time.
async fn drive(
    base: &str,
    key: &str,
    path: &str,
    n: u64,
    clients: u64,
    body: impl Fn(u64) -> Value + Send + Sync + 'static,
) -> anyhow::Result<Run> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
        .build()?;
    let body = Arc::new(body);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, body) = (http.clone(), Arc::clone(&body));
        let (url, key) = (format!("{base}{path}"), key.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            while i < n {
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body(i))
                    .send()
                    .await?;
                let status = r.status();
                let text = r.text().await?;
                if !status.is_success() {
                    bail!("{url}: {status} {text}");
                }
                lat.push(t.elapsed());
                i += clients;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1].as_secs_f64() * 1000.0
    };
    Ok(Run {
        per_second: n as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// One backend: a fresh workspace with four reps and a rule, the server on
/// a free port, then the baseline and the leads.
async fn one(db: &str, n: u64, clients: u64) -> anyhow::Result<(Run, Run, i64)> {
    let store = Store::open(db).await?;
    let ws = store.ensure_workspace("bench").await?;
    let (_, key) = store.create_api_key(ws.id, Some("bench")).await?;
    let mut reps = Vec::new();
    for name in ["An", "Binh", "Chi", "Dung"] {
        let input = swell_store::users::UserInput {
            name: Some(name.into()),
            email: Some(
                swell_core::Email::parse(&format!("{}@bench.vn", name.to_lowercase()))
                    .map_err(anyhow::Error::msg)?,
            ),
            role: Some(swell_core::role::Role::Sales),
            ..Default::default()
        };
        reps.push(store.write_user(ws.id, None, &input).await?.id);
    }
    let rule = swell_store::leads::RuleInput {
        name: Some("Everyone".into()),
        strategy: Some(swell_store::leads::Strategy::RoundRobin),
        reps: Some(
            reps.iter()
                .map(|&user| swell_store::leads::RepWeight { user, weight: 1 })
                .collect(),
        ),
        ..Default::default()
    };
    store.write_assignment_rule(ws.id, None, &rule).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let from = swell_channels::Mailbox::new(
        "Bench",
        swell_core::Email::parse("bench@shop.vn").map_err(anyhow::Error::msg)?,
    );
    let mailer = swell_engine::Mailer::new(
        store.clone(),
        swell_engine::Transport::Outbox,
        swell_engine::Tokens::new(b"bench"),
        swell_engine::MailerConfig::new(&base, from),
    );
    let automation =
        swell_engine::Automation::new(store.clone(), Arc::clone(&mailer), Default::default());
    let state = swell_web::AppState {
        store: store.clone(),
        mailer,
        automation,
        access: swell_web::ui::Access::new(false),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(swell_web::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let events = drive(
        &base,
        &key,
        "/api/v1/events",
        n,
        clients,
        |i| json!({"event": "page_view", "properties": {"n": i}}),
    )
    .await?;
    let leads = drive(&base, &key, "/api/v1/leads", n, clients, |i| {
        let region = ["HN", "HCM", "DN"][(i % 3) as usize];
        json!({
            "name": format!("Khách {i}"),
            "phone": format!("09{:08}", 10_000_000 + i),
            "region": region,
            "account_id": "act_bench", "campaign": format!("Chiến dịch {}", i % 5), "ad": format!("Ad {}", i % 20),
        })
    })
    .await?;
    let assigned: i64 = store
        .lead_counts(ws.id, swell_store::leads::Actor::WORKSPACE)
        .await?
        .iter()
        .filter(|c| c.owner_id.is_some())
        .map(|c| c.leads)
        .sum();
    // The leads are whole: the newest have their history as well.
    let newest = store
        .leads(
            ws.id,
            &swell_store::leads::LeadQuery {
                limit: 100,
                ..Default::default()
            },
            swell_store::leads::Actor::WORKSPACE,
        )
        .await?;
    for lead in &newest {
        let kinds: Vec<String> = store
            .lead_history(ws.id, lead.id)
            .await?
            .into_iter()
            .map(|h| h.kind)
            .collect();
        if kinds != ["created", "assigned"] {
            bail!("lead {} has the history {kinds:?}", lead.id);
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    store.close().await;
    Ok((events, leads, assigned))
}

pub async fn run(n: u64, clients: u64, postgres: &str, sqlite_only: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "swell bench leads: {n} leads and {n} events, {clients} concurrent clients, one server process"
    );
    println!(
        "| backend  | request                              | per second |  p50 ms |  p99 ms |"
    );
    println!(
        "|----------|--------------------------------------|-----------:|--------:|--------:|"
    );
    let mut backends = vec![("sqlite", None)];
    if !sqlite_only {
        backends.push(("postgres", Some(postgres.to_string())));
    }
    for (name, admin) in backends {
        let db = match &admin {
            None => dir.path().join("leads.db").display().to_string(),
            Some(url) => {
                fresh_pg_database(url, &format!("swell_bench_leads_{}", std::process::id())).await?
            }
        };
        let result = one(&db, n, clients).await;
        if let Some(url) = &admin {
            drop_pg_database(url, &db).await?;
        }
        let (events, leads, assigned) = result?;
        if assigned != n as i64 {
            bail!("{name}: {assigned} of {n} leads were assigned");
        }
        for (what, r) in [
            ("POST /events, one event (baseline)", &events),
            ("POST /leads (intake + assignment)", &leads),
        ] {
            println!(
                "| {name:<8} | {what:<36} | {:>10.0} | {:>7.1} | {:>7.1} |",
                r.per_second, r.p50_ms, r.p99_ms
            );
        }
        println!(
            "| {name:<8} | leads / events                       | {:>10.2} |         |         |",
            leads.per_second / events.per_second
        );
    }
    Ok(())
}
