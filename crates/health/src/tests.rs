use serde_json::json;

use super::*;

#[test]
fn statuses_are_ordered_by_severity_as_argo_cd_orders_them() {
    use HealthStatus::*;
    let ordered = [Healthy, Suspended, Progressing, Missing, Degraded, Unknown];
    for pair in ordered.windows(2) {
        assert!(pair[0] < pair[1], "{} should be less severe than {}", pair[0], pair[1]);
    }
}

#[test]
fn statuses_serialize_and_parse_as_argo_cd_strings() {
    for status in [
        HealthStatus::Healthy,
        HealthStatus::Suspended,
        HealthStatus::Progressing,
        HealthStatus::Missing,
        HealthStatus::Degraded,
        HealthStatus::Unknown,
    ] {
        let text = serde_json::to_value(status).unwrap();
        assert_eq!(text, json!(status.as_str()));
        assert_eq!(status.as_str().parse::<HealthStatus>(), Ok(status));
    }
    assert!("healthy".parse::<HealthStatus>().is_err());
}

#[test]
fn worst_takes_the_most_severe_and_ignores_unchecked() {
    let healthy = Health::new(HealthStatus::Healthy, "");
    let progressing = Health::new(HealthStatus::Progressing, "");
    let degraded = Health::new(HealthStatus::Degraded, "");
    assert_eq!(worst([Some(&healthy), None, Some(&progressing)]), HealthStatus::Progressing);
    assert_eq!(worst([Some(&degraded), Some(&progressing), None]), HealthStatus::Degraded);
    assert_eq!(worst([None, None]), HealthStatus::Healthy);
    assert_eq!(worst(std::iter::empty()), HealthStatus::Healthy);
}

#[test]
fn kinds_without_a_check_have_no_health() {
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(assess(&config_map), None);
    // Same kind name, other group: not the built-in Deployment check.
    let other = json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}});
    assert_eq!(assess(&other), None);
    assert_eq!(assess(&json!("not an object")), None);
}

#[test]
fn anything_being_deleted_is_pending_deletion() {
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}
    });
    assert_eq!(assess(&config_map), Some(Health::new(HealthStatus::Progressing, "Pending deletion")));
}

#[test]
fn a_check_can_be_overridden_added_and_removed() {
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"paused": true}
    });
    let mut checks = Checks::builtin();
    assert_eq!(checks.assess(&deployment).map(|h| h.status), Some(HealthStatus::Suspended));

    let previous = checks.insert("apps", "Deployment", |_| Health::new(HealthStatus::Degraded, "custom"));
    assert!(previous.is_some(), "the built-in check is returned when replaced");
    assert_eq!(checks.assess(&deployment), Some(Health::new(HealthStatus::Degraded, "custom")));
    // The shared built-in table used by `assess` is unaffected.
    assert_eq!(assess(&deployment).map(|h| h.status), Some(HealthStatus::Suspended));

    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "status": {"ok": true}});
    assert_eq!(checks.assess(&widget), None);
    let added = checks.insert("example.com", "Widget", |w| {
        if w["status"]["ok"] == json!(true) {
            Health::new(HealthStatus::Healthy, "ok")
        } else {
            Health::new(HealthStatus::Progressing, "")
        }
    });
    assert!(added.is_none());
    assert_eq!(checks.assess(&widget), Some(Health::new(HealthStatus::Healthy, "ok")));

    assert!(checks.remove("apps", "Deployment").is_some());
    assert_eq!(checks.assess(&deployment), None);
    assert!(Checks::empty().assess(&widget).is_none());
}
