//! Smart HTTP with Basic auth: a tiny HTTP/1.1 server that runs `git http-backend` as a CGI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use source::{Credentials, SourceError};
use tokio::io::AsyncWriteExt;

use crate::support::{Upstream, cache, files_under, git};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pa55word";

struct Backend {
    project_root: PathBuf,
}

/// Serve `project_root` over smart HTTP on loopback, requiring `USER`/`PASSWORD`.
async fn serve(project_root: PathBuf) -> SocketAddr {
    let app = axum::Router::new().fallback(cgi).with_state(Arc::new(Backend { project_root }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn authorized(request: &Request) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Basic {expected}"))
}

async fn cgi(State(backend): State<Arc<Backend>>, request: Request) -> Response {
    if !authorized(&request) {
        let mut response = Response::new(Body::from("authentication required"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"test\""));
        return response;
    }
    let (parts, body) = request.into_parts();
    // hyper has already decoded a chunked request body.
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let header_value =
        |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &backend.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_value(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header_value(header::CONTENT_ENCODING))
        .env("HTTP_GIT_PROTOCOL", header_value(header::HeaderName::from_static("git-protocol")))
        .env("REMOTE_USER", USER)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
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

/// Split CGI output into headers (with the `Status:` pseudo-header) and body.
fn cgi_response(output: &[u8]) -> Response {
    let (head, body) = match find(output, b"\r\n\r\n") {
        Some(at) => (&output[..at], &output[at + 4..]),
        None => match find(output, b"\n\n") {
            Some(at) => (&output[..at], &output[at + 2..]),
            None => (&output[..0], output),
        },
    };
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
            *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) =
            (header::HeaderName::from_bytes(name.trim().as_bytes()), HeaderValue::from_str(value))
        {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A bare repo `repo.git` under a served project root, with one commit on main.
async fn served_repo() -> (tempfile::TempDir, Upstream, String, String) {
    let upstream = Upstream::new();
    let sha = upstream.commit(&[("app/cm.yaml", "kind: ConfigMap\n")], "one");
    let root = tempfile::tempdir().unwrap();
    git(root.path(), &["clone", "-q", "--bare", &upstream.url(), "repo.git"]);
    let addr = serve(root.path().to_path_buf()).await;
    (root, upstream, format!("http://{addr}/repo.git"), sha)
}

fn creds(password: &str) -> Credentials {
    Credentials { username: Some(USER.to_string()), password: Some(password.to_string()), ..Credentials::default() }
}

fn assert_no_secret_on_disk(root: &std::path::Path, secret: &str) {
    for file in files_under(root) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(find(&bytes, secret.as_bytes()).is_none(), "{} contains the password", file.display());
    }
}

#[tokio::test]
async fn right_credentials_fetch_and_leave_no_trace() {
    let (_served, _upstream, url, sha) = served_repo().await;
    let (root, cache) = cache();
    cache.fetch(&url, Some(&creds(PASSWORD))).await.unwrap();
    assert_eq!(cache.resolve(&url, "main").await.unwrap(), sha);
    let dir = cache.checkout(&url, &sha).await.unwrap();
    assert!(dir.join("app/cm.yaml").is_file());
    // A second fetch reuses the mirror through the same auth path.
    cache.fetch(&url, Some(&creds(PASSWORD))).await.unwrap();
    assert_no_secret_on_disk(root.path(), PASSWORD);
    assert_eq!(std::fs::read_dir(root.path().join("cache/tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn password_in_the_url_is_used_but_never_stored() {
    let (_served, _upstream, url, sha) = served_repo().await;
    let with_password = url.replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1);
    let (root, cache) = cache();
    cache.fetch(&with_password, None).await.unwrap();
    // The URL with and without userinfo is the same repo.
    assert_eq!(cache.resolve(&url, "HEAD").await.unwrap(), sha);
    assert_no_secret_on_disk(root.path(), PASSWORD);
}

#[tokio::test]
async fn wrong_credentials_fail_clearly_without_the_password() {
    let (_served, _upstream, url, _sha) = served_repo().await;
    let (_root, cache) = cache();
    let wrong = "wr0ng-Pa55word-xyz";
    let error = cache.fetch(&url, Some(&creds(wrong))).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    assert!(message.contains("Authentication failed"), "{message}");
    assert!(message.contains(&url), "names the repo: {message}");
    assert!(!message.contains(wrong), "{message}");
    assert!(!format!("{error:?}").contains(wrong));
    let not_fetched = cache.resolve(&url, "main").await;
    assert!(matches!(not_fetched, Err(SourceError::NotFetched { .. })), "{not_fetched:?}");
}

#[tokio::test]
async fn missing_credentials_fail_instead_of_prompting() {
    let (_served, _upstream, url, _sha) = served_repo().await;
    let (_root, cache) = cache();
    let error = cache.fetch(&url, None).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    assert!(message.contains("authentication required") && !message.contains("askpass"), "{message}");
}
