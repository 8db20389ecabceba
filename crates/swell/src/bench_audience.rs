//! `swell bench audience`: how long `count` takes for each form of filter on
//! a million contacts with three million orders and five million events,
//! beside a query an expert would write by hand for the same question, run
//! in the same process on the same data. Both must give the same count.
//!
//! The data is generated inside the database with set-based SQL (a
//! recursive CTE on SQLite, `generate_series` on PostgreSQL) from a
//! deterministic hash of the row number, so a million rows take seconds and
//! never pass through Rust. Counts are streamed by the database; nothing of
//! the audience is loaded here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Executor};
use swell_core::entity::EntityKind;
use swell_core::filter::{Filter, Window, anniversary_month_days, today_in_zone};
use swell_core::schema::{FieldDef, FieldType};
use swell_core::text::fold;
use swell_core::time::{Clock, Millis, to_millis};
use swell_store::audience::Bind;
use swell_store::{Backend, Store, WorkspaceId};

use crate::bench::{drop_pg_database, fresh_pg_database, peak_rss_mb};

const DAY: i64 = 86_400_000;
/// Timed runs per query; the median is reported (after one warm-up run).
const RUNS: usize = 5;

const FAMILY: &[&str] = &["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"];
const MIDDLE: &[&str] = &["Văn", "Thị"];
const GIVEN: &[&str] = &[
    "An", "Bình", "Đức", "Hà", "Lan", "Minh", "Nam", "Thảo", "Trang", "Tuấn",
];
const PATHS: &[&str] = &[
    "/pricing",
    "/pricing",
    "/",
    "/products/ao-dai",
    "/blog/tet-2026",
    "/cart",
    "/checkout",
    "/products/non-la",
    "/about",
    "/contact",
];

/// Sizes and targets of a run.
pub struct Options {
    pub contacts: u64,
    pub orders: u64,
    pub events: u64,
    pub postgres: String,
    pub sqlite_only: bool,
    /// Keep the generated databases (SQLite file in this directory,
    /// PostgreSQL database `swell_bench_audience_keep`) and reuse them.
    pub keep: Option<std::path::PathBuf>,
    /// Print each compiled query and the hand-written one.
    pub show_sql: bool,
}

/// The clock the store and the hand-written queries share, so `-30d` is
/// the same instant on both sides.
struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// A row of the table.
struct Row {
    filter: &'static str,
    swell_ms: f64,
    hand_ms: f64,
    count: i64,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    // Whole seconds, so a kept database and a new run agree on the data.
    let now = Timestamp::from_second(Timestamp::now().as_second())?;
    let mut tables = Vec::new();
    let dir = tempfile::tempdir()?;
    let sqlite_path = match &opts.keep {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.join(format!(
                "audience_{}_{}_{}.db",
                opts.contacts, opts.orders, opts.events
            ))
        }
        None => dir.path().join("audience.db"),
    };
    let rows = bench_backend(&opts, &sqlite_path.display().to_string(), now).await?;
    tables.push(("SQLite", rows));
    if !opts.sqlite_only {
        let name = if opts.keep.is_some() {
            "swell_bench_audience_keep".to_string()
        } else {
            format!("swell_bench_audience_{}", std::process::id())
        };
        let url = if opts.keep.is_some() {
            keep_pg_database(&opts.postgres, &name).await?
        } else {
            fresh_pg_database(&opts.postgres, &name).await?
        };
        let result = bench_backend(&opts, &url, now).await;
        if opts.keep.is_none() {
            drop_pg_database(&opts.postgres, &url).await?;
        }
        tables.push(("PostgreSQL", result?));
    }
    println!();
    println!(
        "swell bench audience: {} contacts, {} orders, {} events; median of {RUNS} runs after one warm-up; peak RSS {:.0} MB",
        opts.contacts,
        opts.orders,
        opts.events,
        peak_rss_mb()
    );
    for (backend, rows) in &tables {
        println!();
        println!("{backend}");
        println!(
            "| {:<78} | {:>9} | {:>11} | {:>6} | {:>9} |",
            "filter", "swell ms", "hand SQL ms", "ratio", "count"
        );
        println!(
            "|{}|{}|{}|{}|{}|",
            "-".repeat(80),
            "-".repeat(11),
            "-".repeat(13),
            "-".repeat(8),
            "-".repeat(11)
        );
        for r in rows {
            println!(
                "| {:<78} | {:>9.1} | {:>11.1} | {:>6.2} | {:>9} |",
                r.filter,
                r.swell_ms,
                r.hand_ms,
                r.swell_ms / r.hand_ms.max(0.001),
                r.count
            );
        }
    }
    Ok(())
}

