//! A controller that crashes mid-sync resumes the operation from its
//! recorded state after a restart: it completes exactly once and never runs
//! a hook twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::{Arc, Mutex};

use application::{HookPhase, OperationPhase};
use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

fn hook_phase_of(app: &application::Application, name: &str) -> Option<HookPhase> {
    app.status
        .as_ref()?
        .operation_state
        .as_ref()?
        .sync_result
        .as_ref()?
        .resources
        .iter()
        .find(|r| r.name == name)?
        .hook_phase
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_killed_mid_sync_completes_the_operation_exactly_once() {
    let mut env = Env::start().await;
    set_never_ready(&env, "slow/*").await;

    // Every Job named `migrate` that appears in the namespace, from before
    // the app exists.
    let jobs: Api<Job> = Api::namespaced(env.client(), "demo");
    let version = jobs.list_metadata(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let stream = jobs.watch(&WatchParams::default().timeout(290), &version).await.unwrap();
    let added: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = added.clone();
    let watcher = tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(event) = stream.try_next().await.unwrap() {
            if let WatchEvent::Added(job) = event
                && job.name_any() == "migrate"
            {
                recorded.lock().unwrap().push(job.uid().unwrap());
            }
        }
    });

    let repo = Repo::new();
    repo.write("app/migrate.yaml", &hook_job("migrate", "PreSync", "slow/migrate:1", ""));
    repo.write("app/settings.yaml", &config_map("settings", "one"));
    repo.commit("slow migration");
    env.create_app(app_json("resume", &repo.url(), "app", "demo", json!({}))).await;

    env.wait_app("resume", "the PreSync hook running", |app| {
        operation_phase(app) == Some(OperationPhase::Running)
            && hook_phase_of(app, "migrate") == Some(HookPhase::Running)
    })
    .await;
    env.kill_controller().await;
    let uid = jobs.get("migrate").await.unwrap().uid().unwrap();

    // The restarted controller picks the operation up while the hook still
    // runs: it consumes a refresh request, and the hook is not recreated.
    env.start_controller().await;
    env.patch_app("resume", json!({"metadata": {"annotations": {"ferry.dev/refresh": "normal"}}})).await;
    let app = env
        .wait_app("resume", "the restarted controller to reconcile", |app| {
            !app.annotations().contains_key("ferry.dev/refresh")
        })
        .await;
    assert_eq!(operation_phase(&app), Some(OperationPhase::Running), "{:#?}", app.status);
    assert_eq!(hook_phase_of(&app, "migrate"), Some(HookPhase::Running));
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("settings").await.unwrap().is_none(), "the Sync phase waits for the PreSync hook");

    // Kill it once more, let the hook finish while it is down, and restart.
    env.kill_controller().await;
    set_never_ready(&env, "").await;
    eventually("the hook job completes", || {
        let jobs = jobs.clone();
        async move {
            let job = jobs.get("migrate").await.unwrap();
            job.status.and_then(|s| s.succeeded).unwrap_or(0) == 1
        }
    })
    .await;
    env.start_controller().await;

    let app = env.wait_synced_healthy("resume").await;
    let status = app.status.unwrap();
    let state = status.operation_state.unwrap();
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    let results = state.sync_result.unwrap().resources;
    let migrate = results.iter().find(|r| r.name == "migrate").unwrap();
    assert_eq!(migrate.hook_phase, Some(HookPhase::Succeeded), "{results:#?}");
    assert_eq!(status.history.len(), 1, "one operation, one history entry: {:#?}", status.history);
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "one");
    assert_eq!(jobs.get("migrate").await.unwrap().uid().unwrap(), uid, "the hook job was never recreated");
    assert_eq!(*added.lock().unwrap(), vec![uid], "the hook job was created exactly once");
    watcher.abort();
}
