//! The Socket.IO server: namespaces, sockets, rooms, acks and recovery on
//! top of one Engine.IO engine, as a state machine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio_proto::{
    Data, Frame, IdMap, Output, Protocol, RandomIds, Request, RequestId, SendError, Sid, Str,
};
use serde_json::{Map, Value};

use crate::cluster::{
    ClusterEnvelope, ClusterMessage, Membership, RequestKey, ServerSideReply, SessionRecord,
    WireFlags, WireOptions, WirePacket, WireSocket,
};
use crate::config::{Config, NamespaceMatcher, js_date_string};
use crate::namespace::{Namespace, StoredPacket, StoredSession};
use crate::packet::{Ack, ConnectErrorData, Event as EventPacket, Limits, Packet, Payload};
use crate::parser::{PacketDecoder, Sender};
use crate::types::{
    Broadcast, BroadcastId, BroadcastOptions, DisconnectReason, EmitError, Event, Handshake,
    ParentId, Room, SocketId, SocketInfo, Target,
};

/// A Socket.IO server endpoint with no I/O: it owns the Engine.IO engine
/// and speaks Socket.IO v5 over it (and the v4 protocol of socket.io 2.x
/// clients when the engine allows Engine.IO v3).
///
/// # Driving it
///
/// The inputs are the engine's ([`handle_request`](Self::handle_request),
/// [`handle_body`](Self::handle_body), the WebSocket calls,
/// [`handle_timeout`](Self::handle_timeout)), each with `now`. After any
/// input or action, drain [`poll_output`](Self::poll_output) (I/O for the
/// runtime) and [`poll_event`](Self::poll_event) (connect requests, events,
/// acks, disconnects) until `None`, then sleep until
/// [`poll_timeout`](Self::poll_timeout).
///
/// Decisions that take time are an event now and a call later: a CONNECT is
/// [`Event::Connect`], answered by [`accept`](Self::accept) or
/// [`reject`](Self::reject); an answer to [`emit_with_ack`](Self::emit_with_ack)
/// is [`Event::Ack`] or [`Event::AckTimeout`].
pub struct Server {
    engine: engineio_proto::Server,
    config: Arc<Config>,
    ids: RandomIds,
    namespaces: HashMap<Str, Namespace>,
    parents: Vec<NamespaceMatcher>,
    // Boxed: the tables keep spare slots, and an empty slot then costs a
    // pointer rather than a whole client or socket.
    clients: IdMap<Sid, Box<Client>>,
    sockets: IdMap<SocketId, Box<Socket>>,
    broadcasts: IdMap<BroadcastId, PendingBroadcast>,
    next_broadcast: u64,
    next_offset: u64,
    events: VecDeque<Event>,
    deadlines: BinaryHeap<Reverse<(Instant, Deadline)>>,
    cluster: Cluster,
    /// Whether joins and leaves are reported ([`Event::RoomJoined`]).
    room_events: bool,
}

/// This node's view of the cluster (unused on a single node).
#[derive(Debug, Default)]
struct Cluster {
    started: bool,
    outbox: VecDeque<ClusterEnvelope>,
    /// Other nodes and when each was last heard from.
    nodes: HashMap<String, Instant>,
    next_request: u64,
    /// Requests this node made, by wire request id.
    requests: HashMap<String, ClusterRequest>,
    /// Broadcasts with acks this node made, by wire request id.
    broadcast_requests: HashMap<String, BroadcastId>,
    /// Rooms created and deleted, kept only once a transport asked for
    /// them ([`Server::track_rooms`]).
    track_rooms: bool,
    room_changes: VecDeque<RoomChange>,
    /// Stream recovery ([`ClusterConfig::stream_recovery`](crate::ClusterConfig::stream_recovery)).
    stream: stream_recovery::StreamState,
}

mod stream_recovery;

/// A room came to exist (its first member joined) or ceased to (its last
/// member left): Node's `create-room` / `delete-room` adapter events, which
/// the sharded Redis adapter follows to subscribe to room channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    /// The namespace.
    pub nsp: Str,
    /// The room (a socket's own room is its id).
    pub room: Room,
    /// Created (true) or deleted (false).
    pub created: bool,
}

impl Cluster {
    fn room_changed(&mut self, nsp: &Str, room: &Room, created: bool) {
        if self.track_rooms {
            self.room_changes.push_back(RoomChange {
                nsp: nsp.clone(),
                room: room.clone(),
                created,
            });
        }
    }
}

#[derive(Debug)]
struct ClusterRequest {
    key: RequestKey,
    answers: Answers,
    /// Answers awaited; `None` until the transport counted the nodes
    /// ([`Membership::Counted`]).
    expected: Option<usize>,
    current: usize,
    deadline: Instant,
}

#[derive(Debug)]
enum Answers {
    Fetch {
        local: Vec<SocketInfo>,
        remote: Vec<WireSocket>,
    },
    ServerSideEmit(Vec<Value>),
}

/// One Engine.IO connection and the namespaces it joined.
#[derive(Debug)]
struct Client {
    protocol: Protocol,
    decoder: Box<dyn PacketDecoder>,
    /// Namespace -> its socket, connected or waiting for the verdict.
    nsps: HashMap<Str, SocketId>,
    /// The handshake without auth.
    handshake: Arc<Handshake>,
    connect_deadline: Option<Instant>,
}

#[derive(Debug)]
struct Socket {
    nsp: Str,
    sid: Sid,
    pid: Option<Str>,
    rooms: HashSet<Room>,
    data: Value,
    handshake: Arc<Handshake>,
    connected: bool,
    recovered: bool,
    /// Packets missed while disconnected, sent before the CONNECT reply.
    missed: Vec<EventPacket>,
    acks: HashMap<u64, PendingAck>,
}

#[derive(Debug, Clone, Copy)]
struct PendingAck {
    deadline: Option<Instant>,
    broadcast: Option<BroadcastId>,
}

#[derive(Debug)]
struct PendingBroadcast {
    ack_id: u64,
    /// Local recipients.
    targets: Vec<SocketId>,
    /// Answers received, local and remote.
    received: usize,
    deadline: Instant,
    /// Nodes that will say how many clients they reached; `None` until
    /// the transport counted them ([`Membership::Counted`]).
    nodes_expected: Option<usize>,
    /// Nodes that said it.
    nodes_answered: usize,
    /// Clients reached on other nodes.
    remote_expected: usize,
    /// Its wire request id, when published.
    wire_id: Option<String>,
    /// For a broadcast asked by another node: where to relay the answers.
    origin: Option<ServerSideReply>,
}

