//! Steps that edit YAML in place, keeping comments and formatting: `yaml-update`,
//! `kustomize-set-image` and `helm-update-chart`. Editing goes through `nondestructive`, which
//! changes only the values touched and reproduces every other byte.

use std::path::{Path, PathBuf};

use nondestructive::yaml::{self, Document, Id, Null, Separator, StringKind, ValueMut};
use serde::Deserialize;
use serde_json::Value;

use crate::steps::outputs;
use crate::{StepContext, StepError, StepOutcome, inside_workdir};

/// `yaml-update` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct YamlUpdateConfig {
    /// The YAML file, relative to the working directory.
    path: String,
    /// The values to set, in order.
    updates: Vec<YamlUpdate>,
}

/// One value to set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct YamlUpdate {
    /// A dotted path (`image.tag`, `spec.containers.0.image`; `\.` for a dot inside a key).
    key: String,
    /// The value, of any JSON type.
    value: Value,
}

/// **yaml-update**: sets each `updates[].key` (a dotted path; numbers index sequences) in the
/// YAML file at `path` to `value`, creating missing mappings on the way. Comments, key order
/// and formatting of everything else stay as they were.
///
/// Outputs: `changed` (whether the file's bytes changed).
///
/// Idempotency: setting values that are already set leaves the file byte-identical.
pub(crate) async fn yaml_update(config: YamlUpdateConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let file = inside_workdir(ctx.workdir, &config.path)?;
    edit_file(&file, &config.path, |doc| {
        for update in &config.updates {
            let path = split_key(&update.key);
            if path.is_empty() {
                return Err(format!("empty key in {:?}", config.path));
            }
            let id = walk(doc, &path, Create::Yes).map_err(|e| format!("key {:?}: {e}", update.key))?;
            set_value(doc.value_mut(id), &update.value);
        }
        Ok(())
    })
    .await
}

/// `kustomize-set-image` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SetImageConfig {
    /// The directory holding the kustomization, relative to the working directory.
    path: String,
    /// The images to set.
    images: Vec<ImageConfig>,
}

/// One image override.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImageConfig {
    /// The image name as the manifests use it (also the freight image's `repoURL`).
    image: String,
    /// The tag; with neither `tag` nor `digest`, the freight's image from `image` is used.
    #[serde(default)]
    tag: Option<String>,
    /// The digest (`sha256:…`), instead of a tag.
    #[serde(default)]
    digest: Option<String>,
    /// A replacement name (another registry, say).
    #[serde(default)]
    new_name: Option<String>,
    /// Taking the version from the freight: pin by digest instead of by tag.
    #[serde(default)]
    use_digest: bool,
}

/// Kustomization file names, in the order Kustomize looks for them.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// **kustomize-set-image**: sets `images:` entries of the kustomization in `path` (what
/// `kustomize edit set image` does): for each image, `newTag` or `digest` (the other one is
/// removed) and `newName` when given, adding the entry when missing. Without `tag` and
/// `digest`, the version is the freight's image whose `repoURL` is `image`.
///
/// Outputs: `changed`.
///
/// Idempotency: setting the same versions again leaves the file byte-identical.
pub(crate) async fn kustomize_set_image(
    config: SetImageConfig,
    ctx: &StepContext<'_>,
) -> Result<StepOutcome, StepError> {
    let dir = inside_workdir(ctx.workdir, &config.path)?;
    let Some(name) = KUSTOMIZATION_FILES.iter().find(|name| dir.join(name).is_file()) else {
        return Err(StepError::failed(format!("kustomize-set-image: no kustomization in {:?}", config.path)));
    };
    // The file itself may be a link; check it resolves inside too.
    let file = inside_workdir(ctx.workdir, &format!("{}/{name}", config.path))?;
    let mut wanted = Vec::new();
    for image in &config.images {
        wanted.push((image, version(image, ctx)?));
    }
    edit_file(&file, &config.path, |doc| {
        let images = walk(doc, &["images".to_owned()], Create::Yes)?;
        let sequence_len = {
            let value = doc.value_mut(images);
            let is_empty = matches!(value.as_ref().as_any(), yaml::Any::Null);
            if is_empty {
                let _ = value.make_sequence();
            }
            doc.value(images).as_sequence().map(|s| s.len()).ok_or("images is not a list")?
        };
        for (image, version) in &wanted {
            let index = (0..sequence_len).find(|i| {
                doc.value(images)
                    .as_sequence()
                    .and_then(|s| s.get(*i))
                    .and_then(|e| e.as_mapping())
                    .and_then(|m| m.get("name"))
                    .and_then(|n| n.as_str())
                    == Some(image.image.as_str())
            });
            let entry = match index {
                Some(i) => doc
                    .value_mut(images)
                    .into_sequence_mut()
                    .and_then(|s| s.get_into_mut(i))
                    .map(|v| v.as_ref().id())
                    .ok_or("images entry vanished")?,
                None => {
                    let mut sequence = doc.value_mut(images).into_sequence_mut().ok_or("images is not a list")?;
                    let mut entry = sequence.push(Separator::Auto).make_mapping();
                    entry.insert_string("name", &image.image);
                    entry.as_ref().id()
                }
            };
            let mut mapping = doc.value_mut(entry).into_mapping_mut().ok_or("images entry is not a mapping")?;
            if let Some(new_name) = &image.new_name {
                set_string(&mut mapping, "newName", new_name);
            }
            match version {
                Version::Tag(tag) => {
                    set_string(&mut mapping, "newTag", tag);
                    mapping.remove("digest");
                }
                Version::Digest(digest) => {
                    set_string(&mut mapping, "digest", digest);
                    mapping.remove("newTag");
                }
            }
        }
        Ok(())
    })
    .await
}

