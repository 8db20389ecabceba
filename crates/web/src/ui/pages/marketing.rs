//! `/marketing`: marketing campaigns (the umbrella over broadcasts,
//! automated campaigns and ad campaigns): the list and a new one, and a
//! campaign's page with its fields, what it groups and its roll-up report.
//! Changes go through `/api/v1/marketing-campaigns` from `app.js`.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use swell_store::automation::Campaign;
use swell_store::mailing::Broadcast;
use swell_store::marketing::MarketingCampaign;
use swell_store::reports::MarketingReport;

use crate::ui::{Ctx, Shell, UiError, html};

#[derive(Template)]
#[template(path = "marketing.html")]
struct ListPage {
    shell: Shell,
    items: Vec<MarketingCampaign>,
}

impl ListPage {
    /// The fields' current values: none for a new one.
    fn current(&self) -> Option<&MarketingCampaign> {
        None
    }
}

pub(super) async fn list(ctx: Ctx) -> Result<Response, UiError> {
    let page = ListPage {
        items: ctx.store().marketing_campaigns(ctx.ws().id).await?,
        shell: ctx.shell("/marketing"),
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "marketing_campaign.html")]
struct DetailPage {
    shell: Shell,
    m: MarketingCampaign,
    r: MarketingReport,
    broadcasts: Vec<Broadcast>,
    campaigns: Vec<Campaign>,
}

impl DetailPage {
    fn current(&self) -> Option<&MarketingCampaign> {
        Some(&self.m)
    }

    fn grouped_broadcasts(&self) -> impl Iterator<Item = &Broadcast> {
        self.broadcasts
            .iter()
            .filter(|b| self.r.members.broadcasts.contains(&b.id))
    }

    fn other_broadcasts(&self) -> impl Iterator<Item = &Broadcast> {
        self.broadcasts
            .iter()
            .filter(|b| !self.r.members.broadcasts.contains(&b.id))
    }

    fn grouped_campaigns(&self) -> impl Iterator<Item = &Campaign> {
        self.campaigns
            .iter()
            .filter(|c| self.r.members.campaigns.contains(&c.id))
    }

    fn other_campaigns(&self) -> impl Iterator<Item = &Campaign> {
        self.campaigns
            .iter()
            .filter(|c| !self.r.members.campaigns.contains(&c.id))
    }
}

pub(super) async fn detail(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let id = crate::api::path_id(&id)?;
    let r = ctx.store().marketing_report(ws, id).await?;
    let page = DetailPage {
        shell: ctx.shell("/marketing"),
        m: r.marketing_campaign.clone(),
        r,
        broadcasts: ctx.store().broadcasts(ws).await?,
        campaigns: ctx.store().campaigns(ws).await?,
    };
    Ok(html(page.render()?))
}
