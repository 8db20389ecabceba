//! `/leads`: the leads board. A sales rep sees their own leads in one
//! column per status and moves them along (contacted, qualified, won with
//! its order, lost with a reason), calls them and keeps notes; marketers
//! and admins see everyone's, by rep, and reassign. `/leads/rules`: how
//! new leads reach reps. `/ads`: the ads hierarchy with each level's leads.
//!
//! The buttons call the leads API with the session (the API scopes a rep
//! to their own leads), so the board and the API can never disagree.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use swell_store::ads::{Ad, AdAccount, AdCampaign};
use swell_store::leads::{
    Actor, HistoryEntry, Lead, LeadQuery, LeadSettings, LeadStatus, Notify, Rule, Strategy,
};
use swell_store::users::User;

use crate::ui::{Ctx, Role, Shell, UiError, html};

/// The board's columns, in pipeline order.
const COLUMNS: [LeadStatus; 5] = [
    LeadStatus::New,
    LeadStatus::Contacted,
    LeadStatus::Qualified,
    LeadStatus::Won,
    LeadStatus::Lost,
];

/// Cards shown per column; the count above says how many there are.
const PER_COLUMN: u32 = 50;

fn actor(ctx: &Ctx) -> Actor {
    Actor::user(ctx.user.user_id, ctx.role)
}

/// One column of the board.
struct Column {
    status: LeadStatus,
    total: i64,
    leads: Vec<Lead>,
}

#[derive(Template)]
#[template(path = "leads.html")]
struct BoardPage {
    shell: Shell,
    columns: Vec<Column>,
    /// Reps to filter by (marketers and admins only).
    reps: Vec<User>,
    owner: Option<i64>,
    names: HashMap<i64, String>,
}

impl BoardPage {
    fn owner_name(&self, lead: &Lead) -> String {
        owner_name(&self.names, lead)
    }

    fn moves(&self, lead: &Lead) -> Vec<&'static str> {
        moves(lead)
    }

    fn is_owner(&self, id: &i64) -> bool {
        self.owner == Some(*id)
    }
}

fn owner_name(names: &HashMap<i64, String>, lead: &Lead) -> String {
    lead.owner_id
        .and_then(|id| names.get(&id).cloned())
        .unwrap_or_default()
}

/// The open statuses a lead may move to next (won and lost have their own
/// forms, which ask for the order and the reason).
fn moves(lead: &Lead) -> Vec<&'static str> {
    let from = LeadStatus::parse(&lead.status).unwrap_or(LeadStatus::New);
    [LeadStatus::Contacted, LeadStatus::Qualified]
        .into_iter()
        .filter(|to| from.may_become(*to))
        .map(LeadStatus::as_str)
        .collect()
}

fn is_open(lead: &Lead) -> bool {
    !LeadStatus::parse(&lead.status).is_some_and(LeadStatus::is_final)
}

#[derive(Deserialize)]
pub(super) struct BoardQuery {
    owner: Option<String>,
}

pub(super) async fn board(ctx: Ctx, Query(q): Query<BoardQuery>) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let me = actor(&ctx);
    let owner = match ctx.role {
        Role::Sales => Some(ctx.user.user_id),
        _ => q.owner.as_deref().and_then(|o| o.parse().ok()),
    };
    let counts = ctx.store().lead_counts(ws, me).await?;
    let mut columns = Vec::with_capacity(COLUMNS.len());
    for status in COLUMNS {
        let leads = ctx
            .store()
            .leads(
                ws,
                &LeadQuery {
                    status: Some(status),
                    owner,
                    originals_only: true,
                    limit: PER_COLUMN,
                    ..Default::default()
                },
                me,
            )
            .await?;
        let total = counts
            .iter()
            .filter(|c| c.status == status.as_str() && (owner.is_none() || c.owner_id == owner))
            .map(|c| c.leads)
            .sum();
        columns.push(Column {
            status,
            total,
            leads,
        });
    }
    let users = ctx.store().users(ws).await?;
    let names = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let reps = match ctx.role {
        Role::Sales => Vec::new(),
        _ => users
            .into_iter()
            .filter(|u| u.role == Role::Sales)
            .collect(),
    };
    let page = BoardPage {
        shell: ctx.shell("/leads"),
        columns,
        reps,
        owner,
        names,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "lead.html")]
struct DetailPage {
    shell: Shell,
    lead: Lead,
    history: Vec<HistoryEntry>,
    names: HashMap<i64, String>,
    /// Reps the lead may be handed to (marketers and admins only).
    reps: Vec<User>,
    ad: Option<String>,
}

impl DetailPage {
    fn owner_name(&self) -> String {
        owner_name(&self.names, &self.lead)
    }

    fn who(&self, h: &HistoryEntry) -> String {
        h.user_id
            .and_then(|id| self.names.get(&id).cloned())
            .unwrap_or_else(|| "Swell".into())
    }

