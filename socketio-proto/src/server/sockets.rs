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
use crate::types::SocketId;

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
