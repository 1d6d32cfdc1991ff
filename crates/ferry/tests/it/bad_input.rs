//! Bad input gets a clear 4xx as a `metav1.Status` (right code and reason),
//! never a 500 and never a partial write.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use common::Server;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// Collects failed expectations so one run reports every bad case of a
/// table, not just the first.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    /// Expects a failure Status with `code` and `reason` (and a message);
    /// returns the Status, or `Null` after recording what was wrong.
    fn status(&mut self, response: (u16, Vec<u8>), code: u16, reason: &str, what: &str) -> Value {
        let (got, body) = response;
        let text = String::from_utf8_lossy(&body).into_owned();
        if got != code {
            self.0.push(format!("{what}: expected HTTP {code} {reason}, got {got}: {}", shorten(&text)));
            return Value::Null;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            self.0.push(format!("{what}: body is not JSON: {}", shorten(&text)));
            return Value::Null;
        };
        let message_ok = v["message"].as_str().is_some_and(|m| !m.is_empty());
        if v["kind"] != "Status"
            || v["apiVersion"] != "v1"
            || v["status"] != "Failure"
            || v["code"] != code
            || v["reason"] != reason
            || !message_ok
        {
            self.0.push(format!("{what}: expected a Failure Status {code} {reason} with a message, got {v}"));
            return Value::Null;
        }
        v
    }

    /// Records `message` unless `ok`.
    fn that(&mut self, ok: bool, message: String) {
        if !ok {
            self.0.push(message);
        }
    }

    /// Fails the test with every recorded failure.
    #[track_caller]
    fn finish(self) {
        assert!(self.0.is_empty(), "{} failed expectation(s):\n- {}", self.0.len(), self.0.join("\n- "));
    }
}

fn shorten(text: &str) -> String {
    if text.len() > 400 { format!("{}...", &text[..400]) } else { text.to_owned() }
}

/// The names of the ConfigMaps in default, to check nothing was written.
async fn names(server: &Server) -> Vec<String> {
    let (code, body) = server.raw("GET", CMS, None, Vec::new()).await;
    assert_eq!(code, 200);
    common::item_names(&serde_json::from_slice(&body).unwrap())
}

