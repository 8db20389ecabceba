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

    /// The broadcasts it groups, and the others (to add).
    fn broadcasts_in(&self, grouped: bool) -> Vec<&Broadcast> {
        let ids = &self.r.members.broadcasts;
        self.broadcasts
            .iter()
            .filter(|b| ids.contains(&b.id) == grouped)
            .collect()
    }

    /// The automated campaigns it groups, and the others.
    fn campaigns_in(&self, grouped: bool) -> Vec<&Campaign> {
        let ids = &self.r.members.campaigns;
        self.campaigns
            .iter()
            .filter(|c| ids.contains(&c.id) == grouped)
            .collect()
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
