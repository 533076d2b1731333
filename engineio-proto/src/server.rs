//! The engine: every session of one Engine.IO endpoint, as a state machine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::compression::ContentEncoding;
use crate::config::{Config, HeadersHook, IdGenerator, TransportKind};
use crate::http::{EngineQuery, Headers, Method, Request, Response};
use crate::output::{
    CloseReason, ConnectionError, ErrorCode, ErrorContext, Event, Handshake, Message, Output,
    RequestId, SendError, Sid, Watch,
};
use crate::packet::{Frame, Packet, Protocol};
use crate::payload;
use crate::rng::RandomIds;
use crate::session::{
    PayloadFormat, PendingGet, Polling, Probe, Session, Timer, Transport, ws_frame,
};
use crate::{IdMap, Str};

/// The longest session id a custom generator may give. Ours are 20
/// characters; the bound keeps ids fit for URLs, cookies and logs.
pub const MAX_SID_LEN: usize = 128;

/// How often a pending long-poll is ended with a noop while an upgrade is
/// under way, so that the client can pause polling and finish the upgrade.
const UPGRADE_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// An Engine.IO server endpoint: all its sessions, with no I/O.
///
/// # Driving it
///
/// * Inputs are `handle_*` calls, each with the current time:
///   [`handle_request`](Self::handle_request) for every HTTP request on the
///   engine's path (see [`Config::matches_path`]), then
///   [`handle_body`](Self::handle_body) when it asked for a POST body,
///   [`handle_request_closed`](Self::handle_request_closed) when a client
///   drops a request still unanswered, [`handle_ws_message`](Self::handle_ws_message),
///   [`handle_ws_flushed`](Self::handle_ws_flushed), [`handle_ws_closed`](Self::handle_ws_closed)
///   for WebSockets, and [`handle_timeout`](Self::handle_timeout) when the
///   deadline of [`poll_timeout`](Self::poll_timeout) has passed.
/// * Actions of the application: [`send`](Self::send), [`close`](Self::close),
///   [`shutdown`](Self::shutdown), [`allow_request`](Self::allow_request).
/// * After any input or action, drain [`poll_output`](Self::poll_output)
///   (I/O to perform) and [`poll_event`](Self::poll_event) (what happened)
///   until `None`, then sleep until [`poll_timeout`](Self::poll_timeout).
///
/// A misbehaving client never makes a call fail or panic: it gets the
/// protocol's answer and its session ends; other sessions are untouched.
pub struct Server {
    config: Arc<Config>,
    rng: RandomIds,
    /// Boxed: the table keeps spare slots, and an empty slot then costs a
    /// pointer rather than a whole session.
    sessions: IdMap<Sid, Box<Session>>,
    /// `sessions.len()`, readable without the engine at hand.
    clients: ClientsCount,
    requests: IdMap<RequestId, Pending>,
    next_request: u64,
    outputs: VecDeque<Output>,
    events: VecDeque<Event>,
    /// Deadlines of sessions; an entry is live only while it equals the
    /// session's `scheduled` (see `Session::scheduled`).
    deadlines: BinaryHeap<Reverse<(Instant, Sid)>>,
}

/// A request the engine still owes something to.
#[derive(Debug)]
enum Pending {
    /// A handshake waiting for the application's `allowRequest` verdict.
    Decision(Box<Request>),
    /// A POST whose body the runtime is reading.
    Body {
        sid: Sid,
        binary: bool,
        headers: Headers,
    },
    /// A long-poll GET, held until there is something to send.
    Poll(Sid),
    /// An accepted WebSocket: the session's transport or an upgrade probe.
    WebSocket(Sid),
}

/// The error of a request refused before it reaches a session.
type Refusal = (ErrorCode, ErrorContext);

impl Server {
    /// A server with this configuration.
    pub fn new(config: Config) -> Self {
        let rng = RandomIds::from_seed(config.seed);
        Self {
            config: Arc::new(config),
            rng,
            sessions: IdMap::default(),
            clients: ClientsCount::default(),
            requests: IdMap::default(),
            next_request: 0,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            deadlines: BinaryHeap::new(),
        }
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many sessions are open (`clientsCount`).
    pub fn clients_count(&self) -> usize {
        self.sessions.len()
    }

    /// A handle that reads [`clients_count`](Self::clients_count) from
    /// anywhere, without the engine at hand: from a hook the engine is
    /// running, or from a thread that does not hold the lock a runtime
    /// keeps around the engine.
    ///
    /// ```
    /// use engineio_proto::{Config, Server};
    ///
    /// let server = Server::new(Config::default());
    /// let count = server.clients_counter();
    /// std::thread::spawn(move || assert_eq!(count.get(), 0)).join().unwrap();
    /// ```
    pub fn clients_counter(&self) -> ClientsCount {
        self.clients.clone()
    }

    /// Whether session `sid` is open.
    pub fn contains(&self, sid: &str) -> bool {
        self.sessions.contains_key(sid)
    }

    /// The ids of every open session.
    pub fn sids(&self) -> impl Iterator<Item = &Sid> {
        self.sessions.keys()
    }

    /// The transport session `sid` uses now.
    pub fn transport(&self, sid: &str) -> Option<TransportKind> {
        self.sessions.get(sid).map(|s| s.transport_kind())
    }

    /// The protocol revision session `sid` speaks.
    pub fn protocol(&self, sid: &str) -> Option<Protocol> {
        self.sessions.get(sid).map(|s| s.protocol)
    }

    /// Whether a message sent to `sid` now would go out at once rather than
    /// wait in its queue (what a volatile emit checks).
    pub fn is_writable(&self, sid: &str) -> bool {
        self.sessions.get(sid).is_some_and(|s| s.is_writable())
    }

    /// Packets and bytes queued for `sid` and not yet handed to a transport.
    pub fn buffered(&self, sid: &str) -> Option<(usize, usize)> {
        self.sessions
            .get(sid)
            .map(|s| (s.buffer.len(), s.buffered_bytes))
    }

    /// How many requests the engine still owes an answer or holds open
    /// (long-polls, bodies, WebSockets, pending verdicts).
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    // ----- outputs -----

    /// The next I/O for the runtime to perform.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline: call [`handle_timeout`](Self::handle_timeout)
    /// once it has passed. Waking early or twice is harmless.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    // ----- inputs -----

    /// An HTTP request on the engine's path. Returns the id that outputs use
    /// to answer it.
    pub fn handle_request(&mut self, now: Instant, request: Request) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let query = EngineQuery::parse(request.query_string());
        let cors = match &self.config.cors {
            Some(cors) => cors.headers_for(&request),
            None => Headers::new(),
        };
        if request.method == Method::Options && self.config.cors.is_some() && !request.websocket {
            // A CORS preflight is answered by the CORS layer alone.
            self.respond(id, Response::new(204, cors, Bytes::new()));
            return id;
        }
        let kind = match self.verify(&request, &query) {
            Ok(kind) => kind,
            Err((code, context)) => {
                self.refuse(id, request, code, context, cors);
                return id;
            }
        };
        match query.sid.as_deref() {
            Some(sid) => {
                let sid = Sid::new(sid);
                if request.websocket {
                    self.on_upgrade_request(now, id, &request, sid, cors);
                } else {
                    self.on_polling_request(now, id, &request, &sid, cors);
                }
            }
            None if self.config.allow_request => {
                self.events.push_back(Event::AllowRequest {
                    request: id,
                    head: Box::new(request.clone()),
                });
                self.requests
                    .insert(id, Pending::Decision(Box::new(request)));
            }
            None => self.handshake(now, id, request, &query, kind, cors),
        }
        id
    }

