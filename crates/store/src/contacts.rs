//! Contacts: batched upsert with the change log, reads, search, delete.
//!
//! Every write goes through [`Store::write_contacts`], which takes a batch
//! (one contact from the API, a thousand from an import): it reads the
//! existing contacts the batch names in a few queries, applies each input in
//! memory in order, and writes the results and their change-log entries in
//! one transaction. A row that fails is reported and left out; the others
//! land whole.

// Keyed by ids and contact keys this process made or read: no untrusted
// party picks them to collide, so the fast hash is safe.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use swell_core::FieldError;
use swell_core::contact::{ChangesSince, Contact, ContactInput, FieldChange, FieldName, Patch};
use swell_core::text::fold;

use crate::bulk::{BulkWrite, ContactRow};
use crate::rows::RowExt;
use crate::{BeginWrite, Result, Store, StoreError, WorkspaceId, on_db};

/// How a write finds the contact it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// By `external_id`, then email, then phone; created when none matches.
    Upsert,
    /// This contact, which must exist (PATCH).
    Id(i64),
}

#[derive(Debug, Clone)]
pub struct ContactWrite {
    pub target: Target,
    pub input: ContactInput,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// The result of one write of a batch.
pub type WriteResult = std::result::Result<(Outcome, i64), FieldError>;

pub(crate) const CONTACT_COLUMNS: &str = "id, external_id, email, phone, name, given_name, family_name, birthday, \
     timezone, locale, owner, score, tags, attrs, created_at, updated_at, email_optout, sms_optout, zalo_optout";

pub(crate) fn contact_from_row(r: &impl RowExt) -> Contact {
    let tags = match r.json("tags") {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let attributes = match r.json("attrs") {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Contact {
        id: r.int("id"),
        external_id: r.opt_text("external_id"),
        email: r.opt_text("email"),
        phone: r.opt_text("phone"),
        name: r.opt_text("name"),
        given_name: r.opt_text("given_name"),
        family_name: r.opt_text("family_name"),
        birthday: r.opt_text("birthday"),
        timezone: r.text("timezone"),
        locale: r.opt_text("locale"),
        owner: r.opt_text("owner"),
        score: r.int("score"),
        email_optout: r.boolean("email_optout"),
        sms_optout: r.boolean("sms_optout"),
        zalo_optout: r.boolean("zalo_optout"),
        tags,
        attributes,
        created_at: r.int("created_at"),
        updated_at: r.int("updated_at"),
    }
}

/// A page of contacts and the cursor of the next one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    /// Accent- and case-insensitive text over name, email, phone, external id.
    pub q: Option<String>,
    pub tag: Option<String>,
    pub cursor: Option<i64>,
    pub limit: u32,
}

/// Keys per lookup statement. Each backend binds the whole list as one
/// value, so this bounds memory, not a parameter limit.
const LOOKUP_CHUNK: usize = 10_000;

/// The contacts a batch has read or made, and its unique keys.
#[derive(Default)]
struct BatchState {
    by_id: HashMap<i64, Contact>,
    external_id: HashMap<String, i64>,
    email: HashMap<String, i64>,
    phone: HashMap<String, i64>,
    next_temp: i64,
}

impl BatchState {
    fn index(&mut self, c: &Contact) {
        if let Some(k) = &c.external_id {
            self.external_id.insert(k.clone(), c.id);
        }
        if let Some(k) = &c.email {
            self.email.insert(k.clone(), c.id);
        }
        if let Some(k) = &c.phone {
            self.phone.insert(k.clone(), c.id);
        }
    }

    /// Replaces what was read with newer versions of contacts (and adds
    /// those not read): the stale versions' keys are dropped first, as a
    /// key may have moved from one contact to another.
    fn overlay(&mut self, newer: Vec<Contact>) {
        for c in &newer {
            if let Some(old) = self.by_id.remove(&c.id) {
                self.unindex(&old);
            }
        }
        for c in newer {
            self.index(&c);
            self.by_id.insert(c.id, c);
        }
    }

    fn unindex(&mut self, c: &Contact) {
        if let Some(k) = &c.external_id {
            self.external_id.remove(k);
        }
        if let Some(k) = &c.email {
            self.email.remove(k);
        }
        if let Some(k) = &c.phone {
            self.phone.remove(k);
        }
    }

    fn find(&self, input: &ContactInput) -> Option<i64> {
        let by =
            |map: &HashMap<String, i64>, key: Option<&str>| key.and_then(|k| map.get(k).copied());
        by(
            &self.external_id,
            input.external_id.as_set().map(String::as_str),
        )
        .or_else(|| by(&self.email, input.email.as_set().map(|e| e.as_str())))
        .or_else(|| by(&self.phone, input.phone.as_set().map(|p| p.as_str())))
    }

    /// A key of `c` that already belongs to another contact.
    fn clash(&self, c: &Contact) -> Option<FieldError> {
        let check = |field: &str, map: &HashMap<String, i64>, key: &Option<String>| {
            let other = key
                .as_ref()
                .and_then(|k| map.get(k))
                .filter(|&&id| id != c.id)?;
            let whose = if *other > 0 {
                format!("contact {other}")
            } else {
                "another row of this batch".into()
            };
            Some(FieldError::new(
                field,
                format!(
                    "'{}' already belongs to {whose}",
                    key.as_deref().unwrap_or("")
                ),
            ))
        };
        check("external_id", &self.external_id, &c.external_id)
            .or_else(|| check("email", &self.email, &c.email))
            .or_else(|| check("phone", &self.phone, &c.phone))
    }
}

/// The writes a batch ends with.
struct Plan {
    created: Vec<i64>,
    updated: Vec<i64>,
    tags_changed: HashSet<i64>,
    log: Vec<LogEntry>,
    /// What a new contact is changed from: nothing set but the zone.
    blank: Contact,
}

/// A change-log entry of a batch: the contact's versions before and after
/// the write, kept whole rather than as a list of changed fields (its JSON
/// is made from the two, [`ChangesSince`]).
struct LogEntry {
    id: i64,
    op: &'static str,
    /// None: the plan's blank contact (a create).
    before: Option<Contact>,
    /// None: the contact as the batch leaves it. Set when a later write of
    /// the same batch changes the contact again.
    after: Option<Contact>,
}

/// A batch read and applied in memory, not yet written: the contacts it
/// read or made (new ones under negative ids until written), each write's
/// result, and what to write.
pub(crate) struct Prepared {
    state: BatchState,
    results: Vec<WriteResult>,
    plan: Plan,
    /// Whether the batch's lookups found any stored contact (set by
    /// [`Store::prepare_contacts`]).
    found_stored: bool,
    /// Whether it was planned on contacts of the batches before it (set
    /// by [`Store::prepare_contacts`]).
    overlaid: bool,
    /// The text of what is written, made by [`Prepared::encode`].
    encoded: Option<Encoded>,
}

/// A prepared batch's derived text, made before its write so that the
/// write, which holds the database's write lock on SQLite, only binds it.
struct Encoded {
    /// Search text, tags and attributes as JSON of the contacts the plan
    /// creates, then of those it updates, in the plan's order.
    contacts: Vec<EncodedContact>,
    /// Each change-log entry of the plan as JSON, in its order.
    log: Vec<String>,
}

struct EncodedContact {
    search: String,
    tags: String,
    attrs: String,
}

impl Prepared {
    fn plan(mut state: BatchState, writes: &[ContactWrite], default_tz: &str, now: i64) -> Self {
        let (results, plan) = plan_writes(&mut state, writes, default_tz, now);
        Prepared {
            state,
            results,
            plan,
            found_stored: false,
            overlaid: false,
            encoded: None,
        }
    }

    /// Makes the text the write binds (a dry run never needs it).
    fn encode(&mut self) {
        let contacts = self
            .plan
            .created
            .iter()
            .chain(&self.plan.updated)
            .map(|id| {
                let c = &self.state.by_id[id];
                EncodedContact {
                    search: c.search_text(),
                    tags: serde_json::to_string(&c.tags).expect("tags serialise"),
                    attrs: serde_json::to_string(&c.attributes).expect("attributes serialise"),
                }
            })
            .collect();
        let log = self
            .plan
            .log
            .iter()
            .map(|e| {
                let changes = ChangesSince {
                    before: e.before.as_ref().unwrap_or(&self.plan.blank),
                    after: e.after.as_ref().unwrap_or(&self.state.by_id[&e.id]),
                };
                serde_json::to_string(&changes).expect("changes serialise")
            })
            .collect();
        self.encoded = Some(Encoded { contacts, log });
    }

    fn encoded(&self) -> &Encoded {
        self.encoded
            .as_ref()
            .expect("a batch is encoded before its write")
    }

    /// The rows of the contacts the batch creates and of those it updates,
    /// under their real ids.
    fn contact_rows(
        &self,
        real: impl Fn(i64) -> i64,
    ) -> (Vec<ContactRow<'_>>, Vec<ContactRow<'_>>) {
        let mut created: Vec<ContactRow> = self
            .plan
            .created
            .iter()
            .chain(&self.plan.updated)
            .zip(&self.encoded().contacts)
            .map(|(id, e)| ContactRow {
                id: real(*id),
                contact: &self.state.by_id[id],
                search: &e.search,
                tags: &e.tags,
                attrs: &e.attrs,
            })
            .collect();
        let updated = created.split_off(self.plan.created.len());
        (created, updated)
    }

    /// Whether the batch's lookups found any stored contact (never, when it
    /// was planned without them).
    pub(crate) fn found_stored(&self) -> bool {
        self.found_stored
    }

    /// Whether the batch reads or names a contact that one of the batches
    /// it was planned after writes: it must be written after them.
    pub(crate) fn overlaid(&self) -> bool {
        self.overlaid
    }

    /// Whether the batch writes anything.
    pub(crate) fn changes(&self) -> bool {
        !self.plan.log.is_empty()
    }

    /// Each write's result, new contacts under their real `ids` (a dry run
    /// has none: they keep their negative ones).
    pub(crate) fn results(&self, ids: &HashMap<i64, i64>) -> Vec<WriteResult> {
        self.results
            .iter()
            .map(|r| {
                r.clone()
                    .map(|(o, id)| (o, ids.get(&id).copied().unwrap_or(id)))
            })
            .collect()
    }

    /// What this batch writes of the contacts `writes` (the batch after
    /// it) will look at, as written (new contacts under their real `ids`):
    /// the contacts the next batch read (their version may be older) and
    /// those its writes name by id or by key. The rest cannot change how
    /// the next batch is planned, so they are not copied.
    fn written_for<'a>(
        &'a self,
        ids: &'a HashMap<i64, i64>,
        read: &BatchState,
        writes: &[ContactWrite],
    ) -> impl Iterator<Item = Contact> + 'a {
        let real = |id: i64| ids.get(&id).copied().unwrap_or(id);
        // Every contact this batch writes, by its real id.
        let written: HashMap<i64, i64> = self
            .plan
            .created
            .iter()
            .chain(&self.plan.updated)
            .map(|id| (real(*id), *id))
            .collect();
        let mut wanted: HashSet<i64> = read
            .by_id
            .keys()
            .filter_map(|id| written.get(id).copied())
            .collect();
        let state = &self.state;
        for w in writes {
            if let Target::Id(id) = w.target {
                wanted.extend(written.get(&id));
            }
            let keys = [
                w.input
                    .external_id
                    .as_set()
                    .and_then(|k| state.external_id.get(k)),
                w.input
                    .email
                    .as_set()
                    .and_then(|k| state.email.get(k.as_str())),
                w.input
                    .phone
                    .as_set()
                    .and_then(|k| state.phone.get(k.as_str())),
            ];
            wanted.extend(
                keys.into_iter()
                    .flatten()
                    .filter(|id| written.contains_key(&real(**id))),
            );
        }
        wanted.into_iter().map(move |id| {
            let mut c = self.state.by_id[&id].clone();
            c.id = real(c.id);
            c
        })
    }
}

