//! `ferry app ...` against the local cluster through the real binary. No
//! controller runs here: the tests check what the CLI writes (the
//! `operation` field, annotations, finalizers, status phases) and what it
//! refuses, and stand in for the controller with kubectl where needed.

use crate::common;

use common::{Server, at, parse_table};
use serde_json::{Value, json};

const SERVER: &str = "https://kubernetes.default.svc";

async fn installed() -> Server {
    let server = Server::start().await;
    server.install_ferry().await;
    server
}

async fn create(server: &Server, name: &str, extra: &[&str]) {
    let mut args = vec![
        "app",
        "create",
        name,
        "--repo",
        "file:///srv/repo.git",
        "--path",
        "apps/web",
        "--dest-server",
        SERVER,
        "--dest-namespace",
        "web",
    ];
    args.extend_from_slice(extra);
    let out = server.ferry(&args).await.ok();
    assert_eq!(out.stdout, format!("application \"{name}\" created\n"));
}

async fn app_json(server: &Server, name: &str) -> Value {
    server.kubectl(&["get", "applications.ferry.dev", name, "-n", "ferry", "-o", "json"]).await.ok().json()
}

/// Stands in for the controller's status writes. The CRD has no status
/// subresource (as Argo CD's), so status is patched on the object.
async fn patch_status(server: &Server, name: &str, status: Value) {
    let patch = json!({ "status": status }).to_string();
    server.kubectl(&["patch", "applications.ferry.dev", name, "-n", "ferry", "--type=merge", "-p", &patch]).await.ok();
}

const SHA1: &str = "1111111111111111111111111111111111111111";
const SHA2: &str = "2222222222222222222222222222222222222222";

fn history() -> Value {
    json!({ "history": [
        { "id": 1, "revision": SHA1, "deployedAt": "2024-05-01T10:00:00Z" },
        { "id": 2, "revision": SHA2, "deployedAt": "2024-05-02T10:00:00Z" },
    ]})
}

