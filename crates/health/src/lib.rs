//! How healthy a Kubernetes object is, with Argo CD's semantics.
//!
//! [`assess`] looks up a check by the object's group and kind in a table
//! ([`Checks`]) and runs it. Kinds without a check give `None`: they have no
//! notion of readiness (a ConfigMap is as healthy as it will ever be once it
//! exists), so app health treats them as healthy and [`worst`] skips them.
//!
//! The table is data, not a `match`, so custom checks (Lua, later) can be
//! added or can replace a built-in one without touching the engine: build a
//! [`Checks`] with [`Checks::builtin`], then [`Checks::insert`] or
//! [`Checks::remove`].
//!
//! This crate does no IO and reads no clock: everything it decides comes from
//! the object it is given.

mod checks;
mod fields;
mod kinds;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use checks::{Check, Checks};

/// The health of one object, or of an app.
///
/// Variants are declared in order of severity, as Argo CD ranks them when it
/// folds resource health into app health, so `Ord` gives "worse is greater"
/// and the health of an app is the maximum over its resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Running as desired.
    Healthy,
    /// Deliberately paused (a paused Deployment, a suspended Job or CronJob).
    Suspended,
    /// Not yet healthy, but expected to become so without intervention.
    Progressing,
    /// The object does not exist in the cluster.
    Missing,
    /// Failed, or will not become healthy without intervention.
    Degraded,
    /// The check could not tell.
    Unknown,
}

impl HealthStatus {
    /// The Argo CD spelling, as used in Application status and CLI output.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Suspended => "Suspended",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Missing => "Missing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`HealthStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown health status {0:?}")]
pub struct ParseHealthStatusError(pub String);

impl FromStr for HealthStatus {
    type Err = ParseHealthStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Healthy" => Ok(HealthStatus::Healthy),
            "Suspended" => Ok(HealthStatus::Suspended),
            "Progressing" => Ok(HealthStatus::Progressing),
            "Missing" => Ok(HealthStatus::Missing),
            "Degraded" => Ok(HealthStatus::Degraded),
            "Unknown" => Ok(HealthStatus::Unknown),
            other => Err(ParseHealthStatusError(other.to_owned())),
        }
    }
}

/// The outcome of a health check: a status and a human-readable reason
/// (empty when there is nothing to add, as for most healthy objects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// How healthy the object is.
    pub status: HealthStatus,
    /// Why, for people: shown next to the status in CLI output and app status.
    pub message: String,
}

impl Health {
    /// A health with the given status and message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health { status, message: message.into() }
    }
}

/// The health of `object` according to the built-in checks, or `None` when
/// its kind has no check (healthy by default for app health).
///
/// An object being deleted is Progressing ("Pending deletion") whatever its
/// kind, because a wave must not move on while it still exists.
pub fn assess(object: &serde_json::Value) -> Option<Health> {
    Checks::shared_builtin().assess(object)
}

/// App health: the worst status among its resources. Resources whose kind has
/// no check (`None`) count as healthy, so an app of only ConfigMaps, or of
/// nothing, is Healthy.
pub fn worst<'a, I>(healths: I) -> HealthStatus
where
    I: IntoIterator<Item = Option<&'a Health>>,
{
    healths.into_iter().flatten().map(|h| h.status).max().unwrap_or(HealthStatus::Healthy)
}

#[cfg(test)]
mod tests;
