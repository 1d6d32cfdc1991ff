use chrono::TimeZone;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::{
    ApprovedStage, CurrentStage, FreightFields, FreightOrigin, FreightSources, FreightStatus, StageSpec, VerifiedStage,
};

/// Minutes after a fixed epoch, so tests read as a timeline.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap() + chrono::Duration::minutes(minutes)
}

pub(crate) fn rfc(minutes: i64) -> String {
    crate::duration::format_timestamp(at(minutes))
}

/// Freight `name` (alias `alias`) of warehouse `app`, created at minute `created`.
pub(crate) fn freight(name: &str, alias: &str, created: i64) -> Freight {
    let mut f = Freight::new(
        name,
        FreightFields { alias: alias.to_owned(), origin: FreightOrigin::warehouse("app"), ..Default::default() },
    );
    f.metadata.creation_timestamp =
        Some(Time(k8s_openapi::jiff::Timestamp::from_second(at(created).timestamp()).unwrap()));
    f.status = Some(FreightStatus::default());
    f
}

pub(crate) fn verified(mut f: Freight, stage: &str, at_minute: i64, longest: Option<i64>) -> Freight {
    let status = f.status.get_or_insert_with(Default::default);
    status
        .verified_in
        .insert(stage.to_owned(), VerifiedStage { verified_at: Some(rfc(at_minute)), longest_soak_seconds: longest });
    f
}

pub(crate) fn current(mut f: Freight, stage: &str, since: i64) -> Freight {
    let status = f.status.get_or_insert_with(Default::default);
    status.current_in.insert(stage.to_owned(), CurrentStage { since: Some(rfc(since)) });
    f
}

pub(crate) fn approved(mut f: Freight, stage: &str) -> Freight {
    let status = f.status.get_or_insert_with(Default::default);
    status
        .approved_for
        .insert(stage.to_owned(), ApprovedStage { approved_at: Some(rfc(0)), approved_by: Some("alice".to_owned()) });
    f
}

pub(crate) fn direct_stage(name: &str) -> Stage {
    Stage::new(
        name,
        StageSpec {
            requested_freight: vec![FreightRequest {
                origin: FreightOrigin::warehouse("app"),
                sources: FreightSources { direct: true, ..Default::default() },
            }],
            ..Default::default()
        },
    )
}

pub(crate) fn upstream_stage(name: &str, ups: &[&str], soak: Option<&str>, strategy: AvailabilityStrategy) -> Stage {
    Stage::new(
        name,
        StageSpec {
            requested_freight: vec![FreightRequest {
                origin: FreightOrigin::warehouse("app"),
                sources: FreightSources {
                    direct: false,
                    stages: ups.iter().map(|s| (*s).to_owned()).collect(),
                    required_soak_time: soak.map(str::to_owned),
                    availability_strategy: strategy,
                },
            }],
            ..Default::default()
        },
    )
}

fn names(list: &[&Freight]) -> Vec<String> {
    list.iter().map(|f| f.name_any()).collect()
}

#[test]
fn direct_takes_every_freight_of_the_warehouse_newest_first() {
    let stage = direct_stage("dev");
    let all = vec![freight("b", "old-bee", 1), freight("a", "new-ant", 5), freight("c", "tie-cat", 5)];
    assert_eq!(names(&available_freight(&stage, &all, at(10))), ["a", "c", "b"]);
}

#[test]
fn freight_of_another_warehouse_is_refused_by_name() {
    let stage = direct_stage("dev");
    let mut other = freight("x", "odd-owl", 1);
    other.spec.origin = FreightOrigin::warehouse("other");
    assert!(available_freight(&stage, std::slice::from_ref(&other), at(2)).is_empty());
    assert_eq!(
        why_not(&stage, &other, at(2)).as_deref(),
        Some("freight odd-owl comes from warehouse other, which stage dev does not request")
    );
}

#[test]
fn upstream_requires_verification() {
    let stage = upstream_stage("staging", &["dev"], None, AvailabilityStrategy::OneOf);
    let plain = freight("a", "new-ant", 1);
    assert_eq!(why_not(&stage, &plain, at(5)).as_deref(), Some("freight new-ant is not verified in dev"));
    let ok = verified(freight("a", "new-ant", 1), "dev", 2, None);
    assert_eq!(why_not(&stage, &ok, at(5)), None);
}

