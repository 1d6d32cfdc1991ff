//! Helm charts: the real Helm engine, as a library (`libhelm_c`) or the
//! `helm` CLI. (Being built.)

use std::path::Path;

use application::HelmSource;

use crate::{AppInfo, Manifest, RenderError};

/// The Helm backend this machine offers, and its limits.
#[derive(Debug, Default)]
pub struct HelmTools {}

/// Renders the chart at `app_path` with `helm`'s options. Returns the objects
/// and the Helm version used.
pub fn render_helm(
    _repo_root: &Path,
    _app_path: &str,
    _helm: &HelmSource,
    _app: &AppInfo,
    _tools: &HelmTools,
) -> Result<(Vec<Manifest>, String), RenderError> {
    Err(RenderError::Unsupported { what: "Helm charts".to_owned() })
}
