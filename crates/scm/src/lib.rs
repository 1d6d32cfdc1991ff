//! The pull-request edge of promotion: one [`ScmProvider`] trait and its implementations.
//!
//! - [`github`], [`gitlab`] and [`gitea`] speak their SCM's public REST API over HTTPS
//!   (reqwest with rustls; the process-wide rustls crypto provider is used, which the binary
//!   installs: this crate never installs one).
//! - [`local`] is for users without an SCM: pull requests are `PullRequest` objects in
//!   namespace `ferry`, and merging runs git itself (clone into a scratch directory, merge,
//!   push).
//!
//! Invariants:
//! - IO: HTTP to the configured SCM API only; the local provider talks to Kubernetes (its
//!   `PullRequest` objects and Events) and runs the git CLI through tokio in temporary
//!   directories it removes.
//! - Tokens are never logged and never part of an error: errors name the operation and the
//!   repository (userinfo stripped), and any text from a server is masked before it is kept.
//! - Opening is idempotent: an open pull request for the same (source, target) is updated in
//!   place, never duplicated, so a promotion that resumes after a crash finds its own PR.
//!   Merging is idempotent too: a merged pull request answers with its merge commit.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

pub use promotion::PullRequestState;

pub mod gitea;
pub mod github;
pub mod gitlab;
mod http;
pub mod local;

/// What a caller asks for when it opens (or re-opens) a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPullRequest {
    /// The repository (https, ssh or scp-like form; `file://` for the local provider).
    pub repo_url: String,
    /// The branch to merge.
    pub source_branch: String,
    /// The branch to merge into.
    pub target_branch: String,
    /// The title.
    pub title: String,
    /// The body (Markdown).
    pub body: String,
}

/// Which pull request an operation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PullRequestRef {
    /// The repository, as given when the pull request was opened.
    pub repo_url: String,
    /// The provider's identifier: the number (GitHub, Gitea), the iid (GitLab) or the object
    /// name (local).
    pub id: String,
}

/// A pull request as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    /// The repository, as given by the caller.
    pub repo_url: String,
    /// The provider's identifier (see [`PullRequestRef::id`]).
    pub id: String,
    /// Where a human looks at it.
    pub url: String,
    /// Open, merged or closed.
    pub state: PullRequestState,
    /// The head of the source branch, when the provider reports it.
    pub head_sha: Option<String>,
    /// The merge commit on the target branch, once merged.
    pub merge_commit: Option<String>,
}

impl PullRequestInfo {
    /// The reference to pass to the other operations.
    pub fn reference(&self) -> PullRequestRef {
        PullRequestRef { repo_url: self.repo_url.clone(), id: self.id.clone() }
    }
}

/// How to merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Merge only if the source head is still this commit (what the gates judged).
    pub expected_head: Option<String>,
    /// The value of the `Ferry-Promotion` trailer on the merge commit, when one is made.
    pub promotion: Option<String>,
}

/// A pull-request host. Object safe: the controller holds an `Arc<dyn ScmProvider>`.
#[async_trait::async_trait]
pub trait ScmProvider: Send + Sync + fmt::Debug {
    /// Open a pull request from `source_branch` into `target_branch`. If one is already open for
    /// that pair, its title and body are updated and it is returned instead.
    async fn open_pull_request(&self, request: &OpenPullRequest) -> Result<PullRequestInfo, ScmError>;

    /// The open pull request from `source_branch` into `target_branch`, if there is one.
    async fn find_open(
        &self,
        repo_url: &str,
        source_branch: &str,
        target_branch: &str,
    ) -> Result<Option<PullRequestInfo>, ScmError>;

    /// Replace the title and body.
    async fn update(&self, pr: &PullRequestRef, title: &str, body: &str) -> Result<PullRequestInfo, ScmError>;

    /// Add a comment.
    async fn comment(&self, pr: &PullRequestRef, body: &str) -> Result<(), ScmError>;

    /// Merge; the merge commit's SHA. A pull request that is already merged answers with its
    /// merge commit; a closed one is an error.
    async fn merge(&self, pr: &PullRequestRef, options: &MergeOptions) -> Result<String, ScmError>;

