//! `/lists`: marketing lists with their members and each member's
//! subscription status.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use swell_store::lists::{List, Member};

use crate::ui::{Ctx, Shell, UiError, html};

#[derive(Template)]
#[template(path = "lists.html")]
struct ListPage {
    shell: Shell,
    lists: Vec<List>,
}

pub(super) async fn list(ctx: Ctx) -> Result<Response, UiError> {
    let lists = ctx.store().list_lists(ctx.ws().id).await?;
    let page = ListPage {
        shell: ctx.shell("/lists"),
        lists,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "list.html")]
struct DetailPage {
    shell: Shell,
    list: List,
    members: Vec<Member>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Cursor {
    cursor: Option<i64>,
}

pub(super) async fn detail(
    ctx: Ctx,
    Path(slug): Path<String>,
    Query(q): Query<Cursor>,
) -> Result<Response, UiError> {
    let ws = ctx.ws().id;
    let list = ctx.store().list(ws, &slug).await?;
    let members = ctx
        .store()
        .list_members(ws, &slug, None, q.cursor, 50)
        .await?;
    let page = DetailPage {
        shell: ctx.shell("/lists"),
        list,
        members: members.items,
        next: members.next_cursor,
    };
    Ok(html(page.render()?))
}
