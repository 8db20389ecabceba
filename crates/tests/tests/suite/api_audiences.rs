//! Audiences through the real HTTP API on both backends: counts, previews,
//! segments, marketing lists, consent.

use serde_json::{Value, json};
use swell_tests::app_test;

/// Five contacts, some orders and events, for the audience tests.
async fn seed(app: &swell_tests::TestApp) {
    app.put(
        "/api/v1/attributes",
        json!([{"key": "tier", "type": "enum", "values": ["silver", "gold"]}]),
    )
    .await;
    let people = [
        json!({"external_id": "c1", "email": "an@x.vn", "phone": "0912000001", "name": "Nguyễn Văn An", "tags": ["vip"], "score": 50, "attributes": {"tier": "gold"}}),
        json!({"external_id": "c2", "email": "duc@x.vn", "phone": "0912000002", "name": "Trần Minh Đức", "score": 10, "attributes": {"tier": "silver"}}),
        json!({"external_id": "c3", "email": "mai@x.vn", "name": "Lê Thị Mai", "tags": ["vip"], "score": 70}),
        json!({"external_id": "c4", "phone": "0912000004", "name": "John Smith", "score": 5}),
        json!({"external_id": "c5", "email": "hoa@x.vn", "name": "Phạm Hoa", "score": 90, "email_optout": true}),
    ];
    for p in people {
        let r = app.post("/api/v1/contacts", p).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for (ext, total, status) in [
        ("c1", 2_000_000, "paid"),
        ("c1", 4_000_000, "paid"),
        ("c2", 500_000, "paid"),
        ("c3", 1_500_000, "cancelled"),
    ] {
        let r = app.post("/api/v1/records/order", json!({"total": total, "status": status, "currency": "VND", "contact_external_id": ext})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let now = jiff::Timestamp::now();
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(json!({"event": "page_view", "contact": {"external_id": "c2"}, "timestamp": now.to_string(), "properties": {"url": "/pricing"}}));
    }
    events.push(json!({"event": "page_view", "contact": {"external_id": "c3"}, "timestamp": now.to_string(), "properties": {"url": "/pricing"}}));
    assert_eq!(
        app.post("/api/v1/events", Value::Array(events))
            .await
            .status,
        201
    );
}

async fn count(app: &swell_tests::TestApp, body: Value) -> Value {
    let r = app.post("/api/v1/audiences/count", body.clone()).await;
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.json
}

app_test! {
    async fn every_filter_form_counts_through_the_api(app: &TestApp) {
        seed(app).await;
        let cases = [
            (r#"name contains "nguyen""#, 1),
            (r#"name contains "đức""#, 1),
            (r#"has tag "vip""#, 2),
            (r#"attr.tier = "gold" or attr.tier = "silver""#, 2),
            (r#"score >= 10 and not has tag "vip""#, 2),
            (r#"email is not set"#, 1),
            (r#"created_at >= -1d"#, 5),
            (r#"sum(order.total where status = "paid") > 5000000"#, 1),
            (r#"count(order where total > 1000000) >= 1"#, 2),
            (r#"count(event "page_view" where url contains "/pricing" and at >= -7d) >= 3"#, 1),
            (r#"exists(event "page_view")"#, 2),
            (r#"phone starts_with "+8491200000""#, 3),
        ];
        for (filter, expected) in cases {
            let n = count(app, json!({"filter": filter})).await["count"].as_u64().unwrap();
            assert_eq!(n, expected, "{filter}");
        }
        // The JSON form is accepted too.
        let tree = json!({"has_tag": "vip"});
        let r = app.post("/api/v1/audiences/count", json!({"filter": tree})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["count"], 2);
        // Orders as the target entity, with the contact's fields.
        let n = count(app, json!({"entity": "order", "filter": r#"status = "paid" and contact.name contains "nguyen""#})).await;
        assert_eq!(n["count"], 2);
    }
}

app_test! {
    async fn a_bad_filter_says_where_and_why(app: &TestApp) {
        seed(app).await;
        for (filter, says) in [
            (r#"emial = "x""#, "line 1, column 1"),
            (r#"score contains "x""#, "score"),
            (r#"birthday > 2026-13-01"#, "date"),
            (r#"name = "unclosed"#, "unclosed"),
            (r#"in segment "nope""#, "nope"),
        ] {
            let r = app.post("/api/v1/audiences/count", json!({"filter": filter})).await;
            assert_eq!(r.status, 422, "{filter}: {}", r.text);
            let message = r.json["error"]["message"].as_str().unwrap().to_string();
            assert!(message.contains(says), "{filter}: {message}");
        }
    }
}

app_test! {
    async fn segments_are_saved_checked_and_streamed(app: &TestApp) {
        seed(app).await;
        let r = app.post("/api/v1/segments", json!({"slug": "big-spenders", "name": "Big spenders", "filter": "sum(order.total) > 100000"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app.post("/api/v1/segments", json!({"slug": "vip-spenders", "name": "VIP spenders", "filter": r#"in segment "big-spenders" and has tag "vip""#})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(app.get("/api/v1/segments/vip-spenders").await.json["count"], 2);
        // A loop through segments is refused.
        let r = app.put("/api/v1/segments/big-spenders", json!({"name": "x", "filter": r#"in segment "vip-spenders""#})).await;
        assert_eq!(r.status, 422, "{}", r.text);
        // A segment in use cannot be deleted.
        assert_eq!(app.delete("/api/v1/segments/big-spenders").await.status, 409);
        // Members, a page at a time.
        let page = app.get("/api/v1/segments/big-spenders/members?limit=2").await.json;
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let cursor = page["next_cursor"].as_str().unwrap().to_string();
        let rest = app.get(&format!("/api/v1/segments/big-spenders/members?limit=2&cursor={cursor}")).await.json;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert!(rest["next_cursor"].is_null());
        let counted = count(app, json!({"segments": ["big-spenders"], "exclude": {"segments": ["vip-spenders"]}})).await;
        assert_eq!(counted["count"], 1);
        let other = app.other_workspace_key("other").await;
        let r = app.request(reqwest::Method::GET, "/api/v1/segments/big-spenders", Some(&other), None).await;
        assert_eq!(r.status, 404);
    }
}

app_test! {
    async fn static_lists_hold_members_with_a_subscription_status(app: &TestApp) {
        seed(app).await;
        assert_eq!(app.post("/api/v1/lists", json!({"slug": "newsletter", "name": "Newsletter"})).await.status, 201);
        let r = app.post("/api/v1/lists/newsletter/members", json!({"contacts": [{"email": "an@x.vn"}, {"external_id": "c2"}, {"email": "new@x.vn"}]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["list"]["subscribed"], 3, "a new address becomes a contact and a member");
        let r = app.post("/api/v1/lists/newsletter/subscribe", json!({"contact": {"email": "mai@x.vn"}, "double_opt_in": true})).await;
        assert_eq!(r.json["status"], "pending");
        let r = app.post("/api/v1/lists/newsletter/unsubscribe", json!({"contact": {"email": "duc@x.vn"}})).await;
        assert_eq!(r.json["status"], "unsubscribed");
        let list = app.get("/api/v1/lists/newsletter").await.json;
        assert_eq!((list["subscribed"].as_i64(), list["unsubscribed"].as_i64(), list["pending"].as_i64()), (Some(2), Some(1), Some(1)));
        // `in list` counts subscribed members only.
        assert_eq!(count(app, json!({"filter": r#"in list "newsletter""#})).await["count"], 2);
        let pending = app.get("/api/v1/lists/newsletter/members?status=pending").await.json;
        assert_eq!(pending["items"][0]["email"], "mai@x.vn");
        assert!(pending["items"][0]["changed_at"].as_str().is_some());
        // CSV: a bad row is reported, the rest land.
        let r = app.post_csv("/api/v1/lists/newsletter/members/import", "email,status\nhoa@x.vn,subscribed\nbad,subscribed\nmai@x.vn,subscribed\nan@x.vn,sometimes\n").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.json["created"].as_u64(), r.json["updated"].as_u64(), r.json["failed"].as_u64()), (Some(1), Some(1), Some(2)), "{}", r.text);
        assert_eq!(r.json["errors"][0]["row"], 3);
        // Removing a member of a static list takes the row away.
        let an = app.get("/api/v1/contacts?q=an%40x.vn").await.json["items"][0]["id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/lists/newsletter/members/{an}")).await.status, 204);
        assert_eq!(count(app, json!({"lists": ["newsletter"]})).await["count"], 3);
    }
}

app_test! {
    async fn a_rule_based_list_follows_its_filter_and_keeps_removed_people_out(app: &TestApp) {
        seed(app).await;
        let r = app.post("/api/v1/lists", json!({"slug": "vips", "name": "VIPs", "filter": r#"has tag "vip""#})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["subscribed"], 2);
        let mai = app.get("/api/v1/contacts?q=mai%40x.vn").await.json["items"][0]["id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/lists/vips/members/{mai}")).await.status, 204);
        // A new VIP joins at the next refresh; the removed one stays out.
        app.post("/api/v1/contacts", json!({"external_id": "c4", "tags": ["vip"]})).await;
        let r = app.post("/api/v1/lists/vips/refresh", json!({})).await;
        assert_eq!(r.json["added"], 1, "{}", r.text);
        assert_eq!(r.json["list"]["subscribed"], 2);
        // Someone who stops matching leaves.
        app.post("/api/v1/contacts", json!({"external_id": "c1", "tags": []})).await;
        assert_eq!(count(app, json!({"lists": ["vips"]})).await["count"], 1, "counting refreshes the list first");
        let removed = app.get("/api/v1/lists/vips/members?status=removed").await.json;
        assert_eq!(removed["items"][0]["contact_id"], mai);
    }
}

app_test! {
    async fn the_sendable_audience_leaves_out_opt_outs_blocklisted_and_unreachable_people(app: &TestApp) {
        seed(app).await;
        assert_eq!(app.post("/api/v1/blocklist", json!({"email": "MAI@x.vn", "reason": "asked by phone"})).await.status, 201);
        assert_eq!(app.post("/api/v1/blocklist", json!({"phone": "0912 000 002"})).await.status, 201);
        let everyone = json!({"filter": "score >= 0", "channel": "email"});
        let r = count(app, everyone).await;
        assert_eq!(r["count"], 5);
        assert_eq!(r["sendable"], 2, "{r}");
        assert_eq!(r["removed"], json!({"no_address": 1, "opted_out": 1, "blocklisted": 1, "suppressed": 0}));
        let sms = count(app, json!({"filter": "score >= 0", "channel": "sms"})).await;
        assert_eq!((sms["sendable"].as_u64(), sms["removed"]["no_address"].as_u64(), sms["removed"]["blocklisted"].as_u64()), (Some(2), Some(2), Some(1)));
        let preview = app.post("/api/v1/audiences/preview", json!({"filter": "score >= 0", "channel": "email", "limit": 10})).await;
        let emails: Vec<&str> = preview.json["items"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["an@x.vn", "duc@x.vn"]);
        // Opting back in is a logged change like any other.
        let hoa = app.get("/api/v1/contacts?q=hoa").await.json["items"][0].clone();
        assert_eq!(hoa["email_optout"], true);
        let id = hoa["id"].as_i64().unwrap();
        app.patch(&format!("/api/v1/contacts/{id}"), json!({"email_optout": false})).await;
        let log = app.get(&format!("/api/v1/contacts/{id}/changes")).await.json;
        assert_eq!(log["items"][1]["changes"]["email_optout"], json!([true, false]));
        assert_eq!(count(app, json!({"filter": "score >= 0", "channel": "email"})).await["sendable"], 3);
        assert_eq!(app.delete("/api/v1/blocklist/email/mai@x.vn").await.status, 204);
        assert_eq!(count(app, json!({"filter": "score >= 0", "channel": "email"})).await["sendable"], 4);
    }
}

app_test! {
    async fn each_person_is_counted_once_across_lists_and_segments(app: &TestApp) {
        seed(app).await;
        app.post("/api/v1/lists", json!({"slug": "a", "name": "A"})).await;
        app.post("/api/v1/lists", json!({"slug": "b", "name": "B"})).await;
        app.post("/api/v1/lists/a/members", json!({"contacts": [{"external_id": "c1"}, {"external_id": "c2"}]})).await;
        app.post("/api/v1/lists/b/members", json!({"contacts": [{"external_id": "c2"}, {"external_id": "c3"}]})).await;
        app.post("/api/v1/segments", json!({"slug": "vip", "name": "VIP", "filter": r#"has tag "vip""#})).await;
        assert_eq!(count(app, json!({"lists": ["a", "b"], "segments": ["vip"]})).await["count"], 3);
        assert_eq!(count(app, json!({"lists": ["a", "b"], "exclude": {"lists": ["b"]}})).await["count"], 1);
        let r = app.post("/api/v1/audiences/count", json!({"lists": ["nope"]})).await;
        assert_eq!(r.status, 422);
        let r = app.post("/api/v1/audiences/count", json!({})).await;
        assert_eq!(r.status, 422, "an audience names something");
    }
}
