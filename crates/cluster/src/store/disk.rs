//! The redb side of the store: one table of objects, one of metadata.
//!
//! Only the latest version of each object is kept on disk; redb reuses the
//! pages that updates and deletes free, so the file does not grow with the
//! number of writes, only with the data.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::state::Objects;
use super::{Event, EventKind, StoreError, StoredObject};

/// Key: (resource, namespace, name), ordered like `ObjectKey`.
/// Value: the resourceVersion (8 bytes, big endian) then the JSON, so that
/// loading needs no JSON parsing.
const OBJECTS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("objects");

/// Store-wide values; only `LAST_RV` for now.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The resourceVersion of the last commit. Kept apart from the objects
/// because a deletion's version outlives the deleted object.
const LAST_RV: &str = "last_rv";

/// redb's page cache. Every object is also held in memory as JSON, so the
/// cache only needs to cover the pages a commit touches.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The open database. Owned by the committer thread.
pub(super) struct Disk {
    db: Database,
}

impl Disk {
    /// Opens (or creates) the database, and reads every object and the last
    /// resourceVersion.
    pub(super) fn open(path: &Path) -> Result<(Disk, Objects, u64), StoreError> {
        let failed = |step: &str, e: &dyn std::fmt::Display| StoreError::Io(format!("{step} {}: {e}", path.display()));
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| failed("opening", &e))?;

        // Create both tables up front, so that reads never meet a missing table.
        let txn = db.begin_write().map_err(|e| failed("initializing", &e))?;
        txn.open_table(OBJECTS).map_err(|e| failed("initializing", &e))?;
        txn.open_table(META).map_err(|e| failed("initializing", &e))?;
        txn.commit().map_err(|e| failed("initializing", &e))?;

        let txn = db.begin_read().map_err(|e| failed("reading", &e))?;
        let meta = txn.open_table(META).map_err(|e| failed("reading", &e))?;
        let mut rv = meta.get(LAST_RV).map_err(|e| failed("reading", &e))?.map_or(0, |v| v.value());

        let table = txn.open_table(OBJECTS).map_err(|e| failed("reading", &e))?;
        let mut objects = Objects::new();
        for entry in table.iter().map_err(|e| failed("reading", &e))? {
            let (key, value) = entry.map_err(|e| failed("reading", &e))?;
            let (resource, namespace, name) = key.value();
            let value = value.value();
            let Some((rv_bytes, json)) = value.split_first_chunk::<8>() else {
                return Err(failed("reading", &format!("corrupt entry for {resource} {namespace}/{name}")));
            };
            let object = StoredObject { rv: u64::from_be_bytes(*rv_bytes), json: Bytes::copy_from_slice(json) };
            rv = rv.max(object.rv);
            objects.entry(resource.to_owned()).or_default().insert((namespace.to_owned(), name.to_owned()), object);
        }
        Ok((Disk { db }, objects, rv))
    }

    /// Writes `events` (in order) and `last_rv` in one durable transaction.
    /// Returns only once the transaction is on disk.
    pub(super) fn write(&self, events: &[Arc<Event>], last_rv: u64) -> Result<(), StoreError> {
        let failed = |e: &dyn std::fmt::Display| StoreError::Io(format!("committing: {e}"));
        let mut txn = self.db.begin_write().map_err(|e| failed(&e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| failed(&e))?;
        {
            let mut table = txn.open_table(OBJECTS).map_err(|e| failed(&e))?;
            let mut value = Vec::new();
            for event in events {
                let key = (event.key.resource.as_str(), event.key.namespace.as_str(), event.key.name.as_str());
                match event.kind {
                    EventKind::Added | EventKind::Modified => {
                        value.clear();
                        value.extend_from_slice(&event.object.rv.to_be_bytes());
                        value.extend_from_slice(&event.object.json);
                        table.insert(key, value.as_slice()).map_err(|e| failed(&e))?;
                    }
                    EventKind::Deleted => {
                        table.remove(key).map_err(|e| failed(&e))?;
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| failed(&e))?;
            meta.insert(LAST_RV, last_rv).map_err(|e| failed(&e))?;
        }
        txn.commit().map_err(|e| failed(&e))
    }
}
