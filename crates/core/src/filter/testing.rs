//! Generators for property tests: random filters over a fixed small
//! catalog, and random subjects to evaluate them on.
//!
//! The store's tests use these (feature `testing`) to compare the SQL
//! compiler with [`Filter::matches`](super::Filter::matches), so every
//! generated value is one both databases store and compare identically:
//! text from a small alphabet with Vietnamese letters (so folding matters),
//! numbers that are exact in binary floating point, integers for integer
//! columns, dates in 2000–2030, instants on a one-hour grid around
//! [`ANCHOR`] (so that `created_at >= -30d` can hit its boundary exactly).
//!
//! Fields the store sets itself (`id`, `contact_id`) are never generated.
//! `email`, `phone` and `external_id` come from small pools and may repeat
//! across contacts; [`arb_contacts`] makes them unique within one set.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;

use super::*;
use crate::entity::{Builtin, EntityKind, EntityType};
use crate::schema::{FieldDef, FieldType, Schema};
use crate::time::Millis;

/// 2026-03-01T00:00:00Z: generated instants and `now` lie around it, and
/// the window crosses 29 February 2028 and the non-leap 28 February 2026/27.
pub const ANCHOR: Millis = 1_772_323_200_000;
const HOUR: Millis = 3_600_000;

/// Normalised tags the subjects carry; filters also ask for `"VIP"` (which
/// normalises to `vip`) and a tag nobody has.
pub const TAGS: &[&str] = &["vip", "new", "đà nẵng"];
pub const LISTS: &[&str] = &["newsletter", "promo"];
/// Segments of [`catalog`]: `engaged` includes `gold`.
pub const SEGMENTS: &[&str] = &["gold", "engaged"];
pub const TIMEZONES: &[&str] = &[
    "Asia/Ho_Chi_Minh",
    "UTC",
    "America/New_York",
    "Pacific/Kiritimati",
];
pub const EVENT_NAMES: &[&str] = &["page_view", "email_opened"];
const ALPHABET: &[&str] = &["a", "A", "b", "e", "ễ", "Ễ", "d", "đ", "Đ", " ", "/"];
const TIER_VALUES: &[&str] = &["gold", "silver"];

/// Contact attributes, one of each type.
pub fn contact_schema() -> Schema {
    let f = |key: &str, kind: FieldType| FieldDef {
        key: key.into(),
        kind,
        label: None,
    };
    Schema {
        fields: vec![
            f("city", FieldType::Text),
            f(
                "tier",
                FieldType::Enum {
                    values: TIER_VALUES.iter().map(|s| s.to_string()).collect(),
                },
            ),
            f("points", FieldType::Number),
            f("active", FieldType::Bool),
            f("since", FieldType::Date),
            f("last_seen", FieldType::Datetime),
            f("interests", FieldType::List),
        ],
    }
}

/// Custom fields of `order`, next to its standard columns.
pub fn order_schema() -> Schema {
    let f = |key: &str, kind: FieldType| FieldDef {
        key: key.into(),
        kind,
        label: None,
    };
    Schema {
        fields: vec![
            f("channel", FieldType::Text),
            f("shipped_on", FieldType::Date),
        ],
    }
}

/// The catalog every generated filter validates against.
pub fn catalog() -> Catalog {
    Catalog {
        types: vec![
            EntityType {
                kind: EntityKind::Contact,
                label: None,
                schema: contact_schema(),
            },
            EntityType {
                kind: EntityKind::Builtin(Builtin::Order),
                label: None,
                schema: order_schema(),
            },
        ],
        lists: LISTS.iter().map(|s| s.to_string()).collect(),
        segments: segments(),
    }
}