    fn moves(&self) -> Vec<&'static str> {
        moves(&self.lead)
    }

    /// What one history entry says, in the page's language.
    fn what(&self, h: &HistoryEntry) -> String {
        let t = |key| self.shell.t(key);
        let rep = |id: &Option<String>| {
            id.as_deref()
                .and_then(|id| id.parse::<i64>().ok())
                .and_then(|id| self.names.get(&id).cloned())
                .unwrap_or_default()
        };
        let state = |s: &Option<String>| {
            s.as_deref()
                .map(|s| self.shell.state(s).to_string())
                .unwrap_or_default()
        };
        match h.kind.as_str() {
            "created" => t("leads.h_created").to_string(),
            "duplicate" => format!(
                "{} #{}",
                t("leads.h_duplicate"),
                h.to.as_deref().unwrap_or("")
            ),
            "assigned" => format!("{} {}", t("leads.h_assigned"), rep(&h.to)),
            "reassigned" => format!(
                "{} {} → {}",
                t("leads.h_reassigned"),
                rep(&h.from),
                rep(&h.to)
            ),
            "status" => format!("{} → {}", state(&h.from), state(&h.to)),
            "call" => t("leads.kind_call").to_string(),
            "note" => t("leads.kind_note").to_string(),
            other => other.to_string(),
        }
    }

    fn open(&self) -> bool {
        is_open(&self.lead)
    }

    fn owns(&self, id: &i64) -> bool {
        self.lead.owner_id == Some(*id)
    }
}

pub(super) async fn detail(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let id: i64 = id.parse().map_err(|_| UiError::NotFound)?;
    let lead = ctx.store().lead(ws, id, actor(&ctx)).await?;
    let history = ctx.store().lead_history(ws, id).await?;
    let users = ctx.store().users(ws).await?;
    let names = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let reps = match ctx.role {
        Role::Sales => Vec::new(),
        _ => users
            .into_iter()
            .filter(|u| u.role == Role::Sales && u.active)
            .collect(),
    };
    let ad = match lead.ad_id {
        Some(ad) => {
            let ad = ctx.store().ad(ws, ad).await?;
            let campaign = ctx.store().ad_campaign(ws, ad.ad_campaign_id).await?;
            Some(format!("{} › {}", campaign.name, ad.name))
        }
        None => None,
    };
    let page = DetailPage {
        shell: ctx.shell("/leads"),
        lead,
        history,
        names,
        reps,
        ad,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "lead_rules.html")]
struct RulesPage {
    shell: Shell,
    rules: Vec<Rule>,
    reps: Vec<User>,
    names: HashMap<i64, String>,
    settings: LeadSettings,
}

impl RulesPage {
    fn rep_list(&self, rule: &Rule) -> String {
        rule.reps
            .iter()
            .map(|r| {
                let name = self.names.get(&r.user).cloned().unwrap_or_default();
                if r.weight == 1 {
                    name
                } else {
                    format!("{name} ×{}", r.weight)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn strategy_key(&self, rule: &Rule) -> &'static str {
        match rule.strategy {
            Strategy::RoundRobin => "leads.round_robin",
            Strategy::Weighted => "leads.weighted",
        }
    }

    fn filter_text(&self, rule: &Rule) -> String {
        rule.filter.clone().unwrap_or_default()
    }

    /// How a rule tells its reps, in the page's language: e-mail, task,
    /// the webhook's URL; a dash for none.
    fn notices(&self, n: &Notify) -> String {
        let mut out: Vec<String> = Vec::new();
        if n.email {
            out.push(self.shell.t("leads.notify_email").to_string());
        }
        if n.task {
            out.push(self.shell.t("leads.notify_task").to_string());
        }
        if let Some(url) = &n.webhook {
            out.push(url.clone());
        }
        if out.is_empty() {
            "—".into()
        } else {
            out.join(", ")
        }
    }
}

pub(super) async fn rules(ctx: Ctx) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let users = ctx.store().users(ws).await?;
    let names = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let page = RulesPage {
        shell: ctx.shell("/leads/rules"),
        rules: ctx.store().assignment_rules(ws).await?,
        reps: users
            .into_iter()
            .filter(|u| u.role == Role::Sales)
            .collect(),
        names,
        settings: ctx.store().lead_settings(ws).await?,
    };
    Ok(html(page.render()?))
}

/// One ad with its campaign and account, and its leads by status.
struct AdRow {
    account: AdAccount,
    campaign: AdCampaign,
    ad: Ad,
    leads: i64,
    won: i64,
}

#[derive(Template)]
#[template(path = "ads.html")]
struct AdsPage {
    shell: Shell,
    rows: Vec<AdRow>,
}

pub(super) async fn ads(ctx: Ctx) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let accounts: HashMap<i64, AdAccount> = ctx
        .store()
        .ad_accounts(ws)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let campaigns: HashMap<i64, AdCampaign> = ctx
        .store()
        .ad_campaigns(ws, None)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let counts = ctx.store().lead_counts_by_ad(ws).await?;
    let mut rows: Vec<AdRow> = ctx
        .store()
        .ads(ws, None)
        .await?
        .into_iter()
        .filter_map(|ad| {
            let campaign = campaigns.get(&ad.ad_campaign_id)?.clone();
            let account = accounts.get(&campaign.ad_account_id)?.clone();
            let (leads, won) = counts.get(&ad.id).copied().unwrap_or((0, 0));
            Some(AdRow {
                account,
                campaign,
                ad,
                leads,
                won,
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.account.account_id, &a.campaign.name, &a.ad.name).cmp(&(
            &b.account.account_id,
            &b.campaign.name,
            &b.ad.name,
        ))
    });
    let page = AdsPage {
        shell: ctx.shell("/ads"),
        rows,
    };
    Ok(html(page.render()?))
}
