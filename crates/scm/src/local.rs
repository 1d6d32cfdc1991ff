//! The local provider: pull requests are `PullRequest` objects in namespace `ferry`, and merging
//! is done by ferry with git (a scratch clone, a merge commit or a fast-forward, a push).
//!
//! Names are deterministic: `pr-<12 hex>` from (repo, source, target), so a promotion that
//! resumes after a crash finds the pull request it opened; a later pull request for the same
//! branches, once the first is merged or closed, is `pr-<hex>-2`, `-3`, …
//! Comments are Kubernetes Events on the object (`kubectl describe pr` shows them).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use promotion::{PullRequest, PullRequestSpec, PullRequestState};
use serde_json::json;
use sha2::{Digest, Sha256};
use source::Credentials;
use source::worktree::{Checkout, Identity, MissingBranch, PushOutcome, Worktree, WorktreeConfig, WorktreeError};

use crate::http::display_repo;
use crate::{MergeOptions, OpenPullRequest, Operation, PullRequestInfo, PullRequestRef, ScmError, ScmProvider};

/// Label on every local PullRequest: [`pull_request_key`] of its (repo, source, target).
pub const KEY_LABEL: &str = "ferry.dev/pull-request-key";

/// Attempts at a merge whose push is refused because the target moved meanwhile.
const PUSH_ATTEMPTS: usize = 3;

/// Longest comment kept in an Event message.
const MAX_COMMENT: usize = 4096;

/// How a merge is made when the target has not moved since the source branched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeStrategy {
    /// Fast-forward when the target is an ancestor of the source (the environment branch then
    /// is exactly the proposed one); a merge commit otherwise.
    #[default]
    FastForwardOrMerge,
    /// Always a merge commit (`--no-ff`).
    MergeCommit,
}

/// How the local provider runs git.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Credentials for cloning and pushing (none for `file://` and open HTTP remotes).
    pub credentials: Option<Credentials>,
    /// Where scratch clones are made (each removed when its merge is done).
    pub work_dir: PathBuf,
    /// The git binary and per-invocation timeout.
    pub worktree: WorktreeConfig,
    /// Author and committer of merge commits.
    pub identity: Identity,
    /// Fast-forward or always a merge commit.
    pub strategy: MergeStrategy,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            credentials: None,
            work_dir: std::env::temp_dir(),
            worktree: WorktreeConfig::default(),
            identity: Identity { name: "ferry".to_string(), email: "ferry@localhost".to_string() },
            strategy: MergeStrategy::default(),
        }
    }
}

