//! What the engine hands back: I/O for the runtime ([`Output`]) and
//! happenings for the application ([`Event`]).

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::config::TransportKind;
use crate::http::{Headers, Request, Response};
use crate::packet::{Data, Frame, Packet, Protocol};

/// An Engine.IO session id: 20 URL-safe characters unless the application
/// generates its own. Cheap to clone.
///
/// A type of its own, not a string: the engine's API takes `&Sid` where it
/// means a session, so a Socket.IO socket id (a different id of the same
/// connection) or any other text cannot be passed by mistake. The text is
/// at hand with [`as_str`](Sid::as_str) and `Display`; [`Sid::new`] wraps
/// text that names a session (a query's `sid`, a test's).
///
/// ```compile_fail
/// # use engineio_proto::{Config, Server};
/// let server = Server::new(Config::default());
/// server.contains("a socket id, not a session id");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(Arc<str>);

impl Sid {
    /// Wraps a session id.
    pub fn new(s: &str) -> Self {
        Self(Arc::from(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Sid {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names one HTTP request handed to the engine. When the engine accepts a
/// WebSocket upgrade, the same id names that WebSocket from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Something the runtime must do. Drain with
/// [`Server::poll_output`](crate::Server::poll_output) after every input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Output {
    /// Write this response to the request and end it.
    Respond {
        /// The request answered.
        request: RequestId,
        /// The response.
        response: Response,
    },
    /// Read the body of this POST (at most `limit + 1` bytes are needed to
    /// tell that it is too large) and hand it to
    /// [`Server::handle_body`](crate::Server::handle_body).
    ReadBody {
        /// The request whose body is wanted.
        request: RequestId,
        /// `max_http_buffer_size`.
        limit: usize,
    },
    /// Complete the WebSocket upgrade of this request (`101`), with these
    /// extra response headers. The id names the WebSocket from now on.
    AcceptWebSocket {
        /// The upgrade request, and from now on the WebSocket.
        request: RequestId,
        /// Headers to add to the `101` response.
        headers: Headers,
    },
    /// Send this message on the WebSocket. Once every message taken so far
    /// for it is written, call
    /// [`Server::handle_ws_flushed`](crate::Server::handle_ws_flushed): the
    /// engine sends nothing more to a WebSocket until then.
    WsSend {
        /// The WebSocket.
        ws: RequestId,
        /// The message: text or binary.
        frame: Frame,
        /// Whether it may be sent compressed (permessage-deflate, when
        /// negotiated, from the threshold up): false for messages queued
        /// with `compress(false)`.
        compress: bool,
    },
    /// Close the WebSocket (after writing what was already handed out).
    WsClose {
        /// The WebSocket.
        ws: RequestId,
        /// The WebSocket close code: 1000, or 1009 for a message over
        /// `max_http_buffer_size`.
        code: u16,
    },
}

/// Something the application should know. Drain with
/// [`Server::poll_event`](crate::Server::poll_event).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A session opened.
    Open {
        /// The new session.
        sid: Sid,
        /// The handshake request and what the engine made of it.
        handshake: Box<Handshake>,
    },
    /// A message arrived.
    Message {
        /// From this session.
        sid: Sid,
        /// Text or binary.
        data: Data,
    },
    /// The client sent the upgrade probe on a new transport.
    Upgrading {
        /// The session.
        sid: Sid,
    },
    /// The session now uses WebSocket.
    Upgrade {
        /// The session.
        sid: Sid,
    },
    /// The session ended. It is the last event of a session.
    Close {
        /// The session.
        sid: Sid,
        /// Why.
        reason: CloseReason,
        /// A detail for logs (`"overlap from client"`), when there is one.
        description: Option<&'static str>,
    },
    /// A request was refused (`connection_error`).
    ConnectionError(Box<ConnectionError>),
    /// A handshake waits for the application's verdict (`allowRequest`):
    /// answer with [`Server::allow_request`](crate::Server::allow_request).
    AllowRequest {
        /// The handshake request waiting.
        request: RequestId,
        /// A copy of it.
        head: Box<Request>,
    },
    /// A packet arrived from a session watched with [`Watch::packet`]
    /// (the official `packet` event): every packet but the close packet,
    /// whose [`Event::Close`] follows instead.
    Packet {
        /// The session.
        sid: Sid,
        /// The packet as decoded.
        packet: Packet,
    },
    /// A packet was queued for a session watched with
    /// [`Watch::packet_create`] (`packetCreate`): messages, pings, and the
    /// pongs of v3 sessions.
    PacketCreate {
        /// The session.
        sid: Sid,
        /// The packet.
        packet: Packet,
    },
    /// The queue of a session watched with [`Watch::drain`] was handed to
    /// its transport (`drain`).
    Drain {
        /// The session.
        sid: Sid,
    },
}

/// Which per-packet events a session reports (the official
/// `socket.conn.on("packet" | "packetCreate" | "drain")`). Off by default:
/// a session nobody watches costs nothing extra. Set with
/// [`Server::watch`](crate::Server::watch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watch {
    /// [`Event::Packet`] for every packet received.
    pub packet: bool,
    /// [`Event::PacketCreate`] for every packet queued.
    pub packet_create: bool,
    /// [`Event::Drain`] each time the queue goes to the transport.
    pub drain: bool,
}

/// The handshake of a session.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The handshake request (method, uri, headers, address, secure).
    /// Its query parameters are [`query`](Self::query).
    pub request: Request,
    /// The protocol revision the client speaks.
    pub protocol: Protocol,
    /// The transport it opened with.
    pub transport: TransportKind,
    /// When the handshake was handled.
    pub time: Instant,
}

impl Handshake {
    /// The handshake's query parameters, decoded, in order (repeated keys
    /// repeat): parsed from `request.uri` on each call, so that a session
    /// keeps its request target once rather than the target and its pairs.
    pub fn query(&self) -> Vec<(String, String)> {
        self.request.query_pairs()
    }
}

/// Why a session ended. [`CloseReason::as_str`] gives the official text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed: a `1` packet, or its WebSocket closed.
    TransportClose,
    /// The transport failed or the client broke the transport rules
    /// (concurrent polls, a dropped poll, a v4 client ping...).
    TransportError,
    /// No pong within `ping_timeout` (v4) or no ping in time (v3).
    PingTimeout,
    /// The client sent bytes that are not packets.
    ParseError,
    /// The application closed the session.
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client did not read fast enough: its queue crossed
    /// `max_buffered_packets` or `max_buffered_bytes`.
    SendBufferFull,
}

