//! The public vocabulary of the Socket.IO core: ids, options, events,
//! reasons and errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use engineio_proto::{Headers, Str};
use serde_json::{Map, Value};

/// A Socket.IO socket id: random, 20 URL-safe characters. Cheap to clone.
///
/// A type of its own, not a string: it cannot be passed where the engine
/// session id ([`engineio_proto::Sid`], `socket.conn.id`) or a room name is
/// expected, nor the other way round. [`as_str`](Self::as_str) gives the
/// text, for the wire and for logs.
///
/// ```
/// fn connected(server: &socketio_proto::Server, id: &socketio_proto::SocketId) -> bool {
///     server.is_connected(id)
/// }
/// ```
///
/// The same with an engine session id does not compile:
///
/// ```compile_fail
/// fn connected(server: &socketio_proto::Server, id: &engineio_proto::Sid) -> bool {
///     server.is_connected(id)
/// }
/// ```
///
/// nor with a room name or any string:
///
/// ```compile_fail
/// fn connected(server: &socketio_proto::Server, id: &socketio_proto::Room) -> bool {
///     server.is_connected(id)
/// }
/// ```
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

impl From<&SocketId> for Room {
    /// The socket's own room, named by its id.
    fn from(id: &SocketId) -> Self {
        Room::from(id.as_str().to_owned())
    }
}

/// The id of an acknowledgement this server asked for
/// ([`Server::emit_with_ack`](crate::Server::emit_with_ack)), as its
/// [`Event::Ack`](crate::Event::Ack) or
/// [`Event::AckTimeout`](crate::Event::AckTimeout) carries it. Ids count up
/// per namespace. (The id of an event a client sent and that the server
/// answers with [`Server::ack`](crate::Server::ack) is the client's: the
/// `u64` of [`packet::Event::id`](crate::packet::Event::id).)
///
/// ```compile_fail
/// // A client's ack id is not an ack id of this server.
/// fn asked(event: &socketio_proto::packet::Event) -> socketio_proto::AckId {
///     event.id.unwrap_or_default()
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AckId(pub u64);

impl fmt::Display for AckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
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
#[non_exhaustive]
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

/// Why an emit, an ack or a verdict was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The arguments cannot make the packet (placeholders that do not
    /// match the attachments, a reserved event name).
    #[error("invalid payload: {0}")]
    Payload(#[from] crate::packet::PayloadError),
    /// The engine refused the packet (the session is closing or its queue
    /// was full, in which case it is now closed).
    #[error("engine: {0}")]
    Engine(#[from] engineio_proto::SendError),
}