/// A write transaction on either backend.
pub(crate) enum WriteTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Reads every contact `writes` names, by id or by key; with `lock`, in a
/// write transaction, locks their rows (PostgreSQL; SQLite's write lock is
/// the database's).
async fn read_batch<C: LookupRows>(
    conn: &mut C,
    ws: WorkspaceId,
    writes: &[ContactWrite],
    lock: bool,
) -> Result<BatchState> {
    let mut ids = Vec::new();
    let mut keys: [Vec<String>; 3] = Default::default();
    for w in writes {
        if let Target::Id(id) = w.target {
            ids.push(id);
        }
        if let Some(k) = w.input.external_id.as_set() {
            keys[0].push(k.clone());
        }
        if let Some(k) = w.input.email.as_set() {
            keys[1].push(k.as_str().to_string());
        }
        if let Some(k) = w.input.phone.as_set() {
            keys[2].push(k.as_str().to_string());
        }
    }
    let mut state = BatchState {
        next_temp: -1,
        ..Default::default()
    };
    let id_keys: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    for (column, values) in ["id", "external_id", "email", "phone"]
        .iter()
        .zip([&id_keys, &keys[0], &keys[1], &keys[2]])
    {
        for chunk in values.chunks(LOOKUP_CHUNK) {
            for row in lookup_rows(conn, ws.0, column, chunk, lock).await? {
                let c = contact_from_row(&row);
                if !state.by_id.contains_key(&c.id) {
                    state.index(&c);
                    state.by_id.insert(c.id, c);
                }
            }
        }
    }
    Ok(state)
}