#[tokio::test]
async fn create_list_and_get() {
    let server = installed().await;
    create(
        &server,
        "web",
        &[
            "--auto-sync",
            "--self-heal",
            "--sync-option",
            "CreateNamespace=true",
            "--directory-recurse",
            "--revision",
            "main",
        ],
    )
    .await;
    create(&server, "api", &[]).await;

    let app = app_json(&server, "web").await;
    assert_eq!(at(&app, "/spec/source/repoURL"), "file:///srv/repo.git");
    assert_eq!(at(&app, "/spec/source/targetRevision"), "main");
    assert_eq!(at(&app, "/spec/source/directory/recurse"), true);
    assert_eq!(at(&app, "/spec/destination/namespace"), "web");
    assert_eq!(at(&app, "/spec/syncPolicy/automated/selfHeal"), true);
    assert_eq!(at(&app, "/spec/syncPolicy/syncOptions"), &json!(["CreateNamespace=true"]));

    // Errors: duplicate, unknown sync option, prune without auto-sync, no destination.
    let dup = server
        .ferry(&[
            "app",
            "create",
            "web",
            "--repo",
            "r",
            "--path",
            "p",
            "--dest-server",
            SERVER,
            "--dest-namespace",
            "x",
        ])
        .await
        .fails();
    assert!(dup.stderr.starts_with("error: application \"web\" already exists"), "{}", dup.stderr);
    let bad = server
        .ferry(&[
            "app",
            "create",
            "x",
            "--repo",
            "r",
            "--path",
            "p",
            "--dest-name",
            "in-cluster",
            "--dest-namespace",
            "x",
            "--sync-option",
            "Prune=maybe",
        ])
        .await
        .fails();
    assert!(bad.stderr.starts_with("error: unknown sync option \"Prune=maybe\""), "{}", bad.stderr);
    let prune = server
        .ferry(&[
            "app",
            "create",
            "x",
            "--repo",
            "r",
            "--path",
            "p",
            "--dest-name",
            "in-cluster",
            "--dest-namespace",
            "x",
            "--prune",
        ])
        .await
        .fails();
    assert!(prune.stderr.contains("add --auto-sync"), "{}", prune.stderr);
    server.ferry(&["app", "create", "x", "--repo", "r", "--path", "p", "--dest-namespace", "x"]).await.fails();
    assert_eq!(server.kubectl(&["get", "applications.ferry.dev", "x", "-n", "ferry"]).await.code, 1, "nothing written");

    // --upsert updates in place.
    let upsert = server
        .ferry(&[
            "app",
            "create",
            "api",
            "--repo",
            "file:///srv/repo.git",
            "--path",
            "apps/api",
            "--dest-name",
            "in-cluster",
            "--dest-namespace",
            "api",
            "--upsert",
        ])
        .await
        .ok();
    assert_eq!(upsert.stdout, "application \"api\" configured\n");
    let api = app_json(&server, "api").await;
    assert_eq!(at(&api, "/spec/source/path"), "apps/api");
    assert_eq!(at(&api, "/spec/destination/name"), "in-cluster");

    patch_status(
        &server,
        "web",
        json!({ "sync": { "status": "Synced", "revision": SHA1 }, "health": { "status": "Healthy" },
                "resources": [{ "group": "apps", "version": "v1", "kind": "Deployment", "namespace": "web", "name": "web",
                                "status": "Synced", "health": { "status": "Healthy" } }] }),
    )
    .await;
    let list = server.ferry(&["app", "list"]).await.ok();
    let rows = parse_table(&list.stdout);
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    let web = rows.iter().find(|r| r["NAME"] == "web").expect("web row");
    assert_eq!(web["CLUSTER"], SERVER);
    assert_eq!(web["NAMESPACE"], "web");
    assert_eq!(web["PROJECT"], "default");
    assert_eq!(web["SYNC"], "Synced");
    assert_eq!(web["HEALTH"], "Healthy");
    assert_eq!(web["REVISION"], "1111111");
    assert_eq!(web["PATH"], "apps/web");
    let api_row = rows.iter().find(|r| r["NAME"] == "api").expect("api row");
    assert_eq!(api_row["CLUSTER"], "in-cluster");
    assert_eq!(api_row["SYNC"], "Unknown");

    let listed: Value =
        serde_json::from_str(&server.ferry(&["app", "list", "-o", "json"]).await.ok().stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    let got = server.ferry(&["app", "get", "web", "-o", "json"]).await.ok().json();
    assert_eq!(at(&got, "/metadata/name"), "web");
    assert_eq!(at(&got, "/spec/source/path"), "apps/web");
    assert_eq!(at(&got, "/status/sync/revision"), SHA1);
    let yaml = server.ferry(&["app", "get", "web", "-o", "yaml"]).await.ok();
    assert!(yaml.stdout.contains("repoURL: file:///srv/repo.git"), "{}", yaml.stdout);
    let human = server.ferry(&["app", "get", "web"]).await.ok().stdout;
    for line in [
        "Name:               ferry/web",
        "Sync Policy:        Automated (SelfHeal)",
        "Sync Status:        Synced to main (1111111)",
        "Health Status:      Healthy",
    ] {
        assert!(human.contains(line), "missing {line:?} in:\n{human}");
    }
    let resources: Vec<_> = parse_table(human.split("\n\n").last().unwrap_or_default());
    assert_eq!(resources[0]["KIND"], "Deployment");
    assert_eq!(resources[0]["HEALTH"], "Healthy");

    let missing = server.ferry(&["app", "get", "nope"]).await.fails();
    assert_eq!(missing.stderr, "error: application \"nope\" not found\n");
}

#[tokio::test]
async fn sync_writes_the_operation_and_refuses_a_second() {
    let server = installed().await;
    create(&server, "web", &[]).await;
    let out = server
        .ferry(&[
            "app",
            "sync",
            "web",
            "--prune",
            "--dry-run",
            "--revision",
            "v2",
            "--resource",
            "apps:Deployment:web",
            "--resource",
            ":Service:web/front",
        ])
        .await
        .ok();
    assert_eq!(out.stdout, "application \"web\": sync requested\n");
    let app = app_json(&server, "web").await;
    assert_eq!(
        at(&app, "/operation"),
        &json!({
            "sync": {
                "revision": "v2",
                "resources": [
                    { "group": "apps", "kind": "Deployment", "name": "web" },
                    { "group": "", "kind": "Service", "name": "front", "namespace": "web" },
                ],
                "prune": true,
                "dryRun": true,
            },
            "initiatedBy": { "username": "ferry-test", "automated": false },
        })
    );
    let second = server.ferry(&["app", "sync", "web"]).await.fails();
    assert_eq!(second.stderr, "error: another operation is already in progress\n");

    // `wait --operation` names what is pending when it times out.
    let waited = server.ferry(&["app", "wait", "web", "--operation", "--timeout", "1s"]).await.fails();
    assert!(
        waited.stderr.contains("timed out after 1s") && waited.stderr.contains("requested operation"),
        "{}",
        waited.stderr
    );

    let bad = server.ferry(&["app", "sync", "web", "--resource", "Deployment"]).await.fails();
    assert!(bad.stderr.contains("GROUP:KIND:NAME"), "{}", bad.stderr);
    let missing = server.ferry(&["app", "sync", "nope"]).await.fails();
    assert_eq!(missing.stderr, "error: application \"nope\" not found\n");
}

#[tokio::test]
async fn terminate_op_marks_a_running_operation_terminating() {
    let server = installed().await;
    create(&server, "web", &[]).await;
    let idle = server.ferry(&["app", "terminate-op", "web"]).await.fails();
    assert_eq!(idle.stderr, "error: no operation is in progress\n");

    // Stand in for the controller: an operation in progress.
    patch_status(
        &server,
        "web",
        json!({ "operationState": { "phase": "Running", "startedAt": "2024-05-01T10:00:00Z",
                                    "message": "waiting for healthy state of apps/Deployment web (wave 1)" } }),
    )
    .await;
    let refused = server.ferry(&["app", "sync", "web"]).await.fails();
    assert_eq!(refused.stderr, "error: another operation is already in progress\n");
    let human = server.ferry(&["app", "get", "web"]).await.ok().stdout;
    assert!(human.contains("Phase:              Running"), "{human}");

    server.ferry(&["app", "terminate-op", "web"]).await.ok();
    let app = app_json(&server, "web").await;
    assert_eq!(at(&app, "/status/operationState/phase"), "Terminating");
    assert_eq!(
        at(&app, "/status/operationState/message"),
        "waiting for healthy state of apps/Deployment web (wave 1)",
        "only the phase changes"
    );
}

#[tokio::test]
async fn history_and_rollback() {
    let server = installed().await;
    create(&server, "auto", &["--auto-sync"]).await;
    create(&server, "manual", &[]).await;
    patch_status(&server, "auto", history()).await;
    patch_status(&server, "manual", history()).await;

    let table = server.ferry(&["app", "history", "manual"]).await.ok();
    let rows = parse_table(&table.stdout);
    assert_eq!(rows.len(), 2, "{}", table.stdout);
    assert_eq!(
        (rows[0]["ID"].as_str(), rows[0]["DATE"].as_str(), rows[0]["REVISION"].as_str()),
        ("1", "2024-05-01T10:00:00Z", SHA1)
    );
    assert_eq!(rows[1]["REVISION"], SHA2);
    let json_history = server.ferry(&["app", "history", "manual", "-o", "json"]).await.ok().json();
    assert_eq!(json_history[1]["id"], 2);

    let refused = server.ferry(&["app", "rollback", "auto", "1"]).await.fails();
    assert_eq!(refused.stderr, "error: rollback cannot be initiated when auto-sync is enabled\n");
    assert_eq!(at(&app_json(&server, "auto").await, "/operation"), &Value::Null);

    let unknown = server.ferry(&["app", "rollback", "manual", "9"]).await.fails();
    assert!(unknown.stderr.contains("has no history id 9"), "{}", unknown.stderr);

    let ok = server.ferry(&["app", "rollback", "manual", "1", "--prune"]).await.ok();
    assert!(ok.stdout.contains("rollback to history id 1 (1111111) requested"), "{}", ok.stdout);
    let app = app_json(&server, "manual").await;
    assert_eq!(at(&app, "/operation/sync/revision"), SHA1);
    assert_eq!(at(&app, "/operation/sync/prune"), true);
}

#[tokio::test]
async fn delete_with_and_without_cascade() {
    let server = installed().await;
    create(&server, "keep", &[]).await;
    create(&server, "cascade", &[]).await;

    let out = server.ferry(&["app", "delete", "keep", "--wait", "--timeout", "30s"]).await.ok();
    assert!(out.stdout.starts_with("application \"keep\" deleted"), "{}", out.stdout);
    assert_eq!(server.kubectl(&["get", "applications.ferry.dev", "keep", "-n", "ferry"]).await.code, 1);

    // No controller runs, so the finalizer holds the object: proof it was added.
    let out = server.ferry(&["app", "delete", "cascade", "--cascade"]).await.ok();
    assert!(out.stdout.contains("ferry.dev/resources-finalizer"), "{}", out.stdout);
    let app = app_json(&server, "cascade").await;
    assert_eq!(at(&app, "/metadata/finalizers"), &json!(["ferry.dev/resources-finalizer"]));
    assert!(at(&app, "/metadata/deletionTimestamp").is_string(), "{app}");
    let waited = server.ferry(&["app", "delete", "cascade", "--wait", "--timeout", "1s"]).await.fails();
    assert!(
        waited.stderr.contains("timed out after 1s") && waited.stderr.contains("resources-finalizer"),
        "{}",
        waited.stderr
    );

    let missing = server.ferry(&["app", "delete", "nope"]).await.fails();
    assert_eq!(missing.stderr, "error: application \"nope\" not found\n");
}

#[tokio::test]
async fn refresh_sets_the_annotation_and_waits_for_the_controller() {
    let server = installed().await;
    create(&server, "web", &[]).await;
    let out = server.ferry(&["app", "get", "web", "--refresh", "hard", "--timeout", "1s"]).await.fails();
    assert!(out.stderr.contains("waiting for the controller to refresh application \"web\""), "{}", out.stderr);
    let app = app_json(&server, "web").await;
    assert_eq!(at(&app, "/metadata/annotations/ferry.dev~1refresh"), "hard");

    // A controller that removes the annotation lets `get --refresh` print.
    server.kubectl(&["annotate", "applications.ferry.dev", "web", "-n", "ferry", "ferry.dev/refresh-"]).await.ok();
    let wait = server.ferry(&["app", "get", "web", "--refresh", "--timeout", "30s", "-o", "json"]);
    let remove = async {
        common::eventually("the refresh annotation to be set", common::DEADLINE, || async {
            let app = app_json(&server, "web").await;
            if at(&app, "/metadata/annotations/ferry.dev~1refresh") == "normal" { Ok(()) } else { Err(app.to_string()) }
        })
        .await;
        server.kubectl(&["annotate", "applications.ferry.dev", "web", "-n", "ferry", "ferry.dev/refresh-"]).await.ok();
    };
    let (out, ()) = tokio::join!(wait, remove);
    let out = out.ok();
    assert_eq!(at(&out.json(), "/metadata/name"), "web");
}

#[tokio::test]
async fn wait_reports_sync_and_health() {
    let server = installed().await;
    create(&server, "web", &[]).await;
    patch_status(
        &server,
        "web",
        json!({ "sync": { "status": "OutOfSync" }, "health": { "status": "Progressing", "message": "1 of 2 ready" } }),
    )
    .await;
    let out = server.ferry(&["app", "wait", "web", "--timeout", "1s"]).await.fails();
    assert!(
        out.stdout.contains("waiting for sync status OutOfSync, health Progressing (1 of 2 ready)"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("still pending sync status OutOfSync, health Progressing"), "{}", out.stderr);

    patch_status(
        &server,
        "web",
        json!({ "sync": { "status": "Synced" }, "health": { "status": "Healthy", "message": null } }),
    )
    .await;
    let out = server.ferry(&["app", "wait", "web", "--sync", "--health", "--timeout", "10s"]).await.ok();
    assert_eq!(out.stdout, "application \"web\": Synced, Healthy\n");
}
