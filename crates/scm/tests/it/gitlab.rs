//! The GitLab provider against a fake that follows GitLab's REST API v4 documentation.

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
use scm::{MergeOptions, OpenPullRequest, PullRequestState, ScmError, ScmProvider, gitlab::GitLab};
use serde_json::{Value, json};

/// A nested group, as GitLab allows.
const REPO: &str = "git@gitlab.example:platform/deploy/app.git";
const PROJECT: &str = "platform/deploy/app";

fn mr_json(store: &Store, pr: &Pr) -> Value {
    json!({
        "id": 1000 + pr.number,
        "iid": pr.number,
        "project_id": 7,
        "title": pr.title,
        "description": pr.body,
        "state": match pr.state { PrState::Open => "opened", PrState::Closed => "closed", PrState::Merged => "merged" },
        "source_branch": pr.source,
        "target_branch": pr.target,
        "sha": store.head(&pr.source),
        "merge_commit_sha": pr.merge_sha,
        "squash_commit_sha": null,
        "web_url": format!("https://gitlab.example/{PROJECT}/-/merge_requests/{}", pr.number),
    })
}

fn error(status: StatusCode, message: Value) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// GitLab answers 404 for a project the token cannot see, and checks the token first.
fn check(headers: &HeaderMap, project: &str) -> Result<(), Response> {
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return Err(error(StatusCode::UNAUTHORIZED, json!("401 Unauthorized")));
    }
    if project != PROJECT {
        return Err(error(StatusCode::NOT_FOUND, json!("404 Project Not Found")));
    }
    Ok(())
}

async fn list(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = check(&headers, &project) {
        return e;
    }
    let store = store.lock().unwrap();
    let mrs: Vec<Value> = store
        .prs
        .iter()
        .filter(|p| match query.get("state").map(String::as_str) {
            Some("opened") => p.state == PrState::Open,
            Some("closed") => p.state == PrState::Closed,
            Some("merged") => p.state == PrState::Merged,
            _ => true,
        })
        .filter(|p| query.get("source_branch").is_none_or(|b| *b == p.source))
        .filter(|p| query.get("target_branch").is_none_or(|b| *b == p.target))
        .map(|p| mr_json(&store, p))
        .collect();
    Json(mrs).into_response()
}

async fn create(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = check(&headers, &project) {
        return e;
    }
    let mut store = store.lock().unwrap();
    let (source, target) = (body["source_branch"].as_str().unwrap(), body["target_branch"].as_str().unwrap());
    if let Some(existing) = store.open_for(source, target) {
        let message = format!("Another open merge request already exists for this source branch: !{}", existing.number);
        return error(StatusCode::CONFLICT, json!([message]));
    }
    let pr =
        store.create(source, target, body["title"].as_str().unwrap(), body["description"].as_str().unwrap_or_default());
    (StatusCode::CREATED, Json(mr_json(&store, &pr))).into_response()
}

async fn get_one(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((project, iid)): Path<(String, u64)>,
) -> Response {
    if let Err(e) = check(&headers, &project) {
        return e;
    }
    let store = store.lock().unwrap();
    match store.prs.iter().find(|p| p.number == iid) {
        Some(pr) => Json(mr_json(&store, pr)).into_response(),
        None => error(StatusCode::NOT_FOUND, json!("404 Not found")),
    }
}

