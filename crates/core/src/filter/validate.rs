//! Checking a filter against a workspace: every field exists and the value
//! fits its type, every list and segment exists, no segment includes
//! itself. A filter that passes can be compiled to SQL without surprises.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::ast::*;
use super::eval::SegmentFilters;
use super::{Filter, FilterError};
use crate::contact::normalise_tag;
use crate::entity::{Builtin, CONTACT_COLUMNS, EntityKind, EntityType};
use crate::schema::{FieldType, Schema};

/// What a filter may refer to in one workspace.
///
/// To check a segment that is being saved, put its new filter in `segments`
/// under its slug first: then a loop through it is found.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Entity types with their custom fields. The `contact` type's schema is
    /// the contact attributes. Built-in types left out count as having no
    /// custom fields.
    pub types: Vec<EntityType>,
    /// Slugs of the marketing lists.
    pub lists: BTreeSet<String>,
    /// Segments by slug, with their filters. Segments select contacts.
    pub segments: BTreeMap<String, Filter>,
}

impl Catalog {
    /// The type named `name`: one from `types`, or a built-in one with no
    /// custom fields.
    pub fn entity_type(&self, name: &str) -> Option<Cow<'_, EntityType>> {
        if let Some(t) = self.types.iter().find(|t| t.kind.name() == name) {
            return Some(Cow::Borrowed(t));
        }
        let kind = match name {
            "contact" => EntityKind::Contact,
            other => EntityKind::Builtin(Builtin::from_name(other)?),
        };
        Some(Cow::Owned(EntityType {
            kind,
            label: None,
            schema: Schema::default(),
        }))
    }
}

impl SegmentFilters for Catalog {
    fn segment_filter(&self, slug: &str) -> Option<&Filter> {
        self.segments.get(slug)
    }
}

pub(crate) fn validate(
    e: &Expr,
    catalog: &Catalog,
    target: &EntityKind,
) -> Result<(), FilterError> {
    let no_loc = Loc::None;
    let target_ty = catalog.entity_type(target.name()).ok_or_else(|| {
        FilterError::at_loc(&no_loc, format!("unknown entity type '{}'", target.name()))
    })?;
    let contact_ty = catalog
        .entity_type("contact")
        .unwrap_or_else(|| unreachable!("contact is built in"));
    let v = Validator {
        catalog,
        contact: &contact_ty,
    };
    let scope = if target_ty.kind == EntityKind::Contact {
        Scope::Contact
    } else {
        Scope::Record(&target_ty)
    };
    v.expr(e, scope, false)?;
    check_segment_loops(e, catalog)
}

/// What field names refer to at a point of the filter.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// A filter over contacts.
    Contact,
    /// A filter over another type, or the inside of `count(order ...)`.
    Record(&'a EntityType),
    /// The inside of `count(event "x" ...)`.
    Event,
}

/// A field's type, as far as checking goes: event properties have none.
enum Kind {
    Typed(FieldType),
    Untyped,
}

struct Validator<'a> {
    catalog: &'a Catalog,
    contact: &'a EntityType,
}

fn err(loc: &Loc, message: impl Into<String>) -> FilterError {
    FilterError::at_loc(loc, message)
}

