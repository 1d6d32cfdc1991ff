//! Jsonnet applications end to end: evaluated in-process with the app's
//! TLAs, synced to the local cluster; a changed TLA re-renders; an
//! evaluation error becomes a condition naming the file.

use crate::common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

/// A program taking the app's name, replica count and settings as TLAs, and
/// a library it imports.
fn write_program(repo: &Repo) {
    repo.write(
        "jsonnet-app/lib/k.libsonnet",
        "{\n  deployment(name, replicas):: {\n    apiVersion: 'apps/v1',\n    kind: 'Deployment',\n    metadata: { name: name },\n    spec: {\n      replicas: replicas,\n      selector: { matchLabels: { app: name } },\n      template: {\n        metadata: { labels: { app: name } },\n        spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] },\n      },\n    },\n  },\n}\n",
    );
    repo.write(
        "jsonnet-app/main.jsonnet",
        "local k = import 'lib/k.libsonnet';\nfunction(name, replicas=1, settings={}) [\n  k.deployment(name, replicas),\n  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name + '-settings' }, data: settings },\n]\n",
    );
}

fn jsonnet_app(name: &str, repo: &Repo, tlas: serde_json::Value) -> serde_json::Value {
    // No selfHeal: a spec-only change (new TLAs, same commit) is a new
    // desired state that auto-sync picks up by itself.
    let mut app = app_json(name, &repo.url(), "jsonnet-app", "demo", json!({"prune": true}));
    app["spec"]["source"]["directory"] = json!({"jsonnet": {"tlas": tlas}});
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jsonnet_app_with_tlas_syncs_and_follows_tla_changes() {
    let env = Env::start().await;
    let repo = Repo::new();
    write_program(&repo);
    let sha = repo.commit("jsonnet");
    env.create_app(jsonnet_app(
        "web",
        &repo,
        json!([
            {"name": "name", "value": "web"},
            {"name": "replicas", "value": "1 + 2", "code": true},
            {"name": "settings", "value": "{ greeting: 'hello', env: std.asciiUpper('prod') }", "code": true},
        ]),
    ))
    .await;

    let app = env.wait_synced_healthy("web").await;
    let status = app.status.unwrap();
    assert_eq!(status.sync.unwrap().revision.as_deref(), Some(sha.as_str()));
    assert_eq!(status.resources.len(), 2, "{:?}", status.resources);

    let deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    let web = deployments.get("web").await.unwrap();
    assert_eq!(web.spec.unwrap().replicas, Some(3), "the code TLA sets the replica count");
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    let settings = maps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(settings["greeting"], "hello");
    assert_eq!(settings["env"], "PROD");

    // Changing a TLA in the spec renders again, without a new commit: the
    // render cache is keyed by the source options too.
    env.patch_app(
        "web",
        json!({"spec": {"source": {"directory": {"jsonnet": {"tlas": [
            {"name": "name", "value": "web"},
            {"name": "replicas", "value": "5", "code": true},
            {"name": "settings", "value": "{ greeting: 'bonjour' }", "code": true},
        ]}}}}}),
    )
    .await;
    eventually("the new TLAs are applied", || {
        let maps = maps.clone();
        async move {
            maps.get("web-settings").await.unwrap().data.unwrap_or_default().get("greeting").map(String::as_str)
                == Some("bonjour")
        }
    })
    .await;
    env.wait_synced_healthy("web").await;
    assert_eq!(deployments.get("web").await.unwrap().spec.unwrap().replicas, Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jsonnet_error_is_a_comparison_error_naming_the_file() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("broken/main.jsonnet", "local f(x) = error 'replicas must be set for ' + x;\n{ a: f('web') }\n");
    repo.commit("broken");
    let mut app = app_json("broken", &repo.url(), "broken", "demo", json!({}));
    app["spec"]["source"]["directory"] = json!({"jsonnet": {}});
    env.create_app(app).await;
    let message = env.wait_comparison_error("broken").await;
    assert!(message.contains("broken/main.jsonnet"), "{message}");
    assert!(message.contains("replicas must be set for web"), "{message}");
}