    /// The application's verdict on an [`Event::AllowRequest`]: `Ok` goes on
    /// with the handshake, `Err(message)` refuses it with HTTP 403, code 4
    /// and that message. Unknown or answered requests are ignored.
    pub fn allow_request(&mut self, now: Instant, request: RequestId, verdict: Result<(), String>) {
        let Some(Pending::Decision(head)) = self.requests.remove(&request) else {
            return;
        };
        let head = *head;
        let cors = match &self.config.cors {
            Some(cors) => cors.headers_for(&head),
            None => Headers::new(),
        };
        match verdict {
            Err(message) => self.refuse(
                request,
                head,
                ErrorCode::Forbidden,
                ErrorContext::Forbidden { message },
                cors,
            ),
            Ok(()) => {
                let query = EngineQuery::parse(head.query_string());
                match self.verify(&head, &query) {
                    Ok(kind) => self.handshake(now, request, head, &query, kind, cors),
                    Err((code, context)) => self.refuse(request, head, code, context, cors),
                }
            }
        }
    }

    /// The application's decision on an [`Event::AllowRequest`] failed (its
    /// hook panicked): the request is answered with HTTP 500 and
    /// `{"code":3,"message":"Internal server error"}`, as a panicking
    /// [`Config::headers`] / [`Config::initial_headers`] /
    /// [`Config::generate_id`] hook answers it. Unknown or answered requests
    /// are ignored.
    pub fn fail_request(&mut self, request: RequestId) {
        let Some(Pending::Decision(head)) = self.requests.remove(&request) else {
            return;
        };
        let cors = match &self.config.cors {
            Some(cors) => cors.headers_for(&head),
            None => Headers::new(),
        };
        self.internal_error(request, cors);
    }

