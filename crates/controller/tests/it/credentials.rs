//! Repository credentials from Secrets labelled
//! `ferry.dev/secret-type: repository`, against a real smart-HTTP git server
//! that requires Basic auth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use application::secrets::RepoSecret;
use application::{Application, ApplicationConditionType};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::io::AsyncWriteExt;

const USER: &str = "ferry";
const PASSWORD: &str = "s3cret";
/// `Basic` credentials of `ferry:s3cret` (`echo -n ferry:s3cret | base64`);
/// a constant saves this test crate a base64 dependency.
const EXPECTED_AUTHORIZATION: &str = "Basic ZmVycnk6czNjcmV0";

/// A git server on loopback: `git http-backend` as a CGI behind axum,
/// serving the bare repos under `root` to requests with the right Basic
/// credentials only.
struct GitServer {
    _root: tempfile::TempDir,
    addr: SocketAddr,
}

impl GitServer {
    /// Serves a bare clone of `repo` as `/repo.git`.
    async fn serve(repo: &Repo) -> GitServer {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("repo.git");
        let output = std::process::Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(repo.path())
            .arg(&target)
            .output()
            .unwrap();
        assert!(output.status.success(), "git clone --bare: {}", String::from_utf8_lossy(&output.stderr));
        let app = axum::Router::new().fallback(cgi).with_state(Arc::new(root.path().to_path_buf()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitServer { _root: root, addr }
    }

    fn repo_url(&self) -> String {
        format!("http://{}/repo.git", self.addr)
    }

    /// The server's root URL: a credential template for every repo on it.
    fn prefix_url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

async fn cgi(State(project_root): State<Arc<PathBuf>>, request: Request) -> Response {
    let authorized = request.headers().get(header::AUTHORIZATION).is_some_and(|v| v == EXPECTED_AUTHORIZATION);
    if !authorized {
        let mut response = Response::new(Body::from("authentication required"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"test\""));
        return response;
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let header_value = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", project_root.as_ref())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_value("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header_value("content-encoding"))
        .env("HTTP_GIT_PROTOCOL", header_value("git-protocol"))
        .env("REMOTE_USER", USER)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await.unwrap();
    writer.await.unwrap();
    cgi_response(&output.stdout)
}

/// Splits CGI output into headers (with the `Status:` pseudo-header) and body.
fn cgi_response(output: &[u8]) -> Response {
    let split = |sep: &[u8]| output.windows(sep.len()).position(|w| w == sep).map(|at| (at, sep.len()));
    let (head, body) = match split(b"\r\n\r\n").or_else(|| split(b"\n\n")) {
        Some((at, len)) => (&output[..at], &output[at + len..]),
        None => (&output[..0], output),
    };
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
            *response.status_mut() = StatusCode::from_u16(code).unwrap();
        } else {
            response.headers_mut().append(
                header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
    }
    response
}

/// A repo with one ConfigMap under `app/`; returns it and its commit.
fn config_repo() -> (Repo, String) {
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "from-http"));
    let sha = repo.commit("first");
    (repo, sha)
}

/// Stores credentials for `url` (a repo URL or a prefix) as a repository
/// Secret, server-side applied as `ferry repo add` would write it; applying
/// again replaces the password.
async fn apply_repo_secret(env: &Env, url: &str, password: &str) -> Secret {
    let secret = RepoSecret {
        url: url.to_owned(),
        username: Some(USER.to_owned()),
        password: Some(password.to_owned()),
        ..RepoSecret::default()
    }
    .to_secret(application::NAMESPACE);
    let name = secret.metadata.name.clone().unwrap();
    let secrets: Api<Secret> = Api::namespaced(env.client(), application::NAMESPACE);
    secrets.patch(&name, &PatchParams::apply("credentials-test").force(), &Patch::Apply(&secret)).await.unwrap()
}

async fn request_hard_refresh(env: &Env, name: &str) {
    env.patch_app(name, json!({"metadata": {"annotations": {application::REFRESH_ANNOTATION: "hard"}}})).await;
}

fn assert_no_password(app: &Application) {
    let text = serde_json::to_string(app).unwrap();
    assert!(!text.contains(PASSWORD), "the application shows the password:\n{text}");
}

fn comparison_error(app: &Application) -> Option<String> {
    app.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == ApplicationConditionType::ComparisonError)
        .map(|c| c.message.clone())
}

