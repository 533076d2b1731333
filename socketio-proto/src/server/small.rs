//! Tables sized for the few entries most connections have: a client's
//! namespaces (usually one), a socket's rooms (its own, and a few more)
//! and a room's members in the room index (a socket's own room has one).
//! An idle client keeps them for as long as it stays, so they matter to
//! the memory per client.
//!
//! Up to [`SPILL`] entries live in a vector grown one slot at a time and
//! scanned in order (cheaper than hashing for so few, and a hash table
//! keeps at least four slots plus its control bytes). Past [`SPILL`] they
//! move to a hash map, so a client that joins many namespaces or a socket
//! in many rooms costs one hash per lookup, never a long scan.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// The most entries kept in the scanned vector.
pub(super) const SPILL: usize = 8;

/// A map of few entries; `S` hashes them once they are many.
#[derive(Debug, Clone)]
pub(super) enum SmallMap<K, V, S = RandomState> {
    /// Up to [`SPILL`] entries in insertion order.
    Few(Vec<(K, V)>),
    /// More than [`SPILL`] entries (boxed: the map is twice a vector's
    /// size, and most tables never get here; the box keeps the enum at a
    /// vector's size for all the others).
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<K, V, S>>),
}

impl<K, V, S> Default for SmallMap<K, V, S> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> SmallMap<K, V, S> {
    pub(super) fn get(&self, key: &K) -> Option<&V> {
        match self {
            Self::Few(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Self::Many(map) => map.get(key),
        }
    }

    pub(super) fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            Self::Few(entries) => {
                if let Some((_, old)) = entries.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(old, value));
                }
                if entries.len() < SPILL {
                    // One slot at a time: a vector's first push would take
                    // four.
                    entries.reserve_exact(1);
                    entries.push((key, value));
                } else {
                    let mut map: HashMap<K, V, S> = entries.drain(..).collect();
                    map.insert(key, value);
                    *self = Self::Many(Box::new(map));
                }
                None
            }
            Self::Many(map) => map.insert(key, value),
        }
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Self::Few(entries) => {
                let at = entries.iter().position(|(k, _)| k == key)?;
                // In order: iteration stays in insertion order.
                let (_, value) = entries.remove(at);
                if entries.is_empty() {
                    *entries = Vec::new();
                }
                Some(value)
            }
            Self::Many(map) => map.remove(key),
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let (few, many) = match self {
            Self::Few(entries) => (Some(entries.iter().map(|(k, v)| (k, v))), None),
            Self::Many(map) => (None, Some(map.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }
}

/// A set of few members (a [`SmallMap`] to nothing).
#[derive(Debug, Clone)]
pub(super) struct SmallSet<K, S = RandomState>(SmallMap<K, (), S>);

impl<K, S> Default for SmallSet<K, S> {
    fn default() -> Self {
        Self(SmallMap::default())
    }
}

impl<K: Eq + Hash, S: BuildHasher + Default> SmallSet<K, S> {
    /// Adds `key`; whether it was new.
    pub(super) fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, ()).is_none()
    }

    /// Removes `key`; whether it was there.
    pub(super) fn remove(&mut self, key: &K) -> bool {
        self.0.remove(key).is_some()
    }

    pub(super) fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, ())| k)
    }
}

impl<K: Eq + Hash, S: BuildHasher + Default> FromIterator<K> for SmallSet<K, S> {
    fn from_iter<I: IntoIterator<Item = K>>(members: I) -> Self {
        let mut set = Self::default();
        for key in members {
            set.insert(key);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_entries_stay_in_order_and_spill_to_a_map_past_the_limit() {
        let mut map: SmallMap<usize, usize> = SmallMap::default();
        for i in 0..SPILL {
            assert_eq!(map.insert(i, i * 10), None);
        }
        assert!(matches!(&map, SmallMap::Few(v) if v.len() == SPILL && v.capacity() == SPILL));
        assert_eq!(
            map.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            (0..SPILL).collect::<Vec<_>>()
        );
        assert_eq!(
            map.insert(3, 33),
            Some(30),
            "an existing key is replaced, not added"
        );
        assert_eq!(map.iter().count(), SPILL);

        assert_eq!(map.insert(SPILL, 1), None);
        assert!(matches!(map, SmallMap::Many(_)));
        assert_eq!(map.iter().count(), SPILL + 1);
        assert_eq!(map.get(&3), Some(&33));
        assert_eq!(map.get(&SPILL), Some(&1));
        assert_eq!(map.remove(&0), Some(0));
        assert!(!map.contains_key(&0));
        let mut keys: Vec<_> = map.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, (1..=SPILL).collect::<Vec<_>>());
    }

    #[test]
    fn removing_the_last_entry_gives_the_memory_back() {
        let mut map: SmallMap<&str, i32> = SmallMap::default();
        map.insert("/", 1);
        map.insert("/admin", 2);
        assert_eq!(map.remove(&"/"), Some(1));
        assert_eq!(map.values().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(map.remove(&"/"), None);
        assert_eq!(map.remove(&"/admin"), Some(2));
        assert!(matches!(&map, SmallMap::Few(v) if v.capacity() == 0));
    }

    #[test]
    fn a_small_table_is_the_size_of_a_vector() {
        use crate::types::{Nsp, Room, SocketId};
        use std::mem::size_of;
        assert_eq!(size_of::<SmallSet<Room>>(), size_of::<Vec<Room>>());
        assert_eq!(
            size_of::<SmallMap<Nsp, SocketId>>(),
            size_of::<Vec<(Nsp, SocketId)>>()
        );
    }

    #[test]
    fn a_set_counts_each_member_once() {
        let mut set: SmallSet<String> = ["a", "b", "a"].into_iter().map(String::from).collect();
        assert_eq!(set.iter().count(), 2);
        assert!(!set.insert("b".into()));
        assert!(set.insert("c".into()));
        assert!(set.contains(&"c".to_string()));
        assert!(set.remove(&"a".to_string()));
        assert!(!set.remove(&"a".to_string()));
        assert_eq!(set.iter().cloned().collect::<Vec<_>>(), vec!["b", "c"]);
    }
}
