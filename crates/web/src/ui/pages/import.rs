//! `/import`: contacts from a CSV file in two steps. The upload is kept in
//! a temporary file and its columns are shown with their first values;
//! the person maps each to a field (or skips it), then the file is
//! imported with the mapped header and the report lists every failed row
//! with its line, column and reason.

use std::path::PathBuf;

use askama::Template;
use axum::extract::Multipart;
use axum::response::Response;
use swell_store::import::{ImportOptions, ImportReport};

use crate::ui::{Ctx, Shell, UiError, form_fields, html};

#[derive(Template)]
#[template(path = "import.html")]
struct UploadPage {
    shell: Shell,
    error: Option<String>,
}

pub(super) async fn form(ctx: Ctx) -> Result<Response, UiError> {
    let page = UploadPage {
        shell: ctx.shell("/import"),
        error: None,
    };
    Ok(html(page.render()?))
}

/// One column of the uploaded file and the field it maps to by default.
struct Column {
    name: String,
    sample: String,
    guess: String,
}

#[derive(Template)]
#[template(path = "import_map.html")]
struct MapPage {
    shell: Shell,
    token: String,
    file_name: String,
    columns: Vec<Column>,
    /// Everything a column may map to: the standard fields, then
    /// `attr.KEY` for the workspace's attributes.
    targets: Vec<String>,
}

/// Where an upload waits for its mapping: the temporary directory, named
/// by workspace and a random token (so one workspace cannot name
/// another's file).
fn upload_path(ctx: &Ctx, token: &str) -> Option<PathBuf> {
    token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        .then(|| {
            std::env::temp_dir().join(format!("swell-import-{}-{token}.csv", ctx.ws().id.get()))
        })
}

pub(super) async fn upload(ctx: Ctx, mut multipart: Multipart) -> Result<Response, UiError> {
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| UiError::Invalid(format!("the upload could not be read: {e}")))?
    {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload.csv").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| UiError::Invalid(format!("the upload could not be read: {e}")))?;
            file = Some((name, bytes));
        }
    }
    let again = |error: String| -> Result<Response, UiError> {
        let page = UploadPage {
            shell: ctx.shell("/import"),
            error: Some(error),
        };
        Ok(html(page.render()?))
    };
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return again("file: choose a CSV file".into());
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(&bytes[..]);
    let header = match reader.headers() {
        Ok(h) if !h.is_empty() => h.clone(),
        Ok(_) => return again("header: the file has no header row".into()),
        Err(e) => return again(format!("header: cannot read the header row: {e}")),
    };
    let first = reader.records().next().and_then(Result::ok);
    let schema = ctx.store().contact_schema(ctx.ws().id).await?;
    // The standard columns the import reads by name (attributes come as
    // `attr.KEY` columns instead of one `attributes` column).
    let mut targets: Vec<String> = swell_core::contact::CONTACT_INPUT_FIELDS
        .iter()
        .filter(|f| **f != "attributes")
        .map(|f| f.to_string())
        .collect();
    targets.extend(schema.fields.iter().map(|f| format!("attr.{}", f.key)));
    let columns = header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let lower = name.trim().to_lowercase();
            let guess = if targets.contains(&lower) {
                lower
            } else if targets.contains(&format!("attr.{lower}")) {
                format!("attr.{lower}")
            } else {
                String::new()
            };
            Column {
                name: name.to_string(),
                sample: first
                    .as_ref()
                    .and_then(|r| r.get(i))
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect(),
                guess,
            }
        })
        .collect();
    let token = crate::ui::random_token();
    let path = upload_path(&ctx, &token).expect("our tokens are URL-safe base64");
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| UiError::Internal(Box::new(e)))?;
    let page = MapPage {
        shell: ctx.shell("/import"),
        token,
        file_name,
        columns,
        targets,
    };
    Ok(html(page.render()?))
}

#[derive(Template)]
#[template(path = "import_report.html")]
struct ReportPage {
    shell: Shell,
    report: ImportReport,
}

impl ReportPage {
    fn n(&self, v: &u64) -> String {
        self.shell.locale.int(*v as i64)
    }
}

/// Rewrites the upload with the mapped header (skipped columns left out)
/// and imports it.
pub(super) async fn run(ctx: Ctx, body: axum::body::Bytes) -> Result<Response, UiError> {
    let fields = form_fields(&body);
    let token = fields.get("token").cloned().unwrap_or_default();
    let path = upload_path(&ctx, &token).ok_or(UiError::NotFound)?;
    let Ok(raw) = tokio::fs::read(&path).await else {
        return Err(UiError::Invalid(ctx.locale.t("import.expired").to_string()));
    };
    let dry_run = fields.get("dry_run").is_some_and(|v| v == "on" || v == "1");
    let mapped = tokio::task::spawn_blocking(move || remap(&raw, &fields))
        .await
        .map_err(|e| UiError::Internal(Box::new(e)))??;
    let report = ctx
        .store()
        .import_contacts(
            ctx.ws().id,
            std::io::Cursor::new(mapped),
            ImportOptions {
                dry_run,
                ..Default::default()
            },
            |_| {},
        )
        .await?;
    if !dry_run {
        let _ = tokio::fs::remove_file(&path).await;
    }
    let page = ReportPage {
        shell: ctx.shell("/import"),
        report,
    };
    Ok(html(page.render()?))
}

/// The file with each column renamed to its target (`map_N`), skipped
/// columns dropped; rows keep their line numbers, so the report's rows are
/// the upload's lines.
fn remap(
    raw: &[u8],
    fields: &std::collections::HashMap<String, String>,
) -> Result<Vec<u8>, UiError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(raw);
    let header = reader
        .headers()
        .map_err(|e| UiError::Invalid(format!("header: {e}")))?
        .clone();
    let keep: Vec<(usize, String)> = (0..header.len())
        .filter_map(|i| {
            fields
                .get(&format!("map_{i}"))
                .filter(|t| !t.is_empty())
                .map(|t| (i, t.clone()))
        })
        .collect();
    if keep.is_empty() {
        return Err(UiError::Invalid(
            "mapping: map at least one column to a field".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in &keep {
        if !seen.insert(t) {
            return Err(UiError::Invalid(format!(
                "mapping: column {} ({}) maps to {t}, which another column already fills",
                i + 1,
                &header[*i]
            )));
        }
    }
    let mut out = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let write_err = |e: csv::Error| UiError::Internal(Box::new(e));
    out.write_record(keep.iter().map(|(_, t)| t.as_str()))
        .map_err(write_err)?;
    for record in reader.records() {
        match record {
            Ok(r) => out
                .write_record(keep.iter().map(|(i, _)| r.get(*i).unwrap_or("")))
                .map_err(write_err)?,
            // A broken row stays broken, so the import reports it on its line.
            Err(_) => out.write_record([""; 0]).map_err(write_err)?,
        }
    }
    out.into_inner()
        .map_err(|e| UiError::Internal(Box::new(e.into_error())))
}
