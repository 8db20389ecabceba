//! Audiences: which contacts (or orders, leads, ...) a filter selects,
//! counted or listed straight from the database.
//!
//! [`compile`] turns a [`Filter`] into one parameterised SQL condition for
//! either backend (the rules are in `compile.rs` and docs/filters.md); the
//! store methods here gather what it needs (the workspace's field types, the
//! time zones in use, the clock) and run it. The in-memory evaluator,
//! `Filter::matches`, gives the same answers: the property tests in
//! `crates/tests/tests/filter_sql.rs` hold the two together.

mod compile;
pub(crate) mod sqlite_fn;

use serde_json::Value;
use swell_core::FieldError;
use swell_core::entity::{Builtin, EntityKind, EntityType};
use swell_core::filter::{Filter, SegmentFilters};
use swell_core::schema::{FieldDef, Schema};

pub use compile::{Bind, CompileError, Compiled, Context, compile, needs_zones};

use crate::rows::RowExt;
use crate::{Result, Store, StoreError, WorkspaceId, on_db};

/// Binds a compiled filter's values to a query, in placeholder order.
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Float(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.clone()),
                Bind::Bool(v) => q.bind(*v),
                Bind::Null => q.bind(None::<String>),
            };
        }
        q
    }};
}

impl From<CompileError> for StoreError {
    fn from(e: CompileError) -> StoreError {
        StoreError::Invalid(vec![FieldError::new("filter", e.0)])
    }
}

impl Store {
    /// How many records of kind `target` the filter selects now ("this
    /// reaches 12,408 contacts"). The filter should be validated first.
    pub async fn count_audience(
        &self,
        ws: WorkspaceId,
        target: &EntityKind,
        filter: &Filter,
        segments: &(dyn SegmentFilters + Sync),
    ) -> Result<u64> {
        let compiled = self.compile_audience(ws, target, filter, segments).await?;
        let sql = compiled.count_sql();
        let n: i64 = on_db!(self, p => {
            bind_all!(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)), &compiled.binds).fetch_one(p).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The ids the filter selects, after `after_id` in id order, at most
    /// `limit`: a broadcast walks its audience in batches with the last id
    /// as the cursor, so a restart resumes where it stopped.
    pub async fn audience_ids(
        &self,
        ws: WorkspaceId,
        target: &EntityKind,
        filter: &Filter,
        segments: &(dyn SegmentFilters + Sync),
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<i64>> {
        let compiled = self.compile_audience(ws, target, filter, segments).await?;
        let sql = compiled.ids_sql();
        let ids = on_db!(self, p => {
            bind_all!(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)), &compiled.binds)
                .bind(after_id)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        Ok(ids)
    }

    /// Which of these records the filter selects now: the one-record path
    /// of triggers and activity filters, answered by the same SQL as whole
    /// audiences so the two can never disagree.
    pub async fn matching_ids(
        &self,
        ws: WorkspaceId,
        target: &EntityKind,
        filter: &Filter,
        segments: &(dyn SegmentFilters + Sync),
        ids: &[i64],
    ) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let compiled = self.compile_audience(ws, target, filter, segments).await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = compiled.ids_in_sql(chunk.len());
            let found: Vec<i64> = on_db!(self, p => {
                let mut q = bind_all!(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)), &compiled.binds);
                for id in chunk { q = q.bind(*id); }
                q.fetch_all(p).await?
            });
            out.extend(found);
        }
        Ok(out)
    }

    /// Compiles a filter for this workspace as the audience methods run it,
    /// at the store clock's `now`: for tests, benchmarks and `EXPLAIN`.
    pub async fn compile_audience(
        &self,
        ws: WorkspaceId,
        target: &EntityKind,
        filter: &Filter,
        segments: &(dyn SegmentFilters + Sync),
    ) -> Result<Compiled> {
        let types = self.audience_types(ws).await?;
        let zones = if needs_zones(filter.expr(), segments, 0) {
            self.contact_zones(ws).await?
        } else {
            Vec::new()
        };
        let cx = Context {
            backend: self.backend(),
            workspace: ws,
            now: self.now(),
            types: &types,
            segments,
            zones: &zones,
        };
        Ok(compile(&cx, target, filter)?)
    }

    /// Every entity type the workspace has custom fields for.
    async fn audience_types(&self, ws: WorkspaceId) -> Result<Vec<EntityType>> {
        let rows: Vec<(String, Value)> = on_db!(self, p => {
            sqlx::query("SELECT name, fields FROM entity_types WHERE workspace_id = $1")
                .bind(ws.0)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| (r.text("name"), r.json("fields")))
                .collect()
        });
        Ok(rows
            .into_iter()
            .map(|(name, fields)| {
                let kind = match name.as_str() {
                    "contact" => EntityKind::Contact,
                    n => Builtin::from_name(n)
                        .map(EntityKind::Builtin)
                        .unwrap_or(EntityKind::Custom(name.clone())),
                };
                let fields: Vec<FieldDef> = serde_json::from_value(fields).unwrap_or_default();
                EntityType {
                    kind,
                    label: None,
                    schema: Schema { fields },
                }
            })
            .collect())
    }

    /// The time zones the workspace's contacts are in.
    pub async fn contact_zones(&self, ws: WorkspaceId) -> Result<Vec<String>> {
        Ok(on_db!(self, p => {
            sqlx::query_scalar::<_, String>("SELECT DISTINCT timezone FROM contacts WHERE workspace_id = $1")
                .bind(ws.0)
                .fetch_all(p)
                .await?
        }))
    }
}
