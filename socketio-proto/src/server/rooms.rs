//! Rooms: the index of a namespace's members and rooms, joins and leaves
//! (here and through `socketsJoin` / `socketsLeave`), the room events and
//! the rooms created and deleted that a cluster transport follows.

use std::collections::{HashMap, VecDeque};

use engineio_proto::{IdHasher, IdSet};

use super::small::SmallSet;
use super::sockets::{SocketKey, Sockets};
use super::{Server, info};
use crate::cluster::{ClusterMessage, WireFlags, WireOptions};
use crate::event::Event;
use crate::types::{Nsp, Room, SocketId, SocketInfo, Target};

/// A room came to exist (its first member joined) or ceased to (its last
/// member left): Node's `create-room` / `delete-room` adapter events, which
/// the sharded Redis adapter follows to subscribe to room channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    /// The namespace.
    pub nsp: Nsp,
    /// The room (a socket's own room is its id).
    pub room: Room,
    /// Created (true) or deleted (false).
    pub created: bool,
}

/// The connected sockets of one namespace and its rooms, by socket key
/// (an integer: visiting, testing and deduplicating members hashes no id).
///
/// A socket's own room (named by its id) has no entry here: the caller
/// resolves such a name to its socket ([`Sockets::own_room_of`]), so that
/// the room every socket is in costs no entry, no name and no member set.
/// Every other room is an entry (a room named like a socket's id that other
/// sockets joined too is an entry plus that socket).
#[derive(Debug, Default)]
pub(super) struct RoomIndex {
    members: IdSet<SocketKey>,
    /// Room -> members, own rooms aside. A room exists while it has
    /// members. Room names may come from peers: the outer map keeps the
    /// DoS-resistant hasher.
    rooms: HashMap<Room, SmallSet<SocketKey, IdHasher>>,
}

impl RoomIndex {
    pub(super) fn add_member(&mut self, socket: SocketKey) {
        self.members.insert(socket);
    }

    pub(super) fn remove_member(&mut self, socket: SocketKey) {
        self.members.remove(&socket);
    }

    /// The connected sockets.
    pub(super) fn members(&self) -> impl Iterator<Item = SocketKey> + '_ {
        self.members.iter().copied()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The rooms that have an entry (own rooms aside).
    pub(super) fn names(&self) -> impl Iterator<Item = &Room> {
        self.rooms.keys()
    }

    /// Whether `room` has an entry (members other than its owner).
    pub(super) fn has_entry(&self, room: &Room) -> bool {
        self.rooms.contains_key(room)
    }

    /// Adds `socket` to the entry of `room` (not an own room): whether the
    /// entry was created, and the index's own copy of the name: a socket
    /// keeps that one, so the sockets of a room share one name rather than
    /// holding a copy each.
    pub(super) fn join(&mut self, socket: SocketKey, room: Room) -> (bool, Room) {
        if let Some((name, _)) = self.rooms.get_key_value(&room) {
            let name = name.clone();
            let created = self.rooms.get_mut(&name).is_some_and(|members| {
                let created = members.is_empty();
                members.insert(socket);
                created
            });
            return (created, name);
        }
        let mut members = SmallSet::default();
        members.insert(socket);
        self.rooms.insert(room.clone(), members);
        (true, room)
    }

