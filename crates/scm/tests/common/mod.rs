//! Shared by the fake SCM servers: request recording, an in-memory pull-request store with the
//! behaviour all three providers document, and serving a router on loopback.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::Value;

/// The token the fakes accept.
pub const TOKEN: &str = "s3cr3t-t0ken";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// Where a fake pull request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Closed,
    Merged,
}

/// A pull request in the fake.
#[derive(Debug, Clone)]
pub struct Pr {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub source: String,
    pub target: String,
    pub state: PrState,
    pub merge_sha: Option<String>,
}

/// Why a fake merge is refused.
pub enum Refusal {
    NotFound,
    NotOpen,
    HeadMoved,
}

/// The fake's data.
#[derive(Debug, Default)]
pub struct Store {
    pub prs: Vec<Pr>,
    pub comments: Vec<(u64, String)>,
    /// Branch heads; a test moves a branch by changing its entry.
    pub heads: HashMap<String, String>,
    pub requests: Vec<Recorded>,
}

impl Store {
    pub fn head(&self, branch: &str) -> String {
        self.heads.get(branch).cloned().unwrap_or_else(|| format!("{:0>40}", branch.len()))
    }

    pub fn open_for(&self, source: &str, target: &str) -> Option<&Pr> {
        self.prs.iter().find(|p| p.state == PrState::Open && p.source == source && p.target == target)
    }

    pub fn create(&mut self, source: &str, target: &str, title: &str, body: &str) -> Pr {
        let pr = Pr {
            number: self.prs.len() as u64 + 1,
            title: title.into(),
            body: body.into(),
            source: source.into(),
            target: target.into(),
            state: PrState::Open,
            merge_sha: None,
        };
        self.prs.push(pr.clone());
        pr
    }

    pub fn get_mut(&mut self, number: u64) -> Option<&mut Pr> {
        self.prs.iter_mut().find(|p| p.number == number)
    }

    pub fn merge(&mut self, number: u64, expected_head: Option<&str>) -> Result<Pr, Refusal> {
        let source = self.prs.iter().find(|p| p.number == number).map(|p| p.source.clone()).ok_or(Refusal::NotFound)?;
        let head = self.head(&source);
        let pr = self.get_mut(number).ok_or(Refusal::NotFound)?;
        if pr.state != PrState::Open {
            return Err(Refusal::NotOpen);
        }
        if expected_head.is_some_and(|e| e != head) {
            return Err(Refusal::HeadMoved);
        }
        pr.state = PrState::Merged;
        pr.merge_sha = Some(format!("{:0>40x}", 0xabc000 + number));
        Ok(pr.clone())
    }

    /// The requests that are not `GET`s.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests.iter().filter(|r| r.method != "GET").cloned().collect()
    }
}

pub type Shared = Arc<Mutex<Store>>;

async fn record(State(store): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    store.lock().unwrap().requests.push(recorded);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Serve `router` (whose state is `store`) on 127.0.0.1; the base URL.
pub async fn serve(router: Router<Shared>, store: Shared) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = router.layer(middleware::from_fn_with_state(store.clone(), record)).with_state(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The value of `name` in a query string.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}
