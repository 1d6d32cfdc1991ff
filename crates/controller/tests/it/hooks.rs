//! Sync phases, waves and hooks, observed from the destination cluster's
//! watch events: the order things were created in, what waited for what,
//! failing hooks and hook delete policies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::{Arc, Mutex};

use application::{HookPhase, OperationPhase};
use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// One watch event, as recorded.
#[derive(Debug, Clone)]
struct Seen {
    kind: &'static str,
    name: String,
    uid: String,
    added: bool,
    /// The store's global resourceVersion of the event: orders events of
    /// different kinds.
    version: u64,
    object: Value,
}

/// Watch events of Jobs, ConfigMaps and Deployments in one namespace,
/// recorded from before anything is created there.
struct Recorder {
    events: Arc<Mutex<Vec<Seen>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    async fn start(client: Client, namespace: &str) -> Recorder {
        let events = Arc::new(Mutex::new(Vec::new()));
        let tasks = vec![
            watch_kind::<Job>(Api::namespaced(client.clone(), namespace), "Job", events.clone()).await,
            watch_kind::<ConfigMap>(Api::namespaced(client.clone(), namespace), "ConfigMap", events.clone()).await,
            watch_kind::<Deployment>(Api::namespaced(client, namespace), "Deployment", events.clone()).await,
        ];
        Recorder { events, tasks }
    }

    fn events(&self) -> Vec<Seen> {
        let mut events = self.events.lock().unwrap().clone();
        events.sort_by_key(|e| e.version);
        events
    }

    /// The resourceVersion of the ADDED event of `kind`/`name` (the first one).
    fn created(&self, kind: &str, name: &str) -> u64 {
        let events = self.events();
        events
            .iter()
            .find(|e| e.added && e.kind == kind && e.name == name)
            .unwrap_or_else(|| panic!("no ADDED event for {kind} {name}; events: {:#?}", summary(&events)))
            .version
    }

    /// The first event of `kind`/`name` whose object satisfies `check`.
    fn first_where(&self, kind: &str, name: &str, check: impl Fn(&Value) -> bool) -> Option<u64> {
        self.events().iter().find(|e| e.kind == kind && e.name == name && check(&e.object)).map(|e| e.version)
    }

    fn added_count(&self, kind: &str, name: &str) -> usize {
        self.events().iter().filter(|e| e.added && e.kind == kind && e.name == name).count()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn summary(events: &[Seen]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {} {} {} {}", e.version, if e.added { "ADDED" } else { "other" }, e.kind, e.name, e.uid))
        .collect()
}

/// Lists (for a resourceVersion) and watches from there, so nothing created
/// after this returns can be missed.
async fn watch_kind<K>(api: Api<K>, kind: &'static str, events: Arc<Mutex<Vec<Seen>>>) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug + Send + 'static,
{
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    let version = list.metadata.resource_version.unwrap();
    let stream = api.watch(&WatchParams::default().timeout(290), &version).await.unwrap();
    tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(event) = stream.try_next().await.unwrap() {
            let (object, added) = match event {
                WatchEvent::Added(object) => (object, true),
                WatchEvent::Modified(object) | WatchEvent::Deleted(object) => (object, false),
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Error(error) => panic!("watch {kind}: {error:?}"),
            };
            let seen = Seen {
                kind,
                name: object.name_any(),
                uid: object.uid().unwrap_or_default(),
                added,
                version: object.resource_version().unwrap().parse().unwrap(),
                object: serde_json::to_value(&object).unwrap(),
            };
            events.lock().unwrap().push(seen);
        }
    })
}

fn config_map_in_wave(name: &str, wave: i32) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    ferry.dev/sync-wave: \"{wave}\"\ndata:\n  value: \"{name}\"\n"
    )
}

