//! The demo workspace: a few thousand realistic contacts (mostly
//! Vietnamese, some international), companies, orders and events, made
//! through the same import and write paths real data takes.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use swell_core::record::{ContactRef, RecordInput};
use swell_core::schema::{FieldDef, FieldType};
use swell_store::events::NewEvent;
use swell_store::import::ImportOptions;
use swell_store::records::RecordWrite;
use swell_store::{Store, Workspace};

pub const WORKSPACE: &str = "demo";

const VN_FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const VN_MIDDLE: &[&str] = &[
    "Văn", "Thị", "Minh", "Thanh", "Ngọc", "Hoàng", "Quốc", "Gia", "Bảo", "Thu", "Đức", "Hữu",
];
const VN_GIVEN: &[&str] = &[
    "An", "Bình", "Châu", "Dũng", "Đức", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng",
    "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Ngân", "Phong", "Phúc",
    "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến",
];
const INTL_GIVEN: &[&str] = &[
    "John", "Emma", "Liam", "Olivia", "Noah", "Sophie", "Lucas", "Mia", "Kenji", "Yuki", "Min-jun",
    "Ji-woo", "Anna", "David",
];
const INTL_FAMILY: &[&str] = &[
    "Smith", "Johnson", "Brown", "Müller", "Martin", "Tanaka", "Sato", "Kim", "Park", "García",
    "Rossi", "Wilson",
];
const CITIES: &[&str] = &[
    "Hà Nội",
    "TP. Hồ Chí Minh",
    "Đà Nẵng",
    "Hải Phòng",
    "Cần Thơ",
    "Nha Trang",
    "Huế",
    "Vũng Tàu",
    "Biên Hòa",
    "Quy Nhơn",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "fpt.vn",
    "vnpt.vn",
    "icloud.com",
];
const VN_PREFIXES: &[&str] = &[
    "090", "091", "093", "094", "096", "097", "098", "086", "088", "070", "077", "035", "039",
];
const COMPANY_NAMES: &[&str] = &[
    "Công ty TNHH Sao Mai",
    "Công ty CP Thực phẩm Bình Minh",
    "Cà phê Hương Việt",
    "Nội thất Gỗ Xanh",
    "Mỹ phẩm Ngọc Lan",
    "Du lịch Biển Xanh",
    "Điện máy Phú Quý",
    "Thời trang Hoa Sen",
    "Acme Asia Pte Ltd",
    "Lotus Digital",
    "Golden Rice Trading",
    "Nhà sách Tri Thức",
    "Dược phẩm An Khang",
    "Xây dựng Hưng Thịnh",
    "Giáo dục Tương Lai",
];
const INDUSTRIES: &[&str] = &[
    "retail",
    "food",
    "furniture",
    "cosmetics",
    "travel",
    "electronics",
    "fashion",
    "software",
    "education",
    "pharma",
];
const TIERS: &[&str] = &["member", "silver", "gold", "platinum"];
const TAGS: &[&str] = &[
    "vip",
    "newsletter",
    "zalo",
    "b2b",
    "returning",
    "app-user",
    "hot-lead",
    "wholesale",
];
const ORDER_STATUS: &[&str] = &[
    "pending",
    "paid",
    "paid",
    "paid",
    "delivered",
    "delivered",
    "cancelled",
    "refunded",
];
const PAGES: &[&str] = &[
    "/",
    "/pricing",
    "/products/ca-phe-sua-da",
    "/products/tra-sen",
    "/blog/khuyen-mai-tet",
    "/cart",
    "/checkout",
];