fn cm_json(name: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let server = Server::start().await;
    let mut c = Checks::default();
    let before = names(&server).await;
    let json = Some("application/json");
    let yaml = Some("application/yaml");
    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("truncated JSON", json, br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x1""#.to_vec()),
        ("JSON array", json, b"[1,2,3]".to_vec()),
        ("empty body", json, Vec::new()),
        ("not UTF-8", json, vec![0xff, 0xfe, 0x00, 0x7b]),
        (
            "wrong field type",
            json,
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x2"},"data":[1]}"#.to_vec(),
        ),
        ("metadata not an object", json, br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":"x"}"#.to_vec()),
        ("malformed YAML", yaml, b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y1\n  data: [\n".to_vec()),
        ("YAML with tabs", yaml, b"apiVersion: v1\n\tkind: ConfigMap\n".to_vec()),
        ("kind mismatch", json, br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x3"}}"#.to_vec()),
        (
            "apiVersion mismatch",
            json,
            br#"{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x4"}}"#.to_vec(),
        ),
        (
            "namespace mismatch",
            json,
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x5","namespace":"kube-system"}}"#.to_vec(),
        ),
    ];
    for (what, ct, body) in cases {
        c.status(server.raw("POST", CMS, ct, body).await, 400, "BadRequest", what);
    }
    // A well-formed YAML body is accepted, so the YAML failure above is about
    // the content, not the media type.
    let (code, body) = server
        .raw("POST", CMS, yaml, b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n".to_vec())
        .await;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));

    // Malformed patches.
    server.raw("POST", CMS, json, cm_json("target")).await;
    let target = format!("{CMS}/target");
    let patches: Vec<(&str, &str, &[u8])> = vec![
        ("merge patch not JSON", "application/merge-patch+json", b"{nope"),
        ("JSON patch not a list", "application/json-patch+json", br#"{"op":"add"}"#),
        ("JSON patch unknown op", "application/json-patch+json", br#"[{"op":"frobnicate","path":"/data/a"}]"#),
        ("strategic patch not JSON", "application/strategic-merge-patch+json", b"]["),
        ("apply patch not YAML", "application/apply-patch+yaml", b"{a: [}"),
    ];
    for (what, ct, body) in patches {
        let (code, body) = server.raw("PATCH", &format!("{target}?fieldManager=t"), Some(ct), body.to_vec()).await;
        // Kubernetes answers 400 for undecodable patches and 422 for
        // patches it cannot apply.
        let (want, reason) = if code == 422 { (422, "Invalid") } else { (400, "BadRequest") };
        c.status((code, body), want, reason, what);
    }
    let (code, body) = server.raw("GET", &target, None, Vec::new()).await;
    assert_eq!(code, 200);
    let obj: Value = serde_json::from_slice(&body).unwrap();
    c.that(obj["data"] == json!({"a": "1"}), format!("a bad patch changed the object: {obj}"));

    let mut want = before;
    want.extend(["from-yaml".to_owned(), "target".to_owned()]);
    want.sort();
    let mut now = names(&server).await;
    now.sort();
    c.that(now == want, format!("bad requests wrote objects: now {now:?}, want {want:?}"));
    c.finish();
}

#[tokio::test]
async fn wrong_content_types_are_415() {
    let server = Server::start().await;
    let mut c = Checks::default();
    c.status(
        server.raw("POST", CMS, Some("text/plain"), cm_json("t1")).await,
        415,
        "UnsupportedMediaType",
        "text/plain create",
    );
    c.status(
        server.raw("POST", CMS, Some("application/xml"), cm_json("t2")).await,
        415,
        "UnsupportedMediaType",
        "xml create",
    );
    server.raw("POST", CMS, Some("application/json"), cm_json("p")).await;
    c.status(
        server.raw("PATCH", &format!("{CMS}/p"), Some("application/json"), br#"{"data":{"a":"2"}}"#.to_vec()).await,
        415,
        "UnsupportedMediaType",
        "PATCH with plain JSON",
    );
    c.status(
        server.raw("PATCH", &format!("{CMS}/p"), Some("text/plain"), br#"{"data":{"a":"2"}}"#.to_vec()).await,
        415,
        "UnsupportedMediaType",
        "PATCH with text/plain",
    );
    let mut left = names(&server).await;
    left.retain(|n| n.starts_with('t'));
    c.that(left.is_empty(), format!("refused requests wrote {left:?}"));
    c.finish();
}

#[tokio::test]
async fn invalid_names_are_422_with_a_cause() {
    let server = Server::start().await;
    let mut c = Checks::default();
    let long = "a".repeat(254);
    for bad in ["Bad_Name", "UPPER", "-leading", "trailing-", "has space", "dots..double", long.as_str(), ""] {
        let v = c.status(server.raw("POST", CMS, Some("application/json"), cm_json(bad)).await, 422, "Invalid", bad);
        let causes = v["details"]["causes"].as_array().cloned().unwrap_or_default();
        if !v.is_null() {
            c.that(
                causes.iter().any(|c| c["field"] == "metadata.name"),
                format!("{bad:?}: no cause on metadata.name: {v}"),
            );
            c.that(v["details"]["kind"] == "ConfigMap", format!("{bad:?}: details.kind: {v}"));
        }
    }
    // Names with dots are fine for ConfigMaps (DNS subdomain) but not for
    // Namespaces (DNS label).
    let (code, _) = server.raw("POST", CMS, Some("application/json"), cm_json("ok.with.dots")).await;
    assert_eq!(code, 201);
    let ns =
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "no.dots"}})).unwrap();
    c.status(
        server.raw("POST", "/api/v1/namespaces", Some("application/json"), ns).await,
        422,
        "Invalid",
        "namespace with dots",
    );
    // Labels are validated too.
    let bad_label = serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "labelled", "labels": {"bad key!": "v"}}
    }))
    .unwrap();
    let v =
        c.status(server.raw("POST", CMS, Some("application/json"), bad_label).await, 422, "Invalid", "bad label key");
    if !v.is_null() {
        let on_labels = v["details"]["causes"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|x| x["field"].as_str().unwrap_or("").starts_with("metadata.labels")));
        c.that(on_labels, format!("bad label: no cause on metadata.labels: {v}"));
    }
    let mut names = names(&server).await;
    names.retain(|n| n != "kube-root-ca.crt");
    c.that(names == ["ok.with.dots"], format!("invalid objects were stored: {names:?}"));
    c.finish();
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = Server::start().await;
    let mut c = Checks::default();
    let big = "x".repeat(3 * 1024 * 1024 + 1024);
    let body = serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": big}}),
    )
    .unwrap();
    c.status(
        server.raw("POST", CMS, Some("application/json"), body.clone()).await,
        413,
        "RequestEntityTooLarge",
        "3 MiB create",
    );
    server.raw("POST", CMS, Some("application/json"), cm_json("small")).await;
    c.status(
        server.raw("PUT", &format!("{CMS}/small"), Some("application/json"), body.replace_name("small")).await,
        413,
        "RequestEntityTooLarge",
        "3 MiB replace",
    );
    let patch = serde_json::to_vec(&json!({"data": {"a": "y".repeat(3 * 1024 * 1024 + 1024)}})).unwrap();
    c.status(
        server.raw("PATCH", &format!("{CMS}/small"), Some("application/merge-patch+json"), patch).await,
        413,
        "RequestEntityTooLarge",
        "3 MiB patch",
    );
    let names = names(&server).await;
    c.that(!names.contains(&"big".to_owned()), format!("oversized object stored: {names:?}"));
    let (_, body) = server.raw("GET", &format!("{CMS}/small"), None, Vec::new()).await;
    let small: Value = serde_json::from_slice(&body).unwrap();
    c.that(small["data"]["a"] == "1", "an oversized write changed the object".to_owned());
    // Just under the limit still works (the object is what counts).
    let fits = "z".repeat(1024 * 1024);
    let body = serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fits"}, "data": {"a": fits}}),
    )
    .unwrap();
    let (code, _) = server.raw("POST", CMS, Some("application/json"), body).await;
    c.that(code == 201, format!("a 1 MiB object was refused with {code}"));
    c.finish();
}

