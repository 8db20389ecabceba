//! The filter compiler against the in-memory evaluator: on generated data
//! and generated filters, the SQL audience (both backends) must be exactly
//! the set `Filter::matches` accepts. Plus worked examples of
//! `count_audience` through the store's own write paths.
//!
//! Fixture rows are written with direct SQL (explicit ids, `created_at`,
//! tags, list memberships) through a second pool on the test database, as
//! the store's API sets those itself. Two columns are NOT NULL in the store
//! but optional in the generators; the memory side is given the value the
//! store would hold: `timezone` (the workspace default, `Asia/Ho_Chi_Minh`)
//! and `score` (0).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value as Json, json};
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use swell_core::entity::{Builtin, EntityKind};
use swell_core::filter::testing::{
    ANCHOR, OrderCase, TIMEZONES, arb_contact_filter, arb_contacts, arb_now, arb_order_case,
    arb_order_filter, catalog, contact_schema, order_schema, segments,
};
use swell_core::filter::{
    Comparison, ContactView, EvalContext, Expr, Filter, MemoryContact, MemoryRecord, Op, Path,
    Subject, Value, Window, utc_date,
};
use swell_core::schema::number_value;
use swell_core::text::fold;
use swell_core::time::{Clock, Millis, format_millis, from_millis};
use swell_store::{Store, WorkspaceId};
use swell_tests::{Backend, TestDb, store_test};

// ---- fixtures ----

/// A clock stopped at one instant.
struct Fixed(Millis);

impl Clock for Fixed {
    fn now(&self) -> jiff::Timestamp {
        from_millis(self.0)
    }
}

/// A bound value of a fixture statement.
#[derive(Debug, Clone)]
enum V {
    I(i64),
    F(f64),
    T(String),
    NullI,
    NullF,
    NullT,
    J(Json),
}

type Stmt = (String, Vec<V>);

/// A second pool on the test database, for fixture rows.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

macro_rules! bind_v {
    ($q:expr, $vs:expr) => {{
        let mut q = $q;
        for v in $vs {
            q = match v {
                V::I(x) => q.bind(*x),
                V::F(x) => q.bind(*x),
                V::T(x) => q.bind(x.clone()),
                V::NullI => q.bind(None::<i64>),
                V::NullF => q.bind(None::<f64>),
                V::NullT => q.bind(None::<String>),
                V::J(x) => q.bind(sqlx::types::Json(x.clone())),
            };
        }
        q
    }};
}

impl Raw {
    async fn open(url: &str) -> Raw {
        if url.starts_with("postgres") {
            Raw::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .expect("fixture pool"),
            )
        } else {
            let opts = SqliteConnectOptions::new()
                .filename(url)
                .busy_timeout(Duration::from_secs(30));
            Raw::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await
                    .expect("fixture pool"),
            )
        }
    }

    /// Runs the statements in one transaction.
    async fn run(&self, stmts: &[Stmt]) {
        match self {
            Raw::Sqlite(p) => {
                let mut tx = p.begin().await.expect("begin");
                for (sql, vs) in stmts {
                    bind_v!(sqlx::query(AssertSqlSafe(sql.clone())), vs)
                        .execute(&mut *tx)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
                tx.commit().await.expect("commit");
            }
            Raw::Postgres(p) => {
                let mut tx = p.begin().await.expect("begin");
                for (sql, vs) in stmts {
                    bind_v!(sqlx::query(AssertSqlSafe(sql.clone())), vs)
                        .execute(&mut *tx)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
                tx.commit().await.expect("commit");
            }
        }
    }

    async fn close(&self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => p.close().await,
        }
    }
}

/// Ids for fixture rows, unique within a test process.
static NEXT_ID: AtomicI64 = AtomicI64::new(1_000_000);
static NEXT_WORKSPACE: AtomicUsize = AtomicUsize::new(0);

fn next_id() -> i64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A fresh workspace with the generators' schemas and lists.
struct Case {
    ws: WorkspaceId,
    /// (slug, list id).
    lists: Vec<(String, i64)>,
    stmts: Vec<Stmt>,
}

async fn new_case(store: &Store) -> Case {
    let n = NEXT_WORKSPACE.fetch_add(1, Ordering::Relaxed);
    let ws = store
        .ensure_workspace(&format!("case-{n}"))
        .await
        .expect("workspace")
        .id;
    store
        .put_entity_type(ws, "contact", None, contact_schema().fields)
        .await
        .expect("contact schema");
    store
        .put_entity_type(ws, "order", None, order_schema().fields)
        .await
        .expect("order schema");
    let mut case = Case {
        ws,
        lists: Vec::new(),
        stmts: Vec::new(),
    };
    for slug in swell_core::filter::testing::LISTS {
        let id = next_id();
        case.stmts.push((
            "INSERT INTO lists (id, workspace_id, slug, name, kind, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'static', 0, 0)"
                .into(),
            vec![
                V::I(id),
                V::I(ws.get()),
                V::T(slug.to_string()),
                V::T(slug.to_string()),
            ],
        ));
        case.lists.push((slug.to_string(), id));
    }
    case
}

