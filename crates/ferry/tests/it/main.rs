//! ferry's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../warehouse/tests/support/registry.rs"]
mod registry;
#[path = "../promotion/support.rs"]
mod support;

mod bad_input;
mod cli_app;
mod cli_install;
mod cli_promotion;
mod cli_secrets;
mod durability;
mod gitops_cli;
mod health_cli;
mod kube_rs;
mod kube_watch;
mod kubectl_apply;
mod kubectl_basics;
mod kubectl_lifecycle;
mod promotion_e2e;
mod render_cli;
