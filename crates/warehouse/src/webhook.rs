//! Which subscriptions a push webhook concerns, so that a push refreshes only the Warehouses
//! subscribed to what was pushed.

use oci_client::Reference;
use promotion::Subscription;

/// Whether a push of `pushed` concerns the subscription.
///
/// - git: `pushed` is a repository URL; both sides are compared by [`source::normalize_url`]
///   (scheme and host case, default ports, userinfo, `.git` and scp-like forms don't matter).
/// - image: `pushed` is an image reference (`registry/path/name`, with or without a tag or
///   digest or `oci://`); registry and repository must be equal, with Docker Hub's short forms
///   (`nginx`, `docker.io/library/nginx`) treated as one.
/// - chart: an OCI chart compares like an image; an HTTP repository compares by URL, ignoring
///   scheme and host case and a trailing `/`.
pub fn matches_push(sub: &Subscription, pushed: &str) -> bool {
    if let Some(git) = &sub.git {
        return source::normalize_url(&git.repo_url) == source::normalize_url(pushed);
    }
    if let Some(image) = &sub.image {
        return same_image_repository(&image.repo_url, pushed);
    }
    if let Some(chart) = &sub.chart {
        let repo = chart.repo_url.trim();
        if repo.starts_with("oci://") || !pushed.contains("://") || pushed.trim().starts_with("oci://") {
            return same_image_repository(repo, pushed);
        }
        return same_http_url(repo, pushed);
    }
    false
}

/// Registry (lowercased) and repository of an image reference, tag and digest dropped.
fn image_repository(reference: &str) -> Option<(String, String)> {
    let reference = reference.trim().trim_start_matches("oci://").trim_end_matches('/');
    if reference.contains("://") {
        return None;
    }
    let parsed = Reference::try_from(reference).ok()?;
    Some((parsed.resolve_registry().to_ascii_lowercase(), parsed.repository().to_owned()))
}

fn same_image_repository(subscribed: &str, pushed: &str) -> bool {
    match (image_repository(subscribed), image_repository(pushed)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn same_http_url(subscribed: &str, pushed: &str) -> bool {
    let canonical = |url: &str| {
        let url = url.trim().trim_end_matches('/');
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_owned();
        };
        let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let host = host.rsplit('@').next().unwrap_or(host);
        let host = host.to_ascii_lowercase();
        let host = match scheme.to_ascii_lowercase().as_str() {
            "https" => host.strip_suffix(":443").unwrap_or(&host).to_owned(),
            "http" => host.strip_suffix(":80").unwrap_or(&host).to_owned(),
            _ => host,
        };
        format!("{host}/{path}")
    };
    canonical(subscribed) == canonical(pushed)
}