/// `gold` and `engaged` (which refers to `gold`).
pub fn segments() -> BTreeMap<String, Filter> {
    let parse =
        |s: &str| Filter::parse(s).unwrap_or_else(|e| panic!("bad built-in segment {s}: {e}"));
    BTreeMap::from([
        ("gold".to_string(), parse(r#"attr.tier = "gold""#)),
        (
            "engaged".to_string(),
            parse(r#"in segment "gold" or exists(event "email_opened" where at >= -30d)"#),
        ),
    ])
}

// ---- values ----

pub fn arb_text() -> impl Strategy<Value = String> {
    vec(select(ALPHABET), 0..4).prop_map(|parts| parts.concat())
}

/// Quarters between -10 and 10: exact in binary, so sums agree everywhere.
pub fn arb_number() -> impl Strategy<Value = f64> {
    (-40i32..=40).prop_map(|n| f64::from(n) / 4.0)
}

pub fn arb_integer() -> impl Strategy<Value = f64> {
    (-10i32..=10).prop_map(f64::from)
}

fn anchor_date() -> Date {
    utc_date(ANCHOR)
}

/// Dates from 2000 to 2030, with extra weight near [`ANCHOR`] and on leap
/// days.
pub fn arb_date() -> impl Strategy<Value = Date> {
    let base = Date::constant(2000, 1, 1);
    prop_oneof![
        (0i32..11_323)
            .prop_map(move |d| base.checked_add(jiff::Span::new().days(d)).unwrap_or(base)),
        (-60i32..60).prop_map(|d| anchor_date()
            .checked_add(jiff::Span::new().days(d))
            .unwrap_or(anchor_date())),
        select(vec![
            Date::constant(2000, 2, 29),
            Date::constant(2024, 2, 29),
            Date::constant(1996, 2, 29)
        ]),
        select(vec![
            Date::constant(1990, 2, 28),
            Date::constant(1991, 3, 1),
            Date::constant(1985, 12, 31)
        ]),
    ]
}

/// An instant on the hour, within 800 days of [`ANCHOR`].
pub fn arb_time() -> impl Strategy<Value = Millis> {
    (-19_200i64..19_200).prop_map(|h| ANCHOR + h * HOUR)
}

/// `now` for evaluation: on the hour, within 400 days of [`ANCHOR`].
pub fn arb_now() -> impl Strategy<Value = Millis> {
    (-9_600i64..9_600).prop_map(|h| ANCHOR + h * HOUR)
}

fn arb_relative() -> impl Strategy<Value = Literal> {
    (-60i64..=60, select(TimeUnit::ALL.to_vec()))
        .prop_map(|(amount, unit)| Literal::Relative { amount, unit })
}

fn arb_date_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        arb_date().prop_map(Literal::Date),
        Just(Literal::Today),
        Just(Literal::Now),
        (-60i64..=60, select(vec![TimeUnit::Days, TimeUnit::Weeks]))
            .prop_map(|(amount, unit)| Literal::Relative { amount, unit }),
    ]
}

fn arb_datetime_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        arb_time().prop_map(Literal::DateTime),
        arb_date().prop_map(Literal::Date),
        Just(Literal::Today),
        Just(Literal::Now),
        arb_relative(),
    ]
}

/// Literals that fit a field of type `ft`.
fn arb_literal(ft: &FieldType) -> BoxedStrategy<Literal> {
    match ft {
        FieldType::Text => arb_text().prop_map(Literal::Text).boxed(),
        FieldType::Enum { values } => select(values.clone()).prop_map(Literal::Text).boxed(),
        FieldType::Number => arb_number().prop_map(Literal::Number).boxed(),
        FieldType::Bool => any::<bool>().prop_map(Literal::Bool).boxed(),
        FieldType::Date => arb_date_literal().boxed(),
        FieldType::Datetime => arb_datetime_literal().boxed(),
        FieldType::List => arb_text().prop_map(Literal::Text).boxed(),
    }
}

