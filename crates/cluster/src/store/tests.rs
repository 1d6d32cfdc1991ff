use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::*;

const CONFIGMAPS: &str = "/configmaps";

fn key(resource: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey { resource: resource.to_owned(), namespace: namespace.to_owned(), name: name.to_owned() }
}

fn cm(name: &str) -> ObjectKey {
    key(CONFIGMAPS, "default", name)
}

fn object(key: &ObjectKey, data: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": key.name, "namespace": key.namespace},
        "data": {"value": data},
    })
}

fn put(key: &ObjectKey, data: &str, expect: Expect) -> Write {
    Write::Put { key: key.clone(), object: object(key, data), expect }
}

fn delete(key: &ObjectKey, expect: Expect) -> Write {
    Write::Delete { key: key.clone(), expect }
}

fn parse(stored: &StoredObject) -> Value {
    serde_json::from_slice(&stored.json).unwrap()
}

/// The `metadata.resourceVersion` written into the JSON.
fn json_rv(stored: &StoredObject) -> String {
    parse(stored)["metadata"]["resourceVersion"].as_str().unwrap().to_owned()
}

fn open(dir: &Path) -> Store {
    Store::open(&dir.join("store.redb"), StoreOptions::default()).unwrap()
}

/// The next event of `watch`; fails the test instead of hanging it.
async fn next(watch: &mut Watch) -> Option<Result<Arc<Event>, StoreError>> {
    tokio::time::timeout(Duration::from_secs(60), watch.next()).await.expect("no event within a minute")
}

async fn create(store: &Store, key: &ObjectKey) -> StoredObject {
    let mut out = store.commit(vec![put(key, "v", Expect::Absent)]).await.unwrap();
    out.remove(0)
}

#[test]
fn handles_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    send_sync(&store);
    send(&store.commit(Vec::new()));
    let mut watch = store.watch(&Scope::default(), 0).unwrap();
    send(&watch);
    send(&watch.next());
}

#[tokio::test]
async fn create_update_delete_check_preconditions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = cm("a");

    let created = create(&store, &a).await;
    assert_eq!(created.rv, 1);
    assert_eq!(json_rv(&created), "1");
    assert_eq!(parse(&created)["data"]["value"], "v");

    let again = store.commit(vec![put(&a, "x", Expect::Absent)]).await;
    assert!(matches!(again, Err(StoreError::Precondition { index: 0, found: Some(1), expect: Expect::Absent, .. })));

    let updated = store.commit(vec![put(&a, "w", Expect::Version(1))]).await.unwrap();
    assert_eq!(updated[0].rv, 2);
    assert_eq!(json_rv(&updated[0]), "2");

    let stale = store.commit(vec![put(&a, "x", Expect::Version(1))]).await;
    assert!(matches!(stale, Err(StoreError::Precondition { found: Some(2), .. })));
    assert_eq!(parse(&store.get(&a).unwrap())["data"]["value"], "w");

    let any = store.commit(vec![put(&a, "y", Expect::Exists)]).await.unwrap();
    assert_eq!(any[0].rv, 3);

    let missing = store.commit(vec![put(&cm("b"), "x", Expect::Exists)]).await;
    assert!(matches!(missing, Err(StoreError::Precondition { found: None, .. })));

    let stale_delete = store.commit(vec![delete(&a, Expect::Version(2))]).await;
    assert!(matches!(stale_delete, Err(StoreError::Precondition { found: Some(3), .. })));

    let deleted = store.commit(vec![delete(&a, Expect::Exists)]).await.unwrap();
    assert_eq!(deleted[0].rv, 4);
    assert_eq!(json_rv(&deleted[0]), "4");
    assert_eq!(parse(&deleted[0])["data"]["value"], "y");
    assert!(store.get(&a).is_none());
    assert_eq!(store.current_rv(), 4);

    // Deleting what does not exist fails, whatever the precondition.
    for expect in [Expect::Absent, Expect::Exists] {
        let gone = store.commit(vec![delete(&a, expect)]).await;
        assert!(matches!(gone, Err(StoreError::Precondition { found: None, .. })));
    }
    assert_eq!(store.current_rv(), 4);
}

