//! The table of per-kind checks.

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use crate::fields::{at, str_at};
use crate::kinds::{api, application, apps, autoscaling, batch, core, networking};
use crate::{Health, HealthStatus};

/// A health check for one kind. It is given the whole object and always
/// decides; a check that cannot tell returns [`HealthStatus::Unknown`].
///
/// A trait object rather than a `fn` pointer so that a check can carry state,
/// such as a compiled Lua script.
pub type Check = Arc<dyn Fn(&Value) -> Health + Send + Sync>;

/// A built-in check: a plain function, as it needs no state.
type BuiltinCheck = fn(&Value) -> Health;

/// The built-in checks, by (API group, kind). The core group is "".
static BUILTIN: &[(&str, &str, BuiltinCheck)] = &[
    ("apps", "Deployment", apps::deployment),
    ("apps", "StatefulSet", apps::stateful_set),
    ("apps", "DaemonSet", apps::daemon_set),
    ("apps", "ReplicaSet", apps::replica_set),
    ("", "Pod", core::pod),
    ("", "PersistentVolumeClaim", core::persistent_volume_claim),
    ("", "Service", core::service),
    ("batch", "Job", batch::job),
    ("batch", "CronJob", batch::cron_job),
    ("networking.k8s.io", "Ingress", networking::ingress),
    ("autoscaling", "HorizontalPodAutoscaler", autoscaling::horizontal_pod_autoscaler),
    ("apiregistration.k8s.io", "APIService", api::api_service),
    ("apiextensions.k8s.io", "CustomResourceDefinition", api::custom_resource_definition),
    ("ferry.dev", "Application", application::application),
];

#[derive(Clone)]
struct Entry {
    group: String,
    kind: String,
    check: Check,
}

/// A table of health checks keyed by API group and kind.
///
/// The engine only ever calls [`Checks::assess`]; which kinds have a check,
/// and what it does, is decided by whoever builds the table. Start from
/// [`Checks::builtin`] and [`insert`](Checks::insert) a custom check to add a
/// kind or to override a built-in one, or [`remove`](Checks::remove) one to
/// make that kind healthy by default.
#[derive(Clone, Default)]
pub struct Checks {
    entries: Vec<Entry>,
}

impl fmt::Debug for Checks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| format!("{}/{}", e.group, e.kind))).finish()
    }
}

impl Checks {
    /// A table with no checks: every object is healthy by default.
    pub fn empty() -> Self {
        Checks::default()
    }

    /// The built-in checks: Deployment, StatefulSet, DaemonSet, ReplicaSet,
    /// Pod, PersistentVolumeClaim, Service, Job, CronJob, Ingress,
    /// HorizontalPodAutoscaler, APIService, CustomResourceDefinition and
    /// ferry's Application.
    pub fn builtin() -> Self {
        let entries = BUILTIN
            .iter()
            .map(|&(group, kind, check)| Entry {
                group: group.to_owned(),
                kind: kind.to_owned(),
                check: Arc::new(check),
            })
            .collect();
        Checks { entries }
    }

    /// The built-in table, built once for [`crate::assess`].
    pub(crate) fn shared_builtin() -> &'static Checks {
        static SHARED: LazyLock<Checks> = LazyLock::new(Checks::builtin);
        &SHARED
    }

    /// Sets the check for `group`/`kind` (the core group is ""), replacing
    /// and returning any previous one.
    pub fn insert<F>(&mut self, group: &str, kind: &str, check: F) -> Option<Check>
    where
        F: Fn(&Value) -> Health + Send + Sync + 'static,
    {
        let check: Check = Arc::new(check);
        match self.position(group, kind) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].check, check)),
            None => {
                self.entries.push(Entry { group: group.to_owned(), kind: kind.to_owned(), check });
                None
            }
        }
    }

    /// Removes and returns the check for `group`/`kind`, so that kind becomes
    /// healthy by default.
    pub fn remove(&mut self, group: &str, kind: &str) -> Option<Check> {
        self.position(group, kind).map(|i| self.entries.remove(i).check)
    }

    /// The check for `group`/`kind`, if any.
    pub fn get(&self, group: &str, kind: &str) -> Option<&Check> {
        self.position(group, kind).map(|i| &self.entries[i].check)
    }

    /// The health of `object`, or `None` when its kind has no check.
    ///
    /// An object with a deletion timestamp is Progressing ("Pending
    /// deletion") whatever its kind: it is going away, and whoever waits on
    /// it (a sync wave, a prune) must keep waiting until it is gone.
    pub fn assess(&self, object: &Value) -> Option<Health> {
        if at(object, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null()) {
            return Some(Health::new(HealthStatus::Progressing, "Pending deletion"));
        }
        let kind = str_at(object, &["kind"])?;
        let api_version = str_at(object, &["apiVersion"]).unwrap_or("");
        // "apps/v1" → "apps"; "v1" is the core group, "".
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        let check = self.get(group, kind)?;
        Some(check(object))
    }

    fn position(&self, group: &str, kind: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.group == group && e.kind == kind)
    }
}
