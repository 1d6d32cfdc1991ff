//! Golden scenarios under `testdata/operation/<case>/`, played by a
//! simulated controller:
//!
//! - `desired.yaml`, optional `live.yaml` and `options.json` ([`PlanOptions`])
//!   make the plan, recomputed before every call to [`next`] from the live
//!   objects still present (as the controller does);
//! - optional `results.yaml`: results recorded before a controller restart;
//! - `script.txt`: how the cluster behaves (see [`Script`]);
//! - `expected.txt`: the plan, every step, and the final results.
//!
//! `FERRY_BLESS=1` rewrites the expectations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use application::{HookPhase, OperationPhase, ResourceResult, ResultCode, SyncPhase};
use health::{Health, HealthStatus};
use serde_json::Value;

use super::*;
use crate::plan::{PlanOptions, plan};

fn read_yaml(path: &Path) -> Vec<Value> {
    if !path.exists() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn parse_key(text: &str) -> ResourceKey {
    let parts: Vec<&str> = text.splitn(4, '/').collect();
    match parts.as_slice() {
        [group, kind, namespace, name] => ResourceKey::new(group, kind, namespace, name),
        _ => panic!("bad key {text:?}: expected group/Kind/namespace/name"),
    }
}

/// `STATUS [message...]`.
fn parse_health(words: &[&str]) -> Health {
    let (status, message) = words.split_first().expect("a health status");
    Health::new(status.parse().expect("a health status"), message.join(" "))
}

/// How the simulated cluster behaves. One directive per line (`#` starts a
/// comment); keys are `group/Kind/namespace/name`:
///
/// - `mode dry-run`;
/// - `initial KEY STATUS [message]`: a live object at the start (objects of
///   `live.yaml` start Healthy);
/// - `after apply|create KEY STATUS [message]`: health right after the
///   object is applied or created (default: Healthy after apply,
///   Progressing after a hook is created);
/// - `fail apply|create|prune|delete KEY message`: that IO fails;
/// - `linger KEY`: a pruned object stays (Pending deletion) until deleted;
/// - `then EVENT[; EVENT]...`: applied, in order, one line per Wait step.
///   Events: `set KEY STATUS [message]`, `delete KEY`, `terminate`,
///   `restart` (only notes it: the machine keeps no memory anyway).
#[derive(Default)]
struct Script {
    mode: Option<Mode>,
    initial: Vec<(ResourceKey, Health)>,
    after: BTreeMap<(String, ResourceKey), Health>,
    fail: BTreeMap<(String, ResourceKey), String>,
    linger: BTreeSet<ResourceKey>,
    then: Vec<String>,
}

fn parse_script(text: &str) -> Script {
    let mut script = Script::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["mode", "dry-run"] => script.mode = Some(Mode::DryRun),
            ["initial", key, health @ ..] => script.initial.push((parse_key(key), parse_health(health))),
            ["after", verb, key, health @ ..] => {
                script.after.insert((verb.to_string(), parse_key(key)), parse_health(health));
            }
            ["fail", verb, key, message @ ..] => {
                script.fail.insert((verb.to_string(), parse_key(key)), message.join(" "));
            }
            ["linger", key] => {
                script.linger.insert(parse_key(key));
            }
            ["then", ..] => script.then.push(line.trim_start_matches("then").trim().to_owned()),
            _ => panic!("bad script line {line:?}"),
        }
    }
    script
}

fn describe_work(work: &Work<'_>) -> String {
    let task = work.task();
    let at = format!("{} ({} wave {})", task.key, task.phase, task.wave);
    match work {
        Work::Apply { .. } => format!("apply {at}"),
        Work::CreateHook { recreate, .. } => format!("create-hook {at} recreate={recreate}"),
        Work::FinishHook { phase, delete, message, .. } => {
            format!("finish-hook {at} {phase:?} delete={delete} {message:?}")
        }
        Work::Prune { .. } => format!("prune {at}"),
        Work::Skip { .. } => format!("skip {at}"),
        Work::ValidateHook { .. } => format!("validate-hook {at}"),
        Work::Fail { message, .. } => format!("fail {at} {message:?}"),
    }
}

