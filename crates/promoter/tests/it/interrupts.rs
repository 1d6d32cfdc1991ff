//! A newer freight while a promotion waits on its gate: ReleaseLatest supersedes it and updates
//! the same pull request in place; Queue lets it finish first. A promoter killed while a
//! promotion waits resumes it: one commit and one pull request per promotion, in git history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use kube::ResourceExt;
use promotion::{Freight, Promotion, PromotionPhase, Stage};
use serde_json::json;

const IMAGE: &str = "registry.invalid/team/web";

async fn freight(promo: &Promo, tag: &str) -> Freight {
    image_freight(promo, IMAGE, tag).await
}

/// A hydrated-branch stage taking freight directly, gated by `ci/e2e`.
fn gated_stage(name: &str, repo: &str, interrupt: &str) -> serde_json::Value {
    let mut stage = branch_stage(name, "unused", repo, IMAGE, json!({"gates": {"proposed": ["ci/e2e"]}}));
    stage["spec"]["requestedFreight"] =
        json!([{"origin": {"kind": "Warehouse", "name": "web"}, "sources": {"direct": true}}]);
    stage["spec"]["autoPromotion"] = json!({"interruptPolicy": interrupt});
    stage
}

async fn message_of(promo: &Promo, name: &str) -> String {
    let p: Promotion = promo.api::<Promotion>().get(name).await.unwrap();
    p.status.and_then(|s| s.message).unwrap_or_default()
}

#[tokio::test]
async fn release_latest_supersedes_in_place_and_a_killed_promoter_resumes() {
    let mut promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    promo.env.create_app(app("web-staging", &url, "environment/staging", ".")).await;
    promo.apply::<Stage>(gated_stage("staging", &url, "ReleaseLatest")).await;

    let first = freight(&promo, "v1.0.0").await;
    let waiting = promotion_saying(&promo, &first.name_any(), "ci/e2e").await;
    let pulls = pull_requests(&promo).await;
    assert_eq!(pulls.len(), 1, "{:?}", names(&pulls));
    assert!(pulls[0].spec.body.contains("v1.0.0"), "{}", pulls[0].spec.body);

    // A newer freight: the first promotion is aborted, the same PR now proposes v1.1.0.
    let second = freight(&promo, "v1.1.0").await;
    let first_promotion = promo.promotion_ended("staging", &first.name_any()).await;
    assert_eq!(phase(&first_promotion), PromotionPhase::Aborted, "{:?}", first_promotion.status);
    assert!(message_of(&promo, &waiting.name_any()).await.contains("superseded"));
    let latest = promotion_saying(&promo, &second.name_any(), "ci/e2e").await;
    let pulls = pull_requests(&promo).await;
    assert_eq!(pulls.len(), 1, "ReleaseLatest updates the open PR in place: {:?}", names(&pulls));
    assert!(pulls[0].spec.body.contains("v1.1.0"), "{}", pulls[0].spec.body);

    // The promoter dies while the promotion waits; a new one resumes it.
    promo.kill_promoter().await;
    let proposed = repo.git(&["rev-parse", "environment/staging-next"]);
    promo.post_status(&url, &proposed, "ci/e2e", "success").await;
    promo.start_promoter().await;
    let done = promo.promotion_ended("staging", &second.name_any()).await;
    assert_eq!(phase(&done), PromotionPhase::Succeeded, "{:?}", done.status);
    assert_eq!(commits_of(&repo, "environment/staging", &latest.name_any()), 1, "one commit per promotion");
    assert_eq!(commits_of(&repo, "environment/staging", &waiting.name_any()), 0, "the superseded one never landed");
    assert_eq!(pull_requests(&promo).await.len(), 1, "one pull request");
    let manifest = repo.git(&["show", "environment/staging:manifest.yaml"]);
    assert!(manifest.contains(&format!("{IMAGE}:v1.1.0")), "{manifest}");
}

#[tokio::test]
async fn queue_lets_the_running_promotion_finish_first() {
    let promo = Promo::start().await;
    let repo = source_repo();
    let url = repo.url();
    promo.env.create_app(app("web-staging", &url, "environment/staging", ".")).await;
    promo.apply::<Stage>(gated_stage("staging", &url, "Queue")).await;

    let first = freight(&promo, "v1.0.0").await;
    let running = promotion_saying(&promo, &first.name_any(), "ci/e2e").await;
    let second = freight(&promo, "v1.1.0").await;
    let queued = promotion_saying(&promo, &second.name_any(), "waiting for promotion").await;
    assert_eq!(phase(&queued), PromotionPhase::Pending);
    let still: Promotion = promo.api::<Promotion>().get(&running.name_any()).await.unwrap();
    assert_eq!(phase(&still), PromotionPhase::Running, "Queue does not interrupt");

    // Releasing the gate lets the first land, then the second runs.
    let proposed = repo.git(&["rev-parse", "environment/staging-next"]);
    promo.post_status(&url, &proposed, "ci/e2e", "success").await;
    let first_done = promo.promotion_ended("staging", &first.name_any()).await;
    assert_eq!(phase(&first_done), PromotionPhase::Succeeded, "{:?}", first_done.status);
    promo
        .wait_for::<Promotion, _>("the queued promotion to start", |all| {
            all.iter().find(|p| p.name_any() == queued.name_any() && phase(p) == PromotionPhase::Running).map(|_| ())
        })
        .await;
}
