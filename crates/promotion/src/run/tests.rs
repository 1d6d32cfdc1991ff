use serde_json::json;

use super::*;
use crate::eligibility::tests::{at, rfc};
use crate::{PromotionSpec, StepRetry};

fn step(uses: &str, alias: Option<&str>, retry: Option<StepRetry>) -> PromotionStep {
    PromotionStep { uses: uses.to_owned(), alias: alias.map(str::to_owned), retry, ..Default::default() }
}

fn promotion(steps: Vec<PromotionStep>) -> Promotion {
    Promotion::new(
        "staging-abc",
        PromotionSpec { stage: "staging".into(), freight: "abc123".into(), steps, ..Default::default() },
    )
}

fn three() -> Promotion {
    promotion(vec![
        step("git-clone", Some("clone"), None),
        step("yaml-update", None, None),
        step("git-push", Some("push"), None),
    ])
}

fn outcome(phase: StepPhase) -> StepOutcome {
    StepOutcome { phase, ..Default::default() }
}

fn with(mut p: Promotion, status: PromotionStatus) -> Promotion {
    p.status = Some(status);
    p
}

/// Applies outcomes one after the other, a minute apart, starting at minute 1.
fn run(p: &Promotion, outcomes: Vec<StepOutcome>) -> PromotionStatus {
    let mut p = with(p.clone(), begin(p, at(0)));
    for (i, o) in outcomes.into_iter().enumerate() {
        let status = advance(&p, o, at(i as i64 + 1));
        p.status = Some(status);
    }
    p.status.unwrap_or_default()
}

#[test]
fn aliases_default_to_the_step_index() {
    let p = three();
    assert_eq!(step_alias(&p.spec.steps[0], 0), "clone");
    assert_eq!(step_alias(&p.spec.steps[1], 1), "step-1");
    assert_eq!(step_alias(&step("x", Some(""), None), 4), "step-4");
}

#[test]
fn begin_starts_the_first_step_once() {
    let p = three();
    let status = begin(&p, at(0));
    assert_eq!(status.phase, PromotionPhase::Running);
    assert_eq!(status.started_at, Some(rfc(0)));
    assert_eq!(status.current_step, 0);
    let aliases: Vec<&str> = status.steps.iter().map(|s| s.alias.as_str()).collect();
    assert_eq!(aliases, ["clone", "step-1", "push"]);
    assert_eq!(status.steps[0].phase, StepPhase::Running);
    assert_eq!(status.steps[1].phase, StepPhase::Pending);
    assert_eq!(status.message.as_deref(), Some("running step 1 of 3, clone (git-clone)"));
    // Idempotent: a running promotion is not restarted.
    let again = begin(&with(p, status.clone()), at(5));
    assert_eq!(again, status);
}

#[test]
fn a_promotion_without_steps_succeeds_at_once() {
    let status = begin(&promotion(vec![]), at(0));
    assert_eq!(status.phase, PromotionPhase::Succeeded);
    assert_eq!(status.message.as_deref(), Some("promoted freight abc123 to staging"));
}

#[test]
fn steps_advance_to_success_with_outputs_under_their_alias() {
    let mut first = outcome(StepPhase::Succeeded);
    first.outputs = Some(json!({ "path": "/tmp/w" }));
    let mut last = outcome(StepPhase::Succeeded);
    last.outputs = Some(json!({ "commit": "deadbeef" }));
    let p = three();
    let status = run(&p, vec![first, outcome(StepPhase::Skipped), last]);
    assert_eq!(status.phase, PromotionPhase::Succeeded);
    assert_eq!(status.finished_at, Some(rfc(3)));
    assert_eq!(status.message.as_deref(), Some("promoted freight abc123 to staging"));
    assert_eq!(status.state.get("clone"), Some(&json!({ "path": "/tmp/w" })));
    assert_eq!(status.state.get("push"), Some(&json!({ "commit": "deadbeef" })));
    let phases: Vec<StepPhase> = status.steps.iter().map(|s| s.phase).collect();
    assert_eq!(phases, [StepPhase::Succeeded, StepPhase::Skipped, StepPhase::Succeeded]);
    // Step 2 started when step 1 finished, and finished one minute later.
    assert_eq!(status.steps[1].started_at, Some(rfc(1)));
    assert_eq!(status.steps[1].finished_at, Some(rfc(2)));
    // Finished promotions do not move.
    let done = with(p, status.clone());
    assert_eq!(advance(&done, outcome(StepPhase::Failed), at(9)), status);
}

