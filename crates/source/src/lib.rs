//! The git source stage: a cache of bare mirrors, one per repo URL, revision resolution,
//! read-only snapshots of commit trees, and push webhook parsing.
//!
//! # Invariants
//!
//! - **Only this crate runs git.** Network operations (clone, fetch) go through the git CLI, so every
//!   transport and auth method users configure keeps working; everything else (refs, peeling, short
//!   SHAs, trees, blobs) is read in-process with `gix`, without spawning anything.
//! - **Credentials never reach argv, URLs on disk, error messages or logs.** Username and password are
//!   handed to git through a credential helper that reads environment variables of the child process;
//!   an SSH key is written to a `0600` file inside a `0700` temporary directory that is removed when
//!   the git process ends (and swept at start-up if a crash left one behind). A password found in a
//!   repo URL is moved out of it the same way. git's stderr is masked before it goes into an error.
//! - **git never prompts.** `GIT_TERMINAL_PROMPT=0`, a failing `GIT_ASKPASS`, ssh `BatchMode=yes`.
//! - **Only the `file`, `http`, `https` and `ssh` transports are used.** Other schemes and the
//!   `transport::address` helper syntax (`ext::`, `fd::`) are refused before git runs, and git itself
//!   runs with `protocol.allow=never` plus an allow-list, as defence in depth.
//! - **No user text in paths.** A mirror lives in a directory named by a hash of
//!   [`normalize_url`]; a snapshot under that hash and the full commit SHA.
//! - **A snapshot that exists is complete.** Trees are written into a temporary directory and
//!   renamed into place, so a crash half-way leaves only garbage in `tmp/`, never a partial snapshot.
//!   (Survives a process crash; no fsync is done, so a power loss may still need a manual clean.)
//!   Likewise a first clone is fetched into a temporary bare repo and renamed into place, and a
//!   mirror that cannot be opened is deleted and cloned again.
//! - **One bad repo never takes the caller down.** Every failure is a [`SourceError`] naming the
//!   step and the repo (userinfo stripped); nothing panics on user input.
//!
//! # Layout
//!
//! Under the cache root: `mirrors/<key>.git` (bare, fetched with explicit refspecs for
//! `refs/heads/*`, `refs/tags/*` and the remote's `HEAD` into `refs/ferry/remote-head`),
//! `snapshots/<key>/<sha>/` (read-only files), and `tmp/` (work in progress, mode 0700).
//!
//! gix is built with `default-features = false, features = ["sha1"]`: reading refs, objects and
//! trees needs none of its optional features (no network, index, worktree or revparse).
//!
//! # Deliberate limits
//!
//! - Submodules are skipped in snapshots (the gitlink entry is not materialised at all).
//! - Concurrent fetches of one repo coalesce: a caller waits for a fetch that *started after it
//!   asked*, so a webhook never waits on a fetch that may predate its push. The credentials of the
//!   caller that runs the fetch are used for the coalesced callers too.
//! - One [`GitCache`] per cache root: [`GitCache::new`] sweeps the root's `tmp/` directory.
//! - Dropping a `fetch` future kills its git process group.

mod cache;
mod credentials;
mod error;
mod git;
mod history;
mod repo_url;
mod snapshot;
mod tree;
pub mod webhook;
pub mod worktree;

pub use cache::{CacheConfig, GitCache};
pub use credentials::Credentials;
pub use error::SourceError;
pub use history::{ChangedPaths, CommitFilter, CommitInfo, HistoryQuery, MAX_HISTORY_WALK, TagInfo};
pub use repo_url::normalize_url;
