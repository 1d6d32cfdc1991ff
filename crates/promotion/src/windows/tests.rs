use chrono::TimeZone;

use super::*;

/// 2025-01-06 is a Monday.
fn monday(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, hour, minute, 0).single().unwrap()
}

fn saturday(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 11, hour, 0, 0).single().unwrap()
}

fn window(kind: WindowKind, schedule: &str, duration: &str) -> Window {
    Window { kind, schedule: schedule.to_owned(), duration: duration.to_owned() }
}

fn office_hours() -> Window {
    window(WindowKind::Allow, "0 9 * * 1-5", "8h")
}

#[test]
fn no_windows_allow_everything() {
    assert!(allowed(&[], monday(3, 0)).unwrap());
}

#[test]
fn allow_windows_open_at_the_schedule_for_the_duration() {
    let windows = [office_hours()];
    assert!(!allowed(&windows, monday(8, 59)).unwrap());
    assert!(allowed(&windows, monday(9, 0)).unwrap());
    assert!(allowed(&windows, monday(16, 59)).unwrap());
    assert!(!allowed(&windows, monday(17, 0)).unwrap());
    assert!(!allowed(&windows, saturday(10)).unwrap());
    assert_eq!(
        check(&windows, monday(10, 0)).unwrap(),
        Verdict::Allowed { reason: "inside allow window \"0 9 * * 1-5\" for 8h".into() }
    );
    assert_eq!(check(&windows, saturday(10)).unwrap(), Verdict::Denied { reason: "outside every allow window".into() });
}

#[test]
fn deny_wins_over_allow() {
    let windows = [office_hours(), window(WindowKind::Deny, "0 12 * * *", "1h")];
    assert!(allowed(&windows, monday(11, 0)).unwrap());
    let verdict = check(&windows, monday(12, 30)).unwrap();
    assert_eq!(verdict.description(), "inside deny window \"0 12 * * *\" for 1h");
    assert!(!verdict.is_allowed());
    assert!(allowed(&windows, monday(13, 0)).unwrap());
}

#[test]
fn deny_only_windows_allow_outside_them() {
    // Friday 15:00 for the whole weekend.
    let windows = [window(WindowKind::Deny, "0 15 * * 5", "2d9h")];
    assert!(allowed(&windows, monday(10, 0)).unwrap());
    assert!(!allowed(&windows, saturday(10)).unwrap());
}

#[test]
fn a_window_longer_than_its_period_stays_open() {
    let windows = [window(WindowKind::Allow, "0 * * * *", "2h")];
    assert!(allowed(&windows, monday(5, 59)).unwrap());
}

#[test]
fn invalid_windows_are_errors_naming_the_window() {
    let bad_schedule = [office_hours(), window(WindowKind::Allow, "every day", "1h")];
    let err = check(&bad_schedule, monday(10, 0)).unwrap_err();
    assert!(matches!(&err, WindowError::Schedule { index: 1, .. }), "{err:?}");
    assert_eq!(err.to_string(), "window 1: invalid schedule \"every day\"");
    let bad_duration = [window(WindowKind::Deny, "0 12 * * *", "lunch")];
    assert!(matches!(validate(&bad_duration), Err(WindowError::Duration { index: 0, .. })));
    assert!(validate(&[office_hours()]).is_ok());
}

#[test]
fn windows_round_trip_as_camel_case_yaml_fields() {
    let value = serde_json::json!({ "kind": "Deny", "schedule": "0 0 * * 0", "duration": "24h" });
    let parsed: Window = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(parsed, window(WindowKind::Deny, "0 0 * * 0", "24h"));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
}
