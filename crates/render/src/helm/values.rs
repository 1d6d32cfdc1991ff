//! The user values of a render, gathered from `spec.source.helm` as Argo CD
//! passes them to `helm template`: value files (`-f`), then inline
//! `values`/`valuesObject` (one more `-f`), then `parameters` (`--set`, or
//! `--set-string` with `forceString`) and `fileParameters` (`--set-file`).
//!
//! Every path is checked here, before any tool sees it: relative to the
//! chart, inside the repository, symlinks included.

use std::path::{Path, PathBuf};

use application::HelmSource;
use serde_json::{Map, Value};

use crate::MAX_FILE_BYTES;
use crate::RenderError;
use crate::paths::{normalize, resolve_inside};

/// The values inputs, resolved and checked, in Helm's order of precedence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueInputs {
    /// Value files (absolute, canonical, inside the repository), in order.
    pub files: Vec<PathBuf>,
    /// `valuesObject`, or `values` parsed later by the backend.
    pub inline: Option<InlineValues>,
    /// `--set` expressions (`name=value`, commas escaped as Argo CD does).
    pub set: Vec<String>,
    /// `--set-string` expressions.
    pub set_string: Vec<String>,
    /// `--set-file` pairs: the value's name and the (checked) file.
    pub set_file: Vec<(String, PathBuf)>,
}

/// Inline values of the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum InlineValues {
    /// `values`: a YAML document, parsed by Helm's own reader.
    Yaml(String),
    /// `valuesObject`: already structured (a JSON object).
    Object(Map<String, Value>),
}

/// Checks and resolves the spec's values inputs for the chart at
/// `chart_rel` (repository-relative) under the canonical `root`.
pub(crate) fn resolve(root: &Path, chart_rel: &str, helm: &HelmSource) -> Result<ValueInputs, RenderError> {
    let mut inputs = ValueInputs::default();
    for file in &helm.value_files {
        match resolve_file(root, chart_rel, file)? {
            Some(path) => inputs.files.push(path),
            None if helm.ignore_missing_value_files => {}
            None => return Err(RenderError::PathNotFound { path: shown(chart_rel, file) }),
        }
    }
    inputs.inline = match (&helm.values_object, &helm.values) {
        // Argo CD: valuesObject wins over values.
        (Some(Value::Object(map)), _) => Some(InlineValues::Object(map.clone())),
        (Some(Value::Null), None) | (None, None) => None,
        (Some(Value::Null), Some(text)) | (None, Some(text)) => {
            (!text.trim().is_empty()).then(|| InlineValues::Yaml(text.clone()))
        }
        (Some(_), _) => {
            return Err(RenderError::InvalidSource { message: "helm.valuesObject must be an object".to_owned() });
        }
    };
    for parameter in &helm.parameters {
        if parameter.name.is_empty() {
            return Err(RenderError::InvalidSource { message: "a helm parameter has no name".to_owned() });
        }
        let expression = format!("{}={}", parameter.name, escape_commas(&parameter.value));
        if parameter.force_string { inputs.set_string.push(expression) } else { inputs.set.push(expression) }
    }
    for parameter in &helm.file_parameters {
        if parameter.name.is_empty() {
            return Err(RenderError::InvalidSource { message: "a helm fileParameter has no name".to_owned() });
        }
        let path = resolve_file(root, chart_rel, &parameter.path)?
            .ok_or_else(|| RenderError::PathNotFound { path: shown(chart_rel, &parameter.path) })?;
        inputs.set_file.push((parameter.name.clone(), path));
    }
    Ok(inputs)
}

/// The repository-relative form of a chart-relative path, for messages.
fn shown(chart_rel: &str, file: &str) -> String {
    let joined = if chart_rel.is_empty() { file.to_owned() } else { format!("{chart_rel}/{file}") };
    normalize(&joined).unwrap_or(joined)
}

/// A chart-relative file: `Ok(None)` when it does not exist. Remote URLs,
/// absolute paths, `..` above the root and symlinks out of it are refused
/// (the shapes of CVE-2022-24348).
fn resolve_file(root: &Path, chart_rel: &str, file: &str) -> Result<Option<PathBuf>, RenderError> {
    if file.contains("://") {
        return Err(RenderError::InvalidSource {
            message: format!("value file {file:?} is a URL; only files inside the repository are allowed"),
        });
    }
    if file.trim().is_empty() {
        return Err(RenderError::InvalidSource { message: "a helm value file path is empty".to_owned() });
    }
    if Path::new(file).is_absolute() {
        return Err(RenderError::PathEscapesRepository { path: file.to_owned() });
    }
    let joined = if chart_rel.is_empty() { file.to_owned() } else { format!("{chart_rel}/{file}") };
    let rel = normalize(&joined).map_err(|_| RenderError::PathEscapesRepository { path: file.to_owned() })?;
    let Some(real) = resolve_inside(root, &rel, file)? else { return Ok(None) };
    let metadata = std::fs::metadata(&real).map_err(|source| RenderError::Io { path: rel.clone(), source })?;
    if !metadata.is_file() {
        return Err(RenderError::InvalidSource { message: format!("value file {rel:?} is not a file") });
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(RenderError::FileTooLarge { file: rel, limit: MAX_FILE_BYTES });
    }
    Ok(Some(real))
}

/// Escapes the commas of a `--set` value, as Argo CD does, so a parameter
/// value `a,b` stays one string; a `{a,b}` list is left as Helm's list
/// syntax, and commas already escaped stay as they are.
pub(crate) fn escape_commas(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut previous = None;
    for c in value.chars() {
        if c == ',' && previous != Some('\\') {
            out.push('\\');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// How a later layer of values lands on the earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// A values file: maps merge key by key, anything else replaces.
    File,
    /// A `--set` expression: as a file, but a list written with indexes
    /// (`list[1]=x`) updates those elements of an existing list instead of
    /// replacing it, as Helm's parser does when it writes into the values.
    Set,
}

/// Merges `over` into `base` as Helm layers user values.
pub(crate) fn merge(base: &mut Map<String, Value>, over: Map<String, Value>, layer: Layer) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => merge(existing, incoming, layer),
            (Some(Value::Array(existing)), Value::Array(incoming)) if layer == Layer::Set => {
                for (index, item) in incoming.into_iter().enumerate() {
                    match existing.get_mut(index) {
                        // The parser pads lists with nulls up to the index set.
                        Some(_) if item.is_null() => {}
                        Some(slot) => match (slot, item) {
                            (Value::Object(old), Value::Object(new)) => merge(old, new, layer),
                            (slot, item) => *slot = item,
                        },
                        None => existing.push(item),
                    }
                }
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