impl Validator<'_> {
    fn expr(&self, e: &Expr, scope: Scope<'_>, in_where: bool) -> Result<(), FilterError> {
        match e {
            Expr::And(items) | Expr::Or(items) => {
                if items.is_empty() {
                    return Err(err(&Loc::None, "an empty 'and' or 'or' group"));
                }
                items.iter().try_for_each(|i| self.expr(i, scope, in_where))
            }
            Expr::Not(inner) => self.expr(inner, scope, in_where),
            Expr::Compare(c) => self.comparison(c, scope, in_where),
            Expr::HasTag(t) => {
                self.contact_level(&t.loc, "has tag", in_where)?;
                normalise_tag(&t.value)
                    .map(|_| ())
                    .map_err(|m| err(&t.loc, m))
            }
            Expr::InList(l) => {
                self.contact_level(&l.loc, "in list", in_where)?;
                if self.catalog.lists.contains(&l.value) {
                    Ok(())
                } else {
                    Err(err(&l.loc, format!("unknown list '{}'", l.value)))
                }
            }
            Expr::InSegment(s) => {
                self.contact_level(&s.loc, "in segment", in_where)?;
                if self.catalog.segments.contains_key(&s.value) {
                    Ok(())
                } else {
                    Err(err(&s.loc, format!("unknown segment '{}'", s.value)))
                }
            }
            Expr::Exists(r) => {
                self.contact_level(&r.loc, "exists(...)", in_where)?;
                self.related(r, None).map(|_| ())
            }
            Expr::Aggregate(a) => {
                let what = format!("{}(...)", a.measure.name());
                self.contact_level(&a.of.loc, &what, in_where)?;
                let ty = self.related(&a.of, Some(&a.measure))?;
                let ty = match &a.measure {
                    Measure::Count => FieldType::Number,
                    _ => ty.unwrap_or(FieldType::Number),
                };
                check_literal(&what, &ty, &a.value, false).map_err(|m| err(&a.value_loc, m))
            }
        }
    }

    /// Tags, lists, segments and aggregates are about the contact: they make
    /// no sense inside another aggregate's `where`.
    fn contact_level(&self, loc: &Loc, what: &str, in_where: bool) -> Result<(), FilterError> {
        if in_where {
            Err(err(
                loc,
                format!("{what} cannot be used inside a 'where' clause"),
            ))
        } else {
            Ok(())
        }
    }

    /// Checks the source and `where` of an aggregate, and the measured field;
    /// returns the measured field's type.
    fn related(
        &self,
        r: &Related,
        measure: Option<&Measure>,
    ) -> Result<Option<FieldType>, FilterError> {
        let field = measure.and_then(Measure::field);
        match &r.source {
            Source::Events(name) => {
                if name.is_empty() {
                    return Err(err(&r.loc, "the event name is empty"));
                }
                if field.is_some() {
                    return Err(err(
                        &r.loc,
                        "only count(...) and exists(...) apply to events",
                    ));
                }
                if let Some(w) = &r.filter {
                    self.expr(w, Scope::Event, true)?;
                }
                Ok(None)
            }
            Source::Records(entity) => {
                let ty = match self.catalog.entity_type(entity) {
                    Some(t) if t.kind != EntityKind::Contact => t,
                    _ => return Err(err(&r.loc, format!("unknown record type '{entity}'"))),
                };
                if let Some(w) = &r.filter {
                    self.expr(w, Scope::Record(&ty), true)?;
                }
                let Some(field) = field else { return Ok(None) };
                let measure = measure.map_or("count", Measure::name);
                let Some(ft) = ty.field_type(field) else {
                    return Err(err(&r.loc, format!("unknown field '{entity}.{field}'")));
                };
                let fits = match measure {
                    "sum" | "avg" => matches!(ft, FieldType::Number),
                    _ => matches!(
                        ft,
                        FieldType::Number | FieldType::Date | FieldType::Datetime
                    ),
                };
                if !fits {
                    let needs = if matches!(measure, "sum" | "avg") {
                        "a number"
                    } else {
                        "a number, date or datetime"
                    };
                    return Err(err(
                        &r.loc,
                        format!(
                            "{measure} needs {needs} field, but '{entity}.{field}' is {}",
                            type_name(&ft)
                        ),
                    ));
                }
                Ok(Some(ft))
            }
        }
    }

    fn field_kind(&self, c: &Comparison, scope: Scope<'_>) -> Result<Kind, FilterError> {
        let unknown =
            |name: String, hint: &str| Err(err(&c.loc, format!("unknown field '{name}'{hint}")));
        let contact_column = |n: &str| CONTACT_COLUMNS.iter().any(|col| col.name == n);
        match (scope, &c.field) {
            (Scope::Contact, Path::Field(n)) => {
                if contact_column(n) {
                    Ok(Kind::Typed(
                        self.contact.field_type(n).unwrap_or(FieldType::Text),
                    ))
                } else if self.contact.schema.get(n).is_some() {
                    unknown(
                        n.clone(),
                        &format!(" (custom attributes are written attr.{n})"),
                    )
                } else {
                    unknown(n.clone(), "")
                }
            }
            (Scope::Contact, Path::Attr(k)) => match self.contact.schema.get(k) {
                Some(def) => Ok(Kind::Typed(def.kind.clone())),
                None => unknown(format!("attr.{k}"), ""),
            },
            (Scope::Contact, p @ (Path::ContactField(_) | Path::ContactAttr(_))) => {
                let bare = p.to_string();
                let bare = bare.trim_start_matches("contact.");
                unknown(
                    p.to_string(),
                    &format!(" (in a filter over contacts, write {bare})"),
                )
            }
            (Scope::Record(ty), Path::Field(n)) => match ty.field_type(n) {
                Some(ft) => Ok(Kind::Typed(ft)),
                None => unknown(
                    n.clone(),
                    &format!(" ({} has no such field)", ty.kind.name()),
                ),
            },
            (Scope::Record(ty), Path::Attr(k)) => unknown(
                format!("attr.{k}"),
                &format!(" (fields of {} are written by name: {k})", ty.kind.name()),
            ),
            (Scope::Record(_), Path::ContactField(n)) if contact_column(n) => Ok(Kind::Typed(
                self.contact.field_type(n).unwrap_or(FieldType::Text),
            )),
            (Scope::Record(_), Path::ContactAttr(k)) => match self.contact.schema.get(k) {
                Some(def) => Ok(Kind::Typed(def.kind.clone())),
                None => unknown(format!("contact.attr.{k}"), ""),
            },
            (Scope::Event, Path::EventAt) => Ok(Kind::Typed(FieldType::Datetime)),
            (Scope::Event, Path::EventProperty(_)) => Ok(Kind::Untyped),
            (_, p) => unknown(p.to_string(), ""),
        }
    }

    fn comparison(
        &self,
        c: &Comparison,
        scope: Scope<'_>,
        in_where: bool,
    ) -> Result<(), FilterError> {
        // `contact.x` is only for the filter's own subject, not inside a
        // related record's `where` (where it would be the same for every
        // record, so it belongs outside).
        if in_where && matches!(c.field, Path::ContactField(_) | Path::ContactAttr(_)) {
            return Err(err(
                &c.loc,
                format!(
                    "'{}' cannot be used inside a 'where' clause; move it outside",
                    c.field
                ),
            ));
        }
        let kind = self.field_kind(c, scope)?;
        let name = c.field.to_string();
        let Kind::Typed(ft) = kind else {
            return check_property_op(&c.op)
                .map_err(|(m, at_value)| err(if at_value { &c.value_loc } else { &c.op_loc }, m));
        };
        let op_err = |m: String| Err(err(&c.op_loc, m));
        let list_hint =
            || format!("'{name}' is a list: use contains, in, not in, is set or is not set");
        match &c.op {
            Op::Cmp(op, lit) => {
                if ft == FieldType::List {
                    return op_err(list_hint());
                }
                if ft == FieldType::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return op_err(format!("'{name}' is true/false: only = and != apply"));
                }
                check_literal(&name, &ft, lit, matches!(op, CmpOp::Eq | CmpOp::Ne))
                    .map_err(|m| err(&c.value_loc, m))
            }
            Op::In(lits) | Op::NotIn(lits) => {
                if lits.is_empty() {
                    return Err(err(&c.value_loc, "the list of values is empty"));
                }
                for lit in lits {
                    let checked = if ft == FieldType::List {
                        match lit {
                            Literal::Text(_) => Ok(()),
                            other => Err(format!(
                                "'{name}' holds text, but {} is {}",
                                other,
                                literal_kind(other)
                            )),
                        }
                    } else {
                        check_literal(&name, &ft, lit, true)
                    };
                    checked.map_err(|m| err(&c.value_loc, m))?;
                }
                Ok(())
            }
            Op::Contains(_) => match ft {
                FieldType::Text | FieldType::Enum { .. } | FieldType::List => Ok(()),
                other => op_err(format!(
                    "contains needs a text or list field, but '{name}' is {}",
                    type_name(&other)
                )),
            },
            Op::StartsWith(_) => match ft {
                FieldType::Text | FieldType::Enum { .. } => Ok(()),
                other => op_err(format!(
                    "starts_with needs a text field, but '{name}' is {}",
                    type_name(&other)
                )),
            },
            Op::IsSet | Op::IsNotSet => Ok(()),
            Op::Anniversary(w) => {
                if ft != FieldType::Date {
                    return op_err(format!(
                        "'{w}' needs a date field, but '{name}' is {}",
                        type_name(&ft)
                    ));
                }
                if *w == Window::NextDays(0) {
                    return op_err("'in next' needs at least one day".into());
                }
                Ok(())
            }
        }
    }
}

