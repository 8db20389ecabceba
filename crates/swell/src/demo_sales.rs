//! The demo's sales side: three reps, an ad account with two campaigns and
//! four ads and two weeks of their spend, a round-robin rule, and leads
//! that came in through the intake and went along the pipeline, so the
//! leads board, the ads pages and the reports have something to show.

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use swell_core::role::Role;
use swell_store::ads::{AdInput, AdLevel};
use swell_store::leads::{Actor, LeadInput, LeadStatus, OrderRef, RuleInput, StatusChange};
use swell_store::reports::MetricInput;
use swell_store::users::UserInput;
use swell_store::{Store, WorkspaceId};

const ACCOUNT: &str = "act_2026001";

/// (campaign, ad, product, region)
const ADS: [(&str, &str, &str, &str); 4] = [
    (
        "Tết 2027 - Áo dài",
        "Video 15s",
        "Áo dài lụa",
        "Hồ Chí Minh",
    ),
    (
        "Tết 2027 - Áo dài",
        "Carousel bộ sưu tập",
        "Áo dài cách tân",
        "Hồ Chí Minh",
    ),
    (
        "Khách mới - Hà Nội",
        "Form đăng ký tư vấn",
        "Áo dài cưới",
        "Hà Nội",
    ),
    ("Khách mới - Hà Nội", "Ưu đãi 30%", "Áo dài lụa", "Hà Nội"),
];

const GIVEN: [&str; 10] = [
    "An", "Bình", "Chi", "Dũng", "Giang", "Hạnh", "Khoa", "Linh", "Minh", "Ngọc",
];
const FAMILY: [&str; 6] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ"];

/// Adds the sales data once; a workspace that already has ad accounts is
/// left as it is.
pub async fn ensure(store: &Store, ws: WorkspaceId) -> anyhow::Result<()> {
    if !store.ad_accounts(ws).await?.is_empty() {
        return Ok(());
    }
    let mut reps = vec![
        store
            .user_by_email(ws, "sales@demo.swell.test")
            .await
            .context("the demo's sales user")?
            .id,
    ];
    for (name, email) in [
        ("Phạm Thị Hoa", "hoa@demo.swell.test"),
        ("Ngô Minh Tuấn", "tuan@demo.swell.test"),
    ] {
        let user = store
            .write_user(
                ws,
                None,
                &UserInput {
                    name: Some(name.into()),
                    email: Some(swell_core::Email::parse(email).map_err(anyhow::Error::msg)?),
                    role: Some(Role::Sales),
                    lead_cap: swell_core::contact::Patch::Set(40),
                    ..Default::default()
                },
            )
            .await?;
        reps.push(user.id);
    }
    store
        .write_assignment_rule(
            ws,
            None,
            &RuleInput {
                name: Some("Mọi khách hàng tiềm năng".into()),
                strategy: Some(swell_store::leads::Strategy::RoundRobin),
                reps: Some(
                    reps.iter()
                        .map(|&user| swell_store::leads::RepWeight { user, weight: 1 })
                        .collect(),
                ),
                reassign_after_minutes: Some(Some(120)),
                notify: Some(swell_store::leads::Notify {
                    task: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await?;

    // The account by name; intake makes its campaigns and ads as the first
    // leads name them.
    store
        .write_ad_level(
            ws,
            AdLevel::Account,
            None,
            &AdInput {
                platform: Some("facebook".into()),
                key: Some(ACCOUNT.into()),
                name: Some("Shop Áo Dài Sài Gòn".into()),
                ..Default::default()
            },
        )
        .await?;
    let mut rng = StdRng::seed_from_u64(2027);
    let mut ids = Vec::new();
    for i in 0..48 {
        let (campaign, ad, product, region) = ADS[i % ADS.len()];
        let name = format!(
            "{} {} {}",
            FAMILY[rng.random_range(0..FAMILY.len())],
            if rng.random_bool(0.5) {
                "Thị"
            } else {
                "Văn"
            },
            GIVEN[rng.random_range(0..GIVEN.len())]
        );
        let lead = json!({
            "external_id": format!("FB-{:05}", 10_000 + i),
            "name": name,
            "phone": format!("09{:08}", 12_000_000 + i * 7_919),
            "source": "facebook",
            "product": product,
            "region": region,
            "value": rng.random_range(15..=120) * 100_000,
            "account_id": ACCOUNT,
            "campaign": campaign,
            "ad": ad,
        });
        let input = LeadInput::from_json(object(&lead), "VN").map_err(anyhow::Error::msg)?;
        ids.push(store.intake_lead(ws, &input).await?.lead.id);
    }

    // Along the pipeline, as the rep who has each lead.
    let orders = [
        "SO-000001",
        "SO-000002",
        "SO-000003",
        "SO-000004",
        "SO-000005",
    ];
    for (n, &id) in ids.iter().enumerate() {
        let lead = store.lead(ws, id, Actor::WORKSPACE).await?;
        let Some(owner) = lead.owner_id else { continue };
        let rep = Actor::user(owner, Role::Sales);
        let steps: &[LeadStatus] = match n % 8 {
            0 | 1 => &[],
            2 | 3 => &[LeadStatus::Contacted],
            4 => &[LeadStatus::Contacted, LeadStatus::Qualified],
            5 => &[
                LeadStatus::Contacted,
                LeadStatus::Qualified,
                LeadStatus::Won,
            ],
            _ => &[LeadStatus::Contacted, LeadStatus::Lost],
        };
        for &to in steps {
            if to == LeadStatus::Contacted {
                store
                    .add_lead_note(ws, id, rep, "call", "Đã gọi, khách hẹn ghé cửa hàng.")
                    .await?;
            }
            let change = StatusChange {
                to,
                reason: (to == LeadStatus::Lost).then(|| "Giá cao hơn dự kiến".to_string()),
                order: (to == LeadStatus::Won)
                    .then(|| OrderRef::External(orders[(n / 8) % orders.len()].into())),
            };
            store.move_lead(ws, id, rep, &change).await?;
        }
    }

    // Two weeks of spend.
    let today = jiff::Zoned::now().date();
    let mut rows = Vec::new();
    for day in 1..=14 {
        let date = today
            .checked_sub(jiff::Span::new().days(day))
            .context("a date two weeks back")?;
        for (campaign, ad, _, _) in ADS {
            let impressions = rng.random_range(4_000..12_000);
            let row = json!({
                "date": date.to_string(),
                "account_id": ACCOUNT,
                "campaign": campaign,
                "ad": ad,
                "spend": rng.random_range(150..600) * 1_000,
                "impressions": impressions,
                "clicks": impressions / rng.random_range(40..90),
            });
            rows.push((rows.len() as u64 + 1, MetricInput::from_json(object(&row))));
        }
    }
    let report = store.import_ad_metrics(ws, rows).await?;
    if report.failed > 0 {
        anyhow::bail!("demo ad metrics failed: {:?}", report.errors);
    }
    Ok(())
}

fn object(v: &Value) -> &serde_json::Map<String, Value> {
    v.as_object().expect("an object")
}