trait ReplaceName {
    fn replace_name(&self, name: &str) -> Vec<u8>;
}

impl ReplaceName for Vec<u8> {
    fn replace_name(&self, name: &str) -> Vec<u8> {
        let mut v: Value = serde_json::from_slice(self).unwrap();
        v["metadata"]["name"] = json!(name);
        serde_json::to_vec(&v).unwrap()
    }
}

#[tokio::test]
async fn unknown_paths_and_kinds_are_404() {
    let server = Server::start().await;
    let mut c = Checks::default();
    for path in [
        "/api/v1/namespaces/default/widgets",
        "/api/v2/namespaces/default/configmaps",
        "/apis/nope.example.com/v1/things",
        "/apis/apps/v9/deployments",
        "/apis/apps/v1/namespaces/default/deployments/missing",
        "/api/v1/namespaces/nope/configmaps/missing",
        "/api/v1/namespaces/default/configmaps/missing/status",
        "/nonsense",
    ] {
        c.status(server.raw("GET", path, None, Vec::new()).await, 404, "NotFound", path);
    }
    // Creating an object of an unknown kind.
    c.status(
        server
            .raw("POST", "/apis/example.com/v1/namespaces/default/widgets", Some("application/json"), b"{}".to_vec())
            .await,
        404,
        "NotFound",
        "create unknown kind",
    );
    // Creating in a namespace that does not exist.
    let v = c.status(
        server.raw("POST", "/api/v1/namespaces/nowhere/configmaps", Some("application/json"), cm_json("x")).await,
        404,
        "NotFound",
        "missing namespace",
    );
    c.that(v.is_null() || v["details"]["kind"] == "namespaces", format!("missing namespace: details.kind: {v}"));
    c.finish();
}

