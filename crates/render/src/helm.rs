//! Helm charts, rendered by the real Helm engine: in-process through
//! `libhelm_c` (the C ABI over Helm v4's Go SDK that PyPI's
//! `helm-python-sdk` ships), or by the `helm` CLI. Both sit behind
//! [`HelmBackend`] and give the same objects for the same chart.
//!
//! Values follow Argo CD: value files relative to the chart (anywhere inside
//! the repository, never outside it), then `values`/`valuesObject`, then
//! `parameters` and `fileParameters`. The checkout is never written: a chart
//! whose declared dependencies are not vendored in `charts/` is copied to a
//! scratch directory, and `helm dependency build` runs there.
//!
//! Output order does not depend on the backend: objects are sorted by
//! template path, then by kind, namespace, name and apiVersion (Helm's own
//! output order moves documents around by kind, which the library does not
//! report), and `Manifest::index` counts documents of a file in that order.

mod chart;
mod cli;
mod ffi;
mod library;
mod values;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use application::HelmSource;

use crate::paths::{app_dir, normalize};
use crate::process::{self, Limits, on_path, redact, shorten};
use crate::{AppInfo, Manifest, RenderError, documents};

pub use values::{InlineValues, ValueInputs};

/// The tool named in errors, whichever backend ran.
const TOOL: &str = "helm";

/// What to install when no backend is found.
const INSTALL_HINT: &str = "install Helm's library with `pip install helm-python-sdk` (or run scripts/helm-sdk) \
     and set FERRY_LIBHELM to its libhelm_c.so, or put a `helm` binary on PATH (or set FERRY_HELM)";

/// How long one Helm call may run, as Argo CD's repo server allows.
pub const HELM_TIMEOUT: Duration = Duration::from_secs(90);

/// Largest accepted rendered output, in bytes.
pub const HELM_OUTPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// Which Helm engine to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelmEngine {
    /// `libhelm_c` at this path (a file, or a directory holding it).
    Library(PathBuf),
    /// The `helm` program at this path.
    Cli(PathBuf),
}

/// How [`HelmTools`] chooses and runs its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmOptions {
    /// The engine; when unset it is chosen on first use from the
    /// environment (see [`HelmTools::detect`]).
    pub engine: Option<HelmEngine>,
    /// Wall-clock limit of one call (render, pull, dependency build).
    pub timeout: Duration,
    /// Largest accepted output, in bytes.
    pub output_limit: u64,
}

impl Default for HelmOptions {
    fn default() -> Self {
        HelmOptions { engine: None, timeout: HELM_TIMEOUT, output_limit: HELM_OUTPUT_LIMIT }
    }
}

/// Whether the chart's `crds/` are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crds {
    /// Render them first (`helm template --include-crds`).
    Include,
    /// Leave them out (`skipCrds`).
    Skip,
}

/// How to reach a registry or chart repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS (the default everywhere).
    Tls,
    /// Plain HTTP: only ever chosen for loopback hosts.
    PlainHttp,
}

/// One `helm template` run, with every path already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRequest {
    /// The chart directory (absolute).
    pub chart_dir: PathBuf,
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// The user values.
    pub values: ValueInputs,
    /// Whether CRDs are rendered.
    pub crds: Crds,
    /// `.Capabilities.KubeVersion`, when set.
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions`.
    pub api_versions: Vec<String>,
}

/// One rendered template (or CRD) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Helm's path for it, e.g. `mychart/templates/deploy.yaml`.
    pub path: String,
    /// Its YAML documents.
    pub yaml: String,
}

/// A chart to fetch from a chart repository or an OCI registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartPull {
    /// `https://…` (a repository with `index.yaml`) or `oci://host/path`.
    /// Plain `http://` (and plain-HTTP OCI) is accepted for loopback hosts
    /// only (`127.0.0.1`, `localhost`, `[::1]`), for local test registries.
    pub repo_url: String,
    /// The chart's name.
    pub chart: String,
    /// The version (empty: the latest).
    pub version: String,
    /// Optional basic-auth user name.
    pub username: Option<String>,
    /// Optional password.
    pub password: Option<String>,
}