    /// Takes `socket` out of the entry of `room`: whether the entry was
    /// deleted (its last member left).
    pub(super) fn leave(&mut self, socket: SocketKey, room: &Room) -> bool {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&socket);
            if members.is_empty() {
                self.rooms.remove(room);
                return true;
            }
        }
        false
    }

    /// Socket `key` (id `id`) enters `room`, its own room included (which
    /// has no entry): whether the room came to exist, and the name the
    /// socket keeps. `had_own`: whether it was in its own room already.
    pub(super) fn enter(
        &mut self,
        sockets: &Sockets,
        (key, id): (SocketKey, &SocketId),
        room: Room,
        had_own: bool,
    ) -> (bool, Room) {
        if room.as_str() == id.as_str() {
            return (!had_own && !self.has_entry(&room), room);
        }
        let owned = sockets.own_room_of(&room).is_some();
        let (created, name) = self.join(key, room);
        (created && !owned, name)
    }

    /// Socket `key` (id `id`) leaves `room`, its own room included: whether
    /// the room ceased to exist. `had_own`: whether it was in its own room.
    pub(super) fn exit(
        &mut self,
        sockets: &Sockets,
        (key, id): (SocketKey, &SocketId),
        room: &Room,
        had_own: bool,
    ) -> bool {
        if room.as_str() == id.as_str() {
            return had_own && !self.has_entry(room);
        }
        self.leave(key, room) && sockets.own_room_of(room).is_none()
    }

    /// The connected sockets `target` reaches, each once; `owner` resolves
    /// a socket's own room (see [`Sockets::own_room_of`]).
    pub(super) fn select(
        &self,
        target: &Target,
        owner: impl Fn(&Room) -> Option<SocketKey>,
    ) -> Vec<SocketKey> {
        let mut out = Vec::new();
        self.each_target(target, owner, |key| out.push(key));
        out
    }

    /// Calls `f` on each connected socket `target` reaches, once each,
    /// without collecting them (a broadcast visits every member); `owner`
    /// resolves a socket's own room.
    pub(super) fn each_target(
        &self,
        target: &Target,
        owner: impl Fn(&Room) -> Option<SocketKey>,
        mut f: impl FnMut(SocketKey),
    ) {
        // The owner of an own room, if it is a member here.
        let own = |room: &Room| owner(room).filter(|key| self.members.contains(key));
        // The excepted rooms are looked up once, not per member.
        let except: Vec<&SmallSet<SocketKey, IdHasher>> = target
            .except
            .iter()
            .filter_map(|room| self.rooms.get(room))
            .collect();
        let except_owners: Vec<SocketKey> = target.except.iter().filter_map(own).collect();
        let excluded =
            |key: &SocketKey| except_owners.contains(key) || except.iter().any(|m| m.contains(key));
        match target.rooms.as_slice() {
            [] => self
                .members
                .iter()
                .filter(|key| !excluded(key))
                .for_each(|key| f(*key)),
            [room] => {
                let entry = self.rooms.get(room);
                if let Some(members) = entry {
                    members
                        .iter()
                        .filter(|key| !excluded(key))
                        .for_each(|key| f(*key));
                }
                if let Some(key) = own(room) {
                    if !excluded(&key) && !entry.is_some_and(|m| m.contains(&key)) {
                        f(key);
                    }
                }
            }
            rooms => {
                let mut seen = IdSet::default();
                for room in rooms {
                    let entry = self.rooms.get(room).into_iter().flat_map(SmallSet::iter);
                    for key in entry.copied().chain(own(room)) {
                        if !excluded(&key) && seen.insert(key) {
                            f(key);
                        }
                    }
                }
            }
        }
    }
}

/// Rooms created and deleted, kept once a transport asked for them, and
/// whether joins and leaves are application events.
#[derive(Debug, Default)]
pub(super) struct RoomChanges {
    track: bool,
    queue: VecDeque<RoomChange>,
    /// Whether joins and leaves are reported ([`Event::RoomJoined`]).
    pub(super) events: bool,
}

impl RoomChanges {
    pub(super) fn changed(&mut self, nsp: &Nsp, room: &Room, created: bool) {
        if self.track {
            self.queue.push_back(RoomChange {
                nsp: nsp.clone(),
                room: room.clone(),
                created,
            });
        }
    }
}

impl Server {
    /// Reports every change of a connected socket's rooms made through
    /// [`join`](Self::join) / [`leave`](Self::leave) (and so `socketsJoin`
    /// / `socketsLeave`, here or from another node) as
    /// [`Event::RoomJoined`] / [`Event::RoomLeft`]; off by default. The
    /// rooms a socket leaves by disconnecting are in its
    /// [`Event::Disconnecting`].
    pub fn set_room_events(&mut self, on: bool) {
        self.room_changes.events = on;
    }

