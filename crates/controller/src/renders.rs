//! Rendered manifests by (repo, commit, path, options). A commit's tree never
//! changes, so a render is reused until the cache is full; a hard refresh
//! bypasses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use application::ApplicationSource;
use serde_json::Value;

/// Renders kept at most; past this the cache starts over. Each app keeps its
/// own prepared objects between reconciles, so this cache only serves apps
/// that render the same path at the same commit; a small bound keeps memory
/// flat with thousands of apps.
const CAPACITY: usize = 64;

/// A render's outcome, shared by every reconcile that needs it.
pub(crate) type Rendered = Arc<Result<Arc<Vec<Value>>, String>>;

#[derive(Default)]
pub(crate) struct Renders {
    cache: Mutex<HashMap<String, Rendered>>,
}

/// Identifies a render: repo, commit, path and every option of the source.
///
/// The detected source type is not spelled out: detection reads only the
/// files at the path of this commit's tree and the options, both already in
/// the key, so equal keys always detect (and render) the same way. It changes
/// whenever any directory, Jsonnet or Kustomize option changes.
pub(crate) fn render_key(source: &ApplicationSource, sha: &str) -> String {
    format!(
        "{}\n{sha}\n{}\n{:?}\n{:?}",
        source::normalize_url(&source.repo_url),
        source.path,
        source.directory,
        source.kustomize
    )
}

impl Renders {
    /// The manifests of `source` at `sha`, whose tree is checked out at `root`.
    pub(crate) async fn render(
        &self,
        root: std::path::PathBuf,
        sha: &str,
        source: &ApplicationSource,
        reuse: Reuse,
    ) -> Rendered {
        let key = render_key(source, sha);
        if reuse == Reuse::Yes
            && let Some(hit) = self.lookup(&key)
        {
            return hit;
        }
        let spec = source.clone();
        // Detection reads the tree and tools run as child processes: both
        // block, so neither runs on the async workers.
        let outcome = tokio::task::spawn_blocking(move || {
            let detected = render::detect(&root, &spec)?;
            let app = render::AppInfo::default();
            render::render(&root, &spec.path, &detected, &app, &render::Toolbox::default())
        })
        .await;
        let rendered: Rendered = Arc::new(match outcome {
            Ok(Ok(rendered)) => Ok(Arc::new(rendered.manifests.into_iter().map(|m| m.object).collect())),
            Ok(Err(error)) => Err(crate::error_chain(&error)),
            Err(join) => Err(format!("render task failed: {join}")),
        });
        let mut cache = self.cache.lock().unwrap_or_else(|poison| poison.into_inner());
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(key, rendered.clone());
        rendered
    }

    fn lookup(&self, key: &str) -> Option<Rendered> {
        let cache = self.cache.lock().unwrap_or_else(|poison| poison.into_inner());
        cache.get(key).cloned()
    }
}

/// Whether a cached render may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Use the cache.
    Yes,
    /// Render again (hard refresh).
    No,
}