/// An operator and operand valid for a field of type `ft`.
fn arb_op(ft: &FieldType) -> BoxedStrategy<Op> {
    let lit = arb_literal(ft);
    let lits = vec(lit.clone(), 1..4);
    let any_cmp = (select(CmpOp::ALL.to_vec()), lit.clone()).prop_map(|(op, l)| Op::Cmp(op, l));
    let set = prop_oneof![Just(Op::IsSet), Just(Op::IsNotSet)];
    let in_ops = prop_oneof![lits.clone().prop_map(Op::In), lits.prop_map(Op::NotIn)];
    let text = arb_text;
    match ft {
        FieldType::Text | FieldType::Enum { .. } => prop_oneof![
            3 => any_cmp,
            2 => in_ops,
            2 => text().prop_map(Op::Contains),
            1 => text().prop_map(Op::StartsWith),
            1 => set,
        ]
        .boxed(),
        FieldType::Number | FieldType::Datetime => {
            prop_oneof![4 => any_cmp, 1 => in_ops, 1 => set].boxed()
        }
        FieldType::Bool => prop_oneof![
            3 => (select(vec![CmpOp::Eq, CmpOp::Ne]), lit).prop_map(|(op, l)| Op::Cmp(op, l)),
            1 => in_ops,
            1 => set,
        ]
        .boxed(),
        FieldType::Date => prop_oneof![
            4 => any_cmp,
            1 => in_ops,
            1 => set,
            3 => prop_oneof![
                Just(Window::Today),
                Just(Window::ThisMonth),
                (1u32..40).prop_map(Window::NextDays),
                Just(Window::NextDays(366)),
            ]
            .prop_map(Op::Anniversary),
        ]
        .boxed(),
        FieldType::List => {
            prop_oneof![2 => in_ops, 2 => text().prop_map(Op::Contains), 1 => set].boxed()
        }
    }
}

fn compare_on(fields: Vec<(Path, FieldType)>) -> BoxedStrategy<Expr> {
    select(fields)
        .prop_flat_map(|(path, ft)| {
            arb_op(&ft).prop_map(move |op| Expr::Compare(Comparison::new(path.clone(), op)))
        })
        .boxed()
}

/// The contact fields generated filters and subjects use, with their types.
pub fn contact_fields() -> Vec<(Path, FieldType)> {
    let mut out: Vec<(Path, FieldType)> = [
        ("email", FieldType::Text),
        ("phone", FieldType::Text),
        ("name", FieldType::Text),
        ("given_name", FieldType::Text),
        ("family_name", FieldType::Text),
        ("birthday", FieldType::Date),
        ("timezone", FieldType::Text),
        ("locale", FieldType::Text),
        ("owner", FieldType::Text),
        ("score", FieldType::Number),
        ("created_at", FieldType::Datetime),
        ("updated_at", FieldType::Datetime),
        ("external_id", FieldType::Text),
    ]
    .into_iter()
    .map(|(n, t)| (Path::Field(n.into()), t))
    .collect();
    out.extend(
        contact_schema()
            .fields
            .into_iter()
            .map(|f| (Path::Attr(f.key), f.kind)),
    );
    out
}

/// The order fields generated filters and records use.
pub fn order_fields() -> Vec<(String, FieldType)> {
    vec![
        ("total".into(), FieldType::Number),
        ("currency".into(), FieldType::Text),
        ("status".into(), FieldType::Text),
        ("created_at".into(), FieldType::Datetime),
        ("updated_at".into(), FieldType::Datetime),
        ("channel".into(), FieldType::Text),
        ("shipped_on".into(), FieldType::Date),
    ]
}

fn order_compare() -> BoxedStrategy<Expr> {
    compare_on(
        order_fields()
            .into_iter()
            .map(|(n, t)| (Path::Field(n), t))
            .collect(),
    )
}

