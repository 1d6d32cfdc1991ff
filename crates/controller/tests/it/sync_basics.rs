//! Applications from git synced to the local cluster: create, change, drift,
//! prune.

use crate::common;

use application::{OperationPhase, SyncStatusCode};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_app_syncs_objects_with_tracking_annotations() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("guestbook/cm.yaml", &config_map("settings", "one"));
    repo.write("guestbook/web.yaml", &deployment("web", "nginx:1.27"));
    let sha = repo.commit("first");
    env.create_app(app_json("guestbook", &repo.url(), "guestbook", "demo", json!({"prune": true, "selfHeal": true})))
        .await;

    let app = env.wait_synced_healthy("guestbook").await;
    let status = app.status.unwrap();
    assert_eq!(status.sync.unwrap().revision.as_deref(), Some(sha.as_str()));
    assert_eq!(status.resources.len(), 2, "{:?}", status.resources);
    let state = status.operation_state.unwrap();
    assert_eq!(state.phase, OperationPhase::Succeeded, "{:?}", state.message);
    assert_eq!(status.history.len(), 1);
    assert_eq!(status.history[0].revision, sha);

    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    let cm = maps.get("settings").await.unwrap();
    assert_eq!(cm.data.unwrap()["value"], "one");
    assert_eq!(cm.metadata.annotations.unwrap()["ferry.dev/tracking-id"], "guestbook:/ConfigMap:demo/settings");
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    let web = deployments.get("web").await.unwrap();
    assert_eq!(web.metadata.annotations.unwrap()["ferry.dev/tracking-id"], "guestbook:apps/Deployment:demo/web");
    let managers: Vec<String> = web.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.iter().any(|m| m == "ferry"), "{managers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushed_change_is_picked_up_by_polling_and_stays_synced() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    repo.commit("first");
    env.create_app(app_json("poll", &repo.url(), "app", "demo", json!({}))).await;
    env.wait_synced_healthy("poll").await;

    repo.write("app/cm.yaml", &config_map("settings", "two"));
    let second = repo.commit("second");
    let app = env
        .wait_app("poll", "the second commit synced", |app| {
            is_synced_healthy(app)
                && app.status.as_ref().and_then(|s| s.sync.as_ref()).and_then(|s| s.revision.as_deref())
                    == Some(second.as_str())
        })
        .await;
    assert_eq!(app.status.as_ref().unwrap().history.len(), 2);
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "two");

    // No false OutOfSync: the app keeps comparing Synced over several polls.
    for _ in 0..3 {
        let app = env.wait_reconciled("poll", 1).await;
        assert_eq!(sync_status(&app), Some(SyncStatusCode::Synced));
    }
    // And no sync ran again: nothing changed in git or the cluster.
    let app = env.app("poll").await;
    assert_eq!(app.status.as_ref().unwrap().history.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_is_reported_and_self_healed() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "git"));
    repo.commit("first");
    env.create_app(app_json("heal", &repo.url(), "app", "demo", json!({"selfHeal": true}))).await;
    env.wait_synced_healthy("heal").await;

    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    maps.patch("settings", &PatchParams::default(), &Patch::Merge(json!({"data": {"value": "drifted"}})))
        .await
        .unwrap();
    env.wait_app("heal", "a self-heal sync", |app| app.status.as_ref().is_some_and(|s| s.history.len() >= 2)).await;
    eventually("self-heal restores the value from git", || {
        let maps = maps.clone();
        async move { maps.get("settings").await.unwrap().data.unwrap()["value"] == "git" }
    })
    .await;
    let app = env.wait_synced_healthy("heal").await;
    assert!(app.status.unwrap().history.len() >= 2, "self-heal is a sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_without_self_heal_stays_out_of_sync() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "git"));
    repo.commit("first");
    env.create_app(app_json("drift", &repo.url(), "app", "demo", json!({}))).await;
    env.wait_synced_healthy("drift").await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    maps.patch("settings", &PatchParams::default(), &Patch::Merge(json!({"data": {"value": "drifted"}})))
        .await
        .unwrap();
    env.wait_app("drift", "OutOfSync", |app| sync_status(app) == Some(SyncStatusCode::OutOfSync)).await;
    // Auto-sync ran once for this revision; without self-heal it does not
    // undo drift, however many times the app is compared again.
    env.wait_reconciled("drift", 2).await;
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "drifted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removed_file_is_pruned_unless_prune_false() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/keep.yaml", &config_map("keep", "1"));
    repo.write("app/gone.yaml", &config_map("gone", "1"));
    repo.write(
        "app/stay.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stay\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=false\n",
    );
    repo.commit("first");
    env.create_app(app_json("prune", &repo.url(), "app", "demo", json!({"prune": true}))).await;
    env.wait_synced_healthy("prune").await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("gone").await.unwrap().is_some());

    repo.remove("app/gone.yaml");
    repo.remove("app/stay.yaml");
    let second = repo.commit("remove two");
    eventually("gone is pruned", || {
        let maps = maps.clone();
        async move { maps.get_opt("gone").await.unwrap().is_none() }
    })
    .await;
    let app = env
        .wait_app("prune", "the removal synced", |app| {
            app.status.as_ref().and_then(|s| s.operation_state.as_ref()).is_some_and(|s| {
                s.phase == OperationPhase::Succeeded
                    && s.sync_result.as_ref().and_then(|r| r.revision.as_deref()) == Some(second.as_str())
            })
        })
        .await;
    assert!(maps.get_opt("stay").await.unwrap().is_some(), "Prune=false keeps the object");
    assert!(maps.get_opt("keep").await.unwrap().is_some());
    let results = app.status.unwrap().operation_state.unwrap().sync_result.unwrap().resources;
    let stay = results.iter().find(|r| r.name == "stay").expect("stay is reported");
    assert_eq!(stay.status, application::ResultCode::PruneSkipped);
}
