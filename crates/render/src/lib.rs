//! Rendering: turn an app's source path in a checked-out git tree into the
//! Kubernetes objects it declares (the desired state).
//!
//! Invariants:
//! - Only files inside the repository root are read. Absolute app paths, `..`
//!   that climbs out, and symlinks (at any depth) whose target lies outside the
//!   root are refused, so a hostile repository cannot make ferry read the
//!   controller's own files.
//! - Output is deterministic: the same tree renders to the same list, in the
//!   same order, byte for byte.
//! - A render either succeeds completely or fails: one bad document fails the
//!   whole app instead of syncing a partial set (which could prune the rest).
//! - Tools are the real ones (kustomize or `kubectl kustomize`; jrsonnet
//!   in-process), run on a scratch copy or read-only, with a timeout and an
//!   output limit; a tool's failure is an error naming the tool, never a panic.

mod detect;
mod directory;
mod documents;
mod helm;
mod jsonnet;
mod kustomize;
mod paths;
mod plugin;
mod process;

use std::collections::BTreeMap;
use std::path::Path;

pub use detect::detect;
pub use directory::{DirectoryOptions, render_directory};
pub use helm::{
    ChartPull, Crds, HELM_OUTPUT_LIMIT, HELM_TIMEOUT, HelmBackend, HelmEngine, HelmOptions, HelmTools, InlineValues,
    RenderedFile, TemplateRequest, Transport, ValueInputs, pull_chart, render_helm,
};
pub use jsonnet::{
    JSONNET_TIMEOUT, JsonnetLimits, MAX_JSONNET_OUTPUT_BYTES, MAX_JSONNET_STACK_DEPTH, MAX_OVERDUE_EVALUATIONS,
    jsonnet_version, render_jsonnet, render_jsonnet_with_limits,
};
pub use kustomize::{KustomizeOptions, KustomizeTool, kustomize_version, render_kustomize, render_kustomize_with};
pub use plugin::{PluginConfigError, Plugins, render_plugin};

/// Files larger than this are refused: real manifests are far smaller, and
/// the limit keeps a hostile repository from exhausting controller memory.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// How an app's source path is turned into manifests. Mirrors the shape of
/// Argo CD's `spec.source`: one variant per tool, so Kustomize, Helm and
/// Jsonnet slot in beside `Directory`.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Plain YAML/JSON files (`spec.source.directory`).
    Directory(DirectoryOptions),
    /// A kustomization, with Argo CD's overrides (`spec.source.kustomize`).
    Kustomize(application::KustomizeSource),
    /// `*.jsonnet` files of a directory (`spec.source.directory.jsonnet`),
    /// chosen with the directory's recurse/include/exclude.
    Jsonnet(DirectoryOptions, application::JsonnetSource),
    /// A Helm chart at the path (`Chart.yaml`), with `spec.source.helm`.
    Helm(application::HelmSource),
    /// A config-management plugin (`spec.source.plugin`): the named one, or
    /// the first whose `discover` rule matches the files at the path.
    Plugin(application::PluginSource),
}

/// The app a render is for: what Helm's release and plugins' environment see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppInfo {
    /// The app's name (Helm's default release name).
    pub name: String,
    /// The destination namespace (Helm's default namespace).
    pub namespace: String,
    /// The resolved commit SHA being rendered.
    pub revision: String,
    /// The source repository URL.
    pub repo_url: String,
    /// The destination's Kubernetes version (`v1.33.0`): Helm's
    /// `.Capabilities.KubeVersion` unless the app sets `helm.kubeVersion`,
    /// and plugins' `KUBE_VERSION`, as in Argo CD. `None` offline.
    pub kube_version: Option<String>,
    /// The destination's API versions (`apps/v1`, …), added to Helm's
    /// `.Capabilities.APIVersions` with the app's `helm.apiVersions`, and
    /// plugins' `KUBE_API_VERSIONS`.
    pub api_versions: Vec<String>,
}

/// What this machine offers beyond the built-in renderers: the Helm engine
/// and the configured plugins. One per controller (or CLI run), shared by
/// every render.
#[derive(Debug, Default)]
pub struct Toolbox {
    /// The Helm backend (library or CLI) and its limits.
    pub helm: HelmTools,
    /// Configured config-management plugins.
    pub plugins: Plugins,
    fingerprint: std::sync::OnceLock<String>,
}

impl Toolbox {
    /// A toolbox with this Helm engine and these plugins.
    pub fn new(helm: HelmTools, plugins: Plugins) -> Toolbox {
        Toolbox { helm, plugins, fingerprint: std::sync::OnceLock::new() }
    }

    /// Every tool version and setting that can change a render's output, as
    /// one string: part of every render-cache key, so upgrading a tool or
    /// editing a plugin renders again. Computed once (it asks Kustomize for
    /// its version; Helm is identified by its files, not loaded).
    pub fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| {
            format!(
                "kustomize {}\njsonnet {}\nhelm {}\nplugins {:?}",
                kustomize_version().unwrap_or_default(),
                jsonnet_version(),
                self.helm.identity(),
                self.plugins
            )
        })
    }
}

