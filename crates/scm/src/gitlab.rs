//! GitLab (gitlab.com and self-managed) over the REST API v4
//! (`/projects/{url-encoded path}/merge_requests`), with `PRIVATE-TOKEN: <token>`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use crate::http::{self, AuthScheme, Call, Http};
use crate::{
    MergeOptions, OpenPullRequest, Operation, PullRequestInfo, PullRequestRef, PullRequestState, ScmError, ScmProvider,
};

/// The GitLab provider.
#[derive(Debug, Clone)]
pub struct GitLab {
    http: Http,
    api: Option<Url>,
}

/// A merge request as GitLab returns it (the fields ferry reads).
#[derive(Debug, Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
    /// `opened`, `closed`, `locked` or `merged`.
    state: String,
    source_branch: String,
    /// The source branch's head.
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
    #[serde(default)]
    squash_commit_sha: Option<String>,
}

impl GitLab {
    /// A provider for `api_url` (default: `https://<host>/api/v4` of each repository),
    /// authenticating with `token`.
    pub fn new(api_url: Option<&str>, token: Option<String>) -> Result<GitLab, ScmError> {
        let http = Http::new(token, AuthScheme::PrivateToken, &[])?;
        Ok(GitLab { http, api: http::parse_api_url(api_url)? })
    }

    /// `{api}/projects/{group%2Fproject}/merge_requests/<rest…>`.
    fn mr_url(&self, operation: Operation, repo_url: &str, rest: &[&str]) -> Result<Url, ScmError> {
        let location = http::parse_repo_url(operation, repo_url)?;
        let (api, segments) = match &self.api {
            Some(api) => {
                // A GitLab served under a path prefix (`https://host/gitlab/api/v4`) has
                // repository URLs under the same prefix; the project path excludes it.
                let prefix: Vec<&str> =
                    api.path_segments().map(|s| s.filter(|s| !s.is_empty()).collect::<Vec<_>>()).unwrap_or_default();
                let prefix = prefix.strip_suffix(&["api", "v4"]).unwrap_or(&[]);
                let segments: Vec<&str> = location.segments.iter().map(String::as_str).collect();
                let segments = match segments.strip_prefix(prefix) {
                    Some(rest) if rest.len() >= 2 => rest.to_vec(),
                    _ => segments,
                };
                (api.clone(), segments.join("/"))
            }
            None => (http::host_url(operation, repo_url, &location, "/api/v4")?, location.segments.join("/")),
        };
        let mut path = vec!["projects", segments.as_str(), "merge_requests"];
        path.extend_from_slice(rest);
        Ok(http::api_url(&api, &path))
    }

    fn info(repo_url: &str, mr: MergeRequest) -> PullRequestInfo {
        let state = match mr.state.as_str() {
            "merged" => PullRequestState::Merged,
            "closed" => PullRequestState::Closed,
            // `locked` is a transient state while GitLab merges.
            _ => PullRequestState::Open,
        };
        let merge_commit = match state {
            // Fast-forward projects make no merge commit: the target is then the source head.
            PullRequestState::Merged => mr.merge_commit_sha.or(mr.squash_commit_sha).or_else(|| mr.sha.clone()),
            _ => None,
        };
        PullRequestInfo {
            repo_url: repo_url.to_string(),
            id: mr.iid.to_string(),
            url: mr.web_url,
            state,
            head_sha: mr.sha,
            merge_commit,
        }
    }
}

#[async_trait::async_trait]
impl ScmProvider for GitLab {
    async fn open_pull_request(&self, request: &OpenPullRequest) -> Result<PullRequestInfo, ScmError> {
        crate::open_or_update(self, request, || async {
            let call = Call { operation: Operation::Open, repo_url: &request.repo_url };
            let url = self.mr_url(call.operation, &request.repo_url, &[])?;
            let body = json!({
                "source_branch": request.source_branch,
                "target_branch": request.target_branch,
                "title": request.title,
                "description": request.body,
            });
            let mr: MergeRequest = self.http.json(call, Method::POST, url, Some(&body)).await?;
            Ok(Self::info(&request.repo_url, mr))
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
        let mut url = self.mr_url(call.operation, repo_url, &[])?;
        url.query_pairs_mut()
            .append_pair("state", "opened")
            .append_pair("source_branch", source_branch)
            .append_pair("target_branch", target_branch)
            .append_pair("per_page", "100");
        let mrs: Vec<MergeRequest> = self.http.json(call, Method::GET, url, None).await?;
        Ok(mrs.into_iter().find(|mr| mr.source_branch == source_branch).map(|mr| Self::info(repo_url, mr)))
    }

    async fn update(&self, pr: &PullRequestRef, title: &str, body: &str) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Update, repo_url: &pr.repo_url };
        let url = self.mr_url(call.operation, &pr.repo_url, &[&pr.id])?;
        let body = json!({ "title": title, "description": body });
        let mr: MergeRequest = self.http.json(call, Method::PUT, url, Some(&body)).await?;
        Ok(Self::info(&pr.repo_url, mr))
    }

    async fn comment(&self, pr: &PullRequestRef, body: &str) -> Result<(), ScmError> {
        let call = Call { operation: Operation::Comment, repo_url: &pr.repo_url };
        let url = self.mr_url(call.operation, &pr.repo_url, &[&pr.id, "notes"])?;
        self.http.send(call, Method::POST, url, Some(&json!({ "body": body }))).await?;
        Ok(())
    }

    async fn merge(&self, pr: &PullRequestRef, options: &MergeOptions) -> Result<String, ScmError> {
        let call = Call { operation: Operation::Merge, repo_url: &pr.repo_url };
        let current = self.get(pr).await?;
        if let Some(done) = crate::already_merged(call, &current)? {
            return Ok(done);
        }
        let url = self.mr_url(call.operation, &pr.repo_url, &[&pr.id, "merge"])?;
        let mut body = json!({});
        if let Some(promotion) = &options.promotion {
            // GitLab's message replaces its default entirely; keep the usual first line.
            body["merge_commit_message"] =
                json!(format!("Merge request !{}\n\n{}: {promotion}", pr.id, promotion::PROMOTION_TRAILER));
        }
        if let Some(sha) = &options.expected_head {
            body["sha"] = json!(sha);
        }
        let mr: MergeRequest = self.http.json(call, Method::PUT, url, Some(&body)).await?;
        let merged = Self::info(&pr.repo_url, mr);
        match merged.merge_commit {
            Some(sha) => Ok(sha),
            None => Err(ScmError::Decode {
                operation: call.operation,
                repo: http::display_repo(&pr.repo_url),
                message: format!("merge request !{} is {:?} after merging, with no merge commit", pr.id, merged.state),
            }),
        }
    }

    async fn get(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Get, repo_url: &pr.repo_url };
        let url = self.mr_url(call.operation, &pr.repo_url, &[&pr.id])?;
        let mr: MergeRequest = self.http.json(call, Method::GET, url, None).await?;
        Ok(Self::info(&pr.repo_url, mr))
    }

    async fn close(&self, pr: &PullRequestRef) -> Result<PullRequestInfo, ScmError> {
        let call = Call { operation: Operation::Close, repo_url: &pr.repo_url };
        let current = self.get(pr).await?;
        match crate::check_closable(call, &current)? {
            Some(closed) => Ok(closed),
            None => {
                let url = self.mr_url(call.operation, &pr.repo_url, &[&pr.id])?;
                let body = json!({ "state_event": "close" });
                let mr: MergeRequest = self.http.json(call, Method::PUT, url, Some(&body)).await?;
                Ok(Self::info(&pr.repo_url, mr))
            }
        }
    }
}
