//! Kinds that extend the API: APIService and CustomResourceDefinition.

use serde_json::Value;

use crate::fields::{at, condition};
use crate::{Health, HealthStatus};

/// APIService: Healthy when Available. Not available yet is Progressing, as
/// in Argo CD: the backing service is usually still starting.
pub(crate) fn api_service(object: &Value) -> Health {
    match condition(object, "Available") {
        Some(c) if c.is_true() => Health::new(HealthStatus::Healthy, c.describe()),
        Some(c) => Health::new(HealthStatus::Progressing, c.describe()),
        None => Health::new(HealthStatus::Progressing, "Waiting to be processed"),
    }
}

/// CustomResourceDefinition: Healthy once Established. Rejected names or a
/// non-structural schema are Degraded (they will not fix themselves); a CRD
/// being torn down is Progressing.
pub(crate) fn custom_resource_definition(object: &Value) -> Health {
    if at(object, &["status", "conditions"]).is_none() {
        return Health::new(HealthStatus::Progressing, "Waiting for the CRD to be established");
    }
    if let Some(c) = condition(object, "Terminating").filter(|c| c.is_true()) {
        return Health::new(HealthStatus::Progressing, format!("CRD is terminating: {}", c.describe()));
    }
    if let Some(c) = condition(object, "NamesAccepted").filter(|c| c.is_false()) {
        return Health::new(HealthStatus::Degraded, c.describe());
    }
    if let Some(c) = condition(object, "NonStructuralSchema").filter(|c| c.is_true()) {
        return Health::new(HealthStatus::Degraded, c.describe());
    }
    match condition(object, "Established") {
        Some(c) if c.is_true() => Health::new(HealthStatus::Healthy, "CRD is established"),
        Some(c) => Health::new(HealthStatus::Progressing, c.describe()),
        None => Health::new(HealthStatus::Progressing, "Waiting for the CRD to be established"),
    }
}
