//! Promotion steps: what a Promotion runs, one step at a time.
//!
//! - [`expr`]: `${{ … }}` expressions (CEL) over `vars`, `outputs`, `freight` and `ctx`.
//! - [`validate`]: checks a promotion's steps up front (unknown step, bad config).
//! - [`run_step`]: runs one step and returns its [`StepOutcome`] as data; [`abort_step`] cleans up.
//! - The built-in steps (see [`BUILTIN_STEPS`]): git-clone, kustomize-set-image, yaml-update,
//!   helm-update-chart, copy, hydrate, git-commit, git-push, git-open-pr, git-wait-for-pr,
//!   app-sync, app-wait, http and exec.
//!
//! Invariants:
//! - Every built-in step is idempotent: run again after a crash, it finds its own work (the same
//!   commit, the same pull request) instead of doing it twice. Commits use the promotion's
//!   creation time and a fixed identity, so the same change on the same parent is the same SHA.
//! - Every path in a config is relative to the promotion's scratch directory and cannot leave it
//!   (`..`, absolute paths and symlinks out are refused).
//! - Nothing here talks to the cluster or an SCM directly: that goes through [`Services`], which
//!   the controller implements. git runs only through the `source` crate.
//! - A step's failure is data ([`StepOutcome`]), never a panic: `Failed` for what the user must
//!   fix, `Errored` for what may pass on retry.

mod context;
pub mod expr;
mod paths;
mod runner;
mod steps;

pub use context::{
    AppState, GitCredentials, NoCredentials, PullRequestInfo, PullRequestRef, PullRequestRequest, PushLocks,
    ServiceError, Services, StepContext,
};
pub use paths::inside_workdir;
pub use runner::{
    BUILTIN_STEPS, MAX_STATE_BYTES, OutcomePhase, StepError, StepOutcome, abort_step, run_step, validate,
};
