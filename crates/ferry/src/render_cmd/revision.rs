//! Committed revisions of a repository as directories on disk, through the
//! same `GitCache` the controller fetches with, in a cache that lives only
//! as long as the command.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use source::{CacheConfig, GitCache};

/// One repository, fetched at most once per command.
pub(super) struct Repository {
    url: String,
    /// The local checkout the URL points at, when the repository is the one
    /// holding PATH: its revisions are resolved by git itself, so `HEAD~1`,
    /// `@{upstream}` or a short SHA mean what they mean to the user's git.
    local: Option<PathBuf>,
    cache: GitCache,
    runtime: tokio::runtime::Runtime,
    fetched: bool,
    // Declared last: dropped after the cache that lives in it.
    _dir: tempfile::TempDir,
}

impl Repository {
    /// A repository at `url`; `local` is the checkout it names, if any.
    pub(super) fn open(url: String, local: Option<PathBuf>) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-render-")
            .tempdir()
            .context("cannot create a temporary git cache")?;
        let cache = GitCache::new(CacheConfig::new(dir.path())).context("cannot create a temporary git cache")?;
        // Single-threaded: the command does one thing at a time.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Repository { url, local, cache, runtime, fetched: false, _dir: dir })
    }

    /// The URL, as given or derived from the checkout.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// The tree of `revision` as a read-only directory (the repository root).
    pub(super) fn snapshot(&mut self, revision: &str) -> Result<PathBuf> {
        let wanted = match &self.local {
            Some(root) => local_commit(root, revision)?,
            None => revision.to_owned(),
        };
        let Repository { url, cache, runtime, fetched, .. } = self;
        runtime
            .block_on(async {
                if !*fetched {
                    cache.fetch(url, None).await?;
                    *fetched = true;
                }
                let sha = cache.resolve(url, &wanted).await?;
                cache.checkout(url, &sha).await
            })
            .map_err(anyhow::Error::from)
    }
}

/// The full commit SHA `revision` names in the checkout at `root`.
fn local_commit(root: &Path, revision: &str) -> Result<String> {
    // A leading '-' would be read as an option by git.
    if revision.is_empty() || revision.starts_with('-') {
        bail!("invalid revision {revision:?}");
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{revision}^{{commit}}"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .context("cannot run git (is it installed?)")?;
    let sha = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || sha.is_empty() {
        // `--quiet` silences a bad revision; what git still says (not a
        // repository, a broken object store) is the better explanation.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().next().map(str::trim).filter(|l| !l.is_empty());
        bail!("{} in {}", reason.unwrap_or("no such branch, tag or commit"), root.display());
    }
    Ok(sha)
}