#[test]
fn a_running_step_stays_current_and_keeps_its_outputs() {
    let mut running = outcome(StepPhase::Running);
    running.outputs = Some(json!({ "pr": 7 }));
    let status = run(&three(), vec![running.clone(), running]);
    assert_eq!(status.phase, PromotionPhase::Running);
    assert_eq!(status.current_step, 0);
    assert_eq!(status.steps[0].attempts, 2);
    assert_eq!(status.steps[0].phase, StepPhase::Running);
    assert_eq!(status.state.get("clone"), Some(&json!({ "pr": 7 })));
}

#[test]
fn a_failed_step_fails_the_promotion_with_its_message() {
    let failed = StepOutcome { phase: StepPhase::Failed, message: Some("push rejected".into()), outputs: None };
    let status = run(&three(), vec![outcome(StepPhase::Succeeded), failed]);
    assert_eq!(status.phase, PromotionPhase::Failed);
    assert_eq!(status.current_step, 1);
    assert_eq!(status.steps[1].phase, StepPhase::Failed);
    assert_eq!(
        status.message.as_deref(),
        Some("promotion of freight abc123 to staging failed at step 2 of 3, step-1 (yaml-update): push rejected")
    );
}

#[test]
fn an_error_without_retry_errors_the_promotion() {
    let errored =
        StepOutcome { phase: StepPhase::Errored, message: Some("registry unreachable".into()), outputs: None };
    let status = run(&three(), vec![errored]);
    assert_eq!(status.phase, PromotionPhase::Errored);
    assert_eq!(status.steps[0].errors, 1);
    assert_eq!(
        status.message.as_deref(),
        Some("promotion of freight abc123 to staging errored at step 1 of 3, clone (git-clone): registry unreachable")
    );
}

#[test]
fn errors_are_retried_up_to_the_threshold_and_reset_by_progress() {
    let retry = Some(StepRetry { error_threshold: Some(3), timeout: None });
    let p = promotion(vec![step("git-push", Some("push"), retry)]);
    let err = || StepOutcome { phase: StepPhase::Errored, message: Some("conflict".into()), outputs: None };
    let status = run(&p, vec![err(), err()]);
    assert_eq!(status.phase, PromotionPhase::Running);
    assert_eq!(status.steps[0].errors, 2);
    assert_eq!(
        status.message.as_deref(),
        Some("step 1 of 1, push (git-push) errored (2 of 3 errors allowed), retrying: conflict")
    );
    // A running outcome resets the consecutive count.
    let status = run(&p, vec![err(), err(), outcome(StepPhase::Running), err(), err()]);
    assert_eq!((status.phase, status.steps[0].errors), (PromotionPhase::Running, 2));
    let status = run(&p, vec![err(), err(), err()]);
    assert_eq!(status.phase, PromotionPhase::Errored);
    assert_eq!(status.steps[0].attempts, 3);
}

#[test]
fn a_running_step_times_out() {
    let retry = Some(StepRetry { error_threshold: None, timeout: Some("2m".into()) });
    let p = promotion(vec![step("git-wait-for-pr", Some("wait"), retry)]);
    let status = run(&p, vec![outcome(StepPhase::Running)]);
    assert_eq!(status.phase, PromotionPhase::Running);
    // Started at minute 0; the second call is at minute 2.
    let status = run(&p, vec![outcome(StepPhase::Running), outcome(StepPhase::Running)]);
    assert_eq!(status.phase, PromotionPhase::Errored);
    assert_eq!(status.steps[0].phase, StepPhase::Errored);
    assert_eq!(
        status.message.as_deref(),
        Some(
            "promotion of freight abc123 to staging errored at step 1 of 1, wait (git-wait-for-pr): timed out after 2m"
        )
    );
}

#[test]
fn an_invalid_timeout_fails_clearly() {
    let retry = Some(StepRetry { error_threshold: None, timeout: Some("forever".into()) });
    let status = run(&promotion(vec![step("http", None, retry)]), vec![outcome(StepPhase::Running)]);
    assert_eq!(status.phase, PromotionPhase::Failed);
    let message = status.message.unwrap_or_default();
    assert!(message.contains("invalid retry.timeout: invalid duration \"forever\""), "{message}");
}

