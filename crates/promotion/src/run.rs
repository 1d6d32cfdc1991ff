//! The promotion state machine: the next status given a step's outcome.
//!
//! The controller runs the current step (`status.currentStep`) and hands its outcome to
//! [`advance`], which returns the whole next status; storing it is the only record, so a
//! restarted controller resumes at the same step. In order:
//!
//! - [`begin`] moves a Pending promotion to Running at step 0.
//! - A step that **succeeds** (or is **skipped**, its `if` false) finishes; the next one
//!   starts, or the promotion **Succeeds** after the last.
//! - A step still **running** is called again later; past its `retry.timeout` (counted from
//!   when the step started) the promotion is **Errored**.
//! - A step that **fails** fails the promotion (**Failed**: a clear, final no).
//! - A step that **errors** is retried until it has errored `retry.errorThreshold` times in a
//!   row (default 1, so no retry); then the promotion is **Errored**. Any other outcome resets
//!   the count.
//! - The abort annotation ([`crate::ABORT_ANNOTATION`]) ends the promotion as **Aborted**,
//!   unless its last step has just succeeded (what landed cannot be un-landed).
//!
//! Outputs (of succeeded or running steps) are stored in `status.state` under the step's alias
//! and bounded in size ([`MAX_STATE_BYTES`]); outputs over the bound fail the promotion.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::duration::{elapsed, format_duration, format_timestamp, parse_duration, parse_timestamp};
use crate::{ABORT_ANNOTATION, Promotion, PromotionPhase, PromotionStatus, PromotionStep, StepPhase, StepStatus};

/// The bound on the serialised size of `status.state` (64 KiB): status lives in one object of
/// the API server, next to everything else.
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// What running a step once produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepOutcome {
    /// `Succeeded`, `Running` (call again later), `Failed`, `Errored` (may be retried),
    /// `Skipped` (its `if` was false) or `Aborted`. `Pending` is read as `Running`.
    pub phase: StepPhase,
    /// Why, for humans.
    pub message: Option<String>,
    /// Outputs, stored under the step's alias (replacing earlier ones).
    pub outputs: Option<serde_json::Value>,
}

/// `status.state` is over its size bound.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("promotion state is {size} bytes, over the bound of {max} bytes; step outputs must be smaller")]
pub struct StateTooLarge {
    /// Its serialised size.
    pub size: usize,
    /// The bound.
    pub max: usize,
}

/// The alias of step `index` (0-based): its `as`, or `step-<index>`.
pub fn step_alias(step: &PromotionStep, index: usize) -> String {
    match step.alias.as_deref() {
        Some(alias) if !alias.is_empty() => alias.to_owned(),
        _ => format!("step-{index}"),
    }
}

/// The step the promotion runs now, with its index, while it is Running.
pub fn current_step(promotion: &Promotion) -> Option<(usize, &PromotionStep)> {
    let status = promotion.status.as_ref()?;
    if status.phase != PromotionPhase::Running {
        return None;
    }
    let index = usize::try_from(status.current_step).ok()?;
    promotion.spec.steps.get(index).map(|step| (index, step))
}

/// Who asked for the promotion to be aborted (the abort annotation's value, possibly empty),
/// when someone did.
pub fn abort_requested(promotion: &Promotion) -> Option<String> {
    promotion.annotations().get(ABORT_ANNOTATION).cloned()
}

/// Starts a Pending promotion: Running at its first step (or Succeeded at once when it has no
/// steps, or Aborted when the abort annotation is already there). Any other phase is returned
/// unchanged, so calling it twice is harmless.
pub fn begin(promotion: &Promotion, now: DateTime<Utc>) -> PromotionStatus {
    let mut status = promotion.status.clone().unwrap_or_default();
    if status.phase != PromotionPhase::Pending {
        return status;
    }
    if let Some(who) = abort_requested(promotion) {
        return abort(promotion, &aborted_by(&who), now);
    }
    let stamp = format_timestamp(now);
    status.phase = PromotionPhase::Running;
    status.started_at = Some(stamp.clone());
    status.finished_at = None;
    status.current_step = 0;
    status.steps = initial_steps(promotion);
    if let Some(first) = status.steps.first_mut() {
        first.phase = StepPhase::Running;
        first.started_at = Some(stamp);
        status.message = Some(progress(promotion, 0));
    } else {
        finish(promotion, &mut status, PromotionPhase::Succeeded, now);
    }
    status
}

