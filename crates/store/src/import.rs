//! CSV import of contacts and records, streamed in batches.
//!
//! A blocking thread parses the file and hands batches of parsed rows to the
//! writer through a channel of two slots, so at most three batches are in
//! memory whatever the file's size, and parsing the next batch overlaps with
//! writing the last. Each batch is one transaction: a bad row is reported
//! and left out, the good rows of the batch land together.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use swell_core::FieldError;
use swell_core::contact::{ContactInput, ParseContext, parse_attribute_text};
use swell_core::entity::EntityType;
use swell_core::record::RecordInput;
use tokio::sync::mpsc;

use crate::contacts::{ContactWrite, Outcome, Prepared, Target};
use crate::records::RecordWrite;
use crate::{Result, Store, StoreError, WorkspaceId};

/// At most this many row errors are listed; the counts stay exact.
pub const MAX_LISTED_ERRORS: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    pub dry_run: bool,
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            batch_size: 2000,
        }
    }
}

/// One failed row: its line in the file (the header is line 1), the column
/// at fault when known, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowError {
    pub row: u64,
    pub column: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub errors: Vec<RowError>,
    /// True when more rows failed than are listed in `errors`.
    pub errors_truncated: bool,
    pub dry_run: bool,
}

impl ImportReport {
    pub fn rows(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.failed
    }

    pub(crate) fn fail(&mut self, row: u64, column: Option<String>, reason: String) {
        self.failed += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(RowError {
                row,
                column,
                reason,
            });
        } else {
            self.errors_truncated = true;
        }
    }

    pub(crate) fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }
}

/// A parsed row: its line and its input, or why it could not be parsed.
pub(crate) type Parsed<T> = (u64, std::result::Result<T, FieldError>);

/// How a header column maps to the input.
#[derive(Clone)]
enum ContactColumn {
    Field(String),
    Attribute(String),
}

/// Rows written from which an import brings the planner's statistics of
/// contacts up to date (see [`Store::analyze_contacts_later`]).
const LARGE_IMPORT: u64 = 10_000;

pub(crate) fn header_error(reason: String) -> StoreError {
    StoreError::Invalid(vec![FieldError::new("header", reason)])
}

/// The batches a parser sends, and its thread.
pub(crate) type ParserHandle<T> = (
    mpsc::Receiver<Result<Vec<Parsed<T>>>>,
    tokio::task::JoinHandle<()>,
);

/// Parses a file whose columns are the fields of a JSON row (`fields` is
/// the allow-list: any other column refuses the file before anything is
/// written), each row handed to `parse` as an object of its non-empty
/// cells, as text.
pub(crate) fn spawn_object_parser<T: Send + 'static>(
    reader: impl Read + Send + 'static,
    batch_size: usize,
    fields: &'static [&'static str],
    what: &'static str,
    parse: impl Fn(&serde_json::Map<String, serde_json::Value>) -> std::result::Result<T, FieldError>
    + Send
    + 'static,
) -> ParserHandle<T> {
    let header: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let header_slot = header.clone();
    let check_header = move |h: &csv::StringRecord| -> Result<()> {
        for (i, name) in h.iter().enumerate() {
            if !fields.contains(&name) {
                return Err(header_error(format!(
                    "column {} '{name}' is not a {what} field ({})",
                    i + 1,
                    fields.join(", ")
                )));
            }
        }
        *header_slot.lock().expect("header lock") = h.iter().map(str::to_string).collect();
        Ok(())
    };
    let parse_row = move |record: &csv::StringRecord| {
        let cols = header.lock().expect("header lock").clone();
        let obj: serde_json::Map<String, serde_json::Value> = cols
            .into_iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, serde_json::Value::String(v.to_string())))
            .collect();
        parse(&obj)
    };
    spawn_parser(reader, batch_size, check_header, parse_row)
}

