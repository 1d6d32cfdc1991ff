//! Waiting on the API server's watch events instead of polling: `watch_until` lists and watches
//! one kind (a reflector keeps the current objects) and evaluates `check` after the initial list
//! and after every change, until it gives a value or `deadline` passes. Shared by the tests of
//! the promoter, of scm and of the binary (included with `#[path]`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, reflector};

/// Waits until `check` over the objects of `api` gives a value; panics after `deadline` with
/// `what` and the objects last seen.
pub async fn watch_until<K, T>(api: Api<K>, what: &str, deadline: Duration, check: impl Fn(&[K]) -> Option<T>) -> T
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let events = reflector(writer, watcher::watcher(api, watcher::Config::default()).default_backoff());
    futures::pin_mut!(events);
    let mut listed = false;
    let waited = tokio::time::timeout(deadline, async {
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::InitDone) => listed = true,
                Ok(Event::Apply(_) | Event::Delete(_)) => {}
                // Pages of the initial list: judge only the whole list.
                Ok(_) | Err(_) => continue,
            }
            if !listed {
                continue;
            }
            let objects: Vec<K> = reader.state().iter().map(|o| (**o).clone()).collect();
            if let Some(found) = check(&objects) {
                return Some(found);
            }
        }
        None
    })
    .await;
    match waited {
        Ok(Some(found)) => found,
        _ => {
            let objects: Vec<K> = reader.state().iter().map(|o| (**o).clone()).collect();
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {objects:#?}")
        }
    }
}
