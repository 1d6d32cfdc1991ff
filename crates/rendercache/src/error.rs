//! Errors of the render cache. Only opening can fail: once open, every disk problem is a miss or
//! a logged, counted write error, never an error to the caller.

use std::path::PathBuf;

/// Opening the cache directory failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A filesystem operation on the cache directory failed.
    #[error("{step} {}: {error}", path.display())]
    Io {
        /// What the cache was doing, e.g. "create cache directory".
        step: &'static str,
        /// The path it was doing it on.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
}

impl CacheError {
    pub(crate) fn io(step: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        CacheError::Io { step, path: path.into(), error }
    }
}
