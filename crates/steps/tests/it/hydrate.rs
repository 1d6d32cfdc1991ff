//! hydrate (golden, byte-identical on re-run) and the hydrated-branch layout: render main into
//! `environment/dev-next`, open a PR to `environment/dev` with the hydrated diff, wait for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::harness;

use std::path::{Path, PathBuf};

use harness::{Env, Origin, step};
use serde_json::json;
use steps::OutcomePhase;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/hydrate")
}

/// The dry files under testdata, as (repository path, text).
fn dry_files() -> Vec<(String, String)> {
    let root = testdata().join("dry");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
                files.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// Compares with the golden file, or rewrites it under `FERRY_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = testdata().join("expected").join(name);
    if std::env::var_os("FERRY_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "{name} differs from {}; rerun with FERRY_BLESS=1 to accept", path.display());
}

fn hydrate_steps(url: &str) -> Vec<promotion::PromotionStep> {
    vec![
        step(
            "git-clone",
            "clone",
            json!({ "repoURL": url, "checkout": [
                { "branch": "main", "path": "dry" },
                { "branch": "environment/dev-next", "path": "out", "create": true }
            ]}),
        ),
        step("hydrate", "hydrate", json!({ "sourcePath": "dry", "path": "apps/guestbook", "outPath": "out" })),
        step("git-commit", "commit", json!({ "path": "out", "message": "Hydrate ${{ outputs.hydrate.drySha }}" })),
        step(
            "git-push",
            "push",
            json!({ "path": "out", "targetBranch": "environment/dev", "generateTargetBranch": true }),
        ),
        step(
            "git-open-pr",
            "pr",
            json!({ "repoURL": url, "sourceBranch": "${{ outputs.push.branch }}", "targetBranch": "environment/dev" }),
        ),
        step("git-wait-for-pr", "wait", json!({ "repoURL": url, "prNumber": "${{ outputs.pr.prNumber }}" })),
    ]
}

#[tokio::test]
async fn hydrate_is_byte_identical_and_lands_through_a_pr() {
    let files = dry_files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let origin = Origin::new(&refs);
    let env = Env::new();
    let steps = hydrate_steps(&origin.url);

    let (outcomes, outputs) = env.run(&steps).await;
    assert_eq!(outcomes.len(), steps.len(), "{outcomes:?}");
    assert!(outcomes[..5].iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    assert_eq!(outcomes[5].phase, OutcomePhase::Errored, "no PR state yet: the fake errors");

    let out = env.workdir.path().join("out");
    let manifest = std::fs::read_to_string(out.join("manifest.yaml")).unwrap();
    let metadata = std::fs::read_to_string(out.join("hydrator.metadata")).unwrap().replace(&origin.url, "<origin>");
    golden("manifest.yaml", &manifest);
    golden("hydrator.metadata", &metadata);
    assert_eq!(outputs["hydrate"]["drySha"], origin.head("main").as_str());
    assert_eq!(outputs["hydrate"]["changed"], true);

    // The hydrated commit is on the proposed branch, linked to its dry commit.
    assert_eq!(outputs["push"]["branch"], "environment/dev-next");
    assert_eq!(origin.head("environment/dev-next"), outputs["push"]["commit"].as_str().unwrap());
    let message = origin.message("environment/dev-next");
    assert!(message.contains(&format!("Ferry-Source-Commit: {}", origin.head("main"))), "{message}");

    // The PR carries the hydrated diff.
    let opened = env.services.opened.lock().unwrap().clone();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].source_branch, "environment/dev-next");
    assert_eq!(opened[0].title, "Promote brave-otter to dev");
    assert!(opened[0].body.contains("+++ b/manifest.yaml"), "{}", opened[0].body);
    assert!(opened[0].body.contains("+  name: guestbook-config"), "{}", opened[0].body);
    assert_eq!(outputs["pr"]["prNumber"], "local/pr-1");

    // Rendering again gives the same bytes, so nothing changes anywhere.
    let outcome = steps::run_step(&steps[1], &env.ctx(&outputs, None)).await;
    assert_eq!(outcome.phase, OutcomePhase::Succeeded, "{outcome:?}");
    assert_eq!(outcome.outputs["changed"], false);
    assert_eq!(std::fs::read_to_string(out.join("manifest.yaml")).unwrap(), manifest);

    // git-wait-for-pr: running while open, the merge commit once merged, failed when closed.
    let wait = &steps[5];
    *env.services.pr.lock().unwrap() =
        Some(steps::PullRequestInfo { state: promotion::PullRequestState::Open, merge_commit: None });
    assert_eq!(steps::run_step(wait, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Running);
    *env.services.pr.lock().unwrap() =
        Some(steps::PullRequestInfo { state: promotion::PullRequestState::Merged, merge_commit: Some("m1".into()) });
    let merged = steps::run_step(wait, &env.ctx(&outputs, None)).await;
    assert_eq!(merged.phase, OutcomePhase::Succeeded);
    assert_eq!(merged.outputs["commit"], "m1");
    *env.services.pr.lock().unwrap() =
        Some(steps::PullRequestInfo { state: promotion::PullRequestState::Closed, merge_commit: None });
    assert_eq!(steps::run_step(wait, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Failed);
}

#[tokio::test]
async fn app_sync_and_wait_go_through_services() {
    use application::{OperationPhase, SyncStatusCode};
    use health::HealthStatus;
    let env = Env::new();
    let outputs = serde_json::Map::new();
    let sync = step("app-sync", "sync", json!({ "app": "guestbook-dev", "revision": "abc" }));
    assert_eq!(steps::run_step(&sync, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Succeeded);
    assert_eq!(env.services.synced.lock().unwrap()[0], ("guestbook-dev".to_owned(), Some("abc".to_owned())));

    let wait = step("app-wait", "wait", json!({ "app": "guestbook-dev", "revision": "abc" }));
    let set = |sync, health, revision: &str| {
        env.services.apps.lock().unwrap().insert(
            "guestbook-dev".into(),
            steps::AppState {
                sync,
                health,
                revision: Some(revision.into()),
                operation: Some(OperationPhase::Succeeded),
            },
        );
    };
    set(SyncStatusCode::Synced, HealthStatus::Healthy, "old");
    assert_eq!(steps::run_step(&wait, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Running);
    set(SyncStatusCode::Synced, HealthStatus::Progressing, "abc");
    assert_eq!(steps::run_step(&wait, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Running);
    set(SyncStatusCode::Synced, HealthStatus::Degraded, "abc");
    // Degraded right after a sync may be the previous rollout's: it fails only if it stays so.
    let first = steps::run_step(&wait, &env.ctx(&outputs, None)).await;
    assert_eq!(first.phase, OutcomePhase::Running);
    let since = first.state.clone().expect("app-wait keeps when it first saw Degraded");
    assert!(since["badSince"].as_u64().is_some(), "{since}");
    let long_ago = serde_json::json!({"badSince": 0});
    assert_eq!(steps::run_step(&wait, &env.ctx(&outputs, Some(&long_ago))).await.phase, OutcomePhase::Failed);
    set(SyncStatusCode::Synced, HealthStatus::Healthy, "abc");
    assert_eq!(steps::run_step(&wait, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Succeeded);
}
