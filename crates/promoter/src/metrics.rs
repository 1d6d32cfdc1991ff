//! Prometheus metrics for warehouses, promotions, steps and gates.

use prometheus_client::registry::Registry;

/// Every metric the promoter exports.
pub struct Metrics {
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        Metrics { registry: Registry::with_prefix("ferry") }
    }

    /// The metrics in the Prometheus text format, without the final `# EOF` line.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            return String::new();
        }
        out.trim_end().trim_end_matches("# EOF").to_owned()
    }
}
