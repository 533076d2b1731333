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
//! * Every input is a `handle_*` call on [`Server`] and carries `now`, which
//!   only moves forward: an HTTP request on the engine's path
//!   ([`Server::handle_request`]), a POST body it asked for
//!   ([`Server::handle_body`]), a WebSocket message, flush or close, a
//!   client dropping a held request, or a deadline passing
//!   ([`Server::handle_timeout`]).
//! * After any input or action, drain [`Server::poll_output`] (HTTP
//!   responses, body reads, WebSocket accepts, sends and closes, each naming
//!   its [`RequestId`]) and [`Server::poll_event`] (session opened, message,
//!   upgrade, close with its [`CloseReason`], refused requests with their
//!   [`ErrorCode`]) until `None`, then sleep until [`Server::poll_timeout`].
//!   Waking early or twice is harmless.
//! * A client that misbehaves gets the protocol's answer (HTTP 400/403/413
//!   with the official JSON body, a closed WebSocket) and its session ends
//!   with a reason; no call returns an error or panics because of it, and
//!   other sessions are untouched.
//! * Every limit is a [`Config`] field with the official default. A client
//!   that does not read is closed at `max_buffered_packets` /
//!   `max_buffered_bytes` with [`CloseReason::SendBufferFull`]: nothing is
//!   dropped silently.
//! * Session ids come from ChaCha20 keyed by [`Config::seed`] (the runtime
//!   draws it from the OS; tests fix it) or from [`Config::generate_id`].
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
pub use http::{HeaderText, Headers, Method, Request, Response};
pub use output::{
    CloseReason, ConnectionError, ErrorCode, ErrorContext, Event, Handshake, Message, Output,
    RequestId, SendError, Sid, Watch,
};
pub use packet::{Data, DecodeError, Frame, Packet, Protocol};
pub use rng::RandomIds;
pub use server::{ClientsCount, MAX_SID_LEN, Server};
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
