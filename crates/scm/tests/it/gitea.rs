//! The Gitea provider against a fake that follows Gitea's API v1 documentation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{Pr, PrState, Refusal, Shared, Store, TOKEN};
use scm::{MergeOptions, OpenPullRequest, PullRequestState, ScmError, ScmProvider, gitea::Gitea};
use serde_json::{Value, json};

const REPO: &str = "https://gitea.example/acme/app.git";

fn pull_json(store: &Store, pr: &Pr) -> Value {
    json!({
        "id": 500 + pr.number,
        "number": pr.number,
        "title": pr.title,
        "body": pr.body,
        "state": if pr.state == PrState::Open { "open" } else { "closed" },
        "merged": pr.state == PrState::Merged,
        "merge_commit_sha": pr.merge_sha,
        "html_url": format!("https://gitea.example/acme/app/pulls/{}", pr.number),
        "head": { "ref": pr.source, "sha": store.head(&pr.source), "label": pr.source },
        "base": { "ref": pr.target, "sha": store.head(&pr.target), "label": pr.target },
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message, "url": "https://gitea.example/api/swagger" }))).into_response()
}

fn authorized(headers: &HeaderMap) -> Result<(), Response> {
    let expected = format!("token {TOKEN}");
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(value) if value == expected => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "token is required")),
    }
}

async fn list(
    State(store): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let store = store.lock().unwrap();
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let limit: usize = query.get("limit").and_then(|p| p.parse().ok()).unwrap_or(30).clamp(1, 50);
    let pulls: Vec<Value> = store
        .prs
        .iter()
        .filter(|p| match query.get("state").map(String::as_str).unwrap_or("open") {
            "open" => p.state == PrState::Open,
            "closed" => p.state != PrState::Open,
            _ => true,
        })
        .skip((page - 1) * limit)
        .take(limit)
        .map(|p| pull_json(&store, p))
        .collect();
    Json(pulls).into_response()
}

async fn create(State(store): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    let mut store = store.lock().unwrap();
    let (head, base) = (body["head"].as_str().unwrap(), body["base"].as_str().unwrap());
    if let Some(existing) = store.open_for(head, base) {
        let message = format!(
            "pull request already exists for these targets [id: {}, issue_id: {}]",
            existing.number, existing.number
        );
        return error(StatusCode::CONFLICT, &message);
    }
    let pr = store.create(head, base, body["title"].as_str().unwrap(), body["body"].as_str().unwrap_or_default());
    (StatusCode::CREATED, Json(pull_json(&store, &pr))).into_response()
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
        Some(pr) => Json(pull_json(&store, pr)).into_response(),
        None => error(StatusCode::NOT_FOUND, "The target couldn't be found."),
    }
}

/// Gitea's EditPullRequest answers 201.
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
    let Some(pr) = store.get_mut(n) else { return error(StatusCode::NOT_FOUND, "The target couldn't be found.") };
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
    (StatusCode::CREATED, Json(pull_json(&store, &pr))).into_response()
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

