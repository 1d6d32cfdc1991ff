//! Promotions and stages through the promoter on a local cluster, with real git repositories:
//! a manual promotion lands one commit and moves the freight's `currentIn`; a Job verifies the
//! freight (or, failing, keeps it unverified); ferry's own approval and window statuses sit on
//! the proposed commit beside CI's, and a deny window, then a CI `failure`, hold the merge back.
//!
//! Bad inputs, the killed-promoter resume and ReleaseLatest/Queue are in `bad_inputs.rs` and
//! `interrupts.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use promotion::{CommitStatus, CommitStatusPhase, Freight, Promotion, PromotionPhase, PullRequestState, Stage};
use serde_json::{Value, json};

const IMAGE: &str = "registry.invalid/team/web";

/// A folder-layout stage without auto-promotion: clone, set the image, commit, push to `main`,
/// then sync the app and wait for it.
fn manual_dev_stage(repo: &str, verification: Value) -> Value {
    let mut stage = dev_stage(repo, IMAGE);
    let spec = stage["spec"].as_object_mut().unwrap();
    spec.remove("autoPromotion");
    spec.insert("verification".into(), verification);
    stage
}

/// Creates a Promotion of `freight` to `stage` as `ferry promote` does.
async fn promote(promo: &Promo, stage: &str, freight: &Freight) -> String {
    let stage: Stage = promo.api::<Stage>().get(stage).await.unwrap();
    let promotion = promotion::new_promotion(&stage, freight, chrono::Utc::now()).unwrap();
    promo.api::<Promotion>().create(&PostParams::default(), &promotion).await.unwrap().name_any()
}

async fn promotion_named(promo: &Promo, name: &str) -> Promotion {
    promo.api::<Promotion>().get(name).await.unwrap()
}

async fn freight_named(promo: &Promo, name: &str) -> Freight {
    promo.api::<Freight>().get(name).await.unwrap()
}

/// Waits for the stage's `Verified` condition to have `status` and a message containing `text`;
/// returns its reason and message.
async fn verified_condition(promo: &Promo, stage: &str, status: &str, text: &str) -> (String, String) {
    let (stage, status, text) = (stage.to_owned(), status.to_owned(), text.to_owned());
    promo
        .wait_for::<Stage, _>(&format!("{stage} Verified={status} saying {text:?}"), move |all| {
            let found = all.iter().find(|s| s.name_any() == stage)?;
            let condition = found.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Verified")?;
            let message = condition.message.clone().unwrap_or_default();
            let reason = condition.reason.clone().unwrap_or_default();
            (condition.status == status && message.contains(&text)).then_some((reason, message))
        })
        .await
}

/// The commit status ferry posted for `key` on `sha`.
async fn ferry_status(promo: &Promo, repo: &str, sha: &str, key: &str, phase: CommitStatusPhase) -> CommitStatus {
    let name = promotion::gates::commit_status_name(repo, sha, key);
    promo
        .wait_for::<CommitStatus, _>(&format!("{key} {phase:?} on {sha}"), move |all| {
            all.iter().find(|s| s.name_any() == name && s.spec.phase == phase).cloned()
        })
        .await
}

