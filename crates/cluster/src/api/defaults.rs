//! Defaulting: the fields the API server fills in when a client leaves them
//! out. Runs on every write, after patches and apply, as Kubernetes defaults
//! on every decode, so a field a manager stops applying comes back with its
//! default rather than vanishing.
//!
//! Only the defaults that readers commonly depend on are implemented (the
//! crate docs list the difference): workload replica counts and rollout
//! settings, pod template basics, ports' protocols, Service type, Secret type,
//! Namespace finalizers and phase.

use serde_json::{Map, Value, json};

use crate::registry::ResourceType;

fn obj_at<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = value;
    for seg in path {
        cur = cur.as_object_mut()?.get_mut(*seg)?;
    }
    cur.as_object_mut()
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_owned(), value);
    }
}

fn ports(list: Option<&mut Value>) {
    if let Some(Value::Array(ports)) = list {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
        }
    }
}

/// Defaults of a PodSpec.
fn pod_spec(spec: &mut Map<String, Value>) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = spec.get_mut(list) {
            for c in containers.iter_mut().filter_map(Value::as_object_mut) {
                let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_owned();
                let tag = image.rsplit('/').next().unwrap_or_default();
                let latest = !tag.contains(':') && !image.contains('@') || tag.ends_with(":latest");
                default(c, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
                default(c, "terminationMessagePath", json!("/dev/termination-log"));
                default(c, "terminationMessagePolicy", json!("File"));
                default(c, "resources", json!({}));
                ports(c.get_mut("ports"));
            }
        }
    }
}

fn template(object: &mut Value) {
    if let Some(spec) = obj_at(object, &["spec", "template", "spec"]) {
        pod_spec(spec);
    }
}

/// Fills in defaults for the resource's kind. Idempotent.
pub fn apply(rt: &ResourceType, object: &mut Value) {
    if !matches!(rt.schema, crate::registry::SchemaSource::Builtin) {
        return;
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            if let Some(o) = object.as_object_mut() {
                default(o, "spec", json!({}));
            }
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "finalizers", json!(["kubernetes"]));
            }
            if let Some(o) = object.as_object_mut() {
                default(o, "status", json!({}));
            }
            if let Some(status) = obj_at(object, &["status"]) {
                default(status, "phase", json!("Active"));
            }
        }
        ("", "pods") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                pod_spec(spec);
            }
        }
        ("", "secrets") => {
            if let Some(o) = object.as_object_mut() {
                default(o, "type", json!("Opaque"));
                // stringData is write-only: it is merged into data, encoded.
                if let Some(Value::Object(strings)) = o.remove("stringData") {
                    use base64::Engine;
                    let data = o.entry("data").or_insert_with(|| json!({}));
                    if let Some(data) = data.as_object_mut() {
                        for (k, v) in strings {
                            let text = v.as_str().unwrap_or_default();
                            data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(text)));
                        }
                    }
                }
            }
        }
        ("", "services") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "type", json!("ClusterIP"));
                default(spec, "sessionAffinity", json!("None"));
                if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        default(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            default(p, "targetPort", port);
                        }
                    }
                }
            }
        }
        ("apps", "deployments") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "replicas", json!(1));
                default(spec, "progressDeadlineSeconds", json!(600));
                default(spec, "revisionHistoryLimit", json!(10));
                default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                );
            }
            template(object);
        }
        ("apps", "replicasets") | ("", "replicationcontrollers") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "replicas", json!(1));
            }
            template(object);
        }
        ("apps", "statefulsets") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "replicas", json!(1));
                default(spec, "podManagementPolicy", json!("OrderedReady"));
                default(spec, "revisionHistoryLimit", json!(10));
                default(spec, "updateStrategy", json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
            }
            template(object);
        }
        ("apps", "daemonsets") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "revisionHistoryLimit", json!(10));
                default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
                );
            }
            template(object);
        }
        ("batch", "jobs") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "backoffLimit", json!(6));
                default(spec, "completions", json!(1));
                default(spec, "parallelism", json!(1));
            }
            template(object);
        }
        ("batch", "cronjobs") => {
            if let Some(spec) = obj_at(object, &["spec"]) {
                default(spec, "concurrencyPolicy", json!("Allow"));
                default(spec, "suspend", json!(false));
                default(spec, "successfulJobsHistoryLimit", json!(3));
                default(spec, "failedJobsHistoryLimit", json!(1));
            }
            if let Some(spec) = obj_at(object, &["spec", "jobTemplate", "spec", "template", "spec"]) {
                pod_spec(spec);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn deployment_defaults_are_filled_once() {
        let registry = Registry::builtin();
        let rt = registry.resolve("apps", "v1", "deployments").expect("deployments");
        let mut d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "nginx:1.27"}
        ]}}}});
        apply(&rt, &mut d);
        let once = d.clone();
        apply(&rt, &mut d);
        assert_eq!(once, d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["imagePullPolicy"], "Always");
        assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn explicit_values_win() {
        let registry = Registry::builtin();
        let rt = registry.resolve("", "v1", "services").expect("services");
        let mut s =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080, "protocol": "UDP"}]}});
        apply(&rt, &mut s);
        assert_eq!(s["spec"]["type"], "NodePort");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
        assert_eq!(s["spec"]["ports"][0]["protocol"], "UDP");
    }
}
