//! Socket.IO packets and their text form (socket.io-protocol v5, "Packet
//! encoding"):
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]
//! ```
//!
//! The byte behaviour follows the reference parser (socket.io-parser,
//! `index.ts` and `binary.ts`) that the Node server uses, quirks included:
//! what it accepts we accept, what it refuses we refuse, and a decoded packet
//! encodes to what the Node server would send back for it (JSON numbers
//! written as JavaScript writes them, object keys in JavaScript order,
//! placeholders renumbered). The differences, all on input no official
//! client sends:
//!
//! - refused where the reference accepts: see [`DecodeError`] (ack ids that
//!   are not a `u64`, fractional placeholder numbers, JSON beyond serde_json);
//! - integers beyond 2^53 keep every digit (JavaScript would round them);
//! - an ack id after CONNECT, DISCONNECT or CONNECT_ERROR is read and dropped;
//! - an ACK decoded without payload is written back with `[]`;
//! - a binary packet announcing zero attachments does not leave the decoder
//!   waiting for more (the reference decoder then refuses every later text
//!   packet and swallows every later binary one).

mod decode;
mod json;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use bytes::Bytes;
use engineio_proto::{Message, Str};
use serde_json::{Map, Value};

use crate::binary::placeholders_match;

pub use crate::error::DecodeError;
pub use decode::Decoder;
pub use json::encode_event;
use json::{
    ENCODE_CAPACITY, into_str, js_number_string, push_decimal, push_id, push_nsp, write_json,
};

/// Event names an EVENT may not carry: the receiver closes the connection
/// (they name events of the socket itself, or of Node's `EventEmitter`).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The packet type, the first character of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: a client joins a namespace; the server's answer carries the
    /// socket id.
    Connect = 0,
    /// `1`: one side leaves a namespace.
    Disconnect = 1,
    /// `2`: an event without binary data.
    Event = 2,
    /// `3`: the answer to an event that asked for one, without binary data.
    Ack = 3,
    /// `4`: the server refuses a CONNECT.
    ConnectError = 4,
    /// `5`: an event whose binary attachments follow.
    BinaryEvent = 5,
    /// `6`: an ack whose binary attachments follow.
    BinaryAck = 6,
}

/// One Socket.IO packet: a namespace and what is said in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The namespace, `/` for the main one. It starts with `/` and holds no
    /// `,`; the encoder writes it as it is, as the reference encoder does.
    ///
    /// A decoded namespace shares the storage of the text frame it came
    /// from: copy it before keeping it for long, or the whole frame stays in
    /// memory with it.
    pub nsp: Str,
    /// What the packet carries, by type.
    pub payload: Payload,
}

/// The content of a packet, by packet type. Each variant only holds what the
/// reference decoder accepts for that type.
///
/// Ack ids are kept on events and acks only: the reference parser also reads
/// one after a CONNECT, DISCONNECT or CONNECT_ERROR, but nothing uses it
/// there, so the decoder drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `0`: CONNECT, with the client's auth object or the server's
    /// `{"sid":...}`, or nothing.
    Connect(Option<Map<String, Value>>),
    /// `1`: DISCONNECT, which carries nothing.
    Disconnect,
    /// `2` or `5`: an EVENT or BINARY_EVENT.
    Event(Event),
    /// `3` or `6`: an ACK or BINARY_ACK.
    Ack(Ack),
    /// `4`: CONNECT_ERROR, with its reason (nothing only when decoded so).
    ConnectError(Option<ConnectErrorData>),
}

/// An EVENT: a JSON array whose first element names the event (a string
/// that is not in [`RESERVED_EVENTS`], or a number) and whose others are its
/// arguments, plus the binary attachments its placeholders stand for.
///
/// Invariants: the name is valid, and when there are attachments the array
/// holds exactly one placeholder per attachment, numbered in depth-first
/// order. The array is empty only for a decoded `2` without payload, which
/// the reference parser accepts (and the Node server dispatches as an event
/// without a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The id the sender waits for an ACK on, if it asked for one.
    pub id: Option<u64>,
    data: Vec<Value>,
    attachments: Vec<Bytes>,
}