/// Parses the file on a blocking thread and sends batches of rows.
pub(crate) fn spawn_parser<T: Send + 'static>(
    reader: impl Read + Send + 'static,
    batch_size: usize,
    check_header: impl FnOnce(&csv::StringRecord) -> Result<()> + Send + 'static,
    parse_row: impl Fn(&csv::StringRecord) -> std::result::Result<T, FieldError> + Send + 'static,
) -> ParserHandle<T> {
    let (tx, rx) = mpsc::channel(2);
    let handle = tokio::task::spawn_blocking(move || {
        let mut csv = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::Headers)
            .from_reader(reader);
        let header = match csv.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                let _ = tx.blocking_send(Err(header_error(format!(
                    "cannot read the header row: {e}"
                ))));
                return;
            }
        };
        if let Err(e) = check_header(&header) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut batch = Vec::with_capacity(batch_size);
        let mut record = csv::StringRecord::new();
        loop {
            let line = csv.position().line() + if csv.position().line() == 1 { 1 } else { 0 };
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map(|p| p.line()).unwrap_or(line);
                    let parsed = if record.len() != header.len() {
                        Err(FieldError::new(
                            "",
                            format!(
                                "has {} fields but the header has {}",
                                record.len(),
                                header.len()
                            ),
                        ))
                    } else {
                        parse_row(&record)
                    };
                    batch.push((line, parsed));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(line);
                    batch.push((
                        line,
                        Err(FieldError::new(
                            "",
                            format!("is not valid CSV: {}", csv_reason(&e)),
                        )),
                    ));
                    if !matches!(
                        e.kind(),
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                    ) {
                        // An I/O error or a parser state we cannot recover from.
                        let _ = tx.blocking_send(Ok(std::mem::take(&mut batch)));
                        break;
                    }
                }
            }
            if batch.len() >= batch_size
                && tx
                    .blocking_send(Ok(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(batch_size),
                    )))
                    .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(Ok(batch));
        }
    });
    (rx, handle)
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the row is not UTF-8 text".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields but the header has {expected_len}"),
        csv::ErrorKind::Io(io) => format!("reading failed: {io}"),
        _ => e.to_string(),
    }
}

impl Store {
    /// Imports contacts from CSV: standard columns by name, `attr.KEY` for
    /// custom attributes, `tags` separated by `;`. An empty cell leaves the
    /// field as it is. Unknown columns fail the whole import before anything
    /// is written. `progress` is called with the number of rows done.
    pub async fn import_contacts(
        &self,
        ws: WorkspaceId,
        reader: impl Read + Send + 'static,
        opts: ImportOptions,
        progress: impl Fn(u64) + Send,
    ) -> Result<ImportReport> {
        let workspace = self.workspace(ws).await?;
        let schema = self.contact_schema(ws).await?;
        let region = workspace.phone_region.clone();
        let columns = std::sync::Arc::new(std::sync::Mutex::new(Vec::<ContactColumn>::new()));
        let header_columns = columns.clone();
        let header_schema = schema.clone();
        let check_header = move |header: &csv::StringRecord| -> Result<()> {
            let mut cols = Vec::new();
            for (i, h) in header.iter().enumerate() {
                let col = if let Some(key) = h.strip_prefix("attr.") {
                    if header_schema.get(key).is_none() {
                        return Err(header_error(format!(
                            "column {} '{h}': unknown attribute '{key}' (define it in the attribute schema first)",
                            i + 1
                        )));
                    }
                    ContactColumn::Attribute(key.to_string())
                } else if swell_core::contact::CONTACT_INPUT_FIELDS.contains(&h)
                    && h != "attributes"
                {
                    ContactColumn::Field(h.to_string())
                } else {
                    return Err(header_error(format!(
                        "column {} '{h}' is not a contact field (use attr.KEY for custom attributes)",
                        i + 1
                    )));
                };
                cols.push(col);
            }
            if header.iter().filter(|h| !h.is_empty()).count() != header.len() {
                return Err(header_error("a column has no name".into()));
            }
            *header_columns.lock().expect("header lock") = cols;
            Ok(())
        };
        let parse_row =
            move |record: &csv::StringRecord| -> std::result::Result<ContactInput, FieldError> {
                let cols = columns.lock().expect("header lock").clone();
                let cx = ParseContext {
                    schema: &schema,
                    phone_region: &region,
                };
                let mut input = ContactInput::default();
                for (col, raw) in cols.iter().zip(record.iter()) {
                    if raw.trim().is_empty() {
                        continue;
                    }
                    match col {
                        ContactColumn::Field(f) => input.set_text(f, Some(raw), &cx)?,
                        ContactColumn::Attribute(k) => {
                            let v = parse_attribute_text(&schema, k, raw)?;
                            input.attributes.insert(k.clone(), v);
                        }
                    }
                }
                Ok(input)
            };
        let (mut rx, handle) = spawn_parser(reader, opts.batch_size, check_header, parse_row);
        let mut report = ImportReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        if opts.dry_run {
            while let Some(batch) = rx.recv().await {
                let (lines, writes) = contact_writes(batch?, &mut report);
                let results = self.write_contacts(ws, &writes, true).await?;
                count_results(&mut report, lines, results);
                progress(report.rows());
            }
        } else {
            self.write_contact_batches(ws, &workspace.timezone, &mut rx, &mut report, &progress)
                .await?;
        }
        let _ = handle.await;
        report.errors.sort_by_key(|e| e.row);
        if report.created + report.updated >= LARGE_IMPORT && !opts.dry_run {
            self.analyze_contacts_later();
        }
        Ok(report)
    }

