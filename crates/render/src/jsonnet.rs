//! Jsonnet apps, evaluated in-process with jrsonnet.
//!
//! As in Argo CD, a Jsonnet app is a directory: every `*.jsonnet` file that
//! the directory options select is evaluated (with the app's TLAs and ext
//! vars), and plain `*.yaml`/`*.yml`/`*.json` files beside them are read as
//! manifests. `*.libsonnet` files are libraries, only read through `import`.
//! A file evaluates to one object, an array of objects, or a `List`.
//!
//! jrsonnet's state is reference-counted and not `Send`, so the whole render
//! runs on a dedicated thread, and the caller waits for it with a timeout.
//! jrsonnet has no way to interrupt an evaluation: a render that times out
//! returns [`RenderError::Timeout`] at once, and its thread is left to finish
//! on its own and its result dropped. To keep runaway evaluations from piling
//! up, at most [`MAX_OVERDUE_EVALUATIONS`] may be running past their deadline;
//! while that many are, new Jsonnet renders fail immediately. Recursion is
//! bounded by jrsonnet's stack-depth limit (and its native stack grows on the
//! heap), so deep recursion is an error, never a crash.

mod import;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use application::{JsonnetSource, JsonnetVar};
use jrsonnet_evaluator::function::{CallLocation, TlaArg};
use jrsonnet_evaluator::gc::GcHashMap;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::trace::{CompactFormat, PathResolver, TraceFormat};
use jrsonnet_evaluator::{IStr, State, apply_tla};
use jrsonnet_parser::{ParserSettings, Source as JsonnetCode, SourceFile, SourcePath};
use serde_json::Value;

use crate::directory::{self, FoundFile, is_manifest_name, select_files};
use crate::{DirectoryOptions, Manifest, RenderError, documents};

use import::ConfinedResolver;

/// The jrsonnet version linked in; pinned exactly in `Cargo.toml`, because
/// its pre-releases change the API and the output must be reproducible.
const JRSONNET_VERSION: &str = "0.5.0-pre97";

/// The tool name used in errors.
const TOOL: &str = "jsonnet";

/// Default time allowed for one app's evaluation, as Argo CD's tool timeout.
pub const JSONNET_TIMEOUT: Duration = Duration::from_secs(90);

/// Default limit on the JSON an app's Jsonnet files produce together.
pub const MAX_JSONNET_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Default limit on nested calls, as go-jsonnet's `--max-stack`.
pub const MAX_JSONNET_STACK_DEPTH: usize = 500;

/// How many evaluations may still be running after their render timed out
/// before new Jsonnet renders are refused. Each holds one thread and up to
/// one core until it finishes.
pub const MAX_OVERDUE_EVALUATIONS: usize = 2;

/// Messages from the evaluator are cut to this many lines (its trace can
/// list hundreds of frames) and this many bytes.
const MAX_MESSAGE_LINES: usize = 12;
const MAX_MESSAGE_BYTES: usize = 2048;

/// Native stack of the evaluation thread. jrsonnet grows its stack on the
/// heap as it recurses, so this only needs to cover the frames between.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Evaluations still running after their caller gave up on them.
static OVERDUE: AtomicUsize = AtomicUsize::new(0);

/// Limits on one Jsonnet render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonnetLimits {
    /// Wall-clock time for the whole app.
    pub timeout: Duration,
    /// Bytes of JSON all the app's Jsonnet files may produce together.
    pub max_output_bytes: u64,
    /// Maximum depth of nested calls.
    pub max_stack_depth: usize,
}

impl Default for JsonnetLimits {
    fn default() -> Self {
        Self {
            timeout: JSONNET_TIMEOUT,
            max_output_bytes: MAX_JSONNET_OUTPUT_BYTES,
            max_stack_depth: MAX_JSONNET_STACK_DEPTH,
        }
    }
}

