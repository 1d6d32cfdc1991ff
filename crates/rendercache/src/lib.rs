//! The render cache: rendered manifests stored by a content key, so a render whose inputs did not
//! change costs no process spawn and no parse.
//!
//! - **Key** ([`CacheKey`]): the caller names every input that can change the output (the tree
//!   ids of the app's source paths, source options, tool versions, the app's name and
//!   namespace...); the key is their SHA-256. This crate only hashes: it does not know what a
//!   render depends on.
//! - **Value** ([`Entry`]): the objects in render order and the version of every tool used.
//! - **Two tiers** ([`RenderCache`]): parsed entries in memory behind `Arc`s (a hit is a lookup
//!   under a short lock and an `Arc` clone), in front of one file per entry on disk. A disk hit
//!   is parsed once and promoted to memory. Both tiers are bounded and evict the least recently
//!   used entry.
//!
//! # Invariants
//!
//! - **After [`RenderCache::open`], nothing is an error to the caller.** A missing, truncated,
//!   damaged or foreign file is a miss (and is deleted); a failed write is logged and counted in
//!   [`Stats::write_errors`], and the entry is still served from memory. Nothing panics on what
//!   it reads.
//! - **A file that exists under an entry's name is a complete entry.** It is written to `tmp/`,
//!   fsynced, and renamed into place (then the directory is fsynced), so a crash leaves only
//!   garbage in `tmp/` (swept at open), and concurrent writers of one key, threads or processes,
//!   each install a whole file: the last rename wins.
//! - **Secrets are never at rest.** An entry containing any `kind: Secret` object (whatever its
//!   `apiVersion`, also inside a `*List`) stays in memory only; after a restart such apps render
//!   again. [`Persistence::MemoryOnly`] does the same for output the caller deems sensitive.
//!   The directory is `0700` and files `0600`.
//! - **Formats are versioned.** A file of another format version reads as damaged: a miss and a
//!   deletion, never a misparse. The key encoding is versioned too (a change makes every key new).
//!
//! # On disk
//!
//! `<dir>/<first 2 hex digits>/<64 hex digits of the key>` per entry, `<dir>/tmp/` for writes in
//! progress. A file is one header line, `ferry-rendercache 1 <key> <sha256 of body> <body
//! length>`, then the body, `{"tools":{...},"objects":[...]}` as compact JSON (object key order
//! preserved). On open, every file's header and length are checked (not its checksum: that is
//! checked on each read), which rebuilds the size accounting; recency across restarts comes from
//! the files' mtimes, set when an entry is written or read from disk (memory hits do not touch
//! the disk).
//!
//! **Why one file per entry rather than redb.** An entry is written once and read from disk
//! rarely (after a restart or a memory eviction), whole. Files give that with no extra
//! machinery: an atomic rename is the whole crash-safety story, several processes (the
//! controller and a `ferry render` run beside it) can write the same directory without a lock
//! (redb takes an exclusive lock on its file), an eviction is an `unlink` that frees the space at
//! once (a redb file does not shrink without compaction), and damage stays confined to one entry.
//! The cost is an inode per entry and a directory scan at open, both fine at the few thousand
//! entries a 512 MiB budget holds.
//!
//! # Deliberate limits
//!
//! - One [`RenderCache`] per directory per process is the intended use. Several processes may
//!   share a directory safely, but each one's accounting sees only what it found at open plus
//!   its own writes, so the byte limit holds per process until the next open.
//! - The memory bound counts an entry's serialised size, a proxy for its heap size.
//!
//! # Typical use
//!
//! ```
//! use std::collections::BTreeMap;
//! use rendercache::{CacheKey, Entry, Limits, RenderCache};
//!
//! # fn render() -> Vec<serde_json::Value> { vec![serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap"})] }
//! # let data_dir = tempfile::tempdir().unwrap();
//! let cache = RenderCache::open(&data_dir.path().join("render-cache"), Limits::default())?;
//! // Every input that can change the output, in a fixed order.
//! let key = CacheKey::new()
//!     .part("repo", "https://git.example.com/platform.git")
//!     .part("path", "apps/shop")
//!     .part("tree", "9c1e…") // GitCache::path_ids of the app's source paths
//!     .part_json("source", &serde_json::json!({"kustomize": {"namePrefix": "prod-"}}))
//!     .part("kustomize", "v5.5.0");
//! let entry = match cache.get(&key) {
//!     Some(hit) => hit,
//!     None => {
//!         let tools = BTreeMap::from([("kustomize".to_string(), "v5.5.0".to_string())]);
//!         cache.put(&key, Entry::new(render(), tools))
//!     }
//! };
//! assert_eq!(entry.objects.len(), 1);
//! assert_eq!(cache.stats().misses, 1);
//! # Ok::<(), rendercache::CacheError>(())
//! ```

mod cache;
mod disk;
mod entry;
mod error;
mod key;
mod lru;

pub use cache::{Limits, Persistence, RenderCache, Stats};
pub use entry::Entry;
pub use error::CacheError;
pub use key::{CacheKey, Digest};