/// The local provider.
#[derive(Clone)]
pub struct Local {
    client: kube::Client,
    config: LocalConfig,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The hash naming a (repo, source, target) triple: 12 hex digits.
pub fn pull_request_key(repo_url: &str, source_branch: &str, target_branch: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [repo_url, source_branch, target_branch] {
        hasher.update(part.as_bytes());
        // A separator that cannot occur in any part keeps ("a", "bc") apart from ("ab", "c").
        hasher.update([0u8]);
    }
    hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The name of the `n`th (from 1) pull request for a key.
fn name_for(key: &str, n: usize) -> String {
    if n <= 1 { format!("pr-{key}") } else { format!("pr-{key}-{n}") }
}

/// A local pull request's state: its status, or closed when closing was asked and not yet done.
fn state_of(pr: &PullRequest) -> PullRequestState {
    let state = pr.status.as_ref().map(|s| s.state).unwrap_or_default();
    if state == PullRequestState::Open && pr.spec.close { PullRequestState::Closed } else { state }
}

fn info_of(pr: &PullRequest) -> PullRequestInfo {
    let name = pr.name_any();
    let status = pr.status.clone().unwrap_or_default();
    PullRequestInfo {
        repo_url: pr.spec.repo_url.clone(),
        url: format!("/apis/ferry.dev/v1alpha1/namespaces/{}/pullrequests/{name}", promotion::NAMESPACE),
        id: name,
        state: state_of(pr),
        head_sha: status.head_sha,
        merge_commit: status.merge_commit,
    }
}

impl Local {
    /// A provider keeping its pull requests through `client`.
    pub fn new(client: kube::Client, config: LocalConfig) -> Local {
        Local { client, config }
    }

    /// The tip of the PR's source branch on the remote (a fetch into a scratch clone).
    async fn source_head(&self, pr: &PullRequest) -> Result<String, ScmError> {
        let operation = Operation::Get;
        let repo = display_repo(&pr.spec.repo_url);
        let git_error = |step: &'static str| {
            let repo = repo.clone();
            move |source: WorktreeError| ScmError::Git { operation, repo, step, source }
        };
        let _ = std::fs::create_dir_all(&self.config.work_dir);
        let scratch =
            tempfile::Builder::new().prefix("ferry-head-").tempdir_in(&self.config.work_dir).map_err(|source| {
                git_error("prepare")(WorktreeError::Io {
                    step: "create scratch directory",
                    path: self.config.work_dir.clone(),
                    source,
                })
            })?;
        let dir = scratch.path().join("repo");
        let tree = Worktree::clone(
            &self.config.worktree,
            &pr.spec.repo_url,
            self.config.credentials.as_ref(),
            &dir,
            &Checkout::FetchOnly,
        )
        .await
        .map_err(git_error("fetch"))?;
        let source_ref = format!("refs/remotes/origin/{}", pr.spec.source_branch);
        tree.rev(&source_ref).await.map_err(git_error("read source"))?.ok_or_else(|| ScmError::NotMergeable {
            operation,
            repo: repo.clone(),
            message: format!("source branch {:?} does not exist", pr.spec.source_branch),
        })
    }

    fn api(&self) -> Api<PullRequest> {
        Api::namespaced(self.client.clone(), promotion::NAMESPACE)
    }

    fn kube_error(operation: Operation, repo_url: &str) -> impl FnOnce(kube::Error) -> ScmError {
        let repo = display_repo(repo_url);
        move |source| ScmError::Kube { operation, repo, source }
    }

    async fn fetch(&self, operation: Operation, pr: &PullRequestRef) -> Result<PullRequest, ScmError> {
        let found = self.api().get_opt(&pr.id).await.map_err(Self::kube_error(operation, &pr.repo_url))?;
        found.ok_or_else(|| ScmError::NotFound {
            operation,
            repo: display_repo(&pr.repo_url),
            message: format!("no PullRequest {}/{}", promotion::NAMESPACE, pr.id),
        })
    }

    async fn list_key(&self, operation: Operation, repo_url: &str, key: &str) -> Result<Vec<PullRequest>, ScmError> {
        let params = ListParams::default().labels(&format!("{KEY_LABEL}={key}"));
        let list = self.api().list(&params).await.map_err(Self::kube_error(operation, repo_url))?;
        Ok(list.items)
    }

    async fn create(&self, request: &OpenPullRequest) -> Result<PullRequestInfo, ScmError> {
        let operation = Operation::Open;
        let key = pull_request_key(&request.repo_url, &request.source_branch, &request.target_branch);
        let existing = self.list_key(operation, &request.repo_url, &key).await?;
        let taken: Vec<String> = existing.iter().map(ResourceExt::name_any).collect();
        let name = (1..=taken.len() + 1)
            .map(|n| name_for(&key, n))
            .find(|name| !taken.contains(name))
            .unwrap_or_else(|| name_for(&key, taken.len() + 1));
        let mut object = PullRequest::new(
            &name,
            PullRequestSpec {
                repo_url: request.repo_url.clone(),
                source_branch: request.source_branch.clone(),
                target_branch: request.target_branch.clone(),
                title: request.title.clone(),
                body: request.body.clone(),
                merge: false,
                close: false,
            },
        );
        object.metadata.namespace = Some(promotion::NAMESPACE.to_string());
        object.metadata.labels = Some([(KEY_LABEL.to_string(), key)].into());
        match self.api().create(&PostParams::default(), &object).await {
            Ok(created) => Ok(info_of(&created)),
            // Someone else made it first: `open_or_update` looks again.
            Err(kube::Error::Api(status)) if status.code == 409 => Err(ScmError::Conflict {
                operation,
                repo: display_repo(&request.repo_url),
                message: format!("PullRequest {name} already exists"),
            }),
            Err(error) => Err(Self::kube_error(operation, &request.repo_url)(error)),
        }
    }
}

#[async_trait::async_trait]
impl ScmProvider for Local {
    async fn open_pull_request(&self, request: &OpenPullRequest) -> Result<PullRequestInfo, ScmError> {
        crate::open_or_update(self, request, || self.create(request)).await
    }

