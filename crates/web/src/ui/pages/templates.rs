//! `/templates`: e-mail templates, an editor with a live preview for a
//! chosen contact (`/api/v1/templates/{id}/preview`) and a test send.

use askama::Template as _;
use axum::extract::Path;
use axum::response::Response;
use swell_store::templates::Template;

use crate::ui::{Ctx, Shell, UiError, html};

#[derive(askama::Template)]
#[template(path = "templates.html")]
struct ListPage {
    shell: Shell,
    templates: Vec<Template>,
}

pub(super) async fn list(ctx: Ctx) -> Result<Response, UiError> {
    let templates = ctx.store().templates(ctx.ws().id).await?;
    let page = ListPage {
        shell: ctx.shell("/templates"),
        templates,
    };
    Ok(html(page.render()?))
}

#[derive(askama::Template)]
#[template(path = "template.html")]
struct EditPage {
    shell: Shell,
    template: Option<Template>,
    /// The first contact, to preview with until another is chosen.
    sample_contact: Option<i64>,
    user_email: String,
}

impl EditPage {
    fn part(&self, key: &str) -> String {
        self.template
            .as_ref()
            .and_then(|t| t.content.get(key))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    }

    fn name(&self) -> &str {
        self.template
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or("")
    }
}

async fn sample_contact(ctx: &Ctx) -> Result<Option<i64>, UiError> {
    let page = ctx
        .store()
        .list_contacts(
            ctx.ws().id,
            &swell_store::contacts::ContactQuery {
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    Ok(page.items.first().map(|c| c.id))
}

pub(super) async fn new(ctx: Ctx) -> Result<Response, UiError> {
    let page = EditPage {
        sample_contact: sample_contact(&ctx).await?,
        user_email: ctx.user.email.clone(),
        shell: ctx.shell("/templates"),
        template: None,
    };
    Ok(html(page.render()?))
}

pub(super) async fn edit(ctx: Ctx, Path(id): Path<String>) -> Result<Response, UiError> {
    let id = crate::api::path_id(&id)?;
    let template = ctx.store().template(ctx.ws().id, id).await?;
    let page = EditPage {
        sample_contact: sample_contact(&ctx).await?,
        user_email: ctx.user.email.clone(),
        shell: ctx.shell("/templates"),
        template: Some(template),
    };
    Ok(html(page.render()?))
}

/// `{"subject", "html", "text", "contact_id"}` of the editor, unsaved ->
/// `{"subject", "html", "text"}` as that contact would get it.
pub(super) async fn preview(ctx: Ctx, body: axum::body::Bytes) -> Response {
    use axum::response::IntoResponse;
    let result = async {
        let mut obj = crate::api::json_object(&axum::http::HeaderMap::new(), &body)?;
        let contact = match obj.remove("contact_id").and_then(|v| v.as_i64()) {
            Some(id) => Some(ctx.store().contact(ctx.ws().id, id).await.map_err(|_| {
                crate::ApiError::field("contact_id", format!("contact {id} not found"))
            })?),
            None => None,
        };
        let name = obj
            .remove("name")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        obj.remove("channel");
        let template: swell_core::template::EmailTemplate =
            serde_json::from_value(serde_json::Value::Object(obj))
                .map_err(|e| crate::ApiError::field("template", e.to_string()))?;
        crate::api::email::email_preview(&ctx.state, ctx.ws(), &template, &name, contact.as_ref())
    }
    .await;
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
