//! The filter compiler: a [`Filter`] becomes one parameterised SQL condition
//! over the subject's row, for SQLite or PostgreSQL.
//!
//! docs/filters.md ("Semantics") is the contract, and
//! `swell_core::filter::eval` is its reference implementation; this file
//! follows that one rule by rule, and `crates/tests/tests/filter_sql.rs`
//! checks the two against each other on generated data.
//!
//! How the rules map to SQL:
//!
//! - **Two-valued logic.** Every leaf yields TRUE or FALSE, never NULL
//!   (`COALESCE(cond, FALSE)` around anything that can see a NULL), so `NOT`
//!   is plain negation, `!=` is `NOT (=)` and `not in` is `NOT (in)`.
//! - **Typed reads.** A column is read as is. A JSON value (custom
//!   attributes and fields) is read only when its JSON type fits the field's
//!   type, else it is NULL, as `Value::from_json` makes it unset. Event
//!   properties have no type: each comparison checks that the property's JSON
//!   type matches the literal's kind.
//! - **Bound values.** Literals are turned into the concrete values the
//!   evaluator compares against (`Literal::as_millis`, `Literal::as_date`,
//!   `text::fold`, `anniversary_month_days`) and bound; identifiers come only
//!   from the entity column lists; JSON keys are bound too.
//! - **Text order.** By bytes: SQLite's default BINARY collation, and
//!   `COLLATE "C"` on PostgreSQL.
//! - **Anniversaries.** The contact's zone decides "today". The caller passes
//!   the zones present in the workspace; zones whose date today differs from
//!   the default zone's get their own `CASE` branch, every other zone
//!   (including unknown ones) takes the default zone's branch.

use std::collections::BTreeMap;

use jiff::civil::Date;
use swell_core::contact::{SEARCH_NAME_END, normalise_tag};
use swell_core::entity::{Builtin, CONTACT_COLUMNS, ColumnType, EntityKind, EntityType};
use swell_core::filter::{
    Aggregate, CmpOp, Expr, Filter, Literal, Measure, Op, Path, Related, SegmentFilters, Source,
    Window, anniversary_month_days, today_in_zone,
};
use swell_core::schema::{FieldType, Schema};
use swell_core::text::fold;
use swell_core::time::{Millis, format_millis};

use crate::{Backend, WorkspaceId};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    /// A typed-as-text NULL.
    Null,
}

/// Everything compilation needs besides the filter.
pub struct Context<'a> {
    pub backend: Backend,
    pub workspace: WorkspaceId,
    /// The instant `now`, `today` and relative times are taken from.
    pub now: Millis,
    /// The workspace's entity types with their custom fields: the `contact`
    /// type's schema types `attr.KEY`. A built-in type left out has no
    /// custom fields.
    pub types: &'a [EntityType],
    pub segments: &'a (dyn SegmentFilters + Sync),
    /// Time zones of the workspace's contacts (`SELECT DISTINCT timezone`),
    /// for anniversaries. A zone left out is treated as the default zone,
    /// so a contact saved in a zone new to the workspace between reading
    /// the zones and running the query is judged in the default zone: the
    /// next run sees it right.
    pub zones: &'a [String],
}

/// A compiled filter: `FROM` clause, `WHERE` condition and the values of
/// its placeholders, `$1` onwards, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The subject table with its alias, `contacts c` or
    /// `orders r LEFT JOIN contacts c ON c.id = r.contact_id`.
    pub from: String,
    /// The subject alias: `c` or `r`.
    pub alias: &'static str,
    /// The whole condition, workspace scope included.
    pub condition: String,
    pub binds: Vec<Bind>,
    /// When the audience is a set of contacts alone (tags and lists, or
    /// one aggregate over related rows that no contact without rows
    /// passes): that set, a `SELECT contact_id` scoped to the workspace
    /// (tags, lists, records and events are the workspace's, and their rows
    /// go with a deleted contact or lose it).
    pub members: Option<MemberSet>,
}

/// A set of contacts as a query of one column, `contact_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberSet {
    pub sql: String,
    /// The same contact may come more than once (`count(...) >= 1` reads
    /// the related rows as they are).
    pub repeats: bool,
}

impl Compiled {
    /// `SELECT COUNT(*)` of the audience.
    pub fn count_sql(&self) -> String {
        match &self.members {
            // `$1` (the workspace of the contacts scope) is in the set's
            // own conditions already; it is named so every bind is used.
            Some(MemberSet { sql, repeats }) => {
                let what = if *repeats {
                    "COUNT(DISTINCT u.contact_id)"
                } else {
                    "COUNT(*)"
                };
                format!("SELECT {what} FROM ({sql}) u WHERE $1 IS NOT NULL")
            }
            None => format!(
                "SELECT COUNT(*) FROM {} WHERE {}",
                self.from, self.condition
            ),
        }
    }

    /// The ids after `after_id`, in id order, at most `limit`: binds two
    /// more placeholders after [`Compiled::binds`] (the cursor, the limit).
    pub fn ids_sql(&self) -> String {
        let n = self.binds.len();
        let a = self.alias;
        format!(
            "SELECT {a}.id FROM {} WHERE {} AND {a}.id > ${} ORDER BY {a}.id LIMIT ${}",
            self.from,
            self.condition,
            n + 1,
            n + 2
        )
    }
}

impl Compiled {
    /// Which of `n` given ids the filter selects: binds `n` more
    /// placeholders after [`Compiled::binds`]. The trigger path asks this
    /// of the few records a change touched.
    pub fn ids_in_sql(&self, n: usize) -> String {
        let first = self.binds.len() + 1;
        let a = self.alias;
        let list = (first..first + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {a}.id FROM {} WHERE {} AND {a}.id IN ({list})",
            self.from, self.condition
        )
    }
}

/// Why a filter could not be compiled. Validation rejects these first; the
/// compiler checks again rather than write wrong SQL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot compile filter: {0}")]
pub struct CompileError(pub String);

