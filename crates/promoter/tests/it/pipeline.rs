//! End to end on the local cluster: image tags pushed to Debian's docker-registry on loopback
//! become freight; dev is promoted on the folder layout (commit to `main`), staging on the
//! hydrated-branch layout (a local pull request with the hydrated diff, gated by a commit
//! status), prod behind approval; a fault-injected version goes Degraded in dev and never
//! reaches staging; a rollback is promoting the older freight.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::registry;

use common::*;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use oci_client::secrets::RegistryAuth;
use promotion::{Freight, Promotion, PromotionPhase, Stage, Warehouse};
use serde_json::json;

#[tokio::test]
async fn image_freight_moves_dev_staging_prod_gated_and_rolls_back() {
    let promo = Promo::start().await;
    let registry = registry::start_registry(None);
    let image = format!("{}/team/web", registry.address);
    let pusher = registry::pusher();
    let auth = RegistryAuth::Anonymous;
    registry::push_image(&pusher, &auth, &registry.address, "team/web", "v1.0.0", "2024-01-01T00:00:00Z", "one").await;
    // A tag failing the constraint (^1) never becomes freight.
    registry::push_image(&pusher, &auth, &registry.address, "team/web", "v2.0.0", "2024-01-02T00:00:00Z", "two").await;

    let repo = source_repo();
    let url = repo.url();
    for (name, revision, path) in [
        ("web-dev", "main", "env/dev"),
        ("web-staging", "environment/staging", "."),
        ("web-prod", "environment/prod", "."),
    ] {
        promo.env.create_app(app(name, &url, revision, path)).await;
    }
    promo.apply::<Warehouse>(image_warehouse("web", &image)).await;
    promo.apply::<Stage>(dev_stage(&url, &image)).await;
    promo
        .apply::<Stage>(branch_stage("staging", "dev", &url, &image, json!({"gates": {"proposed": ["ci/e2e"]}})))
        .await;
    promo.apply::<Stage>(branch_stage("prod", "staging", &url, &image, json!({"approval": {"required": true}}))).await;

    // v1.0.0 → freight, with its digest; v2.0.0 fails the constraint.
    let first = promo.freight_with_tag("v1.0.0").await;
    assert!(first.spec.images[0].digest.starts_with("sha256:"), "{:?}", first.spec.images);
    assert!(!first.spec.alias.is_empty());
    let all = promo.api::<Freight>().list(&Default::default()).await.unwrap().items;
    assert!(all.iter().all(|f| f.spec.images.iter().all(|i| i.tag != "v2.0.0")), "v2.0.0 fails ^1");

    // dev: one commit on main, the app Synced and Healthy at v1.0.0, the freight verified.
    let dev = promo.promotion_ended("dev", &first.name_any()).await;
    assert_eq!(phase(&dev), PromotionPhase::Succeeded, "{:?}", dev.status);
    assert_eq!(commits_of(&repo, "main", &dev.name_any()), 1);
    assert_eq!(deployment_image(&promo, "web-dev").await.as_deref(), Some(format!("{image}:v1.0.0").as_str()));
    let first_name = first.name_any();
    promo
        .wait_for::<Freight, _>("v1.0.0 verified in dev", |all| {
            all.iter().find(|f| f.name_any() == first_name && verified_in(f, "dev")).map(|_| ())
        })
        .await;

    // staging: a pull request with the hydrated diff, blocked by the ci/e2e gate.
    let pr = promo
        .wait_for::<promotion::PullRequest, _>("staging's pull request", |all| {
            all.iter().find(|p| p.spec.target_branch == "environment/staging").cloned()
        })
        .await;
    assert!(pr.spec.body.contains(&format!("+        image: {image}:v1.0.0")), "{}", pr.spec.body);
    let waiting = promo
        .wait_for::<Promotion, _>("staging waiting on ci/e2e", |all| {
            all.iter()
                .find(|p| {
                    p.spec.stage == "staging"
                        && p.status.as_ref().and_then(|s| s.message.as_deref()).is_some_and(|m| m.contains("ci/e2e"))
                })
                .cloned()
        })
        .await;
    let proposed = repo.git(&["rev-parse", "environment/staging-next"]);
    promo.post_status(&url, &proposed, "ci/e2e", "failure").await;
    promo
        .wait_for::<Promotion, _>("staging blocked by the failure", |all| {
            all.iter()
                .find(|p| {
                    p.name_any() == waiting.name_any()
                        && p.status.as_ref().and_then(|s| s.message.as_deref()).is_some_and(|m| m.contains("failure"))
                })
                .map(|_| ())
        })
        .await;
    assert_eq!(phase(&promo.api::<Promotion>().get(&waiting.name_any()).await.unwrap()), PromotionPhase::Running);
    assert_eq!(
        repo.git(&["rev-parse", "environment/staging"]),
        repo.git(&["rev-parse", "environment/staging^{commit}"])
    );
    promo.post_status(&url, &proposed, "ci/e2e", "success").await;
    let staging = promo.promotion_ended("staging", &first_name).await;
    assert_eq!(phase(&staging), PromotionPhase::Succeeded, "{:?}", staging.status);
    assert_eq!(repo.git(&["rev-parse", "environment/staging"]), proposed, "the PR merged by fast-forward");
    assert_eq!(deployment_image(&promo, "web-staging").await.as_deref(), Some(format!("{image}:v1.0.0").as_str()));
    let manifest = repo.git(&["show", "environment/staging:manifest.yaml"]);
    assert!(manifest.contains(&format!("image: {image}:v1.0.0")), "{manifest}");
    let metadata = repo.git(&["show", "environment/staging:hydrator.metadata"]);
    assert!(metadata.contains(&first_name), "{metadata}");

    // prod: nothing until approved.
    promo
        .wait_for::<Freight, _>("v1.0.0 verified in staging", |all| {
            all.iter().find(|f| f.name_any() == first_name && verified_in(f, "staging")).map(|_| ())
        })
        .await;
    assert!(promo.promotions("prod").await.is_empty(), "prod promoted without approval");
    let approve =
        json!({"status": {"approvedFor": {"prod": {"approvedAt": "2026-01-01T00:00:00Z", "approvedBy": "test"}}}});
    promo.api::<Freight>().patch_status(&first_name, &PatchParams::default(), &Patch::Merge(&approve)).await.unwrap();
    let prod = promo.promotion_ended("prod", &first_name).await;
    assert_eq!(phase(&prod), PromotionPhase::Succeeded, "{:?}", prod.status);
    assert_eq!(deployment_image(&promo, "web-prod").await.as_deref(), Some(format!("{image}:v1.0.0").as_str()));

    // v1.1.0 never gets ready: dev goes Degraded, the freight is never verified, staging never
    // gets it. The registry webhook (with the right token) discovers it at once.
    set_never_ready(&promo.env, "*:v1.1.0").await;
    registry::push_image(&pusher, &auth, &registry.address, "team/web", "v1.1.0", "2024-01-03T00:00:00Z", "bad").await;
    assert_eq!(promo.notify_push(&registry.address, "team/web", "wrong").await, 401);
    assert_eq!(promo.notify_push(&registry.address, "team/web", TOKEN).await, 200);
    let second = promo.freight_with_tag("v1.1.0").await;
    let failed = promo.promotion_ended("dev", &second.name_any()).await;
    assert_eq!(phase(&failed), PromotionPhase::Failed, "{:?}", failed.status);
    let message = failed.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
    assert!(message.contains("app-wait"), "{message}");
    promo
        .wait_for::<Stage, _>("dev shows Degraded", |all| {
            all.iter()
                .find(|s| {
                    s.name_any() == "dev" && s.status.as_ref().and_then(|st| st.health.as_deref()) == Some("Degraded")
                })
                .map(|_| ())
        })
        .await;
    let second = promo.api::<Freight>().get(&second.name_any()).await.unwrap();
    assert!(!verified_in(&second, "dev"));
    assert!(
        promo.promotions("staging").await.iter().all(|p| p.spec.freight != second.name_any()),
        "staging got freight that failed in dev"
    );

    // Rollback: promote v1.0.0's freight to dev again.
    let stage: Stage = promo.api::<Stage>().get("dev").await.unwrap();
    let rollback = promotion::new_promotion(&stage, &first, chrono::Utc::now()).unwrap();
    promo.api::<Promotion>().create(&Default::default(), &rollback).await.unwrap();
    promo
        .wait_for::<Promotion, _>("the rollback", |all| {
            all.iter()
                .find(|p| p.name_any() == rollback.name_any() && phase(p) == PromotionPhase::Succeeded)
                .map(|_| ())
        })
        .await;
    assert_eq!(deployment_image(&promo, "web-dev").await.as_deref(), Some(format!("{image}:v1.0.0").as_str()));
}
