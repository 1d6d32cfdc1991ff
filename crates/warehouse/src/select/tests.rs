use super::*;

fn names(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| (*t).to_owned()).collect()
}

fn semver(tags: &[&str], constraint: Option<&str>) -> Vec<String> {
    let constraint = Constraint::parse("repo", constraint).unwrap();
    by_semver(names(tags), String::as_str, &constraint)
}

#[test]
fn semver_orders_highest_first_and_skips_non_versions() {
    let tags = ["v1.0.0", "v1.1.0", "v2.0.0-rc.1", "latest", "junk", "1.10.0", "v1.2", "v1.9.0"];
    assert_eq!(semver(&tags, None), ["1.10.0", "v1.9.0", "v1.1.0", "v1.0.0"]);
}

#[test]
fn constraints_filter() {
    let tags = ["v1.0.0", "v1.1.0", "v2.0.0-rc.1", "v2.0.0", "v3.1.0"];
    assert_eq!(semver(&tags, Some("^1")), ["v1.1.0", "v1.0.0"]);
    assert_eq!(semver(&tags, Some("~1.0")), ["v1.0.0"]);
    assert_eq!(semver(&tags, Some(">=1.1.0, <3")), ["v2.0.0", "v1.1.0"]);
    // Helm and Kargo users separate comparators with spaces and write alternatives with ||.
    assert_eq!(semver(&tags, Some(">= 1.1.0 < 3")), ["v2.0.0", "v1.1.0"]);
    assert_eq!(semver(&tags, Some("^1.1 || ^3")), ["v3.1.0", "v1.1.0"]);
    assert_eq!(semver(&tags, Some(">=v2.0.0-rc.1, <2.0.0")), ["v2.0.0-rc.1"], "a pre-release only when asked for");
    assert!(semver(&tags, Some("^9")).is_empty());
}

#[test]
fn equal_versions_order_by_tag() {
    assert_eq!(semver(&["1.0.0", "v1.0.0"], None), semver(&["v1.0.0", "1.0.0"], None));
}

#[test]
fn bad_constraint_names_it() {
    let error = Constraint::parse("127.0.0.1:5000/app", Some("^^1")).unwrap_err().to_string();
    assert!(error.contains("127.0.0.1:5000/app") && error.contains("^^1"), "{error}");
}

#[test]
fn allow_and_ignore() {
    let filter = TagFilter::new("r", Some("^v1\\."), &["rc".to_owned()]).unwrap();
    let kept: Vec<&str> =
        ["v1.0.0", "v1.1.0-rc.1", "v2.0.0", "xv1.0"].into_iter().filter(|t| filter.admits(t)).collect();
    assert_eq!(kept, ["v1.0.0"]);
    let error = TagFilter::new("r", Some("("), &[]).unwrap_err().to_string();
    assert!(error.contains("invalid pattern \"(\""), "{error}");
}

#[test]
fn lexical_is_reverse_order() {
    assert_eq!(lexical(names(&["a", "c", "b"]), String::as_str), ["c", "b", "a"]);
}

#[test]
fn limits() {
    assert_eq!(discovery_limit(None), DEFAULT_DISCOVERY_LIMIT);
    assert_eq!(discovery_limit(Some(0)), 1);
    assert_eq!(discovery_limit(Some(5)), 5);
    assert_eq!(discovery_limit(Some(u32::MAX)), MAX_DISCOVERY_LIMIT);
}
