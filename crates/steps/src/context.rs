//! What a step runs with: the promotion's scratch directory and identity, the freight, earlier
//! outputs, and the controller's services.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

/// Everything one step run sees.
pub struct StepContext<'a> {
    /// The promotion's scratch directory; every config path is relative to it.
    pub workdir: &'a Path,
    /// The Promotion's name (the `Ferry-Promotion` trailer's value).
    pub promotion: &'a str,
    /// The Stage's name.
    pub stage: &'a str,
    /// The namespace (project) of the promotion.
    pub namespace: &'a str,
    /// The freight being promoted.
    pub freight: &'a promotion::Freight,
    /// The promotion's variables, already evaluated ([`crate::expr::evaluate_vars`]).
    pub vars: &'a Map<String, Value>,
    /// Earlier steps' outputs, by alias.
    pub outputs: &'a Map<String, Value>,
    /// This step's stored state from its previous run (exec plugins that returned `running`).
    pub state: Option<&'a Value>,
    /// When the Promotion was created: the author and committer date of its commits.
    pub created_at: SystemTime,
    /// The controller's services (pull requests, applications).
    pub services: &'a dyn Services,
    /// Credentials for git remotes.
    pub credentials: &'a dyn GitCredentials,
    /// How git runs.
    pub git: &'a source::worktree::WorktreeConfig,
    /// The render tools, for `hydrate`.
    pub toolbox: Arc<render::Toolbox>,
    /// Turns at pushing to a branch, shared by every promotion of this process.
    pub pushes: &'a PushLocks,
}

/// One turn at a time per remote branch: promotions of one controller pushing to the same branch
/// take turns at fetch → rebase → push instead of racing and rejecting each other, so a push is
/// only ever rejected by a writer outside this process (which `git-push` still retries).
#[derive(Default)]
pub struct PushLocks {
    turns: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl PushLocks {
    /// Waits for the turn at `branch` of `repo`; the turn lasts as long as the guard.
    pub async fn turn(&self, repo: &str, branch: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let key = format!("{repo}\n{branch}");
        let lock = {
            let mut turns = self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget branches nobody holds or waits for, so the map stays as small as the work.
            turns.retain(|k, lock| k == &key || Arc::strong_count(lock) > 1);
            Arc::clone(turns.entry(key).or_default())
        };
        lock.lock_owned().await
    }
}

impl StepContext<'_> {
    /// The expression scope for this context.
    pub fn scope(&self) -> crate::expr::Scope {
        crate::expr::Scope {
            vars: self.vars.clone(),
            outputs: self.outputs.clone(),
            freight: serde_json::to_value(self.freight).unwrap_or(Value::Null),
            ctx: serde_json::json!({
                "stage": self.stage,
                "promotion": self.promotion,
                "namespace": self.namespace,
                "project": self.namespace,
            }),
            extra: Map::new(),
        }
    }
}

/// Credentials for git remotes, by repo URL.
pub trait GitCredentials: Send + Sync {
    /// The credentials for `repo_url`, if any are configured.
    fn credentials(&self, repo_url: &str) -> Option<source::Credentials>;
}

/// No credentials for any repository (local and public remotes).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl GitCredentials for NoCredentials {
    fn credentials(&self, _repo_url: &str) -> Option<source::Credentials> {
        None
    }
}

/// Credentials keyed by [`source::normalize_url`] of the repo URL.
impl GitCredentials for HashMap<String, source::Credentials> {
    fn credentials(&self, repo_url: &str) -> Option<source::Credentials> {
        self.get(&source::normalize_url(repo_url)).cloned()
    }
}

/// A pull request to open (or update, when one is already open from the same source branch to
/// the same target branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestRequest {
    /// The repository.
    pub repo_url: String,
    /// The branch with the changes.
    pub source_branch: String,
    /// The branch to merge into.
    pub target_branch: String,
    /// The title.
    pub title: String,
    /// The body (Markdown).
    pub body: String,
}

/// An opened pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestRef {
    /// The provider's identifier: a number for SCMs, `local/<name>` for the local provider.
    pub id: String,
    /// Where a human looks at it.
    pub url: String,
}

/// A pull request's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    /// Open, merged or closed.
    pub state: promotion::PullRequestState,
    /// The merge commit, once merged.
    pub merge_commit: Option<String>,
}

/// A ferry Application's state, for `app-wait`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    /// Synced, OutOfSync or Unknown.
    pub sync: application::SyncStatusCode,
    /// Health.
    pub health: health::HealthStatus,
    /// The revision last synced (or compared).
    pub revision: Option<String>,
    /// The current or last operation's phase.
    pub operation: Option<application::OperationPhase>,
}

/// A service call failed; retried as an errored step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// What failed, naming the object.
    pub message: String,
}

/// What the steps need from the controller. Implementations must be idempotent where the
/// steps are: opening a pull request that is already open returns (and updates) that one.
pub trait Services: Send + Sync {
    /// Opens a pull request, or updates the open one for the same branches.
    fn open_pull_request<'a>(
        &'a self,
        request: &'a PullRequestRequest,
    ) -> BoxFuture<'a, Result<PullRequestRef, ServiceError>>;

    /// A pull request's state.
    fn pull_request<'a>(
        &'a self,
        repo_url: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<PullRequestInfo, ServiceError>>;

    /// Refreshes an Application and syncs it (to `revision`, when given).
    fn sync_app<'a>(&'a self, app: &'a str, revision: Option<&'a str>) -> BoxFuture<'a, Result<(), ServiceError>>;

    /// An Application's state.
    fn app_state<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<AppState, ServiceError>>;
}

#[cfg(test)]
mod push_lock_tests {
    use super::PushLocks;
    use std::time::Duration;

    #[tokio::test]
    async fn one_turn_per_branch_and_branches_do_not_wait_for_each_other() {
        let locks = PushLocks::default();
        let first = locks.turn("file:///r.git", "main").await;
        // Another branch, or another repository, gets its turn at once.
        let other_branch = locks.turn("file:///r.git", "dev").await;
        let other_repo = locks.turn("file:///s.git", "main").await;
        drop((other_branch, other_repo));
        // The same branch waits until the first turn ends.
        let mut second = Box::pin(locks.turn("file:///r.git", "main"));
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut second).await.is_err(), "second turn while held");
        drop(first);
        let _second = second.await;
        assert_eq!(locks.turns.lock().map(|t| t.len()).unwrap_or(0), 1, "released branches are forgotten");
    }
}
