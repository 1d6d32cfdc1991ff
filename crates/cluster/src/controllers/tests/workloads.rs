//! The simulator's decisions.

use super::*;

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    })
}

/// The ReplicaSet the deployment creates, with `replicas` in spec and
/// `available` Pods ready and available.
fn replicaset_of(deploy: &Value, spec: i64, available: i64, revision: i64) -> Value {
    let plan = simulator::deployment_plan(deploy, &[]);
    let mut rs = plan.create.unwrap();
    rs["metadata"]["uid"] = json!(format!("rs-{revision}"));
    rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(revision.to_string());
    rs["spec"]["replicas"] = json!(spec);
    rs["status"] = json!({"replicas": spec.max(available), "readyReplicas": available, "availableReplicas": available});
    rs
}

fn pod(name: &str, owner_kind: &str, ready: bool, created: i64) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"), "creationTimestamp": ts(created),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": "o", "uid": "o", "controller": true}]},
        "spec": {"nodeName": "ferry-local", "containers": [{"name": "app", "image": "nginx:1"}]},
    });
    if ready {
        pod["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts(created)}]});
    }
    pod
}

// ---------- hashing ----------

#[test]
fn template_hash_ignores_key_order_and_follows_content() {
    let a = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}});
    let b = json!({"spec": {"x": 1}, "metadata": {"labels": {"b": "2", "a": "1"}}});
    let c = json!({"spec": {"x": 2}, "metadata": {"labels": {"b": "2", "a": "1"}}});
    assert_eq!(simulator::template_hash(&a), simulator::template_hash(&b));
    assert_ne!(simulator::template_hash(&a), simulator::template_hash(&c));
    assert!(simulator::template_hash(&a).chars().all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)));
    let suffix = simulator::random_suffix();
    assert_eq!(suffix.len(), 5);
}

// ---------- pods ----------

fn fresh_pod(image: &str, owner_kind: &str) -> Value {
    let mut p = pod("p", owner_kind, false, 0);
    p["spec"]["containers"][0]["image"] = json!(image);
    p
}

#[test]
fn pods_run_at_once_and_become_ready_after_the_delay() {
    let faults = FaultConfig::default();
    let delay = Duration::from_secs(2);
    let mut pod = fresh_pod("nginx:1", "ReplicaSet");
    let (status, next) = simulator::pod_status(&pod, &faults, t(0), delay);
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["startTime"], ts(0));
    assert_eq!(status["containerStatuses"][0]["ready"], false);
    assert_eq!(runtime::condition(&status, "Ready").unwrap()["status"], "False");
    assert_eq!(next, Next::After(delay));
    assert!(status["podIP"].as_str().unwrap().starts_with("10.244."));
    pod["status"] = status;
    let (status, next) = simulator::pod_status(&pod, &faults, t(2), delay);
    assert_eq!(runtime::condition(&status, "Ready").unwrap()["status"], "True");
    assert_eq!(runtime::condition(&status, "Ready").unwrap()["lastTransitionTime"], ts(2));
    assert_eq!(status["containerStatuses"][0]["ready"], true);
    assert_eq!(next, Next::Done);
    // Stable: nothing changes later.
    pod["status"] = status.clone();
    assert_eq!(simulator::pod_status(&pod, &faults, t(100), delay).0, status);
}

#[test]
fn never_ready_pods_stay_unready() {
    let faults = FaultConfig { never_ready: vec!["bad:*".into()], crash_loop: vec![] };
    let mut pod = fresh_pod("bad:1", "ReplicaSet");
    pod["status"] = simulator::pod_status(&pod, &faults, t(0), Duration::ZERO).0;
    let (status, next) = simulator::pod_status(&pod, &faults, t(1000), Duration::ZERO);
    assert_eq!(status["phase"], "Running");
    assert_eq!(runtime::condition(&status, "Ready").unwrap()["reason"], "ContainersNotReady");
    assert_eq!(status["containerStatuses"][0]["started"], true);
    assert_eq!(next, Next::Done);
}