impl ChartPull {
    /// `oci://host/path/chart` for an OCI repository, else `None`.
    pub fn oci_reference(&self) -> Option<String> {
        self.repo_url.starts_with("oci://").then(|| format!("{}/{}", self.repo_url.trim_end_matches('/'), self.chart))
    }
}

/// A Helm engine. Implementations must be safe to share between renders.
pub trait HelmBackend: Send + Sync + std::fmt::Debug {
    /// The backend and its version, for logs.
    fn describe(&self) -> String;
    /// The Helm version, recorded with rendered output.
    fn version(&self) -> String;
    /// Renders a chart; returns its files (CRDs first when included).
    fn template(&self, request: &TemplateRequest) -> Result<Vec<RenderedFile>, RenderError>;
    /// Downloads `request`'s chart and unpacks it under `dest` (which must
    /// not already hold a directory of the chart's name); returns the chart
    /// directory.
    fn pull(&self, request: &ChartPull, transport: Transport, dest: &Path) -> Result<PathBuf, RenderError>;
    /// Fills `charts/` of the chart at `chart_dir` from its dependencies.
    fn dependency_build(&self, chart_dir: &Path, transport: Transport) -> Result<(), RenderError>;
}

/// Why no backend could be set up; kept so every render reports the same.
#[derive(Debug, Clone)]
enum Unavailable {
    Missing { hint: String },
    Invalid(String),
}

impl Unavailable {
    fn to_error(&self) -> RenderError {
        match self {
            Unavailable::Missing { hint } => RenderError::ToolMissing { tool: TOOL.to_owned(), hint: hint.clone() },
            Unavailable::Invalid(message) => RenderError::InvalidSource { message: message.clone() },
        }
    }
}

/// The Helm engine this process renders with. Cheap to create: the backend
/// is chosen on first use and kept.
#[derive(Debug, Default)]
pub struct HelmTools {
    options: HelmOptions,
    backend: OnceLock<Result<Arc<dyn HelmBackend>, Unavailable>>,
}

impl HelmTools {
    /// Tools with explicit options; the backend is set up on first use.
    pub fn new(options: HelmOptions) -> HelmTools {
        HelmTools { options, backend: OnceLock::new() }
    }

    /// Chooses a backend now, from the environment:
    /// - `FERRY_HELM_BACKEND=lib` or `cli` forces one;
    /// - otherwise the library when found (`FERRY_LIBHELM`, `HELM_C_LIB`, a
    ///   pip-installed `helm-python-sdk` in `$VIRTUAL_ENV`, in
    ///   `${FERRY_HELM_VENV:-~/.cache/ferry/helm-venv}`, or where `python3`
    ///   finds it), else the CLI (`FERRY_HELM`, else `helm` on PATH);
    /// - otherwise [`RenderError::ToolMissing`] naming what to install.
    pub fn detect() -> Result<HelmTools, RenderError> {
        let tools = HelmTools::default();
        tools.backend()?;
        Ok(tools)
    }

    /// Tools around a given backend (tests, or an embedding program).
    pub fn with_backend(backend: Arc<dyn HelmBackend>) -> HelmTools {
        let tools = HelmTools::default();
        let _ = tools.backend.set(Ok(backend));
        tools
    }

    /// The backend, set up on first use.
    pub fn backend(&self) -> Result<Arc<dyn HelmBackend>, RenderError> {
        self.backend.get_or_init(|| select(&self.options)).clone().map_err(|u| u.to_error())
    }

