//! The mirror cache: one bare mirror per repo, fetched with the git CLI and read with gix, and
//! read-only snapshots of commit trees.
//!
//! Layout under the root: `mirrors/<key>.git`, `snapshots/<key>/<sha>`, and `tmp/` for clones,
//! snapshots and credential files in progress (swept by [`GitCache::new`]). `<key>` is a hash of
//! the normalized URL.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::credentials::{Credentials, git_auth};
use crate::git::{self, Invocation, RunError};
use crate::repo_url::{RepoUrl, mask_secrets, storage_key};
use crate::{SourceError, snapshot, tree};

/// Where the cache lives and how git runs.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Cache root; created if missing. One [`GitCache`] per root.
    pub root: PathBuf,
    /// The git binary (default `git`, looked up in `PATH`).
    pub git: PathBuf,
    /// Limit for one clone or fetch; the git process group is killed when it is reached.
    pub fetch_timeout: Duration,
}

impl CacheConfig {
    /// Defaults: `git` from `PATH`, 90 s fetch timeout.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CacheConfig { root: root.into(), git: PathBuf::from("git"), fetch_timeout: Duration::from_secs(90) }
    }
}

/// A cache of bare mirrors, one per repo URL, plus read-only snapshots of commit trees.
/// Clone is cheap (an `Arc` inside); all clones share mirrors, snapshots and in-flight fetches.
#[derive(Clone)]
pub struct GitCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: CacheConfig,
    mirrors: PathBuf,
    snapshots: PathBuf,
    tmp: PathBuf,
    /// Per-repo fetch coordination, keyed by storage key. One entry per repo ever fetched.
    fetches: Mutex<HashMap<String, Arc<FetchSlot>>>,
    /// Per-(storage key, sha) checkout locks, removed when the checkout is done.
    checkouts: Mutex<HashMap<SnapshotId, Arc<tokio::sync::Mutex<()>>>>,
}

/// (storage key, full commit SHA).
type SnapshotId = (String, String);

/// Single-flight state of one repo. Each caller takes a ticket; whoever holds the lock fetches on
/// behalf of every ticket issued before its git process started, and the others reuse that result.
#[derive(Default)]
struct FetchSlot {
    tickets: AtomicU64,
    last: tokio::sync::Mutex<LastFetch>,
}

#[derive(Default)]
struct LastFetch {
    /// Every ticket up to this one was served by `result`.
    served: u64,
    result: Option<Result<(), SourceError>>,
}

impl std::fmt::Debug for GitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCache").field("config", &self.inner.config).finish()
    }
}