fn text_of(v: Option<&Value>) -> V {
    match v {
        Some(Value::Text(s)) => V::T(s.clone()),
        Some(Value::Date(d)) => V::T(d.to_string()),
        _ => V::NullT,
    }
}

fn float_of(v: Option<&Value>) -> V {
    match v {
        Some(Value::Number(n)) => V::F(*n),
        _ => V::NullF,
    }
}

fn time_of(v: Option<&Value>) -> V {
    match v {
        Some(Value::Time(t)) => V::I(*t),
        _ => V::I(0),
    }
}

/// A value as the store writes it into a JSON column.
fn json_of(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Text(s) => json!(s),
        Value::Number(n) => number_value(*n),
        Value::Bool(b) => json!(b),
        Value::Date(d) => json!(d.to_string()),
        Value::Time(t) => json!(format_millis(*t)),
        Value::List(items) => json!(items),
    }
}

/// What the store's NOT NULL columns make of an unset `timezone` or `score`.
fn as_stored(c: &mut MemoryContact) {
    c.fields
        .entry("timezone".into())
        .or_insert_with(|| Value::Text("Asia/Ho_Chi_Minh".into()));
    c.fields.entry("score".into()).or_insert(Value::Number(0.0));
}

/// Makes `email`, `phone` and `external_id` unique by the contact's number
/// (as `arb_contacts` does).
fn make_unique(c: &mut MemoryContact, i: usize) {
    if let Some(Value::Text(e)) = c.fields.get_mut("email") {
        *e = e.replacen('@', &format!("{i}@"), 1);
    }
    if let Some(Value::Text(p)) = c.fields.get_mut("phone") {
        p.truncate(p.len() - 2);
        p.push_str(&format!("{:02}", i % 100));
    }
    if let Some(Value::Text(x)) = c.fields.get_mut("external_id") {
        x.push_str(&format!("-{i}"));
    }
}

impl Case {
    /// Writes a contact, its tags, lists, orders and events; returns its id
    /// and the ids of its orders, in order.
    fn contact(&mut self, c: &MemoryContact, i: usize) -> (i64, Vec<i64>) {
        let id = next_id();
        let ws = self.ws.get();
        let f = |n: &str| c.fields.get(n);
        let attrs: serde_json::Map<String, Json> = c
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), json_of(v)))
            .collect();
        let score = match f("score") {
            Some(Value::Number(n)) => *n as i64,
            _ => 0,
        };
        let timezone = match f("timezone") {
            Some(Value::Text(z)) => z.clone(),
            _ => "Asia/Ho_Chi_Minh".into(),
        };
        self.stmts.push((
            "INSERT INTO contacts (id, workspace_id, external_id, email, phone, name, given_name, family_name, \
             birthday, timezone, locale, owner, score, tags, attrs, created_at, updated_at, search) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
                .into(),
            vec![
                V::I(id),
                V::I(ws),
                text_of(f("external_id")),
                text_of(f("email")),
                text_of(f("phone")),
                text_of(f("name")),
                text_of(f("given_name")),
                text_of(f("family_name")),
                text_of(f("birthday")),
                V::T(timezone),
                text_of(f("locale")),
                text_of(f("owner")),
                V::I(score),
                V::J(json!(c.tags)),
                V::J(Json::Object(attrs)),
                time_of(f("created_at")),
                time_of(f("updated_at")),
                // As the store writes it: name filters read the folded
                // name from it.
                V::T({
                    let text = |k: &str| match f(k) {
                        Some(Value::Text(t)) => Some(t.as_str()),
                        _ => None,
                    };
                    swell_core::contact::search_text_of(
                        text("name"),
                        [text("email"), text("phone"), text("external_id")],
                    )
                }),
            ],
        ));
        for tag in &c.tags {
            self.stmts.push((
                "INSERT INTO contact_tags (workspace_id, tag, contact_id) VALUES ($1, $2, $3)"
                    .into(),
                vec![V::I(ws), V::T(tag.clone()), V::I(id)],
            ));
        }
        for (j, (slug, list_id)) in self.lists.clone().into_iter().enumerate() {
            // Subscribed where the contact is; elsewhere unsubscribed,
            // pending or absent, which `in list` must not count.
            let status = if c.lists.contains(&slug) {
                Some("subscribed")
            } else {
                [Some("unsubscribed"), Some("pending"), None][(i + j) % 3]
            };
            if let Some(status) = status {
                self.stmts.push((
                    "INSERT INTO list_members (workspace_id, list_id, contact_id, status, changed_at) \
                     VALUES ($1, $2, $3, $4, 0)"
                        .into(),
                    vec![V::I(ws), V::I(list_id), V::I(id), V::T(status.into())],
                ));
            }
        }
        let orders = c.records.iter().map(|r| self.order(r, Some(id))).collect();
        for e in &c.events {
            self.stmts.push((
                "INSERT INTO events (id, workspace_id, contact_id, name, at, properties, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $5)"
                    .into(),
                vec![V::I(next_id()), V::I(ws), V::I(id), V::T(e.name.clone()), V::I(e.at), V::J(e.properties.clone())],
            ));
        }
        (id, orders)
    }

    fn order(&mut self, r: &MemoryRecord, contact: Option<i64>) -> i64 {
        let id = next_id();
        let f = |n: &str| r.fields.get(n);
        let mut data = serde_json::Map::new();
        for key in ["channel", "shipped_on"] {
            if let Some(v) = f(key) {
                data.insert(key.into(), json_of(v));
            }
        }
        self.stmts.push((
            "INSERT INTO orders (id, workspace_id, contact_id, total, currency, status, data, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                .into(),
            vec![
                V::I(id),
                V::I(self.ws.get()),
                contact.map_or(V::NullI, V::I),
                float_of(f("total")),
                text_of(f("currency")),
                text_of(f("status")),
                V::J(Json::Object(data)),
                time_of(f("created_at")),
                time_of(f("updated_at")),
            ],
        ));
        id
    }
}

