//! Retrying a failed sync: Go-style durations and Argo CD's backoff.
//!
//! `spec.syncPolicy.retry` mirrors Argo CD's: `limit` attempts after the
//! first failure (negative: no limit; absent or 0: no retry), and a backoff
//! whose delay starts at `duration` and is multiplied by `factor` after
//! every failed attempt, never exceeding `maxDuration`. Durations are Go
//! duration strings (`5s`, `1h30m`, `500ms`); a bare integer means seconds,
//! as Argo CD documents for `duration`.
//!
//! Pure: the controller reads the clock and counts the attempts.

#[cfg(test)]
mod tests;

use std::time::Duration;

use application::{Backoff, RetryStrategy};
use thiserror::Error;

/// First delay when the backoff does not say (Argo CD's default).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(5);
/// Multiplier when the backoff does not say (Argo CD's default).
pub const DEFAULT_FACTOR: i64 = 2;
/// Longest delay when the backoff does not say (Argo CD's default).
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(180);

/// A duration string that cannot be read. Each variant carries the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Empty, or only a sign.
    #[error("invalid duration {input:?}: empty")]
    Empty {
        /// The text given.
        input: String,
    },
    /// Not of the form `[number unit]...`.
    #[error("invalid duration {input:?}: expected numbers with units, such as 5s, 1h30m or 500ms")]
    Syntax {
        /// The text given.
        input: String,
    },
    /// A number without a unit, inside a longer duration (`1h30`).
    #[error("invalid duration {input:?}: missing unit after a number")]
    MissingUnit {
        /// The text given.
        input: String,
    },
    /// A unit other than ns, us, µs, ms, s, m, h.
    #[error("invalid duration {input:?}: unknown unit {unit:?} (expected ns, us, ms, s, m or h)")]
    UnknownUnit {
        /// The text given.
        input: String,
        /// The unit found.
        unit: String,
    },
    /// A negative duration: a delay cannot be negative.
    #[error("invalid duration {input:?}: negative")]
    Negative {
        /// The text given.
        input: String,
    },
    /// More than Go can represent (about 292 years).
    #[error("invalid duration {input:?}: too large")]
    Overflow {
        /// The text given.
        input: String,
    },
}

/// Nanoseconds in one unit, or `None` for an unknown unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // Go accepts the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration string: an optional sign, then one or more decimal
/// numbers (fractions allowed) each followed by a unit (`ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`), e.g. `5s`, `1h30m`, `1.5h`, `500ms`. `0` needs no
/// unit. Beyond Go, a bare integer means seconds (Argo CD's backoff reads
/// `duration: "30"` so). Negative durations and durations over Go's limit
/// (2^63-1 ns) are refused; fractions below a nanosecond are truncated.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let input = || s.to_owned();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(DurationError::Empty { input: input() });
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if negative {
        return Err(DurationError::Negative { input: input() });
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = body.parse().map_err(|_| DurationError::Overflow { input: input() })?;
        return nanos_to_duration(u128::from(seconds) * 1_000_000_000, s);
    }

    let mut total: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationError::Syntax { input: input() });
        }
        let unit_len = after.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit { input: input() });
        }
        let per_unit =
            unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit { input: input(), unit: unit.to_owned() })?;
        let overflow = || DurationError::Overflow { input: input() };
        // Any whole part over 2^63 ns is too large whatever the unit, so
        // parsing it as u64 first bounds the arithmetic below.
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse::<u64>().map_err(|_| overflow())?.into() };
        let mut nanos = whole.checked_mul(per_unit).ok_or_else(overflow)?;
        // Digits past the 20th cannot change a value in whole nanoseconds
        // (units are at most 3.6e12 ns), and dropping them keeps 10^n in u128.
        let fraction = &fraction[..fraction.len().min(20)];
        if !fraction.is_empty() {
            let numerator: u128 = fraction.parse().map_err(|_| overflow())?;
            let scale = 10u128.pow(u32::try_from(fraction.len()).map_err(|_| overflow())?);
            nanos += numerator * per_unit / scale;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > i64::MAX as u128 {
            return Err(overflow());
        }
        rest = after;
    }
    nanos_to_duration(total, s)
}

fn nanos_to_duration(nanos: u128, input: &str) -> Result<Duration, DurationError> {
    if nanos > i64::MAX as u128 {
        return Err(DurationError::Overflow { input: input.to_owned() });
    }
    // Cannot fail: bounded by i64::MAX just above.
    let nanos = u64::try_from(nanos).map_err(|_| DurationError::Overflow { input: input.to_owned() })?;
    Ok(Duration::from_nanos(nanos))
}

/// The delay before retry number `attempt` (0 for the first retry, i.e.
/// `operationState.retryCount` before it is incremented):
/// `min(duration * factor^attempt, maxDuration)`, with Argo CD's defaults
/// (5s, 2, 3m) for what `backoff` leaves out.
///
/// A factor below 1 is taken as 1, so the delay never shrinks to zero and a
/// failing sync cannot turn into a hot loop. Never overflows: a delay past
/// what can be represented is `maxDuration`.
pub fn retry_delay(attempt: u32, backoff: Option<&Backoff>) -> Result<Duration, DurationError> {
    let duration = match backoff.and_then(|b| b.duration.as_deref()) {
        Some(text) => parse_duration(text)?,
        None => DEFAULT_DURATION,
    };
    let max = match backoff.and_then(|b| b.max_duration.as_deref()) {
        Some(text) => parse_duration(text)?,
        None => DEFAULT_MAX_DURATION,
    };
    let factor = u128::try_from(backoff.and_then(|b| b.factor).unwrap_or(DEFAULT_FACTOR).max(1)).unwrap_or(1);
    let delay = factor.checked_pow(attempt).and_then(|f| f.checked_mul(duration.as_nanos()));
    Ok(match delay {
        Some(nanos) if nanos < max.as_nanos() => {
            // Below `max`, so it fits in a Duration.
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
        _ => max,
    })
}

/// Whether a sync that failed after `retry_count` retries may be retried
/// again under `retry`.
///
/// As in Argo CD: no retry strategy, or a `limit` of 0 or absent, means no
/// retry; a negative `limit` means no limit; otherwise up to `limit` retries
/// after the first attempt.
pub fn retries_left(retry: Option<&RetryStrategy>, retry_count: i64) -> bool {
    match retry.map(|r| r.limit.unwrap_or(0)) {
        None => false,
        Some(limit) if limit < 0 => true,
        Some(limit) => retry_count < limit,
    }
}
