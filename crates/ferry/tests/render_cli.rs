//! `ferry render`: offline rendering of a local directory through the real
//! binary, with the same detection and tools as the controller.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs;
use std::path::Path;
use std::process::Command;

fn ferry(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.args(args).current_dir(cwd);
    // The pinned kubectl, when the test environment names one.
    if let Some(kubectl) = std::env::var_os("FERRY_TEST_KUBECTL") {
        command.env("FERRY_KUBECTL", kubectl);
    }
    let out = command.output().expect("run ferry");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(root: &Path, file: &str, content: &str) {
    let path = root.join(file);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A repository (a `.git` directory is all the root discovery needs) with a
/// base, an overlay and a plain directory app.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join(".git")).unwrap();
    write(root, "base/kustomization.yaml", "resources:\n  - deployment.yaml\n  - config.yaml\n");
    write(
        root,
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    );
    write(
        root,
        "base/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n",
    );
    write(root, "overlays/prod/kustomization.yaml", "resources:\n  - ../../base\nnamePrefix: prod-\n");
    write(root, "plain/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n");
    write(root, "plain/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    dir
}

const EXPECTED_PROD: &str = "---
apiVersion: v1
data:
  level: info
kind: ConfigMap
metadata:
  name: prod-settings
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prod-web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - image: nginx:1.25
        name: web
";

#[test]
fn renders_an_overlay_found_from_the_repository_root() {
    let repo = repo();
    // Run from inside the overlay: the root is found by walking up to `.git`.
    let (code, out, err) = ferry(&["render", "."], &repo.path().join("overlays/prod"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, EXPECTED_PROD);
    // Same output from the root, and again (deterministic).
    let (code, again, err) = ferry(&["render", "overlays/prod"], repo.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, out);
}

#[test]
fn overrides_from_flags_are_applied() {
    let repo = repo();
    let (code, out, err) = ferry(
        &[
            "render",
            "overlays/prod",
            "--kustomize-image",
            "nginx:1.27",
            "--kustomize-name-prefix",
            "team-",
            "--kustomize-replicas",
            "web=3",
            "--kustomize-common-label",
            "env=prod",
            "-o",
            "json",
        ],
        repo.path(),
    );
    assert_eq!(code, 0, "{err}");
    let objects: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let web = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(web["metadata"]["name"], "team-prod-web");
    assert_eq!(web["metadata"]["labels"]["env"], "prod");
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    // The checkout is untouched: no generated files appear in it.
    let mut names: Vec<String> = fs::read_dir(repo.path().join("overlays/prod"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["kustomization.yaml"]);
}

#[test]
fn a_plain_directory_renders_in_file_order() {
    let repo = repo();
    let (code, out, err) = ferry(&["render", "plain", "--repo-root", "."], repo.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"
    );
}

#[test]
fn errors_are_clear_and_fail_the_command() {
    let repo = repo();
    write(repo.path(), "broken/kustomization.yaml", "resources:\n  - missing.yaml\n");
    let (code, out, err) = ferry(&["render", "broken"], repo.path());
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("cannot render broken") && err.contains("missing.yaml"), "{err}");

    let outside = tempfile::tempdir().unwrap();
    let (code, _, err) = ferry(&["render", outside.path().to_str().unwrap(), "--repo-root", "."], repo.path());
    assert_eq!(code, 1);
    assert!(err.contains("is not inside the repository root"), "{err}");

    let (code, _, err) = ferry(&["render", "plain", "--kustomize-replicas", "web"], repo.path());
    assert_eq!(code, 1);
    assert!(err.contains("expected KEY=VALUE"), "{err}");
}
