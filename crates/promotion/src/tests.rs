use super::*;

#[test]
fn every_crd_is_in_the_ferry_group() {
    let crds = crds();
    assert_eq!(crds.len(), 7);
    for crd in &crds {
        assert_eq!(crd.spec.group, "ferry.dev", "{:?}", crd.metadata.name);
        assert_eq!(crd.spec.versions[0].name, "v1alpha1");
    }
}

#[test]
fn freight_fields_sit_at_the_root() {
    let json = serde_json::json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Freight",
        "metadata": { "name": "abc", "namespace": "ferry" },
        "alias": "brave-otter",
        "origin": { "kind": "Warehouse", "name": "app" },
        "images": [{ "repoURL": "127.0.0.1:5000/app", "tag": "v1.0.0", "digest": "sha256:00" }]
    });
    let freight: Freight = serde_json::from_value(json).unwrap();
    assert_eq!(freight.spec.alias, "brave-otter");
    assert_eq!(freight.spec.images[0].tag, "v1.0.0");
}

#[test]
fn step_keywords_keep_kargo_names() {
    let step: PromotionStep = serde_json::from_value(serde_json::json!({
        "uses": "git-clone", "as": "clone", "if": "true", "config": { "repoURL": "x" }
    }))
    .unwrap();
    assert_eq!(step.alias.as_deref(), Some("clone"));
    assert_eq!(step.if_.as_deref(), Some("true"));
    let back = serde_json::to_value(&step).unwrap();
    assert_eq!(back["as"], "clone");
}
