//! End to end through the `ferry` binary with a real controller running:
//! `ferry up --demo` (local cluster + controller in one process) and
//! `ferry controller` against a `ferry cluster serve`, driven by the
//! `ferry app` commands, with git repositories made by the tests.
//!
//! Every wait polls with a deadline; long-running `ferry` processes are
//! killed when a test ends and their logs printed when it fails.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::process::{Env, Process, free_addr, http_get};
use common::{DEADLINE, Server, at, eventually, parse_table};
use serde_json::Value;

const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Runs git in `dir`, which must succeed; returns its standard output.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=ferry test", "-c", "user.email=test@ferry.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Writes `files` into `dir` and commits them; returns the commit SHA.
fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        std::fs::write(&path, content).expect("write file");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A new git repository in `dir` with `files` committed.
fn new_repo(dir: &Path, files: &[(&str, &str)]) -> String {
    std::fs::create_dir_all(dir).expect("repo dir");
    git(dir, &["init", "-q"]);
    commit(dir, files, "initial")
}

fn tracking_id(object: &Value) -> &Value {
    at(object, "/metadata/annotations/ferry.dev~1tracking-id")
}

/// The blocks of a CLI output separated by blank lines, the one whose
/// first line starts with `header`, parsed as a table.
fn table_after(text: &str, header: &str) -> Vec<std::collections::HashMap<String, String>> {
    let block = text.split("\n\n").find(|b| b.trim_start().starts_with(header)).unwrap_or_default();
    parse_table(block)
}

// ---------------------------------------------------------------------------
// ferry up --demo

fn start_up(root: &Path, data: &Path, home: &Path, name: &str) -> Process {
    let listen = free_addr();
    let controller = free_addr();
    let data = data.to_str().expect("utf-8 path");
    Process::spawn(
        name,
        root,
        home,
        &[
            "up",
            "--demo",
            "--data-dir",
            data,
            "--listen",
            &listen,
            "--controller-listen",
            &controller,
            "--poll-interval",
            "1s",
            "--ready-delay-ms",
            "200",
        ],
    )
}