/// Creates the demo workspace and its data the first time; later runs
/// find it and reuse it.
pub async fn ensure(store: &Store, contacts: usize) -> anyhow::Result<Workspace> {
    let ws = store.ensure_workspace(WORKSPACE).await?;
    let existing = store
        .list_contacts(
            ws.id,
            &swell_store::contacts::ContactQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    if !existing.items.is_empty() {
        eprintln!("demo data already present; reusing it");
        return Ok(ws);
    }
    eprintln!("generating demo data: {contacts} contacts, companies, orders and events ...");
    let started = std::time::Instant::now();
    store
        .put_entity_type(
            ws.id,
            "contact",
            None,
            vec![
                FieldDef {
                    key: "tier".into(),
                    kind: FieldType::Enum {
                        values: TIERS.iter().map(|s| s.to_string()).collect(),
                    },
                    label: Some("Membership tier".into()),
                },
                FieldDef {
                    key: "points".into(),
                    kind: FieldType::Number,
                    label: Some("Loyalty points".into()),
                },
                FieldDef {
                    key: "city".into(),
                    kind: FieldType::Text,
                    label: Some("City".into()),
                },
                FieldDef {
                    key: "newsletter".into(),
                    kind: FieldType::Bool,
                    label: Some("Wants the newsletter".into()),
                },
                FieldDef {
                    key: "last_seen".into(),
                    kind: FieldType::Datetime,
                    label: Some("Last seen in the app".into()),
                },
                FieldDef {
                    key: "interests".into(),
                    kind: FieldType::List,
                    label: Some("Interests".into()),
                },
            ],
        )
        .await?;

    let mut rng = StdRng::seed_from_u64(20261123);
    let now = jiff::Timestamp::now();
    let csv = contacts_csv(&mut rng, contacts, now);
    let report = store
        .import_contacts(
            ws.id,
            std::io::Cursor::new(csv.into_bytes()),
            ImportOptions::default(),
            |_| {},
        )
        .await?;
    if report.failed > 0 {
        anyhow::bail!(
            "demo contacts failed to import: {:?}",
            &report.errors[..report.errors.len().min(5)]
        );
    }

    let company_ty = store
        .entity_type(ws.id, "company")
        .await?
        .expect("built-in type");
    let companies: Vec<RecordWrite> = COMPANY_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| RecordWrite {
            id: None,
            input: record_input(
                json!({
                    "external_id": format!("CO-{:03}", i + 1),
                    "name": name,
                    "industry": INDUSTRIES[i % INDUSTRIES.len()],
                    "city": CITIES[i % CITIES.len()],
                    "country": if i == 8 { "SG" } else { "VN" },
                    "contact_external_id": format!("C{:05}", i * 7 + 1),
                }),
                &company_ty,
            ),
        })
        .collect();
    store
        .write_records(ws.id, &company_ty, &companies, false)
        .await?;

    let order_ty = store
        .entity_type(ws.id, "order")
        .await?
        .expect("built-in type");
    let mut orders = Vec::new();
    let mut events = Vec::new();
    let mut n = 0;
    for c in 1..=contacts {
        let buys = if rng.random_bool(0.6) {
            rng.random_range(1..=4)
        } else {
            0
        };
        for _ in 0..buys {
            n += 1;
            let days_ago = rng.random_range(0..365);
            let at =
                now - jiff::SignedDuration::from_hours(24 * days_ago + rng.random_range(0..24));
            let total = rng.random_range(2..=250) * 10_000;
            orders.push(RecordWrite {
                id: None,
                input: record_input(
                    json!({
                        "external_id": format!("SO-{n:06}"),
                        "total": total,
                        "currency": "VND",
                        "status": ORDER_STATUS.choose(&mut rng).expect("non-empty"),
                        "created_at": at.to_string(),
                        "contact_external_id": format!("C{c:05}"),
                    }),
                    &order_ty,
                ),
            });
        }
        for _ in 0..rng.random_range(0..5) {
            let at = now - jiff::SignedDuration::from_mins(rng.random_range(0..60 * 24 * 30));
            events.push(NewEvent {
                name: "page_view".into(),
                contact: Some(ContactRef::ExternalId(format!("C{c:05}"))),
                at: at.as_millisecond(),
                properties: json!({"url": PAGES.choose(&mut rng).expect("non-empty")}),
            });
        }
        if orders.len() >= 500 {
            store
                .write_records(ws.id, &order_ty, &std::mem::take(&mut orders), false)
                .await?;
        }
        if events.len() >= 2000 {
            store
                .append_events(ws.id, &std::mem::take(&mut events))
                .await?;
        }
    }
    store
        .write_records(ws.id, &order_ty, &orders, false)
        .await?;
    store.append_events(ws.id, &events).await?;
    eprintln!(
        "demo data ready: {} contacts, {} companies, {n} orders ({:.1}s)",
        report.created,
        COMPANY_NAMES.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ws)
}

