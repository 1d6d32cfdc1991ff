//! Prometheus metrics: reconciles, syncs, git fetches and cache sizes.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label for success or failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Label naming a destination cluster.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClusterLabel {
    cluster: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_seconds: Histogram,
    syncs: Counter,
    fetches: Family<ResultLabel, Counter>,
    fetch_seconds: Histogram,
    status_writes: Counter,
    live_lagged: Counter,
    renders: Family<ResultLabel, Counter>,
    render_seconds: Histogram,
    render_cache: Family<ResultLabel, Counter>,
    cache_objects: Family<ClusterLabel, Gauge<i64, AtomicI64>>,
    cache_bytes: Family<ClusterLabel, Gauge<i64, AtomicI64>>,
    apps: Gauge<i64, AtomicI64>,
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
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register("reconciles", "Application reconciles, by result", reconciles.clone());
        let reconcile_seconds = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
        registry.register("reconcile_duration_seconds", "Time per reconcile", reconcile_seconds.clone());
        let syncs = Counter::default();
        registry.register("syncs_started", "Sync operations started", syncs.clone());
        let fetches = Family::<ResultLabel, Counter>::default();
        registry.register("git_fetches", "git fetches, by result", fetches.clone());
        let fetch_seconds = Histogram::new(exponential_buckets(0.01, 3.0, 8));
        registry.register("git_fetch_duration_seconds", "Time per git fetch", fetch_seconds.clone());
        let status_writes = Counter::default();
        registry.register("status_writes", "Application status writes", status_writes.clone());
        let live_lagged = Counter::default();
        registry.register(
            "live_events_lagged",
            "Live change notifications dropped by a slow consumer",
            live_lagged.clone(),
        );
        let renders = Family::<ResultLabel, Counter>::default();
        registry.register("renders", "Manifest renders run (cache misses), by result", renders.clone());
        let render_seconds = Histogram::new(exponential_buckets(0.001, 4.0, 9));
        registry.register("render_duration_seconds", "Time per render (tools included)", render_seconds.clone());
        let render_cache = Family::<ResultLabel, Counter>::default();
        registry.register(
            "render_cache_lookups",
            "Rendered-manifest cache lookups, by result (memory, disk, miss)",
            render_cache.clone(),
        );
        let cache_objects = Family::<ClusterLabel, Gauge<i64, AtomicI64>>::default();
        registry.register("cache_objects", "Objects in the live-state cache", cache_objects.clone());
        let cache_bytes = Family::<ClusterLabel, Gauge<i64, AtomicI64>>::default();
        registry.register("cache_bytes", "Approximate bytes held by the live-state cache", cache_bytes.clone());
        let apps = Gauge::<i64, AtomicI64>::default();
        registry.register("applications", "Applications known to the controller", apps.clone());
        Metrics {
            registry,
            reconciles,
            reconcile_seconds,
            syncs,
            fetches,
            fetch_seconds,
            status_writes,
            live_lagged,
            renders,
            render_seconds,
            render_cache,
            cache_objects,
            cache_bytes,
            apps,
        }
    }

    pub(crate) fn observe_reconcile(&self, took: Duration, ok: bool) {
        self.reconciles.get_or_create(&ResultLabel { result: if ok { "ok" } else { "error" } }).inc();
        self.reconcile_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn observe_fetch(&self, took: Duration, ok: bool) {
        self.fetches.get_or_create(&ResultLabel { result: if ok { "ok" } else { "error" } }).inc();
        self.fetch_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn observe_render(&self, took: Duration, ok: bool) {
        self.renders.get_or_create(&ResultLabel { result: if ok { "ok" } else { "error" } }).inc();
        self.render_seconds.observe(took.as_secs_f64());
    }

    /// One render-cache lookup: `memory` or `disk` for hits, `miss` otherwise.
    pub(crate) fn render_cache_lookup(&self, result: &'static str) {
        self.render_cache.get_or_create(&ResultLabel { result }).inc();
    }

    pub(crate) fn sync_started(&self) {
        self.syncs.inc();
    }

    pub(crate) fn status_written(&self) {
        self.status_writes.inc();
    }

    pub(crate) fn live_lagged(&self, missed: u64) {
        self.live_lagged.inc_by(missed);
    }

    pub(crate) fn set_cache(&self, cluster: &str, objects: usize, bytes: usize) {
        let label = ClusterLabel { cluster: cluster.to_owned() };
        self.cache_objects.get_or_create(&label).set(i64::try_from(objects).unwrap_or(i64::MAX));
        self.cache_bytes.get_or_create(&label).set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub(crate) fn set_apps(&self, count: usize) {
        self.apps.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