#[tokio::test]
async fn up_demo_syncs_follows_git_and_restarts_cleanly() {
    let root = tempfile::Builder::new().prefix("ferry-up-").tempdir().expect("temp dir");
    let data = root.path().join("data");
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).expect("home");

    let mut up = start_up(root.path(), &data, &home, "up-0");
    let kubeconfig = up.line_after("kubeconfig: ").await;
    assert_eq!(PathBuf::from(kubeconfig.trim()), data.join("kubeconfig"));
    let repo_line = up.line_after("demo: git repository ").await;
    let repo = data.join("demo").join("repo");
    assert!(repo_line.starts_with(&format!("{} ", repo.display())), "{repo_line}");
    let env = Env { kubeconfig: data.join("kubeconfig"), home: home.clone() };

    let waited = env.ferry(&["app", "wait", "guestbook", "--timeout", "60s"]).await.ok();
    assert!(
        waited.stdout.ends_with("application \"guestbook\": Synced, Healthy, no operation running\n"),
        "{}",
        waited.stdout
    );

    // Every object of the app, the PreSync hook included, carries the
    // tracking annotation; the hook Job ran to completion.
    let objects = env
        .get_json(&[
            "-n",
            "demo",
            "deployment/guestbook",
            "service/guestbook",
            "configmap/guestbook-config",
            "job/guestbook-migrate",
        ])
        .await
        .expect("the demo objects exist");
    let items = objects["items"].as_array().expect("a List");
    assert_eq!(items.len(), 4, "{objects}");
    let expected = [
        "guestbook:apps/Deployment:demo/guestbook",
        "guestbook:/Service:demo/guestbook",
        "guestbook:/ConfigMap:demo/guestbook-config",
        "guestbook:batch/Job:demo/guestbook-migrate",
    ];
    for (item, id) in items.iter().zip(expected) {
        assert_eq!(tracking_id(item), id, "{item}");
    }
    let job = &items[3];
    assert_eq!(at(job, "/status/succeeded"), 1, "the PreSync hook completed: {job}");
    assert_eq!(at(&items[0], "/spec/replicas"), 2);

    let head = git(&repo, &["rev-parse", "HEAD"]);
    let app = env.app("guestbook").await;
    assert_eq!(at(&app, "/status/sync/status"), "Synced", "{app}");
    assert_eq!(at(&app, "/status/sync/revision"), head.as_str());
    assert_eq!(at(&app, "/status/health/status"), "Healthy");
    let history = at(&app, "/status/history").as_array().cloned().unwrap_or_default();
    assert_eq!(history.len(), 1, "{app}");
    assert_eq!(history[0]["revision"], head.as_str());

    // A commit is picked up by polling (every second) and auto-synced.
    let deployment = repo.join("apps/guestbook/deployment.yaml");
    let text = std::fs::read_to_string(&deployment).expect("read deployment.yaml");
    assert!(text.contains("replicas: 2"), "{text}");
    let scaled =
        commit(&repo, &[("apps/guestbook/deployment.yaml", &text.replace("replicas: 2", "replicas: 3"))], "scale up");
    eventually("the Deployment to have 3 replicas", DEADLINE, || async {
        let d =
            env.get_json(&["-n", "demo", "deployment/guestbook"]).await.ok_or_else(|| "no deployment".to_owned())?;
        if at(&d, "/spec/replicas") == 3 { Ok(()) } else { Err(at(&d, "/spec/replicas").to_string()) }
    })
    .await;
    eventually("a second history entry for the new commit", DEADLINE, || async {
        let app = env.app("guestbook").await;
        let history = at(&app, "/status/history").as_array().cloned().unwrap_or_default();
        if history.len() == 2 && history[1]["revision"] == scaled.as_str() {
            Ok(())
        } else {
            Err(at(&app, "/status").to_string())
        }
    })
    .await;
    env.ferry(&["app", "wait", "guestbook", "--timeout", "60s"]).await.ok();

    // The demo pipeline: the scale-up commit became freight and was promoted to dev, whose
    // branch now holds the hydrated manifests (the demo's commit history is left as it is).
    eventually("the scale-up promoted to dev", DEADLINE, || async {
        // Not `git()`: the file does not exist before the first promotion.
        let out = Command::new("git")
            .args(["show", "environment/dev:manifest.yaml"])
            .current_dir(&repo)
            .output()
            .expect("run git");
        let hydrated = String::from_utf8_lossy(&out.stdout).into_owned();
        if hydrated.contains("replicas: 3") { Ok(()) } else { Err(hydrated) }
    })
    .await;
    let stages = env.ferry(&["stage", "list", "-o", "json"]).await.ok().json();
    assert_eq!(stages.as_array().map(Vec::len), Some(3), "{stages}");

    // Ctrl-C stops the controller and the cluster cleanly.
    let status = up.stop("INT").await;
    assert!(status.success(), "ferry up exited with {status} after SIGINT; log:\n{}", up.log_tail());
    assert!(!up.log_tail().contains("panicked"), "{}", up.log_tail());

    // Again on the same data directory: the demo repo and app are kept, not
    // recreated or duplicated, and nothing re-syncs.
    let mut again = start_up(root.path(), &data, &home, "up-1");
    again.line_after("demo: git repository ").await;
    env.ferry(&["app", "wait", "guestbook", "--timeout", "60s"]).await.ok();
    let apps = env.ferry(&["app", "list", "-o", "json"]).await.ok().json();
    // guestbook, and one app per stage of the demo pipeline.
    assert_eq!(apps.as_array().map(Vec::len), Some(4), "{apps}");
    let app = apps.as_array().and_then(|a| a.iter().find(|a| a["metadata"]["name"] == "guestbook")).expect("guestbook");
    assert_eq!(at(app, "/status/sync/revision"), scaled.as_str());
    assert_eq!(at(app, "/status/history").as_array().map(Vec::len), Some(2), "{app}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), scaled, "the demo repository is kept as it is");
    let d = env.get_json(&["-n", "demo", "deployment/guestbook"]).await.expect("deployment");
    assert_eq!(at(&d, "/spec/replicas"), 3);
    let status = again.stop("INT").await;
    assert!(status.success(), "second ferry up exited with {status}; log:\n{}", again.log_tail());
    let log = std::fs::read_to_string(&again.stderr).unwrap_or_default();
    assert!(!log.contains("ERROR") && !log.contains("already exists"), "{log}");
}

// ---------------------------------------------------------------------------
// ferry controller + ferry app against a ferry cluster serve

/// A `ferry controller` for `server`, with metrics on a free port.
struct Controller {
    process: Process,
    addr: String,
    _data: tempfile::TempDir,
}