/// The next status after the current step produced `outcome` (see the module docs). A Pending
/// promotion is begun first; a finished one is returned unchanged.
pub fn advance(promotion: &Promotion, outcome: StepOutcome, now: DateTime<Utc>) -> PromotionStatus {
    let mut status = match promotion.status.as_ref().map(|s| s.phase) {
        None | Some(PromotionPhase::Pending) => begin(promotion, now),
        Some(_) => promotion.status.clone().unwrap_or_default(),
    };
    if status.phase != PromotionPhase::Running {
        return status;
    }
    let total = promotion.spec.steps.len();
    let index = usize::try_from(status.current_step).unwrap_or(usize::MAX);
    let Some(step) = promotion.spec.steps.get(index) else {
        // Past the end (the steps were edited?): nothing is left to run.
        finish(promotion, &mut status, PromotionPhase::Succeeded, now);
        return status;
    };
    if status.steps.len() != total {
        let mut fresh = initial_steps(promotion);
        for (new, old) in fresh.iter_mut().zip(status.steps.iter()) {
            if new.alias == old.alias && new.uses == old.uses {
                new.clone_from(old);
            }
        }
        status.steps = fresh;
    }
    let alias = step_alias(step, index);
    let stamp = format_timestamp(now);
    let started = {
        let record = &mut status.steps[index];
        record.attempts += 1;
        record.started_at.get_or_insert_with(|| stamp.clone());
        record.message.clone_from(&outcome.message);
        record.started_at.as_deref().and_then(parse_timestamp).unwrap_or(now)
    };

    if let (Some(outputs), StepPhase::Succeeded | StepPhase::Running | StepPhase::Pending) =
        (&outcome.outputs, outcome.phase)
    {
        status.state.insert(alias.clone(), outputs.clone());
        if let Err(err) = bound_state(&status.state, MAX_STATE_BYTES) {
            status.state.remove(&alias);
            end_step(&mut status.steps[index], StepPhase::Failed, &stamp, Some(format!("outputs too large: {err}")));
            finish(promotion, &mut status, PromotionPhase::Failed, now);
            return status;
        }
    }

    match outcome.phase {
        StepPhase::Succeeded | StepPhase::Skipped => {
            status.steps[index].errors = 0;
            end_step(&mut status.steps[index], outcome.phase, &stamp, None);
            let next = index + 1;
            if next >= total {
                finish(promotion, &mut status, PromotionPhase::Succeeded, now);
                return status;
            }
            status.current_step = u32::try_from(next).unwrap_or(u32::MAX);
            let upcoming = &mut status.steps[next];
            upcoming.phase = StepPhase::Running;
            upcoming.started_at = Some(stamp);
            status.message = Some(progress(promotion, next));
        }
        StepPhase::Running | StepPhase::Pending => {
            let record = &mut status.steps[index];
            record.phase = StepPhase::Running;
            record.errors = 0;
            match step.retry.as_ref().and_then(|r| r.timeout.as_deref()).map(parse_duration).transpose() {
                Err(err) => {
                    end_step(record, StepPhase::Failed, &stamp, Some(format!("invalid retry.timeout: {err}")));
                    finish(promotion, &mut status, PromotionPhase::Failed, now);
                    return status;
                }
                Ok(Some(timeout)) if elapsed(started, now) >= timeout => {
                    let why = format!("timed out after {}", format_duration(timeout));
                    end_step(record, StepPhase::Errored, &stamp, Some(why));
                    finish(promotion, &mut status, PromotionPhase::Errored, now);
                    return status;
                }
                Ok(_) => status.message = Some(progress(promotion, index)),
            }
        }
        StepPhase::Failed => {
            end_step(&mut status.steps[index], StepPhase::Failed, &stamp, None);
            finish(promotion, &mut status, PromotionPhase::Failed, now);
            return status;
        }
        StepPhase::Errored => {
            let threshold = step.retry.as_ref().and_then(|r| r.error_threshold).unwrap_or(1).max(1);
            let record = &mut status.steps[index];
            record.errors += 1;
            record.phase = StepPhase::Errored;
            if record.errors >= threshold {
                end_step(record, StepPhase::Errored, &stamp, None);
                finish(promotion, &mut status, PromotionPhase::Errored, now);
                return status;
            }
            status.message = Some(format!(
                "{} errored ({} of {threshold} errors allowed), retrying: {}",
                describe_step(step, index, total),
                record.errors,
                outcome.message.as_deref().unwrap_or("no message")
            ));
        }
        StepPhase::Aborted => {
            end_step(&mut status.steps[index], StepPhase::Aborted, &stamp, None);
            let why = outcome.message.clone().unwrap_or_else(|| "aborted by its step".to_owned());
            status.phase = PromotionPhase::Aborted;
            status.finished_at = Some(stamp);
            status.message = Some(why);
            return status;
        }
    }

    if let Some(who) = abort_requested(promotion) {
        let mut aborted = promotion.clone();
        aborted.status = Some(status);
        return abort(&aborted, &aborted_by(&who), now);
    }
    status
}