fn render_result(r: &ResourceResult) -> String {
    let phase = r.sync_phase.map_or("-".to_owned(), |p| format!("{p:?}"));
    let hook = r.hook_phase.map_or("-".to_owned(), |p| format!("{p:?}"));
    format!(
        "{phase:<8} {:>3} {}/{} {} {}/{}  {:?} hook={hook} {:?}",
        r.wave,
        if r.group.is_empty() { "core" } else { &r.group },
        r.version,
        r.kind,
        r.namespace.as_deref().unwrap_or(""),
        r.name,
        r.status,
        r.message.as_deref().unwrap_or("")
    )
}

/// Plays one case and renders what happened.
fn play(dir: &Path) -> String {
    let desired = read_yaml(&dir.join("desired.yaml"));
    let live_objects = read_yaml(&dir.join("live.yaml"));
    let options: PlanOptions = serde_json::from_str(
        &std::fs::read_to_string(dir.join("options.json")).unwrap_or_else(|_| "{\"app\": \"shop\"}".into()),
    )
    .expect("options.json parses");
    let script = parse_script(&std::fs::read_to_string(dir.join("script.txt")).unwrap_or_default());
    let mut results: Vec<ResourceResult> = match std::fs::read_to_string(dir.join("results.yaml")) {
        Ok(text) => serde_saphyr::from_str(&text).expect("results.yaml parses"),
        Err(_) => Vec::new(),
    };

    let mut live: BTreeMap<ResourceKey, Health> = live_objects
        .iter()
        .map(|o| (ResourceKey::from_object(o).expect("live key"), Health::new(HealthStatus::Healthy, "")))
        .collect();
    live.extend(script.initial.iter().cloned());
    let mode = script.mode.unwrap_or(Mode::Apply);
    let mut termination = Termination::NotRequested;
    let mut events = script.then.iter();
    // Hooks created before a restart count: creating one again would re-run it.
    let mut created: BTreeSet<(Phase, ResourceKey)> = results
        .iter()
        .filter(|r| r.hook_phase.is_some())
        .filter_map(|r| Some((Phase::from(r.sync_phase?), result_key(r))))
        .collect();

    let mut out = String::new();
    let first_plan = plan(&desired, &live_objects, &options).expect("plan");
    writeln!(out, "plan:").ok();
    for line in first_plan.to_string().lines() {
        writeln!(out, "  {line}").ok();
    }
    if !results.is_empty() {
        writeln!(out, "resuming from {} recorded results", results.len()).ok();
    }
    for _ in 0..60 {
        // Live objects of live.yaml that are gone no longer yield prunes.
        let still_live: Vec<Value> = live_objects
            .iter()
            .filter(|o| ResourceKey::from_object(o).is_ok_and(|k| live.contains_key(&k)))
            .cloned()
            .collect();
        let the_plan = plan(&desired, &still_live, &options).expect("plan");
        // Results go through JSON between calls, as they do through status.
        let stored: Vec<ResourceResult> =
            serde_json::from_value(serde_json::to_value(&results).expect("serialize")).expect("deserialize");
        let health = |key: &ResourceKey| live.get(key).cloned();
        let input = StepInput { plan: &the_plan, results: &stored, health: &health, mode, termination };
        match next(&input) {
            Step::Run(work) => {
                writeln!(out, "run:").ok();
                for w in &work {
                    let task = w.task();
                    let key = task.key.clone();
                    let failure = |verb: &str| script.fail.get(&(verb.to_owned(), key.clone())).cloned();
                    let outcome = match w {
                        Work::Apply { .. } => match failure("apply") {
                            Some(e) => Outcome::Failed(e),
                            None => {
                                if mode == Mode::Apply {
                                    let after = script.after.get(&("apply".into(), key.clone())).cloned();
                                    live.insert(key.clone(), after.unwrap_or(Health::new(HealthStatus::Healthy, "")));
                                }
                                Outcome::Ok
                            }
                        },
                        Work::CreateHook { recreate, .. } => {
                            assert!(created.insert((task.phase, key.clone())), "hook {key} created twice");
                            if *recreate && live.remove(&key).is_some() {
                                writeln!(out, "  (deleted the existing {key})").ok();
                            }
                            match failure("create") {
                                Some(e) => Outcome::Failed(e),
                                None => {
                                    let after = script.after.get(&("create".into(), key.clone())).cloned();
                                    let running = Health::new(HealthStatus::Progressing, "running");
                                    live.insert(key.clone(), after.unwrap_or(running));
                                    Outcome::Ok
                                }
                            }
                        }
                        Work::FinishHook { delete, .. } => match failure("delete") {
                            Some(e) if *delete => Outcome::Failed(e),
                            _ => {
                                if *delete {
                                    live.remove(&key);
                                }
                                Outcome::Ok
                            }
                        },
                        Work::Prune { .. } => match failure("prune") {
                            Some(e) => Outcome::Failed(e),
                            None if mode == Mode::DryRun => Outcome::Ok,
                            None if script.linger.contains(&key) => {
                                live.insert(key.clone(), Health::new(HealthStatus::Progressing, "Pending deletion"));
                                Outcome::Ok
                            }
                            None => {
                                live.remove(&key);
                                Outcome::Ok
                            }
                        },
                        Work::Skip { .. } | Work::ValidateHook { .. } | Work::Fail { .. } => Outcome::Ok,
                    };
                    let note = match &outcome {
                        Outcome::Ok => String::new(),
                        Outcome::Failed(e) => format!(" -> failed: {e}"),
                    };
                    writeln!(out, "  {}{note}", describe_work(w)).ok();
                    record(&mut results, w, outcome);
                }
            }
            Step::Wait { message } => {
                writeln!(out, "wait: {message}").ok();
                let Some(batch) = events.next() else {
                    writeln!(out, "stuck (script has no more events)").ok();
                    break;
                };
                for event in batch.split(';').map(str::trim) {
                    writeln!(out, "  event: {event}").ok();
                    let words: Vec<&str> = event.split_whitespace().collect();
                    match words.as_slice() {
                        ["set", key, health @ ..] => {
                            live.insert(parse_key(key), parse_health(health));
                        }
                        ["delete", key] => {
                            live.remove(&parse_key(key));
                        }
                        ["terminate"] => termination = Termination::Requested,
                        ["restart"] => {}
                        _ => panic!("bad event {event:?}"),
                    }
                }
            }
            Step::Finish { phase, message } => {
                writeln!(out, "finish: {phase:?}: {message}").ok();
                // Finished stays finished: a requeue after the end changes nothing.
                let again = next(&input);
                assert_eq!(again, Step::Finish { phase, message }, "{}", dir.display());
                break;
            }
        }
    }
    writeln!(out, "results:").ok();
    for r in &results {
        writeln!(out, "  {}", render_result(r)).ok();
    }
    out
}

