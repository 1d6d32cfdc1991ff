//! Running a rendering tool to completion, blocking: a timeout enforced by a
//! watchdog thread, an output limit, and a whole-process-group kill so that
//! anything the tool spawned (exec plugins, helm) dies with it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

/// How much of the tool's stderr is kept while reading (its tail); the
/// message shown is cut further by the caller.
const STDERR_KEEP: usize = 64 * 1024;

/// Most of a tool's stderr shown in an error: its last lines.
pub(crate) const MAX_MESSAGE: usize = 2048;

/// How a run ended, when it did not produce output.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// Waiting for or reading from the program failed.
    Io(std::io::Error),
    /// It ran longer than allowed and was killed.
    TimedOut,
    /// Its stdout grew past the limit; it was killed.
    OutputTooLarge,
    /// It exited unsuccessfully; the tail of its stderr.
    Failed(String),
}

/// Limits for one run.
pub(crate) struct Limits {
    /// Wall-clock limit.
    pub(crate) timeout: Duration,
    /// Largest accepted stdout, in bytes.
    pub(crate) output: u64,
}

/// Kill switch shared by the watchdog and the waiting thread. Armed only while
/// the child is unreaped: a zombie keeps its pid (and so its group id) from
/// being reused, so the kill can never hit an unrelated process group.
struct Switch {
    armed: bool,
    timed_out: bool,
}

/// Runs `command` (stdin closed) and returns its stdout.
pub(crate) fn run(mut command: Command, limits: &Limits) -> Result<Vec<u8>, RunError> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let switch = Arc::new(Mutex::new(Switch { armed: true, timed_out: false }));

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = {
        let switch = switch.clone();
        let timeout = limits.timeout;
        std::thread::Builder::new()
            .name("render-watchdog".into())
            .spawn(move || {
                // A message or a hang-up both mean the run finished in time.
                if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
                    let mut state = switch.lock().unwrap_or_else(|poison| poison.into_inner());
                    if state.armed {
                        state.timed_out = true;
                        kill_group(pid);
                    }
                }
            })
            .map_err(RunError::Io)?
    };

    let stderr = child.stderr.take();
    let stderr_reader = std::thread::Builder::new()
        .name("render-stderr".into())
        .spawn(move || stderr.map(read_tail).unwrap_or_default())
        .map_err(RunError::Io);

    let mut too_large = false;
    let mut stdout = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        match pipe.take(limits.output + 1).read_to_end(&mut stdout) {
            Ok(_) if stdout.len() as u64 > limits.output => {
                too_large = true;
                let state = switch.lock().unwrap_or_else(|poison| poison.into_inner());
                if state.armed {
                    kill_group(pid);
                }
            }
            Ok(_) => {}
            // Reading fails only on a broken pipe; the exit status says why.
            Err(_) => {}
        }
    }

    // Wait for the exit without reaping, so the group can still be killed
    // safely: this removes anything the tool left running (and holding the
    // stderr pipe open) before the pid is released.
    wait_exited(pid);
    {
        let mut state = switch.lock().unwrap_or_else(|poison| poison.into_inner());
        state.armed = false;
        kill_group(pid);
    }
    let _ = done_tx.send(());
    let status = child.wait().map_err(RunError::Io);
    let _ = watchdog.join();
    let stderr = match stderr_reader {
        Ok(handle) => handle.join().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let status = status?;

    let timed_out = switch.lock().unwrap_or_else(|poison| poison.into_inner()).timed_out;
    if timed_out {
        return Err(RunError::TimedOut);
    }
    if too_large {
        return Err(RunError::OutputTooLarge);
    }
    if !status.success() {
        return Err(RunError::Failed(String::from_utf8_lossy(&stderr).into_owned()));
    }
    Ok(stdout)
}

/// Reads a pipe to its end, keeping only the last [`STDERR_KEEP`] bytes.
fn read_tail(mut pipe: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > 2 * STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
        }
    }
    if kept.len() > STDERR_KEEP {
        kept.drain(..kept.len() - STDERR_KEEP);
    }
    kept
}