    async fn find_open(
        &self,
        repo_url: &str,
        source_branch: &str,
        target_branch: &str,
    ) -> Result<Option<PullRequestInfo>, ScmError> {
        let key = pull_request_key(repo_url, source_branch, target_branch);
        let mut open: Vec<PullRequest> = self
            .list_key(Operation::FindOpen, repo_url, &key)
            .await?
            .into_iter()
            .filter(|pr| {
                pr.spec.repo_url == repo_url
                    && pr.spec.source_branch == source_branch
                    && pr.spec.target_branch == target_branch
                    && state_of(pr) == PullRequestState::Open
            })
            .collect();
        // The oldest first: names grow with the counter.
        open.sort_by_key(|pr| (pr.name_any().len(), pr.name_any()));
        Ok(open.first().map(info_of))
    }

    async fn update(&self, pr: &PullRequestRef, title: &str, body: &str) -> Result<PullRequestInfo, ScmError> {
        let operation = Operation::Update;
        let current = self.fetch(operation, pr).await?;
        if current.spec.title == title && current.spec.body == body {
            return Ok(info_of(&current));
        }
        let patch = json!({ "spec": { "title": title, "body": body } });
        let updated = self
            .api()
            .patch(&pr.id, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(Self::kube_error(operation, &pr.repo_url))?;
        Ok(info_of(&updated))
    }

    async fn comment(&self, pr: &PullRequestRef, body: &str) -> Result<(), ScmError> {
        let operation = Operation::Comment;
        let object = self.fetch(operation, pr).await?;
        let now = k8s_openapi::jiff::Timestamp::now();
        let mut hasher = Sha256::new();
        hasher.update(body.as_bytes());
        hasher.update(now.as_nanosecond().to_be_bytes());
        let suffix: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{suffix}", pr.id)),
                namespace: Some(promotion::NAMESPACE.to_string()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some(PullRequest::api_version(&()).into_owned()),
                kind: Some(PullRequest::kind(&()).into_owned()),
                name: Some(pr.id.clone()),
                namespace: Some(promotion::NAMESPACE.to_string()),
                uid: object.metadata.uid.clone(),
                ..ObjectReference::default()
            },
            reason: Some("Comment".to_string()),
            message: Some(truncate(body, MAX_COMMENT)),
            type_: Some("Normal".to_string()),
            source: Some(EventSource { component: Some("ferry".to_string()), host: None }),
            reporting_component: Some("ferry".to_string()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), promotion::NAMESPACE);
        events.create(&PostParams::default(), &event).await.map_err(Self::kube_error(operation, &pr.repo_url))?;
        Ok(())
    }

    async fn merge(&self, pr: &PullRequestRef, options: &MergeOptions) -> Result<String, ScmError> {
        let object = self.fetch(Operation::Merge, pr).await?;
        merge_local(&self.client, &object, options, &self.config).await
    }

    async fn get(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let found = self.fetch(Operation::Get, pr).await?;
        let mut info = info_of(&found);
        // An open PR's head is the source branch's tip now (it moves when the branch is pushed
        // again), read from the remote: gates are judged on exactly that commit.
        if info.state == PullRequestState::Open {
            info.head_sha = Some(self.source_head(&found).await?);
        }
        Ok(info)
    }

