//! The public vocabulary of the Socket.IO core: ids, options, events,
//! reasons and errors.

use std::borrow::Cow;
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

/// Lets a table of sockets by id be searched with a room's name (a
/// socket's own room is named by its id).
impl std::borrow::Borrow<str> for SocketId {
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

impl From<&SocketId> for Room {
    /// The socket's own room, named by its id: the name shares the id's
    /// text (one small block that holds the id), where a copy of the text
    /// would take one block and its first clone a second.
    fn from(id: &SocketId) -> Self {
        Room(Str::from_utf8_lossy(bytes::Bytes::from_owner(IdText(
            id.0.clone(),
        ))))
    }
}

/// A socket id's text, as the owner of the bytes of its own room's name.
struct IdText(Arc<str>);

impl AsRef<[u8]> for IdText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The id of an acknowledgement this server asked for
/// ([`Server::emit_with_ack`](crate::Server::emit_with_ack)), as its
/// [`Event::Ack`](crate::Event::Ack) or
/// [`Event::AckTimeout`](crate::Event::AckTimeout) carries it. Ids count up
/// per namespace. The id of an event a client sent and that the server
/// answers with [`Server::ack`](crate::Server::ack) is the client's, a
/// [`ClientAckId`]: the two count apart and cannot be mixed up.
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

/// The id under which a client's event asked for an answer
/// ([`packet::Event::ack_id`](crate::packet::Event::ack_id)), which
/// [`Server::ack`](crate::Server::ack) answers. The client counts these
/// ids itself: one of this server's own [`AckId`]s is not one of them.
///
/// ```
/// # use std::time::Instant;
/// fn answer(server: &mut socketio_proto::Server, socket: &socketio_proto::SocketId,
///           event: &socketio_proto::packet::Event) {
///     if let Some(id) = event.ack_id() {
///         let _ = server.ack(Instant::now(), socket, id, vec![], vec![]);
///     }
/// }
/// ```
///
/// Answering with the id of an ack this server asked for does not compile:
///
/// ```compile_fail
/// # use std::time::Instant;
/// fn answer(server: &mut socketio_proto::Server, socket: &socketio_proto::SocketId,
///           asked: socketio_proto::AckId) {
///     let _ = server.ack(Instant::now(), socket, asked, vec![], vec![]);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientAckId(pub u64);

impl fmt::Display for ClientAckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Names one session lookup of stream recovery: the key of a
/// [`RestoreRequest`](crate::RestoreRequest), given back with the answer to
/// [`Server::handle_restore`](crate::Server::handle_restore).
///
/// ```compile_fail
/// // An ack id is not a restore key.
/// fn answer(server: &mut socketio_proto::Server, id: socketio_proto::AckId) {
///     server.handle_restore(std::time::Instant::now(), id, None);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RestoreKey(pub u64);

/// Implements the text conversions of a name type over [`Str`].
macro_rules! name_type {
    ($name:ident) => {
        impl $name {
            /// Wraps a name (cheap from a `&'static str`, a `String` or a
            /// [`Str`]).
            pub fn new(name: impl Into<Str>) -> Self {
                Self(name.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The name as a shared [`Str`] (no copy).
            pub fn as_text(&self) -> &Str {
                &self.0
            }
        }

        impl From<&'static str> for $name {
            fn from(name: &'static str) -> Self {
                Self(Str::from(name))
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(Str::from(name))
            }
        }

        impl From<&String> for $name {
            fn from(name: &String) -> Self {
                Self(Str::from(name.clone()))
            }
        }

        impl From<Str> for $name {
            fn from(name: Str) -> Self {
                Self(name)
            }
        }

        impl From<$name> for Str {
            fn from(name: $name) -> Self {
                name.0
            }
        }

        impl From<&$name> for $name {
            fn from(name: &$name) -> Self {
                name.clone()
            }
        }

        // Hashes as the text it holds: maps keyed by it are looked up by
        // `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.0.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0.as_str() == *other
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.0.as_str(), f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }
    };
}

/// A room name. Every socket is in the room named by its own id. Cheap to
/// clone; a type of its own, so that a room cannot be passed where a
/// namespace ([`Nsp`]) or a socket id is expected.
///
/// ```compile_fail
/// // A room is not a namespace.
/// fn sockets(server: &socketio_proto::Server, room: &socketio_proto::Room) -> usize {
///     server.sockets_of(room).len()
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Room(Str);

name_type!(Room);

/// A namespace name (`/`, `/chat`...). Cheap to clone; a type of its own, so
/// that a namespace cannot be passed where a [`Room`] is expected.
///
/// ```
/// fn sockets(server: &socketio_proto::Server, nsp: &socketio_proto::Nsp) -> usize {
///     server.sockets_of(nsp).len()
/// }
/// ```
///
/// ```compile_fail
/// // A namespace is not a room.
/// fn leave(server: &mut socketio_proto::Server, id: &socketio_proto::SocketId,
///          nsp: &socketio_proto::Nsp) {
///     server.leave(id, nsp);
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nsp(Str);

name_type!(Nsp);

impl Nsp {
    /// The main namespace, `/`.
    pub const MAIN: Nsp = Nsp(Str::from_static("/"));
}

/// Names a parent namespace: dynamic namespaces created from it share its
/// middlewares and handlers in the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParentId(pub u32);

/// Names one broadcast that waits for acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BroadcastId(pub u64);

/// The handshake of a socket (`socket.handshake`). Two handshakes are
/// equal when they read the same: a `time` or `query` made when asked
/// equals the same text or pairs sent by another node.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Headers of the handshake request.
    pub headers: Headers,
    /// When the connection opened, as another node sent it
    /// (`Date.toString()` there). `None` for this node's handshakes and
    /// when the other node sent no text: read [`time`](Self::time), which
    /// makes the text from `issued` then (an idle connection does not
    /// keep it).
    pub sent_time: Option<String>,
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
    /// Its query parameters as another node sent them. `None` for this
    /// node's handshakes and when the other node sent no query object:
    /// read [`query`](Self::query), which parses them from `url` then (an
    /// idle connection keeps its request target once, not twice).
    pub sent_query: Option<Vec<(String, String)>>,
    /// The auth payload of the CONNECT packet.
    pub auth: Map<String, Value>,
}

