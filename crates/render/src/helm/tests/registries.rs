//! Charts from an HTTP chart repository (a tiny server of the test's own)
//! and from an OCI registry (Debian's `docker-registry`), both on loopback,
//! pulled through both backends; and a dependency that `charts/` lacks,
//! built from the repository in a scratch copy.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::super::ffi;
use super::*;

/// Packages `testdata/helm/packaged/<name>` into `dest`; returns the archive.
fn package(name: &str, dest: &Path) -> PathBuf {
    let lib = ffi::load(&library()).unwrap();
    let chart = testdata().join("packaged").join(name);
    let options = serde_json::json!({"destination": dest.display().to_string()}).to_string();
    PathBuf::from(lib.package(&chart, &options).unwrap())
}

/// Serves the files of `dir` over HTTP/1.1 on a free loopback port, for the
/// rest of the test process; returns the base URL.
fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
            let file = dir.join(&path);
            let (status, body) = match fs::read(&file) {
                Ok(body) if !path.contains("..") => ("200 OK", body),
                _ => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// A chart repository holding the `greeter` chart; returns its URL.
fn chart_repository() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    package("greeter", dir.path());
    let url = serve(dir.path().to_path_buf());
    let lib = ffi::load(&library()).unwrap();
    let options = serde_json::json!({"base_url": url}).to_string();
    lib.repo_index_generate(dir.path(), &options).unwrap();
    assert!(dir.path().join("index.yaml").is_file());
    (dir, url)
}

#[test]
fn helm_pull_from_http_chart_repository() {
    let (_repo, url) = chart_repository();
    for (name, tools) in backends() {
        let dest = tempfile::tempdir().unwrap();
        let request = ChartPull {
            repo_url: url.clone(),
            chart: "greeter".into(),
            version: "0.2.0".into(),
            ..ChartPull::default()
        };
        let dir = pull_chart(&tools, &request, dest.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dir, dest.path().join("greeter"));
        let chart = fs::read_to_string(dir.join("Chart.yaml")).unwrap();
        assert!(chart.contains("version: 0.2.0"), "{name}: {chart}");

        let missing = ChartPull { version: "9.9.9".into(), ..request };
        let error = pull_chart(&tools, &missing, tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(
            matches!(&error, RenderError::ToolFailed { message, .. } if message.contains("9.9.9")),
            "{name}: {error:?}"
        );
    }
}

#[test]
fn helm_dependency_missing_from_charts_is_built_in_scratch() {
    let (_repo, url) = chart_repository();
    let checkout = tempfile::tempdir().unwrap();
    let chart = checkout.path().join("app");
    fs::create_dir_all(chart.join("templates")).unwrap();
    fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: greeter\n    version: 0.2.0\n    repository: {url}\n"),
    )
    .unwrap();
    fs::write(chart.join("values.yaml"), "greeter:\n  greeting: hi from app\n").unwrap();
    fs::write(chart.join("templates/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n").unwrap();
    let before = snapshot(checkout.path());
    for (name, tools) in backends() {
        let (manifests, _) = render_helm(checkout.path(), "app", &HelmSource::default(), &app(), &tools)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let greeter = manifests
            .iter()
            .find(|m| m.file.starts_with("app/charts/greeter/"))
            .unwrap_or_else(|| panic!("{name}: {manifests:?}"));
        assert_eq!(greeter.object["data"]["greeting"], "hi from app", "{name}");
        assert_eq!(snapshot(checkout.path()), before, "{name}: the checkout was modified");
    }
}

/// A `docker-registry` on a free loopback port with a temp storage dir,
/// killed (by its pid) on drop.
struct Registry {
    child: Child,
    address: String,
    _storage: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry() -> Registry {
    let program = crate::process::on_path("docker-registry")
        .unwrap_or_else(|| panic!("docker-registry is not installed: apt-get install -y docker-registry"));
    let storage = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let config = storage.path().join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {address}}}\n",
            storage.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(program)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening_log(&mut child, &address);
    Registry { child, address, _storage: storage }
}

/// Waits (up to 20 s) for the registry to log that it listens: its stderr is
/// read on a thread that keeps draining it afterwards, so the pipe never fills.
fn wait_listening_log(child: &mut Child, address: &str) {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready, listening) = std::sync::mpsc::channel();
    let wanted = format!("listening on {address}");
    std::thread::spawn(move || {
        let mut ready = Some(ready);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&wanted)
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("docker-registry did not start listening on {address}"));
}

#[test]
fn helm_pull_from_oci_registry() {
    let registry = start_registry();
    let dir = tempfile::tempdir().unwrap();
    let archive = package("greeter", dir.path());
    let lib = ffi::load(&library()).unwrap();
    let remote = format!("oci://{}/charts", registry.address);
    lib.push(&archive, &remote, r#"{"plain_http": true}"#).unwrap();
    for (name, tools) in backends() {
        let dest = tempfile::tempdir().unwrap();
        let request = ChartPull {
            repo_url: remote.clone(),
            chart: "greeter".into(),
            version: "0.2.0".into(),
            ..ChartPull::default()
        };
        let chart = pull_chart(&tools, &request, dest.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(fs::read_to_string(chart.join("Chart.yaml")).unwrap().contains("name: greeter"), "{name}");
        // The pulled chart renders like any other.
        let (manifests, _) = render_helm(dest.path(), "greeter", &HelmSource::default(), &app(), &tools).unwrap();
        assert_eq!(manifests[0].object["data"]["greeting"], "hello", "{name}");

        let missing = ChartPull { chart: "absent".into(), ..request };
        let error = pull_chart(&tools, &missing, tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(matches!(error, RenderError::ToolFailed { .. }), "{name}: {error:?}");
    }
}
