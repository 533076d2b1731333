//! Socket.IO clients scripted over the engine's test harness.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use engineio_proto::RequestId;
pub use engineio_proto::testing::{Harness, hex, sid_of_open, with_sid};
use serde_json::Value;
use socketio_proto::{Config, Event, Server, SocketId};

pub const WS: &str = "/socket.io/?EIO=4&transport=websocket";
pub const POLL: &str = "/socket.io/?EIO=4&transport=polling";

/// The conformance fixture's Socket.IO settings (docs/protocol.md), with a fixed
/// seed and a fixed wall clock.
pub fn fixture_config() -> Config {
    let mut c = Config::default();
    c.engine.ping_interval = Duration::from_millis(300);
    c.engine.ping_timeout = Duration::from_millis(200);
    c.engine.cors = Some(engineio_proto::Cors::default());
    c.engine.seed = [7; 32];
    c.connect_timeout = Duration::from_millis(1000);
    c.wall_clock = Some(std::sync::Arc::new(|| 1_795_328_105_123));
    c
}

pub fn harness(config: Config) -> Harness<Server> {
    let mut server = Server::new(config);
    server.add_namespace("/custom");
    Harness::with(server, Instant::now())
}

pub fn fixture() -> Harness<Server> {
    harness(fixture_config())
}

/// Opens a WebSocket engine session: (ws, engine sid).
pub fn open_ws(h: &mut Harness<Server>) -> RequestId {
    let ws = h.ws_open(WS);
    let frames = h.ws_take(ws);
    assert!(frames[0].starts_with("0{\"sid\""), "{frames:?}");
    ws
}

/// The single `Connect` event expected now: (socket, auth).
pub fn take_connect(h: &mut Harness<Server>) -> (SocketId, Value) {
    let events = h.take_events();
    let connects: Vec<_> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Connect {
                socket, handshake, ..
            } => Some((socket, Value::Object(handshake.auth.clone()))),
            _ => None,
        })
        .collect();
    assert_eq!(connects.len(), 1, "expected one Connect");
    connects.into_iter().next().unwrap()
}

/// Joins `nsp` over `ws` (sending `40<nsp>,<auth>`), accepts, and checks the
/// CONNECT reply; returns the socket id.
pub fn join(h: &mut Harness<Server>, ws: RequestId, nsp: &str, auth: &str) -> SocketId {
    let prefix = if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    };
    h.ws_send(ws, &format!("40{prefix}{auth}"));
    let (socket, _) = take_connect(h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let frames = h.ws_take(ws);
    assert_eq!(frames, vec![format!(r#"40{prefix}{{"sid":"{socket}"}}"#)]);
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::Connection { socket: s, .. }] if *s == socket),
        "{events:?}"
    );
    socket
}

/// A client on WebSocket joined to `/`: (ws, socket).
pub fn client(h: &mut Harness<Server>) -> (RequestId, SocketId) {
    let ws = open_ws(h);
    let s = join(h, ws, "/", "");
    (ws, s)
}

/// Disconnect events taken: (socket, reason).
pub fn disconnects(h: &mut Harness<Server>) -> Vec<(SocketId, &'static str)> {
    let mut out = Vec::new();
    h.events.retain(|e| match e {
        Event::Disconnect { socket, reason, .. } => {
            out.push((socket.clone(), reason.as_str()));
            false
        }
        _ => true,
    });
    out
}

/// Event packets from clients taken: (socket, name, args, ack id).
pub fn client_events(h: &mut Harness<Server>) -> Vec<(SocketId, String, Vec<Value>, Option<u64>)> {
    let mut out = Vec::new();
    h.events.retain(|e| match e {
        Event::Event { socket, event, .. } => {
            out.push((
                socket.clone(),
                event.name_str().unwrap().into_owned(),
                event.args().to_vec(),
                event.id,
            ));
            false
        }
        _ => true,
    });
    out
}

pub fn ev(name: &str, args: Vec<Value>) -> socketio_proto::packet::Event {
    socketio_proto::packet::Event::new(name, args).unwrap()
}
