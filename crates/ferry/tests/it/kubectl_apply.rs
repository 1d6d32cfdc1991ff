//! kubectl 1.32 writes: create, apply (client-side and server-side), diff,
//! patch of every type, label, annotate, scale, edit and replace, all with
//! kubectl's default validation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use common::{DEADLINE, Server, at, deployment_yaml, eventually};
use serde_json::{Value, json};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn configmap_yaml(name: &str, data: &[(&str, &str)], labels: &[(&str, &str)]) -> String {
    let mut y = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    if !labels.is_empty() {
        y.push_str("  labels:\n");
        for (k, v) in labels {
            y.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    y.push_str("data:\n");
    for (k, v) in data {
        y.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    y
}

#[tokio::test]
async fn client_side_apply_creates_updates_and_prunes_fields() {
    let server = Server::start().await;
    let v1 = configmap_yaml("app", &[("a", "1"), ("b", "2")], &[("keep", "yes"), ("drop", "yes")]);
    let out = server.kubectl_stdin(&["apply", "-f", "-"], &v1).await.ok();
    assert!(out.stdout.contains("configmap/app created"), "{}", out.stdout);
    let got = server.kubectl(&["get", "cm", "app", "-o", "json"]).await.ok().json();
    let last: Value =
        serde_json::from_str(got["metadata"]["annotations"][LAST_APPLIED].as_str().expect("last-applied annotation"))
            .expect("last-applied is JSON");
    assert_eq!(last["data"]["b"], "2");

    // Another writer adds a label that apply does not manage: it must
    // survive the three-way merge.
    server.kubectl(&["label", "cm", "app", "other=kept"]).await.ok();

    let v2 = configmap_yaml("app", &[("a", "10"), ("c", "3")], &[("keep", "yes")]);
    let out = server.kubectl_stdin(&["apply", "-f", "-"], &v2).await.ok();
    assert!(out.stdout.contains("configmap/app configured"), "{}", out.stdout);
    let got = server.kubectl(&["get", "cm", "app", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"], json!({"a": "10", "c": "3"}), "{got}");
    assert_eq!(got["metadata"]["labels"]["keep"], "yes");
    assert!(got["metadata"]["labels"]["drop"].is_null(), "removed from the manifest, so pruned: {got}");
    assert_eq!(got["metadata"]["labels"]["other"], "kept", "{got}");

    let out = server.kubectl_stdin(&["apply", "-f", "-"], &v2).await.ok();
    assert!(out.stdout.contains("configmap/app unchanged"), "{}", out.stdout);
    let again = server.kubectl(&["get", "cm", "app", "-o", "json"]).await.ok().json();
    assert_eq!(
        again["metadata"]["resourceVersion"], got["metadata"]["resourceVersion"],
        "unchanged apply writes nothing"
    );
}

#[tokio::test]
async fn client_side_apply_of_a_deployment_merges_containers_by_name() {
    let server = Server::start().await;
    let two = deployment_yaml("web", 1, "nginx:1.27").replace(
        "      - name: main\n        image: nginx:1.27\n",
        "      - name: main\n        image: nginx:1.27\n      - name: sidecar\n        image: busybox:1\n",
    );
    server.kubectl_stdin(&["apply", "-f", "-"], &two).await.ok();
    let changed = two.replace("nginx:1.27", "nginx:1.28").replace("replicas: 1", "replicas: 2");
    server.kubectl_stdin(&["apply", "-f", "-"], &changed).await.ok();
    let got = server.kubectl(&["get", "deploy", "web", "-o", "json"]).await.ok().json();
    assert_eq!(got["spec"]["replicas"], 2);
    let containers = got["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{got}");
    assert_eq!(containers[0]["name"], "main");
    assert_eq!(containers[0]["image"], "nginx:1.28");
    assert_eq!(containers[1]["image"], "busybox:1");
    // Defaults the server fills in stay.
    assert!(got["spec"]["strategy"]["type"].is_string(), "{got}");

    let no_sidecar = changed.replace("      - name: sidecar\n        image: busybox:1\n", "");
    server.kubectl_stdin(&["apply", "-f", "-"], &no_sidecar).await.ok();
    let got = server.kubectl(&["get", "deploy", "web", "-o", "json"]).await.ok().json();
    let containers = got["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "sidecar removed from the manifest is deleted: {got}");
    assert_eq!(containers[0]["name"], "main");
}

#[tokio::test]
async fn apply_validation_rejects_unknown_fields() {
    let server = Server::start().await;
    let bad = deployment_yaml("typo", 1, "nginx").replace("  replicas: 1\n", "  replicas: 1\n  replicaz: 2\n");
    let out = server.kubectl_stdin(&["apply", "-f", "-"], &bad).await.fails();
    assert!(out.stderr.contains("replicaz"), "the error names the unknown field: {}", out.stderr);
    server.kubectl(&["get", "deploy", "typo"]).await.fails();

    let out = server.kubectl_stdin(&["create", "-f", "-"], &bad).await.fails();
    assert!(out.stderr.contains("replicaz"), "{}", out.stderr);

    // Ignoring validation drops the unknown field, as Kubernetes does.
    server.kubectl_stdin(&["apply", "--validate=false", "-f", "-"], &bad).await.ok();
    let got = server.kubectl(&["get", "deploy", "typo", "-o", "json"]).await.ok().json();
    assert!(got["spec"]["replicaz"].is_null(), "{got}");
    assert_eq!(got["spec"]["replicas"], 1);
}

#[tokio::test]
async fn server_side_apply_conflicts_force_and_field_removal() {
    let server = Server::start().await;
    let mine = configmap_yaml("ssa", &[("owned", "by-kubectl"), ("extra", "x")], &[]);
    server.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &mine).await.ok();
    let got = server.kubectl(&["get", "cm", "ssa", "-o", "json", "--show-managed-fields"]).await.ok().json();
    let managers: Vec<&str> = got["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");

    let theirs = configmap_yaml("ssa", &[("owned", "by-other")], &[]);
    let out =
        server.kubectl_stdin(&["apply", "--server-side", "--field-manager=other", "-f", "-"], &theirs).await.fails();
    assert!(out.stderr.to_lowercase().contains("conflict"), "{}", out.stderr);
    assert!(out.stderr.contains("data.owned") || out.stderr.contains(".data.owned"), "names the field: {}", out.stderr);
    let unchanged = server.kubectl(&["get", "cm", "ssa", "-o", "jsonpath={.data.owned}"]).await.ok();
    assert_eq!(unchanged.stdout, "by-kubectl", "a conflicting apply writes nothing");

    server
        .kubectl_stdin(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"], &theirs)
        .await
        .ok();
    let got = server.kubectl(&["get", "cm", "ssa", "-o", "json", "--show-managed-fields"]).await.ok().json();
    assert_eq!(got["data"]["owned"], "by-other");
    let other = got["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "other")
        .unwrap_or_else(|| panic!("no entry for manager other: {got}"));
    assert_eq!(other["operation"], "Apply");
    assert!(other["fieldsV1"]["f:data"]["f:owned"].is_object(), "other owns data.owned: {other}");

    // kubectl stops applying `extra`: nobody else owns it, so it goes.
    let fewer = common::cm_yaml("ssa", None, &[], &[]);
    server.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &fewer).await.ok();
    let got = server.kubectl(&["get", "cm", "ssa", "-o", "json"]).await.ok().json();
    assert!(got["data"]["extra"].is_null(), "field no longer applied is removed: {got}");
    assert_eq!(got["data"]["owned"], "by-other", "field owned by another manager stays: {got}");
}

#[tokio::test]
async fn diff_and_server_side_diff_exit_codes() {
    let server = Server::start().await;
    let v1 = configmap_yaml("d", &[("k", "one")], &[]);
    // Against nothing: a diff exists.
    let out = server.kubectl_stdin(&["diff", "-f", "-"], &v1).await;
    assert_eq!(out.code, 1, "diff of a new object exits 1: {out:?}");
    assert!(out.stdout.contains("+  k: one"), "{}", out.stdout);
    server.kubectl(&["get", "cm", "d"]).await.fails();

    server.kubectl_stdin(&["apply", "-f", "-"], &v1).await.ok();
    let same = server.kubectl_stdin(&["diff", "-f", "-"], &v1).await;
    assert_eq!(same.code, 0, "no diff after apply: {same:?}");
    assert!(same.stdout.is_empty(), "{}", same.stdout);

    let v2 = configmap_yaml("d", &[("k", "two")], &[]);
    let changed = server.kubectl_stdin(&["diff", "-f", "-"], &v2).await;
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(changed.stdout.contains("-  k: one") && changed.stdout.contains("+  k: two"), "{}", changed.stdout);
    let live = server.kubectl(&["get", "cm", "d", "-o", "jsonpath={.data.k}"]).await.ok();
    assert_eq!(live.stdout, "one", "diff is a dry run");

    server.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &configmap_yaml("s", &[("k", "one")], &[])).await.ok();
    let same =
        server.kubectl_stdin(&["diff", "--server-side", "-f", "-"], &configmap_yaml("s", &[("k", "one")], &[])).await;
    assert_eq!(same.code, 0, "{same:?}");
    let changed =
        server.kubectl_stdin(&["diff", "--server-side", "-f", "-"], &configmap_yaml("s", &[("k", "two")], &[])).await;
    assert_eq!(changed.code, 1, "{changed:?}");
    assert!(changed.stdout.contains("+  k: two"), "{}", changed.stdout);
    let live = server.kubectl(&["get", "cm", "s", "-o", "jsonpath={.data.k}"]).await.ok();
    assert_eq!(live.stdout, "one", "server-side diff is a dry run");
}

#[tokio::test]
async fn patch_merge_json_and_strategic() {
    let server = Server::start().await;
    server.apply(&configmap_yaml("p", &[("a", "1"), ("b", "2")], &[])).await;

    server
        .kubectl(&["patch", "cm", "p", "--type", "merge", "-p", r#"{"data":{"a":"10","b":null,"c":"3"}}"#])
        .await
        .ok();
    let got = server.kubectl(&["get", "cm", "p", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"], json!({"a": "10", "c": "3"}));

    server
        .kubectl(&[
            "patch",
            "cm",
            "p",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/data/d","value":"4"},{"op":"remove","path":"/data/a"},{"op":"replace","path":"/data/c","value":"30"}]"#,
        ])
        .await
        .ok();
    let got = server.kubectl(&["get", "cm", "p", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"], json!({"c": "30", "d": "4"}));

    let failed_test = server
        .kubectl(&[
            "patch",
            "cm",
            "p",
            "--type",
            "json",
            "-p",
            r#"[{"op":"test","path":"/data/c","value":"nope"},{"op":"remove","path":"/data/d"}]"#,
        ])
        .await
        .fails();
    assert!(!failed_test.stderr.is_empty());
    let got = server.kubectl(&["get", "cm", "p", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"], json!({"c": "30", "d": "4"}), "a failed JSON patch writes nothing");

    let two = deployment_yaml("sp", 1, "nginx:1").replace(
        "      - name: main\n        image: nginx:1\n",
        "      - name: main\n        image: nginx:1\n      - name: side\n        image: busybox:1\n",
    );
    server.kubectl_stdin(&["create", "-f", "-"], &two).await.ok();
    // Strategic merge by container name: only `main` changes.
    server
        .kubectl(&[
            "patch",
            "deploy",
            "sp",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:2"}]}}}}"#,
        ])
        .await
        .ok();
    let got = server.kubectl(&["get", "deploy", "sp", "-o", "json"]).await.ok().json();
    let containers = got["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{got}");
    assert_eq!(containers[0]["image"], "nginx:2");
    assert_eq!(containers[1]["image"], "busybox:1");

    server
        .kubectl(&[
            "patch",
            "deploy",
            "sp",
            "--type",
            "strategic",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}"#,
        ])
        .await
        .ok();
    let got = server.kubectl(&["get", "deploy", "sp", "-o", "json"]).await.ok().json();
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["main"]);

    // A merge patch on the same list replaces it whole.
    server
        .kubectl(&[
            "patch",
            "deploy",
            "sp",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"other","image":"redis:7"}]}}}}"#,
        ])
        .await
        .ok();
    let got = server.kubectl(&["get", "deploy", "sp", "-o", "json"]).await.ok().json();
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["other"]);
}

#[tokio::test]
async fn label_annotate_and_scale() {
    let server = Server::start().await;
    server.kubectl_stdin(&["create", "-f", "-"], &deployment_yaml("sc", 1, "nginx")).await.ok();
    server.kubectl(&["label", "deploy", "sc", "team=blue"]).await.ok();
    let clash = server.kubectl(&["label", "deploy", "sc", "team=red"]).await.fails();
    assert!(clash.stderr.contains("overwrite"), "{}", clash.stderr);
    server.kubectl(&["label", "deploy", "sc", "team=red", "--overwrite"]).await.ok();
    server.kubectl(&["annotate", "deploy", "sc", "note=hello world"]).await.ok();
    let got = server.kubectl(&["get", "deploy", "sc", "-o", "json"]).await.ok().json();
    assert_eq!(got["metadata"]["labels"]["team"], "red");
    assert_eq!(got["metadata"]["annotations"]["note"], "hello world");
    server.kubectl(&["label", "deploy", "sc", "team-"]).await.ok();
    server.kubectl(&["annotate", "deploy", "sc", "note-"]).await.ok();
    let got = server.kubectl(&["get", "deploy", "sc", "-o", "json"]).await.ok().json();
    assert!(got["metadata"]["labels"]["team"].is_null(), "{got}");
    assert!(got["metadata"]["annotations"]["note"].is_null(), "{got}");

    server.kubectl(&["scale", "deploy", "sc", "--replicas=3"]).await.ok();
    let spec = server.kubectl(&["get", "deploy", "sc", "-o", "jsonpath={.spec.replicas}"]).await.ok();
    assert_eq!(spec.stdout, "3");
    eventually("3 ready replicas", DEADLINE, || async {
        let got = server.kubectl(&["get", "deploy", "sc", "-o", "json"]).await.ok().json();
        if got["status"]["readyReplicas"] == 3 && got["status"]["updatedReplicas"] == 3 {
            Ok(())
        } else {
            Err(got["status"].to_string())
        }
    })
    .await;
    let pods = server.kubectl(&["get", "pods", "-l", "app=sc", "-o", "name"]).await.ok();
    assert_eq!(pods.stdout.lines().count(), 3, "{}", pods.stdout);

    let stale = server.kubectl(&["scale", "deploy", "sc", "--replicas=1", "--current-replicas=2"]).await.fails();
    assert!(!stale.stderr.is_empty());
    server.kubectl(&["scale", "deploy", "sc", "--replicas=1", "--current-replicas=3"]).await.ok();
    eventually("scaled down to 1 pod", DEADLINE, || async {
        let pods = server.kubectl(&["get", "pods", "-l", "app=sc", "-o", "name"]).await.ok();
        if pods.stdout.lines().count() == 1 { Ok(()) } else { Err(pods.stdout) }
    })
    .await;
}

#[tokio::test]
async fn edit_with_a_scripted_editor() {
    let server = Server::start().await;
    server.apply(&configmap_yaml("ed", &[("mood", "calm")], &[])).await;
    let script = server.dirs.root().join("editor.sh");
    std::fs::write(&script, "#!/bin/sh\nsed -i 's/mood: calm/mood: excited/' \"$1\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let editor = script.to_str().unwrap();
    let out = server
        .kubectl_with(&["edit", "configmap", "ed"], None, &[("EDITOR", editor), ("KUBE_EDITOR", editor)])
        .await
        .ok();
    assert!(out.stdout.contains("edited"), "{}", out.stdout);
    let got = server.kubectl(&["get", "cm", "ed", "-o", "jsonpath={.data.mood}"]).await.ok();
    assert_eq!(got.stdout, "excited");

    // An editor that changes nothing: kubectl says so and writes nothing.
    let rv = server.kubectl(&["get", "cm", "ed", "-o", "jsonpath={.metadata.resourceVersion}"]).await.ok().stdout;
    let out = server
        .kubectl_with(&["edit", "configmap", "ed"], None, &[("EDITOR", "true"), ("KUBE_EDITOR", "true")])
        .await
        .ok();
    assert!(
        out.stderr.contains("no changes") || out.stdout.contains("no changes") || out.stderr.contains("cancelled"),
        "{out:?}"
    );
    let rv2 = server.kubectl(&["get", "cm", "ed", "-o", "jsonpath={.metadata.resourceVersion}"]).await.ok().stdout;
    assert_eq!(rv, rv2);
}

#[tokio::test]
async fn replace_and_stale_replace() {
    let server = Server::start().await;
    server.kubectl_stdin(&["create", "-f", "-"], &configmap_yaml("r", &[("v", "1")], &[])).await.ok();
    let current = server.kubectl(&["get", "cm", "r", "-o", "yaml"]).await.ok().stdout;
    let updated = current.replace("v: \"1\"", "v: \"2\"");
    assert_ne!(updated, current, "yaml has the quoted value:\n{current}");
    server.kubectl_stdin(&["replace", "-f", "-"], &updated).await.ok();
    let got = server.kubectl(&["get", "cm", "r", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"]["v"], "2");

    // `current` carries the old resourceVersion: replacing with it conflicts.
    let stale = current.replace("v: \"1\"", "v: \"3\"");
    let out = server.kubectl_stdin(&["replace", "-f", "-"], &stale).await.fails();
    assert!(out.stderr.contains("Conflict") || out.stderr.contains("modified"), "{}", out.stderr);
    let got = server.kubectl(&["get", "cm", "r", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"]["v"], "2");

    // Without a resourceVersion, replace is unconditional; --force recreates.
    let plain = configmap_yaml("r", &[("v", "4")], &[]);
    server.kubectl_stdin(&["replace", "-f", "-"], &plain).await.ok();
    assert_eq!(server.kubectl(&["get", "cm", "r", "-o", "jsonpath={.data.v}"]).await.ok().stdout, "4");
    let uid = at(&got, "/metadata/uid").clone();
    server.kubectl_stdin(&["replace", "--force", "-f", "-"], &configmap_yaml("r", &[("v", "5")], &[])).await.ok();
    let got = server.kubectl(&["get", "cm", "r", "-o", "json"]).await.ok().json();
    assert_eq!(got["data"]["v"], "5");
    assert_ne!(got["metadata"]["uid"], uid, "--force deletes and recreates");
}

#[tokio::test]
async fn create_from_file_with_many_documents_and_generate_name() {
    let server = Server::start().await;
    let docs = format!(
        "{}---\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\ndata:\n  x: \"z\"\n",
        configmap_yaml("m1", &[("a", "1")], &[]),
        configmap_yaml("m2", &[("a", "2")], &[])
    );
    let out = server.kubectl_stdin(&["create", "-f", "-", "-o", "name"], &docs).await.ok();
    let names: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"configmap/m1") && names.contains(&"configmap/m2"));
    let generated = names.iter().find(|n| n.starts_with("configmap/gen-")).expect("generated name");
    assert!(generated.len() > "configmap/gen-".len(), "{generated}");
    server.kubectl(&["get", generated]).await.ok();
}

#[tokio::test]
async fn apply_a_list_as_kubectl_prints_it() {
    // `kubectl get -o yaml` of many objects prints a `kind: List`; users
    // feed that back to apply.
    let server = Server::start().await;
    server.apply(&configmap_yaml("l1", &[("a", "1")], &[])).await;
    server.apply(&configmap_yaml("l2", &[("a", "2")], &[])).await;
    let listed = server.kubectl(&["get", "configmap", "l1", "l2", "-o", "yaml"]).await.ok();
    assert!(listed.stdout.contains("kind: List"), "{}", listed.stdout);
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}- {}",
        configmap_yaml("l3", &[("a", "3")], &[]).replace('\n', "\n  ").trim_end().to_owned() + "\n",
        configmap_yaml("l4", &[("a", "4")], &[]).replace('\n', "\n  ").trim_end().to_owned() + "\n",
    );
    let out = server.kubectl_stdin(&["apply", "-f", "-"], &list).await.ok();
    assert!(
        out.stdout.contains("configmap/l3 created") && out.stdout.contains("configmap/l4 created"),
        "{}",
        out.stdout
    );
    // Reuse the printed List under new names, without the server-set
    // identity fields.
    let clean: String = listed
        .stdout
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("resourceVersion:")
                && !l.trim_start().starts_with("uid:")
                && !l.trim_start().starts_with("creationTimestamp:")
        })
        .map(|l| l.replace("name: l1", "name: l5").replace("name: l2", "name: l6") + "\n")
        .collect();
    let out = server.kubectl_stdin(&["apply", "-f", "-"], &clean).await.ok();
    assert!(out.stdout.contains("configmap/l5 created"), "{}", out.stdout);
    assert_eq!(server.kubectl(&["get", "cm", "l6", "-o", "jsonpath={.data.a}"]).await.ok().stdout, "2");
}