    /// Brings the planner's statistics of contacts up to date in the
    /// background (PostgreSQL; SQLite plans from its indexes alone), as a
    /// large import leaves them behind until autovacuum comes by: a
    /// campaign launched right after a million-row import paged its
    /// audience by scanning the whole workspace for each page of a
    /// thousand (107 s at a million).
    pub fn analyze_contacts_later(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.analyze_contacts().await {
                tracing::warn!(error = %e, "analysing contacts after an import");
            }
        });
    }

    /// Brings the planner's statistics of contacts up to date now
    /// (PostgreSQL; nothing to do on SQLite).
    pub async fn analyze_contacts(&self) -> Result<()> {
        self.analyze("ANALYZE contacts, contact_tags").await
    }

    /// Writes the parsed batches in order, each in its own transaction, as
    /// [`Store::write_contacts`] would one after another; but a batch is
    /// read and planned while the one before it is being written, as if
    /// that one were written already (its contacts replace what was read of
    /// them). The two run on separate connections, so the CPU of planning
    /// and the database's writing overlap.
    ///
    /// A batch whose write fails on a unique key (a contact another writer
    /// made meanwhile) is written again through `write_contacts`, which
    /// reads it afresh, and the batch after it is planned again.
    ///
    /// An import that makes new contacts need not look its keys up: when
    /// the first batch finds none of its keys stored, the batches after it
    /// are planned without lookups, as making every contact new (see
    /// [`Store::prepare_contacts`]). A row that meets a stored contact
    /// after all fails its batch's write on a unique key; that batch is
    /// written again the careful way, and the rest of the import looks its
    /// keys up. The lookups, though they ran beside the write, took CPU
    /// from the same cores as the writer.
    ///
    /// On PostgreSQL such batches of new contacts are also written two at
    /// a time, each on its own connection, when the later one names no
    /// contact of the earlier: one server process writing one batch at a
    /// time left the second core idle. Two batches that share no contact
    /// commute, so their commits may land in either order; a failed one is
    /// written again after the other, which it cannot meet either.
    async fn write_contact_batches(
        &self,
        ws: WorkspaceId,
        tz: &str,
        rx: &mut mpsc::Receiver<Result<Vec<Parsed<ContactInput>>>>,
        report: &mut ImportReport,
        progress: &(impl Fn(u64) + Send),
    ) -> Result<()> {
        // The next batch, parsed and split: its lines, its writes.
        async fn next(
            rx: &mut mpsc::Receiver<Result<Vec<Parsed<ContactInput>>>>,
            report: &mut ImportReport,
        ) -> Result<Option<(Vec<u64>, Vec<ContactWrite>)>> {
            match rx.recv().await {
                Some(batch) => Ok(Some(contact_writes(batch?, report))),
                None => Ok(None),
            }
        }
        let in_parallel = match self.backend() {
            crate::Backend::Postgres => 2,
            // One writer at a time.
            crate::Backend::Sqlite => 1,
        };
        let mut current = self
            .plan_batch(ws, tz, next(rx, report).await?, &[], true)
            .await?;
        let mut lookups = current
            .as_ref()
            .is_some_and(|(_, _, prep)| prep.found_stored());
        let mut flights: VecDeque<Flight> = VecDeque::new();
        // Batches landed, counted (and dropped) in order once the next
        // write has started: the writer does not wait for the bookkeeping.
        let mut landed: Vec<Landed> = Vec::new();
        while let Some((lines, writes, mut prep)) = current.take() {
            // Land what must be written before this batch starts.
            let alone = lookups || prep.overlaid();
            while !flights.is_empty() && (alone || flights.len() >= in_parallel) {
                let flight = flights.pop_front().expect("a batch in flight");
                let landing = self.land(ws, flight).await?;
                let rewritten = matches!(landing, Landed::Rewritten(..));
                landed.push(landing);
                if !rewritten {
                    continue;
                }
                // This batch was planned on one that failed: the others
                // land, and it is planned again, afresh.
                while let Some(flight) = flights.pop_front() {
                    landed.push(self.land(ws, flight).await?);
                }
                lookups = true;
                prep = self
                    .prepare_contacts(ws, tz, &writes, &[], true, self.now())
                    .await?;
            }
            flights.push_back(self.take_off(ws, lines, writes, prep).await?);
            for landing in landed.drain(..) {
                landing.count(report);
                progress(report.rows());
            }
            // The batch after, planned as if those in flight were written.
            let batch = next(rx, report).await?;
            let after: Vec<_> = flights.iter().map(|f| (&*f.prep, &*f.ids)).collect();
            current = self.plan_batch(ws, tz, batch, &after, lookups).await?;
        }
        while let Some(flight) = flights.pop_front() {
            self.land(ws, flight).await?.count(report);
            progress(report.rows());
        }
        Ok(())
    }

    /// Starts writing a planned batch: takes the write lock (SQLite), gives
    /// its new contacts their ids, and writes it in a task of its own, on
    /// another thread than the planning.
    async fn take_off(
        &self,
        ws: WorkspaceId,
        lines: Vec<u64>,
        writes: Vec<ContactWrite>,
        prep: Prepared,
    ) -> Result<Flight> {
        let now = self.now();
        let (tx, ids) = if prep.changes() {
            let (tx, ids) = self.begin_prepared(&prep).await?;
            (Some(tx), ids)
        } else {
            (None, HashMap::new())
        };
        let (prep, ids) = (Arc::new(prep), Arc::new(ids));
        let task = tokio::spawn({
            let (store, prep, ids) = (self.clone(), Arc::clone(&prep), Arc::clone(&ids));
            async move {
                match tx {
                    Some(tx) => store.finish_prepared(tx, ws, &prep, &ids, now).await,
                    None => Ok(()),
                }
            }
        });
        Ok(Flight {
            lines,
            writes,
            prep,
            ids,
            task,
        })
    }

    /// Waits for a batch's write. A write that failed on a unique key is
    /// written again the careful way.
    async fn land(&self, ws: WorkspaceId, mut flight: Flight) -> Result<Landed> {
        let written = match (&mut flight.task).await {
            Ok(written) => written,
            // The task is never aborted: it can only have panicked.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        match written {
            Ok(()) => Ok(Landed::Written(flight)),
            Err(StoreError::Backend(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                let results = self.write_contacts(ws, &flight.writes, false).await?;
                Ok(Landed::Rewritten(flight.lines, results))
            }
            Err(e) => Err(e),
        }
    }

    /// A batch's lines and writes with its plan, read (with `lookups`) as
    /// if `after` were written (see [`Store::prepare_contacts`]).
    async fn plan_batch(
        &self,
        ws: WorkspaceId,
        tz: &str,
        batch: Option<(Vec<u64>, Vec<ContactWrite>)>,
        after: &[(&Prepared, &HashMap<i64, i64>)],
        lookups: bool,
    ) -> Result<Option<(Vec<u64>, Vec<ContactWrite>, Prepared)>> {
        let Some((lines, writes)) = batch else {
            return Ok(None);
        };
        let prep = self
            .prepare_contacts(ws, tz, &writes, after, lookups, self.now())
            .await?;
        Ok(Some((lines, writes, prep)))
    }

    /// Imports records of one type from CSV: the type's fields by name,
    /// `external_id`, `created_at`, and `contact_email` / `contact_phone` /
    /// `contact_external_id` / `contact_id` to link a contact.
    pub async fn import_records(
        &self,
        ws: WorkspaceId,
        ty: &EntityType,
        reader: impl Read + Send + 'static,
        opts: ImportOptions,
        progress: impl Fn(u64) + Send,
    ) -> Result<ImportReport> {
        let workspace = self.workspace(ws).await?;
        let region = workspace.phone_region.clone();
        let header_ty = ty.clone();
        let header: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let header_slot = header.clone();
        let check_header = move |h: &csv::StringRecord| -> Result<()> {
            for (i, name) in h.iter().enumerate() {
                let meta = [
                    "external_id",
                    "created_at",
                    "contact_id",
                    "contact_email",
                    "contact_phone",
                    "contact_external_id",
                ];
                if !meta.contains(&name) && header_ty.field_type(name).is_none() {
                    return Err(header_error(format!(
                        "column {} '{name}' is not a field of type '{}'",
                        i + 1,
                        header_ty.kind.name()
                    )));
                }
            }
            *header_slot.lock().expect("header lock") = h.iter().map(str::to_string).collect();
            Ok(())
        };
        let row_ty = ty.clone();
        let parse_row =
            move |record: &csv::StringRecord| -> std::result::Result<RecordInput, FieldError> {
                let cols = header.lock().expect("header lock").clone();
                let mut input = RecordInput::default();
                for (col, raw) in cols.iter().zip(record.iter()) {
                    if raw.trim().is_empty() {
                        continue;
                    }
                    input.set_text(&row_ty, col, raw, &region)?;
                }
                Ok(input)
            };
        let (mut rx, handle) =
            spawn_parser(reader, opts.batch_size.min(500), check_header, parse_row);
        let mut report = ImportReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        while let Some(batch) = rx.recv().await {
            let batch = batch?;
            let mut lines = Vec::new();
            let mut writes = Vec::new();
            for (line, parsed) in batch {
                match parsed {
                    Ok(input) => {
                        lines.push(line);
                        writes.push(RecordWrite { id: None, input });
                    }
                    Err(e) => report.fail(line, column_of(&e), row_reason(&e)),
                }
            }
            let results = self.write_records(ws, ty, &writes, opts.dry_run).await?;
            for (line, r) in lines.into_iter().zip(results) {
                match r {
                    Ok((outcome, _)) => report.count(&outcome),
                    Err(e) => report.fail(line, column_of(&e), row_reason(&e)),
                }
            }
            progress(report.rows());
        }
        let _ = handle.await;
        report.errors.sort_by_key(|e| e.row);
        Ok(report)
    }
}

