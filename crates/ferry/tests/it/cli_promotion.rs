//! The promotion verbs of the `ferry` CLI against the local cluster, with
//! no controller running: each test checks what the CLI reads and writes
//! (Promotion objects, Freight status, CommitStatuses, annotations) and the
//! tables it prints.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{DEADLINE, Server, at, eventually, parse_table};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use promotion::{Promotion, PromotionPhase, PromotionSpec, PromotionStep};

const WAREHOUSE: &str = "apiVersion: ferry.dev/v1alpha1
kind: Warehouse
metadata:
  name: app
  namespace: ferry
spec:
  subscriptions:
  - git:
      repoURL: file:///srv/app
      branch: main
";

fn freight_yaml(name: &str, alias: &str, sha: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Freight
metadata:
  name: {name}
  namespace: ferry
alias: {alias}
origin:
  kind: Warehouse
  name: app
commits:
- repoURL: file:///srv/app
  id: \"{sha}\"
  branch: main
"
    )
}

const STAGES: &str = "apiVersion: ferry.dev/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: ferry
spec:
  vars:
  - name: stage
    value: dev
  requestedFreight:
  - origin:
      kind: Warehouse
      name: app
    sources:
      direct: true
  promotionTemplate:
    spec:
      vars:
      - name: branch
        value: env/dev
      steps:
      - uses: git-clone
        as: clone
        config:
          repoURL: file:///srv/app
      - uses: git-push
---
apiVersion: ferry.dev/v1alpha1
kind: Stage
metadata:
  name: prod
  namespace: ferry
spec:
  requestedFreight:
  - origin:
      kind: Warehouse
      name: app
    sources:
      stages: [dev]
  gates:
    active: [ci/tests]
  promotionTemplate:
    spec:
      steps:
      - uses: git-push
";

const OLD: &str = "f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3";
const NEW: &str = "a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0";

/// A server with ferry installed, a warehouse, two freight and two stages.
async fn seeded() -> Server {
    let server = Server::start().await;
    server.install_ferry().await;
    server.apply(WAREHOUSE).await;
    server.apply(&freight_yaml(OLD, "calm-heron", "1111111111111111111111111111111111111111")).await;
    server.apply(&freight_yaml(NEW, "brave-otter", "2222222222222222222222222222222222222222")).await;
    server.apply(STAGES).await;
    server
}

fn promotions_of(list: &serde_json::Value, stage: &str) -> Vec<serde_json::Value> {
    list["items"].as_array().unwrap().iter().filter(|p| p["spec"]["stage"] == stage).cloned().collect()
}

