//! What steps need from the controller ([`steps::Services`]), for one promotion run: pull
//! requests through the stage's SCM provider — merged by ferry once the stage's proposed gates,
//! its approval and its time windows allow — and ferry Applications.

use std::sync::{Arc, Mutex};

use application::{Application, OperationPhase};
use chrono::Utc;
use futures::FutureExt;
use futures::future::BoxFuture;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use promotion::gates::GateResult;
use promotion::{CommitStatus, CommitStatusPhase, Freight, PullRequestState, Stage};
use serde_json::json;
use steps::{AppState, PullRequestInfo, PullRequestRef, PullRequestRequest, ServiceError, Services};

use crate::Context;

/// The stage var naming the SCM provider: `local` (default), `github`, `gitlab` or `gitea`.
pub(crate) const PROVIDER_VAR: &str = "scmProvider";
/// The stage var naming a Secret (namespace `ferry`, key `token`) with the provider's API token.
pub(crate) const TOKEN_SECRET_VAR: &str = "scmTokenSecret";
/// The stage var with the provider's API URL (self-hosted instances).
pub(crate) const API_URL_VAR: &str = "scmApiURL";

/// [`Services`] for one run of one promotion.
pub(crate) struct PromotionServices<'a> {
    pub(crate) context: &'a Context,
    pub(crate) promotion: &'a str,
    pub(crate) stage: &'a Stage,
    pub(crate) freight: &'a Freight,
    pub(crate) provider: Arc<dyn scm::ScmProvider>,
    /// What the last `pull_request` call waits on (gates, approval, window), for the status.
    pub(crate) waiting: Mutex<Option<String>>,
}

impl PromotionServices<'_> {
    fn apps(&self) -> Api<Application> {
        Api::namespaced(self.context.client.clone(), application::NAMESPACE)
    }

    /// Posts one of ferry's own commit statuses; a failure only delays what it reports.
    async fn post(&self, repo_url: &str, sha: &str, key: &str, phase: CommitStatusPhase, description: &str) {
        if let Err(error) = crate::stages::post_status(self.context, repo_url, sha, key, phase, description).await {
            tracing::warn!(promotion = self.promotion, key, error = %crate::error_chain(&error), "cannot post commit status");
        }
    }

    fn wait_on(&self, message: String) {
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting = Some(message);
        }
    }

    /// Why the open pull request may not merge yet, or `None` when it may. The approval and the
    /// time windows are also posted as ferry's own commit statuses on the head commit, so the
    /// PR's checks show them beside CI's.
    async fn blocked(&self, repo_url: &str, head: &str) -> Result<Option<String>, ServiceError> {
        let stage = self.stage.name_any();
        let mut reasons = Vec::new();
        let approval = promotion::eligibility::needs_approval(self.stage, self.freight);
        if self.stage.spec.approval.as_ref().is_some_and(|a| a.required) {
            let (phase, description) = match &approval {
                Some(reason) => (CommitStatusPhase::Pending, reason.clone()),
                None => {
                    let given = self.freight.status.as_ref().and_then(|s| s.approved_for.get(&stage));
                    let who = given.and_then(|a| a.approved_by.clone()).unwrap_or_else(|| "a user".to_owned());
                    let when =
                        given.and_then(|a| a.approved_at.clone()).map(|at| format!(" at {at}")).unwrap_or_default();
                    (CommitStatusPhase::Success, format!("approved for {stage} by {who}{when}"))
                }
            };
            self.post(repo_url, head, promotion::keys::APPROVAL, phase, &description).await;
        }
        reasons.extend(approval);
        if !self.stage.spec.windows.is_empty() {
            let (phase, description) = match promotion::windows::check(&self.stage.spec.windows, Utc::now()) {
                Ok(verdict) if verdict.is_allowed() => (CommitStatusPhase::Success, verdict.description().to_owned()),
                Ok(verdict) => (CommitStatusPhase::Failure, verdict.description().to_owned()),
                Err(error) => (CommitStatusPhase::Failure, format!("invalid time window: {error}")),
            };
            if phase != CommitStatusPhase::Success {
                reasons.push(format!("{}: {description}", promotion::keys::WINDOW));
            }
            self.post(repo_url, head, promotion::keys::WINDOW, phase, &description).await;
        }
        if let Some(first) = reasons.into_iter().next() {
            return Ok(Some(first));
        }
        let keys = self.stage.spec.gates.as_ref().map(|g| g.proposed.clone()).unwrap_or_default();
        if keys.is_empty() {
            return Ok(None);
        }
        let statuses: Api<CommitStatus> = Api::namespaced(self.context.client.clone(), promotion::NAMESPACE);
        let listed = statuses
            .list(&ListParams::default())
            .await
            .map_err(|e| ServiceError { message: format!("list commit statuses: {}", crate::error_chain(&e)) })?;
        let mut items = listed.items;
        items.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
        let result = promotion::gates::evaluate(&keys, &items, repo_url, head);
        let outcome = match &result {
            GateResult::Passed => "passed",
            GateResult::Pending { .. } => "pending",
            GateResult::Failed { .. } => "failed",
        };
        self.context.metrics.gate_checked(outcome);
        Ok(match result {
            GateResult::Passed => None,
            other => Some(format!("gates on {}: {}", short(head), other.summary())),
        })
    }
}

