use serde_json::{Map, Value, json};

use super::*;

fn labels(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn sel(s: &str) -> LabelSelector {
    match LabelSelector::parse(s) {
        Ok(sel) => sel,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

#[test]
fn equality_and_inequality() {
    let l = labels(json!({"app": "web", "tier": "front"}));
    assert!(sel("app=web").matches(&l));
    assert!(sel("app==web").matches(&l));
    assert!(!sel("app=db").matches(&l));
    assert!(sel("app!=db").matches(&l));
    assert!(!sel("app!=web").matches(&l));
    // `!=` holds when the label is absent.
    assert!(sel("missing!=x").matches(&l));
    assert!(sel(" app = web , tier=front ").matches(&l));
    assert!(!sel("app=web,tier=back").matches(&l));
}

#[test]
fn set_based() {
    let l = labels(json!({"env": "prod", "app": "web"}));
    assert!(sel("env in (prod, staging)").matches(&l));
    assert!(!sel("env in (dev,staging)").matches(&l));
    assert!(sel("env notin (dev,staging)").matches(&l));
    assert!(!sel("env notin (prod)").matches(&l));
    assert!(sel("other notin (prod)").matches(&l));
    assert!(!sel("other in (prod)").matches(&l));
    assert!(sel("app,env in (prod)").matches(&l));
}

#[test]
fn exists_and_not_exists() {
    let l = labels(json!({"app": "web"}));
    assert!(sel("app").matches(&l));
    assert!(!sel("db").matches(&l));
    assert!(sel("!db").matches(&l));
    assert!(!sel("!app").matches(&l));
    assert!(sel("app,!db").matches(&l));
}

#[test]
fn keywords_are_values_and_keys_too() {
    let l = labels(json!({"in": "notin"}));
    assert!(sel("in=notin").matches(&l));
    assert!(sel("in in (notin)").matches(&l));
}

#[test]
fn empty_value_and_empty_selector() {
    let l = labels(json!({"a": ""}));
    assert!(sel("a=").matches(&l));
    assert!(!sel("a=x").matches(&l));
    assert!(sel("").is_everything());
    assert!(sel("   ").matches(&Map::new()));
}

#[test]
fn integer_comparisons() {
    let l = labels(json!({"n": "5"}));
    assert!(sel("n>3").matches(&l));
    assert!(!sel("n<3").matches(&l));
    assert!(LabelSelector::parse("n>x").is_err());
}

#[test]
fn prefixed_keys() {
    let l = labels(json!({"app.kubernetes.io/name": "web"}));
    assert!(sel("app.kubernetes.io/name=web").matches(&l));
}

#[test]
fn syntax_and_validation_errors() {
    for bad in [
        "a=b=c",
        "a in b",
        "a in (b",
        "a in ()",
        "a,,b",
        ",a",
        "a b",
        "!",
        "-a=b",
        "a=-b",
        "Upper.Case/x=y",
        "a/b/c=d",
        &format!("{}=x", "k".repeat(64)),
        &format!("a={}", "v".repeat(64)),
    ] {
        assert!(LabelSelector::parse(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn display_is_parseable() {
    let s = sel("app=web,env in (b,a),!x,y,z!=q");
    assert_eq!(s.to_string(), "app=web,env in (a,b),!x,y,z!=q");
    assert_eq!(LabelSelector::parse(&s.to_string()), Ok(s));
}

#[test]
fn from_json_object() {
    let s = LabelSelector::from_json(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "tier", "operator": "Exists"},
            {"key": "zone", "operator": "NotIn", "values": ["x"]},
        ]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.matches(&labels(json!({"app": "web", "env": "prod", "tier": "a"}))));
    assert!(!s.matches(&labels(json!({"app": "web", "env": "prod"}))));
    assert!(!s.matches(&labels(json!({"app": "web", "env": "prod", "tier": "a", "canary": "1"}))));
    assert!(!s.matches(&labels(json!({"app": "web", "env": "prod", "tier": "a", "zone": "x"}))));
    assert_eq!(s.to_string(), "app=web,env in (prod,staging),!canary,tier,zone!=x");
}

#[test]
fn from_json_empty_and_null() {
    let everything = LabelSelector::from_json(&json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert!(everything.matches(&Map::new()));
    let nothing = LabelSelector::from_json(&Value::Null).unwrap_or_else(|e| panic!("{e}"));
    assert!(!nothing.matches(&labels(json!({"a": "b"}))));
}

#[test]
fn from_json_errors() {
    for bad in [
        json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
        json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
        json!({"matchExpressions": [{"key": "", "operator": "Exists"}]}),
        json!({"matchLabels": {"a": 1}}),
        json!({"matchLabels": {"a": "-x"}}),
        json!("app=web"),
    ] {
        assert!(LabelSelector::from_json(&bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn matches_object_reads_metadata_labels() {
    let s = sel("app=web");
    assert!(s.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
    assert!(!s.matches_object(&json!({"metadata": {}})));
}

fn fsel(s: &str) -> FieldSelector {
    match FieldSelector::parse(s) {
        Ok(f) => f,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

#[test]
fn field_selectors() {
    let pod = json!({
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"nodeName": "node-1", "replicas": 3, "paused": false},
        "status": {"phase": "Running"}
    });
    assert!(fsel("metadata.name=web-1").matches(&pod));
    assert!(fsel("metadata.name==web-1,metadata.namespace=default").matches(&pod));
    assert!(!fsel("metadata.name!=web-1").matches(&pod));
    assert!(fsel("status.phase!=Pending").matches(&pod));
    assert!(fsel("spec.nodeName=node-1").matches(&pod));
    assert!(fsel("spec.replicas=3,spec.paused=false").matches(&pod));
    // Missing fields compare as the empty string.
    assert!(fsel("spec.missing=").matches(&pod));
    assert!(fsel("involvedObject.name!=x").matches(&pod));
    assert!(!fsel("involvedObject.name=x").matches(&pod));
    assert!(fsel("").is_everything());
    assert_eq!(fsel("metadata.namespace=default").required_value("metadata.namespace"), Some("default"));
    assert_eq!(fsel("metadata.namespace!=default").required_value("metadata.namespace"), None);
}

#[test]
fn field_selector_escapes() {
    let obj = json!({"metadata": {"name": "a,b=c"}});
    assert!(fsel(r"metadata.name=a\,b\=c").matches(&obj));
    let f = fsel(r"metadata.name=a\,b\=c,metadata.namespace!=x");
    assert_eq!(f.requirements().len(), 2);
    assert_eq!(f.requirements()[0].value, "a,b=c");
}

#[test]
fn field_selector_errors() {
    for bad in ["metadata.name", "=x", r"metadata.name=a\q", r"a=b\"] {
        assert!(FieldSelector::parse(bad).is_err(), "{bad:?} should be rejected");
    }
}