impl PendingBroadcast {
    fn complete(&self) -> bool {
        self.nodes_expected
            .is_some_and(|n| self.nodes_answered >= n)
            && self.received >= self.targets.len() + self.remote_expected
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    Connect(Sid),
    Ack(SocketId, u64),
    Broadcast(BroadcastId),
    Heartbeat,
    Request(String),
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
            config: Arc::new(config),
            ids: RandomIds::from_seed(seed),
            namespaces: HashMap::new(),
            parents: Vec::new(),
            clients: IdMap::default(),
            sockets: IdMap::default(),
            broadcasts: IdMap::default(),
            next_broadcast: 0,
            next_offset: 0,
            events: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            cluster: Cluster::default(),
            room_events: false,
        };
        server.add_namespace("/");
        server
    }

    // ----- setup -----

    /// Creates the namespace `name` (`io.of(name)`); existing ones stay.
    pub fn add_namespace(&mut self, name: &str) {
        let name = Str::from(name.to_owned());
        self.namespaces
            .entry(name.clone())
            .or_insert_with(|| Namespace::new(name, None));
    }

    /// Adds a parent namespace (`io.of(regex | fn)`): a CONNECT to an unknown
    /// name it matches creates that namespace as its child.
    pub fn add_parent(&mut self, matcher: NamespaceMatcher) -> ParentId {
        self.parents.push(matcher);
        ParentId(self.parents.len() as u32 - 1)
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
    pub fn has_namespace(&self, name: &str) -> bool {
        self.namespaces.contains_key(name)
    }

    /// How many namespaces exist (static and dynamic): cheap, so that a
    /// cluster transport can notice a new one after every drive.
    pub fn namespaces_count(&self) -> usize {
        self.namespaces.len()
    }

    /// The names of every namespace.
    pub fn namespace_names(&self) -> Vec<&str> {
        self.namespaces.keys().map(|k| &**k).collect()
    }

    /// The parent a dynamic namespace was created from.
    pub fn parent_of(&self, nsp: &str) -> Option<ParentId> {
        self.namespaces.get(nsp).and_then(|ns| ns.parent)
    }

    /// The connected sockets of namespace `nsp`.
    pub fn sockets_of(&self, nsp: &str) -> Vec<SocketId> {
        self.namespaces
            .get(nsp)
            .map(|ns| ns.sockets.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A snapshot of socket `id` (connected or waiting to be).
    pub fn socket(&self, id: &str) -> Option<SocketInfo> {
        let (id, s) = self.sockets.get_key_value(id)?;
        Some(info(id, s))
    }

    /// Whether socket `id` is connected.
    pub fn is_connected(&self, id: &str) -> bool {
        self.sockets.get(id).is_some_and(|s| s.connected)
    }

    /// Whether socket `id` was restored by connection state recovery.
    pub fn is_recovered(&self, id: &str) -> bool {
        self.sockets.get(id).is_some_and(|s| s.recovered)
    }

    /// The engine session under socket `id` (`socket.conn`).
    pub fn socket_sid(&self, id: &str) -> Option<&Sid> {
        self.sockets.get(id).map(|s| &s.sid)
    }

    /// How many acknowledgements socket `id` still waits for.
    pub fn pending_acks(&self, id: &str) -> usize {
        self.sockets.get(id).map_or(0, |s| s.acks.len())
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
        let ours = self.deadlines.peek().map(|Reverse((at, _))| *at);
        match (self.engine.poll_timeout(), ours) {
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
    /// timeouts, broadcast ack timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ensure_started(now);
        self.engine.handle_timeout(now);
        self.pump(now);
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, deadline))) = self.deadlines.pop() else {
                break;
            };
            match deadline {
                Deadline::Connect(sid) => {
                    let due = self.clients.get(&sid).is_some_and(|c| {
                        c.connect_deadline == Some(at)
                            && !c.nsps.values().any(|id| self.is_connected(id.as_str()))
                    });
                    if due {
                        self.close_client(now, &sid);
                    }
                }
                Deadline::Ack(socket, id) => {
                    let due = self
                        .sockets
                        .get(&socket)
                        .and_then(|s| s.acks.get(&id))
                        .is_some_and(|a| a.deadline == Some(at));
                    if due {
                        if let Some(s) = self.sockets.get_mut(&socket) {
                            s.acks.remove(&id);
                        }
                        self.events.push_back(Event::AckTimeout { socket, id });
                    }
                }
                Deadline::Broadcast(b) => {
                    if self.broadcasts.get(&b).is_some_and(|p| p.deadline == at) {
                        self.finish_broadcast(b);
                    }
                }
                Deadline::Heartbeat => {
                    if let Some(config) = self.config.cluster.clone() {
                        self.cluster.nodes.retain(|_, seen| {
                            now.saturating_duration_since(*seen) <= config.heartbeat_timeout
                        });
                        self.publish("/", ClusterMessage::Heartbeat);
                        self.deadlines.push(Reverse((
                            now + config.heartbeat_interval,
                            Deadline::Heartbeat,
                        )));
                    }
                }
                Deadline::Request(wire_id) => {
                    if self
                        .cluster
                        .requests
                        .get(&wire_id)
                        .is_some_and(|r| r.deadline == at)
                    {
                        self.finish_request(&wire_id, true);
                    }
                }
            }
            self.pump(now);
        }
    }

    // ----- engine settings -----

    /// Asks for (or stops) the per-packet events of engine session `sid`
    /// (`socket.conn.on("packet" | "packetCreate" | "drain")`); they come as
    /// [`Event::Engine`]. See [`engineio_proto::Server::watch`].
    pub fn watch_conn(&mut self, sid: &engineio_proto::Sid, watch: engineio_proto::Watch) -> bool {
        self.engine.watch(sid, watch)
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

    // ----- actions -----

    /// Lets socket `id` into its namespace after an [`Event::Connect`]: the
    /// CONNECT reply goes out (after any missed packets of a recovered
    /// session) and [`Event::Connection`] follows.
    pub fn accept(&mut self, now: Instant, id: &str) -> Result<(), EmitError> {
        match self.sockets.get(id) {
            Some(s) if !s.connected => {}
            _ => return Err(EmitError::UnknownSocket),
        }
        let id = SocketId::new(id);
        self.do_connect(now, &id);
        self.pump(now);
        Ok(())
    }

    /// Refuses socket `id` after an [`Event::Connect`] (a middleware error):
    /// the client gets CONNECT_ERROR with `message` and `data`; its
    /// connection stays open.
    pub fn reject(&mut self, now: Instant, id: &str, message: &str, data: Option<Value>) {
        let Some(socket) = self.sockets.get(id) else {
            return;
        };
        if socket.connected {
            return;
        }
        let Some((id, socket)) = self.sockets.remove_entry(id) else {
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
        drop(id);
        self.pump(now);
    }

    /// Sends an event to socket `id`. With connection state recovery on, it
    /// goes through the namespace's broadcast (to the socket's own room) so
    /// that it carries an offset and is replayed if the client comes back.
    pub fn emit(&mut self, now: Instant, id: &str, event: EventPacket) -> Result<(), EmitError> {
        let socket = self.connected(id)?;
        if self.config.recovery.is_some() && event.id.is_none() && event.attachments().is_empty() {
            let nsp = socket.nsp.clone();
            let room = Str::from(id.to_owned());
            let options = BroadcastOptions {
                target: Target::room(room),
                ..BroadcastOptions::default()
            };
            self.broadcast(now, &nsp, &options, event)?;
            return Ok(());
        }
        let packet = Packet::event(socket.nsp.clone(), event);
        let sid = socket.sid.clone();
        let result = self.send_packet(&sid, &packet);
        self.pump(now);
        result.map_err(EmitError::from)
    }

    /// Sends an event to socket `id` and waits for its answer: returns the
    /// ack id that [`Event::Ack`] or [`Event::AckTimeout`] will carry. With no
    /// timeout the answer may never come (until the socket leaves).
    pub fn emit_with_ack(
        &mut self,
        now: Instant,
        id: &str,
        event: EventPacket,
        timeout: Option<Duration>,
    ) -> Result<u64, EmitError> {
        let socket = self.connected(id)?;
        if socket.acks.len() >= self.config.max_outstanding_acks {
            return Err(EmitError::TooManyAcks);
        }
        let (nsp, sid) = (socket.nsp.clone(), socket.sid.clone());
        let ns = self
            .namespaces
            .get_mut(&nsp)
            .ok_or(EmitError::UnknownNamespace)?;
        let ack_id = ns.next_ack_id;
        ns.next_ack_id += 1;
        let packet = Packet::event(nsp, event.with_id(ack_id));
        let sent = self.send_packet(&sid, &packet);
        if sent.is_ok() {
            let deadline = timeout.map(|t| now + t);
            let socket_id = SocketId::new(id);
            if let Some(s) = self.sockets.get_mut(id) {
                s.acks.insert(
                    ack_id,
                    PendingAck {
                        deadline,
                        broadcast: None,
                    },
                );
            }
            if let Some(at) = deadline {
                self.deadlines
                    .push(Reverse((at, Deadline::Ack(socket_id, ack_id))));
            }
        }
        self.pump(now);
        sent.map(|()| ack_id).map_err(EmitError::from)
    }

    /// Answers an event that asked for an acknowledgement.
    pub fn ack(
        &mut self,
        now: Instant,
        id: &str,
        ack_id: u64,
        data: Vec<Value>,
        attachments: Vec<Bytes>,
    ) -> Result<(), EmitError> {
        let socket = self.connected(id)?;
        let ack = Ack::new(ack_id, data)
            .with_attachments(attachments)
            .map_err(|_| EmitError::UnknownSocket)?;
        let packet = Packet::ack(socket.nsp.clone(), ack);
        let sid = socket.sid.clone();
        let result = self.send_packet(&sid, &packet);
        self.pump(now);
        result.map_err(EmitError::from)
    }

    /// Sends an event to the sockets of namespace `nsp` that `options`
    /// selects, on this node and (unless `local`) on the other nodes of the
    /// cluster. The packet is encoded once and the same bytes are queued for
    /// every recipient. With a timeout, every recipient's answer comes as
    /// [`Event::BroadcastAck`], then [`Event::BroadcastAckDone`].
    pub fn broadcast(
        &mut self,
        now: Instant,
        nsp: &str,
        options: &BroadcastOptions,
        event: EventPacket,
    ) -> Result<Broadcast, EmitError> {
        self.ensure_started(now);
        let publish = self.config.cluster.is_some() && !options.target.local;
        let wire = publish.then(|| WirePacket {
            kind: if event.attachments().is_empty() { 2 } else { 5 },
            data: event.data().to_vec(),
            nsp: nsp.to_owned(),
            id: None,
            attachments: event.attachments().to_vec(),
        });
        let remote_nodes = if publish && options.timeout.is_some() {
            self.remote_count()
        } else {
            Some(0)
        };
        // With stream recovery the transport hands it back with its offset.
        let sent = if publish && options.timeout.is_none() && self.stream_recovery() {
            if !self.namespaces.contains_key(nsp) {
                return Err(EmitError::UnknownNamespace);
            }
            // Reached later: no local recipient counted now.
            Broadcast {
                recipients: 0,
                ack: None,
            }
        } else {
            self.deliver(now, nsp, options, event, None, remote_nodes)?
        };
        if let Some(mut packet) = wire {
            let request_id = sent.ack.map(|b| {
                let wire_id = self.new_request_id();
                self.cluster.broadcast_requests.insert(wire_id.clone(), b);
                if let Some(pending) = self.broadcasts.get_mut(&b) {
                    pending.wire_id = Some(wire_id.clone());
                    packet.id = Some(pending.ack_id);
                }
                wire_id
            });
            let flags = WireFlags {
                volatile: options.volatile.then_some(true),
                compress: options.compress,
                local: None,
                timeout: options.timeout.map(|t| t.as_millis() as u64),
            };
            let opts = WireOptions::from_target(&options.target, flags);
            self.publish(
                nsp,
                ClusterMessage::Broadcast {
                    opts,
                    packet,
                    request_id,
                },
            );
        }
        self.pump(now);
        Ok(sent)
    }

    /// Delivers a broadcast to this node's sockets. `origin` is set for a
    /// broadcast with acks asked by another node; `remote_nodes` is how many
    /// other nodes will report their clients for one asked here.
    fn deliver(
        &mut self,
        now: Instant,
        nsp: &str,
        options: &BroadcastOptions,
        mut event: EventPacket,
        origin: Option<ServerSideReply>,
        remote_nodes: Option<usize>,
    ) -> Result<Broadcast, EmitError> {
        // With stream recovery the offset is the transport's, added before.
        let recovery = (!self.stream_recovery())
            .then(|| self.config.recovery.clone())
            .flatten();
        let ns = self
            .namespaces
            .get_mut(nsp)
            .ok_or(EmitError::UnknownNamespace)?;
        let ack = options.timeout.map(|t| {
            let id = ns.next_ack_id;
            ns.next_ack_id += 1;
            (id, now + t)
        });
        if let Some((id, _)) = ack {
            event = event.with_id(id);
        } else if let Some(recovery) = recovery.filter(|_| !options.volatile) {
            if event.attachments().is_empty() && event.id.is_none() {
                // Kept for replay, with its offset as the last argument.
                let offset = Str::from(format!("{:x}", self.next_offset));
                self.next_offset += 1;
                let (mut data, _) = event.into_parts();
                data.push(Value::String(offset.to_string()));
                ns.recovery.expire(now, recovery.max_disconnection_duration);
                ns.recovery.store_packet(
                    StoredPacket {
                        offset,
                        rooms: options.target.rooms.clone(),
                        except: options.target.except.clone(),
                        data: data.clone(),
                        at: now,
                    },
                    recovery.max_stored_packets,
                );
                event = EventPacket::from_data(data).map_err(|_| EmitError::UnknownNamespace)?;
            }
        }
        let packet = Packet::event(ns.name.clone(), event);
        // Encoded once: every recipient gets clones of the same messages.
        let mut messages = self.config.parser.encode(&packet, Sender::Broadcast);
        if options.compress == Some(false) {
            messages = messages.into_iter().map(|m| m.compress(false)).collect();
        }
        let broadcast = ack.map(|_| {
            self.next_broadcast += 1;
            BroadcastId(self.next_broadcast - 1)
        });
        // The recipients are visited in place (no list of ids is built);
        // only a broadcast with acks keeps who it reached.
        let Some(ns) = self.namespaces.get(nsp) else {
            return Err(EmitError::UnknownNamespace);
        };
        let (engine, sockets) = (&mut self.engine, &mut self.sockets);
        let mut reached = Vec::new();
        let mut recipients = 0;
        ns.each_target(&options.target, |id| {
            let Some(socket) = sockets.get_mut(id) else {
                return;
            };
            if options.volatile && !engine.is_writable(&socket.sid) {
                return;
            }
            let Some((first, rest)) = messages.split_first() else {
                return;
            };
            if engine.send(&socket.sid, first.clone()).is_err() {
                return;
            }
            for m in rest {
                let _ = engine.send(&socket.sid, m.clone());
            }
            recipients += 1;
            if let (Some((ack_id, _)), Some(b)) = (ack, broadcast) {
                socket.acks.insert(
                    ack_id,
                    PendingAck {
                        deadline: None,
                        broadcast: Some(b),
                    },
                );
                reached.push(id.clone());
            }
        });
        if let (Some((ack_id, deadline)), Some(b)) = (ack, broadcast) {
            let pending = PendingBroadcast {
                ack_id,
                targets: reached,
                received: 0,
                deadline,
                nodes_expected: remote_nodes,
                nodes_answered: 0,
                remote_expected: 0,
                wire_id: None,
                origin,
            };
            let complete = pending.complete();
            self.broadcasts.insert(b, pending);
            if complete {
                self.finish_broadcast(b);
            } else {
                self.deadlines
                    .push(Reverse((deadline, Deadline::Broadcast(b))));
            }
        }
        Ok(Broadcast {
            recipients,
            ack: broadcast,
        })
    }

    /// Reports every change of a connected socket's rooms made through
    /// [`join`](Self::join) / [`leave`](Self::leave) (and so `socketsJoin`
    /// / `socketsLeave`, here or from another node) as
    /// [`Event::RoomJoined`] / [`Event::RoomLeft`]; off by default. The
    /// rooms a socket leaves by disconnecting are in its
    /// [`Event::Disconnecting`].
    pub fn set_room_events(&mut self, on: bool) {
        self.room_events = on;
    }

    /// Makes socket `id` join `room`.
    pub fn join(&mut self, id: &str, room: impl Into<Room>) {
        let room = room.into();
        let Some((id, socket)) = self.sockets.get_key_value(id) else {
            return;
        };
        if !socket.connected {
            return;
        }
        let (id, nsp) = (id.clone(), socket.nsp.clone());
        if let Some(ns) = self.namespaces.get_mut(&nsp) {
            if ns.join(&id, room.clone()) {
                self.cluster.room_changed(&nsp, &room, true);
            }
        }
        if let Some(socket) = self.sockets.get_mut(&id) {
            if socket.rooms.insert(room.clone()) && self.room_events {
                self.events.push_back(Event::RoomJoined {
                    socket: id,
                    nsp,
                    room,
                });
            }
        }
    }

    /// Makes socket `id` leave `room`.
    pub fn leave(&mut self, id: &str, room: &str) {
        let Some((id, socket)) = self.sockets.get_key_value(id) else {
            return;
        };
        let (id, nsp) = (id.clone(), socket.nsp.clone());
        if let Some(ns) = self.namespaces.get_mut(&nsp) {
            if ns.leave(&id, room) {
                self.cluster
                    .room_changed(&nsp, &Room::from(room.to_owned()), false);
            }
        }
        if let Some(socket) = self.sockets.get_mut(&id) {
            if socket.rooms.remove(room) && self.room_events && socket.connected {
                self.events.push_back(Event::RoomLeft {
                    socket: id,
                    nsp,
                    room: Room::from(room.to_owned()),
                });
            }
        }
    }

    /// The rooms of socket `id`.
    pub fn rooms(&self, id: &str) -> Vec<Room> {
        self.sockets
            .get(id)
            .map(|s| s.rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The application data of socket `id` (`socket.data`).
    pub fn data(&self, id: &str) -> Option<&Value> {
        self.sockets.get(id).map(|s| &s.data)
    }

    /// Sets the application data of socket `id`.
    pub fn set_data(&mut self, id: &str, data: Value) {
        if let Some(s) = self.sockets.get_mut(id) {
            s.data = data;
        }
    }

    /// Disconnects socket `id`: with `close` false it leaves its namespace
    /// ("server namespace disconnect") and the connection stays; with
    /// `close` true every socket of its connection leaves and the
    /// connection closes.
    pub fn disconnect(&mut self, now: Instant, id: &str, close: bool) {
        let Some(socket) = self.sockets.get(id).filter(|s| s.connected) else {
            return;
        };
        let sid = socket.sid.clone();
        let ids: Vec<SocketId> = if close {
            self.clients
                .get(&sid)
                .map(|c| c.nsps.values().cloned().collect())
                .unwrap_or_default()
        } else {
            vec![SocketId::new(id)]
        };
        for id in ids {
            let Some(socket) = self.sockets.get(&id).filter(|s| s.connected) else {
                continue;
            };
            let packet = Packet::disconnect(socket.nsp.clone());
            let _ = self.send_packet(&sid, &packet);
            self.close_socket(now, &id, DisconnectReason::ServerNamespaceDisconnect);
        }
        if close {
            self.close_client(now, &sid);
        }
        self.pump(now);
    }

    /// Snapshots of the sockets `target` selects in `nsp` (`fetchSockets`).
    pub fn fetch_sockets(&self, nsp: &str, target: &Target) -> Vec<SocketInfo> {
        let Some(ns) = self.namespaces.get(nsp) else {
            return Vec::new();
        };
        ns.select(target)
            .iter()
            .filter_map(|id| self.sockets.get(id).map(|s| info(id, s)))
            .collect()
    }

    /// Makes the selected sockets join `rooms` (`socketsJoin`), here and,
    /// unless `local`, on the other nodes.
    pub fn sockets_join(&mut self, nsp: &str, target: &Target, rooms: &[Room]) {
        for id in self.select(nsp, target) {
            for room in rooms {
                self.join(&id, room.clone());
            }
        }
        if self.publishes(target) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            let rooms = rooms.iter().map(|r| r.to_string()).collect();
            self.publish(nsp, ClusterMessage::SocketsJoin { opts, rooms });
        }
    }

    /// Makes the selected sockets leave `rooms` (`socketsLeave`), here and,
    /// unless `local`, on the other nodes.
    pub fn sockets_leave(&mut self, nsp: &str, target: &Target, rooms: &[Room]) {
        for id in self.select(nsp, target) {
            for room in rooms {
                self.leave(&id, room);
            }
        }
        if self.publishes(target) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            let rooms = rooms.iter().map(|r| r.to_string()).collect();
            self.publish(nsp, ClusterMessage::SocketsLeave { opts, rooms });
        }
    }

    /// Disconnects the selected sockets (`disconnectSockets`), here and,
    /// unless `local`, on the other nodes.
    pub fn disconnect_sockets(&mut self, now: Instant, nsp: &str, target: &Target, close: bool) {
        for id in self.select(nsp, target) {
            self.disconnect(now, &id, close);
        }
        if self.publishes(target) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            self.publish(nsp, ClusterMessage::DisconnectSockets { opts, close });
        }
    }

    /// `fetchSockets` across the cluster: [`Event::FetchSocketsDone`] comes
    /// with this node's sockets and the other nodes' answers (at once on a
    /// single node or with a `local` target).
    pub fn fetch_sockets_cluster(
        &mut self,
        now: Instant,
        nsp: &str,
        target: &Target,
    ) -> RequestKey {
        self.ensure_started(now);
        let local = self.fetch_sockets(nsp, target);
        let expected = if self.publishes(target) {
            self.remote_count()
        } else {
            Some(0)
        };
        let (key, wire_id) = self.open_request(
            now,
            Answers::Fetch {
                local,
                remote: Vec::new(),
            },
            expected,
        );
        if expected != Some(0) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            self.publish(
                nsp,
                ClusterMessage::FetchSockets {
                    opts,
                    request_id: wire_id,
                },
            );
        }
        self.pump(now);
        key
    }

    /// `serverSideEmit`: an event for the other nodes of the cluster (they
    /// see [`Event::ServerSideEmit`]). With a timeout, their answers come in
    /// one [`Event::ServerSideEmitDone`] and the request is returned.
    pub fn server_side_emit(
        &mut self,
        now: Instant,
        nsp: &str,
        data: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Option<RequestKey> {
        self.ensure_started(now);
        let clustered = self.config.cluster.is_some();
        let request = timeout.map(|t| {
            let expected = self.remote_count();
            let (key, wire_id) =
                self.open_request_until(now + t, Answers::ServerSideEmit(Vec::new()), expected);
            (key, wire_id)
        });
        if clustered {
            let request_id = request.as_ref().map(|(_, id)| id.clone());
            self.publish(
                nsp,
                ClusterMessage::ServerSideEmit {
                    request_id,
                    packet: data,
                },
            );
        }
        self.pump(now);
        request.map(|(key, _)| key)
    }

    /// Answers another node's [`Event::ServerSideEmit`].
    pub fn server_side_reply(&mut self, reply: &ServerSideReply, answer: Value) {
        self.respond_to(
            &reply.node,
            &reply.nsp,
            ClusterMessage::ServerSideEmitResponse {
                request_id: reply.request_id.clone(),
                packet: answer,
            },
        );
    }

    /// From now on, keep the rooms created and deleted for
    /// [`poll_room_change`](Self::poll_room_change) (off by default: nothing
    /// piles up for a transport that does not read them). Rooms that exist
    /// already are reported as created.
    pub fn track_rooms(&mut self) {
        if self.cluster.track_rooms {
            return;
        }
        self.cluster.track_rooms = true;
        for ns in self.namespaces.values() {
            for room in ns.rooms.keys() {
                self.cluster.room_changed(&ns.name, room, true);
            }
        }
    }

    /// The next room created or deleted, once [`track_rooms`](Self::track_rooms)
    /// was called.
    #[must_use]
    pub fn poll_room_change(&mut self) -> Option<RoomChange> {
        self.cluster.room_changes.pop_front()
    }

    /// The next message to publish to the other nodes.
    #[must_use]
    pub fn poll_cluster(&mut self) -> Option<ClusterEnvelope> {
        self.cluster.outbox.pop_front()
    }

    /// With [`Membership::Counted`]: the transport published the request
    /// `request_id` (a `FetchSockets`, or a `ServerSideEmit` or `Broadcast`
    /// with a request id) and counted `other_nodes` nodes that will answer
    /// it. An unknown or finished request is ignored.
    pub fn handle_cluster_count(&mut self, now: Instant, request_id: &str, other_nodes: usize) {
        if let Some(r) = self.cluster.requests.get_mut(request_id) {
            r.expected = Some(other_nodes);
            self.finish_request_if_complete(request_id);
        } else if let Some(&b) = self.cluster.broadcast_requests.get(request_id) {
            if let Some(pending) = self.broadcasts.get_mut(&b) {
                pending.nodes_expected = Some(other_nodes);
                if pending.complete() {
                    self.finish_broadcast(b);
                }
            }
        }
        self.pump(now);
    }

    /// The other nodes this node has heard from lately.
    pub fn cluster_nodes(&self) -> Vec<String> {
        self.cluster.nodes.keys().cloned().collect()
    }

    /// A message another node published.
    pub fn handle_cluster(&mut self, now: Instant, envelope: ClusterEnvelope) {
        self.ensure_started(now);
        let Some(config) = self.config.cluster.clone() else {
            return;
        };
        if envelope.uid == config.uid || envelope.to.as_ref().is_some_and(|to| *to != config.uid) {
            return;
        }
        self.cluster.nodes.insert(envelope.uid.clone(), now);
        let (node, nsp) = (envelope.uid, envelope.nsp);
        match envelope.message {
            ClusterMessage::InitialHeartbeat => {
                self.publish(&nsp, ClusterMessage::Heartbeat);
            }
            ClusterMessage::Heartbeat => {}
            ClusterMessage::AdapterClose => {
                self.cluster.nodes.remove(&node);
            }
            ClusterMessage::Broadcast {
                opts,
                packet,
                request_id,
            } => {
                let Ok(event) = EventPacket::from_data(packet.data)
                    .and_then(|e| e.with_attachments(packet.attachments))
                else {
                    return;
                };
                let timeout = request_id.as_ref().map(|_| {
                    opts.flags
                        .timeout
                        .map_or(config.requests_timeout, Duration::from_millis)
                });
                let options = BroadcastOptions {
                    target: opts.target(),
                    volatile: opts.flags.volatile == Some(true),
                    compress: opts.flags.compress,
                    timeout,
                };
                let origin = request_id.map(|request_id| ServerSideReply {
                    node: node.clone(),
                    nsp: nsp.clone(),
                    request_id,
                });
                if let Ok(sent) = self.deliver(now, &nsp, &options, event, origin.clone(), Some(0))
                {
                    if let Some(origin) = origin {
                        self.respond_to(
                            &node,
                            &nsp,
                            ClusterMessage::BroadcastClientCount {
                                request_id: origin.request_id,
                                client_count: sent.recipients,
                            },
                        );
                    }
                }
            }
            ClusterMessage::SocketsJoin { opts, rooms } => {
                let rooms: Vec<Room> = rooms.into_iter().map(Str::from).collect();
                self.sockets_join(&nsp, &opts.target(), &rooms);
            }
            ClusterMessage::SocketsLeave { opts, rooms } => {
                let rooms: Vec<Room> = rooms.into_iter().map(Str::from).collect();
                self.sockets_leave(&nsp, &opts.target(), &rooms);
            }
            ClusterMessage::DisconnectSockets { opts, close } => {
                self.disconnect_sockets(now, &nsp, &opts.target(), close);
            }
            ClusterMessage::FetchSockets { opts, request_id } => {
                let sockets = self
                    .fetch_sockets(&nsp, &opts.target())
                    .iter()
                    .map(wire_socket)
                    .collect();
                self.respond_to(
                    &node,
                    &nsp,
                    ClusterMessage::FetchSocketsResponse {
                        request_id,
                        sockets,
                    },
                );
            }
            ClusterMessage::ServerSideEmit { request_id, packet } => {
                let reply = request_id.map(|request_id| ServerSideReply {
                    node: node.clone(),
                    nsp: nsp.clone(),
                    request_id,
                });
                self.events.push_back(Event::ServerSideEmit {
                    nsp: Str::from(nsp),
                    data: packet,
                    reply,
                });
            }
            ClusterMessage::FetchSocketsResponse {
                request_id,
                sockets,
            } => {
                if let Some(r) = self.cluster.requests.get_mut(&request_id) {
                    if let Answers::Fetch { remote, .. } = &mut r.answers {
                        remote.extend(sockets);
                    }
                    r.current += 1;
                }
                self.finish_request_if_complete(&request_id);
            }
            ClusterMessage::ServerSideEmitResponse { request_id, packet } => {
                if let Some(r) = self.cluster.requests.get_mut(&request_id) {
                    if let Answers::ServerSideEmit(responses) = &mut r.answers {
                        responses.push(packet);
                    }
                    r.current += 1;
                }
                self.finish_request_if_complete(&request_id);
            }
            ClusterMessage::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                if let Some(&b) = self.cluster.broadcast_requests.get(&request_id) {
                    if let Some(pending) = self.broadcasts.get_mut(&b) {
                        pending.nodes_answered += 1;
                        pending.remote_expected += client_count;
                        if pending.complete() {
                            self.finish_broadcast(b);
                        }
                    }
                }
            }
            ClusterMessage::BroadcastAck { request_id, packet } => {
                if let Some(&b) = self.cluster.broadcast_requests.get(&request_id) {
                    let data = match packet {
                        Value::Array(data) => data,
                        other => vec![other],
                    };
                    self.events.push_back(Event::BroadcastAck {
                        broadcast: b,
                        socket: None,
                        data,
                        attachments: Vec::new(),
                    });
                    self.count_broadcast_answer(b);
                }
            }
        }
        self.pump(now);
    }

    /// Closes every socket with "server shutting down", then every
    /// connection.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SocketId> = self.sockets.keys().cloned().collect();
        for id in ids {
            self.close_socket(now, &id, DisconnectReason::ServerShuttingDown);
        }
        self.clients.clear();
        self.engine.shutdown(now);
        if self.config.cluster.is_some() {
            self.publish("/", ClusterMessage::AdapterClose);
        }
        self.pump(now);
    }

    // ----- private -----

    fn select(&self, nsp: &str, target: &Target) -> Vec<SocketId> {
        self.namespaces
            .get(nsp)
            .map(|ns| ns.select(target))
            .unwrap_or_default()
    }

    /// How many other nodes will answer a request made now; `None` when
    /// the transport counts them later.
    fn remote_count(&self) -> Option<usize> {
        match self.config.cluster.as_ref().map(|c| c.membership) {
            Some(Membership::Counted) => None,
            _ => Some(self.cluster.nodes.len()),
        }
    }

    fn publishes(&self, target: &Target) -> bool {
        self.config.cluster.is_some() && !target.local
    }

    /// Announces this node once, then keeps a heartbeat going.
    fn ensure_started(&mut self, now: Instant) {
        if self.cluster.started {
            return;
        }
        let Some(config) = &self.config.cluster else {
            return;
        };
        self.cluster.started = true;
        if config.membership == Membership::Counted {
            // No heartbeats: the transport counts the nodes per request.
            return;
        }
        let next = now + config.heartbeat_interval;
        self.publish("/", ClusterMessage::InitialHeartbeat);
        self.deadlines.push(Reverse((next, Deadline::Heartbeat)));
    }

    fn publish(&mut self, nsp: &str, message: ClusterMessage) {
        if let Some(config) = &self.config.cluster {
            self.cluster.outbox.push_back(ClusterEnvelope {
                uid: config.uid.clone(),
                nsp: nsp.to_owned(),
                to: None,
                message,
            });
        }
    }

    fn respond_to(&mut self, node: &str, nsp: &str, message: ClusterMessage) {
        if let Some(config) = &self.config.cluster {
            self.cluster.outbox.push_back(ClusterEnvelope {
                uid: config.uid.clone(),
                nsp: nsp.to_owned(),
                to: Some(node.to_owned()),
                message,
            });
        }
    }

    fn new_request_id(&mut self) -> String {
        self.cluster.next_request += 1;
        let uid = self.config.cluster.as_ref().map_or("", |c| c.uid.as_str());
        format!("{uid}:{}", self.cluster.next_request)
    }

    fn open_request(
        &mut self,
        now: Instant,
        answers: Answers,
        expected: Option<usize>,
    ) -> (RequestKey, String) {
        let timeout = self
            .config
            .cluster
            .as_ref()
            .map_or(Duration::ZERO, |c| c.requests_timeout);
        self.open_request_until(now + timeout, answers, expected)
    }

    fn open_request_until(
        &mut self,
        deadline: Instant,
        answers: Answers,
        expected: Option<usize>,
    ) -> (RequestKey, String) {
        let wire_id = self.new_request_id();
        let key = RequestKey(self.cluster.next_request);
        self.cluster.requests.insert(
            wire_id.clone(),
            ClusterRequest {
                key,
                answers,
                expected,
                current: 0,
                deadline,
            },
        );
        self.deadlines
            .push(Reverse((deadline, Deadline::Request(wire_id.clone()))));
        self.finish_request_if_complete(&wire_id);
        (key, wire_id)
    }

    fn finish_request_if_complete(&mut self, wire_id: &str) {
        if self
            .cluster
            .requests
            .get(wire_id)
            .is_some_and(|r| r.expected.is_some_and(|e| r.current >= e))
        {
            self.finish_request(wire_id, false);
        }
    }

    fn finish_request(&mut self, wire_id: &str, timed_out: bool) {
        let Some(r) = self.cluster.requests.remove(wire_id) else {
            return;
        };
        self.events.push_back(match r.answers {
            Answers::Fetch { local, remote } => Event::FetchSocketsDone {
                request: r.key,
                local,
                remote,
                timed_out,
            },
            Answers::ServerSideEmit(responses) => Event::ServerSideEmitDone {
                request: r.key,
                responses,
                timed_out,
            },
        });
    }

    fn connected(&self, id: &str) -> Result<&Socket, EmitError> {
        self.sockets
            .get(id)
            .map(|s| &**s)
            .filter(|s| s.connected)
            .ok_or(EmitError::UnknownSocket)
    }

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
                } => {
                    if let Some(client) = self.clients.remove(&sid) {
                        let socket_reason = DisconnectReason::from_engine(reason);
                        for id in client.nsps.values() {
                            self.close_socket(now, id, socket_reason);
                        }
                    }
                    // After the sockets' disconnects, as the official
                    // `socket.conn.on("close")` listeners run after the
                    // Socket.IO client's own.
                    self.events
                        .push_back(Event::Engine(engineio_proto::Event::Close {
                            sid,
                            reason,
                            description,
                        }));
                }
                other => self.events.push_back(Event::Engine(other)),
            }
        }
    }

    fn on_open(&mut self, now: Instant, sid: Sid, handshake: engineio_proto::Handshake) {
        let issued = self.config.wall_clock.as_ref().map_or(0, |clock| clock());
        let protocol = handshake.protocol;
        let request = handshake.request;
        let record = Handshake {
            xdomain: request.headers.get("origin").is_some(),
            headers: request.headers,
            time: js_date_string(issued),
            address: request.remote_address,
            secure: request.secure,
            peer_certificate: request.peer_certificate,
            issued,
            url: request.uri,
            query: handshake.query,
            auth: Map::new(),
        };
        let deadline = now + self.config.connect_timeout;
        self.clients.insert(
            sid.clone(),
            Box::new(Client {
                protocol,
                decoder: self.config.parser.decoder(Limits {
                    max_attachments: self.config.max_attachments,
                    max_binary_bytes: self.config.engine.max_http_buffer_size,
                }),
                nsps: HashMap::new(),
                handshake: Arc::new(record),
                connect_deadline: Some(deadline),
            }),
        );
        self.deadlines
            .push(Reverse((deadline, Deadline::Connect(sid.clone()))));
        if protocol == Protocol::V3 {
            // socket.io 2.x clients are in the main namespace from the start.
            self.connect(now, &sid, Str::from("/"), Map::new());
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

    fn on_packet(&mut self, now: Instant, sid: &Sid, packet: Packet) {
        let Some(client) = self.clients.get(sid) else {
            return;
        };
        let (nsp, v3_auth) = match client.protocol {
            // Shares the decoded message's storage: no copy per packet.
            Protocol::V4 => (packet.nsp.clone(), None),
            // socket.io 2.x puts the CONNECT's query in the namespace.
            Protocol::V3 => match packet.nsp.split_once('?') {
                Some((path, query)) => {
                    let auth: Map<String, Value> =
                        Request::new(engineio_proto::Method::Get, format!("/?{query}"))
                            .query_pairs()
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect();
                    (Str::from(path.to_owned()), Some(auth))
                }
                None => (packet.nsp.clone(), None),
            },
        };
        let socket = client
            .nsps
            .get(&nsp)
            .filter(|id| self.is_connected(id))
            .cloned();
        let pending = client.nsps.contains_key(&nsp);
        match (socket, packet.payload) {
            (None, Payload::Connect(auth)) if !pending => {
                let auth = v3_auth.or(auth).unwrap_or_default();
                // Kept as long as the socket: a copy of its own, not a view
                // holding the whole CONNECT message.
                self.connect(now, sid, Str::from(nsp.to_string()), auth);
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

    fn on_ack(&mut self, socket: SocketId, ack: Ack) {
        let Some(ack_id) = ack.id else {
            return;
        };
        // Unknown and repeated ids are ignored.
        let Some(pending) = self
            .sockets
            .get_mut(&socket)
            .and_then(|s| s.acks.remove(&ack_id))
        else {
            return;
        };
        let (data, attachments) = ack.into_parts();
        match pending.broadcast {
            None => self.events.push_back(Event::Ack {
                socket,
                id: ack_id,
                data,
                attachments,
            }),
            Some(broadcast) => {
                let origin = self
                    .broadcasts
                    .get(&broadcast)
                    .and_then(|b| b.origin.clone());
                match origin {
                    // Asked by another node: the answer goes back there.
                    Some(origin) => self.respond_to(
                        &origin.node,
                        &origin.nsp,
                        ClusterMessage::BroadcastAck {
                            request_id: origin.request_id.clone(),
                            packet: Value::Array(data),
                        },
                    ),
                    None => self.events.push_back(Event::BroadcastAck {
                        broadcast,
                        socket: Some(socket),
                        data,
                        attachments,
                    }),
                }
                self.count_broadcast_answer(broadcast);
            }
        }
    }

    fn count_broadcast_answer(&mut self, broadcast: BroadcastId) {
        if let Some(b) = self.broadcasts.get_mut(&broadcast) {
            b.received += 1;
            if b.complete() {
                self.finish_broadcast(broadcast);
            }
        }
    }

    fn finish_broadcast(&mut self, broadcast: BroadcastId) {
        let Some(b) = self.broadcasts.remove(&broadcast) else {
            return;
        };
        if let Some(wire_id) = &b.wire_id {
            self.cluster.broadcast_requests.remove(wire_id);
        }
        for id in &b.targets {
            if let Some(s) = self.sockets.get_mut(id) {
                if s.acks
                    .get(&b.ack_id)
                    .is_some_and(|a| a.broadcast == Some(broadcast))
                {
                    s.acks.remove(&b.ack_id);
                }
            }
        }
        if b.origin.is_none() {
            self.events.push_back(Event::BroadcastAckDone {
                broadcast,
                expected: b.targets.len() + b.remote_expected,
                received: b.received,
            });
        }
    }

    /// A CONNECT for namespace `nsp` (`client.connect`).
    fn connect(&mut self, now: Instant, sid: &Sid, nsp: Str, auth: Map<String, Value>) {
        let mut parent = None;
        if !self.namespaces.contains_key(&nsp) {
            match self.parents.iter().position(|m| m.matches(&nsp, &auth)) {
                Some(p) => {
                    parent = Some(ParentId(p as u32));
                    self.namespaces
                        .insert(nsp.clone(), Namespace::new(nsp.clone(), parent));
                }
                None => {
                    let error = ConnectErrorData::new("Invalid namespace", None);
                    let packet = Packet::connect_error(nsp, error);
                    let _ = self.send_packet_from(sid, &packet, Sender::Client);
                    return;
                }
            }
        }
        if !self.clients.contains_key(sid) {
            return;
        }
        let stream = self.stream_recovery();
        let Some(ns) = self.namespaces.get_mut(&nsp) else {
            return;
        };
        parent = parent.or(ns.parent);
        if stream {
            if let (Some(_), Some(Value::String(pid)), Some(Value::String(offset))) =
                (&self.config.recovery, auth.get("pid"), auth.get("offset"))
            {
                let (pid, offset) = (pid.clone(), offset.clone());
                self.wait_for_restore(now, sid, nsp, auth, parent, pid, offset);
                return;
            }
        }
        let restored = match (&self.config.recovery, auth.get("pid"), auth.get("offset")) {
            (Some(recovery), Some(Value::String(pid)), Some(Value::String(offset))) => {
                ns.recovery.expire(now, recovery.max_disconnection_duration);
                ns.recovery
                    .restore(pid, offset)
                    .filter(|(s, _)| !self.sockets.contains_key(&s.sid))
                    .map(|(s, missed)| {
                        let missed = missed
                            .into_iter()
                            .filter_map(|data| EventPacket::from_data(data).ok())
                            .collect();
                        (Str::from(pid.clone()), s, missed)
                    })
            }
            _ => None,
        };
        self.connect_socket(now, sid, nsp, auth, parent, restored);
    }

    /// Creates the socket of a CONNECT, restored or new, and asks for the
    /// verdict (or connects it at once when recovered middlewares are
    /// skipped).
    fn connect_socket(
        &mut self,
        now: Instant,
        sid: &Sid,
        nsp: Str,
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
        let (id, socket) = match restored {
            Some((pid, stored, missed)) => {
                let StoredSession {
                    sid: id,
                    rooms,
                    data,
                    ..
                } = stored;
                (
                    id,
                    Socket {
                        nsp: nsp.clone(),
                        sid: sid.clone(),
                        pid: Some(pid),
                        rooms: rooms.into_iter().collect(),
                        data,
                        handshake: handshake.clone(),
                        connected: false,
                        recovered: true,
                        missed,
                        acks: HashMap::new(),
                    },
                )
            }
            None => {
                let id = SocketId::new(&self.ids.next_id());
                let pid = self
                    .config
                    .recovery
                    .as_ref()
                    .map(|_| Str::from(self.ids.next_id()));
                (
                    id,
                    Socket {
                        nsp: nsp.clone(),
                        sid: sid.clone(),
                        pid,
                        rooms: HashSet::new(),
                        data: Value::Null,
                        handshake: handshake.clone(),
                        connected: false,
                        recovered: false,
                        missed: Vec::new(),
                        acks: HashMap::new(),
                    },
                )
            }
        };
        let recovered = socket.recovered;
        if let Some(client) = self.clients.get_mut(sid) {
            client.nsps.insert(nsp.clone(), id.clone());
        }
        self.sockets.insert(id.clone(), Box::new(socket));
        let skip = recovered
            && self
                .config
                .recovery
                .as_ref()
                .is_some_and(|r| r.skip_middlewares);
        if skip {
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
    fn do_connect(&mut self, now: Instant, id: &SocketId) {
        let _ = now;
        let Some(socket) = self.sockets.get_mut(id) else {
            return;
        };
        socket.connected = true;
        socket.rooms.insert(Str::from(id.to_string()));
        let (nsp, sid) = (socket.nsp.clone(), socket.sid.clone());
        let missed = std::mem::take(&mut socket.missed);
        let reply = match socket.pid.as_ref() {
            Some(pid) => serde_json::json!({ "sid": id.as_str(), "pid": pid.as_str() }),
            None => serde_json::json!({ "sid": id.as_str() }),
        };
        let rooms: Vec<Room> = socket.rooms.iter().cloned().collect();
        let recovered = socket.recovered;
        if let Some(ns) = self.namespaces.get_mut(&nsp) {
            ns.sockets.insert(id.clone());
            for room in rooms {
                if ns.join(id, room.clone()) {
                    self.cluster.room_changed(&nsp, &room, true);
                }
            }
        }
        let protocol = match self.clients.get_mut(&sid) {
            Some(client) => {
                client.connect_deadline = None;
                client.protocol
            }
            None => Protocol::V4,
        };
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

    /// The socket leaves its namespace (`socket._onclose`).
    fn close_socket(&mut self, now: Instant, id: &SocketId, reason: DisconnectReason) {
        let Some(socket) = self.sockets.remove(id) else {
            return;
        };
        if let Some(client) = self.clients.get_mut(&socket.sid) {
            if client.nsps.get(&socket.nsp) == Some(id) {
                client.nsps.remove(&socket.nsp);
            }
        }
        if !socket.connected {
            // Still waiting for its verdict: it never existed for the app.
            return;
        }
        let rooms: Vec<Room> = socket.rooms.iter().cloned().collect();
        self.events.push_back(Event::Disconnecting {
            socket: id.clone(),
            nsp: socket.nsp.clone(),
            reason,
            rooms: rooms.clone(),
        });
        if let Some(ns) = self.namespaces.get_mut(&socket.nsp) {
            for room in &rooms {
                if ns.leave(id, room) {
                    self.cluster.room_changed(&socket.nsp, room, false);
                }
            }
            ns.sockets.remove(id);
            let stream = self
                .config
                .cluster
                .as_ref()
                .is_some_and(|c| c.stream_recovery);
            if let (Some(recovery), Some(pid)) = (&self.config.recovery, &socket.pid) {
                if reason.is_recoverable() && stream {
                    self.cluster.stream.sessions.push_back(SessionRecord {
                        nsp: socket.nsp.to_string(),
                        pid: pid.to_string(),
                        id: id.to_string(),
                        rooms: rooms.iter().map(|r| r.to_string()).collect(),
                        data: socket.data.clone(),
                    });
                } else if reason.is_recoverable() {
                    ns.recovery.expire(now, recovery.max_disconnection_duration);
                    ns.recovery.persist(
                        pid.clone(),
                        StoredSession {
                            sid: id.clone(),
                            rooms,
                            data: socket.data.clone(),
                            disconnected_at: now,
                        },
                    );
                }
            }
            let empty_child = ns.parent.is_some() && ns.sockets.is_empty();
            if empty_child && self.config.cleanup_empty_child_namespaces {
                let waiting = self.sockets.values().any(|s| s.nsp == socket.nsp);
                if !waiting {
                    self.namespaces.remove(&socket.nsp);
                }
            }
        }
        // An answer can no longer come: the waiters learn it now.
        let mut own: Vec<u64> = socket
            .acks
            .iter()
            .filter(|(_, a)| a.broadcast.is_none())
            .map(|(id, _)| *id)
            .collect();
        own.sort_unstable();
        for ack in own {
            self.events.push_back(Event::AckTimeout {
                socket: id.clone(),
                id: ack,
            });
        }
        self.events.push_back(Event::Disconnect {
            socket: id.clone(),
            nsp: socket.nsp,
            reason,
        });
    }

    /// Closes a whole connection from this layer ("forced server close").
    fn close_client(&mut self, now: Instant, sid: &Sid) {
        self.engine.close(now, sid);
        if let Some(client) = self.clients.remove(sid) {
            for id in client.nsps.values() {
                self.close_socket(now, id, DisconnectReason::ForcedServerClose);
            }
        }
    }

    /// Encodes and queues one packet (and its attachments) for a session.
    fn send_packet(&mut self, sid: &Sid, packet: &Packet) -> Result<(), SendError> {
        self.send_packet_from(sid, packet, Sender::Socket)
    }

    /// Encodes and queues one packet that `sender` sends.
    fn send_packet_from(
        &mut self,
        sid: &Sid,
        packet: &Packet,
        sender: Sender,
    ) -> Result<(), SendError> {
        for message in self.config.parser.encode(packet, sender) {
            self.engine.send(sid, message)?;
        }
        Ok(())
    }
}

/// A socket as another node receives it (`FETCH_SOCKETS_RESPONSE`).
fn wire_socket(socket: &SocketInfo) -> WireSocket {
    let h = &socket.handshake;
    let headers: Map<String, Value> = h
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.to_owned())))
        .collect();
    let query: Map<String, Value> = h
        .query
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    WireSocket {
        id: socket.id.to_string(),
        handshake: serde_json::json!({
            "headers": headers,
            "time": h.time,
            "address": h.address,
            "xdomain": h.xdomain,
            "secure": h.secure,
            "issued": h.issued,
            "url": h.url,
            "query": query,
            "auth": h.auth,
        }),
        rooms: socket.rooms.iter().map(|r| r.to_string()).collect(),
        data: socket.data.clone(),
    }
}

fn info(id: &SocketId, s: &Socket) -> SocketInfo {
    SocketInfo {
        id: id.clone(),
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