async fn put_one(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((project, iid)): Path<(String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = check(&headers, &project) {
        return e;
    }
    let mut store = store.lock().unwrap();
    let Some(pr) = store.get_mut(iid) else { return error(StatusCode::NOT_FOUND, json!("404 Not found")) };
    if let Some(title) = body["title"].as_str() {
        pr.title = title.into();
    }
    if let Some(description) = body["description"].as_str() {
        pr.body = description.into();
    }
    if body["state_event"] == "close" && pr.state == PrState::Open {
        pr.state = PrState::Closed;
    }
    let pr = pr.clone();
    Json(mr_json(&store, &pr)).into_response()
}

async fn note(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((project, iid)): Path<(String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = check(&headers, &project) {
        return e;
    }
    let mut store = store.lock().unwrap();
    store.comments.push((iid, body["body"].as_str().unwrap_or_default().to_string()));
    (StatusCode::CREATED, Json(json!({ "id": store.comments.len(), "body": body["body"], "noteable_iid": iid })))
        .into_response()
}

async fn merge(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((project, iid)): Path<(String, u64)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(e) = check(&headers, &project) {
        return e;
    }
    let mut store = store.lock().unwrap();
    match store.merge(iid, body["sha"].as_str()) {
        Ok(pr) => Json(mr_json(&store, &pr)).into_response(),
        Err(Refusal::NotFound) => error(StatusCode::NOT_FOUND, json!("404 Not found")),
        Err(Refusal::NotOpen) => error(StatusCode::METHOD_NOT_ALLOWED, json!("405 Method Not Allowed")),
        Err(Refusal::HeadMoved) => error(StatusCode::CONFLICT, json!("SHA does not match HEAD of source branch")),
    }
}

async fn start() -> (GitLab, Shared) {
    let store: Shared = Arc::new(Mutex::new(Store::default()));
    let router = Router::new()
        .route("/api/v4/projects/{project}/merge_requests", get(list).post(create))
        .route("/api/v4/projects/{project}/merge_requests/{iid}", get(get_one).put(put_one))
        .route("/api/v4/projects/{project}/merge_requests/{iid}/notes", post(note))
        .route("/api/v4/projects/{project}/merge_requests/{iid}/merge", put(merge));
    let base = common::serve(router, store.clone()).await;
    (GitLab::new(Some(&format!("{base}/api/v4")), Some(TOKEN.to_string())).unwrap(), store)
}

fn request(title: &str, body: &str) -> OpenPullRequest {
    OpenPullRequest {
        repo_url: REPO.into(),
        source_branch: "environment/prod-next".into(),
        target_branch: "environment/prod".into(),
        title: title.into(),
        body: body.into(),
    }
}

const MRS_PATH: &str = "/api/v4/projects/platform%2Fdeploy%2Fapp/merge_requests";

#[tokio::test]
async fn open_creates_then_updates_in_place() {
    let (gitlab, store) = start().await;
    let first = gitlab.open_pull_request(&request("Promote v1", "diff 1")).await.unwrap();
    assert_eq!(first.id, "1");
    assert_eq!(first.url, "https://gitlab.example/platform/deploy/app/-/merge_requests/1");
    assert_eq!(first.state, PullRequestState::Open);
    let second = gitlab.open_pull_request(&request("Promote v2", "diff 2")).await.unwrap();
    assert_eq!(second.id, "1");

    let store = store.lock().unwrap();
    assert_eq!(store.prs.len(), 1);
    assert_eq!((store.prs[0].title.as_str(), store.prs[0].body.as_str()), ("Promote v2", "diff 2"));
    let find = &store.requests[0];
    assert_eq!((find.method.as_str(), find.path.as_str()), ("GET", MRS_PATH));
    assert_eq!(common::query_value(&find.query, "state").as_deref(), Some("opened"));
    assert_eq!(common::query_value(&find.query, "source_branch").as_deref(), Some("environment/prod-next"));
    assert_eq!(common::query_value(&find.query, "target_branch").as_deref(), Some("environment/prod"));
    let writes = store.writes();
    assert_eq!(writes.len(), 2);
    assert_eq!((writes[0].method.as_str(), writes[0].path.as_str()), ("POST", MRS_PATH));
    assert_eq!(
        writes[0].body,
        json!({"source_branch": "environment/prod-next", "target_branch": "environment/prod",
               "title": "Promote v1", "description": "diff 1"})
    );
    assert_eq!(writes[0].headers["private-token"], TOKEN);
    assert!(!writes[0].headers.contains_key("authorization"));
    assert_eq!((writes[1].method.as_str(), writes[1].path.as_str()), ("PUT", format!("{MRS_PATH}/1").as_str()));
    assert_eq!(writes[1].body, json!({"title": "Promote v2", "description": "diff 2"}));
}

#[tokio::test]
async fn comment_merge_close() {
    let (gitlab, store) = start().await;
    store.lock().unwrap().heads.insert("environment/prod-next".into(), "1".repeat(40));
    let pr = gitlab.open_pull_request(&request("Promote", "")).await.unwrap();
    assert_eq!(pr.head_sha.as_deref(), Some("1".repeat(40).as_str()));
    gitlab.comment(&pr.reference(), "waiting for approval").await.unwrap();

    let stale = MergeOptions { expected_head: Some("2".repeat(40)), promotion: None };
    assert!(matches!(gitlab.merge(&pr.reference(), &stale).await.unwrap_err(), ScmError::Conflict { .. }));
    let options = MergeOptions { expected_head: Some("1".repeat(40)), promotion: Some("prod-1".into()) };
    let sha = gitlab.merge(&pr.reference(), &options).await.unwrap();
    assert_eq!(gitlab.merge(&pr.reference(), &options).await.unwrap(), sha);
    let merged = gitlab.get(&pr.reference()).await.unwrap();
    assert_eq!((merged.state, merged.merge_commit.as_deref()), (PullRequestState::Merged, Some(sha.as_str())));
    let error = gitlab.close(&pr.reference()).await.unwrap_err();
    assert!(matches!(error, ScmError::WrongState { state: PullRequestState::Merged, .. }), "{error}");

    let other = gitlab.open_pull_request(&request("Next", "")).await.unwrap();
    assert_eq!(other.id, "2");
    assert_eq!(gitlab.close(&other.reference()).await.unwrap().state, PullRequestState::Closed);

    let store = store.lock().unwrap();
    assert_eq!(store.comments, vec![(1, "waiting for approval".to_string())]);
    let writes = store.writes();
    let note = writes.iter().find(|r| r.path.ends_with("/notes")).unwrap();
    assert_eq!((note.method.as_str(), note.path.as_str()), ("POST", format!("{MRS_PATH}/1/notes").as_str()));
    assert_eq!(note.body, json!({"body": "waiting for approval"}));
    let merges: Vec<_> = writes.iter().filter(|r| r.path.ends_with("/merge")).collect();
    assert_eq!(merges.len(), 2);
    assert_eq!(merges[1].method, "PUT");
    assert_eq!(merges[1].body["sha"], json!("1".repeat(40)));
    let message = merges[1].body["merge_commit_message"].as_str().unwrap();
    assert!(message.ends_with("\n\nFerry-Promotion: prod-1"), "{message}");
    let close = writes.last().unwrap();
    assert_eq!((close.method.as_str(), close.path.as_str()), ("PUT", format!("{MRS_PATH}/2").as_str()));
    assert_eq!(close.body, json!({"state_event": "close"}));
}

#[tokio::test]
async fn http_failures_map_to_clear_errors() {
    let (gitlab, _store) = start().await;
    let unknown = OpenPullRequest { repo_url: "https://gitlab.example/other/app.git".into(), ..request("x", "") };
    let error = gitlab.open_pull_request(&unknown).await.unwrap_err();
    assert!(matches!(error, ScmError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("404 Project Not Found"), "{error}");
    assert!(error.to_string().starts_with("find open pull request on https://gitlab.example/other/app.git"), "{error}");

    let bad = GitLab::new(Some("not a url"), None);
    assert!(matches!(bad, Err(ScmError::Config { .. })));
}