/// Reserves ids for a prepared batch's new contacts in the open write
/// transaction `$tx`: a map from their negative ids to real ones.
macro_rules! allocate_real_ids {
    ($store:expr, $tx:expr, $prep:expr) => {{
        let prep: &Prepared = $prep;
        let mut ids: HashMap<i64, i64> = HashMap::new();
        if !prep.plan.created.is_empty() {
            let first = allocate_ids!($store, $tx, "contacts", prep.plan.created.len());
            for (i, temp) in prep.plan.created.iter().enumerate() {
                ids.insert(*temp, first + i as i64);
            }
        }
        ids
    }};
}

/// Writes a prepared batch in the open write transaction `$tx`: its new
/// and changed contacts, their tag rows and the change log.
macro_rules! write_prepared {
    ($store:expr, $tx:expr, $ws:expr, $prep:expr, $ids:expr, $now:expr) => {{
        let prep: &Prepared = $prep;
        let ids: &HashMap<i64, i64> = $ids;
        let real = |id: i64| if id < 0 { ids[&id] } else { id };
        let state = &prep.state;
        let plan = &prep.plan;
        let encoded = prep.encoded();
        let (created, updated) = prep.contact_rows(&real);
        $tx.insert_contacts($ws.0, &created).await?;
        $tx.update_contacts($ws.0, &updated).await?;
        // Tags: the contact_tags mirror of every contact whose tags changed.
        let cleared: Vec<i64> = plan
            .tags_changed
            .iter()
            .copied()
            .filter(|id| *id > 0)
            .collect();
        let tag_rows: Vec<(i64, &str)> = plan
            .tags_changed
            .iter()
            .flat_map(|id| {
                state.by_id[id]
                    .tags
                    .iter()
                    .map(move |t| (real(*id), t.as_str()))
            })
            .collect();
        $tx.replace_tags($ws.0, &cleared, &tag_rows).await?;
        let log: Vec<$crate::bulk::ChangeEntry> = plan
            .log
            .iter()
            .zip(&encoded.log)
            .map(|(e, json)| (real(e.id), e.op, json.as_str()))
            .collect();
        $tx.append_changes($ws.0, "contact", &log, $now).await?;
    }};
}

