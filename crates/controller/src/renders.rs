//! Rendered manifests, cached by content.
//!
//! A render's key is a digest of everything that can change its output: the
//! git object ids of the paths it reads (the app's path plus the paths named
//! by `ferry.dev/manifest-generate-paths`, or the whole commit tree when the
//! annotation is absent), the source options, the tool versions, and — for
//! Helm and plugins, whose output depends on them — the app's name and
//! namespace. A commit that leaves those paths alone therefore reuses the
//! cached manifests without checking anything out or running a tool, which
//! is what makes monorepos cheap.
//!
//! The cache ([`rendercache::RenderCache`]) keeps hot entries in memory and
//! every entry on disk under the data directory, so it survives restarts;
//! renders containing Secrets stay in memory only. Failed renders are kept
//! in memory (bounded) so a broken app does not re-run its tool on every
//! reconcile. A hard refresh bypasses both.
//!
//! Two apps needing the same key at once share one render (single flight),
//! and at most `render_concurrency` renders run at a time.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use application::{Application, ApplicationSource};
use kube::ResourceExt;
use rendercache::{CacheKey, Entry, RenderCache};
use serde_json::Value;
use tokio::sync::{OnceCell, Semaphore};

use crate::Metrics;

/// Failed renders remembered at most; past this the memory starts over.
const ERROR_CAPACITY: usize = 256;

/// The annotation naming the paths an app's manifests are generated from,
/// `;`-separated, relative to the app's path (`.` is the path itself) or to
/// the repository root when they start with `/`; as Argo CD's.
pub(crate) const GENERATE_PATHS: [&str; 2] =
    ["ferry.dev/manifest-generate-paths", "argocd.argoproj.io/manifest-generate-paths"];

/// A render's outcome, shared by every reconcile that needs it.
pub(crate) type Rendered = Arc<Result<Arc<Entry>, String>>;

/// Renders with their cache, limits and tools.
pub(crate) struct Renders {
    cache: RenderCache,
    errors: Mutex<HashMap<String, Rendered>>,
    inflight: Mutex<HashMap<String, Arc<OnceCell<Rendered>>>>,
    limit: Semaphore,
    tools: Arc<render::Toolbox>,
    metrics: Arc<Metrics>,
}

/// What one app renders: its source, the app as tools see it, and the
/// content the output depends on.
pub(crate) struct Job {
    /// The source; for a chart from a Helm repository, `path` is where the
    /// pulled chart sits in the root the caller provides.
    pub(crate) source: ApplicationSource,
    /// The app as Helm and plugins see it.
    pub(crate) app: render::AppInfo,
    /// The cache key.
    key: CacheKey,
    /// The key's digest, hex.
    pub(crate) digest: String,
}

/// Where a job's content comes from, for its key.
pub(crate) enum Content<'a> {
    /// Git object ids of the paths read, with a flag for a `Chart.yaml` at
    /// the app's path (Helm output depends on the app's identity).
    Git {
        /// `(path, object id)` pairs; a missing path has no id.
        paths: &'a [(String, Option<String>)],
        /// Whether the app's path holds a `Chart.yaml`.
        chart: bool,
    },
    /// A chart pulled from a Helm repository: its URL, name and version.
    Chart,
}

/// Whether a cached render may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Use the cache.
    Yes,
    /// Render again (hard refresh).
    No,
}

