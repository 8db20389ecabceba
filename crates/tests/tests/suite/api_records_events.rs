//! Records, entity types and events through the real HTTP API, on both
//! backends.

use serde_json::json;
use swell_tests::app_test;

app_test! {
    async fn an_order_links_to_its_customer_by_email_creating_the_contact(app: &TestApp) {
        let r = app.post("/api/v1/records/order", json!({
            "external_id": "SO-1001", "total": 1250000, "currency": "VND", "status": "pending",
            "created_at": "2026-03-01T09:30:00+07:00", "contact": {"email": "Khach@Shop.vn"}
        })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["created_at"], "2026-03-01T02:30:00.000Z");
        let cid = r.json["contact_id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/api/v1/contacts/{cid}")).await.json["email"], "khach@shop.vn");
        // Upsert by external id: status pending -> delivered, logged.
        let r2 = app.post("/api/v1/records/order", json!({"external_id": "SO-1001", "status": "delivered"})).await;
        assert_eq!(r2.status, 200);
        assert_eq!(r2.json["id"], r.json["id"]);
        assert_eq!(r2.json["total"], 1250000);
        let oid = r.json["id"].as_i64().unwrap();
        let log = app.get(&format!("/api/v1/changes?entity=order&record_id={oid}")).await.json;
        assert_eq!(log["items"][1]["changes"]["status"], json!(["pending", "delivered"]));
        let mine = app.get(&format!("/api/v1/records/order?contact_id={cid}")).await.json;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        let by_phone = app.post("/api/v1/records/order", json!({"total": 5, "contact_phone": "0987 654 321"})).await;
        assert_eq!(by_phone.status, 201, "{}", by_phone.text);
        let cid2 = by_phone.json["contact_id"].as_i64().unwrap();
        assert_eq!(app.get(&format!("/api/v1/contacts/{cid2}")).await.json["phone"], "+84987654321");
    }
}

app_test! {
    async fn a_workspace_defines_its_own_record_type(app: &TestApp) {
        let r = app.put("/api/v1/entity-types/subscription", json!({"label": "Subscription", "fields": [
            {"key": "plan", "type": "enum", "values": ["basic", "pro"]},
            {"key": "renews_on", "type": "date"},
            {"key": "seats", "type": "number"}
        ]})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let c = app.post("/api/v1/contacts", json!({"external_id": "u-9"})).await.json["id"].clone();
        let s = app.post("/api/v1/records/subscription", json!({"plan": "pro", "renews_on": "2027-01-01", "seats": 3, "contact_external_id": "u-9"})).await;
        assert_eq!(s.status, 201, "{}", s.text);
        assert_eq!(s.json["contact_id"], c);
        assert_eq!(s.json["plan"], "pro");
        let bad = app.post("/api/v1/records/subscription", json!({"plan": "gold", "colour": "red"})).await;
        assert_eq!(bad.status, 422);
        let types = app.get("/api/v1/entity-types").await.json;
        let names: Vec<_> = types.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["contact", "company", "lead", "order", "subscription"]);
        assert_eq!(app.put("/api/v1/entity-types/order", json!({"fields": [{"key": "total", "type": "number"}]})).await.status, 422, "standard field");
        assert_eq!(app.put("/api/v1/entity-types/event", json!({})).await.status, 422, "reserved name");
        let other = app.other_workspace_key("b").await;
        let foreign = app.request(reqwest::Method::GET, "/api/v1/records/subscription", Some(&other), None).await;
        assert_eq!(foreign.status, 404, "types belong to their workspace");
    }
}

app_test! {
    async fn events_are_appended_one_or_many_and_read_by_contact_name_and_time(app: &TestApp) {
        let cid = app.post("/api/v1/contacts", json!({"email": "a@x.vn"})).await.json["id"].as_i64().unwrap();
        let one = app.post("/api/v1/events", json!({"event": "page_view", "contact": {"email": "a@x.vn"}, "timestamp": "2026-01-01T00:00:00Z", "properties": {"url": "/pricing"}})).await;
        assert_eq!(one.status, 201, "{}", one.text);
        let many = app.post("/api/v1/events", json!([
            {"event": "page_view", "contact": {"id": cid}, "timestamp": "2026-02-01T00:00:00Z", "properties": {"url": "/"}},
            {"event": "add_to_cart", "contact": {"id": cid}, "timestamp": "2026-02-02T00:00:00Z"},
            {"event": "page_view", "contact": {"phone": "0912 345 678"}}
        ])).await;
        assert_eq!(many.json["accepted"], 3);
        let views = app.get(&format!("/api/v1/contacts/{cid}/events?event=page_view&since=2026-01-15T00:00:00Z")).await.json;
        let items = views["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["properties"]["url"], "/");
        let all = app.get(&format!("/api/v1/events?contact_id={cid}")).await.json;
        assert_eq!(all["items"].as_array().unwrap().len(), 3);
        let new_person = app.get("/api/v1/contacts?q=912345678").await.json;
        assert_eq!(new_person["items"].as_array().unwrap().len(), 1, "an event by phone created the contact");
    }
}

app_test! {
    async fn a_bad_event_in_a_batch_stores_none_of_them(app: &TestApp) {
        let before = app.snapshot().await;
        let r = app.post("/api/v1/events", json!([
            {"event": "ok", "contact": {"email": "a@x.vn"}},
            {"event": "", "timestamp": "yesterday"},
            {"contact": {"id": 424242}, "event": "x"}
        ])).await;
        assert_eq!(r.status, 422, "{}", r.text);
        let fields = r.error_fields();
        assert!(fields.contains(&"[1].event".to_string()) && fields.contains(&"[1].timestamp".to_string()), "{fields:?}");
        let unknown_contact = app.post("/api/v1/events", json!({"event": "x", "contact": {"id": 424242}})).await;
        assert_eq!(unknown_contact.status, 422);
        assert_eq!(app.snapshot().await, before);
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let spec: serde_json::Value = serde_json::from_str(swell_web::api::OPENAPI_JSON).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/contacts",
        "/contacts/import",
        "/contacts/{id}",
        "/contacts/{id}/changes",
        "/contacts/{id}/events",
        "/records/{type}",
        "/records/{type}/import",
        "/records/{type}/{id}",
        "/events",
        "/attributes",
        "/attributes/{key}",
        "/entity-types",
        "/entity-types/{name}",
        "/changes",
        "/workspace",
        "/audiences/count",
        "/audiences/preview",
        "/segments",
        "/segments/{slug}",
        "/segments/{slug}/members",
        "/lists",
        "/lists/{slug}",
        "/lists/{slug}/refresh",
        "/lists/{slug}/members",
        "/lists/{slug}/members/import",
        "/lists/{slug}/members/{contact_id}",
        "/lists/{slug}/subscribe",
        "/lists/{slug}/unsubscribe",
        "/blocklist",
        "/blocklist/{kind}/{value}",
        "/templates",
        "/templates/{id}",
        "/templates/{id}/preview",
        "/templates/{id}/test",
        "/broadcasts",
        "/broadcasts/{id}",
        "/broadcasts/{id}/send",
        "/broadcasts/{id}/pause",
        "/broadcasts/{id}/resume",
        "/broadcasts/{id}/cancel",
        "/broadcasts/{id}/test",
        "/broadcasts/{id}/stats",
        "/outbox",
        "/bounces",
        "/suppressions",
        "/suppressions/{address}",
    ] {
        assert!(paths.contains_key(route), "{route} is not in openapi.json");
    }
}
