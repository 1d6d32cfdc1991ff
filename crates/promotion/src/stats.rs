//! DORA figures from promotion history.
//!
//! Everything here is computed from Promotion objects (and the Freight they carried) as they
//! stand in the cluster; there is no separate event log. The caller passes the time window
//! (its end is "now"), so the functions are pure and testable with hand-built histories.
//!
//! Definitions, per stage (a promotion "ends" at its `status.finishedAt`; promotions that have
//! not ended, or whose `finishedAt` is unreadable, are ignored):
//!
//! - **Deployment**: a promotion that ended `Succeeded` inside the window.
//! - **Deployment frequency**: deployments divided by the window's length in days (24 h).
//! - **Lead time** of a deployment: from the freight's source time to the deployment's end. The
//!   source time is the newest `commits[].committedAt` of the freight (the newest commit is the
//!   change that made this freight new); without commit times, the Freight's
//!   `metadata.creationTimestamp`. Deployments whose Freight is gone are left out. A negative
//!   lead time (clock skew) counts as zero. Reported as the median and the 90th percentile,
//!   by the nearest-rank method (the smallest sample with at least p% of samples at or below it).
//! - **Change failure**: a deployment P (freight F) is a change failure when the next promotion of
//!   the same stage to end after P, ignoring `Aborted` ones, is either
//!   - a *rollback*: it `Succeeded` with freight created before F (by `metadata.creationTimestamp`), or
//!   - a *failed verification*: it ended `Failed` or `Errored`. Promotions end with the stage's
//!     checks (app sync and health, gates), so a failing promotion right after P means the stage
//!     was not left in a state that verifies.
//!
//!   The **change failure rate** is change failures divided by deployments (none when there were
//!   no deployments).
//! - **Time to restore**: an *incident* starts when a promotion ends `Failed` or `Errored` while no
//!   incident is open, or when a deployment that turns out to be rolled back ends (rollbacks
//!   start at the bad deployment: that is when the stage broke). It ends at the stage's next
//!   `Succeeded` promotion. Incidents that start in the window and have ended are measured; the
//!   median (nearest rank) is reported, and the incidents still open are counted.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::parse_timestamp;
use crate::{Freight, Promotion, PromotionPhase};

/// A point in time.
type Timestamp = DateTime<Utc>;

const DAY_SECONDS: f64 = 86_400.0;

/// The time range the figures cover: `[start, end]`, with `end` usually now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant counted.
    pub start: DateTime<Utc>,
    /// The last instant counted (now).
    pub end: DateTime<Utc>,
}

/// A duration summary over samples, in whole seconds.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// How many samples.
    pub samples: usize,
    /// The median (nearest rank).
    pub median_seconds: i64,
    /// The 90th percentile (nearest rank).
    pub p90_seconds: i64,
}

/// The DORA figures of one stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageStats {
    /// The stage's name.
    pub stage: String,
    /// Succeeded promotions that ended in the window.
    pub deployments: usize,
    /// Deployments per day over the window (none for an empty window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployments_per_day: Option<f64>,
    /// Lead time from source to this stage (none without samples).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_time: Option<Spread>,
    /// Deployments that were change failures.
    pub change_failures: usize,
    /// `change_failures / deployments` (none without deployments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_failure_rate: Option<f64>,
    /// Time to restore over the incidents that started in the window and ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_restore: Option<Spread>,
    /// Incidents that started in the window and are not restored yet.
    pub open_incidents: usize,
}

/// One promotion reduced to what the figures need.
#[derive(Debug, Clone)]
struct Ended<'a> {
    freight: &'a str,
    phase: PromotionPhase,
    finished: Timestamp,
}

/// The DORA figures of every stage that has promotions in `promotions`, sorted by stage name.
///
/// `promotions` is the whole history (those before the window decide what came next for the
/// ones in it); `freight` is every Freight still known, for source times and ordering. Filter
/// `promotions` by stage beforehand to get one stage.
pub fn compute(promotions: &[Promotion], freight: &[Freight], window: Window) -> Vec<StageStats> {
    let freight: HashMap<&str, &Freight> =
        freight.iter().filter_map(|f| f.metadata.name.as_deref().map(|n| (n, f))).collect();
    let mut by_stage: BTreeMap<&str, Vec<Ended<'_>>> = BTreeMap::new();
    for p in promotions {
        let Some(status) = &p.status else { continue };
        if !status.phase.is_terminal() {
            continue;
        }
        let Some(finished) = status.finished_at.as_deref().and_then(parse_timestamp) else { continue };
        by_stage.entry(p.spec.stage.as_str()).or_default().push(Ended {
            freight: p.spec.freight.as_str(),
            phase: status.phase,
            finished,
        });
    }
    by_stage
        .into_iter()
        .map(|(stage, mut ended)| {
            // Ties keep input order (a stable sort), so equal end times stay deterministic.
            ended.sort_by_key(|e| e.finished);
            stage_stats(stage, &ended, &freight, window)
        })
        .collect()
}