/// The version of the Jsonnet engine (jrsonnet), to record with hydrated
/// output.
pub fn jsonnet_version() -> String {
    JRSONNET_VERSION.to_owned()
}

/// Renders a Jsonnet app with the default [`JsonnetLimits`].
///
/// Output is ordered by file path, then by array index within a file's
/// result; object keys come out sorted, as the evaluator emits them.
pub fn render_jsonnet(
    repo_root: &Path,
    app_path: &str,
    options: &DirectoryOptions,
    jsonnet: &JsonnetSource,
) -> Result<Vec<Manifest>, RenderError> {
    render_jsonnet_with_limits(repo_root, app_path, options, jsonnet, &JsonnetLimits::default())
}

/// Renders a Jsonnet app (see [`render_jsonnet`]) with explicit limits.
pub fn render_jsonnet_with_limits(
    repo_root: &Path,
    app_path: &str,
    options: &DirectoryOptions,
    jsonnet: &JsonnetSource,
    limits: &JsonnetLimits,
) -> Result<Vec<Manifest>, RenderError> {
    let selection = select_files(repo_root, app_path, options, is_app_file)?;
    let libs = library_dirs(&selection.root, &jsonnet.libs)?;
    let job = Job {
        resolver: ConfinedResolver { root: selection.root, app_dir: selection.app_dir, libs },
        files: selection.files,
        ext_vars: jsonnet.ext_vars.clone(),
        tlas: jsonnet.tlas.clone(),
        max_output_bytes: limits.max_output_bytes,
        max_stack_depth: limits.max_stack_depth,
    };
    run_with_timeout(job, limits.timeout)
}

/// Files a Jsonnet app reads: programs and plain manifests. `.libsonnet`
/// files are only reached through imports.
fn is_app_file(name: &str) -> bool {
    is_jsonnet_program(name) || is_manifest_name(name)
}

fn is_jsonnet_program(name: &str) -> bool {
    Path::new(name).extension().is_some_and(|e| e == "jsonnet")
}

/// Resolves `libs` (relative to the repository root) to canonical
/// directories inside it. A library path that does not exist is skipped, as
/// the `jsonnet` tools do with a missing `-J` directory.
fn library_dirs(root: &Path, libs: &[String]) -> Result<Vec<PathBuf>, RenderError> {
    let mut dirs = Vec::new();
    for lib in libs {
        let rel = directory::normalize_app_path(lib)?;
        if let Some(real) = directory::resolve_inside(root, &root.join(&rel), lib)? {
            if !real.is_dir() {
                return Err(RenderError::NotADirectory { path: lib.clone() });
            }
            dirs.push(real);
        }
    }
    Ok(dirs)
}

/// Everything the evaluation thread needs; all of it is `Send`.
struct Job {
    resolver: ConfinedResolver,
    files: Vec<FoundFile>,
    ext_vars: Vec<JsonnetVar>,
    tlas: Vec<JsonnetVar>,
    max_output_bytes: u64,
    max_stack_depth: usize,
}

/// Where an evaluation thread stands, shared with its caller so that exactly
/// one of them accounts for an overdue evaluation finishing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    Running,
    Finished,
    Abandoned,
}

