//! Environment promotion end to end through the real `ferry` binary: `ferry cluster serve`,
//! `ferry install`, `ferry controller` (the Application controller and the promoter) as a
//! child process, git repositories on disk, Debian's docker-registry on loopback with images
//! pushed by plain registry v2 uploads, and the `ferry` CLI (`promote`, `approve`, `status
//! post`, `promotion diff`, `warehouse refresh`, `freight list`).
//!
//! Each test asserts what lands in git history, the objects' status and what the CLI prints.
//! Every wait polls with a deadline.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use crate::support;

use crate::registry;

use kube::ResourceExt;
use oci_client::secrets::RegistryAuth;
use promotion::{Freight, Promotion, PromotionPhase, PullRequestState, Stage, Warehouse};
use serde_json::{Value, json};
use support::*;

/// A registry with `team/web` at `tags` (oldest first).
async fn registry_with(tags: &[&str]) -> (registry::Registry, String) {
    let registry = registry::start_registry(None);
    for (n, tag) in tags.iter().enumerate() {
        push(&registry, tag, n).await;
    }
    let image = format!("{}/team/web", registry.address);
    (registry, image)
}

/// Pushes `team/web:tag`, built `n` days into 2024.
async fn push(registry: &registry::Registry, tag: &str, n: usize) {
    let created = format!("2024-01-{:02}T00:00:00Z", n + 1);
    let pusher = registry::pusher();
    registry::push_image(&pusher, &RegistryAuth::Anonymous, &registry.address, "team/web", tag, &created, tag).await;
}

/// The lines of a diff that add `text`.
fn adds(diff: &str, text: &str) -> bool {
    diff.lines().any(|l| l.starts_with('+') && l.contains(text))
}

// ---------------------------------------------------------------------------
// 1 and 5: dev (folders on main), staging (hydrated branch, PR gated by a commit status),
// prod (approval); a tag failing the constraint never becomes freight.

