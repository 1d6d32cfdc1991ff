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

/// A chart with a values file per environment.
fn write_chart(root: &Path) {
    write(root, "chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
    write(root, "chart/values.yaml", "replicas: 1\nlevel: info\n");
    write(root, "chart/values-prod.yaml", "replicas: 3\n");
    write(
        root,
        "chart/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n  namespace: {{ .Release.Namespace }}\ndata:\n  level: {{ .Values.level | quote }}\n  replicas: {{ .Values.replicas | quote }}\n",
    );
}

#[test]
fn a_helm_chart_renders_with_values_files_and_set_flags() {
    let repo = repo();
    write_chart(repo.path());
    let (code, out, err) = ferry(
        &[
            "render",
            "chart",
            "--helm-values",
            "values-prod.yaml",
            "--helm-set",
            "level=debug",
            "--app-name",
            "shop",
            "--dest-namespace",
            "prod",
        ],
        repo.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-settings\n  namespace: prod\ndata:\n  level: debug\n  replicas: \"3\"\n"
    );
    // A values file that is not there is an error naming it.
    let (code, _, err) = ferry(&["render", "chart", "--helm-values", "values-staging.yaml"], repo.path());
    assert_eq!(code, 1);
    assert!(err.contains("values-staging.yaml"), "{err}");
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

// ---- Committed revisions and the hydrated diff, on real git repositories ----

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=ferry test", "-c", "user.email=test@ferry.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

const SETTINGS_V1: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: info\n  mode: fast\n";
const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2\n";
const EXTRA: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: prod\ndata:\n  size: \"1\"\n";

/// A git repository with two commits of `app/`: the first has a ConfigMap
/// and a Secret; the second changes one ConfigMap value and adds a
/// ConfigMap. Also a kustomize overlay (as in `repo()`), in the first commit.
fn git_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    write(root, "app/settings.yaml", SETTINGS_V1);
    write(root, "app/secret.yaml", SECRET);
    write(root, "base/kustomization.yaml", "resources:\n  - deployment.yaml\n  - config.yaml\n");
    let fixture = repo();
    for file in ["base/deployment.yaml", "base/config.yaml", "overlays/prod/kustomization.yaml"] {
        write(root, file, &fs::read_to_string(fixture.path().join(file)).unwrap());
    }
    commit(root, "first");
    write(root, "app/settings.yaml", &SETTINGS_V1.replace("level: info", "level: warn"));
    write(root, "app/extra.yaml", EXTRA);
    commit(root, "second");
    dir
}

const FIRST_APP: &str = "---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: info
  mode: fast
";

fn second_app() -> String {
    format!("---\n{}---\n{}---\n{}", EXTRA, SECRET, SETTINGS_V1.replace("level: info", "level: warn"))
}

#[test]
fn a_revision_of_the_local_repository_prints_that_commits_manifests() {
    let repo = git_repo();
    // An uncommitted edit is not part of any revision.
    write(repo.path(), "app/settings.yaml", &SETTINGS_V1.replace("level: info", "level: error"));

    let (code, out, err) = ferry(&["render", "app", "--revision", "HEAD~1"], repo.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, FIRST_APP);
    let (code, again, err) = ferry(&["render", "app", "--revision", "HEAD~1"], repo.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, out, "same revision, same bytes");

    let (code, out, err) = ferry(&["render", ".", "--revision", "main"], &repo.path().join("app"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, second_app());

    // Without --revision: the working tree, edit included.
    let (code, out, err) = ferry(&["render", "app"], repo.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("level: error"), "{out}");
}

#[test]
fn a_kustomize_overlay_renders_at_a_revision() {
    let repo = git_repo();
    // The snapshot is read-only: the overrides still go through a scratch copy.
    let (code, out, err) =
        ferry(&["render", "overlays/prod", "--revision", "HEAD~1", "--kustomize-name-prefix", "team-"], repo.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, EXPECTED_PROD.replace("name: prod-", "name: team-prod-"));
}

#[test]
fn a_repository_url_and_branch_render_from_outside_the_checkout() {
    let repo = git_repo();
    let url = format!("file://{}", repo.path().display());
    let elsewhere = tempfile::tempdir().unwrap();

    let (code, out, err) = ferry(&["render", "app", "--repo", &url, "--revision", "main"], elsewhere.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, second_app());
    // The default branch when no revision is given; a tag-less older commit by full SHA.
    let (code, default, err) = ferry(&["render", "./app/", "--repo", &url], elsewhere.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(default, out);
    let sha = String::from_utf8(
        Command::new("git").args(["rev-parse", "HEAD~1"]).current_dir(repo.path()).output().unwrap().stdout,
    )
    .unwrap();
    let (code, first, err) = ferry(&["render", "app", "--repo", &url, "--revision", sha.trim()], elsewhere.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(first, FIRST_APP);

    let (code, _, err) = ferry(&["render", "/app", "--repo", &url], elsewhere.path());
    assert_eq!(code, 1);
    assert!(err.contains("inside the repository"), "{err}");
}

/// Resources come in (group, kind, namespace, name) order; a change shows
/// three lines of context.
const DIFF_SECOND: &str = "--- ConfigMap settings (HEAD~1)
+++ ConfigMap settings (working tree)
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  level: info
+  level: warn
   mode: fast
 kind: ConfigMap
 metadata:
--- /dev/null
+++ ConfigMap prod/extra (working tree)
@@ -0,0 +1,7 @@
+apiVersion: v1
+data:
+  size: \"1\"
+kind: ConfigMap
+metadata:
+  name: extra
+  namespace: prod
";

#[test]
fn diff_against_a_revision_prints_exactly_the_changes_and_exits_1() {
    let repo = git_repo();
    let (code, out, err) = ferry(&["render", "app", "--diff-against", "HEAD~1"], repo.path());
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, DIFF_SECOND);
    assert_eq!(err, "", "differences are not an error");
    let (code, again, _) = ferry(&["render", "app", "--diff-against", "HEAD~1"], repo.path());
    assert_eq!(code, 1);
    assert_eq!(again, out, "same inputs, same bytes");

    // Between two revisions, named on the new side by --revision.
    let (code, out, err) = ferry(&["render", "app", "--revision", "main", "--diff-against", "HEAD~1"], repo.path());
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, DIFF_SECOND.replace("(working tree)", "(main)"));
}

#[test]
fn no_differences_exit_0_and_print_nothing() {
    let repo = git_repo();
    let (code, out, err) = ferry(&["render", "app", "--diff-against", "HEAD"], repo.path());
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    // Key order and `stringData` against `data` are not differences.
    write(
        repo.path(),
        "app/secret.yaml",
        "kind: Secret\napiVersion: v1\ndata:\n  password: aHVudGVyMg==\nmetadata:\n  name: creds\n",
    );
    let (code, out, err) = ferry(&["render", "app", "--diff-against", "HEAD"], repo.path());
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn removed_resources_and_fields_are_differences() {
    let repo = git_repo();
    fs::remove_file(repo.path().join("app/extra.yaml")).unwrap();
    write(
        repo.path(),
        "app/settings.yaml",
        &SETTINGS_V1.replace("level: info", "level: warn").replace("  mode: fast\n", ""),
    );
    let (code, out, err) = ferry(&["render", "app", "--diff-against", "HEAD"], repo.path());
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        "--- ConfigMap settings (HEAD)
+++ ConfigMap settings (working tree)
@@ -1,7 +1,6 @@
 apiVersion: v1
 data:
   level: warn
-  mode: fast
 kind: ConfigMap
 metadata:
   name: settings
--- ConfigMap prod/extra (HEAD)
+++ /dev/null
@@ -1,7 +0,0 @@
-apiVersion: v1
-data:
-  size: \"1\"
-kind: ConfigMap
-metadata:
-  name: extra
-  namespace: prod
"
    );
}

#[test]
fn an_app_new_in_the_working_tree_is_all_additions() {
    let repo = git_repo();
    write(repo.path(), "fresh/extra.yaml", EXTRA);
    let (code, out, err) = ferry(&["render", "fresh", "--diff-against", "HEAD"], repo.path());
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("--- /dev/null\n+++ ConfigMap prod/extra (working tree)\n"), "{out}");
}

#[test]
fn a_secret_change_shows_no_secret_values() {
    let repo = git_repo();
    write(repo.path(), "app/secret.yaml", &SECRET.replace("hunter2", "swordfish"));
    write(
        repo.path(),
        "app/token.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\ndata:\n  token: dG9wc2VjcmV0\n",
    );
    let (code, out, err) = ferry(&["render", "app", "--diff-against", "HEAD"], repo.path());
    assert_eq!(code, 1, "{err}");
    for secret in ["hunter2", "swordfish", "aHVudGVyMg", "c3dvcmRmaXNo", "dG9wc2VjcmV0", "topsecret"] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    assert_eq!(
        out,
        "--- Secret creds (HEAD)
+++ Secret creds (working tree)
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  password: --------
+  password: ++++++++
 kind: Secret
 metadata:
   name: creds
--- /dev/null
+++ Secret token (working tree)
@@ -0,0 +1,6 @@
+apiVersion: v1
+data:
+  token: ++++++++
+kind: Secret
+metadata:
+  name: token
"
    );
}

#[test]
fn a_bad_revision_is_a_clear_error() {
    let repo = git_repo();
    let url = format!("file://{}", repo.path().display());
    for args in [
        vec!["render", "app", "--revision", "no-such-branch"],
        vec!["render", "app", "--diff-against", "no-such-branch"],
        vec!["render", "app", "--repo", &url, "--revision", "no-such-branch"],
        vec!["render", "app", "--revision=--upload-pack=touch"],
    ] {
        let (code, out, err) = ferry(&args, repo.path());
        assert_eq!(code, 1, "{args:?}: {out}");
        assert_eq!(out, "", "{args:?}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains("no such branch, tag or commit") || err.contains("invalid revision"), "{args:?}: {err}");
        assert!(err.contains("no-such-branch") || err.contains("--upload-pack"), "{args:?}: {err}");
    }
    // A path that the revision does not have.
    let (code, _, err) = ferry(&["render", "overlays/prod", "--revision", "HEAD"], repo.path());
    assert_eq!(code, 0, "{err}");
    write(repo.path(), "later/a.yaml", EXTRA);
    let (code, _, err) = ferry(&["render", "later", "--revision", "HEAD"], repo.path());
    assert_eq!(code, 1);
    assert!(err.starts_with("error: cannot render later at revision \"HEAD\""), "{err}");
}
