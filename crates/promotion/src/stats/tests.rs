use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::{FreightFields, GitCommit, PromotionSpec, PromotionStatus};

fn t(text: &str) -> Timestamp {
    parse_timestamp(text).unwrap()
}

fn meta_time(text: &str) -> Time {
    Time(text.parse().unwrap())
}

/// Day `d` of March 2025 at `hh:00` UTC.
fn day(d: u32, hh: u32) -> String {
    format!("2025-03-{d:02}T{hh:02}:00:00Z")
}

fn freight(name: &str, created: &str, committed: Option<&str>) -> Freight {
    let mut f = Freight::new(
        name,
        FreightFields {
            commits: committed
                .map(|c| {
                    vec![GitCommit {
                        repo_url: "file:///r".into(),
                        id: "abc".into(),
                        committed_at: Some(c.into()),
                        ..GitCommit::default()
                    }]
                })
                .unwrap_or_default(),
            ..FreightFields::default()
        },
    );
    f.metadata.creation_timestamp = Some(meta_time(created));
    f
}

fn promo(stage: &str, freight: &str, phase: PromotionPhase, finished: &str) -> Promotion {
    let mut p = Promotion::new(
        &format!("{stage}-{freight}-{finished}"),
        PromotionSpec { stage: stage.into(), freight: freight.into(), ..PromotionSpec::default() },
    );
    p.status = Some(PromotionStatus { phase, finished_at: Some(finished.into()), ..PromotionStatus::default() });
    p
}

fn march() -> Window {
    Window { start: t(&day(1, 0)), end: t(&day(31, 0)) }
}

use PromotionPhase::{Aborted, Errored, Failed, Running, Succeeded};

#[test]
fn frequency_counts_succeeded_promotions_in_the_window_per_day() {
    let freight = [freight("a", &day(1, 0), None)];
    let history = [
        promo("dev", "a", Succeeded, &day(2, 0)),
        promo("dev", "a", Succeeded, &day(3, 0)),
        promo("dev", "a", Succeeded, &day(4, 0)),
        // Before the window, failed, aborted and running ones are not deployments.
        promo("dev", "a", Succeeded, "2025-02-20T00:00:00Z"),
        promo("dev", "a", Aborted, &day(5, 0)),
    ];
    let mut running = promo("dev", "a", Running, &day(6, 0));
    running.status.as_mut().unwrap().finished_at = None;
    let mut all = history.to_vec();
    all.push(running);
    let stats = compute(&all, &freight, march());
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].deployments, 3);
    // 3 over 30 days.
    assert_eq!(stats[0].deployments_per_day, Some(0.1));
}

#[test]
fn stages_are_separate_and_sorted() {
    let freight = [freight("a", &day(1, 0), None)];
    let history = [promo("prod", "a", Succeeded, &day(3, 0)), promo("dev", "a", Succeeded, &day(2, 0))];
    let names: Vec<_> = compute(&history, &freight, march()).into_iter().map(|s| s.stage).collect();
    assert_eq!(names, ["dev", "prod"]);
}

#[test]
fn lead_time_runs_from_the_newest_commit_or_the_freight_creation() {
    let freight = [
        // Committed at 00:00 on the 2nd, freight created later: the commit counts.
        freight("a", &day(2, 6), Some(&day(2, 0))),
        // No commit time: the creation counts.
        freight("b", &day(3, 0), None),
    ];
    let history = [
        promo("dev", "a", Succeeded, &day(2, 1)),    // 1h
        promo("dev", "b", Succeeded, &day(3, 3)),    // 3h
        promo("dev", "b", Succeeded, &day(3, 10)),   // 10h
        promo("dev", "gone", Succeeded, &day(4, 0)), // unknown freight: no sample
    ];
    let stats = &compute(&history, &freight, march())[0];
    let lead = stats.lead_time.unwrap();
    assert_eq!(lead.samples, 3);
    assert_eq!(lead.median_seconds, 3 * 3600);
    assert_eq!(lead.p90_seconds, 10 * 3600);
    assert_eq!(stats.deployments, 4);
}

