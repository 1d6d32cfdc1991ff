//! Both tiers against a real directory.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::*;

fn key(name: &str) -> CacheKey {
    CacheKey::new().part("app", name)
}

/// `count` ConfigMaps tagged with `tag`, every one the same size for a given tag length.
fn entry(tag: &str, count: usize) -> Entry {
    let objects = (0..count)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("{tag}-{i:03}")}, "data": {"k": "v"}}))
        .collect();
    Entry::new(objects, BTreeMap::from([("kustomize".to_string(), "v5.5.0".to_string())]))
}

fn memory_off() -> Limits {
    Limits { memory_entries: 0, ..Limits::default() }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for item in std::fs::read_dir(&next).unwrap().flatten() {
            let kind = item.file_type().unwrap();
            if kind.is_dir() {
                stack.push(item.path());
            } else {
                out.push(item.path());
            }
        }
    }
    out.sort();
    out
}

fn entry_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir).into_iter().filter(|p| !p.starts_with(dir.join("tmp"))).collect()
}

fn file_size(cache: &RenderCache, key: &CacheKey) -> u64 {
    std::fs::metadata(cache.inner.entry_path(&key.digest())).unwrap().len()
}

#[test]
fn put_then_get_hits_memory_with_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RenderCache::open(&dir.path().join("c"), Limits::default()).unwrap();
    assert!(cache.get(&key("a")).is_none());
    let stored = cache.put(&key("a"), entry("a", 100));
    let hit = cache.get(&key("a")).unwrap();
    assert!(Arc::ptr_eq(&stored, &hit), "a memory hit shares the stored entry");
    assert!(Arc::ptr_eq(&cache.get_memory(&key("a")).unwrap(), &hit));
    assert_eq!(hit.objects.len(), 100);
    assert!(cache.get(&key("b")).is_none());
    assert!(cache.get_memory(&key("b")).is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits_memory, stats.hits_disk, stats.misses, stats.stores), (2, 0, 2, 1));
    assert_eq!((stats.entries_in_memory, stats.entries_on_disk), (1, 1));
    assert_eq!(stats.bytes_on_disk, file_size(&cache, &key("a")));
}

#[test]
fn entries_survive_a_restart_as_disk_hits_then_memory_hits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let original = entry("a", 10);
    {
        let cache = RenderCache::open(&path, Limits::default()).unwrap();
        cache.put(&key("a"), original.clone());
    }
    let cache = RenderCache::open(&path, Limits::default()).unwrap();
    let stats = cache.stats();
    assert_eq!((stats.entries_on_disk, stats.entries_in_memory), (1, 0));
    assert!(stats.bytes_on_disk > 0);
    let first = cache.get(&key("a")).unwrap();
    assert_eq!(*first, original, "objects and tool versions come back identical");
    let second = cache.get(&key("a")).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "the disk hit was promoted to memory");
    let stats = cache.stats();
    assert_eq!((stats.hits_disk, stats.hits_memory, stats.misses), (1, 1, 0));
}

#[test]
fn disk_evicts_least_recently_used_within_the_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    // Measure one entry, then allow three.
    let size = {
        let probe = RenderCache::open(&dir.path().join("probe"), memory_off()).unwrap();
        probe.put(&key("a"), entry("a", 5));
        file_size(&probe, &key("a"))
    };
    let limits = Limits { disk_bytes: 3 * size + size / 2, ..memory_off() };
    let cache = RenderCache::open(&path, limits).unwrap();
    for name in ["a", "b", "c"] {
        cache.put(&key(name), entry(name, 5));
    }
    assert!(cache.get(&key("a")).is_some(), "a is now the most recently used");
    cache.put(&key("d"), entry("d", 5));
    assert!(cache.get(&key("b")).is_none(), "b was the least recently used");
    for name in ["a", "c", "d"] {
        assert!(cache.get(&key(name)).is_some(), "{name}");
    }
    let stats = cache.stats();
    assert_eq!(stats.evictions, 1);
    assert_eq!(stats.entries_on_disk, 3);
    assert!(stats.bytes_on_disk <= limits.disk_bytes);
    let on_disk: u64 = entry_files(&path).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert_eq!(on_disk, stats.bytes_on_disk, "accounting matches the directory");
    assert_eq!(entry_files(&path).len(), 3);

    // An entry bigger than the whole budget is served from memory and never written.
    let small =
        RenderCache::open(&dir.path().join("small"), Limits { disk_bytes: size / 2, ..Limits::default() }).unwrap();
    small.put(&key("big"), entry("big", 5));
    assert!(small.get(&key("big")).is_some());
    assert_eq!(small.stats().entries_on_disk, 0);
    assert!(entry_files(&dir.path().join("small")).is_empty());
}

