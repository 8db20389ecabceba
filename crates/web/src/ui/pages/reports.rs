//! `/reports/ads` and `/reports/reps`: what ads cost and brought, per ad,
//! ad campaign or ad account over a date range, and how each sales rep
//! worked their leads. The same store reports as `/api/v1/reports/*`.

use askama::Template;
use axum::http::Uri;
use axum::response::Response;
use swell_store::reports::{AdGrouping, AdReport, RepReport};

use crate::api::Params;
use crate::ui::{Ctx, Shell, UiError, html};

#[derive(Template)]
#[template(path = "report_ads.html")]
struct AdsPage {
    shell: Shell,
    report: AdReport,
    by: &'static str,
}

impl AdsPage {
    fn is_reps(&self) -> bool {
        false
    }

    /// How many name columns the chosen grouping shows.
    fn name_columns(&self) -> usize {
        match self.by {
            "account" => 1,
            "campaign" => 2,
            _ => 3,
        }
    }
}

pub(super) async fn ads(ctx: Ctx, uri: Uri) -> Result<Response, UiError> {
    let p = Params::from_uri(&uri);
    let range = crate::api::reports::range(&p, ctx.ws(), ctx.store().now())?;
    let (by, grouping) = match p.get("by").unwrap_or("ad") {
        "account" => ("account", AdGrouping::Account),
        "campaign" => ("campaign", AdGrouping::Campaign),
        _ => ("ad", AdGrouping::Ad),
    };
    let page = AdsPage {
        report: ctx.store().ad_report(ctx.ws().id, range, grouping).await?,
        shell: ctx.shell("/reports/ads"),
        by,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "report_reps.html")]
struct RepsPage {
    shell: Shell,
    report: RepReport,
}

impl RepsPage {
    fn is_reps(&self) -> bool {
        true
    }

    /// A duration in seconds as hours and minutes.
    fn duration(&self, secs: &Option<f64>) -> String {
        match secs {
            Some(s) => {
                let m = (s / 60.0).round() as i64;
                format!("{}h {:02}m", m / 60, m % 60)
            }
            None => "—".into(),
        }
    }
}

pub(super) async fn reps(ctx: Ctx, uri: Uri) -> Result<Response, UiError> {
    let p = Params::from_uri(&uri);
    let range = crate::api::reports::range(&p, ctx.ws(), ctx.store().now())?;
    let page = RepsPage {
        report: ctx.store().rep_report(ctx.ws().id, range).await?,
        shell: ctx.shell("/reports/ads"),
    };
    Ok(html(page.render()?))
}