    /// Makes socket `id` join `room`. An unknown or not yet connected
    /// socket is ignored.
    pub fn join(&mut self, id: &SocketId, room: impl Into<Room>) {
        let room = room.into();
        let Some((key, socket)) = self.sockets.entry(id) else {
            return;
        };
        if !socket.connected {
            return;
        }
        let (id, nsp) = (socket.id.clone(), socket.nsp.clone());
        let had_own = socket.rooms.iter().any(|r| r.as_str() == id.as_str());
        let mut room = room;
        if let Some(ns) = self.namespaces.get_mut(&nsp) {
            let created;
            (created, room) = ns.rooms.enter(&self.sockets, (key, &id), room, had_own);
            if created {
                self.room_changes.changed(&nsp, &room, true);
            }
        }
        if let Some(socket) = self.sockets.by_key_mut(key) {
            if socket.rooms.insert(room.clone()) && self.room_changes.events {
                self.events.push_back(Event::RoomJoined {
                    socket: id,
                    nsp,
                    room,
                });
            }
        }
    }

    /// Makes socket `id` leave `room`. An unknown socket is ignored.
    pub fn leave(&mut self, id: &SocketId, room: &Room) {
        let Some((key, socket)) = self.sockets.entry(id) else {
            return;
        };
        let (id, nsp) = (socket.id.clone(), socket.nsp.clone());
        let had_own = socket.rooms.iter().any(|r| r.as_str() == id.as_str());
        if let Some(ns) = self.namespaces.get_mut(&nsp) {
            if ns.rooms.exit(&self.sockets, (key, &id), room, had_own) {
                self.room_changes.changed(&nsp, room, false);
            }
        }
        if let Some(socket) = self.sockets.by_key_mut(key) {
            if socket.rooms.remove(room) && self.room_changes.events && socket.connected {
                self.events.push_back(Event::RoomLeft {
                    socket: id,
                    nsp,
                    room: room.clone(),
                });
            }
        }
    }

    /// Snapshots of the sockets `target` selects in `nsp` (`fetchSockets`).
    pub fn fetch_sockets(&self, nsp: &Nsp, target: &Target) -> Vec<SocketInfo> {
        let Some(ns) = self.namespaces.get(nsp) else {
            return Vec::new();
        };
        ns.rooms
            .select(target, |room| self.sockets.own_room_of(room))
            .into_iter()
            .filter_map(|key| self.sockets.by_key(key).map(info))
            .collect()
    }

