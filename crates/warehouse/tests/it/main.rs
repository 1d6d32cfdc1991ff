//! warehouse's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

#[path = "../support/registry.rs"]
mod support;

mod chart_http;
mod git;
mod pages;
mod registry;
