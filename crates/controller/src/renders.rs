//! Rendered manifests by (repo, commit, path, options). A commit's tree never
//! changes, so a render is reused until the cache is full; a hard refresh
//! bypasses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use application::ApplicationSource;
use render::{DirectoryOptions, Source};
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

/// The renderer's options for an app's source.
pub(crate) fn source_options(source: &ApplicationSource) -> Source {
    let directory = source.directory.as_ref();
    Source::Directory(DirectoryOptions {
        recurse: directory.is_some_and(|d| d.recurse),
        include: directory.and_then(|d| d.include.clone()).filter(|s| !s.is_empty()),
        exclude: directory.and_then(|d| d.exclude.clone()).filter(|s| !s.is_empty()),
    })
}

/// Identifies a render: repo, commit, path and options.
pub(crate) fn render_key(source: &ApplicationSource, sha: &str) -> String {
    format!("{}\n{sha}\n{}\n{:?}", source::normalize_url(&source.repo_url), source.path, source_options(source))
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
        let options = source_options(source);
        let key = render_key(source, sha);
        if reuse == Reuse::Yes
            && let Some(hit) = self.lookup(&key)
        {
            return hit;
        }
        let path = source.path.clone();
        let outcome = tokio::task::spawn_blocking(move || render::render(&root, &path, &options)).await;
        let rendered: Rendered = Arc::new(match outcome {
            Ok(Ok(manifests)) => Ok(Arc::new(manifests.into_iter().map(|m| m.object).collect())),
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
