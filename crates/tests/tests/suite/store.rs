//! The store's own rules, one suite run on both backends.

use std::sync::{Arc, Mutex};

use serde_json::json;
use swell_core::contact::{ContactInput, ParseContext, Patch};
use swell_core::schema::Schema;
use swell_store::contacts::{ContactWrite, Outcome, Target};
use swell_tests::store_test;

fn input(v: serde_json::Value) -> ContactInput {
    ContactInput::from_json(
        v.as_object().unwrap(),
        &ParseContext {
            schema: &Schema::default(),
            phone_region: "VN",
        },
    )
    .unwrap()
}

fn upsert(v: serde_json::Value) -> ContactWrite {
    ContactWrite {
        target: Target::Upsert,
        input: input(v),
    }
}

store_test! {
    async fn a_batch_resolves_duplicates_inside_itself(store: Store) {
        let ws = store.ensure_workspace("w").await.unwrap();
        let results = store.write_contacts(ws.id, &[
            upsert(json!({"email": "a@x.vn", "name": "A"})),
            upsert(json!({"email": "a@x.vn", "phone": "0912345678"})),
            upsert(json!({"phone": "+84912345678", "score": 4})),
            // No contact has b@x.vn, so the phone finds the same contact and
            // its email changes.
            upsert(json!({"email": "b@x.vn", "phone": "0912345678"})),
            upsert(json!({"email": "c@x.vn"})),
            // Found by email c@x.vn, but the phone is the first contact's.
            upsert(json!({"email": "c@x.vn", "phone": "0912345678"})),
        ], false).await.unwrap();
        let outcomes: Vec<_> = results.iter().map(|r| r.as_ref().map(|(o, _)| o.clone()).map_err(|e| e.field.clone())).collect();
        assert_eq!(outcomes, [
            Ok(Outcome::Created), Ok(Outcome::Updated), Ok(Outcome::Updated), Ok(Outcome::Updated), Ok(Outcome::Created),
            Err("phone".to_string()),
        ]);
        let id = results[0].as_ref().unwrap().1;
        let c = store.contact(ws.id, id).await.unwrap();
        assert_eq!((c.email.as_deref(), c.phone.as_deref(), c.score, c.name.as_deref()), (Some("b@x.vn"), Some("+84912345678"), 4, Some("A")));
        let log = store.list_changes(ws.id, Some("contact"), Some(id), None, 100).await.unwrap();
        assert_eq!(log.items.len(), 4, "one entry per write that changed something");
    }
}

store_test! {
    async fn a_deleted_contacts_messages_stay_without_it(store: Store) {
        let ws = store.ensure_workspace("w").await.unwrap();
        let written = store.write_contacts(ws.id, &[
            upsert(json!({"email": "gone@x.vn"})),
            upsert(json!({"email": "kept@x.vn"})),
        ], false).await.unwrap();
        let (gone, kept) = (written[0].clone().unwrap().1, written[1].clone().unwrap().1);
        let (to_gone, _) = store.trace_message(ws.id, 1, Some(gone), "email", Some("gone@x.vn")).await.unwrap();
        let (to_kept, _) = store.trace_message(ws.id, 2, Some(kept), "email", Some("kept@x.vn")).await.unwrap();

        store.delete_contact(ws.id, gone).await.unwrap();
        let message = store.message(to_gone).await.unwrap();
        assert_eq!((message.contact_id, message.address.as_deref()), (None, Some("gone@x.vn")));
        assert_eq!(store.message(to_kept).await.unwrap().contact_id, Some(kept), "another contact's message is left be");
    }
}

