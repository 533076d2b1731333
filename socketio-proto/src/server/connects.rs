//! Connects: the namespaces a client may join (static ones, and dynamic
//! ones a parent's matcher creates), the CONNECT packet, the application's
//! verdict on it ([`Server::accept`] / [`Server::reject`], after its
//! middlewares ran) and the connect timeout of a connection that joins
//! nothing.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use engineio_proto::{Protocol, Sid, Str};
use serde_json::{Map, Value};

use super::recovery::StoredSession;
use super::rooms::RoomIndex;
use super::small::{SmallMap, SmallSet};
use super::{Client, Server, Socket, Timer};
use crate::config::NamespaceMatcher;
use crate::event::Event;
use crate::packet::{ConnectErrorData, Event as EventPacket, Limits, Packet};
use crate::parser::Sender;
use crate::types::{EmitError, Handshake, Nsp, ParentId, Room, SocketId};

/// One namespace: its members and rooms, its ack id counter.
#[derive(Debug)]
pub(super) struct Namespace {
    pub(super) name: Nsp,
    pub(super) parent: Option<ParentId>,
    /// Connected sockets and their rooms.
    pub(super) rooms: RoomIndex,
    /// The ack id counter, shared by every socket of the namespace (as the
    /// official server's `nsp._ids`).
    next_ack_id: u64,
}

impl Namespace {
    fn new(name: Nsp, parent: Option<ParentId>) -> Self {
        Self {
            name,
            parent,
            rooms: RoomIndex::default(),
            next_ack_id: 0,
        }
    }

    /// The next ack id of this namespace.
    pub(super) fn next_ack_id(&mut self) -> u64 {
        let id = self.next_ack_id;
        self.next_ack_id += 1;
        id
    }
}

/// Every namespace by name, and the parents dynamic ones come from.
#[derive(Debug, Default)]
pub(super) struct Namespaces {
    by_name: HashMap<Nsp, Namespace>,
    parents: Vec<NamespaceMatcher>,
}

impl Namespaces {
    /// Creates `name` unless it exists.
    pub(super) fn add(&mut self, name: Nsp) {
        self.by_name
            .entry(name.clone())
            .or_insert_with(|| Namespace::new(name, None));
    }

    pub(super) fn add_parent(&mut self, matcher: NamespaceMatcher) -> ParentId {
        self.parents.push(matcher);
        ParentId(self.parents.len() as u32 - 1)
    }

    // By `&Nsp` or by `&str` (a name from the wire).
    pub(super) fn get<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> Option<&Namespace>
    where
        Nsp: Borrow<Q>,
    {
        self.by_name.get(name)
    }

    pub(super) fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, name: &Q) -> Option<&mut Namespace>
    where
        Nsp: Borrow<Q>,
    {
        self.by_name.get_mut(name)
    }

    pub(super) fn contains<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> bool
    where
        Nsp: Borrow<Q>,
    {
        self.by_name.contains_key(name)
    }

    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }

    pub(super) fn names(&self) -> Vec<&Nsp> {
        self.by_name.keys().collect()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Namespace> {
        self.by_name.values()
    }

    pub(super) fn remove<Q: Hash + Eq + ?Sized>(&mut self, name: &Q)
    where
        Nsp: Borrow<Q>,
    {
        self.by_name.remove(name);
    }

    /// The namespace a CONNECT to `name` with `auth` joins: an existing one,
    /// or a child created from the first parent that matches. `None` for an
    /// "Invalid namespace". Returns the parent it comes from, if any.
    pub(super) fn resolve(
        &mut self,
        name: &Nsp,
        auth: &Map<String, Value>,
    ) -> Option<Option<ParentId>> {
        if let Some(ns) = self.by_name.get(name) {
            return Some(ns.parent);
        }
        let index = self
            .parents
            .iter()
            .position(|m| m.matches(name.as_str(), auth))?;
        let parent = Some(ParentId(index as u32));
        self.by_name
            .insert(name.clone(), Namespace::new(name.clone(), parent));
        Some(parent)
    }
}