/// A batch whose write has started: its lines and writes (to write again
/// should it fail on a unique key), its plan, and the write's task.
struct Flight {
    lines: Vec<u64>,
    writes: Vec<ContactWrite>,
    prep: Arc<Prepared>,
    ids: Arc<HashMap<i64, i64>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

/// A batch whose write has ended: written as planned, or written again
/// the careful way after its write failed on a unique key (its lines and
/// results).
enum Landed {
    Written(Flight),
    Rewritten(Vec<u64>, Vec<crate::contacts::WriteResult>),
}

impl Landed {
    /// Counts the batch's rows.
    fn count(self, report: &mut ImportReport) {
        match self {
            Landed::Written(f) => count_results(report, f.lines, f.prep.results(&f.ids)),
            Landed::Rewritten(lines, results) => count_results(report, lines, results),
        }
    }
}

/// A parsed batch as upserts and their lines; rows that did not parse go
/// to the report.
fn contact_writes(
    batch: Vec<Parsed<ContactInput>>,
    report: &mut ImportReport,
) -> (Vec<u64>, Vec<ContactWrite>) {
    let mut lines = Vec::with_capacity(batch.len());
    let mut writes = Vec::with_capacity(batch.len());
    for (line, parsed) in batch {
        match parsed {
            Ok(input) => {
                lines.push(line);
                writes.push(ContactWrite {
                    target: Target::Upsert,
                    input,
                });
            }
            Err(e) => report.fail(line, column_of(&e), row_reason(&e)),
        }
    }
    (lines, writes)
}

/// Counts each write's result against its line.
fn count_results(
    report: &mut ImportReport,
    lines: Vec<u64>,
    results: Vec<crate::contacts::WriteResult>,
) {
    for (line, r) in lines.into_iter().zip(results) {
        match r {
            Ok((outcome, _)) => report.count(&outcome),
            Err(e) => report.fail(line, column_of(&e), row_reason(&e)),
        }
    }
}

pub(crate) fn column_of(e: &FieldError) -> Option<String> {
    if e.field.is_empty() {
        None
    } else {
        Some(e.field.clone())
    }
}

pub(crate) fn row_reason(e: &FieldError) -> String {
    if e.field.is_empty() {
        format!("the row {}", e.reason)
    } else {
        e.reason.clone()
    }
}