#[test]
fn memory_evicts_least_recently_used_by_count_and_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits { memory_entries: 2, ..Limits::default() };
    let cache = RenderCache::open(&dir.path().join("c"), limits).unwrap();
    cache.put(&key("a"), entry("a", 3));
    cache.put(&key("b"), entry("b", 3));
    assert!(cache.get_memory(&key("a")).is_some());
    cache.put(&key("c"), entry("c", 3));
    assert!(cache.get_memory(&key("b")).is_none(), "b was the least recently used");
    assert!(cache.get_memory(&key("a")).is_some());
    assert!(cache.get_memory(&key("c")).is_some());
    // Still on disk: a disk hit brings it back.
    assert!(cache.get(&key("b")).is_some());
    let stats = cache.stats();
    assert_eq!((stats.hits_disk, stats.entries_in_memory), (1, 2));
    assert_eq!(stats.evictions, 2, "b, then a or c to make room for b again");

    // By bytes: room for one entry only.
    let size = cache.inner.lock().memory.bytes() / 2;
    let by_bytes = Limits { memory_bytes: size + size / 2, ..Limits::default() };
    let cache = RenderCache::open(&dir.path().join("bytes"), by_bytes).unwrap();
    cache.put(&key("a"), entry("a", 3));
    cache.put(&key("b"), entry("b", 3));
    assert!(cache.get_memory(&key("a")).is_none());
    assert!(cache.get_memory(&key("b")).is_some());
    assert_eq!(cache.stats().entries_in_memory, 1);
}

#[test]
fn open_evicts_oldest_by_mtime_down_to_new_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let size = {
        let cache = RenderCache::open(&path, Limits::default()).unwrap();
        for name in ["a", "b", "c"] {
            cache.put(&key(name), entry(name, 5));
        }
        let now = SystemTime::now();
        for (name, age) in [("a", 0), ("b", 100), ("c", 50)] {
            let file = std::fs::File::options().write(true).open(cache.inner.entry_path(&key(name).digest())).unwrap();
            file.set_modified(now - Duration::from_secs(age)).unwrap();
        }
        file_size(&cache, &key("a"))
    };
    let cache = RenderCache::open(&path, Limits { disk_bytes: 2 * size, ..Limits::default() }).unwrap();
    assert_eq!(cache.stats().evictions, 1);
    assert!(cache.get(&key("b")).is_none(), "b had the oldest mtime");
    assert!(cache.get(&key("a")).is_some());
    assert!(cache.get(&key("c")).is_some());
    assert_eq!(entry_files(&path).len(), 2);
}

#[test]
fn damaged_and_stray_files_are_misses_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let (flipped, truncated) = {
        let cache = RenderCache::open(&path, Limits::default()).unwrap();
        cache.put(&key("flipped"), entry("f", 5));
        cache.put(&key("truncated"), entry("t", 5));
        cache.put(&key("good"), entry("g", 5));
        (cache.inner.entry_path(&key("flipped").digest()), cache.inner.entry_path(&key("truncated").digest()))
    };
    // Same length, one bit different in the body: only the checksum on read sees it.
    let mut bytes = std::fs::read(&flipped).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&flipped, &bytes).unwrap();
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // Leftovers of a crash and strangers.
    std::fs::write(path.join("tmp").join("entry-half"), b"partial").unwrap();
    let shard = flipped.parent().unwrap().to_path_buf();
    std::fs::write(shard.join("not-a-digest"), b"x").unwrap();
    std::fs::write(path.join("README"), b"not ours").unwrap();

    let cache = RenderCache::open(&path, Limits::default()).unwrap();
    assert!(!truncated.exists(), "a truncated entry is deleted at open");
    assert!(!shard.join("not-a-digest").exists());
    assert!(!path.join("tmp").join("entry-half").exists());
    assert!(path.join("README").exists(), "files outside the shards are left alone");
    assert_eq!(cache.stats().corrupt_entries, 1);
    assert_eq!(cache.stats().entries_on_disk, 2);

    assert!(cache.get(&key("flipped")).is_none());
    assert!(!flipped.exists(), "a damaged entry is deleted on read");
    assert!(cache.get(&key("truncated")).is_none());
    assert_eq!(*cache.get(&key("good")).unwrap(), entry("g", 5));
    let stats = cache.stats();
    assert_eq!((stats.corrupt_entries, stats.misses, stats.hits_disk), (2, 2, 1));
    assert_eq!(stats.entries_on_disk, 1);
    // And the key works again once re-rendered.
    cache.put(&key("flipped"), entry("f", 5));
    assert!(flipped.exists());
}

#[test]
fn a_vanished_file_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RenderCache::open(&dir.path().join("c"), memory_off()).unwrap();
    cache.put(&key("a"), entry("a", 1));
    std::fs::remove_file(cache.inner.entry_path(&key("a").digest())).unwrap();
    assert!(cache.get(&key("a")).is_none());
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.entries_on_disk, stats.bytes_on_disk), (1, 0, 0));
}

