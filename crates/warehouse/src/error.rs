//! Errors of discovery. Each names the subscription's repo URL and the step that failed, and
//! never carries a password or token.

/// Why one subscription could not be discovered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    /// The subscription sets no kind, or more than one.
    #[error("subscription must set exactly one of git, image or chart ({found})")]
    InvalidSubscription {
        /// What was set, e.g. "none" or "git and image".
        found: String,
    },
    /// The repo URL cannot be used (wrong form, a tag in an image repository, …).
    #[error("repo url {repo}: {reason}")]
    InvalidRepoUrl {
        /// The URL as given (userinfo stripped).
        repo: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A semantic version constraint does not parse.
    #[error("{repo}: invalid semver constraint {constraint:?}: {reason}")]
    InvalidConstraint {
        /// The subscription's repo URL.
        repo: String,
        /// The constraint as given.
        constraint: String,
        /// The parser's explanation.
        reason: String,
    },
    /// An allowTags / ignoreTags regular expression or a path pattern does not compile.
    #[error("{repo}: invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The subscription's repo URL.
        repo: String,
        /// The pattern as given.
        pattern: String,
        /// The compiler's explanation.
        reason: String,
    },
    /// Plain HTTP was asked for a registry that is not on loopback.
    #[error(
        "{repo}: plain HTTP (insecure) is allowed only for registries on loopback \
         (127.0.0.1, localhost, ::1), not {host}"
    )]
    InsecureNotAllowed {
        /// The subscription's repo URL.
        repo: String,
        /// The registry host.
        host: String,
    },
    /// A registry or chart repository request failed: unreachable, refused, unauthorised, not
    /// found. `message` says which, with secrets masked.
    #[error("{step} of {repo}: {message}")]
    Remote {
        /// The subscription's repo URL.
        repo: String,
        /// What discovery was doing: "list tags", "get manifest", "get image config", "get chart index".
        step: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The tracked tag of a Digest subscription does not exist.
    #[error("{repo}: tag {tag:?} not found")]
    TagNotFound {
        /// The subscription's repo URL.
        repo: String,
        /// The tag.
        tag: String,
    },
    /// The subscription asks for more work than discovery does in one pass.
    #[error("{repo}: {reason}")]
    TooMany {
        /// The subscription's repo URL.
        repo: String,
        /// What and how to narrow it.
        reason: String,
    },
    /// Fetching or reading a git repository failed.
    #[error("{step}: {error}")]
    Git {
        /// The subscription's repo URL.
        repo: String,
        /// "fetch", "read history" or "list tags".
        step: &'static str,
        /// The source stage's error (it names the repo, userinfo stripped).
        error: source::SourceError,
    },
}