impl PartialEq for Handshake {
    fn eq(&self, other: &Self) -> bool {
        self.headers == other.headers
            && self.time() == other.time()
            && self.address == other.address
            && self.xdomain == other.xdomain
            && self.secure == other.secure
            && self.peer_certificate == other.peer_certificate
            && self.issued == other.issued
            && self.url == other.url
            && self.query() == other.query()
            && self.auth == other.auth
    }
}

impl Handshake {
    /// When the connection opened, as JavaScript's `Date.toString()`:
    /// the text another node sent, or `issued` written as a UTC process
    /// writes it, `Sun Nov 22 2026 06:15:05 GMT+0000 (Coordinated
    /// Universal Time)`.
    pub fn time(&self) -> Cow<'_, str> {
        match &self.sent_time {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(crate::jsdate::js_date_string(self.issued)),
        }
    }

    /// Its query parameters, decoded, in order (repeated keys repeat): as
    /// another node sent them, or parsed from `url` as URLSearchParams
    /// does.
    pub fn query(&self) -> Cow<'_, [(String, String)]> {
        match &self.sent_query {
            Some(pairs) => Cow::Borrowed(pairs),
            None => {
                let query = self.url.split_once('?').map_or("", |(_, q)| q);
                Cow::Owned(engineio_proto::parse_query(query))
            }
        }
    }
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
    pub nsp: Nsp,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket's own room is named by its id's text itself, shared with
    /// the id and with every clone of the room, and equals a room made from
    /// a copy of that text.
    #[test]
    fn a_socket_s_own_room_shares_its_id_text() {
        let id = SocketId::new("Uv3i4oGrW1Gn7fDqAAAB");
        let room = Room::from(&id);
        assert_eq!(room.as_str(), id.as_str());
        assert_eq!(room.as_str().as_ptr(), id.as_str().as_ptr());
        let copy = room.clone();
        assert_eq!(copy.as_str().as_ptr(), id.as_str().as_ptr());
        assert_eq!(room, Room::from(String::from("Uv3i4oGrW1Gn7fDqAAAB")));
        drop(id);
        assert_eq!(copy.as_str(), "Uv3i4oGrW1Gn7fDqAAAB");
    }
}