#[test]
fn golden_scenarios() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/operation");
    let bless = std::env::var("FERRY_BLESS").is_ok_and(|v| v == "1");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).expect("testdata").map(|e| e.expect("entry").path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "expected at least 10 scenarios under {}", root.display());
    let mut failures = Vec::new();
    for dir in &dirs {
        let got = play(dir);
        let path = dir.join("expected.txt");
        if bless {
            std::fs::write(&path, &got).expect("bless");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failures.push(format!("{}:\n--- want\n{want}--- got\n{got}", dir.display()));
        }
    }
    assert!(failures.is_empty(), "golden mismatches (FERRY_BLESS=1 rewrites):\n{}", failures.join("\n"));
}

fn task(phase: Phase, wave: i32, object: Value) -> Task {
    let key = ResourceKey::from_object(&object).expect("key");
    Task {
        phase,
        wave,
        key,
        action: Action::Hook {
            object,
            delete_policies: vec![DeletePolicy::HookSucceeded],
            sync_options: Default::default(),
        },
    }
}

fn job(name: &str) -> Value {
    serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "shop"}})
}

#[test]
fn record_updates_in_place_and_keeps_order() {
    let a = task(Phase::PreSync, -1, job("a"));
    let b = task(Phase::PreSync, 0, job("b"));
    // The same object as a hook of another phase is another entry.
    let b_post = task(Phase::PostSync, 0, job("b"));
    let mut results = Vec::new();
    record(&mut results, &Work::CreateHook { task: &a, recreate: false }, Outcome::Ok);
    record(&mut results, &Work::CreateHook { task: &b, recreate: false }, Outcome::Ok);
    let finish = Work::FinishHook { task: &a, phase: HookPhase::Succeeded, delete: true, message: "done".into() };
    record(&mut results, &finish, Outcome::Failed("forbidden".into()));
    record(&mut results, &Work::CreateHook { task: &b_post, recreate: false }, Outcome::Ok);
    let names: Vec<(String, Option<SyncPhase>, Option<HookPhase>)> =
        results.iter().map(|r| (r.name.clone(), r.sync_phase, r.hook_phase)).collect();
    assert_eq!(
        names,
        [
            ("a".to_owned(), Some(SyncPhase::PreSync), Some(HookPhase::Succeeded)),
            ("b".to_owned(), Some(SyncPhase::PreSync), Some(HookPhase::Running)),
            ("b".to_owned(), Some(SyncPhase::PostSync), Some(HookPhase::Running)),
        ]
    );
    let first = &results[0];
    assert_eq!((first.group.as_str(), first.version.as_str(), first.wave), ("batch", "v1", -1));
    assert_eq!(first.namespace.as_deref(), Some("shop"));
    assert_eq!(first.message.as_deref(), Some("done; deleting the hook failed: forbidden"));
    assert_eq!(first.status, ResultCode::Synced);
}

