//! The content-addressed render cache end to end, counted from `/metrics`
//! (never timed): in a 200-app monorepo, a commit touching one app renders
//! that app only; a restarted controller serves every app from disk; a hard
//! refresh renders again; apps at the same path and commit share a render.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use application::SyncStatusCode;
use common::*;
use serde_json::json;

const APPS: usize = 200;

fn monorepo_app(index: usize, repo: &Repo) -> serde_json::Value {
    let name = format!("app-{index:03}");
    let mut app = app_json(&name, &repo.url(), &format!("apps/{name}"), "mono", serde_json::Value::Null);
    app["metadata"]["annotations"] = json!({"ferry.dev/manifest-generate-paths": ".;/shared"});
    app
}

/// Renders the controller has run successfully since it started.
async fn renders(env: &Env) -> f64 {
    metric(addr(env.config.listen), "ferry_renders_total{result=\"ok\"}").await
}

async fn lookups(env: &Env, result: &str) -> f64 {
    metric(addr(env.config.listen), &format!("ferry_render_cache_lookups_total{{result=\"{result}\"}}")).await
}

/// Waits until every app has compared against `sha`.
async fn wait_all_at(env: &Env, sha: &str) {
    eventually(&format!("all {APPS} apps compared at {sha}"), || async {
        let list = env.apps.list(&Default::default()).await.unwrap();
        list.items.len() == APPS
            && list.items.iter().all(|app| {
                app.status
                    .as_ref()
                    .and_then(|s| s.sync.as_ref())
                    .is_some_and(|sync| sync.revision.as_deref() == Some(sha) && sync.status != SyncStatusCode::Unknown)
            })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_to_one_app_of_a_monorepo_renders_one_app() {
    let mut env = Env::start_with(|config| config.listen = Some(free_port())).await;
    wait_listening(addr(env.config.listen)).await;
    let repo = Repo::new();
    for index in 0..APPS {
        repo.write(&format!("apps/app-{index:03}/config.yaml"), &config_map(&format!("cm-{index:03}"), "v: one"));
    }
    repo.write("shared/README", "shared inputs\n");
    let first = repo.commit("200 apps");
    for index in 0..APPS {
        env.create_app(monorepo_app(index, &repo)).await;
    }
    wait_all_at(&env, &first).await;
    assert_eq!(renders(&env).await, APPS as f64, "each app rendered once");

    // One app changes; the other 199 reuse their renders.
    repo.write("apps/app-007/config.yaml", &config_map("cm-007", "v: two"));
    let second = repo.commit("change one app");
    wait_all_at(&env, &second).await;
    assert_eq!(renders(&env).await, APPS as f64 + 1.0, "only the changed app rendered again");
    let changed = env.app("app-007").await;
    assert_eq!(sync_status(&changed), Some(SyncStatusCode::OutOfSync));

    // A declared extra path changes: every app depends on it.
    repo.write("shared/README", "shared inputs, revised\n");
    let third = repo.commit("change the shared path");
    wait_all_at(&env, &third).await;
    assert_eq!(renders(&env).await, 2.0 * APPS as f64 + 1.0, "a shared input renders every app again");

    // A restarted controller (metrics start from zero) finds every render on disk.
    env.stop_controller().await;
    env.start_controller().await;
    wait_listening(addr(env.config.listen)).await;
    eventually("every app served from the disk cache", || async { lookups(&env, "disk").await >= APPS as f64 }).await;
    assert_eq!(renders(&env).await, 0.0, "nothing rendered after the restart");

    // A hard refresh bypasses the cache.
    let before = reconciled_at(&env.app("app-042").await);
    env.patch_app("app-042", json!({"metadata": {"annotations": {"ferry.dev/refresh": "hard"}}})).await;
    env.wait_app("app-042", "reconciled after the hard refresh", |app| {
        reconciled_at(app) != before
            && !app.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("ferry.dev/refresh"))
    })
    .await;
    eventually("the hard refresh rendered", || async { renders(&env).await >= 1.0 }).await;
    assert_eq!(renders(&env).await, 1.0, "exactly the refreshed app rendered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_declared_paths_any_commit_renders_again_and_tools_are_recorded() {
    let env = Env::start_with(|config| config.listen = Some(free_port())).await;
    wait_listening(addr(env.config.listen)).await;
    let repo = Repo::new();
    repo.write("app/config.yaml", &config_map("one", "v: one"));
    repo.write("other/README", "not the app\n");
    repo.write(
        "kustomized/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- cm.yaml\n",
    );
    repo.write("kustomized/cm.yaml", &config_map("k", "v: k"));
    let first = repo.commit("one");
    env.create_app(app_json("plain", &repo.url(), "app", "demo", serde_json::Value::Null)).await;
    // Same path, same commit, same options: one render serves both.
    env.create_app(app_json("plain-twin", &repo.url(), "app", "demo", serde_json::Value::Null)).await;
    env.create_app(app_json("kustomized", &repo.url(), "kustomized", "demo", serde_json::Value::Null)).await;
    let app = env
        .wait_app("kustomized", "compared", |app| {
            app.status.as_ref().and_then(|s| s.sync.as_ref()).is_some_and(|s| s.revision.as_deref() == Some(&first))
        })
        .await;
    let tools = app.status.unwrap().sync.unwrap().tools;
    assert!(tools.get("kustomize").is_some_and(|v| !v.is_empty()), "kustomize version recorded: {tools:?}");
    for name in ["plain", "plain-twin"] {
        env.wait_app(name, "compared", |app| {
            app.status.as_ref().and_then(|s| s.sync.as_ref()).is_some_and(|s| s.revision.as_deref() == Some(&first))
        })
        .await;
    }
    let before = renders(&env).await;
    assert_eq!(before, 2.0, "three apps, two distinct renders");

    // Argo CD's default: without manifest-generate-paths, the whole
    // repository is the app's input.
    repo.write("other/README", "still not the app\n");
    let second = repo.commit("two");
    env.wait_app("plain", "compared at the second commit", |app| {
        app.status.as_ref().and_then(|s| s.sync.as_ref()).is_some_and(|s| s.revision.as_deref() == Some(&second))
    })
    .await;
    eventually("both apps rendered again", || async { renders(&env).await >= before + 2.0 }).await;
}