    /// Makes the selected sockets join `rooms` (`socketsJoin`), here and,
    /// unless `local`, on the other nodes.
    pub fn sockets_join(&mut self, nsp: &Nsp, target: &Target, rooms: &[Room]) {
        for id in self.select(nsp, target) {
            for room in rooms {
                self.join(&id, room.clone());
            }
        }
        if self.publishes(target) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            let rooms = rooms.iter().map(|r| r.to_string()).collect();
            self.publish(nsp.as_str(), ClusterMessage::SocketsJoin { opts, rooms });
        }
    }

    /// Makes the selected sockets leave `rooms` (`socketsLeave`), here and,
    /// unless `local`, on the other nodes.
    pub fn sockets_leave(&mut self, nsp: &Nsp, target: &Target, rooms: &[Room]) {
        for id in self.select(nsp, target) {
            for room in rooms {
                self.leave(&id, room);
            }
        }
        if self.publishes(target) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            let rooms = rooms.iter().map(|r| r.to_string()).collect();
            self.publish(nsp.as_str(), ClusterMessage::SocketsLeave { opts, rooms });
        }
    }

    /// From now on, keep the rooms created and deleted for
    /// [`poll_room_change`](Self::poll_room_change) (off by default: nothing
    /// piles up for a transport that does not read them). Rooms that exist
    /// already are reported as created.
    pub fn track_rooms(&mut self) {
        if self.room_changes.track {
            return;
        }
        self.room_changes.track = true;
        for ns in self.namespaces.iter() {
            for room in ns.rooms.names() {
                self.room_changes.changed(&ns.name, room, true);
            }
            // Own rooms have no entry (one that has is reported above).
            for key in ns.rooms.members() {
                let Some(socket) = self.sockets.by_key(key) else {
                    continue;
                };
                let own = Room::from(&socket.id);
                if socket.rooms.contains(&own) && !ns.rooms.has_entry(&own) {
                    self.room_changes.changed(&ns.name, &own, true);
                }
            }
        }
    }

    /// The next room created or deleted, once [`track_rooms`](Self::track_rooms)
    /// was called.
    #[must_use]
    pub fn poll_room_change(&mut self) -> Option<RoomChange> {
        self.room_changes.queue.pop_front()
    }

    pub(super) fn select(&self, nsp: &Nsp, target: &Target) -> Vec<SocketId> {
        self.namespaces
            .get(nsp)
            .map(|ns| {
                let keys = ns
                    .rooms
                    .select(target, |room| self.sockets.own_room_of(room));
                self.sockets.ids_of(keys)
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Sockets "a" to "d", each in its own room; red: a, b; blue: b, c.
    struct Fixture {
        ns: RoomIndex,
        names: slotmap::SlotMap<SocketKey, &'static str>,
    }

    impl Fixture {
        fn key(&self, name: &str) -> SocketKey {
            self.names
                .iter()
                .find(|(_, n)| **n == name)
                .map(|(k, _)| k)
                .unwrap()
        }

        /// The sockets' own rooms: every socket is in its own.
        fn owner(&self, room: &Room) -> Option<SocketKey> {
            self.names
                .iter()
                .find(|(_, n)| **n == room.as_str())
                .map(|(k, _)| k)
        }

        fn select(&self, target: &Target) -> Vec<&'static str> {
            let mut v: Vec<_> = self
                .ns
                .select(target, |room| self.owner(room))
                .into_iter()
                .map(|k| *self.names.get(k).unwrap())
                .collect();
            v.sort_unstable();
            v
        }
    }

    fn index() -> Fixture {
        let mut f = Fixture {
            ns: RoomIndex::default(),
            names: slotmap::SlotMap::with_key(),
        };
        for s in ["a", "b", "c", "d"] {
            let key = f.names.insert(s);
            f.ns.add_member(key);
        }
        for (s, room) in [("a", "red"), ("b", "red"), ("b", "blue"), ("c", "blue")] {
            let key = f.key(s);
            f.ns.join(key, Room::from(room));
        }
        f
    }

    #[test]
    fn select_rooms_except_and_dedup() {
        let f = index();
        assert_eq!(f.select(&Target::all()), ["a", "b", "c", "d"]);
        assert_eq!(f.select(&Target::room("red")), ["a", "b"]);
        assert_eq!(f.select(&Target::room("red").to("blue")), ["a", "b", "c"]);
        assert_eq!(
            f.select(&Target::room("red").to("blue").except("b")),
            ["a", "c"]
        );
        assert_eq!(f.select(&Target::all().except("blue")), ["a", "d"]);
        assert_eq!(f.select(&Target::room("red").except("none")), ["a", "b"]);
        assert!(f.select(&Target::room("none")).is_empty());
        // Own rooms, which have no entry: alone, with others, excepted.
        assert_eq!(f.select(&Target::room("d")), ["d"]);
        assert_eq!(f.select(&Target::room("d").to("red")), ["a", "b", "d"]);
        assert_eq!(f.select(&Target::room("a").to("red")), ["a", "b"]);
        assert_eq!(f.select(&Target::room("red").except("a")), ["b"]);
        assert_eq!(f.select(&Target::all().except("c").except("red")), ["d"]);
        // A room named like a socket that another socket joined: both, once.
        let mut f = f;
        let c = f.key("c");
        assert!(f.ns.join(c, Room::from("d")).0);
        assert_eq!(f.select(&Target::room("d")), ["c", "d"]);
        assert_eq!(f.select(&Target::room("d").to("blue")), ["b", "c", "d"]);
        let d = f.key("d");
        f.ns.join(d, Room::from("d"));
        assert_eq!(f.select(&Target::room("d")), ["c", "d"]);
        assert_eq!(f.select(&Target::all().except("d")), ["a", "b"]);
        // A socket that left its namespace is no member any more.
        let mut f = f;
        let b = f.key("b");
        f.ns.remove_member(b);
        assert_eq!(f.select(&Target::all()), ["a", "c", "d"]);
    }

    #[test]
    fn joins_and_leaves_say_when_a_room_is_created_and_deleted() {
        let mut f = index();
        let (a, b, c) = (f.key("a"), f.key("b"), f.key("c"));
        let ns = &mut f.ns;
        let red = ns.names().find(|r| *r == "red").unwrap().as_str().as_ptr();
        let (created, name) = ns.join(c, Room::from("red".to_owned()));
        assert!(!created);
        // The joiner gets the index's copy of the name, not its own.
        assert_eq!(name.as_str().as_ptr(), red);
        let green = Room::from("green".to_owned());
        let green_text = green.as_str().as_ptr();
        let (created, name) = ns.join(c, green);
        assert!(created);
        assert_eq!(name.as_str().as_ptr(), green_text);
        assert!(!ns.leave(a, &Room::from("red")));
        assert!(!ns.leave(b, &Room::from("red")));
        assert!(ns.leave(c, &Room::from("red")));
        assert!(!ns.names().any(|r| r == "red"));
        // Leaving a room one is not in, or that does not exist, deletes
        // nothing.
        assert!(!ns.leave(a, &Room::from("blue")));
        assert!(!ns.leave(a, &Room::from("none")));
    }

    /// A socket's own room has no entry in the index, yet behaves as a
    /// room: reached by its id, left and joined again, shared with sockets
    /// that join a room of that name, and created and deleted as Node's
    /// adapter reports it.
    #[test]
    fn own_rooms_are_implicit_rooms() {
        use super::super::test_util::{client, config, harness};

        let mut h = harness(config());
        let nsp = Nsp::from("/");
        h.server.track_rooms();
        let (_, x) = client(&mut h);
        let (ws_y, y) = client(&mut h);
        let changes = |h: &mut engineio_proto::testing::Harness<Server>| {
            std::iter::from_fn(|| h.server.poll_room_change())
                .map(|c| (c.room.to_string(), c.created))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            changes(&mut h),
            [(x.to_string(), true), (y.to_string(), true)]
        );
        let own_y = Room::from(&y);
        assert!(
            !h.server
                .namespaces
                .get(&nsp)
                .unwrap()
                .rooms
                .has_entry(&own_y)
        );
        assert_eq!(
            h.server.select(&nsp, &Target::room(y.to_string())),
            std::slice::from_ref(&y)
        );

        // x joins the room named by y's id: the room existed, x is in it.
        h.server.join(&x, y.to_string());
        assert!(changes(&mut h).is_empty());
        let mut both = h.server.select(&nsp, &Target::room(y.to_string()));
        both.sort_unstable();
        let mut expected = vec![x.clone(), y.clone()];
        expected.sort_unstable();
        assert_eq!(both, expected);
        assert_eq!(
            h.server
                .select(&nsp, &Target::room(y.to_string()).except(x.to_string())),
            std::slice::from_ref(&y)
        );

        // y leaves its own room (as Node allows): no longer reached by it,
        // but the room lives on with x; then y joins it back.
        h.server.leave(&y, &own_y);
        assert_eq!(
            h.server.select(&nsp, &Target::room(y.to_string())),
            std::slice::from_ref(&x)
        );
        assert!(!h.server.rooms(&y).contains(&own_y));
        h.server.join(&y, y.to_string());
        assert_eq!(h.server.rooms(&y), std::slice::from_ref(&own_y));
        assert_eq!(h.server.select(&nsp, &Target::room(y.to_string())).len(), 2);
        assert!(changes(&mut h).is_empty());

        // y goes: the room stays (x is in it), until x leaves it.
        h.ws_send(ws_y, "41");
        h.drain();
        assert!(changes(&mut h).is_empty());
        assert_eq!(
            h.server.select(&nsp, &Target::room(y.to_string())),
            std::slice::from_ref(&x)
        );
        h.server.leave(&x, &own_y);
        assert_eq!(changes(&mut h), [(y.to_string(), false)]);
        assert!(
            h.server
                .select(&nsp, &Target::room(y.to_string()))
                .is_empty()
        );

        // Leaving one's own room alone deletes it; joining it back creates it.
        h.server.leave(&x, &Room::from(&x));
        assert_eq!(changes(&mut h), [(x.to_string(), false)]);
        assert!(
            h.server
                .select(&nsp, &Target::room(x.to_string()))
                .is_empty()
        );
        h.server.join(&x, x.to_string());
        assert_eq!(changes(&mut h), [(x.to_string(), true)]);
        assert_eq!(
            h.server.select(&nsp, &Target::room(x.to_string())),
            std::slice::from_ref(&x)
        );
    }

    /// Rooms and room memberships are small sets that turn into hash maps
    /// past `SPILL` entries: every operation must hold on both sides.
    #[test]
    fn many_rooms_and_many_members_past_the_small_sets_limit() {
        use super::super::small::SPILL;
        use super::super::test_util::{client, config, harness};

        let mut h = harness(config());
        let nsp = Nsp::from("/");
        let ids: Vec<SocketId> = (0..SPILL + 3).map(|_| client(&mut h).1).collect();
        let first = &ids[0];
        let names: Vec<String> = (0..SPILL + 3).map(|i| format!("r{i}")).collect();
        for name in &names {
            h.server.join(first, name.clone());
        }
        for id in &ids {
            h.server.join(id, "big");
        }
        // Its own room, the SPILL + 3 rooms and "big", each once.
        let mut rooms: Vec<String> = h
            .server
            .rooms(first)
            .iter()
            .map(|r| r.to_string())
            .collect();
        rooms.sort_unstable();
        let mut expected: Vec<String> = names.clone();
        expected.extend([first.to_string(), "big".to_string()]);
        expected.sort_unstable();
        assert_eq!(rooms, expected);
        h.server.join(first, "r3");
        assert_eq!(
            h.server.rooms(first).len(),
            SPILL + 5,
            "a second join adds nothing"
        );

        let mut all: Vec<SocketId> = ids.clone();
        all.sort_unstable();
        let mut big = h.server.select(&nsp, &Target::room("big"));
        big.sort_unstable();
        assert_eq!(big, all);
        // Excepting a room of one (a socket's own) and a room of many.
        let mut rest = h
            .server
            .select(&nsp, &Target::room("big").except(first.to_string()));
        rest.sort_unstable();
        assert_eq!(
            rest,
            all[..]
                .iter()
                .filter(|id| *id != first)
                .cloned()
                .collect::<Vec<_>>()
        );
        assert!(
            h.server
                .select(&nsp, &Target::room("big").except("big"))
                .is_empty()
        );
        assert_eq!(
            h.server.select(&nsp, &Target::room("r9").to("r0")),
            vec![first.clone()]
        );

        h.server.leave(first, &Room::from("r9"));
        h.server.leave(&ids[4], &Room::from("big"));
        assert!(h.server.select(&nsp, &Target::room("r9")).is_empty());
        assert!(!h.server.rooms(first).contains(&Room::from("r9")));
        assert_eq!(h.server.select(&nsp, &Target::room("big")).len(), SPILL + 2);
        assert!(
            !h.server
                .select(&nsp, &Target::room("big"))
                .contains(&ids[4])
        );
    }

    #[test]
    fn room_changes_are_kept_only_once_tracked() {
        let mut changes = RoomChanges::default();
        let nsp = Nsp::from("/");
        changes.changed(&nsp, &Room::from("r"), true);
        assert!(changes.queue.is_empty());
        changes.track = true;
        changes.changed(&nsp, &Room::from("r"), false);
        assert_eq!(
            changes.queue.pop_front(),
            Some(RoomChange {
                nsp,
                room: Room::from("r"),
                created: false
            })
        );
    }
}