    async fn close(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let operation = Operation::Close;
        let current = self.fetch(operation, pr).await?;
        match current.status.as_ref().map(|s| s.state).unwrap_or_default() {
            PullRequestState::Open => {}
            PullRequestState::Closed => return Ok(info_of(&current)),
            state @ PullRequestState::Merged => {
                return Err(ScmError::WrongState {
                    operation,
                    repo: display_repo(&pr.repo_url),
                    id: pr.id.clone(),
                    state,
                });
            }
        }
        let api = self.api();
        let params = PatchParams::default();
        let error = Self::kube_error(operation, &pr.repo_url);
        if !current.spec.close {
            api.patch(&pr.id, &params, &Patch::Merge(json!({ "spec": { "close": true } }))).await.map_err(error)?;
        }
        let status = json!({ "status": { "state": "closed" } });
        let closed = api
            .patch_status(&pr.id, &params, &Patch::Merge(&status))
            .await
            .map_err(Self::kube_error(operation, &pr.repo_url))?;
        Ok(info_of(&closed))
    }
}

/// Merge a local pull request with git and record it in its status (`state: merged`,
/// `mergeCommit`, `headSha`); the merge commit's SHA. For the PullRequest reconciler
/// (`spec.merge: true`) and for [`Local::merge`](ScmProvider::merge).
///
/// Idempotent: a pull request whose status says merged answers with its merge commit, and a
/// target that already contains the source head is not merged again. A failed merge records
/// its reason in `status.message` (best effort) and is returned as the error.
pub async fn merge_local(
    client: &kube::Client,
    pr: &PullRequest,
    options: &MergeOptions,
    config: &LocalConfig,
) -> Result<String, ScmError> {
    let operation = Operation::Merge;
    let repo_url = &pr.spec.repo_url;
    let call = crate::http::Call { operation, repo_url };
    if let Some(done) = crate::already_merged(call, &info_of(pr))? {
        return Ok(done);
    }
    let name = pr.name_any();
    let api: Api<PullRequest> = Api::namespaced(client.clone(), promotion::NAMESPACE);
    let request = BranchMerge {
        repo_url,
        source_branch: &pr.spec.source_branch,
        target_branch: &pr.spec.target_branch,
        title: &pr.spec.title,
        promotion: options.promotion.as_deref(),
        expected_head: options.expected_head.as_deref(),
    };
    let patch_status = |status: serde_json::Value| {
        let api = api.clone();
        let name = name.clone();
        async move { api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&json!({ "status": status }))).await }
    };
    match merge_branches(&request, config).await {
        Ok(merged) => {
            let status = json!({
                "state": "merged",
                "mergeCommit": merged.merge_commit,
                "headSha": merged.source_head,
                "message": null,
            });
            patch_status(status).await.map_err(Local::kube_error(operation, repo_url))?;
            Ok(merged.merge_commit)
        }
        Err(error) => {
            if let Err(patch_error) = patch_status(json!({ "message": error.to_string() })).await {
                tracing::warn!(pull_request = %name, error = %patch_error, "recording a failed merge");
            }
            Err(error)
        }
    }
}

/// Two branches of one repository to merge.
#[derive(Debug, Clone, Copy)]
pub struct BranchMerge<'a> {
    /// The repository.
    pub repo_url: &'a str,
    /// The branch to merge.
    pub source_branch: &'a str,
    /// The branch to merge into (pushed).
    pub target_branch: &'a str,
    /// The pull request's title, the merge commit's second paragraph.
    pub title: &'a str,
    /// The `Ferry-Promotion` trailer's value on a merge commit.
    pub promotion: Option<&'a str>,
    /// Merge only if the source head is this commit.
    pub expected_head: Option<&'a str>,
}

/// What [`merge_branches`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchMerged {
    /// The commit that brought the source into the target: the new merge commit, the source head
    /// (fast-forward), or the existing commit that did it before.
    pub merge_commit: String,
    /// The source head that was merged.
    pub source_head: String,
    /// How.
    pub how: MergeKind,
}

