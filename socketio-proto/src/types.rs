//! The public vocabulary of the Socket.IO core: ids, options, events,
//! reasons and errors.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::{Headers, Str};
use serde_json::{Map, Value};

/// A socket id: random, 20 URL-safe characters, distinct from the engine
/// session id. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(Arc<str>);

impl SocketId {
    /// Wraps an id.
    pub fn new(id: &str) -> Self {
        Self(Arc::from(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SocketId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SocketId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room name. Every socket is in the room named by its own id.
pub type Room = Str;

/// Names a parent namespace: dynamic namespaces created from it share its
/// middlewares and handlers in the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParentId(pub u32);

/// Names one broadcast that waits for acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BroadcastId(pub u64);

/// The handshake of a socket (`socket.handshake`).
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// Headers of the handshake request.
    pub headers: Headers,
    /// When the connection opened, as JavaScript's `Date.toString()` in UTC.
    pub time: String,
    /// The client's address.
    pub address: String,
    /// Whether the request had an `Origin` header (cross-domain).
    pub xdomain: bool,
    /// Whether the connection was TLS.
    pub secure: bool,
    /// The client's verified TLS certificate (DER), if it presented one
    /// (`socket.conn.peerCertificate` in the Node docs). Not sent to other
    /// nodes: a socket fetched from another node has none.
    pub peer_certificate: Option<bytes::Bytes>,
    /// When the connection opened, in milliseconds since the Unix epoch.
    pub issued: u64,
    /// The handshake request target.
    pub url: String,
    /// Its query parameters.
    pub query: Vec<(String, String)>,
    /// The auth payload of the CONNECT packet.
    pub auth: Map<String, Value>,
}

/// Which sockets an operation reaches (`to`/`in`, `except`, `local`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    /// Sockets in any of these rooms; all sockets of the namespace if empty.
    pub rooms: Vec<Room>,
    /// Minus the sockets in any of these rooms.
    pub except: Vec<Room>,
    /// This node only (no effect without a cluster).
    pub local: bool,
}

impl Target {
    /// Every socket of the namespace.
    pub fn all() -> Self {
        Self::default()
    }

    /// The sockets in `room`.
    pub fn room(room: impl Into<Room>) -> Self {
        Self {
            rooms: vec![room.into()],
            ..Self::default()
        }
    }

    /// Also the sockets in `room`.
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.rooms.push(room.into());
        self
    }

    /// Not the sockets in `room`.
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.except.push(room.into());
        self
    }
}

/// How a broadcast is sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastOptions {
    /// Who receives it.
    pub target: Target,
    /// Dropped for sockets whose transport cannot take it right now.
    pub volatile: bool,
    /// The official `compress` flag: `Some(false)` sends the packet
    /// uncompressed (no permessage-deflate for it, and a long-poll payload
    /// made only of such packets is not compressed); `None` (the default)
    /// and `Some(true)` let it be compressed. Carried as set to the other
    /// nodes of a cluster.
    pub compress: Option<bool>,
    /// Wait this long for every recipient's acknowledgement.
    pub timeout: Option<Duration>,
}

/// What a broadcast reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast {
    /// How many sockets it was handed to.
    pub recipients: usize,
    /// With a timeout: the id its acknowledgement events carry.
    pub ack: Option<BroadcastId>,
}

/// A snapshot of a socket (`fetchSockets`).
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// Its id.
    pub id: SocketId,
    /// Its namespace.
    pub nsp: Str,
    /// Its handshake.
    pub handshake: Arc<Handshake>,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its application data.
    pub data: Value,
}

/// Why a socket left its namespace; [`DisconnectReason::as_str`] gives the
/// official text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The transport failed.
    TransportError,
    /// The client closed the connection.
    TransportClose,
    /// The connection was closed by the server (also after a packet that
    /// does not decode).
    ForcedClose,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent bytes that are not Engine.IO packets.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The server closed the connection because of the client's behaviour
    /// (a packet for a namespace it did not join, connect timeout...).
    ForcedServerClose,
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The server made the socket leave the namespace.
    ServerNamespaceDisconnect,
    /// The client did not read and its queue crossed the limit.
    SendBufferFull,
}

