//! How an Application is synced.
//!
//! - [`mod@plan`]: from the desired objects, the live objects and the sync
//!   request, what a sync does and in which order: phases (PreSync, Sync,
//!   PostSync, with SyncFail kept apart), waves, kinds and names; hooks and
//!   their delete policies; what is pruned and what is kept. Annotations
//!   (`ferry.dev/…` and Argo CD's `argocd.argoproj.io/…`, read unchanged)
//!   are parsed into typed values once, there.
//! - [`mod@operation`]: the sync operation as a state machine. From the plan,
//!   the per-resource results recorded so far and live health, it names the
//!   next step (work to do, something to wait for, or the end), so a
//!   controller restarted mid-sync resumes where its status says.
//! - [`mod@retry`]: Go-style durations and the backoff between retries of a
//!   failed sync.
//!
//! Invariant: this crate does no IO, no clocks, no randomness. The same
//! inputs give the same plan and the same next step, so a sync resumed after
//! a restart replans identically. The controller performs the IO each step
//! names (server-side apply, hook creation and deletion, prunes).

pub mod operation;
pub mod plan;
pub mod retry;

pub use operation::{Mode, Outcome, Step, StepInput, Termination, Work, live_health, next, record};
pub use plan::{Action, Phase, Plan, PlanError, PlanOptions, ResourceKey, SkipReason, Task, Wave, plan};
pub use retry::{DurationError, parse_duration, retries_left, retry_delay};
