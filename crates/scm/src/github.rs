//! GitHub (github.com and GitHub Enterprise Server) over the REST API
//! (`/repos/{owner}/{repo}/pulls`), with `Authorization: Bearer <token>`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::http::{self, AuthScheme, Call, Http, RepoLocation};
use crate::{
    MergeOptions, OpenPullRequest, Operation, PullRequestInfo, PullRequestRef, PullRequestState, ScmError, ScmProvider,
};

/// The GitHub provider.
#[derive(Debug, Clone)]
pub struct GitHub {
    http: Http,
    api: Option<Url>,
}

/// A pull request as GitHub returns it (the fields ferry reads).
#[derive(Debug, Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
    state: String,
    /// Only in single-pull answers.
    #[serde(default)]
    merged: bool,
    /// In list answers too.
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    head: Branch,
}

#[derive(Debug, Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

/// The answer of `PUT /pulls/{n}/merge`.
#[derive(Debug, Deserialize)]
struct Merged {
    sha: String,
}

impl GitHub {
    /// A provider for `api_url` (default: `https://api.github.com` for github.com repositories,
    /// `https://<host>/api/v3` for others), authenticating with `token`.
    pub fn new(api_url: Option<&str>, token: Option<String>) -> Result<GitHub, ScmError> {
        let http = Http::new(
            token,
            AuthScheme::Bearer,
            &[("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")],
        )?;
        Ok(GitHub { http, api: http::parse_api_url(api_url)? })
    }

    /// `{api}/repos/{owner}/{repo}/<rest…>`, and the owner.
    fn repo_url(&self, operation: Operation, repo_url: &str, rest: &[&str]) -> Result<(Url, String), ScmError> {
        let location = http::parse_repo_url(operation, repo_url)?;
        let api = match &self.api {
            Some(api) => api.clone(),
            None => default_api(operation, repo_url, &location)?,
        };
        let (owner, repo) = http::owner_repo(&location);
        let mut segments = vec!["repos", owner, repo];
        segments.extend_from_slice(rest);
        Ok((http::api_url(&api, &segments), owner.to_string()))
    }

    fn info(repo_url: &str, pull: Pull) -> PullRequestInfo {
        let state = if pull.merged || pull.merged_at.is_some() {
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
            head_sha: Some(pull.head.sha),
            // On an open pull request this is GitHub's test merge, not a commit of the target.
            merge_commit: if state == PullRequestState::Merged { pull.merge_commit_sha } else { None },
        }
    }
}

fn default_api(operation: Operation, repo_url: &str, location: &RepoLocation) -> Result<Url, ScmError> {
    if location.host == "github.com" {
        http::host_url(operation, repo_url, &RepoLocation { host: "api.github.com".into(), ..location.clone() }, "/")
    } else {
        http::host_url(operation, repo_url, location, "/api/v3")
    }
}

#[async_trait::async_trait]
impl ScmProvider for GitHub {
    async fn open_pull_request(&self, request: &OpenPullRequest) -> Result<PullRequestInfo, ScmError> {
        crate::open_or_update(self, request, || async {
            let call = Call { operation: Operation::Open, repo_url: &request.repo_url };
            let (url, _) = self.repo_url(call.operation, &request.repo_url, &["pulls"])?;
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
        let call = Call { operation: Operation::FindOpen, repo_url };
        let (mut url, owner) = self.repo_url(call.operation, repo_url, &["pulls"])?;
        url.query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("head", &format!("{owner}:{source_branch}"))
            .append_pair("base", target_branch)
            .append_pair("per_page", "100");
        let pulls: Vec<Pull> = self.http.json(call, Method::GET, url, None).await?;
        Ok(pulls.into_iter().find(|p| p.head.name == source_branch).map(|p| Self::info(repo_url, p)))
    }

    async fn update(&self, pr: &PullRequestRef, title: &str, body: &str) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Update, repo_url: &pr.repo_url };
        let (url, _) = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id])?;
        let body = json!({ "title": title, "body": body });
        let pull: Pull = self.http.json(call, Method::PATCH, url, Some(&body)).await?;
        Ok(Self::info(&pr.repo_url, pull))
    }

    async fn comment(&self, pr: &PullRequestRef, body: &str) -> Result<(), ScmError> {
        let call = Call { operation: Operation::Comment, repo_url: &pr.repo_url };
        // Conversation comments of a pull request are its issue's comments.
        let (url, _) = self.repo_url(call.operation, &pr.repo_url, &["issues", &pr.id, "comments"])?;
        self.http.send(call, Method::POST, url, Some(&json!({ "body": body }))).await?;
        Ok(())
    }

    async fn merge(&self, pr: &PullRequestRef, options: &MergeOptions) -> Result<String, ScmError> {
        let call = Call { operation: Operation::Merge, repo_url: &pr.repo_url };
        let current = self.get(pr).await?;
        if let Some(done) = crate::already_merged(call, &current)? {
            return Ok(done);
        }
        let (url, _) = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id, "merge"])?;
        let mut body = json!({ "merge_method": "merge" });
        if let Some(promotion) = &options.promotion {
            body["commit_message"] = json!(format!("{}: {promotion}", promotion::PROMOTION_TRAILER));
        }
        if let Some(sha) = &options.expected_head {
            body["sha"] = json!(sha);
        }
        let merged: Merged = self.http.json(call, Method::PUT, url, Some(&body)).await?;
        Ok(merged.sha)
    }

    async fn get(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Get, repo_url: &pr.repo_url };
        let (url, _) = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id])?;
        let pull: Pull = self.http.json(call, Method::GET, url, None).await?;
        Ok(Self::info(&pr.repo_url, pull))
    }

    async fn close(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Close, repo_url: &pr.repo_url };
        let current = self.get(pr).await?;
        match crate::check_closable(call, &current)? {
            Some(closed) => Ok(closed),
            None => {
                let (url, _) = self.repo_url(call.operation, &pr.repo_url, &["pulls", &pr.id])?;
                let pull: Pull = self.http.json(call, Method::PATCH, url, Some(&json!({ "state": "closed" }))).await?;
                Ok(Self::info(&pr.repo_url, pull))
            }
        }
    }
}