    /// Which engine renders, for cache keys, without setting it up: loading
    /// the library starts a Go runtime in the process (tens of MiB), which a
    /// controller whose apps use no Helm should not pay. The engine's file
    /// (path, size, modification time) stands for its version, the same
    /// before and after the backend is set up.
    pub fn identity(&self) -> String {
        let file_identity = |kind: &str, path: &Path| {
            let meta = std::fs::metadata(path).ok();
            let size = meta.as_ref().map(std::fs::Metadata::len).unwrap_or_default();
            let modified = meta.and_then(|m| m.modified().ok()).map(|t| format!("{t:?}")).unwrap_or_default();
            format!("{kind} {} {size} {modified}", path.display())
        };
        match &self.options.engine {
            Some(HelmEngine::Library(path)) => file_identity("library", path),
            Some(HelmEngine::Cli(program)) => file_identity("cli", program),
            None => {
                let library = find_library().and_then(|path| library_file(&path));
                let program = env("FERRY_HELM").map(PathBuf::from).or_else(|| on_path("helm"));
                format!(
                    "backend {:?}; {}; {}",
                    env("FERRY_HELM_BACKEND"),
                    library.map_or_else(|| "no library".to_owned(), |path| file_identity("library", &path)),
                    program.map_or_else(|| "no cli".to_owned(), |path| file_identity("cli", &path)),
                )
            }
        }
    }

    /// The backend and its version for logs, or why there is none.
    pub fn describe(&self) -> String {
        match self.backend() {
            Ok(backend) => backend.describe(),
            Err(error) => format!("no Helm backend: {error}"),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn select(options: &HelmOptions) -> Result<Arc<dyn HelmBackend>, Unavailable> {
    let open_library = |path: &Path| -> Result<Arc<dyn HelmBackend>, Unavailable> {
        let file = library_file(path).ok_or_else(|| Unavailable::Missing {
            hint: format!("no libhelm_c.so at {}; {INSTALL_HINT}", path.display()),
        })?;
        library::LibraryBackend::open(&file, options.timeout, options.output_limit)
            .map(|b| Arc::new(b) as Arc<dyn HelmBackend>)
            .map_err(|message| Unavailable::Missing { hint: format!("cannot load {message}; {INSTALL_HINT}") })
    };
    let open_cli = |program: PathBuf| -> Arc<dyn HelmBackend> {
        Arc::new(cli::CliBackend::new(program, options.timeout, options.output_limit))
    };
    match &options.engine {
        Some(HelmEngine::Library(path)) => return open_library(path),
        Some(HelmEngine::Cli(program)) => return Ok(open_cli(program.clone())),
        None => {}
    }
    let library = || -> Result<Arc<dyn HelmBackend>, Unavailable> {
        match find_library() {
            Some(path) => open_library(&path),
            None => Err(Unavailable::Missing { hint: INSTALL_HINT.to_owned() }),
        }
    };
    let cli = || -> Option<Arc<dyn HelmBackend>> {
        let program = env("FERRY_HELM").map(PathBuf::from).or_else(|| on_path("helm"))?;
        Some(open_cli(program))
    };
    match env("FERRY_HELM_BACKEND").as_deref() {
        Some("lib" | "library") => library(),
        Some("cli") => cli().ok_or_else(|| Unavailable::Missing {
            hint: format!("FERRY_HELM_BACKEND=cli but no helm binary was found; {INSTALL_HINT}"),
        }),
        Some(other) => Err(Unavailable::Invalid(format!("FERRY_HELM_BACKEND={other:?}: expected lib or cli"))),
        None => match library() {
            Ok(backend) => Ok(backend),
            // An explicitly named library that fails to load is reported,
            // not silently replaced by the CLI.
            Err(error) if env("FERRY_LIBHELM").is_some() || env("HELM_C_LIB").is_some() => Err(error),
            Err(error) => cli().ok_or(error),
        },
    }
}

/// `libhelm_c.so` at `path`: the file itself, or inside the directory (or
/// its `lib/`, as in the `helm_python` package).
fn library_file(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let names = ["libhelm_c.so", "libhelm_c.so.0"];
    [path.to_path_buf(), path.join("lib")]
        .into_iter()
        .flat_map(|dir| names.map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The library's location from the environment or a pip install.
fn find_library() -> Option<PathBuf> {
    if let Some(path) = env("FERRY_LIBHELM").or_else(|| env("HELM_C_LIB")) {
        // Named explicitly: used (and reported) even if it does not exist.
        return Some(PathBuf::from(path));
    }
    let venvs = [
        env("VIRTUAL_ENV").map(PathBuf::from),
        env("FERRY_HELM_VENV")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".cache/ferry/helm-venv"))),
    ];
    for venv in venvs.into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(venv.join("lib")) else { continue };
        let mut pythons: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        pythons.sort();
        for python in pythons {
            if let Some(file) = library_file(&python.join("site-packages/helm_python")) {
                return Some(file);
            }
        }
    }
    python_package().and_then(|dir| library_file(&dir))
}

/// Where `python3` finds the `helm_python` package, asked once per process
/// (without importing it, so the native library is not loaded by Python).
fn python_package() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut command = Command::new("python3");
            command.args([
                "-c",
                "import importlib.util as u; s = u.find_spec('helm_python'); \
                 print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')",
            ]);
            let limits = Limits { timeout: Duration::from_secs(20), output: 64 * 1024 };
            let out = process::run(command, &limits).ok()?;
            let text = String::from_utf8_lossy(&out).trim().to_owned();
            (!text.is_empty()).then(|| PathBuf::from(text))
        })
        .clone()
}