/// Creates the kept PostgreSQL database if it does not exist yet.
async fn keep_pg_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        return fresh_pg_database(admin_url, name).await;
    }
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    Ok(format!("{base}/{name}"))
}

/// A second connection pool beside the store's, for generating the data and
/// running the hand-written queries.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    async fn open(db: &str) -> anyhow::Result<Raw> {
        Ok(if db.starts_with("postgres") {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&format!("{db}?sslmode=disable"))
                .await?;
            Raw::Postgres(pool)
        } else {
            // The same page cache as the store's connections, so the two
            // sides are timed alike.
            let opts = SqliteConnectOptions::new()
                .filename(db)
                .pragma("cache_size", "-65536");
            Raw::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await?,
            )
        })
    }

    fn pg(&self) -> bool {
        matches!(self, Raw::Postgres(_))
    }

    async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        let q = sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        let done = match self {
            Raw::Sqlite(p) => p.execute(q).await.map(drop),
            Raw::Postgres(p) => p.execute(q).await.map(drop),
        };
        done.with_context(|| format!("running {}", sql.chars().take(160).collect::<String>()))
    }

    async fn scalar(&self, sql: &str, binds: &[Bind]) -> anyhow::Result<i64> {
        macro_rules! bound {
            ($q:expr) => {{
                let mut q = $q;
                for b in binds {
                    q = match b {
                        Bind::Int(v) => q.bind(*v),
                        Bind::Float(v) => q.bind(*v),
                        Bind::Text(v) => q.bind(v.clone()),
                        Bind::Bool(v) => q.bind(*v),
                        Bind::Null => q.bind(None::<String>),
                    };
                }
                q
            }};
        }
        let q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string()));
        Ok(match self {
            Raw::Sqlite(p) => bound!(q).fetch_one(p).await?,
            Raw::Postgres(p) => {
                let q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string()));
                bound!(q).fetch_one(p).await?
            }
        })
    }
}

async fn bench_backend(opts: &Options, db: &str, now: Timestamp) -> anyhow::Result<Vec<Row>> {
    let store = Store::open(db).await?.with_clock(Arc::new(FixedClock(now)));
    let backend = if store.backend() == Backend::Postgres {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let ws = store.ensure_workspace("bench").await?;
    store
        .put_entity_type(
            ws.id,
            "contact",
            None,
            vec![
                FieldDef {
                    key: "tier".into(),
                    kind: FieldType::Text,
                    label: None,
                },
                FieldDef {
                    key: "points".into(),
                    kind: FieldType::Number,
                    label: None,
                },
            ],
        )
        .await?;
    let raw = Raw::open(db).await?;
    let have = raw.scalar("SELECT COUNT(*) FROM contacts", &[]).await?;
    let now_ms = to_millis(now);
    if have == 0 {
        let started = Instant::now();
        generate(&raw, ws.id, opts, now_ms).await?;
        eprintln!(
            "{backend}: generated the data in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    } else if have as u64 != opts.contacts {
        bail!(
            "{db} holds {have} contacts, not {}: remove it or change --keep",
            opts.contacts
        );
    } else {
        eprintln!("{backend}: reusing the data in {db}");
    }
    // The indexes of migrations added after the data was kept (a no-op on
    // fresh data), and statistics for them.
    if have != 0 {
        store.migrate().await?;
        raw.exec("ANALYZE").await?;
    }
    let list_id = raw
        .scalar("SELECT id FROM lists WHERE slug = 'newsletter'", &[])
        .await?;

    let mut rows = Vec::new();
    for case in cases(&raw, ws.id, now_ms, list_id) {
        let filter =
            Filter::parse(case.filter).with_context(|| format!("parsing {}", case.filter))?;
        if opts.show_sql {
            let compiled = store
                .compile_audience(ws.id, &EntityKind::Contact, &filter, &())
                .await?;
            eprintln!(
                "-- {}\n{}\n-- binds {:?}\n-- hand\n{}\n",
                case.filter,
                compiled.count_sql(),
                compiled.binds,
                case.sql
            );
        }
        let (swell_ms, swell_n) = median_ms(|| async {
            Ok(store
                .count_audience(ws.id, &EntityKind::Contact, &filter, &())
                .await? as i64)
        })
        .await?;
        let (hand_ms, hand_n) = median_ms(|| raw.scalar(&case.sql, &case.binds)).await?;
        if swell_n != hand_n {
            bail!(
                "{backend}: `{}` counts {swell_n}, the hand-written SQL {hand_n}",
                case.filter
            );
        }
        eprintln!(
            "{backend}: {:<78} {swell_ms:>8.1} ms {hand_ms:>8.1} ms {swell_n:>9}",
            case.filter
        );
        rows.push(Row {
            filter: case.filter,
            swell_ms,
            hand_ms,
            count: swell_n,
        });
    }
    store.close().await;
    Ok(rows)
}

/// Runs `f` once to warm the caches, then `RUNS` times, and returns the
/// median duration in milliseconds with the count of the last run.
async fn median_ms<F, Fut>(mut f: F) -> anyhow::Result<(f64, i64)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<i64>>,
{
    let mut n = f().await?;
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        n = f().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times[RUNS / 2].as_secs_f64() * 1000.0, n))
}