    /// The body of a POST the engine asked for with [`Output::ReadBody`].
    /// The runtime may stop reading at `limit + 1` bytes and pass those.
    pub fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes) {
        let Some(Pending::Body {
            sid,
            binary,
            headers,
        }) = self.requests.remove(&request)
        else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&sid) else {
            // The session ended while the body was read (after an upgrade
            // its close no longer knew this POST): answered as a POST in
            // flight at the close is.
            self.respond(request, Response::new(400, Headers::new(), Bytes::new()));
            return;
        };
        if let Transport::Polling(p) = &mut session.transport {
            if p.post == Some(request) {
                p.post = None;
            }
        }
        if body.len() > self.config.max_http_buffer_size {
            // Too large: refused, but the session goes on.
            self.respond(request, Response::new(413, Headers::new(), Bytes::new()));
            return;
        }
        let jsonp = match &session.transport {
            Transport::Polling(_) => session.format.jsonp.is_some(),
            Transport::WebSocket { .. } => false,
        };
        let packets = decode_body(session.protocol, jsonp, binary, body);
        let mut parse_error = false;
        for packet in packets {
            match packet {
                Ok(Packet::Close) => {
                    self.close_session(&sid, CloseReason::TransportClose, None);
                    break;
                }
                Ok(packet) => self.on_packet(now, &sid, packet),
                Err(_) => {
                    parse_error = true;
                    self.close_session(&sid, CloseReason::ParseError, None);
                    break;
                }
            }
            if !self.sessions.contains_key(&sid) {
                break;
            }
        }
        if parse_error {
            self.respond(request, Response::new(400, Headers::new(), Bytes::new()));
        } else {
            let mut h = headers;
            h.insert("Content-Type", "text/html");
            self.respond(request, Response::new(200, h, Bytes::from_static(b"ok")));
        }
    }

    /// A request the engine had not answered yet was dropped by the client
    /// (a long-poll, a POST whose body never came, a pending verdict).
    pub fn handle_request_closed(&mut self, now: Instant, request: RequestId) {
        let _ = now;
        match self.requests.remove(&request) {
            Some(Pending::Poll(sid)) => {
                if let Some(Transport::Polling(p)) =
                    self.sessions.get_mut(&sid).map(|s| &mut s.transport)
                {
                    if p.get.as_ref().is_some_and(|g| g.id == request) {
                        p.get = None;
                    }
                }
                self.close_session(
                    &sid,
                    CloseReason::TransportError,
                    Some("poll connection closed prematurely"),
                );
            }
            Some(Pending::Body { sid, .. }) => {
                if let Some(Transport::Polling(p)) =
                    self.sessions.get_mut(&sid).map(|s| &mut s.transport)
                {
                    if p.post == Some(request) {
                        p.post = None;
                    }
                }
                self.close_session(
                    &sid,
                    CloseReason::TransportError,
                    Some("data request connection closed prematurely"),
                );
            }
            Some(Pending::WebSocket(sid)) => {
                self.on_ws_gone(&sid, request, CloseReason::TransportClose)
            }
            Some(Pending::Decision(_)) | None => {}
        }
    }

    /// A message arrived on an accepted WebSocket.
    pub fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame) {
        let Some(Pending::WebSocket(sid)) = self.requests.get(&ws) else {
            return;
        };
        let sid = sid.clone();
        let Some(session) = self.sessions.get_mut(&sid) else {
            return;
        };
        let is_main = session.transport.websocket() == Some(ws);
        let too_large = frame.len() > self.config.max_http_buffer_size;
        let packet = if too_large {
            None
        } else {
            Packet::decode(frame, session.protocol).ok()
        };
        if is_main {
            match packet {
                _ if too_large => {
                    self.requests.remove(&ws);
                    self.outputs.push_back(Output::WsClose { ws, code: 1009 });
                    self.close_session(
                        &sid,
                        CloseReason::TransportError,
                        Some("max payload exceeded"),
                    );
                }
                None => self.close_session(&sid, CloseReason::ParseError, None),
                Some(Packet::Close) => self.close_session(&sid, CloseReason::TransportClose, None),
                Some(packet) => self.on_packet(now, &sid, packet),
            }
            return;
        }
        // The WebSocket is an upgrade probe.
        match packet {
            Some(Packet::Ping(data)) if data == "probe" => {
                self.outputs.push_back(Output::WsSend {
                    ws,
                    frame: Frame::Text(Str::from_static("3probe")),
                    compress: true,
                });
                if let Some(probe) = &mut session.probe {
                    probe.probed = true;
                }
                session.timers.clear(Timer::UpgradeCheck);
                set_timer(
                    &mut self.deadlines,
                    session,
                    Timer::UpgradeCheck,
                    now + UPGRADE_CHECK_INTERVAL,
                );
                self.events.push_back(Event::Upgrading { sid });
            }
            Some(Packet::Upgrade) => self.complete_upgrade(&sid, ws),
            _ => self.abort_upgrade(&sid),
        }
    }

    /// Every message handed out for this WebSocket so far is written: it may
    /// take more.
    pub fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId) {
        let _ = now;
        let Some(Pending::WebSocket(sid)) = self.requests.get(&ws) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if let Transport::WebSocket { ws: main, writable } = &mut session.transport {
            if *main == ws {
                *writable = true;
                // The common case (nothing queued meanwhile) needs no
                // second lookup.
                if !session.buffer.is_empty() || session.closing {
                    let sid = sid.clone();
                    self.flush(&sid);
                }
            }
        }
    }

    /// The WebSocket closed (the peer closed it, or it failed: pass
    /// `error = true` for a failure, which ends the session with "transport
    /// error" rather than "transport close").
    pub fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool) {
        let _ = now;
        if let Some(Pending::WebSocket(sid)) = self.requests.remove(&ws) {
            let reason = if error {
                CloseReason::TransportError
            } else {
                CloseReason::TransportClose
            };
            self.on_ws_gone(&sid, ws, reason);
        }
    }

    /// Runs every timer due at `now`: pings, ping timeouts, upgrade timeouts
    /// and checks, close timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, sid))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let (at, sid) = (*at, sid.clone());
            self.deadlines.pop();
            let live = self
                .sessions
                .get_mut(&sid)
                .is_some_and(|s| s.scheduled == Some(at) && s.scheduled.take().is_some());
            if live {
                self.run_timers(now, &sid);
                if let Some(session) = self.sessions.get_mut(&sid) {
                    if let Some(next) = session.timers.earliest() {
                        schedule(&mut self.deadlines, session, next);
                    }
                }
            }
        }
    }

    // ----- actions -----

    /// Queues a message for session `sid`. It goes out at once when the
    /// transport can take it, else waits in the session's queue. A queue
    /// past its limit closes the session (see [`SendError::BufferFull`]).
    pub fn send(&mut self, sid: &str, message: Message) -> Result<(), SendError> {
        // One lookup on the common path (every recipient of a broadcast
        // comes through here): queue and flush on the session at hand.
        let Some(session) = self.sessions.get_mut(sid) else {
            return Err(SendError::UnknownSession);
        };
        if session.closing {
            return Err(SendError::Closing);
        }
        let Message(frame, compress) = message;
        if !session.admits(&frame, &self.config) {
            let sid = session.sid.clone();
            self.close_session(&sid, CloseReason::SendBufferFull, None);
            return Err(SendError::BufferFull);
        }
        if session.watch.packet_create {
            packet_created(&mut self.events, &session.sid, &frame);
        }
        session.push(frame, compress);
        if matches!(session.transport, Transport::WebSocket { .. }) {
            // Not closing (checked above) and not empty: flushing a
            // WebSocket only hands its queue out, when it is writable.
            flush_ws(session, &mut self.outputs, &mut self.events);
        } else {
            let sid = session.sid.clone();
            self.flush(&sid);
        }
        Ok(())
    }

    /// Closes session `sid` from the server side ("forced close"): what is
    /// queued is still delivered, then the transport closes.
    pub fn close(&mut self, now: Instant, sid: &str) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if session.closing {
            return;
        }
        session.closing = true;
        let sid = session.sid.clone();
        match &mut session.transport {
            Transport::Polling(p) => {
                p.should_close = true;
                if p.get.is_some() {
                    self.flush(&sid);
                } else {
                    let at = now + self.config.close_timeout;
                    set_timer(&mut self.deadlines, session, Timer::CloseTimeout, at);
                }
            }
            Transport::WebSocket { .. } => self.flush(&sid),
        }
    }

    /// Asks for (or stops) the per-packet events of session `sid`
    /// ([`Event::Packet`], [`Event::PacketCreate`], [`Event::Drain`]).
    /// Returns false if no open session has this id.
    pub fn watch(&mut self, sid: &str, watch: Watch) -> bool {
        match self.sessions.get_mut(sid) {
            Some(session) => {
                session.watch = watch;
                true
            }
            None => false,
        }
    }

    /// Replaces [`Config::generate_id`] from now on (`io.engine.generateId`).
    pub fn set_generate_id(&mut self, generate: Option<IdGenerator>) {
        Arc::make_mut(&mut self.config).generate_id = generate;
    }

    /// Replaces [`Config::allow_request`] from now on: with `true`, later
    /// handshakes wait for an [`Event::AllowRequest`] verdict.
    pub fn set_allow_request(&mut self, ask: bool) {
        Arc::make_mut(&mut self.config).allow_request = ask;
    }

    /// Replaces [`Config::initial_headers`] from now on.
    pub fn set_initial_headers(&mut self, hook: Option<HeadersHook>) {
        Arc::make_mut(&mut self.config).initial_headers = hook;
    }

    /// Replaces [`Config::headers`] from now on.
    pub fn set_headers(&mut self, hook: Option<HeadersHook>) {
        Arc::make_mut(&mut self.config).headers = hook;
    }

    /// Closes every session with "server shutting down", at once.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
        let sids: Vec<Sid> = self.sessions.keys().cloned().collect();
        for sid in sids {
            self.close_session(&sid, CloseReason::ServerShuttingDown, None);
        }
    }

    // ----- private: requests -----

    /// The checks of the official `verify`: transport, origin, session,
    /// handshake method.
    fn verify(&self, request: &Request, query: &EngineQuery) -> Result<TransportKind, Refusal> {
        let kind = query
            .transport
            .as_deref()
            .and_then(TransportKind::from_name)
            .filter(|k| self.config.allows(*k))
            .ok_or_else(|| {
                (
                    ErrorCode::UnknownTransport,
                    ErrorContext::UnknownTransport {
                        transport: query.transport.clone(),
                    },
                )
            })?;
        if let Some(origin) = request.headers.get("origin") {
            if origin
                .chars()
                .any(|c| (c < ' ' && c != '\t') || c == '\u{7f}')
            {
                return Err((
                    ErrorCode::BadRequest,
                    ErrorContext::InvalidOrigin {
                        origin: origin.to_owned(),
                    },
                ));
            }
        }
        match query.sid.as_deref() {
            Some(sid) => {
                let Some(session) = self.sessions.get(sid) else {
                    return Err((
                        ErrorCode::UnknownSid,
                        ErrorContext::UnknownSid {
                            sid: sid.to_owned(),
                        },
                    ));
                };
                let current = session.transport_kind();
                let mismatch = if request.websocket {
                    // Only a polling session upgrades, and only to WebSocket.
                    kind != TransportKind::WebSocket || !self.config.allow_upgrades
                } else {
                    kind != current || kind == TransportKind::WebSocket
                };
                if mismatch {
                    return Err((
                        ErrorCode::BadRequest,
                        ErrorContext::TransportMismatch {
                            transport: kind.name().to_owned(),
                            previous: current.name(),
                        },
                    ));
                }
            }
            None => {
                if request.method != Method::Get {
                    return Err((
                        ErrorCode::BadHandshakeMethod,
                        ErrorContext::BadHandshakeMethod {
                            method: request.method.as_str().to_owned(),
                        },
                    ));
                }
                if (kind == TransportKind::WebSocket) != request.websocket {
                    return Err((ErrorCode::BadRequest, ErrorContext::TransportHandshakeError));
                }
            }
        }
        Ok(kind)
    }

    /// Answers a refused request: JSON `{"code","message"}` with 400 or 403
    /// on HTTP, a plain 400 before a WebSocket upgrade; and tells the
    /// application (`connection_error`).
    fn refuse(
        &mut self,
        id: RequestId,
        request: Request,
        code: ErrorCode,
        context: ErrorContext,
        cors: Headers,
    ) {
        let message = match &context {
            ErrorContext::Forbidden { message } if !message.is_empty() => message.clone(),
            _ => code.message().to_owned(),
        };
        let response = if request.websocket {
            let mut h = Headers::new();
            h.insert("Connection", "close");
            h.insert("Content-type", "text/html");
            Response::new(400, h, message.clone().into_bytes())
        } else {
            let mut h = cors;
            h.insert("Content-Type", "application/json");
            let body = serde_json::json!({ "code": code as u8, "message": message }).to_string();
            Response::new(code.status(), h, body.into_bytes())
        };
        self.respond(id, response);
        self.events
            .push_back(Event::ConnectionError(Box::new(ConnectionError {
                request,
                code,
                message: code.message().to_owned(),
                context,
            })));
    }

    fn handshake(
        &mut self,
        now: Instant,
        id: RequestId,
        request: Request,
        query: &EngineQuery,
        kind: TransportKind,
        cors: Headers,
    ) {
        let protocol = match query.eio.as_deref() {
            Some("4") => Protocol::V4,
            // The official server takes anything else as v3.
            _ if self.config.allow_eio3 => Protocol::V3,
            other => {
                let protocol = other.map(String::from);
                self.refuse(
                    id,
                    request,
                    ErrorCode::UnsupportedProtocolVersion,
                    ErrorContext::UnsupportedProtocolVersion { protocol },
                    cors,
                );
                return;
            }
        };
        let sid = match &self.config.generate_id {
            Some(generate) => match run_hook(|| generate(&request)) {
                Some(sid) => sid,
                None => return self.internal_error(id, cors),
            },
            None => self.rng.next_id(),
        };
        if !valid_sid(&sid) || self.sessions.contains_key(sid.as_str()) {
            self.refuse(
                id,
                request,
                ErrorCode::BadRequest,
                ErrorContext::IdGenerationError,
                cors,
            );
            return;
        }
        let sid = Sid::new(&sid);

        let mut headers = cors;
        if kind == TransportKind::Polling {
            polling_headers(&mut headers, &request);
        }
        if let Some(cookie) = &self.config.cookie {
            headers.append("Set-Cookie", cookie.serialize(sid.as_str()));
        }
        let hooked = run_hook(|| {
            if let Some(hook) = &self.config.initial_headers {
                hook(&mut headers, &request);
            }
            if let Some(hook) = &self.config.headers {
                hook(&mut headers, &request);
            }
        });
        if hooked.is_none() {
            headers.remove("Set-Cookie");
            return self.internal_error(id, headers);
        }

        let transport = match kind {
            TransportKind::Polling => Transport::Polling(Polling {
                get: Some(PendingGet {
                    id,
                    headers,
                    encoding: accepted_encoding(&self.config, &request),
                }),
                post: None,
                should_close: false,
            }),
            TransportKind::WebSocket => {
                let mut headers = headers;
                websocket_extensions(&self.config, &request, &mut headers);
                self.outputs.push_back(Output::AcceptWebSocket {
                    request: id,
                    headers,
                });
                Transport::WebSocket {
                    ws: id,
                    writable: true,
                }
            }
        };
        self.requests.insert(
            id,
            match kind {
                TransportKind::Polling => Pending::Poll(sid.clone()),
                TransportKind::WebSocket => Pending::WebSocket(sid.clone()),
            },
        );
        let format = PayloadFormat {
            protocol,
            // v3 clients that cannot read binary ask for base64 (`b64=1`).
            supports_binary: !query.b64,
            // The JSONP transport is chosen by the presence of `j`; only its
            // digits name the callback.
            jsonp: query
                .j
                .as_ref()
                .map(|j| j.chars().filter(char::is_ascii_digit).collect()),
        };
        let mut session = Session::new(sid.clone(), format, transport);

        let upgrades = if kind == TransportKind::Polling
            && self.config.allow_upgrades
            && self.config.allows(TransportKind::WebSocket)
        {
            r#"["websocket"]"#
        } else {
            "[]"
        };
        let open = format!(
            r#"0{{"sid":{},"upgrades":{},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
            serde_json::Value::from(sid.as_str()),
            upgrades,
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_http_buffer_size,
        );
        session.push(Frame::Text(open.into()), true);
        if let Some(initial) = &self.config.initial_packet {
            session.push(Message::from_data(initial).0, true);
        }
        match protocol {
            Protocol::V4 => set_timer(
                &mut self.deadlines,
                &mut session,
                Timer::Ping,
                now + self.config.ping_interval,
            ),
            Protocol::V3 => {
                let at = now + self.config.ping_interval + self.config.ping_timeout;
                set_timer(&mut self.deadlines, &mut session, Timer::PingTimeout, at);
            }
        }
        self.sessions.insert(sid.clone(), Box::new(session));
        self.clients.set(self.sessions.len());
        self.events.push_back(Event::Open {
            sid: sid.clone(),
            handshake: Box::new(Handshake {
                query: request.query_pairs(),
                request,
                protocol,
                transport: kind,
                time: now,
            }),
        });
        self.flush(&sid);
    }

    /// A GET, POST or other request for a polling session (`onRequest`).
    fn on_polling_request(
        &mut self,
        now: Instant,
        id: RequestId,
        request: &Request,
        sid: &Sid,
        cors: Headers,
    ) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        let protocol = session.protocol;
        let Transport::Polling(p) = &mut session.transport else {
            return;
        };
        match request.method {
            Method::Get => {
                if p.get.is_some() {
                    self.respond(id, Response::new(400, cors, Bytes::new()));
                    self.close_session(
                        sid,
                        CloseReason::TransportError,
                        Some("overlap from client"),
                    );
                    return;
                }
                let mut headers = cors;
                polling_headers(&mut headers, request);
                if let Some(hook) = &self.config.headers {
                    if run_hook(|| hook(&mut headers, request)).is_none() {
                        return self.internal_error(id, headers);
                    }
                }
                p.get = Some(PendingGet {
                    id,
                    headers,
                    encoding: accepted_encoding(&self.config, request),
                });
                self.requests.insert(id, Pending::Poll(sid.clone()));
                self.flush(sid);
                let _ = now;
            }
            Method::Post => {
                if p.post.is_some() {
                    self.respond(id, Response::new(400, cors, Bytes::new()));
                    self.close_session(
                        sid,
                        CloseReason::TransportError,
                        Some("data request overlap from client"),
                    );
                    return;
                }
                let binary =
                    request.headers.get("content-type") == Some("application/octet-stream");
                if binary && protocol == Protocol::V4 {
                    self.respond(id, Response::new(400, cors, Bytes::new()));
                    self.close_session(sid, CloseReason::TransportError, Some("invalid content"));
                    return;
                }
                let mut headers = cors;
                polling_headers(&mut headers, request);
                headers.remove("Content-Type");
                if let Some(hook) = &self.config.headers {
                    if run_hook(|| hook(&mut headers, request)).is_none() {
                        return self.internal_error(id, headers);
                    }
                }
                p.post = Some(id);
                self.requests.insert(
                    id,
                    Pending::Body {
                        sid: sid.clone(),
                        binary,
                        headers,
                    },
                );
                self.outputs.push_back(Output::ReadBody {
                    request: id,
                    limit: self.config.max_http_buffer_size,
                });
            }
            _ => self.respond(id, Response::new(500, cors, Bytes::new())),
        }
    }

    /// A WebSocket upgrade for an existing polling session: the probe.
    fn on_upgrade_request(
        &mut self,
        now: Instant,
        id: RequestId,
        request: &Request,
        sid: Sid,
        cors: Headers,
    ) {
        let Some(session) = self.sessions.get_mut(&sid) else {
            return;
        };
        let mut headers = cors;
        if let Some(hook) = &self.config.headers {
            if run_hook(|| hook(&mut headers, request)).is_none() {
                return self.internal_error(id, headers);
            }
        }
        websocket_extensions(&self.config, request, &mut headers);
        self.outputs.push_back(Output::AcceptWebSocket {
            request: id,
            headers,
        });
        if session.probe.is_some() || session.transport.websocket().is_some() || session.closing {
            // Upgrading already, or upgraded: this one is closed at once.
            self.outputs
                .push_back(Output::WsClose { ws: id, code: 1000 });
            return;
        }
        session.probe = Some(Probe {
            ws: id,
            probed: false,
        });
        set_timer(
            &mut self.deadlines,
            session,
            Timer::UpgradeTimeout,
            now + self.config.upgrade_timeout,
        );
        self.requests.insert(id, Pending::WebSocket(sid));
    }

    // ----- private: sessions -----

    /// A packet from the client on the session's transport.
    fn on_packet(&mut self, now: Instant, sid: &Sid, packet: Packet) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if session.closing {
            return;
        }
        if session.watch.packet {
            self.events.push_back(Event::Packet {
                sid: sid.clone(),
                packet: packet.clone(),
            });
        }
        match (packet, session.protocol) {
            (Packet::Ping(_), Protocol::V3) => {
                let at = now + self.config.ping_interval + self.config.ping_timeout;
                set_timer(&mut self.deadlines, session, Timer::PingTimeout, at);
                if self
                    .enqueue(sid, Frame::Text(Str::from_static("3")))
                    .is_ok()
                {
                    self.flush(sid);
                }
            }
            (Packet::Pong(_), Protocol::V4) => {
                session.timers.clear(Timer::PingTimeout);
                set_timer(
                    &mut self.deadlines,
                    session,
                    Timer::Ping,
                    now + self.config.ping_interval,
                );
            }
            (Packet::Ping(_), Protocol::V4) | (Packet::Pong(_), Protocol::V3) => {
                self.close_session(
                    sid,
                    CloseReason::TransportError,
                    Some("invalid heartbeat direction"),
                );
            }
            (Packet::Message(data), _) => self.events.push_back(Event::Message {
                sid: sid.clone(),
                data,
            }),
            // Open, upgrade and noop from a client mean nothing here; close
            // is handled by the transport before this point.
            _ => {}
        }
    }

    /// Hands queued packets to the transport if it can take them.
    fn flush(&mut self, sid: &Sid) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        match &mut session.transport {
            Transport::Polling(p) => {
                if session.buffer.is_empty() && !p.should_close {
                    return;
                }
                let Some(get) = p.get.take() else {
                    return;
                };
                // A closing session first delivers what is queued; the close
                // packet goes on the next poll, alone (`6\x1e1`), as the
                // official server does. Clients handle a close packet at
                // once but some packets a tick later, so a close in the same
                // payload would overtake them (a DISCONNECT would then read
                // as "transport close").
                let closing = p.should_close && session.buffer.is_empty();
                let frames: Vec<(Frame, bool)> = if closing {
                    vec![
                        (Frame::Text(Str::from_static("6")), true),
                        (Frame::Text(Str::from_static("1")), true),
                    ]
                } else {
                    session.buffered_bytes = 0;
                    // Taken whole: an idle session keeps no queue memory.
                    Vec::from(std::mem::take(&mut session.buffer))
                };
                let drained = !closing && session.watch.drain;
                let id = get.id;
                let response =
                    session
                        .format
                        .response(frames, get, self.config.http_compression.as_ref());
                self.end_poll(id, response);
                if drained {
                    self.events.push_back(Event::Drain { sid: sid.clone() });
                }
                if closing {
                    self.close_session(sid, CloseReason::ForcedClose, None);
                }
            }
            Transport::WebSocket { ws, writable } => {
                if !*writable {
                    return;
                }
                let ws = *ws;
                if !session.buffer.is_empty() {
                    flush_ws(session, &mut self.outputs, &mut self.events);
                } else if session.closing {
                    self.requests.remove(&ws);
                    self.outputs.push_back(Output::WsClose { ws, code: 1000 });
                    self.close_session(sid, CloseReason::ForcedClose, None);
                }
            }
        }
    }

    fn run_timers(&mut self, now: Instant, sid: &Sid) {
        while let Some(session) = self.sessions.get_mut(sid) {
            let Some(timer) = session.timers.due(now) else {
                return;
            };
            session.timers.clear(timer);
            match timer {
                Timer::Ping => {
                    // A closing session sends no more pings, but still ends
                    // if the client is gone.
                    set_timer(
                        &mut self.deadlines,
                        session,
                        Timer::PingTimeout,
                        now + self.config.ping_timeout,
                    );
                    if !session.closing
                        && self
                            .enqueue(sid, Frame::Text(Str::from_static("2")))
                            .is_ok()
                    {
                        self.flush(sid);
                    }
                }
                Timer::PingTimeout => self.close_session(sid, CloseReason::PingTimeout, None),
                Timer::UpgradeTimeout => self.abort_upgrade(sid),
                Timer::UpgradeCheck => {
                    // End a pending long-poll so the client can pause
                    // polling; the session's queue is left as it is.
                    if let Transport::Polling(p) = &mut session.transport {
                        if let Some(get) = p.get.take() {
                            let frames = vec![(Frame::Text(Str::from_static("6")), true)];
                            let id = get.id;
                            let response = session.format.response(
                                frames,
                                get,
                                self.config.http_compression.as_ref(),
                            );
                            self.end_poll(id, response);
                        }
                    }
                    if let Some(session) = self.sessions.get_mut(sid) {
                        set_timer(
                            &mut self.deadlines,
                            session,
                            Timer::UpgradeCheck,
                            now + UPGRADE_CHECK_INTERVAL,
                        );
                    }
                }
                Timer::CloseTimeout => self.close_session(sid, CloseReason::ForcedClose, None),
            }
        }
    }

    /// The client sent `5` on the probe: the session moves to WebSocket.
    fn complete_upgrade(&mut self, sid: &Sid, ws: RequestId) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        session.probe = None;
        session.timers.clear(Timer::UpgradeTimeout);
        session.timers.clear(Timer::UpgradeCheck);
        let old = std::mem::replace(
            &mut session.transport,
            Transport::WebSocket { ws, writable: true },
        );
        if let Transport::Polling(p) = old {
            if let Some(get) = p.get {
                // A long-poll still open ends with a noop; the client has
                // already left polling.
                let frames = vec![(Frame::Text(Str::from_static("6")), true)];
                let id = get.id;
                let response =
                    session
                        .format
                        .response(frames, get, self.config.http_compression.as_ref());
                self.end_poll(id, response);
            }
            // A POST still being read is processed when its body comes.
        }
        self.events.push_back(Event::Upgrade { sid: sid.clone() });
        self.flush(sid);
    }

    /// Ends an upgrade that failed: the probe WebSocket is closed and the
    /// session stays on polling.
    fn abort_upgrade(&mut self, sid: &Sid) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        session.timers.clear(Timer::UpgradeTimeout);
        session.timers.clear(Timer::UpgradeCheck);
        if let Some(probe) = session.probe.take() {
            self.requests.remove(&probe.ws);
            self.outputs.push_back(Output::WsClose {
                ws: probe.ws,
                code: 1000,
            });
        }
    }

    /// A WebSocket of `sid` is gone (closed by the peer or failed).
    fn on_ws_gone(&mut self, sid: &Sid, ws: RequestId, reason: CloseReason) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if session.transport.websocket() == Some(ws) {
            // Nothing to close on our side any more.
            session.transport = Transport::Polling(Polling::default());
            self.close_session(sid, reason, None);
        } else if session.probe.as_ref().is_some_and(|p| p.ws == ws) {
            session.probe = None;
            session.timers.clear(Timer::UpgradeTimeout);
            session.timers.clear(Timer::UpgradeCheck);
        }
    }

    /// Ends session `sid`: answers or closes whatever it holds, drops its
    /// queue, and tells the application why.
    fn close_session(&mut self, sid: &Sid, reason: CloseReason, description: Option<&'static str>) {
        let Some(session) = self.sessions.remove(sid) else {
            return;
        };
        self.clients.set(self.sessions.len());
        if let Some(probe) = session.probe {
            self.requests.remove(&probe.ws);
            self.outputs.push_back(Output::WsClose {
                ws: probe.ws,
                code: 1000,
            });
        }
        match session.transport {
            Transport::Polling(p) => {
                if let Some(post) = p.post {
                    // The official server destroys a POST in flight.
                    self.requests.remove(&post);
                    self.respond(post, Response::new(400, Headers::new(), Bytes::new()));
                }
                if let Some(get) = p.get {
                    // A client close ends the poll with a noop, anything
                    // else with a close packet.
                    let packet = if reason == CloseReason::TransportClose {
                        "6"
                    } else {
                        "1"
                    };
                    let frames = vec![(Frame::Text(Str::from_static(packet)), true)];
                    let id = get.id;
                    let response =
                        session
                            .format
                            .response(frames, get, self.config.http_compression.as_ref());
                    self.end_poll(id, response);
                }
            }
            Transport::WebSocket { ws, .. } => {
                if self.requests.remove(&ws).is_some() {
                    self.outputs.push_back(Output::WsClose { ws, code: 1000 });
                }
            }
        }
        self.events.push_back(Event::Close {
            sid: sid.clone(),
            reason,
            description,
        });
    }

    /// Queues a packet for `sid` within the queue limits; past them the
    /// session ends with "send buffer full" and nothing is queued.
    fn enqueue(&mut self, sid: &Sid, frame: Frame) -> Result<(), SendError> {
        let Some(session) = self.sessions.get_mut(sid) else {
            return Err(SendError::UnknownSession);
        };
        if !session.admits(&frame, &self.config) {
            self.close_session(sid, CloseReason::SendBufferFull, None);
            return Err(SendError::BufferFull);
        }
        if session.watch.packet_create {
            packet_created(&mut self.events, sid, &frame);
        }
        session.push(frame, true);
        Ok(())
    }

    /// Answers a held long-poll.
    fn end_poll(&mut self, request: RequestId, response: Response) {
        self.requests.remove(&request);
        self.respond(request, response);
    }

    /// Answers a request whose application hook panicked: HTTP 500 with
    /// the Engine.IO JSON error body. Nothing of the request was kept.
    fn internal_error(&mut self, id: RequestId, mut headers: Headers) {
        headers.insert("Content-Type", "application/json");
        let body = format!(
            r#"{{"code":{},"message":"{INTERNAL_ERROR}"}}"#,
            ErrorCode::BadRequest as u8
        );
        self.respond(id, Response::new(500, headers, body.into_bytes()));
    }

    fn respond(&mut self, request: RequestId, response: Response) {
        self.outputs
            .push_back(Output::Respond { request, response });
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("sessions", &self.sessions.len())
            .field("requests", &self.requests.len())
            .field("outputs", &self.outputs.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Hands the queue of a writable WebSocket session out as sends (the
/// transport is busy until the runtime reports them flushed).
fn flush_ws(session: &mut Session, outputs: &mut VecDeque<Output>, events: &mut VecDeque<Event>) {
    let protocol = session.protocol;
    let Transport::WebSocket { ws, writable } = &mut session.transport else {
        return;
    };
    if !*writable || session.buffer.is_empty() {
        return;
    }
    *writable = false;
    let ws = *ws;
    session.buffered_bytes = 0;
    // Taken whole: an idle session keeps no queue memory.
    for (frame, compress) in std::mem::take(&mut session.buffer) {
        let frame = ws_frame(protocol, frame);
        outputs.push_back(Output::WsSend {
            ws,
            frame,
            compress,
        });
    }
    if session.watch.drain {
        events.push_back(Event::Drain {
            sid: session.sid.clone(),
        });
    }
}

/// The `packetCreate` event of a frame being queued for `sid`.
fn packet_created(events: &mut VecDeque<Event>, sid: &Sid, frame: &Frame) {
    // Queued frames are in v4 form, which always decodes.
    if let Ok(packet) = Packet::decode(frame.clone(), Protocol::V4) {
        events.push_back(Event::PacketCreate {
            sid: sid.clone(),
            packet,
        });
    }
}

/// Whether a generated session id can serve as one: 1 to [`MAX_SID_LEN`]
/// visible ASCII characters, none of which needs escaping in a query
/// string or a cookie (`"`, `%`, `&`, `+`, `,`, `;`, `=`, `\`, `#`, `?`, `/`).
fn valid_sid(sid: &str) -> bool {
    !sid.is_empty()
        && sid.len() <= MAX_SID_LEN
        && sid
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"%&+,;=\\#?/".contains(&b))
}

/// Sets `timer` and makes sure the heap has an entry no later than it.
fn set_timer(
    deadlines: &mut BinaryHeap<Reverse<(Instant, Sid)>>,
    session: &mut Session,
    timer: Timer,
    at: Instant,
) {
    session.timers.set(timer, at);
    schedule(deadlines, session, at);
}

fn schedule(
    deadlines: &mut BinaryHeap<Reverse<(Instant, Sid)>>,
    session: &mut Session,
    at: Instant,
) {
    if session.scheduled.is_none_or(|s| at < s) {
        session.scheduled = Some(at);
        deadlines.push(Reverse((at, session.sid.clone())));
    }
}

/// Answers a permessage-deflate offer in the `101` response, when
/// `per_message_deflate` is on (RFC 7692).
fn websocket_extensions(config: &Config, request: &Request, headers: &mut Headers) {
    let Some(deflate) = &config.per_message_deflate else {
        return;
    };
    let offers = request
        .headers
        .get("sec-websocket-extensions")
        .unwrap_or("");
    if let Some(agreement) = crate::deflate::Agreement::negotiate(offers, deflate) {
        headers.insert("Sec-WebSocket-Extensions", agreement.response());
    }
}

/// The encoding a long-poll's response may use, if compression is on.
fn accepted_encoding(config: &Config, request: &Request) -> Option<ContentEncoding> {
    config.http_compression?;
    ContentEncoding::negotiate(request.headers.get("accept-encoding"))
}

/// The headers every long-poll response carries.
fn polling_headers(headers: &mut Headers, request: &Request) {
    headers.insert("Content-Type", "text/plain; charset=UTF-8");
    if request
        .headers
        .get("user-agent")
        .is_some_and(|ua| ua.contains(";MSIE") || ua.contains("Trident/"))
    {
        // Prevents XSS warnings on old Internet Explorer.
        headers.insert("X-XSS-Protection", "0");
    }
    headers.insert("cache-control", "no-store");
}

/// The packets of a POST body, up to and including the first error.
fn decode_body(
    protocol: Protocol,
    jsonp: bool,
    binary: bool,
    body: Bytes,
) -> Vec<Result<Packet, crate::DecodeError>> {
    let text = if jsonp {
        match payload::jsonp_unwrap(&body) {
            Some(text) => text,
            None => return vec![Err(crate::DecodeError::InvalidFraming)],
        }
    } else if binary {
        Str::new()
    } else {
        Str::from_utf8_lossy(body.clone())
    };
    match protocol {
        Protocol::V4 => payload::decode_v4(text).collect(),
        Protocol::V3 => {
            let frame = if binary && !jsonp {
                Frame::Binary(body)
            } else {
                Frame::Text(text)
            };
            match payload::decode_v3(frame) {
                Ok(packets) => packets.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            }
        }
    }
}

/// The message of the 500 answer to a request whose hook panicked.
const INTERNAL_ERROR: &str = "Internal server error";

/// Runs an application hook (`generate_id`, `initial_headers`, `headers`):
/// `None` if it panicked. The panic stops here, so the engine's state (and
/// the lock a runtime keeps around it) is never left half-changed: hooks
/// run before the engine changes anything for their request.
fn run_hook<T>(hook: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)).ok()
}

/// The number of open sessions, shared with the engine that keeps it
/// ([`Server::clients_counter`]): cheap to clone, read without a lock.
#[derive(Debug, Clone, Default)]
pub struct ClientsCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl ClientsCount {
    /// The number of open sessions now.
    pub fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set(&self, n: usize) {
        self.0.store(n, std::sync::atomic::Ordering::Relaxed);
    }
}
