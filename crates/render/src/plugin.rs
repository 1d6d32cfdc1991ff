//! Config-management plugins: user-declared commands that print manifests,
//! configured in Argo CD's sidecar format (`ConfigManagementPlugin`) so
//! existing plugins port unchanged.
//!
//! A render copies the repository into a scratch directory (refusing
//! symlinks that leave it) and runs the plugin's `init` and `generate`
//! commands there, in the app's directory, with a clean environment: Argo
//! CD's build variables, the app's plugin env (`ARGOCD_ENV_*`) and
//! parameters (`PARAM_*`, `ARGOCD_APP_PARAMETERS`), and nothing of the
//! controller's own. Commands get one shared deadline and an output limit,
//! and are killed with everything they started when either is exceeded.

mod config;
mod env;
mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use application::PluginSource;
use globset::GlobMatcher;

use crate::paths::app_dir;
use crate::process::{self, Limits, RunError, redact, shorten};
use crate::{AppInfo, Manifest, RenderError, documents};

/// How long a plugin render may run (all its commands together), as Argo
/// CD's repo server allows.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Largest accepted output of one command, in bytes.
const DEFAULT_OUTPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// The configured plugins, in config order (which is discovery order), and
/// the limits their commands run under. The default has no plugins.
#[derive(Debug, Clone)]
pub struct Plugins {
    plugins: Vec<Plugin>,
    timeout: Duration,
    output_limit: u64,
}

impl Default for Plugins {
    fn default() -> Self {
        Plugins { plugins: Vec::new(), timeout: DEFAULT_TIMEOUT, output_limit: DEFAULT_OUTPUT_LIMIT }
    }
}

impl Plugins {
    /// Reads the plugins of a config file (one or more YAML documents), or of
    /// every `*.yaml`/`*.yml` file directly in a directory, in file name
    /// order. Default limits: 90 s, 64 MiB.
    pub fn load(path: &Path) -> Result<Plugins, PluginConfigError> {
        Ok(Plugins { plugins: config::load(path)?, ..Plugins::default() })
    }

    /// Parses plugins from YAML text (one or more documents).
    pub fn parse(text: &str) -> Result<Plugins, PluginConfigError> {
        let plugins = config::parse(text, "(text)")?;
        config::check_unique(&plugins)?;
        Ok(Plugins { plugins, ..Plugins::default() })
    }

    /// The same plugins with other limits: `timeout` for each render (all
    /// its commands together) and `output_limit` bytes of stdout per command.
    #[must_use]
    pub fn with_limits(self, timeout: Duration, output_limit: u64) -> Plugins {
        Plugins { timeout, output_limit, ..self }
    }

    /// The plugins' names (`name-version` when versioned), in config order.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.iter().map(|p| p.name.as_str()).collect()
    }

    /// Whether no plugin is configured.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    fn names_shown(&self) -> String {
        if self.plugins.is_empty() { "none".to_owned() } else { self.names().join(", ") }
    }
}

/// Why a plugin config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PluginConfigError {
    /// The file or directory cannot be read.
    #[error("reading plugin config {path:?}")]
    Read {
        /// The path as given.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML, or has fields this format does not know.
    #[error("plugin config {file:?}: {message}")]
    Parse {
        /// The file (`(text)` for [`Plugins::parse`]).
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A document parses but does not describe a usable plugin.
    #[error("plugin config {file:?} document {document} (plugin {plugin:?}): {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Index of the document in the file (0-based).
        document: usize,
        /// `metadata.name`, possibly empty.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// Two plugins have the same name (after adding the version).
    #[error("plugin {name:?} is declared twice (in {first:?} and {second:?})")]
    Duplicate {
        /// The name.
        name: String,
        /// File of the first declaration.
        first: String,
        /// File of the second.
        second: String,
    },
}

/// One plugin, validated.
#[derive(Debug, Clone)]
struct Plugin {
    /// `metadata.name`, or `name-version` when `spec.version` is set.
    name: String,
    /// The config file it came from, for duplicate errors.
    file: String,
    init: Option<ProgramSpec>,
    generate: ProgramSpec,
    discover: Discover,
    modes: FileModes,
}

/// A command line: the program and its arguments (`command` then `args`),
/// run directly, without a shell.
#[derive(Debug, Clone)]
struct ProgramSpec {
    /// Never empty: checked when the config is read.
    argv: Vec<String>,
}

/// When a plugin applies to an app that does not name one.
#[derive(Debug, Clone)]
enum Discover {
    /// Only when named.
    Never,
    /// When a path under the app directory matches.
    Glob(DiscoverGlob),
    /// When the command, run in the app directory, prints anything.
    Command(ProgramSpec),
}

/// A compiled discovery glob, relative to the app directory.
#[derive(Clone)]
struct DiscoverGlob {
    /// As written: what `Debug` shows, since [`Plugins`]' `Debug` output is
    /// part of the render-cache key and the compiled form adds only noise.
    pattern: String,
    matcher: GlobMatcher,
    /// Number of path components a match has, when bounded (no `**`).
    depth: Option<usize>,
}

impl std::fmt::Debug for DiscoverGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DiscoverGlob").field(&self.pattern).finish()
    }
}

