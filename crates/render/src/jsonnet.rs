//! Jsonnet apps (being written).

use std::path::Path;

use crate::{DirectoryOptions, Manifest, RenderError};

/// Renders the `*.jsonnet` files of a directory.
pub fn render_jsonnet(
    _repo_root: &Path,
    _app_path: &str,
    _options: &DirectoryOptions,
    _jsonnet: &application::JsonnetSource,
) -> Result<Vec<Manifest>, RenderError> {
    Err(RenderError::Unsupported { what: "Jsonnet".into() })
}
