//! Sans-IO Engine.IO server core.
//!
//! This crate is the server side of Engine.IO v4 (and v3 for socket.io 2.x
//! clients, behind [`Config::allow_eio3`]) as a pure state machine. It
//! **performs no I/O**: it never touches a socket, reads a clock, spawns a
//! task, takes a lock or draws OS randomness. A runtime binding feeds it what
//! arrived and carries out what it asks for; the application reads its
//! events and calls its actions.
//!
//! # The contract
//!
//! ## Inputs
//!
//! Every input is a `handle_*` call on [`Server`] with `now`, the runtime's
//! monotonic clock. `now` never moves back between calls (equal is fine);
//! the engine reads no clock of its own, so whatever time the runtime
//! hands in is the time of the protocol.
//!
//! | Input | When the runtime calls it |
//! |---|---|
//! | [`Server::handle_request`]`(now, request)` | an HTTP request on the engine's path ([`Config::matches_path`]); returns the [`RequestId`] every output about it names |
//! | [`Server::handle_body`]`(now, id, body)` | the POST body that [`Output::ReadBody`] asked for (at most `limit + 1` bytes) |
//! | [`Server::handle_request_closed`]`(now, id)` | the client dropped a request not answered yet (a held long-poll, a POST body that never came) |
//! | [`Server::handle_ws_message`]`(now, ws, frame)` | a message on a WebSocket the engine accepted |
//! | [`Server::handle_ws_flushed`]`(now, ws)` | every [`Output::WsSend`] handed out for `ws` so far is written |
//! | [`Server::handle_ws_closed`]`(now, ws, error)` | the WebSocket closed (`error`: it failed rather than closed) |
//! | [`Server::handle_timeout`]`(now)` | [`Server::poll_timeout`] has passed; early or repeated calls do nothing |
//!
//! The application acts through [`Server::send`], [`Server::close`],
//! [`Server::shutdown`], [`Server::allow_request`] /
//! [`Server::fail_request`] (its verdict on [`Event::AllowRequest`]) and
//! [`Server::watch`]; these count as inputs too (drain afterwards).
//!
//! ## Outputs, and the order to drain them
//!
//! After every input or action, drain [`Server::poll_output`] until `None`
//! and carry each [`Output`] out in the order given (a WebSocket's sends are
//! in message order; a response is the last output of its request), then
//! drain [`Server::poll_event`] until `None`, then sleep until
//! [`Server::poll_timeout`] (`None`: until the next input). An event handler
//! may act on the engine at once; drain both queues again afterwards. The
//! order of the two queues between themselves carries no meaning.
//!
//! Timers are one deadline table ([`Deadlines`]) holding each session's
//! earliest timer (heartbeat, ping timeout, upgrade timeout and checks,
//! close timeout). A timer that chains another (the ping timeout after a
//! ping, the next upgrade check) counts from the instant it was *scheduled*
//! for, not from the `now` it ran at: a runtime that wakes late needs no
//! slack of its own, the heartbeat does not drift.
//!
//! ## Back-pressure
//!
//! Nothing the engine queues grows without a bound set by [`Config`]:
//!
//! * A session's messages wait in its own queue until its transport can
//!   take them: a held long-poll GET, or a WebSocket whose previous batch
//!   was reported written ([`Server::handle_ws_flushed`]). A WebSocket that
//!   is never reported flushed gets no more [`Output::WsSend`]. Past
//!   `max_buffered_packets` / `max_buffered_bytes` the session closes with
//!   [`CloseReason::SendBufferFull`] and `send` returns
//!   [`SendError::BufferFull`]: nothing is dropped silently.
//! * POST bodies are read only when the engine asks, at most
//!   `max_http_buffer_size` (+1) bytes; larger ones get HTTP 413.
//! * The output and event queues hold what the last inputs produced: they
//!   grow only while the runtime feeds inputs without draining them, which
//!   the driving loop above never does.
//!
//! ## Unknown and stale ids
//!
//! Ids are typed: [`Sid`] names a session (never a Socket.IO socket id),
//! [`RequestId`] a request or the WebSocket it became. An input naming a
//! request or WebSocket the engine no longer knows (answered, closed, or
//! never its own) is ignored; so are [`Server::close`], [`Server::allow_request`]
//! and [`Server::fail_request`] on an unknown id. [`Server::send`] on an
//! unknown session returns [`SendError::UnknownSession`] and
//! [`Server::watch`] returns `false`. A request naming an unknown `sid` in its
//! query gets the protocol's answer (HTTP 400, `{"code":1,"message":"Session ID unknown"}`).
//!
//! ## What may panic
//!
//! Nothing reachable from the network. A client that misbehaves gets the
//! protocol's answer (HTTP 400/403/413 with the official JSON body, a
//! closed WebSocket) and its session ends with a [`CloseReason`]; other
//! sessions are untouched. An application hook that panics
//! ([`Config::generate_id`], [`Config::headers`],
//! [`Config::initial_headers`]) is caught before the engine changes
//! anything, and its request is answered with HTTP 500. A panic from this
//! crate would be a broken internal rule: a bug to report.
//!
//! ## Errors
//!
//! * [`SendError`] (from [`Server::send`]): `UnknownSession`, `Closing` (the
//!   application closed the session; what is queued still goes out),
//!   `BufferFull` (the session was just closed for it).
//! * [`ErrorCode`] with its [`ErrorContext`], on [`Event::ConnectionError`]:
//!   why a request was refused before reaching a session (unknown
//!   transport, unknown sid, bad handshake method, bad request, forbidden,
//!   unsupported protocol version), with the official code and message.
//! * [`CloseReason`] on [`Event::Close`]: why a session ended.
//! * [`DecodeError`]: why a packet or payload did not decode (the engine
//!   turns it into a "parse error" close; the codec is public for tools).
//!
//! The enums that will grow with the protocol ([`Event`], [`CloseReason`],
//! [`ErrorCode`], [`ErrorContext`], [`SendError`], [`DecodeError`],
//! [`TransportKind`], [`ContentEncoding`]) are `#[non_exhaustive]`; a match
//! outside this crate keeps a fallback arm. [`Output`] is not: a runtime
//! must carry out every output, and a new one should fail its build.
//!
//! ## Limits and randomness
//!
//! Every limit is a [`Config`] field with the official default. Session
//! ids come from ChaCha20 keyed by [`Config::seed`] (the runtime draws it
//! from the OS; tests fix it) or from [`Config::generate_id`].
//!
//! ## Layout
//!
//! [`Server`] keeps the handle/poll surface and routes; each concern is a
//! file of `src/server/`: `handshake` (the checks of a new request,
//! refusals, the open packet), `polling` (long-poll GETs, POST bodies, the
//! one builder of a long-poll response, compressed as negotiated),
//! `websocket` (messages, flushes, closes, the upgrade from polling),
//! `lifecycle` (timers, heartbeat, queue, flush, close) and `sessions` (the
//! session table: a slot map with an index by id; a [`SessionKey`], a slot
//! index and a generation, reaches a session without hashing its id, for
//! a caller that sends to it many times, [`Server::send_to`]; a key of a
//! closed session misses even once its slot is reused). Beside it:
//! `session` (one session's state and fixed timer table), `deadlines`,
//! `packet` and `payload` (the codecs), `deflate` and `compression`
//! (permessage-deflate and HTTP compression), `http`, `cors`, `cookie`,
//! `config`, `output` (what the engine hands back), `rng`. No module
//! depends on itself through others (checked by a test,
//! `testing::assert_no_module_cycles`, feature `testing`).
//!
//! # The driving loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use engineio_proto::{Config, Event, Message, Method, Output, Request, Server};
//!
//! let mut server = Server::new(Config::default());
//! let mut now = Instant::now();
//!
//! // A client's handshake arrives: hand it in, then drain.
//! let request = Request::new(Method::Get, "/engine.io/?EIO=4&transport=polling");
//! let id = server.handle_request(now, request);
//! while let Some(output) = server.poll_output() {
//!     match output {
//!         Output::Respond { request, response } => {
//!             // Write `response` to the connection of `request`.
//!             assert_eq!(request, id);
//!             assert!(response.body_text().starts_with(r#"0{"sid":""#));
//!         }
//!         Output::ReadBody { .. } => { /* read the POST body, then handle_body */ }
//!         Output::AcceptWebSocket { .. } => { /* complete the upgrade (101) */ }
//!         Output::WsSend { .. } => { /* write, then handle_ws_flushed */ }
//!         Output::WsClose { .. } => { /* close the WebSocket */ }
//!     }
//! }
//! while let Some(event) = server.poll_event() {
//!     if let Event::Open { sid, .. } = event {
//!         // The application may answer at once; the message waits for the
//!         // client's next long-poll.
//!         server.send(&sid, Message::text("welcome")).unwrap();
//!     }
//! }
//!
//! // Sleep until the next deadline, then let the engine act (a ping here).
//! let deadline = server.poll_timeout().unwrap();
//! assert_eq!(deadline, now + Duration::from_secs(25));
//! now = deadline;
//! server.handle_timeout(now);
//! ```
//!
//! The protocol's exact bytes and behaviours are written down in the
//! repository's `docs/protocol.md`; the tests of this crate check each of them with a virtual
//! clock.

