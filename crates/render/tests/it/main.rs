//! render's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

mod determinism;
mod golden;
mod jsonnet;
mod kustomize;
mod paths;
