//! Gitea (and Forgejo) over the REST API v1 (`/repos/{owner}/{repo}/pulls`), with
//! `Authorization: token <token>`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::http::{self, AuthScheme, Call, Http};
use crate::{
    MergeOptions, OpenPullRequest, Operation, PullRequestInfo, PullRequestRef, PullRequestState, ScmError, ScmProvider,
};

/// Page size when listing open pull requests (Gitea's default maximum is 50).
const PAGE_LIMIT: usize = 50;

/// Pages read at most when looking for an open pull request.
const MAX_PAGES: usize = 20;

/// The Gitea provider.
#[derive(Debug, Clone)]
pub struct Gitea {
    http: Http,
    api: Option<Url>,
}

/// A pull request as Gitea returns it (the fields ferry reads).
#[derive(Debug, Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: Branch,
    base: Branch,
}

#[derive(Debug, Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: Option<String>,
}

impl Gitea {
    /// A provider for `api_url` (default: `https://<host>/api/v1` of each repository),
    /// authenticating with `token`.
    pub fn new(api_url: Option<&str>, token: Option<String>) -> Result<Gitea, ScmError> {
        let http = Http::new(token, AuthScheme::Token, &[])?;
        Ok(Gitea { http, api: http::parse_api_url(api_url)? })
    }

    /// `{api}/repos/{owner}/{repo}/<rest…>`.
    fn repo_url(&self, operation: Operation, repo_url: &str, rest: &[&str]) -> Result<Url, ScmError> {
        let location = http::parse_repo_url(operation, repo_url)?;
        let api = match &self.api {
            Some(api) => api.clone(),
            None => {
                // A Gitea under a path prefix serves its API under that prefix too.
                let prefix = &location.segments[..location.segments.len() - 2];
                let path =
                    if prefix.is_empty() { "/api/v1".to_string() } else { format!("/{}/api/v1", prefix.join("/")) };
                http::host_url(operation, repo_url, &location, &path)?
            }
        };
        let (owner, repo) = http::owner_repo(&location);
        let mut segments = vec!["repos", owner, repo];
        segments.extend_from_slice(rest);
        Ok(http::api_url(&api, &segments))
    }

    fn info(repo_url: &str, pull: Pull) -> PullRequestInfo {
        let state = if pull.merged {
            PullRequestState::Merged
        } else if pull.state == "closed" {
            PullRequestState::Closed
        } else {
            PullRequestState::Open
        };
        PullRequestInfo {
            repo_url: repo_url.to_string(),
            id: pull.number.to_string(),
            url: pull.html_url,
            state,
            head_sha: pull.head.sha,
            merge_commit: if state == PullRequestState::Merged { pull.merge_commit_sha } else { None },
        }
    }
}

#[async_trait::async_trait]
impl ScmProvider for Gitea {
    async fn open_pull_request(&self, request: &OpenPullRequest) -> Result<PullRequestInfo, ScmError> {
        crate::open_or_update(self, request, || async {
            let call = Call { operation: Operation::Open, repo_url: &request.repo_url };
            let url = self.repo_url(call.operation, &request.repo_url, &["pulls"])?;
            let body = json!({
                "title": request.title,
                "body": request.body,
                "head": request.source_branch,
                "base": request.target_branch,
            });
            let pull: Pull = self.http.json(call, Method::POST, url, Some(&body)).await?;
            Ok(Self::info(&request.repo_url, pull))
        })
        .await
    }

    async fn find_open(
        &self,
        repo_url: &str,
        source_branch: &str,
        target_branch: &str,
    ) -> Result<Option<PullRequestInfo>, ScmError> {
        // Gitea's list cannot filter by head branch; page through the open ones.
        let call = Call { operation: Operation::FindOpen, repo_url };
        for page in 1..=MAX_PAGES {
            let mut url = self.repo_url(call.operation, repo_url, &["pulls"])?;
            url.query_pairs_mut()
                .append_pair("state", "open")
                .append_pair("page", &page.to_string())
                .append_pair("limit", &PAGE_LIMIT.to_string());
            let pulls: Vec<Pull> = self.http.json(call, Method::GET, url, None).await?;
            let count = pulls.len();
            if let Some(found) =
                pulls.into_iter().find(|p| p.head.name == source_branch && p.base.name == target_branch)
            {
                return Ok(Some(Self::info(repo_url, found)));
            }
            if count < PAGE_LIMIT {
                break;
            }
        }
        Ok(None)
    }

    async fn update(&self, pr: &PullRequestRef, title: &str, body: &str) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Update, repo_url: &pr.repo_url };
        let url = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id])?;
        let body = json!({ "title": title, "body": body });
        let pull: Pull = self.http.json(call, Method::PATCH, url, Some(&body)).await?;
        Ok(Self::info(&pr.repo_url, pull))
    }

    async fn comment(&self, pr: &PullRequestRef, body: &str) -> Result<(), ScmError> {
        let call = Call { operation: Operation::Comment, repo_url: &pr.repo_url };
        let url = self.repo_url(call.operation, &pr.repo_url, &["issues", &pr.id, "comments"])?;
        self.http.send(call, Method::POST, url, Some(&json!({ "body": body }))).await?;
        Ok(())
    }

    async fn merge(&self, pr: &PullRequestRef, options: &MergeOptions) -> Result<String, ScmError> {
        let call = Call { operation: Operation::Merge, repo_url: &pr.repo_url };
        let current = self.get(pr).await?;
        if let Some(done) = crate::already_merged(call, &current)? {
            return Ok(done);
        }
        let url = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id, "merge"])?;
        let mut body = json!({ "Do": "merge" });
        if let Some(promotion) = &options.promotion {
            body["MergeMessageField"] = json!(format!("{}: {promotion}", promotion::PROMOTION_TRAILER));
        }
        if let Some(sha) = &options.expected_head {
            body["head_commit_id"] = json!(sha);
        }
        // Gitea answers an empty 200; the merge commit is on the pull request afterwards.
        self.http.send(call, Method::POST, url, Some(&body)).await?;
        let merged = self.get(pr).await?;
        match crate::already_merged(call, &merged)? {
            Some(sha) => Ok(sha),
            None => Err(ScmError::Decode {
                operation: call.operation,
                repo: http::display_repo(&pr.repo_url),
                message: format!("pull request {} is still open after merging", pr.id),
            }),
        }
    }

    async fn get(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Get, repo_url: &pr.repo_url };
        let url = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id])?;
        let pull: Pull = self.http.json(call, Method::GET, url, None).await?;
        Ok(Self::info(&pr.repo_url, pull))
    }

    async fn close(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Close, repo_url: &pr.repo_url };
        let current = self.get(pr).await?;
        match crate::check_closable(call, &current)? {
            Some(closed) => Ok(closed),
            None => {
                let url = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id])?;
                let pull: Pull = self.http.json(call, Method::PATCH, url, Some(&json!({ "state": "closed" }))).await?;
                Ok(Self::info(&pr.repo_url, pull))
            }
        }
    }
}
