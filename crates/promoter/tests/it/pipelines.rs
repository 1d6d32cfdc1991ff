//! Pipelines expand into Stages (and shrink); a local pull request a human asks to merge is
//! merged with git; a git-subscription warehouse skips ferry's own commits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::*;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use promotion::{Freight, Pipeline, PullRequest, PullRequestState, Stage, Warehouse};
use serde_json::json;

fn pipeline(stages: &[&str]) -> serde_json::Value {
    let stages: Vec<_> = stages
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut stage = json!({"name": name, "autoPromotion": {"enabled": false}});
            if i > 0 {
                stage["requiredSoakTime"] = json!("1m");
            }
            stage
        })
        .collect();
    json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": "web", "namespace": promotion::NAMESPACE},
        "spec": {
            "warehouse": "web",
            "vars": [{"name": "repoURL", "value": "file:///nowhere"}],
            "promotionTemplate": {"spec": {"steps": [{"uses": "git-clone", "config": {
                "repoURL": "${{ vars.repoURL }}", "checkout": [{"branch": "main", "path": "./repo"}]}}]}},
            "stages": stages,
        },
    })
}

async fn stage_names(promo: &Promo) -> Vec<String> {
    let mut names: Vec<String> = promo
        .api::<Stage>()
        .list(&ListParams::default().labels(&format!("{}=web", promotion::PIPELINE_LABEL)))
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_pipeline_expands_into_stages_and_shrinks() {
    let promo = Promo::start().await;
    promo.apply::<Pipeline>(pipeline(&["dev", "staging", "prod"])).await;
    eventually("three stages", || async { stage_names(&promo).await == ["dev", "prod", "staging"] }).await;
    let staging: Stage = promo.api::<Stage>().get("staging").await.unwrap();
    assert_eq!(staging.spec.requested_freight[0].sources.stages, ["dev"]);
    assert_eq!(staging.spec.requested_freight[0].sources.required_soak_time.as_deref(), Some("1m"));

    promo.apply::<Pipeline>(pipeline(&["dev", "prod"])).await;
    eventually("staging removed", || async { stage_names(&promo).await == ["dev", "prod"] }).await;
    let prod: Stage = promo.api::<Stage>().get("prod").await.unwrap();
    assert_eq!(prod.spec.requested_freight[0].sources.stages, ["dev"], "prod now follows dev");

    // An invalid pipeline applies nothing and says why.
    promo.apply::<Pipeline>(pipeline(&["dev", "dev"])).await;
    let message = promo
        .wait_for::<Pipeline, _>("the expansion error", |all| {
            all.first().and_then(|p| p.status.as_ref()).and_then(|s| s.message.clone())
        })
        .await;
    assert!(message.contains("dev"), "{message}");
    assert_eq!(stage_names(&promo).await, ["dev", "prod"]);
}

#[tokio::test]
async fn a_local_pull_request_marked_merge_is_merged_with_git() {
    let promo = Promo::start().await;
    let repo = Repo::new();
    repo.write("a.txt", "one\n");
    repo.commit("one");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("a.txt", "two\n");
    let head = repo.commit("two");
    repo.git(&["checkout", "-q", "--detach"]);
    let pr: PullRequest = serde_json::from_value(json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "PullRequest",
        "metadata": {"name": "manual", "namespace": promotion::NAMESPACE},
        "spec": {"repoURL": repo.url(), "sourceBranch": "feature", "targetBranch": "main", "title": "two", "merge": true},
    }))
    .unwrap();
    promo.api::<PullRequest>().create(&PostParams::default(), &pr).await.unwrap();
    promo
        .wait_for::<PullRequest, _>("the merge", |all| {
            all.iter().find(|p| p.status.as_ref().is_some_and(|s| s.state == PullRequestState::Merged)).map(|_| ())
        })
        .await;
    assert_eq!(repo.git(&["rev-parse", "main"]), head, "fast-forwarded");
}

#[tokio::test]
async fn a_git_warehouse_skips_ferrys_own_commits_and_refreshes_on_request() {
    let promo = Promo::start().await;
    let repo = Repo::new();
    repo.write("apps/web/config.yaml", "a: 1\n");
    let first = repo.commit("web: one");
    promo
        .apply::<Warehouse>(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "Warehouse",
            "metadata": {"name": "web", "namespace": promotion::NAMESPACE},
            "spec": {"interval": "1h", "subscriptions": [{"git": {
                "repoURL": repo.url(), "branch": "main", "includePaths": ["apps/web/"]}}]},
        }))
        .await;
    let freight = promo
        .wait_for::<Freight, _>("freight of the first commit", |all| {
            all.iter().find(|f| f.spec.commits.iter().any(|c| c.id == first)).cloned()
        })
        .await;
    assert!(!freight.spec.alias.is_empty());

    // ferry's own commit (trailer), and a commit outside the app's path: no new freight.
    repo.write("apps/web/config.yaml", "a: 2\n");
    repo.commit("hydrate\n\nFerry-Promotion: dev-abc");
    repo.write("docs/readme.md", "x\n");
    repo.commit("docs");
    let refresh = |token: &str| json!({"metadata": {"annotations": {application::REFRESH_ANNOTATION: token}}});
    promo.api::<Warehouse>().patch("web", &PatchParams::default(), &Patch::Merge(refresh("1"))).await.unwrap();
    promo
        .wait_for::<Warehouse, _>("the refresh handled", |all| {
            all.first()
                .and_then(|w| w.status.as_ref())
                .filter(|s| s.last_handled_refresh.as_deref() == Some("1"))
                .map(|_| ())
        })
        .await;
    assert_eq!(promo.api::<Freight>().list(&ListParams::default()).await.unwrap().items.len(), 1);

    // A user's commit to the app: new freight.
    repo.write("apps/web/config.yaml", "a: 3\n");
    let third = repo.commit("web: three");
    promo.api::<Warehouse>().patch("web", &PatchParams::default(), &Patch::Merge(refresh("2"))).await.unwrap();
    promo
        .wait_for::<Freight, _>("freight of the user's commit", |all| {
            all.iter().find(|f| f.spec.commits.iter().any(|c| c.id == third)).map(|_| ())
        })
        .await;
}
