//! Durations as users write them (`30s`, `5m`, `1h30m`, `2d`), and the RFC 3339 timestamps
//! status fields hold.
//!
//! Parsing goes through jiff's "friendly" format (jiff already comes with `k8s-openapi`), read
//! as a calendar span so that days and weeks are accepted and counted as 24 hours; Go's own
//! units (`h`, `m`, `s`, `ms`, fractions like `1.5h`) all work. Months and years are refused:
//! they have no fixed length. A bare `0` is accepted, as Go accepts it.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::jiff::{Span, SpanRelativeTo};

/// Why a duration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// Nothing to parse.
    #[error("invalid duration {input:?}: empty, expected for example 30s, 5m, 1h30m or 2d")]
    Empty {
        /// What the user wrote.
        input: String,
    },
    /// Not a duration at all.
    #[error("invalid duration {input:?}: expected a number with a unit, for example 30s, 5m, 1h30m or 2d")]
    Syntax {
        /// What the user wrote.
        input: String,
    },
    /// A unit of variable length.
    #[error("invalid duration {input:?}: months and years have no fixed length, use days (d) or weeks (w)")]
    CalendarUnit {
        /// What the user wrote.
        input: String,
    },
    /// Below zero.
    #[error("invalid duration {input:?}: must not be negative")]
    Negative {
        /// What the user wrote.
        input: String,
    },
}

/// Parses a duration such as `30s`, `5m`, `1h30m`, `1.5h`, `2d` or `1w`.
///
/// Surrounding whitespace is ignored. Days and weeks are 24 hours and 7 days.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    let owned = || input.to_owned();
    if text.is_empty() {
        return Err(DurationError::Empty { input: owned() });
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let span: Span = text.parse().map_err(|_| DurationError::Syntax { input: owned() })?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(DurationError::CalendarUnit { input: owned() });
    }
    if span.is_negative() {
        return Err(DurationError::Negative { input: owned() });
    }
    let signed =
        span.to_duration(SpanRelativeTo::days_are_24_hours()).map_err(|_| DurationError::Syntax { input: owned() })?;
    Duration::try_from(signed).map_err(|_| DurationError::Negative { input: owned() })
}

/// Formats a duration compactly for messages: `45s`, `10m`, `1h30m`, `2d3h`; whole seconds only
/// (below one second it prints `0s`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let parts = [(secs / 86_400, "d"), (secs / 3600 % 24, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    let out: String = parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| format!("{n}{unit}")).collect();
    if out.is_empty() { "0s".to_owned() } else { out }
}

/// Parses an RFC 3339 timestamp as stored in status fields; `None` when absent or malformed
/// (status is written by ferry, so a malformed value is treated like a missing one).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// Formats a time the way Kubernetes writes timestamps: RFC 3339, UTC, whole seconds
/// (`2025-01-02T03:04:05Z`).
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The time elapsed from `since` to `now`, zero when `since` lies in the future (clock skew).
pub fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn parses_go_style_durations_and_days() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(secs(2 * 86_400)));
        assert_eq!(parse_duration("1d12h"), Ok(secs(36 * 3600)));
        assert_eq!(parse_duration("1w"), Ok(secs(7 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 5m "), Ok(secs(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_garbage_with_a_clear_error() {
        for bad in ["abc", "5", "5x", "h", "1h1h", "--5m"] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(err, DurationError::Syntax { input: bad.to_owned() }, "{bad}");
        }
        assert_eq!(parse_duration("  "), Err(DurationError::Empty { input: "  ".to_owned() }));
        assert_eq!(parse_duration("-5m"), Err(DurationError::Negative { input: "-5m".to_owned() }));
        assert_eq!(parse_duration("1mo"), Err(DurationError::CalendarUnit { input: "1mo".to_owned() }));
        assert_eq!(parse_duration("1y"), Err(DurationError::CalendarUnit { input: "1y".to_owned() }));
        let message = parse_duration("soon").unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid duration \"soon\": expected a number with a unit, for example 30s, 5m, 1h30m or 2d"
        );
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(secs(45)), "45s");
        assert_eq!(format_duration(secs(600)), "10m");
        assert_eq!(format_duration(secs(5400)), "1h30m");
        assert_eq!(format_duration(secs(86_400 * 2 + 3 * 3600)), "2d3h");
        assert_eq!(format_duration(secs(3661)), "1h1m1s");
    }

    #[test]
    fn timestamps_round_trip_in_kubernetes_form() {
        let time = parse_timestamp("2025-01-02T03:04:05Z").unwrap();
        assert_eq!(format_timestamp(time), "2025-01-02T03:04:05Z");
        let offset = parse_timestamp("2025-01-02T05:04:05+02:00").unwrap();
        assert_eq!(offset, time);
        assert_eq!(parse_timestamp("yesterday"), None);
        let later = parse_timestamp("2025-01-02T03:14:05Z").unwrap();
        assert_eq!(elapsed(time, later), secs(600));
        assert_eq!(elapsed(later, time), Duration::ZERO);
    }
}
