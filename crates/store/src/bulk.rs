//! Writes of many rows at once, one implementation per backend: new
//! contacts, updated contacts, their tag rows, and change-log entries.
//!
//! PostgreSQL gets one array per column and `unnest`s them: a batch is one
//! statement of a fixed, short text whatever its size. A multi-row `VALUES`
//! list of 500 contacts (10,500 parameters) cost ~35 ms an execution, most
//! of it planning that list anew under `plan_cache_mode=force_custom_plan`;
//! the same rows through `unnest` cost what inserting them costs.
//!
//! SQLite runs in-process, so a statement costs no round trip: one
//! prepared single-row statement per shape, stepped a row at a time on the
//! connection's handle with the batch's text bound in place (see
//! [`crate::sqlite_direct`]).

use sqlx::{PgConnection, SqliteConnection};
use swell_core::contact::Contact;

use crate::sqlite_direct::{Direct, Row};

/// A contact to write, with its real id and the text derived from it:
/// its search text, and its tags and attributes as JSON.
pub(crate) struct ContactRow<'a> {
    pub id: i64,
    pub contact: &'a Contact,
    pub search: &'a str,
    pub tags: &'a str,
    pub attrs: &'a str,
}

/// One change-log entry: the record, the operation and what changed, as
/// JSON (`{"field": [old, new], ...}`).
pub(crate) type ChangeEntry<'a> = (i64, &'a str, &'a str);

pub(crate) trait BulkWrite {
    /// Lets the rest of the transaction reuse statement plans. On
    /// PostgreSQL the store runs with `plan_cache_mode=force_custom_plan`
    /// (see [`crate::Store::connect`]), and that applies to the plans of
    /// foreign-key checks too: each inserted contact, tag and change-log
    /// row re-planned its `SELECT 1 FROM workspaces ... FOR KEY SHARE`,
    /// over half of the server's time in an import. Called after a batch's
    /// lookups, which keep their custom plans, and before its writes, whose
    /// plans do not depend on the data. Reverts at commit.
    async fn reuse_plans(&mut self) -> sqlx::Result<()>;

