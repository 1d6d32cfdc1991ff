//! Helm applications end to end with the real Helm engine: a chart in git
//! with values per environment and one dependency, synced Synced and Healthy
//! on the local cluster; its pre-install hook runs as a PreSync hook; a bad
//! values file becomes a condition with nothing applied; a chart pushed to an
//! OCI registry on loopback (Debian's `docker-registry`) is pulled by
//! version and synced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use application::{HookPhase, SyncPhase};
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
    // What the chart sees of the destination cluster, as Argo CD passes it.
    repo.write(
        "charts/web/templates/capabilities.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-capabilities\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  ferryApi: {{ .Capabilities.APIVersions.Has \"ferry.dev/v1alpha1\" | quote }}\n",
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
        let capabilities = maps.get(&format!("{name}-capabilities")).await.unwrap().data.unwrap();
        let version = env.client().apiserver_version().await.unwrap().git_version;
        assert_eq!(capabilities.get("kube"), Some(&version), "the destination's version");
        assert_eq!(capabilities.get("ferryApi").map(String::as_str), Some("true"), "the destination's API versions");

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
    let message = env.wait_comparison_error("broken").await;
    assert!(message.contains("values-staging.yaml"), "the message names the missing file: {message}");
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "broken");
    assert!(deployments.list(&Default::default()).await.unwrap().items.is_empty(), "nothing applied");
}

/// The test `helm` (Helm's own SDK through helm-python-sdk) shared with the
/// render crate's tests; used here to package and push like a user would.
fn helm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/testdata/helm/bin/helm")
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `docker-registry` on a free loopback port with a temp storage dir.
struct Registry {
    child: Child,
    address: String,
    _storage: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry; with `user`, it requires that user and password (htpasswd).
fn start_registry(user: Option<(&str, &str)>) -> Registry {
    let storage = tempfile::tempdir().unwrap();
    let address = free_port().to_string();
    let config = storage.path().join("config.yml");
    let mut auth = String::new();
    if let Some((name, password)) = user {
        let hash = run(Command::new("python3").args([
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
            password,
        ]));
        let htpasswd = storage.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{name}:{}\n", hash.trim())).unwrap();
        auth = format!("auth: {{htpasswd: {{realm: test, path: {}}}}}\n", htpasswd.display());
    }
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {address}}}\n{auth}",
            storage.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("docker-registry: {e} (apt-get install -y docker-registry)"));
    wait_listening_log(&mut child, &address);
    Registry { child, address, _storage: storage }
}

/// Waits (up to 20 s) for the registry to log that it listens: its stderr is
/// read on a thread that keeps draining it afterwards, so the pipe never fills.
fn wait_listening_log(child: &mut Child, address: &str) {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready, listening) = std::sync::mpsc::channel();
    let wanted = format!("listening on {address}");
    std::thread::spawn(move || {
        let mut ready = Some(ready);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&wanted)
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("docker-registry did not start listening on {address}"));
}

/// Packages the `greeter` chart (0.3.0) under `work` and pushes it to `remote`.
fn push_greeter(work: &Path, remote: &str, login: &[&str]) {
    let chart = work.join("greeter");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: greeter\nversion: 0.3.0\n").unwrap();
    std::fs::write(chart.join("values.yaml"), "greeting: hello\n").unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    .unwrap();
    run(Command::new(helm()).arg("package").arg(&chart).arg("--destination").arg(work));
    run(Command::new(helm())
        .arg("push")
        .arg(work.join("greeter-0.3.0.tgz"))
        .arg(remote)
        .arg("--plain-http")
        .args(login));
}

fn greeter_app(name: &str, remote: &str) -> serde_json::Value {
    let mut app = app_json(name, remote, "", "oci", json!({"prune": true}));
    app["spec"]["source"]["chart"] = json!("greeter");
    app["spec"]["source"]["targetRevision"] = json!("0.3.0");
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_registry_is_pulled_with_the_repository_secret() {
    let registry = start_registry(Some(("robot", "s3cret-pw")));
    let work = tempfile::tempdir().unwrap();
    let remote = format!("oci://{}/charts", registry.address);
    push_greeter(work.path(), &remote, &["--username", "robot", "--password", "s3cret-pw"]);

    let env = Env::start().await;
    env.create_app(greeter_app("private", &remote)).await;
    let message = env.wait_comparison_error("private").await;
    assert!(message.contains("greeter"), "{message}");

    // Credentials for the registry's URL prefix, as `ferry repo add` writes them.
    let secret = application::secrets::RepoSecret {
        url: format!("oci://{}", registry.address),
        username: Some("robot".into()),
        password: Some("s3cret-pw".into()),
        ..Default::default()
    }
    .to_secret(application::NAMESPACE);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.client(), application::NAMESPACE);
    secrets.create(&Default::default(), &secret).await.unwrap();
    // A failed pull is not remembered: the next poll pulls with the credentials.
    let app = env.wait_synced_healthy("private").await;
    let status = app.status.unwrap();
    assert!(status.conditions.is_empty(), "{:?}", status.conditions);
    assert!(!format!("{status:?}").contains("s3cret-pw"), "no password in status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_from_an_oci_registry_syncs_by_version() {
    let registry = start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let remote = format!("oci://{}/charts", registry.address);
    push_greeter(work.path(), &remote, &[]);

    let env = Env::start().await;
    let mut app = greeter_app("greeter", &remote);
    app["spec"]["source"]["helm"] = json!({"parameters": [{"name": "greeting", "value": "hi from oci"}]});
    env.create_app(app).await;
    let app = env.wait_synced_healthy("greeter").await;
    assert_eq!(
        app.status.unwrap().sync.unwrap().revision.as_deref(),
        Some("0.3.0"),
        "the chart version is the revision"
    );
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "oci");
    let greeter = maps.get("greeter").await.unwrap();
    assert_eq!(greeter.data.unwrap().get("greeting").map(String::as_str), Some("hi from oci"));

    // A version that does not exist is a condition naming it.
    let mut missing = greeter_app("missing", &remote);
    missing["spec"]["source"]["targetRevision"] = json!("9.9.9");
    env.create_app(missing).await;
    let message = env.wait_comparison_error("missing").await;
    assert!(message.contains("9.9.9"), "{message}");
}