/// Ends the promotion as Aborted with `message` ("aborted by alice", "superseded by
/// promotion p2"); the step in progress is marked Aborted. A finished promotion is returned
/// unchanged.
pub fn abort(promotion: &Promotion, message: &str, now: DateTime<Utc>) -> PromotionStatus {
    let mut status = promotion.status.clone().unwrap_or_default();
    if status.phase.is_terminal() {
        return status;
    }
    let stamp = format_timestamp(now);
    if status.phase == PromotionPhase::Running {
        let index = usize::try_from(status.current_step).unwrap_or(usize::MAX);
        if let Some(record) = status.steps.get_mut(index) {
            end_step(record, StepPhase::Aborted, &stamp, None);
        }
    }
    status.phase = PromotionPhase::Aborted;
    status.finished_at = Some(stamp);
    status.message = Some(message.to_owned());
    status
}

/// The serialised size of `state` when it is within `max_bytes`.
pub fn bound_state(state: &BTreeMap<String, serde_json::Value>, max_bytes: usize) -> Result<usize, StateTooLarge> {
    // Serialising a map of JSON values cannot fail; if it ever did, treat the state as too large.
    let size = serde_json::to_vec(state).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > max_bytes { Err(StateTooLarge { size, max: max_bytes }) } else { Ok(size) }
}

/// The message for a finished promotion, built from its phase and the step it ended at;
/// `None` while it has not finished. Aborted promotions keep the message they were given.
pub fn terminal_message(promotion: &Promotion, status: &PromotionStatus) -> Option<String> {
    let freight = status.freight_alias.clone().unwrap_or_else(|| promotion.spec.freight.clone());
    let stage = &promotion.spec.stage;
    let index = usize::try_from(status.current_step).unwrap_or(usize::MAX);
    let at_step = || {
        let total = promotion.spec.steps.len();
        let step = promotion.spec.steps.get(index).map(|s| describe_step(s, index, total)).unwrap_or_default();
        let detail = status.steps.get(index).and_then(|s| s.message.clone()).unwrap_or_else(|| "no message".to_owned());
        (step, detail)
    };
    match status.phase {
        PromotionPhase::Pending | PromotionPhase::Running => None,
        PromotionPhase::Succeeded => Some(format!("promoted freight {freight} to {stage}")),
        PromotionPhase::Failed => {
            let (step, detail) = at_step();
            Some(format!("promotion of freight {freight} to {stage} failed at {step}: {detail}"))
        }
        PromotionPhase::Errored => {
            let (step, detail) = at_step();
            Some(format!("promotion of freight {freight} to {stage} errored at {step}: {detail}"))
        }
        PromotionPhase::Aborted => Some(status.message.clone().unwrap_or_else(|| "aborted".to_owned())),
    }
}

fn initial_steps(promotion: &Promotion) -> Vec<StepStatus> {
    promotion
        .spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| StepStatus { alias: step_alias(step, i), uses: step.uses.clone(), ..Default::default() })
        .collect()
}

fn end_step(record: &mut StepStatus, phase: StepPhase, stamp: &str, message: Option<String>) {
    record.phase = phase;
    record.finished_at = Some(stamp.to_owned());
    if message.is_some() {
        record.message = message;
    }
}

fn finish(promotion: &Promotion, status: &mut PromotionStatus, phase: PromotionPhase, now: DateTime<Utc>) {
    status.phase = phase;
    status.finished_at = Some(format_timestamp(now));
    status.message = terminal_message(promotion, status);
}

/// `step 2 of 3, push (git-push)`.
fn describe_step(step: &PromotionStep, index: usize, total: usize) -> String {
    format!("step {} of {total}, {} ({})", index + 1, step_alias(step, index), step.uses)
}

fn progress(promotion: &Promotion, index: usize) -> String {
    let total = promotion.spec.steps.len();
    match promotion.spec.steps.get(index) {
        Some(step) => format!("running {}", describe_step(step, index, total)),
        None => "running".to_owned(),
    }
}

fn aborted_by(who: &str) -> String {
    if who.trim().is_empty() { "aborted".to_owned() } else { format!("aborted by {who}") }
}

#[cfg(test)]
mod tests;
