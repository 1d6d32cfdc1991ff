//! Shared test fixtures: a fake controller, real git repositories in temp dirs, and a runner
//! that threads outputs from step to step as the controller does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use steps::{
    AppState, NoCredentials, PullRequestInfo, PullRequestRef, PullRequestRequest, PushLocks, ServiceError, Services,
    StepContext, StepOutcome,
};

/// A controller stand-in that records what it is asked.
#[derive(Default)]
pub struct FakeServices {
    pub opened: Mutex<Vec<PullRequestRequest>>,
    pub pr: Mutex<Option<PullRequestInfo>>,
    pub apps: Mutex<HashMap<String, AppState>>,
    pub synced: Mutex<Vec<(String, Option<String>)>>,
}

impl Services for FakeServices {
    fn open_pull_request<'a>(
        &'a self,
        request: &'a PullRequestRequest,
    ) -> BoxFuture<'a, Result<PullRequestRef, ServiceError>> {
        Box::pin(async move {
            let mut opened = self.opened.lock().unwrap();
            opened.push(request.clone());
            Ok(PullRequestRef { id: "local/pr-1".into(), url: "http://ferry.local/prs/pr-1".into() })
        })
    }

    fn pull_request<'a>(&'a self, _repo: &'a str, id: &'a str) -> BoxFuture<'a, Result<PullRequestInfo, ServiceError>> {
        Box::pin(async move {
            self.pr.lock().unwrap().clone().ok_or(ServiceError { message: format!("no pull request {id}") })
        })
    }

    fn sync_app<'a>(&'a self, app: &'a str, revision: Option<&'a str>) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async move {
            self.synced.lock().unwrap().push((app.to_owned(), revision.map(str::to_owned)));
            Ok(())
        })
    }

    fn app_state<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<AppState, ServiceError>> {
        Box::pin(async move {
            self.apps.lock().unwrap().get(app).cloned().ok_or(ServiceError { message: format!("no app {app}") })
        })
    }
}

/// One promotion's surroundings.
pub struct Env {
    pub workdir: tempfile::TempDir,
    pub freight: promotion::Freight,
    pub vars: Map<String, Value>,
    pub services: FakeServices,
    pub git: source::worktree::WorktreeConfig,
    pub toolbox: Arc<render::Toolbox>,
    pub pushes: PushLocks,
    pub promotion: String,
    pub created_at: SystemTime,
}

impl Env {
    pub fn new() -> Env {
        let mut freight = promotion::Freight::new(
            "f0123456789",
            promotion::FreightFields {
                alias: "brave-otter".into(),
                origin: promotion::FreightOrigin::warehouse("app"),
                commits: vec![promotion::GitCommit {
                    repo_url: "https://example.com/dry.git".into(),
                    id: "1111111111111111111111111111111111111111".into(),
                    ..Default::default()
                }],
                images: vec![promotion::Image {
                    repo_url: "registry.local/app".into(),
                    tag: "v1.0.0".into(),
                    digest: "sha256:abc".into(),
                    created_at: None,
                }],
                charts: vec![],
            },
        );
        freight.metadata.namespace = Some("ferry".into());
        Env {
            workdir: tempfile::tempdir().unwrap(),
            freight,
            vars: json!({ "env": "dev" }).as_object().cloned().unwrap(),
            services: FakeServices::default(),
            git: source::worktree::WorktreeConfig::default(),
            toolbox: Arc::new(render::Toolbox::default()),
            pushes: PushLocks::default(),
            promotion: "dev-promo-1".into(),
            created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    pub fn ctx<'a>(&'a self, outputs: &'a Map<String, Value>, state: Option<&'a Value>) -> StepContext<'a> {
        StepContext {
            workdir: self.workdir.path(),
            promotion: &self.promotion,
            stage: "dev",
            namespace: "ferry",
            freight: &self.freight,
            vars: &self.vars,
            outputs,
            state,
            created_at: self.created_at,
            services: &self.services,
            credentials: &NoCredentials,
            git: &self.git,
            toolbox: Arc::clone(&self.toolbox),
            pushes: &self.pushes,
        }
    }

    /// Runs steps in order as the controller would, stopping at the first that does not
    /// succeed; the outcomes and the outputs by alias.
    pub async fn run(&self, steps: &[promotion::PromotionStep]) -> (Vec<StepOutcome>, Map<String, Value>) {
        steps::validate(steps).unwrap();
        let mut outputs = Map::new();
        let mut outcomes = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let outcome = steps::run_step(step, &self.ctx(&outputs, None)).await;
            let alias = step.alias.clone().unwrap_or_else(|| format!("step-{i}"));
            outputs.insert(alias, Value::Object(outcome.outputs.clone()));
            let go_on = outcome.phase == steps::OutcomePhase::Succeeded;
            outcomes.push(outcome);
            if !go_on {
                break;
            }
        }
        (outcomes, outputs)
    }
}

pub fn step(uses: &str, alias: &str, config: Value) -> promotion::PromotionStep {
    promotion::PromotionStep {
        uses: uses.into(),
        alias: Some(alias.into()),
        if_: None,
        config: Some(config),
        retry: None,
    }
}

/// Runs git with a fixed identity and date, panicking on failure; stdout trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"])
        .args(args)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_AUTHOR_DATE", "1600000000 +0000")
        .env("GIT_COMMITTER_DATE", "1600000000 +0000")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare origin whose `main` holds `files`; its directory and `file://` URL.
pub struct Origin {
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl Origin {
    pub fn new(files: &[(&str, &str)]) -> Origin {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("origin.git");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "--quiet"]);
        let url = format!("file://{}", bare.display());
        let origin = Origin { dir, url };
        origin.commit("main", files, "initial");
        origin
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    /// Commits `files` on `branch` (created from main when missing) as another developer would.
    pub fn commit(&self, branch: &str, files: &[(&str, &str)], message: &str) -> String {
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        git(w, &["init", "--quiet"]);
        git(w, &["remote", "add", "origin", &self.url]);
        git(w, &["fetch", "--quiet", "origin"]);
        let has = |b: &str| {
            Command::new("git")
                .arg("-C")
                .arg(w)
                .args(["rev-parse", "--verify", "--quiet", &format!("origin/{b}")])
                .output()
                .unwrap()
                .status
                .success()
        };
        if has(branch) {
            git(w, &["checkout", "--quiet", "-B", branch, &format!("origin/{branch}")]);
        } else if has("main") {
            git(w, &["checkout", "--quiet", "-B", branch, "origin/main"]);
        } else {
            git(w, &["checkout", "--quiet", "-b", branch]);
        }
        for (path, text) in files {
            let file = w.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        git(w, &["add", "--all"]);
        git(w, &["commit", "--quiet", "-m", message]);
        git(w, &["push", "--quiet", "origin", &format!("HEAD:refs/heads/{branch}")]);
        git(w, &["rev-parse", "HEAD"])
    }

    pub fn head(&self, branch: &str) -> String {
        git(&self.bare(), &["rev-parse", branch])
    }

    pub fn count(&self, branch: &str) -> usize {
        git(&self.bare(), &["rev-list", "--count", branch]).parse().unwrap()
    }

    pub fn show(&self, rev_path: &str) -> String {
        git(&self.bare(), &["show", rev_path])
    }

    pub fn message(&self, rev: &str) -> String {
        git(&self.bare(), &["log", "-1", "--format=%B", rev])
    }
}