fn event_compare() -> BoxedStrategy<Expr> {
    let property = select(vec!["url", "duration", "campaign", "at"]).prop_map(|p| {
        if p == "at" {
            Path::EventAt
        } else {
            Path::EventProperty(p.into())
        }
    });
    property
        .prop_flat_map(|path| {
            let op = if path == Path::EventAt {
                arb_op(&FieldType::Datetime)
            } else {
                // Untyped: any scalar literal kind, and the text operators.
                let lit = prop_oneof![
                    arb_text().prop_map(Literal::Text),
                    select(vec!["/pricing", "welcome"]).prop_map(|s| Literal::Text(s.into())),
                    arb_number().prop_map(Literal::Number),
                    any::<bool>().prop_map(Literal::Bool),
                ];
                prop_oneof![
                    3 => (select(CmpOp::ALL.to_vec()), lit.clone()).prop_map(|(op, l)| Op::Cmp(op, l)),
                    1 => vec(lit, 1..3).prop_map(Op::In),
                    2 => prop_oneof![Just("/pricing".to_string()), arb_text()].prop_map(Op::Contains),
                    1 => arb_text().prop_map(Op::StartsWith),
                    1 => Just(Op::IsSet),
                ]
                .boxed()
            };
            op.prop_map(move |op| Expr::Compare(Comparison::new(path.clone(), op)))
        })
        .boxed()
}

fn combine(leaf: BoxedStrategy<Expr>, depth: u32) -> BoxedStrategy<Expr> {
    leaf.prop_recursive(depth, 16, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 2..4).prop_map(Expr::And),
            vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
    .boxed()
}

/// Aggregates over the contact's orders and events.
fn arb_related() -> BoxedStrategy<Expr> {
    let order_where = proptest::option::of(combine(order_compare(), 1));
    let event_where = proptest::option::of(combine(event_compare(), 1));
    let orders = order_where.prop_map(|w| Related::new(Source::Records("order".into()), w));
    let events = (select(EVENT_NAMES), event_where)
        .prop_map(|(n, w)| Related::new(Source::Events(n.into()), w));
    let count_value = (0i32..4).prop_map(|n| Literal::Number(f64::from(n)));
    let cmp = select(CmpOp::ALL.to_vec());
    prop_oneof![
        orders.clone().prop_map(Expr::Exists),
        events.clone().prop_map(Expr::Exists),
        (orders.clone(), cmp.clone(), count_value.clone()).prop_map(|(of, op, value)| aggregate(
            Measure::Count,
            of,
            op,
            value
        )),
        (events, cmp.clone(), count_value).prop_map(|(of, op, value)| aggregate(
            Measure::Count,
            of,
            op,
            value
        )),
        (
            orders.clone(),
            select(vec!["sum", "avg", "min", "max"]),
            cmp.clone(),
            arb_order_total()
        )
            .prop_map(|(of, m, op, v)| aggregate(
                Measure::from_name(m, Some("total".into())).unwrap_or(Measure::Count),
                of,
                op,
                Literal::Number(v)
            )),
        (
            orders,
            select(vec!["min", "max"]),
            cmp,
            arb_datetime_literal()
        )
            .prop_map(|(of, m, op, v)| aggregate(
                Measure::from_name(m, Some("created_at".into())).unwrap_or(Measure::Count),
                of,
                op,
                v
            )),
    ]
    .boxed()
}

fn aggregate(measure: Measure, of: Related, op: CmpOp, value: Literal) -> Expr {
    Expr::Aggregate(Aggregate {
        measure,
        of,
        op,
        value,
        value_loc: Loc::None,
    })
}

fn arb_membership() -> BoxedStrategy<Expr> {
    prop_oneof![
        select(vec!["vip", "VIP", "new", "Đà Nẵng", "nobody"])
            .prop_map(|t| Expr::HasTag(Name::new(t))),
        select(LISTS).prop_map(|l| Expr::InList(Name::new(l))),
        select(SEGMENTS).prop_map(|s| Expr::InSegment(Name::new(s))),
    ]
    .boxed()
}

/// A random filter over contacts that validates against [`catalog`].
pub fn arb_contact_filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        6 => compare_on(contact_fields()),
        2 => arb_membership(),
        3 => arb_related(),
    ];
    combine(leaf.boxed(), 3).prop_map(Filter::from_expr)
}