impl Services for PromotionServices<'_> {
    fn open_pull_request<'a>(
        &'a self,
        request: &'a PullRequestRequest,
    ) -> BoxFuture<'a, Result<PullRequestRef, ServiceError>> {
        async move {
            let open = scm::OpenPullRequest {
                repo_url: request.repo_url.clone(),
                source_branch: request.source_branch.clone(),
                target_branch: request.target_branch.clone(),
                title: request.title.clone(),
                body: request.body.clone(),
            };
            let info = self.provider.open_pull_request(&open).await.map_err(service_error)?;
            Ok(PullRequestRef { id: info.id, url: info.url })
        }
        .boxed()
    }

    fn pull_request<'a>(
        &'a self,
        repo_url: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<PullRequestInfo, ServiceError>> {
        async move {
            let reference = scm::PullRequestRef { repo_url: repo_url.to_owned(), id: id.to_owned() };
            let info = self.provider.get(&reference).await.map_err(service_error)?;
            if info.state != PullRequestState::Open {
                return Ok(PullRequestInfo { state: info.state, merge_commit: info.merge_commit });
            }
            let Some(head) = info.head_sha.clone() else {
                self.wait_on(format!("pull request {id} has no head commit yet"));
                return Ok(PullRequestInfo { state: PullRequestState::Open, merge_commit: None });
            };
            if let Some(reason) = self.blocked(repo_url, &head).await? {
                self.wait_on(format!("pull request {id} waits: {reason}"));
                return Ok(PullRequestInfo { state: PullRequestState::Open, merge_commit: None });
            }
            let options = scm::MergeOptions { expected_head: Some(head), promotion: Some(self.promotion.to_owned()) };
            let merged = self.provider.merge(&reference, &options).await.map_err(service_error)?;
            Ok(PullRequestInfo { state: PullRequestState::Merged, merge_commit: Some(merged) })
        }
        .boxed()
    }

    fn sync_app<'a>(&'a self, app: &'a str, revision: Option<&'a str>) -> BoxFuture<'a, Result<(), ServiceError>> {
        async move {
            let apps = self.apps();
            let current = apps
                .get_opt(app)
                .await
                .map_err(|e| ServiceError { message: format!("read application {app:?}: {}", crate::error_chain(&e)) })?
                .ok_or_else(|| ServiceError { message: format!("application {app:?} not found") })?;
            let busy = current.spec.operation.is_some()
                || current
                    .status
                    .as_ref()
                    .and_then(|s| s.operation_state.as_ref())
                    .is_some_and(|op| op.phase == OperationPhase::Running);
            // A hard refresh fetches the new commit; an app with auto-sync then syncs it. An
            // explicit sync is requested too unless one is already running (it would be refused).
            let mut patch = json!({
                "metadata": { "annotations": { application::REFRESH_ANNOTATION: application::Refresh::Hard.as_str() } }
            });
            if !busy {
                patch["operation"] = json!({
                    "sync": { "revision": revision },
                    "initiatedBy": { "username": "ferry-promoter" },
                });
            }
            let params = PatchParams { field_manager: Some(crate::FIELD_MANAGER.to_owned()), ..Default::default() };
            apps.patch(app, &params, &Patch::Merge(&patch)).await.map_err(|e| ServiceError {
                message: format!("sync application {app:?}: {}", crate::error_chain(&e)),
            })?;
            Ok(())
        }
        .boxed()
    }

    fn app_state<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<AppState, ServiceError>> {
        async move {
            let found = self
                .apps()
                .get_opt(app)
                .await
                .map_err(|e| ServiceError { message: format!("read application {app:?}: {}", crate::error_chain(&e)) })?
                .ok_or_else(|| ServiceError { message: format!("application {app:?} not found") })?;
            Ok(app_state(&found))
        }
        .boxed()
    }
}