store_test! {
    async fn a_contacts_tags_go_with_it_and_a_stored_contacts_tags_are_replaced(store: Store) {
        use swell_core::entity::EntityKind;
        use swell_core::filter::Filter;
        let ws = store.ensure_workspace("w").await.unwrap();
        let count = async |filter: &str| {
            store.count_audience(ws.id, &EntityKind::Contact, &Filter::parse(filter).unwrap(), &()).await.unwrap()
        };
        let written = store.write_contacts(ws.id, &[
            upsert(json!({"email": "gone@x.vn", "tags": ["vip", "new"]})),
            upsert(json!({"email": "kept@x.vn", "tags": ["vip"]})),
        ], false).await.unwrap();
        let gone = written[0].clone().unwrap().1;
        assert_eq!(count(r#"has tag "vip""#).await, 2);

        store.delete_contact(ws.id, gone).await.unwrap();
        // A tag audience is counted from the tag rows alone: a row left
        // behind by the deleted contact would still be counted.
        assert_eq!(count(r#"has tag "vip""#).await, 1);
        assert_eq!(count(r#"has tag "new""#).await, 0);

        // A stored contact's tags are replaced; a new one's written as given.
        let written = store.write_contacts(ws.id, &[
            upsert(json!({"email": "kept@x.vn", "tags": ["new", "gold"]})),
            upsert(json!({"email": "born@x.vn", "tags": ["gold"]})),
        ], false).await.unwrap();
        assert_eq!(written.iter().map(|w| w.clone().unwrap().0).collect::<Vec<_>>(), [Outcome::Updated, Outcome::Created]);
        assert_eq!(
            [count(r#"has tag "vip""#).await, count(r#"has tag "new""#).await, count(r#"has tag "gold""#).await],
            [0, 1, 2]
        );
    }
}

store_test! {
    async fn an_email_rendered_under_a_reserved_id_is_written_sent_with_its_outbox_entry(store: Store) {
        use swell_store::mailing::{OutboxMessage, SentTraceMessage};
        let ws = store.ensure_workspace("w").await.unwrap();
        let written = store.write_contacts(ws.id, &[upsert(json!({"email": "an@x.vn"}))], false).await.unwrap();
        let contact = written[0].clone().unwrap().1;
        let ids = store.reserve_message_ids(2).await.unwrap();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
        // A row made the usual way (sending, then marked sent) beside one
        // written only now, sent, under its reserved id.
        let (made, _) = store.trace_message(ws.id, 7, Some(contact), "email", Some("an@x.vn")).await.unwrap();
        let row = SentTraceMessage { id: ids[0], trace: 8, contact: Some(contact), address: Some("an@x.vn"), message_id: "<b@swell>" };
        let out = |pk: i64, mid: &'static str| OutboxMessage {
            message_pk: Some(pk), message_id: mid, sender: "s@x.vn", recipient: "an@x.vn", subject: "Hi", raw: b"raw",
        };
        store.deliver_to_outbox_with_rows(ws.id, &[row], &[out(made, "<a@swell>"), out(ids[0], "<b@swell>")]).await.unwrap();

        let fresh = store.message(ids[0]).await.unwrap();
        assert_eq!((fresh.state.as_str(), fresh.source_id, fresh.contact_id), ("sent", 8, Some(contact)));
        assert_eq!(fresh.message_id.as_deref(), Some("<b@swell>"));
        let old = store.message(made).await.unwrap();
        assert_eq!((old.state.as_str(), old.message_id.as_deref()), ("sent", Some("<a@swell>")));
        assert_eq!(store.outbox(ws.id, None, 10).await.unwrap().len(), 2);
        // A later row made the usual way takes none of the reserved ids.
        let (later, _) = store.trace_message(ws.id, 9, Some(contact), "email", None).await.unwrap();
        assert!(!ids.contains(&later));
        // Nor does a later reservation, or a row made after it, though the
        // second reserved id was never written.
        let more = store.reserve_message_ids(3).await.unwrap();
        let (last, _) = store.trace_message(ws.id, 10, Some(contact), "email", None).await.unwrap();
        let mut all: Vec<i64> = ids.iter().chain(&more).copied().chain([made, later, last]).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 8, "every id given once: {all:?}");
    }
}

store_test! {
    async fn concurrent_writers_never_create_the_same_contact_twice(store: Store) {
        let ws = store.ensure_workspace("w").await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let w = upsert(json!({"email": format!("p{i}@x.vn"), "score": t}));
                    store.write_contacts(ws.id, &[w], false).await.unwrap()[0].clone().unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let page = store.list_contacts(ws.id, &swell_store::contacts::ContactQuery { limit: 1000, ..Default::default() }).await.unwrap();
        assert_eq!(page.items.len(), 25);
    }
}

store_test! {
    async fn concurrent_tag_changes_to_one_contact_are_all_kept(store: Store) {
        let ws = store.ensure_workspace("w").await.unwrap();
        let written = store.write_contacts(ws.id, &[upsert(json!({"email": "one@x.vn", "tags": ["old", "gone"]}))], false).await.unwrap();
        let id = written[0].clone().unwrap().1;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let input = if i == 0 {
                    ContactInput { remove_tags: vec!["gone".into()], ..Default::default() }
                } else {
                    ContactInput { add_tags: vec![format!("t{i:02}")], ..Default::default() }
                };
                store.write_contacts(ws.id, &[ContactWrite { target: Target::Id(id), input }], false).await.unwrap()[0].clone().unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut tags = store.contact(ws.id, id).await.unwrap().tags;
        tags.sort();
        let mut want: Vec<String> = (1..16).map(|i| format!("t{i:02}")).collect();
        want.push("old".into());
        want.sort();
        assert_eq!(tags, want);
    }
}

store_test! {
    async fn a_failed_batch_leaves_nothing_behind(store: Store) {
        let ws = store.ensure_workspace("w").await.unwrap();
        // A patch of a contact that does not exist fails alone; the rest land.
        let results = store.write_contacts(ws.id, &[
            ContactWrite { target: Target::Id(987654), input: input(json!({"score": 1})) },
            upsert(json!({"email": "ok@x.vn"})),
        ], false).await.unwrap();
        assert!(results[0].is_err());
        assert!(results[1].is_ok());
        let dry = store.write_contacts(ws.id, &[upsert(json!({"email": "dry@x.vn"}))], true).await.unwrap();
        assert!(matches!(dry[0], Ok((Outcome::Created, _))));
        let page = store.list_contacts(ws.id, &swell_store::contacts::ContactQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(page.items.len(), 1);
        let log = store.list_changes(ws.id, None, None, None, 100).await.unwrap();
        assert_eq!(log.items.len(), 1);
    }
}

store_test! {
    async fn import_reports_progress_and_reopening_sees_everything(store: Store) {
        let ws = store.ensure_workspace("w").await.unwrap();
        let mut csv = String::from("email,tags\n");
        for i in 0..3000 {
            csv.push_str(&format!("p{i}@x.vn,{}\n", if i % 3 == 0 { "vip" } else { "" }));
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let opts = swell_store::import::ImportOptions { dry_run: false, batch_size: 1000 };
        let report = store.import_contacts(ws.id, std::io::Cursor::new(csv.into_bytes()), opts, move |n| s.lock().unwrap().push(n)).await.unwrap();
        assert_eq!(report.created, 3000);
        assert_eq!(*seen.lock().unwrap(), [1000, 2000, 3000]);
        let q = swell_store::contacts::ContactQuery { tag: Some("vip".into()), limit: 1000, ..Default::default() };
        assert_eq!(store.list_contacts(ws.id, &q).await.unwrap().items.len(), 1000);
    }
}

store_test! {
    async fn an_import_of_new_contacts_that_meets_stored_ones_later_updates_them(store: Store) {
        // The first batch finds none of its keys stored, so the batches after
        // it are planned as all new; the fourth meets stored contacts and is
        // written again the careful way, as is everything after it.
        let ws = store.ensure_workspace("w").await.unwrap();
        let stored = store.write_contacts(ws.id, &[
            upsert(json!({"email": "s1@x.vn", "name": "Old One"})),
            upsert(json!({"email": "s2@x.vn", "phone": "0912000002"})),
        ], false).await.unwrap();
        let s1 = stored[0].as_ref().unwrap().1;
        let mut csv = String::from("email,phone,name,tags\n");
        for i in 0..30 {
            csv.push_str(&format!("n{i}@x.vn,,New {i},\n"));
        }
        csv.push_str("s1@x.vn,,New One,vip\n"); // line 32: updates s1
        csv.push_str("s1@x.vn,0912000002,,\n"); // line 33: s1, with s2's phone
        csv.push_str("n0@x.vn,,New Zero,\n"); // line 34: a contact of batch 1
        for i in 40..55 {
            csv.push_str(&format!("n{i}@x.vn,,New {i},\n"));
        }
        let opts = swell_store::import::ImportOptions { dry_run: false, batch_size: 10 };
        let report = store.import_contacts(ws.id, std::io::Cursor::new(csv.into_bytes()), opts, |_| {}).await.unwrap();
        assert_eq!((report.created, report.updated, report.unchanged, report.failed), (45, 2, 0, 1), "{report:?}");
        assert_eq!(report.errors[0].row, 33);
        assert_eq!(report.errors[0].column.as_deref(), Some("phone"));

        let one = store.contact(ws.id, s1).await.unwrap();
        assert_eq!((one.name.as_deref(), one.tags.clone()), (Some("New One"), vec!["vip".to_string()]));
        let q = swell_store::contacts::ContactQuery { limit: 1000, ..Default::default() };
        let all = store.list_contacts(ws.id, &q).await.unwrap().items;
        assert_eq!(all.len(), 47, "two stored and 45 made, none twice");
        let zero: Vec<_> = all.iter().filter(|c| c.email.as_deref() == Some("n0@x.vn")).collect();
        assert_eq!(zero.len(), 1);
        assert_eq!(zero[0].name.as_deref(), Some("New Zero"));
        let log = store.list_changes(ws.id, Some("contact"), Some(s1), None, 100).await.unwrap().items;
        let ops: Vec<_> = log.iter().map(|c| c.op.as_str()).collect();
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(log.iter().any(|c| c.op == "update" && c.changes["name"] == json!(["Old One", "New One"])), "{log:?}");
        let q = swell_store::contacts::ContactQuery { tag: Some("vip".into()), limit: 10, ..Default::default() };
        assert_eq!(store.list_contacts(ws.id, &q).await.unwrap().items.len(), 1);
    }
}

/// SQLite's checkpoints run beside the writers: rows written in small
/// transactions, far below the writers' own checkpoint threshold, reach the
/// database file itself (read with the WAL ignored) without another write,
/// and once the writes stop the WAL file is emptied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_reach_the_database_file_in_the_background() {
    let db = swell_tests::TestDb::sqlite().await;
    let ws = db.store.ensure_workspace("w").await.unwrap();
    for i in 0..20 {
        db.store
            .write_contacts(
                ws.id,
                &[upsert(json!({"email": format!("c{i}@x.vn")}))],
                false,
            )
            .await
            .unwrap();
    }
    let in_file = || async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db.url)
            .immutable(true)
            .connect()
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts")
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0);
        n
    };
    let mut n = 0;
    for _ in 0..100 {
        n = in_file().await;
        if n == 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(n, 20, "the database file holds every committed contact");
    let wal = || std::fs::metadata(format!("{}-wal", db.url)).map_or(0, |m| m.len());
    for _ in 0..100 {
        if wal() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(wal(), 0, "the WAL file is emptied once the writes stop");
    let all = swell_store::contacts::ContactQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        db.store
            .list_contacts(ws.id, &all)
            .await
            .unwrap()
            .items
            .len(),
        20
    );
}

store_test! {
    async fn an_import_in_overlapping_batches_ends_as_its_rows_written_one_by_one(store: Store) {
        // Few keys, so rows keep finding, renaming and clashing with the
        // contacts of the batch before theirs.
        let mut rng = 7u64;
        let mut pick = |n: u64| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) % n
        };
        let mut rows = Vec::new();
        for _ in 0..400 {
            let cell = |v: u64, f: &dyn Fn(u64) -> String| if v < 6 { f(v) } else { String::new() };
            let ext = cell(pick(9), &|v| format!("X{v}"));
            let email = cell(pick(9), &|v| format!("p{v}@x.vn"));
            let phone = cell(pick(9), &|v| format!("091234500{v}"));
            let name = ["An", "Bình", "Chi", ""][pick(4) as usize].to_string();
            let tags = ["vip", "new;vip", "", ""][pick(4) as usize].to_string();
            rows.push([ext, email, phone, name, tags]);
        }
        let mut csv = String::from("external_id,email,phone,name,tags\n");
        for r in &rows {
            csv.push_str(&format!("{}\n", r.join(",")));
        }
        let batched = store.ensure_workspace("batched").await.unwrap().id;
        let opts = swell_store::import::ImportOptions { dry_run: false, batch_size: 3 };
        let report = store.import_contacts(batched, std::io::Cursor::new(csv.into_bytes()), opts, |_| {}).await.unwrap();

        // The same rows through one write each.
        let single = store.ensure_workspace("single").await.unwrap().id;
        let (mut created, mut updated, mut unchanged, mut failed_lines) = (0, 0, 0, Vec::new());
        for (i, row) in rows.iter().enumerate() {
            let mut v = serde_json::Map::new();
            for (k, cell) in ["external_id", "email", "phone", "name"].iter().zip(row) {
                if !cell.is_empty() {
                    v.insert(k.to_string(), json!(cell));
                }
            }
            if !row[4].is_empty() {
                v.insert("tags".into(), json!(row[4].split(';').collect::<Vec<_>>()));
            }
            match &store.write_contacts(single, &[upsert(serde_json::Value::Object(v))], false).await.unwrap()[0] {
                Ok((Outcome::Created, _)) => created += 1,
                Ok((Outcome::Updated, _)) => updated += 1,
                Ok((Outcome::Unchanged, _)) => unchanged += 1,
                Err(_) => failed_lines.push(i as u64 + 2),
            }
        }
        assert_eq!((report.created, report.updated, report.unchanged), (created, updated, unchanged), "{report:?}");
        let report_failed: Vec<u64> = report.errors.iter().map(|e| e.row).collect();
        assert_eq!(report_failed, failed_lines);
        assert!(created > 5 && updated > 50 && !failed_lines.is_empty(), "the rows exercise every path: {report:?}");

        // The same contacts, field for field, and the same change log.
        let contacts = |ws| {
            let store = store.clone();
            async move {
                let q = swell_store::contacts::ContactQuery { limit: 1000, ..Default::default() };
                let mut all: Vec<String> = store.list_contacts(ws, &q).await.unwrap().items.into_iter()
                    .map(|c| format!("{:?} {:?} {:?} {:?} {:?}", c.external_id, c.email, c.phone, c.name, c.tags))
                    .collect();
                all.sort();
                all
            }
        };
        assert_eq!(contacts(batched).await, contacts(single).await);
        let log = |ws| {
            let store = store.clone();
            async move {
                let mut ops: Vec<String> = store.list_changes(ws, Some("contact"), None, None, 1000).await.unwrap().items
                    .into_iter().map(|c| format!("{} {}", c.op, c.changes)).collect();
                ops.sort();
                ops
            }
        };
        assert_eq!(log(batched).await, log(single).await);
        // Searching by tag reads the contact_tags rows each batch wrote.
        let vip = swell_store::contacts::ContactQuery { tag: Some("vip".into()), limit: 1000, ..Default::default() };
        assert_eq!(
            store.list_contacts(batched, &vip).await.unwrap().items.len(),
            store.list_contacts(single, &vip).await.unwrap().items.len()
        );
    }
}

store_test! {
    async fn api_keys_are_stored_hashed_and_open_only_their_workspace(store: Store) {
        let a = store.ensure_workspace("a").await.unwrap();
        let b = store.ensure_workspace("b").await.unwrap();
        assert_eq!(store.ensure_workspace("a").await.unwrap().id, a.id, "ensure is idempotent");
        let (key, secret) = store.create_api_key(a.id, Some("ci")).await.unwrap();
        assert!(secret.starts_with(&key.prefix));
        assert_eq!(store.authenticate(&secret).await.unwrap().unwrap().id, a.id);
        assert!(store.authenticate("swk_guess").await.unwrap().is_none());
        assert_ne!(store.authenticate(&secret).await.unwrap().unwrap().id, b.id);
        store.revoke_api_key(a.id, key.id).await.unwrap();
        assert!(store.authenticate(&secret).await.unwrap().is_none());
        let _ = Patch::<i64>::Keep;
    }
}

store_test! {
    async fn a_trace_taken_again_finds_its_message_and_only_its_last_claim_is_recorded(store: Store) {
        use swell_store::automation::queue::{Entry, NewTraceMessage, TraceOutcome};
        use swell_store::automation::ActivityInput;
        // 2026-11-23T00:00:00Z, on a clock the test moves.
        let clock = Arc::new(swell_core::time::ManualClock::new(1_795_392_000_000));
        let store = store.with_clock(clock.clone());
        let ws = store.ensure_workspace("w").await.unwrap().id;
        let results = store.write_contacts(ws, &[upsert(json!({"email": "an@x.vn", "name": "An"}))], false).await.unwrap();
        let contact = results[0].as_ref().unwrap().1;
        let campaign = swell_tests::manual_campaign(&store, ws, "welcome").await;
        let step = ActivityInput {
            name: "mail".into(),
            kind: "email".into(),
            trigger: "start".into(),
            ..Default::default()
        };
        store.add_activity(ws, campaign.id, &step).await.unwrap();
        let entry = Entry { record_id: contact, contact_id: Some(contact), key: String::new() };
        store.enter_campaign(ws, campaign.id, &[entry], false).await.unwrap();

        // The first claim makes the step's message row, then its worker dies.
        let first = store.claim_traces(10, 1_000).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempts, 1);
        let trace = first[0].id;
        let row = |first_attempt| NewTraceMessage {
            trace, contact: Some(contact), channel: "email", address: Some("an@x.vn"), first_attempt,
        };
        let made = store.trace_messages(ws, &[row(true)]).await.unwrap();
        let (message, before) = made[&trace].clone();
        assert_eq!(before, None, "a new row");

        // Within the lease nobody else takes it; after it, a second claim does
        // and finds the row the first one made.
        clock.advance(500);
        assert!(store.claim_traces(10, 1_000).await.unwrap().is_empty());
        clock.advance(1_000);
        let second = store.claim_traces(10, 1_000).await.unwrap();
        assert_eq!((second.len(), second[0].id, second[0].attempts), (1, trace, 2));
        let again = store.trace_messages(ws, &[row(false)]).await.unwrap();
        assert_eq!(again[&trace], (message, Some("sending".to_string())));

        // The first claim's outcome, arriving late, is not recorded over
        // the second claim; the second's is.
        let mut late = TraceOutcome::new(trace, "processed");
        late.claim = Some(1);
        assert_eq!(store.complete_traces(&[late]).await.unwrap().lost, 1);
        let state = |store: swell_store::Store| async move {
            let q = swell_store::automation::views::TraceQuery { limit: 10, ..Default::default() };
            store.traces(ws, campaign.id, &q).await.unwrap()[0].state.clone()
        };
        assert_eq!(state(store.clone()).await, "running");
        let mut last = TraceOutcome::new(trace, "failed").because("interrupted while sending");
        last.claim = Some(2);
        assert_eq!(store.complete_traces(&[last]).await.unwrap().lost, 0);
        assert_eq!(state(store.clone()).await, "failed");
    }
}

store_test! {
    async fn a_participant_completes_when_its_last_trace_ends_and_not_before(store: Store) {
        use swell_store::automation::queue::{Entry, NewTrace, TraceOutcome, TxAction};
        let clock = Arc::new(swell_core::time::ManualClock::new(1_795_392_000_000));
        let store = store.with_clock(clock.clone());
        let ws = store.ensure_workspace("w").await.unwrap().id;
        let results = store
            .write_contacts(ws, &[upsert(json!({"email": "an@x.vn"})), upsert(json!({"email": "binh@x.vn"}))], false)
            .await.unwrap();
        let (an, binh) = (results[0].as_ref().unwrap().1, results[1].as_ref().unwrap().1);
        let campaign = swell_tests::manual_campaign(&store, ws, "two steps").await;
        let step = action_step;
        let first = store.add_activity(ws, campaign.id, &step(None, "start")).await.unwrap();
        let second = store.add_activity(ws, campaign.id, &step(Some(first.id), "after_parent")).await.unwrap();
        let entries: Vec<Entry> = [an, binh]
            .iter()
            .map(|c| Entry { record_id: *c, contact_id: Some(*c), key: String::new() })
            .collect();
        let people = store.enter_campaign(ws, campaign.id, &entries, false).await.unwrap();
        let states = |store: swell_store::Store| async move {
            let all = store.participants(ws, campaign.id, None, None, 10).await.unwrap();
            all.iter().map(|p| p.state.clone()).collect::<Vec<_>>()
        };
        let outcome = |t: &swell_store::automation::queue::ClaimedTrace, state| {
            let mut o = TraceOutcome::new(t.id, state);
            o.claim = Some(t.attempts);
            o
        };

        // An's first step schedules the second and adds a point; Bình's is
        // tried again later. Neither is done.
        let claimed = store.claim_traces(10, 60_000).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let mine = |who: i64| claimed.iter().find(|t| t.participant_id == who).unwrap().clone();
        let mut a = outcome(&mine(people[0]), "processed");
        a.children.push(NewTrace::scheduled(second.id, store.now(), None));
        a.actions.push(TxAction::AddScore { contact: an, delta: 3 });
        let mut b = outcome(&mine(people[1]), "scheduled").because("provider down");
        b.retry_at = Some(store.now() + 10_000);
        let done = store.complete_traces(&[a, b]).await.unwrap();
        assert_eq!((done.due_now, done.lost), (1, 0));
        assert_eq!(states(store.clone()).await, ["running", "running"]);
        assert_eq!(store.contact(ws, an).await.unwrap().score, 3);
        let log = store.list_changes(ws, Some("contact"), Some(an), None, 10).await.unwrap().items;
        assert!(log.iter().any(|c| c.changes == json!({"score": [0, 3]})), "{log:?}");

        // An's last step ends: An is done, Bình still waits for the retry.
        let claimed = store.claim_traces(10, 60_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].participant_id, claimed[0].activity_id), (people[0], second.id));
        store.complete_traces(&[outcome(&claimed[0], "processed")]).await.unwrap();
        assert_eq!(states(store.clone()).await, ["completed", "running"]);

        // Bình's retry runs and fails for good: Bình is done too.
        clock.advance(10_000);
        let claimed = store.claim_traces(10, 60_000).await.unwrap();
        assert_eq!((claimed.len(), claimed[0].participant_id), (1, people[1]));
        store.complete_traces(&[outcome(&claimed[0], "failed").because("provider down")]).await.unwrap();
        assert_eq!(states(store.clone()).await, ["completed", "completed"]);
        assert!(store.claim_traces(10, 60_000).await.unwrap().is_empty());
    }
}