impl GitCache {
    /// Create the cache directories and sweep leftovers of a previous run from `tmp/` (half
    /// cloned mirrors, half written snapshots, credential files).
    pub fn new(config: CacheConfig) -> Result<Self, SourceError> {
        let mirrors = config.root.join("mirrors");
        let snapshots = config.root.join("snapshots");
        let tmp = config.root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| SourceError::io("clean cache tmp", &tmp, e))?;
        }
        for dir in [&mirrors, &snapshots, &tmp] {
            std::fs::create_dir_all(dir).map_err(|e| SourceError::io("create cache directory", dir, e))?;
        }
        // Credential files are created in tmp/: nobody else needs to list it.
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| SourceError::io("restrict cache tmp", &tmp, e))?;
        Ok(GitCache {
            inner: Arc::new(Inner {
                config,
                mirrors,
                snapshots,
                tmp,
                fetches: Mutex::default(),
                checkouts: Mutex::default(),
            }),
        })
    }

    /// The bare mirror directory of a repo (it may not exist yet).
    pub fn mirror_dir(&self, repo_url: &str) -> Result<PathBuf, SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        Ok(self.inner.mirror_path(&storage_key(&url.normalized)))
    }

    /// Clone the mirror if absent (or broken), else fetch all branches and tags (force, prune).
    ///
    /// Concurrent calls for the same repo coalesce into one git process, and each caller is
    /// served by a fetch that started after it called; different repos fetch in parallel.
    /// Times out after `fetch_timeout`, killing git and its helpers.
    pub async fn fetch(&self, repo_url: &str, credentials: Option<&Credentials>) -> Result<(), SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        let key = storage_key(&url.normalized);
        let slot = {
            let mut fetches = self.inner.fetches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(fetches.entry(key.clone()).or_default())
        };
        let ticket = slot.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last = slot.last.lock().await;
        if last.served >= ticket
            && let Some(result) = &last.result
        {
            return result.clone();
        }
        // Every ticket issued so far was issued before the fetch below starts.
        let covers = slot.tickets.load(Ordering::SeqCst);
        let result = self.inner.fetch_now(&url, &key, credentials).await;
        last.served = covers;
        last.result = Some(result.clone());
        result
    }

    /// Resolve a revision against the mirror as last fetched (no network).
    ///
    /// `""` or `"HEAD"` is the remote's default branch; then a full 40-hex SHA, a `refs/...` full
    /// ref, a branch or tag name (git's lookup order: `refs/<name>`, `refs/tags/<name>`,
    /// `refs/heads/<name>`), and last an unambiguous short SHA of at least 7 hex digits.
    /// Annotated tags peel to their commit. Returns the full commit SHA.
    pub async fn resolve(&self, repo_url: &str, revision: &str) -> Result<String, SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        let mirror = self.inner.mirror_path(&storage_key(&url.normalized));
        let revision = revision.trim().to_string();
        blocking(move || resolve_blocking(&mirror, &url, &revision)).await?
    }

    /// The tree of commit `sha` (full SHA) as a directory on disk, materialised once per
    /// (repo, sha) and shared by every caller. Treat it as read-only: files are created
    /// read-only and other callers see the same directory. Symlinks are kept as symlinks;
    /// submodules are skipped.
    pub async fn checkout(&self, repo_url: &str, sha: &str) -> Result<PathBuf, SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        let key = storage_key(&url.normalized);
        let sha = sha.trim().to_ascii_lowercase();
        let object_id = match parse_full_sha(&sha) {
            Some(id) => id,
            None => {
                return Err(SourceError::Checkout {
                    repo: url.display,
                    sha,
                    message: "not a full commit sha".to_string(),
                });
            }
        };
        let target = self.inner.snapshots.join(&key).join(&sha);
        if target.is_dir() {
            return Ok(target);
        }
        let lock_key = (key.clone(), sha.clone());
        let lock = {
            let mut checkouts = self.inner.checkouts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(checkouts.entry(lock_key.clone()).or_default())
        };
        let result = {
            let _held = lock.lock().await;
            if target.is_dir() {
                Ok(target.clone())
            } else {
                let inner = Arc::clone(&self.inner);
                let staged_target = target.clone();
                blocking(move || inner.checkout_blocking(&url, &key, &sha, object_id, &staged_target))
                    .await?
                    .map(|()| target.clone())
            }
        };
        // Later callers find the directory; the ones already holding this lock recheck it.
        self.inner.checkouts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&lock_key);
        result
    }

    /// The git object id of each of `paths` in commit `sha` (full SHA), in order: the tree id of
    /// a directory, the blob id of a file, `None` when absent. Read from the mirror as last
    /// fetched, without a checkout or a process. Paths are relative to the repository root,
    /// normalised (`""`, `"."` and `"/"` are the root tree); a path going above the root is an
    /// error. Symlinks on the way (and at the end) are followed inside the repository, as a
    /// checkout would show them; one that dangles, loops or points outside gives `None`.
    /// Symlinks *inside* a returned tree are not followed: their targets' content is not part of
    /// that tree's id, so callers list such targets as extra paths.
    ///
    /// Pass the paths of every app at one commit in one call: the commit and the trees they
    /// share are read once. The mirror stays open per blocking thread between calls.
    pub async fn path_ids(
        &self,
        repo_url: &str,
        sha: &str,
        paths: &[String],
    ) -> Result<Vec<Option<String>>, SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        let mirror = self.inner.mirror_path(&storage_key(&url.normalized));
        let sha = sha.trim().to_ascii_lowercase();
        let paths = paths.to_vec();
        blocking(move || tree::path_ids_blocking(&mirror, &url, &sha, &paths)).await?
    }

    /// Delete snapshots not in `keep`, given as `(repo_url, sha)` pairs.
    pub async fn prune_snapshots(&self, keep: &[(String, String)]) -> Result<(), SourceError> {
        let keep: HashSet<(String, String)> = keep
            .iter()
            .filter_map(|(url, sha)| {
                let url = RepoUrl::parse(url).ok()?;
                Some((storage_key(&url.normalized), sha.trim().to_ascii_lowercase()))
            })
            .collect();
        let snapshots = self.inner.snapshots.clone();
        blocking(move || prune_blocking(&snapshots, &keep)).await?
    }
}

impl Inner {
    fn mirror_path(&self, key: &str) -> PathBuf {
        self.mirrors.join(format!("{key}.git"))
    }