#[tokio::test]
async fn put_adds_metadata_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let out = store
        .commit(vec![Write::Put { key: cm("bare"), object: json!({"kind": "ConfigMap"}), expect: Expect::Absent }])
        .await
        .unwrap();
    assert_eq!(json_rv(&out[0]), "1");
}

#[tokio::test]
async fn failing_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let existing = create(&store, &cm("existing")).await;

    let batch = vec![
        put(&cm("a"), "v", Expect::Absent),
        put(&cm("b"), "v", Expect::Absent),
        put(&cm("existing"), "v", Expect::Version(existing.rv + 10)),
    ];
    let result = store.commit(batch).await;
    match result {
        Err(StoreError::Precondition { index, key, .. }) => {
            assert_eq!(index, 2);
            assert_eq!(key, cm("existing"));
        }
        other => panic!("expected a precondition failure, got {other:?}"),
    }
    assert!(store.get(&cm("a")).is_none());
    assert!(store.get(&cm("b")).is_none());
    assert_eq!(store.current_rv(), existing.rv);

    // The rejected batch consumed no resourceVersion.
    let next = create(&store, &cm("a")).await;
    assert_eq!(next.rv, existing.rv + 1);
}

#[tokio::test]
async fn writes_in_one_batch_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = cm("a");
    let out = store
        .commit(vec![
            put(&a, "1", Expect::Absent),
            put(&a, "2", Expect::Version(1)),
            delete(&a, Expect::Version(2)),
            put(&a, "3", Expect::Absent),
        ])
        .await
        .unwrap();
    let rvs: Vec<u64> = out.iter().map(|o| o.rv).collect();
    assert_eq!(rvs, [1, 2, 3, 4]);
    let current = store.get(&a).unwrap();
    assert_eq!(current.rv, 4);
    assert_eq!(parse(&current)["data"]["value"], "3");
}

#[tokio::test]
async fn concurrent_batches_get_contiguous_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut rvs = Vec::new();
            for i in 0..20 {
                let batch = vec![
                    put(&cm(&format!("{t}-{i}-a")), "v", Expect::Absent),
                    put(&cm(&format!("{t}-{i}-b")), "v", Expect::Absent),
                ];
                let out = store.commit(batch).await.unwrap();
                // The writes of one batch are numbered consecutively.
                assert_eq!(out[1].rv, out[0].rv + 1);
                rvs.extend(out.iter().map(|o| o.rv));
            }
            rvs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let rvs = task.await.unwrap();
        // Each writer sees its own versions increase.
        assert!(rvs.windows(2).all(|w| w[0] < w[1]));
        all.extend(rvs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=320).collect::<Vec<u64>>());
    assert_eq!(store.current_rv(), 320);
}

#[tokio::test]
async fn reopen_keeps_objects_and_counter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let kept = create(&store, &cm("kept")).await;
    let updated = create(&store, &cm("updated")).await;
    let updated = store.commit(vec![put(&cm("updated"), "new", Expect::Version(updated.rv))]).await.unwrap().remove(0);
    create(&store, &cm("deleted")).await;
    store.commit(vec![delete(&cm("deleted"), Expect::Exists)]).await.unwrap();
    let last = store.current_rv();
    assert_eq!(last, 5);
    store.close().await;
    assert!(matches!(store.commit(vec![put(&cm("late"), "v", Expect::Absent)]).await, Err(StoreError::Closed)));

    let store = open(dir.path());
    assert_eq!(store.current_rv(), last);
    let got = store.get(&cm("kept")).unwrap();
    assert_eq!((got.rv, &got.json), (kept.rv, &kept.json));
    let got = store.get(&cm("updated")).unwrap();
    assert_eq!((got.rv, &got.json), (updated.rv, &updated.json));
    assert!(store.get(&cm("deleted")).is_none());
    // The counter continues past the deletion, the last thing committed.
    assert_eq!(create(&store, &cm("next")).await.rv, last + 1);
    store.close().await;

    let store = open(dir.path());
    assert_eq!(store.current_rv(), last + 1);
}

