//! Long-running `ferry` processes (`up`, `controller`) and the CLIs
//! (`ferry`, kubectl) pointed at a kubeconfig with a HOME of the test's own:
//! shared by the tests that run a real controller.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Out, Server};

/// How long a SIGINT/SIGTERM'd process may take to exit cleanly.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);
/// How long one `ferry` or kubectl invocation may run.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(150);

/// A free loopback address: bind port 0, note the port, let it go.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    addr.to_string()
}

/// Where the CLIs point: a kubeconfig, and a HOME of the test's own (so
/// kubectl's discovery cache and `~/.ferry` stay inside the test).
#[derive(Clone)]
pub struct Env {
    /// The kubeconfig both CLIs use.
    pub kubeconfig: PathBuf,
    /// Their HOME.
    pub home: PathBuf,
}

impl Env {
    /// The CLIs of `server`, with its HOME.
    pub fn of(server: &Server) -> Env {
        Env { kubeconfig: server.kubeconfig.clone(), home: server.dirs.home() }
    }

    /// Runs the `ferry` CLI (log level warn, USER ferry-test).
    pub async fn ferry(&self, args: &[&str]) -> Out {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.env("FERRY_LOG", "warn").env("USER", "ferry-test");
        self.run("ferry", cmd, args).await
    }

    /// Runs kubectl.
    pub async fn kubectl(&self, args: &[&str]) -> Out {
        // The harness's choice: FERRY_TEST_KUBECTL pins one kubectl binary.
        let kubectl = std::env::var("FERRY_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
        self.run("kubectl", tokio::process::Command::new(kubectl), args).await
    }

    /// Runs kubectl with `stdin` as its standard input.
    pub async fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Out {
        use tokio::io::AsyncWriteExt;
        let kubectl = std::env::var("FERRY_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
        let mut cmd = tokio::process::Command::new(kubectl);
        self.prepare(&mut cmd, args);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(stdin.as_bytes()).await.expect("write kubectl stdin");
        drop(pipe);
        collect("kubectl", args, child).await
    }

    fn prepare(&self, cmd: &mut tokio::process::Command, args: &[&str]) {
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }

    async fn run(&self, program: &str, mut cmd: tokio::process::Command, args: &[&str]) -> Out {
        self.prepare(&mut cmd, args);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        collect(program, args, child).await
    }

    /// The object as JSON, or `None` when kubectl says it does not exist.
    pub async fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&all).await;
        if out.code != 0 {
            assert!(out.stderr.contains("NotFound") || out.stderr.contains("not found"), "{out:?}");
            return None;
        }
        Some(out.json())
    }

    /// `ferry app get NAME -o json`.
    pub async fn app(&self, name: &str) -> Value {
        self.ferry(&["app", "get", name, "-o", "json"]).await.ok().json()
    }
}

/// Waits (with a deadline) for a CLI to finish, and collects what it printed.
pub async fn collect(program: &str, args: &[&str], child: tokio::process::Child) -> Out {
    let output = match tokio::time::timeout(COMMAND_DEADLINE, child.wait_with_output()).await {
        Ok(output) => output.expect("command output"),
        Err(_) => panic!("{program} {args:?} did not finish within {COMMAND_DEADLINE:?}"),
    };
    Out {
        args: std::iter::once(format!("({program})")).chain(args.iter().map(|s| s.to_string())).collect(),
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A long-running `ferry` process (`up`, `controller`), its output in
/// files. Killed on drop; its log is printed if the test is failing.
pub struct Process {
    /// Its name in messages and log file names.
    pub name: String,
    child: Option<Child>,
    /// The file its standard output goes to.
    pub stdout: PathBuf,
    /// The file its standard error (the log) goes to.
    pub stderr: PathBuf,
}

impl Process {
    /// Starts `ferry ARGS` with HOME `home`, its output in files in `dir`.
    pub fn spawn(name: &str, dir: &Path, home: &Path, args: &[&str]) -> Process {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .env("HOME", home)
            .env("FERRY_LOG", std::env::var("FERRY_LOG").unwrap_or_else(|_| "info".to_owned()))
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("log file"))
            .spawn()
            .expect("spawn ferry");
        Process { name: name.to_owned(), child: Some(child), stdout, stderr }
    }

    /// What it printed on standard output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The last lines of its log (standard error).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    /// Waits until stdout has a line starting with `prefix`; returns the
    /// rest of it. Fails early, with the log, if the process exits.
    pub async fn line_after(&mut self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(rest) = self.output().lines().find_map(|l| l.strip_prefix(prefix).map(str::to_owned)) {
                return rest;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
                panic!("{} exited with {status} before printing {prefix:?}; log:\n{}", self.name, self.log_tail());
            }
            assert!(
                start.elapsed() < super::START_DEADLINE,
                "{} did not print {prefix:?}; stdout:\n{}\nlog:\n{}",
                self.name,
                self.output(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process with SIGKILL, as a crash would (no drain, no
    /// flushing), and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (INT or TERM) and waits for the exit status.
    pub async fn stop(&mut self, signal: &str) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{signal}"), &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid}");
        self.wait_exit(SHUTDOWN_DEADLINE).await
    }

    /// Waits (polling) for the process to exit by itself.
    pub async fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                start.elapsed() < deadline,
                "{} did not exit within {deadline:?}; log:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- {} stdout ----\n{}\n---- {} log (last lines) ----\n{}\n----",
                self.name,
                self.output(),
                self.name,
                self.log_tail()
            );
        }
    }
}

/// `GET path` over plain HTTP/1.0 (the controller's endpoint); the body of a
/// 200, or an error.
pub async fn http_get(addr: &str, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP head: {response}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(head.to_owned());
    }
    Ok(body.to_owned())
}
