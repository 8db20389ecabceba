//! Contacts through the real HTTP API, on SQLite and on PostgreSQL.

use serde_json::json;
use swell_tests::{Body, app_test};

app_test! {
    async fn a_contact_is_created_normalised_and_read_back(app: &TestApp) {
        let r = app.post("/api/v1/contacts", json!({
            "email": "  An.Nguyen@Example.VN ", "phone": "0912 345 678", "name": "Nguyễn Văn An",
            "birthday": "1990-05-17", "tags": ["VIP", "newsletter"], "score": 10
        })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let c = &r.json;
        assert_eq!(c["email"], "an.nguyen@example.vn");
        assert_eq!(c["phone"], "+84912345678");
        assert_eq!(c["given_name"], "An");
        assert_eq!(c["family_name"], "Nguyễn");
        assert_eq!(c["timezone"], "Asia/Ho_Chi_Minh");
        assert_eq!(c["tags"], json!(["newsletter", "vip"]));
        let id = c["id"].as_i64().unwrap();
        let read = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(&read.json, c);
    }
}

app_test! {
    async fn upsert_finds_the_contact_by_external_id_then_email_then_phone(app: &TestApp) {
        let a = app.post("/api/v1/contacts", json!({"external_id": "shop-1", "email": "a@x.vn"})).await.json["id"].clone();
        let b = app.post("/api/v1/contacts", json!({"phone": "+84 912-345-678"})).await.json["id"].clone();
        // Same number written three ways: one contact.
        for phone in ["84912345678", "0912 345 678"] {
            let r = app.post("/api/v1/contacts", json!({"phone": phone, "score": 3})).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["id"], b);
        }
        let r = app.post("/api/v1/contacts", json!({"email": "A@X.VN", "name": "Lê Thị Hoa"})).await;
        assert_eq!((r.status, r.json["id"].clone()), (200, a.clone()));
        let r = app.post("/api/v1/contacts", json!({"external_id": "shop-1", "email": "new@x.vn"})).await;
        assert_eq!(r.json["id"], a, "external id wins over email");
        assert_eq!(r.json["email"], "new@x.vn");
        let list = app.get("/api/v1/contacts").await;
        assert_eq!(list.json["items"].as_array().unwrap().len(), 2);
    }
}

app_test! {
    async fn a_key_clash_is_refused_and_changes_nothing(app: &TestApp) {
        app.post("/api/v1/contacts", json!({"email": "a@x.vn"})).await;
        app.post("/api/v1/contacts", json!({"email": "b@x.vn", "phone": "0912345678"})).await;
        let before = app.snapshot().await;
        // Found by email a@x.vn, but the phone belongs to b@x.vn.
        let r = app.post("/api/v1/contacts", json!({"email": "a@x.vn", "phone": "0912 345 678"})).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.error_fields(), ["phone"]);
        assert_eq!(app.snapshot().await, before);
    }
}