impl Server {
    /// Lets socket `id` into its namespace after an [`Event::Connect`]: the
    /// CONNECT reply goes out (after any missed packets of a recovered
    /// session) and [`Event::Connection`] follows.
    ///
    /// # Errors
    ///
    /// [`EmitError::UnknownSocket`] when no socket `id` waits for a verdict
    /// (unknown, gone, or already connected).
    pub fn accept(&mut self, now: Instant, id: &SocketId) -> Result<(), EmitError> {
        let Some(socket) = self.sockets.get(id).filter(|s| !s.connected) else {
            return Err(EmitError::UnknownSocket);
        };
        let id = socket.id.clone();
        self.do_connect(now, &id);
        self.pump(now);
        Ok(())
    }

    /// Refuses socket `id` after an [`Event::Connect`] (a middleware error):
    /// the client gets CONNECT_ERROR with `message` and `data`; its
    /// connection stays open. An unknown or already connected socket is
    /// ignored.
    pub fn reject(&mut self, now: Instant, id: &SocketId, message: &str, data: Option<Value>) {
        if self.sockets.get(id).is_none_or(|s| s.connected) {
            return;
        }
        let Some((_, socket)) = self.sockets.remove(id) else {
            return;
        };
        if let Some(client) = self.clients.get_mut(&socket.sid) {
            client.nsps.remove(&socket.nsp);
            let reason = match client.protocol {
                // socket.io 2.x clients get the data, or the message, alone.
                Protocol::V3 => ConnectErrorData::Message(match data {
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => message.to_owned(),
                }),
                Protocol::V4 => ConnectErrorData::new(message, data),
            };
            let packet = Packet::connect_error(socket.nsp.clone(), reason);
            let _ = self.send_packet(&socket.sid, &packet);
        }
        self.pump(now);
    }

    /// A new engine session: its handshake is recorded and its connect
    /// timeout starts.
    pub(super) fn on_open(&mut self, now: Instant, sid: Sid, handshake: engineio_proto::Handshake) {
        let issued = self.config.wall_clock.as_ref().map_or(0, |clock| clock());
        let protocol = handshake.protocol;
        let request = handshake.request;
        let record = Handshake {
            xdomain: request.headers.get("origin").is_some(),
            headers: request.headers,
            sent_time: None,
            address: request.remote_address,
            secure: request.secure,
            peer_certificate: request.peer_certificate,
            issued,
            url: request.uri,
            sent_query: None,
            auth: Map::new(),
        };
        let handshake = Arc::new(record);
        self.clients.insert(
            sid.clone(),
            Box::new(Client {
                protocol,
                decoder: self.config.parser.decoder(Limits {
                    max_attachments: self.config.max_attachments,
                    max_binary_bytes: self.config.engine.max_http_buffer_size,
                }),
                nsps: SmallMap::default(),
                handshake: handshake.clone(),
            }),
        );
        if self.reports.watch != engineio_proto::Watch::default() {
            self.engine.watch(&sid, self.reports.watch);
        }
        if self.reports.sessions {
            self.events.push_back(Event::SessionOpen {
                sid: sid.clone(),
                handshake,
            });
        }
        self.timers.insert(
            Timer::Connect(sid.clone()),
            now + self.config.connect_timeout,
        );
        if protocol == Protocol::V3 {
            // socket.io 2.x clients are in the main namespace from the start.
            self.connect(now, &sid, Nsp::MAIN, Map::new());
        }
    }

    /// The connect timeout of `sid` passed: closed unless it joined a
    /// namespace meanwhile.
    pub(super) fn on_connect_timeout(&mut self, now: Instant, sid: &Sid) {
        let idle = self.clients.get(sid).is_some_and(|c| {
            !c.nsps
                .values()
                .any(|id| self.sockets.get(id).is_some_and(|s| s.connected))
        });
        if idle {
            self.close_client(now, sid);
        }
    }

