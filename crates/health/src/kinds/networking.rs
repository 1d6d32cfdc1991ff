//! `networking.k8s.io` kinds.

use serde_json::Value;

use crate::fields::has_load_balancer_ingress;
use crate::{Health, HealthStatus};

/// Ingress: Healthy once the ingress controller has published an address.
/// Without an ingress controller this stays Progressing, as in Argo CD.
pub(crate) fn ingress(object: &Value) -> Health {
    if has_load_balancer_ingress(object) {
        Health::new(HealthStatus::Healthy, "")
    } else {
        Health::new(HealthStatus::Progressing, "Waiting for a load balancer address")
    }
}