/// Segments nested deeper than this are false, as in the evaluator.
const MAX_SEGMENT_DEPTH: usize = 16;

/// Compiles `filter`, a filter over records of kind `target`.
pub fn compile(
    cx: &Context<'_>,
    target: &EntityKind,
    filter: &Filter,
) -> Result<Compiled, CompileError> {
    let mut c = Compiler {
        cx,
        binds: Vec::new(),
        aliases: 0,
    };
    let ws = c.bind(Bind::Int(cx.workspace.get()));
    let (from, alias, mut condition, subject) = match target {
        EntityKind::Contact => (
            "contacts c".to_string(),
            "c",
            format!("c.workspace_id = {ws}"),
            Subject::Contact,
        ),
        kind => {
            let mut cond = format!("r.workspace_id = {ws}");
            if let EntityKind::Custom(name) = kind {
                let t = c.bind(Bind::Text(name.clone()));
                cond.push_str(&format!(" AND r.entity_type = {t}"));
            }
            let from = format!(
                "{} r LEFT JOIN contacts c ON c.id = r.contact_id",
                kind.table()
            );
            (from, "r", cond, Subject::Record(kind.clone()))
        }
    };
    let scope = Scope::Top(&subject);
    // An audience of contacts that is only tags and lists, or only one
    // aggregate that a contact without rows fails, is the set they hold:
    // counted without reading the contacts.
    let (members, body) = match (&subject, filter.expr()) {
        (Subject::Contact, e) if is_membership(e) => {
            let items = match e {
                Expr::Or(items) => items.as_slice(),
                one => std::slice::from_ref(one),
            };
            match c.union_of(items) {
                Some(sql) => {
                    let body = format!("(c.id IS NOT NULL AND c.id IN ({sql}))");
                    (
                        Some(MemberSet {
                            sql,
                            repeats: false,
                        }),
                        body,
                    )
                }
                None => (None, FALSE.into()),
            }
        }
        (Subject::Contact, Expr::Aggregate(a)) => match c.aggregate_test(a)? {
            // Not when the rows' filter reads the contact (a date's
            // anniversary is in the contact's zone).
            AggTest::In(set) if !reads_contact(&set.sql) => {
                let body = c.members(set.sql.clone());
                (Some(set), body)
            }
            other => (None, c.agg_condition(other)),
        },
        _ => (None, c.expr(filter.expr(), scope, 0)?),
    };
    condition.push_str(&format!(" AND {body}"));
    Ok(Compiled {
        from,
        alias,
        condition,
        binds: c.binds,
        members,
    })
}

/// A tag, a list, or several of them or'ed: a set of contacts.
fn is_membership(e: &Expr) -> bool {
    match e {
        Expr::HasTag(_) | Expr::InList(_) => true,
        Expr::Or(items) => {
            items.len() > 1
                && items
                    .iter()
                    .all(|i| matches!(i, Expr::HasTag(_) | Expr::InList(_)))
        }
        _ => false,
    }
}

/// What the filter's top level is about.
enum Subject {
    Contact,
    /// A record of this kind, alias `r`, its contact `c` (maybe NULL).
    Record(EntityKind),
}

/// Where field names point, as `eval::Scope`.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Top(&'s Subject),
    /// Inside `count(order where ...)`: the record under `alias`.
    Record(&'s EntityKind, &'s str),
    /// Inside `count(event "x" where ...)`: the event under `alias`.
    Event(&'s str),
}

/// The left side of a comparison.
enum Operand {
    /// Always unset (a path that means nothing here).
    Null,
    /// A typed SQL expression that is NULL when unset.
    Typed {
        read: Read,
        ty: FieldType,
        not_null: bool,
    },
    /// An event property: untyped JSON in `doc` under `key`.
    Property { doc: String, key: String },
}

/// How a typed value is read.
enum Read {
    /// A column, `c.email`.
    Column(String),
    /// A key of a JSON object column, `c.attrs` / `attr.tier`.
    Json { doc: String, key: String },
}

struct Compiler<'a> {
    cx: &'a Context<'a>,
    binds: Vec<Bind>,
    aliases: usize,
}

const TRUE: &str = "TRUE";
const FALSE: &str = "FALSE";

fn never_null(cond: String) -> String {
    format!("COALESCE({cond}, FALSE)")
}

fn not(cond: String) -> String {
    format!("(NOT {cond})")
}

