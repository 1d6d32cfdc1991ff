//! Golden cases under `testdata/<case>/`: `desired.yaml` (multi-document),
//! optional `live.yaml`, `options.json` ([`PlanOptions`]) and `expected.txt`,
//! the rendered plan or `error: ...`. `FERRY_BLESS=1` rewrites expectations.

use std::error::Error as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

fn read_yaml(path: &Path) -> Vec<Value> {
    if !path.exists() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn render(dir: &Path) -> String {
    let desired = read_yaml(&dir.join("desired.yaml"));
    let live = read_yaml(&dir.join("live.yaml"));
    let options_text = std::fs::read_to_string(dir.join("options.json")).expect("options.json");
    let options: PlanOptions = serde_json::from_str(&options_text).expect("options.json parses");
    match plan(&desired, &live, &options) {
        Ok(plan) => {
            let waves: Vec<String> =
                plan.waves().iter().map(|w| format!("{}/{}:{}", w.phase, w.wave, w.tasks.len())).collect();
            format!("{plan}waves {}\n", waves.join(" "))
        }
        Err(e) => {
            let mut text = format!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text + "\n"
        }
    }
}

#[test]
fn golden_cases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let bless = std::env::var("FERRY_BLESS").is_ok_and(|v| v == "1");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).expect("testdata").map(|e| e.expect("entry").path()).filter(|p| p.is_dir()).collect();
    // Other modules keep their cases in subfolders (`testdata/operation/`).
    dirs.retain(|p| p.join("desired.yaml").exists());
    dirs.sort();
    assert!(dirs.len() >= 15, "expected at least 15 golden cases under {}", root.display());
    let mut failures = Vec::new();
    for dir in &dirs {
        let got = render(dir);
        let path = dir.join("expected.txt");
        if bless {
            std::fs::write(&path, &got).expect("bless");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failures.push(format!("{}:\n--- want\n{want}--- got\n{got}", dir.display()));
        }
    }
    assert!(failures.is_empty(), "golden mismatches (FERRY_BLESS=1 rewrites):\n{}", failures.join("\n"));
}

fn with_annotations(annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d", "annotations": annotations}})
}

#[test]
fn ferry_annotations_win_over_argocd() {
    let object = with_annotations(json!({
        "argocd.argoproj.io/sync-wave": "5",
        "ferry.dev/sync-wave": "-2",
        "argocd.argoproj.io/sync-options": "Prune=false",
        "ferry.dev/sync-options": "Replace=true",
    }));
    let (annotations, warnings) = Annotations::parse(&object).expect("parses");
    assert_eq!(annotations.wave, -2);
    assert_eq!(annotations.sync_options, SyncOptions { replace: Some(true), ..SyncOptions::default() });
    assert!(warnings.is_empty());
}

#[test]
fn sync_options_are_typed_and_unknown_ones_warn() {
    let (options, warnings) = SyncOptions::parse(
        "Prune=confirm, PruneLast=true,Delete=false,ServerSideApply=true,Validate=false,\
         SkipDryRunOnMissingResource=true,CreateNamespace=true,PrunePropagationPolicy=orphan,Bogus=1,Replace=maybe",
    );
    assert_eq!(options.prune, Some(Permission::Confirm));
    assert_eq!(options.prune_last, Some(true));
    assert_eq!(options.delete, Some(Permission::Denied));
    assert_eq!(options.server_side_apply, Some(true));
    assert_eq!(options.validate, Some(false));
    assert_eq!(options.skip_dry_run_on_missing_resource, Some(true));
    assert_eq!(options.create_namespace, Some(true));
    assert_eq!(options.prune_propagation_policy, Some(PropagationPolicy::Orphan));
    assert_eq!(options.replace, None);
    assert_eq!(warnings, ["unknown sync option \"Bogus=1\"", "unknown value in sync option \"Replace=maybe\""]);
}

#[test]
fn compare_options() {
    let (options, warnings) = CompareOptions::parse("IgnoreExtraneous,ServerSideDiff=false,Nope");
    assert!(options.ignore_extraneous);
    assert_eq!(options.server_side_diff, Some(false));
    assert_eq!(warnings, ["unknown compare option \"Nope\""]);
}