impl Store {
    /// Applies a batch of writes in one transaction and reports each. With
    /// `dry_run` everything is checked and counted but nothing is kept.
    pub async fn write_contacts(
        &self,
        ws: WorkspaceId,
        writes: &[ContactWrite],
        dry_run: bool,
    ) -> Result<Vec<WriteResult>> {
        let workspace = self.workspace(ws).await?;
        let now = self.now();
        // A unique key taken by a concurrent writer between our read and our
        // write makes the batch fail; reading again sees it, so one retry
        // turns the race into an ordinary update. Two batches that lock
        // the same contacts in opposite orders: PostgreSQL fails one
        // (deadlock detected), and it is tried again the same way.
        for attempt in 0..3 {
            match self
                .write_contacts_once(ws, &workspace.timezone, writes, dry_run, now)
                .await
            {
                Err(StoreError::Backend(sqlx::Error::Database(e)))
                    if (e.is_unique_violation() || e.code().as_deref() == Some("40P01"))
                        && attempt < 2 =>
                {
                    continue;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn write_contacts_once(
        &self,
        ws: WorkspaceId,
        default_tz: &str,
        writes: &[ContactWrite],
        dry_run: bool,
        now: i64,
    ) -> Result<Vec<WriteResult>> {
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            // The rows locked (PostgreSQL) until the commit: a patch is
            // applied to the row as it is now, and a writer of the same
            // contact waits, then reads this one's result, so neither
            // change is lost (two steps tagging one person at once).
            let state = read_batch(&mut *tx, ws, writes, true).await?;
            let mut prep = Prepared::plan(state, writes, default_tz, now);
            if !dry_run && prep.changes() {
                prep.encode();
                tx.reuse_plans().await?;
                let ids = allocate_real_ids!(self, tx, &prep);
                write_prepared!(self, tx, ws, &prep, &ids, now);
                tx.commit().await?;
                self.records_changed();
                return Ok(prep.results(&ids));
            }
            tx.rollback().await?;
            Ok(prep.results(&HashMap::new()))
        })
    }

    /// Reads and plans a batch outside any transaction, as if `after` (the
    /// batches before it, oldest first, with the ids of their new contacts)
    /// were written already: their contacts replace what was read of them.
    /// An import plans a batch this way while those before it are being
    /// written.
    ///
    /// Without `lookups`, nothing is read: the batch is planned as if no
    /// stored contact had any of its keys, so every row not matching a row
    /// before it makes a new contact. That plan is right exactly when its
    /// write meets no unique key; otherwise the write fails as a whole, and
    /// the caller writes the batch again the careful way. Writes that name
    /// a contact by id are always read.
    pub(crate) async fn prepare_contacts(
        &self,
        ws: WorkspaceId,
        default_tz: &str,
        writes: &[ContactWrite],
        after: &[(&Prepared, &HashMap<i64, i64>)],
        lookups: bool,
        now: i64,
    ) -> Result<Prepared> {
        let by_id = writes.iter().any(|w| matches!(w.target, Target::Id(_)));
        let mut state = if lookups || by_id {
            on_db!(self, p => {
                let mut conn = p.acquire().await?;
                read_batch(&mut *conn, ws, writes, false).await?
            })
        } else {
            BatchState {
                next_temp: -1,
                ..Default::default()
            }
        };
        let found_stored = !state.by_id.is_empty();
        let mut overlaid = false;
        for (before, ids) in after {
            let newer: Vec<Contact> = before.written_for(ids, &state, writes).collect();
            overlaid |= !newer.is_empty();
            state.overlay(newer);
        }
        let mut prep = Prepared {
            found_stored,
            overlaid,
            ..Prepared::plan(state, writes, default_tz, now)
        };
        prep.encode();
        Ok(prep)
    }

    /// Takes the write lock for a prepared batch and reserves the ids of its
    /// new contacts. [`Store::finish_prepared`] writes it.
    pub(crate) async fn begin_prepared(
        &self,
        prep: &Prepared,
    ) -> Result<(WriteTx, HashMap<i64, i64>)> {
        Ok(match &self.db {
            crate::Db::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                let ids = allocate_real_ids!(self, tx, prep);
                (WriteTx::Sqlite(tx), ids)
            }
            crate::Db::Postgres(p) => {
                let mut tx = p.begin_write().await?;
                tx.reuse_plans().await?;
                let ids = allocate_real_ids!(self, tx, prep);
                (WriteTx::Postgres(tx), ids)
            }
        })
    }

    /// Writes a prepared batch and commits.
    pub(crate) async fn finish_prepared(
        &self,
        tx: WriteTx,
        ws: WorkspaceId,
        prep: &Prepared,
        ids: &HashMap<i64, i64>,
        now: i64,
    ) -> Result<()> {
        match tx {
            WriteTx::Sqlite(mut tx) => {
                write_prepared!(self, tx, ws, prep, ids, now);
                tx.commit().await?;
            }
            WriteTx::Postgres(mut tx) => {
                write_prepared!(self, tx, ws, prep, ids, now);
                tx.commit().await?;
            }
        }
        self.records_changed();
        Ok(())
    }

    pub async fn contact(&self, ws: WorkspaceId, id: i64) -> Result<Contact> {
        on_db!(self, p => {
            let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2");
            let row = sqlx::query(AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(p).await?;
            row.map(|r| contact_from_row(&r)).ok_or(StoreError::NotFound)
        })
    }

    /// Finds a contact by one of its keys.
    pub async fn find_contact(&self, ws: WorkspaceId, key: &ContactKey) -> Result<Option<Contact>> {
        let (column, value): (&str, Value) = match key {
            ContactKey::Id(id) => ("id", Value::from(*id)),
            ContactKey::ExternalId(v) => ("external_id", Value::from(v.clone())),
            ContactKey::Email(v) => ("email", Value::from(v.as_str())),
            ContactKey::Phone(v) => ("phone", Value::from(v.as_str())),
        };
        on_db!(self, p => {
            let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND {column} = $2");
            let q = sqlx::query(AssertSqlSafe(sql)).bind(ws.0);
            let q = match value { Value::Number(n) => q.bind(n.as_i64()), v => q.bind(v.as_str().map(str::to_string)) };
            Ok(q.fetch_optional(p).await?.map(|r| contact_from_row(&r)))
        })
    }

    /// Lists contacts in id order, a page at a time.
    pub async fn list_contacts(
        &self,
        ws: WorkspaceId,
        query: &ContactQuery,
    ) -> Result<Page<Contact>> {
        let limit = query.limit.clamp(1, 1000) as i64;
        let pattern = query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| format!("%{}%", escape_like(&fold(q))));
        let tag = query.tag.as_deref().map(|t| t.trim().to_lowercase());
        let mut sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.workspace_id = $1 AND c.id > $2"
        );
        let mut n = 3;
        if pattern.is_some() {
            sql.push_str(&format!(" AND c.search LIKE ${n} ESCAPE '\\'"));
            n += 1;
        }
        if tag.is_some() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM contact_tags t WHERE t.workspace_id = $1 AND t.tag = ${n} AND t.contact_id = c.id)"
            ));
            n += 1;
        }
        sql.push_str(&format!(" ORDER BY c.id LIMIT ${n}"));
        let items: Vec<Contact> = on_db!(self, p => {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(ws.0).bind(query.cursor.unwrap_or(0));
            if let Some(pattern) = &pattern {
                q = q.bind(pattern.clone());
            }
            if let Some(tag) = &tag {
                q = q.bind(tag.clone());
            }
            q.bind(limit + 1).fetch_all(p).await?.iter().map(contact_from_row).collect()
        });
        Ok(paginate(items, limit as usize, |c| c.id))
    }

    /// Deletes a contact, its tags and its events; records keep existing
    /// without it. The deletion is logged with the contact's last values.
    pub async fn delete_contact(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let now = self.now();
        on_db!(self, p => {
            let mut tx = p.begin_write().await?;
            let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2");
            let Some(row) = sqlx::query(AssertSqlSafe(sql)).bind(ws.0).bind(id).fetch_optional(&mut *tx).await? else {
                return Err(StoreError::NotFound);
            };
            let c = contact_from_row(&row);
            // The messages sent to the contact stay, without it (no key does
            // this on PostgreSQL: see migration 0019).
            sqlx::query("UPDATE messages SET contact_id = NULL WHERE workspace_id = $1 AND contact_id = $2")
                .bind(ws.0).bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM contacts WHERE workspace_id = $1 AND id = $2").bind(ws.0).bind(id).execute(&mut *tx).await?;
            // After the contact, whose row lock makes a concurrent write of
            // its tags commit first; no key cascades this on PostgreSQL
            // (migration 0021).
            sqlx::query("DELETE FROM contact_tags WHERE workspace_id = $1 AND contact_id = $2").bind(ws.0).bind(id).execute(&mut *tx).await?;
            let changes: Vec<FieldChange> = ["external_id", "email", "phone", "name"]
                .iter()
                .map(|f| (f.to_string(), c.field(f), Value::Null))
                .filter(|(_, old, _)| !old.is_null())
                .collect();
            write_changes!(self, tx, ws, "contact", std::iter::once((id, "delete", &changes)), now);
            tx.commit().await?;
            self.records_changed();
            Ok(())
        })
    }
}