#[test]
fn concurrent_puts_of_one_key_from_threads_and_two_caches_never_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    // Two instances on one directory stand in for two processes.
    let first = RenderCache::open(&path, memory_off()).unwrap();
    let second = RenderCache::open(&path, memory_off()).unwrap();
    let candidates: Vec<Entry> = (0..8).map(|t| entry(&format!("thread-{t}"), 20)).collect();
    std::thread::scope(|scope| {
        for (t, candidate) in candidates.iter().enumerate() {
            let cache = if t % 2 == 0 { first.clone() } else { second.clone() };
            scope.spawn(move || {
                for _ in 0..20 {
                    cache.put(&key("shared"), candidate.clone());
                    if let Some(read) = cache.get(&key("shared")) {
                        assert_eq!(read.objects.len(), 20);
                    }
                }
            });
        }
    });
    let stats = first.stats();
    assert_eq!((stats.write_errors, stats.corrupt_entries), (0, 0));
    assert_eq!(second.stats().corrupt_entries, 0);
    let reopened = RenderCache::open(&path, Limits::default()).unwrap();
    let winner = reopened.get(&key("shared")).unwrap();
    assert!(candidates.contains(&winner), "the file is one whole entry");
    assert_eq!(reopened.stats().corrupt_entries, 0);
    assert_eq!(entry_files(&path).len(), 1);
    assert!(files_under(&path.join("tmp")).is_empty(), "no temp file is left behind");
}

#[test]
fn secrets_and_sensitive_entries_never_reach_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "data": {"password": "aHVudGVyMi1kYXRh"}, "stringData": {"token": "hunter2-string"},
    });
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sensitive-marker"}});
    let with_secret = Entry::new(vec![config.clone(), secret.clone()], BTreeMap::new());
    let in_list = Entry::new(vec![json!({"apiVersion": "v1", "kind": "List", "items": [secret]})], BTreeMap::new());
    {
        let cache = RenderCache::open(&path, Limits::default()).unwrap();
        // Was cacheable on disk once; a re-render now contains a Secret.
        cache.put(&key("app"), entry("plain", 1));
        assert_eq!(entry_files(&path).len(), 1);
        cache.put(&key("app"), with_secret.clone());
        cache.put(&key("list"), in_list);
        cache.put_with(&key("marked"), Entry::new(vec![config], BTreeMap::new()), Persistence::MemoryOnly);
        assert_eq!(*cache.get(&key("app")).unwrap(), with_secret, "served from memory");
        assert!(cache.get(&key("list")).is_some());
        assert!(cache.get(&key("marked")).is_some());
        assert_eq!(cache.stats().entries_on_disk, 0);
        for file in files_under(&path) {
            let content = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            for needle in ["aHVudGVyMi1kYXRh", "hunter2", "sensitive-marker", "Secret"] {
                assert!(!content.contains(needle), "{needle} found in {}", file.display());
            }
        }
        assert!(entry_files(&path).is_empty());
    }
    let cache = RenderCache::open(&path, Limits::default()).unwrap();
    for name in ["app", "list", "marked"] {
        assert!(cache.get(&key(name)).is_none(), "{name} renders again after a restart");
    }
}

#[test]
fn directory_and_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("c");
    let cache = RenderCache::open(&path, Limits::default()).unwrap();
    cache.put(&key("a"), entry("a", 1));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o700);
    assert_eq!(mode(&path.join("tmp")), 0o700);
    let file = cache.inner.entry_path(&key("a").digest());
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    assert_eq!(mode(&file), 0o600);
    // An existing directory with loose permissions is tightened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    RenderCache::open(&path, Limits::default()).unwrap();
    assert_eq!(mode(&path), 0o700);
}

#[test]
fn remove_forgets_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RenderCache::open(&dir.path().join("c"), Limits::default()).unwrap();
    cache.put(&key("a"), entry("a", 1));
    let file = cache.inner.entry_path(&key("a").digest());
    assert!(file.exists());
    assert!(cache.remove(&key("a")));
    assert!(!file.exists());
    assert!(cache.get(&key("a")).is_none());
    assert!(!cache.remove(&key("a")));
    let stats = cache.stats();
    assert_eq!((stats.entries_in_memory, stats.entries_on_disk, stats.bytes_on_disk), (0, 0, 0));
}

#[test]
fn unwritable_directory_counts_write_errors_and_still_serves_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c");
    let cache = RenderCache::open(&path, Limits::default()).unwrap();
    // Replace tmp/ by a file: every write fails, whoever runs the test (root ignores modes).
    std::fs::remove_dir_all(path.join("tmp")).unwrap();
    std::fs::write(path.join("tmp"), b"").unwrap();
    let stored = cache.put(&key("a"), entry("a", 2));
    assert!(Arc::ptr_eq(&stored, &cache.get(&key("a")).unwrap()));
    let stats = cache.stats();
    assert_eq!((stats.write_errors, stats.entries_on_disk), (1, 0));
    // Values survive the round trip untouched, whatever their shape.
    let odd: Vec<Value> = vec![json!({"kind": "X", "n": 1.5, "big": u64::MAX, "s": "é\n\"", "z": null, "a": []})];
    let cache = RenderCache::open(&dir.path().join("d"), memory_off()).unwrap();
    cache.put(&key("odd"), Entry::new(odd.clone(), BTreeMap::new()));
    assert_eq!(*cache.get(&key("odd")).unwrap().objects, odd);
}