enum Version {
    Tag(String),
    Digest(String),
}

fn version(image: &ImageConfig, ctx: &StepContext<'_>) -> Result<Version, StepError> {
    match (&image.tag, &image.digest) {
        (Some(_), Some(_)) => {
            Err(StepError::failed(format!("kustomize-set-image: {:?} sets both tag and digest", image.image)))
        }
        (Some(tag), None) => Ok(Version::Tag(tag.clone())),
        (None, Some(digest)) => Ok(Version::Digest(digest.clone())),
        (None, None) => {
            let found = ctx.freight.spec.images.iter().find(|i| i.repo_url == image.image).ok_or_else(|| {
                StepError::failed(format!(
                    "kustomize-set-image: no tag or digest for {:?}, and the freight has no image from it",
                    image.image
                ))
            })?;
            if image.use_digest {
                Ok(Version::Digest(found.digest.clone()))
            } else {
                Ok(Version::Tag(found.tag.clone()))
            }
        }
    }
}

/// `helm-update-chart` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HelmChartConfig {
    /// The chart directory (holding `Chart.yaml`), relative to the working directory.
    path: String,
    /// The dependencies to update.
    charts: Vec<ChartConfig>,
}

/// One chart dependency.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChartConfig {
    /// The dependency's `repository`.
    repository: String,
    /// The dependency's `name`.
    name: String,
    /// The version; default the freight's chart from that repository and name.
    #[serde(default)]
    version: Option<String>,
}

