//! The Socket.IO server: namespaces, sockets, rooms, acks and recovery on
//! top of one Engine.IO engine, as a state machine.
//!
//! [`Server`] keeps the handle/poll surface and routes: each input is handed
//! to the sub-machine whose concern it is, each in its own file:
//!
//! | file | concern |
//! | --- | --- |
//! | `connects.rs` | namespaces (static, dynamic from a parent), CONNECT, middleware verdicts ([`Server::accept`] / [`Server::reject`]), connect timeouts |
//! | `acks.rs` | ack ids, ack timeouts, gathering the answers of a broadcast with acks |
//! | `sockets.rs` | the socket table: sockets by id and by [`SocketKey`](sockets::SocketKey) (slot index + generation) |
//! | `rooms.rs` | the room index of a namespace (by socket key), joins and leaves, room events |
//! | `broadcast.rs` | emits and broadcasts: encoded once, fanned out by key to the room index's members and their engine sessions ([`engineio_proto::SessionKey`]) |
//! | `recovery.rs` | connection state recovery: offsets, the replay buffer, the sessions kept |
//! | `cluster.rs` | the other nodes: requests, responses, remote sockets, heartbeats |
//! | `lifecycle.rs` | leaving: disconnecting, disconnect reasons, closing connections, shutdown |
//! | `stream_recovery.rs` | recovery kept by the cluster transport (Redis streams): deferred broadcasts, sessions handed out and looked up |
//!
//! Every timer of this layer is one entry of one [`Deadlines`] table keyed
//! by [`Timer`]; a timer that is no longer wanted is cancelled, and one that
//! fires for something already gone does nothing.

mod acks;
mod broadcast;
mod cluster;
mod connects;
mod lifecycle;
mod recovery;
mod rooms;
mod small;
mod sockets;
mod stream_recovery;
#[cfg(test)]
mod test_util;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use engineio_proto::{
    Data, Deadlines, Frame, IdMap, Output, Protocol, RandomIds, Request, RequestId, SendError,
    SessionKey, Sid, Str,
};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::event::Event;
use crate::packet::{Packet, Payload};
use crate::parser::{PacketDecoder, Sender};
use crate::types::{
    BroadcastId, DisconnectReason, Handshake, Nsp, ParentId, Room, SocketId, SocketInfo,
};

use acks::Acks;
use cluster::ClusterState;
use connects::Namespaces;
use recovery::Recovery;
use rooms::RoomChanges;
use small::{SmallMap, SmallSet};
use sockets::Sockets;

pub use rooms::RoomChange;

/// A Socket.IO server endpoint with no I/O: it owns the Engine.IO engine
/// and speaks Socket.IO v5 over it (and the v4 protocol of socket.io 2.x
/// clients when the engine allows Engine.IO v3).
///
/// # Driving it
///
/// The inputs are the engine's ([`handle_request`](Self::handle_request),
/// [`handle_body`](Self::handle_body), the WebSocket calls,
/// [`handle_timeout`](Self::handle_timeout)), each with `now`, and, in a
/// cluster, [`handle_cluster`](Self::handle_cluster) and
/// [`handle_cluster_count`](Self::handle_cluster_count). After any input or
/// action, drain [`poll_output`](Self::poll_output) (I/O for the runtime),
/// [`poll_event`](Self::poll_event) (connect requests, events, acks,
/// disconnects) and, in a cluster, [`poll_cluster`](Self::poll_cluster)
/// until `None`, then sleep until [`poll_timeout`](Self::poll_timeout).
///
/// Decisions that take time are an event now and a call later: a CONNECT is
/// [`Event::Connect`], answered by [`accept`](Self::accept) or
/// [`reject`](Self::reject); an answer to [`emit_with_ack`](Self::emit_with_ack)
/// is [`Event::Ack`] or [`Event::AckTimeout`].
///
/// Its methods, by kind:
/// - setup: [`new`](Self::new), [`add_namespace`](Self::add_namespace),
///   [`add_parent`](Self::add_parent), the engine settings (`set_*`);
/// - getters: [`socket`](Self::socket), [`rooms`](Self::rooms),
///   [`sockets_of`](Self::sockets_of), [`fetch_sockets`](Self::fetch_sockets)...;
/// - inputs: `handle_*`, each with `now`;
/// - actions: [`accept`](Self::accept), [`emit`](Self::emit),
///   [`broadcast`](Self::broadcast), [`join`](Self::join),
///   [`disconnect`](Self::disconnect)...;
/// - outputs: `poll_*`.
pub struct Server {
    engine: engineio_proto::Server,
    config: Arc<Config>,
    ids: RandomIds,
    namespaces: Namespaces,
    // Boxed: the tables keep spare slots, and an empty slot then costs a
    // pointer rather than a whole client or socket.
    clients: IdMap<Sid, Box<Client>>,
    /// By id and by [`SocketKey`] (what the room index holds).
    sockets: Sockets,
    acks: Acks,
    recovery: Recovery,
    room_changes: RoomChanges,
    reports: Reports,
    cluster: ClusterState,
    /// Every timer of this layer (the engine keeps its own).
    timers: Deadlines<Timer>,
    events: VecDeque<Event>,
    /// The messages of the packet being sent to one socket (kept to be
    /// reused: empty between calls).
    encoded: Vec<engineio_proto::Message>,
}

