//! `/outbox`: the messages the built-in transport kept instead of sending,
//! each shown as its recipient would see it (the HTML part in a sandboxed
//! frame: no scripts, no forms, no same-origin access).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use swell_store::mailing::OutboxEntry;

use crate::ui::{Ctx, Shell, UiError, html};

const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "outbox.html")]
struct ListPage {
    shell: Shell,
    entries: Vec<OutboxEntry>,
    next: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Before {
    before: Option<i64>,
}

pub(super) async fn list(ctx: Ctx, Query(q): Query<Before>) -> Result<Response, UiError> {
    let entries = ctx.store().outbox(ctx.ws().id, q.before, PAGE).await?;
    let next = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let page = ListPage {
        shell: ctx.shell("/outbox"),
        entries,
        next,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "outbox_message.html")]
struct MessagePage {
    shell: Shell,
    entry: OutboxEntry,
    html_part: String,
    text_part: String,
}

pub(super) async fn show(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let id = crate::api::path_id(&id)?;
    // The entry with this id is the first one before id + 1.
    let entry = ctx
        .store()
        .outbox(ctx.ws().id, Some(id + 1), 1)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(UiError::NotFound)?;
    let parsed = mail_parser::MessageParser::default().parse(entry.raw.as_bytes());
    let (html_part, text_part) = parsed
        .map(|m| {
            (
                m.body_html(0).map(|s| s.into_owned()).unwrap_or_default(),
                m.body_text(0).map(|s| s.into_owned()).unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let page = MessagePage {
        shell: ctx.shell("/outbox"),
        entry,
        html_part,
        text_part,
    };
    Ok(html(page.render()?))
}