fn stage_stats(stage: &str, ended: &[Ended<'_>], freight: &HashMap<&str, &Freight>, window: Window) -> StageStats {
    let in_window = |t: Timestamp| t >= window.start && t <= window.end;
    let created =
        |name: &str| freight.get(name).and_then(|f| f.metadata.creation_timestamp.as_ref()).and_then(from_meta);
    let older = |a: &str, b: &str| matches!((created(a), created(b)), (Some(a), Some(b)) if a < b);

    let mut deployments = 0;
    let mut failures = 0;
    let mut lead_times = Vec::new();
    for (i, p) in ended.iter().enumerate() {
        if p.phase != PromotionPhase::Succeeded || !in_window(p.finished) {
            continue;
        }
        deployments += 1;
        if let Some(source) = freight.get(p.freight).and_then(|f| source_time(f)) {
            lead_times.push((p.finished - source).num_seconds().max(0));
        }
        if let Some(next) = next_outcome(&ended[i + 1..]) {
            let failed = match next.phase {
                PromotionPhase::Succeeded => older(next.freight, p.freight),
                PromotionPhase::Failed | PromotionPhase::Errored => true,
                PromotionPhase::Pending | PromotionPhase::Running | PromotionPhase::Aborted => false,
            };
            if failed {
                failures += 1;
            }
        }
    }

    let (restores, open_incidents) = incidents(ended, &older);
    let restores: Vec<i64> = restores
        .into_iter()
        .filter(|(start, _)| in_window(*start))
        .map(|(start, end)| (end - start).num_seconds().max(0))
        .collect();
    let open_incidents = open_incidents.into_iter().filter(|start| in_window(*start)).count();

    let days = (window.end - window.start).num_milliseconds() as f64 / 1000.0 / DAY_SECONDS;
    StageStats {
        stage: stage.to_owned(),
        deployments,
        deployments_per_day: (days > 0.0).then(|| deployments as f64 / days),
        lead_time: spread(lead_times),
        change_failures: failures,
        change_failure_rate: (deployments > 0).then(|| failures as f64 / deployments as f64),
        time_to_restore: spread(restores),
        open_incidents,
    }
}

/// The first promotion that says something about the one before it: not Aborted.
fn next_outcome<'a, 'b>(after: &'b [Ended<'a>]) -> Option<&'b Ended<'a>> {
    after.iter().find(|e| e.phase != PromotionPhase::Aborted)
}

/// Restored incidents as (start, end), and the starts of open ones, over a stage's history in
/// end order.
fn incidents(ended: &[Ended<'_>], older: &dyn Fn(&str, &str) -> bool) -> (Vec<(Timestamp, Timestamp)>, Vec<Timestamp>) {
    let mut restored = Vec::new();
    let mut open: Option<Timestamp> = None;
    let mut last_success: Option<&Ended<'_>> = None;
    for e in ended {
        match e.phase {
            PromotionPhase::Failed | PromotionPhase::Errored => {
                open.get_or_insert(e.finished);
            }
            PromotionPhase::Succeeded => {
                let rollback = last_success.is_some_and(|prev| older(e.freight, prev.freight));
                let start = match (open.take(), last_success) {
                    (Some(start), _) => Some(start),
                    // The bad deployment broke the stage when it landed.
                    (None, Some(prev)) if rollback => Some(prev.finished),
                    _ => None,
                };
                if let Some(start) = start {
                    restored.push((start, e.finished));
                }
                last_success = Some(e);
            }
            PromotionPhase::Pending | PromotionPhase::Running | PromotionPhase::Aborted => {}
        }
    }
    (restored, open.into_iter().collect())
}

/// The newest commit time of the freight, else its creation time.
fn source_time(freight: &Freight) -> Option<Timestamp> {
    let newest_commit =
        freight.spec.commits.iter().filter_map(|c| c.committed_at.as_deref().and_then(parse_timestamp)).max();
    newest_commit.or_else(|| freight.metadata.creation_timestamp.as_ref().and_then(from_meta))
}

/// A Kubernetes timestamp (jiff) as chrono's.
fn from_meta(time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Option<Timestamp> {
    DateTime::from_timestamp(time.0.as_second(), time.0.subsec_nanosecond().try_into().unwrap_or(0))
}

/// Median and p90 by nearest rank; none without samples.
fn spread(mut samples: Vec<i64>) -> Option<Spread> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    Some(Spread {
        samples: samples.len(),
        median_seconds: nearest_rank(&samples, 50),
        p90_seconds: nearest_rank(&samples, 90),
    })
}

/// The smallest sample with at least `percent`% of the (sorted, non-empty) samples at or below it.
fn nearest_rank(sorted: &[i64], percent: usize) -> i64 {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[(rank - 1).min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests;
