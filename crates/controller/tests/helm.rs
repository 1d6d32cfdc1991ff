//! Helm applications end to end with the real Helm engine: a chart in git
//! with values per environment and one dependency, synced Synced and Healthy
//! on the local cluster; its pre-install hook runs as a PreSync hook; a bad
//! values file becomes a condition with nothing applied.

mod common;

use application::{ApplicationConditionType, HookPhase, SyncPhase};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

/// A chart with a Deployment, a ConfigMap from a dependency (`charts/`), a
/// pre-install hook Job, and values files for two environments.
fn write_chart(repo: &Repo) {
    repo.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n- name: settings\n  version: 0.1.0\n",
    );
    repo.write("charts/web/values.yaml", "replicas: 1\nimage: nginx:1.27\ngreeting: hello\n");
    repo.write("charts/web/values-dev.yaml", "replicas: 1\ngreeting: hello dev\n");
    repo.write("charts/web/values-prod.yaml", "replicas: 3\ngreeting: hello prod\n");
    repo.write(
        "charts/web/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    env: {{ .Values.env | default \"none\" | quote }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image }}\n",
    );
    repo.write(
        "charts/web/templates/migrate.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-1\"\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: busybox:1.36\n",
    );
    repo.write("charts/web/charts/settings/Chart.yaml", "apiVersion: v2\nname: settings\nversion: 0.1.0\n");
    repo.write(
        "charts/web/charts/settings/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  greeting: {{ .Values.global.greeting | default \"unset\" | quote }}\n",
    );
}

fn helm_app(name: &str, repo: &Repo, namespace: &str, values_file: &str, greeting: &str) -> serde_json::Value {
    let mut app = app_json(name, &repo.url(), "charts/web", namespace, json!({"prune": true}));
    app["spec"]["source"]["helm"] = json!({
        "valueFiles": [values_file],
        "parameters": [
            {"name": "env", "value": name},
            {"name": "global.greeting", "value": greeting, "forceString": true},
        ],
    });
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_chart_with_values_per_environment_and_a_dependency_syncs() {
    let env = Env::start().await;
    let repo = Repo::new();
    write_chart(&repo);
    let sha = repo.commit("chart");
    env.create_app(helm_app("web-dev", &repo, "dev", "values-dev.yaml", "hello dev")).await;
    env.create_app(helm_app("web-prod", &repo, "prod", "values-prod.yaml", "hello prod")).await;

    for (name, namespace, replicas, greeting) in
        [("web-dev", "dev", 1, "hello dev"), ("web-prod", "prod", 3, "hello prod")]
    {
        let app = env.wait_synced_healthy(name).await;
        let status = app.status.unwrap();
        let sync = status.sync.unwrap();
        assert_eq!(sync.revision.as_deref(), Some(sha.as_str()));
        assert!(sync.tools.get("helm").is_some_and(|v| !v.is_empty()), "helm version recorded: {:?}", sync.tools);

        // The release is named after the app and renders into its namespace.
        let deployments: Api<Deployment> = Api::namespaced(env.client(), namespace);
        let deployment = deployments.get(name).await.unwrap();
        assert_eq!(deployment.spec.unwrap().replicas, Some(replicas), "{name}: replicas from its values file");
        assert_eq!(deployment.metadata.labels.unwrap().get("env").map(String::as_str), Some(name));
        let maps: Api<ConfigMap> = Api::namespaced(env.client(), namespace);
        let settings = maps.get(&format!("{name}-settings")).await.unwrap();
        assert_eq!(settings.data.unwrap().get("greeting").map(String::as_str), Some(greeting), "dependency rendered");

        // The Helm pre-install hook ran as a PreSync hook and is not a managed resource.
        let operation = status.operation_state.expect("an operation ran");
        let result = operation.sync_result.expect("a sync result");
        let hook = result
            .resources
            .iter()
            .find(|r| r.kind == "Job" && r.name == format!("{name}-migrate"))
            .unwrap_or_else(|| panic!("{name}: the hook is in the sync result: {:?}", result.resources));
        assert_eq!(hook.sync_phase, Some(SyncPhase::PreSync));
        assert_eq!(hook.hook_phase, Some(HookPhase::Succeeded));
        assert!(status.resources.iter().all(|r| r.kind != "Job"), "hooks are not app resources");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_values_file_is_a_condition_and_nothing_is_applied() {
    let env = Env::start().await;
    let repo = Repo::new();
    write_chart(&repo);
    repo.commit("chart");
    env.create_app(helm_app("broken", &repo, "broken", "values-staging.yaml", "x")).await;
    let app = env
        .wait_app("broken", "a ComparisonError", |app| {
            app.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == ApplicationConditionType::ComparisonError))
        })
        .await;
    let message = condition_message(&app).unwrap();
    assert!(message.contains("values-staging.yaml"), "the message names the missing file: {message}");
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "broken");
    assert!(deployments.list(&Default::default()).await.unwrap().items.is_empty(), "nothing applied");
}
