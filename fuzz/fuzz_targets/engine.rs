//! The whole server: a Socket.IO `Server` (and the engine inside it) driven
//! by a sequence of actions read from the input, on a virtual clock.
//!
//! Actions: handshakes over polling and WebSocket (v4, and v3 when the
//! configuration allows it; base64 and JSONP forms), long-poll GETs, POSTs
//! whose bodies carry Engine.IO and Socket.IO packets built from the input
//! (or raw bytes), other methods, WebSocket upgrades, WebSocket messages
//! text and binary, flushes and closes, dropped requests, late bodies, clock
//! advances, and the application's side: accept, reject, emit (with or
//! without ack and attachments), ack, broadcast (rooms, except, volatile, compress,
//! with acks), join, leave, disconnect, the utility operations, allowRequest
//! verdicts and shutdown. Connection state recovery is on, and the client
//! side remembers the sids, socket ids, private ids and offsets it saw, so
//! that a reconnection with `{"pid","offset"}` is within reach.
//!
//! After every step: no panic; every output names a request the runtime
//! holds (no answer twice, nothing sent on a closed WebSocket); every
//! session's queue is within `max_buffered_packets` / `max_buffered_bytes`;
//! the engine holds no more requests than the runtime has open; and after
//! `handle_timeout(now)` no deadline at or before `now` is left. At the end,
//! once the pending verdicts and bodies are given and the clock has moved
//! past ping interval + ping timeout + upgrade timeout + close timeout +
//! connect timeout, no session and no socket is left and every request has
//! had its answer.
//!
//! With `FUZZ_STATS` set, counts of the outcomes that show the deep paths
//! were reached (upgrades, ping timeouts, binary events and acks, recovered
//! connections...) are printed when the process exits.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio_proto::{
    Cors, Data, Event as EngineEvent, Frame, Method, Output, Packet as EnginePacket, Protocol,
    Request, RequestId, Str, payload,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use socketio_proto::binary::attach;
use socketio_proto::packet::{Decoder, Event as EventPacket, Limits, Payload};
use socketio_proto::{
    BroadcastOptions, ClientAckId, Config, DisconnectReason, Event, NamespaceMatcher, Nsp,
    RecoveryConfig, Room, Server, SocketId, Target,
};

// ----- configuration -----

const PING_INTERVAL: Duration = Duration::from_millis(300);
const PING_TIMEOUT: Duration = Duration::from_millis(200);
const UPGRADE_TIMEOUT: Duration = Duration::from_millis(500);
const CLOSE_TIMEOUT: Duration = Duration::from_millis(1000);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
const MAX_PAYLOAD: usize = 256;

/// Namespaces a client may name: static ones, dynamic children of the
/// parent `/dyn-<digit>`, and names nothing matches.
const NSPS: [&str; 5] = ["/", "/admin", "/dyn-1", "/nope", "/dyn-x"];
const ROOMS: [&str; 3] = ["r0", "r1", "r2"];

fn config(flags: u8) -> Config {
    let engine = engineio_proto::Config {
        path: "/socket.io".into(),
        ping_interval: PING_INTERVAL,
        ping_timeout: PING_TIMEOUT,
        upgrade_timeout: UPGRADE_TIMEOUT,
        close_timeout: CLOSE_TIMEOUT,
        max_http_buffer_size: MAX_PAYLOAD,
        max_buffered_packets: 12,
        max_buffered_bytes: 600,
        allow_eio3: flags & 0x01 != 0,
        allow_request: flags & 0x04 != 0,
        cors: (flags & 0x08 != 0).then(Cors::default),
        allow_upgrades: flags & 0x20 == 0,
        seed: [7; 32],
        ..engineio_proto::Config::default()
    };
    Config {
        engine,
        connect_timeout: CONNECT_TIMEOUT,
        max_attachments: 3,
        max_outstanding_acks: 4,
        cleanup_empty_child_namespaces: flags & 0x10 != 0,
        recovery: Some(RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(3),
            skip_middlewares: flags & 0x02 == 0,
            max_stored_packets: 6,
        }),
        ..Config::default()
    }
}

// ----- statistics (FUZZ_STATS) -----

#[derive(Clone, Copy)]
enum Stat {
    Inputs,
    Steps,
    Sessions,
    SessionsV3,
    Upgrades,
    PingTimeouts,
    BinaryEvents,
    BinaryAcks,
    Connections,
    Recovered,
    Acks,
    AckTimeouts,
    BroadcastAckDone,
    ParseErrors,
    SendBufferFull,
    TooLarge,
    Disconnects,
}