    /// Inserts new contacts with the ids they were given.
    async fn insert_contacts(&mut self, ws: i64, rows: &[ContactRow<'_>]) -> sqlx::Result<()>;

    /// Writes every column of existing contacts.
    async fn update_contacts(&mut self, ws: i64, rows: &[ContactRow<'_>]) -> sqlx::Result<()>;

    /// Replaces the `contact_tags` rows of `contacts` with `tags`.
    async fn replace_tags(
        &mut self,
        ws: i64,
        contacts: &[i64],
        tags: &[(i64, &str)],
    ) -> sqlx::Result<()>;

    /// Appends change-log entries of one entity.
    async fn append_changes(
        &mut self,
        ws: i64,
        entity: &str,
        entries: &[ChangeEntry<'_>],
        at: i64,
    ) -> sqlx::Result<()>;
}

impl BulkWrite for PgConnection {
    async fn reuse_plans(&mut self) -> sqlx::Result<()> {
        sqlx::query("SET LOCAL plan_cache_mode = auto")
            .execute(self)
            .await?;
        Ok(())
    }

    async fn insert_contacts(&mut self, ws: i64, rows: &[ContactRow<'_>]) -> sqlx::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let q = sqlx::query(concat!(
            "INSERT INTO contacts (workspace_id, id, external_id, email, phone, name, given_name, family_name,
                 birthday, timezone, locale, owner, score, tags, attrs, created_at, updated_at,
                 email_optout, sms_optout, zalo_optout, search)
             SELECT $1, ",
            pg_contact_values!()
        ));
        PgColumns::of(rows).bind(q, ws).execute(self).await?;
        Ok(())
    }

    async fn update_contacts(&mut self, ws: i64, rows: &[ContactRow<'_>]) -> sqlx::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let q = sqlx::query(concat!(
            "UPDATE contacts c SET external_id = u.external_id, email = u.email, phone = u.phone, name = u.name,
                 given_name = u.given_name, family_name = u.family_name, birthday = u.birthday,
                 timezone = u.timezone, locale = u.locale, owner = u.owner, score = u.score, tags = u.tags,
                 attrs = u.attrs, updated_at = u.updated_at, email_optout = u.email_optout,
                 sms_optout = u.sms_optout, zalo_optout = u.zalo_optout, search = u.search
             FROM ",
            pg_contact_rows!(),
            " WHERE c.workspace_id = $1 AND c.id = u.id"
        ));
        PgColumns::of(rows).bind(q, ws).execute(self).await?;
        Ok(())
    }

    async fn replace_tags(
        &mut self,
        ws: i64,
        contacts: &[i64],
        tags: &[(i64, &str)],
    ) -> sqlx::Result<()> {
        if !contacts.is_empty() {
            sqlx::query(
                "DELETE FROM contact_tags WHERE workspace_id = $1 AND contact_id = ANY($2::bigint[])",
            )
            .bind(ws)
            .bind(contacts)
            .execute(&mut *self)
            .await?;
        }
        // No foreign key checks a tag row on PostgreSQL (migration 0021).
        // A contact made in this transaction cannot be deleted before it
        // commits; a stored one is taken only while it is still there. Its
        // row was updated just before, so a deletion that commits after
        // this point waits for us and then deletes these tags too (see
        // `Store::delete_contact`), and one that committed before leaves
        // nothing to find here.
        let cleared: std::collections::HashSet<i64> = contacts.iter().copied().collect();
        let (stored, new): (Vec<&(i64, &str)>, Vec<&(i64, &str)>) =
            tags.iter().partition(|t| cleared.contains(&t.0));
        for (rows, sql) in [
            (
                new,
                "INSERT INTO contact_tags (workspace_id, contact_id, tag)
                 SELECT $1, unnest($2::bigint[]), unnest($3::text[])",
            ),
            (
                stored,
                "INSERT INTO contact_tags (workspace_id, contact_id, tag)
                 SELECT $1, c.id, u.tag FROM unnest($2::bigint[], $3::text[]) AS u(id, tag)
                 CROSS JOIN LATERAL (SELECT id FROM contacts
                                     WHERE id = u.id AND workspace_id = $1 LIMIT 1) c",
            ),
        ] {
            if rows.is_empty() {
                continue;
            }
            let ids: Vec<i64> = rows.iter().map(|t| t.0).collect();
            let names: Vec<&str> = rows.iter().map(|t| t.1).collect();
            sqlx::query(sql)
                .bind(ws)
                .bind(ids)
                .bind(names)
                .execute(&mut *self)
                .await?;
        }
        Ok(())
    }

    async fn append_changes(
        &mut self,
        ws: i64,
        entity: &str,
        entries: &[ChangeEntry<'_>],
        at: i64,
    ) -> sqlx::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = entries.iter().map(|e| e.0).collect();
        let ops: Vec<&str> = entries.iter().map(|e| e.1).collect();
        let changes: Vec<&str> = entries.iter().map(|e| e.2).collect();
        sqlx::query(
            "INSERT INTO changes (workspace_id, entity, record_id, op, changes, at)
             SELECT $1, $2, unnest($4::bigint[]), unnest($5::text[]), unnest($6::text[]::json[]), $3",
        )
        .bind(ws)
        .bind(entity)
        .bind(at)
        .bind(ids)
        .bind(ops)
        .bind(changes)
        .execute(self)
        .await?;
        Ok(())
    }
}

/// The rows of [`PgColumns`], parameters `$2` to `$21`, as a select list of
/// `unnest`s, which PostgreSQL steps through in lockstep a row at a time.
/// In `FROM`, a call of `unnest` with several arrays first copies all its
/// rows into a temporary table of its own (a tuplestore): 8% of the
/// server's time in an import.
macro_rules! pg_contact_values {
    () => {
        "unnest($2::bigint[]), unnest($3::text[]), unnest($4::text[]), unnest($5::text[]), unnest($6::text[]),
             unnest($7::text[]), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]), unnest($11::text[]),
             unnest($12::text[]), unnest($13::bigint[]), unnest($14::text[]::jsonb[]), unnest($15::text[]::jsonb[]),
             unnest($16::bigint[]), unnest($17::bigint[]), unnest($18::bool[]), unnest($19::bool[]),
             unnest($20::bool[]), unnest($21::text[])"
    };
}
use pg_contact_values;

