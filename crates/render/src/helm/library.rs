//! The in-process backend: Helm's Go SDK through `libhelm_c`.
//!
//! A library call cannot be killed. Each one runs on its own thread and is
//! given up after the timeout: the caller gets [`RenderError::Timeout`] and
//! the thread is left to finish (or hang) in the background, holding its
//! memory until then. Helm's rendering has no unbounded loops of its own
//! (templates cannot recurse without limit: `include` depth is capped), so in
//! practice only network calls (pull, dependency build) can hang, and those
//! carry Go-side timeouts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::ffi::{self, CallError, LibHelm, SetKind};
use super::values::{InlineValues, Layer, ValueInputs, merge};
use super::{ChartPull, Crds, HelmBackend, RenderedFile, TOOL, TemplateRequest, Transport, keep_template, tool_failed};
use crate::RenderError;

/// The `libhelm_c` backend.
#[derive(Debug)]
pub(crate) struct LibraryBackend {
    lib: &'static LibHelm,
    timeout: Duration,
    output_limit: u64,
}

impl LibraryBackend {
    /// Loads the library at `path`.
    pub(crate) fn open(path: &Path, timeout: Duration, output_limit: u64) -> Result<LibraryBackend, String> {
        Ok(LibraryBackend { lib: ffi::load(path)?, timeout, output_limit })
    }

    /// Runs `work` on its own thread, giving up after the timeout (see the
    /// module docs for why the thread is then abandoned).
    pub(crate) fn on_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(&'static LibHelm) -> Result<T, RenderError> + Send + 'static,
    ) -> Result<T, RenderError> {
        let (tx, rx) = mpsc::channel();
        let lib = self.lib;
        std::thread::Builder::new()
            .name("libhelm".into())
            .spawn(move || {
                let _ = tx.send(work(lib));
            })
            .map_err(|source| RenderError::Io { path: "(libhelm thread)".to_owned(), source })?;
        match rx.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(RenderError::Timeout { tool: TOOL.to_owned(), seconds: self.timeout.as_secs() })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(RenderError::ToolFailed { tool: TOOL.to_owned(), message: "libhelm call panicked".to_owned() })
            }
        }
    }
}

/// A library failure as a render error, with an optional context prefix.
fn failed(context: &str, error: CallError) -> RenderError {
    let message = if error.message.trim().is_empty() { format!("error code {}", error.code) } else { error.message };
    if context.is_empty() { tool_failed(&message) } else { tool_failed(&format!("{context}: {message}")) }
}

fn json_object(context: &str, text: &str) -> Result<Map<String, Value>, RenderError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(tool_failed(&format!("{context}: values must be a map"))),
        Err(e) => Err(tool_failed(&format!("{context}: unexpected answer from libhelm: {e}"))),
    }
}

/// The user values, layered as `helm template` layers its flags: files,
/// then `--set`, `--set-string`, `--set-file`. YAML and set-expressions are
/// parsed by Helm's own code in the library.
fn user_values(lib: &LibHelm, inputs: &ValueInputs) -> Result<Map<String, Value>, RenderError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| RenderError::Io { path: path.display().to_string(), source })
    };
    let mut values = Map::new();
    for file in &inputs.files {
        let context = format!("values file {}", file.display());
        let parsed = lib.values_from_yaml(&read(file)?).map_err(|e| failed(&context, e))?;
        merge(&mut values, json_object(&context, &parsed)?, Layer::File);
    }
    match &inputs.inline {
        Some(InlineValues::Yaml(text)) => {
            let parsed = lib.values_from_yaml(text).map_err(|e| failed("helm.values", e))?;
            merge(&mut values, json_object("helm.values", &parsed)?, Layer::File);
        }
        Some(InlineValues::Object(map)) => merge(&mut values, map.clone(), Layer::File),
        None => {}
    }
    let sets = inputs
        .set
        .iter()
        .map(|e| (SetKind::Typed, e.clone()))
        .chain(inputs.set_string.iter().map(|e| (SetKind::String, e.clone())));
    for (kind, expression) in sets {
        let context = format!("parameter {expression:?}");
        let parsed = lib.strvals(kind, &expression).map_err(|e| failed(&context, e))?;
        merge(&mut values, json_object(&context, &parsed)?, Layer::Set);
    }
    for (name, path) in &inputs.set_file {
        // `--set-file` is a literal string value read from a file.
        let context = format!("file parameter {name:?}");
        let parsed =
            lib.strvals(SetKind::Literal, &format!("{name}={}", read(path)?)).map_err(|e| failed(&context, e))?;
        merge(&mut values, json_object(&context, &parsed)?, Layer::Set);
    }
    Ok(values)
}