/// File modes in the scratch copy (`spec.preserveFileMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileModes {
    /// As in the repository (so scripts stay executable).
    Preserve,
    /// 0644 for every file, as Argo CD does by default.
    Normalize,
}

/// Which of a plugin's commands runs, for messages.
#[derive(Debug, Clone, Copy)]
enum Step {
    Discover,
    Init,
    Generate,
}

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Discover => "discover",
            Step::Init => "init",
            Step::Generate => "generate",
        }
    }
}

/// Renders the app at `app_path` (relative to `repo_root`) with the plugin
/// `source` names, or the first configured plugin whose discovery rule
/// matches the app. Returns the objects, in the order the plugin printed
/// them, and the plugin's name (`name-version` when versioned).
///
/// The checkout is never written to and no command runs in it: everything
/// runs in a scratch copy that is removed afterwards.
pub fn render_plugin(
    repo_root: &Path,
    app_path: &str,
    source: &PluginSource,
    app: &AppInfo,
    plugins: &Plugins,
) -> Result<(Vec<Manifest>, String), RenderError> {
    let deadline = Instant::now() + plugins.timeout;
    let (root, app_dir) = app_dir(repo_root, app_path)?;
    // Where the app sits in any copy of the tree; resolved, so an app path
    // through an in-repository symlink lands on the same directory.
    let app_inside = app_dir.strip_prefix(&root).unwrap_or(Path::new("")).to_path_buf();

    let scratch_io = |source| RenderError::Io { path: "(scratch directory)".to_owned(), source };
    let scratch = tempfile::Builder::new().prefix("ferry-plugin-").tempdir().map_err(scratch_io)?;
    let scratch_path = std::fs::canonicalize(scratch.path()).map_err(scratch_io)?;
    let home = scratch_path.join("home");
    std::fs::create_dir(&home).map_err(scratch_io)?;
    let env = env::environment(app_path, app, source, &home)?;
    let mut runner = Runner {
        plugin: String::new(),
        env: &env,
        deadline,
        timeout: plugins.timeout,
        output_limit: plugins.output_limit,
        rewrites: vec![
            (home.display().to_string(), "$HOME".to_owned()),
            (scratch_path.display().to_string(), "(scratch)".to_owned()),
            (format!("{}/", root.display()), String::new()),
        ],
    };

    let plugin = select(plugins, source, &root, &app_dir, &app_inside, &scratch_path, &mut runner)?;
    runner.plugin.clone_from(&plugin.name);

    let copy = scratch_path.join("repo");
    std::fs::create_dir(&copy).map_err(scratch_io)?;
    runner.rewrites.insert(0, (format!("{}/", copy.display()), String::new()));
    tree::copy(&root, &copy, plugin.modes)?;
    let work = copy.join(&app_inside);

    if let Some(init) = &plugin.init {
        runner.run(init, &work).map_err(|e| runner.error(init, Step::Init, e))?;
    }
    let output = runner.run(&plugin.generate, &work).map_err(|e| runner.error(&plugin.generate, Step::Generate, e))?;
    let manifests = parse_output(&format!("(plugin {})", plugin.name), &output)?;
    Ok((manifests, plugin.name.clone()))
}