/// The same rows as a table `u` with the columns' names, to join on.
macro_rules! pg_contact_rows {
    () => {
        concat!(
            "(SELECT ",
            pg_contact_values!(),
            ") AS u(id, external_id, email, phone, name, given_name, family_name, birthday, timezone, locale,
                 owner, score, tags, attrs, created_at, updated_at, email_optout, sms_optout, zalo_optout,
                 search)"
        )
    };
}
use pg_contact_rows;

/// A batch of contacts as one array per column, borrowing their text.
struct PgColumns<'a> {
    id: Vec<i64>,
    external_id: Vec<Option<&'a str>>,
    email: Vec<Option<&'a str>>,
    phone: Vec<Option<&'a str>>,
    name: Vec<Option<&'a str>>,
    given_name: Vec<Option<&'a str>>,
    family_name: Vec<Option<&'a str>>,
    birthday: Vec<Option<&'a str>>,
    timezone: Vec<&'a str>,
    locale: Vec<Option<&'a str>>,
    owner: Vec<Option<&'a str>>,
    score: Vec<i64>,
    tags: Vec<&'a str>,
    attrs: Vec<&'a str>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
    email_optout: Vec<bool>,
    sms_optout: Vec<bool>,
    zalo_optout: Vec<bool>,
    search: Vec<&'a str>,
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl<'a> PgColumns<'a> {
    /// Binds the workspace as `$1` and the columns as `$2` to `$21`.
    fn bind(self, q: PgQuery<'a>, ws: i64) -> PgQuery<'a> {
        q.bind(ws)
            .bind(self.id)
            .bind(self.external_id)
            .bind(self.email)
            .bind(self.phone)
            .bind(self.name)
            .bind(self.given_name)
            .bind(self.family_name)
            .bind(self.birthday)
            .bind(self.timezone)
            .bind(self.locale)
            .bind(self.owner)
            .bind(self.score)
            .bind(self.tags)
            .bind(self.attrs)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.email_optout)
            .bind(self.sms_optout)
            .bind(self.zalo_optout)
            .bind(self.search)
    }

    fn of(rows: &'a [ContactRow<'a>]) -> Self {
        let col = |f: fn(&'a Contact) -> Option<&'a str>| -> Vec<Option<&'a str>> {
            rows.iter().map(|r| f(r.contact)).collect()
        };
        PgColumns {
            id: rows.iter().map(|r| r.id).collect(),
            external_id: col(|c| c.external_id.as_deref()),
            email: col(|c| c.email.as_deref()),
            phone: col(|c| c.phone.as_deref()),
            name: col(|c| c.name.as_deref()),
            given_name: col(|c| c.given_name.as_deref()),
            family_name: col(|c| c.family_name.as_deref()),
            birthday: col(|c| c.birthday.as_deref()),
            timezone: rows.iter().map(|r| r.contact.timezone.as_str()).collect(),
            locale: col(|c| c.locale.as_deref()),
            owner: col(|c| c.owner.as_deref()),
            score: rows.iter().map(|r| r.contact.score).collect(),
            tags: rows.iter().map(|r| r.tags).collect(),
            attrs: rows.iter().map(|r| r.attrs).collect(),
            created_at: rows.iter().map(|r| r.contact.created_at).collect(),
            updated_at: rows.iter().map(|r| r.contact.updated_at).collect(),
            email_optout: rows.iter().map(|r| r.contact.email_optout).collect(),
            sms_optout: rows.iter().map(|r| r.contact.sms_optout).collect(),
            zalo_optout: rows.iter().map(|r| r.contact.zalo_optout).collect(),
            search: rows.iter().map(|r| r.search).collect(),
        }
    }
}

impl BulkWrite for SqliteConnection {
    async fn reuse_plans(&mut self) -> sqlx::Result<()> {
        Ok(())
    }