store_test! {
    async fn steps_that_ran_in_their_parents_batch_are_written_with_it_once(store: Store) {
        use swell_store::automation::queue::{Entry, NewTrace, TraceOutcome, TxAction};
        let clock = Arc::new(swell_core::time::ManualClock::new(1_795_392_000_000));
        let store = store.with_clock(clock.clone());
        let ws = store.ensure_workspace("w").await.unwrap().id;
        let results = store.write_contacts(ws, &[upsert(json!({"email": "an@x.vn"}))], false).await.unwrap();
        let an = results[0].as_ref().unwrap().1;
        let campaign = swell_tests::manual_campaign(&store, ws, "a chain").await;
        let step = action_step;
        let first = store.add_activity(ws, campaign.id, &step(None, "start")).await.unwrap();
        let second = store.add_activity(ws, campaign.id, &step(Some(first.id), "after_parent")).await.unwrap();
        let third = store.add_activity(ws, campaign.id, &step(Some(second.id), "after_parent")).await.unwrap();
        let fourth = store.add_activity(ws, campaign.id, &step(Some(third.id), "after_parent")).await.unwrap();
        let entry = Entry { record_id: an, contact_id: Some(an), key: String::new() };
        let people = store.enter_campaign(ws, campaign.id, &[entry], false).await.unwrap();
        let now = store.now();

        // The first step ran, and the second and third after it in the same
        // batch: the second added two points and made a task, the third
        // scheduled the fourth for a minute later.
        let claimed = store.claim_traces(10, 60_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let mut third_ran = TraceOutcome::new(0, "processed");
        third_ran.version = Some(3);
        third_ran.children.push(NewTrace::scheduled(fourth.id, now + 60_000, None));
        let mut second_ran = TraceOutcome::new(0, "processed");
        second_ran.version = Some(2);
        second_ran.actions.push(TxAction::AddScore { contact: an, delta: 2 });
        second_ran.actions.push(TxAction::CreateTask {
            contact: Some(an),
            owner: None,
            title: "Call An".into(),
            note: None,
            due_at: None,
        });
        let mut third_step = NewTrace::scheduled(third.id, now, None);
        third_step.ran = Some(Box::new(third_ran));
        second_ran.children.push(third_step);
        let mut second_step = NewTrace::scheduled(second.id, now, None);
        second_step.ran = Some(Box::new(second_ran));
        let mut o = TraceOutcome::new(claimed[0].id, "processed");
        o.claim = Some(claimed[0].attempts);
        o.children.push(second_step);

        // Recorded once: the same outcome again (a worker whose lease ran
        // out and whose batch was taken and recorded by another) is lost
        // whole, its steps with it.
        let done = store.complete_traces(std::slice::from_ref(&o)).await.unwrap();
        assert_eq!((done.due_now, done.lost), (0, 0));
        assert_eq!(store.complete_traces(&[o]).await.unwrap().lost, 1);

        let q = swell_store::automation::views::TraceQuery { limit: 10, ..Default::default() };
        let mut traces = store.traces(ws, campaign.id, &q).await.unwrap();
        traces.sort_by_key(|t| t.id);
        let row = |activity: i64| traces.iter().find(|t| t.activity_id == activity).unwrap();
        assert_eq!(traces.len(), 4, "{traces:?}");
        let (one, two, three, four) = (row(first.id), row(second.id), row(third.id), row(fourth.id));
        assert_eq!((two.state.as_str(), two.parent_id, two.version, two.attempts), ("processed", Some(one.id), Some(2), 1));
        assert_eq!((two.processed_at, two.due_at), (Some(now), None));
        assert_eq!((three.state.as_str(), three.parent_id, three.version), ("processed", Some(two.id), Some(3)));
        assert_eq!((four.state.as_str(), four.parent_id, four.due_at), ("scheduled", Some(three.id), Some(now + 60_000)));
        assert_eq!(store.contact(ws, an).await.unwrap().score, 2);
        let tasks = store.tasks(ws, None, false).await.unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].title.as_str(), tasks[0].trace_id), ("Call An", Some(two.id)));
        let figures = store.activity_figures(ws, campaign.id).await.unwrap();
        assert_eq!(figures[&second.id].processed, 1);
        assert_eq!(figures[&third.id].processed, 1);

        // The participant runs on until the fourth step, due a minute later.
        let state = |store: swell_store::Store| async move {
            store.participants(ws, campaign.id, None, None, 10).await.unwrap()[0].state.clone()
        };
        assert_eq!(state(store.clone()).await, "running");
        assert!(store.claim_traces(10, 60_000).await.unwrap().is_empty());
        clock.advance(60_000);
        let claimed = store.claim_traces(10, 60_000).await.unwrap();
        assert_eq!((claimed.len(), claimed[0].activity_id, claimed[0].participant_id), (1, fourth.id, people[0]));
        let mut last = TraceOutcome::new(claimed[0].id, "processed");
        last.claim = Some(claimed[0].attempts);
        store.complete_traces(&[last]).await.unwrap();
        assert_eq!(state(store.clone()).await, "completed");
    }
}

