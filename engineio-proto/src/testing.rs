//! A deterministic harness for tests (feature `testing`): one [`Endpoint`],
//! a virtual clock, and scripted clients that speak raw HTTP requests and
//! WebSocket frames to it. The test gives the start time, so nothing here
//! reads a clock; time moves only through [`Harness::advance`].
// Test support: a failed expectation is a test failure, so panics are the
// point here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::{
    Config, Cors, Endpoint, Event, Frame, Headers, Method, Output, Request, RequestId, Response,
    Server, Sid, Str,
};
use bytes::Bytes;

pub use crate::module_graph::{ModuleGraph, assert_no_module_cycles, find_cycle, module_graph};

/// One endpoint driven by scripted clients on a virtual clock.
pub struct Harness<E: Endpoint = Server> {
    /// The endpoint under test.
    pub server: E,
    /// Time zero.
    pub start: Instant,
    /// The virtual now.
    pub now: Instant,
    /// Call `handle_ws_flushed` after each drain, like a fast reader.
    pub auto_flush: bool,
    /// Responses not yet taken, by request.
    pub responses: HashMap<RequestId, Response>,
    /// POSTs whose body the endpoint asked for.
    pub read_body: HashSet<RequestId>,
    /// Accepted WebSocket upgrades and their headers.
    pub accepted: HashMap<RequestId, Headers>,
    /// Frames sent on each WebSocket and not yet taken.
    pub ws_frames: HashMap<RequestId, Vec<Frame>>,
    /// Closed WebSockets and their close codes.
    pub ws_closed: HashMap<RequestId, u16>,
    /// Events not yet taken.
    pub events: Vec<E::Event>,
}

/// The conformance fixture's engine settings (docs/protocol.md).
pub fn fixture_config() -> Config {
    Config {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_http_buffer_size: 1_000_000,
        cors: Some(Cors::default()),
        seed: [42; 32],
        ..Config::default()
    }
}

/// The handshake URI of a v4 polling client.
pub const POLL: &str = "/engine.io/?EIO=4&transport=polling";
/// The handshake URI of a v4 WebSocket client.
pub const WS: &str = "/engine.io/?EIO=4&transport=websocket";

impl Harness<Server> {
    /// An engine with `config`, its clock starting at `start`.
    pub fn new(config: Config, start: Instant) -> Self {
        Self::with(Server::new(config), start)
    }

    /// The conformance fixture's engine.
    pub fn fixture(start: Instant) -> Self {
        Self::new(fixture_config(), start)
    }
}

impl<E: Endpoint> Harness<E> {
    /// Drives `server`, its clock starting at `start`.
    pub fn with(server: E, start: Instant) -> Self {
        Self {
            server,
            start,
            now: start,
            auto_flush: true,
            responses: HashMap::new(),
            read_body: HashSet::new(),
            accepted: HashMap::new(),
            ws_frames: HashMap::new(),
            ws_closed: HashMap::new(),
            events: Vec::new(),
        }
    }

    /// Milliseconds of virtual time since the start.
    pub fn elapsed_ms(&self) -> u128 {
        (self.now - self.start).as_millis()
    }

    /// Collects every output and event; flushes WebSockets when asked to.
    pub fn drain(&mut self) {
        loop {
            let mut written = Vec::new();
            while let Some(out) = self.server.poll_output() {
                match out {
                    Output::Respond { request, response } => {
                        assert!(
                            self.responses.insert(request, response).is_none(),
                            "request {request:?} answered twice"
                        );
                    }
                    Output::ReadBody { request, .. } => {
                        self.read_body.insert(request);
                    }
                    Output::AcceptWebSocket { request, headers } => {
                        self.accepted.insert(request, headers);
                    }
                    Output::WsSend { ws, frame, .. } => {
                        assert!(!self.ws_closed.contains_key(&ws), "send after close");
                        self.ws_frames.entry(ws).or_default().push(frame);
                        written.push(ws);
                    }
                    Output::WsClose { ws, code } => {
                        self.ws_closed.insert(ws, code);
                    }
                }
            }
            while let Some(ev) = self.server.poll_event() {
                self.events.push(ev);
            }
            if !self.auto_flush || written.is_empty() {
                return;
            }
            written.sort();
            written.dedup();
            for ws in written {
                self.server.handle_ws_flushed(self.now, ws);
            }
        }
    }

    /// Moves the clock, firing every timer on the way in order.
    pub fn advance(&mut self, ms: u64) {
        let end = self.now + Duration::from_millis(ms);
        while let Some(at) = self.server.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.server.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.server.handle_timeout(self.now);
        self.drain();
    }