/// Whether a rendered file is an object file: NOTES.txt and partials are not
/// (as in `helm template`).
fn keep_template(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    !path.ends_with("NOTES.txt") && !base.starts_with('_')
}

fn tool_failed(message: &str) -> RenderError {
    RenderError::ToolFailed { tool: TOOL.to_owned(), message: shorten(&redact(message, &[])) }
}

/// Rewrites scratch and repository paths in an error's message to
/// repository-relative ones.
fn rewrite_paths(error: RenderError, rewrites: &[(String, String)]) -> RenderError {
    match error {
        RenderError::ToolFailed { tool, mut message } => {
            for (from, to) in rewrites {
                message = message.replace(from.as_str(), to);
            }
            RenderError::ToolFailed { tool, message }
        }
        other => other,
    }
}

/// Whether `url`'s host is a loopback name or address.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The transport for a repository URL: plain HTTP (`http://`, or an
/// `oci://` registry on loopback, which test registries are) only for
/// loopback hosts.
fn transport(url: &str) -> Result<Transport, RenderError> {
    if url.starts_with("https://") {
        Ok(Transport::Tls)
    } else if url.starts_with("http://") || url.starts_with("oci://") {
        match (is_loopback(url), url.starts_with("oci://")) {
            (true, _) => Ok(Transport::PlainHttp),
            (false, true) => Ok(Transport::Tls),
            (false, false) => Err(RenderError::InvalidSource {
                message: format!("chart repository {url:?} uses plain HTTP; only https:// is allowed off loopback"),
            }),
        }
    } else {
        Err(RenderError::InvalidSource {
            message: format!("chart repository {url:?} must be an https://, http:// (loopback) or oci:// URL"),
        })
    }
}

/// Downloads a chart from an HTTP chart repository (`index.yaml`) or an OCI
/// registry and unpacks it under `dest`; returns the chart directory
/// (`dest/<chart>`). Plain HTTP is used only for loopback hosts.
pub fn pull_chart(tools: &HelmTools, request: &ChartPull, dest: &Path) -> Result<PathBuf, RenderError> {
    let name_ok = !request.chart.is_empty()
        && request.chart != "."
        && request.chart != ".."
        && !request.chart.contains(['/', '\\'])
        && !request.chart.contains("://");
    if !name_ok {
        return Err(RenderError::InvalidSource { message: format!("invalid chart name {:?}", request.chart) });
    }
    let transport = transport(&request.repo_url)?;
    let backend = tools.backend()?;
    std::fs::create_dir_all(dest).map_err(|source| RenderError::Io { path: dest.display().to_string(), source })?;
    let dir = backend.pull(request, transport, dest)?;
    if !dir.join("Chart.yaml").is_file() {
        return Err(RenderError::ToolFailed {
            tool: TOOL.to_owned(),
            message: format!("pulled {} {} but found no chart at {}", request.chart, request.version, dir.display()),
        });
    }
    Ok(dir)
}

