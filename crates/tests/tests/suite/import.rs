//! CSV import through the API and the store, on both backends.

use serde_json::json;
use swell_tests::app_test;

app_test! {
    async fn a_csv_import_reports_each_bad_row_and_lands_the_good_ones(app: &TestApp) {
        app.put("/api/v1/attributes", json!([{"key": "tier", "type": "enum", "values": ["silver", "gold"]}])).await;
        app.post("/api/v1/contacts", json!({"email": "old@x.vn", "name": "Old Name"})).await;
        let csv = "email,phone,name,tags,attr.tier\n\
                   a@x.vn,0912 345 678,Nguyễn Văn An,vip;newsletter,gold\n\
                   not-an-email,,Bad Row,,silver\n\
                   old@x.vn,,Hồ Thị Mai,,\n\
                   b@x.vn,12,Bad Phone,,gold\n\
                   c@x.vn,,Ok Row,,bronze\n\
                   old@x.vn,,Hồ Thị Mai,,\n\
                   d@x.vn,0987654321,\"Quoted, Name\",,\n\
                   e@x.vn,too,many,fields,here,extra\n";
        let report = app.import_csv(csv).await;
        assert_eq!((report["created"].as_u64(), report["updated"].as_u64(), report["unchanged"].as_u64(), report["failed"].as_u64()),
            (Some(2), Some(1), Some(1), Some(4)), "{report}");
        let errors = report["errors"].as_array().unwrap();
        let rows: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e["row"].as_u64().unwrap(), e["column"].as_str())).collect();
        assert_eq!(rows, [(3, Some("email")), (5, Some("phone")), (6, Some("attr.tier")), (9, None)]);
        assert!(errors[3]["reason"].as_str().unwrap().contains("6 fields but the header has 5"));
        let a = app.get("/api/v1/contacts?q=nguyen").await.json;
        assert_eq!(a["items"][0]["tags"], json!(["newsletter", "vip"]));
        assert_eq!(a["items"][0]["attributes"]["tier"], "gold");
        let old = app.get("/api/v1/contacts?q=old%40x.vn").await.json;
        assert_eq!(old["items"][0]["name"], "Hồ Thị Mai");
    }
}

app_test! {
    async fn a_dry_run_counts_without_keeping_anything(app: &TestApp) {
        let before = app.snapshot().await;
        let r = app.post_csv("/api/v1/contacts/import?dry_run=true", "email,name\na@x.vn,A\nb@x.vn,B\nbad,C\n").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.json["created"].as_u64(), r.json["failed"].as_u64(), r.json["dry_run"].as_bool()), (Some(2), Some(1), Some(true)));
        assert_eq!(app.snapshot().await, before);
    }
}

app_test! {
    async fn a_file_with_unknown_columns_or_no_csv_is_refused_whole(app: &TestApp) {
        let before = app.snapshot().await;
        let r = app.post_csv("/api/v1/contacts/import", "email,nmae\na@x.vn,A\n").await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(r.json["error"]["message"].as_str().unwrap().contains("'nmae'"), "{}", r.text);
        let r = app.post_csv("/api/v1/contacts/import", "email,attr.missing\na@x.vn,1\n").await;
        assert_eq!(r.status, 422);
        let r = app.request(reqwest::Method::POST, "/api/v1/contacts/import", Some(&app.key.clone()), Some(swell_tests::Body::Json(json!({})))).await;
        assert_eq!(r.status, 415);
        let r = app.post_csv("/api/v1/records/order/import", "external_id,totl\nSO-1,5\n").await;
        assert_eq!(r.status, 422);
        assert_eq!(app.snapshot().await, before);
    }
}

app_test! {
    async fn orders_import_from_csv_and_link_their_customers(app: &TestApp) {
        app.post("/api/v1/contacts", json!({"email": "a@x.vn"})).await;
        let csv = "external_id,total,currency,status,created_at,contact_email\n\
                   SO-1,150000,VND,paid,2026-01-05T10:00:00+07:00,a@x.vn\n\
                   SO-2,abc,VND,paid,,a@x.vn\n\
                   SO-3,99000,VND,pending,,new@x.vn\n\
                   SO-1,150000,VND,delivered,,a@x.vn\n";
        let r = app.post_csv("/api/v1/records/order/import", csv).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.json["created"].as_u64(), r.json["updated"].as_u64(), r.json["failed"].as_u64()), (Some(2), Some(1), Some(1)), "{}", r.text);
        assert_eq!(r.json["errors"][0], json!({"row": 3, "column": "total", "reason": "'abc' is not a number"}));
        let orders = app.get("/api/v1/records/order").await.json;
        assert_eq!(orders["items"][0]["status"], "delivered");
        assert_eq!(app.get("/api/v1/contacts").await.json["items"].as_array().unwrap().len(), 2);
    }
}

app_test! {
    async fn a_large_import_streams_in_batches_and_dedupes_across_them(app: &TestApp) {
        let mut csv = String::from("external_id,email,name\n");
        for i in 0..5000 {
            csv.push_str(&format!("X{i},u{i}@x.vn,Người {i}\n"));
        }
        // The same people again, in a later batch: updates, not duplicates.
        for i in 0..100 {
            csv.push_str(&format!("X{i},u{i}@x.vn,Renamed {i}\n"));
        }
        let report = app.import_csv(&csv).await;
        assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(5000), Some(100)), "{report}");
        let page = app.get("/api/v1/contacts?q=renamed&limit=1000").await.json;
        assert_eq!(page["items"].as_array().unwrap().len(), 100);
    }
}