#[tokio::test]
async fn updates_do_not_grow_the_file_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = cm("a");
    let big = "x".repeat(4096);
    let file_size = || std::fs::metadata(dir.path().join("store.redb")).unwrap().len();
    store.commit(vec![put(&a, &big, Expect::Absent)]).await.unwrap();
    for _ in 0..200 {
        store.commit(vec![put(&a, &big, Expect::Exists)]).await.unwrap();
    }
    let early = file_size();
    for _ in 0..1000 {
        store.commit(vec![put(&a, &big, Expect::Exists)]).await.unwrap();
    }
    // 1000 more versions of 4 KiB would be 4 MB if they were all kept.
    assert!(file_size() < early + 1_000_000, "the file grew from {early} to {}", file_size());
}

/// Creates `names` in three resources and two namespaces; returns the keys.
async fn populate(store: &Store) -> Vec<ObjectKey> {
    let mut keys = Vec::new();
    for resource in ["/configmaps", "/secrets", "apps/deployments"] {
        for namespace in ["ns-b", "ns-a", ""] {
            for name in ["z", "a", "m"] {
                keys.push(key(resource, namespace, name));
            }
        }
    }
    let batch = keys.iter().map(|k| put(k, "v", Expect::Absent)).collect();
    store.commit(batch).await.unwrap();
    keys.sort();
    keys
}

fn list_all_pages(store: &Store, scope: &Scope, limit: usize, at_rv: Option<u64>) -> Vec<ObjectKey> {
    let mut keys = Vec::new();
    let mut options = ListOptions { at_rv, start_after: None, limit: Some(limit) };
    loop {
        let page = store.list(scope, &options).unwrap();
        assert!(page.items.len() <= limit);
        assert_eq!(page.items.len(), page.keys.len());
        keys.extend(page.keys.iter().cloned());
        if !page.more {
            return keys;
        }
        assert_eq!(page.items.len(), limit);
        options.at_rv = Some(page.rv);
        options.start_after = page.keys.last().cloned();
    }
}

#[tokio::test]
async fn list_pages_through_each_scope_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let keys = populate(&store).await;
    let scopes = [
        Scope::default(),
        Scope { resource: Some("/secrets".to_owned()), namespace: None },
        Scope { resource: Some("/secrets".to_owned()), namespace: Some("ns-a".to_owned()) },
        Scope { resource: None, namespace: Some("ns-b".to_owned()) },
        Scope { resource: Some("/absent".to_owned()), namespace: None },
    ];
    for scope in &scopes {
        let expected: Vec<ObjectKey> = keys.iter().filter(|k| scope.contains(k)).cloned().collect();
        let whole = store.list(scope, &ListOptions::default()).unwrap();
        assert_eq!(whole.keys, expected, "{scope:?}");
        assert!(!whole.more);
        assert_eq!(whole.rv, store.current_rv());
        for (k, item) in whole.keys.iter().zip(&whole.items) {
            assert_eq!(parse(item)["metadata"]["name"], k.name.as_str());
        }
        for limit in [1, 2, 4, 100] {
            assert_eq!(list_all_pages(&store, scope, limit, None), expected, "{scope:?} limit {limit}");
        }
    }
}

#[tokio::test]
async fn continued_list_serves_the_first_page_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let names: Vec<String> = (0..20).map(|i| format!("cm-{i:02}")).collect();
    for name in &names {
        create(&store, &cm(name)).await;
    }
    let scope = Scope { resource: Some(CONFIGMAPS.to_owned()), namespace: Some("default".to_owned()) };
    let snapshot = store.list(&scope, &ListOptions::default()).unwrap();
    let first = store.list(&scope, &ListOptions { limit: Some(7), ..ListOptions::default() }).unwrap();
    assert!(first.more);

    // Concurrent changes before and after the page boundary: updates,
    // deletions, creations, and a deletion followed by a re-creation.
    let mut writers = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let name = format!("cm-{i:02}");
            let batch = match i % 4 {
                0 => vec![put(&cm(&name), "changed", Expect::Exists)],
                1 => vec![delete(&cm(&name), Expect::Exists)],
                2 => vec![put(&cm(&format!("{name}-new")), "v", Expect::Absent)],
                _ => vec![delete(&cm(&name), Expect::Exists), put(&cm(&name), "again", Expect::Absent)],
            };
            store.commit(batch).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    create(&store, &key(CONFIGMAPS, "other", "outside-the-scope")).await;
    assert!(store.current_rv() > first.rv);

    let mut keys = first.keys.clone();
    let mut items = first.items.clone();
    let mut options = ListOptions { at_rv: Some(first.rv), start_after: first.keys.last().cloned(), limit: Some(5) };
    loop {
        let page = store.list(&scope, &options).unwrap();
        assert_eq!(page.rv, first.rv);
        keys.extend(page.keys.iter().cloned());
        items.extend(page.items.iter().cloned());
        if !page.more {
            break;
        }
        options.start_after = page.keys.last().cloned();
    }
    assert_eq!(keys, snapshot.keys);
    let got: Vec<(u64, &Bytes)> = items.iter().map(|o| (o.rv, &o.json)).collect();
    let want: Vec<(u64, &Bytes)> = snapshot.items.iter().map(|o| (o.rv, &o.json)).collect();
    assert_eq!(got, want);

    // The latest state reflects the changes.
    let latest = store.list(&scope, &ListOptions::default()).unwrap();
    assert!(latest.keys.contains(&cm("cm-02-new")));
    assert!(!latest.keys.contains(&cm("cm-01")));
}

