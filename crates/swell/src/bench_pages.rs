//! `swell bench pages`: how long each page of the web app takes on the
//! demo data. The demo workspace is made in a fresh SQLite file (contacts,
//! orders, events, the six ready-made campaigns with one run over every
//! contact, a marketing campaign grouping it), then this binary's `serve`
//! is started on it as a child process, signs in as the demo admin and
//! times each page: the median and the worst of several requests, from the
//! request sent to the last byte read over loopback, beside `/healthz`
//! timed the same way in the same run (the cost of HTTP itself here).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use swell_channels::Mailbox;
use swell_core::contact::Patch;
use swell_engine::automation::templates;
use swell_engine::{Automation, AutomationConfig, Mailer, MailerConfig, Tokens, Transport};
use swell_store::Store;
use swell_store::marketing::{CampaignCode, MarketingCampaignInput, Member};

/// The aim the issue sets: every page under this on the demo data.
const AIM_MS: f64 = 100.0;

pub async fn run(
    contacts: usize,
    requests: usize,
    keep: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("swell.db").display().to_string();
    let started = Instant::now();
    let (ids, (email, password)) = prepare(&db, contacts).await?;
    eprintln!(
        "demo data and campaigns ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = Server::start(dir.path(), &db, port)?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let session = sign_in(&client, &base, &email, &password).await?;

    let mut pages = vec![
        "/".to_string(),
        "/contacts".into(),
        "/contacts?q=nguyen".into(),
        format!("/contacts/{}", ids.contact),
        "/import".into(),
        "/segments".into(),
        "/segments/new".into(),
        "/lists".into(),
        "/templates".into(),
        "/templates/new".into(),
        format!("/templates/{}", ids.template),
        "/broadcasts".into(),
        "/broadcasts/new".into(),
        "/outbox".into(),
        "/campaigns".into(),
        format!("/campaigns/{}", ids.campaign),
        format!("/campaigns/{}/estimate", ids.campaign),
        format!("/campaigns/{}/participants", ids.campaign),
        format!("/campaigns/{}/traces", ids.campaign),
        "/marketing".into(),
        format!("/marketing/{}", ids.marketing),
        "/reports/ads".into(),
        "/reports/reps".into(),
        "/leads".into(),
        format!("/leads/{}", ids.lead),
        "/leads/rules".into(),
        "/ads".into(),
        "/settings".into(),
        "/audit".into(),
    ];
    if let Some(o) = ids.outbox {
        pages.push(format!("/outbox/{o}"));
    }

    println!(
        "swell bench pages: {contacts} demo contacts, {requests} requests a page after one warm-up, signed in as the admin"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>9}",
        "page", "median ms", "worst ms", "KB"
    );
    let baseline = time(&client, &base, "/healthz", None, requests).await?;
    print_row("/healthz (baseline)", &baseline);
    let mut slow = Vec::new();
    for page in &pages {
        let t = time(&client, &base, page, Some(&session), requests).await?;
        print_row(page, &t);
        if t.median_ms > AIM_MS {
            slow.push(page.clone());
        }
    }
    drop(server);
    if let Some(keep) = keep {
        std::fs::create_dir_all(&keep)?;
        let to = keep.join("swell.db");
        std::fs::copy(&db, &to)?;
        eprintln!("database kept as {}", to.display());
    }
    if slow.is_empty() {
        println!("every page's median is under {AIM_MS:.0} ms");
    } else {
        println!("over {AIM_MS:.0} ms: {}", slow.join(", "));
    }
    Ok(())
}

/// The ids of the things the timed pages show.
struct Ids {
    contact: i64,
    template: i64,
    campaign: i64,
    marketing: i64,
    lead: i64,
    outbox: Option<i64>,
}