impl Compiler<'_> {
    fn pg(&self) -> bool {
        self.cx.backend == Backend::Postgres
    }

    /// Adds a bound value and returns its placeholder.
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    fn schema(&self, name: &str) -> Schema {
        self.cx
            .types
            .iter()
            .find(|t| t.kind.name() == name)
            .map(|t| t.schema.clone())
            .unwrap_or_default()
    }

    fn expr(&mut self, e: &Expr, scope: Scope<'_>, depth: usize) -> Result<String, CompileError> {
        Ok(match e {
            Expr::And(items) | Expr::Or(items) if items.is_empty() => {
                if matches!(e, Expr::And(_)) {
                    TRUE.into()
                } else {
                    FALSE.into()
                }
            }
            Expr::And(items) => self.join(items, " AND ", scope, depth)?,
            // Tags and lists or'ed together are one set of contacts: a
            // union read once, instead of each tested per contact.
            Expr::Or(items) if is_membership(e) => match self.union_of(items) {
                Some(set) => format!("(c.id IS NOT NULL AND c.id IN ({set}))"),
                None => FALSE.into(),
            },
            Expr::Or(items) => self.join(items, " OR ", scope, depth)?,
            // PostgreSQL makes `NOT EXISTS` an anti-join, where `NOT IN`
            // stays a hashed test of every contact (twice the time).
            Expr::Not(inner) if self.pg() && is_membership(inner) => {
                let items = match inner.as_ref() {
                    Expr::Or(items) => items.as_slice(),
                    one => std::slice::from_ref(one),
                };
                match self.union_of(items) {
                    Some(set) => not(self.members(set)),
                    None => TRUE.into(),
                }
            }
            Expr::Not(inner) => not(self.expr(inner, scope, depth)?),
            Expr::Compare(c) => {
                let operand = self.operand(&c.field, scope);
                self.compare(operand, &c.op)?
            }
            // `IN` rather than a correlated `EXISTS`: both backends then
            // read the set's members once (a hash or an ephemeral index).
            Expr::HasTag(_) | Expr::InList(_) => match self.member_set(e) {
                Some(set) => format!("(c.id IS NOT NULL AND c.id IN ({set}))"),
                None => FALSE.into(),
            },
            Expr::InSegment(s) => {
                let filter = self.cx.segments.segment_filter(&s.value);
                match filter {
                    Some(f) if depth < MAX_SEGMENT_DEPTH => {
                        // A segment is a filter over the contact: the subject
                        // itself, or a record's linked contact (none: false).
                        let inner =
                            self.expr(f.expr(), Scope::Top(&Subject::Contact), depth + 1)?;
                        format!("(c.id IS NOT NULL AND {inner})")
                    }
                    _ => FALSE.into(),
                }
            }
            Expr::Exists(r) => {
                let (from, _, cond) = self.related(r)?;
                format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})")
            }
            Expr::Aggregate(a) => {
                let test = self.aggregate_test(a)?;
                self.agg_condition(test)
            }
        })
    }

    /// The contacts of any of `items` (tags and lists), one `SELECT
    /// contact_id` without repeats; None when none can hold anyone.
    fn union_of(&mut self, items: &[Expr]) -> Option<String> {
        let sets: Vec<String> = items.iter().filter_map(|i| self.member_set(i)).collect();
        (!sets.is_empty()).then(|| sets.join(" UNION "))
    }

    /// The contacts a tag or a list holds (subscribed members), as a
    /// `SELECT contact_id`; None for a tag that cannot exist.
    fn member_set(&mut self, e: &Expr) -> Option<String> {
        match e {
            Expr::HasTag(t) => {
                let tag = normalise_tag(&t.value).ok()?;
                let ws = self.bind(Bind::Int(self.cx.workspace.get()));
                let tag = self.bind(Bind::Text(tag));
                Some(format!(
                    "SELECT contact_id FROM contact_tags WHERE workspace_id = {ws} AND tag = {tag}"
                ))
            }
            Expr::InList(l) => {
                let ws = self.bind(Bind::Int(self.cx.workspace.get()));
                let slug = self.bind(Bind::Text(l.value.clone()));
                // The list's id first, so the members are read by the
                // (list_id, status, contact_id) index, once.
                Some(format!(
                    "SELECT contact_id FROM list_members WHERE list_id = \
                     (SELECT id FROM lists WHERE workspace_id = {ws} AND slug = {slug}) \
                     AND status = 'subscribed'"
                ))
            }
            _ => None,
        }
    }

    fn join(
        &mut self,
        items: &[Expr],
        sep: &str,
        scope: Scope<'_>,
        depth: usize,
    ) -> Result<String, CompileError> {
        let parts = items
            .iter()
            .map(|i| self.expr(i, scope, depth))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({})", parts.join(sep)))
    }

    // ---- operands ----

    fn operand(&mut self, path: &Path, scope: Scope<'_>) -> Operand {
        match (scope, path) {
            (Scope::Top(Subject::Contact), Path::Field(n)) => self.contact_field("c", n),
            (Scope::Top(Subject::Contact), Path::Attr(k)) => self.contact_attr("c", k),
            (Scope::Top(Subject::Record(kind)), Path::Field(n)) => self.record_field(kind, "r", n),
            // Through the LEFT JOIN: a record without a contact reads NULL.
            (Scope::Top(Subject::Record(_)), Path::ContactField(n)) => {
                match self.contact_field("c", n) {
                    Operand::Typed { read, ty, .. } => Operand::Typed {
                        read,
                        ty,
                        not_null: false,
                    },
                    other => other,
                }
            }
            (Scope::Top(Subject::Record(_)), Path::ContactAttr(k)) => self.contact_attr("c", k),
            (Scope::Record(kind, alias), Path::Field(n)) => self.record_field(kind, alias, n),
            (Scope::Event(alias), Path::EventAt) => Operand::Typed {
                read: Read::Column(format!("{alias}.at")),
                ty: FieldType::Datetime,
                not_null: true,
            },
            (Scope::Event(alias), Path::EventProperty(k)) => Operand::Property {
                doc: format!("{alias}.properties"),
                key: k.clone(),
            },
            _ => Operand::Null,
        }
    }

    fn contact_field(&self, alias: &str, name: &str) -> Operand {
        match CONTACT_COLUMNS.iter().find(|c| c.name == name) {
            Some(col) => Operand::Typed {
                read: Read::Column(format!("{alias}.{}", col.name)),
                ty: column_type(col.ty, None),
                not_null: matches!(
                    col.name,
                    "id" | "timezone" | "score" | "created_at" | "updated_at"
                ),
            },
            None => Operand::Null,
        }
    }

    fn contact_attr(&self, alias: &str, key: &str) -> Operand {
        match self.schema("contact").get(key) {
            Some(def) => Operand::Typed {
                read: Read::Json {
                    doc: format!("{alias}.attrs"),
                    key: key.to_string(),
                },
                ty: def.kind.clone(),
                not_null: false,
            },
            None => Operand::Null,
        }
    }

    fn record_field(&self, kind: &EntityKind, alias: &str, name: &str) -> Operand {
        if let Some(col) = kind.columns().iter().find(|c| c.name == name) {
            return Operand::Typed {
                read: Read::Column(format!("{alias}.{}", col.name)),
                ty: column_type(col.ty, col.values),
                not_null: matches!(col.name, "id" | "created_at" | "updated_at"),
            };
        }
        match self.schema(kind.name()).get(name) {
            Some(def) => Operand::Typed {
                read: Read::Json {
                    doc: format!("{alias}.data"),
                    key: name.to_string(),
                },
                ty: def.kind.clone(),
                not_null: false,
            },
            None => Operand::Null,
        }
    }

    /// A JSON path for SQLite's `json_*` functions: `$."key"`, the key
    /// written as a JSON string so any key is addressed exactly.
    fn sqlite_path(&mut self, key: &str) -> String {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| "\"\"".into());
        self.bind(Bind::Text(format!("$.{quoted}")))
    }

    /// The JSON type name of `doc[key]`: SQLite's `json_type` names
    /// ('text', 'integer', 'real', 'true', 'false', 'null', 'array',
    /// 'object') or PostgreSQL's `jsonb_typeof` ('string', 'number',
    /// 'boolean', 'null', 'array', 'object'); NULL when absent.
    fn json_type(&mut self, doc: &str, key: &str) -> String {
        if self.pg() {
            let k = self.bind(Bind::Text(key.to_string()));
            format!("jsonb_typeof({doc} -> {k})")
        } else {
            let p = self.sqlite_path(key);
            format!("json_type({doc}, {p})")
        }
    }

    /// `doc[key]` as text (strings), number or boolean, without type check.
    fn json_text(&mut self, doc: &str, key: &str) -> String {
        if self.pg() {
            let k = self.bind(Bind::Text(key.to_string()));
            format!("({doc} ->> {k})")
        } else {
            let p = self.sqlite_path(key);
            format!("json_extract({doc}, {p})")
        }
    }

    /// A test that the JSON type name `ty` holds a value of kind `kind`.
    fn json_type_is(&self, ty: &str, kind: JsonKind) -> String {
        match (self.pg(), kind) {
            (true, JsonKind::String) => format!("{ty} = 'string'"),
            (true, JsonKind::Number) => format!("{ty} = 'number'"),
            (true, JsonKind::Bool) => format!("{ty} = 'boolean'"),
            (false, JsonKind::String) => format!("{ty} = 'text'"),
            (false, JsonKind::Number) => format!("{ty} IN ('integer', 'real')"),
            (false, JsonKind::Bool) => format!("{ty} IN ('true', 'false')"),
        }
    }

    /// `doc[key]` read as a value of kind `kind`, NULL if it holds anything
    /// else.
    fn json_as(&mut self, doc: &str, key: &str, kind: JsonKind) -> String {
        let ty = self.json_type(doc, key);
        let fits = self.json_type_is(&ty, kind);
        let raw = self.json_text(doc, key);
        let value = match (self.pg(), kind) {
            (true, JsonKind::Number) => format!("CAST({raw} AS DOUBLE PRECISION)"),
            (true, JsonKind::Bool) => format!("CAST({raw} AS BOOLEAN)"),
            // json_extract gives 1 and 0 for true and false: the way SQLite
            // stores the booleans it is compared with.
            _ => raw,
        };
        format!("(CASE WHEN {fits} THEN {value} END)")
    }

    /// `contains` or `starts_with` (`op`) of the folded `x` in the text
    /// `v`, never NULL, and the placeholder of the folded `x`.
    fn folded_match(&mut self, v: &str, x: &str, op: &Op) -> (String, String) {
        let p = self.bind(Bind::Text(fold(x)));
        let pos = if self.pg() { "strpos" } else { "instr" };
        // `contains ""` is true for any set text: both give 1.
        let test = if matches!(op, Op::Contains(_)) {
            "> 0"
        } else {
            "= 1"
        };
        (never_null(format!("{pos}(swell_fold({v}), {p}) {test}")), p)
    }

    /// `contains` or `starts_with` (`op`) of the folded `x` in the
    /// contact's name, read from the start of its search text (the folded
    /// name, then [`SEARCH_NAME_END`]): the first place the text holds `x`
    /// must end before the name does. Nothing is folded per contact.
    fn name_match(&mut self, x: &str, op: &Op) -> String {
        let x = fold(x);
        let n = self.bind(Bind::Int(x.chars().count() as i64));
        let p = self.bind(Bind::Text(x));
        let end = self.bind(Bind::Text(SEARCH_NAME_END.to_string()));
        let pos = if self.pg() { "strpos" } else { "instr" };
        let at = format!("{pos}(c.search, {p})");
        let name_end = format!("{pos}(c.search, {end})");
        // Never NULL without a COALESCE around it: the search text is
        // never NULL, and a record without a contact fails the first test.
        // Bare, the tests are separate terms that SQLite stops at the first
        // one failing (inside a function it would evaluate them all), and
        // the plain substring test is all most contacts cost.
        let test = if matches!(op, Op::Contains(_)) {
            format!("{at} > 0 AND {at} + {n} <= {name_end}")
        } else {
            format!("{at} = 1 AND {n} < {name_end}")
        };
        format!("(c.name IS NOT NULL AND {test})")
    }

    /// [`Compiler::folded_match`] of a JSON string `doc[key]`. The type is
    /// checked once, outside the folding: inlined on PostgreSQL,
    /// `swell_fold` reads its argument up to four times.
    fn json_string_match(&mut self, doc: &str, key: &str, x: &str, op: &Op) -> String {
        let ty = self.json_type(doc, key);
        let fits = self.json_type_is(&ty, JsonKind::String);
        let v = self.json_text(doc, key);
        let (cond, _) = self.folded_match(&v, x, op);
        format!("(CASE WHEN {fits} THEN {cond} ELSE FALSE END)")
    }

    /// The SQL expression of a typed read for an equality with `values`.
    /// A text read from JSON skips the check that it holds a string when
    /// no other JSON value reads as one of the values (a number reads as
    /// `5`, a flag as `true`, an array as `[...]`): the check is a second
    /// lookup in the document for every row.
    fn read_for_equality(&mut self, r: &Read, ty: &FieldType, values: &[Bind]) -> String {
        let textual = matches!(
            ty,
            FieldType::Text | FieldType::Enum { .. } | FieldType::Date
        );
        match r {
            Read::Json { doc, key }
                if textual
                    && values
                        .iter()
                        .all(|v| matches!(v, Bind::Text(s) if !reads_as_other_json(s))) =>
            {
                self.json_text(doc, key)
            }
            _ => self.read(r, ty),
        }
    }

    /// The SQL expression of a typed read (NULL when unset).
    fn read(&mut self, r: &Read, ty: &FieldType) -> String {
        match r {
            Read::Column(c) => c.clone(),
            Read::Json { doc, key } => {
                let kind = match ty {
                    FieldType::Number => JsonKind::Number,
                    FieldType::Bool => JsonKind::Bool,
                    _ => JsonKind::String,
                };
                self.json_as(doc, key, kind)
            }
        }
    }

    /// Text compared by bytes: on PostgreSQL, `COLLATE "C"` on whatever
    /// is read as text (text, dates, and JSON datetimes).
    fn bytewise(&self, sql: String, ty: &FieldType, read: &Read) -> String {
        let text = match ty {
            FieldType::Text | FieldType::Enum { .. } | FieldType::Date => true,
            FieldType::Datetime => matches!(read, Read::Json { .. }),
            FieldType::Number | FieldType::Bool | FieldType::List => false,
        };
        if self.pg() && text {
            format!("({sql} COLLATE \"C\")")
        } else {
            sql
        }
    }

    /// The value a literal means against a field of type `ty`, stored as
    /// the field is: `None` when the two never compare.
    fn literal(&self, ty: &FieldType, read: &Read, lit: &Literal) -> Option<Bind> {
        let now = self.cx.now;
        match (ty, lit) {
            (FieldType::Text | FieldType::Enum { .. }, Literal::Text(s)) => {
                Some(Bind::Text(s.clone()))
            }
            (FieldType::Number, Literal::Number(n)) => Some(Bind::Float(*n)),
            (FieldType::Bool, Literal::Bool(b)) => Some(Bind::Bool(*b)),
            (FieldType::Date, l) => l.as_date(now).map(|d| Bind::Text(date_text(d))),
            (FieldType::Datetime, l) => {
                let ms = l.as_millis(now)?;
                Some(match read {
                    Read::Column(_) => Bind::Int(ms),
                    // JSON datetimes are RFC 3339 UTC text with milliseconds,
                    // which sorts like the instant.
                    Read::Json { .. } => Bind::Text(format_millis(ms)),
                })
            }
            _ => None,
        }
    }

    // ---- comparisons ----

    fn compare(&mut self, operand: Operand, op: &Op) -> Result<String, CompileError> {
        match operand {
            Operand::Null => Ok(match op {
                Op::Cmp(CmpOp::Ne, _) | Op::NotIn(_) | Op::IsNotSet => TRUE.into(),
                _ => FALSE.into(),
            }),
            Operand::Property { doc, key } => Ok(self.property(&doc, &key, op)),
            Operand::Typed { read, ty, not_null } => self.typed(&read, &ty, not_null, op),
        }
    }

    fn typed(
        &mut self,
        read: &Read,
        ty: &FieldType,
        not_null: bool,
        op: &Op,
    ) -> Result<String, CompileError> {
        if *ty == FieldType::List {
            return self.list(read, op);
        }
        let guard = |cond: String| if not_null { cond } else { never_null(cond) };
        Ok(match op {
            Op::Cmp(CmpOp::Ne, lit) => {
                not(self.typed(read, ty, not_null, &Op::Cmp(CmpOp::Eq, lit.clone()))?)
            }
            Op::Cmp(cmp, lit) => match self.literal(ty, read, lit) {
                Some(b) => {
                    let v = if *cmp == CmpOp::Eq {
                        self.read_for_equality(read, ty, std::slice::from_ref(&b))
                    } else {
                        self.read(read, ty)
                    };
                    let v = self.bytewise(v, ty, read);
                    let p = self.bind(b);
                    guard(format!("{v} {} {p}", sql_op(*cmp)))
                }
                None => FALSE.into(),
            },
            Op::In(lits) => {
                let values: Vec<Bind> = lits
                    .iter()
                    .filter_map(|l| self.literal(ty, read, l))
                    .collect();
                if values.is_empty() {
                    return Ok(FALSE.into());
                }
                let v = self.read_for_equality(read, ty, &values);
                let v = self.bytewise(v, ty, read);
                let ps: Vec<String> = values.into_iter().map(|b| self.bind(b)).collect();
                guard(format!("{v} IN ({})", ps.join(", ")))
            }
            Op::NotIn(lits) => not(self.typed(read, ty, not_null, &Op::In(lits.clone()))?),
            Op::Contains(x) | Op::StartsWith(x) => match (ty, read) {
                (FieldType::Text | FieldType::Enum { .. }, Read::Json { doc, key }) => {
                    self.json_string_match(doc, key, x, op)
                }
                (FieldType::Text | FieldType::Enum { .. }, Read::Column(col))
                    if col == "c.name" =>
                {
                    self.name_match(x, op)
                }
                (FieldType::Text | FieldType::Enum { .. }, Read::Column(col)) => {
                    self.folded_match(col, x, op).0
                }
                _ => FALSE.into(),
            },
            Op::IsSet => {
                if not_null {
                    TRUE.into()
                } else {
                    let v = self.read(read, ty);
                    format!("({v} IS NOT NULL)")
                }
            }
            Op::IsNotSet => not(self.typed(read, ty, not_null, &Op::IsSet)?),
            Op::Anniversary(w) => match ty {
                FieldType::Date => {
                    let v = self.read(read, ty);
                    never_null(self.anniversary(&v, *w))
                }
                _ => FALSE.into(),
            },
        })
    }

    /// List attributes: JSON arrays of strings (other elements are ignored,
    /// as the evaluator reads them).
    fn list(&mut self, read: &Read, op: &Op) -> Result<String, CompileError> {
        let Read::Json { doc, key } = read else {
            return Err(CompileError("a list field must be stored as JSON".into()));
        };
        let (doc, key) = (doc.clone(), key.clone());
        let texts = |lits: &[Literal]| -> Vec<String> {
            lits.iter()
                .filter_map(|l| {
                    if let Literal::Text(t) = l {
                        Some(t.clone())
                    } else {
                        None
                    }
                })
                .collect()
        };
        let wanted = match op {
            Op::In(lits) => Some(texts(lits)),
            Op::NotIn(lits) => return Ok(not(self.list(read, &Op::In(lits.clone()))?)),
            Op::Contains(x) => Some(vec![x.clone()]),
            Op::IsSet => None,
            Op::IsNotSet => return Ok(not(self.list(read, &Op::IsSet)?)),
            // `=`, `<`, starts_with and anniversaries do not apply to lists.
            Op::Cmp(CmpOp::Ne, _) => return Ok(TRUE.into()),
            Op::Cmp(..) | Op::StartsWith(_) | Op::Anniversary(_) => return Ok(FALSE.into()),
        };
        if wanted.as_ref().is_some_and(Vec::is_empty) {
            return Ok(FALSE.into());
        }
        let ty = self.json_type(&doc, &key);
        let j = self.alias("j");
        let (source, elem_is_text, elem) = if self.pg() {
            let k = self.bind(Bind::Text(key.clone()));
            (
                format!(
                    "jsonb_array_elements(CASE WHEN {ty} = 'array' THEN {doc} -> {k} END) AS {j}(v)"
                ),
                format!("jsonb_typeof({j}.v) = 'string'"),
                format!("({j}.v #>> '{{}}')"),
            )
        } else {
            let p = self.sqlite_path(&key);
            // json_each over a scalar yields that scalar: only arrays count.
            (
                format!("json_each(CASE WHEN {ty} = 'array' THEN {doc} END, {p}) AS {j}"),
                format!("{j}.type = 'text'"),
                format!("{j}.value"),
            )
        };
        let mut cond = format!("EXISTS (SELECT 1 FROM {source} WHERE {elem_is_text}");
        if let Some(values) = wanted {
            let ps: Vec<String> = values
                .into_iter()
                .map(|v| self.bind(Bind::Text(v)))
                .collect();
            cond.push_str(&format!(" AND {elem} IN ({})", ps.join(", ")));
        }
        cond.push(')');
        Ok(cond)
    }

    /// An event property against a literal: the property's JSON type must
    /// match the literal's kind; arrays and objects equal nothing.
    fn property(&mut self, doc: &str, key: &str, op: &Op) -> String {
        match op {
            Op::Cmp(CmpOp::Ne, lit) => {
                not(self.property(doc, key, &Op::Cmp(CmpOp::Eq, lit.clone())))
            }
            Op::Cmp(cmp, lit) => {
                let (kind, b) = match lit {
                    Literal::Text(s) => (JsonKind::String, Bind::Text(s.clone())),
                    Literal::Number(n) => (JsonKind::Number, Bind::Float(*n)),
                    Literal::Bool(b) => (JsonKind::Bool, Bind::Bool(*b)),
                    _ => return FALSE.into(),
                };
                let v = self.json_as(doc, key, kind);
                let v = if kind == JsonKind::String {
                    self.bytewise(v, &FieldType::Text, &Read::Column(String::new()))
                } else {
                    v
                };
                let p = self.bind(b);
                never_null(format!("{v} {} {p}", sql_op(*cmp)))
            }
            Op::In(lits) => {
                let parts: Vec<String> = lits
                    .iter()
                    .map(|l| self.property(doc, key, &Op::Cmp(CmpOp::Eq, l.clone())))
                    .collect();
                if parts.is_empty() {
                    FALSE.into()
                } else {
                    format!("({})", parts.join(" OR "))
                }
            }
            Op::NotIn(lits) => not(self.property(doc, key, &Op::In(lits.clone()))),
            Op::Contains(x) | Op::StartsWith(x) => self.json_string_match(doc, key, x, op),
            // Any present, non-null property is set, arrays and objects too.
            Op::IsSet => {
                let ty = self.json_type(doc, key);
                never_null(format!("{ty} <> 'null'"))
            }
            Op::IsNotSet => not(self.property(doc, key, &Op::IsSet)),
            Op::Anniversary(_) => FALSE.into(),
        }
    }

    /// `date` (a 'YYYY-MM-DD' expression) has its anniversary in the window,
    /// "today" being the date in the contact's zone (`c.timezone`).
    fn anniversary(&mut self, date: &str, w: Window) -> String {
        let now = self.cx.now;
        let default_day = today_in_zone(now, None);
        // Zones whose date today is not the default zone's, by that date.
        let mut other: BTreeMap<Date, Vec<String>> = BTreeMap::new();
        for z in self.cx.zones {
            let day = today_in_zone(now, Some(z));
            if day != default_day {
                other.entry(day).or_default().push(z.clone());
            }
        }
        if other.is_empty() {
            return self.month_day_test(date, default_day, w);
        }
        let mut sql = String::from("(CASE");
        for (day, zones) in other {
            let ps: Vec<String> = zones
                .into_iter()
                .map(|z| self.bind(Bind::Text(z)))
                .collect();
            let test = self.month_day_test(date, day, w);
            sql.push_str(&format!(
                " WHEN c.timezone IN ({}) THEN {test}",
                ps.join(", ")
            ));
        }
        let test = self.month_day_test(date, default_day, w);
        sql.push_str(&format!(" ELSE {test} END)"));
        sql
    }

    fn month_day_test(&mut self, date: &str, today: Date, w: Window) -> String {
        if w == Window::ThisMonth {
            let p = self.bind(Bind::Text(format!("{:02}", today.month())));
            return format!("substr({date}, 6, 2) = {p}");
        }
        let days = anniversary_month_days(today, w);
        let ps: Vec<String> = days
            .into_iter()
            .map(|(m, d)| self.bind(Bind::Text(format!("{m:02}-{d:02}"))))
            .collect();
        format!("substr({date}, 6, 5) IN ({})", ps.join(", "))
    }

    // ---- related records and events ----

    /// `FROM` and `WHERE` of the rows an aggregate runs over, correlated
    /// with the contact `c` (none: no rows).
    fn related(&mut self, r: &Related) -> Result<(String, String, String), CompileError> {
        let (from, x, rest) = self.related_rows(r)?;
        Ok((from, x.clone(), format!("{x}.contact_id = c.id{rest}")))
    }

    /// `FROM`, alias and the conditions (each led by ` AND `) of the rows an
    /// aggregate runs over, for any contact: [`Compiler::related`] without
    /// the correlation.
    fn related_rows(&mut self, r: &Related) -> Result<(String, String, String), CompileError> {
        match &r.source {
            Source::Events(name) => {
                let e = self.alias("e");
                let n = self.bind(Bind::Text(name.clone()));
                let mut cond = format!(" AND {e}.name = {n}");
                if let Some(w) = &r.filter {
                    let inner = self.expr(w, Scope::Event(&e), 0)?;
                    cond.push_str(&format!(" AND {inner}"));
                }
                Ok((format!("events {e}"), e, cond))
            }
            Source::Records(entity) => {
                let kind = match Builtin::from_name(entity) {
                    Some(b) => EntityKind::Builtin(b),
                    None => EntityKind::Custom(entity.clone()),
                };
                let x = self.alias("x");
                let mut cond = String::new();
                if let EntityKind::Custom(name) = &kind {
                    let t = self.bind(Bind::Text(name.clone()));
                    cond.push_str(&format!(" AND {x}.entity_type = {t}"));
                }
                if let Some(w) = &r.filter {
                    let inner = self.expr(w, Scope::Record(&kind, &x), 0)?;
                    cond.push_str(&format!(" AND {inner}"));
                }
                Ok((format!("{} {x}", kind.table()), x, cond))
            }
        }
    }

    /// `rest` (the conditions of related rows under `x`) scoped to the
    /// workspace, for a set read apart from the contacts.
    fn in_workspace(&mut self, x: &str, rest: String) -> String {
        let ws = self.bind(Bind::Int(self.cx.workspace.get()));
        format!(" AND {x}.workspace_id = {ws}{rest}")
    }

    /// The condition an aggregate's test puts on the contact `c`.
    fn agg_condition(&mut self, test: AggTest) -> String {
        match test {
            AggTest::In(set) => self.members(set.sql),
            AggTest::NotIn(set) => not(self.members(set.sql)),
            AggTest::Cond(cond) => cond,
        }
    }

    fn aggregate_test(&mut self, a: &Aggregate) -> Result<AggTest, CompileError> {
        let constant = |a: &Aggregate| {
            AggTest::Cond(if a.op == CmpOp::Ne {
                TRUE.into()
            } else {
                FALSE.into()
            })
        };
        let field = match (&a.measure, &a.of.source) {
            (Measure::Count, _) => None,
            (m, Source::Records(entity)) => {
                Some((m.field().unwrap_or_default().to_string(), entity.clone()))
            }
            // Only count applies to events: the evaluator's value is unset.
            (_, Source::Events(_)) => return Ok(constant(a)),
        };
        let Some((field, entity)) = field else {
            let (from, x, rest) = self.related_rows(&a.of)?;
            let rest = self.in_workspace(&x, rest);
            let Literal::Number(n) = a.value else {
                return Ok(constant(a));
            };
            // At least one row (`>= 1`, `> 0`): the contacts that have
            // any, with nothing to count.
            let any = match a.op {
                CmpOp::Ge => n > 0.0 && n <= 1.0,
                CmpOp::Gt => (0.0..1.0).contains(&n),
                _ => false,
            };
            if any {
                return Ok(AggTest::In(MemberSet {
                    sql: format!(
                        "SELECT {x}.contact_id FROM {from} WHERE {x}.contact_id IS NOT NULL{rest}"
                    ),
                    repeats: true,
                }));
            }
            let p = self.bind(Bind::Float(n));
            let test = format!("COUNT(*) {} {p}", sql_op(a.op));
            return Ok(self.grouped(&from, &x, &rest, test, holds(a.op, 0.0, n)));
        };
        if a.op == CmpOp::Ne {
            let eq = Aggregate {
                op: CmpOp::Eq,
                ..a.clone()
            };
            return Ok(match self.aggregate_test(&eq)? {
                AggTest::In(set) => AggTest::NotIn(set),
                AggTest::NotIn(set) => AggTest::In(set),
                AggTest::Cond(cond) => AggTest::Cond(not(cond)),
            });
        }
        let (from, alias, rest) = self.related_rows(&a.of)?;
        let kind = match Builtin::from_name(&entity) {
            Some(b) => EntityKind::Builtin(b),
            None => EntityKind::Custom(entity.clone()),
        };
        let Operand::Typed { read, ty, .. } = self.record_field(&kind, &alias, &field) else {
            // An unknown field is unset everywhere: sum 0, the others unset.
            return Ok(AggTest::Cond(match (&a.measure, &a.value) {
                (Measure::Sum(_), Literal::Number(n)) => {
                    let p = self.bind(Bind::Float(*n));
                    format!("(0 {} {p})", sql_op(a.op))
                }
                _ => FALSE.into(),
            }));
        };
        let Some(value) = self.literal(&ty, &read, &a.value) else {
            return Ok(AggTest::Cond(FALSE.into()));
        };
        let v = self.read(&read, &ty);
        let v = self.bytewise(v, &ty, &read);
        // A contact without rows: sum 0, the others unset (false).
        let zero_ok = match (&a.measure, &value) {
            (Measure::Sum(_), Bind::Float(n)) => Some(holds(a.op, 0.0, *n)),
            (Measure::Sum(_), _) => None,
            _ => Some(false),
        };
        let Some(zero_ok) = zero_ok else {
            // A sum compared with a non-number: kept per contact, as it is
            // rare and 0 against text compares by each backend's rules.
            let cond = format!("{alias}.contact_id = c.id{rest}");
            let agg = format!("COALESCE((SELECT SUM({v}) FROM {from} WHERE {cond}), 0)");
            let agg = self.bytewise(agg, &ty, &read);
            let p = self.bind(value);
            return Ok(AggTest::Cond(never_null(format!(
                "{agg} {} {p}",
                sql_op(a.op)
            ))));
        };
        let agg = match &a.measure {
            Measure::Sum(_) => format!("COALESCE(SUM({v}), 0)"),
            Measure::Avg(_) => format!("AVG({v})"),
            Measure::Min(_) => format!("MIN({v})"),
            Measure::Max(_) => format!("MAX({v})"),
            Measure::Count => unreachable!("count is handled above"),
        };
        let agg = self.bytewise(agg, &ty, &read);
        let p = self.bind(value);
        let test = never_null(format!("{agg} {} {p}", sql_op(a.op)));
        let rest = self.in_workspace(&alias, rest);
        Ok(self.grouped(&from, &alias, &rest, test, zero_ok))
    }

    /// Whether the contact `c` has related rows (`from`, alias `x`, filtered
    /// by `rest`) whose aggregate passes `test`, a condition that is never
    /// NULL; `zero_ok` says whether a contact with no rows passes.
    ///
    /// The rows are grouped by contact once, rather than aggregated per
    /// contact in a correlated subquery: on 1M contacts with 3M orders,
    /// `count(order where total > 1000000 and created_at >= -30d) >= 1`
    /// took ~2.5 s as a correlated `COUNT(*)` on SQLite (one index probe
    /// per contact) and ~0.1 s grouped (one range scan of the recent
    /// orders). SQLite keeps `c.id IN (...)` as an ephemeral index built
    /// once; PostgreSQL turns `EXISTS` over the grouped rows into a hash
    /// semi-join (anti-join under `NOT`), where `NOT IN` would fall back to
    /// a per-row scan of the list once it outgrows `work_mem`. When zero rows
    /// pass, the test is of the contacts that fail it.
    fn grouped(&mut self, from: &str, x: &str, rest: &str, test: String, zero_ok: bool) -> AggTest {
        let test = if zero_ok { not(test) } else { test };
        let set = MemberSet {
            sql: format!(
                "SELECT {x}.contact_id FROM {from} WHERE {x}.contact_id IS NOT NULL{rest} \
                 GROUP BY {x}.contact_id HAVING {test}"
            ),
            repeats: false,
        };
        if zero_ok {
            AggTest::NotIn(set)
        } else {
            AggTest::In(set)
        }
    }

    /// Whether the contact is in `set` (a `SELECT ... contact_id`).
    fn members(&mut self, set: String) -> String {
        if self.pg() {
            let g = self.alias("g");
            format!("EXISTS (SELECT 1 FROM ({set}) {g} WHERE {g}.contact_id = c.id)")
        } else {
            format!("(c.id IS NOT NULL AND c.id IN ({set}))")
        }
    }
}

