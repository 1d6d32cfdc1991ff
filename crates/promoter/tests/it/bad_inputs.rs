//! Bad inputs each give a clear status and change nothing in git: an invalid step config, an
//! unknown step, an expression error, a push that conflicts with what landed meanwhile, an
//! unreachable registry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use kube::ResourceExt;
use kube::api::PostParams;
use promotion::{Freight, Promotion, PromotionPhase, Stage, Warehouse};
use serde_json::{Value, json};

const IMAGE: &str = "registry.invalid/team/web";

async fn freight(promo: &Promo) -> Freight {
    image_freight(promo, IMAGE, "v1.0.0").await
}

/// A stage named `name` running `steps`, without auto-promotion.
fn stage(name: &str, repo: &str, steps: Value) -> Value {
    let mut stage = dev_stage(repo, IMAGE);
    stage["metadata"]["name"] = json!(name);
    stage["spec"]["autoPromotion"] = Value::Null;
    stage["spec"]["application"] = Value::Null;
    stage["spec"]["promotionTemplate"]["spec"]["steps"] = steps;
    stage
}

/// Promotes the freight to `stage` and waits for the promotion to end; its phase and message.
async fn promote(promo: &Promo, stage: &str, freight: &Freight) -> (PromotionPhase, String) {
    let stage: Stage = promo.api::<Stage>().get(stage).await.unwrap();
    let promotion = promotion::new_promotion(&stage, freight, chrono::Utc::now()).unwrap();
    promo.api::<Promotion>().create(&PostParams::default(), &promotion).await.unwrap();
    let ended = promo.promotion_ended(&stage.name_any(), &freight.name_any()).await;
    let status = ended.status.unwrap_or_default();
    (status.phase, status.message.unwrap_or_default())
}

fn refs(repo: &Repo) -> String {
    repo.git(&["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"])
}

fn clone_commit_push(extra: Value) -> Value {
    let mut steps = json!([
        {"uses": "git-clone", "config": {"repoURL": "${{ vars.repoURL }}", "checkout": [{"branch": "main", "path": "./repo"}]}},
        {"uses": "yaml-update", "config": {"path": "./repo/env/dev/deployment.yaml",
            "updates": [{"key": "spec.replicas", "value": 3}]}},
        {"uses": "git-commit", "config": {"path": "./repo", "message": "scale"}},
        {"uses": "git-push", "config": {"path": "./repo"}},
    ]);
    if let Some((index, step)) = extra.as_array().and_then(|a| a.first().cloned()).map(|s| (2, s)) {
        steps.as_array_mut().unwrap().insert(index, step);
    }
    steps
}

#[tokio::test]
async fn invalid_steps_fail_clearly_and_change_nothing_in_git() {
    let promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    let freight = freight(&promo).await;
    let before = refs(&repo);

    // An unknown field in a step's config.
    let mut bad_config = clone_commit_push(json!([]));
    bad_config[0]["config"]["depth"] = json!(1);
    promo.apply::<Stage>(stage("bad-config", &url, bad_config)).await;
    let (phase, message) = promote(&promo, "bad-config", &freight).await;
    assert_eq!(phase, PromotionPhase::Failed);
    assert!(message.contains("depth"), "{message}");

    // A step that does not exist.
    let unknown = clone_commit_push(json!([{"uses": "git-teleport", "config": {}}]));
    promo.apply::<Stage>(stage("unknown-step", &url, unknown)).await;
    let (phase, message) = promote(&promo, "unknown-step", &freight).await;
    assert_eq!(phase, PromotionPhase::Failed);
    assert!(message.contains("git-teleport"), "{message}");

    // An expression that cannot be evaluated (a var that does not exist), after the clone ran.
    let mut expression = clone_commit_push(json!([]));
    expression[2]["config"]["message"] = json!("release ${{ vars.missing }}");
    promo.apply::<Stage>(stage("bad-expression", &url, expression)).await;
    let (phase, message) = promote(&promo, "bad-expression", &freight).await;
    assert_eq!(phase, PromotionPhase::Failed);
    assert!(message.contains("vars.missing"), "{message}");

    assert_eq!(refs(&repo), before, "nothing changed in git");
}

#[tokio::test]
async fn a_push_conflicting_with_what_landed_meanwhile_fails_without_changing_it() {
    let promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    let freight = freight(&promo).await;
    // Between the promotion's commit and its push, someone else changes the same line.
    let intruder = json!([{"uses": "exec", "config": {
        "command": "sh",
        "args": ["-c", "git clone -q \"$REPO\" intruder >&2 && cd intruder \
            && sed -i 's/replicas: 1/replicas: 5/' env/dev/deployment.yaml \
            && git -c user.name=other -c user.email=other@example.com commit -qam 'someone else' >&2 \
            && git push -q origin HEAD:main >&2 && echo '{\"result\": \"succeeded\"}'"],
        "env": [{"name": "REPO", "value": "${{ vars.repoURL }}"}],
    }}]);
    promo.apply::<Stage>(stage("conflict", &url, clone_commit_push(intruder))).await;
    let (phase, message) = promote(&promo, "conflict", &freight).await;
    assert_eq!(phase, PromotionPhase::Failed, "{message}");
    assert!(message.contains("conflict"), "{message}");
    assert_eq!(repo.git(&["log", "-1", "--format=%s", "main"]), "someone else", "main holds only the other change");
    let promotion = promo.promotions("conflict").await.remove(0);
    assert_eq!(commits_of(&repo, "main", &promotion.name_any()), 0);
}

#[tokio::test]
async fn an_unreachable_registry_is_a_clear_warehouse_condition() {
    let promo = Promo::start().await;
    let closed = gitops::free_port();
    promo.apply::<Warehouse>(image_warehouse("web", &format!("{closed}/team/web"))).await;
    let (status, message) = promo
        .wait_for::<Warehouse, _>("the warehouse's Ready condition", |all| all.first().and_then(ready_message))
        .await;
    assert_eq!(status, "False");
    assert!(message.contains(&closed.to_string()), "{message}");
    let freight = promo.api::<Freight>().list(&Default::default()).await.unwrap();
    assert!(freight.items.is_empty(), "no freight from a failed discovery");
}