const STAT_NAMES: [&str; 17] = [
    "inputs",
    "steps",
    "sessions",
    "sessions_v3",
    "upgrades",
    "ping_timeout_disconnects",
    "events_with_attachments",
    "acks_with_attachments",
    "connections",
    "recovered_connections",
    "acks",
    "ack_timeouts",
    "broadcast_ack_done",
    "socket_errors",
    "send_buffer_full",
    "too_large_413_or_1009",
    "disconnects",
];

static STATS: [AtomicU64; 17] = [const { AtomicU64::new(0) }; 17];
static STATS_INIT: Once = Once::new();

fn count(stat: Stat) {
    STATS[stat as usize].fetch_add(1, Ordering::Relaxed);
}

unsafe extern "C" {
    fn atexit(callback: extern "C" fn()) -> i32;
}

extern "C" fn print_stats() {
    let line: Vec<String> = STAT_NAMES
        .iter()
        .zip(&STATS)
        .map(|(name, n)| format!("{name}={}", n.load(Ordering::Relaxed)))
        .collect();
    eprintln!("FUZZ_STATS {}", line.join(" "));
}

/// `FUZZ_DEBUG` set: print every step, output and event.
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}

// ----- input -----

/// Reads the input front to back; zeros once it is exhausted.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// A length byte, then that many bytes.
    fn chunk(&mut self) -> &'a [u8] {
        let n = self.byte();
        self.bytes(usize::from(n))
    }
}

