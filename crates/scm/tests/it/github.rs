//! The GitHub provider against a fake that follows GitHub's REST API documentation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use common::{Pr, PrState, Refusal, Shared, Store, TOKEN};
use scm::{MergeOptions, OpenPullRequest, PullRequestState, ScmError, ScmProvider, github::GitHub};
use serde_json::{Value, json};

const REPO: &str = "https://github.com/acme/app.git";

fn pull_json(store: &Store, pr: &Pr, single: bool) -> Value {
    let mut value = json!({
        "number": pr.number,
        "html_url": format!("https://github.com/acme/app/pull/{}", pr.number),
        "state": if pr.state == PrState::Open { "open" } else { "closed" },
        "title": pr.title,
        "body": pr.body,
        "merged_at": if pr.state == PrState::Merged { json!("2025-01-01T00:00:00Z") } else { Value::Null },
        // GitHub reports a test merge commit on open pull requests.
        "merge_commit_sha": pr.merge_sha.clone().unwrap_or_else(|| "f".repeat(40)),
        "head": { "ref": pr.source, "sha": store.head(&pr.source), "label": format!("acme:{}", pr.source) },
        "base": { "ref": pr.target, "sha": store.head(&pr.target), "label": format!("acme:{}", pr.target) },
    });
    if single {
        value["merged"] = json!(pr.state == PrState::Merged);
    }
    value
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }))).into_response()
}

fn authorized(headers: &HeaderMap) -> Result<(), Response> {
    let expected = format!("Bearer {TOKEN}");
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(value) if value == expected => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "Bad credentials")),
    }
}

async fn list(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((owner, _repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let store = store.lock().unwrap();
    let pulls: Vec<Value> = store
        .prs
        .iter()
        .filter(|p| match query.get("state").map(String::as_str).unwrap_or("open") {
            "open" => p.state == PrState::Open,
            "closed" => p.state != PrState::Open,
            _ => true,
        })
        .filter(|p| query.get("head").is_none_or(|h| *h == format!("{owner}:{}", p.source)))
        .filter(|p| query.get("base").is_none_or(|b| *b == p.target))
        .map(|p| pull_json(&store, p, false))
        .collect();
    Json(pulls).into_response()
}

async fn create(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((owner, repo)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    if repo == "forbidden" {
        // Some servers echo what they were sent; the provider must mask it.
        let echoed = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        return error(StatusCode::FORBIDDEN, &format!("Resource not accessible by integration ({echoed})"));
    }
    let mut store = store.lock().unwrap();
    let (head, base) = (body["head"].as_str().unwrap(), body["base"].as_str().unwrap());
    if store.open_for(head, base).is_some() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "PullRequest", "code": "custom",
                             "message": format!("A pull request already exists for {owner}:{head}.") }],
            })),
        )
            .into_response();
    }
    let pr =
        store.create(head, base, body["title"].as_str().unwrap_or_default(), body["body"].as_str().unwrap_or_default());
    (StatusCode::CREATED, Json(pull_json(&store, &pr, true))).into_response()
}

