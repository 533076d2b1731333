//! The engine: every session of one Engine.IO endpoint, as a state machine.
//!
//! [`Server`] keeps the handle/poll surface and routes each request to the
//! concern that owns it; a rule lives in one file:
//!
//! * `handshake`: the checks of a new request (`verify`), refusals with the
//!   official JSON errors, and the handshake that opens a session;
//! * `polling`: long-poll GETs, POST bodies, and the one place a long-poll
//!   response is built (compressed as negotiated);
//! * `websocket`: WebSocket messages, flushes and closes, and the upgrade of
//!   a polling session (probe, `5`, aborts);
//! * `lifecycle`: the session's timers (heartbeat, upgrade checks, close
//!   timeouts), packets, queue, flush and close;
//! * `sessions`: the session table, by id and by [`SessionKey`] (a small
//!   handle that a caller sending to one session many times keeps).

mod handshake;
mod lifecycle;
mod polling;
mod sessions;
mod websocket;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::IdMap;
use crate::config::{Config, HeadersHook, IdGenerator, TransportKind};
use crate::deadlines::Deadlines;
use crate::http::{EngineQuery, Headers, Method, Request, Response};
use crate::output::{
    CloseReason, ErrorCode, ErrorContext, Event, Message, Output, RequestId, SendError, Sid, Watch,
};
use crate::packet::Protocol;
use crate::rng::RandomIds;
use crate::session::{Timer, Transport};

use lifecycle::packet_created;
use sessions::Sessions;
use websocket::flush_ws;

pub use sessions::SessionKey;

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
    /// The open sessions, by id and by [`SessionKey`].
    sessions: Sessions,
    /// `sessions.len()`, readable without the engine at hand.
    clients: ClientsCount,
    requests: IdMap<RequestId, Pending>,
    next_request: u64,
    outputs: VecDeque<Output>,
    events: VecDeque<Event>,
    /// The earliest timer of every session that has one, by session id
    /// (each session keeps its own fixed table of timers).
    deadlines: Deadlines<Sid>,
}

/// A request the engine still owes something to.
#[derive(Debug)]
enum Pending {
    /// A handshake waiting for the application's `allowRequest` verdict.
    Decision(Box<Request>),
    /// A POST whose body the runtime is reading. Boxed: every open
    /// WebSocket and held long-poll has an entry in the same table, whose
    /// slots are as large as the largest variant.
    Body(Box<PendingBody>),
    /// A long-poll GET, held until there is something to send.
    Poll(Sid),
    /// An accepted WebSocket: the session's transport or an upgrade probe.
    WebSocket(Sid),
}

/// A POST whose body the runtime is reading: its session, whether the body
/// is binary, and the response's headers.
#[derive(Debug)]
struct PendingBody {
    sid: Sid,
    binary: bool,
    headers: Headers,
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
            sessions: Sessions::default(),
            clients: ClientsCount::default(),
            requests: IdMap::default(),
            next_request: 0,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            deadlines: Deadlines::new(),
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
    pub fn contains(&self, sid: &Sid) -> bool {
        self.sessions.contains_key(sid)
    }

    /// The ids of every open session.
    pub fn sids(&self) -> impl Iterator<Item = &Sid> {
        self.sessions.keys()
    }

    /// The transport session `sid` uses now.
    pub fn transport(&self, sid: &Sid) -> Option<TransportKind> {
        self.sessions.get(sid).map(|s| s.transport_kind())
    }

    /// The protocol revision session `sid` speaks.
    pub fn protocol(&self, sid: &Sid) -> Option<Protocol> {
        self.sessions.get(sid).map(|s| s.protocol)
    }

    /// Whether a message sent to `sid` now would go out at once rather than
    /// wait in its queue (what a volatile emit checks).
    pub fn is_writable(&self, sid: &Sid) -> bool {
        self.sessions.get(sid).is_some_and(|s| s.is_writable())
    }

    /// The key of open session `sid`: a small handle that reaches the
    /// session without hashing its id, for a caller that sends to it many
    /// times ([`send_to`](Self::send_to), [`is_writable_to`](Self::is_writable_to)).
    /// It names nothing once the session closes.
    pub fn session_key(&self, sid: &Sid) -> Option<SessionKey> {
        self.sessions.key(sid)
    }

    /// [`is_writable`](Self::is_writable) by key: false for a key of a
    /// closed session.
    pub fn is_writable_to(&self, key: SessionKey) -> bool {
        self.sessions.by_key(key).is_some_and(|s| s.is_writable())
    }

    /// Packets and bytes queued for `sid` and not yet handed to a transport.
    pub fn buffered(&self, sid: &Sid) -> Option<(usize, usize)> {
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
        self.deadlines.next()
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
                // `verify` found the session: share its id rather than copy it.
                let sid = match self.sessions.get(sid) {
                    Some(session) => session.sid.clone(),
                    None => Sid::new(sid),
                };
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
            None => {
                let query = query.into_owned();
                self.handshake(now, id, request, &query, kind, cors);
            }
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
                let query = EngineQuery::parse(head.query_string()).into_owned();
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

    // ----- actions -----

    /// Queues a message for session `sid`. It goes out at once when the
    /// transport can take it, else waits in the session's queue. A queue
    /// past its limit closes the session (see [`SendError::BufferFull`]).
    pub fn send(&mut self, sid: &Sid, message: Message) -> Result<(), SendError> {
        match self.sessions.key(sid) {
            Some(key) => self.send_to(key, message),
            None => Err(SendError::UnknownSession),
        }
    }

    /// [`send`](Self::send) by key ([`session_key`](Self::session_key)): no
    /// id is hashed, the path of every recipient of a broadcast. A key of
    /// a closed session is [`SendError::UnknownSession`].
    pub fn send_to(&mut self, key: SessionKey, message: Message) -> Result<(), SendError> {
        // Queue and flush on the session at hand.
        let Some(session) = self.sessions.by_key_mut(key) else {
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
        match &session.transport {
            // Not closing (checked above) and not empty: flushing a
            // WebSocket only hands its queue out, when it is writable.
            Transport::WebSocket { .. } => flush_ws(session, &mut self.outputs, &mut self.events),
            // No long-poll held: the message waits for the next GET (and
            // the id is not looked up again for nothing).
            Transport::Polling(p) if p.get.is_none() => {}
            Transport::Polling(_) => {
                let sid = session.sid.clone();
                self.flush(&sid);
            }
        }
        Ok(())
    }

    /// Closes session `sid` from the server side ("forced close"): what is
    /// queued is still delivered, then the transport closes.
    pub fn close(&mut self, now: Instant, sid: &Sid) {
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
                    session.set_timer(&mut self.deadlines, Timer::CloseTimeout, at);
                }
            }
            Transport::WebSocket { .. } => self.flush(&sid),
        }
    }

    /// Asks for (or stops) the per-packet events of session `sid`
    /// ([`Event::Packet`], [`Event::PacketCreate`], [`Event::Drain`]).
    /// Returns false if no open session has this id.
    pub fn watch(&mut self, sid: &Sid, watch: Watch) -> bool {
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

    // ----- private: sessions -----

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

#[cfg(test)]
mod pending_size {
    /// Every open WebSocket and held long-poll has an entry in the table of
    /// requests: its slot stays three words (a POST's body state is boxed).
    #[test]
    fn a_pending_request_is_three_words() {
        assert!(std::mem::size_of::<super::Pending>() <= 24);
    }
}