mod compression;
mod config;
mod cookie;
mod cors;
mod deadlines;
pub mod deflate;
mod endpoint;
pub mod frames;
mod http;
#[cfg(feature = "testing")]
mod module_graph;
mod output;
mod packet;
pub mod payload;
mod rng;
mod server;
mod session;
mod str;
#[cfg(feature = "testing")]
pub mod testing;

pub use compression::{ContentEncoding, HttpCompression};
pub use config::{Config, HeadersHook, IdGenerator, TransportKind};
pub use cookie::{CookieOptions, SameSite};
pub use cors::{Cors, CorsOrigin};
pub use deadlines::{Deadlines, Expired};
pub use deflate::{Agreement, PerMessageDeflate};
pub use endpoint::Endpoint;
pub use http::{HeaderText, Headers, Method, Request, Response, parse_query};
pub use output::{
    CloseReason, ConnectionError, ErrorCode, ErrorContext, Event, Handshake, Message, Output,
    RequestId, SendError, Sid, Watch,
};
pub use packet::{Data, DecodeError, Frame, Packet, Protocol};
pub use rng::RandomIds;
pub use server::{ClientsCount, MAX_SID_LEN, Server, SessionKey};
pub use str::Str;

/// The hasher of the maps keyed by ids that the server generates itself
/// (session ids, socket ids, request ids): foldhash, several times faster
/// than the standard SipHash on these short keys, with a random seed per
/// map. It is not DoS-resistant, which is safe only because a peer cannot
/// choose the keys that are inserted (it can only look ids up): maps keyed
/// by names a peer or the application picks (rooms, namespaces, event
/// names) keep the standard hasher.
pub type IdHasher = foldhash::fast::RandomState;

/// A map keyed by server-generated ids (see [`IdHasher`]).
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdHasher>;

/// A set of server-generated ids (see [`IdHasher`]).
pub type IdSet<K> = std::collections::HashSet<K, IdHasher>;