/// Synced, Healthy, at `sha`, with the ConfigMap from git in the cluster.
async fn assert_deployed(env: &Env, name: &str, sha: &str) {
    let app = env.wait_synced_healthy(name).await;
    assert_eq!(app.status.as_ref().and_then(|s| s.sync.as_ref()).and_then(|s| s.revision.as_deref()), Some(sha));
    assert_eq!(comparison_error(&app), None, "the error condition is cleared");
    assert_no_password(&app);
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    let cm = maps.get("settings").await.unwrap();
    assert_eq!(cm.data.unwrap()["value"], "from-http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_then_wrong_then_right_credentials() {
    let env = Env::start().await;
    let (repo, sha) = config_repo();
    let server = GitServer::serve(&repo).await;
    let url = server.repo_url();
    env.create_app(app_json("private", &url, "app", "demo", json!({}))).await;

    // No Secret: the server's 401 becomes a condition naming the repo.
    let app = env.wait_app("private", "a ComparisonError", |app| comparison_error(app).is_some()).await;
    let message = comparison_error(&app).unwrap();
    assert!(message.contains(&url), "names the repo: {message}");
    assert_no_password(&app);

    // A wrong password: git's "Authentication failed", without the password.
    let wrong = "wr0ng-pa55";
    apply_repo_secret(&env, &url, wrong).await;
    request_hard_refresh(&env, "private").await;
    let app = env
        .wait_app("private", "an authentication failure", |app| {
            comparison_error(app).is_some_and(|m| m.to_lowercase().contains("authentication failed"))
        })
        .await;
    let message = comparison_error(&app).unwrap();
    assert!(message.contains(&url), "names the repo: {message}");
    let text = serde_json::to_string(&app).unwrap();
    assert!(!text.contains(wrong), "the application shows the wrong password:\n{text}");
    assert_no_password(&app);

    // The right password and a refresh: the app syncs.
    apply_repo_secret(&env, &url, PASSWORD).await;
    request_hard_refresh(&env, "private").await;
    assert_deployed(&env, "private", &sha).await;
}

/// An app whose private repo has no Secret at all says that credentials are
/// needed and how to add them, naming the repo once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_credentials_condition_says_authentication_is_required() {
    let env = Env::start().await;
    let (repo, _sha) = config_repo();
    let server = GitServer::serve(&repo).await;
    env.create_app(app_json("private", &server.repo_url(), "app", "demo", json!({}))).await;
    let app = env.wait_app("private", "a ComparisonError", |app| comparison_error(app).is_some()).await;
    let message = comparison_error(&app).unwrap();
    assert!(message.contains("authentication required"), "says why: {message}");
    assert!(message.contains("ferry repo add"), "says what to do: {message}");
    assert_eq!(message.matches(&server.repo_url()).count(), 1, "names the repo once: {message}");
    assert!(!message.contains("askpass"), "no git jargon: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_credential_template_for_the_server_prefix_is_used_for_its_repos() {
    let env = Env::start().await;
    let (repo, sha) = config_repo();
    let server = GitServer::serve(&repo).await;
    let template = apply_repo_secret(&env, &server.prefix_url(), PASSWORD).await;
    let data = template.data.as_ref().unwrap();
    assert_eq!(data["url"].0, server.prefix_url().as_bytes(), "the Secret holds the prefix, not the repo URL");

    env.create_app(app_json("templated", &server.repo_url(), "app", "demo", json!({}))).await;
    assert_deployed(&env, "templated", &sha).await;
}