/// A way to name a contact in a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactKey {
    Id(i64),
    ExternalId(String),
    Email(swell_core::Email),
    Phone(swell_core::Phone),
}

impl ContactKey {
    /// As a contact input that creates the contact when it is missing.
    pub fn as_input(&self) -> ContactInput {
        let mut input = ContactInput::default();
        match self {
            ContactKey::Id(_) => {}
            ContactKey::ExternalId(v) => input.external_id = Patch::Set(v.clone()),
            ContactKey::Email(v) => input.email = Patch::Set(v.clone()),
            ContactKey::Phone(v) => input.phone = Patch::Set(v.clone()),
        }
        input
    }
}

fn plan_writes(
    state: &mut BatchState,
    writes: &[ContactWrite],
    default_tz: &str,
    now: i64,
) -> (Vec<WriteResult>, Plan) {
    let mut results = Vec::with_capacity(writes.len());
    let mut plan = Plan {
        created: Vec::new(),
        updated: Vec::new(),
        tags_changed: HashSet::new(),
        log: Vec::new(),
        blank: Contact::blank(default_tz, now),
    };
    // The last log entry of each contact the batch wrote.
    let mut logged: HashMap<i64, usize> = HashMap::new();
    for w in writes {
        let found = match w.target {
            Target::Id(id) => match state.by_id.get(&id) {
                Some(_) => Some(id),
                None => {
                    results.push(Err(FieldError::new(
                        "id",
                        format!("contact {id} not found"),
                    )));
                    continue;
                }
            },
            Target::Upsert => state.find(&w.input),
        };
        let before = found.map(|id| state.by_id[&id].clone());
        let mut c = before.clone().unwrap_or_else(|| {
            let mut c = plan.blank.clone();
            c.id = state.next_temp;
            c
        });
        c.apply_input(&w.input);
        let (mut changed, mut tags_changed) = (false, false);
        c.each_change(before.as_ref().unwrap_or(&plan.blank), |field, _, _| {
            changed = true;
            tags_changed |= field == FieldName::Standard("tags");
        });
        if let Some(e) = state.clash(&c) {
            results.push(Err(e));
            continue;
        }
        if before.is_some() && !changed {
            results.push(Ok((Outcome::Unchanged, c.id)));
            continue;
        }
        if let Some(b) = &before {
            state.unindex(b);
        } else {
            state.next_temp -= 1;
            plan.created.push(c.id);
        }
        c.updated_at = now;
        state.index(&c);
        if tags_changed {
            plan.tags_changed.insert(c.id);
        }
        if c.id > 0 && !plan.updated.contains(&c.id) {
            plan.updated.push(c.id);
        }
        let (outcome, op) = if before.is_none() {
            (Outcome::Created, "create")
        } else {
            (Outcome::Updated, "update")
        };
        results.push(Ok((outcome, c.id)));
        let id = c.id;
        let replaced = state.by_id.insert(id, c);
        // The version an earlier entry of this batch ended with is kept
        // with that entry.
        if let Some(i) = logged.insert(id, plan.log.len()) {
            plan.log[i].after = replaced;
        }
        plan.log.push(LogEntry {
            id,
            op,
            before,
            after: None,
        });
    }
    (results, plan)
}

