//! ferry's own Application, so that an app of apps waits for its children.

use serde_json::Value;

use crate::fields::{int_at, str_at};
use crate::{Health, HealthStatus};

/// Application (`ferry.dev`): the health the child's controller reported in
/// `status.health`.
///
/// Until the controller has reported one, the child is Progressing rather
/// than Healthy: a parent's wave must wait for a child it just created. When
/// the status records `observedGeneration` and it lags the spec, the reported
/// health belongs to an older spec, so it is Progressing too. A status string
/// this crate does not know is Unknown.
pub(crate) fn application(object: &Value) -> Health {
    let Some(reported) = str_at(object, &["status", "health", "status"]) else {
        return Health::new(HealthStatus::Progressing, "Waiting for the application to report its health");
    };
    let generation = int_at(object, &["metadata", "generation"]);
    let observed = int_at(object, &["status", "observedGeneration"]);
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return Health::new(HealthStatus::Progressing, "Waiting for the application to observe its latest spec");
    }
    let message = str_at(object, &["status", "health", "message"]).unwrap_or("");
    match reported.parse::<HealthStatus>() {
        Ok(status) => Health::new(status, message),
        Err(_) => Health::new(HealthStatus::Unknown, format!("Unknown health status {reported:?}")),
    }
}
