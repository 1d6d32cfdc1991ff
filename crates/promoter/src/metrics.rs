//! Prometheus metrics for warehouses, promotions, steps and gates.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A result label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// A promotion's final phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

/// A step kind and its outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabel {
    step: String,
    result: String,
}

/// A webhook kind and its outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabel {
    kind: &'static str,
    result: &'static str,
}

/// Every metric the promoter exports.
pub struct Metrics {
    registry: Registry,
    discoveries: Family<ResultLabel, Counter>,
    discovery_seconds: Histogram,
    freight: Counter,
    promotions: Family<PhaseLabel, Counter>,
    promotion_seconds: Histogram,
    steps: Family<StepLabel, Counter>,
    gates: Family<ResultLabel, Counter>,
    webhooks: Family<WebhookLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry");
        let discoveries = Family::<ResultLabel, Counter>::default();
        registry.register("warehouse_discoveries", "Warehouse discoveries, by result", discoveries.clone());
        let discovery_seconds = Histogram::new(exponential_buckets(0.001, 4.0, 10));
        registry.register("warehouse_discovery_duration_seconds", "Time per discovery", discovery_seconds.clone());
        let freight = Counter::default();
        registry.register("freight_created", "Freight created by warehouses", freight.clone());
        let promotions = Family::<PhaseLabel, Counter>::default();
        registry.register("promotions", "Promotions ended, by phase", promotions.clone());
        let promotion_seconds = Histogram::new(exponential_buckets(0.1, 3.0, 10));
        registry.register(
            "promotion_duration_seconds",
            "Time from a promotion's start to its end",
            promotion_seconds.clone(),
        );
        let steps = Family::<StepLabel, Counter>::default();
        registry.register("promotion_steps", "Step runs, by step and result", steps.clone());
        let gates = Family::<ResultLabel, Counter>::default();
        registry.register("gate_checks", "Gate evaluations, by result", gates.clone());
        let webhooks = Family::<WebhookLabel, Counter>::default();
        registry.register("promotion_webhooks", "Webhooks received by the promoter", webhooks.clone());
        Metrics {
            registry,
            discoveries,
            discovery_seconds,
            freight,
            promotions,
            promotion_seconds,
            steps,
            gates,
            webhooks,
        }
    }

    /// One discovery of a warehouse.
    pub(crate) fn observe_discovery(&self, took: Duration, ok: bool) {
        self.discoveries.get_or_create(&ResultLabel { result: if ok { "success" } else { "error" } }).inc();
        self.discovery_seconds.observe(took.as_secs_f64());
    }

    /// A Freight was created.
    pub(crate) fn freight_created(&self) {
        self.freight.inc();
    }

    /// A promotion ended in `phase` after `took`.
    pub(crate) fn promotion_ended(&self, phase: promotion::PromotionPhase, took: Option<Duration>) {
        self.promotions.get_or_create(&PhaseLabel { phase: format!("{phase:?}") }).inc();
        if let Some(took) = took {
            self.promotion_seconds.observe(took.as_secs_f64());
        }
    }

    /// A step ran.
    pub(crate) fn step_ran(&self, step: &str, result: &str) {
        self.steps.get_or_create(&StepLabel { step: step.to_owned(), result: result.to_owned() }).inc();
    }

    /// A gate was evaluated: `passed`, `pending` or `failed`.
    pub(crate) fn gate_checked(&self, result: &'static str) {
        self.gates.get_or_create(&ResultLabel { result }).inc();
    }

    /// A webhook was handled.
    pub(crate) fn webhook(&self, kind: &'static str, result: &'static str) {
        self.webhooks.get_or_create(&WebhookLabel { kind, result }).inc();
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
