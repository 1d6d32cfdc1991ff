//! The `helm` CLI backend: `helm template`, `helm pull`, `helm dependency
//! build` and `helm version --short`, run through the shared tool runner
//! (timeout, output limit, process-group kill).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::values::InlineValues;
use super::{ChartPull, Crds, HelmBackend, RenderedFile, TOOL, TemplateRequest, Transport, keep_template};
use crate::RenderError;
use crate::process::{self, Limits, RunError, redact, shorten};

/// The `helm` program backend.
#[derive(Debug)]
pub(crate) struct CliBackend {
    program: PathBuf,
    timeout: Duration,
    output_limit: u64,
    version: OnceLock<String>,
}

impl CliBackend {
    pub(crate) fn new(program: PathBuf, timeout: Duration, output_limit: u64) -> CliBackend {
        CliBackend { program, timeout, output_limit, version: OnceLock::new() }
    }

    fn run(&self, command: Command) -> Result<Vec<u8>, RenderError> {
        let limits = Limits { timeout: self.timeout, output: self.output_limit };
        process::run(command, &limits).map_err(|error| match error {
            RunError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound => RenderError::ToolMissing {
                tool: TOOL.to_owned(),
                hint: format!("{} does not exist; {}", self.program.display(), super::INSTALL_HINT),
            },
            RunError::Spawn(source) | RunError::Io(source) => {
                RenderError::Io { path: self.program.display().to_string(), source }
            }
            RunError::TimedOut => RenderError::Timeout { tool: TOOL.to_owned(), seconds: self.timeout.as_secs() },
            RunError::OutputTooLarge => RenderError::OutputTooLarge { tool: TOOL.to_owned(), limit: self.output_limit },
            RunError::Failed(stderr) => {
                RenderError::ToolFailed { tool: TOOL.to_owned(), message: shorten(&redact(&stderr, &[])) }
            }
        })
    }

    fn command(&self) -> Command {
        Command::new(&self.program)
    }
}

/// Splits `helm template` output into its `# Source:` files, keeping each
/// file's documents in the order printed. A document without its own
/// header belongs to the file before it.
pub(crate) fn split_sources(output: &str) -> Vec<RenderedFile> {
    let mut files: Vec<RenderedFile> = Vec::new();
    let mut source: Option<String> = None;
    let mut text = String::new();
    let mut flush = |source: &Option<String>, text: &mut String| {
        if !text.trim().is_empty() {
            let path = source.clone().unwrap_or_else(|| "(helm output)".to_owned());
            let document = format!("---\n{text}");
            match files.iter_mut().find(|f| f.path == path) {
                Some(file) => file.yaml.push_str(&document),
                None => files.push(RenderedFile { path, yaml: document }),
            }
        }
        text.clear();
    };
    for line in output.lines() {
        if line.trim_end() == "---" {
            flush(&source, &mut text);
            continue;
        }
        if text.trim().is_empty()
            && let Some(path) = line.strip_prefix("# Source: ")
        {
            source = Some(path.trim().to_owned());
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    flush(&source, &mut text);
    files
}

impl HelmBackend for CliBackend {
    fn describe(&self) -> String {
        format!("helm CLI {} ({})", self.version(), self.program.display())
    }

    fn version(&self) -> String {
        self.version
            .get_or_init(|| {
                let mut command = self.command();
                command.args(["version", "--short"]);
                match self.run(command) {
                    Ok(out) => String::from_utf8_lossy(&out).trim().to_owned(),
                    Err(_) => "unknown".to_owned(),
                }
            })
            .clone()
    }

    fn template(&self, request: &TemplateRequest) -> Result<Vec<RenderedFile>, RenderError> {
        let scratch = tempfile::Builder::new()
            .prefix("ferry-helm-values-")
            .tempdir()
            .map_err(|source| RenderError::Io { path: "(scratch directory)".to_owned(), source })?;
        let mut command = self.command();
        command.arg("template").arg(&request.release_name).arg(&request.chart_dir);
        command.arg("--namespace").arg(&request.namespace);
        if request.crds == Crds::Include {
            command.arg("--include-crds");
        }
        if let Some(version) = &request.kube_version {
            command.arg("--kube-version").arg(version);
        }
        for api in &request.api_versions {
            command.arg("--api-versions").arg(api);
        }
        for file in &request.values.files {
            command.arg("--values").arg(file);
        }
        if let Some(inline) = &request.values.inline {
            let text = match inline {
                InlineValues::Yaml(text) => text.clone(),
                // JSON is YAML: no YAML writer needed.
                InlineValues::Object(map) => serde_json::Value::Object(map.clone()).to_string(),
            };
            let path = scratch.path().join("values.yaml");
            std::fs::write(&path, text)
                .map_err(|source| RenderError::Io { path: "(inline values)".to_owned(), source })?;
            command.arg("--values").arg(&path);
        }
        for expression in &request.values.set {
            command.arg("--set").arg(expression);
        }
        for expression in &request.values.set_string {
            command.arg("--set-string").arg(expression);
        }
        for (name, path) in &request.values.set_file {
            command.arg("--set-file").arg(format!("{name}={}", path.display()));
        }
        command.current_dir(scratch.path());
        let output = self.run(command)?;
        let files = split_sources(&String::from_utf8_lossy(&output));
        Ok(files.into_iter().filter(|f| keep_template(&f.path)).collect())
    }

    fn pull(&self, request: &ChartPull, transport: Transport, dest: &Path) -> Result<PathBuf, RenderError> {
        let download = tempfile::Builder::new()
            .prefix("ferry-helm-pull-")
            .tempdir()
            .map_err(|source| RenderError::Io { path: "(scratch directory)".to_owned(), source })?;
        let mut command = self.command();
        command.arg("pull");
        match request.oci_reference() {
            Some(reference) => {
                command.arg(reference);
                if transport == Transport::PlainHttp {
                    command.arg("--plain-http");
                }
            }
            None => {
                command.arg(&request.chart).arg("--repo").arg(&request.repo_url);
            }
        }
        if !request.version.is_empty() {
            command.arg("--version").arg(&request.version);
        }
        // helm has no other way to take them for a pull; they are visible
        // to the machine's own users in the process list while it runs.
        if let Some(username) = &request.username {
            command.arg("--username").arg(username);
        }
        if let Some(password) = &request.password {
            command.arg("--password").arg(password);
        }
        command.arg("--untar").arg("--untardir").arg(dest).arg("--destination").arg(download.path());
        command.current_dir(download.path());
        self.run(command)?;
        Ok(dest.join(&request.chart))
    }

    fn dependency_build(&self, chart_dir: &Path, transport: Transport) -> Result<(), RenderError> {
        let mut command = self.command();
        command.args(["dependency", "build"]).arg(chart_dir);
        if transport == Transport::PlainHttp {
            command.arg("--plain-http");
        }
        command.current_dir(chart_dir);
        self.run(command).map(|_| ())
    }
}