/// Gitea's MergePullRequest answers an empty 200.
async fn merge(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((_o, _r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = authorized(&headers) {
        return e;
    }
    if body["Do"] != "merge" {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "[Do]: Required");
    }
    let mut store = store.lock().unwrap();
    match store.merge(n, body["head_commit_id"].as_str()) {
        Ok(_) => StatusCode::OK.into_response(),
        Err(Refusal::NotFound) => error(StatusCode::NOT_FOUND, "The target couldn't be found."),
        Err(Refusal::NotOpen) => error(StatusCode::METHOD_NOT_ALLOWED, "The PR is already merged"),
        Err(Refusal::HeadMoved) => error(StatusCode::CONFLICT, "head out of date"),
    }
}

async fn start() -> (Gitea, Shared) {
    let store: Shared = Arc::new(Mutex::new(Store::default()));
    let router = Router::new()
        .route("/api/v1/repos/{owner}/{repo}/pulls", get(list).post(create))
        .route("/api/v1/repos/{owner}/{repo}/pulls/{n}", get(get_one).patch(patch_one))
        .route("/api/v1/repos/{owner}/{repo}/pulls/{n}/merge", post(merge))
        .route("/api/v1/repos/{owner}/{repo}/issues/{n}/comments", post(comment));
    let base = common::serve(router, store.clone()).await;
    (Gitea::new(Some(&format!("{base}/api/v1")), Some(TOKEN.to_string())).unwrap(), store)
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
async fn open_finds_its_pr_past_the_first_page_and_updates_it() {
    let (gitea, store) = start().await;
    // 60 other open pull requests come first, so the match is on page 2.
    for i in 0..60 {
        store.lock().unwrap().create(&format!("feature-{i}"), "main", "other", "");
    }
    let first = gitea.open_pull_request(&request("Promote v1", "diff 1")).await.unwrap();
    assert_eq!(first.id, "61");
    assert_eq!(first.url, "https://gitea.example/acme/app/pulls/61");
    let second = gitea.open_pull_request(&request("Promote v2", "diff 2")).await.unwrap();
    assert_eq!(second.id, "61");

    let store = store.lock().unwrap();
    assert_eq!(store.prs.len(), 61, "no second PR");
    assert_eq!(store.prs[60].title, "Promote v2");
    let lists: Vec<_> = store.requests.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(lists[0].path, "/api/v1/repos/acme/app/pulls");
    assert_eq!(common::query_value(&lists[0].query, "state").as_deref(), Some("open"));
    assert_eq!(common::query_value(&lists[0].query, "page").as_deref(), Some("1"));
    assert_eq!(common::query_value(&lists[1].query, "page").as_deref(), Some("2"));
    let writes = store.writes();
    assert_eq!(writes.len(), 2);
    assert_eq!((writes[0].method.as_str(), writes[0].path.as_str()), ("POST", "/api/v1/repos/acme/app/pulls"));
    assert_eq!(
        writes[0].body,
        json!({"title": "Promote v1", "body": "diff 1", "head": "environment/staging-next", "base": "environment/staging"})
    );
    assert_eq!(writes[0].headers["authorization"], format!("token {TOKEN}"));
    assert_eq!((writes[1].method.as_str(), writes[1].path.as_str()), ("PATCH", "/api/v1/repos/acme/app/pulls/61"));
    assert_eq!(writes[1].body, json!({"title": "Promote v2", "body": "diff 2"}));
}

#[tokio::test]
async fn comment_merge_close() {
    let (gitea, store) = start().await;
    store.lock().unwrap().heads.insert("environment/staging-next".into(), "1".repeat(40));
    let pr = gitea.open_pull_request(&request("Promote", "")).await.unwrap();
    gitea.comment(&pr.reference(), "soaking").await.unwrap();

    let stale = MergeOptions { expected_head: Some("2".repeat(40)), promotion: None };
    assert!(matches!(gitea.merge(&pr.reference(), &stale).await.unwrap_err(), ScmError::Conflict { .. }));
    let options = MergeOptions { expected_head: Some("1".repeat(40)), promotion: Some("staging-7".into()) };
    let sha = gitea.merge(&pr.reference(), &options).await.unwrap();
    assert_eq!(gitea.merge(&pr.reference(), &options).await.unwrap(), sha, "merging again answers the same commit");
    assert_eq!(gitea.get(&pr.reference()).await.unwrap().merge_commit.as_deref(), Some(sha.as_str()));

    let other = gitea.open_pull_request(&request("Next", "")).await.unwrap();
    assert_eq!(gitea.close(&other.reference()).await.unwrap().state, PullRequestState::Closed);
    let error = gitea.merge(&other.reference(), &MergeOptions::default()).await.unwrap_err();
    assert!(matches!(error, ScmError::WrongState { state: PullRequestState::Closed, .. }), "{error}");

    let store = store.lock().unwrap();
    assert_eq!(store.comments, vec![(1, "soaking".to_string())]);
    let writes = store.writes();
    let comment = writes.iter().find(|r| r.path.ends_with("/comments")).unwrap();
    assert_eq!(comment.path, "/api/v1/repos/acme/app/issues/1/comments");
    let merges: Vec<_> = writes.iter().filter(|r| r.path.ends_with("/merge")).collect();
    assert_eq!(merges.len(), 2);
    assert_eq!((merges[1].method.as_str(), merges[1].path.as_str()), ("POST", "/api/v1/repos/acme/app/pulls/1/merge"));
    assert_eq!(
        merges[1].body,
        json!({"Do": "merge", "MergeMessageField": "Ferry-Promotion: staging-7", "head_commit_id": "1".repeat(40)})
    );
    let close = writes.last().unwrap();
    assert_eq!((close.method.as_str(), close.body.clone()), ("PATCH", json!({"state": "closed"})));
}

#[tokio::test]
async fn not_found_and_unreachable_servers_are_clear_errors() {
    let (gitea, _store) = start().await;
    let error = gitea.get(&scm::PullRequestRef { repo_url: REPO.into(), id: "1".into() }).await.unwrap_err();
    assert!(matches!(error, ScmError::NotFound { .. }), "{error}");
    let provider = scm::provider_for(
        scm::ProviderKind::Gitea,
        scm::ProviderConfig { api_url: Some("http://127.0.0.1:9/api/v1".into()), ..Default::default() },
    )
    .unwrap();
    // Nothing listens on the discard port: a transport error naming the operation.
    let error = provider.find_open(REPO, "a", "b").await.unwrap_err();
    assert!(matches!(error, ScmError::Transport { .. }), "{error}");
    assert_eq!(error.to_string(), "find open pull request on https://gitea.example/acme/app.git: request failed");
}
