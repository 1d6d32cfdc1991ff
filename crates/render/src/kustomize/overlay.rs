//! The generated overlay that carries Argo CD's `spec.source.kustomize`
//! overrides: a kustomization in its own directory that takes the app's
//! kustomization as its one resource.

use std::io::Read;
use std::path::Path;

use application::{KustomizePatch, KustomizeSource};
use serde_json::{Map, Value, json};

use crate::RenderError;
use crate::paths::{normalize, resolve_inside};

/// Builds the overlay's kustomization. `root` is the canonical repository
/// root (paths are checked against it and patch files read from it);
/// `copy` is how the overlay directory reaches the copy of the root (e.g.
/// `../repo`); `app_rel` is the normalised app path.
pub(crate) fn kustomization(
    root: &Path,
    copy: &str,
    app_rel: &str,
    overrides: &KustomizeSource,
) -> Result<Value, RenderError> {
    let in_copy = |rel: &str| if rel.is_empty() { copy.to_owned() } else { format!("{copy}/{rel}") };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("kustomize.config.k8s.io/v1beta1"));
    out.insert("kind".into(), json!("Kustomization"));
    out.insert("resources".into(), json!([in_copy(app_rel)]));

    if !overrides.components.is_empty() {
        let mut components = Vec::new();
        for component in &overrides.components {
            let rel = checked_path(root, app_rel, component)?;
            components.push(Value::String(in_copy(&rel)));
        }
        out.insert("components".into(), Value::Array(components));
    }
    if let Some(prefix) = overrides.name_prefix.as_deref().filter(|p| !p.is_empty()) {
        out.insert("namePrefix".into(), json!(prefix));
    }
    if let Some(suffix) = overrides.name_suffix.as_deref().filter(|s| !s.is_empty()) {
        out.insert("nameSuffix".into(), json!(suffix));
    }
    if let Some(namespace) = overrides.namespace.as_deref().filter(|n| !n.is_empty()) {
        out.insert("namespace".into(), json!(namespace));
    }
    if !overrides.images.is_empty() {
        let images = overrides.images.iter().map(|i| image(i)).collect::<Result<Vec<_>, _>>()?;
        out.insert("images".into(), Value::Array(images));
    }
    if !overrides.replicas.is_empty() {
        let replicas = overrides.replicas.iter().map(|r| json!({"name": r.name, "count": r.count})).collect();
        out.insert("replicas".into(), Value::Array(replicas));
    }
    if !overrides.common_labels.is_empty() {
        // `labels` with selectors and templates is what `commonLabels` does,
        // without Kustomize v5's deprecation warning on stderr.
        out.insert(
            "labels".into(),
            json!([{"pairs": overrides.common_labels, "includeSelectors": true, "includeTemplates": true}]),
        );
    }
    if !overrides.common_annotations.is_empty() {
        out.insert("commonAnnotations".into(), json!(overrides.common_annotations));
    }
    if !overrides.patches.is_empty() {
        let patches = overrides.patches.iter().map(|p| patch(root, app_rel, p)).collect::<Result<Vec<_>, _>>()?;
        out.insert("patches".into(), Value::Array(patches));
    }
    Ok(Value::Object(out))
}

/// `path` (relative to the app path) normalised to repository-relative form,
/// refused when it leaves the repository lexically or through a symlink, or
/// does not exist.
fn checked_path(root: &Path, app_rel: &str, path: &str) -> Result<String, RenderError> {
    let joined = if app_rel.is_empty() { path.to_owned() } else { format!("{app_rel}/{path}") };
    if Path::new(path).is_absolute() {
        return Err(RenderError::PathEscapesRepository { path: path.to_owned() });
    }
    let rel = normalize(&joined).map_err(|_| RenderError::PathEscapesRepository { path: path.to_owned() })?;
    match resolve_inside(root, &rel, path)? {
        Some(_) => Ok(rel),
        None => Err(RenderError::PathNotFound { path: path.to_owned() }),
    }
}

