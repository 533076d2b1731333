//! Engine.IO packets and their encoding in one WebSocket message
//! (engine.io-protocol v4 "Packet encoding"; v3 for `allow_eio3`).

use bytes::Bytes;

use crate::Str;

/// The Engine.IO protocol revision a session speaks (`EIO=4` or `EIO=3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Engine.IO v3: socket.io 2.x clients; the client sends the pings.
    V3,
    /// Engine.IO v4: the server sends the pings.
    V4,
}

/// What a transport carries as one unit: a WebSocket message, or one packet
/// of a polling payload once the payload framing is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame: the packet type digit followed by its data (`4hello`).
    Text(Str),
    /// A binary frame. In v4 it is the raw data of a message packet; in v3
    /// it starts with the packet type byte (`4`).
    Binary(Bytes),
}

/// The data of a message packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A text message.
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: the handshake, JSON data.
    Open(Str),
    /// `1`: the transport is closing.
    Close,
    /// `2`: a ping, with optional data (`2probe` during the upgrade).
    Ping(Str),
    /// `3`: a pong, with optional data (`3probe` during the upgrade).
    Pong(Str),
    /// `4`: a message.
    Message(Data),
    /// `5`: the client switches to the new transport.
    Upgrade,
    /// `6`: nothing; ends a pending long-poll request.
    Noop,
}

/// Why bytes are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An empty frame or payload element.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type.
    #[error("unknown packet type")]
    UnknownType,
    /// A `b` packet whose data is not valid base64.
    #[error("invalid base64 data")]
    InvalidBase64,
    /// A payload whose framing (length prefix, separator) is broken.
    #[error("invalid payload framing")]
    InvalidFraming,
}
