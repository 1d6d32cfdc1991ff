//! `autoscaling` kinds.

use serde_json::Value;

use crate::fields::{Condition, at, condition_in, str_at};
use crate::{Health, HealthStatus};

/// Where autoscaling/v1 objects carry the v2 conditions, JSON-encoded.
const V1_CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";

/// HorizontalPodAutoscaler, from its AbleToScale and ScalingActive
/// conditions: either one False means it cannot do its job (Degraded), except
/// ScalingDisabled, which is what Kubernetes reports when the target was
/// scaled to zero on purpose (Suspended). Healthy once it is able to scale;
/// Progressing before the controller has reported anything.
pub(crate) fn horizontal_pod_autoscaler(object: &Value) -> Health {
    // autoscaling/v2 objects have them in status; autoscaling/v1 objects only
    // in an annotation holding a JSON array.
    let from_annotation;
    let conditions = match at(object, &["status", "conditions"]) {
        Some(c) => c,
        None => {
            let parsed = str_at(object, &["metadata", "annotations", V1_CONDITIONS_ANNOTATION])
                .and_then(|text| serde_json::from_str::<Value>(text).ok());
            from_annotation = parsed.unwrap_or(Value::Null);
            &from_annotation
        }
    };
    let able = condition_in(conditions, "AbleToScale");
    let active = condition_in(conditions, "ScalingActive");
    if let Some(c) = [active, able].into_iter().flatten().find(Condition::is_false) {
        let status = if c.reason == "ScalingDisabled" { HealthStatus::Suspended } else { HealthStatus::Degraded };
        return Health::new(status, c.describe());
    }
    match active.or(able).filter(Condition::is_true) {
        Some(c) => Health::new(HealthStatus::Healthy, c.describe()),
        None => Health::new(HealthStatus::Progressing, "Waiting to autoscale"),
    }
}