/// Renders the chart at `app_path` with `helm`'s options. Returns the objects
/// and the Helm version used.
pub fn render_helm(
    repo_root: &Path,
    app_path: &str,
    helm: &HelmSource,
    app: &AppInfo,
    tools: &HelmTools,
) -> Result<(Vec<Manifest>, String), RenderError> {
    let (root, chart_dir) = app_dir(repo_root, app_path)?;
    let chart_rel = normalize(app_path)?;
    if !chart_dir.join("Chart.yaml").is_file() {
        return Err(RenderError::InvalidSource { message: format!("{app_path:?} has no Chart.yaml") });
    }
    chart::walk(&root, &chart_dir, chart::Walk::Check)?;
    let values = values::resolve(&root, &chart_rel, helm)?;
    let backend = tools.backend()?;

    let mut rewrites = Vec::new();
    // Kept until the render is done; removed on drop.
    let mut scratch = None;
    let dependencies = chart::dependencies(&chart_dir, &chart_rel)?;
    let missing: Vec<&chart::Dependency> = dependencies.iter().filter(|d| !chart::is_vendored(&chart_dir, d)).collect();
    let render_dir = if missing.is_empty() {
        chart_dir.clone()
    } else {
        let dir = tempfile::Builder::new()
            .prefix("ferry-helm-")
            .tempdir()
            .map_err(|source| RenderError::Io { path: "(scratch directory)".to_owned(), source })?;
        let copy = chart::copy_for_build(&root, &chart_rel, &chart_dir, &dependencies, dir.path())?;
        rewrites.push((format!("{}/", dir.path().display()), String::new()));
        rewrites.push((dir.path().display().to_string(), "(scratch)".to_owned()));
        let plain = missing.iter().any(|d| d.repository.starts_with("oci://") && is_loopback(&d.repository));
        let transport = if plain { Transport::PlainHttp } else { Transport::Tls };
        backend.dependency_build(&copy, transport).map_err(|e| rewrite_paths(e, &rewrites))?;
        scratch = Some(dir);
        copy
    };
    rewrites.push((format!("{}/", root.display()), String::new()));

    let request = TemplateRequest {
        chart_dir: render_dir,
        release_name: helm
            .release_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| if app.name.is_empty() { "release".to_owned() } else { app.name.clone() }),
        namespace: helm
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| if app.namespace.is_empty() { "default".to_owned() } else { app.namespace.clone() }),
        values,
        crds: if helm.skip_crds { Crds::Skip } else { Crds::Include },
        kube_version: helm.kube_version.clone().filter(|v| !v.is_empty()).or_else(|| app.kube_version.clone()),
        api_versions: {
            let mut versions = app.api_versions.clone();
            versions.extend(helm.api_versions.iter().cloned());
            versions.sort();
            versions.dedup();
            versions
        },
    };
    let files = backend.template(&request).map_err(|e| rewrite_paths(e, &rewrites))?;
    drop(scratch);
    Ok((to_manifests(files)?, backend.version()))
}

/// Parses rendered files into manifests in the backend-independent order
/// (see the module docs).
fn to_manifests(files: Vec<RenderedFile>) -> Result<Vec<Manifest>, RenderError> {
    let mut manifests = Vec::new();
    for file in &files {
        documents::parse_file(&file.path, file.yaml.as_bytes(), &mut manifests)?;
    }
    let text =
        |m: &Manifest, pointer: &str| m.object.pointer(pointer).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    // (file, kind, namespace, name, apiVersion, the whole object)
    type Key = (String, String, String, String, String, String);
    let mut keyed: Vec<(Key, Manifest)> = manifests
        .into_iter()
        .map(|m| {
            let key = (
                m.file.clone(),
                text(&m, "/kind"),
                text(&m, "/metadata/namespace"),
                text(&m, "/metadata/name"),
                text(&m, "/apiVersion"),
                m.object.to_string(),
            );
            (key, m)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Manifest> = Vec::with_capacity(keyed.len());
    for (_, mut manifest) in keyed {
        manifest.index = match out.last() {
            Some(previous) if previous.file == manifest.file => previous.index + 1,
            _ => 0,
        };
        out.push(manifest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