#[tokio::test]
async fn a_manual_promotion_lands_one_commit_and_moves_the_freight() {
    let promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    promo.env.create_app(app("web-dev", &url, "main", "env/dev")).await;
    promo.apply::<Stage>(manual_dev_stage(&url, json!({"requiredSoakTime": "1s"}))).await;
    let first = image_freight(&promo, IMAGE, "v1.0.0").await;
    let second = image_freight(&promo, IMAGE, "v1.1.0").await;

    let name = promote(&promo, "dev", &first).await;
    let done = promo.promotion_ended("dev", &first.name_any()).await;
    assert_eq!(done.name_any(), name);
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    let head = repo.git(&["rev-parse", "main"]);
    let status = done.status.clone().unwrap();
    assert_eq!(status.landed_commit.as_deref(), Some(head.as_str()), "the pushed commit is the landed one");
    assert_eq!(commits_of(&repo, "main", &name), 1, "exactly one commit");
    assert!(status.steps.iter().all(|s| s.phase == promotion::StepPhase::Succeeded), "{:?}", status.steps);
    let scratch = promo.data.path().join("promotions").join(&name);
    eventually("the scratch directory is removed", || {
        let scratch = scratch.clone();
        async move { !scratch.exists() }
    })
    .await;
    let file = repo.git(&["show", "main:env/dev/deployment.yaml"]);
    assert!(file.contains(&format!("image: {IMAGE}:v1.0.0")), "{file}");
    assert!(file.contains("# the image is set by promotions"), "comments are kept: {file}");

    let stage: Stage = promo.api::<Stage>().get("dev").await.unwrap();
    let stage_status = stage.status.unwrap();
    assert_eq!(stage_status.current_freight.as_ref().map(|f| f.name.as_str()), Some(first.name_any().as_str()));
    assert_eq!(stage_status.freight_alias.as_deref(), Some(first.spec.alias.as_str()));
    assert_eq!(stage_status.active_commit.as_deref(), Some(head.as_str()));
    let last = stage_status.last_promotion.unwrap();
    assert_eq!((last.name.as_str(), last.phase), (name.as_str(), PromotionPhase::Succeeded));
    assert_eq!(stage_status.current_promotion, None);
    let running = freight_named(&promo, &first.name_any()).await;
    assert!(running.status.as_ref().is_some_and(|s| s.current_in.contains_key("dev")), "{:?}", running.status);

    // Healthy at the landed commit for the soak time: verified, and ferry says so on the commit.
    let first_name = first.name_any();
    promo
        .wait_for::<Freight, _>("v1.0.0 verified in dev", |all| {
            all.iter().find(|f| f.name_any() == first_name && verified_in(f, "dev")).map(|_| ())
        })
        .await;
    ferry_status(&promo, &url, &head, promotion::keys::HEALTH, CommitStatusPhase::Success).await;
    ferry_status(&promo, &url, &head, promotion::keys::SOAK, CommitStatusPhase::Success).await;

    // The next freight takes the stage over: currentIn moves, the soak of the old one is kept.
    let next = promote(&promo, "dev", &second).await;
    let done = promo.promotion_ended("dev", &second.name_any()).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert_eq!(commits_of(&repo, "main", &next), 1);
    assert_eq!(commits_of(&repo, "main", &name), 1, "the first promotion's commit stays the only one of it");
    let old = freight_named(&promo, &first.name_any()).await.status.unwrap();
    assert!(!old.current_in.contains_key("dev"), "{old:?}");
    assert!(old.verified_in.get("dev").is_some_and(|v| v.longest_soak_seconds.is_some()), "{old:?}");
    let new = freight_named(&promo, &second.name_any()).await.status.unwrap();
    assert!(new.current_in.contains_key("dev"), "{new:?}");
    let stage: Stage = promo.api::<Stage>().get("dev").await.unwrap();
    assert_eq!(stage.status.unwrap().active_commit, Some(repo.git(&["rev-parse", "main"])));
}