/// How the source reached the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// The target already contained the source head; nothing was pushed.
    AlreadyMerged,
    /// The target was moved to the source head.
    FastForward,
    /// A merge commit was made and pushed.
    MergeCommit,
}

/// Merge `source_branch` into `target_branch` with git and push the target (never forced): a
/// scratch clone under `config.work_dir`, removed afterwards. A push refused because the target
/// moved is retried from a fresh clone a few times.
pub async fn merge_branches(merge: &BranchMerge<'_>, config: &LocalConfig) -> Result<BranchMerged, ScmError> {
    let operation = Operation::Merge;
    let repo = display_repo(merge.repo_url);
    let git_error = |step: &'static str| {
        let repo = repo.clone();
        move |source: WorktreeError| ScmError::Git { operation, repo, step, source }
    };
    let scratch = tempfile::Builder::new().prefix("ferry-merge-").tempdir_in(&config.work_dir).map_err(|source| {
        git_error("prepare")(WorktreeError::Io {
            step: "create scratch directory",
            path: config.work_dir.clone(),
            source,
        })
    })?;
    let dir = scratch.path().join("repo");
    let credentials = config.credentials.as_ref();
    let mut last_refusal = String::new();
    for _ in 0..PUSH_ATTEMPTS {
        let checkout = Checkout::Branch { name: merge.target_branch.to_string(), missing: MissingBranch::Fail };
        let tree = Worktree::clone(&config.worktree, merge.repo_url, credentials, &dir, &checkout)
            .await
            .map_err(git_error("clone"))?;
        let source_ref = format!("refs/remotes/origin/{}", merge.source_branch);
        let Some(source_head) = tree.rev(&source_ref).await.map_err(git_error("read source"))? else {
            return Err(ScmError::NotMergeable {
                operation,
                repo,
                message: format!("source branch {:?} does not exist", merge.source_branch),
            });
        };
        if let Some(expected) = merge.expected_head
            && source_head != expected
            && !(expected.len() >= 7 && source_head.starts_with(expected))
        {
            return Err(ScmError::Conflict {
                operation,
                repo,
                message: format!("source branch moved to {source_head}, expected {expected}"),
            });
        }
        let Some(target_head) = tree.head().await.map_err(git_error("read target"))? else {
            return Err(ScmError::NotMergeable {
                operation,
                repo,
                message: format!("target branch {:?} has no commits", merge.target_branch),
            });
        };
        let git = Git { binary: &config.worktree.git, dir: tree.dir(), timeout: config.worktree.timeout, repo: &repo };
        if tree.is_ancestor(&source_head, &target_head).await.map_err(git_error("compare"))? {
            let merge_commit = git.merging_commit(&source_head, &target_head).await?;
            return Ok(BranchMerged { merge_commit, source_head, how: MergeKind::AlreadyMerged });
        }
        let fast_forward = config.strategy == MergeStrategy::FastForwardOrMerge
            && tree.is_ancestor(&target_head, &source_head).await.map_err(git_error("compare"))?;
        let (new_head, how) = if fast_forward {
            (source_head.clone(), MergeKind::FastForward)
        } else {
            let message = crate::merge_message(merge.source_branch, merge.target_branch, merge.title, merge.promotion);
            (git.merge_commit(&target_head, &source_head, &message, &config.identity).await?, MergeKind::MergeCommit)
        };
        git.run(
            "update target",
            &["update-ref", &format!("refs/heads/{}", merge.target_branch), &new_head, &target_head],
        )
        .await?;
        match tree.push(credentials, merge.target_branch).await.map_err(git_error("push"))? {
            PushOutcome::Pushed(_) => return Ok(BranchMerged { merge_commit: new_head, source_head, how }),
            PushOutcome::Rejected(message) => last_refusal = message,
        }
    }
    Err(ScmError::Conflict {
        operation,
        repo,
        message: format!("the target branch kept moving; last refusal: {last_refusal}"),
    })
}