/// A render's result: the objects, and the version of every tool used to
/// produce them (recorded so a hydrated output can be reproduced).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// The objects, in a stable order.
    pub manifests: Vec<Manifest>,
    /// Tool name → version, e.g. `kustomize` → `v5.5.0`. Empty for plain
    /// directories.
    pub tools: BTreeMap<String, String>,
}

/// One object of the desired state, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Path of the file relative to the repository root, `/`-separated, as
    /// reached through the tree (a symlink's own path, not its target's).
    pub file: String,
    /// Index of the non-empty document in `file` (0-based). Items of a
    /// flattened `List` share their list's index.
    pub index: usize,
    /// The object, with `apiVersion` and `kind` present.
    pub object: serde_json::Value,
}

/// Why a render failed. Every variant names the path or file involved.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The path, or a symlink on the way to a file, leads outside the repository.
    #[error("path {path:?} escapes the repository")]
    PathEscapesRepository {
        /// The offending path, as given or relative to the repository root.
        path: String,
    },
    /// The app path (or the repository root) does not exist.
    #[error("path {path:?} does not exist in the repository")]
    PathNotFound {
        /// The path as given.
        path: String,
    },
    /// The app path exists but is not a directory.
    #[error("path {path:?} is not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// An include or exclude glob does not compile.
    #[error("invalid glob pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A manifest file is larger than [`MAX_FILE_BYTES`].
    #[error("file {file:?} is larger than the {limit}-byte limit")]
    FileTooLarge {
        /// Path relative to the repository root.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading a file or directory failed.
    #[error("reading {path:?}")]
    Io {
        /// Path relative to the repository root.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML or JSON.
    #[error("file {file:?} document {document}: {message}")]
    Parse {
        /// Path relative to the repository root.
        file: String,
        /// Index of the document (counting non-empty documents, 0-based).
        document: usize,
        /// The parser's message, with line and column where known.
        message: String,
    },
    /// A document parses but is not a Kubernetes object.
    #[error("file {file:?} document {document}: {message}")]
    InvalidObject {
        /// Path relative to the repository root.
        file: String,
        /// Index of the document (counting non-empty documents, 0-based).
        document: usize,
        /// What is missing or wrong.
        message: String,
    },
    /// A tool the source needs is not installed.
    #[error("{tool} is not installed: {hint}")]
    ToolMissing {
        /// The tool, e.g. `kustomize`.
        tool: String,
        /// What to install.
        hint: String,
    },
    /// A tool ran and failed.
    #[error("{tool} failed: {message}")]
    ToolFailed {
        /// The tool.
        tool: String,
        /// Its stderr, trimmed to a useful size.
        message: String,
    },
    /// A tool ran longer than allowed and was killed.
    #[error("{tool} did not finish within {seconds} s")]
    Timeout {
        /// The tool.
        tool: String,
        /// The limit.
        seconds: u64,
    },
    /// A tool's output is larger than allowed.
    #[error("{tool} output is larger than the {limit}-byte limit")]
    OutputTooLarge {
        /// The tool.
        tool: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A Jsonnet file does not evaluate.
    #[error("jsonnet {file:?}: {message}")]
    Jsonnet {
        /// Path relative to the repository root.
        file: String,
        /// The evaluator's message.
        message: String,
    },
    /// The app's source settings contradict each other or are malformed.
    #[error("invalid source: {message}")]
    InvalidSource {
        /// What is wrong.
        message: String,
    },
    /// The source type is known but not supported yet (Helm).
    #[error("{what} is not supported yet")]
    Unsupported {
        /// What.
        what: String,
    },
}

/// Renders the app at `app_path` (relative to `repo_root`) as `source` says.
pub fn render(
    repo_root: &Path,
    app_path: &str,
    source: &Source,
    app: &AppInfo,
    tools: &Toolbox,
) -> Result<Rendered, RenderError> {
    let mut versions = BTreeMap::new();
    let manifests = match source {
        Source::Directory(options) => render_directory(repo_root, app_path, options)?,
        Source::Kustomize(overrides) => {
            let manifests = render_kustomize(repo_root, app_path, overrides)?;
            versions.insert("kustomize".to_owned(), kustomize_version().unwrap_or_else(|| "unknown".to_owned()));
            manifests
        }
        Source::Jsonnet(options, jsonnet) => {
            let manifests = render_jsonnet(repo_root, app_path, options, jsonnet)?;
            versions.insert("jsonnet".to_owned(), format!("jrsonnet {}", jsonnet_version()));
            manifests
        }
        Source::Helm(helm) => {
            let (manifests, version) = render_helm(repo_root, app_path, helm, app, &tools.helm)?;
            versions.insert("helm".to_owned(), version);
            manifests
        }
        Source::Plugin(plugin) => {
            let (manifests, name) = render_plugin(repo_root, app_path, plugin, app, &tools.plugins)?;
            versions.insert("plugin".to_owned(), name);
            manifests
        }
    };
    Ok(Rendered { manifests, tools: versions })
}
