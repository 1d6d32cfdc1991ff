//! Config-management plugins: user-declared commands that print manifests.
//! (Being built.)

use std::path::Path;

use application::PluginSource;

use crate::{AppInfo, Manifest, RenderError};

/// The configured plugins.
#[derive(Debug, Default)]
pub struct Plugins {}

/// Renders the app with the plugin `plugin` names (or discovers). Returns the
/// objects and the plugin's name.
pub fn render_plugin(
    _repo_root: &Path,
    _app_path: &str,
    _plugin: &PluginSource,
    _app: &AppInfo,
    _plugins: &Plugins,
) -> Result<(Vec<Manifest>, String), RenderError> {
    Err(RenderError::Unsupported { what: "plugins".to_owned() })
}