#[tokio::test]
async fn image_freight_moves_through_dev_staging_and_prod() {
    let stack = Stack::start().await;
    // v2.0.0 fails the warehouse's constraint (^1).
    let (_registry, image) = registry_with(&["v1.0.0", "v2.0.0"]).await;
    let repo = GitRepo::new();
    let url = repo.url();
    stack
        .apply(&[
            app("web-dev", &url, "main", "env/dev"),
            app("web-staging", &url, "environment/staging", "."),
            app("web-prod", &url, "environment/prod", "."),
            image_warehouse("web", &image),
            dev_stage(&url, &image),
            branch_stage("staging", Some("dev"), &url, &image, json!({"gates": {"proposed": ["ci/e2e"]}})),
            branch_stage("prod", Some("staging"), &url, &image, json!({"approval": {"required": true}})),
        ])
        .await;

    // The warehouse turns v1.0.0 into freight, with its digest; v2.0.0 into nothing.
    let first = stack.freight_with_tag("v1.0.0").await;
    let alias = first.spec.alias.clone();
    assert!(first.spec.images[0].digest.starts_with("sha256:"), "{:?}", first.spec.images);
    assert!(!alias.is_empty());
    let listed = stack.ferry(&["freight", "list"]).await.ok().stdout;
    assert!(listed.contains(&alias) && listed.contains("v1.0.0"), "{listed}");
    assert!(!listed.contains("v2.0.0"), "v2.0.0 fails ^1: {listed}");
    assert_eq!(stack.list::<Freight>().await.len(), 1);

    // dev: one commit on main setting the image (the file's comment kept), the app Synced and
    // Healthy on it, the freight verified after the soak.
    let dev = stack.promotion_ended("dev", &first).await;
    assert_eq!(phase(&dev), PromotionPhase::Succeeded, "{:?}", dev.status);
    assert_eq!(repo.commits_of("main", &dev.name_any()), 1);
    let file = repo.show("main", "env/dev/deployment.yaml");
    assert!(file.contains(&format!("{image}:v1.0.0")), "{file}");
    assert!(file.contains("# the image is set by promotions"), "{file}");
    stack.wait_image("web-dev", &format!("{image}:v1.0.0")).await;
    let app = stack.env.app("web-dev").await;
    assert_eq!(app["status"]["sync"]["status"], "Synced", "{app}");
    assert_eq!(app["status"]["sync"]["revision"], repo.rev("main").as_str(), "{app}");
    assert_eq!(app["status"]["health"]["status"], "Healthy", "{app}");
    stack.verified(&first, "dev").await;

    // staging: a local pull request carrying the hydrated diff, held by the ci/e2e gate.
    let pr = stack.pull_request("environment/staging").await;
    assert!(adds(&pr.spec.body, &format!("image: {image}:v1.0.0")), "{}", pr.spec.body);
    let waiting = stack.promotion_saying("staging", &first, "ci/e2e").await;
    let diff = stack.ferry(&["promotion", "diff", &waiting.name_any()]).await.ok().stdout;
    assert!(adds(&diff, &format!("image: {image}:v1.0.0")), "{diff}");
    let proposed = repo.rev("environment/staging-next");
    let active = repo.rev("environment/staging");

    // 5: an external failure blocks the merge, and says so; a success releases it.
    stack
        .ferry(&[
            "status",
            "post",
            "--repo",
            &url,
            "--sha",
            &proposed,
            "--key",
            "ci/e2e",
            "--phase",
            "failure",
            "--description",
            "e2e tests failed",
        ])
        .await
        .ok();
    let blocked = stack.promotion_saying("staging", &first, "ci/e2e failed").await;
    assert!(message(&blocked).contains("e2e tests failed"), "{}", message(&blocked));
    assert_eq!(phase(&blocked), PromotionPhase::Running, "{:?}", blocked.status);
    let pr = stack.pull_request("environment/staging").await;
    assert_eq!(pr.status.unwrap_or_default().state, PullRequestState::Open);
    assert_eq!(repo.rev("environment/staging"), active, "nothing merged while the gate fails");
    stack
        .ferry(&["status", "post", "--repo", &url, "--sha", &proposed, "--key", "ci/e2e", "--phase", "success"])
        .await
        .ok();
    let staging = stack.promotion_ended("staging", &first).await;
    assert_eq!(phase(&staging), PromotionPhase::Succeeded, "{:?}", staging.status);
    assert_eq!(repo.rev("environment/staging"), proposed, "the pull request merged by fast-forward");
    assert_eq!(repo.commits_of("environment/staging", &staging.name_any()), 1);
    let pr = stack.pull_request("environment/staging").await;
    assert_eq!(pr.status.map(|s| s.state), Some(PullRequestState::Merged));
    let manifest = repo.show("environment/staging", "manifest.yaml");
    assert!(manifest.contains(&format!("image: {image}:v1.0.0")), "{manifest}");
    let metadata = repo.show("environment/staging", "hydrator.metadata");
    assert!(metadata.contains(&first.name_any()), "{metadata}");
    stack.wait_image("web-staging", &format!("{image}:v1.0.0")).await;
    stack.verified(&first, "staging").await;

    // prod: the freight is available there, but nothing happens until it is approved.
    let available = stack.ferry(&["freight", "list", "--stage", "prod", "-o", "json"]).await.ok().json();
    assert!(available.to_string().contains(&first.name_any()), "{available}");
    stack
        .wait_for::<Stage, _>("prod saying it waits for an approval", |all| {
            all.iter()
                .find(|s| s.name_any() == "prod")
                .and_then(|s| s.status.as_ref())
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "AutoPromotion"))
                .filter(|c| c.message.as_deref().is_some_and(|m| m.contains("approved")))
                .map(|_| ())
        })
        .await;
    assert!(stack.promotions("prod").await.is_empty(), "prod promoted without an approval");
    assert_eq!(repo.git(&["rev-list", "--count", "environment/prod"]), "1");
    let approved = stack.ferry(&["approve", "prod", "--freight", &alias]).await.ok();
    assert!(approved.stdout.contains(&alias), "{approved:?}");
    let prod = stack.promotion_ended("prod", &first).await;
    assert_eq!(phase(&prod), PromotionPhase::Succeeded, "{:?}", prod.status);
    stack.wait_image("web-prod", &format!("{image}:v1.0.0")).await;
    let approved = stack.api::<Freight>().get(&first.name_any()).await.unwrap();
    let approval = approved.status.as_ref().and_then(|s| s.approved_for.get("prod")).cloned().unwrap_or_default();
    assert_eq!(approval.approved_by.as_deref(), Some("ferry-test"));
    // One promotion to prod, made after the approval (timestamps are whole seconds).
    let proms = stack.promotions("prod").await;
    assert_eq!(proms.len(), 1, "{proms:#?}");
    let approved_at = approval.approved_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let approved_at = approved_at.expect("approvedAt").with_timezone(&chrono::Utc);
    let created = proms[0].metadata.creation_timestamp.as_ref().expect("creationTimestamp").0;
    assert!(created.as_second() >= approved_at.timestamp(), "promoted at {created:?}, approved at {approved_at:?}");

    // The picture: three stages, each running the freight.
    let picture = stack.ferry(&["pipeline"]).await.ok().stdout;
    assert!(["dev", "staging", "prod"].iter().all(|s| picture.contains(s)), "{picture}");
    assert_eq!(picture.matches(alias.as_str()).count(), 3, "{picture}");
}

