//! `/segments`: saved filters. The editor keeps a builder (rows of field,
//! operator and value in and/or groups) and the filter's text in sync
//! through [`convert`], and shows the live count from
//! `/api/v1/audiences/count`; saving goes through `/api/v1/segments`.

use askama::Template;
use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use swell_core::filter::Filter;
use swell_store::segments::Segment;

use crate::ui::{Ctx, Shell, UiError, html};

#[derive(Template)]
#[template(path = "segments.html")]
struct ListPage {
    shell: Shell,
    segments: Vec<Segment>,
}

pub(super) async fn list(ctx: Ctx) -> Result<Response, UiError> {
    let segments = ctx.store().list_segments(ctx.ws().id).await?;
    let page = ListPage {
        shell: ctx.shell("/segments"),
        segments,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "segment.html")]
struct EditPage {
    shell: Shell,
    segment: Option<Segment>,
    /// The fields the builder offers, as JSON for the script.
    fields: String,
}

impl EditPage {
    fn filter_text(&self) -> &str {
        self.segment
            .as_ref()
            .map(|s| s.filter.as_str())
            .unwrap_or("")
    }
}

/// The fields the builder offers: the standard ones and the workspace's
/// attributes.
async fn builder_fields(ctx: &Ctx) -> Result<String, UiError> {
    let mut fields: Vec<String> = swell_core::contact::CONTACT_INPUT_FIELDS
        .iter()
        .filter(|f| !matches!(**f, "attributes" | "tags"))
        .chain(&["created_at", "updated_at"])
        .map(|s| s.to_string())
        .collect();
    let schema = ctx.store().contact_schema(ctx.ws().id).await?;
    fields.extend(schema.fields.iter().map(|f| format!("attr.{}", f.key)));
    Ok(Value::from(fields).to_string())
}

pub(super) async fn new(ctx: Ctx) -> Result<Response, UiError> {
    let page = EditPage {
        fields: builder_fields(&ctx).await?,
        shell: ctx.shell("/segments"),
        segment: None,
    };
    Ok(html(page.render()?))
}

pub(super) async fn edit(ctx: Ctx, Path(slug): Path<String>) -> Result<Response, UiError> {
    let segment = ctx.store().segment(ctx.ws().id, &slug).await?;
    let page = EditPage {
        fields: builder_fields(&ctx).await?,
        shell: ctx.shell("/segments"),
        segment: Some(segment),
    };
    Ok(html(page.render()?))
}

/// `{"filter": text or JSON tree}` -> `{"text", "json"}`, or `{"error"}`
/// saying where the filter is wrong: the builder and the text box read
/// each other through it.
pub(super) async fn convert(_ctx: Ctx, body: axum::body::Bytes) -> Response {
    let value: Value = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v.get("filter").cloned().unwrap_or(Value::Null),
        Err(e) => return Json(json!({"error": format!("malformed JSON: {e}")})).into_response(),
    };
    if value.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Json(json!({"text": "", "json": null})).into_response();
    }
    match Filter::from_json_or_text(&value) {
        Ok(f) => Json(json!({"text": f.to_string(), "json": f.to_json()})).into_response(),
        Err(e) => Json(json!({"error": e.to_string()})).into_response(),
    }
}
