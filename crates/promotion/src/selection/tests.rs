use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::eligibility::tests::{approved, at, direct_stage, freight, upstream_stage};
use crate::{
    Approval, AutoPromotion, AvailabilityStrategy, FreightOrigin, FreightReference, PromotionSpec, PromotionStatus,
    StageStatus,
};

fn auto(mut stage: Stage, selection: SelectionPolicy, interrupt: InterruptPolicy) -> Stage {
    stage.spec.auto_promotion =
        Some(AutoPromotion { enabled: true, selection_policy: selection, interrupt_policy: interrupt });
    stage
}

fn promotion(name: &str, freight: &str, phase: Option<PromotionPhase>, created: i64) -> Promotion {
    let mut p =
        Promotion::new(name, PromotionSpec { stage: "dev".into(), freight: freight.into(), ..Default::default() });
    p.metadata.creation_timestamp =
        Some(Time(k8s_openapi::jiff::Timestamp::from_second(at(created).timestamp()).unwrap()));
    p.status = phase.map(|phase| PromotionStatus { phase, ..Default::default() });
    p
}

fn decide(stage: &Stage, available: &[&Freight], current: Option<&str>, promotions: &[Promotion]) -> AutoDecision {
    next_auto_promotion(&SelectionInput {
        stage,
        available,
        upstream_stages: &[],
        current_freight: current,
        promotions,
    })
}

fn promote(name: &str) -> AutoDecision {
    AutoDecision::Promote { freight: name.to_owned() }
}

#[test]
fn off_unless_enabled() {
    let (old, new) = (freight("old", "old-ant", 1), freight("new", "new-bee", 2));
    let stage = direct_stage("dev");
    assert_eq!(
        decide(&stage, &[&new, &old], None, &[]),
        AutoDecision::Nothing { reason: "auto-promotion is off".into() }
    );
    let mut disabled = auto(direct_stage("dev"), SelectionPolicy::NewestFreight, InterruptPolicy::ReleaseLatest);
    if let Some(a) = disabled.spec.auto_promotion.as_mut() {
        a.enabled = false;
    }
    assert!(matches!(decide(&disabled, &[&new], None, &[]), AutoDecision::Nothing { .. }));
}

#[test]
fn newest_freight_is_promoted_once() {
    let stage = auto(direct_stage("dev"), SelectionPolicy::NewestFreight, InterruptPolicy::ReleaseLatest);
    let (old, new) = (freight("old", "old-ant", 1), freight("new", "new-bee", 2));
    // Order of `available` does not matter: selection sorts newest first itself.
    assert_eq!(decide(&stage, &[&old, &new], Some("old"), &[]), promote("new"));
    assert_eq!(
        decide(&stage, &[&old, &new], Some("new"), &[]),
        AutoDecision::Nothing { reason: "the stage already runs freight new-bee".into() }
    );
    let done = [promotion("p1", "new", Some(PromotionPhase::Running), 3)];
    assert_eq!(
        decide(&stage, &[&old, &new], Some("old"), &done),
        AutoDecision::Nothing { reason: "freight new-bee already has promotion p1 (Running)".into() }
    );
    assert_eq!(decide(&stage, &[], None, &[]), AutoDecision::Nothing { reason: "no freight is available".into() });
}

#[test]
fn rollback_sticks_because_promoted_freight_is_not_picked_again() {
    let stage = auto(direct_stage("dev"), SelectionPolicy::NewestFreight, InterruptPolicy::ReleaseLatest);
    let (old, new) = (freight("old", "old-ant", 1), freight("new", "new-bee", 2));
    let history = [
        promotion("p1", "new", Some(PromotionPhase::Succeeded), 3),
        promotion("p2", "old", Some(PromotionPhase::Succeeded), 4),
    ];
    assert!(matches!(decide(&stage, &[&old, &new], Some("old"), &history), AutoDecision::Nothing { .. }));
}

#[test]
fn release_latest_supersedes_an_older_promotion_in_flight() {
    let stage = auto(direct_stage("dev"), SelectionPolicy::NewestFreight, InterruptPolicy::ReleaseLatest);
    let (old, new) = (freight("old", "old-ant", 1), freight("new", "new-bee", 2));
    let running = [promotion("p1", "old", Some(PromotionPhase::Running), 3)];
    assert_eq!(
        decide(&stage, &[&old, &new], None, &running),
        AutoDecision::Supersede { running: "p1".into(), freight: "new".into() }
    );
}

