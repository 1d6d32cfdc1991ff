//! The built-in checks, one function per kind, grouped by API group.
//! Each follows Argo CD's behaviour (and its messages) so that users moving
//! from Argo CD see the same health for the same objects.

pub(crate) mod api;
pub(crate) mod application;
pub(crate) mod apps;
pub(crate) mod autoscaling;
pub(crate) mod batch;
pub(crate) mod core;
pub(crate) mod networking;