impl DisconnectReason {
    /// The reason as the official server names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportError => "transport error",
            Self::TransportClose => "transport close",
            Self::ForcedClose => "forced close",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ServerShuttingDown => "server shutting down",
            Self::ForcedServerClose => "forced server close",
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::SendBufferFull => "send buffer full",
        }
    }

    /// Whether connection state recovery keeps the session (the official
    /// server's list).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::TransportError
                | Self::TransportClose
                | Self::ForcedClose
                | Self::PingTimeout
                | Self::ServerShuttingDown
                | Self::ForcedServerClose
        )
    }

    pub(crate) fn from_engine(reason: engineio_proto::CloseReason) -> Self {
        use engineio_proto::CloseReason as C;
        match reason {
            C::TransportClose => Self::TransportClose,
            C::TransportError => Self::TransportError,
            C::PingTimeout => Self::PingTimeout,
            C::ParseError => Self::ParseError,
            C::ForcedClose => Self::ForcedClose,
            C::ServerShuttingDown => Self::ServerShuttingDown,
            C::SendBufferFull => Self::SendBufferFull,
            // A reason a later engine adds: the transport ended.
            _ => Self::TransportError,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the application should know or decide. Drain with
/// [`Server::poll_event`](crate::Server::poll_event).
#[derive(Debug, Clone)]
pub enum Event {
    /// A client asks to join a namespace: run the middlewares, then answer
    /// with [`Server::accept`](crate::Server::accept) or
    /// [`Server::reject`](crate::Server::reject).
    Connect {
        /// The socket to be (its id is final).
        socket: SocketId,
        /// The namespace.
        nsp: Str,
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
        nsp: Str,
        /// Restored by connection state recovery.
        recovered: bool,
    },
    /// An event from a client.
    Event {
        /// From this socket.
        socket: SocketId,
        /// In this namespace.
        nsp: Str,
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
        id: u64,
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
        id: u64,
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
        nsp: Str,
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
        nsp: Str,
        /// The room.
        room: Room,
    },
    /// A socket left a room it was in (only with
    /// [`Server::set_room_events`](crate::Server::set_room_events)).
    RoomLeft {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Str,
        /// The room.
        room: Room,
    },
    /// A socket has left. Its last event.
    Disconnect {
        /// The socket.
        socket: SocketId,
        /// Its namespace.
        nsp: Str,
        /// Why.
        reason: DisconnectReason,
    },
    /// The answer to [`Server::fetch_sockets_cluster`](crate::Server::fetch_sockets_cluster):
    /// this node's sockets and those the other nodes sent in time.
    FetchSocketsDone {
        /// The request.
        request: crate::cluster::RequestKey,
        /// This node's sockets.
        local: Vec<SocketInfo>,
        /// The other nodes' sockets.
        remote: Vec<crate::cluster::WireSocket>,
        /// Some node did not answer in time.
        timed_out: bool,
    },
    /// Another node's `serverSideEmit`.
    ServerSideEmit {
        /// The namespace.
        nsp: Str,
        /// Event name and arguments.
        data: Vec<Value>,
        /// Set when the sender waits for an answer:
        /// [`Server::server_side_reply`](crate::Server::server_side_reply).
        reply: Option<crate::cluster::ServerSideReply>,
    },
    /// The answers to a [`Server::server_side_emit`](crate::Server::server_side_emit)
    /// that asked for them.
    ServerSideEmitDone {
        /// The request.
        request: crate::cluster::RequestKey,
        /// One answer per node that answered in time.
        responses: Vec<Value>,
        /// Some node did not answer in time.
        timed_out: bool,
    },
    /// An engine event for the application: `connection_error`,
    /// `allowRequest` decisions, upgrades, the per-packet events of watched
    /// sessions, and each session's close (after its sockets'
    /// [`Event::Disconnect`]s).
    Engine(engineio_proto::Event),
}

/// Why an emit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// No connected socket has this id.
    #[error("no such socket")]
    UnknownSocket,
    /// The namespace does not exist.
    #[error("no such namespace")]
    UnknownNamespace,
    /// The socket already waits for `max_outstanding_acks` answers.
    #[error("too many acknowledgements outstanding")]
    TooManyAcks,
    /// The engine refused the packet (the session is closing or its queue
    /// was full, in which case it is now closed).
    #[error("engine: {0}")]
    Engine(#[from] engineio_proto::SendError),
}
