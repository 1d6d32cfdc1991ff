//! Freight names (content hashes) and aliases.
//!
//! A Freight's name is a hash of the identities of its artifacts, so the same versions always make
//! the same Freight, whichever order they were discovered in and whatever their messages or times
//! say. Its alias is a human name drawn from the name: deterministic, so a Warehouse that
//! recreates a Freight after a restart gives it the same alias.

use sha1::{Digest, Sha1};

use crate::{Chart, GitCommit, Image};

/// Suffixes tried before giving up on a short alias: far more Freight than any namespace holds.
const MAX_ALIAS_SUFFIX: u32 = 10_000;

/// The name of a Freight holding these artifacts: 40 lowercase hex digits (SHA-1), a valid
/// Kubernetes object name.
///
/// Only identities count: a commit's repo URL and id; an image's repo URL, tag and digest; a
/// chart's repo URL, name and version. Messages, authors, times and the branch or tag a commit was
/// found by do not. The order of the slices does not matter, nor does a duplicate.
pub fn freight_name(commits: &[GitCommit], images: &[Image], charts: &[Chart]) -> String {
    let mut lines: Vec<String> = Vec::with_capacity(commits.len() + images.len() + charts.len());
    lines.extend(commits.iter().map(|c| encode("git", &[&c.repo_url, &c.id])));
    lines.extend(images.iter().map(|i| encode("image", &[&i.repo_url, &i.digest, &i.tag])));
    lines.extend(charts.iter().map(|c| encode("chart", &[&c.repo_url, &c.name, &c.version])));
    lines.sort();
    lines.dedup();
    let mut hasher = Sha1::new();
    for line in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// One artifact as a line: the kind, then each field length-prefixed, so no choice of field
/// values can make two different artifacts encode alike.
fn encode(kind: &str, fields: &[&str]) -> String {
    let mut line = kind.to_owned();
    for field in fields {
        let field = field.trim();
        line.push_str(&format!(" {}:{field}", field.len()));
    }
    line
}

/// A human alias (`adjective-animal`) for the Freight named `name`, drawn deterministically from
/// the name. When `taken` says that alias is in use, `-2`, `-3`, … are appended until one is free;
/// past [`MAX_ALIAS_SUFFIX`] tries the first 12 characters of the name are appended instead.
pub fn alias_for(name: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let seed = Sha1::digest(name.as_bytes());
    let pick = |a: u8, b: u8| usize::from(u16::from_be_bytes([a, b]));
    let adjective = ADJECTIVES[pick(seed[0], seed[1]) % ADJECTIVES.len()];
    let animal = ANIMALS[pick(seed[2], seed[3]) % ANIMALS.len()];
    let base = format!("{adjective}-{animal}");
    if !taken(&base) {
        return base;
    }
    for suffix in 2..=MAX_ALIAS_SUFFIX {
        let alias = format!("{base}-{suffix}");
        if !taken(&alias) {
            return alias;
        }
    }
    let short: String = name.chars().filter(char::is_ascii_alphanumeric).take(12).collect();
    format!("{base}-{}", short.to_ascii_lowercase())
}

const ADJECTIVES: [&str; 100] = [
    "agile", "amber", "ample", "ancient", "arctic", "azure", "balmy", "bold", "brave", "breezy", "bright", "brisk",
    "calm", "candid", "careful", "cheerful", "chilly", "clever", "cosmic", "crisp", "curious", "daring", "dapper",
    "dawning", "deft", "distant", "dreamy", "eager", "early", "earnest", "easy", "elegant", "epic", "fair", "fancy",
    "fearless", "festive", "fluffy", "fond", "frank", "free", "fresh", "friendly", "frosty", "gentle", "giant",
    "gifted", "glad", "golden", "graceful", "grand", "happy", "hardy", "hearty", "honest", "humble", "icy", "jolly",
    "jovial", "keen", "kind", "lively", "loyal", "lucky", "mellow", "merry", "mighty", "misty", "modest", "nimble",
    "noble", "patient", "peaceful", "plucky", "polite", "proud", "quick", "quiet", "radiant", "rapid", "rosy",
    "rustic", "serene", "shiny", "silent", "silver", "sleek", "snowy", "spry", "steady", "sturdy", "sunny", "swift",
    "tidy", "tranquil", "trusty", "vivid", "warm", "wise", "witty",
];

const ANIMALS: [&str; 100] = [
    "albatross",
    "alpaca",
    "antelope",
    "armadillo",
    "badger",
    "beaver",
    "bison",
    "bobcat",
    "buffalo",
    "camel",
    "capybara",
    "caribou",
    "cheetah",
    "chipmunk",
    "condor",
    "cougar",
    "coyote",
    "crane",
    "dingo",
    "dolphin",
    "donkey",
    "dormouse",
    "eagle",
    "egret",
    "elk",
    "emu",
    "falcon",
    "ferret",
    "finch",
    "flamingo",
    "fox",
    "gazelle",
    "gecko",
    "gibbon",
    "giraffe",
    "goose",
    "gopher",
    "gorilla",
    "grouse",
    "hamster",
    "hare",
    "hawk",
    "hedgehog",
    "heron",
    "hippo",
    "hyena",
    "ibex",
    "ibis",
    "iguana",
    "impala",
    "jackal",
    "jaguar",
    "kangaroo",
    "kestrel",
    "kingfisher",
    "koala",
    "lemur",
    "leopard",
    "llama",
    "lynx",
    "magpie",
    "manatee",
    "marmot",
    "meerkat",
    "mink",
    "mole",
    "moose",
    "narwhal",
    "newt",
    "ocelot",
    "octopus",
    "okapi",
    "orca",
    "osprey",
    "otter",
    "owl",
    "panda",
    "panther",
    "parrot",
    "pelican",
    "penguin",
    "puffin",
    "quail",
    "rabbit",
    "raccoon",
    "raven",
    "reindeer",
    "robin",
    "salamander",
    "seal",
    "sparrow",
    "squirrel",
    "stork",
    "swan",
    "tapir",
    "tiger",
    "toucan",
    "walrus",
    "wombat",
    "zebra",
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn commit(id: &str) -> GitCommit {
        GitCommit { repo_url: "https://git.example/app".into(), id: id.into(), ..GitCommit::default() }
    }

    fn image(tag: &str, digest: &str) -> Image {
        Image { repo_url: "127.0.0.1:5000/app".into(), tag: tag.into(), digest: digest.into(), created_at: None }
    }

    fn chart(version: &str) -> Chart {
        Chart { repo_url: "oci://127.0.0.1:5000/charts/app".into(), name: String::new(), version: version.into() }
    }

    #[test]
    fn name_is_stable_golden() {
        let name = freight_name(&[commit("a".repeat(40).as_str())], &[image("v1.0.0", "sha256:11")], &[chart("1.2.3")]);
        // Computed independently: SHA-1 of the sorted lines `chart 31:oci://127.0.0.1:5000/charts/app 0: 5:1.2.3`,
        // `git 23:https://git.example/app 40:aaa…` and `image 18:127.0.0.1:5000/app 9:sha256:11 6:v1.0.0`, each
        // ending in a newline. A change here renames every Freight: only on purpose.
        assert_eq!(name, "76df50a1576d289beb33e0e2e38cda23b4372a96");
        assert_eq!(name.len(), 40);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn name_ignores_order_duplicates_and_metadata() {
        let a = image("v1.0.0", "sha256:11");
        let b = Image { repo_url: "127.0.0.1:5000/web".into(), ..image("v2.0.0", "sha256:22") };
        let mut described = commit("c1");
        described.message = Some("fix".into());
        described.author = Some("Ann <ann@example.com>".into());
        described.committed_at = Some("2025-01-01T00:00:00Z".into());
        described.branch = Some("main".into());
        let one = freight_name(&[commit("c1")], &[a.clone(), b.clone()], &[]);
        assert_eq!(one, freight_name(&[described], &[b.clone(), a.clone(), b.clone()], &[]));
    }

    #[test]
    fn name_changes_with_any_identity() {
        let base = freight_name(&[commit("c1")], &[image("v1", "sha256:11")], &[chart("1.0.0")]);
        let others = [
            freight_name(&[commit("c2")], &[image("v1", "sha256:11")], &[chart("1.0.0")]),
            freight_name(&[commit("c1")], &[image("v1", "sha256:12")], &[chart("1.0.0")]),
            freight_name(&[commit("c1")], &[image("v2", "sha256:11")], &[chart("1.0.0")]),
            freight_name(&[commit("c1")], &[image("v1", "sha256:11")], &[chart("1.0.1")]),
            freight_name(&[commit("c1")], &[image("v1", "sha256:11")], &[]),
        ];
        let distinct: HashSet<&String> = others.iter().chain([&base]).collect();
        assert_eq!(distinct.len(), others.len() + 1);
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let left = Chart { repo_url: "r".into(), name: "ab".into(), version: "c".into() };
        let right = Chart { repo_url: "r".into(), name: "a".into(), version: "bc".into() };
        assert_ne!(freight_name(&[], &[], &[left]), freight_name(&[], &[], &[right]));
    }

    #[test]
    fn alias_is_deterministic_and_suffixed_on_collision() {
        let name = freight_name(&[commit("c1")], &[], &[]);
        let free = alias_for(&name, &|_| false);
        assert_eq!(free, alias_for(&name, &|_| false));
        let (adjective, animal) = free.split_once('-').unwrap();
        assert!(ADJECTIVES.contains(&adjective) && ANIMALS.contains(&animal), "{free}");
        let taken: HashSet<String> = [free.clone(), format!("{free}-2")].into();
        assert_eq!(alias_for(&name, &|a| taken.contains(a)), format!("{free}-3"));
        let always = alias_for(&name, &|_| true);
        assert!(always.starts_with(&free) && always.ends_with(&name[..12]), "{always}");
    }

    #[test]
    fn aliases_spread_over_the_word_lists() {
        let aliases: HashSet<String> =
            (0..200).map(|i| alias_for(&freight_name(&[commit(&i.to_string())], &[], &[]), &|_| false)).collect();
        assert!(aliases.len() > 150, "{}", aliases.len());
    }
}
