//! Sans-IO Socket.IO v5 server core.
//!
//! [`Server`] owns one `engineio_proto` engine and speaks Socket.IO v5 over
//! it: namespaces (static, and dynamic ones created from a parent's
//! [`NamespaceMatcher`]), connect decisions, events and acks, binary
//! attachments, rooms, broadcasts (encoded once, shared by every recipient),
//! the utility operations (`fetch_sockets`, `sockets_join`, `sockets_leave`,
//! `disconnect_sockets`), every disconnect reason, and connection state
//! recovery. It **performs no I/O**: no socket, clock, thread, task, lock or
//! OS randomness; ids come from a generator keyed by the config's seed and
//! the handshake's wall-clock time from [`Config::wall_clock`].
//!
//! The wire rules it implements are written down in the repository's
//! `docs/protocol.md`.
//!
//! Packets go through the [`Parser`] of [`Config::parser`]: [`JsonParser`]
//! (socket.io-parser's text format, the default) or [`MsgpackParser`] (npm
//! `socket.io-msgpack-parser`), or one of your own.
//!
//! # The contract
//!
//! * Inputs are the engine's `handle_*` calls, each with `now` (the same
//!   surface as [`engineio_proto::Endpoint`], which `Server` implements).
//! * After any input or action, drain [`Server::poll_output`] (the engine's
//!   I/O for the runtime) and [`Server::poll_event`] until `None`, then sleep
//!   until [`Server::poll_timeout`].
//! * Decisions that take time are an event now and a call later: a CONNECT
//!   is [`Event::Connect`], answered with [`Server::accept`] or
//!   [`Server::reject`] once the application's middlewares ran; an answer to
//!   [`Server::emit_with_ack`] is [`Event::Ack`] or [`Event::AckTimeout`]; a
//!   broadcast with a timeout gives [`Event::BroadcastAck`]s then
//!   [`Event::BroadcastAckDone`].
//! * A client that breaks the protocol has its connection closed with the
//!   official reason; no call fails or panics because of it.
//!
//! # The driving loop
//!
//! ```
//! use std::time::Instant;
//! use engineio_proto::{Frame, Method, Output, Request, Str};
//! use socketio_proto::{Config, Event, Server, packet};
//!
//! let mut server = Server::new(Config::default());
//! let now = Instant::now();
//!
//! // A WebSocket client connects to the engine...
//! let mut request = Request::new(Method::Get, "/socket.io/?EIO=4&transport=websocket");
//! request.websocket = true;
//! let ws = server.handle_request(now, request);
//! // ...and asks to join the main namespace.
//! server.handle_ws_message(now, ws, Frame::Text(Str::from("40")));
//!
//! while let Some(event) = server.poll_event() {
//!     match event {
//!         // Middlewares would run here; this application lets everyone in.
//!         Event::Connect { socket, .. } => server.accept(now, &socket).unwrap(),
//!         Event::Connection { socket, .. } => {
//!             let hello = packet::Event::new("hello", vec!["world".into()]).unwrap();
//!             server.emit(now, &socket, hello).unwrap();
//!         }
//!         _ => {}
//!     }
//! }
//!
//! // The runtime writes what the engine hands out, and says when it is
//! // written: nothing more goes to a WebSocket until then.
//! let mut sent = Vec::new();
//! loop {
//!     let mut wrote = false;
//!     while let Some(output) = server.poll_output() {
//!         if let Output::WsSend { frame: Frame::Text(text), .. } = output {
//!             sent.push(text.to_string());
//!             wrote = true;
//!         }
//!     }
//!     if !wrote {
//!         break;
//!     }
//!     server.handle_ws_flushed(now, ws);
//! }
//! assert!(sent[0].starts_with(r#"0{"sid":"#)); // Engine.IO open
//! assert!(sent[1].starts_with(r#"40{"sid":"#)); // CONNECT reply
//! assert_eq!(sent[2], r#"42["hello","world"]"#);
//! ```

pub mod binary;
pub mod cluster;
mod config;
pub mod msgpack;
mod namespace;
pub mod packet;
pub mod parser;
pub mod serve_client;
mod server;
mod types;

pub use cluster::{
    ClusterConfig, ClusterEnvelope, ClusterMessage, Membership, RequestKey, RestoreRequest,
    RestoredSession, SessionRecord,
};
pub use config::{Config, NamespaceMatcher, NamespacePredicate, RecoveryConfig, WallClock};
pub use engineio_proto::Str;
pub use msgpack::{MsgpackLimits, MsgpackParser};
pub use packet::{Decoder, Limits, Packet, Payload};
pub use parser::{JsonParser, PacketDecoder, ParseError, Parser, Sender};
pub use server::{RoomChange, Server};
pub use types::{
    Broadcast, BroadcastId, BroadcastOptions, DisconnectReason, EmitError, Event, Handshake,
    ParentId, Room, SocketId, SocketInfo, Target,
};
