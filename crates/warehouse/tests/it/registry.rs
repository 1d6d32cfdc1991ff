//! Image and OCI chart discovery against Debian's `docker-registry` on loopback, started by
//! each test, with images pushed by plain registry v2 uploads (oci-client's push).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use promotion::{ChartSubscription, Image, ImageSelectionStrategy, ImageSubscription, Subscription};
use warehouse::{DiscoveryContext, DiscoveryError, RegistryCredentials, discover, next_freight};

use crate::support;
use support::{Registry, free_address, push_image, pusher, start_registry};

/// The tags of the image tests, with their build times: `latest` is the newest build.
const TAGS: [(&str, &str); 5] = [
    ("v1.0.0", "2024-01-01T00:00:00Z"),
    ("v1.1.0", "2024-02-01T00:00:00Z"),
    ("v2.0.0-rc.1", "2024-03-01T00:00:00Z"),
    ("latest", "2024-04-01T00:00:00Z"),
    ("junk", "2023-01-01T00:00:00Z"),
];

/// A registry holding `app` with [`TAGS`]; the digest of each tag.
async fn registry_with_app() -> (Registry, Vec<(String, String)>) {
    let registry = start_registry(None);
    let client = pusher();
    let mut digests = Vec::new();
    for (tag, created) in TAGS {
        let digest =
            push_image(&client, &RegistryAuth::Anonymous, &registry.address, "team/app", tag, created, tag).await;
        digests.push((tag.to_owned(), digest));
    }
    (registry, digests)
}

fn image_sub(address: &str, strategy: ImageSelectionStrategy, constraint: Option<&str>) -> ImageSubscription {
    ImageSubscription {
        repo_url: format!("{address}/team/app"),
        image_selection_strategy: strategy,
        constraint: constraint.map(str::to_owned),
        ..ImageSubscription::default()
    }
}

struct Discoverer {
    _dir: tempfile::TempDir,
    git: source::GitCache,
    credentials: Option<RegistryCredentials>,
}

impl Discoverer {
    fn new(credentials: Option<RegistryCredentials>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let git = source::GitCache::new(source::CacheConfig::new(dir.path())).unwrap();
        Discoverer { _dir: dir, git, credentials }
    }

    async fn run(&self, sub: Subscription) -> Result<promotion::DiscoveredArtifacts, DiscoveryError> {
        let registry_credentials = |_: &str| self.credentials.clone();
        let ctx = DiscoveryContext {
            git: &self.git,
            git_credentials: &|_| None,
            registry_credentials: &registry_credentials,
        };
        discover(&sub, &ctx).await
    }

    async fn images(&self, sub: ImageSubscription) -> Result<Vec<Image>, DiscoveryError> {
        self.run(Subscription { image: Some(sub), ..Subscription::default() }).await.map(|found| found.images)
    }
}

fn tags(images: &[Image]) -> Vec<&str> {
    images.iter().map(|i| i.tag.as_str()).collect()
}

fn digest_of<'a>(digests: &'a [(String, String)], tag: &str) -> &'a str {
    &digests.iter().find(|(t, _)| t == tag).unwrap().1
}