impl Renders {
    /// Renders cached under `dir` (created if needed) with `tools`.
    pub(crate) fn new(
        dir: PathBuf,
        limits: rendercache::Limits,
        concurrency: usize,
        tools: Arc<render::Toolbox>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, rendercache::CacheError> {
        Ok(Renders {
            cache: RenderCache::open(&dir, limits)?,
            errors: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            limit: Semaphore::new(concurrency.max(1)),
            tools,
            metrics,
        })
    }

    /// The job for `app` at `revision`, keyed by `content`.
    /// `capabilities` are the destination's, for Helm charts and plugins.
    pub(crate) fn job(
        &self,
        app: &Application,
        revision: &str,
        content: &Content<'_>,
        capabilities: Option<&live::Capabilities>,
    ) -> Job {
        let mut source = app.spec.spec.source.clone();
        // The revision's name does not change the output: its content does.
        source.target_revision = String::new();
        source.repo_url = source::normalize_url(&source.repo_url);
        let info = render::AppInfo {
            name: app.name_any(),
            namespace: app.spec.spec.destination.namespace.clone().unwrap_or_default(),
            revision: revision.to_owned(),
            repo_url: app.spec.spec.source.repo_url.clone(),
            kube_version: capabilities.map(|c| c.kube_version.clone()),
            api_versions: capabilities.map(|c| c.api_versions.clone()).unwrap_or_default(),
        };
        let mut key = CacheKey::new()
            .part("source", serde_json::to_string(&source).unwrap_or_default())
            .part("tools", self.tools.fingerprint());
        let helm_like = match content {
            Content::Git { paths, chart } => {
                for (path, id) in paths.iter() {
                    key = key.part("path", path).part("id", id.as_deref().unwrap_or("(missing)"));
                }
                *chart || source.helm.is_some() || source.plugin.is_some()
            }
            Content::Chart => {
                key = key.part("chart-version", revision);
                // The caller's root is the pulled chart itself.
                source.path = String::new();
                true
            }
        };
        // Helm's release name and namespace, and plugins' environment, come
        // from the app; other tools' output does not, so apps sharing a path
        // share the render.
        if helm_like {
            key = key
                .part("app", &info.name)
                .part("namespace", &info.namespace)
                .part("kube-version", info.kube_version.as_deref().unwrap_or_default())
                .part("api-versions", info.api_versions.join(","));
        }
        if source.plugin.is_some() {
            key = key.part("revision", revision);
        }
        let digest = key.digest().to_string();
        Job { source, app: info, key, digest }
    }

    /// The manifests of `job`, from the cache or rendered in the tree that
    /// `root` yields (asked for only on a miss).
    pub(crate) async fn render<F>(&self, job: &Job, reuse: Reuse, root: F) -> Rendered
    where
        F: Future<Output = Result<PathBuf, String>>,
    {
        if reuse == Reuse::Yes
            && let Some(hit) = self.lookup(job)
        {
            return hit;
        }
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|poison| poison.into_inner());
            inflight.entry(job.digest.clone()).or_default().clone()
        };
        let rendered = cell.get_or_init(|| self.run(job, root)).await.clone();
        self.inflight.lock().unwrap_or_else(|poison| poison.into_inner()).remove(&job.digest);
        rendered
    }

    fn lookup(&self, job: &Job) -> Option<Rendered> {
        if let Some(entry) = self.cache.get_memory(&job.key) {
            self.metrics.render_cache_lookup("memory");
            return Some(Arc::new(Ok(entry)));
        }
        let failed = self.errors.lock().unwrap_or_else(|poison| poison.into_inner()).get(&job.digest).cloned();
        if let Some(failed) = failed {
            self.metrics.render_cache_lookup("memory");
            return Some(failed);
        }
        // A disk read of a few hundred kilobytes at most: short enough for
        // an async worker, and only once per key per process.
        if let Some(entry) = self.cache.get(&job.key) {
            self.metrics.render_cache_lookup("disk");
            return Some(Arc::new(Ok(entry)));
        }
        self.metrics.render_cache_lookup("miss");
        None
    }

    async fn run<F>(&self, job: &Job, root: F) -> Rendered
    where
        F: Future<Output = Result<PathBuf, String>>,
    {
        // The semaphore is never closed, so acquiring only fails at shutdown.
        let _permit = self.limit.acquire().await;
        let started = Instant::now();
        // The tree (a checkout, a chart pull) failing says nothing about the
        // render: it is reported but not remembered, so the next reconcile
        // tries again (new credentials, a registry back up).
        let root = match root.await {
            Ok(root) => root,
            Err(message) => return Arc::new(Err(message)),
        };
        let source = job.source.clone();
        let app = job.app.clone();
        let tools = self.tools.clone();
        // Detection reads the tree and tools run as child processes: both
        // block, so neither runs on the async workers.
        let outcome = tokio::task::spawn_blocking(move || {
            let detected = render::detect(&root, &source)?;
            render::render(&root, &source.path, &detected, &app, &tools)
        })
        .await
        .map_err(|join| format!("render task failed: {join}"))
        .and_then(|result| result.map_err(|error| crate::error_chain(&error)));
        self.metrics.observe_render(started.elapsed(), outcome.is_ok());
        match outcome {
            Ok(rendered) => {
                let objects: Vec<Value> = rendered.manifests.into_iter().map(|m| m.object).collect();
                let stored = self.cache.put(&job.key, Entry::new(objects, rendered.tools));
                self.errors.lock().unwrap_or_else(|poison| poison.into_inner()).remove(&job.digest);
                Arc::new(Ok(stored))
            }
            Err(message) => {
                let failed: Rendered = Arc::new(Err(message));
                let mut errors = self.errors.lock().unwrap_or_else(|poison| poison.into_inner());
                if errors.len() >= ERROR_CAPACITY {
                    errors.clear();
                }
                errors.insert(job.digest.clone(), failed.clone());
                failed
            }
        }
    }
}

