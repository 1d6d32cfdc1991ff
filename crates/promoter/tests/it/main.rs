//! promoter's integration tests, one binary: each module is one former test file.
//! A single binary links the dependency graph once instead of once per file.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../warehouse/tests/support/registry.rs"]
mod registry;

mod bad_inputs;
mod charts;
mod interrupts;
mod pipeline;
mod pipelines;
mod promotions;
mod warehouses;
