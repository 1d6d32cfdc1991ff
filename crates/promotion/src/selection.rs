//! Auto-promotion: which freight to promote next, and what a newer freight does to one in flight.
//!
//! Also the run order of a stage's promotions: one runs at a time, oldest first.
//!
//! Auto-promotion never promotes a freight the stage already runs, nor one the stage has *any*
//! promotion for, whatever that promotion's phase (as Kargo). That is what makes a rollback
//! stick: after `ferry promote dev --freight <older>`, the newer freight already has its
//! (succeeded, then rolled back) promotion and is not picked again. A human can always promote
//! it again by hand.

use std::cmp::Ordering;

use kube::ResourceExt;

use crate::eligibility::{freight_label, newest_first};
use crate::{Freight, InterruptPolicy, Promotion, PromotionPhase, SelectionPolicy, Stage};

/// What auto-promotion should do for a stage now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoDecision {
    /// Nothing to do.
    Nothing {
        /// Why, for the stage's status.
        reason: String,
    },
    /// Create a promotion of this freight (it runs, or queues behind one in flight).
    Promote {
        /// The Freight's name.
        freight: String,
    },
    /// Abort promotion `running` (an older freight, not landed yet) and promote `freight`
    /// instead (`ReleaseLatest`); the new promotion updates the old one's open PR in place.
    Supersede {
        /// The in-flight Promotion's name.
        running: String,
        /// The Freight's name.
        freight: String,
    },
}

/// What auto-promotion looks at.
#[derive(Debug, Clone, Copy)]
pub struct SelectionInput<'a> {
    /// The stage.
    pub stage: &'a Stage,
    /// The freight available to it ([`crate::eligibility::available_freight`]).
    pub available: &'a [&'a Freight],
    /// Its upstream stages (only read by `MatchUpstream`).
    pub upstream_stages: &'a [Stage],
    /// The name of the freight the stage runs now, if any.
    pub current_freight: Option<&'a str>,
    /// Every promotion of the stage, in any order.
    pub promotions: &'a [Promotion],
}

/// Decides the stage's next automatic promotion.
pub fn next_auto_promotion(input: &SelectionInput<'_>) -> AutoDecision {
    let stage = input.stage;
    let stage_name = stage.name_any();
    let Some(auto) = stage.spec.auto_promotion.as_ref().filter(|a| a.enabled) else {
        return nothing("auto-promotion is off");
    };

    let mut candidates: Vec<&Freight> = input.available.to_vec();
    if approval_required(stage) {
        candidates.retain(|f| f.status.as_ref().is_some_and(|s| s.approved_for.contains_key(&stage_name)));
    }
    candidates.sort_by(|a, b| newest_first(a, b));

    let target = match auto.selection_policy {
        SelectionPolicy::NewestFreight => match candidates.first() {
            Some(f) => *f,
            None if approval_required(stage) => return nothing("no available freight is approved for this stage"),
            None => return nothing("no freight is available"),
        },
        SelectionPolicy::MatchUpstream => match match_upstream(stage, input.upstream_stages, &candidates) {
            Ok(f) => f,
            Err(reason) => return AutoDecision::Nothing { reason },
        },
    };
    let target_name = target.name_any();
    let label = freight_label(target);

    if input.current_freight == Some(target_name.as_str()) {
        return AutoDecision::Nothing { reason: format!("the stage already runs freight {label}") };
    }
    if let Some(existing) = input.promotions.iter().find(|p| p.spec.freight == target_name) {
        let phase = phase_of(existing);
        return AutoDecision::Nothing {
            reason: format!("freight {label} already has promotion {} ({phase:?})", existing.name_any()),
        };
    }

    let in_flight = in_flight(input.promotions);
    let Some(first) = in_flight.first() else {
        return AutoDecision::Promote { freight: target_name };
    };
    match auto.interrupt_policy {
        InterruptPolicy::Queue => AutoDecision::Promote { freight: target_name },
        InterruptPolicy::ReleaseLatest => {
            let rank = |name: &str| candidates.iter().position(|f| f.name_any() == name);
            // Freight no longer available counts as older than anything available.
            let target_is_newer = match (rank(&target_name), rank(&first.spec.freight)) {
                (Some(t), Some(r)) => t < r,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if target_is_newer || auto.selection_policy == SelectionPolicy::MatchUpstream {
                AutoDecision::Supersede { running: first.name_any(), freight: target_name }
            } else {
                AutoDecision::Nothing {
                    reason: format!(
                        "promotion {} of newer freight {} is in flight",
                        first.name_any(),
                        first.spec.freight
                    ),
                }
            }
        }
    }
}

/// The upstream stage's current freight, when it is among the candidates.
fn match_upstream<'a>(
    stage: &Stage,
    upstream_stages: &[Stage],
    candidates: &[&'a Freight],
) -> Result<&'a Freight, String> {
    let mut upstreams: Vec<&str> =
        stage.spec.requested_freight.iter().flat_map(|r| r.sources.stages.iter().map(String::as_str)).collect();
    upstreams.sort_unstable();
    upstreams.dedup();
    let [upstream] = upstreams.as_slice() else {
        return Err(format!("MatchUpstream needs exactly one upstream stage, the stage has {}", upstreams.len()));
    };
    let Some(up) = upstream_stages.iter().find(|s| s.name_any() == *upstream) else {
        return Err(format!("upstream stage {upstream} not found"));
    };
    let Some(current) = up.status.as_ref().and_then(|s| s.current_freight.as_ref()) else {
        return Err(format!("upstream stage {upstream} runs no freight yet"));
    };
    candidates
        .iter()
        .find(|f| f.name_any() == current.name)
        .copied()
        .ok_or_else(|| format!("freight {} of upstream stage {upstream} is not available here yet", current.name))
}

/// Whether freight must be approved for `stage` before it is promoted (`spec.approval.required`).
pub fn approval_required(stage: &Stage) -> bool {
    stage.spec.approval.as_ref().is_some_and(|a| a.required)
}

/// The phase of a promotion; one without status is `Pending`.
pub fn phase_of(promotion: &Promotion) -> PromotionPhase {
    promotion.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// Run order of a stage's promotions: oldest first, by `metadata.creationTimestamp`, then by
/// name (so promotions created in the same second keep a stable order). Promotions without a
/// creation time (not stored yet) come last.
pub fn oldest_first(a: &Promotion, b: &Promotion) -> Ordering {
    let created = |p: &Promotion| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    match (created(a), created(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The promotions that have not ended, Running ones first, then Pending ones in run order.
pub fn in_flight(promotions: &[Promotion]) -> Vec<&Promotion> {
    let mut out: Vec<&Promotion> = promotions.iter().filter(|p| !phase_of(p).is_terminal()).collect();
    out.sort_by(|a, b| {
        (phase_of(b) == PromotionPhase::Running)
            .cmp(&(phase_of(a) == PromotionPhase::Running))
            .then_with(|| oldest_first(a, b))
    });
    out
}

/// The promotion of a stage to start next: the oldest Pending one, and none while one runs
/// (one at a time per stage).
pub fn next_to_run(promotions: &[Promotion]) -> Option<String> {
    if promotions.iter().any(|p| phase_of(p) == PromotionPhase::Running) {
        return None;
    }
    promotions
        .iter()
        .filter(|p| phase_of(p) == PromotionPhase::Pending)
        .min_by(|a, b| oldest_first(a, b))
        .map(ResourceExt::name_any)
}

fn nothing(reason: &str) -> AutoDecision {
    AutoDecision::Nothing { reason: reason.to_owned() }
}

#[cfg(test)]
mod tests;
