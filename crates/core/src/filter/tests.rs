use std::collections::BTreeMap;

use jiff::civil::Date;
use proptest::prelude::*;
use serde_json::json;

use super::testing::{self, catalog};
use super::*;
use crate::entity::{Builtin, EntityKind};
use crate::time::{self, Millis};

fn ms(s: &str) -> Millis {
    time::to_millis(time::parse_datetime(s).unwrap())
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// Now: 2026-03-10 09:00 in Hồ Chí Minh City (02:00 UTC).
fn now() -> Millis {
    ms("2026-03-10T02:00:00Z")
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// A contact with a bit of everything.
fn an() -> MemoryContact {
    let mut c = MemoryContact::default();
    c.fields.insert("email".into(), text("an.nguyen@gmail.com"));
    c.fields.insert("name".into(), text("Nguyễn Văn Đức"));
    c.fields.insert("score".into(), Value::Number(42.0));
    c.fields
        .insert("birthday".into(), Value::Date(date("1990-03-10")));
    c.fields.insert("timezone".into(), text("Asia/Ho_Chi_Minh"));
    c.fields
        .insert("created_at".into(), Value::Time(ms("2026-02-20T00:00:00Z")));
    c.attrs.insert("tier".into(), text("gold"));
    c.attrs.insert("city".into(), text("Đà Nẵng"));
    c.attrs.insert("active".into(), Value::Bool(true));
    c.attrs.insert("points".into(), Value::Number(12.5));
    c.attrs
        .insert("since".into(), Value::Date(date("2024-02-29")));
    c.attrs.insert(
        "interests".into(),
        Value::List(vec!["golf".into(), "wine".into()]),
    );
    c.tags = testing::tag_set(&["vip"]);
    c.lists = testing::tag_set(&["newsletter"]);
    let order = |total: f64, status: &str, at: &str| MemoryRecord {
        entity: "order".into(),
        fields: BTreeMap::from([
            ("total".into(), Value::Number(total)),
            ("status".into(), text(status)),
            ("created_at".into(), Value::Time(ms(at))),
        ]),
    };
    c.records = vec![
        order(2_000_000.0, "paid", "2026-03-01T00:00:00Z"),
        order(4_000_000.0, "paid", "2025-12-01T00:00:00Z"),
        order(500_000.0, "pending", "2026-03-09T00:00:00Z"),
    ];
    let event = |name: &str, at: &str, props: serde_json::Value| MemoryEvent {
        name: name.into(),
        at: ms(at),
        properties: props,
    };
    c.events = vec![
        event(
            "page_view",
            "2026-03-09T00:00:00Z",
            json!({"url": "/pricing", "n": 3}),
        ),
        event(
            "page_view",
            "2026-03-08T00:00:00Z",
            json!({"url": "/Pricing/plans"}),
        ),
        event("page_view", "2026-03-07T00:00:00Z", json!({"url": "/home"})),
        event(
            "page_view",
            "2026-01-01T00:00:00Z",
            json!({"url": "/pricing"}),
        ),
        event(
            "email_opened",
            "2026-03-01T00:00:00Z",
            json!({"campaign": "welcome"}),
        ),
    ];
    c
}

/// Parses, validates for contacts, and evaluates on `c` at [`now`].
fn check(filter: &str, c: &MemoryContact) -> bool {
    check_at(filter, c, now())
}

fn check_at(filter: &str, c: &MemoryContact, now: Millis) -> bool {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let cat = catalog();
    f.validate(&cat, &EntityKind::Contact)
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    f.matches(&Subject::Contact(c), &EvalContext::new(now, &cat))
}

fn error(filter: &str) -> String {
    match Filter::parse(filter) {
        Err(e) => e.to_string(),
        Ok(f) => f
            .validate(&catalog(), &EntityKind::Contact)
            .expect_err(filter)
            .to_string(),
    }
}

// ---- forms, parsed and evaluated ----

#[test]
fn contact_fields_compare_by_name() {
    let c = an();
    assert!(check(r#"email = "an.nguyen@gmail.com""#, &c));
    assert!(check(r#"email != "x@y.z""#, &c));
    assert!(check(
        "score > 41 and score >= 42 and score < 43 and score <= 42",
        &c
    ));
    assert!(!check("score > 42", &c));
    assert!(check("score = 42.0", &c));
    assert!(check("score > -5.5", &c));
    assert!(check(r#"timezone = "Asia/Ho_Chi_Minh""#, &c));
}

#[test]
fn text_compares_exactly_but_contains_and_starts_with_fold() {
    let c = an();
    assert!(!check(r#"name = "nguyen van duc""#, &c));
    assert!(check(r#"name contains "van đuc""#, &c));
    assert!(check(r#"name contains "ĐỨC""#, &c));
    assert!(check(r#"name starts_with "nguyen""#, &c));
    assert!(!check(r#"name starts_with "duc""#, &c));
    // Byte order: upper case sorts before lower case.
    assert!(check(r#"name > "N" and name < "n""#, &c));
}

#[test]
fn custom_attributes_are_read_through_attr() {
    let c = an();
    assert!(check(r#"attr.tier = "gold""#, &c));
    assert!(check(r#"attr.tier in ["gold", "silver"]"#, &c));
    assert!(check(r#"attr.tier not in ["silver"]"#, &c));
    assert!(check(r#"attr.city contains "da nang""#, &c));
    assert!(check("attr.active = true and attr.active != false", &c));
    assert!(check("attr.points = 12.5", &c));
    assert!(check("attr.since = 2024-02-29", &c));
}

#[test]
fn list_attributes_match_any_element() {
    let c = an();
    assert!(check(r#"attr.interests in ["golf", "tennis"]"#, &c));
    assert!(!check(r#"attr.interests in ["tennis"]"#, &c));
    assert!(check(r#"attr.interests not in ["tennis"]"#, &c));
    assert!(check(r#"attr.interests contains "wine""#, &c));
    // Elements compare exactly, not folded or by substring.
    assert!(!check(r#"attr.interests contains "Wine""#, &c));
    assert!(!check(r#"attr.interests contains "win""#, &c));
    let mut empty = an();
    empty.attrs.insert("interests".into(), Value::List(vec![]));
    assert!(check("attr.interests is not set", &empty));
}

#[test]
fn unset_fields_fail_every_comparison_but_not_equal_and_not_in() {
    let c = an();
    assert!(check("phone is not set", &c));
    assert!(!check("phone is set", &c));
    assert!(check("email is set", &c));
    assert!(!check(r#"phone = "1""#, &c));
    assert!(check(r#"phone != "1""#, &c));
    assert!(!check(r#"phone < "1""#, &c));
    assert!(!check(r#"phone in ["1"]"#, &c));
    assert!(check(r#"phone not in ["1"]"#, &c));
    assert!(!check(r#"phone contains """#, &c));
    assert!(!check("attr.last_seen >= -30d", &c));
    assert!(check("not attr.last_seen >= -30d", &c));
}

#[test]
fn dates_and_times_compare_with_literals_and_relative_times() {
    let c = an();
    // created_at = 2026-02-20T00:00Z; now = 2026-03-10T02:00Z.
    assert!(check("created_at >= -30d", &c));
    assert!(!check("created_at >= -2w", &c));
    assert!(check(
        "created_at < -12h and created_at < now and created_at < today",
        &c
    ));
    assert!(check(
        "created_at >= 2026-02-20 and created_at < 2026-02-21",
        &c
    ));
    assert!(check("created_at = 2026-02-20T07:00:00+07:00", &c));
    assert!(check("created_at < +7d", &c));
    assert!(check("created_at > -43200m", &c));
    assert!(check("birthday < today and birthday > 1989-12-31", &c));
    assert!(check("attr.since < -100w", &c));
    // On a date field, -30d is the UTC date 30 days ago.
    let mut d = an();
    d.attrs
        .insert("since".into(), Value::Date(date("2026-02-08")));
    assert!(check("attr.since = -30d", &d));
}

#[test]
fn today_on_a_datetime_is_midnight_utc() {
    let mut c = an();
    c.fields
        .insert("created_at".into(), Value::Time(ms("2026-03-10T00:00:00Z")));
    assert!(check("created_at = today", &c));
    assert!(check("created_at = 2026-03-10", &c));
}

#[test]
fn anniversaries_use_the_contacts_own_zone() {
    let mut c = an();
    c.fields
        .insert("birthday".into(), Value::Date(date("1990-03-10")));
    // 2026-03-09T20:00Z is 03-10 in Hồ Chí Minh City but 03-09 in UTC.
    let evening = ms("2026-03-09T20:00:00Z");
    assert!(check_at("birthday is today", &c, evening));
    c.fields.insert("timezone".into(), text("UTC"));
    assert!(!check_at("birthday is today", &c, evening));
    // No zone: Asia/Ho_Chi_Minh.
    c.fields.remove("timezone");
    assert!(check_at("birthday is today", &c, evening));
}

#[test]
fn anniversary_windows() {
    let c = an(); // birthday 1990-03-10, now 2026-03-10 local
    assert!(check("birthday is today", &c));
    assert!(check("birthday in this month", &c));
    assert!(check("birthday in next 1d", &c));
    let mut later = an();
    later
        .fields
        .insert("birthday".into(), Value::Date(date("1990-03-16")));
    assert!(check("birthday in next 7d", &later));
    assert!(check("birthday in next 1w", &later));
    later
        .fields
        .insert("birthday".into(), Value::Date(date("1990-03-17")));
    assert!(
        !check("birthday in next 7d", &later),
        "today+7 is outside the window"
    );
    later
        .fields
        .insert("birthday".into(), Value::Date(date("1990-03-09")));
    assert!(
        !check("birthday in next 7d", &later),
        "yesterday is outside the window"
    );
    // Across the new year.
    let dec30 = ms("2026-12-30T05:00:00Z");
    later
        .fields
        .insert("birthday".into(), Value::Date(date("2001-01-02")));
    assert!(check_at("birthday in next 7d", &later, dec30));
    // Any date field works.
    assert!(check_at(
        "attr.since in this month",
        &an(),
        ms("2026-02-15T00:00:00Z")
    ));
}

#[test]
fn leap_day_birthdays_fall_on_28_february_in_other_years() {
    let mut c = an();
    c.fields
        .insert("birthday".into(), Value::Date(date("2000-02-29")));
    assert!(check_at(
        "birthday is today",
        &c,
        ms("2027-02-28T03:00:00Z")
    ));
    assert!(!check_at(
        "birthday is today",
        &c,
        ms("2028-02-28T03:00:00Z")
    ));
    assert!(check_at(
        "birthday is today",
        &c,
        ms("2028-02-29T03:00:00Z")
    ));
    assert!(!check_at(
        "birthday is today",
        &c,
        ms("2027-03-01T03:00:00Z")
    ));
    assert!(check_at(
        "birthday in next 2d",
        &c,
        ms("2027-02-27T03:00:00Z")
    ));
    assert_eq!(
        anniversary_month_days(date("2027-02-28"), Window::Today),
        vec![(2, 28), (2, 29)]
    );
    assert_eq!(
        anniversary_month_days(date("2028-02-28"), Window::Today),
        vec![(2, 28)]
    );
    assert_eq!(
        anniversary_month_days(date("2027-01-01"), Window::NextDays(400)).len(),
        366
    );
}

#[test]
fn tags_lists_and_segments() {
    let c = an();
    assert!(check(r#"has tag "vip""#, &c));
    assert!(
        check(r#"has tag " VIP ""#, &c),
        "tags are normalised like stored ones"
    );
    assert!(!check(r#"has tag "new""#, &c));
    assert!(check(r#"in list "newsletter""#, &c));
    assert!(!check(r#"in list "promo""#, &c));
    assert!(check(r#"in segment "gold""#, &c));
    assert!(check(r#"in segment "engaged""#, &c));
    let mut silver = an();
    silver.attrs.insert("tier".into(), text("silver"));
    silver.events.clear();
    assert!(!check(r#"in segment "engaged""#, &silver));
}

#[test]
fn related_records_aggregate_over_the_contacts_records() {
    let c = an();
    assert!(check(
        "count(order where total > 1000000 and created_at >= -30d) >= 1",
        &c
    ));
    assert!(check("count(order) = 3", &c));
    assert!(check(
        r#"sum(order.total where status = "paid") > 5000000"#,
        &c
    ));
    assert!(check(
        r#"sum(order.total where status = "paid") = 6000000"#,
        &c
    ));
    assert!(check("exists(order where total < 1000000)", &c));
    assert!(!check("exists(order where total > 9000000)", &c));
    assert!(check(
        "min(order.total) = 500000 and max(order.total) = 4000000",
        &c
    ));
    assert!(check(
        "avg(order.total) > 2166666 and avg(order.total) < 2166667",
        &c
    ));
    assert!(check("max(order.created_at) >= -7d", &c));
}

#[test]
fn aggregates_over_nothing() {
    let mut c = an();
    c.records.clear();
    assert!(check("count(order) = 0", &c));
    assert!(check("sum(order.total) = 0", &c));
    assert!(!check("exists(order)", &c));
    for f in [
        "min(order.total) < 1",
        "max(order.total) >= 0",
        "avg(order.total) = 0",
    ] {
        assert!(!check(f, &c), "{f}");
    }
    assert!(check("avg(order.total) != 0", &c), "!= stays `not =`");
}

#[test]
fn events_by_name_with_properties() {
    let c = an();
    assert!(check(
        r#"count(event "page_view" where url contains "/pricing" and at >= -7d) >= 2"#,
        &c
    ));
    assert!(!check(
        r#"count(event "page_view" where url contains "/pricing" and at >= -7d) >= 3"#,
        &c
    ));
    assert!(check(
        r#"count(event "page_view" where properties.url starts_with "/pricing") = 3"#,
        &c
    ));
    assert!(check(
        r#"exists(event "email_opened" where at >= -14d)"#,
        &c
    ));
    assert!(!check(
        r#"exists(event "email_opened" where at >= -7d)"#,
        &c
    ));
    assert!(check(
        r#"exists(event "email_opened" where campaign = "welcome")"#,
        &c
    ));
    // Properties compare by the literal's kind; a mismatch is false.
    assert!(check(r#"exists(event "page_view" where n = 3)"#, &c));
    assert!(!check(r#"exists(event "page_view" where n = "3")"#, &c));
    assert!(check(r#"count(event "page_view" where n != "3") = 4"#, &c));
    assert!(check(r#"count(event "page_view" where n is set) = 1"#, &c));
}

#[test]
fn filters_over_orders_read_the_linked_contact() {
    let c = an();
    let cat = catalog();
    let order = &c.records[0];
    let run = |text: &str, contact: Option<&MemoryContact>| {
        let f = Filter::parse(text).unwrap();
        f.validate(&cat, &EntityKind::Builtin(Builtin::Order))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let subject = Subject::Record {
            record: order,
            contact: contact.map(|c| c as &dyn ContactView),
        };
        f.matches(&subject, &EvalContext::new(now(), &cat))
    };
    assert!(run(
        r#"total >= 1000000 and contact.email contains "gmail""#,
        Some(&c)
    ));
    assert!(run(
        r#"contact.attr.tier = "gold" and has tag "vip" and in segment "gold""#,
        Some(&c)
    ));
    assert!(run("count(order) = 3", Some(&c)));
    assert!(!run(r#"has tag "vip""#, None));
    assert!(run("count(order) = 0 and contact.email is not set", None));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let p = |s: &str| Filter::parse(s).unwrap();
    let a = r#"has tag "a""#;
    let b = r#"has tag "b""#;
    let c = r#"has tag "c""#;
    assert_eq!(
        p(&format!("{a} or {b} and {c}")),
        p(&format!("{a} or ({b} and {c})"))
    );
    assert_eq!(
        p(&format!("not {a} and {b}")),
        p(&format!("(not {a}) and {b}"))
    );
    assert_eq!(
        p(&format!("not {a} or {b} and not {c}")),
        p(&format!("(not {a}) or ({b} and (not {c}))"))
    );
    assert_ne!(
        p(&format!("({a} or {b}) and {c}")),
        p(&format!("{a} or {b} and {c}"))
    );
    assert_eq!(
        p(&format!("{a} AND {b} Or NOT {c}")),
        p(&format!("{a} and {b} or not {c}"))
    );
    // Evaluated: `vip or new and promo` is true for a vip outside promo.
    let c2 = an();
    assert!(check(
        r#"has tag "vip" or has tag "new" and in list "promo""#,
        &c2
    ));
    assert!(!check(
        r#"(has tag "vip" or has tag "new") and in list "promo""#,
        &c2
    ));
}

#[test]
fn keywords_stay_usable_as_property_names() {
    let p = |s: &str| Filter::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    let f = p(r#"exists(event "x" where not = 1 and count = 2 and has = 3 and not not in [1])"#);
    let back = p(&f.to_string());
    assert_eq!(f, back);
    let Expr::Exists(r) = f.expr() else { panic!() };
    let Some(w) = &r.filter else { panic!() };
    assert!(matches!(&**w, Expr::And(items) if items.len() == 4));
}

// ---- JSON form ----

#[test]
fn json_and_text_give_the_same_tree() {
    let text = Filter::parse(r#"email contains "gmail" and has tag "vip""#).unwrap();
    let tree: Filter = serde_json::from_value(json!({
        "and": [{"field": "email", "op": "contains", "value": "gmail"}, {"has_tag": "vip"}]
    }))
    .unwrap();
    assert_eq!(text, tree);
    assert_eq!(
        serde_json::to_value(&text).unwrap(),
        json!({
            "and": [{"field": "email", "op": "contains", "value": "gmail"}, {"has_tag": "vip"}]
        })
    );
}

#[test]
fn the_json_form_of_every_node() {
    let f = Filter::parse(
        r#"not (birthday is today or birthday in next 7d) and created_at >= -30d and attr.since < 2026-01-31
           and updated_at > 2026-01-31T10:00:00+07:00 and created_at < now and attr.tier not in ["silver"]
           and sum(order.total where status = "paid") > 5000000
           and count(event "page_view" where url contains "/pricing" and at >= -7d) >= 3
           and exists(order) and in list "newsletter" and in segment "gold" and phone is not set"#,
    )
    .unwrap();
    let j = f.to_json();
    assert_eq!(
        j["and"][0],
        json!({"not": {"or": [
            {"field": "birthday", "op": "is_today"},
            {"field": "birthday", "op": "in_next_days", "value": 7}
        ]}})
    );
    assert_eq!(
        j["and"][1],
        json!({"field": "created_at", "op": ">=", "value": {"relative": "-30d"}})
    );
    assert_eq!(j["and"][2]["value"], json!({"date": "2026-01-31"}));
    assert_eq!(
        j["and"][3]["value"],
        json!({"datetime": "2026-01-31T03:00:00.000Z"})
    );
    assert_eq!(j["and"][4]["value"], json!({"relative": "now"}));
    assert_eq!(
        j["and"][5],
        json!({"field": "attr.tier", "op": "not_in", "value": ["silver"]})
    );
    assert_eq!(
        j["and"][6],
        json!({
            "sum": {"of": "order", "field": "total", "where": {"field": "status", "op": "=", "value": "paid"}},
            "op": ">", "value": 5000000
        })
    );
    assert_eq!(j["and"][7]["count"]["event"], json!("page_view"));
    assert_eq!(
        j["and"][7]["count"]["where"]["and"][0]["field"],
        json!("url")
    );
    assert_eq!(j["and"][8], json!({"exists": {"of": "order"}}));
    assert_eq!(Filter::from_json(&j).unwrap(), f);
    assert!(f.validate(&catalog(), &EntityKind::Contact).is_ok());
}

#[test]
fn either_spelling_is_accepted() {
    let a = Filter::from_json_or_text(&json!(r#"has tag "vip""#)).unwrap();
    let b = Filter::from_json_or_text(&json!({"has_tag": "vip"})).unwrap();
    assert_eq!(a, b);
    let one: Filter = serde_json::from_value(json!({"and": [{"has_tag": "vip"}]})).unwrap();
    assert_eq!(one, a, "a one-condition group is the condition");
}

#[test]
fn json_errors_name_the_path() {
    let e = Filter::from_json(
        &json!({"and": [{"has_tag": "vip"}, {"field": "score", "op": "~", "value": 1}]}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "at and[1].op: unknown operator '~' (expected =, !=, <, <=, >, >=, in, not_in, contains, starts_with, is_set, is_not_set, is_today, in_this_month, in_next_days)"
    );
    let e = Filter::from_json(
        &json!({"field": "birthday", "op": ">", "value": {"date": "2026-02-30"}}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "at value.date: bad date '2026-02-30' (expected YYYY-MM-DD)"
    );
    let e = Filter::from_json(&json!({"or": []})).unwrap_err();
    assert_eq!(e.to_string(), "at or: 'or' needs at least one condition");
    // Validation errors of a JSON filter carry the path too.
    let f = Filter::from_json(
        &json!({"and": [{"has_tag": "vip"}, {"field": "emial", "op": "is_set"}]}),
    )
    .unwrap();
    let e = f.validate(&catalog(), &EntityKind::Contact).unwrap_err();
    assert_eq!(e.to_string(), "at and[1].field: unknown field 'emial'");
}

// ---- errors with positions ----

#[test]
fn errors_name_line_column_and_reason() {
    assert_eq!(
        error(r#"email = "a" or emial = "x""#),
        "line 1, column 16: unknown field 'emial'"
    );
    assert_eq!(
        error(r#"score contains "x""#),
        "line 1, column 7: contains needs a text or list field, but 'score' is a number"
    );
    assert_eq!(
        error(r#"birthday > "abc""#),
        "line 1, column 12: 'birthday' is a date, but \"abc\" is text (write dates without quotes: 2026-01-31)"
    );
    assert_eq!(
        error("birthday > 2026-02-30"),
        "line 1, column 12: bad date '2026-02-30' (expected YYYY-MM-DD)"
    );
    assert_eq!(
        error("name = \"Đức"),
        "line 1, column 8: unclosed string (missing '\"')"
    );
    assert_eq!(
        error("score = = 1"),
        "line 1, column 9: expected a value (\"text\", a number, true, false, a date, now, today or -30d), found '='"
    );
    assert_eq!(
        error("score > 1 and"),
        "line 1, column 14: expected a condition (a field, 'not', '(', 'has tag', 'in list', 'count(' ...), found end of input"
    );
    assert_eq!(
        error("(score > 1"),
        "line 1, column 11: expected ')', found end of input"
    );
    assert_eq!(
        error("score > 1 score"),
        "line 1, column 11: expected 'and', 'or' or the end of the filter, found 'score'"
    );
    assert_eq!(
        error("tier = \"gold\"\n  and\n  Đức = 1"),
        "line 3, column 3: unexpected character 'Đ'"
    );
    assert_eq!(
        error("tier = 1"),
        "line 1, column 1: unknown field 'tier' (custom attributes are written attr.tier)"
    );
    assert_eq!(
        error("score is"),
        "line 1, column 9: expected 'set', 'not set' or 'today', found end of input"
    );
    assert_eq!(
        error("created_at > 30d"),
        "line 1, column 14: a relative time needs a sign: -30d for the past, +7d for the future"
    );
    assert_eq!(error(""), "line 1, column 1: empty filter");
}

#[test]
fn validation_errors() {
    let cases = [
        (
            r#"attr.tier = "bronze""#,
            "line 1, column 13: \"bronze\" is not one of the values of 'attr.tier': gold, silver",
        ),
        (
            "attr.nope = 1",
            "line 1, column 1: unknown field 'attr.nope'",
        ),
        (
            "attr.active > true",
            "line 1, column 13: 'attr.active' is true/false: only = and != apply",
        ),
        (
            r#"attr.interests = "golf""#,
            "line 1, column 16: 'attr.interests' is a list: use contains, in, not in, is set or is not set",
        ),
        (
            "created_at is today",
            "line 1, column 12: 'is today' needs a date field, but 'created_at' is a datetime",
        ),
        (
            "birthday = 2026-01-01T00:00:00Z",
            "line 1, column 12: 'birthday' is a date, but 2026-01-01T00:00:00.000Z is a date-time (compare a date with a date such as 2026-01-31)",
        ),
        (r#"in list "nope""#, "line 1, column 9: unknown list 'nope'"),
        (
            r#"in segment "nope""#,
            "line 1, column 12: unknown segment 'nope'",
        ),
        (
            "count(widget) > 1",
            "line 1, column 7: unknown record type 'widget'",
        ),
        (
            r#"sum(order.status) > 1"#,
            "line 1, column 5: sum needs a number field, but 'order.status' is text",
        ),
        (
            r#"count(order where has tag "x") > 1"#,
            "line 1, column 27: has tag cannot be used inside a 'where' clause",
        ),
        (
            r#"count(order where nope = 1) > 1"#,
            "line 1, column 19: unknown field 'nope' (order has no such field)",
        ),
        (
            r#"count(order) > "x""#,
            "line 1, column 16: 'count(...)' is a number, but \"x\" is text (write numbers without quotes)",
        ),
        (
            r#"exists(event "x" where at > 1)"#,
            "line 1, column 29: 'at' is a datetime, but 1 is a number",
        ),
        (
            r#"exists(event "x" where url > 2026-01-01)"#,
            "line 1, column 30: event properties compare with text, numbers or true/false, not a date",
        ),
        (
            r#"contact.email is set"#,
            "line 1, column 1: unknown field 'contact.email' (in a filter over contacts, write email)",
        ),
        (
            r#"score in []"#,
            "line 1, column 10: the list of values is empty",
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(error(filter), want, "{filter}");
    }
}

#[test]
fn segment_loops_are_refused() {
    let mut cat = catalog();
    cat.segments
        .insert("a".into(), Filter::parse(r#"in segment "b""#).unwrap());
    cat.segments.insert(
        "b".into(),
        Filter::parse(r#"has tag "x" or in segment "a""#).unwrap(),
    );
    let f = Filter::parse(r#"score > 1 and in segment "a""#).unwrap();
    let e = f.validate(&cat, &EntityKind::Contact).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1, column 26: segment 'a' includes itself: a -> b -> a"
    );
    // Saving segment "c" as `in segment "c"`: put it in the catalog first.
    let own = Filter::parse(r#"in segment "c""#).unwrap();
    cat.segments.insert("c".into(), own.clone());
    assert!(
        own.validate(&cat, &EntityKind::Contact)
            .unwrap_err()
            .message
            .contains("c -> c")
    );
    // Evaluation of an unvalidated loop terminates.
    assert!(!f.matches(&Subject::Contact(&an()), &EvalContext::new(now(), &cat)));
}

#[test]
fn filters_over_orders_are_validated_against_order_fields() {
    let cat = catalog();
    let order = EntityKind::Builtin(Builtin::Order);
    let v = |s: &str| {
        Filter::parse(s)
            .unwrap()
            .validate(&cat, &order)
            .map_err(|e| e.to_string())
    };
    assert!(v(r#"channel = "web" and shipped_on < today and contact.birthday is today"#).is_ok());
    assert_eq!(
        v("attr.channel = 1").unwrap_err(),
        "line 1, column 1: unknown field 'attr.channel' (fields of order are written by name: channel)"
    );
    assert_eq!(
        v("contact.nope = 1").unwrap_err(),
        "line 1, column 1: unknown field 'contact.nope'"
    );
    assert_eq!(
        v("count(order where contact.score > 1) > 1").unwrap_err(),
        "line 1, column 19: 'contact.score' cannot be used inside a 'where' clause; move it outside"
    );
}

#[test]
fn canonical_text() {
    let cases = [
        (r#"EMAIL   contains  "x""#, r#"EMAIL contains "x""#),
        (
            r#"a = 1 and (b = 2 and c = 3)"#,
            r#"a = 1 and (b = 2 and c = 3)"#,
        ),
        (r#"not (a = 1 or b = 2)"#, r#"not (a = 1 or b = 2)"#),
        (r#"(a = 1)"#, r#"a = 1"#),
        (
            r#"created_at >= -30d and x < +2w and y == 2026-01-31T10:00:00+07:00"#,
            r#"created_at >= -30d and x < +2w and y = 2026-01-31T03:00:00.000Z"#,
        ),
        (r#"birthday in next 2w"#, r#"birthday in next 14d"#),
        (
            r#"name = "say \"hi\" \\ bye""#,
            r#"name = "say \"hi\" \\ bye""#,
        ),
        (
            r#"count(event "v" where properties.at = 1 and properties.url = 2 and properties."a b" = 3) >= 1"#,
            r#"count(event "v" where properties.at = 1 and url = 2 and properties."a b" = 3) >= 1"#,
        ),
        (
            "x = 0.1 and y = -0.5 and z = 100000000000000000000",
            "x = 0.1 and y = -0.5 and z = 100000000000000000000",
        ),
    ];
    for (input, want) in cases {
        let f = Filter::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(f.to_string(), want);
        assert_eq!(Filter::parse(want).unwrap(), f);
    }
}

// ---- properties ----

fn ctx_for(now: Millis, segments: &BTreeMap<String, Filter>) -> EvalContext<'_> {
    EvalContext::new(now, segments)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(f in testing::arb_contact_filter()) {
        let text = f.to_string();
        let back = Filter::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &f);
        prop_assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f.clone());
        let via_serde: Filter = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        prop_assert_eq!(via_serde, f);
    }

    #[test]
    fn order_filters_round_trip_and_validate(f in testing::arb_order_filter()) {
        prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f.clone());
        let v = f.validate(&catalog(), &EntityKind::Builtin(Builtin::Order));
        prop_assert!(v.is_ok(), "{}: {:?}", f, v);
    }

    #[test]
    fn generated_filters_validate(f in testing::arb_contact_filter()) {
        let v = f.validate(&catalog(), &EntityKind::Contact);
        prop_assert!(v.is_ok(), "{}: {:?}", f, v);
    }

    #[test]
    fn any_number_prints_and_parses_back(n in any::<f64>().prop_filter("finite", |n| n.is_finite())) {
        let f = Filter::from_expr(Expr::Compare(Comparison::new(Path::Field("score".into()), Op::Cmp(CmpOp::Eq, Literal::Number(n)))));
        prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f.clone());
        prop_assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn any_text_prints_and_parses_back(s in "\\PC{0,20}", k in "\\PC{0,8}") {
        let f = Filter::from_expr(Expr::Exists(Related::new(
            Source::Events(s.clone()),
            Some(Expr::Compare(Comparison::new(Path::EventProperty(k), Op::Contains(s)))),
        )));
        prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f.clone());
        prop_assert_eq!(Filter::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn parsing_never_panics(s in "\\PC{0,60}") {
        let _ = Filter::parse(&s);
    }

    #[test]
    fn parsing_filter_like_noise_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "(", ")", "[", "]", ",", ".", "not", "and", "or", "in", "list", "count", "sum", "order", "event", "\"x\"",
        "where", "=", "!=", ">=", "-30d", "7d", "2026-01-31", "2026-02-30", "2026-01-31T10:00:00Z", "1.5", "-",
        "is", "set", "today", "next", "this", "month", "has", "tag", "exists", "\"", "\\", "Đ", "attr", "contact",
    ]), 0..20)) {
        let s = parts.join(" ");
        if let Ok(f) = Filter::parse(&s) {
            prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        }
        let _ = Filter::parse(&parts.concat());
    }

    #[test]
    fn double_negation_and_de_morgan_hold(
        a in testing::arb_contact_filter(),
        b in testing::arb_contact_filter(),
        c in testing::arb_contact(),
        now in testing::arb_now(),
    ) {
        let segments = testing::segments();
        let ctx = ctx_for(now, &segments);
        let s = Subject::Contact(&c);
        let (a, b) = (a.into_expr(), b.into_expr());
        let eval = |e: Expr| Filter::from_expr(e).matches(&s, &ctx);
        let not = |e: Expr| Expr::Not(Box::new(e));
        let va = eval(a.clone());
        prop_assert_eq!(eval(not(not(a.clone()))), va);
        prop_assert_eq!(
            eval(not(Expr::And(vec![a.clone(), b.clone()]))),
            eval(Expr::Or(vec![not(a.clone()), not(b.clone())]))
        );
        prop_assert_eq!(
            eval(not(Expr::Or(vec![a.clone(), b.clone()]))),
            eval(Expr::And(vec![not(a), not(b)]))
        );
    }

    #[test]
    fn not_equal_is_not_of_equal_and_not_in_is_not_of_in(
        f in testing::arb_contact_filter(),
        c in testing::arb_contact(),
        now in testing::arb_now(),
    ) {
        let segments = testing::segments();
        let ctx = ctx_for(now, &segments);
        let s = Subject::Contact(&c);
        // Rewrite every comparison of `f` to its negated twin and check the
        // pair disagrees on this subject.
        let mut pairs = Vec::new();
        collect_comparisons(f.expr(), &mut pairs);
        for cmp in pairs {
            let twin = match &cmp.op {
                Op::Cmp(CmpOp::Eq, v) => Op::Cmp(CmpOp::Ne, v.clone()),
                Op::Cmp(CmpOp::Ne, v) => Op::Cmp(CmpOp::Eq, v.clone()),
                Op::In(v) => Op::NotIn(v.clone()),
                Op::NotIn(v) => Op::In(v.clone()),
                Op::IsSet => Op::IsNotSet,
                Op::IsNotSet => Op::IsSet,
                _ => continue,
            };
            let one = Filter::from_expr(Expr::Compare(cmp.clone()));
            let other = Filter::from_expr(Expr::Compare(Comparison::new(cmp.field.clone(), twin)));
            prop_assert_ne!(one.matches(&s, &ctx), other.matches(&s, &ctx), "{} vs {}", one, other);
        }
    }

    #[test]
    fn order_filters_evaluate_without_panicking(f in testing::arb_order_filter(), case in testing::arb_order_case(), now in testing::arb_now()) {
        let segments = testing::segments();
        let ctx = ctx_for(now, &segments);
        let yes = f.matches(&case.subject(), &ctx);
        let negated = Filter::from_expr(Expr::Not(Box::new(f.into_expr())));
        prop_assert_eq!(negated.matches(&case.subject(), &ctx), !yes);
    }

    #[test]
    fn generated_contact_sets_have_unique_keys(cs in testing::arb_contacts(12)) {
        for key in ["email", "phone", "external_id"] {
            let vals: Vec<_> = cs.iter().filter_map(|c| c.fields.get(key)).collect();
            let unique: std::collections::BTreeSet<String> = vals.iter().map(|v| format!("{v:?}")).collect();
            prop_assert_eq!(unique.len(), vals.len());
        }
    }
}

fn collect_comparisons(e: &Expr, out: &mut Vec<Comparison>) {
    match e {
        Expr::And(items) | Expr::Or(items) => {
            items.iter().for_each(|i| collect_comparisons(i, out))
        }
        Expr::Not(inner) => collect_comparisons(inner, out),
        Expr::Compare(c) => out.push(c.clone()),
        _ => {}
    }
}

#[test]
fn anchor_is_what_it_says() {
    assert_eq!(testing::ANCHOR, ms("2026-03-01T00:00:00Z"));
}

#[test]
fn stored_json_attributes_read_as_values() {
    use crate::schema::FieldType;
    assert_eq!(
        Value::from_json(&json!("2026-01-31T03:00:00.000Z"), &FieldType::Datetime),
        Value::Time(ms("2026-01-31T03:00:00Z"))
    );
    assert_eq!(
        Value::from_json(&json!("2026-01-31"), &FieldType::Date),
        Value::Date(date("2026-01-31"))
    );
    assert_eq!(
        Value::from_json(&json!(["a", "b"]), &FieldType::List),
        Value::List(vec!["a".into(), "b".into()])
    );
    assert_eq!(Value::from_json(&json!(5), &FieldType::Text), Value::Null);
}