impl CloseReason {
    /// The reason as the application sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ForcedClose => "forced close",
            Self::ServerShuttingDown => "server shutting down",
            Self::SendBufferFull => "send buffer full",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Engine.IO error codes of refused requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0: "Transport unknown".
    UnknownTransport = 0,
    /// 1: "Session ID unknown".
    UnknownSid = 1,
    /// 2: "Bad handshake method".
    BadHandshakeMethod = 2,
    /// 3: "Bad request".
    BadRequest = 3,
    /// 4: "Forbidden" (HTTP 403).
    Forbidden = 4,
    /// 5: "Unsupported protocol version".
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    /// The official message.
    pub fn message(self) -> &'static str {
        match self {
            Self::UnknownTransport => "Transport unknown",
            Self::UnknownSid => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden => "Forbidden",
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status of the error response on polling.
    pub fn status(self) -> u16 {
        if self == Self::Forbidden { 403 } else { 400 }
    }
}

/// What made a request fail, beyond its code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorContext {
    /// The `transport` parameter, missing or not enabled.
    UnknownTransport {
        /// The value given.
        transport: Option<String>,
    },
    /// The `Origin` header has characters not allowed in a header.
    InvalidOrigin {
        /// The header value.
        origin: String,
    },
    /// No session with this id.
    UnknownSid {
        /// The id given.
        sid: String,
    },
    /// The request's transport is not the session's.
    TransportMismatch {
        /// The transport asked for.
        transport: String,
        /// The session's transport.
        previous: &'static str,
    },
    /// A handshake that is not a GET.
    BadHandshakeMethod {
        /// The method used.
        method: String,
    },
    /// A WebSocket handshake that is not a WebSocket upgrade, or an upgrade
    /// that cannot be served.
    TransportHandshakeError,
    /// `allowRequest` refused the handshake.
    Forbidden {
        /// The application's message.
        message: String,
    },
    /// `EIO` missing or not a version served.
    UnsupportedProtocolVersion {
        /// The `EIO` value given.
        protocol: Option<String>,
    },
    /// The id generator gave an invalid id (see
    /// [`Config::generate_id`](crate::Config::generate_id)) or one already taken.
    IdGenerationError,
}