/// Reserves `n` consecutive ids of a table inside a write transaction and
/// evaluates to the first.
///
/// SQLite: the write lock is held (`BEGIN IMMEDIATE`), so `max(id) + 1`
/// cannot be taken by anyone else. PostgreSQL: the identity sequence is
/// advanced by `n` in one statement, so concurrent batches get disjoint
/// ranges.
macro_rules! allocate_ids {
    ($store:expr, $tx:expr, $table:literal, $n:expr) => {{
        let sql = match $store.backend() {
            $crate::Backend::Sqlite => {
                concat!("SELECT COALESCE(MAX(id), 0) + 1 + ($1 - $1) FROM ", $table)
            }
            $crate::Backend::Postgres => concat!(
                "SELECT setval(pg_get_serial_sequence('",
                $table,
                "', 'id'), nextval(pg_get_serial_sequence('",
                $table,
                "', 'id')) + $1 - 1) - $1 + 1"
            ),
        };
        let first: i64 = sqlx::query_scalar(sql)
            .bind($n as i64)
            .fetch_one(&mut *$tx)
            .await?;
        first
    }};
}
pub(crate) use allocate_ids;

/// Appends change-log entries `(record id, op, changes)` in the transaction.
macro_rules! write_changes {
    ($store:expr, $tx:expr, $ws:expr, $entity:expr, $entries:expr, $now:expr) => {{
        let entries: Vec<(i64, &str, String)> = $entries
            .map(
                |(id, op, changes): (i64, &str, &Vec<swell_core::contact::FieldChange>)| {
                    (id, op, $crate::contacts::changes_json(changes))
                },
            )
            .collect();
        let entries: Vec<$crate::bulk::ChangeEntry> = entries
            .iter()
            .map(|(id, op, json)| (*id, *op, json.as_str()))
            .collect();
        $crate::bulk::BulkWrite::append_changes(&mut *$tx, $ws.get(), $entity, &entries, $now)
            .await?;
    }};
}
pub(crate) use write_changes;

