//! Errors of the git source stage.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A failure of one step of the source stage. `repo` is always the repo URL with its userinfo
/// stripped, so an error can be put on an app's condition as is.
///
/// Clone is cheap: concurrent callers coalesced into one fetch all receive the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The repo URL is not one this crate will hand to git.
    #[error("repo url {repo}: {reason}")]
    UnsupportedUrl {
        /// The URL, userinfo stripped.
        repo: String,
        /// Why it was refused.
        reason: String,
    },
    /// The credentials cannot be passed to git safely (for example a newline in a password).
    #[error("credentials for {repo}: {reason}")]
    InvalidCredentials {
        /// The URL, userinfo stripped.
        repo: String,
        /// What is wrong with them (never the secret itself).
        reason: String,
    },
    /// git clone/fetch failed; `message` is git's stderr, trimmed, with secrets masked.
    #[error("fetch {repo}: {message}")]
    Fetch {
        /// The URL, userinfo stripped.
        repo: String,
        /// git's own explanation, e.g. "repository not found" or "could not resolve host".
        message: String,
    },
    /// git clone/fetch did not finish in time; the git process group was killed.
    #[error("fetch {repo}: timed out after {}s", timeout.as_secs_f64())]
    Timeout {
        /// The URL, userinfo stripped.
        repo: String,
        /// The configured limit.
        timeout: Duration,
    },
    /// The repo has no mirror yet: [`crate::GitCache::fetch`] has not succeeded once.
    #[error("repo {repo} has not been fetched yet")]
    NotFetched {
        /// The URL, userinfo stripped.
        repo: String,
    },
    /// No branch, tag, ref or commit of that name in the mirror as last fetched.
    #[error("resolve {revision:?} in {repo}: no such branch, tag or commit")]
    RevisionNotFound {
        /// The URL, userinfo stripped.
        repo: String,
        /// The revision as asked.
        revision: String,
    },
    /// A short SHA matches several objects.
    #[error("resolve {revision:?} in {repo}: short sha is ambiguous")]
    AmbiguousRevision {
        /// The URL, userinfo stripped.
        repo: String,
        /// The revision as asked.
        revision: String,
    },
    /// Reading the mirror failed (corrupt object, unreadable ref).
    #[error("read {repo}: {message}")]
    Read {
        /// The URL, userinfo stripped.
        repo: String,
        /// What gix reported.
        message: String,
    },
    /// Writing the snapshot of a commit failed.
    #[error("checkout {sha} of {repo}: {message}")]
    Checkout {
        /// The URL, userinfo stripped.
        repo: String,
        /// The commit asked for.
        sha: String,
        /// What went wrong.
        message: String,
    },
    /// A filesystem operation of the cache itself failed.
    #[error("{step} {}: {error}", path.display())]
    Io {
        /// What the cache was doing, e.g. "create cache directory".
        step: &'static str,
        /// The path it was doing it on.
        path: PathBuf,
        /// The cause (shared so the error stays cheap to clone).
        error: Arc<std::io::Error>,
    },
    /// git could not be started at all (binary missing, not executable).
    #[error("run {} for {repo}: {error}", git.display())]
    Spawn {
        /// The URL, userinfo stripped.
        repo: String,
        /// The configured git binary.
        git: PathBuf,
        /// The cause.
        error: Arc<std::io::Error>,
    },
}

impl SourceError {
    pub(crate) fn io(step: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        SourceError::Io { step, path: path.into(), error: Arc::new(error) }
    }
}
