//! The two tiers: parsed entries in memory in front of entry files on disk.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::disk::{self, ReadError};
use crate::lru::Lru;
use crate::{CacheError, CacheKey, Digest, Entry};

/// How big the cache may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total size of the entry files on disk. `0` disables the disk tier.
    pub disk_bytes: u64,
    /// Entries kept parsed in memory. `0` disables the memory tier.
    pub memory_entries: usize,
    /// Total size of the entries kept in memory, counted as their serialised (disk) size, a
    /// stand-in for the heap they use (parsed JSON takes a few times more).
    pub memory_bytes: u64,
}

impl Default for Limits {
    /// 512 MiB on disk; 1024 entries or 128 MiB (serialised) in memory.
    fn default() -> Self {
        Limits { disk_bytes: 512 << 20, memory_entries: 1024, memory_bytes: 128 << 20 }
    }
}

/// Where an entry may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Memory and disk (unless it contains a Secret: then memory only, whatever is asked).
    Disk,
    /// Memory only: for output the caller deems sensitive. Lost on restart, so re-rendered.
    MemoryOnly,
}

/// Counters since [`RenderCache::open`] and the current size of both tiers, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups answered from memory.
    pub hits_memory: u64,
    /// Lookups answered from disk (then promoted to memory).
    pub hits_disk: u64,
    /// Lookups answered by neither tier, corrupt entries included.
    pub misses: u64,
    /// Calls to `put`/`put_with`.
    pub stores: u64,
    /// Entries dropped by the limits, from either tier.
    pub evictions: u64,
    /// Entries that could not be written to disk (they stay in memory).
    pub write_errors: u64,
    /// Entry files found damaged, of another format version, or misnamed, and deleted.
    pub corrupt_entries: u64,
    /// Total size of the entry files.
    pub bytes_on_disk: u64,
    /// Number of entry files.
    pub entries_on_disk: u64,
    /// Total serialised size of the entries in memory.
    pub bytes_in_memory: u64,
    /// Number of entries in memory.
    pub entries_in_memory: u64,
}

/// A bounded, content-addressed store of rendered manifests, on disk and in memory; see the
/// crate documentation. Clone is cheap (an `Arc` inside) and all clones share both tiers.
///
/// Methods are synchronous. A memory hit only takes a short lock, so [`RenderCache::get_memory`]
/// can be called from async code; [`RenderCache::get`] and [`RenderCache::put`] may do disk IO,
/// so async callers run them with `spawn_blocking`.
#[derive(Clone)]
pub struct RenderCache {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    tmp: PathBuf,
    limits: Limits,
    state: Mutex<State>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    hits_memory: AtomicU64,
    hits_disk: AtomicU64,
    misses: AtomicU64,
    stores: AtomicU64,
    evictions: AtomicU64,
    write_errors: AtomicU64,
    corrupt_entries: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

struct State {
    /// One clock for both tiers; every touch takes a new tick.
    clock: u64,
    memory: Lru<Arc<Entry>>,
    /// The value is the tick the file was written at: a reader that found the file corrupt
    /// deletes it only if nobody rewrote it in the meantime.
    disk: Lru<u64>,
}

impl State {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A memory hit; also refreshes the entry's place on disk so a hot entry is not evicted there.
    fn hit_memory(&mut self, digest: &Digest) -> Option<Arc<Entry>> {
        let tick = self.tick();
        let entry = self.memory.touch(digest, tick).cloned()?;
        self.disk.touch(digest, tick);
        Some(entry)
    }
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache").field("dir", &self.inner.dir).field("limits", &self.inner.limits).finish()
    }
}