/// A random filter over orders (fields by name, `contact.FIELD`, the linked
/// contact's tags, lists, segments and aggregates) that validates against
/// [`catalog`].
pub fn arb_order_filter() -> impl Strategy<Value = Filter> {
    let contact_side = contact_fields()
        .into_iter()
        .map(|(p, t)| {
            let p = match p {
                Path::Field(n) => Path::ContactField(n),
                Path::Attr(k) => Path::ContactAttr(k),
                other => other,
            };
            (p, t)
        })
        .collect();
    let leaf = prop_oneof![
        5 => order_compare(),
        3 => compare_on(contact_side),
        1 => arb_membership(),
        2 => arb_related(),
    ];
    combine(leaf.boxed(), 3).prop_map(Filter::from_expr)
}

// ---- subjects ----

fn arb_order_total() -> impl Strategy<Value = f64> {
    (0i32..=40).prop_map(|n| f64::from(n) * 250_000.0)
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    proptest::option::weighted(0.8, s).boxed()
}

/// A random order (never linked by id: the store links it to its contact).
pub fn arb_order() -> impl Strategy<Value = MemoryRecord> {
    (
        opt(arb_order_total()),
        opt(select(vec!["VND", "USD"])),
        opt(select(vec!["paid", "pending", "Paid"])),
        arb_time(),
        arb_time(),
        opt(arb_text()),
        opt(arb_date()),
    )
        .prop_map(
            |(total, currency, status, created, updated, channel, shipped)| {
                let mut fields = BTreeMap::new();
                put(&mut fields, "total", total.map(Value::Number));
                put(
                    &mut fields,
                    "currency",
                    currency.map(|s| Value::Text(s.into())),
                );
                put(&mut fields, "status", status.map(|s| Value::Text(s.into())));
                put(&mut fields, "created_at", Some(Value::Time(created)));
                put(&mut fields, "updated_at", Some(Value::Time(updated)));
                put(&mut fields, "channel", channel.map(Value::Text));
                put(&mut fields, "shipped_on", shipped.map(Value::Date));
                MemoryRecord {
                    entity: "order".into(),
                    fields,
                }
            },
        )
}

fn put(map: &mut BTreeMap<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        map.insert(key.into(), v);
    }
}

pub fn arb_event() -> impl Strategy<Value = MemoryEvent> {
    let url = prop_oneof![
        select(vec!["/pricing", "/home", "/Pricing/plans", "/blog/đà-nẵng"]).prop_map(|s| json!(s)),
        arb_text().prop_map(|s| json!(s)),
        Just(json!(5)),
        Just(json!(["/pricing"])),
    ];
    let duration = prop_oneof![
        arb_number().prop_map(|n| json!(n)),
        Just(json!("5")),
        Just(json!(true))
    ];
    let campaign = select(vec!["welcome", "sale", "Welcome"]).prop_map(|s| json!(s));
    (
        select(EVENT_NAMES),
        arb_time(),
        opt(url),
        opt(duration),
        opt(campaign),
    )
        .prop_map(|(name, at, url, duration, campaign)| {
            let mut props = serde_json::Map::new();
            for (k, v) in [("url", url), ("duration", duration), ("campaign", campaign)] {
                if let Some(v) = v {
                    props.insert(k.into(), v);
                }
            }
            MemoryEvent {
                name: name.into(),
                at,
                properties: serde_json::Value::Object(props),
            }
        })
}

