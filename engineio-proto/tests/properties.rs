//! Random sequences of client actions against one engine: no panic, queues
//! within their limits, every request answered at most once, and every
//! session ends once its client stops answering.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{Config, Event, Frame, Message, Method, Request, RequestId, Str};
use proptest::prelude::*;
use std::time::Instant;

#[derive(Debug, Clone)]
enum Action {
    OpenPolling,
    OpenWs,
    Get(usize),
    Post(usize, Vec<u8>),
    PostText(usize, &'static str),
    Upgrade(usize),
    WsText(usize, &'static str),
    WsBinary(usize, Vec<u8>),
    WsClosed(usize, bool),
    WsFlushed(usize),
    DropRequest(usize),
    Advance(u64),
    ServerSend(usize, usize),
    ServerClose(usize),
}

const TEXTS: &[&str] = &[
    "4hello", "2probe", "5", "3", "2", "1", "6", "0", "abc", "", "bAQID", "b!!", "4€", "4a\x1e4b",
    "4x\x1e1", "3probe",
];

fn action() -> impl Strategy<Value = Action> {
    let idx = 0usize..8;
    let text = prop::sample::select(TEXTS);
    prop_oneof![
        2 => Just(Action::OpenPolling),
        2 => Just(Action::OpenWs),
        4 => idx.clone().prop_map(Action::Get),
        2 => (idx.clone(), prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(i, b)| Action::Post(i, b)),
        3 => (idx.clone(), text.clone()).prop_map(|(i, t)| Action::PostText(i, t)),
        2 => idx.clone().prop_map(Action::Upgrade),
        3 => (idx.clone(), text).prop_map(|(i, t)| Action::WsText(i, t)),
        1 => (idx.clone(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(i, b)| Action::WsBinary(i, b)),
        1 => (idx.clone(), any::<bool>()).prop_map(|(i, e)| Action::WsClosed(i, e)),
        2 => idx.clone().prop_map(Action::WsFlushed),
        1 => idx.clone().prop_map(Action::DropRequest),
        3 => (0u64..700).prop_map(Action::Advance),
        3 => (idx.clone(), 0usize..30).prop_map(|(i, n)| Action::ServerSend(i, n)),
        1 => idx.prop_map(Action::ServerClose),
    ]
}

fn config() -> Config {
    Config {
        max_buffered_packets: 16,
        max_buffered_bytes: 200,
        max_http_buffer_size: 64,
        allow_eio3: true,
        ..fixture_config()
    }
}

struct World {
    h: Harness,
    sids: Vec<Sid>,
    sockets: Vec<RequestId>,
    requests: Vec<RequestId>,
}

impl World {
    fn sid(&self, i: usize) -> Option<Sid> {
        (!self.sids.is_empty()).then(|| self.sids[i % self.sids.len()].clone())
    }

    fn ws(&self, i: usize) -> Option<RequestId> {
        (!self.sockets.is_empty()).then(|| self.sockets[i % self.sockets.len()])
    }

    fn apply(&mut self, action: Action) {
        let h = &mut self.h;
        match action {
            Action::OpenPolling => {
                let id = h.get(POLL);
                if let Some(r) = h.responses.remove(&id) {
                    if r.status == 200 {
                        self.sids.push(Sid::new(&sid_of_open(&r.body_text())));
                    }
                }
            }
            Action::OpenWs => {
                let ws = h.ws_open(WS);
                if let Some(f) = h.ws_take(ws).first() {
                    self.sids.push(Sid::new(&sid_of_open(f)));
                }
                self.sockets.push(ws);
            }
            Action::Get(i) => {
                let uri = self.sid(i).map_or(POLL.to_owned(), |s| with_sid(POLL, &s));
                let id = self.h.get(&uri);
                self.requests.push(id);
            }
            Action::Post(i, body) => {
                if let Some(s) = self.sid(i) {
                    let id = self.h.post(&with_sid(POLL, &s), Bytes::from(body));
                    self.requests.push(id);
                }
            }
            Action::PostText(i, t) => {
                if let Some(s) = self.sid(i) {
                    let id = self.h.post(&with_sid(POLL, &s), t);
                    self.requests.push(id);
                }
            }
            Action::Upgrade(i) => {
                if let Some(s) = self.sid(i) {
                    let ws = self.h.ws_open(&with_sid(WS, &s));
                    self.sockets.push(ws);
                }
            }
            Action::WsText(i, t) => {
                if let Some(ws) = self.ws(i) {
                    self.h.ws_send(ws, t);
                }
            }
            Action::WsBinary(i, b) => {
                if let Some(ws) = self.ws(i) {
                    self.h.ws_send_binary(ws, &b);
                }
            }
            Action::WsClosed(i, error) => {
                if let Some(ws) = self.ws(i) {
                    self.h.server.handle_ws_closed(self.h.now, ws, error);
                    self.h.drain();
                }
            }
            Action::WsFlushed(i) => {
                if let Some(ws) = self.ws(i) {
                    self.h.server.handle_ws_flushed(self.h.now, ws);
                    self.h.drain();
                }
            }
            Action::DropRequest(i) => {
                if !self.requests.is_empty() {
                    let id = self.requests[i % self.requests.len()];
                    if !self.h.answered(id) {
                        self.h.server.handle_request_closed(self.h.now, id);
                        self.h.drain();
                    }
                }
            }
            Action::Advance(ms) => self.h.advance(ms),
            Action::ServerSend(i, n) => {
                if let Some(s) = self.sid(i) {
                    let _ = self.h.server.send(&s, Message::text(&"x".repeat(n)));
                    self.h.drain();
                }
            }
            Action::ServerClose(i) => {
                if let Some(s) = self.sid(i) {
                    self.h.server.close(self.h.now, &s);
                    self.h.drain();
                }
            }
        }
    }

    fn check_invariants(&self) {
        let config = self.h.server.config();
        for sid in self.h.server.sids() {
            let (packets, bytes) = self.h.server.buffered(sid).unwrap();
            assert!(
                packets <= config.max_buffered_packets,
                "{packets} packets queued"
            );
            assert!(bytes <= config.max_buffered_bytes, "{bytes} bytes queued");
        }
        // A session holds at most a GET, a POST, its WebSocket and a probe.
        assert!(self.h.server.pending_requests() <= 4 * self.h.server.clients_count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_clients_never_break_the_engine(actions in prop::collection::vec(action(), 1..60)) {
        let mut w = World { h: Harness::new(config(), Instant::now()), sids: vec![], sockets: vec![], requests: vec![] };
        // Some reads are slow: no automatic flush.
        w.h.auto_flush = false;
        for a in actions {
            w.apply(a);
            w.check_invariants();
        }
        // Every client stops answering: every session ends, every held
        // request is answered or released.
        let c = w.h.server.config().clone();
        let quiet = c.ping_interval + c.ping_timeout + c.close_timeout + c.upgrade_timeout;
        w.h.advance(quiet.as_millis() as u64 + 1);
        prop_assert_eq!(w.h.server.clients_count(), 0);
        prop_assert_eq!(w.h.server.pending_requests(), 0);
        // Every session that opened closed exactly once.
        let mut open = std::collections::HashSet::new();
        for e in &w.h.events {
            match e {
                Event::Open { sid, .. } => prop_assert!(open.insert(sid.clone())),
                Event::Close { sid, .. } => prop_assert!(open.remove(sid), "close without open: {sid}"),
                _ => {}
            }
        }
        prop_assert!(open.is_empty(), "sessions never closed: {open:?}");
    }

    #[test]
    fn random_request_lines_get_an_answer_or_are_held(
        method in prop::sample::select(&["GET", "POST", "OPTIONS", "PUT", "DELETE"][..]),
        query in "[a-zA-Z0-9=&%+._-]{0,60}",
        websocket in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut h = Harness::new(config(), Instant::now());
        let mut r = Request::new(Method::from_name(method), format!("/engine.io/?{query}"));
        r.websocket = websocket;
        let id = h.post_with(r, Bytes::from(body));
        // Either an answer, an accepted WebSocket, or a held long-poll of a
        // new session.
        let held = h.accepted.contains_key(&id) || h.answered(id) || h.server.clients_count() == 1;
        prop_assert!(held);
        h.server.handle_ws_message(h.now, id, Frame::Text(Str::from("4x")));
        h.advance(Duration::from_secs(60).as_millis() as u64);
        prop_assert_eq!(h.server.clients_count(), 0);
    }
}
