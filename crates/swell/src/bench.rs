//! `swell bench ...`: performance figures, each beside a baseline measured
//! in the same run on the same machine (these machines are noisy, so only
//! ratios travel). Each measurement runs in a child process of its own so
//! its peak memory is its own.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use swell_store::Store;
use swell_store::import::ImportOptions;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Subcommand)]
pub enum BenchWhat {
    /// Generate a contacts CSV and import it into fresh SQLite and PostgreSQL
    /// databases; prints rows/s and peak RSS beside a raw-INSERT baseline.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// PostgreSQL server (an admin URL: a fresh database is created on it).
        #[arg(long, default_value = DEFAULT_PG)]
        postgres: String,
        /// Skip PostgreSQL.
        #[arg(long)]
        sqlite_only: bool,
    },
    /// Generate contacts, orders and events inside fresh SQLite and
    /// PostgreSQL databases, then time `count` for a set of filters beside
    /// hand-written SQL for the same questions.
    Audience {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: u64,
        #[arg(long, default_value_t = 3_000_000)]
        orders: u64,
        #[arg(long, default_value_t = 5_000_000)]
        events: u64,
        /// PostgreSQL server (an admin URL: a fresh database is created on it).
        #[arg(long, default_value = DEFAULT_PG)]
        postgres: String,
        /// Skip PostgreSQL.
        #[arg(long)]
        sqlite_only: bool,
        /// Keep the generated data for the next run: the SQLite file in this
        /// directory, and the PostgreSQL database `swell_bench_audience_keep`.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
        /// Print each compiled query beside the hand-written one.
        #[arg(long)]
        show_sql: bool,
    },
    /// Send a personalised ~5 KB e-mail to N recipients through SMTP to
    /// Postfix's smtp-sink, beside smtp-source's raw rate to the same sink.
    Send {
        #[arg(long, default_value_t = 100_000)]
        recipients: u64,
        /// SMTP connections (and smtp-source sessions).
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Messages smtp-source sends for the raw ceiling.
        #[arg(long, default_value_t = 30_000)]
        raw_messages: u64,
    },
    /// Participants through a three-activity workflow: traces per second
    /// on SQLite and on PostgreSQL with one and two workers, and trigger
    /// latency.
    Engine {
        #[arg(long, default_value_t = 1_000_000)]
        participants: u64,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: String,
        #[arg(long)]
        sqlite_only: bool,
        /// Skip SQLite.
        #[arg(long, conflicts_with = "sqlite_only")]
        postgres_only: bool,
        /// Batches each engine runs at once (`swell worker --lanes`).
        #[arg(long, default_value_t = 4)]
        lanes: usize,
    },
    /// Leads through `POST /api/v1/leads` (ad by names, dedupe, round-robin
    /// assignment over four reps) from concurrent clients, beside `POST
    /// /api/v1/events` of one event: requests/s and p50 / p99 latency, on
    /// SQLite and PostgreSQL.
    Leads {
        #[arg(long, default_value_t = 100_000)]
        leads: u64,
        #[arg(long, default_value_t = 32)]
        clients: u64,
        #[arg(long, default_value = DEFAULT_PG)]
        postgres: String,
        #[arg(long)]
        sqlite_only: bool,
    },
    /// Every page of the web app on the demo data: the median and worst
    /// time of each over several requests, beside `/healthz` in the same
    /// run. Starts this binary's `serve` on a fresh demo database.
    Pages {
        /// Demo contacts to generate.
        #[arg(long, default_value_t = 3000)]
        contacts: usize,
        /// Timed requests per page (after one warm-up).
        #[arg(long, default_value_t = 15)]
        requests: usize,
        /// Keep the database (`swell.db` in this directory) to look into.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
    /// One measurement, run as a child process by `bench import`.
    #[command(hide = true)]
    ImportOne {
        #[arg(long)]
        db: String,
        #[arg(long)]
        file: String,
        /// `import` (the real path) or `baseline` (raw multi-row INSERT).
        #[arg(long)]
        mode: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Measurement {
    rows: u64,
    secs: f64,
    peak_rss_mb: f64,
}

pub async fn run(what: BenchWhat) -> anyhow::Result<()> {
    match what {
        BenchWhat::Import {
            rows,
            postgres,
            sqlite_only,
        } => import(rows, &postgres, sqlite_only).await,
        BenchWhat::Audience {
            contacts,
            orders,
            events,
            postgres,
            sqlite_only,
            keep,
            show_sql,
        } => {
            let opts = crate::bench_audience::Options {
                contacts,
                orders,
                events,
                postgres,
                sqlite_only,
                keep,
                show_sql,
            };
            crate::bench_audience::run(opts).await
        }
        BenchWhat::Send {
            recipients,
            connections,
            raw_messages,
        } => crate::bench_send::run(recipients, connections, raw_messages).await,
        BenchWhat::Engine {
            participants,
            postgres,
            sqlite_only,
            postgres_only,
            lanes,
        } => {
            let backends = crate::bench_engine::Backends {
                sqlite: !postgres_only,
                postgres: !sqlite_only,
            };
            crate::bench_engine::run(participants, &postgres, backends, lanes).await
        }
        BenchWhat::Leads {
            leads,
            clients,
            postgres,
            sqlite_only,
        } => crate::bench_leads::run(leads, clients, &postgres, sqlite_only).await,
        BenchWhat::Pages {
            contacts,
            requests,
            keep,
        } => crate::bench_pages::run(contacts, requests.max(1), keep).await,
        BenchWhat::ImportOne { db, file, mode } => {
            let m = import_one(&db, &file, &mode).await?;
            println!("{}", serde_json::to_string(&m)?);
            Ok(())
        }
    }
}

async fn import(rows: usize, postgres: &str, sqlite_only: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("contacts.csv");
    let started = Instant::now();
    write_contacts_csv(&file, rows)?;
    let size = std::fs::metadata(&file)?.len();
    eprintln!(
        "generated {rows} rows ({:.0} MB) in {:.1}s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!(
        "swell bench import: {rows} contacts, CSV of {:.0} MB, batches of {}",
        size as f64 / 1e6,
        ImportOptions::default().batch_size
    );
    println!(
        "{:<11} {:>14} {:>14} {:>8} {:>14}",
        "backend", "import rows/s", "raw INSERT/s", "ratio", "peak RSS MB"
    );
    let mut backends = vec![("sqlite", None)];
    if !sqlite_only {
        backends.push(("postgres", Some(postgres.to_string())));
    }
    for (name, admin) in backends {
        let mut results = Vec::new();
        for mode in ["baseline", "import"] {
            let db = match &admin {
                None => dir.path().join(format!("{mode}.db")).display().to_string(),
                Some(url) => {
                    fresh_pg_database(url, &format!("swell_bench_{mode}_{}", std::process::id()))
                        .await?
                }
            };
            let m = child(&db, &file.display().to_string(), mode)?;
            if let Some(url) = &admin {
                drop_pg_database(url, &db).await?;
            }
            results.push(m);
        }
        let (base, imp) = (&results[0], &results[1]);
        let (base_rate, imp_rate) = (base.rows as f64 / base.secs, imp.rows as f64 / imp.secs);
        println!(
            "{name:<11} {imp_rate:>14.0} {base_rate:>14.0} {:>8.2} {:>14.1}",
            imp_rate / base_rate,
            imp.peak_rss_mb
        );
    }
    println!(
        "import = CSV parse + validation + upsert (keys looked up once any is found stored) + change log + tags, in one transaction per batch;"
    );
    println!(
        "raw INSERT = the same rows unvalidated into a bare table, 10,000 per transaction (the backend's ceiling here)."
    );
    Ok(())
}

fn child(db: &str, file: &str, mode: &str) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args([
            "bench",
            "import-one",
            "--db",
            db,
            "--file",
            file,
            "--mode",
            mode,
        ])
        .env("SWELL_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!(
            "{mode} run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap_or(""))
        .context("reading the child's figures")
}

async fn import_one(db: &str, file: &str, mode: &str) -> anyhow::Result<Measurement> {
    let store = Store::open(db).await?;
    let started = Instant::now();
    let rows = match mode {
        "import" => {
            let ws = store.ensure_workspace("bench").await?;
            store
                .put_entity_type(
                    ws.id,
                    "contact",
                    None,
                    vec![
                        swell_core::schema::FieldDef {
                            key: "tier".into(),
                            kind: swell_core::schema::FieldType::Text,
                            label: None,
                        },
                        swell_core::schema::FieldDef {
                            key: "points".into(),
                            kind: swell_core::schema::FieldType::Number,
                            label: None,
                        },
                    ],
                )
                .await?;
            let started = Instant::now();
            let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
            let report = store
                .import_contacts(ws.id, f, ImportOptions::default(), |_| {})
                .await?;
            if report.failed > 0 {
                bail!(
                    "{} rows failed, first: {:?}",
                    report.failed,
                    report.errors.first()
                );
            }
            return Ok(Measurement {
                rows: report.rows(),
                secs: started.elapsed().as_secs_f64(),
                peak_rss_mb: peak_rss_mb(),
            });
        }
        "baseline" => swell_store::bench::raw_insert(&store, std::fs::File::open(file)?).await?,
        other => bail!("unknown mode {other}"),
    };
    Ok(Measurement {
        rows,
        secs: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// The process's peak resident memory (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The machine's CPU time so far, all cores (Linux's `/proc/stat`, in
/// clock ticks): busy, and in all.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guests are in user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// How busy the machine's cores are over a stretch of a benchmark (every
/// process: the database server's too): what a second worker process has
/// to work with.
pub struct CpuShare(Option<(u64, u64)>);

impl CpuShare {
    pub fn start() -> CpuShare {
        CpuShare(cpu_ticks())
    }

    /// The busy share since the start, and the number of cores.
    pub fn busy(&self) -> Option<(f64, usize)> {
        let (busy0, total0) = self.0?;
        let (busy1, total1) = cpu_ticks()?;
        let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(((busy1 - busy0) as f64 / total as f64, cores))
    }

    /// `busy 97% of 2 cores`, or nothing where it cannot be read.
    pub fn describe(&self) -> String {
        match self.busy() {
            Some((share, cores)) => {
                format!("machine CPU busy {:.0}% of {cores} cores", share * 100.0)
            }
            None => "machine CPU not read".to_string(),
        }
    }
}

/// Creates an empty database on a PostgreSQL server and returns its URL.
pub async fn fresh_pg_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {admin_url}"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

pub async fn drop_pg_database(admin_url: &str, db_url: &str) -> anyhow::Result<()> {
    let name = db_url.rsplit('/').next().unwrap_or_default();
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// A contacts CSV of `rows` distinct, valid, realistic rows.
fn write_contacts_csv(path: &std::path::Path, rows: usize) -> anyhow::Result<()> {
    const FAMILY: &[&str] = &["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"];
    const GIVEN: &[&str] = &[
        "An", "Bình", "Đức", "Hà", "Lan", "Minh", "Nam", "Thảo", "Trang", "Tuấn",
    ];
    const PREFIXES: &[&str] = &["090", "091", "093", "094", "096", "097", "098", "086"];
    let mut rng = StdRng::seed_from_u64(7);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        w,
        "external_id,email,phone,name,birthday,tags,score,attr.tier,attr.points"
    )?;
    for i in 0..rows {
        let f = FAMILY[rng.random_range(0..FAMILY.len())];
        let g = GIVEN[rng.random_range(0..GIVEN.len())];
        let tags = match rng.random_range(0..10) {
            0 => "vip;newsletter",
            1..=3 => "newsletter",
            _ => "",
        };
        writeln!(
            w,
            "X{i},user{i}@example.com,{} {:03} {:04},{f} Văn {g},{}-{:02}-{:02},{tags},{},{},{}",
            PREFIXES[i % PREFIXES.len()],
            100 + (i / 10_000) % 900,
            i % 10_000,
            rng.random_range(1960..2006),
            rng.random_range(1..=12),
            rng.random_range(1..=28),
            rng.random_range(0..100),
            ["member", "silver", "gold"][rng.random_range(0..3)],
            rng.random_range(0..5000)
        )?;
    }
    w.flush()?;
    Ok(())
}
