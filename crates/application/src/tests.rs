use std::path::Path;

use health::HealthStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::ObjectMeta;

use super::*;

fn time(s: &str) -> Time {
    match s.parse::<Timestamp>() {
        Ok(t) => Time(t),
        Err(e) => panic!("bad test timestamp {s}: {e}"),
    }
}

/// An Application with every field set.
fn full() -> Application {
    let operation = Operation {
        sync: Some(SyncOperation {
            revision: Some("abc123".into()),
            resources: vec![SyncOperationResource {
                group: "apps".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                namespace: Some("guestbook".into()),
            }],
            prune: true,
            dry_run: true,
        }),
        initiated_by: Some(InitiatedBy { username: Some("alice".into()), automated: false }),
    };
    let health = HealthState { status: HealthStatus::Progressing, message: Some("waiting for rollout".into()) };
    let mut app = Application::new(
        "guestbook",
        ApplicationFields {
            spec: ApplicationSpec {
                project: Some("default".into()),
                source: ApplicationSource {
                    repo_url: "file:///repos/apps".into(),
                    target_revision: "main".into(),
                    path: "guestbook".into(),
                    directory: Some(DirectorySource {
                        recurse: true,
                        include: Some("{*.yaml,*.json}".into()),
                        exclude: Some("secrets/*".into()),
                        jsonnet: Some(JsonnetSource {
                            ext_vars: vec![JsonnetVar { name: "env".into(), value: "prod".into(), code: false }],
                            tlas: vec![JsonnetVar { name: "replicas".into(), value: "3".into(), code: true }],
                            libs: vec!["vendor".into()],
                        }),
                    }),
                    kustomize: Some(KustomizeSource {
                        name_prefix: Some("prod-".into()),
                        images: vec!["nginx=nginx:1.27".into()],
                        replicas: vec![KustomizeReplica { name: "web".into(), count: 3 }],
                        components: vec!["../components/monitoring".into()],
                        ..KustomizeSource::default()
                    }),
                    ..ApplicationSource::default()
                },
                destination: ApplicationDestination {
                    server: Some("https://kubernetes.default.svc".into()),
                    name: Some("in-cluster".into()),
                    namespace: Some("guestbook".into()),
                },
                sync_policy: Some(SyncPolicy {
                    automated: Some(SyncPolicyAutomated { prune: true, self_heal: true }),
                    sync_options: vec!["CreateNamespace=true".into()],
                    retry: Some(RetryStrategy {
                        limit: Some(3),
                        backoff: Some(Backoff {
                            duration: Some("5s".into()),
                            factor: Some(2),
                            max_duration: Some("3m".into()),
                        }),
                    }),
                    sync_timeout: Some("10m".into()),
                }),
                ignore_differences: vec![IgnoreDifference {
                    group: "apps".into(),
                    kind: "Deployment".into(),
                    name: Some("web".into()),
                    namespace: Some("guestbook".into()),
                    json_pointers: vec!["/spec/replicas".into()],
                    managed_fields_managers: vec!["hpa".into()],
                }],
            },
            operation: Some(operation.clone()),
        },
    );
    app.metadata = ObjectMeta {
        name: Some("guestbook".into()),
        namespace: Some(NAMESPACE.into()),
        finalizers: Some(vec![FINALIZER.into()]),
        ..ObjectMeta::default()
    };
    app.status = Some(ApplicationStatus {
        sync: Some(SyncState {
            status: SyncStatusCode::OutOfSync,
            revision: Some("abc123".into()),
            tools: Default::default(),
        }),
        health: Some(health.clone()),
        resources: vec![ResourceStatus {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("guestbook".into()),
            name: "web".into(),
            status: SyncStatusCode::Synced,
            health: Some(health),
        }],
        operation_state: Some(OperationState {
            operation: Some(operation),
            phase: OperationPhase::Failed,
            message: Some("one resource failed".into()),
            started_at: time("2026-01-02T03:04:05Z"),
            finished_at: Some(time("2026-01-02T03:05:05Z")),
            sync_result: Some(SyncOperationResult {
                revision: Some("abc123".into()),
                source: None,
                resources: vec![ResourceResult {
                    group: String::new(),
                    version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: Some("guestbook".into()),
                    name: "cfg".into(),
                    status: ResultCode::SyncFailed,
                    message: Some("forbidden".into()),
                    sync_phase: Some(SyncPhase::Sync),
                    wave: 1,
                    hook_phase: None,
                }],
            }),
            retry_count: 2,
        }),
        history: vec![RevisionHistory { id: 1, revision: "abc123".into(), deployed_at: time("2026-01-02T03:05:05Z") }],
        conditions: vec![ApplicationCondition {
            type_: ApplicationConditionType::SyncError,
            message: "one resource failed".into(),
            last_transition_time: Some(time("2026-01-02T03:05:05Z")),
        }],
        reconciled_at: Some(time("2026-01-02T03:06:00Z")),
        observed_generation: Some(4),
    });
    app
}