/// Which optional events are reported (all off by default: nothing is
/// paid for them then).
#[derive(Debug, Default, Clone, Copy)]
struct Reports {
    /// [`Event::SessionOpen`].
    sessions: bool,
    /// [`Event::Outgoing`].
    outgoing: bool,
    /// What every new session is watched for from its handshake.
    watch: engineio_proto::Watch,
}

/// What a timer of this layer is for: one deadline per key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// The connection must join a namespace by then.
    Connect(Sid),
    /// An [`Server::emit_with_ack`] with a timeout.
    Ack(SocketId, u64),
    /// A broadcast with acks stops waiting.
    Broadcast(BroadcastId),
    /// The next cluster heartbeat.
    Heartbeat,
    /// A cluster request stops waiting, by wire request id.
    Request(String),
}

/// One Engine.IO connection and the namespaces it joined.
#[derive(Debug)]
struct Client {
    protocol: Protocol,
    decoder: Box<dyn PacketDecoder>,
    /// Namespace -> its socket, connected or waiting for the verdict.
    nsps: SmallMap<Nsp, SocketId>,
    /// The handshake without auth.
    handshake: Arc<Handshake>,
}

#[derive(Debug)]
struct Socket {
    id: SocketId,
    nsp: Nsp,
    sid: Sid,
    /// The engine session's key: a broadcast sends through it without
    /// hashing `sid` (the null key when the session was already gone).
    session: SessionKey,
    pid: Option<Str>,
    rooms: SmallSet<Room>,
    data: Value,
    handshake: Arc<Handshake>,
    connected: bool,
    recovered: bool,
    /// Packets missed while disconnected, sent before the CONNECT reply.
    missed: Vec<crate::packet::Event>,
}

impl Server {
    /// A server with this configuration and the main namespace `/`.
    pub fn new(config: Config) -> Self {
        // Socket ids come from their own stream, keyed apart from the
        // engine's so that one id never reveals another.
        let mut seed = config.engine.seed;
        for b in &mut seed {
            *b ^= 0x5c;
        }
        let mut server = Self {
            engine: engineio_proto::Server::new(config.engine.clone()),
            recovery: Recovery::new(config.recovery.clone()),
            config: Arc::new(config),
            ids: RandomIds::from_seed(seed),
            namespaces: Namespaces::default(),
            clients: IdMap::default(),
            sockets: Sockets::default(),
            acks: Acks::default(),
            room_changes: RoomChanges::default(),
            reports: Reports::default(),
            cluster: ClusterState::default(),
            timers: Deadlines::new(),
            events: VecDeque::new(),
            encoded: Vec::new(),
        };
        server.add_namespace(Nsp::MAIN);
        server
    }

    // ----- setup -----

    /// Creates the namespace `name` (`io.of(name)`); existing ones stay.
    pub fn add_namespace(&mut self, name: impl Into<Nsp>) {
        self.namespaces.add(name.into());
    }