#[test]
fn crash_looping_pods_restart_with_growing_back_off() {
    let faults = FaultConfig { never_ready: vec![], crash_loop: vec!["*crash*".into()] };
    let mut pod = fresh_pod("acme/crash:1", "ReplicaSet");
    pod["status"] = simulator::pod_status(&pod, &faults, t(0), Duration::from_secs(1)).0;
    let (status, next) = simulator::pod_status(&pod, &faults, t(1), Duration::from_secs(1));
    let container = &status["containerStatuses"][0];
    assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(container["restartCount"], 1);
    assert_eq!(container["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(next, Next::After(Duration::from_secs(10)));
    let (later, _) = simulator::pod_status(&pod, &faults, t(1 + 10 + 20 + 5), Duration::from_secs(1));
    assert_eq!(later["containerStatuses"][0]["restartCount"], 3);
    assert_eq!(runtime::condition(&later, "Ready").unwrap()["status"], "False");
}

#[test]
fn crash_count_follows_the_kubelet_back_off() {
    assert_eq!(simulator::crash_count(Duration::ZERO), (1, Duration::from_secs(10), Duration::from_secs(10)));
    assert_eq!(simulator::crash_count(Duration::from_secs(10)).0, 2);
    assert_eq!(simulator::crash_count(Duration::from_secs(29)).0, 2);
    assert_eq!(simulator::crash_count(Duration::from_secs(30)).0, 3);
    // 10+20+40+80+160 = 310 s, then every 300 s.
    assert_eq!(simulator::crash_count(Duration::from_secs(310)).0, 6);
    assert_eq!(simulator::crash_count(Duration::from_secs(310 + 600)).0, 8);
    let (_, backoff, until) = simulator::crash_count(Duration::from_secs(310 + 650));
    assert_eq!((backoff, until), (Duration::from_secs(300), Duration::from_secs(250)));
}

#[test]
fn job_pods_succeed_after_the_delay() {
    let faults = FaultConfig::default();
    let mut pod = fresh_pod("busybox", "Job");
    pod["status"] = simulator::pod_status(&pod, &faults, t(0), Duration::from_secs(1)).0;
    let (status, next) = simulator::pod_status(&pod, &faults, t(1), Duration::from_secs(1));
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    assert_eq!(next, Next::Done);
    pod["status"] = status.clone();
    assert_eq!(simulator::pod_status(&pod, &faults, t(50), Duration::from_secs(1)).0, status);
}

// ---------- replica sets ----------

#[test]
fn replicasets_create_missing_pods_and_delete_unready_newest_first() {
    let rs = json!({"metadata": {"name": "rs", "generation": 2}, "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}}}});
    assert_eq!(simulator::replicaset_plan(&rs, &[pod("a", "ReplicaSet", true, 0)]), (2, vec![]));
    let pods = vec![
        pod("old", "ReplicaSet", true, 0),
        pod("new", "ReplicaSet", true, 10),
        pod("unready", "ReplicaSet", false, 1),
        pod("mid", "ReplicaSet", true, 5),
    ];
    assert_eq!(simulator::replicaset_plan(&rs, &pods), (0, vec!["unready".to_owned()]));
    let mut smaller = rs.clone();
    smaller["spec"]["replicas"] = json!(1);
    assert_eq!(simulator::replicaset_plan(&smaller, &pods).1, vec!["unready", "new", "mid"]);
    let mut finished = pod("done", "ReplicaSet", false, 0);
    finished["status"] = json!({"phase": "Succeeded"});
    assert_eq!(simulator::replicaset_plan(&rs, &[finished]).0, 3);
}

#[test]
fn replicaset_status_counts_ready_and_available() {
    let mut rs = json!({"metadata": {"name": "rs", "generation": 2}, "spec": {"replicas": 3, "minReadySeconds": 10, "template": {"metadata": {"labels": {"app": "web"}}}}});
    let mut labeled = pod("a", "ReplicaSet", true, 0);
    labeled["metadata"]["labels"] = json!({"app": "web"});
    let pods = vec![labeled, pod("b", "ReplicaSet", true, 5), pod("c", "ReplicaSet", false, 0)];
    let (status, next) = simulator::replicaset_status(&rs, &pods, t(10));
    assert_eq!(
        status,
        json!({"replicas": 3, "fullyLabeledReplicas": 1, "readyReplicas": 2, "availableReplicas": 1, "observedGeneration": 2})
    );
    assert_eq!(next, Next::After(Duration::from_secs(5)));
    rs["spec"]["minReadySeconds"] = json!(0);
    assert_eq!(simulator::replicaset_status(&rs, &pods, t(10)).0["availableReplicas"], 2);
}

// ---------- deployments ----------

#[test]
fn a_new_deployment_gets_a_full_replicaset() {
    let deploy = deployment(3, "nginx:1");
    let plan = simulator::deployment_plan(&deploy, &[]);
    let rs = plan.create.unwrap();
    let hash = simulator::template_hash(&deploy["spec"]["template"]);
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(rs["spec"]["replicas"], 3);
    assert_eq!(rs["metadata"]["labels"]["pod-template-hash"], hash.as_str());
    assert_eq!(rs["spec"]["selector"]["matchLabels"], json!({"app": "web", "pod-template-hash": hash}));
    assert_eq!(rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"], hash.as_str());
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "d-uid");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(plan.revision, 1);
}

#[test]
fn a_template_change_rolls_within_surge_and_unavailability() {
    let v1 = deployment(4, "nginx:1");
    let old = replicaset_of(&v1, 4, 4, 1);
    let v2 = deployment(4, "nginx:2");
    // maxSurge 25% of 4 = 1: the new ReplicaSet starts with one Pod.
    let plan = simulator::deployment_plan(&v2, std::slice::from_ref(&old));
    let new = plan.create.clone().unwrap();
    assert_eq!(new["spec"]["replicas"], 1);
    assert_eq!(new["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    assert_eq!(plan.revision, 2);
    assert!(plan.updates.is_empty());
    // Nothing is available yet in the new one: maxUnavailable 1 lets one old Pod go.
    let mut new_rs = new.clone();
    new_rs["status"] = json!({"replicas": 1});
    let plan = simulator::deployment_plan(&v2, &[old.clone(), new_rs.clone()]);
    assert_eq!(
        plan.updates,
        vec![simulator::RsUpdate { name: runtime::name_of(&old).into(), replicas: 3, revision: None }]
    );
    // Once the new ones are available, the old one drains.
    new_rs["spec"]["replicas"] = json!(4);
    new_rs["status"] = json!({"replicas": 4, "readyReplicas": 4, "availableReplicas": 4});
    let mut old_now = old.clone();
    old_now["spec"]["replicas"] = json!(1);
    let plan = simulator::deployment_plan(&v2, &[old_now, new_rs]);
    assert_eq!(
        plan.updates,
        vec![simulator::RsUpdate { name: runtime::name_of(&old).into(), replicas: 0, revision: None }]
    );
}

#[test]
fn a_stuck_rollout_keeps_the_old_pods() {
    let v1 = deployment(3, "nginx:1");
    let old = replicaset_of(&v1, 3, 3, 1);
    let mut v2 = deployment(3, "nginx:2");
    v2["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    let mut new = simulator::deployment_plan(&v2, std::slice::from_ref(&old)).create.unwrap();
    new["status"] = json!({"replicas": 1});
    let plan = simulator::deployment_plan(&v2, &[old, new]);
    assert!(plan.updates.is_empty() && plan.create.is_none());
}

#[test]
fn rolling_back_bumps_the_old_template_revision() {
    let v1 = deployment(2, "nginx:1");
    let v2 = deployment(2, "nginx:2");
    let rs1 = replicaset_of(&v1, 0, 0, 1);
    let rs2 = replicaset_of(&v2, 2, 2, 2);
    let plan = simulator::deployment_plan(&v1, &[rs1.clone(), rs2]);
    assert_eq!(plan.revision, 3);
    assert_eq!(
        plan.updates[0],
        simulator::RsUpdate { name: runtime::name_of(&rs1).into(), replicas: 1, revision: Some(3) }
    );
}

#[test]
fn recreate_scales_old_to_zero_before_the_new() {
    let mut v2 = deployment(2, "nginx:2");
    v2["spec"]["strategy"] = json!({"type": "Recreate"});
    let old = replicaset_of(&deployment(2, "nginx:1"), 2, 2, 1);
    let plan = simulator::deployment_plan(&v2, std::slice::from_ref(&old));
    assert_eq!(plan.create.unwrap()["spec"]["replicas"], 0);
    assert_eq!(plan.updates[0].replicas, 0);
    let mut drained = old.clone();
    drained["spec"]["replicas"] = json!(0);
    drained["status"] = json!({"replicas": 0});
    let new = replicaset_of(&v2, 0, 0, 2);
    let plan = simulator::deployment_plan(&v2, &[drained, new]);
    assert_eq!(plan.updates[0].replicas, 2);
}

#[test]
fn old_empty_replicasets_beyond_the_history_limit_go() {
    let mut current = deployment(1, "nginx:9");
    current["spec"]["revisionHistoryLimit"] = json!(1);
    let mut rss: Vec<Value> = (1..=3).map(|i| replicaset_of(&deployment(1, &format!("nginx:{i}")), 0, 0, i)).collect();
    for rs in &mut rss {
        rs["status"] = json!({"replicas": 0});
    }
    rss.push(replicaset_of(&current, 1, 1, 4));
    let plan = simulator::deployment_plan(&current, &rss);
    assert_eq!(plan.delete, vec![runtime::name_of(&rss[0]).to_owned(), runtime::name_of(&rss[1]).to_owned()]);
}

#[test]
fn a_converged_deployment_is_available_and_complete() {
    let deploy = deployment(3, "nginx:1");
    let rs = replicaset_of(&deploy, 3, 3, 1);
    let (status, next) = simulator::deployment_status(&deploy, std::slice::from_ref(&rs), t(0));
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["replicas"], 3);
    assert_eq!(status["updatedReplicas"], 3);
    assert_eq!(status["readyReplicas"], 3);
    assert_eq!(status["availableReplicas"], 3);
    assert!(status.get("unavailableReplicas").is_none());
    let available = runtime::condition(&status, "Available").unwrap();
    assert_eq!(
        (available["status"].as_str(), available["reason"].as_str()),
        (Some("True"), Some("MinimumReplicasAvailable"))
    );
    let progressing = runtime::condition(&status, "Progressing").unwrap();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"{}\" has successfully progressed.", runtime::name_of(&rs))
    );
    assert_eq!(next, Next::Done);
    let mut again = deploy.clone();
    again["status"] = status.clone();
    assert_eq!(simulator::deployment_status(&again, &[rs], t(60)).0, status);
}

#[test]
fn a_rollout_without_progress_exceeds_its_deadline() {
    let mut deploy = deployment(3, "bad:1");
    deploy["spec"]["progressDeadlineSeconds"] = json!(30);
    let rs = replicaset_of(&deploy, 3, 0, 1);
    let (status, next) = simulator::deployment_status(&deploy, std::slice::from_ref(&rs), t(0));
    assert_eq!(runtime::condition(&status, "Progressing").unwrap()["reason"], "NewReplicaSetCreated");
    assert_eq!(runtime::condition(&status, "Available").unwrap()["status"], "False");
    assert_eq!(status["unavailableReplicas"], 3);
    assert_eq!(next, Next::After(Duration::from_secs(30)));
    deploy["status"] = status;
    let (status, next) = simulator::deployment_status(&deploy, std::slice::from_ref(&rs), t(10));
    assert_eq!(runtime::condition(&status, "Progressing").unwrap()["status"], "True");
    assert_eq!(next, Next::After(Duration::from_secs(20)));
    deploy["status"] = status;
    let (status, next) = simulator::deployment_status(&deploy, std::slice::from_ref(&rs), t(31));
    let progressing = runtime::condition(&status, "Progressing").unwrap();
    assert_eq!(
        (progressing["status"].as_str(), progressing["reason"].as_str()),
        (Some("False"), Some("ProgressDeadlineExceeded"))
    );
    assert_eq!(next, Next::Done);
    // Progress again (Pods become ready) lifts it.
    deploy["status"] = status;
    let healed = replicaset_of(&deploy, 3, 3, 1);
    let (status, _) = simulator::deployment_status(&deploy, &[healed], t(40));
    assert_eq!(runtime::condition(&status, "Progressing").unwrap()["reason"], "NewReplicaSetAvailable");
}

#[test]
fn int_or_percent_rounds_like_kubernetes() {
    use super::super::simulator::resolve_int_or_percent;
    assert_eq!(resolve_int_or_percent(Some(&json!("25%")), 10, 0, true), 3);
    assert_eq!(resolve_int_or_percent(Some(&json!("25%")), 10, 0, false), 2);
    assert_eq!(resolve_int_or_percent(Some(&json!(2)), 10, 0, false), 2);
    assert_eq!(resolve_int_or_percent(None, 4, 25, true), 1);
}

// ---------- stateful sets ----------

fn statefulset(replicas: i64, policy: &str) -> Value {
    json!({
        "metadata": {"name": "db", "namespace": "ns", "uid": "s-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}],
        },
    })
}

fn sts_pod(sts: &Value, ordinal: i64, ready: bool) -> Value {
    let mut pod = simulator::statefulset_pod(sts, ordinal);
    if ready {
        pod["status"] = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
    }
    pod
}

#[test]
fn statefulset_pods_come_in_order_with_claims() {
    let sts = statefulset(3, "OrderedReady");
    assert_eq!(simulator::statefulset_plan(&sts, &[]).create, vec![0]);
    assert_eq!(simulator::statefulset_plan(&sts, &[sts_pod(&sts, 0, false)]).create, Vec::<i64>::new());
    assert_eq!(simulator::statefulset_plan(&sts, &[sts_pod(&sts, 0, true)]).create, vec![1]);
    let parallel = statefulset(3, "Parallel");
    assert_eq!(simulator::statefulset_plan(&parallel, &[]).create, vec![0, 1, 2]);
    let pod = sts_pod(&sts, 1, false);
    assert_eq!(pod["metadata"]["name"], "db-1");
    assert_eq!(pod["spec"]["hostname"], "db-1");
    assert_eq!(pod["spec"]["subdomain"], "db");
    assert_eq!(pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "data-db-1");
    assert_eq!(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "1");
    assert_eq!(simulator::statefulset_claims(&sts, 1)[0]["metadata"]["name"], "data-db-1");
}

#[test]
fn statefulsets_scale_down_and_roll_from_the_top() {
    let sts = statefulset(2, "OrderedReady");
    let pods: Vec<Value> = (0..3).map(|i| sts_pod(&sts, i, true)).collect();
    assert_eq!(simulator::statefulset_plan(&sts, &pods).delete, vec!["db-2"]);
    let mut v2 = statefulset(2, "OrderedReady");
    v2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
    let pods: Vec<Value> = (0..2).map(|i| sts_pod(&sts, i, true)).collect();
    assert_eq!(simulator::statefulset_plan(&v2, &pods).delete, vec!["db-1"]);
    let (status, _) = simulator::statefulset_status(&v2, &pods, t(0));
    assert_ne!(status["currentRevision"], status["updateRevision"]);
    assert!(status.get("updatedReplicas").is_none());
    let rolled: Vec<Value> = (0..2).map(|i| sts_pod(&v2, i, true)).collect();
    let mut with_status = v2.clone();
    with_status["status"] = status;
    let (status, _) = simulator::statefulset_status(&with_status, &rolled, t(0));
    assert_eq!(status["currentRevision"], status["updateRevision"]);
    assert_eq!(
        (status["readyReplicas"].as_i64(), status["currentReplicas"].as_i64(), status["updatedReplicas"].as_i64()),
        (Some(2), Some(2), Some(2))
    );
}

// ---------- daemon sets, jobs ----------

fn daemonset() -> Value {
    json!({
        "metadata": {"name": "agent", "namespace": "ns", "uid": "ds-uid", "generation": 3},
        "spec": {"template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}},
    })
}

#[test]
fn daemonsets_run_one_pod_on_the_node() {
    let ds = daemonset();
    assert_eq!(simulator::daemonset_plan(&ds, &[]), (true, vec![]));
    let hash = simulator::template_hash(&ds["spec"]["template"]);
    let mut current = pod("agent-a", "DaemonSet", true, 0);
    current["metadata"]["labels"] = json!({"controller-revision-hash": hash});
    assert_eq!(simulator::daemonset_plan(&ds, std::slice::from_ref(&current)), (false, vec![]));
    let outdated = pod("agent-old", "DaemonSet", true, 0);
    assert_eq!(simulator::daemonset_plan(&ds, &[outdated]), (false, vec!["agent-old".to_owned()]));
    let (status, _) = simulator::daemonset_status(&ds, &[current], t(0));
    assert_eq!(status["desiredNumberScheduled"], 1);
    assert_eq!(status["numberReady"], 1);
    assert_eq!(status["updatedNumberScheduled"], 1);
    assert_eq!(status["numberAvailable"], 1);
    assert_eq!(status["observedGeneration"], 3);
    let mut elsewhere = daemonset();
    elsewhere["spec"]["template"]["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "windows"});
    assert_eq!(simulator::daemonset_status(&elsewhere, &[], t(0)).0["desiredNumberScheduled"], 0);
}

#[test]
fn jobs_start_pods_and_complete() {
    let job = json!({"metadata": {"name": "j", "uid": "j-uid"}, "spec": {"completions": 3, "parallelism": 2}});
    assert_eq!(simulator::job_plan(&job, &[]), 2);
    let mut done = pod("j-a", "Job", false, 0);
    done["status"] = json!({"phase": "Succeeded"});
    let running = pod("j-b", "Job", true, 0);
    assert_eq!(simulator::job_plan(&job, &[done.clone(), running.clone()]), 1);
    let status = simulator::job_status(&job, &[done.clone(), running], t(5));
    assert_eq!(
        (status["active"].as_i64(), status["succeeded"].as_i64(), status["ready"].as_i64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(status["startTime"], ts(5));
    assert!(status.get("completionTime").is_none());
    let status = simulator::job_status(&job, &[done.clone(), done.clone(), done], t(9));
    assert_eq!(status["completionTime"], ts(9));
    assert_eq!(runtime::condition(&status, "Complete").unwrap()["status"], "True");
    assert!(runtime::condition(&status, "SuccessCriteriaMet").is_some());
    let mut finished = job.clone();
    finished["status"] = status;
    assert_eq!(simulator::job_plan(&finished, &[]), 0);
}

// ---------- services ----------

#[test]
fn services_get_unique_addresses_in_range() {
    let svc = json!({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
    let changes = simulator::service_changes(&svc, &Used::default());
    let ip: std::net::Ipv4Addr = changes.cluster_ip.clone().unwrap().parse().unwrap();
    assert_eq!(ip.octets()[0], 10);
    assert!((96..112).contains(&ip.octets()[1]));
    assert_eq!(changes.node_ports.len(), 1);
    assert!((30000..=32767).contains(&changes.node_ports[0].1));
    assert!(changes.load_balancer.clone().unwrap().unwrap().starts_with("172.18.255."));
    // The same address taken: another one is picked.
    let mut used = Used::default();
    used.cluster_ips.insert(ip);
    assert_ne!(simulator::service_changes(&svc, &used).cluster_ip, changes.cluster_ip);
    // Headless and ExternalName services keep what they have.
    let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
    assert_eq!(simulator::service_changes(&headless, &Used::default()), simulator::ServiceChanges::default());
    let external = json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
    assert_eq!(simulator::service_changes(&external, &Used::default()), simulator::ServiceChanges::default());
    // No longer a load balancer: the ingress is cleared.
    let was_lb = json!({"metadata": {"name": "x"}, "spec": {"clusterIP": "10.96.3.4"}, "status": {"loadBalancer": {"ingress": [{"ip": "172.18.255.3"}]}}});
    assert_eq!(simulator::service_changes(&was_lb, &Used::default()).load_balancer, Some(None));
}

#[test]
fn claims_bind_with_their_requested_capacity() {
    let claim = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}});
    assert_eq!(
        simulator::bound_claim_status(&claim),
        json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}})
    );
}