/// An ACK: the arguments given to the acknowledgement callback, plus the
/// binary attachments its placeholders stand for (numbered as in [`Event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The id of the event this answers. Always set by senders; a decoded
    /// ack without one matches no event.
    pub id: Option<u64>,
    data: Vec<Value>,
    attachments: Vec<Bytes>,
}

/// The reason carried by a CONNECT_ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectErrorData {
    /// A bare string, as protocol v4 servers sent it.
    Message(String),
    /// An object, normally `{"message":...,"data":...}`.
    Object(Map<String, Value>),
}

/// Why values cannot make an event or ack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// An event needs at least its name.
    #[error("an event needs a name")]
    MissingEventName,
    /// The first element of an event is neither a string nor a number.
    #[error("an event name must be a string or a number")]
    InvalidEventName,
    /// The event name is one of [`RESERVED_EVENTS`].
    #[error("reserved event name")]
    ReservedEventName,
    /// The placeholders are not exactly one per attachment, numbered `0, 1,
    /// ...` in depth-first order.
    #[error("the placeholders do not match the attachments")]
    PlaceholderMismatch,
}

/// Why [`encode_event`] cannot encode its arguments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event name is not allowed.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The arguments did not serialize as a JSON array.
    #[error("event arguments must serialize as a JSON array")]
    ArgsNotAnArray,
    /// The arguments failed to serialize.
    #[error("event arguments are not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// What a [`Decoder`] accepts from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most attachments one packet may announce (the reference default is
    /// [`Limits::DEFAULT_MAX_ATTACHMENTS`]).
    pub max_attachments: usize,
    /// Most bytes the attachments of one packet may add up to.
    pub max_binary_bytes: usize,
}

impl PacketType {
    /// The type whose number is `n`.
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::Event,
            3 => Self::Ack,
            4 => Self::ConnectError,
            5 => Self::BinaryEvent,
            6 => Self::BinaryAck,
            _ => return None,
        })
    }

    /// Whether attachments follow a packet of this type.
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

impl Packet {
    /// A packet in `nsp`.
    pub fn new(nsp: impl Into<Str>, payload: Payload) -> Self {
        Self {
            nsp: nsp.into(),
            payload,
        }
    }

    /// A CONNECT in `nsp`: the server's answer carries `{"sid":...}`.
    pub fn connect(nsp: impl Into<Str>, data: Option<Map<String, Value>>) -> Self {
        Self::new(nsp, Payload::Connect(data))
    }

    /// A DISCONNECT from `nsp`.
    pub fn disconnect(nsp: impl Into<Str>) -> Self {
        Self::new(nsp, Payload::Disconnect)
    }

    /// An EVENT (or BINARY_EVENT) in `nsp`.
    pub fn event(nsp: impl Into<Str>, event: Event) -> Self {
        Self::new(nsp, Payload::Event(event))
    }

    /// An ACK (or BINARY_ACK) in `nsp`.
    pub fn ack(nsp: impl Into<Str>, ack: Ack) -> Self {
        Self::new(nsp, Payload::Ack(ack))
    }

    /// A CONNECT_ERROR for `nsp`.
    pub fn connect_error(nsp: impl Into<Str>, data: ConnectErrorData) -> Self {
        Self::new(nsp, Payload::ConnectError(Some(data)))
    }

