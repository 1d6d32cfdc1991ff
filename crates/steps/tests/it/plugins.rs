//! exec plugins (the JSON contract), the http step against a local server, and up-front
//! validation of bad steps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::harness;

use harness::{Env, step};
use serde_json::{Map, Value, json};
use steps::{OutcomePhase, StepError};

fn plugin() -> String {
    format!("{}/testdata/plugins/plugin.sh", env!("CARGO_MANIFEST_DIR"))
}

fn exec(mode: &str) -> promotion::PromotionStep {
    step("exec", "plugin", json!({ "command": plugin(), "config": { "mode": mode }, "timeout": "30s" }))
}

#[tokio::test]
async fn exec_plugins_follow_the_contract() {
    let env = Env::new();
    let outputs = Map::new();
    let done = steps::run_step(&exec("succeed"), &env.ctx(&outputs, None)).await;
    assert_eq!(done.phase, OutcomePhase::Succeeded, "{done:?}");
    assert_eq!(done.outputs["answer"], 42);
    assert_eq!(done.outputs["stage"], "dev", "the plugin sees the context");

    let first = steps::run_step(&exec("wait"), &env.ctx(&outputs, None)).await;
    assert_eq!(first.phase, OutcomePhase::Running, "{first:?}");
    assert_eq!(first.state, Some(json!({ "polls": 1 })));
    let second = steps::run_step(&exec("wait"), &env.ctx(&outputs, first.state.as_ref())).await;
    assert_eq!(second.phase, OutcomePhase::Succeeded, "the state came back: {second:?}");

    let failed = steps::run_step(&exec("fail"), &env.ctx(&outputs, None)).await;
    assert_eq!((failed.phase, failed.message.as_deref()), (OutcomePhase::Failed, Some("the plugin says no")));

    let big = steps::run_step(&exec("big"), &env.ctx(&outputs, None)).await;
    assert_eq!(big.phase, OutcomePhase::Failed);
    assert!(big.message.unwrap_or_default().contains("65536-byte limit"));
    assert_eq!(big.state, None);

    let crashed = steps::run_step(&exec("crash"), &env.ctx(&outputs, None)).await;
    assert_eq!(crashed.phase, OutcomePhase::Errored);
    assert!(crashed.message.unwrap_or_default().contains("boom"));

    let garbage = steps::run_step(&exec("garbage"), &env.ctx(&outputs, None)).await;
    assert_eq!(garbage.phase, OutcomePhase::Errored);

    let missing = step("exec", "x", json!({ "command": "ferry-no-such-plugin" }));
    assert_eq!(steps::run_step(&missing, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Failed);

    // Abort runs the same command with action "abort" and the stored state.
    let state = json!({ "polls": 1 });
    steps::abort_step(&exec("wait"), &env.ctx(&outputs, Some(&state))).await.unwrap();
    let marker = std::fs::read_to_string(env.workdir.path().join("aborted")).unwrap();
    assert_eq!(marker.trim(), r#"aborted {"polls":1}"#);
    // Built-in steps have nothing to abort.
    steps::abort_step(&step("copy", "c", json!({})), &env.ctx(&outputs, None)).await.unwrap();
}

async fn server() -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/ready", get(|| async { r#"{"ready": true, "version": "1.2"}"# }))
        .route("/starting", get(|| async { r#"{"ready": false}"# }))
        .route("/broken", get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn http_judges_responses_with_expressions() {
    let base = server().await;
    let env = Env::new();
    let outputs = Map::new();
    let check = |path: &str| {
        step(
            "http",
            "check",
            json!({
                "url": format!("{base}{path}"),
                "headers": [{ "name": "X-Stage", "value": "${{ ctx.stage }}" }],
                "successExpression": "response.status == 200 && response.body.ready",
                "failureExpression": "response.status >= 500",
                "outputs": [{ "name": "version", "fromExpression": "response.body.version" }]
            }),
        )
    };
    let ready = steps::run_step(&check("/ready"), &env.ctx(&outputs, None)).await;
    assert_eq!(ready.phase, OutcomePhase::Succeeded, "{ready:?}");
    assert_eq!(ready.outputs["version"], "1.2");
    assert_eq!(steps::run_step(&check("/starting"), &env.ctx(&outputs, None)).await.phase, OutcomePhase::Running);
    assert_eq!(steps::run_step(&check("/broken"), &env.ctx(&outputs, None)).await.phase, OutcomePhase::Failed);

    let plain = step("http", "plain", json!({ "url": format!("{base}/broken") }));
    let outcome = steps::run_step(&plain, &env.ctx(&outputs, None)).await;
    assert_eq!(outcome.phase, OutcomePhase::Failed);
    assert!(outcome.message.unwrap_or_default().contains("500"));
}

#[test]
fn validate_refuses_bad_steps_up_front() {
    let ok = vec![
        step(
            "git-clone",
            "clone",
            json!({ "repoURL": "${{ vars.repo }}", "checkout": [{ "branch": "main", "path": "r", "create": "${{ vars.create }}" }] }),
        ),
        step("git-push", "push", json!({ "path": "r", "generateTargetBranch": "${{ vars.next }}" })),
        step("exec", "e", json!({ "command": "x", "config": { "anything": ["goes"] } })),
    ];
    steps::validate(&ok).unwrap();

    let unknown = steps::validate(&[step("git-clonee", "c", json!({}))]).unwrap_err();
    assert!(matches!(unknown, StepError::UnknownStep { ref uses, .. } if uses == "git-clonee"), "{unknown}");

    let field = steps::validate(&[step("git-commit", "c", json!({ "path": "r", "mesage": "x" }))]).unwrap_err();
    assert!(matches!(field, StepError::InvalidConfig { .. }), "{field}");
    assert!(field.to_string().contains("unknown field `mesage`"), "{field}");

    let missing = steps::validate(&[step("yaml-update", "u", json!({ "updates": [] }))]).unwrap_err();
    assert!(missing.to_string().contains("missing field `path`"), "{missing}");

    let nested = steps::validate(&[step(
        "git-clone",
        "c",
        json!({ "repoURL": "${{ vars.repo }}", "checkout": [{ "branch": "main", "path": "r", "depth": 1 }] }),
    )])
    .unwrap_err();
    assert!(nested.to_string().contains("checkout[0]") && nested.to_string().contains("depth"), "{nested}");

    let wrong_type =
        steps::validate(&[step("git-push", "p", json!({ "path": "r", "generateTargetBranch": "yes" }))]).unwrap_err();
    assert!(matches!(wrong_type, StepError::InvalidConfig { .. }), "{wrong_type}");

    let syntax =
        steps::validate(&[step("copy", "c", json!({ "inPath": "${{ vars. }}", "outPath": "o" }))]).unwrap_err();
    assert!(syntax.to_string().contains("syntax error") && syntax.to_string().contains("vars."), "{syntax}");

    let mut bad_if = step("copy", "c", json!({ "inPath": "a", "outPath": "b" }));
    bad_if.if_ = Some("vars.env ==".into());
    assert!(matches!(steps::validate(&[bad_if]), Err(StepError::Expression(_))));

    let twice = steps::validate(&[
        step("copy", "c", json!({ "inPath": "a", "outPath": "b" })),
        step("copy", "c", json!({ "inPath": "a", "outPath": "b" })),
    ]);
    assert!(matches!(twice, Err(StepError::DuplicateAlias { .. })));
}

#[tokio::test]
async fn expression_errors_and_conditions_at_run_time() {
    let env = Env::new();
    let outputs = Map::new();
    let bad = step("copy", "c", json!({ "inPath": "${{ vars.nope }}", "outPath": "b" }));
    let outcome = steps::run_step(&bad, &env.ctx(&outputs, None)).await;
    assert_eq!(outcome.phase, OutcomePhase::Failed);
    let message = outcome.message.unwrap_or_default();
    assert!(message.contains("vars.nope") && message.contains("config.inPath"), "{message}");

    let mut skipped = step("copy", "c", json!({ "inPath": "a", "outPath": "b" }));
    skipped.if_ = Some("${{ vars.env == 'prod' }}".into());
    assert_eq!(steps::run_step(&skipped, &env.ctx(&outputs, None)).await.phase, OutcomePhase::Skipped);

    // A type that only shows after evaluation is caught when the step runs.
    let vars: Map<String, Value> = json!({ "next": "maybe" }).as_object().cloned().unwrap();
    let mut env2 = Env::new();
    env2.vars = vars;
    let push = step("git-push", "p", json!({ "path": "r", "generateTargetBranch": "${{ vars.next }}" }));
    let outcome = steps::run_step(&push, &env2.ctx(&outputs, None)).await;
    assert_eq!(outcome.phase, OutcomePhase::Failed);
    assert!(outcome.message.unwrap_or_default().contains("generateTargetBranch"));
}