#[tokio::test]
async fn list_at_an_intermediate_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = create(&store, &cm("a")).await;
    let b = create(&store, &cm("b")).await;
    let middle = store.current_rv();
    store
        .commit(vec![
            put(&cm("a"), "changed", Expect::Exists),
            delete(&cm("b"), Expect::Exists),
            put(&cm("c"), "v", Expect::Absent),
        ])
        .await
        .unwrap();
    let page = store.list(&Scope::default(), &ListOptions { at_rv: Some(middle), ..ListOptions::default() }).unwrap();
    assert_eq!(page.keys, [cm("a"), cm("b")]);
    assert_eq!(page.items[0].json, a.json);
    assert_eq!(page.items[1].json, b.json);
    let page = store.list(&Scope::default(), &ListOptions { at_rv: Some(a.rv), ..ListOptions::default() }).unwrap();
    assert_eq!(page.keys, [cm("a")]);
    // A version in the future serves the latest state.
    let future = store.list(&Scope::default(), &ListOptions { at_rv: Some(1000), ..ListOptions::default() }).unwrap();
    assert_eq!(future.keys, [cm("a"), cm("c")]);
    assert_eq!(future.rv, store.current_rv());
}

#[tokio::test]
async fn versions_older_than_the_history_are_expired() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.redb"), StoreOptions { history: 5 }).unwrap();
    for i in 0..10 {
        create(&store, &cm(&format!("{i}"))).await;
    }
    assert_eq!(store.current_rv(), 10);
    assert_eq!(store.oldest_rv(), 5);
    let at = |rv| ListOptions { at_rv: Some(rv), ..ListOptions::default() };
    assert!(matches!(store.list(&Scope::default(), &at(4)), Err(StoreError::Expired { requested: 4, oldest: 5 })));
    assert!(matches!(store.watch(&Scope::default(), 4), Err(StoreError::Expired { requested: 4, oldest: 5 })));
    assert_eq!(store.list(&Scope::default(), &at(5)).unwrap().keys.len(), 5);
    let mut watch = store.watch(&Scope::default(), 5).unwrap();
    assert_eq!(next(&mut watch).await.unwrap().unwrap().object.rv, 6);

    // After a restart only the current version can be resumed from.
    store.close().await;
    let store = Store::open(&dir.path().join("store.redb"), StoreOptions { history: 5 }).unwrap();
    assert!(matches!(store.watch(&Scope::default(), 9), Err(StoreError::Expired { requested: 9, oldest: 10 })));
    assert!(store.watch(&Scope::default(), 10).is_ok());
}

#[tokio::test]
async fn watch_replays_history_then_follows_live_writes_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..30 {
        create(&store, &cm(&format!("early-{i}"))).await;
    }
    let mut watch = store.watch(&Scope::default(), 10).unwrap();
    let mut writers = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..50 {
                let k = cm(&format!("live-{t}-{i}"));
                store.commit(vec![put(&k, "v", Expect::Absent)]).await.unwrap();
                store.commit(vec![put(&k, "w", Expect::Exists)]).await.unwrap();
                if i % 5 == 0 {
                    store.commit(vec![delete(&k, Expect::Exists)]).await.unwrap();
                }
            }
        }));
    }
    let last = 30 + 4 * (50 * 2 + 10);
    let mut expected_rv = 11;
    while expected_rv <= last {
        let event = next(&mut watch).await.unwrap().unwrap();
        assert_eq!(event.object.rv, expected_rv);
        assert_eq!(json_rv(&event.object), expected_rv.to_string());
        expected_rv += 1;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(store.current_rv(), last);
}