/// One filter and the query an expert would write for the same question.
struct Case {
    filter: &'static str,
    sql: String,
    binds: Vec<Bind>,
}

fn cases(raw: &Raw, ws: WorkspaceId, now: Millis, list_id: i64) -> Vec<Case> {
    let pg = raw.pg();
    let w = Bind::Int(ws.get());
    let json_text = |doc: &str, key: &str| {
        if pg {
            format!("({doc} ->> '{key}')")
        } else {
            format!("json_extract({doc}, '$.{key}')")
        }
    };
    let pos = if pg { "strpos" } else { "instr" };
    vec![
        Case {
            filter: r#"attr.tier = "gold" and score >= 50"#,
            sql: format!(
                "SELECT COUNT(*) FROM contacts WHERE workspace_id = $1 AND {} = 'gold' AND score >= 50",
                json_text("attrs", "tier")
            ),
            binds: vec![w.clone()],
        },
        Case {
            filter: r#"created_at >= -30d and not in list "newsletter""#,
            sql: "SELECT COUNT(*) FROM contacts c WHERE c.workspace_id = $1 AND c.created_at >= $2 \
                  AND NOT EXISTS (SELECT 1 FROM list_members m WHERE m.list_id = $3 AND m.contact_id = c.id \
                  AND m.status = 'subscribed')"
                .into(),
            binds: vec![w.clone(), Bind::Int(now - 30 * DAY), Bind::Int(list_id)],
        },
        birthday_case(raw, ws, now),
        Case {
            filter: r#"has tag "vip" or in list "newsletter""#,
            sql: "SELECT COUNT(*) FROM (SELECT contact_id FROM contact_tags WHERE workspace_id = $1 AND tag = 'vip' \
                  UNION SELECT contact_id FROM list_members WHERE list_id = $2 AND status = 'subscribed') u"
                .into(),
            binds: vec![w.clone(), Bind::Int(list_id)],
        },
        Case {
            filter: "count(order where total > 1000000 and created_at >= -30d) >= 1",
            sql: "SELECT COUNT(DISTINCT contact_id) FROM orders \
                  WHERE workspace_id = $1 AND created_at >= $2 AND total > 1000000"
                .into(),
            binds: vec![w.clone(), Bind::Int(now - 30 * DAY)],
        },
        Case {
            filter: r#"sum(order.total where status = "paid") > 5000000"#,
            sql: "SELECT COUNT(*) FROM (SELECT contact_id FROM orders \
                  WHERE workspace_id = $1 AND status = 'paid' AND contact_id IS NOT NULL \
                  GROUP BY contact_id HAVING SUM(total) > 5000000) s"
                .into(),
            binds: vec![w.clone()],
        },
        Case {
            // `contains` ignores case, so the hand-written query lowers the
            // URL too (the URLs and the needle are ASCII: no accents).
            filter: r#"count(event "page_view" where url contains "/pricing" and at >= -30d) >= 2"#,
            sql: format!(
                "SELECT COUNT(*) FROM (SELECT contact_id FROM events \
                 WHERE workspace_id = $1 AND name = 'page_view' AND at >= $2 AND {pos}(lower({}), '/pricing') > 0 \
                 AND contact_id IS NOT NULL GROUP BY contact_id HAVING COUNT(*) >= 2) s",
                json_text("properties", "url")
            ),
            binds: vec![w.clone(), Bind::Int(now - 30 * DAY)],
        },
        Case {
            filter: r#"not exists(event "email_opened" where at >= -14d)"#,
            sql: "SELECT COUNT(*) FROM contacts c WHERE c.workspace_id = $1 AND NOT EXISTS \
                  (SELECT 1 FROM events e WHERE e.contact_id = c.id AND e.name = 'email_opened' AND e.at >= $2)"
                .into(),
            binds: vec![w.clone(), Bind::Int(now - 14 * DAY)],
        },
        Case {
            // `search` holds the folded name, email, phone and external id;
            // the generated emails and ids never contain a name.
            filter: r#"name contains "Thảo""#,
            sql: format!("SELECT COUNT(*) FROM contacts WHERE workspace_id = $1 AND {pos}(search, $2) > 0"),
            binds: vec![w.clone(), Bind::Text(fold("Thảo"))],
        },
        Case {
            filter: r#"(attr.tier = "gold" or has tag "vip") and not (locale = "en") and birthday is set"#,
            sql: format!(
                "SELECT COUNT(*) FROM contacts c WHERE c.workspace_id = $1 \
                 AND ({} = 'gold' OR c.id IN (SELECT contact_id FROM contact_tags WHERE workspace_id = $1 AND tag = 'vip')) \
                 AND c.locale <> 'en' AND c.birthday IS NOT NULL",
                json_text("c.attrs", "tier")
            ),
            binds: vec![w],
        },
    ]
}