// ---------------------------------------------------------------------------
// 2: a version that never gets ready stops at dev; promoting the older freight rolls back.

#[tokio::test]
async fn a_degraded_version_stops_at_dev_and_older_freight_rolls_it_back() {
    let stack = Stack::start().await;
    let (registry, image) = registry_with(&["v1.0.0"]).await;
    let repo = GitRepo::new();
    let url = repo.url();
    stack
        .apply(&[
            app("web-dev", &url, "main", "env/dev"),
            app("web-staging", &url, "environment/staging", "."),
            image_warehouse("web", &image),
            dev_stage(&url, &image),
            branch_stage("staging", Some("dev"), &url, &image, json!({})),
        ])
        .await;
    let first = stack.freight_with_tag("v1.0.0").await;
    let staging = stack.promotion_ended("staging", &first).await;
    assert_eq!(phase(&staging), PromotionPhase::Succeeded, "{:?}", staging.status);
    stack.verified(&first, "dev").await;

    // v1.1.0 never gets ready. The registry webhook (with the right token) discovers it now.
    stack.set_never_ready("*:v1.1.0").await;
    push(&registry, "v1.1.0", 1).await;
    assert_eq!(stack.notify_push(&registry.address, "team/web", "wrong").await, 401);
    let accepted = stack.notify_push(&registry.address, "team/web", TOKEN).await;
    assert!((200..300).contains(&accepted), "{accepted}");
    let second = stack.freight_with_tag("v1.1.0").await;

    // dev: the promotion lands in git but fails waiting for the app, which is Degraded.
    let failed = stack.promotion_ended("dev", &second).await;
    assert_eq!(phase(&failed), PromotionPhase::Failed, "{:?}", failed.status);
    assert!(message(&failed).contains("app-wait"), "{}", message(&failed));
    assert_eq!(repo.commits_of("main", &failed.name_any()), 1);
    stack
        .wait_for::<Stage, _>("dev to show Degraded", |all| {
            all.iter().find(|s| s.name_any() == "dev" && health(s).as_deref() == Some("Degraded")).map(|_| ())
        })
        .await;
    let shown = stack.ferry(&["stage", "get", "dev"]).await.ok().stdout;
    assert!(shown.contains("Degraded"), "{shown}");

    // Recorded: dev failed with v1.1.0. From that state, v1.1.0 is not verified in dev, not
    // available to staging, and staging has no promotion of it.
    let second = stack.api::<Freight>().get(&second.name_any()).await.unwrap();
    assert!(!verified_in(&second, "dev"), "{:?}", second.status);
    let available = stack.ferry(&["freight", "list", "--stage", "staging", "-o", "json"]).await.ok().json();
    assert!(!available.to_string().contains(&second.name_any()), "{available}");
    assert!(
        stack.promotions("staging").await.iter().all(|p| p.spec.freight != second.name_any()),
        "staging got freight that failed in dev"
    );
    assert!(!repo.show("environment/staging", "manifest.yaml").contains("v1.1.0"));

    // Rollback: promote v1.0.0's freight to dev by its alias.
    let promoted = stack.ferry(&["promote", "dev", "--freight", &first.spec.alias]).await.ok();
    let rollback = stack
        .wait_for::<Promotion, _>("the rollback to succeed", |all| {
            all.iter()
                .find(|p| {
                    p.spec.stage == "dev"
                        && p.spec.freight == first.name_any()
                        && p.name_any() != first_promotion_to_dev(all, &first)
                        && phase(p) == PromotionPhase::Succeeded
                })
                .cloned()
        })
        .await;
    assert!(promoted.stdout.contains(&rollback.name_any()), "{promoted:?}");
    stack.wait_image("web-dev", &format!("{image}:v1.0.0")).await;
    stack
        .wait_for::<Stage, _>("dev Healthy on v1.0.0 again", |all| {
            all.iter()
                .find(|s| {
                    s.name_any() == "dev"
                        && health(s).as_deref() == Some("Healthy")
                        && s.status.as_ref().and_then(|st| st.current_freight.as_ref()).map(|f| f.name.as_str())
                            == Some(first.name_any().as_str())
                })
                .map(|_| ())
        })
        .await;
    let file = repo.show("main", "env/dev/deployment.yaml");
    assert!(file.contains(&format!("{image}:v1.0.0")), "{file}");
}