#[tokio::test]
async fn events_carry_kind_and_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut watch = store.watch(&Scope::default(), 0).unwrap();
    let a = cm("a");
    let created = create(&store, &a).await;
    let updated = store.commit(vec![put(&a, "w", Expect::Exists)]).await.unwrap().remove(0);
    store.commit(vec![delete(&a, Expect::Exists)]).await.unwrap();

    let added = next(&mut watch).await.unwrap().unwrap();
    assert_eq!(added.kind, EventKind::Added);
    assert!(added.previous.is_none());
    assert_eq!(added.object.json, created.json);

    let modified = next(&mut watch).await.unwrap().unwrap();
    assert_eq!(modified.kind, EventKind::Modified);
    assert_eq!(modified.previous.as_ref().unwrap().json, created.json);
    assert_eq!(modified.object.json, updated.json);

    let deleted = next(&mut watch).await.unwrap().unwrap();
    assert_eq!(deleted.kind, EventKind::Deleted);
    assert_eq!(deleted.key, a);
    assert_eq!(deleted.object.rv, 3);
    assert_eq!(json_rv(&deleted.object), "3");
    assert_eq!(parse(&deleted.object)["data"]["value"], "w");
    assert_eq!(deleted.previous.as_ref().unwrap().json, updated.json);
}

#[tokio::test]
async fn watch_sees_only_its_scope() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let start = store.current_rv();
    let scopes = [
        Scope::default(),
        Scope { resource: Some("/secrets".to_owned()), namespace: None },
        Scope { resource: Some("/secrets".to_owned()), namespace: Some("ns-a".to_owned()) },
        Scope { resource: None, namespace: Some("ns-b".to_owned()) },
    ];
    // Half the watchers replay from history, half follow live.
    let keys = populate(&store).await;
    let middle = store.current_rv();
    let mut watches: Vec<(Scope, Watch)> = Vec::new();
    for scope in &scopes {
        watches.push((scope.clone(), store.watch(scope, start).unwrap()));
        watches.push((scope.clone(), store.watch(scope, middle).unwrap()));
    }
    for k in &keys {
        store.commit(vec![put(k, "again", Expect::Exists)]).await.unwrap();
    }
    // A last write to every scope, so each watcher knows when it has seen all.
    let markers = [key("/secrets", "ns-a", "zz-last"), key("/secrets", "ns-b", "zz-last")];
    let marker_rvs: Vec<(ObjectKey, u64)> = store
        .commit(markers.iter().map(|k| put(k, "v", Expect::Absent)).collect())
        .await
        .unwrap()
        .iter()
        .zip(&markers)
        .map(|(stored, k)| (k.clone(), stored.rv))
        .collect();

    for (i, (scope, mut watch)) in watches.into_iter().enumerate() {
        let in_scope: Vec<u64> = marker_rvs.iter().filter(|(k, _)| scope.contains(k)).map(|(_, rv)| *rv).collect();
        let last = *in_scope.iter().max().unwrap();
        let mut seen = Vec::new();
        loop {
            let event = next(&mut watch).await.unwrap().unwrap();
            assert!(scope.contains(&event.key), "{scope:?} got {:?}", event.key);
            seen.push(event.object.rv);
            if event.object.rv == last {
                break;
            }
        }
        let matching = keys.iter().filter(|k| scope.contains(k)).count();
        let expected = if i % 2 == 0 { 2 * matching } else { matching };
        assert_eq!(seen.len(), expected + in_scope.len(), "{scope:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }
}

#[tokio::test]
async fn slow_watcher_expires_without_blocking_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_buffer(&dir.path().join("store.redb"), StoreOptions::default(), 4).unwrap();
    let mut slow = store.watch(&Scope::default(), 0).unwrap();
    let mut fast = store.watch(&Scope::default(), 0).unwrap();
    for i in 0..20 {
        create(&store, &cm(&format!("{i}"))).await;
        // The fast watcher keeps up.
        assert_eq!(next(&mut fast).await.unwrap().unwrap().object.rv, i + 1);
    }
    let mut delivered = Vec::new();
    let expired = loop {
        match next(&mut slow).await.unwrap() {
            Ok(event) => delivered.push(event.object.rv),
            Err(error) => break error,
        }
    };
    assert!(delivered.len() <= 4);
    assert_eq!(delivered, (1..=delivered.len() as u64).collect::<Vec<_>>());
    assert!(matches!(expired, StoreError::Expired { .. }));
    assert!(next(&mut slow).await.is_none());
}