/// Every id the audience yields, read in pages of three to walk the cursor.
async fn all_ids(store: &Store, ws: WorkspaceId, target: &EntityKind, filter: &Filter) -> Vec<i64> {
    let segments = segments();
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .audience_ids(ws, target, filter, &segments, after, 3)
            .await
            .expect("audience ids");
        out.extend(&page);
        match page.last() {
            Some(&last) if page.len() == 3 => after = last,
            _ => return out,
        }
    }
}

/// Runs a property against one database per backend, reused across cases
/// (each case in a workspace of its own).
fn run_property<S: Strategy>(
    backend: Backend,
    cases: u32,
    strategy: S,
    check: impl AsyncFn(&Store, &Raw, S::Value) -> Result<(), TestCaseError>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = rt.block_on(TestDb::new(backend));
    let raw = rt.block_on(Raw::open(&db.url));
    // PROPTEST_CASES runs a longer search than the default.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&strategy, |value| {
        rt.block_on(check(&db.store, &raw, value))
    });
    rt.block_on(raw.close());
    drop(rt);
    drop(db);
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn contacts_agree(
    store: &Store,
    raw: &Raw,
    (mut contacts, filter, now): (Vec<MemoryContact>, Filter, Millis),
) -> Result<(), TestCaseError> {
    let target = EntityKind::Contact;
    prop_assert!(
        filter.validate(&catalog(), &target).is_ok(),
        "the generator made an invalid filter: {filter}"
    );
    let store = store.clone().with_clock(Arc::new(Fixed(now)));
    let mut case = new_case(&store).await;
    let mut ids = Vec::new();
    for (i, c) in contacts.iter_mut().enumerate() {
        as_stored(c);
        ids.push(case.contact(c, i).0);
    }
    raw.run(&case.stmts).await;

    let segments = segments();
    let ctx = EvalContext::new(now, &segments);
    let expected: Vec<i64> = contacts
        .iter()
        .zip(&ids)
        .filter(|(c, _)| filter.matches(&Subject::Contact(*c), &ctx))
        .map(|(_, id)| *id)
        .collect();
    let got = all_ids(&store, case.ws, &target, &filter).await;
    let count = store
        .count_audience(case.ws, &target, &filter, &segments)
        .await
        .expect("count");
    if got != expected {
        let compiled = store
            .compile_audience(case.ws, &target, &filter, &segments)
            .await
            .expect("compile");
        let diff: Vec<&MemoryContact> = contacts
            .iter()
            .zip(&ids)
            .filter(|(_, id)| got.contains(id) != expected.contains(id))
            .map(|(c, _)| c)
            .collect();
        prop_assert_eq!(
            &got,
            &expected,
            "filter: {}\nnow: {}\nSQL: {}\nbinds: {:?}\ncontacts that differ: {:#?}",
            filter,
            format_millis(now),
            compiled.condition,
            compiled.binds,
            diff
        );
    }
    prop_assert_eq!(count, expected.len() as u64);
    Ok(())
}