    /// The type written on the wire: an event or ack with attachments is
    /// BINARY_EVENT or BINARY_ACK.
    pub fn packet_type(&self) -> PacketType {
        match &self.payload {
            Payload::Connect(_) => PacketType::Connect,
            Payload::Disconnect => PacketType::Disconnect,
            Payload::Event(e) if e.attachments.is_empty() => PacketType::Event,
            Payload::Event(_) => PacketType::BinaryEvent,
            Payload::Ack(a) if a.attachments.is_empty() => PacketType::Ack,
            Payload::Ack(_) => PacketType::BinaryAck,
            Payload::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The binary attachments, to be sent as binary messages right after
    /// the text of [`encode`](Self::encode), in this order.
    pub fn attachments(&self) -> &[Bytes] {
        match &self.payload {
            Payload::Event(e) => &e.attachments,
            Payload::Ack(a) => &a.attachments,
            _ => &[],
        }
    }

    /// The text form of the packet, as the reference encoder writes it
    /// (numbers as JavaScript writes them, object keys in their order).
    /// Send it in one Engine.IO message, then each of
    /// [`attachments`](Self::attachments).
    pub fn encode(&self) -> Str {
        into_str(self.encode_after(Vec::with_capacity(ENCODE_CAPACITY + self.nsp.len())))
    }

    /// The Engine.IO message carrying [`encode`](Self::encode)'s text,
    /// written in place after the message type digit, so the text is not
    /// copied a second time. Attachments follow as binary messages.
    ///
    /// ```
    /// use socketio_proto::packet::Packet;
    /// use engineio_proto::Message;
    /// let packet = Packet::disconnect("/chat");
    /// assert_eq!(packet.to_message(), Message::text(&packet.encode()));
    /// ```
    pub fn to_message(&self) -> Message {
        let mut out = Vec::with_capacity(1 + ENCODE_CAPACITY + self.nsp.len());
        out.push(b'4');
        // Starts with `4`, written just above, so the fallback never runs.
        Message::from_message_frame(into_str(self.encode_after(out)))
            .unwrap_or_else(|| Message::text(&self.encode()))
    }

    /// Writes the packet's text form after what `out` holds.
    fn encode_after(&self, mut out: Vec<u8>) -> Vec<u8> {
        out.push(b'0' + self.packet_type() as u8);
        let attachments = self.attachments();
        if !attachments.is_empty() {
            push_decimal(&mut out, attachments.len() as u64);
            out.push(b'-');
        }
        push_nsp(&mut out, &self.nsp);
        // Serializing a `Value` into a `Vec` cannot fail: the writer never
        // fails, keys are strings and numbers finite. So the results are
        // ignored.
        match &self.payload {
            Payload::Connect(None) | Payload::Disconnect | Payload::ConnectError(None) => {}
            Payload::Connect(Some(data)) => {
                let _ = write_json(&mut out, data);
            }
            Payload::Event(event) => {
                push_id(&mut out, event.id);
                if !event.data.is_empty() {
                    let _ = write_json(&mut out, &event.data);
                }
            }
            Payload::Ack(ack) => {
                push_id(&mut out, ack.id);
                let _ = write_json(&mut out, &ack.data);
            }
            Payload::ConnectError(Some(ConnectErrorData::Message(message))) => {
                let _ = write_json(&mut out, message);
            }
            Payload::ConnectError(Some(ConnectErrorData::Object(data))) => {
                let _ = write_json(&mut out, data);
            }
        }
        out
    }
}

impl Event {
    /// The id the sender waits for an answer on, typed for
    /// [`Server::ack`](crate::Server::ack).
    pub fn ack_id(&self) -> Option<crate::ClientAckId> {
        self.id.map(crate::ClientAckId)
    }

    /// The event `name` with `args`, no ack asked, no attachments.
    pub fn new(name: impl Into<String>, args: Vec<Value>) -> Result<Self, PayloadError> {
        let name = name.into();
        if RESERVED_EVENTS.contains(&name.as_str()) {
            return Err(PayloadError::ReservedEventName);
        }
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(name));
        data.extend(args);
        Ok(Self {
            id: None,
            data,
            attachments: Vec::new(),
        })
    }

    /// The event whose whole array is `data`, name first.
    pub fn from_data(data: Vec<Value>) -> Result<Self, PayloadError> {
        check_event_name(data.first())?;
        Ok(Self {
            id: None,
            data,
            attachments: Vec::new(),
        })
    }

    /// Asks the receiver for an ACK with `id`.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = Some(id);
        self
    }

