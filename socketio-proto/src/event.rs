//! What the server tells the application: [`Event`], drained with
//! [`Server::poll_event`](crate::Server::poll_event).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::cluster::{RequestKey, ServerSideReply, WireSocket};
use crate::types::{
    AckId, BroadcastId, DisconnectReason, Handshake, Nsp, ParentId, Room, SocketId, SocketInfo,
};

/// Something the application should know or decide. Drain with
/// [`Server::poll_event`](crate::Server::poll_event).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A client asks to join a namespace: run the middlewares, then answer
    /// with [`Server::accept`](crate::Server::accept) or
    /// [`Server::reject`](crate::Server::reject).
    Connect {
        /// The socket to be (its id is final).
        socket: SocketId,
        /// The namespace.
        nsp: Nsp,
        /// For a dynamic namespace, the parent it was created from.
        parent: Option<ParentId>,
        /// The socket's handshake, auth included.
        handshake: Arc<Handshake>,
    },
    /// The socket joined its namespace: the CONNECT reply is sent.
    Connection {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Nsp,
        /// Restored by connection state recovery.
        recovered: bool,
    },
    /// An event from a client.
    Event {
        /// From this socket.
        socket: SocketId,
        /// In this namespace.
        nsp: Nsp,
        /// The event: name, arguments, binary attachments, and the ack id
        /// when the client waits for an answer
        /// ([`Server::ack`](crate::Server::ack)).
        event: crate::packet::Event,
    },
    /// A client answered an [`emit_with_ack`](crate::Server::emit_with_ack).
    Ack {
        /// The socket.
        socket: SocketId,
        /// The ack id `emit_with_ack` returned.
        id: AckId,
        /// The answer's arguments.
        data: Vec<Value>,
        /// Its binary attachments (placeholders in `data` point at them).
        attachments: Vec<Bytes>,
    },
    /// No answer came in time, or the socket left first: "operation has
    /// timed out".
    AckTimeout {
        /// The socket.
        socket: SocketId,
        /// The ack id.
        id: AckId,
    },
    /// One recipient of a broadcast answered.
    BroadcastAck {
        /// The broadcast.
        broadcast: BroadcastId,
        /// The socket that answered; `None` for a client of another node.
        socket: Option<SocketId>,
        /// The answer's arguments.
        data: Vec<Value>,
        /// Its binary attachments.
        attachments: Vec<Bytes>,
    },
    /// Every recipient answered, or the timeout passed.
    BroadcastAckDone {
        /// The broadcast.
        broadcast: BroadcastId,
        /// How many were asked.
        expected: usize,
        /// How many answered.
        received: usize,
    },
    /// A socket broke the protocol just before its connection closes (its
    /// `error` event).
    Error {
        /// The socket.
        socket: SocketId,
        /// What was wrong.
        message: String,
    },
    /// A socket is leaving: its rooms as they were.
    Disconnecting {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Nsp,
        /// Why.
        reason: DisconnectReason,
        /// Its rooms just before it left them.
        rooms: Vec<Room>,
    },
    /// A socket joined a room it was not in (only with
    /// [`Server::set_room_events`](crate::Server::set_room_events)).
    RoomJoined {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Nsp,
        /// The room.
        room: Room,
    },
    /// A socket left a room it was in (only with
    /// [`Server::set_room_events`](crate::Server::set_room_events)).
    RoomLeft {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Nsp,
        /// The room.
        room: Room,
    },
    /// A socket has left. Its last event.
    Disconnect {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Nsp,
        /// Why.
        reason: DisconnectReason,
    },
    /// The answer to [`Server::fetch_sockets_cluster`](crate::Server::fetch_sockets_cluster):
    /// this node's sockets and those the other nodes sent in time.
    FetchSocketsDone {
        /// The request.
        request: RequestKey,
        /// This node's sockets.
        local: Vec<SocketInfo>,
        /// The other nodes' sockets.
        remote: Vec<WireSocket>,
        /// Some node did not answer in time.
        timed_out: bool,
    },
    /// Another node's `serverSideEmit`.
    ServerSideEmit {
        /// The namespace.
        nsp: Nsp,
        /// Event name and arguments.
        data: Vec<Value>,
        /// Set when the sender waits for an answer:
        /// [`Server::server_side_reply`](crate::Server::server_side_reply).
        reply: Option<ServerSideReply>,
    },
    /// The answers to a [`Server::server_side_emit`](crate::Server::server_side_emit)
    /// that asked for them.
    ServerSideEmitDone {
        /// The request.
        request: RequestKey,
        /// One answer per node that answered in time.
        responses: Vec<Value>,
        /// Some node did not answer in time.
        timed_out: bool,
    },
    /// A broadcast was queued for these sockets of this node (only with
    /// [`Server::set_outgoing_events`](crate::Server::set_outgoing_events)):
    /// what Node's adapter tells each recipient's `onAnyOutgoing`
    /// listeners. The packet is as sent (with its ack id or recovery
    /// offset); one event per broadcast, whatever the number of
    /// recipients. [`Server::emit`](crate::Server::emit) to one socket is
    /// not reported: its caller knows it.
    Outgoing {
        /// The namespace.
        nsp: Nsp,
        /// The sockets it was queued for.
        sockets: Vec<SocketId>,
        /// The event packet.
        event: Arc<crate::packet::Event>,
    },
    /// An Engine.IO session completed its handshake (Node's
    /// `io.engine.on("connection")`; only with
    /// [`Server::set_session_events`](crate::Server::set_session_events));
    /// its sockets connect afterwards. It comes before any other event of
    /// the session.
    SessionOpen {
        /// The session.
        sid: engineio_proto::Sid,
        /// Its handshake, as its sockets will have it (auth empty).
        handshake: Arc<Handshake>,
    },
    /// An engine event for the application: `connection_error`,
    /// `allowRequest` decisions, upgrades, the per-packet events of watched
    /// sessions, and each session's close (after its sockets'
    /// [`Event::Disconnect`]s).
    Engine(engineio_proto::Event),
}
