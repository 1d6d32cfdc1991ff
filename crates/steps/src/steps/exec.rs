//! `exec`: a plugin step, run as a user command with a JSON contract.
//!
//! The command gets on stdin `{"action": "run" | "abort", "step": <config.config>,
//! "context": {promotion, stage, namespace, workdir, freight, vars, outputs}, "state": <its
//! previous state or null>}` and prints on stdout
//! `{"result": "succeeded" | "running" | "failed" | "errored", "message": …, "outputs": {…},
//! "state": …}`. `running` means "call me again later" (with the state it returned);
//! `errored` is retried as the step's `retry` allows; `failed` is final. State is bounded to
//! [`crate::MAX_STATE_BYTES`]. On abort the output is ignored; a non-zero exit is an error.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::steps::parse_duration;
use crate::{OutcomePhase, StepContext, StepError, StepOutcome, inside_workdir};

/// The most a plugin may print on stdout.
const MAX_STDOUT_BYTES: u64 = 1024 * 1024;

/// How much of stderr is kept for messages.
const MAX_STDERR_BYTES: u64 = 4096;

/// `exec` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ExecConfig {
    /// The program: a name looked up in `PATH`, an absolute path, or a path relative to the
    /// working directory.
    command: String,
    /// Its arguments.
    #[serde(default)]
    args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    env: Vec<EnvVar>,
    /// The plugin's own configuration, handed over as `step`.
    #[serde(default)]
    config: Value,
    /// How long one call may take (`30s`, default 60s).
    #[serde(default)]
    timeout: Option<String>,
}

/// An environment variable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvVar {
    name: String,
    #[serde(default)]
    value: String,
}

/// What a plugin prints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginResult {
    result: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    outputs: Map<String, Value>,
    #[serde(default)]
    state: Option<Value>,
}

#[derive(Clone, Copy)]
enum Action {
    Run,
    Abort,
}

/// **exec**: runs the plugin command (see the module docs for the contract), in the working
/// directory.
///
/// Outputs: whatever the plugin returns as `outputs`.
///
/// Idempotency: the plugin's; it gets its previous `state` to resume from.
pub(crate) async fn run(config: ExecConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let stdout = call(&config, ctx, Action::Run).await?;
    let result: PluginResult = serde_json::from_slice(&stdout).map_err(|e| StepError::Transient {
        message: format!("exec {}: the plugin printed no valid result: {e}", config.command),
    })?;
    let phase = match result.result.as_str() {
        "succeeded" => OutcomePhase::Succeeded,
        "running" => OutcomePhase::Running,
        "failed" => OutcomePhase::Failed,
        "errored" => OutcomePhase::Errored,
        other => {
            return Err(StepError::Transient {
                message: format!(
                    "exec {}: unknown result {other:?} (succeeded, running, failed or errored)",
                    config.command
                ),
            });
        }
    };
    Ok(StepOutcome { phase, message: result.message, outputs: result.outputs, state: result.state })
}

/// Calls the plugin with `action: abort`, for cleanup.
pub(crate) async fn abort(config: &ExecConfig, ctx: &StepContext<'_>) -> Result<(), StepError> {
    call(config, ctx, Action::Abort).await.map(drop)
}

/// Runs the command with the contract's input; its stdout on success (exit 0).
async fn call(config: &ExecConfig, ctx: &StepContext<'_>, action: Action) -> Result<Vec<u8>, StepError> {
    let timeout = match &config.timeout {
        Some(text) => parse_duration(text).map_err(|e| StepError::failed(format!("exec: timeout: {e}")))?,
        None => Duration::from_secs(60),
    };
    let workdir = inside_workdir(ctx.workdir, "")?;
    let program = if config.command.contains('/') && !config.command.starts_with('/') {
        inside_workdir(ctx.workdir, &config.command)?
    } else {
        config.command.clone().into()
    };
    let input = json!({
        "action": match action { Action::Run => "run", Action::Abort => "abort" },
        "step": config.config,
        "context": {
            "promotion": ctx.promotion,
            "stage": ctx.stage,
            "namespace": ctx.namespace,
            "workdir": workdir,
            "freight": ctx.freight,
            "vars": ctx.vars,
            "outputs": ctx.outputs,
        },
        "state": ctx.state.cloned().unwrap_or(Value::Null),
    });
    let input = serde_json::to_vec(&input).map_err(|e| StepError::failed(format!("exec: encode input: {e}")))?;
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&config.args)
        .envs(config.env.iter().map(|e| (e.name.as_str(), e.value.as_str())))
        .current_dir(&workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StepError::failed(format!("exec: command {:?} not found", config.command)),
        _ => StepError::io(format!("start {:?}", config.command), e),
    })?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let work = async {
        let write = async {
            if let Some(mut stdin) = stdin {
                // A plugin that exits without reading its input is not an error by itself.
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let read_out = read_limited(stdout, MAX_STDOUT_BYTES + 1);
        let read_err = read_limited(stderr, MAX_STDERR_BYTES);
        let ((), out, err) = tokio::join!(write, read_out, read_err);
        let status = child.wait().await;
        (status, out, err)
    };
    let (status, out, err) = tokio::time::timeout(timeout, work).await.map_err(|_| StepError::Transient {
        message: format!("exec {}: did not finish within {timeout:?}", config.command),
    })?;
    let status = status.map_err(|e| StepError::io(format!("wait for {:?}", config.command), e))?;
    if out.len() as u64 > MAX_STDOUT_BYTES {
        return Err(StepError::failed(format!("exec {}: printed more than {MAX_STDOUT_BYTES} bytes", config.command)));
    }
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err);
        return Err(StepError::Transient {
            message: format!("exec {}: exited with {status}: {}", config.command, stderr.trim()),
        });
    }
    Ok(out)
}

async fn read_limited<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>, limit: u64) -> Vec<u8> {
    let mut buffer = Vec::new();
    if let Some(pipe) = pipe {
        let mut limited = pipe.take(limit);
        let _ = limited.read_to_end(&mut buffer).await;
        // Drain the rest so the child never blocks on a full pipe.
        let mut rest = limited.into_inner();
        let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    }
    buffer
}
