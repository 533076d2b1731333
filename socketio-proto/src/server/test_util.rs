//! Helpers for the unit tests of the sub-machines that need a whole
//! server: a virtual clock and scripted WebSocket clients.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use engineio_proto::RequestId;
use engineio_proto::testing::Harness;

use super::Server;
use crate::config::Config;
use crate::event::Event;
use crate::types::SocketId;

/// Fast timers, a fixed seed and wall clock.
pub(super) fn config() -> Config {
    let mut c = Config::default();
    c.engine.ping_interval = Duration::from_secs(300);
    c.engine.ping_timeout = Duration::from_secs(200);
    c.engine.seed = [3; 32];
    c.connect_timeout = Duration::from_millis(1000);
    c.wall_clock = Some(std::sync::Arc::new(|| 1_795_328_105_123));
    c
}

pub(super) fn harness(config: Config) -> Harness<Server> {
    Harness::with(Server::new(config), Instant::now())
}

/// A WebSocket engine session, its open packet taken.
pub(super) fn open_ws(h: &mut Harness<Server>) -> RequestId {
    let ws = h.ws_open("/socket.io/?EIO=4&transport=websocket");
    let frames = h.ws_take(ws);
    assert!(frames[0].starts_with("0{\"sid\""), "{frames:?}");
    ws
}

/// The one `Connect` event expected now.
pub(super) fn take_connect(h: &mut Harness<Server>) -> (SocketId, Event) {
    let mut connects: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match &e {
            Event::Connect { socket, .. } => Some((socket.clone(), e)),
            _ => None,
        })
        .collect();
    assert_eq!(connects.len(), 1, "expected one Connect");
    connects.remove(0)
}

/// A client in the main namespace: its WebSocket and socket id.
pub(super) fn client(h: &mut Harness<Server>) -> (RequestId, SocketId) {
    let ws = open_ws(h);
    h.ws_send(ws, "40");
    let (socket, _) = take_connect(h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    h.ws_take(ws);
    h.take_events();
    (ws, socket)
}