/// Event properties are untyped JSON: they compare with text, numbers and
/// true/false, never with dates. The error says whether it lies in the value.
fn check_property_op(op: &Op) -> Result<(), (String, bool)> {
    let scalar = |l: &Literal| match l {
        Literal::Text(_) | Literal::Number(_) | Literal::Bool(_) => Ok(()),
        other => Err((
            format!(
                "event properties compare with text, numbers or true/false, not {}",
                literal_kind(other)
            ),
            true,
        )),
    };
    match op {
        Op::Cmp(_, l) => scalar(l),
        Op::In(ls) | Op::NotIn(ls) if ls.is_empty() => {
            Err(("the list of values is empty".into(), true))
        }
        Op::In(ls) | Op::NotIn(ls) => ls.iter().try_for_each(scalar),
        Op::Contains(_) | Op::StartsWith(_) | Op::IsSet | Op::IsNotSet => Ok(()),
        Op::Anniversary(w) => Err((
            format!("'{w}' needs a date field; event properties have no type"),
            false,
        )),
    }
}

/// Checks that `lit` can be compared with a field of type `ft`.
/// `equality` enables the enum check (an `=` against a value the enum does
/// not have is surely a typo).
fn check_literal(name: &str, ft: &FieldType, lit: &Literal, equality: bool) -> Result<(), String> {
    let ok = match (ft, lit) {
        (FieldType::Text, Literal::Text(_)) => true,
        (FieldType::Enum { values }, Literal::Text(t)) => {
            if equality && !values.contains(t) {
                return Err(format!(
                    "\"{t}\" is not one of the values of '{name}': {}",
                    values.join(", ")
                ));
            }
            true
        }
        (FieldType::Number, Literal::Number(_)) => true,
        (FieldType::Bool, Literal::Bool(_)) => true,
        (
            FieldType::Date,
            Literal::Date(_) | Literal::Now | Literal::Today | Literal::Relative { .. },
        ) => true,
        (
            FieldType::Datetime,
            Literal::DateTime(_)
            | Literal::Date(_)
            | Literal::Now
            | Literal::Today
            | Literal::Relative { .. },
        ) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let hint = match (ft, lit) {
        (FieldType::Date | FieldType::Datetime, Literal::Text(_)) => {
            " (write dates without quotes: 2026-01-31)"
        }
        (FieldType::Date, Literal::DateTime(_)) => {
            " (compare a date with a date such as 2026-01-31)"
        }
        (FieldType::Number, Literal::Text(_)) => " (write numbers without quotes)",
        _ => "",
    };
    Err(format!(
        "'{name}' is {}, but {lit} is {}{hint}",
        type_name(ft),
        literal_kind(lit)
    ))
}

fn type_name(ft: &FieldType) -> &'static str {
    match ft {
        FieldType::Text => "text",
        FieldType::Number => "a number",
        FieldType::Bool => "true/false",
        FieldType::Date => "a date",
        FieldType::Datetime => "a datetime",
        FieldType::Enum { .. } => "a choice",
        FieldType::List => "a list",
    }
}