    /// A CONNECT for namespace `nsp` (`client.connect`).
    pub(super) fn connect(&mut self, now: Instant, sid: &Sid, nsp: Nsp, auth: Map<String, Value>) {
        let Some(parent) = self.namespaces.resolve(&nsp, &auth) else {
            let error = ConnectErrorData::new("Invalid namespace", None);
            let packet = Packet::connect_error(nsp, error);
            let _ = self.send_packet_from(sid, &packet, Sender::Client);
            return;
        };
        if !self.clients.contains_key(sid) {
            return;
        }
        if self.stream_recovery() && self.recovery.enabled() {
            if let (Some(Value::String(pid)), Some(Value::String(offset))) =
                (auth.get("pid"), auth.get("offset"))
            {
                let (pid, offset) = (pid.clone(), offset.clone());
                self.wait_for_restore(now, sid, nsp, auth, parent, pid, offset);
                return;
            }
        }
        let restored = match (auth.get("pid"), auth.get("offset")) {
            (Some(Value::String(pid)), Some(Value::String(offset))) => self
                .recovery
                .restore(&nsp, now, pid, offset, |id| self.sockets.contains_key(id))
                .map(|(s, missed)| {
                    let missed = missed
                        .into_iter()
                        .filter_map(|data| EventPacket::from_data(data).ok())
                        .collect();
                    (Str::from(pid.clone()), s, missed)
                }),
            _ => None,
        };
        self.connect_socket(now, sid, nsp, auth, parent, restored);
    }

    /// Creates the socket of a CONNECT, restored (private id, session,
    /// missed packets) or new, and asks for the verdict (or connects it at
    /// once when recovered sockets skip the middlewares).
    pub(super) fn connect_socket(
        &mut self,
        now: Instant,
        sid: &Sid,
        nsp: Nsp,
        auth: Map<String, Value>,
        parent: Option<ParentId>,
        restored: Option<(Str, StoredSession, Vec<EventPacket>)>,
    ) {
        let Some(client) = self.clients.get(sid) else {
            return;
        };
        // Without auth (most clients) the socket shares the connection's
        // handshake instead of holding a copy of its headers and query.
        let handshake = if auth.is_empty() {
            client.handshake.clone()
        } else {
            Arc::new(Handshake {
                auth,
                ..(*client.handshake).clone()
            })
        };
        // The null key if the session closed meanwhile (its close comes
        // next): sends then fail as they would by id.
        let session = self.engine.session_key(sid).unwrap_or_default();
        let socket = match restored {
            Some((pid, stored, missed)) => Socket {
                id: stored.sid,
                nsp: nsp.clone(),
                sid: sid.clone(),
                session,
                pid: Some(pid),
                rooms: stored.rooms.into_iter().collect(),
                data: stored.data,
                handshake: handshake.clone(),
                connected: false,
                recovered: true,
                missed,
            },
            None => {
                let id = SocketId::new(&self.ids.next_id());
                let pid = self
                    .recovery
                    .enabled()
                    .then(|| Str::from(self.ids.next_id()));
                Socket {
                    id,
                    nsp: nsp.clone(),
                    sid: sid.clone(),
                    session,
                    pid,
                    rooms: SmallSet::default(),
                    data: Value::Null,
                    handshake: handshake.clone(),
                    connected: false,
                    recovered: false,
                    missed: Vec::new(),
                }
            }
        };
        let (id, recovered) = (socket.id.clone(), socket.recovered);
        if let Some(client) = self.clients.get_mut(sid) {
            client.nsps.insert(nsp.clone(), id.clone());
        }
        self.sockets.insert(Box::new(socket));
        if recovered && self.recovery.skips_middlewares() {
            self.do_connect(now, &id);
        } else {
            self.events.push_back(Event::Connect {
                socket: id,
                nsp,
                parent,
                handshake,
            });
        }
    }

