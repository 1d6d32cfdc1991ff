//! Services get a clusterIP (and LoadBalancers an ingress IP); claims
//! become Bound.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::{MANAGER, Sim};
use crate::api::{ApiError, Subresource};
use crate::controllers::runtime::{self, Next};

/// The service range, 10.96.0.0/12.
const SERVICE_BASE: u32 = 0x0a60_0000;
const SERVICE_SIZE: u32 = 1 << 20;
/// Addresses of the range kept for the cluster itself (the `kubernetes`
/// Service, and the conventional DNS address).
const RESERVED: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 96, 0, 1), Ipv4Addr::new(10, 96, 0, 10)];
/// Load-balancer ingress addresses, 172.18.255.1..254.
const LB_BASE: u32 = 0xac12_ff00;
/// NodePorts, as the default range.
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// What a Service needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceChanges {
    /// A clusterIP to assign.
    pub cluster_ip: Option<String>,
    /// NodePorts to assign, by index in `spec.ports`.
    pub node_ports: Vec<(usize, i64)>,
    /// The load-balancer status to set (`Some(None)`: clear it).
    pub load_balancer: Option<Option<String>>,
}

/// Addresses and ports other Services hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Used {
    pub(crate) cluster_ips: HashSet<Ipv4Addr>,
    pub(crate) lb_ips: HashSet<Ipv4Addr>,
    pub(crate) node_ports: HashSet<i64>,
}

impl Used {
    /// What `services` hold, except the one named `(namespace, name)`.
    pub(crate) fn from_services(services: &[Value], except: (&str, &str)) -> Used {
        let mut used = Used::default();
        for svc in services {
            if (runtime::namespace_of(svc), runtime::name_of(svc)) == except {
                continue;
            }
            if let Ok(ip) = runtime::str_at(svc, &["spec", "clusterIP"]).parse() {
                used.cluster_ips.insert(ip);
            }
            for ingress in
                runtime::at(svc, &["status", "loadBalancer", "ingress"]).and_then(Value::as_array).into_iter().flatten()
            {
                if let Some(Ok(ip)) = ingress.get("ip").and_then(Value::as_str).map(str::parse) {
                    used.lb_ips.insert(ip);
                }
            }
            for port in runtime::at(svc, &["spec", "ports"]).and_then(Value::as_array).into_iter().flatten() {
                if let Some(p) = port.get("nodePort").and_then(Value::as_i64) {
                    used.node_ports.insert(p);
                }
            }
        }
        used
    }
}

/// Decides a Service's addresses (pure): free ones are picked starting
/// from a hash of its namespace and name, so they are stable and spread.
pub fn service_changes(svc: &Value, used: &Used) -> ServiceChanges {
    let type_ = match runtime::str_at(svc, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    };
    let seed = super::fnv1a(format!("{}/{}", runtime::namespace_of(svc), runtime::name_of(svc)).as_bytes());
    let mut changes = ServiceChanges::default();
    if type_ != "ExternalName" && runtime::str_at(svc, &["spec", "clusterIP"]).is_empty() {
        changes.cluster_ip = (0..SERVICE_SIZE)
            .map(|i| Ipv4Addr::from(SERVICE_BASE + ((seed.wrapping_add(i)) % SERVICE_SIZE)))
            .find(|ip| {
                let last = ip.octets()[3];
                last != 0 && last != 255 && !RESERVED.contains(ip) && !used.cluster_ips.contains(ip)
            })
            .map(|ip| ip.to_string());
    }
    if matches!(type_, "NodePort" | "LoadBalancer") {
        let mut taken = used.node_ports.clone();
        for (index, port) in
            runtime::at(svc, &["spec", "ports"]).and_then(Value::as_array).into_iter().flatten().enumerate()
        {
            if port.get("nodePort").and_then(Value::as_i64).is_some() {
                continue;
            }
            let span = NODE_PORTS.end() - NODE_PORTS.start() + 1;
            let pick = (0..span)
                .map(|i| NODE_PORTS.start() + (i64::from(seed) + index as i64 + i) % span)
                .find(|p| !taken.contains(p));
            if let Some(p) = pick {
                taken.insert(p);
                changes.node_ports.push((index, p));
            }
        }
    }
    let has_ingress = runtime::at(svc, &["status", "loadBalancer", "ingress"])
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if type_ == "LoadBalancer" && !has_ingress {
        changes.load_balancer = Some(
            (0..254u32)
                .map(|i| Ipv4Addr::from(LB_BASE + 1 + (seed.wrapping_add(i)) % 254))
                .find(|ip| !used.lb_ips.contains(ip))
                .map(|ip| ip.to_string()),
        );
    } else if type_ != "LoadBalancer" && has_ingress {
        changes.load_balancer = Some(None);
    }
    changes
}

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "", "v1", "services")?;
    let Some(svc) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&svc) {
        return Ok(Next::Done);
    }
    let all = runtime::list_values(cluster, &rt, None)?;
    let changes = service_changes(&svc, &Used::from_services(&all, (namespace, name)));
    let options = runtime::manager(MANAGER);
    if changes.cluster_ip.is_some() || !changes.node_ports.is_empty() {
        let mut updated = svc.clone();
        if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
            if let Some(ip) = &changes.cluster_ip {
                spec.insert("clusterIP".into(), ip.clone().into());
                spec.insert("clusterIPs".into(), json!([ip]));
                spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
                spec.entry("ipFamilyPolicy").or_insert_with(|| json!("SingleStack"));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for (index, port) in &changes.node_ports {
                    if let Some(entry) = ports.get_mut(*index).and_then(Value::as_object_mut) {
                        entry.insert("nodePort".into(), (*port).into());
                    }
                }
            }
        }
        cluster.update(&rt, namespace, name, Subresource::Main, updated, &options).await?;
        // Its event brings it back for the load balancer.
        return Ok(Next::Done);
    }
    if let Some(lb) = changes.load_balancer {
        let mut status = svc.get("status").cloned().unwrap_or_else(|| json!({}));
        if let Some(map) = status.as_object_mut() {
            let ingress = match lb {
                Some(ip) => json!({"ingress": [{"ip": ip, "ipMode": "VIP"}]}),
                None => json!({}),
            };
            map.insert("loadBalancer".into(), ingress);
        }
        super::write_status(cluster, &rt, &svc, status, MANAGER).await?;
    }
    Ok(Next::Done)
}

/// The status of a bound claim.
pub(crate) fn bound_claim_status(claim: &Value) -> Value {
    let mut status = json!({"phase": "Bound"});
    if let Some(modes) = runtime::at(claim, &["spec", "accessModes"]) {
        status["accessModes"] = modes.clone();
    }
    if let Some(storage) = runtime::at(claim, &["spec", "resources", "requests", "storage"]) {
        status["capacity"] = json!({"storage": storage});
    }
    status
}

pub(super) async fn reconcile_claim(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "", "v1", "persistentvolumeclaims")?;
    let Some(claim) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&claim) || runtime::str_at(&claim, &["status", "phase"]) == "Bound" {
        return Ok(Next::Done);
    }
    super::write_status(cluster, &rt, &claim, bound_claim_status(&claim), MANAGER).await?;
    Ok(Next::Done)
}
