use std::time::Duration;

use application::{Backoff, RetryStrategy};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn go_durations_parse() {
    let cases: &[(&str, Duration)] = &[
        ("5s", Duration::from_secs(5)),
        ("3m", Duration::from_secs(180)),
        ("1h30m", Duration::from_secs(5400)),
        ("500ms", ms(500)),
        ("1.5h", Duration::from_secs(5400)),
        (".5s", ms(500)),
        ("1.s", Duration::from_secs(1)),
        ("2h45m10s", Duration::from_secs(2 * 3600 + 45 * 60 + 10)),
        ("300us", Duration::from_micros(300)),
        ("300\u{b5}s", Duration::from_micros(300)),
        ("300\u{3bc}s", Duration::from_micros(300)),
        ("7ns", Duration::from_nanos(7)),
        ("1m0.000000001s", Duration::from_nanos(60_000_000_001)),
        ("0.1234567891s", Duration::from_nanos(123_456_789)),
        ("+10s", Duration::from_secs(10)),
        ("0", Duration::ZERO),
        ("-0", Duration::ZERO),
        ("0s", Duration::ZERO),
        // Argo CD: a bare number is seconds.
        ("30", Duration::from_secs(30)),
        // Go's largest duration.
        ("2562047h47m16.854775807s", Duration::from_nanos(i64::MAX as u64)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text).as_ref(), Ok(want), "{text}");
    }
}

#[test]
fn bad_durations_are_refused_without_panicking() {
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("-", "empty"),
        ("s", "expected numbers with units"),
        (".s", "expected numbers with units"),
        ("1h30", "missing unit"),
        ("5d", "unknown unit \"d\""),
        ("5 s", "unknown unit \" s\""),
        ("1µ", "unknown unit \"µ\""),
        ("-5s", "negative"),
        ("2562047h47m16.854775808s", "too large"),
        ("9999999999999999999999h", "too large"),
        ("99999999999999999999", "too large"),
        ("1.99999999999999999999999999999999999999999999h", ""),
    ];
    for (text, want) in cases {
        match parse_duration(text) {
            Err(e) => assert!(e.to_string().contains(want), "{text}: {e} lacks {want}"),
            // Overlong fractions are fine (truncated), as in Go.
            Ok(d) => assert!(want.is_empty() && d < Duration::from_secs(7200), "{text} parsed as {d:?}"),
        }
    }
}

#[test]
fn delay_defaults_to_argo_cd_backoff() {
    let delays: Vec<Duration> = (0..8).map(|n| retry_delay(n, None).expect("defaults parse")).collect();
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [5, 10, 20, 40, 80, 160, 180, 180]);
}

#[test]
fn delay_follows_the_backoff() {
    let backoff = Backoff { duration: Some("500ms".into()), factor: Some(3), max_duration: Some("10s".into()) };
    let delays: Vec<Duration> = (0..5).map(|n| retry_delay(n, Some(&backoff)).expect("parses")).collect();
    assert_eq!(delays, [ms(500), ms(1500), ms(4500), ms(10_000), ms(10_000)]);
}

#[test]
fn delay_never_overflows_or_shrinks_to_zero() {
    let big = Backoff { duration: Some("1h".into()), factor: Some(i64::MAX), max_duration: Some("2h".into()) };
    assert_eq!(retry_delay(u32::MAX, Some(&big)), Ok(Duration::from_secs(7200)));
    let flat = Backoff { duration: Some("2s".into()), factor: Some(0), max_duration: None };
    assert_eq!(retry_delay(4, Some(&flat)), Ok(Duration::from_secs(2)));
    let negative = Backoff { factor: Some(-3), ..Backoff::default() };
    assert_eq!(retry_delay(2, Some(&negative)), Ok(Duration::from_secs(5)));
    // A max below the first delay caps even the first retry.
    let capped = Backoff { duration: Some("1m".into()), factor: None, max_duration: Some("30s".into()) };
    assert_eq!(retry_delay(0, Some(&capped)), Ok(Duration::from_secs(30)));
}

#[test]
fn bad_backoff_durations_are_errors() {
    let backoff = Backoff { duration: Some("5x".into()), ..Backoff::default() };
    let err = retry_delay(0, Some(&backoff)).expect_err("refused");
    assert_eq!(err, DurationError::UnknownUnit { input: "5x".into(), unit: "x".into() });
    let backoff = Backoff { max_duration: Some("-1m".into()), ..Backoff::default() };
    assert!(matches!(retry_delay(0, Some(&backoff)), Err(DurationError::Negative { .. })));
}

#[test]
fn retry_limits() {
    let with = |limit| RetryStrategy { limit, backoff: None };
    assert!(!retries_left(None, 0));
    assert!(!retries_left(Some(&with(None)), 0));
    assert!(!retries_left(Some(&with(Some(0))), 0));
    assert!(retries_left(Some(&with(Some(2))), 0));
    assert!(retries_left(Some(&with(Some(2))), 1));
    assert!(!retries_left(Some(&with(Some(2))), 2));
    assert!(retries_left(Some(&with(Some(-1))), 1_000_000));
}