/// The name of the first (automatic) promotion of `freight` to dev.
fn first_promotion_to_dev(all: &[Promotion], freight: &Freight) -> String {
    let mut ofs: Vec<&Promotion> =
        all.iter().filter(|p| p.spec.stage == "dev" && p.spec.freight == freight.name_any()).collect();
    ofs.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
    ofs.first().map(|p| p.name_any()).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// 3: a newer freight while staging's pull request waits on its gate.

/// A hydrated-branch staging stage taking freight directly, gated by `ci/e2e`.
fn gated_staging(url: &str, image: &str, interrupt: &str) -> Value {
    branch_stage(
        "staging",
        None,
        url,
        image,
        json!({"gates": {"proposed": ["ci/e2e"]}, "autoPromotion": {"interruptPolicy": interrupt}}),
    )
}

/// The stack, a registry holding v1.0.0, the repository, app web-staging and a gated
/// staging stage; the promotion of v1.0.0 waiting on `ci/e2e`.
async fn staging_waiting_on_its_gate(interrupt: &str) -> (Stack, registry::Registry, GitRepo, Freight, Promotion) {
    let stack = Stack::start().await;
    let (registry, image) = registry_with(&["v1.0.0"]).await;
    let repo = GitRepo::new();
    let url = repo.url();
    stack
        .apply(&[
            app("web-staging", &url, "environment/staging", "."),
            image_warehouse("web", &image),
            gated_staging(&url, &image, interrupt),
        ])
        .await;
    let first = stack.freight_with_tag("v1.0.0").await;
    let waiting = stack.promotion_saying("staging", &first, "ci/e2e").await;
    assert_eq!(phase(&waiting), PromotionPhase::Running);
    (stack, registry, repo, first, waiting)
}

#[tokio::test]
async fn release_latest_updates_the_open_pull_request_in_place() {
    let (stack, registry, repo, first, waiting) = staging_waiting_on_its_gate("ReleaseLatest").await;
    let pulls = stack.list::<promotion::PullRequest>().await;
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = pulls[0].clone();
    assert!(pr.spec.body.contains("v1.0.0"), "{}", pr.spec.body);

    // v1.1.0 arrives (`ferry warehouse refresh`): the first promotion is aborted, and the
    // same pull request now proposes v1.1.0.
    push(&registry, "v1.1.0", 1).await;
    stack.ferry(&["warehouse", "refresh", "web"]).await.ok();
    let second = stack.freight_with_tag("v1.1.0").await;
    let aborted = stack.promotion_ended("staging", &first).await;
    assert_eq!(phase(&aborted), PromotionPhase::Aborted, "{:?}", aborted.status);
    assert_eq!(aborted.name_any(), waiting.name_any());
    assert!(message(&aborted).contains("superseded"), "{}", message(&aborted));
    let latest = stack.promotion_saying("staging", &second, "ci/e2e").await;
    let pulls = stack.list::<promotion::PullRequest>().await;
    assert_eq!(pulls.len(), 1, "ReleaseLatest updates the open pull request in place: {pulls:#?}");
    assert_eq!(pulls[0].uid(), pr.uid(), "the same object");
    assert!(pulls[0].spec.body.contains("v1.1.0"), "{}", pulls[0].spec.body);
    assert!(!pulls[0].spec.body.contains("v1.0.0"), "{}", pulls[0].spec.body);
    let listed = stack.ferry(&["promotion", "list"]).await.ok().stdout;
    assert!(listed.contains("Aborted") && listed.contains(&latest.name_any()), "{listed}");

    // Its gate passes: v1.1.0 lands, one commit; the superseded promotion never landed.
    let proposed = repo.rev("environment/staging-next");
    stack
        .ferry(&["status", "post", "--repo", &repo.url(), "--sha", &proposed, "--key", "ci/e2e", "--phase", "success"])
        .await
        .ok();
    let done = stack.promotion_ended("staging", &second).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert_eq!(repo.commits_of("environment/staging", &latest.name_any()), 1);
    assert_eq!(repo.commits_of("environment/staging", &waiting.name_any()), 0);
    assert!(repo.show("environment/staging", "manifest.yaml").contains(":v1.1.0"));
}

#[tokio::test]
async fn queue_keeps_the_waiting_promotion_and_holds_the_newer_one() {
    let (stack, registry, repo, first, waiting) = staging_waiting_on_its_gate("Queue").await;
    push(&registry, "v1.1.0", 1).await;
    stack.ferry(&["warehouse", "refresh", "web"]).await.ok();
    let second = stack.freight_with_tag("v1.1.0").await;
    let queued = stack.promotion_saying("staging", &second, "waiting for promotion").await;
    assert_eq!(phase(&queued), PromotionPhase::Pending, "{:?}", queued.status);
    let still = stack.api::<Promotion>().get(&waiting.name_any()).await.unwrap();
    assert_eq!(phase(&still), PromotionPhase::Running, "Queue does not interrupt: {:?}", still.status);
    let pulls = stack.list::<promotion::PullRequest>().await;
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert!(pulls[0].spec.body.contains("v1.0.0") && !pulls[0].spec.body.contains("v1.1.0"), "{}", pulls[0].spec.body);

    // The gate passes: the first lands, then the queued one runs.
    let proposed = repo.rev("environment/staging-next");
    stack
        .ferry(&["status", "post", "--repo", &repo.url(), "--sha", &proposed, "--key", "ci/e2e", "--phase", "success"])
        .await
        .ok();
    let done = stack.promotion_ended("staging", &first).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert!(repo.show("environment/staging", "manifest.yaml").contains(":v1.0.0"));
    let queued_name = queued.name_any();
    stack
        .wait_for::<Promotion, _>("the queued promotion to run", |all| {
            all.iter().find(|p| p.name_any() == queued_name && phase(p) != PromotionPhase::Pending).map(|_| ())
        })
        .await;
}

// ---------------------------------------------------------------------------
// 4: the controller killed while a promotion waits on its gate.

#[tokio::test]
async fn a_killed_controller_resumes_with_one_commit_and_one_pull_request() {
    let (mut stack, _registry, repo, first, waiting) = staging_waiting_on_its_gate("ReleaseLatest").await;
    let proposed = repo.rev("environment/staging-next");
    assert_eq!(repo.commits_of("environment/staging-next", &waiting.name_any()), 1);

    stack.kill_controller();
    stack
        .ferry(&["status", "post", "--repo", &repo.url(), "--sha", &proposed, "--key", "ci/e2e", "--phase", "success"])
        .await
        .ok();
    // Nothing moves while the controller is down (checked once: the gate passed, yet the
    // pull request is still open).
    let pr = stack.pull_request("environment/staging").await;
    assert_eq!(pr.status.unwrap_or_default().state, PullRequestState::Open);

    stack.start_controller().await;
    let done = stack.promotion_ended("staging", &first).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert_eq!(done.name_any(), waiting.name_any());
    for branch in ["environment/staging-next", "environment/staging"] {
        assert_eq!(repo.commits_of(branch, &done.name_any()), 1, "one commit of the promotion on {branch}");
    }
    let pulls = stack.list::<promotion::PullRequest>().await;
    assert_eq!(pulls.len(), 1, "one pull request: {pulls:#?}");
    assert_eq!(pulls[0].status.as_ref().map(|s| s.state), Some(PullRequestState::Merged));
    assert_eq!(repo.rev("environment/staging"), proposed);
    assert_eq!(stack.promotions("staging").await.len(), 1);
}

#[tokio::test]
async fn a_controller_restarted_without_its_data_directory_finds_its_own_commit_and_pull_request() {
    let (mut stack, _registry, repo, first, waiting) = staging_waiting_on_its_gate("ReleaseLatest").await;
    let proposed = repo.rev("environment/staging-next");
    // CI passes the proposed commit while the controller is down, and the new controller
    // starts with nothing on disk: every step runs again, and each finds its own work.
    stack.kill_controller();
    stack
        .ferry(&["status", "post", "--repo", &repo.url(), "--sha", &proposed, "--key", "ci/e2e", "--phase", "success"])
        .await
        .ok();
    stack.wipe_controller_data();
    stack.start_controller().await;
    let done = stack.promotion_ended("staging", &first).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert_eq!(done.name_any(), waiting.name_any());
    for branch in ["environment/staging-next", "environment/staging"] {
        assert_eq!(repo.commits_of(branch, &done.name_any()), 1, "one commit of the promotion on {branch}");
    }
    assert_eq!(repo.rev("environment/staging"), proposed, "the commit CI passed is the one that landed");
    let pulls = stack.list::<promotion::PullRequest>().await;
    assert_eq!(pulls.len(), 1, "one pull request: {pulls:#?}");
}

// ---------------------------------------------------------------------------
// 6: bad inputs give a clear status and change nothing in git.

const NO_REGISTRY: &str = "registry.invalid/team/web";

/// A stage named `name` running `steps` over `repo`, promoted by hand only.
fn manual_stage(name: &str, repo: &str, steps: Value) -> Value {
    let mut stage = dev_stage(repo, NO_REGISTRY);
    stage["metadata"]["name"] = json!(name);
    let spec = stage["spec"].as_object_mut().unwrap();
    spec.remove("autoPromotion");
    spec.remove("application");
    spec.remove("verification");
    stage["spec"]["promotionTemplate"]["spec"]["steps"] = steps;
    stage
}

/// Clone main, scale the dev Deployment, commit, push; `extra` goes before the commit.
fn scale_steps(extra: Option<Value>) -> Value {
    let mut steps = vec![
        json!({"uses": "git-clone", "config": {"repoURL": "${{ vars.repoURL }}", "checkout": [{"branch": "main", "path": "./repo"}]}}),
        json!({"uses": "yaml-update", "config": {"path": "./repo/env/dev/deployment.yaml",
            "updates": [{"key": "spec.replicas", "value": 3}]}}),
        json!({"uses": "git-commit", "config": {"path": "./repo", "message": "scale"}}),
        json!({"uses": "git-push", "config": {"path": "./repo"}}),
    ];
    if let Some(step) = extra {
        steps.insert(2, step);
    }
    Value::Array(steps)
}

/// `ferry promote STAGE --freight ALIAS`, then waits for the promotion to end.
async fn promote(stack: &Stack, stage: &str, alias: &str) -> Promotion {
    let out = stack.ferry(&["promote", stage, "--freight", alias]).await.ok();
    let stage = stage.to_owned();
    let ended = stack
        .wait_for::<Promotion, _>(&format!("the promotion to {stage} to end"), |all| {
            all.iter().find(|p| p.spec.stage == stage && phase(p).is_terminal()).cloned()
        })
        .await;
    assert!(out.stdout.contains(&ended.name_any()), "{out:?}");
    ended
}

#[tokio::test]
async fn invalid_steps_fail_clearly_and_change_nothing_in_git() {
    let stack = Stack::start().await;
    let repo = GitRepo::new();
    let url = repo.url();
    let (freight, alias) = image_freight(NO_REGISTRY, "v1.0.0");
    let mut bad_config = scale_steps(None);
    bad_config[0]["config"]["depth"] = json!(1);
    let unknown = scale_steps(Some(json!({"uses": "git-teleport", "config": {}})));
    let mut expression = scale_steps(None);
    expression[2]["config"]["message"] = json!("release ${{ vars.missing }}");
    stack
        .apply(&[
            freight,
            manual_stage("bad-config", &url, bad_config),
            manual_stage("unknown-step", &url, unknown),
            manual_stage("bad-expression", &url, expression),
        ])
        .await;
    let before = repo.refs();

    for (stage, needle) in
        [("bad-config", "depth"), ("unknown-step", "git-teleport"), ("bad-expression", "vars.missing")]
    {
        let ended = promote(&stack, stage, &alias).await;
        assert_eq!(phase(&ended), PromotionPhase::Failed, "{stage}: {:?}", ended.status);
        assert!(message(&ended).contains(needle), "{stage}: {}", message(&ended));
        let shown = stack.ferry(&["promotion", "get", &ended.name_any()]).await.ok().stdout;
        assert!(shown.contains("Failed") && shown.contains(needle), "{stage}: {shown}");
    }
    assert_eq!(repo.refs(), before, "nothing changed in git");
}

/// An exec step that, between the promotion's commit and its push, clones the repository and
/// pushes to main a commit of someone else setting `replicas: 5` in `file`.
fn intruder(file: &str, subject: &str) -> Value {
    json!({"uses": "exec", "config": {
        "command": "sh",
        "args": ["-c", format!("git clone -q \"$REPO\" intruder >&2 && cd intruder \
            && sed -i 's/replicas: 1/replicas: 5/' {file} \
            && git -c user.name=other -c user.email=other@example.com commit -qam '{subject}' >&2 \
            && git push -q origin HEAD:main >&2 && echo '{{\"result\": \"succeeded\"}}'")],
        "env": [{"name": "REPO", "value": "${{ vars.repoURL }}"}],
    }})
}

#[tokio::test]
async fn a_push_that_conflicts_with_the_target_fails_and_leaves_it_alone() {
    let stack = Stack::start().await;
    let repo = GitRepo::new();
    let url = repo.url();
    let (freight, alias) = image_freight(NO_REGISTRY, "v1.0.0");
    // The promotion scales env/dev; someone else changes the same line first: the push is
    // rejected, and the rebase conflicts.
    let mut conflicting = scale_steps(None);
    conflicting.as_array_mut().unwrap().insert(3, intruder("env/dev/deployment.yaml", "someone else"));
    // Someone else changes another file first: the push is rejected, the rebase is clean,
    // and the promotion's commit lands on top.
    let mut clean = scale_steps(None);
    clean.as_array_mut().unwrap().insert(3, intruder("env/prod/deployment.yaml", "someone else in prod"));
    stack.apply(&[freight, manual_stage("conflict", &url, conflicting), manual_stage("rebase", &url, clean)]).await;
    let before = repo.refs();

    let ended = promote(&stack, "conflict", &alias).await;
    assert_eq!(phase(&ended), PromotionPhase::Failed, "{:?}", ended.status);
    assert!(message(&ended).contains("conflict"), "{}", message(&ended));
    // main holds the other change only; no other branch moved or appeared.
    assert_eq!(repo.git(&["log", "-1", "--format=%s", "main"]), "someone else");
    assert_eq!(repo.commits_of("main", &ended.name_any()), 0);
    let others =
        |refs: &str| refs.lines().filter(|l| !l.starts_with("refs/heads/main ")).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(others(&repo.refs()), others(&before));

    let rebased = promote(&stack, "rebase", &alias).await;
    assert_eq!(phase(&rebased), PromotionPhase::Succeeded, "{:?}", rebased.status);
    assert_eq!(repo.commits_of("main", &rebased.name_any()), 1);
    assert_eq!(repo.commits_of("main~1", &rebased.name_any()), 0, "the promotion's commit is on top");
    assert_eq!(repo.git(&["log", "-1", "--format=%s", "main~1"]), "someone else in prod");
    assert!(repo.show("main", "env/prod/deployment.yaml").contains("replicas: 5"));
    assert!(repo.show("main", "env/dev/deployment.yaml").contains("replicas: 3"));
}

#[tokio::test]
async fn an_unreachable_registry_and_an_unmatched_tag_make_no_freight() {
    let stack = Stack::start().await;
    // Nothing listens there.
    let closed = registry::free_address();
    // Only v2.0.0, which fails the constraint ^1.
    let (_registry, image) = registry_with(&["v2.0.0"]).await;
    let mut unmatched = image_warehouse("unmatched", &image);
    unmatched["metadata"]["name"] = json!("unmatched");
    stack.apply(&[image_warehouse("web", &format!("{closed}/team/web")), unmatched]).await;

    let (status, text) = stack.warehouse_ready("web").await;
    assert_eq!(status, "False");
    assert!(text.contains(&closed), "{text}");
    let listed = stack.ferry(&["warehouse", "list"]).await.ok().stdout;
    assert!(listed.contains("web") && listed.contains("False"), "{listed}");

    let (status, text) = stack.warehouse_ready("unmatched").await;
    assert_eq!(status, "True", "{text}");
    let warehouse = stack.api::<Warehouse>().get("unmatched").await.unwrap();
    assert!(warehouse.status.as_ref().and_then(|s| s.last_freight.as_ref()).is_none(), "{:?}", warehouse.status);
    assert!(stack.list::<Freight>().await.is_empty(), "no freight from either warehouse");
}
