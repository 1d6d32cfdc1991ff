//! Kustomize apps: the real tool (`kustomize build`, or `kubectl kustomize`
//! when no `kustomize` is installed), run with a timeout and an output limit.
//!
//! Without overrides the tool reads the checkout directly, after every
//! symlink in the tree has been checked to stay inside it. With Argo CD's
//! overrides (`spec.source.kustomize`), the tree is copied into a scratch
//! directory and a generated overlay beside the copy applies them, so the
//! checkout (a shared, read-only snapshot) is never touched.

mod overlay;

mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use application::KustomizeSource;

use crate::detect::KUSTOMIZATION_FILES;
use crate::paths::{app_dir, normalize};
use crate::process::{self, Limits, RunError, on_path, redact, shorten};
use crate::{Manifest, RenderError, documents};

/// How long a render may run, as Argo CD's repo server allows.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Largest accepted output of the tool.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// Which program builds kustomizations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KustomizeTool {
    /// A standalone `kustomize` binary (`kustomize build DIR`).
    Kustomize(PathBuf),
    /// kubectl's embedded Kustomize (`kubectl kustomize DIR`).
    Kubectl(PathBuf),
}

impl KustomizeTool {
    /// The tool this machine offers: `kustomize` on PATH, else kubectl (the
    /// program named by `FERRY_KUBECTL`, or `kubectl` on PATH).
    pub fn find() -> Result<KustomizeTool, RenderError> {
        if let Some(path) = on_path("kustomize") {
            return Ok(KustomizeTool::Kustomize(path));
        }
        if let Some(kubectl) = std::env::var_os("FERRY_KUBECTL").filter(|v| !v.is_empty()) {
            return Ok(KustomizeTool::Kubectl(PathBuf::from(kubectl)));
        }
        if let Some(path) = on_path("kubectl") {
            return Ok(KustomizeTool::Kubectl(path));
        }
        Err(missing())
    }

    /// The tool's name in messages.
    fn name(&self) -> &'static str {
        match self {
            KustomizeTool::Kustomize(_) => "kustomize",
            KustomizeTool::Kubectl(_) => "kubectl kustomize",
        }
    }

    fn build_command(&self, dir: &Path) -> Command {
        let mut command = match self {
            KustomizeTool::Kustomize(program) => {
                let mut command = Command::new(program);
                command.arg("build");
                command
            }
            KustomizeTool::Kubectl(program) => {
                let mut command = Command::new(program);
                command.arg("kustomize");
                command
            }
        };
        command.arg(dir).current_dir(dir);
        command
    }

    /// The version of this tool, e.g. `kustomize v5.5.0` or
    /// `kubectl v1.32.5 (kustomize v5.5.0)`; `None` when it cannot be asked.
    pub fn version(&self) -> Option<String> {
        let limits = Limits { timeout: Duration::from_secs(30), output: 1024 * 1024 };
        match self {
            KustomizeTool::Kustomize(program) => {
                let mut command = Command::new(program);
                command.arg("version");
                let out = process::run(command, &limits).ok()?;
                let text = String::from_utf8_lossy(&out).trim().to_owned();
                // Older releases print a struct (`{Version:kustomize/v4.5.7 ...}`).
                let version = text
                    .split(|c: char| c.is_whitespace() || c == '/' || c == ':')
                    .find(|word| word.starts_with('v') && word[1..].starts_with(|c: char| c.is_ascii_digit()))
                    .unwrap_or(&text)
                    .to_owned();
                (!version.is_empty()).then(|| format!("kustomize {version}"))
            }
            KustomizeTool::Kubectl(program) => {
                let mut command = Command::new(program);
                command.args(["version", "--client", "-o", "json"]);
                let out = process::run(command, &limits).ok()?;
                let value: serde_json::Value = serde_json::from_slice(&out).ok()?;
                let kubectl = value.pointer("/clientVersion/gitVersion")?.as_str()?;
                Some(match value.get("kustomizeVersion").and_then(|v| v.as_str()) {
                    Some(kustomize) => format!("kubectl {kubectl} (kustomize {kustomize})"),
                    None => format!("kubectl {kubectl}"),
                })
            }
        }
    }
}

/// How [`render_kustomize_with`] runs the tool.
#[derive(Debug, Clone)]
pub struct KustomizeOptions {
    /// The tool; [`KustomizeTool::find`] when unset.
    pub tool: Option<KustomizeTool>,
    /// Wall-clock limit; the tool and everything it started are killed after it.
    pub timeout: Duration,
    /// Largest accepted output, in bytes.
    pub output_limit: u64,
}