#[tokio::test]
async fn close_ends_watches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut watch = store.watch(&Scope::default(), 0).unwrap();
    create(&store, &cm("a")).await;
    store.close().await;
    // What was committed before the close is still delivered.
    assert_eq!(next(&mut watch).await.unwrap().unwrap().object.rv, 1);
    assert!(next(&mut watch).await.is_none());
    // Reads still work on a closed store.
    assert!(store.get(&cm("a")).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let k = cm(&format!("w{t}-{i}"));
                store.commit(vec![put(&k, "v", Expect::Absent)]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.current_rv(), 640);
    store.close().await;

    let store = open(dir.path());
    assert_eq!(store.current_rv(), 640);
    let all = store.list(&Scope::default(), &ListOptions::default()).unwrap();
    assert_eq!(all.items.len(), 640);
    let rvs: BTreeSet<u64> = all.items.iter().map(|o| o.rv).collect();
    assert_eq!(rvs, (1..=640).collect());
    for item in &all.items {
        assert_eq!(json_rv(item), item.rv.to_string());
    }
}

/// Set, in the crash test's child process, to the database path.
const CRASH_CHILD_ENV: &str = "FERRY_STORE_CRASH_CHILD_DB";
/// Writers in the child, so at most this many writes are in flight when it dies.
const CRASH_WRITERS: usize = 8;

/// Not a test of its own: the body of the crash test's child process. It
/// writes until killed, printing each key before committing it and after
/// the commit is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_writer() {
    let Some(db) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&db), StoreOptions::default()).unwrap();
    let mut tasks = Vec::new();
    for t in 0..CRASH_WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Bounded, in case the parent never kills us.
            for i in 0..1_000_000 {
                let name = format!("t{t}-{i}");
                println!("start {name}");
                store.commit(vec![put(&cm(&name), "v", Expect::Absent)]).await.unwrap();
                println!("ack {name}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.redb");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::tests::crash_child_writer", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, &db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut started = BTreeSet::new();
    let mut acked = BTreeSet::new();
    let record = |line: String, started: &mut BTreeSet<String>, acked: &mut BTreeSet<String>| {
        if let Some(name) = line.strip_prefix("start ") {
            started.insert(name.to_owned());
        } else if let Some(name) = line.strip_prefix("ack ") {
            acked.insert(name.to_owned());
        }
    };
    // Kill it in the middle of the stream, after a good number of acks.
    while acked.len() < 500 {
        match lines.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => record(line, &mut started, &mut acked),
            Err(error) => {
                let _ = child.kill();
                panic!("the child stopped writing after {} acks: {error}", acked.len());
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines printed before the kill are still in the pipe.
    for line in lines.iter() {
        record(line, &mut started, &mut acked);
    }
    reader.join().unwrap();

    let store = Store::open(&db, StoreOptions::default()).unwrap();
    let all = store.list(&Scope::default(), &ListOptions::default()).unwrap();
    let present: BTreeSet<String> = all.keys.iter().map(|k| k.name.clone()).collect();
    let lost: Vec<&String> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let unacked: Vec<&String> = present.difference(&acked).collect();
    assert!(unacked.iter().all(|name| started.contains(*name)), "writes that were never sent: {unacked:?}");
    assert!(unacked.len() <= CRASH_WRITERS, "more unacknowledged writes than were in flight: {unacked:?}");
    // Every object is whole, and the counter is past every version.
    for item in &all.items {
        assert_eq!(json_rv(item), item.rv.to_string());
        assert!(item.rv <= store.current_rv());
    }
    assert_eq!(store.current_rv() as usize, present.len());
}