/// Blocks until the child has exited, leaving it a zombie (not reaped).
fn wait_exited(pid: Option<Pid>) {
    let Some(pid) = pid else { return };
    loop {
        match rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT) {
            Err(rustix::io::Errno::INTR) => continue,
            // Anything else (including ECHILD) means there is nothing to wait for.
            _ => return,
        }
    }
}

fn kill_group(pid: Option<Pid>) {
    if let Some(pid) = pid {
        // Failure means the group is already gone, which is what we want.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// The first executable file called `name` in a PATH directory.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Makes a tool's stderr fit to show: scratch paths rewritten to
/// repository-relative ones, and any `data`/`stringData` content removed,
/// because Kustomize sometimes prints the resource it failed on and that may
/// be a Secret.
pub(crate) fn redact(stderr: &str, rewrites: &[(String, String)]) -> String {
    let mut text = stderr.to_owned();
    for (from, to) in rewrites {
        text = text.replace(from.as_str(), to);
    }
    let mut out: Vec<String> = Vec::new();
    // Indentation of a YAML `data:` block being skipped.
    let mut skipping: Option<usize> = None;
    for line in text.lines() {
        let line = &tidy(line);
        let indent = line.len() - line.trim_start().len();
        if let Some(block) = skipping {
            if !line.trim().is_empty() && indent > block {
                continue;
            }
            skipping = None;
        }
        let trimmed = line.trim();
        if trimmed == "data:" || trimmed == "stringData:" || trimmed == "binaryData:" {
            skipping = Some(indent);
            out.push(format!("{line} (redacted)"));
            continue;
        }
        match inline_data() {
            Some(pattern) => out.push(pattern.replace_all(line, "${key}(redacted)").into_owned()),
            None => out.push(line.to_owned()),
        }
    }
    out.join("\n")
}

/// One stderr line without the decoration that differs between kubectl
/// builds: klog's header (`E1122 02:26:27.462859  2363 run.go:72] "command
/// failed" err="..."`) and the `error: ` / `Error: ` prefix, so the message is
/// the same whichever kubectl or kustomize produced it.
pub(crate) fn tidy(line: &str) -> String {
    static KLOG: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let klog = KLOG.get_or_init(|| {
        regex::Regex::new(
            r#"^[IWEF]\d{4} [0-9:.]+\s+\d+ [^ \]]+\] (?:"command failed" err="(?P<err>.*)"|(?P<rest>.*))$"#,
        )
        .ok()
    });
    let mut line = line.to_owned();
    if let Some(captures) = klog.as_ref().and_then(|k| k.captures(&line)) {
        line = match (captures.name("err"), captures.name("rest")) {
            (Some(err), _) => err.as_str().replace("\\\"", "\"").replace("\\\\", "\\"),
            (None, Some(rest)) => rest.as_str().to_owned(),
            (None, None) => line.clone(),
        };
    }
    for prefix in ["error: ", "Error: "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    line
}

/// `data` maps written on one line: JSON (`"data":{...}`), YAML flow
/// (`data: {...}`) and Go's `map[...]` formatting.
fn inline_data() -> Option<&'static regex::Regex> {
    static PATTERN: OnceLock<Option<regex::Regex>> = OnceLock::new();
    PATTERN
        .get_or_init(|| {
            regex::Regex::new(r#"(?P<key>"?\b(?:data|stringData|binaryData)"?\s*:\s*)(?:\{[^{}]*\}|map\[[^\[\]]*\])"#)
                .ok()
        })
        .as_ref()
}

/// The last lines of `text` that fit in [`MAX_MESSAGE`] bytes, joined with
/// `; ` so the message is one line; the cause is usually at the end.
pub(crate) fn shorten(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let joined = lines.join("; ");
    if joined.len() <= MAX_MESSAGE {
        return joined;
    }
    let mut start = joined.len() - MAX_MESSAGE;
    while !joined.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &joined[start..])
}
