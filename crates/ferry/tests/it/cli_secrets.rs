//! `ferry cluster add|list|rm` and `ferry repo add|list|rm`: the Secrets
//! they write (Argo CD's layout), a stored cluster that kube-rs can use,
//! and credentials that never appear in any output.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use application::secrets::{ClusterSecret, repo_secret_name};
use common::{Out, Server, at, parse_table};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use serde_json::Value;

async fn installed() -> Server {
    let server = Server::start().await;
    server.install_ferry().await;
    server
}

fn decode(secret: &Value, key: &str) -> String {
    use base64::Engine;
    let encoded = secret["data"][key].as_str().unwrap_or_else(|| panic!("no data.{key} in {secret}"));
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64")).expect("utf8")
}

fn assert_not_printed(outs: &[&Out], secret: &str) {
    for out in outs {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{:?} printed a secret: {out:?}",
            out.args
        );
    }
}

#[tokio::test]
async fn cluster_add_stores_a_usable_cluster() {
    let server = installed().await;
    let kubeconfig = server.kubeconfig.to_str().expect("utf8 path");
    let added = server.ferry(&["cluster", "add", "local", "--kubeconfig", kubeconfig]).await.ok();
    assert_eq!(added.stdout, format!("cluster \"local\" added ({})\n", server.url));

    let secret = server.kubectl(&["get", "secret", "cluster-local", "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(at(&secret, "/metadata/labels/ferry.dev~1secret-type"), "cluster");
    assert_eq!(decode(&secret, "name"), "local");
    assert_eq!(decode(&secret, "server"), server.url);
    let config: Value = serde_json::from_str(&decode(&secret, "config")).expect("config json");
    assert_eq!(config["bearerToken"], server.token.as_str());
    assert_eq!(config["tlsClientConfig"]["insecure"], false);
    assert!(config["tlsClientConfig"]["caData"].is_string(), "{config}");

    // The round trip: the stored Secret, read the controller's way, lets
    // kube-rs list namespaces.
    let secrets: Api<Secret> = Api::namespaced(server.client().await, "ferry");
    let stored = ClusterSecret::from_secret(&secrets.get("cluster-local").await.expect("get secret")).expect("parse");
    let client = kube::Client::try_from(stored.kube_config().expect("kube config")).expect("client");
    let namespaces = Api::<Namespace>::all(client).list(&Default::default()).await.expect("list namespaces");
    assert!(namespaces.items.iter().any(|n| n.metadata.name.as_deref() == Some("ferry")));

    let list = server.ferry(&["cluster", "list"]).await.ok();
    let rows = parse_table(&list.stdout);
    let pairs: Vec<(&str, &str)> = rows.iter().map(|r| (r["NAME"].as_str(), r["SERVER"].as_str())).collect();
    assert_eq!(pairs, [("in-cluster", "https://kubernetes.default.svc"), ("local", server.url.as_str())]);
    let json = server.ferry(&["cluster", "list", "-o", "json"]).await.ok();
    assert_eq!(json.json()[1], serde_json::json!({ "name": "local", "server": server.url }));

    let dup = server.ferry(&["cluster", "add", "local", "--kubeconfig", kubeconfig]).await.fails();
    assert!(dup.stderr.starts_with("error: cluster \"local\" already exists"), "{}", dup.stderr);
    let upsert = server
        .ferry(&[
            "cluster",
            "add",
            "local",
            "--kubeconfig",
            kubeconfig,
            "--server",
            "https://10.0.0.1:6443",
            "--upsert",
        ])
        .await
        .ok();
    assert_eq!(
        decode(
            &server.kubectl(&["get", "secret", "cluster-local", "-n", "ferry", "-o", "json"]).await.ok().json(),
            "server"
        ),
        "https://10.0.0.1:6443"
    );
    assert_not_printed(&[&added, &list, &json, &dup, &upsert], &server.token);

    let builtin = server.ferry(&["cluster", "rm", "in-cluster"]).await.fails();
    assert!(builtin.stderr.contains("built in"), "{}", builtin.stderr);
    let rm = server.ferry(&["cluster", "rm", "local"]).await.ok();
    assert_eq!(rm.stdout, "cluster \"local\" removed\n");
    let again = server.ferry(&["cluster", "rm", "local"]).await.fails();
    assert_eq!(again.stderr, "error: cluster \"local\" not found\n");
    let list = server.ferry(&["cluster", "list"]).await.ok();
    assert_eq!(parse_table(&list.stdout).len(), 1, "{}", list.stdout);
}

#[tokio::test]
async fn cluster_add_refuses_what_a_secret_cannot_hold() {
    let server = installed().await;
    let exec = server.dirs.root().join("exec.yaml");
    std::fs::write(
        &exec,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: get-token\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
            server.url
        ),
    )
    .expect("write kubeconfig");
    let out = server.ferry(&["cluster", "add", "eks", "--kubeconfig", exec.to_str().expect("utf8")]).await.fails();
    assert_eq!(out.stderr, "error: exec credential plugins are not supported; use a token or client certificate\n");
    let kubeconfig = server.kubeconfig.to_str().expect("utf8");
    let ctx = server.ferry(&["cluster", "add", "x", "--kubeconfig", kubeconfig, "--context", "nope"]).await.fails();
    assert!(ctx.stderr.contains("context \"nope\" not found"), "{}", ctx.stderr);
    let name = server.ferry(&["cluster", "add", "in-cluster", "--kubeconfig", kubeconfig]).await.fails();
    assert!(name.stderr.contains("built-in name"), "{}", name.stderr);
}

#[tokio::test]
async fn repo_add_list_rm_never_print_secrets() {
    let server = installed().await;
    let url = "https://git.example.com/org/app.git";
    let added = server
        .ferry_with(
            &["repo", "add", url, "--username", "bob", "--password-stdin", "--insecure-ignore-host-key"],
            Some("s3cret-pw\n"),
        )
        .await
        .ok();
    assert_eq!(added.stdout, format!("repository \"{url}\" added\n"));
    let key_file = server.dirs.root().join("id_ed25519");
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END OPENSSH PRIVATE KEY-----\n";
    std::fs::write(&key_file, key).expect("key file");
    let ssh = server
        .ferry(&[
            "repo",
            "add",
            "ssh://git@git.example.com/org/infra.git",
            "--ssh-private-key-path",
            key_file.to_str().expect("utf8"),
        ])
        .await
        .ok();

    let name = repo_secret_name(url);
    let secret = server.kubectl(&["get", "secret", &name, "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(at(&secret, "/metadata/labels/ferry.dev~1secret-type"), "repository");
    assert_eq!(decode(&secret, "url"), url);
    assert_eq!(decode(&secret, "username"), "bob");
    assert_eq!(decode(&secret, "password"), "s3cret-pw");
    assert_eq!(decode(&secret, "insecure"), "true");
    assert_eq!(decode(&secret, "type"), "git");
    let ssh_secret = server
        .kubectl(&[
            "get",
            "secret",
            &repo_secret_name("ssh://git@git.example.com/org/infra"),
            "-n",
            "ferry",
            "-o",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(decode(&ssh_secret, "sshPrivateKey"), key);

    let list = server.ferry(&["repo", "list"]).await.ok();
    let rows = parse_table(&list.stdout);
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    let https = rows.iter().find(|r| r["URL"] == url).expect("https row");
    assert_eq!(
        (https["USERNAME"].as_str(), https["HAS-PASSWORD"].as_str(), https["HAS-SSH-KEY"].as_str()),
        ("bob", "true", "false")
    );
    let ssh_row = rows.iter().find(|r| r["URL"].starts_with("ssh://")).expect("ssh row");
    assert_eq!(ssh_row["HAS-SSH-KEY"], "true");
    let json = server.ferry(&["repo", "list", "-o", "json"]).await.ok();
    let yaml = server.ferry(&["repo", "list", "-o", "yaml"]).await.ok();
    assert_eq!(json.json().as_array().map(Vec::len), Some(2));

    let dup = server.ferry(&["repo", "add", url, "--username", "bob", "--password", "other-pw"]).await.fails();
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    let no_user = server.ferry(&["repo", "add", "https://x.example.com/r", "--password", "lonely-pw"]).await.fails();
    assert!(no_user.stderr.contains("--username"), "{}", no_user.stderr);
    let bad_url = server.ferry(&["repo", "add", "not a url"]).await.fails();
    assert!(bad_url.stderr.contains("invalid repository URL"), "{}", bad_url.stderr);

    // The same repository spelled differently is found by its normalized URL.
    let rm = server.ferry(&["repo", "rm", "https://git.example.com/org/app/"]).await.ok();
    assert!(rm.stdout.contains("removed"), "{}", rm.stdout);
    let again = server.ferry(&["repo", "rm", url]).await.fails();
    assert_eq!(again.stderr, format!("error: repository \"{url}\" not found\n"));

    let outs = [&added, &ssh, &list, &json, &yaml, &dup, &no_user, &bad_url, &rm, &again];
    for secret in ["s3cret-pw", "other-pw", "lonely-pw", "c2VjcmV0LWtleS1ieXRlcw"] {
        assert_not_printed(&outs, secret);
    }
}
