//! The socket table: every socket (connected or waiting for its verdict)
//! in a slot map, addressed by a [`SocketKey`] (a slot index and a
//! generation), and the index from socket id to key.
//!
//! The public API and the wire name a socket by its [`SocketId`]: one
//! lookup by id per call. Inside, the room index holds keys, so a
//! broadcast visits its recipients and reaches each socket (and, through
//! the socket's [`SessionKey`](engineio_proto::SessionKey), its engine
//! session) by index, hashing no id per recipient.

use slotmap::SlotMap;

use engineio_proto::IdMap;

use super::Socket;
use crate::types::{Room, SocketId};

slotmap::new_key_type! {
    /// A small handle on one socket of this server: 8 bytes, compared and
    /// hashed as an integer. Once the socket is gone its key names
    /// nothing, even when its slot holds a newer socket.
    pub(super) struct SocketKey;
}

/// The sockets, by key and by id.
#[derive(Debug, Default)]
pub(super) struct Sockets {
    /// Boxed: the table keeps spare slots, and an empty slot then costs a
    /// pointer rather than a whole socket.
    slots: SlotMap<SocketKey, Box<Socket>>,
    by_id: IdMap<SocketId, SocketKey>,
}

impl Sockets {
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn key(&self, id: &SocketId) -> Option<SocketKey> {
        self.by_id.get(id).copied()
    }

    /// The connected socket whose own room `room` is (named by its id),
    /// while it is in it (a socket may leave its own room).
    pub(super) fn own_room_of(&self, room: &Room) -> Option<SocketKey> {
        let key = *self.by_id.get(room.as_str())?;
        self.by_key(key)
            .filter(|s| s.connected && s.rooms.contains(room))
            .map(|_| key)
    }

    pub(super) fn contains_key(&self, id: &SocketId) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn get(&self, id: &SocketId) -> Option<&Socket> {
        self.by_key(self.key(id)?)
    }

    pub(super) fn get_mut(&mut self, id: &SocketId) -> Option<&mut Socket> {
        let key = self.key(id)?;
        self.by_key_mut(key)
    }

    /// The socket `id` with its key.
    pub(super) fn entry(&self, id: &SocketId) -> Option<(SocketKey, &Socket)> {
        let key = self.key(id)?;
        Some((key, self.by_key(key)?))
    }

    pub(super) fn by_key(&self, key: SocketKey) -> Option<&Socket> {
        self.slots.get(key).map(|s| &**s)
    }

    pub(super) fn by_key_mut(&mut self, key: SocketKey) -> Option<&mut Socket> {
        self.slots.get_mut(key).map(|s| &mut **s)
    }

    /// Adds a socket under its id (`socket.id`), replacing one that had it.
    pub(super) fn insert(&mut self, socket: Box<Socket>) -> SocketKey {
        let id = socket.id.clone();
        let key = self.slots.insert(socket);
        if let Some(old) = self.by_id.insert(id, key) {
            self.slots.remove(old);
        }
        key
    }

    pub(super) fn remove(&mut self, id: &SocketId) -> Option<(SocketKey, Box<Socket>)> {
        let key = self.by_id.remove(id)?;
        Some((key, self.slots.remove(key)?))
    }

    /// The ids of every socket.
    pub(super) fn ids(&self) -> impl Iterator<Item = &SocketId> {
        self.by_id.keys()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Socket> {
        self.slots.values().map(|s| &**s)
    }

    /// The ids of `keys` that name a socket.
    pub(super) fn ids_of(&self, keys: impl IntoIterator<Item = SocketKey>) -> Vec<SocketId> {
        keys.into_iter()
            .filter_map(|k| self.by_key(k).map(|s| s.id.clone()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::small::SmallSet;

    use engineio_proto::{SessionKey, Sid};
    use serde_json::Value;

    use super::super::test_util::{client, config, harness};
    use super::*;
    use crate::types::Nsp;

    fn socket(id: &str) -> Box<Socket> {
        // A real handshake, from a real connection.
        let mut h = harness(config());
        let (_, real) = client(&mut h);
        let handshake = h.server.socket(&real).unwrap().handshake;
        Box::new(Socket {
            id: SocketId::new(id),
            nsp: Nsp::MAIN,
            sid: Sid::new("s"),
            session: SessionKey::default(),
            pid: None,
            rooms: SmallSet::default(),
            data: Value::Null,
            handshake,
            connected: true,
            recovered: false,
            missed: Vec::new(),
        })
    }

    #[test]
    fn a_key_names_its_socket_and_no_later_one_in_its_slot() {
        let mut table = Sockets::default();
        let a = table.insert(socket("a"));
        let b = table.insert(socket("b"));
        assert_eq!(table.key(&SocketId::new("a")), Some(a));
        assert_eq!(table.by_key(b).unwrap().id.as_str(), "b");
        assert_eq!(table.entry(&SocketId::new("b")).unwrap().0, b);
        let (gone, _) = table.remove(&SocketId::new("a")).unwrap();
        assert_eq!(gone, a);
        assert!(!table.contains_key(&SocketId::new("a")));
        // "c" takes a's slot under a new generation: a's key misses.
        let c = table.insert(socket("c"));
        assert_ne!(a, c);
        assert!(table.by_key(a).is_none());
        assert!(table.by_key_mut(a).is_none());
        let ids: Vec<String> = table
            .ids_of([a, b, c])
            .into_iter()
            .map(|id| id.to_string())
            .collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(table.len(), 2);
        assert!(table.remove(&SocketId::new("a")).is_none());
    }

    #[test]
    fn a_socket_inserted_again_under_its_id_replaces_the_old_one() {
        let mut table = Sockets::default();
        let old = table.insert(socket("a"));
        let new = table.insert(socket("a"));
        assert_eq!(table.len(), 1);
        assert!(table.by_key(old).is_none());
        assert_eq!(table.key(&SocketId::new("a")), Some(new));
        assert_eq!(table.values().count(), 1);
        assert_eq!(table.ids().count(), 1);
    }
}