#[test]
fn cluster_scoped_results_have_no_namespace() {
    let object = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let key = ResourceKey::from_object(&object).expect("key");
    let apply =
        Task { phase: Phase::Sync, wave: 0, key, action: Action::Apply { object, sync_options: Default::default() } };
    let mut results = Vec::new();
    record(&mut results, &Work::Apply { task: &apply }, Outcome::Ok);
    assert_eq!(results[0].namespace, None);
    assert_eq!(results[0].version, "v1");
    assert_eq!(results[0].group, "");
}

#[test]
fn live_health_treats_kinds_without_a_check_as_healthy() {
    let config_map = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(live_health(Some(&config_map)).map(|h| h.status), Some(HealthStatus::Healthy));
    assert_eq!(live_health(None), None);
    let running = serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {}});
    assert_eq!(live_health(Some(&running)).map(|h| h.status), Some(HealthStatus::Progressing));
}

#[test]
fn suspended_resources_do_not_block_a_wave_but_suspended_hooks_do() {
    let desired = vec![
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "paused", "namespace": "shop"}}),
        serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hook", "namespace": "shop",
            "annotations": {"ferry.dev/hook": "PostSync"}}}),
    ];
    let the_plan = plan(&desired, &[], &PlanOptions { app: "shop".into(), ..PlanOptions::default() }).expect("plan");
    let mut results = Vec::new();
    let suspended = |_: &ResourceKey| Some(Health::new(HealthStatus::Suspended, "paused"));
    let step = |results: &[ResourceResult]| {
        let input = StepInput {
            plan: &the_plan,
            results,
            health: &suspended,
            mode: Mode::Apply,
            termination: Termination::NotRequested,
        };
        match next(&input) {
            Step::Run(work) => Err(work.iter().map(describe_work).collect::<Vec<_>>()),
            other => Ok(format!("{other:?}")),
        }
    };
    let Err(first) = step(&results) else { panic!("expected work") };
    assert_eq!(first, ["apply apps/Deployment/shop/paused (Sync wave 0)"]);
    record(&mut results, &Work::Apply { task: &the_plan.tasks[0] }, Outcome::Ok);
    let Err(second) = step(&results) else { panic!("expected the PostSync hook") };
    assert_eq!(second, ["create-hook batch/Job/shop/hook (PostSync wave 0) recreate=true"]);
    record(&mut results, &Work::CreateHook { task: &the_plan.tasks[1], recreate: true }, Outcome::Ok);
    let waiting = step(&results).expect("a wait");
    assert!(
        waiting.contains("waiting for completion of hook batch/Job hook (PostSync): Suspended: paused"),
        "{waiting}"
    );
}

#[test]
fn termination_without_running_hooks_finishes_at_once() {
    let the_plan = plan(
        &[serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}})],
        &[],
        &PlanOptions { app: "shop".into(), ..PlanOptions::default() },
    )
    .expect("plan");
    let absent = |_: &ResourceKey| None;
    let input = StepInput {
        plan: &the_plan,
        results: &[],
        health: &absent,
        mode: Mode::Apply,
        termination: Termination::Requested,
    };
    assert_eq!(next(&input), Step::Finish { phase: OperationPhase::Failed, message: TERMINATED.into() });
}