async fn orders_agree(
    store: &Store,
    raw: &Raw,
    (mut cases, filter, now): (Vec<OrderCase>, Filter, Millis),
) -> Result<(), TestCaseError> {
    let target = EntityKind::Builtin(Builtin::Order);
    prop_assert!(
        filter.validate(&catalog(), &target).is_ok(),
        "the generator made an invalid filter: {filter}"
    );
    let store = store.clone().with_clock(Arc::new(Fixed(now)));
    let mut case = new_case(&store).await;
    // Every order in the workspace is a subject, with its contact: the
    // case's own order (which also counts among its contact's orders) and
    // the contact's other orders.
    let mut subjects: Vec<(i64, MemoryRecord, Option<usize>)> = Vec::new();
    for (i, oc) in cases.iter_mut().enumerate() {
        match &mut oc.contact {
            Some(c) => {
                make_unique(c, i);
                as_stored(c);
                c.records.push(oc.order.clone());
                let (_, order_ids) = case.contact(c, i);
                for (id, r) in order_ids.into_iter().zip(&c.records) {
                    subjects.push((id, r.clone(), Some(i)));
                }
            }
            None => {
                let id = case.order(&oc.order, None);
                subjects.push((id, oc.order.clone(), None));
            }
        }
    }
    raw.run(&case.stmts).await;

    let segments = segments();
    let ctx = EvalContext::new(now, &segments);
    let mut expected: Vec<i64> = subjects
        .iter()
        .filter(|(_, r, owner)| {
            let contact = owner
                .and_then(|i| cases[i].contact.as_ref())
                .map(|c| c as &dyn ContactView);
            filter.matches(&Subject::Record { record: r, contact }, &ctx)
        })
        .map(|(id, _, _)| *id)
        .collect();
    expected.sort_unstable();
    let got = all_ids(&store, case.ws, &target, &filter).await;
    let count = store
        .count_audience(case.ws, &target, &filter, &segments)
        .await
        .expect("count");
    if got != expected {
        let compiled = store
            .compile_audience(case.ws, &target, &filter, &segments)
            .await
            .expect("compile");
        prop_assert_eq!(
            &got,
            &expected,
            "filter: {}\nnow: {}\nSQL: {}\nbinds: {:?}\ncases: {:#?}",
            filter,
            format_millis(now),
            compiled.condition,
            compiled.binds,
            cases
        );
    }
    prop_assert_eq!(count, expected.len() as u64);
    Ok(())
}

fn contact_strategy() -> impl Strategy<Value = (Vec<MemoryContact>, Filter, Millis)> {
    (arb_contacts(8), arb_contact_filter(), arb_now())
}

fn order_strategy() -> impl Strategy<Value = (Vec<OrderCase>, Filter, Millis)> {
    (
        proptest::collection::vec(arb_order_case(), 0..5),
        arb_order_filter(),
        arb_now(),
    )
}

/// Contacts whose birthday (and `attr.since`) lies a few days around `now`
/// in zones on either side of the date line, against anniversary filters:
/// the general generators reach these boundaries too rarely.
fn anniversary_strategy() -> impl Strategy<Value = (Vec<MemoryContact>, Filter, Millis)> {
    let now = prop_oneof![arb_now(), (-96i64..96).prop_map(|h| ANCHOR + h * 3_600_000)];
    let window = prop_oneof![
        Just(Window::Today),
        Just(Window::ThisMonth),
        (1u32..10).prop_map(Window::NextDays),
        Just(Window::NextDays(366)),
    ];
    let field = prop_oneof![
        Just(Path::Field("birthday".into())),
        Just(Path::Attr("since".into()))
    ];
    let person = (
        proptest::option::of(select(TIMEZONES)),
        -3i32..10,
        1970i16..2010,
        0u8..10,
    );
    (
        now,
        window,
        field,
        any::<bool>(),
        proptest::collection::vec(person, 1..8),
    )
        .prop_map(|(now, window, field, negate, people)| {
            let today = utc_date(now);
            let contacts = people
                .into_iter()
                .map(|(zone, offset, year, leap)| {
                    let day = today
                        .checked_add(jiff::Span::new().days(offset))
                        .unwrap_or(today);
                    // One in ten was born on a 29 February.
                    let born = if leap == 0 {
                        jiff::civil::Date::constant(2000, 2, 29)
                    } else {
                        jiff::civil::Date::new(year, day.month(), day.day())
                            .unwrap_or(jiff::civil::Date::constant(2004, 2, 29))
                    };
                    let mut c = MemoryContact::default();
                    c.fields.insert("birthday".into(), Value::Date(born));
                    if let Some(z) = zone {
                        c.fields.insert("timezone".into(), Value::Text(z.into()));
                    }
                    c.attrs.insert("since".into(), Value::Date(born));
                    c
                })
                .collect();
            let test = Expr::Compare(Comparison::new(field, Op::Anniversary(window)));
            let expr = if negate {
                Expr::Not(Box::new(test))
            } else {
                test
            };
            (contacts, Filter::from_expr(expr), now)
        })
}

#[test]
fn anniversaries_follow_each_contacts_zone_on_sqlite() {
    run_property(Backend::Sqlite, 48, anniversary_strategy(), contacts_agree);
}

#[test]
fn anniversaries_follow_each_contacts_zone_on_postgres() {
    run_property(
        Backend::Postgres,
        48,
        anniversary_strategy(),
        contacts_agree,
    );
}

