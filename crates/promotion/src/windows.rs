//! Time windows (cron allow/deny) for promotions.
//!
//! A window opens at each time its cron `schedule` matches and stays open for `duration`.
//! Promotion is allowed now when no deny window is open and, if there are allow windows at all,
//! one of them is open (deny wins over allow). No windows: always allowed. Schedules are
//! standard 5-field cron (croner also accepts a leading seconds and a trailing year field), read
//! in UTC.
//!
//! The controller posts the verdict as the `ferry.dev/window` commit status
//! ([`crate::keys::WINDOW`]), with [`Verdict::description`] as its description.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::{DurationError, format_duration, parse_duration};

/// One time window.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// Whether the window allows or denies promotion while open.
    pub kind: WindowKind,
    /// When the window opens: a cron expression in UTC (`0 9 * * 1-5`).
    pub schedule: String,
    /// How long it stays open (`8h`).
    pub duration: String,
}

/// What an open window does.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum WindowKind {
    /// Promotion is allowed only while some allow window is open.
    #[default]
    Allow,
    /// Promotion is denied while it is open.
    Deny,
}

/// A window that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// The cron expression does not parse.
    #[error("window {index}: invalid schedule {schedule:?}")]
    Schedule {
        /// Its position in the list.
        index: usize,
        /// The expression.
        schedule: String,
        /// The cron parser's complaint.
        #[source]
        source: croner::errors::CronError,
    },
    /// The duration does not parse.
    #[error("window {index}: invalid duration")]
    Duration {
        /// Its position in the list.
        index: usize,
        /// The parse error.
        #[source]
        source: DurationError,
    },
}

/// Whether promotion is allowed now, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed.
    Allowed {
        /// Why, for the commit status's description.
        reason: String,
    },
    /// Denied.
    Denied {
        /// Why, for the commit status's description.
        reason: String,
    },
}

impl Verdict {
    /// Whether promotion is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }

    /// The reason, for the commit status's description.
    pub fn description(&self) -> &str {
        match self {
            Verdict::Allowed { reason } | Verdict::Denied { reason } => reason,
        }
    }
}

/// Whether promotion is allowed at `now` (see the module docs).
pub fn allowed(windows: &[Window], now: DateTime<Utc>) -> Result<bool, WindowError> {
    check(windows, now).map(|verdict| verdict.is_allowed())
}

/// The verdict at `now`, with a reason naming the window that decided it.
pub fn check(windows: &[Window], now: DateTime<Utc>) -> Result<Verdict, WindowError> {
    let parsed = parse_all(windows)?;
    if let Some((window, _, _)) =
        parsed.iter().find(|(w, cron, d)| w.kind == WindowKind::Deny && is_open(cron, *d, now))
    {
        return Ok(Verdict::Denied { reason: format!("inside deny window {}", describe(window)) });
    }
    let mut allows = parsed.iter().filter(|(w, _, _)| w.kind == WindowKind::Allow).peekable();
    if allows.peek().is_none() {
        return Ok(Verdict::Allowed { reason: "no window denies promotion".to_owned() });
    }
    match allows.find(|(_, cron, d)| is_open(cron, *d, now)) {
        Some((window, _, _)) => Ok(Verdict::Allowed { reason: format!("inside allow window {}", describe(window)) }),
        None => Ok(Verdict::Denied { reason: "outside every allow window".to_owned() }),
    }
}

/// Checks every window's schedule and duration, for validation before use.
pub fn validate(windows: &[Window]) -> Result<(), WindowError> {
    parse_all(windows).map(|_| ())
}

fn parse_all(windows: &[Window]) -> Result<Vec<(&Window, Cron, Duration)>, WindowError> {
    windows
        .iter()
        .enumerate()
        .map(|(index, window)| {
            let cron = Cron::from_str(window.schedule.trim()).map_err(|source| WindowError::Schedule {
                index,
                schedule: window.schedule.clone(),
                source,
            })?;
            let duration =
                parse_duration(&window.duration).map_err(|source| WindowError::Duration { index, source })?;
            Ok((window, cron, duration))
        })
        .collect()
}

/// Open when the latest opening at or before `now` is less than `duration` ago. The latest
/// opening suffices: with one duration per window, earlier openings close earlier.
fn is_open(cron: &Cron, duration: Duration, now: DateTime<Utc>) -> bool {
    // A schedule with no opening in the past (croner gives up searching) is closed.
    let Ok(opened) = cron.find_previous_occurrence(&now, true) else {
        return false;
    };
    (now - opened).to_std().is_ok_and(|since| since < duration)
}

fn describe(window: &Window) -> String {
    let duration = parse_duration(&window.duration).map(format_duration).unwrap_or_else(|_| window.duration.clone());
    format!("\"{}\" for {duration}", window.schedule.trim())
}

#[cfg(test)]
mod tests;