/// An Application's state as the steps see it.
pub(crate) fn app_state(app: &Application) -> AppState {
    let status = app.status.clone().unwrap_or_default();
    AppState {
        sync: status.sync.as_ref().map(|s| s.status).unwrap_or_default(),
        health: status.health.as_ref().map_or(health::HealthStatus::Unknown, |h| h.status),
        revision: status.sync.and_then(|s| s.revision),
        operation: status.operation_state.map(|op| op.phase),
    }
}

/// The SCM provider a stage's vars name (default: the local provider), and the API token it
/// was given (for masking).
pub(crate) async fn provider(
    context: &Context,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Arc<dyn scm::ScmProvider>, Option<String>), String> {
    let var = |name: &str| vars.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let kind = match var(PROVIDER_VAR).as_deref().unwrap_or("local") {
        "local" => scm::ProviderKind::Local,
        "github" => scm::ProviderKind::GitHub,
        "gitlab" => scm::ProviderKind::GitLab,
        "gitea" => scm::ProviderKind::Gitea,
        other => {
            return Err(format!("unknown SCM provider {other:?} (var {PROVIDER_VAR}: local, github, gitlab or gitea)"));
        }
    };
    let token = match var(TOKEN_SECRET_VAR) {
        Some(secret) => Some(read_token(context, &secret).await?),
        None => None,
    };
    let work_dir = context.config.data_dir.join("merges");
    tokio::fs::create_dir_all(&work_dir).await.map_err(|e| format!("create {}: {e}", work_dir.display()))?;
    let config = scm::ProviderConfig {
        api_url: var(API_URL_VAR),
        token: token.clone(),
        kube: Some(context.client.clone()),
        git_credentials: None,
        work_dir: Some(work_dir),
    };
    let provider = scm::provider_for(kind, config).map_err(|e| crate::error_chain(&e))?;
    Ok((provider, token))
}

async fn read_token(context: &Context, secret: &str) -> Result<String, String> {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(context.client.clone(), promotion::NAMESPACE);
    let found = secrets
        .get_opt(secret)
        .await
        .map_err(|e| format!("read secret {secret:?}: {}", crate::error_chain(&e)))?
        .ok_or_else(|| format!("secret {secret:?} (var {TOKEN_SECRET_VAR}) not found"))?;
    found
        .data
        .as_ref()
        .and_then(|data| data.get("token"))
        .map(|token| String::from_utf8_lossy(&token.0).trim().to_owned())
        .ok_or_else(|| format!("secret {secret:?} has no key \"token\""))
}

fn service_error(error: scm::ScmError) -> ServiceError {
    ServiceError { message: crate::error_chain(&error) }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