/// `birthday in next 7d`: today is the date in the contact's zone, so the
/// month-days differ by zone (the generated zones are known).
fn birthday_case(raw: &Raw, ws: WorkspaceId, now: Millis) -> Case {
    let mut binds = vec![Bind::Int(ws.get())];
    let days_in = |zone: Option<&str>, binds: &mut Vec<Bind>| {
        let days = anniversary_month_days(today_in_zone(now, zone), Window::NextDays(7));
        let ps: Vec<String> = days
            .into_iter()
            .map(|(m, d)| {
                binds.push(Bind::Text(format!("{m:02}-{d:02}")));
                format!("${}", binds.len())
            })
            .collect();
        ps.join(", ")
    };
    let md = "substr(birthday, 6, 5)";
    let mut sql =
        String::from("SELECT COUNT(*) FROM contacts WHERE workspace_id = $1 AND CASE timezone");
    for zone in ZONES {
        let list = days_in(Some(zone), &mut binds);
        sql.push_str(&format!(" WHEN '{zone}' THEN {md} IN ({list})"));
    }
    let list = days_in(None, &mut binds);
    sql.push_str(&format!(" ELSE {md} IN ({list}) END"));
    let _ = raw;
    Case {
        filter: "birthday in next 7d",
        sql,
        binds,
    }
}

/// The zones besides Asia/Ho_Chi_Minh that generated contacts live in.
const ZONES: &[&str] = &[
    "Asia/Tokyo",
    "Asia/Bangkok",
    "America/Los_Angeles",
    "Europe/Berlin",
];

/// `CASE expr WHEN 0 THEN 'a' WHEN 1 THEN 'b' ... END` over `items`.
fn pick(expr: &str, items: &[&str]) -> String {
    let mut s = format!("CASE {expr}");
    for (i, item) in items.iter().enumerate() {
        s.push_str(&format!(" WHEN {i} THEN '{item}'"));
    }
    s.push_str(" END");
    s
}

/// Rows `from..=to` of a generated table: a `FROM` source with `i` and three
/// independent hashes `h1`, `h2`, `h3` of it (multiplicative hashing modulo
/// primes near 2^32), and the statement prefix it needs.
fn series(pg: bool, from: u64, to: u64) -> (String, String) {
    let hashes = "(i * 2654435761) % 4294967291 AS h1, (i * 2246822519) % 4294967279 AS h2, \
                  (i * 3266489917) % 4294967231 AS h3";
    if pg {
        (
            String::new(),
            format!(
                "(SELECT i, {hashes} FROM generate_series({from}::bigint, {to}::bigint) AS s(i)) r"
            ),
        )
    } else {
        (
            format!(
                "WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i < {to}) "
            ),
            format!("(SELECT i, {hashes} FROM s) r"),
        )
    }
}

