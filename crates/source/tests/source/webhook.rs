//! Webhook parsing: golden payloads in `testdata/webhook/<case>/` (`headers`, `body.json`,
//! `expected.txt`; refresh with `FERRY_BLESS=1`) and signature checks.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use source::normalize_url;
use source::webhook::{Provider, WebhookError, WebhookSecrets, parse};

const GITHUB_SECRET: &str = "github-secret";
const GITEA_SECRET: &str = "gitea-secret";
const GITLAB_TOKEN: &str = "gitlab-token";

fn secrets() -> WebhookSecrets {
    WebhookSecrets {
        github: Some(GITHUB_SECRET.into()),
        gitlab: Some(GITLAB_TOKEN.into()),
        gitea: Some(GITEA_SECRET.into()),
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/webhook")
}

fn headers_of(case: &Path) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let text = std::fs::read_to_string(case.join("headers")).unwrap();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    headers
}

/// Headers plus the signatures a correctly configured sender adds.
fn signed(mut headers: HeaderMap, body: &[u8]) -> HeaderMap {
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&format!("sha256={}", hmac_hex(GITHUB_SECRET, body))).unwrap(),
    );
    headers.insert("x-gitea-signature", HeaderValue::from_str(&hmac_hex(GITEA_SECRET, body)).unwrap());
    headers
}

#[test]
fn golden_payloads() {
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 7);
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    for case in cases {
        let body = std::fs::read(case.join("body.json")).unwrap();
        let result = parse(&signed(headers_of(&case), &body), &body, &secrets());
        let mut actual = format!("{result:#?}\n");
        if let Ok(Some(event)) = &result {
            actual.push_str("normalized:\n");
            for url in &event.repo_urls {
                actual.push_str(&format!("  {}\n", normalize_url(url)));
            }
        }
        let expected_path = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(actual, expected, "{} (FERRY_BLESS=1 to refresh)", case.display());
    }
}

fn github_push() -> (HeaderMap, Vec<u8>) {
    let case = testdata().join("github-push");
    (headers_of(&case), std::fs::read(case.join("body.json")).unwrap())
}

#[test]
fn github_signature_ok_bad_missing() {
    let (headers, body) = github_push();
    let good = signed(headers.clone(), &body);
    assert!(matches!(parse(&good, &body, &secrets()), Ok(Some(_))));

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(parse(&good, &tampered, &secrets()), Err(WebhookError::BadSignature { provider: Provider::GitHub }));
    let mut wrong_prefix = headers.clone();
    wrong_prefix.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&format!("sha1={}", hmac_hex(GITHUB_SECRET, &body))).unwrap(),
    );
    assert_eq!(parse(&wrong_prefix, &body, &secrets()), Err(WebhookError::BadSignature { provider: Provider::GitHub }));
    let mut not_hex = headers.clone();
    not_hex.insert("x-hub-signature-256", HeaderValue::from_static("sha256=zz"));
    assert_eq!(parse(&not_hex, &body, &secrets()), Err(WebhookError::BadSignature { provider: Provider::GitHub }));
    assert_eq!(parse(&headers, &body, &secrets()), Err(WebhookError::MissingSignature { provider: Provider::GitHub }));
    // Without a configured secret, unsigned payloads are accepted.
    let open = WebhookSecrets::default();
    assert!(matches!(parse(&headers, &body, &open), Ok(Some(_))));
}

#[test]
fn gitlab_token_ok_bad_missing() {
    let case = testdata().join("gitlab-push");
    let body = std::fs::read(case.join("body.json")).unwrap();
    let headers = headers_of(&case);
    assert!(matches!(parse(&headers, &body, &secrets()), Ok(Some(_))));
    let mut wrong = headers.clone();
    wrong.insert("x-gitlab-token", HeaderValue::from_static("gitlab-tokeN"));
    assert_eq!(parse(&wrong, &body, &secrets()), Err(WebhookError::BadSignature { provider: Provider::GitLab }));
    let mut missing = headers.clone();
    missing.remove("x-gitlab-token");
    assert_eq!(parse(&missing, &body, &secrets()), Err(WebhookError::MissingSignature { provider: Provider::GitLab }));
    assert!(matches!(parse(&missing, &body, &WebhookSecrets::default()), Ok(Some(_))));
}

#[test]
fn gitea_signature_ok_bad_missing() {
    let case = testdata().join("gitea-push");
    let body = std::fs::read(case.join("body.json")).unwrap();
    let headers = headers_of(&case);
    let event = parse(&signed(headers.clone(), &body), &body, &secrets()).unwrap().unwrap();
    assert_eq!(event.provider, Provider::Gitea);
    let mut wrong = headers.clone();
    wrong.insert("x-gitea-signature", HeaderValue::from_str(&hmac_hex("other", &body)).unwrap());
    assert_eq!(parse(&wrong, &body, &secrets()), Err(WebhookError::BadSignature { provider: Provider::Gitea }));
    // A GitHub-style signature is not Gitea's header.
    let mut github_style = headers.clone();
    github_style.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&format!("sha256={}", hmac_hex(GITEA_SECRET, &body))).unwrap(),
    );
    assert_eq!(
        parse(&github_style, &body, &secrets()),
        Err(WebhookError::MissingSignature { provider: Provider::Gitea })
    );
}

#[test]
fn pings_are_verified_then_ignored() {
    let case = testdata().join("github-ping");
    let body = std::fs::read(case.join("body.json")).unwrap();
    let headers = headers_of(&case);
    assert_eq!(parse(&signed(headers.clone(), &body), &body, &secrets()), Ok(None));
    assert_eq!(parse(&headers, &body, &secrets()), Err(WebhookError::MissingSignature { provider: Provider::GitHub }));
}

#[test]
fn unknown_sender_and_bad_payloads_are_errors() {
    let (_, body) = github_push();
    let result = parse(&HeaderMap::new(), &body, &secrets());
    assert_eq!(result, Err(WebhookError::UnknownProvider));

    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", HeaderValue::from_static("push"));
    for bad in
        [&b"not json"[..], b"{\"ref\": \"refs/heads/main\"}", b"{\"repository\": {\"html_url\": \"https://h/r\"}}"]
    {
        let result = parse(&headers, bad, &WebhookSecrets::default());
        assert!(matches!(result, Err(WebhookError::InvalidPayload { provider: Provider::GitHub, .. })), "{result:?}");
    }
}

#[test]
fn secrets_debug_is_masked() {
    let debug = format!("{:?}", secrets());
    assert!(!debug.contains(GITHUB_SECRET) && !debug.contains(GITLAB_TOKEN) && !debug.contains(GITEA_SECRET));
}