/// Everything a [`Job`] is made from besides the tree's content: equal
/// inputs at the same revision make the same job.
pub(crate) fn job_inputs(app: &Application, revision: &str) -> String {
    let annotations = app.annotations();
    let declared = GENERATE_PATHS.iter().find_map(|name| annotations.get(*name));
    format!(
        "{revision}\n{}\n{}\n{:?}\n{:?}",
        app.name_any(),
        app.spec.spec.destination.namespace.as_deref().unwrap_or_default(),
        declared,
        app.spec.spec.source
    )
}

/// The repository paths an app's output depends on: the paths of
/// `manifest-generate-paths` (with the app's own path always included), or
/// the repository root when the app does not declare them. A glob in the
/// annotation also falls back to the root: it cannot be resolved to object
/// ids, and over-rendering is safe where under-rendering is not.
pub(crate) fn input_paths(app: &Application) -> Vec<String> {
    let annotations = app.annotations();
    let Some(declared) = GENERATE_PATHS.iter().find_map(|name| annotations.get(*name)) else {
        return vec![String::new()];
    };
    // An app path that climbs out of the repository: depend on everything;
    // the render refuses it with a message naming the path.
    let Some(base) = lexical(&app.spec.spec.source.path) else {
        return vec![String::new()];
    };
    let source = &app.spec.spec.source;
    // Paths the spec itself names are inputs too, declared or not: values
    // files, `--set-file` files and Kustomize components (relative to the
    // app's path), Jsonnet libraries (relative to the root).
    let from_app = |path: &str| if path.starts_with('/') { path.to_owned() } else { format!("./{path}") };
    let mut entries: Vec<String> = declared.split(';').map(|e| e.trim().to_owned()).collect();
    if let Some(helm) = &source.helm {
        entries.extend(helm.value_files.iter().filter(|f| !f.contains("://")).map(|f| from_app(f)));
        entries.extend(helm.file_parameters.iter().map(|f| from_app(&f.path)));
    }
    if let Some(kustomize) = &source.kustomize {
        entries.extend(kustomize.components.iter().filter(|c| !c.contains("://")).map(|c| from_app(c)));
    }
    if let Some(jsonnet) = source.directory.as_ref().and_then(|d| d.jsonnet.as_ref()) {
        entries.extend(jsonnet.libs.iter().map(|lib| format!("/{lib}")));
    }
    let mut paths = vec![base.clone()];
    for entry in entries.iter().filter(|e| !e.is_empty()) {
        if entry.contains(['*', '?', '[']) {
            return vec![String::new()];
        }
        let joined = match entry.strip_prefix('/') {
            Some(from_root) => from_root.to_owned(),
            None if base.is_empty() => entry.clone(),
            None => format!("{base}/{entry}"),
        };
        match lexical(&joined) {
            Some(path) => paths.push(path),
            // Climbing above the root: depend on everything.
            None => return vec![String::new()],
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

/// `a/./b/../c` → `a/c`; `None` when `..` climbs above the root.
pub(crate) fn lexical(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(path: &str, annotation: Option<&str>) -> Application {
        let mut app: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "ferry.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "a", "namespace": "ferry"},
            "spec": {"source": {"repoURL": "file:///r", "path": path}, "destination": {"namespace": "d"}},
        }))
        .expect("valid");
        if let Some(value) = annotation {
            app.annotations_mut().insert(GENERATE_PATHS[0].to_owned(), value.to_owned());
        }
        app
    }

    #[test]
    fn inputs_default_to_the_whole_repository() {
        assert_eq!(input_paths(&app("apps/one", None)), [""]);
    }

    #[test]
    fn declared_paths_are_resolved_against_the_app_path() {
        assert_eq!(
            input_paths(&app("apps/one", Some(".; ../../shared/base ;/lib"))),
            ["apps/one", "lib", "shared/base"]
        );
        // The app's own path is always an input.
        assert_eq!(input_paths(&app("apps/one", Some("/lib"))), ["apps/one", "lib"]);
    }

    #[test]
    fn paths_the_spec_names_are_inputs_too() {
        let mut app = app("apps/one", Some("."));
        app.spec.spec.source.helm = Some(application::HelmSource {
            value_files: vec!["../../values/prod.yaml".into(), "https://example.com/v.yaml".into()],
            file_parameters: vec![application::HelmFileParameter { name: "x".into(), path: "/files/x.txt".into() }],
            ..Default::default()
        });
        assert_eq!(input_paths(&app), ["apps/one", "files/x.txt", "values/prod.yaml"]);
    }

    #[test]
    fn globs_and_escapes_fall_back_to_the_root() {
        assert_eq!(input_paths(&app("apps/one", Some("./*.yaml"))), [""]);
        assert_eq!(input_paths(&app("apps/one", Some("../../.."))), [""]);
    }
}