fn template(lib: &'static LibHelm, request: &TemplateRequest, limit: u64) -> Result<Vec<RenderedFile>, RenderError> {
    let values = Value::Object(user_values(lib, &request.values)?);
    let mut options = json!({
        "name": request.release_name,
        "namespace": request.namespace,
        "revision": 1,
        "is_install": true,
    });
    if let Some(version) = &request.kube_version {
        options["kube_version"] = json!(version);
    }
    if !request.api_versions.is_empty() {
        options["api_versions"] = json!(request.api_versions);
    }
    let chart = lib.chart_load(&request.chart_dir).map_err(|e| failed("loading chart", e))?;
    let rendered = chart.render(&values.to_string(), &options.to_string()).map_err(|e| failed("", e))?;
    let templates: BTreeMap<String, String> =
        serde_json::from_str(&rendered).map_err(|e| tool_failed(&format!("unexpected answer from libhelm: {e}")))?;
    let mut files = Vec::new();
    if request.crds == Crds::Include {
        let crds: Vec<Value> = serde_json::from_str(&chart.crds().map_err(|e| failed("reading CRDs", e))?)
            .map_err(|e| tool_failed(&format!("unexpected answer from libhelm: {e}")))?;
        let text = |crd: &Value, key: &str| crd.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        files.extend(crds.iter().map(|c| RenderedFile { path: text(c, "filename"), yaml: text(c, "data") }));
    }
    files.extend(
        templates.into_iter().filter(|(path, _)| keep_template(path)).map(|(path, yaml)| RenderedFile { path, yaml }),
    );
    let size: u64 = files.iter().map(|f| f.yaml.len() as u64).sum();
    if size > limit {
        return Err(RenderError::OutputTooLarge { tool: TOOL.to_owned(), limit });
    }
    Ok(files)
}

impl HelmBackend for LibraryBackend {
    fn describe(&self) -> String {
        format!("libhelm {} ({})", self.version(), self.lib.path().display())
    }

    fn version(&self) -> String {
        format!("{} (libhelm_c {})", self.lib.sdk_version(), self.lib.c_version())
    }

    fn template(&self, request: &TemplateRequest) -> Result<Vec<RenderedFile>, RenderError> {
        let request = request.clone();
        let limit = self.output_limit;
        self.on_thread(move |lib| template(lib, &request, limit))
    }

    fn pull(&self, request: &ChartPull, transport: Transport, dest: &Path) -> Result<PathBuf, RenderError> {
        let download = tempfile::Builder::new()
            .prefix("ferry-helm-pull-")
            .tempdir()
            .map_err(|source| RenderError::Io { path: "(scratch directory)".to_owned(), source })?;
        let mut options = json!({
            "untar": true,
            "untar_dir": dest.display().to_string(),
            "dest_dir": download.path().display().to_string(),
        });
        let reference = match request.oci_reference() {
            Some(reference) => reference,
            None => {
                options["repo_url"] = json!(request.repo_url);
                request.chart.clone()
            }
        };
        if !request.version.is_empty() {
            options["version"] = json!(request.version);
        }
        if transport == Transport::PlainHttp && request.oci_reference().is_some() {
            options["plain_http"] = json!(true);
        }
        if let Some(username) = &request.username {
            options["username"] = json!(username);
        }
        if let Some(password) = &request.password {
            options["password"] = json!(password);
        }
        let options = options.to_string();
        // An OCI registry takes credentials through a logged-in client (the
        // pull options' user and password only reach HTTP repositories).
        // Its credentials file is private to this pull, so nothing is left in
        // Helm's own configuration.
        let login = match (request.oci_reference(), &request.username) {
            (Some(reference), Some(username)) => {
                let host = reference.trim_start_matches("oci://").split('/').next().unwrap_or_default().to_owned();
                let client_options = json!({
                    "plain_http": transport == Transport::PlainHttp,
                    "credentials_file": download.path().join("registry.json").display().to_string(),
                })
                .to_string();
                let login_options = json!({"plain_http": transport == Transport::PlainHttp}).to_string();
                Some((
                    host,
                    username.clone(),
                    request.password.clone().unwrap_or_default(),
                    client_options,
                    login_options,
                ))
            }
            _ => None,
        };
        self.on_thread(move |lib| {
            let client = match &login {
                Some((host, username, password, client_options, login_options)) => {
                    let client = lib.registry_client(client_options).map_err(|e| failed("registry client", e))?;
                    client.login(host, username, password, login_options).map_err(|e| failed("registry login", e))?;
                    Some(client)
                }
                None => None,
            };
            lib.pull(client.as_ref(), &reference, &options).map_err(|e| failed("pull", e))
        })?;
        drop(download);
        Ok(dest.join(&request.chart))
    }

    fn dependency_build(&self, chart_dir: &Path, transport: Transport) -> Result<(), RenderError> {
        let dir = chart_dir.to_path_buf();
        let options = if transport == Transport::PlainHttp { json!({"plain_http": true}) } else { json!({}) };
        let options = options.to_string();
        self.on_thread(move |lib| lib.dependency_build(&dir, &options).map_err(|e| failed("dependency build", e)))
    }
}