/// The plugin for the app: the named one, else the first (in config order)
/// whose discovery rule matches.
fn select<'p>(
    plugins: &'p Plugins,
    source: &PluginSource,
    root: &Path,
    app_dir: &Path,
    app_inside: &Path,
    scratch: &Path,
    runner: &mut Runner<'_>,
) -> Result<&'p Plugin, RenderError> {
    if let Some(name) = source.name.as_deref().filter(|n| !n.is_empty()) {
        return plugins.plugins.iter().find(|p| p.name == name).ok_or_else(|| RenderError::InvalidSource {
            message: format!("plugin {name:?} is not configured (configured plugins: {})", plugins.names_shown()),
        });
    }
    for (index, plugin) in plugins.plugins.iter().enumerate() {
        let matched = match &plugin.discover {
            Discover::Never => false,
            Discover::Glob(glob) => tree::any_match(root, app_dir, glob)?,
            Discover::Command(command) => {
                // A discovery command may write to its tree too, so it gets
                // a copy of its own, thrown away afterwards.
                let probe = scratch.join(format!("probe-{index}"));
                std::fs::create_dir(&probe)
                    .map_err(|source| RenderError::Io { path: "(scratch directory)".to_owned(), source })?;
                tree::copy(root, &probe, plugin.modes)?;
                let saved = std::mem::take(&mut runner.rewrites);
                runner.rewrites = [(format!("{}/", probe.display()), String::new())].into_iter().chain(saved).collect();
                runner.plugin.clone_from(&plugin.name);
                let outcome = runner.run(command, &probe.join(app_inside));
                runner.rewrites.remove(0);
                // Best effort: the whole scratch directory goes at the end anyway.
                let _ = std::fs::remove_dir_all(&probe);
                match outcome {
                    Ok(stdout) => !String::from_utf8_lossy(&stdout).trim().is_empty(),
                    // A failing search (`grep` finding nothing exits 1) is no match.
                    Err(RunError::Failed(_)) => false,
                    Err(error) => return Err(runner.error(command, Step::Discover, error)),
                }
            }
        };
        if matched {
            return Ok(plugin);
        }
    }
    let message = if plugins.is_empty() {
        "no config-management plugins are configured".to_owned()
    } else {
        format!(
            "no configured plugin matches the files at {:?} (plugins: {}); set spec.source.plugin.name",
            app_inside.display().to_string(),
            plugins.names_shown()
        )
    };
    Err(RenderError::InvalidSource { message })
}

/// Runs one plugin's commands under the render's shared deadline.
struct Runner<'a> {
    /// The plugin whose command runs, for messages.
    plugin: String,
    env: &'a [(String, String)],
    deadline: Instant,
    /// The whole budget, for messages.
    timeout: Duration,
    output_limit: u64,
    /// Scratch paths → what to show instead, most specific first.
    rewrites: Vec<(String, String)>,
}

impl Runner<'_> {
    fn run(&self, spec: &ProgramSpec, dir: &Path) -> Result<Vec<u8>, RunError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(RunError::TimedOut);
        }
        let Some((program, args)) = spec.argv.split_first() else {
            return Err(RunError::Spawn(std::io::Error::from(std::io::ErrorKind::NotFound)));
        };
        // A relative program with a slash (`./generate.sh`) is the app's own
        // script: resolved against the app directory, as Argo CD does,
        // rather than against the controller's working directory.
        let program =
            if program.contains('/') && !program.starts_with('/') { dir.join(program) } else { PathBuf::from(program) };
        let mut command = Command::new(program);
        command.args(args).current_dir(dir).env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        process::run(command, &Limits { timeout: remaining, output: self.output_limit })
    }

    fn error(&self, spec: &ProgramSpec, step: Step, error: RunError) -> RenderError {
        let tool = format!("plugin {}", self.plugin);
        let program = spec.argv.first().map_or("", String::as_str);
        match error {
            RunError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => RenderError::ToolMissing {
                tool: program.to_owned(),
                hint: format!(
                    "plugin {} runs {program:?} to {}; install it where ferry runs (on its PATH)",
                    self.plugin,
                    step.label()
                ),
            },
            RunError::Spawn(e) | RunError::Io(e) => {
                RenderError::ToolFailed { tool, message: format!("{}: cannot run {program:?}: {e}", step.label()) }
            }
            RunError::TimedOut => RenderError::Timeout { tool, seconds: self.timeout.as_secs() },
            RunError::OutputTooLarge => RenderError::OutputTooLarge { tool, limit: self.output_limit },
            RunError::Failed(stderr) => {
                let shown = shorten(&redact(&stderr, &self.rewrites));
                let shown =
                    if shown.is_empty() { "exited unsuccessfully, with nothing on stderr".to_owned() } else { shown };
                RenderError::ToolFailed { tool, message: format!("{}: {shown}", step.label()) }
            }
        }
    }
}

/// The objects a plugin printed: YAML or JSON documents, or one JSON list of
/// objects; `List` kinds are flattened.
fn parse_output(shown: &str, bytes: &[u8]) -> Result<Vec<Manifest>, RenderError> {
    let mut out = Vec::new();
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
        && let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(bytes)
    {
        for (index, item) in items.into_iter().enumerate() {
            documents::flatten(shown, index, item, &mut out)?;
        }
        return Ok(out);
    }
    documents::parse_file(shown, bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