/// Which flags start a `ferry controller`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flags {
    /// `--controller-listen`, as `ferry up` names it.
    ControllerListen,
    /// The arguments of the Deployment `ferry install` created, with the
    /// address and data directory moved to the test's.
    Installed,
}

async fn start_controller(server: &Server, name: &str, flags: Flags, poll: &str) -> Controller {
    let data = tempfile::Builder::new().prefix("ferry-controller-").tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("utf-8 path").to_owned();
    let addr = free_addr();
    let mut args: Vec<String> = match flags {
        Flags::ControllerListen => ["controller", "--data-dir", &data_dir, "--controller-listen", &addr]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        Flags::Installed => {
            let env = Env::of(server);
            let deployment = env.get_json(&["deployment", "ferry-controller", "-n", "ferry"]).await.expect("installed");
            let installed =
                at(&deployment, "/spec/template/spec/containers/0/args").as_array().cloned().unwrap_or_default();
            let mut args: Vec<String> = installed.iter().map(|a| a.as_str().expect("string arg").to_owned()).collect();
            let value_of = |args: &[String], flag: &str| args.iter().position(|a| a == flag).map(|i| i + 1);
            let listen = value_of(&args, "--listen").unwrap_or_else(|| panic!("no --listen in {args:?}"));
            args[listen] = addr.clone();
            let dir = value_of(&args, "--data-dir").unwrap_or_else(|| panic!("no --data-dir in {args:?}"));
            args[dir] = data_dir.clone();
            args
        }
    };
    let kubeconfig = server.kubeconfig.to_str().expect("utf-8 path").to_owned();
    args.extend(["--kubeconfig".to_owned(), kubeconfig, "--poll-interval".to_owned(), poll.to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut process = Process::spawn(name, server.dirs.root(), &server.dirs.home(), &args);
    process.line_after("ferry controller: ").await;
    eventually("the controller to answer /healthz", DEADLINE, || http_get(&addr, "/healthz")).await;
    Controller { process, addr, _data: data }
}

/// `ferry install --print | kubectl apply -f -`, then waits for the
/// Application API to be served.
async fn install(env: &Env) {
    let printed = env.ferry(&["install", "--print"]).await.ok();
    env.kubectl_stdin(&["apply", "-f", "-"], &printed.stdout).await.ok();
    eventually("the Application API to be served", DEADLINE, || async {
        let out = env.kubectl(&["get", "applications.ferry.dev", "-n", "ferry"]).await;
        if out.code == 0 { Ok(()) } else { Err(out.stderr) }
    })
    .await;
}

fn configmap(name: &str, color: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: {color}\n")
}

async fn color(env: &Env) -> Option<String> {
    let cm = env.get_json(&["-n", "web", "configmap/web-config"]).await?;
    at(&cm, "/data/color").as_str().map(str::to_owned)
}

#[tokio::test]
async fn controller_and_app_commands_from_diff_to_cascade_delete() {
    let server = Server::start().await;
    let env = Env::of(&server);

    // Without the CRD the controller refuses to start, and says what to do.
    let data = server.dirs.root().join("no-crd");
    let kubeconfig = server.kubeconfig.to_str().expect("utf-8 path");
    let refused = env
        .ferry(&[
            "controller",
            "--kubeconfig",
            kubeconfig,
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--controller-listen",
            &free_addr(),
            "--poll-interval",
            "1s",
        ])
        .await
        .fails();
    assert!(refused.stderr.contains("ferry install"), "{}", refused.stderr);

    install(&env).await;
    let controller = start_controller(&server, "controller", Flags::ControllerListen, "1s").await;
    server.apply(&common::ns_yaml("web")).await;

    let repo = server.dirs.root().join("repo");
    let first = new_repo(&repo, &[("app/web-config.yaml", &configmap("web-config", "blue"))]);
    let url = format!("file://{}", repo.display());
    let created = env
        .ferry(&[
            "app",
            "create",
            "web",
            "--repo",
            &url,
            "--path",
            "app",
            "--dest-server",
            IN_CLUSTER,
            "--dest-namespace",
            "web",
        ])
        .await
        .ok();
    assert_eq!(created.stdout, "application \"web\" created\n");

    // Not synced yet (no auto-sync): the diff names the missing ConfigMap.
    let diff = env.ferry(&["app", "diff", "web"]).await;
    assert_eq!(diff.code, 1, "{diff:?}");
    assert!(diff.stdout.contains("ConfigMap web/web-config"), "{}", diff.stdout);
    assert!(diff.stdout.contains("color: blue"), "{}", diff.stdout);
    assert_eq!(color(&env).await, None, "diff applies nothing");

    let synced = env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    let results = table_after(&synced.stdout, "GROUP");
    assert_eq!(results.len(), 1, "{}", synced.stdout);
    assert_eq!(
        (
            results[0]["KIND"].as_str(),
            results[0]["NAMESPACE"].as_str(),
            results[0]["NAME"].as_str(),
            results[0]["STATUS"].as_str()
        ),
        ("ConfigMap", "web", "web-config", "Synced"),
        "{}",
        synced.stdout
    );
    assert!(synced.stdout.contains("operation on application \"web\" Succeeded"), "{}", synced.stdout);
    assert_eq!(color(&env).await.as_deref(), Some("blue"));
    let cm = env.get_json(&["-n", "web", "configmap/web-config"]).await.expect("configmap");
    assert_eq!(tracking_id(&cm), "web:/ConfigMap:web/web-config");

    let diff = env.ferry(&["app", "diff", "web"]).await;
    assert_eq!((diff.code, diff.stdout.as_str()), (0, ""), "{diff:?}");

    let history = env.ferry(&["app", "history", "web"]).await.ok();
    let rows = parse_table(&history.stdout);
    assert_eq!(rows.len(), 1, "{}", history.stdout);
    assert_eq!(rows[0]["REVISION"], first);
    let first_id = rows[0]["ID"].clone();
    assert_eq!(first_id, "0", "history ids start at 0, as in Argo CD");

    // A new commit: a refresh shows the app OutOfSync at the new revision.
    let second = commit(&repo, &[("app/web-config.yaml", &configmap("web-config", "green"))], "green");
    let short = &second[..7];
    let shown = eventually("`app get --refresh` to show the new commit OutOfSync", DEADLINE, || async {
        let out = env.ferry(&["app", "get", "web", "--refresh"]).await.ok();
        if out.stdout.contains(&format!("Sync Status:        OutOfSync to HEAD ({short})")) {
            Ok(out.stdout)
        } else {
            Err(out.stdout)
        }
    })
    .await;
    let resources = table_after(&shown, "GROUP");
    assert_eq!(resources.len(), 1, "{shown}");
    assert_eq!(resources[0]["STATUS"], "OutOfSync", "{shown}");
    assert_eq!(color(&env).await.as_deref(), Some("blue"), "no auto-sync");

    env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    assert_eq!(color(&env).await.as_deref(), Some("green"));
    let history = parse_table(&env.ferry(&["app", "history", "web"]).await.ok().stdout);
    assert_eq!(history.iter().map(|r| r["REVISION"].clone()).collect::<Vec<_>>(), [first.clone(), second.clone()]);

    let rolled = env.ferry(&["app", "rollback", "web", &first_id, "--wait", "--timeout", "2m"]).await.ok();
    assert!(
        rolled.stdout.contains(&format!("rollback to history id 0 ({}) requested", &first[..7])),
        "{}",
        rolled.stdout
    );
    assert!(rolled.stdout.contains("Succeeded"), "{}", rolled.stdout);
    assert_eq!(color(&env).await.as_deref(), Some("blue"), "the first content is back");

    // Metrics: reconciles were counted.
    let metrics = http_get(&controller.addr, "/metrics").await.expect("GET /metrics");
    let reconciles: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ferry_reconciles_total{result=\"ok\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ok reconcile counter in:\n{metrics}"));
    assert!(reconciles > 0, "{metrics}");

    let deleted = env.ferry(&["app", "delete", "web", "--cascade", "--wait", "--timeout", "60s"]).await.ok();
    assert!(deleted.stdout.contains("application \"web\" deleted"), "{}", deleted.stdout);
    assert_eq!(env.get_json(&["applications.ferry.dev", "web", "-n", "ferry"]).await, None);
    assert_eq!(color(&env).await, None, "the cascade deleted the ConfigMap");

    let mut process = controller.process;
    let status = process.stop("TERM").await;
    assert!(status.success(), "ferry controller exited with {status}; log:\n{}", process.log_tail());
}

#[tokio::test]
async fn a_failing_sync_exits_non_zero_and_names_the_resource() {
    let server = Server::start().await;
    let env = Env::of(&server);
    install(&env).await;
    let _controller = start_controller(&server, "controller", Flags::Installed, "1s").await;
    server.apply(&common::ns_yaml("web")).await;

    // The API server refuses the Service: its port is not a number.
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports:\n  - port: http\n";
    let repo = server.dirs.root().join("repo");
    new_repo(&repo, &[("app/web-config.yaml", &configmap("web-config", "blue")), ("app/service.yaml", service)]);
    let url = format!("file://{}", repo.display());
    env.ferry(&[
        "app",
        "create",
        "web",
        "--repo",
        &url,
        "--path",
        "app",
        "--dest-server",
        IN_CLUSTER,
        "--dest-namespace",
        "web",
    ])
    .await
    .ok();

    let out = env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.fails();
    assert!(out.stderr.starts_with("error: operation on application \"web\" Failed"), "{out:?}");
    let results = table_after(&out.stdout, "GROUP");
    let broken = results
        .iter()
        .find(|r| r["NAME"] == "broken")
        .unwrap_or_else(|| panic!("no row for the Service: {}", out.stdout));
    assert_eq!(broken["KIND"], "Service");
    assert_eq!(broken["STATUS"], "SyncFailed", "{}", out.stdout);
    assert!(broken["MESSAGE"].contains("port"), "the API server's message: {}", out.stdout);

    let app = env.app("web").await;
    assert_eq!(at(&app, "/status/operationState/phase"), "Failed", "{app}");
    assert_eq!(at(&app, "/status/history").as_array().map_or(0, Vec::len), 0, "a failed sync is not history");
}

/// A manual sync right after a commit deploys that commit, as in Argo CD,
/// even when the next poll of the repository is far away.
#[tokio::test]
async fn a_manual_sync_deploys_the_newest_commit_without_waiting_for_a_poll() {
    let server = Server::start().await;
    let env = Env::of(&server);
    install(&env).await;
    let _controller = start_controller(&server, "controller", Flags::Installed, "1h").await;
    server.apply(&common::ns_yaml("web")).await;
    let repo = server.dirs.root().join("repo");
    new_repo(&repo, &[("app/web-config.yaml", &configmap("web-config", "blue"))]);
    let url = format!("file://{}", repo.display());
    env.ferry(&[
        "app",
        "create",
        "web",
        "--repo",
        &url,
        "--path",
        "app",
        "--dest-server",
        IN_CLUSTER,
        "--dest-namespace",
        "web",
    ])
    .await
    .ok();
    env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    assert_eq!(color(&env).await.as_deref(), Some("blue"));

    let second = commit(&repo, &[("app/web-config.yaml", &configmap("web-config", "green"))], "green");
    env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    assert_eq!(color(&env).await.as_deref(), Some("green"));
    let app = env.app("web").await;
    assert_eq!(at(&app, "/status/operationState/syncResult/revision"), second.as_str(), "{app}");
    assert_eq!(at(&app, "/status/sync/status"), "Synced", "{app}");
}

/// `app get --refresh` (a normal refresh) after a commit shows the app
/// OutOfSync at the new commit, as in Argo CD, even when the next poll is
/// far away.
#[tokio::test]
async fn get_refresh_sees_a_new_commit_without_waiting_for_a_poll() {
    let server = Server::start().await;
    let env = Env::of(&server);
    install(&env).await;
    let _controller = start_controller(&server, "controller", Flags::Installed, "1h").await;
    server.apply(&common::ns_yaml("web")).await;
    let repo = server.dirs.root().join("repo");
    new_repo(&repo, &[("app/web-config.yaml", &configmap("web-config", "blue"))]);
    let url = format!("file://{}", repo.display());
    env.ferry(&[
        "app",
        "create",
        "web",
        "--repo",
        &url,
        "--path",
        "app",
        "--dest-server",
        IN_CLUSTER,
        "--dest-namespace",
        "web",
    ])
    .await
    .ok();
    env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    let second = commit(&repo, &[("app/web-config.yaml", &configmap("web-config", "green"))], "green");
    let got = env.ferry(&["app", "get", "web", "--refresh", "-o", "json"]).await.ok().json();
    assert_eq!(at(&got, "/status/sync/revision"), second.as_str(), "{got}");
    assert_eq!(at(&got, "/status/sync/status"), "OutOfSync", "{got}");
}

fn slow_app() -> Vec<(&'static str, String)> {
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow
spec:
  replicas: 1
  selector:
    matchLabels: {app: slow}
  template:
    metadata:
      labels: {app: slow}
    spec:
      containers:
      - name: main
        image: slow:1
";
    let after = "apiVersion: v1
kind: ConfigMap
metadata:
  name: after
  annotations:
    ferry.dev/sync-wave: \"1\"
data:
  k: v
";
    vec![("app/slow.yaml", deployment.to_owned()), ("app/after.yaml", after.to_owned())]
}

/// `ferry app sync --wait` shows what the operation waits for, and
/// `ferry app terminate-op` stops it: the waiting CLI exits non-zero and
/// the next wave is never applied.
#[tokio::test]
async fn terminate_op_stops_a_sync_waiting_for_health() {
    let server = Server::start_with(common::ServerOptions {
        faults: Some("neverReady: [\"slow:*\"]\n".to_owned()),
        ..common::ServerOptions::default()
    })
    .await;
    let env = Env::of(&server);
    install(&env).await;
    let _controller = start_controller(&server, "controller", Flags::ControllerListen, "1s").await;
    server.apply(&common::ns_yaml("web")).await;
    let repo = server.dirs.root().join("repo");
    let files = slow_app();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    new_repo(&repo, &files);
    let url = format!("file://{}", repo.display());
    env.ferry(&[
        "app",
        "create",
        "web",
        "--repo",
        &url,
        "--path",
        "app",
        "--dest-server",
        IN_CLUSTER,
        "--dest-namespace",
        "web",
    ])
    .await
    .ok();

    // Run the waiting CLI in the background, its output in a file, to see
    // its progress lines as they come.
    let kubeconfig = server.kubeconfig.to_str().expect("utf-8 path");
    let mut sync = Process::spawn(
        "sync",
        server.dirs.root(),
        &server.dirs.home(),
        &["app", "sync", "web", "--wait", "--timeout", "2m", "--kubeconfig", kubeconfig],
    );
    let progress = sync.line_after("Running: ").await;
    assert!(progress.contains("waiting for healthy state of apps/Deployment slow (wave 0)"), "{progress}");
    let out = env.ferry(&["app", "terminate-op", "web"]).await.ok();
    assert_eq!(out.stdout, "application \"web\": terminating the running operation\n");
    let status = sync.wait_exit(DEADLINE).await;
    assert_eq!(status.code(), Some(1), "{}", sync.output());
    let stderr = std::fs::read_to_string(&sync.stderr).expect("sync stderr");
    assert!(stderr.contains("error: operation on application \"web\" Failed: operation terminated"), "{stderr}");

    let app = env.app("web").await;
    assert_eq!(at(&app, "/status/operationState/phase"), "Failed", "{app}");
    assert_eq!(at(&app, "/operation"), &Value::Null, "{app}");
    assert_eq!(env.get_json(&["-n", "web", "configmap/after"]).await, None, "wave 1 never ran");
    let again = env.ferry(&["app", "terminate-op", "web"]).await.fails();
    assert_eq!(again.stderr, "error: no operation is in progress\n");
}

/// Dry run, selective sync and prune through `ferry app sync`.
#[tokio::test]
async fn sync_dry_run_selected_resources_and_prune() {
    let server = Server::start().await;
    let env = Env::of(&server);
    install(&env).await;
    let _controller = start_controller(&server, "controller", Flags::ControllerListen, "1s").await;
    server.apply(&common::ns_yaml("web")).await;
    let repo = server.dirs.root().join("repo");
    new_repo(&repo, &[("app/a.yaml", &configmap("a", "blue")), ("app/b.yaml", &configmap("b", "blue"))]);
    let url = format!("file://{}", repo.display());
    env.ferry(&[
        "app",
        "create",
        "web",
        "--repo",
        &url,
        "--path",
        "app",
        "--dest-server",
        IN_CLUSTER,
        "--dest-namespace",
        "web",
    ])
    .await
    .ok();
    let exists = |name: &'static str| {
        let env = env.clone();
        async move { env.get_json(&["-n", "web", &format!("configmap/{name}")]).await.is_some() }
    };

    let dry = env.ferry(&["app", "sync", "web", "--dry-run", "--wait", "--timeout", "2m"]).await.ok();
    let rows = table_after(&dry.stdout, "GROUP");
    assert_eq!(rows.iter().map(|r| r["NAME"].as_str()).collect::<Vec<_>>(), ["a", "b"], "{}", dry.stdout);
    assert!(!exists("a").await && !exists("b").await, "a dry run applies nothing");
    let app = env.app("web").await;
    assert_eq!(at(&app, "/status/history").as_array().map_or(0, Vec::len), 0, "a dry run is not history: {app}");

    let selected =
        env.ferry(&["app", "sync", "web", "--resource", ":ConfigMap:a", "--wait", "--timeout", "2m"]).await.ok();
    let rows = table_after(&selected.stdout, "GROUP");
    assert_eq!(rows.iter().map(|r| r["NAME"].as_str()).collect::<Vec<_>>(), ["a"], "{}", selected.stdout);
    assert!(exists("a").await && !exists("b").await, "only the selected resource is applied");

    env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    assert!(exists("b").await);

    // b leaves git: kept without --prune, deleted with it.
    git(&repo, &["rm", "-q", "app/b.yaml"]);
    git(&repo, &["commit", "-q", "-m", "drop b"]);
    let kept = env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.ok();
    let rows = table_after(&kept.stdout, "GROUP");
    let b = rows.iter().find(|r| r["NAME"] == "b").unwrap_or_else(|| panic!("no row for b: {}", kept.stdout));
    assert_eq!(b["STATUS"], "PruneSkipped", "{}", kept.stdout);
    assert!(exists("b").await);
    let pruned = env.ferry(&["app", "sync", "web", "--prune", "--wait", "--timeout", "2m"]).await.ok();
    let rows = table_after(&pruned.stdout, "GROUP");
    let b = rows.iter().find(|r| r["NAME"] == "b").unwrap_or_else(|| panic!("no row for b: {}", pruned.stdout));
    assert_eq!(b["STATUS"], "Pruned", "{}", pruned.stdout);
    assert!(!exists("b").await, "pruned");
    let diff = env.ferry(&["app", "diff", "web"]).await;
    assert_eq!((diff.code, diff.stdout.as_str()), (0, ""), "{diff:?}");

    // Without --cascade (and no finalizer), the resources stay.
    env.ferry(&["app", "delete", "web", "--wait", "--timeout", "60s"]).await.ok();
    assert_eq!(env.get_json(&["applications.ferry.dev", "web", "-n", "ferry"]).await, None);
    assert!(exists("a").await, "not cascaded");
}