    /// Adds a parent namespace (`io.of(regex | fn)`): a CONNECT to an unknown
    /// name it matches creates that namespace as its child.
    pub fn add_parent(&mut self, matcher: crate::config::NamespaceMatcher) -> ParentId {
        self.namespaces.add_parent(matcher)
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The engine, to read (clients count, transports).
    pub fn engine(&self) -> &engineio_proto::Server {
        &self.engine
    }

    /// Whether namespace `name` exists.
    pub fn has_namespace(&self, name: &Nsp) -> bool {
        self.namespaces.contains(name)
    }

    /// How many namespaces exist (static and dynamic): cheap, so that a
    /// cluster transport can notice a new one after every drive.
    pub fn namespaces_count(&self) -> usize {
        self.namespaces.len()
    }

    /// The names of every namespace.
    pub fn namespace_names(&self) -> Vec<&Nsp> {
        self.namespaces.names()
    }

    /// The parent a dynamic namespace was created from.
    pub fn parent_of(&self, nsp: &Nsp) -> Option<ParentId> {
        self.namespaces.get(nsp).and_then(|ns| ns.parent)
    }

    /// The connected sockets of namespace `nsp`.
    pub fn sockets_of(&self, nsp: &Nsp) -> Vec<SocketId> {
        self.namespaces
            .get(nsp)
            .map(|ns| self.sockets.ids_of(ns.rooms.members()))
            .unwrap_or_default()
    }

    /// A snapshot of socket `id` (connected or waiting to be).
    pub fn socket(&self, id: &SocketId) -> Option<SocketInfo> {
        self.sockets.get(id).map(info)
    }

    /// Whether socket `id` is connected.
    pub fn is_connected(&self, id: &SocketId) -> bool {
        self.sockets.get(id).is_some_and(|s| s.connected)
    }

    /// Whether socket `id` was restored by connection state recovery.
    pub fn is_recovered(&self, id: &SocketId) -> bool {
        self.sockets.get(id).is_some_and(|s| s.recovered)
    }

    /// The engine session under socket `id` (`socket.conn`).
    pub fn socket_sid(&self, id: &SocketId) -> Option<&Sid> {
        self.sockets.get(id).map(|s| &s.sid)
    }

    /// How many acknowledgements socket `id` still waits for.
    pub fn pending_acks(&self, id: &SocketId) -> usize {
        self.sockets
            .key(id)
            .map_or(0, |key| self.acks.outstanding(key))
    }

    /// The rooms of socket `id`.
    pub fn rooms(&self, id: &SocketId) -> Vec<Room> {
        self.sockets
            .get(id)
            .map(|s| s.rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The application data of socket `id` (`socket.data`).
    pub fn data(&self, id: &SocketId) -> Option<&Value> {
        self.sockets.get(id).map(|s| &s.data)
    }

    /// Sets the application data of socket `id`.
    pub fn set_data(&mut self, id: &SocketId, data: Value) {
        if let Some(s) = self.sockets.get_mut(id) {
            s.data = data;
        }
    }

    // ----- outputs -----

    /// The next I/O for the runtime (the engine's outputs).
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.engine.poll_output()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline of the engine and of this layer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.engine.poll_timeout(), self.timers.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- inputs (the engine's, then what they mean here) -----

    /// See [`engineio_proto::Server::handle_request`].
    pub fn handle_request(&mut self, now: Instant, request: Request) -> RequestId {
        let id = self.engine.handle_request(now, request);
        self.pump(now);
        id
    }

    /// See [`engineio_proto::Server::handle_body`].
    pub fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes) {
        self.engine.handle_body(now, request, body);
        self.pump(now);
    }

    /// See [`engineio_proto::Server::handle_request_closed`].
    pub fn handle_request_closed(&mut self, now: Instant, request: RequestId) {
        self.engine.handle_request_closed(now, request);
        self.pump(now);
    }

    /// See [`engineio_proto::Server::handle_ws_message`].
    pub fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame) {
        self.engine.handle_ws_message(now, ws, frame);
        self.pump(now);
    }

    /// See [`engineio_proto::Server::handle_ws_flushed`].
    pub fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId) {
        self.engine.handle_ws_flushed(now, ws);
        self.pump(now);
    }

    /// See [`engineio_proto::Server::handle_ws_closed`].
    pub fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool) {
        self.engine.handle_ws_closed(now, ws, error);
        self.pump(now);
    }

    /// See [`engineio_proto::Server::allow_request`].
    pub fn allow_request(&mut self, now: Instant, request: RequestId, verdict: Result<(), String>) {
        self.engine.allow_request(now, request, verdict);
        self.pump(now);
    }

    /// The application's `allowRequest` decision failed (it panicked): the
    /// request gets HTTP 500 (see [`engineio_proto::Server::fail_request`]).
    pub fn fail_request(&mut self, request: RequestId) {
        self.engine.fail_request(request);
    }