/// `{"field": [old, new], ...}`, the change log's form, serialised
/// straight from the changes without building a JSON tree first.
pub(crate) struct ChangesJson<'a>(pub &'a [FieldChange]);

/// A change-log entry's JSON text.
pub(crate) fn changes_json(changes: &[FieldChange]) -> String {
    serde_json::to_string(&ChangesJson(changes)).expect("changes serialise")
}

impl serde::Serialize for ChangesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (field, old, new) in self.0 {
            map.serialize_entry(field, &(old, new))?;
        }
        map.end()
    }
}

/// Rows of contacts whose `column` is one of `values`, in one statement
/// with one bound list whatever its length: PostgreSQL takes a `text[]`
/// (`= ANY`), SQLite a JSON array (`json_each`). An `IN ($2, ..., $901)`
/// list made PostgreSQL plan every execution anew (up to a second each).
trait LookupRows {
    type Row: RowExt;
    async fn lookup_rows_impl(
        &mut self,
        ws: i64,
        column: &str,
        values: &[String],
        lock: bool,
    ) -> sqlx::Result<Vec<Self::Row>>;
}

impl LookupRows for sqlx::SqliteConnection {
    type Row = sqlx::sqlite::SqliteRow;
    async fn lookup_rows_impl(
        &mut self,
        ws: i64,
        column: &str,
        values: &[String],
        _lock: bool,
    ) -> sqlx::Result<Vec<Self::Row>> {
        let cast = if column == "id" {
            "CAST(value AS INTEGER)"
        } else {
            "value"
        };
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts WHERE workspace_id = $1 AND {column} IN (SELECT {cast} FROM json_each($2))"
        );
        let list = serde_json::to_string(values).expect("strings serialise");
        sqlx::query(AssertSqlSafe(sql))
            .bind(ws)
            .bind(list)
            .fetch_all(self)
            .await
    }
}

