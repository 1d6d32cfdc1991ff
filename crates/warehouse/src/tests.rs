use promotion::{Chart, ChartSubscription, GitCommit, GitSubscription, Image, ImageSubscription};

use super::*;

fn image(tag: &str) -> Image {
    Image { repo_url: "127.0.0.1:5000/app".into(), tag: tag.into(), digest: format!("sha256:{tag}"), created_at: None }
}

fn commit(id: &str) -> GitCommit {
    GitCommit { repo_url: "file:///repo".into(), id: id.into(), ..GitCommit::default() }
}

#[test]
fn next_freight_takes_the_newest_of_each_subscription() {
    let discovered = vec![
        DiscoveredArtifacts {
            repo_url: "127.0.0.1:5000/app".into(),
            images: vec![image("v2"), image("v1")],
            ..Default::default()
        },
        DiscoveredArtifacts {
            repo_url: "file:///repo".into(),
            commits: vec![commit("c2"), commit("c1")],
            ..Default::default()
        },
    ];
    let next = next_freight("app", &discovered).unwrap();
    assert_eq!(next.fields.images, [image("v2")]);
    assert_eq!(next.fields.commits, [commit("c2")]);
    assert_eq!(next.fields.origin, FreightOrigin::warehouse("app"));
    assert!(next.fields.alias.is_empty());
    assert_eq!(next.name, promotion::naming::freight_name(&[commit("c2")], &[image("v2")], &[]));
    // Order of subscriptions does not change the name.
    let reversed: Vec<_> = discovered.iter().rev().cloned().collect();
    assert_eq!(next_freight("app", &reversed).unwrap().name, next.name);
}

#[test]
fn no_freight_while_a_subscription_found_nothing() {
    let empty = DiscoveredArtifacts { repo_url: "127.0.0.1:5000/app".into(), ..Default::default() };
    let charts = DiscoveredArtifacts {
        repo_url: "oci://r/c".into(),
        charts: vec![Chart { repo_url: "oci://r/c".into(), name: String::new(), version: "1.0.0".into() }],
        ..Default::default()
    };
    assert_eq!(next_freight("app", &[charts.clone(), empty]), None);
    assert_eq!(next_freight("app", &[]), None);
    assert_eq!(next_freight("app", &[charts]).unwrap().fields.charts.len(), 1);
}

fn image_sub(repo: &str) -> Subscription {
    Subscription {
        image: Some(ImageSubscription { repo_url: repo.into(), ..Default::default() }),
        ..Default::default()
    }
}

fn git_sub(repo: &str) -> Subscription {
    Subscription { git: Some(GitSubscription { repo_url: repo.into(), ..Default::default() }), ..Default::default() }
}

fn chart_sub(repo: &str) -> Subscription {
    Subscription {
        chart: Some(ChartSubscription { repo_url: repo.into(), ..Default::default() }),
        ..Default::default()
    }
}

#[test]
fn pushes_match_their_subscriptions_only() {
    let app = image_sub("127.0.0.1:5000/team/app");
    assert!(matches_push(&app, "127.0.0.1:5000/team/app"));
    assert!(matches_push(&app, "127.0.0.1:5000/team/app:v1.2.0"));
    assert!(matches_push(&app, "oci://127.0.0.1:5000/team/app/"));
    assert!(!matches_push(&app, "127.0.0.1:5000/team/app2"));
    assert!(!matches_push(&app, "127.0.0.1:5001/team/app"));
    assert!(matches_push(&image_sub("nginx"), "docker.io/library/nginx:1.27"));
    assert!(matches_push(&image_sub("GHCR.io/org/app"), "ghcr.io/org/app"));

    let repo = git_sub("https://github.com/org/repo.git");
    assert!(matches_push(&repo, "https://GitHub.com/org/repo"));
    assert!(matches_push(&git_sub("ssh://git@github.com/org/repo"), "git@github.com:org/repo.git"));
    assert!(!matches_push(&repo, "https://github.com/org/other"));

    assert!(matches_push(&chart_sub("oci://127.0.0.1:5000/charts/web"), "127.0.0.1:5000/charts/web:0.1.0"));
    assert!(matches_push(&chart_sub("https://charts.example.com/stable/"), "HTTPS://charts.example.com:443/stable"));
    assert!(!matches_push(&chart_sub("https://charts.example.com/stable"), "https://charts.example.com/beta"));
    assert!(!matches_push(&Subscription::default(), "anything"));
}

#[tokio::test]
async fn a_subscription_sets_exactly_one_kind() {
    let dir = tempfile::tempdir().unwrap();
    let cache = source::GitCache::new(source::CacheConfig::new(dir.path())).unwrap();
    let ctx = DiscoveryContext { git: &cache, git_credentials: &|_| None, registry_credentials: &|_| None };
    let both = Subscription { git: git_sub("file:///x").git, ..image_sub("127.0.0.1:5000/app") };
    let error = discover(&both, &ctx).await.unwrap_err().to_string();
    assert!(error.contains("git and image"), "{error}");
    let error = discover(&Subscription::default(), &ctx).await.unwrap_err().to_string();
    assert!(error.contains("(none)"), "{error}");
}