#[test]
fn release_latest_supersedes_a_promotion_of_freight_no_longer_available() {
    let stage = auto(direct_stage("dev"), SelectionPolicy::NewestFreight, InterruptPolicy::ReleaseLatest);
    let old = freight("old", "old-ant", 1);
    let pending = [promotion("p1", "gone", Some(PromotionPhase::Pending), 3)];
    assert_eq!(
        decide(&stage, &[&old], None, &pending),
        AutoDecision::Supersede { running: "p1".into(), freight: "old".into() }
    );
}

#[test]
fn queue_adds_a_pending_promotion_behind_the_running_one() {
    let stage = auto(direct_stage("dev"), SelectionPolicy::NewestFreight, InterruptPolicy::Queue);
    let (old, new) = (freight("old", "old-ant", 1), freight("new", "new-bee", 2));
    let running = [promotion("p1", "old", Some(PromotionPhase::Running), 3)];
    assert_eq!(decide(&stage, &[&old, &new], None, &running), promote("new"));
}

#[test]
fn approval_required_only_takes_approved_freight() {
    let mut stage = auto(direct_stage("prod"), SelectionPolicy::NewestFreight, InterruptPolicy::ReleaseLatest);
    stage.spec.approval = Some(Approval { required: true });
    let old = approved(freight("old", "old-ant", 1), "prod");
    let new = freight("new", "new-bee", 2);
    assert_eq!(decide(&stage, &[&old, &new], None, &[]), promote("old"));
    assert_eq!(
        decide(&stage, &[&new], None, &[]),
        AutoDecision::Nothing { reason: "no available freight is approved for this stage".into() }
    );
}

#[test]
fn match_upstream_takes_the_upstream_stage_current_freight() {
    let stage = auto(
        upstream_stage("prod", &["staging"], None, AvailabilityStrategy::OneOf),
        SelectionPolicy::MatchUpstream,
        InterruptPolicy::ReleaseLatest,
    );
    let (old, new) = (freight("old", "old-ant", 1), freight("new", "new-bee", 2));
    let mut staging = direct_stage("staging");
    staging.status = Some(StageStatus {
        current_freight: Some(FreightReference { name: "old".into(), origin: FreightOrigin::warehouse("app") }),
        ..Default::default()
    });
    let input = |upstream: &[Stage], promotions: &[Promotion]| {
        next_auto_promotion(&SelectionInput {
            stage: &stage,
            available: &[&old, &new],
            upstream_stages: upstream,
            current_freight: None,
            promotions,
        })
    };
    assert_eq!(input(std::slice::from_ref(&staging), &[]), promote("old"));
    // A different freight in flight is superseded even when it is newer: matching is the point.
    let running = [promotion("p1", "new", Some(PromotionPhase::Running), 3)];
    assert_eq!(
        input(std::slice::from_ref(&staging), &running),
        AutoDecision::Supersede { running: "p1".into(), freight: "old".into() }
    );
    assert_eq!(input(&[], &[]), AutoDecision::Nothing { reason: "upstream stage staging not found".into() });
}

#[test]
fn match_upstream_needs_exactly_one_upstream() {
    let stage = auto(
        upstream_stage("prod", &["east", "west"], None, AvailabilityStrategy::OneOf),
        SelectionPolicy::MatchUpstream,
        InterruptPolicy::ReleaseLatest,
    );
    let f = freight("a", "ant", 1);
    assert_eq!(
        decide(&stage, &[&f], None, &[]),
        AutoDecision::Nothing { reason: "MatchUpstream needs exactly one upstream stage, the stage has 2".into() }
    );
}

#[test]
fn one_promotion_runs_at_a_time_oldest_pending_first() {
    let list = [
        promotion("c", "f3", None, 5),
        promotion("b", "f2", Some(PromotionPhase::Pending), 5),
        promotion("a", "f1", Some(PromotionPhase::Succeeded), 1),
    ];
    // Same second: the name breaks the tie.
    assert_eq!(next_to_run(&list).as_deref(), Some("b"));
    let busy = [promotion("a", "f1", Some(PromotionPhase::Running), 9), promotion("b", "f2", None, 1)];
    assert_eq!(next_to_run(&busy), None);
    assert_eq!(next_to_run(&[promotion("a", "f1", Some(PromotionPhase::Failed), 1)]), None);
}

#[test]
fn in_flight_lists_running_first_then_pending_in_run_order() {
    let list = [
        promotion("late", "f3", None, 9),
        promotion("run", "f2", Some(PromotionPhase::Running), 5),
        promotion("early", "f1", Some(PromotionPhase::Pending), 1),
        promotion("done", "f0", Some(PromotionPhase::Aborted), 0),
    ];
    let names: Vec<String> = in_flight(&list).iter().map(|p| p.name_any()).collect();
    assert_eq!(names, ["run", "early", "late"]);
}