/// **helm-update-chart**: sets `version` of the `dependencies:` entries of `Chart.yaml` in
/// `path` that match `repository` and `name`. Without `version`, the freight's chart with that
/// repository and name is used (for OCI, a freight chart `repoURL` of `<repository>/<name>`
/// matches too). `Chart.lock` is not rewritten: run `helm dependency update` in a later exec
/// step where a lock file is kept.
///
/// Outputs: `changed`.
///
/// Idempotency: setting the same versions again leaves the file byte-identical.
pub(crate) async fn helm_update_chart(
    config: HelmChartConfig,
    ctx: &StepContext<'_>,
) -> Result<StepOutcome, StepError> {
    let file = inside_workdir(ctx.workdir, &format!("{}/Chart.yaml", config.path))?;
    let mut wanted = Vec::new();
    for chart in &config.charts {
        let version = match &chart.version {
            Some(version) => version.clone(),
            None => ctx
                .freight
                .spec
                .charts
                .iter()
                .find(|c| {
                    (c.repo_url == chart.repository && (c.name == chart.name || c.name.is_empty()))
                        || c.repo_url == format!("{}/{}", chart.repository.trim_end_matches('/'), chart.name)
                })
                .map(|c| c.version.clone())
                .ok_or_else(|| {
                    StepError::failed(format!(
                        "helm-update-chart: no version for {:?} from {:?}, and the freight has no such chart",
                        chart.name, chart.repository
                    ))
                })?,
        };
        wanted.push((chart, version));
    }
    edit_file(&file, &config.path, |doc| {
        let dependencies = walk(doc, &["dependencies".to_owned()], Create::No)
            .map_err(|_| "Chart.yaml has no dependencies".to_owned())?;
        let count = doc.value(dependencies).as_sequence().map(|s| s.len()).ok_or("dependencies is not a list")?;
        for (chart, version) in &wanted {
            let index = (0..count).find(|i| {
                let entry = doc.value(dependencies).as_sequence().and_then(|s| s.get(*i)).and_then(|e| e.as_mapping());
                let field = |key: &str| entry.and_then(|m| m.get(key)).and_then(|v| v.as_str());
                field("name") == Some(chart.name.as_str())
                    && field("repository").map(|r| r.trim_end_matches('/'))
                        == Some(chart.repository.trim_end_matches('/'))
            });
            let Some(index) = index else {
                return Err(format!("no dependency {:?} from {:?}", chart.name, chart.repository));
            };
            let mut entry = doc
                .value_mut(dependencies)
                .into_sequence_mut()
                .and_then(|s| s.get_into_mut(index))
                .and_then(ValueMut::into_mapping_mut)
                .ok_or("dependency entry is not a mapping")?;
            set_string(&mut entry, "version", version);
        }
        Ok(())
    })
    .await
}

/// Reads `file`, applies `edit`, writes it back only when the bytes changed.
async fn edit_file(
    file: &Path,
    shown: &str,
    edit: impl FnOnce(&mut Document) -> Result<(), String>,
) -> Result<StepOutcome, StepError> {
    let before = tokio::fs::read(file).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StepError::failed(format!("{shown:?}: no such file")),
        _ => StepError::io(format!("read {shown:?}"), e),
    })?;
    let mut doc =
        yaml::from_slice(&before).map_err(|e| StepError::failed(format!("{shown:?}: not valid YAML: {e}")))?;
    edit(&mut doc).map_err(|e| StepError::failed(format!("{shown:?}: {e}")))?;
    let mut after = Vec::new();
    doc.write_to(&mut after).map_err(|e| StepError::io(format!("write {shown:?}"), e))?;
    let changed = after != before;
    if changed {
        write_atomically(file, &after).await.map_err(|e| StepError::io(format!("write {shown:?}"), e))?;
    }
    Ok(StepOutcome::succeeded(outputs([("changed", Value::Bool(changed))])))
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
pub(crate) async fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp: PathBuf = {
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(".ferry-tmp");
        file.with_file_name(name)
    };
    tokio::fs::write(&temp, bytes).await?;
    tokio::fs::rename(&temp, file).await
}

#[derive(Clone, Copy, PartialEq)]
enum Create {
    Yes,
    No,
}

/// The node at `path`, creating mappings for missing keys (and turning an empty value into a
/// mapping) when asked. Numeric segments index sequences.
fn walk(doc: &mut Document, path: &[String], create: Create) -> Result<Id, String> {
    let mut id = doc.as_ref().id();
    for (depth, key) in path.iter().enumerate() {
        let shown = path[..=depth].join(".");
        let current = doc.value(id);
        if let Some(sequence) = current.as_sequence() {
            let index: usize = key.parse().map_err(|_| format!("{shown}: a list needs a numeric index"))?;
            let len = sequence.len();
            let mut sequence = doc.value_mut(id).into_sequence_mut().ok_or("not a list")?;
            id = if index < len {
                sequence.get_into_mut(index).map(|v| v.as_ref().id()).ok_or("index vanished")?
            } else if index == len && create == Create::Yes {
                sequence.push(Separator::Auto).as_ref().id()
            } else {
                return Err(format!("{shown}: index {index} is past the end of the list"));
            };
            continue;
        }
        let is_mapping = current.as_mapping().is_some();
        let is_empty = matches!(current.as_any(), yaml::Any::Null);
        if !(is_mapping || (is_empty && create == Create::Yes)) {
            return Err(format!("{shown}: the parent is not a mapping"));
        }
        let mut mapping = doc.value_mut(id).make_mapping();
        id = match mapping.get_mut(key) {
            Some(value) => value.as_ref().id(),
            None if create == Create::Yes => mapping.insert(key, Separator::Auto).as_ref().id(),
            None => return Err(format!("{shown}: no such key")),
        };
    }
    Ok(id)
}