#[test]
fn the_abort_annotation_aborts_between_steps_but_not_a_finished_promotion() {
    let mut p = three();
    p.metadata.annotations = Some([(ABORT_ANNOTATION.to_owned(), "alice".to_owned())].into());
    // Pending: never starts.
    let status = begin(&p, at(0));
    assert_eq!((status.phase, status.message.as_deref()), (PromotionPhase::Aborted, Some("aborted by alice")));

    let running = with(p.clone(), begin(&three(), at(0)));
    let status = advance(&running, outcome(StepPhase::Succeeded), at(1));
    assert_eq!(status.phase, PromotionPhase::Aborted);
    assert_eq!(status.steps[0].phase, StepPhase::Succeeded);
    assert_eq!(status.steps[1].phase, StepPhase::Aborted);

    // The last step landed: the promotion succeeded, the annotation came too late.
    let mut single = promotion(vec![step("git-push", None, None)]);
    single.status = Some(begin(&single, at(0)));
    single.metadata.annotations = p.metadata.annotations.clone();
    assert_eq!(advance(&single, outcome(StepPhase::Succeeded), at(1)).phase, PromotionPhase::Succeeded);
}

#[test]
fn abort_marks_the_current_step_and_keeps_finished_ones() {
    let p = three();
    let running = with(p.clone(), run(&p, vec![outcome(StepPhase::Succeeded)]));
    let status = abort(&running, "superseded by promotion staging-def", at(5));
    assert_eq!(status.phase, PromotionPhase::Aborted);
    assert_eq!(status.finished_at, Some(rfc(5)));
    assert_eq!(status.message.as_deref(), Some("superseded by promotion staging-def"));
    let phases: Vec<StepPhase> = status.steps.iter().map(|s| s.phase).collect();
    assert_eq!(phases, [StepPhase::Succeeded, StepPhase::Aborted, StepPhase::Pending]);
    let failed = with(p.clone(), run(&p, vec![outcome(StepPhase::Failed)]));
    assert_eq!(abort(&failed, "x", at(9)).phase, PromotionPhase::Failed);
}

#[test]
fn a_pending_promotion_is_begun_by_advance() {
    let status = advance(&three(), outcome(StepPhase::Succeeded), at(1));
    assert_eq!(status.phase, PromotionPhase::Running);
    assert_eq!(status.current_step, 1);
    assert_eq!(status.steps[0].started_at, Some(rfc(1)));
}

#[test]
fn state_is_bounded() {
    let mut state = BTreeMap::new();
    state.insert("a".to_owned(), json!("x"));
    assert_eq!(bound_state(&state, 100), Ok(r#"{"a":"x"}"#.len()));
    state.insert("b".to_owned(), json!("y".repeat(200)));
    let err = bound_state(&state, 100).unwrap_err();
    assert_eq!(err.max, 100);
    assert!(err.size > 200);
    assert!(err.to_string().starts_with("promotion state is "), "{err}");
}

#[test]
fn oversized_outputs_fail_the_promotion_and_are_not_stored() {
    let big = StepOutcome {
        phase: StepPhase::Succeeded,
        message: None,
        outputs: Some(json!({ "blob": "x".repeat(MAX_STATE_BYTES) })),
    };
    let status = run(&three(), vec![big]);
    assert_eq!(status.phase, PromotionPhase::Failed);
    assert!(!status.state.contains_key("clone"));
    let message = status.message.unwrap_or_default();
    assert!(message.contains("outputs too large: promotion state is"), "{message}");
}

#[test]
fn a_step_reporting_aborted_aborts_the_promotion() {
    let aborted = StepOutcome { phase: StepPhase::Aborted, message: Some("plugin cleaned up".into()), outputs: None };
    let status = run(&three(), vec![aborted]);
    assert_eq!((status.phase, status.message.as_deref()), (PromotionPhase::Aborted, Some("plugin cleaned up")));
}

#[test]
fn current_step_is_reported_while_running() {
    let p = three();
    assert_eq!(current_step(&p), None);
    let running = with(p.clone(), run(&p, vec![outcome(StepPhase::Succeeded)]));
    assert_eq!(current_step(&running).map(|(i, s)| (i, s.uses.as_str())), Some((1, "yaml-update")));
}
