//! How an Application is synced.
//!
//! - [`mod@plan`]: the pure part. From the desired objects, the live objects and
//!   the sync request, it decides what a sync does and in which order:
//!   phases (PreSync, Sync, PostSync, with SyncFail kept apart), waves, kinds
//!   and names; hooks and their delete policies; what is pruned and what is
//!   kept. Annotations (`ferry.dev/…` and Argo CD's `argocd.argoproj.io/…`,
//!   read unchanged) are parsed into typed values once, there.
//!
//! Invariant: [`mod@plan`] does no IO, no clocks, no randomness; the same inputs
//! give the same plan, so a sync resumed after a restart replans identically.
//! Executing a plan against a cluster (server-side apply, waiting for health
//! between waves, hook deletion) will live next to it in this crate, and is
//! the only part that talks to Kubernetes.

pub mod plan;

pub use plan::{Action, Phase, Plan, PlanError, PlanOptions, ResourceKey, SkipReason, Task, Wave, plan};