fn record_input(v: serde_json::Value, ty: &swell_core::entity::EntityType) -> RecordInput {
    RecordInput::from_json(ty, v.as_object().expect("object"), "VN")
        .expect("demo records are valid")
}

/// The demo contacts as CSV, the way a shop would export them.
fn contacts_csv(rng: &mut StdRng, n: usize, now: jiff::Timestamp) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "external_id",
        "email",
        "phone",
        "name",
        "birthday",
        "locale",
        "timezone",
        "tags",
        "score",
        "attr.tier",
        "attr.points",
        "attr.city",
        "attr.newsletter",
        "attr.last_seen",
        "attr.interests",
    ])
    .expect("in-memory write");
    for i in 1..=n {
        let vietnamese = rng.random_bool(0.85);
        let (name, email_local, locale, tz) = if vietnamese {
            let (f, m, g) = (
                VN_FAMILY.choose(rng).unwrap(),
                VN_MIDDLE.choose(rng).unwrap(),
                VN_GIVEN.choose(rng).unwrap(),
            );
            let local = format!(
                "{}.{}{}",
                swell_core::text::fold(g),
                swell_core::text::fold(f),
                i
            );
            (format!("{f} {m} {g}"), local, "vi", "")
        } else {
            let (g, f) = (
                INTL_GIVEN.choose(rng).unwrap(),
                INTL_FAMILY.choose(rng).unwrap(),
            );
            let local = format!(
                "{}.{}{}",
                swell_core::text::fold(g),
                swell_core::text::fold(f),
                i
            );
            let tz = *[
                "Asia/Singapore",
                "Asia/Tokyo",
                "Asia/Seoul",
                "Europe/Berlin",
                "America/New_York",
            ]
            .choose(rng)
            .unwrap();
            (format!("{g} {f}"), local, "en", tz)
        };
        let email = format!(
            "{}@{}",
            email_local.replace(' ', "").replace('-', ""),
            DOMAINS.choose(rng).unwrap()
        );
        let phone = if vietnamese || rng.random_bool(0.3) {
            format!(
                "{} {:04} {:03}",
                VN_PREFIXES.choose(rng).unwrap(),
                i / 1000 + 1000,
                i % 1000
            )
        } else {
            String::new()
        };
        let birthday = if rng.random_bool(0.8) {
            format!(
                "{}-{:02}-{:02}",
                rng.random_range(1960..2006),
                rng.random_range(1..=12),
                rng.random_range(1..=28)
            )
        } else {
            String::new()
        };
        let tags: Vec<&str> = TAGS
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.15))
            .collect();
        let last_seen = now - jiff::SignedDuration::from_hours(rng.random_range(0..24 * 90));
        let interests: Vec<&str> = ["coffee", "tea", "pastry", "gifts"]
            .into_iter()
            .filter(|_| rng.random_bool(0.4))
            .collect();
        w.write_record([
            format!("C{i:05}"),
            email,
            phone,
            name,
            birthday,
            locale.to_string(),
            tz.to_string(),
            tags.join(";"),
            rng.random_range(0..100).to_string(),
            TIERS.choose(rng).unwrap().to_string(),
            rng.random_range(0..5000).to_string(),
            CITIES.choose(rng).unwrap().to_string(),
            rng.random_bool(0.5).to_string(),
            last_seen.to_string(),
            interests.join(";"),
        ])
        .expect("in-memory write");
    }
    String::from_utf8(w.into_inner().expect("flush")).expect("utf-8")
}