    async fn fetch_now(&self, url: &RepoUrl, key: &str, credentials: Option<&Credentials>) -> Result<(), SourceError> {
        let mirror = self.mirror_path(key);
        let usable = {
            let mirror = mirror.clone();
            blocking(move || open_mirror(&mirror).is_ok()).await?
        };
        if usable {
            tracing::debug!(repo = %url.display, "fetching mirror");
            return self.fetch_into(url, &mirror, credentials).await;
        }
        if mirror.exists() {
            tracing::info!(repo = %url.display, "mirror is unreadable, cloning it again");
            remove_dir(&mirror).await?;
        }
        tracing::debug!(repo = %url.display, "cloning mirror");
        // Clone into tmp/ and rename into place: a mirror that exists is always complete.
        let staging = tempfile::Builder::new()
            .prefix("clone-")
            .tempdir_in(&self.tmp)
            .map_err(|e| SourceError::io("create clone directory", &self.tmp, e))?;
        let bare = staging.path().join("mirror.git");
        let init_args: Vec<OsString> = vec!["init".into(), "--bare".into(), "--quiet".into(), bare.clone().into()];
        self.run_git(url, init_args, &[], &[], &[]).await?;
        self.fetch_into(url, &bare, credentials).await?;
        tokio::fs::rename(&bare, &mirror).await.map_err(|e| SourceError::io("move clone into place", &mirror, e))?;
        Ok(())
    }

    async fn fetch_into(
        &self,
        url: &RepoUrl,
        dir: &Path,
        credentials: Option<&Credentials>,
    ) -> Result<(), SourceError> {
        let auth = git_auth(url, credentials, &self.tmp)?;
        let secrets: Vec<&str> = auth.secrets.iter().map(String::as_str).collect();
        let fetch = |with_head: WithHead| {
            let mut args: Vec<OsString> = vec![
                "-C".into(),
                dir.into(),
                "fetch".into(),
                "--quiet".into(),
                "--prune".into(),
                "--force".into(),
                "--no-tags".into(),
                "--no-write-fetch-head".into(),
                "--".into(),
                url.git_url.clone().into(),
                "+refs/heads/*:refs/heads/*".into(),
                "+refs/tags/*:refs/tags/*".into(),
            ];
            if with_head == WithHead::Yes {
                // The commit the remote's HEAD points at; `fetch` does not update a bare
                // repo's own HEAD, so "HEAD" resolves through this ref.
                args.push(format!("+HEAD:{REMOTE_HEAD}").into());
            }
            args
        };
        match self.run_git(url, fetch(WithHead::Yes), &auth.config_args, &auth.env, &secrets).await {
            // An empty remote has no HEAD to fetch; everything else still mirrors.
            Err(SourceError::Fetch { message, .. }) if message.contains("couldn't find remote ref HEAD") => {
                self.run_git(url, fetch(WithHead::No), &auth.config_args, &auth.env, &secrets).await.map(drop)
            }
            other => other.map(drop),
        }
    }

    async fn run_git(
        &self,
        url: &RepoUrl,
        args: Vec<OsString>,
        config: &[OsString],
        env: &[(OsString, OsString)],
        secrets: &[&str],
    ) -> Result<Vec<u8>, SourceError> {
        let invocation = Invocation { git: &self.config.git, config, env, args, timeout: self.config.fetch_timeout };
        git::run(invocation).await.map_err(|error| match error {
            RunError::Spawn(error) => {
                SourceError::Spawn { repo: url.display.clone(), git: self.config.git.clone(), error: Arc::new(error) }
            }
            RunError::TimedOut => {
                SourceError::Timeout { repo: url.display.clone(), timeout: self.config.fetch_timeout }
            }
            RunError::Failed(stderr) => {
                SourceError::Fetch { repo: url.display.clone(), message: explain(&mask_secrets(&stderr, secrets)) }
            }
        })
    }

