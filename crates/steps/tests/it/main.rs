//! steps's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

#[path = "../support/harness.rs"]
mod harness;

mod git;
mod hydrate;
mod plugins;