/// Replaces a node with a JSON value.
fn set_value(mut node: ValueMut<'_>, value: &Value) {
    match value {
        Value::Null => node.set_null(Null::Keyword),
        Value::Bool(b) => node.set_bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => node.set_i64(i),
            (None, Some(u), _) => node.set_u64(u),
            (_, _, Some(f)) => node.set_f64(f),
            _ => node.set_null(Null::Keyword),
        },
        // An equal string keeps its quoting style.
        Value::String(s) if node.as_ref().as_str() == Some(s.as_str()) => {}
        Value::String(s) => replace_string(&mut node, s),
        Value::Array(items) => {
            let mut sequence = node.make_sequence();
            sequence.clear();
            for item in items {
                let child = sequence.push(Separator::Auto).as_ref().id();
                if let Some(child) = sequence_child(&mut sequence, child) {
                    set_value(child, item);
                }
            }
        }
        Value::Object(map) => {
            let mut mapping = node.make_mapping();
            mapping.clear();
            for (key, item) in map {
                set_value(mapping.insert(key, Separator::Auto), item);
            }
        }
    }
}

/// Replaces a scalar with a string. A plain (unquoted) scalar stays plain when the new value
/// reads back as that same string: `version: 0.3.0` becomes `version: 0.4.0`, where
/// nondestructive alone would write `'0.4.0'` (it quotes anything that starts like a number).
fn replace_string(node: &mut ValueMut<'_>, value: &str) {
    let written = node.as_ref().to_string();
    let plain = node.as_ref().as_str().is_some()
        && !written.trim_start().starts_with(['\'', '"', '|', '>'])
        && !written.contains('\n');
    if plain && reads_as_plain_string(value) {
        node.set_string_with(value, StringKind::Bare);
    } else {
        node.set_string(value);
    }
}

/// Whether `value`, written unquoted after a key, is read back by a YAML parser as exactly that
/// string (not a number, boolean or null; nothing YAML treats as syntax).
fn reads_as_plain_string(value: &str) -> bool {
    let syntax = |c: char| c.is_control() || matches!(c, ',' | '[' | ']' | '{' | '}' | '#' | '\'' | '"' | '`');
    // YAML's indicators may not start a plain scalar (some parsers refuse `%` or `@` there too).
    let indicator = value.starts_with(['-', '?', ':', '&', '*', '!', '|', '>', '%', '@']);
    if value.is_empty() || value.trim() != value || indicator || value.contains(syntax) {
        return false;
    }
    if value.contains(": ") || value.ends_with(':') {
        return false;
    }
    serde_saphyr::from_str::<Value>(&format!("v: {value}\n"))
        .is_ok_and(|parsed| parsed.get("v").and_then(Value::as_str) == Some(value))
}

/// The last pushed item of `sequence` (whose id is `id`), mutably.
fn sequence_child<'a>(sequence: &'a mut yaml::SequenceMut<'_>, id: Id) -> Option<ValueMut<'a>> {
    let last = sequence.as_ref().len().checked_sub(1)?;
    let child = sequence.get_mut(last)?;
    (child.as_ref().id() == id).then_some(child)
}

/// Sets a string value in a mapping, keeping the key's place when it exists.
fn set_string(mapping: &mut yaml::MappingMut<'_>, key: &str, value: &str) {
    match mapping.get_mut(key) {
        Some(mut existing) => {
            // Leave an equal value untouched, so its quoting style survives.
            if existing.as_ref().as_str() != Some(value) {
                replace_string(&mut existing, value);
            }
        }
        None => mapping.insert_string(key, value),
    }
}

/// `a.b\.c.0` → `["a", "b.c", "0"]`.
fn split_key(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => parts.last_mut().map(|p| p.push(next)).unwrap_or_default(),
                None => parts.last_mut().map(|p| p.push('\\')).unwrap_or_default(),
            },
            '.' => parts.push(String::new()),
            other => parts.last_mut().map(|p| p.push(other)).unwrap_or_default(),
        }
    }
    if parts.iter().all(String::is_empty) { Vec::new() } else { parts }
}

#[cfg(test)]
mod tests;