/// A SQLite writer that finds the database locked by another connection's
/// write transaction waits in its busy handler, then writes once the lock
/// is free: neither write is lost and neither fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_writer_waits_for_another_connections_lock_then_writes() {
    use sqlx::{ConnectOptions, Connection};
    let db = swell_tests::TestDb::sqlite().await;
    let ws = db.store.ensure_workspace("w").await.unwrap();
    let mut other = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db.url)
        .connect()
        .await
        .unwrap();
    let mut held = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("INSERT INTO workspaces (name, created_at) VALUES ('held', 0)")
        .execute(&mut *held)
        .await
        .unwrap();
    let store = db.store.clone();
    let write = tokio::spawn(async move {
        store
            .write_contacts(ws.id, &[upsert(json!({"email": "waited@x.vn"}))], false)
            .await
    });
    // Long enough for many tries of the handler.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!write.is_finished(), "the write waits for the lock");
    held.commit().await.unwrap();
    write
        .await
        .unwrap()
        .expect("the write lands once the lock is free");
    let q = swell_store::contacts::ContactQuery {
        q: Some("waited".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        db.store.list_contacts(ws.id, &q).await.unwrap().items.len(),
        1
    );
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE name = 'held'")
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(held, 1, "the other connection's write stands");
}

/// An action step of a test campaign, after `parent` on `trigger`.
fn action_step(parent: Option<i64>, trigger: &str) -> swell_store::automation::ActivityInput {
    swell_store::automation::ActivityInput {
        parent_id: parent,
        name: "step".into(),
        kind: "action".into(),
        trigger: trigger.into(),
        ..Default::default()
    }
}