#[test]
fn nearest_rank_percentiles() {
    assert_eq!(nearest_rank(&[1, 2, 3, 4], 50), 2);
    assert_eq!(nearest_rank(&[1, 2, 3, 4], 90), 4);
    assert_eq!(nearest_rank(&[7], 90), 7);
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(nearest_rank(&ten, 90), 9);
    assert_eq!(nearest_rank(&ten, 50), 5);
    assert_eq!(spread(Vec::new()), None);
}

#[test]
fn a_rollback_makes_the_rolled_back_deployment_a_failure() {
    let freight = [freight("old", &day(1, 0), None), freight("new", &day(2, 0), None)];
    let history = [
        promo("dev", "old", Succeeded, &day(2, 0)),
        promo("dev", "new", Succeeded, &day(3, 0)), // rolled back below
        promo("dev", "old", Aborted, &day(3, 1)),   // aborted attempts say nothing
        promo("dev", "old", Succeeded, &day(3, 4)), // the rollback (4h after the bad one)
    ];
    let stats = &compute(&history, &freight, march())[0];
    assert_eq!(stats.deployments, 3);
    assert_eq!(stats.change_failures, 1);
    assert_eq!(stats.change_failure_rate, Some(1.0 / 3.0));
    let restore = stats.time_to_restore.unwrap();
    assert_eq!((restore.samples, restore.median_seconds), (1, 4 * 3600));
    assert_eq!(stats.open_incidents, 0);
}

#[test]
fn promoting_newer_or_the_same_freight_is_not_a_rollback() {
    let freight = [freight("a", &day(1, 0), None), freight("b", &day(2, 0), None)];
    let history = [
        promo("dev", "a", Succeeded, &day(2, 0)),
        promo("dev", "a", Succeeded, &day(2, 5)),
        promo("dev", "b", Succeeded, &day(3, 0)),
    ];
    let stats = &compute(&history, &freight, march())[0];
    assert_eq!(stats.change_failures, 0);
    assert_eq!(stats.change_failure_rate, Some(0.0));
    assert_eq!(stats.time_to_restore, None);
}

#[test]
fn a_failing_next_promotion_is_a_failure_and_restore_runs_from_the_first_failure() {
    let freight = [freight("a", &day(1, 0), None), freight("b", &day(2, 0), None), freight("c", &day(3, 0), None)];
    let history = [
        promo("dev", "a", Succeeded, &day(2, 0)), // followed by a failure
        promo("dev", "b", Failed, &day(4, 0)),    // incident starts
        promo("dev", "b", Errored, &day(4, 2)),   // same incident
        promo("dev", "c", Succeeded, &day(4, 6)), // restored after 6h
        promo("dev", "c", Failed, &day(5, 0)),    // still open
    ];
    let stats = &compute(&history, &freight, march())[0];
    assert_eq!(stats.deployments, 2);
    assert_eq!(stats.change_failures, 2);
    assert_eq!(stats.change_failure_rate, Some(1.0));
    let restore = stats.time_to_restore.unwrap();
    assert_eq!((restore.samples, restore.median_seconds), (1, 6 * 3600));
    assert_eq!(stats.open_incidents, 1);
}

#[test]
fn no_deployments_means_no_rates() {
    let history = [promo("dev", "a", Failed, &day(2, 0))];
    let stats = &compute(&history, &[], march())[0];
    assert_eq!(stats.deployments, 0);
    assert_eq!(stats.change_failure_rate, None);
    assert_eq!(stats.lead_time, None);
    assert_eq!(stats.deployments_per_day, Some(0.0));
    assert_eq!(stats.open_incidents, 1);
}

#[test]
fn an_empty_window_has_no_frequency() {
    let now = t(&day(2, 0));
    let stats = &compute(&[promo("dev", "a", Succeeded, &day(2, 0))], &[], Window { start: now, end: now })[0];
    assert_eq!(stats.deployments, 1);
    assert_eq!(stats.deployments_per_day, None);
}