    /// The socket enters its namespace (`_doConnect` and `_onconnect`).
    pub(super) fn do_connect(&mut self, now: Instant, id: &SocketId) {
        let _ = now;
        let Some(key) = self.sockets.key(id) else {
            return;
        };
        let Some(socket) = self.sockets.by_key_mut(key) else {
            return;
        };
        socket.connected = true;
        socket.rooms.insert(Room::from(id));
        let (nsp, sid) = (socket.nsp.clone(), socket.sid.clone());
        let missed = std::mem::take(&mut socket.missed);
        let reply = match socket.pid.as_ref() {
            Some(pid) => serde_json::json!({ "sid": id.as_str(), "pid": pid.as_str() }),
            None => serde_json::json!({ "sid": id.as_str() }),
        };
        let rooms: Vec<Room> = socket.rooms.iter().cloned().collect();
        let recovered = socket.recovered;
        if let Some(ns) = self.namespaces.get_mut(&nsp) {
            ns.rooms.add_member(key);
            for room in rooms {
                // Not in its own room before: it is connecting.
                if ns
                    .rooms
                    .enter(&self.sockets, (key, id), room.clone(), false)
                    .0
                {
                    self.room_changes.changed(&nsp, &room, true);
                }
            }
        }
        self.timers.cancel(&Timer::Connect(sid.clone()));
        let protocol = self.clients.get(&sid).map_or(Protocol::V4, |c| c.protocol);
        for event in missed {
            let _ = self.send_packet(&sid, &Packet::event(nsp.clone(), event));
        }
        let reply = match (protocol, reply) {
            (Protocol::V4, Value::Object(map)) => Packet::connect(nsp.clone(), Some(map)),
            _ => Packet::connect(nsp.clone(), None),
        };
        let _ = self.send_packet(&sid, &reply);
        self.events.push_back(Event::Connection {
            socket: id.clone(),
            nsp,
            recovered,
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {

    use super::super::test_util::{config, harness, open_ws, take_connect};
    use super::*;

    fn matcher(prefix: &'static str) -> NamespaceMatcher {
        NamespaceMatcher::Predicate(Arc::new(move |name, _| name.starts_with(prefix)))
    }

    /// A socket names its namespace with the namespace's own copy of the
    /// name (no copy per socket); a CONNECT to a namespace that does not
    /// exist yet is resolved from a copy of the name, not a view of the
    /// message.
    #[test]
    fn sockets_share_their_namespace_name() {
        use super::super::test_util::{config, harness, open_ws, take_connect};
        let mut h = harness(config());
        h.server.add_namespace(String::from("/chat"));
        let chat = h
            .server
            .namespaces
            .get("/chat")
            .unwrap()
            .name
            .as_str()
            .as_ptr();
        let main = h.server.namespaces.get("/").unwrap().name.as_str().as_ptr();
        for (packet, name) in [("40", main), ("40/chat,", chat), ("40/chat,", chat)] {
            let ws = open_ws(&mut h);
            h.ws_send(ws, packet);
            let (_, event) = take_connect(&mut h);
            let Event::Connect { nsp, .. } = event else {
                unreachable!()
            };
            assert_eq!(nsp.as_str().as_ptr(), name, "{packet}");
        }
    }

    #[test]
    fn resolve_finds_static_creates_dynamic_and_refuses_unknown() {
        let mut ns = Namespaces::default();
        ns.add(Nsp::from("/"));
        ns.add(Nsp::from("/"));
        assert_eq!(ns.len(), 1);
        let first = ns.add_parent(matcher("/dyn"));
        let second = ns.add_parent(matcher("/d"));
        assert_eq!((first, second), (ParentId(0), ParentId(1)));
        let auth = Map::new();
        assert_eq!(ns.resolve(&Nsp::from("/"), &auth), Some(None));
        // The first parent that matches wins, and the child is kept.
        assert_eq!(ns.resolve(&Nsp::from("/dyn-1"), &auth), Some(Some(first)));
        assert!(ns.contains("/dyn-1"));
        assert_eq!(ns.get("/dyn-1").unwrap().parent, Some(first));
        assert_eq!(ns.resolve(&Nsp::from("/d2"), &auth), Some(Some(second)));
        assert_eq!(ns.resolve(&Nsp::from("/other"), &auth), None);
        assert!(!ns.contains("/other"));
        assert_eq!(ns.len(), 3);
    }

    #[test]
    fn ack_ids_count_per_namespace() {
        let mut ns = Namespace::new(Nsp::from("/"), None);
        assert_eq!(ns.next_ack_id(), 0);
        assert_eq!(ns.next_ack_id(), 1);
        assert_eq!(ns.next_ack_id(), 2);
    }

    /// A client's namespaces are a small table that turns into a hash map
    /// past `SPILL` entries: connects, events, leaving one namespace and
    /// closing all must hold on both sides.
    #[test]
    fn a_client_in_more_namespaces_than_the_small_table_holds() {
        use super::super::small::SPILL;
        use super::super::test_util::client;

        let mut h = harness(config());
        let names: Vec<String> = (0..SPILL + 2).map(|i| format!("/n{i}")).collect();
        for name in &names {
            h.server.add_namespace(name.clone());
        }
        let (ws, main) = client(&mut h);
        let mut sockets = Vec::new();
        for name in &names {
            h.ws_send(ws, &format!("40{name},"));
            let (socket, _) = take_connect(&mut h);
            h.server.accept(h.now, &socket).unwrap();
            h.drain();
            assert_eq!(
                h.ws_take(ws),
                [format!("40{name},{{\"sid\":\"{}\"}}", socket.as_str())]
            );
            sockets.push(socket);
        }
        h.take_events();
        let last = SPILL + 1;
        h.ws_send(ws, &format!("42{},[\"hi\"]", names[last]));
        let from: Vec<SocketId> = h
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Event { socket, .. } => Some(socket),
                _ => None,
            })
            .collect();
        assert_eq!(from, [sockets[last].clone()]);

        h.ws_send(ws, &format!("41{},", names[3]));
        assert!(!h.server.is_connected(&sockets[3]));
        assert!(h.server.is_connected(&sockets[4]) && h.server.is_connected(&main));
        // Back in that namespace: a new socket.
        h.ws_send(ws, &format!("40{},", names[3]));
        let (again, _) = take_connect(&mut h);
        assert_ne!(again, sockets[3]);

        h.ws_send(ws, "1");
        assert!(h.ws_closed.contains_key(&ws));
        assert!(
            !sockets
                .iter()
                .chain([&main])
                .any(|s| h.server.is_connected(s))
        );
    }

    #[test]
    fn connect_timeout_closes_an_idle_connection_only() {
        let mut h = harness(config());
        let idle = open_ws(&mut h);
        let joined = open_ws(&mut h);
        h.ws_send(joined, "40");
        let (socket, _) = take_connect(&mut h);
        h.server.accept(h.now, &socket).unwrap();
        h.drain();
        // The connect timeout of the joined connection was cancelled: one
        // timer is left, the idle one's.
        assert_eq!(h.server.timers.len(), 1);
        h.advance(999);
        assert!(!h.ws_closed.contains_key(&idle));
        h.advance(1);
        assert!(h.ws_closed.contains_key(&idle));
        assert!(!h.ws_closed.contains_key(&joined));
        assert!(h.server.is_connected(&socket));
    }

    #[test]
    fn a_verdict_for_an_unknown_or_connected_socket_is_refused() {
        let mut h = harness(config());
        let ws = open_ws(&mut h);
        h.ws_send(ws, "40");
        let (socket, _) = take_connect(&mut h);
        assert_eq!(
            h.server.accept(h.now, &SocketId::new("nope")),
            Err(EmitError::UnknownSocket)
        );
        h.server.accept(h.now, &socket).unwrap();
        assert_eq!(
            h.server.accept(h.now, &socket),
            Err(EmitError::UnknownSocket)
        );
        // A late reject of a connected socket changes nothing.
        h.server.reject(h.now, &socket, "late", None);
        assert!(h.server.is_connected(&socket));
    }
}
