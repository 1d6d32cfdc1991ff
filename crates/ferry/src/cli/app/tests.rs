use application::{
    ApplicationStatus, HealthState, OperationPhase, OperationState, ResourceResult, ResultCode, RevisionHistory,
    SyncState, SyncStatusCode,
};
use clap::Parser;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::operation::{Baseline, SyncProgress, WaitFor, busy, parse_resource, pending, sync_progress};
use super::*;

#[derive(Parser)]
struct Harness {
    #[command(flatten)]
    create: CreateArgs,
}

fn create_args<S: AsRef<str>>(args: &[S]) -> Result<CreateArgs, clap::Error> {
    let argv = std::iter::once("create").chain(args.iter().map(AsRef::as_ref));
    Harness::try_parse_from(argv).map(|h| h.create)
}

const BASE: &[&str] = &[
    "web",
    "--repo",
    "file:///r",
    "--path",
    "apps/web",
    "--dest-server",
    "https://kubernetes.default.svc",
    "--dest-namespace",
    "web",
];

fn with(extra: &[&str]) -> Vec<String> {
    BASE.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

#[test]
fn create_builds_the_argo_cd_shaped_spec() {
    let args = create_args(&with(&[
        "--auto-sync",
        "--prune",
        "--self-heal",
        "--sync-option",
        "CreateNamespace=true",
        "--sync-option",
        "PrunePropagationPolicy=orphan",
        "--directory-recurse",
        "--directory-exclude",
        "*.md",
    ]))
    .expect("parse");
    let app = build(&args).expect("build");
    let json = serde_json::to_value(&app).expect("json");
    assert_eq!(json["apiVersion"], "ferry.dev/v1alpha1");
    assert_eq!(json["metadata"]["namespace"], "ferry");
    assert_eq!(json["spec"]["project"], "default");
    assert_eq!(json["spec"]["source"]["repoURL"], "file:///r");
    assert_eq!(json["spec"]["source"]["targetRevision"], "HEAD");
    assert_eq!(json["spec"]["source"]["directory"]["recurse"], true);
    assert_eq!(json["spec"]["source"]["directory"]["exclude"], "*.md");
    assert_eq!(json["spec"]["destination"]["server"], "https://kubernetes.default.svc");
    assert_eq!(json["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
    assert_eq!(json["spec"]["syncPolicy"]["syncOptions"][1], "PrunePropagationPolicy=orphan");
    assert!(json.get("operation").is_none() && json.get("status").is_none(), "{json}");
}

#[test]
fn create_refuses_bad_flags() {
    let err = build(&create_args(&with(&["--prune"])).expect("parse")).expect_err("prune alone");
    assert!(err.to_string().contains("--auto-sync"), "{err}");
    let err = build(&create_args(&with(&["--sync-option", "CreateNamespac=true"])).expect("parse")).expect_err("typo");
    assert!(err.to_string().starts_with("unknown sync option \"CreateNamespac=true\""), "{err}");
    let err = build(&create_args(&with(&["--sync-option", "PrunePropagationPolicy=sideways"])).expect("parse"))
        .expect_err("bad value");
    assert!(err.to_string().contains("unknown sync option"), "{err}");
    // Exactly one destination.
    assert!(create_args(&["web", "--repo", "r", "--path", "p", "--dest-namespace", "n"]).is_err());
    assert!(create_args(&with(&["--dest-name", "prod"])).is_err());
}

#[test]
fn resources_parse_with_and_without_namespace() {
    let r = parse_resource("apps:Deployment:web").expect("parse");
    assert_eq!((r.group.as_str(), r.kind.as_str(), r.name.as_str(), r.namespace), ("apps", "Deployment", "web", None));
    let r = parse_resource(":Service:prod/web").expect("parse");
    assert_eq!((r.group.as_str(), r.namespace.as_deref()), ("", Some("prod")));
    for bad in ["Deployment:web", "apps::web", "apps:Deployment:", "a:b:c/d/e"] {
        assert!(parse_resource(bad).is_err(), "{bad}");
    }
}

fn at(second: i64) -> Time {
    Time(Timestamp::from_second(second).expect("timestamp"))
}

fn state(phase: OperationPhase, started: i64, message: &str) -> OperationState {
    OperationState {
        operation: None,
        phase,
        message: Some(message.to_owned()),
        started_at: at(started),
        finished_at: None,
        sync_result: None,
        retry_count: 0,
    }
}

fn app_with(operation: bool, op_state: Option<OperationState>) -> Application {
    let args = create_args(BASE).expect("parse");
    let mut app = build(&args).expect("build");
    if operation {
        app.spec.operation = Some(application::Operation::default());
    }
    app.status = Some(ApplicationStatus { operation_state: op_state, ..ApplicationStatus::default() });
    app
}

#[test]
fn sync_wait_follows_the_controller_contract() {
    let old = state(OperationPhase::Succeeded, 100, "old sync");
    let baseline = Baseline { requested_at: Timestamp::from_second(200).expect("ts"), previous: Some(old.clone()) };
    // Requested, not started: the old terminal state is not this request's.
    let p = sync_progress(&app_with(true, Some(old.clone())), &baseline);
    assert_eq!(p, SyncProgress::Pending("Pending: waiting for the controller to start the operation".into()));
    // Running: the message is shown.
    let running = state(OperationPhase::Running, 200, "waiting for healthy state of apps/Deployment web (wave 1)");
    let p = sync_progress(&app_with(true, Some(running)), &baseline);
    assert_eq!(p, SyncProgress::Pending("Running: waiting for healthy state of apps/Deployment web (wave 1)".into()));
    // Terminal but `operation` not cleared yet: still pending.
    let failed = state(OperationPhase::Failed, 201, "one or more objects failed to apply");
    assert!(matches!(sync_progress(&app_with(true, Some(failed.clone())), &baseline), SyncProgress::Pending(_)));
    // Terminal and cleared: done.
    let p = sync_progress(&app_with(false, Some(failed.clone())), &baseline);
    assert_eq!(p, SyncProgress::Done(Box::new(failed)));
    // A controller clock behind the CLI's: a new state is still recognised.
    let behind = state(OperationPhase::Succeeded, 150, "done");
    assert!(matches!(sync_progress(&app_with(false, Some(behind)), &baseline), SyncProgress::Done(_)));
    // Cleared without a new state (cancelled through the API): not done.
    assert!(matches!(sync_progress(&app_with(false, Some(old)), &baseline), SyncProgress::Pending(_)));
}

#[test]
fn busy_when_requested_or_running() {
    assert!(busy(&app_with(false, None)).is_none());
    assert!(busy(&app_with(true, None)).is_some());
    assert!(busy(&app_with(false, Some(state(OperationPhase::Running, 1, "")))).is_some());
    assert!(busy(&app_with(false, Some(state(OperationPhase::Terminating, 1, "")))).is_some());
    assert!(busy(&app_with(false, Some(state(OperationPhase::Error, 1, "")))).is_none());
}

#[test]
fn wait_lists_what_is_pending() {
    let all = WaitFor { sync: true, health: true, operation: true };
    let mut app = app_with(false, Some(state(OperationPhase::Running, 1, "wave 2")));
    app.metadata.generation = Some(3);
    let status = app.status.as_mut().expect("status");
    status.observed_generation = Some(2);
    status.sync = Some(SyncState { status: SyncStatusCode::OutOfSync, revision: None, tools: Default::default() });
    status.health =
        Some(HealthState { status: health::HealthStatus::Progressing, message: Some("1 of 2 ready".into()) });
    assert_eq!(
        pending(&app, all),
        [
            "reconcile of generation 3",
            "sync status OutOfSync",
            "health Progressing (1 of 2 ready)",
            "operation Running (wave 2)"
        ]
    );
    assert_eq!(pending(&app, WaitFor { sync: false, health: false, operation: true }), ["operation Running (wave 2)"]);
    let status = app.status.as_mut().expect("status");
    status.observed_generation = Some(3);
    status.sync = Some(SyncState { status: SyncStatusCode::Synced, revision: None, tools: Default::default() });
    status.health = Some(HealthState { status: health::HealthStatus::Healthy, message: None });
    status.operation_state = Some(state(OperationPhase::Succeeded, 1, "ok"));
    assert!(pending(&app, all).is_empty());
    app.spec.operation = Some(application::Operation::default());
    assert_eq!(pending(&app, all), ["requested operation to start"]);
}

#[test]
fn views_show_status_history_and_results() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let mut app = app_with(false, Some(state(OperationPhase::Succeeded, 1_700_000_000, "successfully synced")));
    let status = app.status.as_mut().expect("status");
    status.sync =
        Some(SyncState { status: SyncStatusCode::Synced, revision: Some(sha.into()), tools: Default::default() });
    status.health = Some(HealthState { status: health::HealthStatus::Healthy, message: None });
    status.resources = vec![application::ResourceStatus {
        group: "apps".into(),
        version: "v1".into(),
        kind: "Deployment".into(),
        namespace: Some("web".into()),
        name: "web".into(),
        status: SyncStatusCode::Synced,
        health: Some(HealthState { status: health::HealthStatus::Healthy, message: None }),
    }];
    let list = view::list_table(std::slice::from_ref(&app));
    assert!(list.starts_with("NAME   CLUSTER"), "{list}");
    assert!(list.contains("Synced   Healthy   0123456    file:///r   apps/web"), "{list}");
    let text = view::describe(&app);
    for expected in [
        "Name:               ferry/web\n",
        "Server:             https://kubernetes.default.svc\n",
        "Sync Policy:        Manual\n",
        "Sync Status:        Synced to HEAD (0123456)\n",
        "Phase:              Succeeded\n",
        "GROUP   KIND         NAMESPACE   NAME   STATUS   HEALTH",
        "apps    Deployment   web         web    Synced   Healthy",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let history =
        view::history_table(&[RevisionHistory { id: 1, revision: sha.into(), deployed_at: at(1_700_000_000) }]);
    assert_eq!(history, format!("ID   DATE                   REVISION\n1    2023-11-14T22:13:20Z   {sha}\n"));
    let results = view::results_table(&[ResourceResult {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("web".into()),
        name: "cfg".into(),
        status: ResultCode::SyncFailed,
        message: Some("admission denied".into()),
        sync_phase: None,
        wave: 0,
        hook_phase: None,
    }]);
    assert!(results.contains("ConfigMap   web         cfg    SyncFailed          admission denied"), "{results}");
}