#[tokio::test]
async fn freight_promote_approve_and_abort() {
    let server = seeded().await;

    // Freight list: both, with their origin and artifacts.
    let listed = server.ferry(&["freight", "list"]).await.ok();
    let rows = parse_table(&listed.stdout);
    let otter = rows.iter().find(|r| r["ALIAS"] == "brave-otter").unwrap_or_else(|| panic!("{}", listed.stdout));
    assert_eq!(otter["NAME"], &NEW[..7]);
    assert_eq!(otter["ORIGIN"], "app");
    assert_eq!(otter["ARTIFACTS"], "app@2222222");
    assert_eq!(rows.len(), 2, "{}", listed.stdout);
    let none = server.ferry(&["freight", "list", "--warehouse", "other", "-o", "json"]).await.ok();
    assert_eq!(none.json(), serde_json::json!([]));
    // prod takes only freight verified in dev: none yet.
    let for_prod = server.ferry(&["freight", "list", "--stage", "prod", "-o", "json"]).await.ok();
    assert_eq!(for_prod.json(), serde_json::json!([]));
    let got = server.ferry(&["freight", "get", "brave-otter", "-o", "json"]).await.ok();
    assert_eq!(got.json()["metadata"]["name"], NEW);

    // Promote by alias: a Promotion with the stage's vars then the template's, and its steps.
    let promoted = server.ferry(&["promote", "dev", "--freight", "brave-otter"]).await.ok();
    assert!(promoted.stdout.contains("created"), "{}", promoted.stdout);
    let list = server.kubectl(&["get", "promotions", "-n", "ferry", "-o", "json"]).await.ok().json();
    let dev = promotions_of(&list, "dev");
    assert_eq!(dev.len(), 1, "{list}");
    let p = &dev[0];
    let name = p["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with(&format!("dev-{}-", &NEW[..7])), "{name}");
    assert_eq!(p["metadata"]["labels"]["ferry.dev/stage"], "dev");
    assert_eq!(p["spec"]["freight"], NEW);
    let vars: Vec<&str> = p["spec"]["vars"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(vars, ["stage", "branch"]);
    assert_eq!(p["spec"]["steps"][0]["uses"], "git-clone");
    assert_eq!(p["spec"]["steps"][0]["as"], "clone");
    assert_eq!(p["spec"]["steps"][0]["config"]["repoURL"], "file:///srv/app");
    assert_eq!(p["spec"]["steps"][1]["uses"], "git-push");

    // Refusals: unknown freight, unknown stage, freight not available to the stage.
    let unknown = server.ferry(&["promote", "dev", "--freight", "nope"]).await.fails();
    assert!(unknown.stderr.contains("freight \"nope\" not found"), "{}", unknown.stderr);
    let no_stage = server.ferry(&["promote", "qa", "--freight", "brave-otter"]).await.fails();
    assert!(no_stage.stderr.contains("stage \"qa\" not found"), "{}", no_stage.stderr);
    let blocked = server.ferry(&["promote", "prod", "--freight", "brave-otter"]).await.fails();
    assert!(
        blocked.stderr.contains("cannot promote to stage \"prod\": freight brave-otter is not verified in dev"),
        "{}",
        blocked.stderr
    );
    let list = server.kubectl(&["get", "promotions", "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "refusals create nothing");

    // Approval writes status.approvedFor, which makes the freight available to prod.
    let approved = server.ferry(&["approve", "prod", "--freight", "brave-otter"]).await.ok();
    assert!(approved.stdout.contains("approved for stage prod by ferry-test"), "{}", approved.stdout);
    let freight = server.kubectl(&["get", "freight", NEW, "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(at(&freight, "/status/approvedFor/prod/approvedBy"), "ferry-test");
    assert!(at(&freight, "/status/approvedFor/prod/approvedAt").as_str().is_some_and(|t| t.ends_with('Z')));
    let with_by = server.ferry(&["approve", "prod", "--freight", OLD, "--by", "alice"]).await.ok();
    assert!(with_by.stdout.contains("by alice"), "{}", with_by.stdout);
    server.ferry(&["promote", "prod", "--freight", "brave-otter"]).await.ok();
    let list = server.kubectl(&["get", "promotions", "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(promotions_of(&list, "prod").len(), 1);
    let freight_rows = parse_table(&server.ferry(&["freight", "list"]).await.ok().stdout);
    let otter = freight_rows.iter().find(|r| r["ALIAS"] == "brave-otter").unwrap();
    assert_eq!(otter["APPROVED FOR"], "prod");

    // Aliases are unique.
    let taken = server.ferry(&["freight", "alias", NEW, "calm-heron"]).await.fails();
    assert!(taken.stderr.contains("alias \"calm-heron\" is taken"), "{}", taken.stderr);
    server.ferry(&["freight", "alias", NEW, "quick-lynx"]).await.ok();
    let renamed = server.ferry(&["freight", "get", "quick-lynx", "-o", "json"]).await.ok();
    assert_eq!(renamed.json()["metadata"]["name"], NEW);

    // Promotion list, abort and diff.
    let listed = server.ferry(&["promotion", "list", "--stage", "dev"]).await.ok();
    let rows = parse_table(&listed.stdout);
    assert_eq!(rows.len(), 1, "{}", listed.stdout);
    assert_eq!(rows[0]["NAME"], name);
    assert_eq!(rows[0]["PHASE"], "Pending");
    server.ferry(&["promotion", "abort", &name]).await.ok();
    let aborted = server.kubectl(&["get", "promotion", &name, "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(aborted["metadata"]["annotations"]["ferry.dev/abort"], "ferry-test");
    let described = server.ferry(&["promotion", "get", &name]).await.ok();
    assert!(described.stdout.contains("git-clone"), "{}", described.stdout);
    let diff = server.ferry(&["promotion", "diff", &name]).await.fails();
    assert!(diff.stderr.contains("has no stored diff"), "{}", diff.stderr);
    let missing = server.ferry(&["promotion", "get", "nope"]).await.fails();
    assert!(missing.stderr.contains("promotion \"nope\" not found in namespace \"ferry\""), "{}", missing.stderr);

    // Stages and the pipeline picture.
    let stages = parse_table(&server.ferry(&["stage", "list"]).await.ok().stdout);
    let names: Vec<&str> = stages.iter().map(|r| r["NAME"].as_str()).collect();
    assert_eq!(names, ["dev", "prod"]);
    assert_eq!(stages[1]["GATES"], "active: ci/tests");
    let picture = server.ferry(&["pipeline"]).await.ok().stdout;
    assert!(!picture.contains('\x1b'), "no colors when not a terminal");
    let dev_line = picture.lines().find(|l| l.contains("| dev ")).unwrap_or_else(|| panic!("{picture}"));
    assert!(dev_line.contains("----->") && dev_line.contains("| prod"), "{picture}");
    assert!(picture.contains(&format!("promotion: pending {}", &NEW[..7])), "{picture}");

    // Warehouse refresh is an annotation for the controller.
    server.ferry(&["warehouse", "refresh", "app"]).await.ok();
    let wh = server.kubectl(&["get", "warehouse", "app", "-n", "ferry", "-o", "json"]).await.ok().json();
    assert!(wh["metadata"]["annotations"]["ferry.dev/refresh"].as_str().is_some_and(|v| v.ends_with('Z')), "{wh}");
    let rows = parse_table(&server.ferry(&["warehouse", "list"]).await.ok().stdout);
    assert_eq!(rows[0]["NAME"], "app");
    let gone = server.ferry(&["warehouse", "refresh", "nope"]).await.fails();
    assert!(gone.stderr.contains("warehouse \"nope\" not found"), "{}", gone.stderr);
}

#[tokio::test]
async fn status_post_twice_updates_one_object() {
    let server = Server::start().await;
    server.install_ferry().await;
    let sha = "3333333333333333333333333333333333333333";
    let post = |phase: &'static str, description: &'static str| {
        let server = &server;
        async move {
            server
                .ferry(&[
                    "status",
                    "post",
                    "--repo",
                    "https://git.example/org/app.git",
                    "--sha",
                    sha,
                    "--key",
                    "ci/tests",
                    "--phase",
                    phase,
                    "--description",
                    description,
                ])
                .await
                .ok()
        }
    };
    post("pending", "running").await;
    post("success", "all green").await;
    let list = server
        .kubectl(&["get", "commitstatuses", "-n", "ferry", "-o", "json", "--show-managed-fields"])
        .await
        .ok()
        .json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let status = &items[0];
    assert_eq!(
        status["metadata"]["name"],
        promotion::gates::commit_status_name("https://git.example/org/app.git", sha, "ci/tests")
    );
    assert_eq!(status["spec"]["phase"], "success");
    assert_eq!(status["spec"]["description"], "all green");
    assert_eq!(status["spec"]["sha"], sha);
    let managers: Vec<&str> = status["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|f| f["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(managers.contains(&"ferry-cli"), "{managers:?}");

    let bad =
        server.ferry(&["status", "post", "--repo", "r", "--sha", sha, "--key", "k", "--phase", "great"]).await.fails();
    assert!(bad.stderr.contains("great"), "{}", bad.stderr);
    let not_sha = server
        .ferry(&["status", "post", "--repo", "r", "--sha", "main", "--key", "k", "--phase", "success"])
        .await
        .fails();
    assert!(not_sha.stderr.contains("invalid --sha"), "{}", not_sha.stderr);
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Writes a finished promotion as the controller would have.
async fn seed_promotion(
    api: &Api<Promotion>,
    name: &str,
    freight: &str,
    phase: PromotionPhase,
    finished: chrono::DateTime<Utc>,
) {
    let spec = PromotionSpec {
        stage: "web".into(),
        freight: freight.into(),
        steps: vec![PromotionStep { uses: "git-push".into(), ..PromotionStep::default() }],
        ..PromotionSpec::default()
    };
    api.create(&PostParams::default(), &Promotion::new(name, spec)).await.expect("create promotion");
    let status = serde_json::json!({ "status": { "phase": phase, "finishedAt": rfc3339(finished) } });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await.expect("patch promotion status");
}

#[tokio::test]
async fn stats_on_seeded_history() {
    let server = Server::start().await;
    server.install_ferry().await;
    let now = Utc::now();
    let freight = |name: &str, committed: chrono::DateTime<Utc>| {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Freight\nmetadata:\n  name: {name}\n  namespace: ferry\nalias: {name}\n\
origin:\n  kind: Warehouse\n  name: app\ncommits:\n- repoURL: file:///srv/app\n  id: \"4444444444444444444444444444444444444444\"\n  committedAt: \"{}\"\n",
            rfc3339(committed)
        )
    };
    server.apply(&freight("one", now - Duration::days(5))).await;
    server.apply(&freight("two", now - Duration::days(3) - Duration::hours(10))).await;
    let client = server.client().await;
    let api: Api<Promotion> = Api::namespaced(client, "ferry");
    // one: committed 5d ago, deployed 4d ago (lead time 1d); the next promotion fails (a change failure),
    // and two restores the stage 2h after that failure (lead time 12h).
    seed_promotion(&api, "web-1", "one", PromotionPhase::Succeeded, now - Duration::days(4)).await;
    seed_promotion(&api, "web-2", "two", PromotionPhase::Failed, now - Duration::days(3)).await;
    seed_promotion(&api, "web-3", "two", PromotionPhase::Succeeded, now - Duration::days(3) + Duration::hours(2)).await;
    // Long ago: outside the default 30 days.
    seed_promotion(&api, "web-0", "one", PromotionPhase::Succeeded, now - Duration::days(90)).await;

    let out = eventually("ferry stats to see the seeded history", DEADLINE, || async {
        let out = server.ferry(&["stats"]).await;
        if out.code == 0 && out.stdout.contains("web") { Ok(out) } else { Err(format!("{}{}", out.stdout, out.stderr)) }
    })
    .await;
    let rows = parse_table(&out.stdout);
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    let web = &rows[0];
    assert_eq!(web["STAGE"], "web");
    assert_eq!(web["DEPLOYS"], "2");
    assert_eq!(web["PER DAY"], "0.07");
    assert_eq!(web["LEAD TIME P50"], "12h");
    assert_eq!(web["LEAD TIME P90"], "1d");
    assert_eq!(web["CHANGE FAILURE"], "50% (1/2)");
    assert_eq!(web["RESTORE P50"], "2h");
    assert_eq!(web["OPEN"], "0");

    let json = server.ferry(&["stats", "--stage", "web", "--since", "100d", "-o", "json"]).await.ok().json();
    assert_eq!(json["stages"][0]["deployments"], 3);
    assert_eq!(json["stages"][0]["changeFailures"], 1);
    let recent = server.ferry(&["stats", "--since", "1d", "-o", "json"]).await.ok().json();
    assert_eq!(recent["stages"][0]["deployments"], 0);
    let other = server.ferry(&["stats", "--stage", "other", "-o", "json"]).await.ok().json();
    assert_eq!(other["stages"], serde_json::json!([]));
    let bad = server.ferry(&["stats", "--since", "soon"]).await.fails();
    assert!(bad.stderr.contains("--since"), "{}", bad.stderr);
}