impl Default for KustomizeOptions {
    fn default() -> Self {
        KustomizeOptions { tool: None, timeout: DEFAULT_TIMEOUT, output_limit: DEFAULT_OUTPUT_LIMIT }
    }
}

/// The version of the Kustomize this process renders with (see
/// [`KustomizeTool::version`]), asked once per process; `None` when no tool
/// is installed or it does not answer.
pub fn kustomize_version() -> Option<String> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION.get_or_init(|| KustomizeTool::find().ok().and_then(|tool| tool.version())).clone()
}

/// Renders the kustomization at `app_path` (relative to `repo_root`) with
/// Argo CD's overrides, using the tool this machine offers and the default
/// limits.
pub fn render_kustomize(
    repo_root: &Path,
    app_path: &str,
    overrides: &KustomizeSource,
) -> Result<Vec<Manifest>, RenderError> {
    render_kustomize_with(repo_root, app_path, overrides, &KustomizeOptions::default())
}

/// [`render_kustomize`] with an explicit tool and limits.
///
/// The output keeps the tool's document order (Kustomize's is deterministic);
/// each manifest names the app's kustomization file and its document index.
pub fn render_kustomize_with(
    repo_root: &Path,
    app_path: &str,
    overrides: &KustomizeSource,
    options: &KustomizeOptions,
) -> Result<Vec<Manifest>, RenderError> {
    let (root, app_dir) = app_dir(repo_root, app_path)?;
    let app_rel = normalize(app_path)?;
    let kustomization =
        KUSTOMIZATION_FILES.iter().find(|name| app_dir.join(name).is_file()).unwrap_or(&KUSTOMIZATION_FILES[0]);
    let shown_file =
        if app_rel.is_empty() { (*kustomization).to_owned() } else { format!("{app_rel}/{kustomization}") };

    let tool = match &options.tool {
        Some(tool) => tool.clone(),
        None => KustomizeTool::find()?,
    };

    // Kept alive until the tool has finished; removed on drop.
    let scratch;
    let (dir, rewrites) = if *overrides == KustomizeSource::default() {
        tree::walk(&root, tree::Walk::Check)?;
        (app_dir.clone(), vec![(format!("{}/", root.display()), String::new())])
    } else {
        scratch = tempfile::Builder::new()
            .prefix("ferry-kustomize-")
            .tempdir()
            .map_err(|source| RenderError::Io { path: "(scratch directory)".to_owned(), source })?;
        let copy = scratch.path().join("repo");
        let overlay_dir = scratch.path().join("overlay");
        let scratch_io = |source| RenderError::Io { path: "(scratch directory)".to_owned(), source };
        std::fs::create_dir(&copy).map_err(scratch_io)?;
        std::fs::create_dir(&overlay_dir).map_err(scratch_io)?;
        let generated = overlay::kustomization(&root, "../repo", &app_rel, overrides)?;
        tree::walk(&root, tree::Walk::CopyTo(&copy))?;
        let text = serde_json::to_string_pretty(&generated).map_err(|e| RenderError::Io {
            path: "(generated overlay)".to_owned(),
            source: std::io::Error::other(e),
        })?;
        // JSON is YAML, so the generated kustomization needs no YAML writer.
        std::fs::write(overlay_dir.join("kustomization.yaml"), text).map_err(scratch_io)?;
        let rewrites = vec![
            (format!("{}/", copy.display()), String::new()),
            (overlay_dir.display().to_string(), "(generated overlay)".to_owned()),
            (format!("{}/", root.display()), String::new()),
        ];
        (overlay_dir, rewrites)
    };

    let limits = Limits { timeout: options.timeout, output: options.output_limit };
    let output = process::run(tool.build_command(&dir), &limits).map_err(|error| match error {
        RunError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => missing(),
        RunError::Spawn(source) | RunError::Io(source) => RenderError::Io { path: tool.name().to_owned(), source },
        RunError::TimedOut => RenderError::Timeout { tool: tool.name().to_owned(), seconds: options.timeout.as_secs() },
        RunError::OutputTooLarge => {
            RenderError::OutputTooLarge { tool: tool.name().to_owned(), limit: options.output_limit }
        }
        RunError::Failed(stderr) => {
            RenderError::ToolFailed { tool: tool.name().to_owned(), message: shorten(&redact(&stderr, &rewrites)) }
        }
    })?;

    let mut manifests = Vec::new();
    documents::parse_file(&shown_file, &output, &mut manifests)?;
    Ok(manifests)
}

fn missing() -> RenderError {
    RenderError::ToolMissing {
        tool: "kustomize".to_owned(),
        hint: "install kustomize (https://kubectl.docs.kubernetes.io/installation/kustomize/) or kubectl, \
               or set FERRY_KUBECTL to a kubectl binary"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests;
