//! Running the git CLI: hardened configuration, its own process group, a deadline, and stderr
//! that is masked before anyone sees it.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// `-c` settings every git invocation gets. Only the transports this crate accepts may run, even
/// if a URL slipped past [`crate::repo_url::RepoUrl::parse`] or a redirect points elsewhere.
const HARDENING: &[&str] = &[
    "protocol.allow=never",
    "protocol.file.allow=always",
    "protocol.http.allow=always",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    // A mirror never needs submodules or hooks; make sure no user config drags them in.
    "fetch.recurseSubmodules=false",
    "core.hooksPath=/dev/null",
];

/// Inherited variables that would point git at another repository or inject config behind our
/// back (set, for example, when ferry itself runs from a git hook).
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_PROTOCOL_FROM_USER",
    "GIT_ALLOW_PROTOCOL",
];

/// Longest stderr kept in an error message (the end is kept: git puts the cause last).
const MAX_MESSAGE: usize = 4096;

/// One git invocation.
pub(crate) struct Invocation<'a> {
    pub git: &'a Path,
    /// `-c key=value` settings in addition to [`HARDENING`].
    pub config: &'a [OsString],
    pub env: &'a [(OsString, OsString)],
    /// Subcommand and its arguments.
    pub args: Vec<OsString>,
    pub timeout: Duration,
}

/// How a git invocation failed.
pub(crate) enum RunError {
    Spawn(std::io::Error),
    TimedOut,
    /// Non-zero exit; git's stderr, trimmed and shortened, not yet masked.
    Failed(String),
}

/// Run git to completion and return its stdout. The child runs in its own process group, which
/// is killed as a whole on timeout or when this future is dropped, so helpers git spawned
/// (`git-remote-https`, `ssh`, `index-pack`) do not linger.
pub(crate) async fn run(invocation: Invocation<'_>) -> Result<Vec<u8>, RunError> {
    let mut command = tokio::process::Command::new(invocation.git);
    for setting in HARDENING {
        command.arg("-c").arg(setting);
    }
    for setting in invocation.config {
        command.arg("-c").arg(setting);
    }
    for name in SCRUBBED_ENV {
        command.env_remove(name);
    }
    command
        .args(&invocation.args)
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Declared after `child`, so on any early exit (timeout, a dropped future) it runs first,
    // while the leader is still unreaped.
    let guard = GroupGuard { pid: child.id() };
    let finished = tokio::time::timeout(invocation.timeout, async {
        let (out, err) = tokio::join!(read_all(stdout.as_mut()), read_all(stderr.as_mut()));
        // Only wait once both pipes are closed: a reaped leader frees its pid, and the guard
        // must never signal a group id that may have been reused.
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out?, err?))
    })
    .await;
    match finished {
        Err(_elapsed) => Err(RunError::TimedOut), // the guard kills the group on return
        Ok(Err(error)) => Err(RunError::Spawn(error)),
        Ok(Ok((status, out, err))) => {
            guard.disarm();
            if status.success() { Ok(out) } else { Err(RunError::Failed(shorten(&String::from_utf8_lossy(&err)))) }
        }
    }
}

async fn read_all<R: tokio::io::AsyncRead + Unpin>(pipe: Option<&mut R>) -> Result<Vec<u8>, std::io::Error> {
    let mut buffer = Vec::new();
    if let Some(pipe) = pipe {
        tokio::io::AsyncReadExt::read_to_end(pipe, &mut buffer).await?;
    }
    Ok(buffer)
}

/// Kills the child's process group unless disarmed. Armed only while the leader is unreaped, so
/// its pid (and thus the group id) cannot have been reused.
struct GroupGuard {
    pid: Option<u32>,
}

impl GroupGuard {
    fn disarm(mut self) {
        self.pid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let pid = self.pid.and_then(|pid| i32::try_from(pid).ok()).and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            // Failure means the group is already gone, which is what we want.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

fn shorten(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_keep_the_cause_at_the_end() {
        assert_eq!(shorten("\n  fatal: one\n\nerror: two  \n"), "fatal: one; error: two");
        let long = format!("{}\nfatal: the cause", "noise é\n".repeat(2000));
        let short = shorten(&long);
        assert!(short.len() <= MAX_MESSAGE + 3, "{}", short.len());
        assert!(short.starts_with("..."));
        assert!(short.ends_with("fatal: the cause"));
    }
}