impl RenderCache {
    /// Open (creating it, mode `0700`) the cache in `dir`. Sweeps `tmp/` (writes a crash
    /// interrupted), checks every entry's header and length, deletes stray and damaged files,
    /// rebuilds the size accounting with recency from the files' mtimes, and evicts down to
    /// `limits` (which may be lower than last time). Fails only if the directory itself cannot
    /// be created or listed.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self, CacheError> {
        create_private_dir(dir).map_err(|e| CacheError::io("create cache directory", dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| CacheError::io("restrict cache directory", dir, e))?;
        let tmp = dir.join("tmp");
        match std::fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(CacheError::io("clean cache tmp", &tmp, e)),
        }
        create_private_dir(&tmp).map_err(|e| CacheError::io("create cache tmp", &tmp, e))?;

        let inner = Inner {
            dir: dir.to_path_buf(),
            tmp,
            limits,
            state: Mutex::new(State { clock: 0, memory: Lru::new(), disk: Lru::new() }),
            counters: Counters::default(),
        };
        let mut found = inner.scan()?;
        // Oldest first, so the oldest get the lowest ticks; the digest breaks ties stably.
        found.sort_by_key(|&(modified, digest, _)| (modified, digest));
        {
            let mut state = inner.lock();
            for (_, digest, bytes) in found {
                let tick = state.tick();
                state.disk.insert(digest, tick, bytes, tick);
            }
            inner.evict_disk(&mut state);
        }
        Ok(RenderCache { inner: Arc::new(inner) })
    }

    /// The entry for `key`, from memory, else from disk (parsed once, then kept in memory).
    /// A missing, damaged or unreadable entry is `None`; damaged files are deleted.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let digest = key.digest();
        let inner = &self.inner;
        let written = {
            let mut state = inner.lock();
            if let Some(entry) = state.hit_memory(&digest) {
                bump(&inner.counters.hits_memory);
                return Some(entry);
            }
            let tick = state.tick();
            state.disk.touch(&digest, tick).copied()
        };
        let Some(written) = written else {
            bump(&inner.counters.misses);
            return None;
        };
        let path = inner.entry_path(&digest);
        match disk::read(&path, &digest) {
            Ok((entry, bytes)) => {
                let entry = Arc::new(entry);
                let mut state = inner.lock();
                bump(&inner.counters.hits_disk);
                // Another thread may have promoted it meanwhile: hand out one shared copy.
                if let Some(existing) = state.hit_memory(&digest) {
                    return Some(existing);
                }
                inner.insert_memory(&mut state, digest, Arc::clone(&entry), bytes);
                Some(entry)
            }
            Err(ReadError::Missing) => {
                tracing::debug!(entry = %digest, "render cache entry vanished from disk");
                let mut state = inner.lock();
                if state.disk.peek(&digest) == Some(&written) {
                    state.disk.remove(&digest);
                }
                bump(&inner.counters.misses);
                None
            }
            Err(ReadError::Corrupt(reason)) => {
                tracing::warn!(entry = %digest, %reason, "render cache entry is damaged, deleting it");
                let mut state = inner.lock();
                if state.disk.peek(&digest) == Some(&written) {
                    state.disk.remove(&digest);
                    remove_file_logged(&path);
                }
                bump(&inner.counters.corrupt_entries);
                bump(&inner.counters.misses);
                None
            }
            Err(ReadError::Io(error)) => {
                tracing::warn!(entry = %digest, path = %path.display(), %error, "cannot read render cache entry");
                bump(&inner.counters.misses);
                None
            }
        }
    }

    /// The entry for `key` if it is in memory; never touches the disk, so it is safe to call from
    /// async code. A hit counts as `hits_memory`; a miss counts nothing, on the assumption that
    /// the caller follows up with [`RenderCache::get`] (which counts it).
    pub fn get_memory(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let digest = key.digest();
        let entry = self.inner.lock().hit_memory(&digest)?;
        bump(&self.inner.counters.hits_memory);
        Some(entry)
    }

    /// Store `entry` under `key` in memory and on disk, and return it as shared. An entry
    /// containing a Secret stays in memory only (see the crate docs). A failure to write is
    /// logged and counted in [`Stats::write_errors`], never returned: the entry is still served
    /// from memory.
    pub fn put(&self, key: &CacheKey, entry: Entry) -> Arc<Entry> {
        self.put_with(key, entry, Persistence::Disk)
    }

    /// [`RenderCache::put`], choosing where the entry may be kept.
    pub fn put_with(&self, key: &CacheKey, entry: Entry, persistence: Persistence) -> Arc<Entry> {
        let digest = key.digest();
        let inner = &self.inner;
        bump(&inner.counters.stores);
        let persistence = if entry.contains_secret() { Persistence::MemoryOnly } else { persistence };
        let file = match persistence {
            Persistence::Disk if inner.limits.disk_bytes > 0 => match disk::encode(&digest, &entry) {
                Ok(bytes) => Some(bytes),
                Err(error) => {
                    tracing::warn!(entry = %digest, %error, "cannot serialise render cache entry");
                    bump(&inner.counters.write_errors);
                    None
                }
            },
            Persistence::Disk | Persistence::MemoryOnly => None,
        };
        let size = file.as_ref().map_or_else(|| disk::encoded_len(&entry), |bytes| bytes.len() as u64);
        let entry = Arc::new(entry);
        {
            let mut state = inner.lock();
            inner.insert_memory(&mut state, digest, Arc::clone(&entry), size);
            // A sensitive entry must not linger on disk from an earlier put under the same key.
            if persistence == Persistence::MemoryOnly && state.disk.remove(&digest).is_some() {
                remove_file_logged(&inner.entry_path(&digest));
            }
        }
        match file {
            Some(bytes) if bytes.len() as u64 > inner.limits.disk_bytes => {
                tracing::debug!(entry = %digest, bytes = bytes.len(), "render cache entry exceeds the disk limit, kept in memory only");
            }
            Some(bytes) => {
                if let Err(error) = inner.write_entry(digest, &bytes) {
                    tracing::warn!(entry = %digest, %error, "cannot write render cache entry to disk");
                    bump(&inner.counters.write_errors);
                }
            }
            None => {}
        }
        entry
    }

    /// Forget `key` in both tiers (its file is deleted). Returns whether it was cached.
    pub fn remove(&self, key: &CacheKey) -> bool {
        let digest = key.digest();
        let inner = &self.inner;
        let mut state = inner.lock();
        let in_memory = state.memory.remove(&digest).is_some();
        let on_disk = state.disk.remove(&digest).is_some();
        if on_disk {
            remove_file_logged(&inner.entry_path(&digest));
        }
        in_memory || on_disk
    }

    /// Counters and sizes, for metrics.
    pub fn stats(&self) -> Stats {
        let counters = &self.inner.counters;
        let (bytes_on_disk, entries_on_disk, bytes_in_memory, entries_in_memory) = {
            let state = self.inner.lock();
            (state.disk.bytes(), state.disk.len() as u64, state.memory.bytes(), state.memory.len() as u64)
        };
        Stats {
            hits_memory: counters.hits_memory.load(Ordering::Relaxed),
            hits_disk: counters.hits_disk.load(Ordering::Relaxed),
            misses: counters.misses.load(Ordering::Relaxed),
            stores: counters.stores.load(Ordering::Relaxed),
            evictions: counters.evictions.load(Ordering::Relaxed),
            write_errors: counters.write_errors.load(Ordering::Relaxed),
            corrupt_entries: counters.corrupt_entries.load(Ordering::Relaxed),
            bytes_on_disk,
            entries_on_disk,
            bytes_in_memory,
            entries_in_memory,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere must not disable the cache.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shard_dir(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_string();
        self.dir.join(&hex[..2])
    }

    fn entry_path(&self, digest: &Digest) -> PathBuf {
        self.shard_dir(digest).join(digest.to_string())
    }

    fn insert_memory(&self, state: &mut State, digest: Digest, entry: Arc<Entry>, bytes: u64) {
        if self.limits.memory_entries == 0 || bytes > self.limits.memory_bytes {
            // Too big to keep; an older copy would be as big, and stale in recency.
            state.memory.remove(&digest);
            return;
        }
        let tick = state.tick();
        state.memory.insert(digest, entry, bytes, tick);
        while state.memory.len() > self.limits.memory_entries || state.memory.bytes() > self.limits.memory_bytes {
            if state.memory.pop_oldest().is_none() {
                break;
            }
            bump(&self.counters.evictions);
        }
    }

    /// Write the file (temp file, fsync, rename, fsync of the directory). The slow part, writing
    /// and syncing the temp file, runs unlocked; the rename and the evictions it causes run
    /// under the lock, so the index and the directory never disagree within this process (an
    /// eviction cannot delete a file another thread just renamed into place).
    fn write_entry(&self, digest: Digest, bytes: &[u8]) -> io::Result<()> {
        let shard = self.shard_dir(&digest);
        create_private_dir(&shard)?;
        let temp = disk::write_temp(&self.tmp, bytes)?;
        let path = shard.join(digest.to_string());
        {
            let mut state = self.lock();
            temp.persist(&path).map_err(|e| e.error)?;
            let tick = state.tick();
            state.disk.insert(digest, tick, bytes.len() as u64, tick);
            self.evict_disk(&mut state);
        }
        disk::sync_dir(&shard)
    }

    fn evict_disk(&self, state: &mut State) {
        while state.disk.bytes() > self.limits.disk_bytes {
            let Some((victim, _)) = state.disk.pop_oldest() else {
                break;
            };
            remove_file_logged(&self.entry_path(&victim));
            bump(&self.counters.evictions);
        }
    }

    /// Every valid entry file as (mtime, digest, size). Stray files in shard directories are
    /// deleted, damaged entries too; anything else in the cache directory is left alone.
    fn scan(&self) -> Result<Vec<(SystemTime, Digest, u64)>, CacheError> {
        let mut found = Vec::new();
        let shards = std::fs::read_dir(&self.dir).map_err(|e| CacheError::io("list cache directory", &self.dir, e))?;
        for shard in shards {
            let shard = shard.map_err(|e| CacheError::io("list cache directory", &self.dir, e))?;
            let name = shard.file_name();
            let Some(prefix) = name.to_str().filter(|n| is_shard_name(n)) else {
                if name != "tmp" {
                    tracing::debug!(path = %shard.path().display(), "ignoring unknown file in the render cache directory");
                }
                continue;
            };
            if !shard.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            let shard_path = shard.path();
            let files = match std::fs::read_dir(&shard_path) {
                Ok(files) => files,
                Err(error) => {
                    tracing::warn!(path = %shard_path.display(), %error, "cannot list render cache shard");
                    continue;
                }
            };
            for file in files.flatten() {
                let path = file.path();
                if !file.file_type().is_ok_and(|kind| kind.is_file()) {
                    tracing::debug!(path = %path.display(), "ignoring non-file in a render cache shard");
                    continue;
                }
                let digest = file.file_name().to_str().filter(|n| n.starts_with(prefix)).and_then(Digest::from_hex);
                let Some(digest) = digest else {
                    tracing::info!(path = %path.display(), "deleting stray file from the render cache");
                    remove_file_logged(&path);
                    continue;
                };
                match disk::check(&path, &digest) {
                    Ok((bytes, modified)) => found.push((modified, digest, bytes)),
                    Err(ReadError::Corrupt(reason)) => {
                        tracing::warn!(path = %path.display(), %reason, "deleting damaged render cache entry");
                        remove_file_logged(&path);
                        bump(&self.counters.corrupt_entries);
                    }
                    Err(ReadError::Missing) => {}
                    Err(ReadError::Io(error)) => {
                        tracing::warn!(path = %path.display(), %error, "cannot read render cache entry, ignoring it");
                    }
                }
            }
        }
        Ok(found)
    }
}

fn is_shard_name(name: &str) -> bool {
    name.len() == 2 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn remove_file_logged(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(path = %path.display(), %error, "cannot delete render cache file"),
    }
}

#[cfg(test)]
mod tests;
