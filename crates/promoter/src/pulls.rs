//! Reconciles the local SCM provider's PullRequests that a human asks to merge
//! (`spec.merge: true`) or close (`spec.close: true`). Merges a promotion waits for are done by
//! the promotion itself once its gates pass (`services.rs`).

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use promotion::{PullRequest, PullRequestState};

use crate::{Context, ReconcileError};

/// One pass over one PullRequest.
pub(crate) async fn reconcile(pr: Arc<PullRequest>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let state = pr.status.as_ref().map(|s| s.state).unwrap_or_default();
    if state != PullRequestState::Open || !(pr.spec.merge || pr.spec.close) {
        return Ok(Action::await_change());
    }
    let config = scm::local::LocalConfig {
        credentials: crate::credentials::Secrets::load(&context.client).await.git(&pr.spec.repo_url),
        work_dir: context.config.data_dir.join("merges"),
        ..Default::default()
    };
    let _ = tokio::fs::create_dir_all(&config.work_dir).await;
    let provider = scm::local::Local::new(context.client.clone(), config.clone());
    let reference = scm::PullRequestRef { repo_url: pr.spec.repo_url.clone(), id: pr.name_any() };
    let result = if pr.spec.close {
        scm::ScmProvider::close(&provider, &reference).await.map(|_| ())
    } else {
        scm::local::merge_local(&context.client, &pr, &scm::MergeOptions::default(), &config).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        Err(error) => {
            // merge_local records the reason in the PullRequest's status; try again later.
            tracing::info!(pull_request = %pr.name_any(), error = %crate::error_chain(&error), "merge failed");
            Ok(Action::requeue(Duration::from_secs(30)))
        }
    }
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<PullRequest>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "pull request reconcile failed");
    crate::retry_after_error()
}
