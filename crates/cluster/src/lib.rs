//! ferry's local cluster: a Kubernetes-API-compatible server with durable
//! storage and a workload simulator.
//!
//! Module map:
//! - [`store`]: durable storage (redb), resourceVersions, watch history;
//! - [`registry`]: the resources served, and discovery documents;
//! - [`openapi`]: `/openapi/v2` and `/openapi/v3` documents;
//! - [`selector`]: label and field selectors;
//! - [`api`]: the semantics of reads and writes (metadata, generation,
//!   subresources, patches, server-side apply, deletion with finalizers);
//! - [`server`]: the HTTP surface (routing, content types, watch streams,
//!   `metav1.Status` errors, authentication);
//! - [`controllers`]: garbage collection, namespace lifecycle, CRD
//!   registration, and the workload simulator;
//! - [`local`]: starting it all from a data directory (`ferry cluster serve`);
//! - [`tls`]: the serving certificate and its CA.

pub mod api;
pub mod controllers;
pub mod local;
pub mod openapi;
pub mod registry;
pub mod selector;
pub mod server;
pub mod store;
pub mod tls;