#[test]
fn soak_counts_from_verification_while_the_stage_runs_it() {
    let stage = upstream_stage("prod", &["staging"], Some("1h"), AvailabilityStrategy::OneOf);
    let f = current(verified(freight("a", "new-ant", 0), "staging", 10, None), "staging", 5);
    assert_eq!(soak(&f, "staging", at(20)), Duration::from_secs(600));
    assert_eq!(why_not(&stage, &f, at(20)).as_deref(), Some("freight new-ant soaked 10m of required 1h in staging"));
    assert_eq!(why_not(&stage, &f, at(70)), None);
}

#[test]
fn soak_restarts_when_freight_comes_back_and_keeps_its_longest_run() {
    // Verified at 10, left (longest run 20 minutes recorded), back since 100.
    let f = current(verified(freight("a", "new-ant", 0), "staging", 10, Some(20 * 60)), "staging", 100);
    assert_eq!(soak(&f, "staging", at(105)), Duration::from_secs(20 * 60));
    assert_eq!(soak(&f, "staging", at(130)), Duration::from_secs(30 * 60));
}

#[test]
fn freight_that_left_the_stage_keeps_only_its_recorded_soak() {
    let gone = verified(freight("a", "new-ant", 0), "staging", 10, None);
    assert_eq!(soak(&gone, "staging", at(500)), Duration::ZERO);
    let recorded = verified(freight("a", "new-ant", 0), "staging", 10, Some(7200));
    assert_eq!(soak(&recorded, "staging", at(500)), Duration::from_secs(7200));
    let stage = upstream_stage("prod", &["staging"], Some("1h"), AvailabilityStrategy::OneOf);
    assert_eq!(why_not(&stage, &recorded, at(500)), None);
}

#[test]
fn one_of_needs_any_upstream_and_lists_every_reason() {
    let stage = upstream_stage("prod", &["east", "west"], Some("1h"), AvailabilityStrategy::OneOf);
    let none = current(verified(freight("a", "new-ant", 0), "west", 0, None), "west", 0);
    assert_eq!(
        why_not(&stage, &none, at(30)).as_deref(),
        Some(
            "freight new-ant is not available from any upstream stage: not verified in east; soaked 30m of required 1h in west"
        )
    );
    assert_eq!(why_not(&stage, &none, at(60)), None);
}

#[test]
fn all_needs_every_upstream() {
    let stage = upstream_stage("prod", &["east", "west"], None, AvailabilityStrategy::All);
    let one = verified(freight("a", "new-ant", 0), "east", 0, None);
    assert_eq!(why_not(&stage, &one, at(1)).as_deref(), Some("freight new-ant is not verified in west"));
    let both = verified(one, "west", 0, None);
    assert_eq!(why_not(&stage, &both, at(1)), None);
}

#[test]
fn approval_and_current_bypass_upstream_checks() {
    let stage = upstream_stage("prod", &["staging"], Some("1h"), AvailabilityStrategy::OneOf);
    assert_eq!(why_not(&stage, &approved(freight("a", "new-ant", 0), "prod"), at(1)), None);
    assert_eq!(why_not(&stage, &current(freight("a", "new-ant", 0), "prod", 0), at(1)), None);
    // Approval for another stage does not count.
    assert!(why_not(&stage, &approved(freight("a", "new-ant", 0), "staging"), at(1)).is_some());
}

#[test]
fn invalid_soak_time_is_reported() {
    let stage = upstream_stage("prod", &["staging"], Some("soon"), AvailabilityStrategy::OneOf);
    let f = verified(freight("a", "new-ant", 0), "staging", 0, None);
    let reason = why_not(&stage, &f, at(1)).unwrap();
    assert!(
        reason.starts_with("freight new-ant cannot be checked: stage prod has an invalid requiredSoakTime"),
        "{reason}"
    );
}

#[test]
fn a_request_without_sources_admits_nothing() {
    let stage = upstream_stage("prod", &[], None, AvailabilityStrategy::OneOf);
    let reason = why_not(&stage, &freight("a", "", 0), at(1)).unwrap();
    assert_eq!(
        reason,
        "freight a cannot reach stage prod: its request for warehouse app has no source (neither direct nor upstream stages)"
    );
}

#[test]
fn approval_is_needed_only_where_required() {
    let mut stage = direct_stage("prod");
    let f = freight("a", "new-ant", 0);
    assert_eq!(needs_approval(&stage, &f), None);
    stage.spec.approval = Some(crate::Approval { required: true });
    assert_eq!(
        needs_approval(&stage, &f).as_deref(),
        Some(
            "freight new-ant is not approved for stage prod, which requires approval (ferry approve prod --freight new-ant)"
        )
    );
    // Still available: approval is checked apart.
    assert_eq!(why_not(&stage, &f, at(1)), None);
    assert_eq!(needs_approval(&stage, &approved(f, "prod")), None);
}
