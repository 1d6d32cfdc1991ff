use super::*;

fn pattern(text: &str) -> PathPattern {
    PathPattern::parse("repo", text).unwrap()
}

#[test]
fn prefixes_cover_a_directory_and_its_contents() {
    let web = pattern("apps/web");
    assert!(web.matches("apps/web/deploy.yaml"));
    assert!(web.matches("apps/web"));
    assert!(!web.matches("apps/web-api/deploy.yaml"));
    assert!(pattern("./apps/web/").matches("apps/web/x"));
    assert!(pattern("/").matches("anything"));
}

#[test]
fn globs_stay_in_a_component_and_match_parents() {
    let star = pattern("apps/*/values.yaml");
    assert!(star.matches("apps/web/values.yaml"));
    assert!(!star.matches("apps/web/nested/values.yaml"));
    assert!(pattern("apps/**/values.yaml").matches("apps/web/nested/values.yaml"));
    assert!(pattern("apps/web*").matches("apps/web-api/deploy.yaml"));
    assert!(pattern("glob:*.md").matches("README.md"));
    assert!(!pattern("*.md").matches("docs/guide.md"));
    assert!(pattern("**/*.md").matches("docs/guide.md"));
}

#[test]
fn regexes_are_unanchored() {
    assert!(pattern("regex:^apps/(web|api)/").matches("apps/api/x"));
    assert!(pattern("regexp:test").matches("src/test/x"));
    assert!(PathPattern::parse("repo", "regex:(").is_err());
}

fn commit(paths: &[&str]) -> CommitInfo {
    CommitInfo {
        id: "0".repeat(40),
        message: "change\n".to_owned(),
        author_name: "Ann".to_owned(),
        author_email: "ann@example.com".to_owned(),
        changed_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        ..CommitInfo::default()
    }
}

fn filter(include: &[&str], exclude: &[&str], authors: &[&str]) -> CommitFilter {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    CommitFilter::new(&GitSubscription {
        repo_url: "repo".to_owned(),
        include_paths: owned(include),
        exclude_paths: owned(exclude),
        exclude_authors: owned(authors),
        ..GitSubscription::default()
    })
    .unwrap()
}

#[test]
fn a_commit_counts_when_one_path_is_included_and_not_excluded() {
    let web = filter(&["apps/web"], &["apps/web/docs"], &[]);
    assert!(web.keeps(&commit(&["apps/web/deploy.yaml"])));
    assert!(web.keeps(&commit(&["apps/web/docs/a.md", "apps/web/deploy.yaml"])));
    assert!(!web.keeps(&commit(&["apps/web/docs/a.md"])));
    assert!(!web.keeps(&commit(&["apps/api/deploy.yaml"])));
    assert!(!web.keeps(&commit(&[])), "an empty commit changes nothing watched");
    let no_docs = filter(&[], &["**/*.md"], &[]);
    assert!(no_docs.keeps(&commit(&["a.yaml", "README.md"])));
    assert!(!no_docs.keeps(&commit(&["README.md"])));
}

#[test]
fn promotion_commits_and_excluded_authors_never_count() {
    let all = filter(&[], &[], &["bot@example.com", "Release Bot"]);
    assert!(all.keeps(&commit(&[])));
    let mut ferry = commit(&[]);
    ferry.trailers = vec![("ferry-promotion".to_owned(), "dev-1".to_owned())];
    assert!(!all.keeps(&ferry));
    let mut by_email = commit(&[]);
    by_email.author_email = "Bot@example.com".to_owned();
    assert!(!all.keeps(&by_email));
    let mut by_name = commit(&[]);
    by_name.author_name = "Release Bot".to_owned();
    assert!(!all.keeps(&by_name));
}