app_test! {
    async fn search_ignores_accents_and_case(app: &TestApp) {
        for (name, email) in [("Nguyễn Văn Đức", "duc@x.vn"), ("Trần Thị Mai", "mai@x.vn"), ("John Smith", "john@x.com")] {
            assert_eq!(app.post("/api/v1/contacts", json!({"name": name, "email": email})).await.status, 201);
        }
        let names = |r: swell_tests::Response| -> Vec<String> {
            r.json["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(names(app.get("/api/v1/contacts?q=nguyen").await), ["Nguyễn Văn Đức"]);
        assert_eq!(names(app.get("/api/v1/contacts?q=%C4%91%E1%BB%A9c").await), ["Nguyễn Văn Đức"], "q=đức");
        assert_eq!(names(app.get("/api/v1/contacts?q=DUC").await), ["Nguyễn Văn Đức"]);
        assert_eq!(names(app.get("/api/v1/contacts?q=tr%E1%BA%A7n").await), ["Trần Thị Mai"], "q=trần");
        assert_eq!(names(app.get("/api/v1/contacts?q=100%25").await).len(), 0, "LIKE wildcards are literal");
    }
}

app_test! {
    async fn lists_page_with_a_cursor_and_filter_by_tag(app: &TestApp) {
        for i in 0..7 {
            let tags = if i % 2 == 0 { json!(["vip"]) } else { json!([]) };
            app.post("/api/v1/contacts", json!({"email": format!("p{i}@x.vn"), "tags": tags})).await;
        }
        let mut seen = Vec::new();
        let mut path = "/api/v1/contacts?limit=3".to_string();
        loop {
            let page = app.get(&path).await;
            assert_eq!(page.status, 200);
            seen.extend(page.json["items"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap().to_string()));
            match page.json["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/contacts?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7);
        let vip = app.get("/api/v1/contacts?tag=VIP").await;
        assert_eq!(vip.json["items"].as_array().unwrap().len(), 4);
    }
}

app_test! {
    async fn custom_attributes_are_checked_against_the_schema(app: &TestApp) {
        let r = app.put("/api/v1/attributes", json!([
            {"key": "tier", "type": "enum", "values": ["silver", "gold"]},
            {"key": "points", "type": "number"},
            {"key": "vip_since", "type": "date"},
            {"key": "interests", "type": "list"}
        ])).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let ok = app.post("/api/v1/contacts", json!({"email": "a@x.vn", "attributes": {"tier": "gold", "points": 12, "vip_since": "2025-01-02", "interests": ["tea"]}})).await;
        assert_eq!(ok.status, 201, "{}", ok.text);
        assert_eq!(ok.json["attributes"]["points"], 12);
        let bad = app.post("/api/v1/contacts", json!({"email": "b@x.vn", "attributes": {"tier": "bronze", "points": "many", "vip_since": "2025-13-01", "nope": 1}})).await;
        assert_eq!(bad.status, 422);
        let mut fields = bad.error_fields();
        fields.sort();
        assert_eq!(fields, ["attributes.nope", "attributes.points", "attributes.tier", "attributes.vip_since"]);
        assert_eq!(app.get("/api/v1/contacts").await.json["items"].as_array().unwrap().len(), 1, "the bad contact was not stored");
        let bad_schema = app.post("/api/v1/attributes", json!({"key": "Bad Key", "type": "text"})).await;
        assert_eq!(bad_schema.status, 422);
    }
}

app_test! {
    async fn every_change_is_logged_with_old_and_new_values(app: &TestApp) {
        let id = app.post("/api/v1/contacts", json!({"email": "a@x.vn", "score": 1})).await.json["id"].as_i64().unwrap();
        app.patch(&format!("/api/v1/contacts/{id}"), json!({"score": 5, "name": "Phạm Minh Tuấn"})).await;
        app.patch(&format!("/api/v1/contacts/{id}"), json!({"score": 5})).await; // no change, no entry
        let log = app.get(&format!("/api/v1/contacts/{id}/changes")).await.json;
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{log}");
        assert_eq!(items[0]["op"], "create");
        assert_eq!(items[0]["changes"]["email"], json!([null, "a@x.vn"]));
        assert_eq!(items[1]["op"], "update");
        assert_eq!(items[1]["changes"]["score"], json!([1, 5]));
        assert_eq!(items[1]["changes"]["given_name"], json!([null, "Tuấn"]));
        assert_eq!(app.delete(&format!("/api/v1/contacts/{id}")).await.status, 204);
        let log = app.get(&format!("/api/v1/contacts/{id}/changes")).await.json;
        assert_eq!(log["items"].as_array().unwrap().last().unwrap()["op"], "delete");
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.status, 404);
    }
}

app_test! {
    async fn requests_without_a_valid_key_are_refused(app: &TestApp) {
        let none = app.request(reqwest::Method::GET, "/api/v1/contacts", None, None).await;
        assert_eq!(none.status, 401);
        assert_eq!(none.json["error"]["code"], "unauthorized");
        let wrong = app.request(reqwest::Method::GET, "/api/v1/contacts", Some("swk_not-a-real-key"), None).await;
        assert_eq!(wrong.status, 401);
        let spec = app.request(reqwest::Method::GET, "/api/v1/openapi.json", None, None).await;
        assert_eq!(spec.status, 200);
        assert_eq!(spec.json["openapi"], "3.0.3");
    }
}

app_test! {
    async fn another_workspace_cannot_see_or_touch_our_data(app: &TestApp) {
        let id = app.post("/api/v1/contacts", json!({"email": "a@x.vn"})).await.json["id"].as_i64().unwrap();
        let order = app.post("/api/v1/records/order", json!({"external_id": "SO-1", "total": 1, "contact_id": id})).await;
        assert_eq!(order.status, 201, "{}", order.text);
        let oid = order.json["id"].as_i64().unwrap();
        let other = app.other_workspace_key("rival").await;
        let k = Some(other.as_str());
        use reqwest::Method;
        assert_eq!(app.request(Method::GET, &format!("/api/v1/contacts/{id}"), k, None).await.status, 404);
        assert_eq!(app.request(Method::PATCH, &format!("/api/v1/contacts/{id}"), k, Some(Body::Json(json!({"score": 9})))).await.status, 404);
        assert_eq!(app.request(Method::DELETE, &format!("/api/v1/contacts/{id}"), k, None).await.status, 404);
        assert_eq!(app.request(Method::GET, &format!("/api/v1/records/order/{oid}"), k, None).await.status, 404);
        let linked = app.request(Method::POST, "/api/v1/records/order", k, Some(Body::Json(json!({"total": 1, "contact_id": id})))).await;
        assert_eq!(linked.status, 422, "a foreign contact id is not found: {}", linked.text);
        let listed = app.request(Method::GET, "/api/v1/contacts", k, None).await;
        assert_eq!(listed.json["items"], json!([]));
        // The same email in the other workspace is a different contact.
        let mine = app.request(Method::POST, "/api/v1/contacts", k, Some(Body::Json(json!({"email": "a@x.vn"})))).await;
        assert_eq!(mine.status, 201);
        assert_ne!(mine.json["id"].as_i64().unwrap(), id);
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.json["score"], 0);
    }
}

app_test! {
    async fn bad_input_gets_a_clear_error_and_changes_nothing(app: &TestApp) {
        app.post("/api/v1/contacts", json!({"email": "keep@x.vn"})).await;
        let before = app.snapshot().await;
        use reqwest::Method;
        let key = app.key.clone();
        let k = Some(key.as_str());
        let malformed = app.request(Method::POST, "/api/v1/contacts", k, Some(Body::Raw("application/json", "{\"email\": ".into()))).await;
        assert_eq!(malformed.status, 400);
        assert!(malformed.json["error"]["message"].as_str().unwrap().contains("line 1"), "{}", malformed.text);
        let cases = [
            (json!({"emial": "x@y.vn"}), "emial"),
            (json!({"email": "not-an-email"}), "email"),
            (json!({"phone": "12345"}), "phone"),
            (json!({"email": "a@b.vn", "score": "high"}), "score"),
            (json!({"email": "a@b.vn", "birthday": "1990-02-30"}), "birthday"),
            (json!({"email": "a@b.vn", "timezone": "Mars/Base"}), "timezone"),
            (json!({"email": "a@b.vn", "tags": "vip"}), "tags"),
        ];
        for (body, field) in cases {
            let r = app.post("/api/v1/contacts", body.clone()).await;
            assert_eq!(r.status, 422, "{body}: {}", r.text);
            assert_eq!(r.json["error"]["code"], "invalid");
            assert!(r.error_fields().contains(&field.to_string()), "{body}: {}", r.text);
        }
        assert_eq!(app.post("/api/v1/records/invoice", json!({"total": 1})).await.status, 404, "unknown entity type");
        let wrong_type = app.post("/api/v1/records/order", json!({"total": "lots", "currency": 5})).await;
        assert_eq!(wrong_type.status, 422);
        assert_eq!(app.get("/api/v1/contacts/999999").await.status, 404);
        assert_eq!(app.get("/api/v1/contacts/abc").await.status, 404);
        assert_eq!(app.snapshot().await, before);
    }
}