#[test]
fn hooks_default_to_before_hook_creation() {
    let (annotations, _) =
        Annotations::parse(&with_annotations(json!({"argocd.argoproj.io/hook": "PostSync,PreSync"}))).expect("parses");
    let hook = annotations.hook.expect("a hook");
    assert_eq!(hook.types, [HookType::PreSync, HookType::PostSync]);
    assert_eq!(hook.delete_policies, [DeletePolicy::BeforeHookCreation]);
}

#[test]
fn helm_hooks_map_to_phases_as_argo_cd_does() {
    let parse = |annotations: Value| Annotations::parse(&with_annotations(annotations)).expect("parses").0;

    let pre = parse(json!({
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "-3",
        "helm.sh/hook-delete-policy": "hook-succeeded,before-hook-creation",
    }));
    let hook = pre.hook.expect("a hook");
    assert_eq!(hook.types, [HookType::PreSync]);
    assert_eq!(hook.delete_policies, [DeletePolicy::HookSucceeded, DeletePolicy::BeforeHookCreation]);
    assert_eq!(pre.wave, -3);

    let post = parse(json!({"helm.sh/hook": "post-install, post-upgrade"}));
    let hook = post.hook.expect("a hook");
    assert_eq!(hook.types, [HookType::PostSync]);
    assert_eq!(hook.delete_policies, [DeletePolicy::BeforeHookCreation]);

    // Helm test hooks are not run by a sync: skipped, neither applied nor hooked.
    assert!(parse(json!({"helm.sh/hook": "test"})).hook.expect("a hook").is_skip());
    // Helm 2's CRD marker is an ordinary resource.
    assert_eq!(parse(json!({"helm.sh/hook": "crd-install"})).hook, None);
    // An explicit hook annotation wins over Helm's, and so does an explicit wave.
    let both = parse(json!({
        "helm.sh/hook": "post-install",
        "helm.sh/hook-weight": "7",
        "argocd.argoproj.io/hook": "Sync",
        "argocd.argoproj.io/sync-wave": "2",
    }));
    assert_eq!(both.hook.expect("a hook").types, [HookType::Sync]);
    assert_eq!(both.wave, 2);
    // Helm reads an unparsable weight as 0.
    assert_eq!(parse(json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "soon"})).wave, 0);
}

#[test]
fn bad_annotations_are_errors() {
    let cases = [
        (json!({"ferry.dev/hook": "PreSnyc"}), "unknown hook type \"PreSnyc\""),
        (json!({"ferry.dev/hook": "Sync", "ferry.dev/hook-delete-policy": "Never"}), "unknown hook delete policy"),
        (json!({"ferry.dev/sync-wave": 3}), "must be a string"),
        (json!({"ferry.dev/sync-wave": "99999999999"}), "is not an integer"),
    ];
    for (annotations, want) in cases {
        let err = Annotations::parse(&with_annotations(annotations)).expect_err("refused");
        assert!(err.to_string().contains(want), "{err} lacks {want}");
    }
}

#[test]
fn tracking_ids_round_trip() {
    let key = ResourceKey::new("apps", "Deployment", "web", "api");
    assert_eq!(tracking_id("shop", &key), "shop:apps/Deployment:web/api");
    assert_eq!(parse_tracking_id("shop:apps/Deployment:web/api"), Some(("shop", key)));
    assert_eq!(parse_tracking_id("shop:/Namespace:/web"), Some(("shop", ResourceKey::new("", "Namespace", "", "web"))));
    assert_eq!(parse_tracking_id("garbage"), None);
    assert_eq!(key_display(), "/ConfigMap/d/c");
}

fn key_display() -> String {
    ResourceKey::new("", "ConfigMap", "d", "c").to_string()
}

#[test]
fn missing_fields_are_errors() {
    let err = plan(&[json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})], &[], &PlanOptions::default())
        .expect_err("refused");
    assert_eq!(err.to_string(), "desired object 1 has no metadata.name");
}
