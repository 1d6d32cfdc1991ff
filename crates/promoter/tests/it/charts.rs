//! A chart subscription end to end: chart versions pushed (by the test `helm`, Helm's own SDK) to
//! Debian's docker-registry on loopback become freight; dev's promotion sets the umbrella chart's
//! dependency with `helm-update-chart`, commits and pushes; the Application renders the umbrella
//! chart, its dependency built from the registry, and runs the new chart version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use crate::registry;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use promotion::{Freight, PromotionPhase, Stage, Warehouse};
use serde_json::json;

/// The test `helm` shared with the render crate's tests.
fn helm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/testdata/helm/bin/helm")
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Packages chart `greeter` at `version` (its ConfigMap says `greeting`) and pushes it to `remote`.
fn push_greeter(work: &Path, remote: &str, version: &str, greeting: &str) {
    let dir = work.join(version);
    let chart = dir.join("greeter");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), format!("apiVersion: v2\nname: greeter\nversion: {version}\n")).unwrap();
    std::fs::write(chart.join("values.yaml"), format!("greeting: {greeting:?}\n")).unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeter\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    .unwrap();
    run(Command::new(helm()).arg("package").arg(&chart).arg("--destination").arg(&dir));
    run(Command::new(helm())
        .arg("push")
        .arg(dir.join(format!("greeter-{version}.tgz")))
        .arg(remote)
        .arg("--plain-http"));
}

fn umbrella(remote: &str) -> String {
    format!(
        "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n  # greeter's version is set by promotions\n  - name: greeter\n    version: 0.3.0\n    repository: {remote}\n"
    )
}

async fn greeting(promo: &Promo) -> Option<String> {
    let maps: kube::Api<ConfigMap> = kube::Api::namespaced(promo.client(), "web-dev");
    maps.get_opt("greeter").await.ok()??.data?.get("greeting").cloned()
}

async fn chart_freight(promo: &Promo, version: &str) -> Freight {
    promo
        .wait_for::<Freight, _>(&format!("freight with chart {version}"), |all| {
            all.iter().find(|f| f.spec.charts.iter().any(|c| c.version == version)).cloned()
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chart_freight_updates_the_umbrella_chart_and_dev_runs_it() {
    let promo = Promo::start().await;
    let registry = registry::start_registry(None);
    let work = tempfile::tempdir().unwrap();
    let remote = format!("oci://{}/charts", registry.address);
    push_greeter(work.path(), &remote, "0.3.0", "hello from 0.3.0");

    let repo = Repo::new();
    repo.write("apps/web/Chart.yaml", &umbrella(&remote));
    repo.commit("umbrella chart");
    // Promotions push to `main`: nothing may have it checked out.
    repo.git(&["checkout", "-q", "--detach"]);
    let url = repo.url();
    promo.env.create_app(app("web-dev", &url, "main", "apps/web")).await;
    promo.env.wait_synced_healthy("web-dev").await;
    assert_eq!(greeting(&promo).await.as_deref(), Some("hello from 0.3.0"));

    promo
        .apply::<Warehouse>(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "Warehouse",
            "metadata": {"name": "web", "namespace": promotion::NAMESPACE},
            "spec": {"interval": "1h", "subscriptions": [
                {"chart": {"repoURL": format!("{remote}/greeter"), "semverConstraint": "<1"}}]},
        }))
        .await;
    promo
        .apply::<Stage>(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "Stage",
            "metadata": {"name": "dev", "namespace": promotion::NAMESPACE},
            "spec": {
                "application": "web-dev",
                "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "web"}, "sources": {"direct": true}}],
                "autoPromotion": {},
                "vars": [{"name": "repoURL", "value": url}, {"name": "charts", "value": remote}],
                "promotionTemplate": {"spec": {"steps": [
                    {"uses": "git-clone", "config": {"repoURL": "${{ vars.repoURL }}",
                        "checkout": [{"branch": "main", "path": "./repo"}]}},
                    {"uses": "helm-update-chart", "config": {"path": "./repo/apps/web",
                        "charts": [{"repository": "${{ vars.charts }}", "name": "greeter"}]}},
                    {"uses": "git-commit", "config": {"path": "./repo",
                        "message": "dev: greeter ${{ chartFrom(vars.charts + '/greeter').version }}"}},
                    {"uses": "git-push", "as": "push", "config": {"path": "./repo"}},
                    {"uses": "app-sync", "config": {"app": "web-dev", "revision": "${{ outputs.push.commit }}"}},
                    {"uses": "app-wait", "config": {"app": "web-dev", "revision": "${{ outputs.push.commit }}"}},
                ]}},
            },
        }))
        .await;

    // 0.3.0 is what the chart already says: its promotion changes nothing in git.
    let first = chart_freight(&promo, "0.3.0").await;
    let before = repo.git(&["rev-parse", "main"]);
    let promotion = promo.promotion_ended("dev", &first.name_any()).await;
    assert_eq!(phase(&promotion), PromotionPhase::Succeeded, "{:?}", promotion.status);
    assert_eq!(repo.git(&["rev-parse", "main"]), before, "nothing to commit for the version already there");

    // 0.4.0 pushed; the registry's notification makes it freight now.
    push_greeter(work.path(), &remote, "0.4.0", "hello from 0.4.0");
    assert_eq!(promo.notify_push(&registry.address, "charts/greeter", TOKEN).await, 200);
    let second = chart_freight(&promo, "0.4.0").await;
    assert_eq!(second.spec.charts[0].repo_url, format!("{remote}/greeter"));
    let promotion = promo.promotion_ended("dev", &second.name_any()).await;
    assert_eq!(phase(&promotion), PromotionPhase::Succeeded, "{:?}", promotion.status);
    assert_eq!(commits_of(&repo, "main", &promotion.name_any()), 1);
    let chart = repo.git(&["show", "main:apps/web/Chart.yaml"]);
    assert!(chart.contains("    version: 0.4.0\n"), "{chart}");
    assert!(chart.contains("# greeter's version is set by promotions"), "comments kept: {chart}");
    assert!(repo.git(&["log", "-1", "--format=%s", "main"]).starts_with("dev: greeter 0.4.0"));
    // The app at the promoted commit runs the new chart version.
    assert_eq!(greeting(&promo).await.as_deref(), Some("hello from 0.4.0"));
}