/// One patch; a patch file is inlined, because Kustomize would refuse to
/// load a file outside the overlay's directory.
fn patch(root: &Path, app_rel: &str, patch: &KustomizePatch) -> Result<Value, RenderError> {
    let text = match (&patch.path, &patch.patch) {
        (Some(_), Some(_)) => {
            return Err(RenderError::InvalidSource {
                message: "a kustomize patch sets both path and patch; choose one".to_owned(),
            });
        }
        (None, None) => {
            return Err(RenderError::InvalidSource {
                message: "a kustomize patch sets neither path nor patch".to_owned(),
            });
        }
        (None, Some(inline)) => inline.clone(),
        (Some(path), None) => read_patch(root, &checked_path(root, app_rel, path)?, path)?,
    };
    let mut out = Map::new();
    out.insert("patch".into(), Value::String(text));
    if let Some(target) = &patch.target {
        let mut selector = Map::new();
        let fields = [
            ("group", &target.group),
            ("version", &target.version),
            ("kind", &target.kind),
            ("name", &target.name),
            ("namespace", &target.namespace),
            ("labelSelector", &target.label_selector),
            ("annotationSelector", &target.annotation_selector),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                selector.insert(key.into(), Value::String(value.clone()));
            }
        }
        out.insert("target".into(), Value::Object(selector));
    }
    Ok(Value::Object(out))
}

fn read_patch(root: &Path, rel: &str, shown: &str) -> Result<String, RenderError> {
    let io = |source| RenderError::Io { path: shown.to_owned(), source };
    let file = std::fs::File::open(root.join(rel)).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(crate::MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > crate::MAX_FILE_BYTES {
        return Err(RenderError::FileTooLarge { file: rel.to_owned(), limit: crate::MAX_FILE_BYTES });
    }
    String::from_utf8(bytes)
        .map_err(|_| io(std::io::Error::new(std::io::ErrorKind::InvalidData, "patch file is not UTF-8")))
}

/// One `images` entry from Argo CD's override forms: `name=newName:tag`,
/// `name=newName@digest`, `name=newName`, `name:tag`, `name@digest`.
pub(crate) fn image(spec: &str) -> Result<Value, RenderError> {
    let invalid = || RenderError::InvalidSource {
        message: format!("kustomize image {spec:?}: expected name=newName:tag, name:tag or name@digest"),
    };
    let mut out = Map::new();
    match spec.split_once('=') {
        Some((name, replacement)) => {
            let (new_name, tag, digest) = split_reference(replacement);
            if name.is_empty() || new_name.is_empty() {
                return Err(invalid());
            }
            out.insert("name".into(), json!(name));
            out.insert("newName".into(), json!(new_name));
            insert_version(&mut out, tag, digest);
        }
        None => {
            let (name, tag, digest) = split_reference(spec);
            if name.is_empty() || (tag.is_none() && digest.is_none()) {
                return Err(invalid());
            }
            out.insert("name".into(), json!(name));
            insert_version(&mut out, tag, digest);
        }
    }
    Ok(Value::Object(out))
}

fn insert_version(out: &mut Map<String, Value>, tag: Option<&str>, digest: Option<&str>) {
    if let Some(tag) = tag {
        out.insert("newTag".into(), json!(tag));
    }
    if let Some(digest) = digest {
        out.insert("digest".into(), json!(digest));
    }
}

/// Splits `registry:port/name:tag@digest` into name, tag and digest. The tag
/// is after the last `:` that follows the last `/`, so a registry port is
/// never taken for a tag.
fn split_reference(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&rest[..at], Some(&rest[at + 1..]), digest)
        }
        None => (rest, None, digest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_forms() {
        assert_eq!(
            image("nginx=registry:5000/web:1.27").unwrap(),
            json!({"name": "nginx", "newName": "registry:5000/web", "newTag": "1.27"})
        );
        assert_eq!(image("nginx:1.27").unwrap(), json!({"name": "nginx", "newTag": "1.27"}));
        assert_eq!(image("nginx@sha256:abc").unwrap(), json!({"name": "nginx", "digest": "sha256:abc"}));
        assert_eq!(image("nginx=other").unwrap(), json!({"name": "nginx", "newName": "other"}));
        assert_eq!(image("localhost:5000/app:v2").unwrap(), json!({"name": "localhost:5000/app", "newTag": "v2"}));
        assert!(image("nginx").is_err(), "no change at all");
        assert!(image("=x:1").is_err());
    }
}
