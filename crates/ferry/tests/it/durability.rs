//! An acknowledged write survives `kill -9`: a stream of creates from
//! several clients, a SIGKILL in the middle of it, a restart on the same
//! data directory, and a check that every acknowledged object is there,
//! intact, and nothing that was never sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::{Server, ServerOptions, Sim, Stop};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};

/// The data of object `name`: big enough that a torn write would show.
fn payload(name: &str) -> String {
    name.repeat(64)
}

#[tokio::test]
async fn acknowledged_creates_survive_kill_9() {
    let server = Server::start_with(ServerOptions { simulation: Sim::Off, ..Default::default() }).await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let acked = Arc::new(Mutex::new(Vec::<(String, String, String)>::new())); // name, uid, rv
    let attempted = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let writers = 8;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let api = api.clone();
        let acked = acked.clone();
        let attempted = attempted.clone();
        tasks.push(tokio::spawn(async move {
            // Bounded: the kill comes long before this many.
            for i in 0..100_000u32 {
                let name = format!("d-{w}-{i}");
                attempted.lock().unwrap().insert(name.clone());
                let cm = ConfigMap {
                    metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
                    data: Some([("payload".to_owned(), payload(&name))].into()),
                    ..Default::default()
                };
                match api.create(&PostParams::default(), &cm).await {
                    Ok(created) => {
                        acked.lock().unwrap().push((name, created.uid().unwrap(), created.resource_version().unwrap()))
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once a good number of writes have been acknowledged, while the
    // writers are still going.
    common::eventually("300 acknowledged creates", std::time::Duration::from_secs(120), || async {
        let n = acked.lock().unwrap().len();
        if n >= 300 { Ok(()) } else { Err(format!("{n} so far")) }
    })
    .await;
    let server = server.restart(Stop::Kill).await;
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let present: Vec<&ConfigMap> = list.items.iter().filter(|c| c.name_any().starts_with("d-")).collect();
    let present_names: BTreeSet<String> = present.iter().map(|c| c.name_any()).collect();
    let missing: Vec<&String> = acked.iter().map(|(n, _, _)| n).filter(|n| !present_names.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates lost after kill -9: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    let unexpected: Vec<&String> = present_names.iter().filter(|n| !attempted.contains(*n)).collect();
    assert!(unexpected.is_empty(), "objects nobody sent: {unexpected:?}");
    // At most the in-flight requests (one per writer) may have landed
    // without an acknowledgement.
    assert!(
        present_names.len() <= acked.len() + writers,
        "{} present, {} acknowledged",
        present_names.len(),
        acked.len()
    );
    for (name, uid, rv) in &acked {
        let obj = present.iter().find(|c| &c.name_any() == name).unwrap();
        assert_eq!(obj.uid().as_ref(), Some(uid), "{name}");
        assert_eq!(obj.resource_version().as_ref(), Some(rv), "{name}");
    }
    for obj in &present {
        let data = obj.data.as_ref().expect("data");
        assert_eq!(data["payload"], payload(&obj.name_any()), "{} is intact", obj.name_any());
    }
    // Nothing is half there: the list, gets and kubectl agree.
    for obj in present.iter().take(20) {
        let got = api.get(&obj.name_any()).await.unwrap();
        assert_eq!(got.resource_version(), obj.resource_version());
    }
    let out = server.kubectl(&["get", "configmaps", "-o", "name"]).await.ok();
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("configmap/d-")).count(), present_names.len());
}

#[tokio::test]
async fn repeated_kills_lose_nothing_acknowledged() {
    let mut server = Server::start_with(ServerOptions { simulation: Sim::Off, ..Default::default() }).await;
    let mut acked = Vec::new();
    for round in 0..3 {
        let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
        for i in 0..20 {
            let name = format!("r{round}-{i}");
            let cm = ConfigMap {
                metadata: kube::api::ObjectMeta { name: Some(name.clone()), ..Default::default() },
                data: Some([("payload".to_owned(), payload(&name))].into()),
                ..Default::default()
            };
            let created = api.create(&PostParams::default(), &cm).await.unwrap();
            acked.push((name, created.resource_version().unwrap()));
        }
        server = server.restart(Stop::Kill).await;
        let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
        for (name, rv) in &acked {
            let got = api.get(name).await.unwrap_or_else(|e| panic!("{name} lost after kill -9 round {round}: {e}"));
            assert_eq!(got.resource_version().as_ref(), Some(rv));
        }
    }
}