/// A random contact with attributes, tags, lists, orders and events.
pub fn arb_contact() -> impl Strategy<Value = MemoryContact> {
    let standard = (
        opt(select(vec![
            "an@gmail.com",
            "binh@yahoo.com",
            "chi@gmail.com.vn",
        ])),
        opt(select(vec!["+84901234567", "+84912345678"])),
        opt(arb_text()),
        opt(arb_text()),
        opt(arb_text()),
        opt(arb_date()),
        opt(select(TIMEZONES)),
        opt(select(vec!["vi", "en", "vi-VN"])),
        opt(arb_text()),
        opt(arb_integer()),
        (arb_time(), arb_time(), opt(select(vec!["ext-a", "ext-b"]))),
    );
    let attrs = (
        opt(arb_text()),
        opt(select(TIER_VALUES)),
        opt(arb_number()),
        opt(any::<bool>()),
        opt(arb_date()),
        opt(arb_time()),
        opt(vec(arb_text(), 0..3)),
    );
    let rest = (
        btree_set(select(TAGS), 0..3),
        btree_set(select(LISTS), 0..2),
        vec(arb_order(), 0..4),
        vec(arb_event(), 0..5),
    );
    (standard, attrs, rest).prop_map(|(s, a, (tags, lists, records, events))| {
        let mut fields = BTreeMap::new();
        let text = |s: Option<&str>| s.map(|s| Value::Text(s.into()));
        put(&mut fields, "email", text(s.0));
        put(&mut fields, "phone", text(s.1));
        put(&mut fields, "name", s.2.map(Value::Text));
        put(&mut fields, "given_name", s.3.map(Value::Text));
        put(&mut fields, "family_name", s.4.map(Value::Text));
        put(&mut fields, "birthday", s.5.map(Value::Date));
        put(&mut fields, "timezone", text(s.6));
        put(&mut fields, "locale", text(s.7));
        put(&mut fields, "owner", s.8.map(Value::Text));
        put(&mut fields, "score", s.9.map(Value::Number));
        let (created, updated, external_id) = s.10;
        put(&mut fields, "created_at", Some(Value::Time(created)));
        put(&mut fields, "updated_at", Some(Value::Time(updated)));
        put(&mut fields, "external_id", text(external_id));
        let mut attrs = BTreeMap::new();
        put(&mut attrs, "city", a.0.map(Value::Text));
        put(&mut attrs, "tier", text(a.1));
        put(&mut attrs, "points", a.2.map(Value::Number));
        put(&mut attrs, "active", a.3.map(Value::Bool));
        put(&mut attrs, "since", a.4.map(Value::Date));
        put(&mut attrs, "last_seen", a.5.map(Value::Time));
        put(&mut attrs, "interests", a.6.map(Value::List));
        MemoryContact {
            fields,
            attrs,
            tags: tags.into_iter().map(str::to_string).collect(),
            lists: lists.into_iter().map(str::to_string).collect(),
            records,
            events,
        }
    })
}

/// Up to `max` contacts whose `email`, `phone` and `external_id` are
/// unique within the set (a number is worked into each), as a store with
/// unique keys needs. `max` must stay below 100.
pub fn arb_contacts(max: usize) -> impl Strategy<Value = Vec<MemoryContact>> {
    vec(arb_contact(), 0..=max).prop_map(|mut contacts| {
        for (i, c) in contacts.iter_mut().enumerate() {
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
        contacts
    })
}

/// An order with its linked contact, or none.
#[derive(Debug, Clone)]
pub struct OrderCase {
    pub order: MemoryRecord,
    pub contact: Option<MemoryContact>,
}

impl OrderCase {
    pub fn subject(&self) -> Subject<'_> {
        Subject::Record {
            record: &self.order,
            contact: self.contact.as_ref().map(|c| c as &dyn ContactView),
        }
    }
}

pub fn arb_order_case() -> impl Strategy<Value = OrderCase> {
    (arb_order(), proptest::option::weighted(0.8, arb_contact()))
        .prop_map(|(order, contact)| OrderCase { order, contact })
}

/// Tags that subjects may carry, as a set (for tests that build contacts
/// by hand).
pub fn tag_set(tags: &[&str]) -> BTreeSet<String> {
    tags.iter().map(|t| t.to_string()).collect()
}
