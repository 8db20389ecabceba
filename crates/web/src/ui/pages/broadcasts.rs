//! `/broadcasts`: the audience picker with its count, scheduling, send /
//! pause / resume / cancel (through `/api/v1/broadcasts`), live progress
//! and results with clicks per link.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use swell_store::lists::List;
use swell_store::mailing::{Broadcast, Stats};
use swell_store::segments::Segment;

use crate::ui::{Ctx, Shell, UiError, html};

#[derive(Template)]
#[template(path = "broadcasts.html")]
struct ListPage {
    shell: Shell,
    broadcasts: Vec<Broadcast>,
}

pub(super) async fn list(ctx: Ctx) -> Result<Response, UiError> {
    let broadcasts = ctx.store().broadcasts(ctx.ws().id).await?;
    let page = ListPage {
        shell: ctx.shell("/broadcasts"),
        broadcasts,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "broadcast_new.html")]
struct NewPage {
    shell: Shell,
    templates: Vec<swell_store::templates::Template>,
    segments: Vec<Segment>,
    lists: Vec<List>,
}

pub(super) async fn new(ctx: Ctx) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let templates = ctx
        .store()
        .templates(ws)
        .await?
        .into_iter()
        .filter(|t| t.channel == "email")
        .collect();
    let page = NewPage {
        templates,
        segments: ctx.store().list_segments(ws).await?,
        lists: ctx.store().list_lists(ws).await?,
        shell: ctx.shell("/broadcasts"),
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "broadcast.html")]
struct DetailPage {
    shell: Shell,
    b: Broadcast,
    stats: Stats,
    template_name: String,
}

#[derive(Template)]
#[template(path = "broadcast_progress.html")]
struct ProgressPart {
    shell: Shell,
    b: Broadcast,
    stats: Stats,
}

/// What the progress part shows, shared by the page and its refreshes.
trait Progress {
    fn b(&self) -> &Broadcast;
    fn stats(&self) -> &Stats;

    fn done_percent(&self) -> u32 {
        let s = self.stats();
        let done = s.sent + s.failed + s.skipped;
        if s.recipients > 0 {
            ((done as f64 / s.recipients as f64) * 100.0).round() as u32
        } else {
            0
        }
    }

    /// Whether the page should keep refreshing.
    fn live(&self) -> bool {
        matches!(self.b().state.as_str(), "sending" | "scheduled" | "paused")
    }
}

macro_rules! progress {
    ($t:ty) => {
        impl Progress for $t {
            fn b(&self) -> &Broadcast {
                &self.b
            }
            fn stats(&self) -> &Stats {
                &self.stats
            }
        }
    };
}
progress!(DetailPage);
progress!(ProgressPart);

impl DetailPage {
    /// The audience in words: its segments, lists and filter.
    fn audience(&self) -> String {
        let a = &self.b.audience;
        let names = |k: &str| -> Vec<String> {
            a[k].as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut parts = Vec::new();
        for (key, label) in [("segments", "nav.segments"), ("lists", "nav.lists")] {
            let n = names(key);
            if !n.is_empty() {
                parts.push(format!("{}: {}", self.shell.t(label), n.join(", ")));
            }
        }
        if let Some(f) = a["filter"].as_str().filter(|f| !f.is_empty()) {
            parts.push(format!("{}: {f}", self.shell.t("segments.text")));
        } else if a["filter"].is_object() {
            if let Ok(f) = swell_core::filter::Filter::from_json(&a["filter"]) {
                parts.push(format!("{}: {f}", self.shell.t("segments.text")));
            }
        }
        parts.join(" · ")
    }
}

async fn load(ctx: &Ctx, id: &str) -> Result<(Broadcast, Stats), UiError> {
    let id = crate::api::path_id(id)?;
    let b = ctx.store().broadcast(ctx.ws().id, id).await?;
    let stats = ctx.store().broadcast_stats(ctx.ws().id, id, None).await?;
    Ok((b, stats))
}

pub(super) async fn detail(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let (b, stats) = load(&ctx, &id).await?;
    let template_name = ctx
        .store()
        .template(ctx.ws().id, b.template_id)
        .await
        .map(|t| t.name)
        .unwrap_or_default();
    let page = DetailPage {
        shell: ctx.shell("/broadcasts"),
        b,
        stats,
        template_name,
    };
    Ok(html(page.render()?))
}

/// The progress part alone, which the page refreshes every two seconds
/// while the broadcast is under way.
pub(super) async fn progress(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let (b, stats) = load(&ctx, &id).await?;
    let part = ProgressPart {
        shell: ctx.shell("/broadcasts"),
        b,
        stats,
    };
    Ok(html(part.render()?))
}
