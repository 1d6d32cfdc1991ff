//! `ferry health -f`: the offline health command, through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Write;
use std::process::{Command, Stdio};

fn ferry(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ferry");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const MANIFESTS: &str = "apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: db}
status:
  conditions: [{type: Failed, status: \"True\", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]
---
apiVersion: v1
kind: Service
metadata: {name: lb}
spec: {type: LoadBalancer}
";

#[test]
fn json_output_lists_every_object_with_its_health() {
    let (code, out, err) = ferry(&["health", "-f", "-", "-o", "json"], MANIFESTS);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rows = rows.as_array().expect("a list");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["kind"], "Job");
    assert_eq!(rows[0]["namespace"], "db");
    assert_eq!(rows[0]["status"], "Degraded");
    assert!(rows[0]["message"].as_str().unwrap().contains("backoff limit"), "{out}");
    assert_eq!(rows[1]["name"], "lb");
    assert_eq!(rows[1]["status"], "Progressing");
}

#[test]
fn table_output_and_errors() {
    let (code, out, _) = ferry(&["health", "-f", "-"], MANIFESTS);
    assert_eq!(code, 0);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["KIND", "NAMESPACE", "NAME", "STATUS", "MESSAGE"]);
    let (code, out, err) = ferry(&["health", "-f", "-"], "kind: [\n");
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