    /// Attaches binary data: the array must hold one placeholder per
    /// attachment, numbered depth first (see [`attach`](crate::binary::attach)).
    /// With no attachments, placeholder-like objects are plain JSON.
    pub fn with_attachments(mut self, attachments: Vec<Bytes>) -> Result<Self, PayloadError> {
        if !attachments.is_empty() && !placeholders_match(&self.data, attachments.len()) {
            return Err(PayloadError::PlaceholderMismatch);
        }
        self.attachments = attachments;
        Ok(self)
    }

    /// The event name: a string or a number. `None` only for a decoded `2`
    /// without payload.
    pub fn name(&self) -> Option<&Value> {
        self.data.first()
    }

    /// The event name as the Node server's listeners are keyed: a number
    /// becomes its JavaScript string form (`1`, `1.5`, `1e+21`).
    pub fn name_str(&self) -> Option<Cow<'_, str>> {
        match self.data.first()? {
            Value::String(name) => Some(Cow::Borrowed(name)),
            Value::Number(n) => Some(Cow::Owned(js_number_string(n))),
            _ => None,
        }
    }

    /// The arguments, after the name.
    pub fn args(&self) -> &[Value] {
        self.data.get(1..).unwrap_or_default()
    }

    /// The whole array: the name, then the arguments.
    pub fn data(&self) -> &[Value] {
        &self.data
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The array (name first) and the attachments.
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        (self.data, self.attachments)
    }
}

impl Ack {
    /// The answer `data` to the event with `id`.
    pub fn new(id: u64, data: Vec<Value>) -> Self {
        Self {
            id: Some(id),
            data,
            attachments: Vec::new(),
        }
    }

    /// Attaches binary data, as [`Event::with_attachments`].
    pub fn with_attachments(mut self, attachments: Vec<Bytes>) -> Result<Self, PayloadError> {
        if !attachments.is_empty() && !placeholders_match(&self.data, attachments.len()) {
            return Err(PayloadError::PlaceholderMismatch);
        }
        self.attachments = attachments;
        Ok(self)
    }

    /// The arguments of the acknowledgement.
    pub fn data(&self) -> &[Value] {
        &self.data
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The arguments and the attachments.
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        (self.data, self.attachments)
    }
}

impl ConnectErrorData {
    /// `{"message":message}`, with `"data":data` when there is some: what
    /// the Node server sends when a middleware refuses a connection.
    pub fn new(message: impl Into<String>, data: Option<Value>) -> Self {
        let mut map = Map::with_capacity(2);
        map.insert("message".to_owned(), Value::String(message.into()));
        if let Some(data) = data {
            map.insert("data".to_owned(), data);
        }
        Self::Object(map)
    }
}

impl Limits {
    /// The reference parser's `maxAttachments` default.
    pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

    /// The default attachments count, and at most `max_binary_bytes` of
    /// attachments per packet.
    pub const fn new(max_binary_bytes: usize) -> Self {
        Self {
            max_attachments: Self::DEFAULT_MAX_ATTACHMENTS,
            max_binary_bytes,
        }
    }
}

pub(super) fn check_event_name(name: Option<&Value>) -> Result<(), PayloadError> {
    match name {
        None => Err(PayloadError::MissingEventName),
        Some(Value::Number(_)) => Ok(()),
        Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
            Err(PayloadError::ReservedEventName)
        }
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(PayloadError::InvalidEventName),
    }
}

pub(super) fn event_or_ack(
    ack: bool,
    id: Option<u64>,
    data: Vec<Value>,
    attachments: Vec<Bytes>,
) -> Payload {
    if ack {
        Payload::Ack(Ack {
            id,
            data,
            attachments,
        })
    } else {
        Payload::Event(Event {
            id,
            data,
            attachments,
        })
    }
}