#[test]
fn every_field_round_trips_through_json() {
    let app = full();
    let json = serde_json::to_value(&app).unwrap();
    let back: Application = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, app);
    // Argo CD's wire names, with operation beside spec at the top level.
    assert_eq!(json["apiVersion"], "ferry.dev/v1alpha1");
    assert_eq!(json["kind"], "Application");
    assert_eq!(json["spec"]["source"]["repoURL"], "file:///repos/apps");
    assert_eq!(json["spec"]["syncPolicy"]["automated"]["selfHeal"], true);
    assert_eq!(json["operation"]["sync"]["dryRun"], true);
    assert_eq!(json["status"]["sync"]["status"], "OutOfSync");
    assert_eq!(json["status"]["health"]["status"], "Progressing");
    assert_eq!(json["status"]["operationState"]["phase"], "Failed");
    assert_eq!(json["status"]["operationState"]["syncResult"]["resources"][0]["status"], "SyncFailed");
    assert_eq!(json["status"]["conditions"][0]["type"], "SyncError");
    assert_eq!(json["status"]["history"][0]["deployedAt"], "2026-01-02T03:05:05Z");
    assert!(json["spec"].get("operation").is_none());
}

#[test]
fn target_revision_defaults_to_head() {
    let source: ApplicationSource = serde_json::from_value(serde_json::json!({"repoURL": "file:///r"})).unwrap();
    assert_eq!(source.target_revision, "HEAD");
}

#[test]
fn argo_cd_style_yaml_deserializes() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/guestbook.yaml")).unwrap();
    let app: Application = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(app.metadata.namespace.as_deref(), Some(NAMESPACE));
    let spec = &app.spec.spec;
    assert_eq!(spec.source.target_revision, "main");
    assert_eq!(spec.source.directory.as_ref().and_then(|d| d.exclude.as_deref()), Some("secrets/*"));
    let policy = spec.sync_policy.as_ref().unwrap();
    assert!(policy.automated.as_ref().unwrap().self_heal);
    assert_eq!(policy.retry.as_ref().unwrap().backoff.as_ref().unwrap().max_duration.as_deref(), Some("3m"));
    assert_eq!(spec.ignore_differences[0].json_pointers, ["/spec/replicas"]);
    assert_eq!(spec.ignore_differences[1].group, "");
    let sync = app.spec.operation.as_ref().unwrap().sync.as_ref().unwrap();
    assert!(sync.prune);
    assert_eq!(sync.resources[0].name, "guestbook-ui");
    let refresh =
        app.metadata.annotations.as_ref().and_then(|a| a.get(REFRESH_ANNOTATION)).map(|v| v.parse::<Refresh>());
    assert_eq!(refresh, Some(Ok(Refresh::Hard)));
}

#[test]
fn refresh_parses_annotation_values() {
    assert_eq!("normal".parse(), Ok(Refresh::Normal));
    assert_eq!("hard".parse(), Ok(Refresh::Hard));
    assert_eq!("Hard".parse::<Refresh>(), Err(ParseRefreshError("Hard".into())));
    assert_eq!(Refresh::Hard.to_string(), "hard");
}

#[test]
fn crd_names_scope_and_subresources() {
    let crd = crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("applications.ferry.dev"));
    let spec = &crd.spec;
    assert_eq!(spec.group, "ferry.dev");
    assert_eq!(spec.scope, "Namespaced");
    assert_eq!(spec.names.kind, "Application");
    assert_eq!(spec.names.plural, "applications");
    assert_eq!(spec.names.short_names.as_deref(), Some(&["app".to_owned()][..]));
    assert_eq!(spec.versions.len(), 1);
    let version = &spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    // No status subresource: ending an operation is one write (see `crd`).
    assert!(version.subresources.is_none());
    let columns: Vec<(&str, &str)> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Sync Status", ".status.sync.status"),
            ("Health Status", ".status.health.status"),
            ("Revision", ".status.sync.revision"),
            ("Age", ".metadata.creationTimestamp"),
        ]
    );
}

#[test]
fn root_schema_declares_operation_and_spec() {
    let crd = crd();
    let schema = crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).unwrap();
    // Unknown root fields would be pruned by the API server, so the root must
    // name operation itself rather than preserve everything.
    assert_ne!(schema.x_kubernetes_preserve_unknown_fields, Some(true));
    let props = schema.properties.as_ref().unwrap();
    for field in ["spec", "operation", "status"] {
        assert!(props.contains_key(field), "root schema lacks {field}");
    }
    let sync = &props["operation"].properties.as_ref().unwrap()["sync"];
    let sync_props = sync.properties.as_ref().unwrap();
    for field in ["revision", "resources", "prune", "dryRun"] {
        assert!(sync_props.contains_key(field), "operation.sync lacks {field}");
    }
    assert_eq!(schema.required.as_deref(), Some(&["spec".to_owned()][..]));
}

/// The CRD YAML is compared with a golden file so schema changes show up in
/// review; refresh with `FERRY_BLESS=1`.
#[test]
fn crd_yaml_matches_golden() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/crd/applications.ferry.dev.yaml");
    let yaml = crd_yaml().unwrap();
    assert_eq!(crd_yaml().unwrap(), yaml, "crd_yaml is not deterministic");
    if std::env::var_os("FERRY_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &yaml).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(yaml, golden, "run with FERRY_BLESS=1 to refresh");
    // And it reads back as the same CRD.
    let back: CustomResourceDefinition = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(back, crd());
}