    /// The pull request as it is now.
    async fn get(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError>;

    /// Close without merging. Closing a closed pull request is fine; a merged one is an error.
    async fn close(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError>;
}

/// Which provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// github.com or GitHub Enterprise Server.
    GitHub,
    /// gitlab.com or self-managed GitLab.
    GitLab,
    /// Gitea (and Forgejo, which keeps its API).
    Gitea,
    /// ferry's own `PullRequest` objects, merged with git.
    Local,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::GitHub => "github",
            ProviderKind::GitLab => "gitlab",
            ProviderKind::Gitea => "gitea",
            ProviderKind::Local => "local",
        })
    }
}

/// What a provider needs. `Debug` masks the token and credentials.
#[derive(Clone, Default)]
pub struct ProviderConfig {
    /// The API root (`https://api.github.com`, `https://gitlab.example/api/v4`,
    /// `https://gitea.example/api/v1`). Derived from each repository URL when unset.
    pub api_url: Option<String>,
    /// The API token. Never logged.
    pub token: Option<String>,
    /// The Kubernetes client (local provider only; required there).
    pub kube: Option<kube::Client>,
    /// Credentials for git (local provider only).
    pub git_credentials: Option<source::Credentials>,
    /// Where the local provider makes scratch clones (default: the system temp directory).
    pub work_dir: Option<PathBuf>,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("kube", &self.kube.as_ref().map(|_| "Client"))
            .field("git_credentials", &self.git_credentials)
            .field("work_dir", &self.work_dir)
            .finish()
    }
}

/// The provider of `kind`.
pub fn provider_for(kind: ProviderKind, config: ProviderConfig) -> Result<Arc<dyn ScmProvider>, ScmError> {
    Ok(match kind {
        ProviderKind::GitHub => Arc::new(github::GitHub::new(config.api_url.as_deref(), config.token)?),
        ProviderKind::GitLab => Arc::new(gitlab::GitLab::new(config.api_url.as_deref(), config.token)?),
        ProviderKind::Gitea => Arc::new(gitea::Gitea::new(config.api_url.as_deref(), config.token)?),
        ProviderKind::Local => {
            let client = config.kube.ok_or_else(|| ScmError::Config {
                reason: "the local provider needs a Kubernetes client".to_string(),
            })?;
            let defaults = local::LocalConfig::default();
            let local = local::LocalConfig {
                credentials: config.git_credentials,
                work_dir: config.work_dir.unwrap_or(defaults.work_dir.clone()),
                ..defaults
            };
            Arc::new(local::Local::new(client, local))
        }
    })
}

/// The operation an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Opening a pull request.
    Open,
    /// Looking for an open pull request.
    FindOpen,
    /// Updating title and body.
    Update,
    /// Commenting.
    Comment,
    /// Merging.
    Merge,
    /// Reading.
    Get,
    /// Closing.
    Close,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Open => "open pull request",
            Operation::FindOpen => "find open pull request",
            Operation::Update => "update pull request",
            Operation::Comment => "comment on pull request",
            Operation::Merge => "merge pull request",
            Operation::Get => "get pull request",
            Operation::Close => "close pull request",
        })
    }
}