    /// Runs every timer due at `now`: the engine's, connect timeouts, ack
    /// timeouts, broadcast ack timeouts, cluster heartbeats and requests.
    /// Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ensure_started(now);
        self.engine.handle_timeout(now);
        self.pump(now);
        while let Some((timer, at)) = self.timers.pop_expired(now) {
            match timer {
                Timer::Connect(sid) => self.on_connect_timeout(now, &sid),
                Timer::Ack(socket, id) => self.on_ack_timeout(socket, id),
                Timer::Broadcast(b) => self.finish_broadcast(b),
                Timer::Heartbeat => self.on_heartbeat(now, at),
                Timer::Request(wire_id) => self.finish_request(&wire_id, true),
            }
            self.pump(now);
        }
    }

    // ----- engine settings -----

    /// Asks for (or stops) the per-packet events of engine session `sid`
    /// (`socket.conn.on("packet" | "packetCreate" | "drain")`); they come as
    /// [`Event::Engine`]. See [`engineio_proto::Server::watch`].
    pub fn watch_conn(&mut self, sid: &Sid, watch: engineio_proto::Watch) -> bool {
        self.engine.watch(sid, watch)
    }

    /// Reports each new Engine.IO session as [`Event::SessionOpen`]
    /// (`io.engine.on("connection")`); off by default.
    pub fn set_session_events(&mut self, on: bool) {
        self.reports.sessions = on;
    }

    /// Watches every session opened from now on for `watch`'s per-packet
    /// events from its handshake (before its first packet), as
    /// [`watch_conn`](Self::watch_conn) would; a later `watch_conn`
    /// replaces it for that session. Default: nothing watched.
    pub fn set_session_watch(&mut self, watch: engineio_proto::Watch) {
        self.reports.watch = watch;
    }

    /// Reports each broadcast's recipients on this node as
    /// [`Event::Outgoing`] (for `onAnyOutgoing` listeners); off by
    /// default, and then a broadcast pays nothing for it.
    pub fn set_outgoing_events(&mut self, on: bool) {
        self.reports.outgoing = on;
    }

    /// See [`engineio_proto::Server::set_generate_id`].
    pub fn set_generate_id(&mut self, generate: Option<engineio_proto::IdGenerator>) {
        self.engine.set_generate_id(generate);
    }

    /// See [`engineio_proto::Server::set_allow_request`].
    pub fn set_allow_request(&mut self, ask: bool) {
        self.engine.set_allow_request(ask);
    }

    /// See [`engineio_proto::Server::set_initial_headers`].
    pub fn set_initial_headers(&mut self, hook: Option<engineio_proto::HeadersHook>) {
        self.engine.set_initial_headers(hook);
    }

    /// See [`engineio_proto::Server::set_headers`].
    pub fn set_headers(&mut self, hook: Option<engineio_proto::HeadersHook>) {
        self.engine.set_headers(hook);
    }

    // ----- routing -----

    /// Handles what the engine reported.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.engine.poll_event() {
            match event {
                engineio_proto::Event::Open { sid, handshake } => {
                    self.on_open(now, sid, *handshake)
                }
                engineio_proto::Event::Message { sid, data } => self.on_message(now, &sid, data),
                engineio_proto::Event::Close {
                    sid,
                    reason,
                    description,
                } => self.on_engine_close(now, sid, reason, description),
                other => self.events.push_back(Event::Engine(other)),
            }
        }
    }

    fn on_message(&mut self, now: Instant, sid: &Sid, data: Data) {
        let Some(client) = self.clients.get_mut(sid) else {
            return;
        };
        let decoded = client.decoder.decode(data);
        match decoded {
            Ok(None) => {}
            Ok(Some(packet)) => self.on_packet(now, sid, packet),
            Err(error) => {
                // The official server emits `error` on each socket, then
                // closes the connection ("forced close" once it is closed).
                for id in client.nsps.values() {
                    self.events.push_back(Event::Error {
                        socket: id.clone(),
                        message: error.to_string(),
                    });
                }
                self.engine.close(now, sid);
            }
        }
    }

    /// One packet from a client: to the concern it belongs to.
    fn on_packet(&mut self, now: Instant, sid: &Sid, packet: Packet) {
        let Some(client) = self.clients.get(sid) else {
            return;
        };
        let (nsp, v3_auth) = match client.protocol {
            // Shares the decoded message's storage: no copy per packet.
            Protocol::V4 => (Nsp::from(packet.nsp.clone()), None),
            // socket.io 2.x puts the CONNECT's query in the namespace.
            Protocol::V3 => match packet.nsp.split_once('?') {
                Some((path, query)) => {
                    let auth: Map<String, Value> =
                        Request::new(engineio_proto::Method::Get, format!("/?{query}"))
                            .query_pairs()
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect();
                    (Nsp::from(path.to_owned()), Some(auth))
                }
                None => (Nsp::from(packet.nsp.clone()), None),
            },
        };
        // One lookup: the namespace's socket, whether or not it is
        // connected yet (a CONNECT for a pending one is ignored).
        let entry = client.nsps.get(&nsp);
        let pending = entry.is_some();
        let socket = entry.filter(|id| self.is_connected(id)).cloned();
        match (socket, packet.payload) {
            (None, Payload::Connect(auth)) if !pending => {
                let auth = v3_auth.or(auth).unwrap_or_default();
                // Kept as long as the socket: the namespace's own name when
                // it exists (shared, no copy per socket), else a copy of its
                // own, not a view holding the whole CONNECT message.
                let nsp = match self.namespaces.get(&nsp) {
                    Some(ns) => ns.name.clone(),
                    None => Nsp::from(String::from(nsp.as_str())),
                };
                self.connect(now, sid, nsp, auth);
            }
            (Some(id), Payload::Event(event)) => {
                self.events.push_back(Event::Event {
                    socket: id,
                    nsp,
                    event,
                });
            }
            (Some(id), Payload::Ack(ack)) => self.on_ack(id, ack),
            (Some(id), Payload::Disconnect) => {
                self.close_socket(now, &id, DisconnectReason::ClientNamespaceDisconnect);
            }
            // A second CONNECT, a CONNECT_ERROR from a client, or anything
            // for a namespace not joined: the connection is closed.
            _ => self.close_client(now, sid),
        }
    }

    /// Encodes and queues one packet (and its attachments) for a session.
    fn send_packet(&mut self, sid: &Sid, packet: &Packet) -> Result<(), SendError> {
        self.send_packet_from(sid, packet, Sender::Socket)
    }

    /// [`send_packet`](Self::send_packet) through the session's key.
    fn send_packet_to(&mut self, session: SessionKey, packet: &Packet) -> Result<(), SendError> {
        self.send_encoded(session, packet, Sender::Socket)
    }

    /// Encodes and queues one packet that `sender` sends.
    fn send_packet_from(
        &mut self,
        sid: &Sid,
        packet: &Packet,
        sender: Sender,
    ) -> Result<(), SendError> {
        let session = self
            .engine
            .session_key(sid)
            .ok_or(SendError::UnknownSession)?;
        self.send_encoded(session, packet, sender)
    }

    /// Encodes `packet` into the reused buffer and queues its messages for
    /// `session`, stopping at the first the engine refuses.
    fn send_encoded(
        &mut self,
        session: SessionKey,
        packet: &Packet,
        sender: Sender,
    ) -> Result<(), SendError> {
        let mut messages = std::mem::take(&mut self.encoded);
        self.config
            .parser
            .encode_into(packet, sender, &mut messages);
        let mut sent = Ok(());
        for message in messages.drain(..) {
            if let Err(error) = self.engine.send_to(session, message) {
                sent = Err(error);
                break;
            }
        }
        self.encoded = messages;
        sent
    }
}

