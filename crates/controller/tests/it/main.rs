//! controller's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

#[path = "../common/mod.rs"]
mod common;

mod broken_inputs;
mod clusters;
mod credentials;
mod helm;
mod hooks;
mod jsonnet;
mod kustomize;
mod lifecycle;
mod operations;
mod plugins;
mod render_cache;
mod restart;
mod sync_basics;
mod webhook;