/// What an aggregate's test asks of the contact `c`.
enum AggTest {
    /// To be in the set.
    In(MemberSet),
    /// Not to be in the set (a contact without rows passes).
    NotIn(MemberSet),
    /// Any other condition.
    Cond(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonKind {
    String,
    Number,
    Bool,
}

fn column_type(ty: ColumnType, values: Option<&'static [&'static str]>) -> FieldType {
    match (ty, values) {
        (_, Some(values)) => FieldType::Enum {
            values: values.iter().map(|s| s.to_string()).collect(),
        },
        (ColumnType::Text, _) => FieldType::Text,
        (ColumnType::Number | ColumnType::Integer, _) => FieldType::Number,
        (ColumnType::Date, _) => FieldType::Date,
        (ColumnType::Timestamp, _) => FieldType::Datetime,
    }
}

/// Whether generated SQL reads the contact `c`. Values are always bound,
/// never written into the SQL, so `c.` can only be the alias.
fn reads_contact(sql: &str) -> bool {
    sql.match_indices("c.").any(|(i, _)| {
        i == 0 || {
            let before = sql.as_bytes()[i - 1];
            !(before.is_ascii_alphanumeric() || before == b'_')
        }
    })
}

/// Whether some JSON value other than a string reads as the text `s`
/// through `->>` or `json_extract`: a number, `true`, `false`, an array or
/// an object (anything that parses as a number counts, to be safe).
fn reads_as_other_json(s: &str) -> bool {
    s == "true" || s == "false" || s.starts_with(['[', '{']) || s.trim().parse::<f64>().is_ok()
}

fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// `lhs op rhs` in Rust, as SQL compares numbers.
fn holds(op: CmpOp, lhs: f64, rhs: f64) -> bool {
    match op {
        CmpOp::Eq => lhs == rhs,
        CmpOp::Ne => lhs != rhs,
        CmpOp::Lt => lhs < rhs,
        CmpOp::Le => lhs <= rhs,
        CmpOp::Gt => lhs > rhs,
        CmpOp::Ge => lhs >= rhs,
    }
}

/// `YYYY-MM-DD`, as dates are stored.
fn date_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Whether the filter (or a segment it names) has an anniversary condition,
/// so the caller knows to read the workspace's zones.
pub fn needs_zones(e: &Expr, segments: &dyn SegmentFilters, depth: usize) -> bool {
    match e {
        Expr::And(items) | Expr::Or(items) => items.iter().any(|i| needs_zones(i, segments, depth)),
        Expr::Not(inner) => needs_zones(inner, segments, depth),
        Expr::Compare(c) => matches!(c.op, Op::Anniversary(_)),
        Expr::InSegment(s) => {
            depth < MAX_SEGMENT_DEPTH
                && segments
                    .segment_filter(&s.value)
                    .is_some_and(|f| needs_zones(f.expr(), segments, depth + 1))
        }
        Expr::Exists(r) => r
            .filter
            .as_deref()
            .is_some_and(|f| needs_zones(f, segments, depth)),
        Expr::Aggregate(a) => {
            a.of.filter
                .as_deref()
                .is_some_and(|f| needs_zones(f, segments, depth))
        }
        Expr::HasTag(_) | Expr::InList(_) => false,
    }
}
