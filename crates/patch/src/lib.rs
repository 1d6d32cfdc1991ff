//! How Kubernetes objects change.
//!
//! This crate holds the object-merge semantics of the Kubernetes API server,
//! as pure functions over `serde_json::Value`, driven by OpenAPI schemas:
//! - [`schema`]: typed views over the vendored Kubernetes 1.33 definitions and
//!   over CRD schemas (shape, list types, merge keys);
//! - [`strategic`]: strategic merge patch, with the `$patch`,
//!   `$deleteFromPrimitiveList`, `$setElementOrder` and `$retainKeys` directives;
//! - [`fields`]: field sets in the `FieldsV1` format of `managedFields`;
//! - [`apply`]: server-side apply: field ownership per manager, conflicts,
//!   and removal of fields a manager stops applying;
//! - [`validate`]: unknown-field detection for `fieldValidation`.
//!
//! Invariant: no IO, no clocks, no randomness. The same inputs give the same
//! output, so the local cluster and (later) the diff engine share one truth.

pub mod apply;
pub mod fields;
pub mod schema;
pub mod strategic;
pub mod validate;

pub use schema::{Gvk, ListType, MapType, PatchStrategy, Schema, Shape, TypeRef};