/// Local git commands in a scratch clone (no network, so no credentials).
struct Git<'a> {
    binary: &'a Path,
    dir: &'a Path,
    timeout: Duration,
    repo: &'a str,
}

/// What a git command returned.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Git<'_> {
    async fn output(&self, step: &'static str, args: &[&str], env: &[(&str, &str)]) -> Result<Output, ScmError> {
        let mut command = tokio::process::Command::new(self.binary);
        command
            .arg("-C")
            .arg(self.dir)
            .args(["-c", "commit.gpgsign=false"])
            .args(args.iter().map(OsString::from))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let failed = |source: WorktreeError| ScmError::Git {
            operation: Operation::Merge,
            repo: self.repo.to_string(),
            step,
            source,
        };
        let output = match tokio::time::timeout(self.timeout, command.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(source)) => {
                return Err(failed(WorktreeError::Io { step: "run git", path: self.binary.to_path_buf(), source }));
            }
            Err(_) => {
                return Err(failed(WorktreeError::Git {
                    step,
                    repo: self.repo.to_string(),
                    message: format!("timed out after {}s", self.timeout.as_secs_f64()),
                }));
            }
        };
        Ok(Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }

    fn failure(&self, step: &'static str, message: String) -> ScmError {
        ScmError::Git {
            operation: Operation::Merge,
            repo: self.repo.to_string(),
            step,
            source: WorktreeError::Git { step, repo: self.repo.to_string(), message },
        }
    }

    async fn run(&self, step: &'static str, args: &[&str]) -> Result<String, ScmError> {
        let output = self.output(step, args, &[]).await?;
        if output.code == Some(0) { Ok(output.stdout) } else { Err(self.failure(step, output.stderr)) }
    }

    /// The commit on `target` that brought `source` in: the first commit after `source` on the
    /// ancestry path to `target`, or `source` itself when the target was fast-forwarded to it.
    async fn merging_commit(&self, source: &str, target: &str) -> Result<String, ScmError> {
        let range = format!("{source}..{target}");
        let path =
            self.run("find merge", &["rev-list", "--ancestry-path", "--topo-order", "--reverse", &range]).await?;
        Ok(path.lines().next().map(str::to_string).unwrap_or_else(|| source.to_string()))
    }

    /// A merge commit of `source` into `target` (three-way, without a worktree); conflicts are
    /// [`ScmError::NotMergeable`] naming the files.
    async fn merge_commit(
        &self,
        target: &str,
        source: &str,
        message: &str,
        identity: &Identity,
    ) -> Result<String, ScmError> {
        let merged = self
            .output("merge", &["merge-tree", "--write-tree", "--name-only", "--no-messages", target, source], &[])
            .await?;
        let mut lines = merged.stdout.lines();
        let tree = lines.next().unwrap_or_default().to_string();
        match merged.code {
            Some(0) => {}
            Some(1) => {
                let files: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
                return Err(ScmError::NotMergeable {
                    operation: Operation::Merge,
                    repo: self.repo.to_string(),
                    message: format!("conflicting changes in {}", files.join(", ")),
                });
            }
            _ => return Err(self.failure("merge", merged.stderr)),
        }
        let env = [
            ("GIT_AUTHOR_NAME", identity.name.as_str()),
            ("GIT_AUTHOR_EMAIL", identity.email.as_str()),
            ("GIT_COMMITTER_NAME", identity.name.as_str()),
            ("GIT_COMMITTER_EMAIL", identity.email.as_str()),
        ];
        let commit =
            self.output("commit", &["commit-tree", &tree, "-p", target, "-p", source, "-m", message], &env).await?;
        if commit.code == Some(0) { Ok(commit.stdout) } else { Err(self.failure("commit", commit.stderr)) }
    }
}

/// At most `max` bytes of `text`, on a character boundary, with a note when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… (truncated)", &text[..end])
}
