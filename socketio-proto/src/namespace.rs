//! A namespace: its sockets, its room index, and (with connection state
//! recovery) the sessions and packets kept for clients that come back.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use engineio_proto::{IdSet, Str};
use serde_json::Value;

use crate::types::{ParentId, Room, SocketId, Target};

#[derive(Debug)]
pub(crate) struct Namespace {
    pub(crate) name: Str,
    pub(crate) parent: Option<ParentId>,
    /// Connected sockets.
    pub(crate) sockets: IdSet<SocketId>,
    /// Room -> members. A room exists while it has members. Room names may
    /// come from peers: the outer map keeps the DoS-resistant hasher.
    pub(crate) rooms: HashMap<Room, IdSet<SocketId>>,
    /// The ack id counter, shared by every socket of the namespace (as the
    /// official server's `nsp._ids`).
    pub(crate) next_ack_id: u64,
    pub(crate) recovery: RecoveryStore,
}

impl Namespace {
    pub(crate) fn new(name: Str, parent: Option<ParentId>) -> Self {
        Self {
            name,
            parent,
            sockets: IdSet::default(),
            rooms: HashMap::new(),
            next_ack_id: 0,
            recovery: RecoveryStore::default(),
        }
    }

    /// Whether the room was created by this join.
    pub(crate) fn join(&mut self, socket: &SocketId, room: Room) -> bool {
        let members = self.rooms.entry(room).or_default();
        let created = members.is_empty();
        members.insert(socket.clone());
        created
    }

    /// Whether the room was deleted by this leave (its last member left).
    pub(crate) fn leave(&mut self, socket: &SocketId, room: &str) -> bool {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(socket);
            if members.is_empty() {
                self.rooms.remove(room);
                return true;
            }
        }
        false
    }

    /// The connected sockets `target` reaches, each once.
    pub(crate) fn select(&self, target: &Target) -> Vec<SocketId> {
        let mut out = Vec::new();
        self.each_target(target, |id| out.push(id.clone()));
        out
    }

    /// Calls `f` on each connected socket `target` reaches, once each,
    /// without collecting them (a broadcast visits every member).
    pub(crate) fn each_target(&self, target: &Target, mut f: impl FnMut(&SocketId)) {
        let excluded = |id: &SocketId| {
            target
                .except
                .iter()
                .any(|room| self.rooms.get(room).is_some_and(|m| m.contains(id)))
        };
        match target.rooms.as_slice() {
            [] => self.sockets.iter().filter(|id| !excluded(id)).for_each(f),
            [room] => {
                if let Some(members) = self.rooms.get(room) {
                    members.iter().filter(|id| !excluded(id)).for_each(f);
                }
            }
            rooms => {
                let mut seen = IdSet::default();
                for room in rooms {
                    for id in self.rooms.get(room).into_iter().flatten() {
                        if !excluded(id) && seen.insert(id) {
                            f(id);
                        }
                    }
                }
            }
        }
    }
}

/// A disconnected session kept for recovery.
#[derive(Debug, Clone)]
pub(crate) struct StoredSession {
    pub(crate) sid: SocketId,
    pub(crate) rooms: Vec<Room>,
    pub(crate) data: Value,
    pub(crate) disconnected_at: Instant,
}

/// A broadcast kept for replay, with the offset it was sent with.
#[derive(Debug, Clone)]
pub(crate) struct StoredPacket {
    pub(crate) offset: Str,
    pub(crate) rooms: Vec<Room>,
    pub(crate) except: Vec<Room>,
    /// The EVENT's array, offset last.
    pub(crate) data: Vec<Value>,
    pub(crate) at: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct RecoveryStore {
    pub(crate) sessions: HashMap<Str, StoredSession>,
    /// Private ids in the order they were stored, for expiry.
    pub(crate) order: VecDeque<(Instant, Str)>,
    pub(crate) packets: VecDeque<StoredPacket>,
}

impl RecoveryStore {
    /// Forgets what is older than `max_age` before `now`.
    pub(crate) fn expire(&mut self, now: Instant, max_age: std::time::Duration) {
        let fresh = |at: Instant| now.saturating_duration_since(at) <= max_age;
        while let Some((at, pid)) = self.order.front() {
            if fresh(*at) {
                break;
            }
            if self
                .sessions
                .get(pid)
                .is_some_and(|s| s.disconnected_at == *at)
            {
                self.sessions.remove(pid);
            }
            self.order.pop_front();
        }
        while self.packets.front().is_some_and(|p| !fresh(p.at)) {
            self.packets.pop_front();
        }
    }

    pub(crate) fn persist(&mut self, pid: Str, session: StoredSession) {
        self.order.push_back((session.disconnected_at, pid.clone()));
        self.sessions.insert(pid, session);
    }

    pub(crate) fn store_packet(&mut self, packet: StoredPacket, max_packets: usize) {
        while self.packets.len() >= max_packets.max(1) {
            self.packets.pop_front();
        }
        self.packets.push_back(packet);
    }

    /// The session `pid` and the packets it missed after `offset`, if both
    /// are still known (`restoreSession`).
    pub(crate) fn restore(
        &mut self,
        pid: &str,
        offset: &str,
    ) -> Option<(StoredSession, Vec<Vec<Value>>)> {
        let index = self.packets.iter().position(|p| p.offset == offset)?;
        let session = self.sessions.remove(pid)?;
        let missed = self
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| {
                let included =
                    p.rooms.is_empty() || session.rooms.iter().any(|r| p.rooms.contains(r));
                let excluded = session.rooms.iter().any(|r| p.except.contains(r));
                included && !excluded
            })
            .map(|p| p.data.clone())
            .collect();
        Some((session, missed))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(s: &str) -> SocketId {
        SocketId::new(s)
    }

    fn ns() -> Namespace {
        let mut ns = Namespace::new(Str::from("/"), None);
        for s in ["a", "b", "c", "d"] {
            ns.sockets.insert(id(s));
            ns.join(&id(s), Str::from(s.to_owned()));
        }
        ns.join(&id("a"), Str::from("red"));
        ns.join(&id("b"), Str::from("red"));
        ns.join(&id("b"), Str::from("blue"));
        ns.join(&id("c"), Str::from("blue"));
        ns
    }

    fn sorted(mut v: Vec<SocketId>) -> Vec<String> {
        v.sort();
        v.into_iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn select_rooms_except_and_dedup() {
        let ns = ns();
        assert_eq!(sorted(ns.select(&Target::all())), ["a", "b", "c", "d"]);
        assert_eq!(sorted(ns.select(&Target::room("red"))), ["a", "b"]);
        assert_eq!(
            sorted(ns.select(&Target::room("red").to("blue"))),
            ["a", "b", "c"]
        );
        assert_eq!(
            sorted(ns.select(&Target::room("red").to("blue").except("b"))),
            ["a", "c"]
        );
        assert_eq!(sorted(ns.select(&Target::all().except("blue"))), ["a", "d"]);
        assert!(ns.select(&Target::room("none")).is_empty());
    }

    #[test]
    fn leaving_the_last_member_removes_the_room() {
        let mut ns = ns();
        ns.leave(&id("a"), "red");
        ns.leave(&id("b"), "red");
        assert!(!ns.rooms.contains_key("red"));
    }
}
