//! Leads from CSV: the columns of [`super::LEAD_FIELDS`], one lead a row,
//! each taken as [`Store::intake_lead`] takes one. A row that does not
//! read or names an ad that does not exist is reported by line, column and
//! reason and leaves nothing behind (each row runs in a savepoint); the
//! others land.

use std::io::Read;

use serde::Serialize;

use crate::import::{ImportReport, column_of, row_reason, spawn_object_parser};
use crate::leads::{LEAD_FIELDS, LeadInput, LeadTx};
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

/// A row that landed with something to say (a switched-off ad).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowWarning {
    pub row: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LeadImportReport {
    #[serde(flatten)]
    pub report: ImportReport,
    /// Created rows that repeat a person's lead within the window.
    pub duplicates: u64,
    /// Created rows a rule gave to a rep.
    pub assigned: u64,
    pub warnings: Vec<RowWarning>,
}

impl Store {
    /// Takes leads from CSV; an unknown column refuses the whole file
    /// before anything is written. `row` in the report is the line (the
    /// header is line 1).
    pub async fn import_leads_csv(
        &self,
        ws: WorkspaceId,
        reader: impl Read + Send + 'static,
    ) -> Result<LeadImportReport> {
        let region = self.workspace(ws).await?.phone_region;
        let (mut rx, handle) = spawn_object_parser(reader, 500, LEAD_FIELDS, "lead", move |obj| {
            LeadInput::from_json(obj, &region)
        });
        let mut out = LeadImportReport::default();
        on_db!(self, p => {
            while let Some(batch) = rx.recv().await {
                let mut tx = p.begin_write().await?;
                for (line, parsed) in batch? {
                    let input = match parsed {
                        Ok(input) => input,
                        Err(e) => {
                            out.report.fail(line, column_of(&e), row_reason(&e));
                            continue;
                        }
                    };
                    let mut row = sqlx::Connection::begin(&mut *tx).await?;
                    match row.intake(ws.0, &input, self.now()).await {
                        Ok(intake) => {
                            row.commit().await?;
                            if intake.replayed {
                                out.report.unchanged += 1;
                                continue;
                            }
                            out.report.created += 1;
                            out.duplicates += u64::from(intake.lead.duplicate_of.is_some());
                            out.assigned += u64::from(intake.lead.owner_id.is_some() && intake.lead.duplicate_of.is_none());
                            out.warnings.extend(intake.warnings.into_iter().map(|reason| RowWarning { row: line, reason }));
                        }
                        Err(StoreError::Invalid(errors)) => {
                            row.rollback().await?;
                            let e = &errors[0];
                            out.report.fail(line, column_of(e), row_reason(e));
                        }
                        Err(e) => return Err(e),
                    }
                }
                tx.commit().await?;
            }
        });
        let _ = handle.await;
        out.report.errors.sort_by_key(|e| e.row);
        Ok(out)
    }
}
