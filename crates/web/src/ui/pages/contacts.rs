//! `/contacts`: the searchable list (accent-insensitive, a page at a
//! time) and each contact's page.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use swell_core::contact::Contact;
use swell_store::contacts::ContactQuery;
use swell_store::events::{Event, EventQuery};
use swell_store::{ContactCampaign, ContactList};

use crate::ui::{Ctx, Shell, UiError, html, urlencode};

const PAGE: u32 = 50;

#[derive(Template)]
#[template(path = "contacts.html")]
struct ListPage {
    shell: Shell,
    q: String,
    contacts: Vec<Contact>,
    next: Option<String>,
}

impl ListPage {
    fn first_href(&self) -> String {
        format!("/contacts?q={}", urlencode(&self.q))
    }

    fn next_href(&self, cursor: &str) -> String {
        format!(
            "/contacts?q={}&cursor={}",
            urlencode(&self.q),
            urlencode(cursor)
        )
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    q: Option<String>,
    cursor: Option<i64>,
}

pub(super) async fn list(ctx: Ctx, Query(q): Query<ListQuery>) -> Result<Response, UiError> {
    let text = q.q.unwrap_or_default();
    let page = ctx
        .store()
        .list_contacts(
            ctx.ws().id,
            &ContactQuery {
                q: Some(text.clone()).filter(|t| !t.trim().is_empty()),
                tag: None,
                cursor: q.cursor,
                limit: PAGE,
            },
        )
        .await?;
    let page = ListPage {
        shell: ctx.shell("/contacts"),
        q: text,
        contacts: page.items,
        next: page.next_cursor,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "contact.html")]
struct DetailPage {
    shell: Shell,
    c: Contact,
    attributes: Vec<(String, String)>,
    lists: Vec<ContactList>,
    campaigns: Vec<ContactCampaign>,
    events: Vec<Event>,
}

impl DetailPage {
    fn title(&self) -> String {
        self.c
            .name
            .clone()
            .or_else(|| self.c.email.clone())
            .or_else(|| self.c.phone.clone())
            .unwrap_or_else(|| format!("#{}", self.c.id))
    }

    fn props(&self, e: &Event) -> String {
        match &e.properties {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            serde_json::Value::Null => String::new(),
            v => {
                let s = v.to_string();
                if s.len() > 200 {
                    format!("{}…", &s[..s.floor_char_boundary(200)])
                } else {
                    s
                }
            }
        }
    }

    fn consent(&self, optout: &bool) -> &str {
        self.shell
            .t(if *optout { "common.no" } else { "common.yes" })
    }
}

pub(super) async fn detail(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let id = crate::api::path_id(&id)?;
    let ws = ctx.ws().id;
    let store = ctx.store();
    let c = store.contact(ws, id).await?;
    let lists = store.contact_lists(ws, id).await?;
    let campaigns = store.contact_campaigns(ws, id).await?;
    let events = store
        .list_events(
            ws,
            &EventQuery {
                contact_id: Some(id),
                limit: 50,
                ..Default::default()
            },
        )
        .await?
        .items;
    let attributes = c
        .attributes
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            )
        })
        .collect();
    let page = DetailPage {
        shell: ctx.shell("/contacts"),
        c,
        attributes,
        lists,
        campaigns,
        events,
    };
    Ok(html(page.render()?))
}