fn run_with_timeout(job: Job, timeout: Duration) -> Result<Vec<Manifest>, RenderError> {
    let overdue = OVERDUE.load(Ordering::SeqCst);
    if overdue >= MAX_OVERDUE_EVALUATIONS {
        return Err(RenderError::ToolFailed {
            tool: TOOL.to_owned(),
            message: format!(
                "{overdue} earlier evaluations are still running past their timeout; not starting another"
            ),
        });
    }
    let progress = Arc::new(Mutex::new(Progress::Running));
    let (sender, receiver) = mpsc::sync_channel(1);
    let thread_progress = Arc::clone(&progress);
    std::thread::Builder::new()
        .name("jsonnet".to_owned())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || {
            let result = evaluate_job(job);
            let mut progress = thread_progress.lock().unwrap_or_else(PoisonError::into_inner);
            if *progress == Progress::Abandoned {
                OVERDUE.fetch_sub(1, Ordering::SeqCst);
            }
            *progress = Progress::Finished;
            // The receiver is gone when the caller gave up; nothing to do then.
            let _ = sender.send(result);
        })
        .map_err(|e| RenderError::ToolFailed { tool: TOOL.to_owned(), message: format!("starting a thread: {e}") })?;

    match receiver.recv_timeout(timeout) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            let mut state = progress.lock().unwrap_or_else(PoisonError::into_inner);
            if *state == Progress::Finished {
                // It finished between the timeout and the lock: take the result.
                drop(state);
                return receiver.recv().unwrap_or_else(|_| Err(evaluator_died()));
            }
            *state = Progress::Abandoned;
            OVERDUE.fetch_add(1, Ordering::SeqCst);
            Err(RenderError::Timeout { tool: TOOL.to_owned(), seconds: timeout.as_secs() })
        }
        // The thread ended without sending: jrsonnet panicked.
        Err(RecvTimeoutError::Disconnected) => Err(evaluator_died()),
    }
}

fn evaluator_died() -> RenderError {
    RenderError::ToolFailed { tool: TOOL.to_owned(), message: "the evaluator stopped unexpectedly".to_owned() }
}

/// Runs on the evaluation thread: renders every selected file in order.
fn evaluate_job(job: Job) -> Result<Vec<Manifest>, RenderError> {
    let _depth = jrsonnet_evaluator::stack::limit_stack_depth(job.max_stack_depth);
    let root = job.resolver.root.clone();
    let formatter = CompactFormat { resolver: PathResolver::Relative(root.clone()), max_trace: 20, padding: 2 };

    let stdlib = jrsonnet_stdlib::ContextInitializer::new(PathResolver::Relative(root));
    // `std.trace` would write to the controller's stderr; a repository does
    // not get to write into ferry's logs.
    stdlib.settings_mut().trace_printer = Box::new(DiscardTrace);
    for var in &job.ext_vars {
        if var.code {
            stdlib.add_ext_code(&var.name, var.value.as_str()).map_err(|e| RenderError::Jsonnet {
                file: format!("<extVar:{}>", var.name),
                message: trim_message(&format_error(&formatter, &e)),
            })?;
        } else {
            stdlib.add_ext_str(var.name.as_str().into(), var.value.as_str().into());
        }
    }
    let tlas = tla_args(&job.tlas, &formatter)?;

    let mut builder = State::builder();
    builder.context_initializer(stdlib).import_resolver(job.resolver);
    let state = builder.build();

    let mut manifests = Vec::new();
    let mut output_bytes: u64 = 0;
    for file in &job.files {
        if !is_jsonnet_program(&file.rel_to_root) {
            let bytes = directory::read_limited(&file.real, &file.rel_to_root)?;
            documents::parse_file(&file.rel_to_root, &bytes, &mut manifests)?;
            continue;
        }
        let json = evaluate_file(&state, &tlas, file).map_err(|e| RenderError::Jsonnet {
            file: file.rel_to_root.clone(),
            message: trim_message(&format_error(&formatter, &e)),
        })?;
        output_bytes = output_bytes.saturating_add(json.len() as u64);
        if output_bytes > job.max_output_bytes {
            return Err(RenderError::OutputTooLarge { tool: TOOL.to_owned(), limit: job.max_output_bytes });
        }
        push_result(&file.rel_to_root, &json, &mut manifests)?;
    }
    Ok(manifests)
}

/// Evaluates one program, calls it with the TLAs when it is a function, and
/// returns its result as minified JSON (keys sorted).
fn evaluate_file(
    state: &State,
    tlas: &GcHashMap<IStr, TlaArg>,
    file: &FoundFile,
) -> jrsonnet_evaluator::Result<String> {
    let value = state.import_resolved(SourcePath::new(SourceFile::new(file.real.clone())))?;
    let value = apply_tla(state.clone(), tlas, value)?;
    value.manifest(JsonFormat::minify())
}

