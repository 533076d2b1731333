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
//! `Server` is a state machine driven by its caller (quinn-proto's shape):
//! inputs go in with the time they happen, outputs are drained, and the
//! caller sleeps until the next deadline. Everything it does happens inside
//! a call, on the caller's thread.
//!
//! **Inputs**, each with `now`: an [`Instant`](std::time::Instant) of the
//! caller's monotonic clock (or a virtual one in tests), never earlier than
//! the `now` of a previous call:
//!
//! * the engine's: [`Server::handle_request`], [`Server::handle_body`],
//!   [`Server::handle_request_closed`], [`Server::handle_ws_message`],
//!   [`Server::handle_ws_flushed`], [`Server::handle_ws_closed`],
//!   [`Server::allow_request`] (the same surface as
//!   [`engineio_proto::Endpoint`], which `Server` implements);
//! * [`Server::handle_timeout`]: runs every timer due at `now`. Calling it
//!   early, late or twice is harmless: a timer fires once, and a chained
//!   one (the cluster heartbeat) is anchored on the instant it was
//!   scheduled for, not on a late `now`, so the runtime needs no slack;
//! * in a cluster: [`Server::handle_cluster`] (a message another node
//!   published) and [`Server::handle_cluster_count`]; with stream recovery
//!   ([`ClusterConfig::stream_recovery`]), [`Server::handle_cluster_broadcast`]
//!   (a broadcast read back from the transport's store, with its offset)
//!   and [`Server::handle_restore`] (the answer to a session lookup).
//!
//! **Actions** are the application's: [`Server::accept`] / [`Server::reject`]
//! (the verdict on an [`Event::Connect`]), [`Server::emit`],
//! [`Server::emit_with_ack`], [`Server::ack`], [`Server::broadcast`],
//! [`Server::join`], [`Server::leave`], [`Server::disconnect`], the
//! `sockets_*` and cluster operations, [`Server::shutdown`].
//!
//! **Outputs**, to drain after every input or action, each until `None`:
//!
//! 1. [`Server::poll_output`]: the engine's I/O for the runtime (HTTP
//!    responses, WebSocket frames and closes), in the order to perform it;
//! 2. [`Server::poll_event`]: what the application must know or decide,
//!    in the order it happened. Acting on an event (an accept, an emit) may
//!    queue more output: go back to 1 until both are empty;
//! 3. with a cluster, [`Server::poll_cluster`] (messages to publish),
//!    once asked for with [`Server::track_rooms`], [`Server::poll_room_change`],
//!    and with stream recovery [`Server::poll_session`] (sessions to keep)
//!    and [`Server::poll_restore`] (sessions to look up);
//! 4. then sleep until [`Server::poll_timeout`] (the earliest deadline of
//!    the engine and of this layer) or the next input, whichever is first.
//!
//! **Back-pressure.** Nothing is written until the runtime says a WebSocket
//! write finished ([`Server::handle_ws_flushed`]) or a long-poll request
//! comes; meanwhile packets queue per session, up to the engine's limit,
//! past which the session is closed with "send buffer full"
//! ([`DisconnectReason::SendBufferFull`]). A volatile broadcast skips a
//! session that cannot take it now. Events and cluster messages queue until
//! drained: the core drops none, so a caller must drain them. What a peer
//! can make the core keep is bounded by the config: attachments per packet
//! and their size, outstanding acks per socket
//! ([`Config::max_outstanding_acks`]), the replay buffer
//! ([`RecoveryConfig::max_stored_packets`], `max_disconnection_duration`).
//!
//! **Unknown or stale ids.** Ids and names are typed: a [`SocketId`] is not
//! an engine session id ([`engineio_proto::Sid`]) nor a [`Room`], a [`Room`]
//! is not a namespace ([`Nsp`]), an [`AckId`] (this server's) is not a
//! [`ClientAckId`] (what [`Server::ack`] answers), and a [`RestoreKey`] is
//! none of them. An action on a socket that is unknown, gone or not
//! connected is refused with [`EmitError::UnknownSocket`] when it returns a
//! result ([`Server::accept`], [`Server::emit`], [`Server::emit_with_ack`],
//! [`Server::ack`]) and does nothing otherwise ([`Server::reject`],
//! [`Server::join`], [`Server::leave`], [`Server::set_data`],
//! [`Server::disconnect`]); getters answer `None`, `false` or empty. A
//! broadcast to a namespace that does not exist is
//! [`EmitError::UnknownNamespace`].
//!
//! **Handles.** Ids are the public names and the wire data; inside, each
//! socket also has a small key (a slot index and a generation, not public)
//! and keeps its engine session's [`engineio_proto::SessionKey`]. The room
//! index holds keys, so a broadcast visits its recipients, reaches each
//! socket and its engine session by index ([`engineio_proto::Server::send_to`])
//! and hashes no id per recipient; a broadcast with acks notes its
//! recipients once, after the fan-out. One lookup by id is made per call
//! that names a socket. A key outlives nothing: once its socket (or
//! session) is gone the key misses, even when its slot holds a newer one,
//! so a stale key can only fail as an unknown id would. The cluster
//! messages ([`cluster`]) keep ids as strings: they are wire data. From peers, an ACK with an unknown or
//! repeated id, an answer to a finished broadcast and a cluster message
//! for an unknown request are ignored; a timer that fires for something
//! already gone does nothing.
//!
//! **Errors.** Each fallible action returns [`EmitError`], which names the
//! cause: [`UnknownSocket`](EmitError::UnknownSocket),
//! [`UnknownNamespace`](EmitError::UnknownNamespace),
//! [`TooManyAcks`](EmitError::TooManyAcks), [`Payload`](EmitError::Payload)
//! (the arguments cannot make the packet), [`Engine`](EmitError::Engine)
//! (the session refused it: it is closing, or its queue was full and it is
//! now closed). Building packets fails with [`packet::PayloadError`] or
//! [`packet::EncodeError`]; decoding with [`packet::DecodeError`],
//! [`msgpack::MsgpackError`] or [`ParseError`].
//!
//! **Panics.** None reachable from the network or from the arguments of a
//! call: a client that breaks the protocol has its connection closed with
//! the official reason ([`Event::Error`], then the close), a peer node's
//! message that makes no sense is ignored, and a [`NamespaceMatcher`]
//! predicate that panics matches nothing. A panic would mean a broken
//! internal rule, a bug.
//!
//! # Layout
//!
//! | module | what it holds |
//! | --- | --- |
//! | `server` | [`Server`]: the handle/poll surface, routing to one file per concern: `connects` (namespaces, CONNECT, verdicts, connect timeouts), `acks` (ids, timeouts, broadcast-ack gathering), `sockets` (the socket table, by id and by key), `rooms` (the room index by socket key, joins, room events), `broadcast` (encode once, fan out by key), `recovery` (offsets, replay buffer, kept sessions), `cluster` (requests, responses, remote sockets, heartbeats), `lifecycle` (disconnects, reasons, close, shutdown), `stream_recovery` (recovery kept by the cluster transport); all timers in one [`engineio_proto::Deadlines`] table |
//! | [`packet`] | the packet model and its text codec (`packet/decode.rs`, `packet/json.rs`) |
//! | [`binary`] | binary attachments and their placeholders |
//! | [`msgpack`] | the msgpack codec and parser (`msgpack/decode.rs`) |
//! | [`parser`] | the [`Parser`] interface and the default JSON parser |
//! | [`cluster`] | the messages between nodes, as typed values |
//! | `event`, `types`, `config`, `error` | the public vocabulary: [`Event`], ids, options, reasons, [`Config`], the codec errors |
//! | [`serve_client`] | the client bundle files `serveClient` serves |
//!
//! Modules depend on each other in one direction only (`error` at the
//! bottom, `server` at the top); a test reads the sources and fails on a
//! cycle.
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
mod error;
mod event;
mod jsdate;
pub mod msgpack;
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
pub use event::Event;
pub use msgpack::{MsgpackLimits, MsgpackParser};
pub use packet::{Decoder, Limits, Packet, Payload};
pub use parser::{JsonParser, PacketDecoder, ParseError, Parser, Sender};
pub use server::{RoomChange, Server};
pub use types::{
    AckId, Broadcast, BroadcastId, BroadcastOptions, ClientAckId, DisconnectReason, EmitError,
    Handshake, Nsp, ParentId, RestoreKey, Room, SocketId, SocketInfo, Target,
};