#[tokio::test]
async fn a_job_verifies_the_freight_and_a_failed_job_keeps_it_unverified() {
    let promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    promo.env.create_app(app("web-dev", &url, "main", "env/dev")).await;
    let job = |image: &str| {
        json!({"job": {"spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "smoke", "image": image, "command": ["/smoke"]}]}}}}})
    };
    // An expression that cannot be evaluated is a clear condition, and no Job is made.
    promo.apply::<Stage>(manual_dev_stage(&url, job("example.invalid/smoke:${{ vars.nope }}"))).await;
    let first = image_freight(&promo, IMAGE, "v1.0.0").await;
    promote(&promo, "dev", &first).await;
    let done = promo.promotion_ended("dev", &first.name_any()).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    let (reason, message) = verified_condition(&promo, "dev", "False", "vars.nope").await;
    assert_eq!(reason, "InvalidVerification", "{message}");
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(promo.client(), "web-dev");
    assert!(jobs.list(&Default::default()).await.unwrap().items.is_empty(), "no job from a bad spec");

    // Fixed, with the freight's tag in the Job's image: the freight is verified.
    promo.apply::<Stage>(manual_dev_stage(&url, job("example.invalid/smoke:${{ imageFrom(vars.image).tag }}"))).await;
    let first_name = first.name_any();
    promo
        .wait_for::<Freight, _>("v1.0.0 verified in dev by its job", |all| {
            all.iter().find(|f| f.name_any() == first_name && verified_in(f, "dev")).map(|_| ())
        })
        .await;
    let job_name = format!("verify-dev-{}", &first_name[..12]);
    let ran = jobs.get(&job_name).await.unwrap();
    let image = ran.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|s| s.containers[0].image.clone());
    assert_eq!(image, Some(Some("example.invalid/smoke:v1.0.0".to_owned())), "the expression was evaluated");
    let complete = ran.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(complete.iter().any(|c| c.type_ == "Complete" && c.status == "True"), "{complete:?}");
    verified_condition(&promo, "dev", "True", &first.spec.alias).await;

    // A job whose container crashes fails; the freight is never verified, so nothing downstream gets it.
    let faults: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(promo.client(), "ferry-system");
    faults
        .patch(
            "ferry-simulator",
            &PatchParams::apply("test").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "ferry-simulator", "namespace": "ferry-system"},
                "data": {"crashLoop": "*/broken:*"}})),
        )
        .await
        .unwrap();
    promo.apply::<Stage>(manual_dev_stage(&url, job("example.invalid/broken:1"))).await;
    let second = image_freight(&promo, IMAGE, "v1.1.0").await;
    promote(&promo, "dev", &second).await;
    let done = promo.promotion_ended("dev", &second.name_any()).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    let (reason, message) = verified_condition(&promo, "dev", "False", "failed").await;
    assert_eq!(reason, "JobFailed", "{message}");
    assert!(message.contains(&format!("web-dev/verify-dev-{}", &second.name_any()[..12])), "{message}");
    let stage: Stage = promo.api::<Stage>().get("dev").await.unwrap();
    assert_eq!(stage.status.unwrap().phase.as_deref(), Some("Failed"));
    assert!(!verified_in(&freight_named(&promo, &second.name_any()).await, "dev"));
    eventually("the earlier freight's verification job is deleted", || {
        let (jobs, job_name) = (jobs.clone(), job_name.clone());
        async move { jobs.get_opt(&job_name).await.unwrap().is_none() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verification_job_runs_on_the_cluster_the_app_deploys_to() {
    let promo = Promo::start().await;
    let second = gitops::Cluster::start().await;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(promo.client(), application::NAMESPACE);
    secrets.create(&PostParams::default(), &gitops::cluster_secret(&second, "second")).await.unwrap();
    let repo = source_repo();
    let url = repo.url();
    let mut web = app("web-dev", &url, "main", "env/dev");
    web["spec"]["destination"] = json!({"name": "second", "namespace": "web-dev"});
    promo.env.create_app(web).await;
    let job = json!({"job": {"spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "smoke", "image": "example.invalid/smoke:1", "command": ["/smoke"]}]}}}}});
    promo.apply::<Stage>(manual_dev_stage(&url, job)).await;
    let freight = image_freight(&promo, IMAGE, "v1.0.0").await;
    promote(&promo, "dev", &freight).await;
    let done = promo.promotion_ended("dev", &freight.name_any()).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    let name = freight.name_any();
    promo
        .wait_for::<Freight, _>("v1.0.0 verified in dev by its job", |all| {
            all.iter().find(|f| f.name_any() == name && verified_in(f, "dev")).map(|_| ())
        })
        .await;
    let job_name = format!("verify-dev-{}", &name[..12]);
    let there: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(second.client.clone(), "web-dev");
    let here: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(promo.client(), "web-dev");
    assert!(there.get_opt(&job_name).await.unwrap().is_some(), "the job ran on the app's cluster");
    assert!(here.get_opt(&job_name).await.unwrap().is_none(), "nothing ran on the management cluster");
}

#[tokio::test]
async fn ferrys_approval_and_window_statuses_and_a_ci_failure_hold_the_merge() {
    let promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    promo.env.create_app(app("web-staging", &url, "environment/staging", ".")).await;
    let stage = |windows: Value| {
        let mut stage = branch_stage(
            "staging",
            "unused",
            &url,
            IMAGE,
            json!({"gates": {"proposed": ["ci/e2e"]}, "approval": {}, "windows": windows}),
        );
        stage["spec"]["requestedFreight"] =
            json!([{"origin": {"kind": "Warehouse", "name": "web"}, "sources": {"direct": true}}]);
        stage["spec"].as_object_mut().unwrap().remove("autoPromotion");
        stage
    };
    promo.apply::<Stage>(stage(json!([{"kind": "Deny", "schedule": "* * * * *", "duration": "1h"}]))).await;
    let freight = image_freight(&promo, IMAGE, "v1.0.0").await;
    let name = promote(&promo, "staging", &freight).await;

    // Not approved: the promotion waits before doing anything.
    promotion_saying(&promo, &freight.name_any(), "requires approval").await;
    assert_eq!(phase(&promotion_named(&promo, &name).await), PromotionPhase::Pending);
    assert!(pull_requests(&promo).await.is_empty());
    let approval =
        json!({"status": {"approvedFor": {"staging": {"approvedBy": "alice", "approvedAt": "2026-01-01T00:00:00Z"}}}});
    promo
        .api::<Freight>()
        .patch_status(&freight.name_any(), &PatchParams::default(), &Patch::Merge(&approval))
        .await
        .unwrap();

    // Approved but inside a deny window: the PR is open and the window holds it.
    promotion_saying(&promo, &freight.name_any(), "inside deny window").await;
    let proposed = repo.git(&["rev-parse", "environment/staging-next"]);
    let window = ferry_status(&promo, &url, &proposed, promotion::keys::WINDOW, CommitStatusPhase::Failure).await;
    assert!(window.spec.description.unwrap_or_default().contains("deny window"));
    let approved = ferry_status(&promo, &url, &proposed, promotion::keys::APPROVAL, CommitStatusPhase::Success).await;
    assert!(approved.spec.description.unwrap_or_default().contains("alice"));

    // The window lifted, CI has not spoken; then CI fails: still open, and the message says why.
    promo.apply::<Stage>(stage(json!([]))).await;
    promotion_saying(&promo, &freight.name_any(), "ci/e2e").await;
    promo.post_status(&url, &proposed, "ci/e2e", "failure").await;
    let blocked = promotion_saying(&promo, &freight.name_any(), "failure").await;
    assert_eq!(phase(&blocked), PromotionPhase::Running);
    let pulls = pull_requests(&promo).await;
    assert_eq!(pulls.len(), 1, "{:?}", names(&pulls));
    let state = pulls[0].status.as_ref().map(|s| s.state).unwrap_or_default();
    assert_eq!(state, PullRequestState::Open, "{:?}", pulls[0].status);

    // CI succeeds: ferry merges, the app follows.
    promo.post_status(&url, &proposed, "ci/e2e", "success").await;
    let done = promo.promotion_ended("staging", &freight.name_any()).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert_eq!(repo.git(&["rev-parse", "environment/staging"]), proposed);
    assert_eq!(commits_of(&repo, "environment/staging", &name), 1);
    let pulls = pull_requests(&promo).await;
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].status.as_ref().map(|s| s.state), Some(PullRequestState::Merged));
    assert_eq!(done.status.unwrap().landed_commit, Some(proposed));
}