/// Parses TLAs given as code up front, so a syntax error names the TLA
/// rather than every file it is passed to.
fn tla_args(vars: &[JsonnetVar], formatter: &CompactFormat) -> Result<GcHashMap<IStr, TlaArg>, RenderError> {
    let mut args = GcHashMap::new();
    for var in vars {
        let arg = if var.code {
            let name = format!("<tla:{}>", var.name);
            let code: IStr = var.value.as_str().into();
            let source = JsonnetCode::new_virtual(name.as_str().into(), code.clone());
            let parsed = jrsonnet_parser::parse(&code, &ParserSettings { source: source.clone() }).map_err(|e| {
                let error: jrsonnet_evaluator::Error =
                    jrsonnet_evaluator::error::ErrorKind::ImportSyntaxError { path: source, error: Box::new(e) }.into();
                RenderError::Jsonnet { file: name.clone(), message: trim_message(&format_error(formatter, &error)) }
            })?;
            TlaArg::Code(parsed)
        } else {
            TlaArg::String(var.value.as_str().into())
        };
        args.0.insert(var.name.as_str().into(), arg);
    }
    Ok(args)
}

/// Adds a program's result: an object (a `List` is flattened) or an array of
/// them, each array item counted as one document.
fn push_result(file: &str, json: &str, out: &mut Vec<Manifest>) -> Result<(), RenderError> {
    let value: Value = serde_json::from_str(json).map_err(|e| RenderError::Parse {
        file: file.to_owned(),
        document: 0,
        message: format!("evaluator output is not JSON: {e}"),
    })?;
    let mut objects = Vec::new();
    match value {
        Value::Array(items) => {
            for (index, item) in items.into_iter().enumerate() {
                documents::flatten(file, index, item, &mut objects)?;
            }
        }
        other => documents::flatten(file, 0, other, &mut objects)?,
    }
    out.extend(objects);
    Ok(())
}

fn format_error(formatter: &CompactFormat, error: &jrsonnet_evaluator::Error) -> String {
    formatter.format(error).unwrap_or_else(|_| error.to_string())
}

/// Keeps the head of a long message: the error and the innermost frames,
/// which carry the file, line and column that matter.
fn trim_message(message: &str) -> String {
    let lines: Vec<&str> = message.trim_end().lines().collect();
    let mut out = lines.iter().take(MAX_MESSAGE_LINES).copied().collect::<Vec<_>>().join("\n");
    if out.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    if lines.len() > MAX_MESSAGE_LINES {
        out.push_str(&format!("\n  … {} more lines", lines.len() - MAX_MESSAGE_LINES));
    }
    out
}

/// Drops `std.trace` output.
struct DiscardTrace;

impl jrsonnet_stdlib::TracePrinter for DiscardTrace {
    fn print_trace(&self, _loc: CallLocation, _value: IStr) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_keep_their_head() {
        let message = (0..40).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        let trimmed = trim_message(&message);
        assert!(trimmed.starts_with("line 0\nline 1\n"));
        assert!(trimmed.contains("line 11"));
        assert!(!trimmed.contains("line 12\n"));
        assert!(trimmed.ends_with("… 28 more lines"));
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let trimmed = trim_message(&"é".repeat(3000));
        assert!(trimmed.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(trimmed.ends_with('…'));
    }

    #[test]
    fn version_is_the_pinned_one() {
        let manifest = include_str!("../Cargo.toml");
        assert!(
            manifest.contains(&format!("jrsonnet-evaluator = \"={JRSONNET_VERSION}\"")),
            "JRSONNET_VERSION does not match the pin in Cargo.toml"
        );
    }
}
