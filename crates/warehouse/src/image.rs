//! Image subscriptions: tags of an OCI repository, chosen by strategy, pinned by digest.
//!
//! Listing tags costs one request per 1,000 tags. SemVer and Lexical order tags by name alone,
//! so only the `discoveryLimit` chosen tags have their manifest digest fetched; NewestBuild has to
//! read every candidate's config, so it refuses more than [`MAX_NEWEST_BUILD_CANDIDATES`].

use futures::{StreamExt, TryStreamExt};
use promotion::{Image, ImageSelectionStrategy, ImageSubscription};

use crate::DiscoveryError;
use crate::oci::{CONCURRENT_REQUESTS, Insecure, RegistryCredentials, Repository, parse_repository};
use crate::select::{Constraint, TagFilter, by_semver, discovery_limit, lexical};

/// Tags NewestBuild reads the config of at most (two requests each).
pub const MAX_NEWEST_BUILD_CANDIDATES: usize = 1000;

/// The newest images of the subscription, newest first, at most its discovery limit.
pub(crate) async fn discover(
    sub: &ImageSubscription,
    credentials: Option<RegistryCredentials>,
) -> Result<Vec<Image>, DiscoveryError> {
    let repo = sub.repo_url.as_str();
    let limit = discovery_limit(sub.discovery_limit);
    let filter = TagFilter::new(repo, sub.allow_tags.as_deref(), &sub.ignore_tags)?;
    // Check the constraint before any network: a typo is reported as such, whatever the registry.
    let constraint = match sub.image_selection_strategy {
        ImageSelectionStrategy::SemVer => Some(Constraint::parse(repo, sub.constraint.as_deref())?),
        _ => None,
    };
    let tracked = match sub.image_selection_strategy {
        ImageSelectionStrategy::Digest => match sub.constraint.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(tag) => Some(tag.to_owned()),
            None => {
                return Err(DiscoveryError::InvalidConstraint {
                    repo: repo.to_owned(),
                    constraint: String::new(),
                    reason: "the Digest strategy needs constraint: the tag to track".to_owned(),
                });
            }
        },
        _ => None,
    };
    let reference = parse_repository(repo, repo)?;
    let registry = Repository::connect(repo, reference, Insecure::from(sub.insecure), credentials)?;
    let tags = registry.list_tags().await?;

    if let Some(tag) = tracked {
        if !tags.contains(&tag) {
            return Err(DiscoveryError::TagNotFound { repo: repo.to_owned(), tag });
        }
        let digest = registry.digest(&tag).await?;
        return Ok(vec![image(repo, tag, digest, None)]);
    }

    let candidates: Vec<String> = tags.into_iter().filter(|tag| filter.admits(tag)).collect();
    let chosen = match (sub.image_selection_strategy, &constraint) {
        (ImageSelectionStrategy::SemVer, Some(constraint)) => by_semver(candidates, String::as_str, constraint),
        (ImageSelectionStrategy::NewestBuild, _) => return newest_builds(&registry, repo, candidates, limit).await,
        _ => lexical(candidates, String::as_str),
    };
    futures::stream::iter(chosen.into_iter().take(limit))
        .map(|tag| async {
            let digest = registry.digest(&tag).await?;
            Ok::<_, DiscoveryError>(image(repo, tag, digest, None))
        })
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await
}

async fn newest_builds(
    registry: &Repository,
    repo: &str,
    candidates: Vec<String>,
    limit: usize,
) -> Result<Vec<Image>, DiscoveryError> {
    if candidates.len() > MAX_NEWEST_BUILD_CANDIDATES {
        return Err(DiscoveryError::TooMany {
            repo: repo.to_owned(),
            reason: format!(
                "NewestBuild reads the config of every candidate tag and {} tags qualify (at most {}); \
                 narrow them with allowTags or ignoreTags",
                candidates.len(),
                MAX_NEWEST_BUILD_CANDIDATES
            ),
        });
    }
    let mut built: Vec<(Option<chrono::DateTime<chrono::FixedOffset>>, Image)> = futures::stream::iter(candidates)
        .map(|tag| async {
            let (digest, created) = registry.digest_and_created(&tag).await?;
            let parsed = created.as_deref().and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
            let created_at =
                parsed.map(|c| c.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            Ok::<_, DiscoveryError>((parsed, image(repo, tag, digest, created_at)))
        })
        .buffer_unordered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    // Newest first; images without a build time last; ties by tag, descending.
    built.sort_by(|(ta, a), (tb, b)| tb.cmp(ta).then_with(|| b.tag.cmp(&a.tag)));
    Ok(built.into_iter().take(limit).map(|(_, image)| image).collect())
}

fn image(repo: &str, tag: String, digest: String, created_at: Option<String>) -> Image {
    Image { repo_url: repo.to_owned(), tag, digest, created_at }
}