fn pick<T: Clone>(items: &[T], b: u8) -> Option<T> {
    match items.len() {
        0 => None,
        n => items.get(usize::from(b) % n).cloned(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `nsp,` as a packet writes it (nothing for `/`).
fn nsp_prefix(nsp: &str) -> String {
    if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    }
}

fn eio(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::V3 => 3,
        Protocol::V4 => 4,
    }
}

/// One message of a client: Engine.IO text packets and binary messages.
enum Part {
    Text(String),
    Binary(Bytes),
}

fn frame(part: Part, protocol: Protocol) -> Frame {
    match part {
        Part::Text(t) => Frame::Text(Str::from(t)),
        Part::Binary(b) => Frame::message_binary(b, protocol),
    }
}

/// Percent-encodes everything but ASCII letters and digits (a JSONP form).
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ----- the runtime and client side -----

struct World {
    server: Server,
    start: Instant,
    now: Instant,
    auto_accept: bool,
    auto_flush: bool,
    /// Requests the runtime holds: not answered, not closed. Value: whether
    /// it asked for a WebSocket.
    open: BTreeMap<RequestId, bool>,
    /// WebSockets the engine accepted and that are not closed.
    accepted: BTreeSet<RequestId>,
    /// The protocol each WebSocket speaks.
    ws_protocol: BTreeMap<RequestId, Protocol>,
    /// Handshake requests, whose answer carries a new sid.
    handshakes: BTreeMap<RequestId, Protocol>,
    sids: Vec<(String, Protocol)>,
    unflushed: BTreeSet<RequestId>,
    bodies: Vec<RequestId>,
    decisions: Vec<RequestId>,
    sockets: Vec<SocketId>,
    waiting: Vec<SocketId>,
    /// Events from clients that asked for an ack.
    client_acks: Vec<(SocketId, ClientAckId)>,
    /// Ack ids the server asked clients for.
    server_acks: Vec<u64>,
    pids: Vec<String>,
    offsets: Vec<String>,
}

fn remember<T: PartialEq>(list: &mut Vec<T>, item: T, cap: usize) {
    if !list.contains(&item) {
        if list.len() >= cap {
            list.remove(0);
        }
        list.push(item);
    }
}

impl World {
    fn new(flags: u8, now: Instant) -> Self {
        let mut server = Server::new(config(flags));
        server.add_namespace("/admin");
        server.add_parent(NamespaceMatcher::Predicate(Arc::new(|name, _| {
            name.strip_prefix("/dyn-")
                .is_some_and(|d| d.len() == 1 && d.bytes().all(|b| b.is_ascii_digit()))
        })));
        Self {
            server,
            start: now,
            now,
            auto_accept: flags & 0x40 == 0,
            auto_flush: flags & 0x80 == 0,
            open: BTreeMap::new(),
            accepted: BTreeSet::new(),
            ws_protocol: BTreeMap::new(),
            handshakes: BTreeMap::new(),
            sids: Vec::new(),
            unflushed: BTreeSet::new(),
            bodies: Vec::new(),
            decisions: Vec::new(),
            sockets: Vec::new(),
            waiting: Vec::new(),
            client_acks: Vec::new(),
            server_acks: Vec::new(),
            pids: Vec::new(),
            offsets: Vec::new(),
        }
    }

    // ----- inputs -----

    fn request(&mut self, request: Request) -> RequestId {
        let websocket = request.websocket;
        let id = self.server.handle_request(self.now, request);
        assert!(
            self.open.insert(id, websocket).is_none(),
            "request id {id:?} reused"
        );
        self.drain();
        id
    }

    fn handshake(&mut self, websocket: bool, flags: u8) {
        let protocol = if flags & 1 != 0 {
            Protocol::V3
        } else {
            Protocol::V4
        };
        let transport = if websocket { "websocket" } else { "polling" };
        let mut uri = format!("/socket.io/?EIO={}&transport={transport}", eio(protocol));
        if flags & 2 != 0 {
            uri.push_str("&b64=1");
        }
        if flags & 4 != 0 {
            uri.push_str("&j=0");
        }
        let mut request = Request::new(Method::Get, uri);
        request.websocket = websocket;
        if flags & 8 != 0 {
            request.headers.insert("Origin", "http://example.com");
        }
        let id = self.server.handle_request(self.now, request);
        self.open.insert(id, websocket);
        self.handshakes.insert(id, protocol);
        if websocket {
            self.ws_protocol.insert(id, protocol);
        }
        self.drain();
    }

    fn polling_uri(&self, sid: &str, protocol: Protocol, flags: u8) -> String {
        let transport = if flags & 0x08 != 0 {
            "websocket"
        } else {
            "polling"
        };
        format!(
            "/socket.io/?EIO={}&transport={transport}&sid={sid}",
            eio(protocol)
        )
    }

    fn sid(&self, b: u8) -> Option<(String, Protocol)> {
        pick(&self.sids, b)
    }

    fn post(&mut self, sid: &str, protocol: Protocol, flags: u8, body: Bytes) {
        let mut request = Request::new(Method::Post, self.polling_uri(sid, protocol, flags));
        if flags & 0x02 != 0 {
            request
                .headers
                .insert("Content-Type", "application/octet-stream");
        }
        let id = self.request(request);
        if flags & 0x01 == 0 {
            self.body(id, body);
        }
    }

    fn body(&mut self, id: RequestId, body: Bytes) {
        if let Some(i) = self.bodies.iter().position(|b| *b == id) {
            self.bodies.remove(i);
            self.server.handle_body(self.now, id, body);
            self.drain();
        }
    }

    /// The parts of one client message built from the input.
    fn message(&self, c: &mut Cursor<'_>, parts: &mut Vec<Part>) {
        let op = c.byte();
        let probe = op & 0x80 != 0;
        match (op & 0x7f) % 14 {
            0 => parts.push(Part::Text(if probe { "2probe" } else { "2" }.into())),
            1 => parts.push(Part::Text(if probe { "3probe" } else { "3" }.into())),
            2 => parts.push(Part::Text("5".into())),
            3 => parts.push(Part::Text("6".into())),
            4 => parts.push(Part::Text("1".into())),
            5 => {
                let nsp = NSPS[usize::from(c.byte()) % NSPS.len()];
                let how = c.byte();
                let auth = match how % 4 {
                    0 => String::new(),
                    1 => r#"{"token":"abc"}"#.to_owned(),
                    2 => {
                        let pid = pick(&self.pids, c.byte()).unwrap_or_default();
                        let offset = pick(&self.offsets, c.byte()).unwrap_or_default();
                        json!({ "pid": pid, "offset": offset }).to_string()
                    }
                    _ => text(c.chunk()),
                };
                parts.push(Part::Text(format!("40{}{auth}", nsp_prefix(nsp))));
            }
            6 => {
                let nsp = NSPS[usize::from(c.byte()) % NSPS.len()];
                parts.push(Part::Text(format!("41{}", nsp_prefix(nsp))));
            }
            7 => {
                let nsp = NSPS[usize::from(c.byte()) % NSPS.len()];
                let b = c.byte();
                let name = ["message", "chat", "connect", "disconnecting"][usize::from(b) % 4];
                let id = if b & 0x10 != 0 {
                    c.byte().to_string()
                } else {
                    String::new()
                };
                let arg = c.byte();
                parts.push(Part::Text(format!(
                    r#"42{}{id}["{name}",{arg}]"#,
                    nsp_prefix(nsp)
                )));
            }
            8 => {
                // A binary event or ack: the head, then its attachments.
                let nsp = NSPS[usize::from(c.byte()) % NSPS.len()];
                let b = c.byte();
                let declared = usize::from((b & 0x07) % 5);
                let placeholders = usize::from((b >> 3 & 0x07) % 5);
                let ack = b & 0x80 != 0;
                let id = if ack {
                    pick(&self.server_acks, c.byte()).unwrap_or(0).to_string()
                } else if b & 0x40 != 0 {
                    c.byte().to_string()
                } else {
                    String::new()
                };
                let mut data = Vec::new();
                if !ack {
                    data.push(json!("upload"));
                }
                for i in 0..placeholders {
                    data.push(json!({ "_placeholder": true, "num": i }));
                }
                let kind = if ack { 6 } else { 5 };
                parts.push(Part::Text(format!(
                    "4{kind}{declared}-{}{id}{}",
                    nsp_prefix(nsp),
                    Value::Array(data)
                )));
                for _ in 0..declared {
                    let n = c.byte() % 8;
                    parts.push(Part::Binary(Bytes::from(vec![n; usize::from(n)])));
                }
            }
            9 => {
                let nsp = NSPS[usize::from(c.byte()) % NSPS.len()];
                let id = pick(&self.server_acks, c.byte()).unwrap_or(0);
                parts.push(Part::Text(format!(r#"43{}{id}["ok"]"#, nsp_prefix(nsp))));
            }
            10 => parts.push(Part::Text(format!("4{}", text(c.chunk())))),
            11 => parts.push(Part::Text(text(c.chunk()))),
            12 => parts.push(Part::Binary(Bytes::copy_from_slice(c.chunk()))),
            _ => {
                // Large: over the payload limit, or filling queues.
                let n = usize::from(c.byte()) * 2;
                parts.push(Part::Text(format!("42[\"big\",\"{}\"]", "x".repeat(n))));
            }
        }
    }

    fn ws_send(&mut self, ws: RequestId, frame: Frame) {
        self.server.handle_ws_message(self.now, ws, frame);
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.server.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.timeout();
        }
        self.now = end;
        self.timeout();
    }

    fn timeout(&mut self) {
        self.server.handle_timeout(self.now);
        if let Some(at) = self.server.poll_timeout() {
            assert!(
                at > self.now,
                "a deadline at or before now survived handle_timeout"
            );
        }
        self.drain();
    }

    // ----- outputs -----

    fn drain(&mut self) {
        for _ in 0..64 {
            while let Some(output) = self.server.poll_output() {
                self.on_output(output);
            }
            let mut connect = Vec::new();
            while let Some(event) = self.server.poll_event() {
                self.on_event(event, &mut connect);
            }
            let mut acted = false;
            if self.auto_accept {
                for id in connect {
                    let _ = self.server.accept(self.now, &id);
                    acted = true;
                }
            }
            if self.auto_flush {
                for ws in std::mem::take(&mut self.unflushed) {
                    self.server.handle_ws_flushed(self.now, ws);
                    acted = true;
                }
            }
            if !acted {
                return;
            }
        }
    }

    fn on_output(&mut self, output: Output) {
        if debug() {
            eprintln!("  output {output:?}");
        }
        match output {
            Output::Respond { request, response } => {
                assert!(
                    self.open.contains_key(&request) && !self.accepted.contains(&request),
                    "response to {request:?}, which is answered, closed or accepted"
                );
                self.open.remove(&request);
                if response.status == 413 {
                    count(Stat::TooLarge);
                }
                if let Some(protocol) = self.handshakes.remove(&request) {
                    self.opened(&response.body, protocol);
                }
                if let Ok(body) = Str::from_utf8(response.body) {
                    for packet in payload::decode_v4(body).flatten() {
                        self.harvest(packet);
                    }
                }
            }
            Output::ReadBody { request, limit } => {
                assert!(self.open.contains_key(&request), "body of {request:?}");
                assert_eq!(limit, MAX_PAYLOAD);
                self.bodies.push(request);
            }
            Output::AcceptWebSocket { request, .. } => {
                assert_eq!(
                    self.open.get(&request),
                    Some(&true),
                    "accept of {request:?}"
                );
                assert!(self.accepted.insert(request), "{request:?} accepted twice");
            }
            Output::WsSend { ws, frame, .. } => {
                assert!(
                    self.accepted.contains(&ws) && self.open.contains_key(&ws),
                    "send on {ws:?}, not an open WebSocket"
                );
                self.unflushed.insert(ws);
                let protocol = self.ws_protocol.get(&ws).copied().unwrap_or(Protocol::V4);
                if let Ok(packet) = EnginePacket::decode(frame, protocol) {
                    if let (Some(protocol), EnginePacket::Open(open)) =
                        (self.handshakes.remove(&ws), &packet)
                    {
                        self.opened(open.as_bytes(), protocol);
                    }
                    self.harvest(packet);
                }
            }
            Output::WsClose { ws, code } => {
                assert!(
                    self.accepted.contains(&ws) && self.open.contains_key(&ws),
                    "close of {ws:?}, not an open WebSocket"
                );
                if code == 1009 {
                    count(Stat::TooLarge);
                }
                self.open.remove(&ws);
                self.accepted.remove(&ws);
                self.unflushed.remove(&ws);
            }
        }
    }

    /// A handshake was answered: the client learns its sid.
    fn opened(&mut self, answer: &[u8], protocol: Protocol) {
        if let Some(sid) = sid_in(answer) {
            count(Stat::Sessions);
            if protocol == Protocol::V3 {
                count(Stat::SessionsV3);
            }
            remember(&mut self.sids, (sid, protocol), 16);
        }
    }

    /// What a client learns from the server's packets: private ids and
    /// offsets, for a later recovery.
    fn harvest(&mut self, packet: EnginePacket) {
        let EnginePacket::Message(Data::Text(text)) = packet else {
            return;
        };
        let mut decoder = Decoder::new(Limits::new(usize::MAX));
        let Ok(Some(packet)) = decoder.decode_text(text) else {
            return;
        };
        match packet.payload {
            Payload::Connect(Some(map)) => {
                if let Some(Value::String(pid)) = map.get("pid") {
                    remember(&mut self.pids, pid.clone(), 8);
                }
            }
            Payload::Event(e) => {
                if let Some(Value::String(offset)) = e.data().last() {
                    remember(&mut self.offsets, offset.clone(), 8);
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, event: Event, connect: &mut Vec<SocketId>) {
        if debug() {
            eprintln!("  event {event:?}");
        }
        match event {
            Event::Connect { socket, .. } => {
                remember(&mut self.sockets, socket.clone(), 16);
                if self.auto_accept {
                    connect.push(socket);
                } else {
                    remember(&mut self.waiting, socket, 16);
                }
            }
            Event::Connection {
                socket, recovered, ..
            } => {
                count(Stat::Connections);
                if recovered {
                    count(Stat::Recovered);
                }
                remember(&mut self.sockets, socket, 16);
            }
            Event::Event { socket, event, .. } => {
                if !event.attachments().is_empty() {
                    count(Stat::BinaryEvents);
                }
                if let Some(id) = event.ack_id() {
                    remember(&mut self.client_acks, (socket, id), 16);
                }
            }
            Event::Ack { attachments, .. } => {
                count(Stat::Acks);
                if !attachments.is_empty() {
                    count(Stat::BinaryAcks);
                }
            }
            Event::AckTimeout { .. } => count(Stat::AckTimeouts),
            Event::BroadcastAckDone {
                expected, received, ..
            } => {
                assert!(received <= expected, "{received} answers of {expected}");
                count(Stat::BroadcastAckDone);
            }
            Event::Error { .. } => count(Stat::ParseErrors),
            Event::Disconnect { reason, .. } => {
                count(Stat::Disconnects);
                match reason {
                    DisconnectReason::PingTimeout => count(Stat::PingTimeouts),
                    DisconnectReason::SendBufferFull => count(Stat::SendBufferFull),
                    _ => {}
                }
            }
            Event::Engine(EngineEvent::Upgrade { .. }) => count(Stat::Upgrades),
            Event::Engine(EngineEvent::AllowRequest { request, .. }) => {
                assert!(self.open.contains_key(&request));
                self.decisions.push(request);
            }
            _ => {}
        }
    }

    // ----- invariants -----

    fn check(&self) {
        let engine = self.server.engine();
        let config = engine.config();
        for sid in engine.sids() {
            let (packets, bytes) = engine.buffered(sid).unwrap_or_default();
            assert!(
                packets <= config.max_buffered_packets && bytes <= config.max_buffered_bytes,
                "session {sid} queues {packets} packets, {bytes} bytes"
            );
        }
        assert!(
            engine.pending_requests() <= self.open.len(),
            "the engine holds {} requests, the runtime {}",
            engine.pending_requests(),
            self.open.len()
        );
    }

    /// Gives every verdict and body still owed, lets every timer run out,
    /// and checks that nothing is left.
    fn finish(&mut self) {
        for request in std::mem::take(&mut self.decisions) {
            self.server
                .allow_request(self.now, request, Err("finished".into()));
            self.drain();
        }
        for request in self.bodies.clone() {
            self.body(request, Bytes::new());
        }
        self.check();
        let all = PING_INTERVAL + PING_TIMEOUT + UPGRADE_TIMEOUT + CLOSE_TIMEOUT + CONNECT_TIMEOUT;
        self.advance(all + Duration::from_millis(1));
        self.check();
        let engine = self.server.engine();
        assert_eq!(engine.clients_count(), 0, "sessions outlived every timeout");
        for nsp in NSPS {
            assert!(
                self.server.sockets_of(&Nsp::from(nsp)).is_empty(),
                "sockets left in {nsp}"
            );
        }
        assert_eq!(
            engine.pending_requests(),
            0,
            "requests held after every session ended"
        );
        assert!(
            self.open.is_empty(),
            "requests never answered: {:?}",
            self.open
        );
    }

    // ----- one step -----

    fn step(&mut self, c: &mut Cursor<'_>) {
        let op = c.byte();
        if debug() {
            eprintln!(
                "step {} at {:?}",
                op % 27,
                self.now.duration_since(self.start)
            );
        }
        match op % 27 {
            0 => {
                let flags = c.byte();
                self.handshake(false, flags);
            }
            1 => {
                let flags = c.byte();
                self.handshake(true, flags & 1);
            }
            2 => {
                let flags = c.byte();
                let method = match flags % 4 {
                    0 => Method::Get,
                    1 => Method::Post,
                    2 => Method::Options,
                    _ => Method::Other("PUT".into()),
                };
                let mut uri = format!("/socket.io/?{}", text(c.chunk()));
                if let Some((sid, _)) = self.sid(c.byte()).filter(|_| flags & 0x08 != 0) {
                    uri.push_str(&format!("&sid={sid}"));
                }
                let mut request = Request::new(method, uri);
                request.websocket = flags & 0x04 != 0;
                if flags & 0x10 != 0 {
                    request.headers.insert("Origin", text(c.chunk()));
                }
                if flags & 0x20 != 0 {
                    request
                        .headers
                        .insert("Content-Type", "application/octet-stream");
                }
                if flags & 0x40 != 0 {
                    request
                        .headers
                        .insert("User-Agent", "Mozilla/5.0 (Trident/7.0)");
                }
                let id = self.request(request);
                if flags & 0x80 == 0 {
                    self.body(id, Bytes::copy_from_slice(c.chunk()));
                }
            }
            3 => {
                let (b, flags) = (c.byte(), c.byte());
                if let Some((sid, protocol)) = self.sid(b) {
                    let uri = self.polling_uri(&sid, protocol, flags);
                    self.request(Request::new(Method::Get, uri));
                }
            }
            4 => {
                let (b, flags, n) = (c.byte(), c.byte(), c.byte() % 4 + 1);
                let Some((sid, protocol)) = self.sid(b) else {
                    return;
                };
                let mut parts = Vec::new();
                for _ in 0..n {
                    self.message(c, &mut parts);
                }
                let frames: Vec<Frame> = parts.into_iter().map(|p| frame(p, protocol)).collect();
                let body: Bytes = match protocol {
                    Protocol::V4 => payload::encode_v4(&frames).into_bytes(),
                    Protocol::V3 if flags & 0x02 != 0 => payload::encode_v3_binary(&frames),
                    Protocol::V3 => {
                        let text = payload::encode_v3_text(&frames);
                        if flags & 0x04 != 0 {
                            Bytes::from(format!("d={}", form_encode(&text)))
                        } else {
                            text.into_bytes()
                        }
                    }
                };
                self.post(&sid, protocol, flags, body);
            }
            5 => {
                let (b, flags) = (c.byte(), c.byte());
                let body = Bytes::copy_from_slice(c.chunk());
                if let Some((sid, protocol)) = self.sid(b) {
                    self.post(&sid, protocol, flags, body);
                }
            }
            6 => {
                let (b, flags) = (c.byte(), c.byte());
                if let Some((sid, protocol)) = self.sid(b) {
                    let method = if flags & 1 != 0 {
                        Method::Options
                    } else {
                        Method::Other("DELETE".into())
                    };
                    let uri = self.polling_uri(&sid, protocol, flags);
                    self.request(Request::new(method, uri));
                }
            }
            7 => {
                let b = c.byte();
                if let Some((sid, protocol)) = self.sid(b) {
                    let uri = format!(
                        "/socket.io/?EIO={}&transport=websocket&sid={sid}",
                        eio(protocol)
                    );
                    let mut request = Request::new(Method::Get, uri);
                    request.websocket = true;
                    let id = self.server.handle_request(self.now, request);
                    self.open.insert(id, true);
                    self.ws_protocol.insert(id, protocol);
                    self.drain();
                }
            }
            8 => {
                let b = c.byte();
                let mut parts = Vec::new();
                self.message(c, &mut parts);
                let accepted: Vec<RequestId> = self.accepted.iter().copied().collect();
                let Some(ws) = pick(&accepted, b) else {
                    return;
                };
                let protocol = self.ws_protocol.get(&ws).copied().unwrap_or(Protocol::V4);
                for part in parts {
                    if self.accepted.contains(&ws) {
                        self.ws_send(ws, frame(part, protocol));
                    }
                }
            }
            9 => {
                let (b, flags) = (c.byte(), c.byte());
                let data = c.chunk();
                let accepted: Vec<RequestId> = self.accepted.iter().copied().collect();
                if let Some(ws) = pick(&accepted, b) {
                    let frame = if flags & 1 != 0 {
                        Frame::Binary(Bytes::copy_from_slice(data))
                    } else {
                        Frame::Text(Str::from(text(data)))
                    };
                    self.ws_send(ws, frame);
                }
            }
            10 => {
                let b = c.byte();
                let accepted: Vec<RequestId> = self.accepted.iter().copied().collect();
                if let Some(ws) = pick(&accepted, b) {
                    self.unflushed.remove(&ws);
                    self.server.handle_ws_flushed(self.now, ws);
                    self.drain();
                }
            }
            11 => {
                let (b, flags) = (c.byte(), c.byte());
                let accepted: Vec<RequestId> = self.accepted.iter().copied().collect();
                if let Some(ws) = pick(&accepted, b) {
                    self.accepted.remove(&ws);
                    self.open.remove(&ws);
                    self.unflushed.remove(&ws);
                    self.server.handle_ws_closed(self.now, ws, flags & 1 != 0);
                    self.drain();
                }
            }
            12 => {
                let b = c.byte();
                let held: Vec<RequestId> = self
                    .open
                    .keys()
                    .filter(|id| !self.accepted.contains(id))
                    .copied()
                    .collect();
                if let Some(id) = pick(&held, b) {
                    self.open.remove(&id);
                    self.bodies.retain(|r| *r != id);
                    self.decisions.retain(|r| *r != id);
                    self.handshakes.remove(&id);
                    self.server.handle_request_closed(self.now, id);
                    self.drain();
                }
            }
            13 => {
                let b = c.byte();
                let body = Bytes::copy_from_slice(c.chunk());
                if let Some(id) = pick(&self.bodies, b) {
                    self.body(id, body);
                }
            }
            14 => {
                let ms = u64::from(c.byte()) * 10;
                self.advance(Duration::from_millis(ms));
            }
            15 => {
                if let Some(at) = self.server.poll_timeout() {
                    let by = at.saturating_duration_since(self.now);
                    self.advance(by);
                }
            }
            16 => {
                let b = c.byte();
                if let Some(id) = pick(&self.waiting, b) {
                    self.waiting.retain(|w| *w != id);
                    let _ = self.server.accept(self.now, &id);
                    self.drain();
                }
            }
            17 => {
                let (b, flags) = (c.byte(), c.byte());
                if let Some(id) = pick(&self.waiting, b) {
                    self.waiting.retain(|w| *w != id);
                    let data = (flags & 1 != 0).then(|| json!({ "reason": flags }));
                    self.server.reject(self.now, &id, "not authorized", data);
                    self.drain();
                }
            }
            18 => {
                let (b, mode, arg) = (c.byte(), c.byte(), c.byte());
                let Some(id) = pick(&self.sockets, b) else {
                    return;
                };
                let event = event(mode, arg);
                let timeout = (mode & 0x08 != 0).then(|| Duration::from_millis(u64::from(arg) * 5));
                if mode & 0x04 != 0 {
                    if let Ok(ack) = self.server.emit_with_ack(self.now, &id, event, timeout) {
                        remember(&mut self.server_acks, ack.0, 16);
                    }
                } else {
                    let _ = self.server.emit(self.now, &id, event);
                }
                self.drain();
            }
            19 => {
                let (b, flags) = (c.byte(), c.byte());
                if let Some((socket, ack)) = pick(&self.client_acks, b) {
                    self.client_acks
                        .retain(|(s, a)| !(*s == socket && *a == ack));
                    let mut attachments = Vec::new();
                    let mut data = vec![json!("done")];
                    if flags & 1 != 0 {
                        data.push(attach(&mut attachments, Bytes::from_static(b"\x01\x02")));
                    }
                    let _ = self.server.ack(self.now, &socket, ack, data, attachments);
                    self.drain();
                }
            }
            20 => {
                let (n, t, flags, arg) = (c.byte(), c.byte(), c.byte(), c.byte());
                let nsp = &Nsp::from(NSPS[usize::from(n) % NSPS.len()]);
                let options = BroadcastOptions {
                    target: self.target(t),
                    volatile: flags & 0x01 != 0,
                    compress: match (flags >> 2) & 3 {
                        0 => None,
                        1 => Some(false),
                        _ => Some(true),
                    },
                    timeout: (flags & 0x02 != 0).then(|| Duration::from_millis(u64::from(arg) * 5)),
                };
                let _ = self
                    .server
                    .broadcast(self.now, nsp, &options, event(flags >> 2, arg));
                self.drain();
            }
            21 | 22 => {
                let (b, r) = (c.byte(), c.byte());
                if let Some(id) = pick(&self.sockets, b) {
                    let room = self.room(r);
                    if op % 27 == 21 {
                        self.server.join(&id, Room::from(room));
                    } else {
                        self.server.leave(&id, &Room::from(room));
                    }
                }
            }
            23 => {
                let (b, flags) = (c.byte(), c.byte());
                if let Some(id) = pick(&self.sockets, b) {
                    self.server.disconnect(self.now, &id, flags & 1 != 0);
                    self.drain();
                }
            }
            24 => {
                let (n, t, flags) = (c.byte(), c.byte(), c.byte());
                let nsp = &Nsp::from(NSPS[usize::from(n) % NSPS.len()]);
                let target = self.target(t);
                match flags % 4 {
                    0 => {
                        let rooms = [Room::from(self.room(flags >> 2))];
                        self.server.sockets_join(nsp, &target, &rooms);
                    }
                    1 => {
                        let rooms = [Room::from(self.room(flags >> 2))];
                        self.server.sockets_leave(nsp, &target, &rooms);
                    }
                    2 => {
                        self.server
                            .disconnect_sockets(self.now, nsp, &target, flags & 4 != 0);
                    }
                    _ => {
                        self.server.fetch_sockets_cluster(self.now, nsp, &target);
                    }
                }
                self.drain();
            }
            25 => {
                let (b, flags) = (c.byte(), c.byte());
                if let Some(request) = pick(&self.decisions, b) {
                    self.decisions.retain(|r| *r != request);
                    let verdict = if flags & 1 != 0 {
                        Ok(())
                    } else {
                        Err(String::new())
                    };
                    self.server.allow_request(self.now, request, verdict);
                    self.drain();
                }
            }
            _ => {
                self.server.shutdown(self.now);
                self.drain();
            }
        }
    }

    fn room(&self, b: u8) -> String {
        if let Some(id) = pick(&self.sockets, b).filter(|_| b & 0x80 != 0) {
            return id.to_string();
        }
        ROOMS[usize::from(b) % ROOMS.len()].to_owned()
    }

    fn target(&self, b: u8) -> Target {
        let mut target = Target::all();
        if b & 0x01 != 0 {
            target = target.to(self.room(b >> 2));
        }
        if b & 0x02 != 0 {
            target = target.except(self.room(b >> 4));
        }
        target
    }
}

/// An event the application sends: plain, with an attachment, or large.
fn event(mode: u8, arg: u8) -> EventPacket {
    let plain = || EventPacket::new("ev", vec![json!(arg)]).unwrap_or_else(|e| panic!("{e}"));
    match mode % 4 {
        1 => {
            let mut attachments = Vec::new();
            let data = vec![
                json!("file"),
                attach(&mut attachments, Bytes::from(vec![arg; 3])),
            ];
            EventPacket::from_data(data)
                .and_then(|e| e.with_attachments(attachments))
                .unwrap_or_else(|e| panic!("{e}"))
        }
        2 => EventPacket::new("big", vec![json!("y".repeat(usize::from(arg)))])
            .unwrap_or_else(|e| panic!("{e}")),
        _ => plain(),
    }
}

/// The sid of an open packet in a handshake answer (plain, in a v3 payload,
/// or JSON-escaped in a JSONP one).
fn sid_in(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("sid")? + 3;
    let rest = text.get(start..)?.trim_start_matches(['\\', '"', ':']);
    let sid: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!sid.is_empty()).then_some(sid)
}

fuzz_target!(|data: &[u8]| {
    STATS_INIT.call_once(|| {
        if std::env::var_os("FUZZ_STATS").is_some() {
            // SAFETY: `atexit` is the C library's; the callback is a plain
            // function that only reads atomics and writes to stderr.
            unsafe {
                atexit(print_stats);
            }
        }
    });
    count(Stat::Inputs);
    let mut c = Cursor(data);
    let flags = c.byte();
    let mut world = World::new(flags, Instant::now());
    let mut steps = 0;
    while !c.0.is_empty() && steps < 512 {
        world.step(&mut c);
        world.check();
        steps += 1;
        count(Stat::Steps);
    }
    world.finish();
});