/// Why a provider operation failed. `repo` is the repository URL without userinfo; `message`
/// is the server's (or git's) explanation with any token masked.
#[derive(Debug, thiserror::Error)]
pub enum ScmError {
    /// The provider cannot be built as configured.
    #[error("scm provider configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The repository URL does not name a repository this provider understands.
    #[error("{operation} on {repo}: invalid repository URL: {reason}")]
    InvalidRepoUrl {
        /// The operation.
        operation: Operation,
        /// The URL, userinfo stripped.
        repo: String,
        /// What is wrong.
        reason: String,
    },
    /// HTTP 401.
    #[error("{operation} on {repo}: unauthorized (401): the token is missing, invalid or expired")]
    Unauthorized {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
    },
    /// HTTP 403.
    #[error("{operation} on {repo}: forbidden (403): the token lacks permission: {message}")]
    Forbidden {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The server's explanation.
        message: String,
    },
    /// HTTP 404 (also what GitHub answers for a private repository the token cannot see).
    #[error(
        "{operation} on {repo}: not found (404): no such repository or pull request, or the token cannot see it: {message}"
    )]
    NotFound {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The server's explanation.
        message: String,
    },
    /// HTTP 409, or a git push refused because the target moved: the state changed underneath
    /// (head moved, pull request already exists, merge conflict).
    #[error("{operation} on {repo}: conflict (409): {message}")]
    Conflict {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The server's explanation.
        message: String,
    },
    /// HTTP 422: the request was understood but refused (no commits between the branches, a
    /// missing branch, invalid fields).
    #[error("{operation} on {repo}: rejected (422): {message}")]
    Rejected {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The server's explanation.
        message: String,
    },
    /// The pull request cannot be merged (HTTP 405/406, or conflicting changes for git).
    #[error("{operation} on {repo}: not mergeable: {message}")]
    NotMergeable {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The explanation.
        message: String,
    },
    /// The pull request is closed (or merged, for close) and the operation needs it open.
    #[error("{operation} on {repo}: pull request {id} is {state:?}")]
    WrongState {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The pull request.
        id: String,
        /// Its state.
        state: PullRequestState,
    },
    /// Any other HTTP error status.
    #[error("{operation} on {repo}: HTTP {status}: {message}")]
    Api {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The HTTP status code.
        status: u16,
        /// The server's explanation.
        message: String,
    },
    /// The server could not be reached, or the connection failed.
    #[error("{operation} on {repo}: request failed")]
    Transport {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The cause (its URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with something that is not the documented JSON.
    #[error("{operation} on {repo}: unexpected response: {message}")]
    Decode {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// What was wrong with it.
        message: String,
    },
    /// A Kubernetes request of the local provider failed.
    #[error("{operation} on {repo}: kubernetes request failed")]
    Kube {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A git step of the local provider failed.
    #[error("{operation} on {repo}: git {step} failed")]
    Git {
        /// The operation.
        operation: Operation,
        /// The repository.
        repo: String,
        /// The git step (`clone`, `merge`, `push`, …).
        step: &'static str,
        /// The cause (git's stderr, masked).
        #[source]
        source: source::worktree::WorktreeError,
    },
}

/// Open idempotently: update the open pull request for the pair if there is one, else create one
/// with `create`. A create that loses a race (or that the server refuses because one exists)
/// looks again before failing.
pub(crate) async fn open_or_update<P, F, Fut>(
    provider: &P,
    request: &OpenPullRequest,
    create: F,
) -> Result<PullRequestInfo, ScmError>
where
    P: ScmProvider + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<PullRequestInfo, ScmError>>,
{
    let find = || provider.find_open(&request.repo_url, &request.source_branch, &request.target_branch);
    if let Some(existing) = find().await? {
        return provider.update(&existing.reference(), &request.title, &request.body).await;
    }
    match create().await {
        Ok(created) => Ok(created),
        Err(error @ (ScmError::Conflict { .. } | ScmError::Rejected { .. })) => match find().await? {
            Some(existing) => provider.update(&existing.reference(), &request.title, &request.body).await,
            None => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// The message of a merge commit ferry makes or asks for.
pub(crate) fn merge_message(source_branch: &str, target_branch: &str, title: &str, promotion: Option<&str>) -> String {
    let mut message = format!("Merge branch '{source_branch}' into {target_branch}\n");
    if !title.trim().is_empty() {
        message.push('\n');
        message.push_str(title.trim());
        message.push('\n');
    }
    if let Some(promotion) = promotion {
        message.push('\n');
        message.push_str(&format!("{}: {promotion}\n", promotion::PROMOTION_TRAILER));
    }
    message
}

/// For merge: `Some(merge commit)` when already merged, an error when closed, `None` when open.
pub(crate) fn already_merged(call: http::Call<'_>, current: &PullRequestInfo) -> Result<Option<String>, ScmError> {
    match current.state {
        PullRequestState::Open => Ok(None),
        PullRequestState::Merged => match &current.merge_commit {
            Some(sha) => Ok(Some(sha.clone())),
            None => Err(ScmError::Decode {
                operation: call.operation,
                repo: http::display_repo(call.repo_url),
                message: format!("pull request {} is merged but has no merge commit", current.id),
            }),
        },
        PullRequestState::Closed => Err(wrong_state(call, current)),
    }
}

/// For close: `Some(it)` when already closed, an error when merged, `None` when open.
pub(crate) fn check_closable(
    call: http::Call<'_>,
    current: &PullRequestInfo,
) -> Result<Option<PullRequestInfo>, ScmError> {
    match current.state {
        PullRequestState::Open => Ok(None),
        PullRequestState::Closed => Ok(Some(current.clone())),
        PullRequestState::Merged => Err(wrong_state(call, current)),
    }
}

fn wrong_state(call: http::Call<'_>, current: &PullRequestInfo) -> ScmError {
    ScmError::WrongState {
        operation: call.operation,
        repo: http::display_repo(call.repo_url),
        id: current.id.clone(),
        state: current.state,
    }
}
