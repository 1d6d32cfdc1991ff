//! The local provider end to end: PullRequest objects in ferry's local cluster, merged with git.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use promotion::{PullRequest, PullRequestState};
use scm::local::{KEY_LABEL, pull_request_key};
use scm::{MergeOptions, OpenPullRequest, ProviderConfig, ProviderKind, ScmError, provider_for};
use serde_json::json;

use crate::waits;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A bare origin whose `env/staging-next` is one commit ahead of `env/staging`.
fn origin(dir: &Path) -> String {
    let origin = dir.join("origin.git");
    let work = dir.join("work");
    std::fs::create_dir_all(&origin).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    git(&origin, &["init", "--quiet", "--bare"]);
    git(&work, &["init", "--quiet", "--initial-branch=env/staging"]);
    std::fs::write(work.join("app.yaml"), "replicas: 1\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "initial"]);
    git(&work, &["checkout", "--quiet", "-b", "env/staging-next"]);
    std::fs::write(work.join("app.yaml"), "replicas: 2\n").unwrap();
    git(&work, &["commit", "--quiet", "-am", "v2"]);
    let url = format!("file://{}", origin.display());
    git(&work, &["push", "--quiet", &url, "env/staging", "env/staging-next"]);
    url
}

#[tokio::test]
async fn pull_requests_are_objects_merged_with_git() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let running = cluster::local::start(cluster::local::LocalConfig {
        data_dir: dir.path().join("cluster"),
        listen: "127.0.0.1:0".parse().unwrap(),
        simulation: cluster::controllers::Simulation::Off,
        ready_delay: Duration::from_millis(100),
        faults_file: None,
        watch_history: 1000,
    })
    .await
    .unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&running.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    let client = Client::try_from(config).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &PullRequest::crd()).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": promotion::NAMESPACE}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let objects: Api<PullRequest> = Api::namespaced(client.clone(), promotion::NAMESPACE);
    // The watch's first list succeeds once the CRD is served.
    waits::watch_until(objects.clone(), "the PullRequest CRD is served", Duration::from_secs(30), |_| Some(())).await;

    let url = origin(dir.path());
    let provider = provider_for(
        ProviderKind::Local,
        ProviderConfig { kube: Some(client.clone()), work_dir: Some(dir.path().to_path_buf()), ..Default::default() },
    )
    .unwrap();
    let request = |title: &str| OpenPullRequest {
        repo_url: url.clone(),
        source_branch: "env/staging-next".into(),
        target_branch: "env/staging".into(),
        title: title.into(),
        body: "```diff\n-replicas: 1\n+replicas: 2\n```".into(),
    };
    let key = pull_request_key(&url, "env/staging-next", "env/staging");

    let first = provider.open_pull_request(&request("Promote v2")).await.unwrap();
    assert_eq!(first.id, format!("pr-{key}"));
    assert_eq!(first.state, PullRequestState::Open);
    let second = provider.open_pull_request(&request("Promote v2 (updated)")).await.unwrap();
    assert_eq!(second.id, first.id, "the open PR is reused");
    let listed = objects.list(&ListParams::default().labels(&format!("{KEY_LABEL}={key}"))).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].spec.title, "Promote v2 (updated)");

    provider.comment(&first.reference(), "gates passed").await.unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), promotion::NAMESPACE);
    let comments: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(first.id.as_str()))
        .collect();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].message.as_deref(), Some("gates passed"));
    assert_eq!(comments[0].involved_object.kind.as_deref(), Some("PullRequest"));

    let source_head = git(dir.path(), &["--git-dir", "origin.git", "rev-parse", "refs/heads/env/staging-next"]);
    let options = MergeOptions { expected_head: Some(source_head.clone()), promotion: Some("staging-1".into()) };
    let sha = provider.merge(&first.reference(), &options).await.unwrap();
    assert_eq!(sha, source_head, "a fast-forward");
    assert_eq!(git(dir.path(), &["--git-dir", "origin.git", "rev-parse", "refs/heads/env/staging"]), sha);
    let merged = provider.get(&first.reference()).await.unwrap();
    assert_eq!(merged.state, PullRequestState::Merged);
    assert_eq!(merged.merge_commit.as_deref(), Some(sha.as_str()));
    assert_eq!(merged.head_sha.as_deref(), Some(source_head.as_str()));
    assert_eq!(provider.merge(&first.reference(), &options).await.unwrap(), sha, "merging again is a no-op");
    let error = provider.close(&first.reference()).await.unwrap_err();
    assert!(matches!(error, ScmError::WrongState { .. }), "{error}");

    // The first is merged, so the next promotion over the same branches gets a new object.
    let next = provider.open_pull_request(&request("Promote v3")).await.unwrap();
    assert_eq!(next.id, format!("pr-{key}-2"));
    let closed = provider.close(&next.reference()).await.unwrap();
    assert_eq!(closed.state, PullRequestState::Closed);
    let object = objects.get(&next.id).await.unwrap();
    assert!(object.spec.close);
    let error = provider.merge(&next.reference(), &MergeOptions::default()).await.unwrap_err();
    assert!(matches!(error, ScmError::WrongState { state: PullRequestState::Closed, .. }), "{error}");
    assert_eq!(provider.find_open(&url, "env/staging-next", "env/staging").await.unwrap(), None);

    running.stop().await;
}
