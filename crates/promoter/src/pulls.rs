//! Reconciles the local SCM provider's PullRequests that a human asks to merge
//! (`spec.merge: true`) or close (`spec.close: true`). Merges a promotion waits for are done by
//! the promotion itself once its gates pass (`services.rs`).
//!
//! A failed merge (conflict, unreachable remote) is recorded in the PullRequest's
//! `status.message` by `scm::merge_local` and retried with a backoff (5 s doubling to 5 min,
//! counted in memory: a restart retries at once).

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
    let name = pr.name_any();
    match result {
        Ok(()) => {
            if let Ok(mut failures) = context.pull_failures.lock() {
                failures.remove(&name);
            }
            Ok(Action::await_change())
        }
        Err(error) => {
            // merge_local records the reason in the PullRequest's status; try again later.
            let attempts = match context.pull_failures.lock() {
                Ok(mut failures) => {
                    let attempts = failures.entry(name.clone()).or_default();
                    *attempts = attempts.saturating_add(1);
                    *attempts
                }
                Err(_) => 1,
            };
            let wait = backoff(attempts);
            tracing::info!(pull_request = %name, error = %crate::error_chain(&error), ?wait, "merge failed");
            Ok(Action::requeue(wait))
        }
    }
}

/// The wait after `attempts` failed merges: 5 s, doubling, at most 5 minutes.
fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(6);
    (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
}

/// The first retry after a failed merge.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between merge attempts.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<PullRequest>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "pull request reconcile failed");
    crate::retry_after_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