async fn get_one(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((_o, _r, n)): Path<(String, String, u64)>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let store = store.lock().unwrap();
    match store.prs.iter().find(|p| p.number == n) {
        Some(pr) => Json(pull_json(&store, pr, true)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn patch_one(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((_o, _r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let mut store = store.lock().unwrap();
    let Some(pr) = store.get_mut(n) else { return error(StatusCode::NOT_FOUND, "Not Found") };
    if let Some(title) = body["title"].as_str() {
        pr.title = title.into();
    }
    if let Some(text) = body["body"].as_str() {
        pr.body = text.into();
    }
    if body["state"] == "closed" && pr.state == PrState::Open {
        pr.state = PrState::Closed;
    }
    let pr = pr.clone();
    Json(pull_json(&store, &pr, true)).into_response()
}

async fn comment(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((_o, _r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let mut store = store.lock().unwrap();
    store.comments.push((n, body["body"].as_str().unwrap_or_default().to_string()));
    (StatusCode::CREATED, Json(json!({ "id": store.comments.len(), "body": body["body"] }))).into_response()
}

async fn merge(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((_o, _r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let mut store = store.lock().unwrap();
    match store.merge(n, body["sha"].as_str()) {
        Ok(pr) => Json(json!({ "sha": pr.merge_sha, "merged": true, "message": "Pull Request successfully merged" }))
            .into_response(),
        Err(Refusal::NotFound) => error(StatusCode::NOT_FOUND, "Not Found"),
        Err(Refusal::NotOpen) => error(StatusCode::METHOD_NOT_ALLOWED, "Pull Request is not mergeable"),
        Err(Refusal::HeadMoved) => {
            error(StatusCode::CONFLICT, "Head branch was modified. Review and try the merge again.")
        }
    }
}

async fn start() -> (GitHub, Shared, String) {
    let store: Shared = Arc::new(Mutex::new(Store::default()));
    let router = Router::new()
        .route("/repos/{owner}/{repo}/pulls", get(list).post(create))
        .route("/repos/{owner}/{repo}/pulls/{n}", get(get_one).patch(patch_one))
        .route("/repos/{owner}/{repo}/pulls/{n}/merge", put(merge))
        .route("/repos/{owner}/{repo}/issues/{n}/comments", post(comment));
    let base = common::serve(router, store.clone()).await;
    (GitHub::new(Some(&base), Some(TOKEN.to_string())).unwrap(), store, base)
}

fn request(title: &str, body: &str) -> OpenPullRequest {
    OpenPullRequest {
        repo_url: REPO.into(),
        source_branch: "environment/staging-next".into(),
        target_branch: "environment/staging".into(),
        title: title.into(),
        body: body.into(),
    }
}

#[tokio::test]
async fn open_creates_then_updates_in_place() {
    let (github, store, _) = start().await;
    let first = github.open_pull_request(&request("Promote v1", "diff 1")).await.unwrap();
    assert_eq!(first.id, "1");
    assert_eq!(first.url, "https://github.com/acme/app/pull/1");
    assert_eq!(first.state, PullRequestState::Open);
    assert_eq!(first.merge_commit, None, "an open PR's test merge is not a merge commit");
    {
        let store = store.lock().unwrap();
        let find = &store.requests[0];
        assert_eq!((find.method.as_str(), find.path.as_str()), ("GET", "/repos/acme/app/pulls"));
        assert_eq!(common::query_value(&find.query, "head").as_deref(), Some("acme:environment/staging-next"));
        assert_eq!(common::query_value(&find.query, "base").as_deref(), Some("environment/staging"));
        assert_eq!(common::query_value(&find.query, "state").as_deref(), Some("open"));
        let create = &store.requests[1];
        assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/repos/acme/app/pulls"));
        assert_eq!(
            create.body,
            json!({"title": "Promote v1", "body": "diff 1", "head": "environment/staging-next", "base": "environment/staging"})
        );
        assert_eq!(create.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(create.headers["accept"], "application/vnd.github+json");
        assert_eq!(create.headers["x-github-api-version"], "2022-11-28");
        assert!(create.headers["user-agent"].starts_with("ferry/"));
    }

    let second = github.open_pull_request(&request("Promote v2", "diff 2")).await.unwrap();
    assert_eq!(second.id, "1", "the open PR is reused");
    let store = store.lock().unwrap();
    assert_eq!(store.prs.len(), 1, "no second PR");
    assert_eq!((store.prs[0].title.as_str(), store.prs[0].body.as_str()), ("Promote v2", "diff 2"));
    let writes = store.writes();
    assert_eq!(writes.len(), 2);
    assert_eq!((writes[1].method.as_str(), writes[1].path.as_str()), ("PATCH", "/repos/acme/app/pulls/1"));
    assert_eq!(writes[1].body, json!({"title": "Promote v2", "body": "diff 2"}));
}

#[tokio::test]
async fn comment_merge_and_idempotent_remerge() {
    let (github, store, _) = start().await;
    store.lock().unwrap().heads.insert("environment/staging-next".into(), "1".repeat(40));
    let pr = github.open_pull_request(&request("Promote", "")).await.unwrap();
    assert_eq!(pr.head_sha.as_deref(), Some("1".repeat(40).as_str()));
    github.comment(&pr.reference(), "gates passed").await.unwrap();

    let stale = MergeOptions { expected_head: Some("2".repeat(40)), promotion: None };
    let error = github.merge(&pr.reference(), &stale).await.unwrap_err();
    assert!(matches!(error, ScmError::Conflict { .. }), "{error}");

    let options = MergeOptions { expected_head: Some("1".repeat(40)), promotion: Some("staging-abc".into()) };
    let sha = github.merge(&pr.reference(), &options).await.unwrap();
    let again = github.merge(&pr.reference(), &options).await.unwrap();
    assert_eq!(sha, again);
    let merged = github.get(&pr.reference()).await.unwrap();
    assert_eq!(merged.state, PullRequestState::Merged);
    assert_eq!(merged.merge_commit.as_deref(), Some(sha.as_str()));

    let store = store.lock().unwrap();
    assert_eq!(store.comments, vec![(1, "gates passed".to_string())]);
    let comment = store.requests.iter().find(|r| r.path.ends_with("/comments")).unwrap();
    assert_eq!((comment.method.as_str(), comment.path.as_str()), ("POST", "/repos/acme/app/issues/1/comments"));
    let merges: Vec<_> = store.requests.iter().filter(|r| r.path.ends_with("/merge")).collect();
    assert_eq!(merges.len(), 2, "the stale attempt and the real one; the re-merge only reads");
    assert_eq!(merges[1].method, "PUT");
    assert_eq!(
        merges[1].body,
        json!({"merge_method": "merge", "sha": "1".repeat(40), "commit_message": "Ferry-Promotion: staging-abc"})
    );
}

#[tokio::test]
async fn close_then_merge_is_refused() {
    let (github, _store, _) = start().await;
    let pr = github.open_pull_request(&request("Promote", "")).await.unwrap();
    let closed = github.close(&pr.reference()).await.unwrap();
    assert_eq!(closed.state, PullRequestState::Closed);
    assert_eq!(github.close(&pr.reference()).await.unwrap().state, PullRequestState::Closed);
    let error = github.merge(&pr.reference(), &MergeOptions::default()).await.unwrap_err();
    assert!(matches!(error, ScmError::WrongState { state: PullRequestState::Closed, .. }), "{error}");
    // A closed PR is not found as open, so opening again makes a new one.
    let reopened = github.open_pull_request(&request("Promote", "")).await.unwrap();
    assert_eq!(reopened.id, "2");
}

#[tokio::test]
async fn errors_name_the_operation_and_never_the_token() {
    let (github, _store, _) = start().await;
    let missing = github.get(&scm::PullRequestRef { repo_url: REPO.into(), id: "99".into() }).await.unwrap_err();
    assert!(matches!(missing, ScmError::NotFound { .. }), "{missing}");
    assert!(missing.to_string().starts_with("get pull request on https://github.com/acme/app.git: not found (404)"));

    let forbidden = OpenPullRequest {
        repo_url: "https://x-access-token:ghp_inurl@github.com/acme/forbidden.git".into(),
        ..request("x", "")
    };
    let error = github.open_pull_request(&forbidden).await.unwrap_err();
    assert!(matches!(error, ScmError::Forbidden { .. }), "{error}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!text.contains("ghp_inurl"), "{text}");
    assert!(text.contains("Bearer ***"), "{text}");
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let (_github, _store, base) = start().await;
    let wrong = GitHub::new(Some(&base), Some("wrong-token".into())).unwrap();
    let error = wrong.find_open(REPO, "a", "b").await.unwrap_err();
    assert!(matches!(error, ScmError::Unauthorized { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "find open pull request on https://github.com/acme/app.git: unauthorized (401): the token is missing, invalid or expired"
    );
    let debug = format!("{wrong:?}");
    assert!(!debug.contains("wrong-token"), "{debug}");
}