#[tokio::test]
async fn semver_lexical_and_tag_filters() {
    let (registry, digests) = registry_with_app().await;
    let discoverer = Discoverer::new(None);
    let address = &registry.address;

    let semver = discoverer.images(image_sub(address, ImageSelectionStrategy::SemVer, Some("^1"))).await.unwrap();
    assert_eq!(tags(&semver), ["v1.1.0", "v1.0.0"]);
    for image in &semver {
        assert_eq!(image.digest, digest_of(&digests, &image.tag), "{}", image.tag);
        assert_eq!(image.repo_url, format!("{address}/team/app"));
    }
    // Without a constraint, pre-releases and tags that are not versions are skipped.
    let any = discoverer.images(image_sub(address, ImageSelectionStrategy::SemVer, None)).await.unwrap();
    assert_eq!(tags(&any), ["v1.1.0", "v1.0.0"]);
    // A constraint no tag meets chooses nothing, and so makes no freight.
    let none = discoverer.images(image_sub(address, ImageSelectionStrategy::SemVer, Some("^3"))).await.unwrap();
    assert!(none.is_empty());
    let discovered = promotion::DiscoveredArtifacts { repo_url: address.clone(), images: none, ..Default::default() };
    assert_eq!(next_freight("app", &[discovered]), None);

    let lexical = discoverer.images(image_sub(address, ImageSelectionStrategy::Lexical, None)).await.unwrap();
    assert_eq!(tags(&lexical), ["v2.0.0-rc.1", "v1.1.0", "v1.0.0", "latest", "junk"]);

    let mut allowed = image_sub(address, ImageSelectionStrategy::Lexical, None);
    allowed.allow_tags = Some("^v\\d".to_owned());
    allowed.ignore_tags = vec!["-rc".to_owned(), "^v1\\.0".to_owned()];
    assert_eq!(tags(&discoverer.images(allowed).await.unwrap()), ["v1.1.0"]);

    let mut limited = image_sub(address, ImageSelectionStrategy::Lexical, None);
    limited.discovery_limit = Some(2);
    assert_eq!(tags(&discoverer.images(limited).await.unwrap()), ["v2.0.0-rc.1", "v1.1.0"]);

    let newest = discoverer.images(image_sub(address, ImageSelectionStrategy::NewestBuild, None)).await.unwrap();
    assert_eq!(tags(&newest), ["latest", "v2.0.0-rc.1", "v1.1.0", "v1.0.0", "junk"]);
    assert_eq!(newest[0].created_at.as_deref(), Some("2024-04-01T00:00:00Z"));
    assert_eq!(newest[0].digest, digest_of(&digests, "latest"));

    // The freight of the newest SemVer image is named by its content.
    let found = discoverer
        .run(Subscription {
            image: Some(image_sub(address, ImageSelectionStrategy::SemVer, Some("^1"))),
            ..Default::default()
        })
        .await
        .unwrap();
    let next = next_freight("app", &[found]).unwrap();
    assert_eq!(next.fields.images, [semver[0].clone()]);
    assert_eq!(next.name, promotion::naming::freight_name(&[], &semver[..1], &[]));
}

#[tokio::test]
async fn digest_tracks_a_mutable_tag() {
    let (registry, digests) = registry_with_app().await;
    let discoverer = Discoverer::new(None);
    let sub = image_sub(&registry.address, ImageSelectionStrategy::Digest, Some("latest"));
    let first = discoverer.images(sub.clone()).await.unwrap();
    assert_eq!(tags(&first), ["latest"]);
    assert_eq!(first[0].digest, digest_of(&digests, "latest"));

    let pushed = push_image(
        &pusher(),
        &RegistryAuth::Anonymous,
        &registry.address,
        "team/app",
        "latest",
        "2024-05-01T00:00:00Z",
        "rebuilt",
    )
    .await;
    assert_ne!(pushed, first[0].digest);
    let second = discoverer.images(sub).await.unwrap();
    assert_eq!(second[0].digest, pushed);

    let missing = image_sub(&registry.address, ImageSelectionStrategy::Digest, Some("stable"));
    let error = discoverer.images(missing).await.unwrap_err();
    assert!(matches!(error, DiscoveryError::TagNotFound { ref tag, .. } if tag == "stable"), "{error}");
    let untracked = image_sub(&registry.address, ImageSelectionStrategy::Digest, None);
    let error = discoverer.images(untracked).await.unwrap_err().to_string();
    assert!(error.contains("the tag to track"), "{error}");
}

#[tokio::test]
async fn unreachable_and_misconfigured_registries_are_clear_errors() {
    let discoverer = Discoverer::new(None);
    // Nothing listens on a port just released.
    let address = free_address();
    let error = discoverer.images(image_sub(&address, ImageSelectionStrategy::SemVer, None)).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, DiscoveryError::Remote { step: "list tags", .. }), "{message}");
    assert!(message.contains(&format!("{address}/team/app")) && message.contains("unreachable"), "{message}");

    let mut insecure = image_sub("registry.example.com", ImageSelectionStrategy::SemVer, None);
    insecure.insecure = Some(true);
    let message = discoverer.images(insecure).await.unwrap_err().to_string();
    assert!(message.contains("plain HTTP (insecure) is allowed only for registries on loopback"), "{message}");

    let tagged = ImageSubscription { repo_url: "127.0.0.1:5000/app:v1".to_owned(), ..ImageSubscription::default() };
    let message = discoverer.images(tagged).await.unwrap_err().to_string();
    assert!(message.contains("without a tag"), "{message}");

    let bad = image_sub("127.0.0.1:5000", ImageSelectionStrategy::SemVer, Some(">>1"));
    let message = discoverer.images(bad).await.unwrap_err().to_string();
    assert!(message.contains("invalid semver constraint \">>1\""), "{message}");
}