fn literal_kind(l: &Literal) -> &'static str {
    match l {
        Literal::Text(_) => "text",
        Literal::Number(_) => "a number",
        Literal::Bool(_) => "true/false",
        Literal::Date(_) => "a date",
        Literal::DateTime(_) => "a date-time",
        Literal::Now | Literal::Today | Literal::Relative { .. } => "a relative time",
    }
}

/// Follows `in segment` references from `e` through the catalog's segment
/// filters; a segment met again on the current path is a loop. The error
/// points at the reference in `e` that leads into it.
fn check_segment_loops(e: &Expr, catalog: &Catalog) -> Result<(), FilterError> {
    let mut done = BTreeSet::new();
    for (slug, loc) in segment_refs(e) {
        let mut path = vec![slug.to_string()];
        if let Some(chain) = find_loop(slug, catalog, &mut path, &mut done) {
            return Err(err(
                loc,
                format!("segment '{slug}' includes itself: {}", chain.join(" -> ")),
            ));
        }
    }
    Ok(())
}

fn find_loop(
    slug: &str,
    catalog: &Catalog,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if done.contains(slug) {
        return None;
    }
    let filter = catalog.segments.get(slug)?;
    for (next, _) in segment_refs(filter.expr()) {
        if path.iter().any(|p| p == next) {
            let mut chain = path.clone();
            chain.push(next.to_string());
            return Some(chain);
        }
        path.push(next.to_string());
        let found = find_loop(next, catalog, path, done);
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    done.insert(slug.to_string());
    None
}

fn segment_refs(e: &Expr) -> Vec<(&str, &Loc)> {
    fn walk<'e>(e: &'e Expr, out: &mut Vec<(&'e str, &'e Loc)>) {
        match e {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| walk(i, out)),
            Expr::Not(inner) => walk(inner, out),
            Expr::InSegment(s) => out.push((&s.value, &s.loc)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(e, &mut out);
    out
}