    fn checkout_blocking(
        &self,
        url: &RepoUrl,
        key: &str,
        sha: &str,
        commit: gix::ObjectId,
        target: &Path,
    ) -> Result<(), SourceError> {
        let failed =
            |message: String| SourceError::Checkout { repo: url.display.clone(), sha: sha.to_string(), message };
        let repo =
            open_mirror(&self.mirror_path(key)).map_err(|_| SourceError::NotFetched { repo: url.display.clone() })?;
        let parent = target.parent().unwrap_or(&self.snapshots);
        std::fs::create_dir_all(parent).map_err(|e| SourceError::io("create snapshot directory", parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix("snapshot-")
            .tempdir_in(&self.tmp)
            .map_err(|e| SourceError::io("create snapshot staging", &self.tmp, e))?;
        let tree = staging.path().join("tree");
        snapshot::write_commit_tree(&repo, commit, &tree).map_err(failed)?;
        std::fs::rename(&tree, target).map_err(|e| SourceError::io("move snapshot into place", target, e))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum WithHead {
    Yes,
    No,
}

/// Where the commit of the remote's HEAD is kept in a mirror.
const REMOTE_HEAD: &str = "refs/ferry/remote-head";

fn open_mirror(path: &Path) -> Result<gix::Repository, String> {
    if !path.is_dir() {
        return Err("missing".to_string());
    }
    // Isolated: the user's git config must not change how a mirror is read.
    gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| e.to_string())
}

fn parse_full_sha(sha: &str) -> Option<gix::ObjectId> {
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    gix::ObjectId::from_hex(sha.as_bytes()).ok()
}

fn resolve_blocking(mirror: &Path, url: &RepoUrl, revision: &str) -> Result<String, SourceError> {
    let not_found = || SourceError::RevisionNotFound { repo: url.display.clone(), revision: revision.to_string() };
    let read_failed = |message: String| SourceError::Read { repo: url.display.clone(), message };
    let repo = open_mirror(mirror).map_err(|_| SourceError::NotFetched { repo: url.display.clone() })?;
    let peel = |id: gix::ObjectId| -> Result<String, SourceError> {
        let object = match repo.try_find_object(id) {
            Ok(Some(object)) => object,
            Ok(None) => return Err(not_found()),
            Err(e) => return Err(read_failed(e.to_string())),
        };
        match object.kind {
            gix::object::Kind::Commit | gix::object::Kind::Tag => {}
            // A ref or short SHA naming a tree or blob is not a revision to deploy.
            gix::object::Kind::Tree | gix::object::Kind::Blob => return Err(not_found()),
        }
        let commit = object.peel_to_commit().map_err(|_| not_found())?;
        Ok(commit.id.to_string())
    };
    let find_ref = |name: &str| -> Result<Option<gix::ObjectId>, SourceError> {
        let Ok(partial) = <&gix::refs::PartialNameRef>::try_from(name) else {
            return Ok(None);
        };
        match repo.try_find_reference(partial) {
            Ok(Some(mut reference)) => {
                reference.follow_to_object().map(gix::Id::detach).map(Some).map_err(|e| read_failed(e.to_string()))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(read_failed(e.to_string())),
        }
    };

    if revision.is_empty() || revision == "HEAD" {
        return match find_ref(REMOTE_HEAD)? {
            Some(id) => peel(id),
            None => Err(not_found()),
        };
    }
    if let Some(id) = parse_full_sha(revision) {
        return peel(id);
    }
    if let Some(id) = find_ref(revision)? {
        return peel(id);
    }
    let hex = revision.len() >= 7 && revision.len() < 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let prefix = gix::hash::Prefix::from_hex(&revision.to_ascii_lowercase()).map_err(|_| not_found())?;
        return match repo.objects.lookup_prefix(prefix, None) {
            Ok(Some(Ok(id))) => peel(id),
            Ok(Some(Err(()))) => {
                Err(SourceError::AmbiguousRevision { repo: url.display.clone(), revision: revision.to_string() })
            }
            Ok(None) => Err(not_found()),
            Err(e) => Err(read_failed(e.to_string())),
        };
    }
    Err(not_found())
}

fn prune_blocking(snapshots: &Path, keep: &HashSet<(String, String)>) -> Result<(), SourceError> {
    let repos = std::fs::read_dir(snapshots).map_err(|e| SourceError::io("list snapshots", snapshots, e))?;
    for repo in repos {
        let repo = repo.map_err(|e| SourceError::io("list snapshots", snapshots, e))?;
        let key = repo.file_name().to_string_lossy().into_owned();
        let repo_dir = repo.path();
        let shas = match std::fs::read_dir(&repo_dir) {
            Ok(shas) => shas,
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(e) => return Err(SourceError::io("list snapshots", &repo_dir, e)),
        };
        for sha in shas {
            let sha = sha.map_err(|e| SourceError::io("list snapshots", &repo_dir, e))?;
            let name = sha.file_name().to_string_lossy().into_owned();
            if !keep.contains(&(key.clone(), name)) {
                let path = sha.path();
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(SourceError::io("delete snapshot", &path, e)),
                }
            }
        }
        // Fails while a snapshot remains, which is the point.
        let _ = std::fs::remove_dir(&repo_dir);
    }
    Ok(())
}

async fn remove_dir(path: &Path) -> Result<(), SourceError> {
    match tokio::fs::remove_dir_all(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SourceError::io("delete broken mirror", path, e)),
    }
}

/// Run gix and filesystem work off the async executor.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| SourceError::Io {
        step: "run blocking task",
        path: PathBuf::new(),
        error: Arc::new(std::io::Error::other(e.to_string())),
    })
}

/// git's wording for "the server wants credentials and none were given"
/// (prompts are disabled) means nothing to most users; say what to do.
fn explain(message: &str) -> String {
    let asked_for_credentials = message.contains("terminal prompts disabled")
        || message.contains("could not read Username")
        || message.contains("could not read Password");
    if asked_for_credentials {
        "authentication required: the server asked for credentials and none are configured for this repository \
         (add a repository Secret, e.g. with `ferry repo add`)"
            .to_owned()
    } else {
        message.to_owned()
    }
}