fn info(s: &Socket) -> SocketInfo {
    SocketInfo {
        id: s.id.clone(),
        nsp: s.nsp.clone(),
        handshake: s.handshake.clone(),
        rooms: s.rooms.iter().cloned().collect(),
        data: s.data.clone(),
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("engine", &self.engine)
            .field("namespaces", &self.namespaces.len())
            .field("clients", &self.clients.len())
            .field("sockets", &self.sockets.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl engineio_proto::Endpoint for Server {
    type Event = Event;

    fn engine_config(&self) -> &engineio_proto::Config {
        self.engine.config()
    }

    fn handle_request(&mut self, now: Instant, request: Request) -> RequestId {
        Server::handle_request(self, now, request)
    }
    fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes) {
        Server::handle_body(self, now, request, body);
    }
    fn handle_request_closed(&mut self, now: Instant, request: RequestId) {
        Server::handle_request_closed(self, now, request);
    }
    fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame) {
        Server::handle_ws_message(self, now, ws, frame);
    }
    fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId) {
        Server::handle_ws_flushed(self, now, ws);
    }
    fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool) {
        Server::handle_ws_closed(self, now, ws, error);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }
    fn poll_output(&mut self) -> Option<Output> {
        Server::poll_output(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Server::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
    fn shutdown(&mut self, now: Instant) {
        Server::shutdown(self, now);
    }
}