#[tokio::test]
async fn bad_selectors_and_parameters_are_rejected() {
    let server = Server::start().await;
    let mut c = Checks::default();
    for query in [
        "labelSelector=a%20in%20(b",
        "labelSelector=%3D%3D",
        "labelSelector=a%3D%3D%3Db",
        "labelSelector=bad%20key%3Dv",
        "fieldSelector=spec.unknown%3Dx",
        "fieldSelector=metadata.name",
        "limit=abc",
        "continue=not-a-token",
        "timeoutSeconds=soon",
    ] {
        c.status(server.raw("GET", &format!("{CMS}?{query}"), None, Vec::new()).await, 400, "BadRequest", query);
    }
    c.status(
        server.raw("POST", &format!("{CMS}?dryRun=Sometimes"), Some("application/json"), cm_json("dry")).await,
        422,
        "Invalid",
        "bad dryRun",
    );
    c.status(
        server.raw("POST", &format!("{CMS}?fieldValidation=Maybe"), Some("application/json"), cm_json("fv")).await,
        422,
        "Invalid",
        "bad fieldValidation",
    );
    c.status(
        server
            .raw(
                "PATCH",
                &format!("{CMS}/x"),
                Some("application/apply-patch+yaml"),
                b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n".to_vec(),
            )
            .await,
        422,
        "Invalid",
        "apply without fieldManager",
    );
    // Invalid options are 422 (Kubernetes validates them as objects).
    c.status(
        server.raw("GET", &format!("{CMS}?resourceVersionMatch=Sometimes&resourceVersion=1"), None, Vec::new()).await,
        422,
        "Invalid",
        "bad resourceVersionMatch",
    );
    let names = names(&server).await;
    c.that(!names.iter().any(|n| n == "dry" || n == "fv" || n == "x"), format!("refused requests wrote {names:?}"));
    c.finish();
}

#[tokio::test]
async fn methods_not_allowed_are_405() {
    let server = Server::start().await;
    let mut c = Checks::default();
    let json = Some("application/json");
    let cases: Vec<(&str, String, Option<&str>, Vec<u8>)> = vec![
        ("PUT", CMS.to_owned(), json, cm_json("x")),
        ("PATCH", CMS.to_owned(), Some("application/merge-patch+json"), b"{}".to_vec()),
        ("POST", format!("{CMS}/named"), json, cm_json("named")),
        ("POST", "/api/v1/nodes/ferry-local/status".to_owned(), json, b"{}".to_vec()),
        ("DELETE", "/api".to_owned(), None, Vec::new()),
        ("POST", "/version".to_owned(), json, b"{}".to_vec()),
        ("PUT", "/apis".to_owned(), json, b"{}".to_vec()),
    ];
    for (method, path, ct, body) in cases {
        let what = format!("{method} {path}");
        c.status(server.raw(method, &path, ct, body).await, 405, "MethodNotAllowed", &what);
    }
    c.finish();
}

#[tokio::test]
async fn standard_errors_carry_details() {
    let server = Server::start().await;
    let mut c = Checks::default();
    server.raw("POST", CMS, Some("application/json"), cm_json("exists")).await;
    let v = c.status(
        server.raw("POST", CMS, Some("application/json"), cm_json("exists")).await,
        409,
        "AlreadyExists",
        "duplicate",
    );
    c.that(
        v.is_null() || (v["details"]["name"] == "exists" && v["details"]["kind"] == "configmaps"),
        format!("AlreadyExists details: {v}"),
    );
    let v = c.status(server.raw("GET", &format!("{CMS}/absent"), None, Vec::new()).await, 404, "NotFound", "missing");
    c.that(v.is_null() || v["details"]["name"] == "absent", format!("NotFound details: {v}"));
    // PUT with a mismatched name in the body.
    c.status(
        server.raw("PUT", &format!("{CMS}/exists"), Some("application/json"), cm_json("other")).await,
        400,
        "BadRequest",
        "name mismatch",
    );
    // Immutable fields: a ConfigMap marked immutable refuses data changes.
    let immutable = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "frozen"}, "immutable": true, "data": {"a": "1"}})).unwrap();
    let (code, _) = server.raw("POST", CMS, Some("application/json"), immutable).await;
    assert_eq!(code, 201);
    c.status(
        server
            .raw(
                "PATCH",
                &format!("{CMS}/frozen"),
                Some("application/merge-patch+json"),
                br#"{"data":{"a":"2"}}"#.to_vec(),
            )
            .await,
        422,
        "Invalid",
        "change an immutable ConfigMap",
    );
    // The server is still healthy after all of this.
    let (code, body) = common::raw_with(&server.anonymous_client().await, "GET", "/readyz", None, Vec::new()).await;
    assert_eq!((code, String::from_utf8_lossy(&body).trim()), (200, "ok"));
    c.finish();
}
