//! A least-recently-used index over digests with byte accounting, used by both tiers.

use std::collections::{BTreeMap, HashMap};

use crate::Digest;

/// Entries by digest plus their order of last use. The caller passes a strictly increasing
/// `tick` on every insert and touch (one clock shared by both tiers), so ticks are unique keys.
pub(crate) struct Lru<V> {
    slots: HashMap<Digest, Slot<V>>,
    order: BTreeMap<u64, Digest>,
    bytes: u64,
}

struct Slot<V> {
    value: V,
    bytes: u64,
    used: u64,
}

impl<V> Lru<V> {
    pub(crate) fn new() -> Self {
        Lru { slots: HashMap::new(), order: BTreeMap::new(), bytes: 0 }
    }

    /// The value of `digest`, marked as used at `tick`.
    pub(crate) fn touch(&mut self, digest: &Digest, tick: u64) -> Option<&V> {
        let slot = self.slots.get_mut(digest)?;
        self.order.remove(&slot.used);
        slot.used = tick;
        self.order.insert(tick, *digest);
        Some(&slot.value)
    }

    pub(crate) fn peek(&self, digest: &Digest) -> Option<&V> {
        self.slots.get(digest).map(|slot| &slot.value)
    }

    /// Insert or replace; returns the value replaced.
    pub(crate) fn insert(&mut self, digest: Digest, value: V, bytes: u64, tick: u64) -> Option<V> {
        let old = self.remove(&digest);
        self.order.insert(tick, digest);
        self.bytes += bytes;
        self.slots.insert(digest, Slot { value, bytes, used: tick });
        old
    }

    pub(crate) fn remove(&mut self, digest: &Digest) -> Option<V> {
        let slot = self.slots.remove(digest)?;
        self.order.remove(&slot.used);
        self.bytes -= slot.bytes;
        Some(slot.value)
    }

    /// Remove and return the least recently used entry.
    pub(crate) fn pop_oldest(&mut self) -> Option<(Digest, V)> {
        let (_, digest) = self.order.pop_first()?;
        let slot = self.slots.remove(&digest)?;
        self.bytes -= slot.bytes;
        Some((digest, slot.value))
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheKey;

    fn digest(name: &str) -> Digest {
        CacheKey::new().part("name", name).digest()
    }

    #[test]
    fn oldest_goes_first_and_touch_refreshes() {
        let mut lru = Lru::new();
        lru.insert(digest("a"), "a", 10, 1);
        lru.insert(digest("b"), "b", 20, 2);
        lru.insert(digest("c"), "c", 30, 3);
        assert_eq!((lru.len(), lru.bytes()), (3, 60));
        assert_eq!(lru.touch(&digest("a"), 4), Some(&"a"));
        assert_eq!(lru.pop_oldest(), Some((digest("b"), "b")));
        // Replacing keeps one slot and the new size.
        assert_eq!(lru.insert(digest("c"), "c2", 5, 5), Some("c"));
        assert_eq!((lru.len(), lru.bytes()), (2, 15));
        assert_eq!(lru.pop_oldest(), Some((digest("a"), "a")));
        assert_eq!(lru.remove(&digest("c")), Some("c2"));
        assert_eq!((lru.len(), lru.bytes(), lru.pop_oldest()), (0, 0, None));
        assert_eq!(lru.touch(&digest("zz"), 6), None);
    }
}
