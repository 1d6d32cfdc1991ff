use std::path::Path;

use serde_json::{Value, json};

use super::*;

// ------------------------------------------------------------ wire builders

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(tag: u32, wire: u8, out: &mut Vec<u8>) {
    varint((u64::from(tag) << 3) | u64::from(wire), out);
}

fn len_field(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    key(tag, 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn varint_field(tag: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    key(tag, 0, &mut out);
    varint(v, &mut out);
    out
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [len_field(1, api_version.as_bytes()), len_field(2, kind.as_bytes())].concat();
    [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, raw)].concat()
}

/// The tag of a field, looked up by message and JSON name in the table.
fn tag_of(message: &str, json: &str) -> u32 {
    let text = include_str!("table.txt");
    let mut current = "";
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["M", name] => current = name,
            ["F", tag, name, ..] if current == message && *name == json => {
                return tag.parse().unwrap();
            }
            _ => {}
        }
    }
    panic!("no field {json} in {message}");
}

const CORE: &str = "k8s.io.api.core.v1";
const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

// ------------------------------------------------------------------ golden

#[test]
fn decodes_what_kubectl_sends_like_kubectl_prints_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/protobuf/testdata");
    let mut cases = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected_path = dir.join("expected.json");
        if !expected_path.exists() {
            continue;
        }
        let body = std::fs::read(dir.join("request.pb")).unwrap();
        // kubectl's own `--dry-run=client -o json` of the same command: the
        // oracle, compared whole (no case needs an exception).
        let expected: Value = serde_json::from_slice(&std::fs::read(&expected_path).unwrap()).unwrap();
        let decoded = decode(&body).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(decoded, expected, "{case}: decoded\n{}", serde_json::to_string_pretty(&decoded).unwrap());
        cases += 1;
    }
    assert!(cases >= 15, "only {cases} golden cases found");
}

#[test]
fn keeps_an_explicit_zero_of_a_pointer_field() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/protobuf/testdata");
    let body = std::fs::read(root.join("deployment-zero-replicas/request.pb")).unwrap();
    let decoded = decode(&body).unwrap();
    assert_eq!(decoded["spec"]["replicas"], json!(0));
    // A plain omitempty field that Go's protobuf carries as zero stays out.
    assert!(decoded["spec"].get("minReadySeconds").is_none());
}

#[test]
fn refuses_a_kind_outside_the_served_groups() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/protobuf/testdata");
    let body = std::fs::read(root.join("priorityclass-unsupported/request.pb")).unwrap();
    match decode(&body) {
        Err(DecodeError::UnsupportedKind { api_version, kind }) => {
            assert_eq!((api_version.as_str(), kind.as_str()), ("scheduling.k8s.io/v1", "PriorityClass"));
        }
        other => panic!("expected UnsupportedKind, got {other:?}"),
    }
}

// --------------------------------------------------------- hostile input

#[test]
fn never_panics_on_truncated_or_garbled_bodies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/protobuf/testdata");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut bodies = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let body = std::fs::read(entry.unwrap().path().join("request.pb")).unwrap();
        for end in 0..body.len() {
            let _ = decode(&body[..end]);
        }
        for _ in 0..300 {
            let mut garbled = body.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % garbled.len() as u64) as usize;
                garbled[at] = next() as u8;
            }
            let _ = decode(&garbled);
        }
        bodies += 1;
    }
    assert!(bodies > 0);
    for len in [0usize, 1, 4, 5, 16, 200] {
        let mut random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = decode(&random);
        random.splice(0..0, MAGIC.iter().copied());
        let _ = decode(&random);
    }
    assert!(matches!(decode(b""), Err(DecodeError::NoMagic)));
    assert!(matches!(decode(b"{\"kind\":\"Pod\"}"), Err(DecodeError::NoMagic)));
    assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(DecodeError::Envelope(_))));
}

