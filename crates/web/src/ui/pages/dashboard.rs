//! `/`: this week's sends, opens, clicks, leads and revenue, with a bar
//! chart per figure.

use askama::Template;
use axum::response::Response;
use swell_store::DayFigures;

use crate::ui::{Ctx, Shell, UiError, html};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page {
    shell: Shell,
    days: Vec<DayFigures>,
    contacts: i64,
    totals: DayFigures,
}

/// A chart: one bar per day, heights in percent of the week's highest.
pub struct Chart {
    pub key: &'static str,
    pub total: String,
    pub bars: Vec<(String, u32, String)>,
}

impl Page {
    fn charts(&self) -> Vec<Chart> {
        let figures: [(&'static str, fn(&DayFigures) -> f64, bool); 5] = [
            ("dash.sends", |d| d.sends as f64, false),
            ("dash.opens", |d| d.opens as f64, false),
            ("dash.clicks", |d| d.clicks as f64, false),
            ("dash.leads", |d| d.leads as f64, false),
            ("dash.revenue", |d| d.revenue, true),
        ];
        let l = self.shell.locale;
        let fmt = |v: f64, money: bool| if money { l.vnd(v) } else { l.int(v as i64) };
        figures
            .iter()
            .map(|(key, get, money)| {
                let max = self.days.iter().map(get).fold(0.0, f64::max);
                Chart {
                    key,
                    total: fmt(get(&self.totals), *money),
                    bars: self
                        .days
                        .iter()
                        .map(|d| {
                            let v = get(d);
                            let pct = if max > 0.0 {
                                (v / max * 100.0).round() as u32
                            } else {
                                0
                            };
                            let day = l.date(d.start, &self.shell.zone);
                            (format!("{day}: {}", fmt(v, *money)), pct, short_day(&day))
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

/// `05/01/2026` -> `05/01`; `Jan 5, 2026` -> `Jan 5`.
fn short_day(day: &str) -> String {
    match day.split_once(',') {
        Some((md, _)) => md.to_string(),
        None => day
            .rsplit_once('/')
            .map(|(dm, _)| dm.to_string())
            .unwrap_or_default(),
    }
}

pub(super) async fn page(ctx: Ctx) -> Result<Response, UiError> {
    let ws = ctx.ws();
    let tz = jiff::tz::TimeZone::get(&ws.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = jiff::Timestamp::from_millisecond(ctx.store().now())
        .map_err(|e| UiError::Internal(Box::new(e)))?
        .to_zoned(tz);
    let first = now
        .start_of_day()
        .and_then(|d| d.checked_sub(jiff::Span::new().days(6)))
        .map_err(|e| UiError::Internal(Box::new(e)))?;
    let days = ctx
        .store()
        .day_figures(ws.id, first.timestamp().as_millisecond(), 7)
        .await?;
    let totals = days.iter().fold(DayFigures::default(), |mut t, d| {
        t.sends += d.sends;
        t.opens += d.opens;
        t.clicks += d.clicks;
        t.leads += d.leads;
        t.revenue += d.revenue;
        t
    });
    let contacts = ctx.store().contact_count(ws.id).await?;
    let page = Page {
        shell: ctx.shell("/"),
        days,
        contacts,
        totals,
    };
    Ok(html(page.render()?))
}