#[test]
fn sql_selects_the_contacts_memory_selects_on_sqlite() {
    run_property(Backend::Sqlite, 64, contact_strategy(), contacts_agree);
}

#[test]
fn sql_selects_the_contacts_memory_selects_on_postgres() {
    run_property(Backend::Postgres, 64, contact_strategy(), contacts_agree);
}

#[test]
fn sql_selects_the_orders_memory_selects_on_sqlite() {
    run_property(Backend::Sqlite, 48, order_strategy(), orders_agree);
}

#[test]
fn sql_selects_the_orders_memory_selects_on_postgres() {
    run_property(Backend::Postgres, 48, order_strategy(), orders_agree);
}

/// A contact whose search text was written before it ended the name with
/// `SEARCH_NAME_END` is found by its name, and only by its name, once the
/// migration has rebuilt that text.
async fn search_text_is_rebuilt_by_the_migration(backend: Backend) {
    let db = TestDb::new(backend).await;
    let ws = db.store.ensure_workspace("w").await.unwrap().id;
    let raw = Raw::open(&db.url).await;
    raw.run(&[
        (
            "INSERT INTO contacts (workspace_id, email, name, timezone, search, created_at, updated_at) \
             VALUES ($1, 'thao.le@x.vn', 'Lê Thị Thảo', 'UTC', 'le thi thao thao.le@x.vn ', 0, 0)"
                .into(),
            vec![V::I(ws.get())],
        ),
        (
            "DELETE FROM swell_migrations WHERE version = 13".into(),
            vec![],
        ),
    ])
    .await;
    db.store.migrate().await.unwrap();
    let count = |f: &str| {
        let filter = Filter::parse(f).unwrap();
        let store = db.store.clone();
        async move {
            store
                .count_audience(ws, &EntityKind::Contact, &filter, &())
                .await
                .unwrap()
        }
    };
    assert_eq!(count(r#"name contains "thao""#).await, 1);
    assert_eq!(count(r#"name contains "THẢO""#).await, 1);
    assert_eq!(count(r#"name starts_with "le thi""#).await, 1);
    // The e-mail follows the name in the search text, not in the name.
    assert_eq!(count(r#"name contains "thao.le""#).await, 0);
    assert_eq!(count(r#"name contains "thao thao""#).await, 0);
    assert_eq!(count(r#"name starts_with "le thi thao thao""#).await, 0);
    raw.close().await;
}

// Multi-threaded: dropping the database closes the store's pool from
// another thread, which needs this runtime to keep running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_text_is_rebuilt_by_the_migration_on_sqlite() {
    search_text_is_rebuilt_by_the_migration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_text_is_rebuilt_by_the_migration_on_postgres() {
    search_text_is_rebuilt_by_the_migration(Backend::Postgres).await;
}

// ---- examples, through the store's own write paths ----

mod examples {
    use swell_core::contact::{ContactInput, ParseContext};
    use swell_core::record::RecordInput;
    use swell_core::schema::{FieldDef, FieldType, Schema};
    use swell_store::contacts::{ContactWrite, Target};
    use swell_store::records::RecordWrite;

    use super::*;

    async fn contact(store: &Store, ws: WorkspaceId, v: Json) -> i64 {
        let schema = store.contact_schema(ws).await.unwrap();
        let input = ContactInput::from_json(
            v.as_object().unwrap(),
            &ParseContext {
                schema: &schema,
                phone_region: "VN",
            },
        )
        .unwrap();
        let results = store
            .write_contacts(
                ws,
                &[ContactWrite {
                    target: Target::Upsert,
                    input,
                }],
                false,
            )
            .await
            .unwrap();
        results[0].as_ref().unwrap().1
    }

    async fn order(store: &Store, ws: WorkspaceId, v: Json) {
        let ty = store.entity_type(ws, "order").await.unwrap().unwrap();
        let input = RecordInput::from_json(&ty, v.as_object().unwrap(), "VN").unwrap();
        let results = store
            .write_records(ws, &ty, &[RecordWrite { id: None, input }], false)
            .await
            .unwrap();
        results[0].as_ref().unwrap();
    }

    async fn count(store: &Store, ws: WorkspaceId, target: EntityKind, filter: &str) -> u64 {
        let filter = Filter::parse(filter).unwrap();
        store
            .count_audience(ws, &target, &filter, &())
            .await
            .unwrap()
    }

    store_test! {
        async fn contains_finds_vietnamese_names_typed_without_accents(store: Store) {
            let ws = store.ensure_workspace("w").await.unwrap().id;
            contact(&store, ws, json!({"email": "an@x.vn", "name": "Nguyễn Văn An"})).await;
            contact(&store, ws, json!({"email": "duc@x.vn", "name": "Trần Minh Đức"})).await;
            contact(&store, ws, json!({"email": "no-name@x.vn"})).await;

            assert_eq!(count(&store, ws, EntityKind::Contact, r#"name contains "nguyen""#).await, 1);
            assert_eq!(count(&store, ws, EntityKind::Contact, r#"name contains "DUC""#).await, 1);
            assert_eq!(count(&store, ws, EntityKind::Contact, r#"name starts_with "tran m""#).await, 1);
            assert_eq!(count(&store, ws, EntityKind::Contact, r#"name contains """#).await, 2);
            // Unset names fail `contains` and pass its negation.
            assert_eq!(count(&store, ws, EntityKind::Contact, r#"not name contains "nguyen""#).await, 2);
        }
    }

    store_test! {
        async fn has_tag_and_typed_attributes_select_what_the_store_wrote(store: Store) {
            let ws = store.ensure_workspace("w").await.unwrap().id;
            let f = |key: &str, kind: FieldType| FieldDef { key: key.into(), kind, label: None };
            let schema = Schema { fields: vec![f("points", FieldType::Number), f("active", FieldType::Bool), f("joined", FieldType::Datetime)] };
            store.put_entity_type(ws, "contact", None, schema.fields).await.unwrap();
            contact(&store, ws, json!({"email": "a@x.vn", "tags": ["VIP", "new"], "attributes": {"points": 12, "active": true, "joined": "2026-01-31T10:00:00+07:00"}})).await;
            contact(&store, ws, json!({"email": "b@x.vn", "tags": ["new"], "attributes": {"points": 2.5, "active": false}})).await;
            contact(&store, ws, json!({"email": "c@x.vn"})).await;

            assert_eq!(count(&store, ws, EntityKind::Contact, r#"has tag "vip""#).await, 1);
            assert_eq!(count(&store, ws, EntityKind::Contact, r#"has tag " New ""#).await, 2);
            assert_eq!(count(&store, ws, EntityKind::Contact, r#"not has tag "vip""#).await, 2);
            assert_eq!(count(&store, ws, EntityKind::Contact, "attr.points > 2").await, 2);
            assert_eq!(count(&store, ws, EntityKind::Contact, "attr.points != 12").await, 2);
            assert_eq!(count(&store, ws, EntityKind::Contact, "attr.active = false").await, 1);
            assert_eq!(count(&store, ws, EntityKind::Contact, "attr.joined >= 2026-01-31T03:00:00Z").await, 1);
            assert_eq!(count(&store, ws, EntityKind::Contact, "attr.joined > 2026-01-31T03:00:00Z").await, 0);
        }
    }

    store_test! {
        async fn sum_of_paid_orders_counts_only_paid_ones(store: Store) {
            let ws = store.ensure_workspace("w").await.unwrap().id;
            contact(&store, ws, json!({"email": "big@x.vn"})).await;
            contact(&store, ws, json!({"email": "small@x.vn"})).await;
            contact(&store, ws, json!({"email": "none@x.vn"})).await;
            order(&store, ws, json!({"contact_email": "big@x.vn", "total": 3000000, "status": "paid"})).await;
            order(&store, ws, json!({"contact_email": "big@x.vn", "total": 2500000, "status": "paid"})).await;
            order(&store, ws, json!({"contact_email": "small@x.vn", "total": 9000000, "status": "pending"})).await;
            order(&store, ws, json!({"contact_email": "small@x.vn", "total": 100000, "status": "paid"})).await;

            let contacts = EntityKind::Contact;
            assert_eq!(count(&store, ws, contacts.clone(), r#"sum(order.total where status = "paid") > 5000000"#).await, 1);
            assert_eq!(count(&store, ws, contacts.clone(), r#"sum(order.total where status = "paid") = 0"#).await, 1);
            assert_eq!(count(&store, ws, contacts.clone(), "count(order) = 0").await, 1);
            // No orders: min is unset, so only != holds.
            assert_eq!(count(&store, ws, contacts.clone(), "min(order.total) < 1000000000").await, 2);
            assert_eq!(count(&store, ws, contacts, "min(order.total) != 100000").await, 2);
            let orders = EntityKind::Builtin(Builtin::Order);
            assert_eq!(count(&store, ws, orders.clone(), r#"total >= 1000000 and contact.email contains "big""#).await, 2);
            assert_eq!(count(&store, ws, orders, r#"status = "paid" and sum(order.total) > 5000000"#).await, 3);
        }
    }

    store_test! {
        async fn an_audience_of_one_aggregate_counts_each_contact_once_in_its_own_workspace(store: Store) {
            let ws = store.ensure_workspace("w").await.unwrap().id;
            let other = store.ensure_workspace("other").await.unwrap().id;
            for w in [ws, other] {
                contact(&store, w, json!({"email": "two@x.vn"})).await;
                contact(&store, w, json!({"email": "one@x.vn"})).await;
                contact(&store, w, json!({"email": "none@x.vn"})).await;
                order(&store, w, json!({"contact_email": "two@x.vn", "total": 3000000, "status": "paid"})).await;
                order(&store, w, json!({"contact_email": "two@x.vn", "total": 4000000, "status": "paid"})).await;
                order(&store, w, json!({"contact_email": "one@x.vn", "total": 100000, "status": "paid"})).await;
            }
            // The other workspace has one more buyer, and events.
            contact(&store, other, json!({"email": "extra@x.vn"})).await;
            order(&store, other, json!({"contact_email": "extra@x.vn", "total": 9000000, "status": "paid"})).await;

            let contacts = EntityKind::Contact;
            // The first six are counted from the set of contacts alone; a
            // contact without orders passes the last three.
            for (filter, n, set_alone) in [
                ("count(order) >= 1", 2, true),
                ("count(order) > 0", 2, true),
                ("count(order where total > 1000000) >= 1", 1, true),
                ("count(order) >= 2", 1, true),
                (r#"sum(order.total where status = "paid") > 5000000"#, 1, true),
                ("max(order.total) >= 100000", 2, true),
                ("count(order) < 2", 2, false),
                ("count(order) != 2", 2, false),
                ("sum(order.total) = 0", 1, false),
            ] {
                let compiled = store
                    .compile_audience(ws, &contacts, &Filter::parse(filter).unwrap(), &())
                    .await
                    .unwrap();
                assert_eq!(compiled.members.is_some(), set_alone, "{filter}");
                assert_eq!(count(&store, ws, contacts.clone(), filter).await, n, "{filter}");
            }
            assert_eq!(count(&store, other, contacts, "count(order) >= 1").await, 3);
        }
    }

    store_test! {
        async fn custom_types_and_leads_compile_over_their_own_tables(store: Store) {
            let ws = store.ensure_workspace("w").await.unwrap().id;
            let f = |key: &str, kind: FieldType| FieldDef { key: key.into(), kind, label: None };
            let fields = vec![f("priority", FieldType::Number), f("opened_on", FieldType::Date), f("labels", FieldType::List)];
            store.put_entity_type(ws, "ticket", None, fields).await.unwrap();
            contact(&store, ws, json!({"email": "an@x.vn"})).await;
            contact(&store, ws, json!({"email": "binh@x.vn"})).await;
            let ticket = store.entity_type(ws, "ticket").await.unwrap().unwrap();
            for v in [
                json!({"contact_email": "an@x.vn", "priority": 3, "opened_on": "2026-02-10", "labels": ["urgent", "billing"]}),
                json!({"contact_email": "an@x.vn", "priority": 1, "opened_on": "2025-12-01"}),
                json!({"contact_email": "binh@x.vn", "priority": 2, "opened_on": "2026-01-05", "labels": []}),
                json!({"priority": 5}),
            ] {
                let input = RecordInput::from_json(&ticket, v.as_object().unwrap(), "VN").unwrap();
                store.write_records(ws, &ticket, &[RecordWrite { id: None, input }], false).await.unwrap()[0].as_ref().unwrap();
            }
            let lead = store.entity_type(ws, "lead").await.unwrap().unwrap();
            for v in [
                json!({"contact_email": "an@x.vn", "status": "won", "value": 5}),
                json!({"contact_email": "binh@x.vn", "status": "lost", "value": 7}),
            ] {
                let input = RecordInput::from_json(&lead, v.as_object().unwrap(), "VN").unwrap();
                store.write_records(ws, &lead, &[RecordWrite { id: None, input }], false).await.unwrap()[0].as_ref().unwrap();
            }

            let contacts = EntityKind::Contact;
            assert_eq!(count(&store, ws, contacts.clone(), "count(ticket where priority >= 2) >= 1").await, 2);
            assert_eq!(count(&store, ws, contacts.clone(), "max(ticket.opened_on) >= 2026-02-01").await, 1);
            assert_eq!(count(&store, ws, contacts.clone(), "min(ticket.opened_on) < 2026-01-01").await, 1);
            assert_eq!(count(&store, ws, contacts.clone(), "avg(ticket.priority) = 2").await, 2);
            assert_eq!(count(&store, ws, contacts.clone(), r#"exists(ticket where labels contains "urgent")"#).await, 1);
            assert_eq!(count(&store, ws, contacts, r#"exists(lead where status = "won")"#).await, 1);
            let tickets = EntityKind::Custom("ticket".into());
            assert_eq!(count(&store, ws, tickets.clone(), "priority > 1").await, 3);
            assert_eq!(count(&store, ws, tickets.clone(), r#"priority > 1 and contact.email starts_with "a""#).await, 1);
            assert_eq!(count(&store, ws, tickets.clone(), "labels is set").await, 1);
            assert_eq!(count(&store, ws, tickets.clone(), r#"labels not in ["billing"]"#).await, 3);
            // No linked contact: contact fields are unset, aggregates empty.
            assert_eq!(count(&store, ws, tickets.clone(), "contact.email is not set").await, 1);
            assert_eq!(count(&store, ws, tickets, "count(lead) = 0").await, 1);
            let leads = EntityKind::Builtin(Builtin::Lead);
            assert_eq!(count(&store, ws, leads.clone(), r#"status in ["won", "qualified"] and value > 2"#).await, 1);
            assert_eq!(count(&store, ws, leads, "count(ticket where priority = 3) = 1").await, 1);
        }
    }

    store_test! {
        async fn values_are_bound_never_written_into_the_sql(store: Store) {
            let ws = store.ensure_workspace("w").await.unwrap().id;
            let f = FieldDef { key: "note".into(), kind: FieldType::Text, label: None };
            store.put_entity_type(ws, "contact", None, vec![f]).await.unwrap();
            let evil = "x'); DROP TABLE contacts; --";
            contact(&store, ws, json!({"email": "a@x.vn", "name": evil, "attributes": {"note": evil}})).await;
            let text = format!(
                r#"name = "{evil}" and attr.note contains "{evil}" and has tag "{evil}" or count(event "{evil}") = 0"#
            );
            let filter = Filter::parse(&text).unwrap();
            let compiled = store.compile_audience(ws, &EntityKind::Contact, &filter, &()).await.unwrap();
            assert!(!compiled.condition.contains("DROP"), "{}", compiled.condition);
            assert_eq!(store.count_audience(ws, &EntityKind::Contact, &filter, &()).await.unwrap(), 1);
        }
    }

    /// `in list` over a list written with raw SQL (the store has no list
    /// API yet), so this one runs on a `TestDb` rather than `store_test!`.
    async fn in_list_counts_subscribed_members_only(db: TestDb) {
        let store = &db.store;
        let ws = store.ensure_workspace("w").await.unwrap().id;
        let a = contact(store, ws, json!({"email": "a@x.vn"})).await;
        let b = contact(store, ws, json!({"email": "b@x.vn"})).await;
        let c = contact(store, ws, json!({"email": "c@x.vn"})).await;
        contact(store, ws, json!({"email": "d@x.vn"})).await;
        let raw = Raw::open(&db.url).await;
        let list = next_id();
        let mut stmts: Vec<Stmt> = vec![(
            "INSERT INTO lists (id, workspace_id, slug, name, kind, created_at, updated_at) \
             VALUES ($1, $2, 'news', 'News', 'static', 0, 0)"
                .into(),
            vec![V::I(list), V::I(ws.get())],
        )];
        for (id, status) in [(a, "subscribed"), (b, "unsubscribed"), (c, "pending")] {
            stmts.push((
                "INSERT INTO list_members (workspace_id, list_id, contact_id, status, changed_at) \
                 VALUES ($1, $2, $3, $4, 0)"
                    .into(),
                vec![V::I(ws.get()), V::I(list), V::I(id), V::T(status.into())],
            ));
        }
        raw.run(&stmts).await;
        raw.close().await;

        assert_eq!(
            count(store, ws, EntityKind::Contact, r#"in list "news""#).await,
            1
        );
        assert_eq!(
            count(store, ws, EntityKind::Contact, r#"not in list "news""#).await,
            3
        );
        let filter = Filter::parse(r#"in list "news""#).unwrap();
        let ids = store
            .audience_ids(ws, &EntityKind::Contact, &filter, &(), 0, 10)
            .await
            .unwrap();
        assert_eq!(ids, [a]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_list_counts_subscribed_members_only_on_sqlite() {
        in_list_counts_subscribed_members_only(TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_list_counts_subscribed_members_only_on_postgres() {
        in_list_counts_subscribed_members_only(TestDb::postgres().await).await;
    }
}

/// PostgreSQL's `swell_fold` (migration 0002) folds as `text::fold` does.
/// SQLite's calls `fold` itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_swell_fold_agrees_with_fold() {
    let db = TestDb::postgres().await;
    let Raw::Postgres(pool) = Raw::open(&db.url).await else {
        unreachable!()
    };
    let samples = [
        "Nguyễn Văn Đức",
        "TRẦN thị Hoà",
        "ĐÀ NẴNG",
        "Ễễ Đđ aA b e d / ",
        "/blog/đà-nẵng",
        "/Pricing/plans",
        "Paid",
        "Ỷ Ỹ Ự Ữ Ở Ợ Ẫ Ậ Ẳ Ặ Ệ Ể Ị Ỉ Ố Ồ Ụ Ủ",
        "Crème Brûlée, Ærøskøbing, Łódź, Straße",
        "",
    ];
    for s in samples {
        let got: String = sqlx::query_scalar("SELECT swell_fold($1)")
            .bind(s)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(got, fold(s), "folding {s:?}");
    }
    pool.close().await;
}