#[test]
fn refuses_nesting_deeper_than_the_limit_without_overflowing_the_stack() {
    // CustomResourceDefinition → spec → versions[0] → schema → openAPIV3Schema → not → not → ...
    let ext = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1";
    let not = tag_of(&format!("{ext}.JSONSchemaProps"), "not");
    let mut schema = Vec::new();
    for _ in 0..5_000 {
        schema = len_field(not, &schema);
    }
    let validation = len_field(tag_of(&format!("{ext}.CustomResourceValidation"), "openAPIV3Schema"), &schema);
    let version = len_field(tag_of(&format!("{ext}.CustomResourceDefinitionVersion"), "schema"), &validation);
    let spec = len_field(tag_of(&format!("{ext}.CustomResourceDefinitionSpec"), "versions"), &version);
    let crd = len_field(tag_of(&format!("{ext}.CustomResourceDefinition"), "spec"), &spec);
    let body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd);
    match decode(&body) {
        Err(DecodeError::Malformed { reason, .. }) => assert!(reason.contains("nest"), "{reason}"),
        other => panic!("expected a nesting error, got {other:?}"),
    }
}

#[test]
fn reports_the_path_of_a_malformed_field() {
    // ConfigMap.metadata.name sent as a varint instead of a string.
    let meta = varint_field(tag_of(&format!("{META}.ObjectMeta"), "name"), 7);
    let raw = len_field(tag_of(&format!("{CORE}.ConfigMap"), "metadata"), &meta);
    let err = decode(&envelope("v1", "ConfigMap", &raw)).unwrap_err();
    assert!(err.to_string().contains(".metadata.name"), "{err}");
}

#[test]
fn refuses_a_content_encoding() {
    let type_meta = [len_field(1, b"v1"), len_field(2, b"ConfigMap")].concat();
    let body = [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, b""), len_field(3, b"gzip")].concat();
    assert!(matches!(decode(&body), Err(DecodeError::ContentEncoding(e)) if e == "gzip"));
}

// ------------------------------------------------------- special JSON forms