    async fn insert_contacts(&mut self, ws: i64, rows: &[ContactRow<'_>]) -> sqlx::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut direct = Direct::lock(self).await?;
        direct.blocking(rows.len(), |d| {
            let mut insert = d.prepare(
                "INSERT INTO contacts (workspace_id, id, external_id, email, phone, name, given_name,
                     family_name, birthday, timezone, locale, owner, score, tags, attrs, created_at,
                     updated_at, email_optout, sms_optout, zalo_optout, search)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                     ?18, ?19, ?20, ?21)",
            )?;
            for r in rows {
                insert.row(|row| bind_contact(row, ws, r))?;
            }
            Ok(())
        })
    }

    async fn update_contacts(&mut self, ws: i64, rows: &[ContactRow<'_>]) -> sqlx::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut direct = Direct::lock(self).await?;
        direct.blocking(rows.len(), |d| {
            // The same parameters as an insert; `created_at` (?16) stays, unused.
            let mut update = d.prepare(
                "UPDATE contacts SET external_id = ?3, email = ?4, phone = ?5, name = ?6, given_name = ?7,
                    family_name = ?8, birthday = ?9, timezone = ?10, locale = ?11, owner = ?12, score = ?13,
                    tags = ?14, attrs = ?15, updated_at = ?17, email_optout = ?18, sms_optout = ?19,
                    zalo_optout = ?20, search = ?21
                 WHERE workspace_id = ?1 AND id = ?2",
            )?;
            for r in rows {
                update.row(|row| bind_contact(row, ws, r))?;
            }
            Ok(())
        })
    }

    async fn replace_tags(
        &mut self,
        ws: i64,
        contacts: &[i64],
        tags: &[(i64, &str)],
    ) -> sqlx::Result<()> {
        if contacts.is_empty() && tags.is_empty() {
            return Ok(());
        }
        let mut direct = Direct::lock(self).await?;
        direct.blocking(contacts.len() + tags.len(), |d| {
            if !contacts.is_empty() {
                let mut clear = d.prepare(
                    "DELETE FROM contact_tags WHERE workspace_id = ?1 AND contact_id = ?2",
                )?;
                for id in contacts {
                    clear.row(|row| {
                        row.int(1, ws).int(2, *id);
                    })?;
                }
            }
            if !tags.is_empty() {
                let mut insert = d.prepare(
                    "INSERT INTO contact_tags (workspace_id, contact_id, tag) VALUES (?1, ?2, ?3)",
                )?;
                for (id, tag) in tags {
                    insert.row(|row| {
                        row.int(1, ws).int(2, *id).text(3, Some(tag));
                    })?;
                }
            }
            Ok(())
        })
    }

    async fn append_changes(
        &mut self,
        ws: i64,
        entity: &str,
        entries: &[ChangeEntry<'_>],
        at: i64,
    ) -> sqlx::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut direct = Direct::lock(self).await?;
        direct.blocking(entries.len(), |d| {
            let mut insert = d.prepare(
                "INSERT INTO changes (workspace_id, entity, record_id, op, changes, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (id, op, changes) in entries {
                insert.row(|row| {
                    row.int(1, ws)
                        .text(2, Some(entity))
                        .int(3, *id)
                        .text(4, Some(op))
                        .text(5, Some(changes))
                        .int(6, at);
                })?;
            }
            Ok(())
        })
    }
}

/// Binds a contact's 21 columns in the order of the insert's column list,
/// without copying its text.
fn bind_contact<'v>(row: &mut Row<'_, 'v>, ws: i64, r: &'v ContactRow<'v>) {
    let c = r.contact;
    row.int(1, ws)
        .int(2, r.id)
        .text(3, c.external_id.as_deref())
        .text(4, c.email.as_deref())
        .text(5, c.phone.as_deref())
        .text(6, c.name.as_deref())
        .text(7, c.given_name.as_deref())
        .text(8, c.family_name.as_deref())
        .text(9, c.birthday.as_deref())
        .text(10, Some(&c.timezone))
        .text(11, c.locale.as_deref())
        .text(12, c.owner.as_deref())
        .int(13, c.score)
        .text(14, Some(r.tags))
        .text(15, Some(r.attrs))
        .int(16, c.created_at)
        .int(17, c.updated_at)
        .bool(18, c.email_optout)
        .bool(19, c.sms_optout)
        .bool(20, c.zalo_optout)
        .text(21, Some(r.search));
}