/// Fills the tables with set-based SQL, a million rows a statement.
async fn generate(raw: &Raw, ws: WorkspaceId, opts: &Options, now: Millis) -> anyhow::Result<()> {
    let pg = raw.pg();
    let ws = ws.get();
    if pg {
        raw.exec("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
            .await?;
    } else {
        raw.exec("PRAGMA cache_size = -2000000; PRAGMA synchronous = OFF")
            .await?;
    }
    let json = |s: String| if pg { format!("({s})::jsonb") } else { s };
    let chunk = 1_000_000;
    // A span as a literal: on PostgreSQL `30 * 86400000` overflows int4.
    let month = 30 * DAY;

    // Contacts.
    let family = format!("(h1 % {})", FAMILY.len());
    let middle = format!("((h1 / 8) % {})", MIDDLE.len());
    let given = format!("((h1 / 16) % {})", GIVEN.len());
    let folded = |xs: &[&str]| xs.iter().map(|x| fold(x)).collect::<Vec<_>>();
    let (ff, fm, fg) = (folded(FAMILY), folded(MIDDLE), folded(GIVEN));
    let ff: Vec<&str> = ff.iter().map(String::as_str).collect();
    let fm: Vec<&str> = fm.iter().map(String::as_str).collect();
    let fg: Vec<&str> = fg.iter().map(String::as_str).collect();
    let name = format!(
        "{} || ' ' || {} || ' ' || {}",
        pick(&family, FAMILY),
        pick(&middle, MIDDLE),
        pick(&given, GIVEN)
    );
    let folded_name = format!(
        "{} || ' ' || {} || ' ' || {}",
        pick(&family, &ff),
        pick(&middle, &fm),
        pick(&given, &fg)
    );
    let phone = if pg {
        "'+849' || lpad(i::text, 8, '0')"
    } else {
        "printf('+849%08d', i)"
    };
    let days = "(h2 % 16000)";
    let birthday = if pg {
        format!(
            "CASE WHEN h2 % 33 = 0 THEN NULL ELSE to_char(DATE '1960-01-01' + {days}::int, 'YYYY-MM-DD') END"
        )
    } else {
        format!(
            "CASE WHEN h2 % 33 = 0 THEN NULL ELSE date('1960-01-01', '+' || {days} || ' days') END"
        )
    };
    let zone_of = "((h2 / 16000) % 20)";
    let mut zones: Vec<&str> = ZONES.to_vec();
    zones.extend(std::iter::repeat_n("Asia/Ho_Chi_Minh", 16));
    let timezone = pick(zone_of, &zones);
    let locale = format!("CASE WHEN {zone_of} IN (2, 3) THEN 'en' ELSE 'vi' END");
    let tags = pick(
        "(h3 % 10)",
        &[
            r#"["newsletter","vip"]"#,
            r#"["newsletter"]"#,
            r#"["newsletter"]"#,
            r#"["newsletter"]"#,
            r#"["vip"]"#,
            "[]",
            "[]",
            "[]",
            "[]",
            "[]",
        ],
    );
    let tier = pick("((h3 / 10) % 3)", &["member", "silver", "gold"]);
    let attrs = json(format!(
        "'{{\"tier\":\"' || {tier} || '\",\"points\":' || ((h3 / 30) % 5000) || '}}'"
    ));
    let created = format!("({now} - ((h3 / 150000) % 730) * {DAY} - h1 % {DAY})");
    let end = swell_core::contact::SEARCH_NAME_END;
    let mut from = 1;
    while from <= opts.contacts {
        let to = (from + chunk - 1).min(opts.contacts);
        let (prefix, source) = series(pg, from, to);
        raw.exec(&format!(
            "{prefix}INSERT INTO contacts (id, workspace_id, external_id, email, phone, name, given_name, family_name, \
             birthday, timezone, locale, score, tags, attrs, search, created_at, updated_at) \
             SELECT i, {ws}, 'c' || i, 'user' || i || '@example.com', {phone}, {name}, {}, {}, {birthday}, \
             {timezone}, {locale}, (h2 / 320000) % 100, {}, {attrs}, \
             {folded_name} || '{end}' || 'user' || i || '@example.com ' || {phone} || ' c' || i || ' ', {created}, {created} \
             FROM {source}",
            pick(&given, GIVEN),
            pick(&family, FAMILY),
            json(tags.clone()),
        ))
        .await?;
        from = to + 1;
    }
    let has = |tag: &str| {
        if pg {
            format!("tags @> '[\"{tag}\"]'")
        } else {
            format!("tags LIKE '%\"{tag}\"%'")
        }
    };
    for tag in ["vip", "newsletter"] {
        raw.exec(&format!(
            "INSERT INTO contact_tags (workspace_id, tag, contact_id) SELECT {ws}, '{tag}', id FROM contacts WHERE {}",
            has(tag)
        ))
        .await?;
    }
    // A list with 10% of the contacts subscribed and a few unsubscribed.
    raw.exec(&format!(
        "INSERT INTO lists (workspace_id, slug, name, kind, created_at, updated_at) \
         VALUES ({ws}, 'newsletter', 'Bản tin', 'static', {now}, {now})"
    ))
    .await?;
    raw.exec(&format!(
        "INSERT INTO list_members (workspace_id, list_id, contact_id, status, changed_at) \
         SELECT {ws}, (SELECT id FROM lists WHERE slug = 'newsletter'), id, \
         CASE WHEN id % 10 = 0 THEN 'subscribed' ELSE 'unsubscribed' END, {now} \
         FROM contacts WHERE id % 10 = 0 OR id % 37 = 0"
    ))
    .await?;

    // Orders: totals 50,000 to 10,000,000 VND, 70% paid, over 365 days.
    let n = opts.contacts.max(1);
    let status = "CASE WHEN (h2 / 200) % 20 < 14 THEN 'paid' WHEN (h2 / 200) % 20 < 17 THEN 'pending' \
         WHEN (h2 / 200) % 20 < 19 THEN 'cancelled' ELSE 'refunded' END";
    let mut from = 1;
    while from <= opts.orders {
        let to = (from + chunk - 1).min(opts.orders);
        let (prefix, source) = series(pg, from, to);
        raw.exec(&format!(
            "{prefix}INSERT INTO orders (id, workspace_id, external_id, contact_id, total, currency, status, data, \
             created_at, updated_at) \
             SELECT i, {ws}, 'o' || i, 1 + h1 % {n}, 50000 * (1 + h2 % 200), 'VND', {status}, {}, \
             {now} - (h3 % 365) * {DAY} - (h3 / 365) % {DAY}, {now} - (h3 % 365) * {DAY} - (h3 / 365) % {DAY} FROM {source}",
            json("'{}'".into())
        ))
        .await?;
        from = to + 1;
    }

    // Events: 70% page views (20% of them of /pricing), 30% opens, 30 days.
    let url = pick("((h2 / 10) % 10)", PATHS);
    let properties = json(format!(
        "CASE WHEN h2 % 10 < 7 THEN '{{\"url\":\"https://shop.example.vn' || {url} || '\"}}' \
         ELSE '{{\"campaign\":' || ((h2 / 10) % 50) || '}}' END"
    ));
    let mut from = 1;
    while from <= opts.events {
        let to = (from + chunk - 1).min(opts.events);
        let (prefix, source) = series(pg, from, to);
        raw.exec(&format!(
            "{prefix}INSERT INTO events (id, workspace_id, contact_id, name, at, properties, received_at) \
             SELECT i, {ws}, 1 + h1 % {n}, CASE WHEN h2 % 10 < 7 THEN 'page_view' ELSE 'email_opened' END, \
             {now} - h3 % {month}, {properties}, {now} - h3 % {month} FROM {source}"
        ))
        .await?;
        from = to + 1;
    }

    if pg {
        // Later inserts through the store take ids after the generated ones.
        for table in ["contacts", "orders", "events", "lists"] {
            raw.exec(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            ))
            .await?;
        }
        raw.exec("VACUUM ANALYZE").await?;
    } else {
        raw.exec("ANALYZE").await?;
    }
    Ok(())
}