impl LookupRows for sqlx::PgConnection {
    type Row = sqlx::postgres::PgRow;
    /// One index probe per key, whatever the statistics say: `LIMIT 1`
    /// keeps the subquery from being flattened into a join the planner may
    /// cost badly. `column = ANY($2)` was planned, on a table grown since
    /// its last ANALYZE, as a scan of the workspace's every contact (via
    /// `contacts_timezone`) filtered by the array: 30 ms a lookup at 50,000
    /// contacts and growing with the table; an import of a million rows
    /// fell to 1,400 rows/s. This shape stays at one probe per key.
    async fn lookup_rows_impl(
        &mut self,
        ws: i64,
        column: &str,
        values: &[String],
        lock: bool,
    ) -> sqlx::Result<Vec<Self::Row>> {
        let cast = if column == "id" { "::bigint[]" } else { "" };
        let lock = if lock { " FOR UPDATE" } else { "" };
        let sql = format!(
            "SELECT c.* FROM unnest($2::text[]{cast}) AS k(v)
             CROSS JOIN LATERAL (SELECT {CONTACT_COLUMNS} FROM contacts
                                 WHERE workspace_id = $1 AND {column} = k.v LIMIT 1{lock}) c"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(ws)
            .bind(values)
            .fetch_all(self)
            .await
    }
}

async fn lookup_rows<C: LookupRows>(
    conn: &mut C,
    ws: i64,
    column: &str,
    values: &[String],
    lock: bool,
) -> sqlx::Result<Vec<C::Row>> {
    debug_assert!(
        ["id", "external_id", "email", "phone"].contains(&column),
        "columns come from an allow-list"
    );
    conn.lookup_rows_impl(ws, column, values, lock).await
}

/// `$from, $from+1, ...` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Placeholders for a statement with many values. SQLite gets anonymous
/// `?`: sqlx looks up each numbered parameter by name, and SQLite's lookup
/// is a linear scan, which makes binding n `$k` parameters cost O(n²) (at
/// 9,000 parameters that was 85% of an import's time). PostgreSQL gets
/// `$from, ...`.
pub(crate) fn bulk_placeholders(backend: crate::Backend, from: usize, n: usize) -> String {
    match backend {
        crate::Backend::Sqlite => vec!["?"; n].join(", "),
        crate::Backend::Postgres => placeholders(from, n),
    }
}

/// `(.., ..), (.., ..)` for `rows` rows of `width` values, numbered from 1;
/// see [`bulk_placeholders`].
pub(crate) fn rows_placeholders(backend: crate::Backend, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", bulk_placeholders(backend, 1 + r * width, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn paginate<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> i64) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|x| id(x).to_string())
    } else {
        None
    };
    Page { items, next_cursor }
}

impl Store {
    /// Contacts by id, in the order given; ids of other workspaces or of
    /// deleted contacts are left out.
    pub async fn contacts_by_ids(&self, ws: WorkspaceId, ids: &[i64]) -> Result<Vec<Contact>> {
        let keys: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let mut found = Vec::with_capacity(ids.len());
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let rows: Vec<Contact> = on_db!(self, p => {
                let mut conn = p.acquire().await?;
                lookup_rows(&mut *conn, ws.0, "id", chunk, false).await?.iter().map(contact_from_row).collect()
            });
            found.extend(rows);
        }
        let mut by_id: HashMap<i64, Contact> = found.into_iter().map(|c| (c.id, c)).collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The id of the contact a key names, creating the contact when the key
    /// is an email, phone or external id nobody has yet.
    pub async fn find_or_create_contact(&self, ws: WorkspaceId, key: &ContactKey) -> Result<i64> {
        if let Some(c) = self.find_contact(ws, key).await? {
            return Ok(c.id);
        }
        if let ContactKey::Id(id) = key {
            return Err(StoreError::Invalid(vec![FieldError::new(
                "contact.id",
                format!("contact {id} not found"),
            )]));
        }
        let w = ContactWrite {
            target: Target::Upsert,
            input: key.as_input(),
        };
        match self.write_contacts(ws, &[w], false).await?.remove(0) {
            Ok((_, id)) => Ok(id),
            Err(e) => Err(StoreError::Invalid(vec![e])),
        }
    }
}