/// As in Argo CD, every resource is validated (a server-side dry run)
/// before anything is applied, so a manifest the API server rejects leaves
/// the cluster as it was.
#[tokio::test]
async fn a_rejected_manifest_applies_nothing() {
    let server = Server::start().await;
    let env = Env::of(&server);
    install(&env).await;
    let _controller = start_controller(&server, "controller", Flags::ControllerListen, "1s").await;
    server.apply(&common::ns_yaml("web")).await;
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports:\n  - port: http\n";
    let repo = server.dirs.root().join("repo");
    new_repo(&repo, &[("app/web-config.yaml", &configmap("web-config", "blue")), ("app/service.yaml", service)]);
    let url = format!("file://{}", repo.display());
    env.ferry(&[
        "app",
        "create",
        "web",
        "--repo",
        &url,
        "--path",
        "app",
        "--dest-server",
        IN_CLUSTER,
        "--dest-namespace",
        "web",
    ])
    .await
    .ok();
    env.ferry(&["app", "sync", "web", "--wait", "--timeout", "2m"]).await.fails();
    assert_eq!(color(&env).await, None, "nothing applied");
}

/// A controller that cannot start makes `ferry up` fail with the reason.
#[tokio::test]
async fn up_says_why_the_controller_cannot_start() {
    let root = tempfile::Builder::new().prefix("ferry-up-").tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("address").to_string();
    let env = Env { kubeconfig: root.path().join("none"), home: root.path().to_owned() };
    let data = root.path().join("data");
    let out = env
        .ferry(&[
            "up",
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--listen",
            &free_addr(),
            "--controller-listen",
            &taken_addr,
        ])
        .await
        .fails();
    assert!(out.stderr.contains(&format!("the controller stopped: listen on {taken_addr}")), "{out:?}");
    drop(taken);
}
