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

//!
//! # Deliberate differences from a Kubernetes API server
//!
//! The local cluster is a test bed and a try-it-now runtime, not a
//! production control plane. Where it differs from Kubernetes 1.33, on
//! purpose:
//!
//! - **Transport and auth:** HTTPS with a self-signed CA per data directory
//!   (in the kubeconfig); one bearer token with full access. No RBAC
//!   authorization, no admission webhooks or policies (their objects are
//!   stored, not enforced), no API aggregation (APIService objects are
//!   stored, not proxied), no client certificates.
//! - **Encodings:** JSON and YAML request bodies, and protobuf bodies of
//!   built-in kinds (what kubectl's generators send; see `server/protobuf`);
//!   responses are always JSON (and Tables for
//!   `kubectl get`); `/openapi/v2` in JSON or gnostic protobuf.
//! - **Versions:** all served versions of a resource share storage without
//!   conversion (like a CRD with `conversion: None`); conversion webhooks are
//!   not called.
//! - **Validation:** names (DNS rules per kind), labels, apiVersion/kind,
//!   JSON types against the OpenAPI schema, unknown and duplicate fields
//!   (`fieldValidation`), immutable ConfigMaps/Secrets, and CRD definitions.
//!   Not the full per-kind validation of Kubernetes (for example Pod specs
//!   are not checked beyond types), no CEL rules (`x-kubernetes-validations`),
//!   no CRD `default`s, enums, patterns or ranges.
//! - **Defaulting:** only what readers commonly rely on (workload replicas
//!   and rollout settings, pod template basics, port protocols, Service type
//!   and target ports, Secret type and `stringData`, Namespace finalizers).
//! - **Generation:** set on kinds that have a `spec` and on custom
//!   resources; bumped by any change outside `metadata` and `status`.
//! - **Field selectors:** `metadata.name`, `metadata.namespace` and the
//!   per-kind fields Kubernetes supports for the common kinds; custom
//!   resources' `selectableFields` are not supported.
//! - **Lists:** `resourceVersion`/`resourceVersionMatch` on a list are
//!   accepted but the latest state is served (continued lists are consistent
//!   snapshots). No `remainingItemCount`.
//! - **Watch:** history holds the last 100,000 changes in memory; older
//!   resourceVersions, and any from before a restart, get 410 Expired.
//!   Bookmarks every 15 s when asked.
//! - **Deletion:** no graceful termination (`gracePeriodSeconds` is ignored;
//!   Pods go at once unless finalizers hold them).
//! - **Subresources:** `status` and `scale` are served; others listed in
//!   discovery (`pods/log`, `pods/exec`, `pods/portforward`, `serviceaccounts/token`, ...)
//!   answer 404.
//! - **Workloads:** simulated by controllers (see [`controllers`]): no
//!   containers run; no scheduler, kubelet or kube-proxy.
//! - **Server-side apply:** no `Update`-entry cap, no version conversion of
//!   managed fields (see `patch::apply`).

pub mod api;
pub mod controllers;
pub mod local;
pub mod openapi;
pub mod registry;
pub mod selector;
pub mod server;
pub mod store;
pub mod tls;