fn deployment_in_wave(name: &str, image: &str, wave: i32) -> String {
    deployment(name, image).replacen(
        &format!("  name: {name}\n"),
        &format!("  name: {name}\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"\n"),
        1,
    )
}

fn job_condition(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn operation_state(app: &application::Application) -> application::OperationState {
    app.status.as_ref().and_then(|s| s.operation_state.clone()).expect("an operation state")
}

fn finished(app: &application::Application) -> bool {
    matches!(operation_phase(app), Some(OperationPhase::Succeeded | OperationPhase::Failed | OperationPhase::Error))
        && app.spec.operation.is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn phases_and_waves_run_in_order_and_wait_for_health() {
    let env = Env::start().await;
    let recorder = Recorder::start(env.client(), "demo").await;
    let repo = Repo::new();
    repo.write("app/pre.yaml", &hook_job("pre", "PreSync", "busybox:1.36", ""));
    repo.write("app/first.yaml", &config_map_in_wave("first", 0));
    repo.write("app/web.yaml", &deployment_in_wave("web", "nginx:1.27", 1));
    repo.write("app/last.yaml", &config_map_in_wave("last", 2));
    repo.write("app/post.yaml", &hook_job("post", "PostSync", "busybox:1.36", ""));
    repo.commit("hooks and waves");
    env.create_app(app_json("ordered", &repo.url(), "app", "demo", json!({}))).await;

    let app = env.wait_app("ordered", "the sync to finish", finished).await;
    let state = operation_state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{:?}", state.message);
    env.wait_synced_healthy("ordered").await;
    // The PostSync hook is awaited before the operation succeeds.
    let results = state.sync_result.unwrap().resources;
    let post = results.iter().find(|r| r.name == "post").expect("post hook result");
    assert_eq!(post.hook_phase, Some(HookPhase::Succeeded), "{results:#?}");

    let pre = recorder.created("Job", "pre");
    let first = recorder.created("ConfigMap", "first");
    let web = recorder.created("Deployment", "web");
    let last = recorder.created("ConfigMap", "last");
    let post = recorder.created("Job", "post");
    let order = summary(&recorder.events());
    assert!(pre < first && first < web && web < last && last < post, "creation order is wrong: {order:#?}");

    // Each step waited for the previous one to be done, not just created.
    let pre_complete =
        recorder.first_where("Job", "pre", |job| job_condition(job, "Complete")).expect("the PreSync job completed");
    assert!(pre_complete < first, "wave 0 started before the PreSync hook completed: {order:#?}");
    let web_available = recorder
        .first_where("Deployment", "web", |d| d.pointer("/status/availableReplicas").and_then(Value::as_i64) == Some(2))
        .expect("the Deployment became available");
    assert!(web_available < last, "wave 2 started before the wave-1 Deployment was available: {order:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_hook_runs_sync_fail_hooks_and_fails_the_operation() {
    let env = Env::start_on(Cluster::start_with(vec!["crash/*".into()]).await, |_| {}).await;
    let recorder = Recorder::start(env.client(), "demo").await;
    let repo = Repo::new();
    repo.write("app/migrate.yaml", &hook_job("migrate", "PreSync", "crash/migrate:1", ""));
    repo.write("app/cleanup.yaml", &hook_job("cleanup", "SyncFail", "busybox:1.36", ""));
    repo.write("app/settings.yaml", &config_map("settings", "one"));
    repo.commit("a failing migration");
    env.create_app(app_json("failing", &repo.url(), "app", "demo", json!({}))).await;

    let app = env.wait_app("failing", "the sync to finish", finished).await;
    let state = operation_state(&app);
    assert_eq!(state.phase, OperationPhase::Failed, "{state:#?}");
    let message = state.message.clone().unwrap_or_default();
    assert!(message.contains("migrate"), "the message names the failing hook: {message}");

    // The SyncFail hook ran (was created, and completed before the end).
    let jobs: Api<Job> = Api::namespaced(env.client(), "demo");
    assert!(jobs.get_opt("cleanup").await.unwrap().is_some(), "the SyncFail hook was created");
    let results = state.sync_result.unwrap().resources;
    let cleanup = results.iter().find(|r| r.name == "cleanup").expect("SyncFail hook result");
    assert_eq!(cleanup.hook_phase, Some(HookPhase::Succeeded), "{results:#?}");
    let migrate_failed =
        recorder.first_where("Job", "migrate", |job| job_condition(job, "Failed")).expect("the migrate job failed");
    assert!(migrate_failed < recorder.created("Job", "cleanup"), "{:#?}", summary(&recorder.events()));

    // Nothing of the Sync phase was applied.
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(
        maps.get_opt("settings").await.unwrap().is_none(),
        "the Sync phase must not run after a failed PreSync hook"
    );
    assert_eq!(recorder.added_count("ConfigMap", "settings"), 0);
    assert!(app.status.unwrap().history.is_empty(), "a failed sync is not history");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hook_delete_policies() {
    let env = Env::start().await;
    let recorder = Recorder::start(env.client(), "demo").await;
    let repo = Repo::new();
    // BeforeHookCreation is the default policy.
    repo.write("app/prepare.yaml", &hook_job("prepare", "PreSync", "busybox:1.36", ""));
    repo.write(
        "app/notify.yaml",
        &hook_job("notify", "PostSync", "busybox:1.36", "    ferry.dev/hook-delete-policy: HookSucceeded\n"),
    );
    repo.write("app/settings.yaml", &config_map("settings", "one"));
    repo.commit("first");
    env.create_app(app_json("policies", &repo.url(), "app", "demo", json!({}))).await;

    let app = env
        .wait_app("policies", "the first sync", |app| finished(app) && app.status.as_ref().unwrap().history.len() == 1)
        .await;
    let state = operation_state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    let jobs: Api<Job> = Api::namespaced(env.client(), "demo");
    eventually("the HookSucceeded hook is deleted after success", || {
        let jobs = jobs.clone();
        async move { jobs.get_opt("notify").await.unwrap().is_none() }
    })
    .await;
    assert_eq!(recorder.added_count("Job", "notify"), 1, "the notify hook did run");
    let first_uid = jobs.get("prepare").await.unwrap().uid().unwrap();

    repo.write("app/settings.yaml", &config_map("settings", "two"));
    repo.commit("second");
    let app = env
        .wait_app("policies", "the second sync", |app| finished(app) && app.status.as_ref().unwrap().history.len() == 2)
        .await;
    let state = operation_state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    let second_uid = jobs.get("prepare").await.unwrap().uid().unwrap();
    assert_ne!(first_uid, second_uid, "BeforeHookCreation recreates the hook on the next sync");
    assert_eq!(recorder.added_count("Job", "prepare"), 2, "{:#?}\n{:#?}", summary(&recorder.events()), app.status);
    eventually("the second notify hook is deleted too", || {
        let jobs = jobs.clone();
        async move { jobs.get_opt("notify").await.unwrap().is_none() }
    })
    .await;
    assert_eq!(recorder.added_count("Job", "notify"), 2);
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "two");
}