#[test]
fn table_loads_and_covers_every_served_group() {
    let table = TABLE.as_ref().unwrap();
    for (api_version, kind) in [
        ("v1", "Pod"),
        ("apps/v1", "StatefulSet"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("policy/v1", "PodDisruptionBudget"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("coordination.k8s.io/v1", "Lease"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("events.k8s.io/v1", "Event"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
    ] {
        assert!(table.kinds.contains_key(&(api_version.to_owned(), kind.to_owned())), "{api_version} {kind}");
    }
}

#[test]
fn times_quantities_and_int_or_strings_take_their_json_forms() {
    // A Lease: acquireTime (MicroTime), leaseDurationSeconds (int32 pointer).
    let lease = "k8s.io.api.coordination.v1.LeaseSpec";
    let micro = [varint_field(1, 1_767_323_045), varint_field(2, 123_456_789)].concat();
    let spec = [
        len_field(tag_of(lease, "acquireTime"), &micro),
        len_field(tag_of(lease, "renewTime"), &[]),
        varint_field(tag_of(lease, "leaseDurationSeconds"), 0),
    ]
    .concat();
    let time = varint_field(1, 1_767_323_045);
    let meta = [
        len_field(tag_of(&format!("{META}.ObjectMeta"), "name"), b"l"),
        len_field(tag_of(&format!("{META}.ObjectMeta"), "creationTimestamp"), &time),
    ]
    .concat();
    let raw = [len_field(1, &meta), len_field(tag_of("k8s.io.api.coordination.v1.Lease", "spec"), &spec)].concat();
    let decoded = decode(&envelope("coordination.k8s.io/v1", "Lease", &raw)).unwrap();
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l", "creationTimestamp": "2026-01-02T03:04:05Z"},
            "spec": {"acquireTime": "2026-01-02T03:04:05.123456Z", "renewTime": null, "leaseDurationSeconds": 0}
        })
    );

    // A Service port: targetPort as a name and as a number.
    let port = |target: Vec<u8>| {
        let port = "k8s.io.api.core.v1.ServicePort";
        let p = [varint_field(tag_of(port, "port"), 80), len_field(tag_of(port, "targetPort"), &target)].concat();
        let spec = len_field(tag_of(&format!("{CORE}.ServiceSpec"), "ports"), &p);
        let raw = [len_field(1, &[]), len_field(tag_of(&format!("{CORE}.Service"), "spec"), &spec)].concat();
        decode(&envelope("v1", "Service", &raw)).unwrap()["spec"]["ports"][0]["targetPort"].clone()
    };
    assert_eq!(port([varint_field(1, 1), len_field(3, b"http")].concat()), json!("http"));
    assert_eq!(port([varint_field(1, 0), varint_field(2, 8080)].concat()), json!(8080));

    // A ResourceQuota: map<string, Quantity>.
    let entry = [len_field(1, b"cpu"), len_field(2, &len_field(1, b"500m"))].concat();
    let hard = len_field(tag_of(&format!("{CORE}.ResourceQuotaSpec"), "hard"), &entry);
    let raw = [len_field(1, &[]), len_field(tag_of(&format!("{CORE}.ResourceQuota"), "spec"), &hard)].concat();
    let decoded = decode(&envelope("v1", "ResourceQuota", &raw)).unwrap();
    assert_eq!(decoded["spec"]["hard"], json!({"cpu": "500m"}));
}

#[test]
fn embedded_json_and_durations_take_their_json_forms() {
    // A ControllerRevision's data is a RawExtension holding JSON.
    let raw = [
        len_field(1, &[]),
        len_field(tag_of("k8s.io.api.apps.v1.ControllerRevision", "data"), &len_field(1, br#"{"a":[1,2]}"#)),
        varint_field(3, 2),
    ]
    .concat();
    let decoded = decode(&envelope("apps/v1", "ControllerRevision", &raw)).unwrap();
    assert_eq!(decoded["data"], json!({"a": [1, 2]}));
    assert_eq!(decoded["revision"], json!(2));

    assert_eq!(format_duration(0), "0s");
    assert_eq!(format_duration(90_000_000_000), "1m30s");
    assert_eq!(format_duration(3_600_000_000_000), "1h0m0s");
    assert_eq!(format_duration(1_500_000_000), "1.5s");
    assert_eq!(format_duration(500_000_000), "500ms");
    assert_eq!(format_duration(-2_000), "-2µs");
    assert_eq!(format_duration(7), "7ns");
    assert_eq!(format_duration(3_723_000_000_001), "1h2m3.000000001s");
}

#[test]
fn reads_packed_and_unpacked_repeated_scalars_and_skips_unknown_fields() {
    // A Pod's securityContext.supplementalGroups (repeated int64), both ways.
    let psc = "k8s.io.api.core.v1.PodSecurityContext";
    let groups = tag_of(psc, "supplementalGroups");
    let mut packed = Vec::new();
    for g in [1000u64, 2000] {
        varint(g, &mut packed);
    }
    let sc =
        [len_field(groups, &packed), varint_field(groups, 3000), varint_field(999, 1), len_field(998, b"x")].concat();
    let spec = len_field(tag_of(&format!("{CORE}.PodSpec"), "securityContext"), &sc);
    let raw = [len_field(1, &[]), len_field(tag_of(&format!("{CORE}.Pod"), "spec"), &spec)].concat();
    let decoded = decode(&envelope("v1", "Pod", &raw)).unwrap();
    assert_eq!(decoded["spec"]["securityContext"], json!({"supplementalGroups": [1000, 2000, 3000]}));
    // Absent required lists are null, as Go writes a nil slice.
    assert_eq!(decoded["spec"]["containers"], Value::Null);
}

#[test]
fn a_false_pointer_stays_and_a_false_plain_field_goes() {
    // Go's protobuf carries both; Go's JSON writes only the pointer.
    let spec = [
        varint_field(tag_of(&format!("{CORE}.PodSpec"), "automountServiceAccountToken"), 0),
        varint_field(tag_of(&format!("{CORE}.PodSpec"), "hostNetwork"), 0),
        len_field(tag_of(&format!("{CORE}.PodSpec"), "nodeName"), b""),
    ]
    .concat();
    let raw = [len_field(1, &[]), len_field(tag_of(&format!("{CORE}.Pod"), "spec"), &spec)].concat();
    let decoded = decode(&envelope("v1", "Pod", &raw)).unwrap();
    assert_eq!(decoded["spec"]["automountServiceAccountToken"], json!(false));
    assert!(decoded["spec"].get("hostNetwork").is_none());
    assert!(decoded["spec"].get("nodeName").is_none());
    // Plain struct fields are always written, as Go does: an empty status is `{}`.
    assert_eq!(decoded["status"], json!({}));
    assert_eq!(decoded["metadata"], json!({"creationTimestamp": null}));
}