/// The migration that rebuilds SQLite's messages table (AUTOINCREMENT ids,
/// so that ids can be reserved) runs with foreign keys off: the rows that
/// point at a message (its events, a bounce) are all still there and still
/// point at it, and ids are never given twice after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_the_sqlite_messages_table_keeps_what_points_at_its_rows() {
    use sqlx::{ConnectOptions, Connection};
    let db = swell_tests::TestDb::sqlite().await;
    let store = &db.store;
    let ws = store.ensure_workspace("w").await.unwrap();
    let written = store
        .write_contacts(ws.id, &[upsert(json!({"email": "an@x.vn"}))], false)
        .await
        .unwrap();
    let contact = written[0].clone().unwrap().1;
    let (first, _) = store
        .trace_message(ws.id, 1, Some(contact), "email", Some("an@x.vn"))
        .await
        .unwrap();
    let (second, _) = store
        .trace_message(ws.id, 2, Some(contact), "email", Some("an@x.vn"))
        .await
        .unwrap();
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db.url)
        .foreign_keys(true)
        .connect()
        .await
        .unwrap();
    for pk in [first, second] {
        sqlx::query("INSERT INTO message_events (workspace_id, message_pk, kind, at) VALUES ($1, $2, 'open', 0)")
            .bind(ws.id.get())
            .bind(pk)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO bounces (workspace_id, address, message_pk, kind, at) VALUES ($1, 'an@x.vn', $2, 'soft', 0)")
        .bind(ws.id.get())
        .bind(second)
        .execute(&mut conn)
        .await
        .unwrap();
    // As a database made before the migration meets it: the same script
    // over the same rows (the table it copies from is already the new one).
    sqlx::query("DELETE FROM swell_migrations WHERE name = '0022_message_ids'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    store.migrate().await.unwrap();

    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db.url)
        .connect()
        .await
        .unwrap();
    let events: Vec<i64> =
        sqlx::query_scalar("SELECT message_pk FROM message_events ORDER BY message_pk")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(events, [first, second]);
    let bounced: Option<i64> = sqlx::query_scalar("SELECT message_pk FROM bounces")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(bounced, Some(second));
    let broken: Vec<String> = sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'messages'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(sql.contains("AUTOINCREMENT"), "{sql}");
    let indexes: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(indexes, 5);
    assert_eq!(store.message(first).await.unwrap().source_id, 1);
    let reserved = store.reserve_message_ids(2).await.unwrap();
    assert!(
        reserved.iter().all(|id| *id > second),
        "{reserved:?} after {second}"
    );
    // The store's own connections still check foreign keys.
    let refused = store
        .trace_message(ws.id, 3, Some(987_654), "email", None)
        .await;
    assert!(
        refused.is_err(),
        "a message to a contact that does not exist was written"
    );
}
