//! `swell`: self-hosted marketing automation in one binary.

use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use swell_store::Store;
use swell_store::import::{ImportOptions, ImportReport};
use tracing_subscriber::EnvFilter;

mod bench;
mod bench_audience;
mod bench_engine;
mod bench_leads;
mod bench_pages;
mod bench_send;
mod config;
mod demo;
mod demo_sales;
mod sending;
mod users;

use config::{Config, Overrides};

/// mimalloc instead of the system allocator: an import allocates and frees
/// millions of small strings across three threads, where glibc's allocator
/// spent a fifth of the time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "swell",
    version,
    about = "Self-hosted marketing automation: contacts, audiences, email, SMS, Zalo and workflows in one binary"
)]
struct Cli {
    /// A TOML configuration file (default: ./swell.toml when present).
    #[arg(long, global = true)]
    config: Option<String>,
    /// Database: a SQLite path (default ./swell.db) or a postgres:// URL. Env: SWELL_DB.
    #[arg(long, global = true)]
    db: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API and, later, workers and UI).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080). Env: SWELL_BIND.
        #[arg(long)]
        bind: Option<String>,
        /// SMTP relays as URLs, comma-separated (default: the built-in
        /// outbox). Env: SWELL_SMTP_URL.
        #[arg(long)]
        smtp: Option<String>,
        /// Serve HTTP only: leave campaigns and broadcasts to `swell
        /// worker` processes sharing the database.
        #[arg(long)]
        no_worker: bool,
    },
    /// Send a broadcast to the end, with a progress bar.
    Send {
        /// The broadcast's id.
        broadcast: i64,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// SMTP relays as URLs, comma-separated. Env: SWELL_SMTP_URL.
        #[arg(long)]
        smtp: Option<String>,
    },
    /// Run automation workers only (no HTTP): more processes or machines
    /// sharing one PostgreSQL database's campaign queue.
    Worker {
        /// SMTP relays as URLs, comma-separated. Env: SWELL_SMTP_URL.
        #[arg(long)]
        smtp: Option<String>,
        /// Seconds a claimed campaign step stays this worker's before
        /// another may take it (when this one died). Default 300.
        #[arg(long)]
        lease: Option<u64>,
        /// Batches of campaign steps this worker runs at once, each
        /// claiming its own (one's database work overlaps another's
        /// rendering). Default 4.
        #[arg(long)]
        lanes: Option<usize>,
        /// Seconds between looks for work when nothing wakes this worker
        /// (on PostgreSQL every process's writes wake it at once). Default 1.
        #[arg(long)]
        poll: Option<u64>,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Import a CSV file.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Manage the people who sign in to the web app.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Create a demo workspace with realistic data, print its key and its
    /// users' sign-ins, and serve.
    Demo {
        #[arg(long)]
        bind: Option<String>,
        /// How many contacts to generate the first time.
        #[arg(long, default_value_t = 3000)]
        contacts: usize,
        /// Generate the data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Measure performance; prints figures against a baseline of the same run.
    Bench {
        #[command(subcommand)]
        what: bench::BenchWhat,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// Contacts: standard columns by name, attr.KEY, tags separated by ';'.
    Contacts {
        file: String,
        #[arg(long, default_value = "default")]
        workspace: String,
        /// Check and count without keeping anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Records of a type (order, company, lead or a custom type).
    Records {
        #[arg(name = "TYPE")]
        entity: String,
        file: String,
        #[arg(long, default_value = "default")]
        workspace: String,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user who signs in with a password, creating the workspace
    /// if needed. Without --password-stdin a password is generated and
    /// printed.
    Create {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, marketer or sales.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Create an API key, creating the workspace if needed; prints the key last.
    Create {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        label: Option<String>,
        /// The e-mail of a user of the workspace the key acts as, with
        /// their role (a sales rep's key sees only their leads). Without
        /// it the key acts as the workspace.
        #[arg(long)]
        user: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let bind = match &cli.command {
        Command::Serve { bind, .. } | Command::Demo { bind, .. } => bind.clone(),
        _ => None,
    };
    let smtp_url = match &cli.command {
        Command::Serve { smtp, .. } | Command::Send { smtp, .. } | Command::Worker { smtp, .. } => {
            smtp.clone()
        }
        _ => None,
    };
    let demo_db = matches!(cli.command, Command::Demo { .. })
        && cli.db.is_none()
        && std::env::var("SWELL_DB").is_err();
    let mut config = Config::load(
        cli.config.as_deref(),
        Overrides {
            db: cli.db.clone(),
            bind,
            smtp_url,
        },
    )?;
    if demo_db {
        // The demo keeps its own file so it never mixes with real data.
        config.db = "./swell-demo.db".into();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SWELL_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { no_worker, .. } => {
            let store = open(&config).await?;
            serve(store, &config, !no_worker).await
        }
        Command::Worker {
            lease, lanes, poll, ..
        } => {
            let store = open(&config).await?;
            let mut cfg = swell_engine::AutomationConfig::default();
            if let Some(secs) = lease {
                cfg.lease = std::time::Duration::from_secs(secs.max(1));
            }
            if let Some(lanes) = lanes {
                cfg.lanes = lanes.max(1);
            }
            if let Some(secs) = poll {
                cfg.poll = std::time::Duration::from_secs(secs.max(1));
            }
            worker(store, &config, cfg).await
        }
        Command::Migrate => {
            open(&config).await?;
            println!("database {} is up to date", redact(&config.db));
            Ok(())
        }
        Command::Key {
            action:
                KeyAction::Create {
                    workspace,
                    label,
                    user,
                },
        } => {
            let store = open(&config).await?;
            let ws = store.ensure_workspace(&workspace).await?;
            let user = match user {
                Some(email) => Some(
                    store
                        .user_by_email(ws.id, &email)
                        .await
                        .with_context(|| format!("no user {email} in workspace '{}'", ws.name))?,
                ),
                None => None,
            };
            let (key, secret) = store
                .create_user_api_key(ws.id, label.as_deref(), user.as_ref().map(|u| u.id))
                .await?;
            let acting = match &user {
                Some(u) => format!(", acting as {} ({})", u.email, u.role.as_str()),
                None => String::new(),
            };
            eprintln!(
                "created key {} for workspace '{}' (id {}){acting}; it is shown only now:",
                key.prefix,
                ws.name,
                ws.id.get()
            );
            println!("{secret}");
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    workspace,
                    email,
                    name,
                    role,
                    password_stdin,
                },
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let store = open(&config).await?;
            let ws = store.ensure_workspace(&workspace).await?;
            let password =
                users::create(&store, ws.id, &name, &email, &role, password.as_deref()).await?;
            eprintln!(
                "created {role} {} in workspace '{}'",
                email.trim().to_lowercase(),
                ws.name
            );
            if !password_stdin {
                eprintln!("their password is shown only now:");
                println!("{password}");
            }
            Ok(())
        }
        Command::Import { what } => {
            let store = open(&config).await?;
            let (file, workspace, dry_run, entity) = match what {
                ImportWhat::Contacts {
                    file,
                    workspace,
                    dry_run,
                } => (file, workspace, dry_run, None),
                ImportWhat::Records {
                    entity,
                    file,
                    workspace,
                    dry_run,
                } => (file, workspace, dry_run, Some(entity)),
            };
            let ws = store.ensure_workspace(&workspace).await?;
            let f = std::fs::File::open(&file).with_context(|| format!("cannot open {file}"))?;
            let total = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                )
                .expect("template"),
            );
            let counter = CountingReader {
                inner: std::io::BufReader::with_capacity(1 << 20, f),
                bar: bar.clone(),
            };
            let opts = ImportOptions {
                dry_run,
                ..Default::default()
            };
            let started = Instant::now();
            let progress_bar = bar.clone();
            let progress = move |rows: u64| progress_bar.set_message(format!("{rows} rows"));
            let report = match entity {
                None => {
                    store
                        .import_contacts(ws.id, counter, opts, progress)
                        .await?
                }
                Some(name) => {
                    let ty = store
                        .entity_type(ws.id, &name)
                        .await?
                        .with_context(|| format!("unknown entity type '{name}'"))?;
                    store
                        .import_records(ws.id, &ty, counter, opts, progress)
                        .await?
                }
            };
            bar.finish_and_clear();
            print_report(&report, started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Demo {
            contacts, no_serve, ..
        } => {
            let store = open(&config).await?;
            let ws = demo::ensure(&store, contacts).await?;
            let (_, secret) = store.create_api_key(ws.id, Some("demo")).await?;
            println!("Swell demo workspace '{}' is ready.", ws.name);
            println!(
                "  API:      http://{}/api/v1  (OpenAPI: /api/v1/openapi.json)",
                config.bind
            );
            println!(
                "  Try:      curl -H 'Authorization: Bearer {secret}' 'http://{}/api/v1/contacts?q=nguyen'",
                config.bind
            );
            println!("  API key:  {secret}");
            println!("  Web app:  http://{}/  sign in as:", config.bind);
            for (role, email, password) in users::demo(&store, ws.id).await? {
                println!("    {role:<9} {email}  password: {password}");
            }
            demo_sales::ensure(&store, ws.id).await?;
            if no_serve {
                return Ok(());
            }
            serve(store, &config, true).await
        }
        Command::Send {
            broadcast,
            workspace,
            ..
        } => {
            let store = open(&config).await?;
            sending::send(store, &config, &workspace, broadcast).await
        }
        Command::Bench { what } => bench::run(what).await,
    }
}

async fn open(config: &Config) -> anyhow::Result<Store> {
    Store::open(&config.db)
        .await
        .with_context(|| format!("cannot open database {}", redact(&config.db)))
}

/// Serves HTTP; with `work`, also runs the sender and the automation
/// engine in this process.
async fn serve(store: Store, config: &Config, work: bool) -> anyhow::Result<()> {
    let bind = &config.bind;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let base = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mailer = sending::mailer(&store, config, &base).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let automation = swell_engine::Automation::new(
        store.clone(),
        std::sync::Arc::clone(&mailer),
        swell_engine::AutomationConfig::default(),
    );
    let workers = work.then(|| {
        (
            tokio::spawn(std::sync::Arc::clone(&mailer).run(stop_rx.clone())),
            tokio::spawn(std::sync::Arc::clone(&automation).run(stop_rx.clone())),
            tokio::spawn(std::sync::Arc::clone(&mailer).run_reassignment(stop_rx)),
        )
    });
    // The last line a script starting us waits for.
    eprintln!("swell is listening on http://{addr}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down");
    };
    swell_web::serve(
        listener,
        swell_web::AppState {
            store: store.clone(),
            mailer,
            automation,
            // Cookies are Secure when the app is reached over https.
            access: swell_web::ui::Access::new(base.starts_with("https://")),
        },
        shutdown,
    )
    .await?;
    let _ = stop_tx.send(true);
    if let Some((sender, engine, reassign)) = workers {
        let _ = sender.await;
        let _ = engine.await;
        let _ = reassign.await;
    }
    store.close().await;
    Ok(())
}

/// Runs the automation engine (and the broadcast sender) without HTTP
/// until interrupted.
async fn worker(
    store: Store,
    config: &Config,
    cfg: swell_engine::AutomationConfig,
) -> anyhow::Result<()> {
    let base = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind));
    let mailer = sending::mailer(&store, config, &base).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sender = tokio::spawn(std::sync::Arc::clone(&mailer).run(stop_rx.clone()));
    let reassign = tokio::spawn(std::sync::Arc::clone(&mailer).run_reassignment(stop_rx.clone()));
    let automation = swell_engine::Automation::new(store.clone(), mailer, cfg);
    let engine = tokio::spawn(automation.run(stop_rx));
    eprintln!("swell worker is running");
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("shutting down");
    let _ = stop_tx.send(true);
    let _ = sender.await;
    let _ = engine.await;
    let _ = reassign.await;
    store.close().await;
    Ok(())
}

fn print_report(r: &ImportReport, secs: f64) {
    for e in &r.errors {
        println!(
            "row {}: {}{}",
            e.row,
            e.column
                .as_ref()
                .map(|c| format!("{c}: "))
                .unwrap_or_default(),
            e.reason
        );
    }
    if r.errors_truncated {
        println!("... more errors not listed");
    }
    println!(
        "{}created {}, updated {}, unchanged {}, failed {} ({} rows in {:.1}s, {:.0} rows/s)",
        if r.dry_run { "dry run: " } else { "" },
        r.created,
        r.updated,
        r.unchanged,
        r.failed,
        r.rows(),
        secs,
        r.rows() as f64 / secs.max(1e-9)
    );
}

/// Hides a password in a database URL.
fn redact(db: &str) -> String {
    match (db.find("://"), db.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &db[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &db[..s + 3], user, &db[at..]),
                None => db.to_string(),
            }
        }
        _ => db.to_string(),
    }
}

/// Advances a progress bar as the file is read.
struct CountingReader<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