    /// Hands a request in and drains.
    pub fn request(&mut self, request: Request) -> RequestId {
        let id = self.server.handle_request(self.now, request);
        self.drain();
        id
    }

    /// A GET.
    pub fn get(&mut self, uri: &str) -> RequestId {
        self.request(Request::new(Method::Get, uri))
    }

    /// A POST; the body is handed over when the engine asks for it.
    pub fn post(&mut self, uri: &str, body: impl Into<Bytes>) -> RequestId {
        self.post_with(Request::new(Method::Post, uri), body)
    }

    /// A POST made of `request`; the body goes in when asked for.
    pub fn post_with(&mut self, request: Request, body: impl Into<Bytes>) -> RequestId {
        let id = self.request(request);
        if self.read_body.remove(&id) {
            self.server.handle_body(self.now, id, body.into());
            self.drain();
        }
        id
    }

    /// A WebSocket upgrade request.
    pub fn ws_open(&mut self, uri: &str) -> RequestId {
        let mut r = Request::new(Method::Get, uri);
        r.websocket = true;
        self.request(r)
    }

    /// A text message from the client on `ws`.
    pub fn ws_send(&mut self, ws: RequestId, text: &str) {
        self.server
            .handle_ws_message(self.now, ws, Frame::Text(Str::from(text.to_owned())));
        self.drain();
    }

    /// A binary message from the client on `ws`.
    pub fn ws_send_binary(&mut self, ws: RequestId, data: &[u8]) {
        self.server
            .handle_ws_message(self.now, ws, Frame::Binary(Bytes::copy_from_slice(data)));
        self.drain();
    }

    /// Text of every frame sent on `ws` so far (binary as `<hex>`), taken.
    pub fn ws_take(&mut self, ws: RequestId) -> Vec<String> {
        self.ws_frames
            .remove(&ws)
            .unwrap_or_default()
            .into_iter()
            .map(|f| match f {
                Frame::Text(s) => s.to_string(),
                Frame::Binary(b) => format!("<{}>", hex(&b)),
            })
            .collect()
    }

    /// The response to `id`, which must have come.
    pub fn response(&mut self, id: RequestId) -> Response {
        self.responses
            .remove(&id)
            .unwrap_or_else(|| panic!("no response to {id:?}"))
    }

    /// Whether `id` has a response waiting.
    pub fn answered(&self, id: RequestId) -> bool {
        self.responses.contains_key(&id)
    }

    /// The body of the response to `id`, as text.
    pub fn body(&mut self, id: RequestId) -> String {
        let r = self.response(id);
        assert_eq!(r.status, 200, "status of {id:?}: {r:?}");
        r.body_text().into_owned()
    }

    /// Opens a v4 polling session and returns its sid (the handshake GET is
    /// answered and consumed).
    pub fn open_polling(&mut self) -> Sid {
        let id = self.get(POLL);
        let body = self.body(id);
        Sid::new(&sid_of_open(&body))
    }

    /// Opens a v4 WebSocket session; returns (ws, sid).
    pub fn open_ws(&mut self) -> (RequestId, Sid) {
        let ws = self.ws_open(WS);
        let frames = self.ws_take(ws);
        (ws, Sid::new(&sid_of_open(&frames[0])))
    }

    /// Every event so far, taken.
    pub fn take_events(&mut self) -> Vec<E::Event> {
        std::mem::take(&mut self.events)
    }
}

/// Engine events, read the way the engine tests want them.
impl Harness<Server> {
    /// The close reasons of the events seen so far (taken), as text.
    pub fn closes(&mut self) -> Vec<(Sid, &'static str)> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            Event::Close { sid, reason, .. } => {
                out.push((sid.clone(), reason.as_str()));
                false
            }
            _ => true,
        });
        out
    }

    /// Text messages received so far (taken), as (sid, text).
    pub fn messages(&mut self) -> Vec<(Sid, String)> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            Event::Message { sid, data } => {
                let text = match data {
                    crate::Data::Text(t) => t.to_string(),
                    crate::Data::Binary(b) => format!("<{}>", hex(b)),
                };
                out.push((sid.clone(), text));
                false
            }
            _ => true,
        });
        out
    }
}

/// The sid of an open packet (`0{"sid":...}`).
pub fn sid_of_open(open: &str) -> String {
    let json = open
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("not an open packet: {open:?}"));
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `base` with `&sid=<sid>` appended.
pub fn with_sid(base: &str, sid: &(impl std::fmt::Display + ?Sized)) -> String {
    format!("{base}&sid={sid}")
}
