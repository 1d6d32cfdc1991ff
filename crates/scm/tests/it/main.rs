//! scm's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../promoter/tests/common/waits.rs"]
mod waits;

mod gitea;
mod github;
mod gitlab;
mod local_git;
mod local_kube;
