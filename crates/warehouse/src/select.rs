//! Choosing among tags, shared by image, chart and git tag subscriptions: allow/ignore patterns,
//! semantic versions with constraints, lexical order. Pure.

use regex::Regex;
use semver::{Version, VersionReq};

use crate::DiscoveryError;

/// How many versions a subscription lists when it does not say.
pub const DEFAULT_DISCOVERY_LIMIT: usize = 20;

/// The most versions one subscription lists, whatever it asks: status stays small.
pub const MAX_DISCOVERY_LIMIT: usize = 100;

/// The subscription's `discoveryLimit`, defaulted and bounded (at least 1).
pub(crate) fn discovery_limit(asked: Option<u32>) -> usize {
    asked
        .map_or(DEFAULT_DISCOVERY_LIMIT, |n| usize::try_from(n).unwrap_or(MAX_DISCOVERY_LIMIT))
        .clamp(1, MAX_DISCOVERY_LIMIT)
}

/// `allowTags` and `ignoreTags`, compiled. Patterns are unanchored, as Kargo's: anchor them with
/// `^…$` to match whole tags.
#[derive(Debug)]
pub(crate) struct TagFilter {
    allow: Option<Regex>,
    ignore: Vec<Regex>,
}

impl TagFilter {
    pub(crate) fn new(repo: &str, allow: Option<&str>, ignore: &[String]) -> Result<Self, DiscoveryError> {
        let compile = |pattern: &str| {
            Regex::new(pattern).map_err(|e| DiscoveryError::InvalidPattern {
                repo: repo.to_owned(),
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            })
        };
        Ok(TagFilter {
            allow: allow.filter(|p| !p.is_empty()).map(compile).transpose()?,
            ignore: ignore.iter().filter(|p| !p.is_empty()).map(|p| compile(p)).collect::<Result<_, _>>()?,
        })
    }

    /// Whether the tag matches `allowTags` (if set) and none of `ignoreTags`.
    pub(crate) fn admits(&self, tag: &str) -> bool {
        self.allow.as_ref().is_none_or(|allow| allow.is_match(tag)) && !self.ignore.iter().any(|i| i.is_match(tag))
    }
}

/// A semantic version constraint: alternatives separated by `||`, each a set of comparators
/// all of which must hold, separated by commas or (as Helm and Kargo users write them) spaces:
/// `^1.2`, `>=1.0.0, <2`, `>= 1.0 < 2 || ^3`. No constraint admits every release (pre-releases
/// only when asked for by a comparator of the same version, as Cargo's rules say).
#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    alternatives: Vec<VersionReq>,
}

impl Constraint {
    pub(crate) fn parse(repo: &str, text: Option<&str>) -> Result<Self, DiscoveryError> {
        let text = text.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(Constraint { alternatives: vec![VersionReq::STAR] });
        }
        let invalid = |reason: String| DiscoveryError::InvalidConstraint {
            repo: repo.to_owned(),
            constraint: text.to_owned(),
            reason,
        };
        let alternatives = text
            .split("||")
            .map(|alternative| VersionReq::parse(&comma_separated(alternative)).map_err(|e| invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Constraint { alternatives })
    }

    pub(crate) fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|req| req.matches(version))
    }
}

/// `>= 1.0 <2` → `>=1.0, <2`: the semver crate separates comparators with commas only. An
/// operator standing alone is glued to the version after it; a `v` before a version is dropped.
fn comma_separated(alternative: &str) -> String {
    let mut comparators: Vec<String> = Vec::new();
    let mut pending_operator = String::new();
    for token in alternative.split([' ', ',', '\t']).filter(|t| !t.is_empty()) {
        if token.chars().all(|c| matches!(c, '<' | '>' | '=' | '~' | '^')) {
            pending_operator.push_str(token);
            continue;
        }
        let operator_len = token.find(|c: char| !matches!(c, '<' | '>' | '=' | '~' | '^')).unwrap_or(token.len());
        let (operator, version) = token.split_at(operator_len);
        let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
        comparators.push(format!("{pending_operator}{operator}{version}"));
        pending_operator.clear();
    }
    if !pending_operator.is_empty() {
        // A dangling operator: let the parser say what is wrong with it.
        comparators.push(pending_operator);
    }
    comparators.join(", ")
}

/// The tag as a semantic version, accepting a leading `v`. Not a full `MAJOR.MINOR.PATCH`
/// version → `None` (such tags are skipped by the SemVer strategy).
pub(crate) fn parse_version(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix(['v', 'V']).unwrap_or(tag)).ok()
}

/// The items whose tag is a version the constraint admits, highest first (equal versions, such
/// as `v1.0.0` and `1.0.0`, by tag, descending, so the order never depends on input order).
pub(crate) fn by_semver<T>(items: Vec<T>, tag: impl Fn(&T) -> &str, constraint: &Constraint) -> Vec<T> {
    let mut versioned: Vec<(Version, T)> = items
        .into_iter()
        .filter_map(|item| parse_version(tag(&item)).map(|version| (version, item)))
        .filter(|(version, _)| constraint.matches(version))
        .collect();
    versioned.sort_by(|(va, a), (vb, b)| vb.cmp(va).then_with(|| tag(b).cmp(tag(a))));
    versioned.into_iter().map(|(_, item)| item).collect()
}

/// The items in reverse lexical order of their tag.
pub(crate) fn lexical<T>(mut items: Vec<T>, tag: impl Fn(&T) -> &str) -> Vec<T> {
    items.sort_by(|a, b| tag(b).cmp(tag(a)));
    items
}

#[cfg(test)]
mod tests;