#[tokio::test]
async fn basic_auth_from_credentials() {
    let registry = start_registry(Some(("ferry", "s3cret-pass")));
    let auth = RegistryAuth::Basic("ferry".to_owned(), "s3cret-pass".to_owned());
    let digest =
        push_image(&pusher(), &auth, &registry.address, "team/app", "v1.0.0", "2024-01-01T00:00:00Z", "a").await;
    let sub = image_sub(&registry.address, ImageSelectionStrategy::SemVer, None);

    let message = Discoverer::new(None).images(sub.clone()).await.unwrap_err().to_string();
    assert!(message.contains("authentication required (HTTP 401)"), "{message}");
    assert!(message.contains("list tags"), "{message}");

    let wrong = RegistryCredentials { username: Some("ferry".to_owned()), password: "wrong-password".to_owned() };
    let message = Discoverer::new(Some(wrong)).images(sub.clone()).await.unwrap_err().to_string();
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");

    let right = RegistryCredentials { username: Some("ferry".to_owned()), password: "s3cret-pass".to_owned() };
    assert!(!format!("{right:?}").contains("s3cret"));
    let images = Discoverer::new(Some(right)).images(sub).await.unwrap();
    assert_eq!(tags(&images), ["v1.0.0"]);
    assert_eq!(images[0].digest, digest);
}

#[tokio::test]
async fn many_tags() {
    let registry = start_registry(None);
    let client = pusher();
    let address = registry.address.clone();
    // 1,203 tags, all on one manifest, so each tag is one manifest PUT.
    push_image(&client, &RegistryAuth::Anonymous, &address, "team/app", "seed", "2024-01-01T00:00:00Z", "x").await;
    let seed = Reference::with_tag(address.clone(), "team/app".to_owned(), "seed".to_owned());
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let (manifest, _) = client.pull_manifest_raw(&seed, &RegistryAuth::Anonymous, &[media_type]).await.unwrap();
    futures::stream::iter(0..1203)
        .map(|i| {
            let (client, address, manifest) = (&client, &address, manifest.clone());
            async move {
                let tag = format!("v1.{}.{}", i / 100, i % 100);
                let reference = Reference::with_tag(address.clone(), "team/app".to_owned(), tag);
                client.push_manifest_raw(&reference, manifest, media_type.parse().unwrap()).await.unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let discoverer = Discoverer::new(None);
    let images = discoverer.images(image_sub(&address, ImageSelectionStrategy::SemVer, None)).await.unwrap();
    assert_eq!(images.len(), warehouse::DEFAULT_DISCOVERY_LIMIT);
    assert_eq!(images[0].tag, "v1.12.2");
    assert_eq!(images[1].tag, "v1.12.1");
    assert!(images.iter().all(|i| i.digest.starts_with("sha256:")));
    // distribution 2.8 ignores `n` and answers with every tag at once (pages are tested
    // against a fake registry in pages.rs).
    let lexical = discoverer.images(image_sub(&address, ImageSelectionStrategy::Lexical, None)).await.unwrap();
    assert_eq!(lexical[0].tag, "v1.9.99");
}

#[tokio::test]
async fn oci_chart_versions() {
    let registry = start_registry(None);
    let client = pusher();
    for tag in ["0.1.0", "0.2.0", "1.0.0_build.7", "not-a-version"] {
        push_image(
            &client,
            &RegistryAuth::Anonymous,
            &registry.address,
            "charts/web",
            tag,
            "2024-01-01T00:00:00Z",
            tag,
        )
        .await;
    }
    let discoverer = Discoverer::new(None);
    let chart = |constraint: Option<&str>| Subscription {
        chart: Some(ChartSubscription {
            repo_url: format!("oci://{}/charts/web", registry.address),
            semver_constraint: constraint.map(str::to_owned),
            ..ChartSubscription::default()
        }),
        ..Subscription::default()
    };
    let versions =
        |found: promotion::DiscoveredArtifacts| found.charts.into_iter().map(|c| c.version).collect::<Vec<_>>();
    assert_eq!(versions(discoverer.run(chart(None)).await.unwrap()), ["1.0.0+build.7", "0.2.0", "0.1.0"]);
    let below_one = discoverer.run(chart(Some("<1"))).await.unwrap();
    assert_eq!(below_one.charts[0].repo_url, format!("oci://{}/charts/web", registry.address));
    assert!(below_one.charts[0].name.is_empty());
    assert_eq!(versions(below_one), ["0.2.0", "0.1.0"]);
}