/// A refused request (`connection_error` event).
#[derive(Debug, Clone)]
pub struct ConnectionError {
    /// The request.
    pub request: Request,
    /// The code.
    pub code: ErrorCode,
    /// The message sent to the client.
    pub message: String,
    /// Details.
    pub context: ErrorContext,
}

/// A message the application queues for a session: encoded once, so the
/// same `Message` can be cloned to many sessions without copying its data.
///
/// It may be compressed (the default; see [`Message::compress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message(pub(crate) Frame, pub(crate) bool);

impl Message {
    /// A text message.
    pub fn text(text: &str) -> Self {
        Self(Frame::message_text(text), true)
    }

    /// A text message whose Engine.IO form `frame` already is: the type
    /// digit `4` then the text. Lets an encoder write that digit first and
    /// skip the copy [`text`](Self::text) makes. `None` when `frame` does
    /// not start with `4`.
    ///
    /// ```
    /// use engineio_proto::{Message, Str};
    /// assert_eq!(Message::from_message_frame(Str::from("4hi")), Some(Message::text("hi")));
    /// assert_eq!(Message::from_message_frame(Str::from("hi")), None);
    /// ```
    pub fn from_message_frame(frame: crate::Str) -> Option<Self> {
        (frame.as_bytes().first() == Some(&b'4')).then(|| Self(Frame::Text(frame), true))
    }

    /// A binary message.
    pub fn binary(data: impl Into<bytes::Bytes>) -> Self {
        Self(Frame::Binary(data.into()), true)
    }

    /// A message with this data.
    pub fn from_data(data: &Data) -> Self {
        match data {
            Data::Text(t) => Self::text(t),
            Data::Binary(b) => Self::binary(b.clone()),
        }
    }

    /// Whether the message may be compressed (the official `compress`
    /// flag, true unless set otherwise): with `false` it goes out as it is
    /// over WebSocket (permessage-deflate), and a long-poll payload made
    /// only of such messages is not compressed (httpCompression).
    ///
    /// ```
    /// use engineio_proto::Message;
    /// assert!(Message::text("hi").compressible());
    /// assert!(!Message::text("hi").compress(false).compressible());
    /// ```
    pub fn compress(mut self, compress: bool) -> Self {
        self.1 = compress;
        self
    }

    /// Whether it may be compressed.
    pub fn compressible(&self) -> bool {
        self.1
    }

    /// The message as the WebSocket frame that carries it.
    pub fn as_frame(&self) -> &Frame {
        &self.0
    }

    /// Bytes it takes on the wire (WebSocket form).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it carries no bytes at all (never: text has its type digit).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No open session has this id.
    #[error("no such session")]
    UnknownSession,
    /// The session is closing and takes no more messages.
    #[error("session closing")]
    Closing,
    /// The queue crossed its limit: the session is now closed with
    /// [`CloseReason::SendBufferFull`] and the message was not queued.
    #[error("send buffer full: session closed")]
    BufferFull,
}
