//! Cells of `kubectl get` tables (`meta.k8s.io/v1` Table responses).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{PrinterColumn, ResourceType};
use crate::selector::LabelSelector;

/// A cell that Kubernetes computes from several fields of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Computed {
    /// Time since `metadata.creationTimestamp`, as a human duration (`5m`).
    Age,
    /// Time since the timestamp at a path, or `<none>`.
    AgeOf(&'static str),
    /// The timestamp at a path, as is (Kubernetes' default `Created At`).
    Timestamp(&'static str),
    /// An integer at a path, 0 when absent.
    IntOrZero(&'static str),
    /// The text at a path, or a default when absent.
    Default(&'static str, &'static str),
    /// `True`/`False` from a boolean at a path (absent is `False`).
    BoolTitle(&'static str),
    /// `<a>/<b>` from two integers (absent is 0), as in Deployments' READY.
    Ratio(&'static str, &'static str),
    /// The number of entries of the lists or maps at these paths, summed.
    Count(&'static [&'static str]),
    /// A list of strings joined with commas.
    Join(&'static str),
    /// Container names of the pod spec at a path.
    Containers(&'static str),
    /// Container images of the pod spec at a path.
    Images(&'static str),
    /// A `metav1.LabelSelector` at a path, in selector syntax.
    Selector(&'static str),
    /// A map of labels at a path, as `k=v,...`, or `<none>`.
    MapSelector(&'static str),
    /// `<Kind>/<name>` of a reference object at a path.
    KindNameRef(&'static str),
    /// `<namespace>/<name>` of a reference object at a path.
    NamespacedRef(&'static str),
    /// Abbreviated access modes (`RWO,ROX`) of the list at a path.
    AccessModes(&'static str),
    /// The first condition of this type: the first text if its status is
    /// `True`, else the second (top-level `conditions` or `status.conditions`).
    ConditionType(&'static str, &'static str, &'static str),
    /// Pods: ready containers over containers, `1/2`.
    PodReady,
    /// Pods: the status reason kubectl shows (`Running`, `CrashLoopBackOff`, ...).
    PodStatus,
    /// Pods: total container restarts.
    PodRestarts,
    /// Pods: ready readiness gates over readiness gates, or `<none>`.
    PodReadinessGates,
    /// Nodes: `Ready`, `NotReady` or `Unknown`, plus `SchedulingDisabled`.
    NodeStatus,
    /// Nodes: roles from `node-role.kubernetes.io/<role>` labels.
    NodeRoles,
    /// Nodes: the first address of this type.
    NodeAddress(&'static str),
    /// Services: external IPs, `<pending>` or `<none>`.
    ServiceExternalIp,
    /// Services: ports as `80/TCP,443:30443/TCP`.
    ServicePorts,
    /// Jobs: `Complete`, `Failed`, `Suspended` or `Running`.
    JobStatus,
    /// Jobs: `<succeeded>/<completions>`.
    JobCompletions,
    /// Jobs: time from start to completion (or to now).
    JobDuration,
    /// Events: time since the last occurrence.
    EventLastSeen,
    /// Events: `<kind>/<name>` of the object the reference at a path points to.
    EventObject(&'static str),
    /// Endpoints: `ip:port` pairs.
    Endpoints,
    /// EndpointSlices: ports.
    SlicePorts,
    /// EndpointSlices: addresses.
    SliceEndpoints,
    /// Ingresses: hosts, or `*`.
    IngressHosts,
    /// Ingresses: `80` or `80, 443` with TLS.
    IngressPorts,
    /// Load balancer ingress IPs or hostnames at a path.
    LoadBalancerAddress(&'static str),
    /// ControllerRevisions: `<kind>/<name>` of the controlling owner.
    ControllerOwner,
    /// APIServices: `<namespace>/<name>` of the service, or `Local`.
    ApiServiceService,
    /// ValidatingAdmissionPolicies: `<apiVersion>/<kind>` of the param kind.
    ParamKind,
}

/// The `columnDefinitions` of a Table for a resource: NAME first, then the
/// resource's printer columns.
pub fn table_column_definitions(rt: &ResourceType) -> Vec<Value> {
    let mut columns = vec![json!({
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.",
        "priority": 0,
    })];
    for c in &rt.printer_columns {
        columns.push(json!({
            "name": c.name,
            "type": c.type_,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }));
    }
    columns
}

/// The cells of one Table row for an object, now: the name first, then one
/// cell per printer column (ages included).
pub fn table_cells(rt: &ResourceType, object: &Value) -> Vec<Value> {
    table_cells_at(rt, object, Utc::now())
}

/// [`table_cells`] at a given time (ages and durations are relative to `now`).
///
/// Simplifications compared with Kubernetes: pod restarts do not show the
/// time of the last restart; pod status covers the common reasons only;
/// HorizontalPodAutoscalers have no TARGETS column.
pub fn table_cells_at(rt: &ResourceType, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = object.pointer("/metadata/name").cloned().unwrap_or(Value::String(String::new()));
    let mut cells = vec![name];
    let origin = if rt.crd_name().is_some() { Origin::Crd } else { Origin::Builtin };
    for column in &rt.printer_columns {
        cells.push(match &column.computed {
            Some(c) => computed(c, object, now),
            None => path_cell(column, origin, object, now),
        });
    }
    cells
}

/// Where a column comes from: built-in columns show `<none>` for missing
/// strings, CRD columns an empty (null) cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Builtin,
    Crd,
}

/// A column given by a Kubernetes JSONPath (CRD `additionalPrinterColumns`
/// and plain built-in columns).
fn path_cell(column: &PrinterColumn, origin: Origin, object: &Value, now: DateTime<Utc>) -> Value {
    let values = jsonpath(object, &column.json_path);
    let Some(first) = values.first() else {
        return if origin == Origin::Builtin && column.type_ == "string" {
            Value::String("<none>".into())
        } else {
            Value::Null
        };
    };
    match column.type_.as_str() {
        "date" => match first.as_str() {
            Some(s) => age_text(s, now),
            None => Value::Null,
        },
        "integer" | "number" | "boolean" if values.len() == 1 => (*first).clone(),
        _ if values.len() == 1 => match first {
            Value::String(_) => (*first).clone(),
            other => Value::String(other.to_string()),
        },
        _ => Value::String(values.iter().map(|v| text(v)).collect::<Vec<_>>().join(",")),
    }
}

/// Evaluates a Kubernetes JSONPath (`.spec.x`, `.items[0]`,
/// `.conditions[?(@.type=="Ready")].status`, optionally in `{}`) against an
/// object. Invalid paths give no values.
pub(crate) fn jsonpath<'a>(object: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim();
    let path = path.strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(path);
    let expr = if path.starts_with('$') { path.to_owned() } else { format!("${path}") };
    match serde_json_path::JsonPath::parse(&expr) {
        Ok(p) => p.query(object).all(),
        Err(_) => Vec::new(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    super::simple_path(object, path).filter(|v| !v.is_null())
}

fn str_at<'a>(object: &'a Value, path: &str) -> Option<&'a str> {
    at(object, path).and_then(Value::as_str)
}

fn int_at(object: &Value, path: &str) -> i64 {
    at(object, path).and_then(Value::as_i64).unwrap_or(0)
}

fn array_at<'a>(object: &'a Value, path: &str) -> &'a [Value] {
    at(object, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn none_if_empty(s: String) -> Value {
    Value::String(if s.is_empty() { "<none>".to_owned() } else { s })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn age_text(timestamp: &str, now: DateTime<Utc>) -> Value {
    match parse_time(timestamp) {
        Some(t) => Value::String(human_duration(now.signed_duration_since(t))),
        None => Value::String("<unknown>".into()),
    }
}

/// Formats a duration the way kubectl shows ages: `45s`, `3m20s`, `15m`,
/// `5h10m`, `20h`, `3d4h`, `30d`, `2y100d`, `10y`.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let years = days / 365;
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 { format!("{big}{big_unit}") } else { format!("{big}{big_unit}{small}{small_unit}") }
    };
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        pair(minutes, "m", seconds % 60, "s")
    } else if minutes < 180 {
        format!("{minutes}m")
    } else if hours < 8 {
        pair(hours, "h", minutes % 60, "m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        pair(days, "d", hours % 24, "h")
    } else if days < 365 * 2 {
        format!("{days}d")
    } else if days < 365 * 8 {
        pair(years, "y", days % 365, "d")
    } else {
        format!("{years}y")
    }
}

fn computed(c: &Computed, o: &Value, now: DateTime<Utc>) -> Value {
    match c {
        Computed::Age => match str_at(o, ".metadata.creationTimestamp") {
            Some(t) => age_text(t, now),
            None => Value::String("<unknown>".into()),
        },
        Computed::AgeOf(path) => match str_at(o, path) {
            Some(t) => age_text(t, now),
            None => Value::String("<none>".into()),
        },
        Computed::Timestamp(path) => at(o, path).cloned().unwrap_or(Value::Null),
        Computed::IntOrZero(path) => json!(int_at(o, path)),
        Computed::Default(path, default) => match at(o, path) {
            Some(v) => Value::String(text(v)),
            None => Value::String((*default).to_owned()),
        },
        Computed::BoolTitle(path) => {
            let b = at(o, path).and_then(Value::as_bool).unwrap_or(false);
            Value::String(if b { "True" } else { "False" }.into())
        }
        Computed::Ratio(a, b) => Value::String(format!("{}/{}", int_at(o, a), int_at(o, b))),
        Computed::Count(paths) => {
            let n: usize = paths
                .iter()
                .map(|p| match at(o, p) {
                    Some(Value::Array(a)) => a.len(),
                    Some(Value::Object(m)) => m.len(),
                    _ => 0,
                })
                .sum();
            json!(n)
        }
        Computed::Join(path) => none_if_empty(array_at(o, path).iter().map(text).collect::<Vec<_>>().join(",")),
        Computed::Containers(spec) => containers(o, spec, "name"),
        Computed::Images(spec) => containers(o, spec, "image"),
        Computed::Selector(path) => match at(o, path) {
            None => Value::String("<none>".into()),
            Some(v) => match LabelSelector::from_json(v) {
                Ok(s) if s.is_everything() => Value::String("<none>".into()),
                Ok(s) => Value::String(s.to_string()),
                Err(_) => Value::String("<invalid>".into()),
            },
        },
        Computed::MapSelector(path) => {
            let pairs: Vec<String> = at(o, path)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={}", text(v))).collect())
                .unwrap_or_default();
            none_if_empty(pairs.join(","))
        }
        Computed::KindNameRef(path) => match at(o, path) {
            Some(r) => Value::String(format!(
                "{}/{}",
                r.get("kind").map(text).unwrap_or_default(),
                r.get("name").map(text).unwrap_or_default()
            )),
            None => Value::String("<none>".into()),
        },
        Computed::NamespacedRef(path) => match at(o, path) {
            Some(r) => {
                let name = r.get("name").map(text).unwrap_or_default();
                match r.get("namespace").map(text).filter(|n| !n.is_empty()) {
                    Some(ns) => Value::String(format!("{ns}/{name}")),
                    None => Value::String(name),
                }
            }
            None => Value::String(String::new()),
        },
        Computed::AccessModes(path) => {
            let modes: Vec<&str> = array_at(o, path)
                .iter()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect();
            Value::String(modes.join(","))
        }
        Computed::ConditionType(ty, yes, no) => {
            let conditions = at(o, ".status.conditions").or_else(|| at(o, ".conditions"));
            let condition = conditions
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(ty)));
            match condition {
                Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => Value::String((*yes).into()),
                Some(c) => {
                    let reason = c.get("reason").and_then(Value::as_str).unwrap_or_default();
                    if reason.is_empty() {
                        Value::String((*no).into())
                    } else {
                        Value::String(format!("{no} ({reason})"))
                    }
                }
                None => Value::String("Unknown".into()),
            }
        }
        Computed::PodReady => {
            let total = array_at(o, ".spec.containers").len();
            let ready = array_at(o, ".status.containerStatuses")
                .iter()
                .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            Value::String(format!("{ready}/{total}"))
        }
        Computed::PodStatus => Value::String(pod_status(o)),
        Computed::PodRestarts => {
            let n: i64 = array_at(o, ".status.containerStatuses")
                .iter()
                .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
                .sum();
            Value::String(n.to_string())
        }
        Computed::PodReadinessGates => {
            let gates = array_at(o, ".spec.readinessGates");
            if gates.is_empty() {
                return Value::String("<none>".into());
            }
            let conditions = array_at(o, ".status.conditions");
            let ready = gates
                .iter()
                .filter(|g| {
                    let ty = g.get("conditionType").and_then(Value::as_str);
                    conditions.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == ty
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
                .count();
            Value::String(format!("{ready}/{}", gates.len()))
        }
        Computed::NodeStatus => {
            let ready = array_at(o, ".status.conditions")
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                .and_then(|c| c.get("status").and_then(Value::as_str));
            let mut status = match ready {
                Some("True") => "Ready".to_owned(),
                Some(_) => "NotReady".to_owned(),
                None => "Unknown".to_owned(),
            };
            if at(o, ".spec.unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            Value::String(status)
        }
        Computed::NodeRoles => {
            let mut roles: Vec<String> = at(o, ".metadata.labels")
                .and_then(Value::as_object)
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|(k, v)| {
                            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                                (!role.is_empty()).then(|| role.to_owned())
                            } else if k == "kubernetes.io/role" {
                                v.as_str().map(str::to_owned)
                            } else {
                                None
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            roles.dedup();
            none_if_empty(roles.join(","))
        }
        Computed::NodeAddress(ty) => {
            let address = array_at(o, ".status.addresses")
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some(ty))
                .and_then(|a| a.get("address").and_then(Value::as_str));
            Value::String(address.unwrap_or("<none>").to_owned())
        }
        Computed::ServiceExternalIp => Value::String(service_external_ip(o)),
        Computed::ServicePorts => {
            let ports: Vec<String> = array_at(o, ".spec.ports")
                .iter()
                .map(|p| {
                    let port = p.get("port").map(text).unwrap_or_default();
                    let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    match p.get("nodePort").filter(|n| !n.is_null()) {
                        Some(node_port) => format!("{port}:{}/{protocol}", text(node_port)),
                        None => format!("{port}/{protocol}"),
                    }
                })
                .collect();
            none_if_empty(ports.join(","))
        }
        Computed::JobStatus => Value::String(job_status(o)),
        Computed::JobCompletions => {
            let succeeded = int_at(o, ".status.succeeded");
            match at(o, ".spec.completions").and_then(Value::as_i64) {
                Some(c) => Value::String(format!("{succeeded}/{c}")),
                None => {
                    let parallelism = at(o, ".spec.parallelism").and_then(Value::as_i64).unwrap_or(1);
                    if parallelism > 1 {
                        Value::String(format!("{succeeded}/1 of {parallelism}"))
                    } else {
                        Value::String(format!("{succeeded}/1"))
                    }
                }
            }
        }
        Computed::JobDuration => {
            let Some(start) = str_at(o, ".status.startTime").and_then(parse_time) else {
                return Value::String(String::new());
            };
            let end = str_at(o, ".status.completionTime").and_then(parse_time).unwrap_or(now);
            Value::String(human_duration(end.signed_duration_since(start)))
        }
        Computed::EventLastSeen => {
            let last = str_at(o, ".lastTimestamp")
                .or_else(|| str_at(o, ".series.lastObservedTime"))
                .or_else(|| str_at(o, ".deprecatedLastTimestamp"))
                .or_else(|| str_at(o, ".eventTime"))
                .or_else(|| str_at(o, ".metadata.creationTimestamp"));
            match last {
                Some(t) => age_text(t, now),
                None => Value::String("<unknown>".into()),
            }
        }
        Computed::EventObject(path) => {
            let kind = str_at(o, &format!("{path}.kind")).unwrap_or_default().to_lowercase();
            let name = str_at(o, &format!("{path}.name")).unwrap_or_default();
            Value::String(format!("{kind}/{name}"))
        }
        Computed::Endpoints => {
            let mut list = Vec::new();
            for subset in array_at(o, ".subsets") {
                let ports: Vec<String> =
                    array_at(subset, ".ports").iter().filter_map(|p| p.get("port")).map(text).collect();
                for address in array_at(subset, ".addresses") {
                    let ip = address.get("ip").map(text).unwrap_or_default();
                    if ports.is_empty() {
                        list.push(ip);
                    } else {
                        list.extend(ports.iter().map(|p| format!("{ip}:{p}")));
                    }
                }
            }
            none_if_empty(abbreviate(list))
        }
        Computed::SlicePorts => {
            let ports: Vec<String> = array_at(o, ".ports").iter().filter_map(|p| p.get("port")).map(text).collect();
            if ports.is_empty() { Value::String("<unset>".into()) } else { Value::String(ports.join(",")) }
        }
        Computed::SliceEndpoints => {
            let addresses: Vec<String> =
                array_at(o, ".endpoints").iter().flat_map(|e| array_at(e, ".addresses").iter().map(text)).collect();
            if addresses.is_empty() { Value::String("<unset>".into()) } else { Value::String(abbreviate(addresses)) }
        }
        Computed::IngressHosts => {
            let hosts: Vec<String> = array_at(o, ".spec.rules")
                .iter()
                .map(|r| r.get("host").and_then(Value::as_str).filter(|h| !h.is_empty()).unwrap_or("*").to_owned())
                .collect();
            Value::String(if hosts.is_empty() { "*".to_owned() } else { abbreviate(hosts) })
        }
        Computed::IngressPorts => {
            let tls = !array_at(o, ".spec.tls").is_empty();
            Value::String(if tls { "80, 443" } else { "80" }.into())
        }
        Computed::LoadBalancerAddress(path) => Value::String(load_balancer_addresses(array_at(o, path)).join(",")),
        Computed::ControllerOwner => {
            let owner = array_at(o, ".metadata.ownerReferences")
                .iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
            match owner {
                Some(r) => Value::String(format!(
                    "{}/{}",
                    r.get("kind").map(text).unwrap_or_default().to_lowercase(),
                    r.get("name").map(text).unwrap_or_default()
                )),
                None => Value::String("<none>".into()),
            }
        }
        Computed::ApiServiceService => match at(o, ".spec.service") {
            Some(s) => Value::String(format!(
                "{}/{}",
                s.get("namespace").map(text).unwrap_or_default(),
                s.get("name").map(text).unwrap_or_default()
            )),
            None => Value::String("Local".into()),
        },
        Computed::ParamKind => match at(o, ".spec.paramKind") {
            Some(p) => Value::String(format!(
                "{}/{}",
                p.get("apiVersion").map(text).unwrap_or_default(),
                p.get("kind").map(text).unwrap_or_default()
            )),
            None => Value::String("<unset>".into()),
        },
    }
}

/// Like kubectl: at most three entries, then `+ N more...`.
fn abbreviate(list: Vec<String>) -> String {
    if list.len() <= 3 {
        return list.join(",");
    }
    format!("{} + {} more...", list[..3].join(","), list.len() - 3)
}

fn containers(o: &Value, spec: &str, field: &str) -> Value {
    let values: Vec<String> = array_at(o, &format!("{spec}.containers"))
        .iter()
        .filter_map(|c| c.get(field).and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    none_if_empty(values.join(","))
}

fn load_balancer_addresses(ingress: &[Value]) -> Vec<String> {
    ingress
        .iter()
        .filter_map(|i| {
            i.get("ip")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| i.get("hostname").and_then(Value::as_str))
                .map(str::to_owned)
        })
        .collect()
}

fn service_external_ip(o: &Value) -> String {
    let external: Vec<String> =
        array_at(o, ".spec.externalIPs").iter().filter_map(Value::as_str).map(str::to_owned).collect();
    match str_at(o, ".spec.type").unwrap_or("ClusterIP") {
        "ExternalName" => str_at(o, ".spec.externalName").unwrap_or("<none>").to_owned(),
        "LoadBalancer" => {
            let mut all = load_balancer_addresses(array_at(o, ".status.loadBalancer.ingress"));
            all.extend(external);
            if all.is_empty() { "<pending>".to_owned() } else { all.join(",") }
        }
        _ if !external.is_empty() => external.join(","),
        _ => "<none>".to_owned(),
    }
}

fn job_status(o: &Value) -> String {
    if at(o, ".metadata.deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    let conditions = array_at(o, ".status.conditions");
    let is_true = |ty: &str| {
        conditions.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some(ty) && c.get("status").and_then(Value::as_str) == Some("True")
        })
    };
    if is_true("Complete") {
        "Complete".into()
    } else if is_true("Failed") {
        "Failed".into()
    } else if is_true("FailureTarget") {
        "FailureTarget".into()
    } else if is_true("SuccessCriteriaMet") {
        "SuccessCriteriaMet".into()
    } else if is_true("Suspended") {
        "Suspended".into()
    } else {
        "Running".into()
    }
}

fn pod_status(o: &Value) -> String {
    let mut reason = str_at(o, ".status.reason").or_else(|| str_at(o, ".status.phase")).unwrap_or("Pending").to_owned();
    // Init containers that have not finished take precedence.
    let init_total = array_at(o, ".spec.initContainers").len();
    let mut initializing = false;
    for (i, s) in array_at(o, ".status.initContainerStatuses").iter().enumerate() {
        if let Some(t) = s.pointer("/state/terminated") {
            if t.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            reason = match t.get("reason").and_then(Value::as_str) {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => format!("Init:ExitCode:{}", t.get("exitCode").map(text).unwrap_or_default()),
            };
            initializing = true;
            break;
        }
        if let Some(r) = s
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
            initializing = true;
            break;
        }
        if s.get("ready").and_then(Value::as_bool) != Some(true) {
            reason = format!("Init:{i}/{init_total}");
            initializing = true;
            break;
        }
    }
    if !initializing {
        let mut has_running = false;
        for s in array_at(o, ".status.containerStatuses").iter().rev() {
            if let Some(r) = s.pointer("/state/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                reason = r.to_owned();
            } else if let Some(t) = s.pointer("/state/terminated") {
                reason = match t.get("reason").and_then(Value::as_str) {
                    Some(r) if !r.is_empty() => r.to_owned(),
                    _ => format!("ExitCode:{}", t.get("exitCode").map(text).unwrap_or_default()),
                };
            } else if s.pointer("/state/running").is_some() && s.get("ready").and_then(Value::as_bool) == Some(true) {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if at(o, ".metadata.deletionTimestamp").is_some() {
        reason = if str_at(o, ".status.reason") == Some("NodeLost") { "Unknown".into() } else { "Terminating".into() };
    }
    reason
}
