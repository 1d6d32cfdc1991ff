//! Chart discovery from an HTTP chart repository: an `index.yaml` served by a tiny axum server
//! of the test's own, one copy open and one behind basic auth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use promotion::{ChartSubscription, DiscoveredArtifacts, Subscription};
use warehouse::{DiscoveryContext, DiscoveryError, RegistryCredentials, discover};

const INDEX: &str = r#"apiVersion: v1
entries:
  web:
  - apiVersion: v2
    name: web
    version: 1.2.0
    created: "2024-02-01T00:00:00Z"
    digest: 0a
    urls: [web-1.2.0.tgz]
  - name: web
    version: 2.0.0-beta.1
    urls: [web-2.0.0-beta.1.tgz]
  - name: web
    version: 0.9.0
    urls: [web-0.9.0.tgz]
  - name: web
    version: 1.10.1
    urls: [web-1.10.1.tgz]
  api:
  - name: api
    version: 3.0.0
    urls: [api-3.0.0.tgz]
generated: "2024-02-01T00:00:00Z"
"#;

/// "Basic ZmVycnk6Y2hhcnQtcGFzcw==" is `ferry:chart-pass`.
async fn private_index(headers: HeaderMap) -> (StatusCode, &'static str) {
    let authorized = headers.get("authorization").is_some_and(|v| v == "Basic ZmVycnk6Y2hhcnQtcGFzcw==");
    if authorized { (StatusCode::OK, INDEX) } else { (StatusCode::UNAUTHORIZED, "unauthorized") }
}

async fn serve() -> String {
    let app = Router::new()
        .route("/charts/index.yaml", get(|| async { INDEX }))
        .route("/private/index.yaml", get(private_index));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn run(
    repo_url: String,
    name: &str,
    constraint: Option<&str>,
    credentials: Option<RegistryCredentials>,
) -> Result<DiscoveredArtifacts, DiscoveryError> {
    let dir = tempfile::tempdir().unwrap();
    let git = source::GitCache::new(source::CacheConfig::new(dir.path())).unwrap();
    let lookup = move |_: &str| credentials.clone();
    let ctx = DiscoveryContext { git: &git, git_credentials: &|_| None, registry_credentials: &lookup };
    let sub = Subscription {
        chart: Some(ChartSubscription {
            repo_url,
            name: Some(name.to_owned()).filter(|n| !n.is_empty()),
            semver_constraint: constraint.map(str::to_owned),
            ..ChartSubscription::default()
        }),
        ..Subscription::default()
    };
    discover(&sub, &ctx).await
}

fn versions(found: &DiscoveredArtifacts) -> Vec<&str> {
    found.charts.iter().map(|c| c.version.as_str()).collect()
}

#[tokio::test]
async fn versions_of_one_chart_highest_first() {
    let base = serve().await;
    let repo = format!("{base}/charts/");
    let all = run(repo.clone(), "web", None, None).await.unwrap();
    assert_eq!(versions(&all), ["1.10.1", "1.2.0", "0.9.0"]);
    assert_eq!(all.charts[0].name, "web");
    assert_eq!(all.charts[0].repo_url, repo);
    let ones = run(repo.clone(), "web", Some("^1.2"), None).await.unwrap();
    assert_eq!(versions(&ones), ["1.10.1", "1.2.0"]);
    let beta = run(repo.clone(), "web", Some(">=2.0.0-beta.0, <3"), None).await.unwrap();
    assert_eq!(versions(&beta), ["2.0.0-beta.1"]);

    let error = run(repo.clone(), "db", None, None).await.unwrap_err().to_string();
    assert!(error.contains("get chart index") && error.contains("no chart named \"db\""), "{error}");
    let error = run(repo, "", None, None).await.unwrap_err().to_string();
    assert!(error.contains("needs its name"), "{error}");
    let error = run(format!("{base}/missing"), "web", None, None).await.unwrap_err().to_string();
    assert!(error.contains("HTTP 404"), "{error}");
}

#[tokio::test]
async fn credentials_reach_a_private_repository() {
    let base = serve().await;
    let repo = format!("{base}/private");
    let error = run(repo.clone(), "api", None, None).await.unwrap_err().to_string();
    assert!(error.contains("requires credentials (HTTP 401)"), "{error}");
    let wrong = RegistryCredentials { username: Some("ferry".to_owned()), password: "not-it".to_owned() };
    let error = run(repo.clone(), "api", None, Some(wrong)).await.unwrap_err().to_string();
    assert!(error.contains("refused the credentials") && !error.contains("not-it"), "{error}");
    let right = RegistryCredentials { username: Some("ferry".to_owned()), password: "chart-pass".to_owned() };
    let found = run(repo, "api", None, Some(right)).await.unwrap();
    assert_eq!(versions(&found), ["3.0.0"]);
}

#[tokio::test]
async fn an_unreachable_repository_says_so() {
    let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let error = run(format!("http://{address}"), "web", None, None).await.unwrap_err().to_string();
    assert!(error.contains("unreachable") && error.contains(&address.to_string()), "{error}");
}