/// Makes the demo data in `db`: the demo workspace and users, the six
/// ready-made campaigns, the first launched and run to the end over every
/// contact it selects, and a marketing campaign grouping it. Returns the
/// ids and the admin's e-mail and password.
async fn prepare(db: &str, contacts: usize) -> anyhow::Result<(Ids, (String, String))> {
    let store = Store::open(db).await?;
    let ws = crate::demo::ensure(&store, contacts).await?;
    let admin = crate::users::demo(&store, ws.id)
        .await?
        .into_iter()
        .find(|(role, _, _)| role == "admin")
        .map(|(_, e, p)| (e, p))
        .context("the demo admin")?;
    crate::demo_sales::ensure(&store, ws.id).await?;

    let from = Mailbox::new(
        "Swell demo",
        swell_core::email::Email::parse("demo@swell.local").expect("address"),
    );
    let mailer = Mailer::new(
        store.clone(),
        Transport::Outbox,
        Tokens::new(b"bench-pages"),
        MailerConfig::new("http://127.0.0.1:8080", from),
    );
    let engine = Automation::new(store.clone(), mailer, AutomationConfig::default());
    let mut made = Vec::new();
    for t in templates::catalog() {
        let slug = t["slug"].as_str().unwrap_or_default();
        made.push(
            templates::create(&engine, ws.id, slug)
                .await?
                .with_context(|| format!("template {slug}"))?,
        );
    }
    let campaign = made[0];
    let entered = engine.launch(ws.id, campaign).await?;
    while engine.drain().await? > 0 || store.traces_in_flight().await? > 0 {}
    eprintln!("campaign {campaign}: {entered} participants run");

    let marketing = store
        .write_marketing_campaign(
            ws.id,
            None,
            &MarketingCampaignInput {
                name: Some("Tết 2027".into()),
                code: Some(CampaignCode::parse("tet-2027").map_err(anyhow::Error::msg)?),
                budget: Patch::Set(5_000_000.0),
                ..Default::default()
            },
        )
        .await?;
    store
        .set_marketing_member(ws.id, marketing.id, Member::Campaign, campaign, true)
        .await?;

    let contact = store
        .list_contacts(
            ws.id,
            &swell_store::contacts::ContactQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await?
        .items
        .first()
        .map(|c| c.id)
        .context("a demo contact")?;
    let template = store
        .templates(ws.id)
        .await?
        .first()
        .map(|t| t.id)
        .context("a template")?;
    let outbox = store.outbox(ws.id, None, 1).await?.first().map(|e| e.id);
    let lead = store
        .leads(
            ws.id,
            &swell_store::leads::LeadQuery {
                limit: 1,
                ..Default::default()
            },
            swell_store::leads::Actor::WORKSPACE,
        )
        .await?
        .first()
        .map(|l| l.id)
        .context("a demo lead")?;
    store.close().await;
    Ok((
        Ids {
            contact,
            template,
            lead,
            campaign,
            marketing: marketing.id,
            outbox,
        },
        admin,
    ))
}

/// This binary's `serve` on the bench's database, stopped when dropped.
struct Server(Child);

impl Server {
    fn start(dir: &std::path::Path, db: &str, port: u16) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .current_dir(dir)
            .args(["--db", db, "serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("SWELL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("start swell serve")?;
        let stderr = child.stderr.take().context("serve's stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("swell is listening") => break,
                Some(Ok(_)) => {}
                _ => {
                    let _ = child.kill();
                    bail!("swell serve stopped before it listened");
                }
            }
        }
        // Keep reading its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server(child))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Signs in through the form, as a browser does; returns the session
/// cookie.
async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/login")).send().await?;
    let login_cookie = cookie(&form, "swell_login").context("the sign-in form's cookie")?;
    let html = form.text().await?;
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in form's token")?
        .to_string();
    let body = [
        ("email", email),
        ("password", password),
        ("_csrf", &csrf),
        ("next", "/"),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", form_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let resp = client
        .post(format!("{base}/login"))
        .header("cookie", format!("swell_login={login_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    cookie(&resp, "swell_session").context("signing in as the demo admin failed")
}

/// A form value, percent-encoded.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

struct Timing {
    median_ms: f64,
    worst_ms: f64,
    bytes: usize,
}

/// Times `requests` GETs of `path` after one warm-up; every answer must be
/// a 200.
async fn time(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    session: Option<&str>,
    requests: usize,
) -> anyhow::Result<Timing> {
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for i in 0..=requests {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(s) = session {
            req = req.header("cookie", format!("swell_session={s}"));
        }
        let t = Instant::now();
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        let took = t.elapsed();
        if !status.is_success() {
            bail!("{path}: HTTP {status}");
        }
        bytes = body.len();
        if i > 0 {
            times.push(took);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(Timing {
        median_ms: ms(times[times.len() / 2]),
        worst_ms: ms(*times.last().expect("at least one request")),
        bytes,
    })
}

fn print_row(page: &str, t: &Timing) {
    println!(
        "{page:<34} {:>10.2} {:>10.2} {:>9.1}",
        t.median_ms,
        t.worst_ms,
        t.bytes as f64 / 1024.0
    );
}
