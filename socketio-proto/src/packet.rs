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

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io;

use bytes::Bytes;
use engineio_proto::{Message, Str};
use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::binary::{normalize, placeholders_match};

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

/// Why a frame is not (part of) a packet. The connection must be closed (the
/// Node server closes it with reason "parse error"); the [`Decoder`] forgets
/// any packet it was reassembling.
///
/// The reference parser reports all of these, with two exceptions where we
/// are stricter: [`InvalidAckId`](Self::InvalidAckId), and a placeholder
/// `num` that is a fraction (it would give `undefined`), reported as
/// [`PlaceholderOutOfRange`](Self::PlaceholderOutOfRange). Where serde_json
/// is stricter than `JSON.parse` (nesting deeper than 128, a number beyond
/// the range of a double, an escaped lone surrogate) the result is
/// [`InvalidJson`](Self::InvalidJson).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The first character is not a packet type (`7`, a letter...).
    #[error("unknown packet type")]
    UnknownType,
    /// A binary packet without a `<n>-` attachments count that is a
    /// non-negative integer.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// More attachments than [`Limits::max_attachments`].
    #[error("too many attachments")]
    TooManyAttachments,
    /// An ack id that is not a `u64`: above `u64::MAX`, or digits separated
    /// by white space (the reference parser makes it `NaN`).
    #[error("invalid ack id")]
    InvalidAckId,
    /// The payload is not JSON.
    #[error("invalid JSON payload")]
    InvalidJson,
    /// The payload does not suit the packet type (the reference parser's
    /// `isPayloadValid`): CONNECT an object, DISCONNECT nothing, EVENT a
    /// non-empty array named by a number or a non-reserved string, ACK an
    /// array, CONNECT_ERROR an object or a string.
    #[error("invalid payload")]
    InvalidPayload,
    /// A text frame came while attachments were still expected.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// A binary frame came while no attachment was expected.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A placeholder whose `num` is missing or not a number.
    #[error("placeholder num is not a number")]
    PlaceholderNotANumber,
    /// A placeholder whose `num` names no attachment.
    #[error("placeholder num out of range")]
    PlaceholderOutOfRange,
    /// The attachments of one packet add up to more than
    /// [`Limits::max_binary_bytes`].
    #[error("binary attachments too large")]
    BinaryTooLarge,
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

/// Turns the frames of one connection into packets: a text frame is a packet
/// or the head of a binary one, whose attachments arrive as the following
/// binary frames.
///
/// It holds nothing between packets (one pointer and the limits); while
/// attachments are awaited it holds the head and the attachments received.
///
/// ```
/// use bytes::Bytes;
/// use socketio_proto::{Decoder, Limits, Payload, Str};
///
/// let mut decoder = Decoder::new(Limits::new(1_000_000));
/// let head = Str::from(r#"51-["upload",{"_placeholder":true,"num":0}]"#);
/// assert_eq!(decoder.decode_text(head)?, None);
/// let packet = decoder.decode_binary(Bytes::from_static(b"\x01\x02"))?.unwrap();
/// let Payload::Event(event) = &packet.payload else { unreachable!() };
/// assert_eq!(event.name_str().as_deref(), Some("upload"));
/// assert_eq!(event.attachments(), [Bytes::from_static(b"\x01\x02")]);
/// # Ok::<(), socketio_proto::packet::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: Limits,
    pending: Option<Box<Pending>>,
}

/// A binary packet whose attachments are still arriving.
#[derive(Debug, Clone)]
struct Pending {
    nsp: Str,
    ack: bool,
    id: Option<u64>,
    /// The JSON array, placeholders already in canonical form.
    data: Vec<Value>,
    /// How many attachments the header announced.
    expected: usize,
    /// For each placeholder, depth first, the attachment it named.
    sources: Vec<usize>,
    received: Vec<Bytes>,
    received_bytes: usize,
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
    /// attachment, numbered depth first (see [`attach`](crate::attach)).
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

impl Decoder {
    /// A decoder enforcing `limits`.
    pub const fn new(limits: Limits) -> Self {
        Self {
            limits,
            pending: None,
        }
    }

    /// The limits it enforces.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// How many attachments the packet being reassembled still waits for;
    /// zero between packets.
    pub fn awaited_attachments(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |p| p.expected.saturating_sub(p.received.len()))
    }

    /// Forgets the packet being reassembled, if any.
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Decodes a text message (the data of an Engine.IO message packet,
    /// without its `4`): `Ok(Some(packet))`, or `Ok(None)` when it is the
    /// head of a binary packet whose attachments come next.
    pub fn decode_text(&mut self, text: Str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.take().is_some() {
            return Err(DecodeError::UnexpectedText);
        }
        let header = parse_header(&text, self.limits.max_attachments)?;
        let nsp = match header.nsp {
            Some(nsp) => text.slice_ref(nsp),
            None => Str::from_static("/"),
        };
        let kind = header.kind;
        let json = header.json;
        if kind == PacketType::Disconnect {
            // Whatever follows, JSON or not, is a payload DISCONNECT refuses.
            if !json.is_empty() {
                return Err(DecodeError::InvalidPayload);
            }
            return Ok(Some(Packet::disconnect(nsp)));
        }
        let mut value = None;
        let mut sources = Vec::new();
        if !json.is_empty() {
            let mut parsed: Value =
                serde_json::from_str(json).map_err(|_| DecodeError::InvalidJson)?;
            if !is_payload_valid(kind, &parsed) {
                return Err(DecodeError::InvalidPayload);
            }
            // Only objects need normalizing, and most payloads have none.
            if header.attachments > 0 || json.as_bytes().contains(&b'{') {
                sources = normalize(&mut parsed, header.attachments)?;
            }
            value = Some(parsed);
        }
        let payload = match (kind, value) {
            (PacketType::Connect, None) => Payload::Connect(None),
            (PacketType::Connect, Some(Value::Object(data))) => Payload::Connect(Some(data)),
            (PacketType::ConnectError, None) => Payload::ConnectError(None),
            (PacketType::ConnectError, Some(Value::String(message))) => {
                Payload::ConnectError(Some(ConnectErrorData::Message(message)))
            }
            (PacketType::ConnectError, Some(Value::Object(data))) => {
                Payload::ConnectError(Some(ConnectErrorData::Object(data)))
            }
            (
                PacketType::Event
                | PacketType::BinaryEvent
                | PacketType::Ack
                | PacketType::BinaryAck,
                value,
            ) => {
                let data = match value {
                    None => Vec::new(),
                    Some(Value::Array(data)) => data,
                    Some(_) => return Err(DecodeError::InvalidPayload),
                };
                let ack = matches!(kind, PacketType::Ack | PacketType::BinaryAck);
                if header.attachments > 0 {
                    self.pending = Some(Box::new(Pending {
                        nsp,
                        ack,
                        id: header.id,
                        data,
                        expected: header.attachments,
                        sources,
                        received: Vec::new(),
                        received_bytes: 0,
                    }));
                    return Ok(None);
                }
                // A binary packet announcing no attachment is complete at
                // once, its placeholders left as plain objects, as in the
                // reference parser.
                event_or_ack(ack, header.id, data, Vec::new())
            }
            // `is_payload_valid` let through only the shapes matched above.
            _ => return Err(DecodeError::InvalidPayload),
        };
        Ok(Some(Packet { nsp, payload }))
    }

    /// Decodes a binary message: the next attachment of the packet being
    /// reassembled. `Ok(Some(packet))` once it was the last one.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        let Some(mut pending) = self.pending.take() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        pending.received_bytes = pending.received_bytes.saturating_add(data.len());
        if pending.received_bytes > self.limits.max_binary_bytes {
            return Err(DecodeError::BinaryTooLarge);
        }
        pending.received.push(data);
        if pending.received.len() < pending.expected {
            self.pending = Some(pending);
            return Ok(None);
        }
        Ok(Some(pending.finish()))
    }
}

impl Pending {
    fn finish(self) -> Packet {
        let in_order = self.sources.len() == self.received.len()
            && self.sources.iter().enumerate().all(|(i, &s)| i == s);
        let attachments = if in_order {
            self.received
        } else {
            // Each placeholder gets its own copy of the handle, as the
            // reference parser puts the buffer at each place that names it;
            // every source was checked to be below the count received.
            let received = &self.received;
            self.sources
                .iter()
                .filter_map(|&s| received.get(s).cloned())
                .collect()
        };
        Packet {
            nsp: self.nsp,
            payload: event_or_ack(self.ack, self.id, self.data, attachments),
        }
    }
}

/// Encodes an EVENT from its name and arguments without building a `Value`:
/// the server's most frequent packet. `args` must serialize as a JSON array
/// (a tuple, a slice, a `Vec`); each element is one argument. The result is
/// what [`Packet::encode`] writes for the same event.
///
/// ```
/// let text = socketio_proto::packet::encode_event("/chat", Some(12), "msg", &("hi", 1.5))?;
/// assert_eq!(text, r#"2/chat,12["msg","hi",1.5]"#);
/// # Ok::<(), socketio_proto::packet::EncodeError>(())
/// ```
pub fn encode_event<A>(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &A,
) -> Result<Str, EncodeError>
where
    A: Serialize + ?Sized,
{
    if RESERVED_EVENTS.contains(&event) {
        return Err(PayloadError::ReservedEventName.into());
    }
    let mut out = Vec::with_capacity(ENCODE_CAPACITY + nsp.len() + event.len());
    out.push(b'0' + PacketType::Event as u8);
    push_nsp(&mut out, nsp);
    push_id(&mut out, id);
    out.push(b'[');
    write_json(&mut out, event)?;
    let at = out.len();
    write_json(&mut out, args)?;
    // `["name"` followed by `[a,b]` becomes `["name",a,b]`.
    match out.get(at..) {
        Some(b"[]") => {
            out.truncate(at);
            out.push(b']');
        }
        Some([b'[', ..]) => {
            if let Some(open) = out.get_mut(at) {
                *open = b',';
            }
        }
        _ => return Err(EncodeError::ArgsNotAnArray),
    }
    Ok(into_str(out))
}

/// The header of a text packet, as the reference parser reads it.
struct Header<'a> {
    kind: PacketType,
    attachments: usize,
    nsp: Option<&'a str>,
    id: Option<u64>,
    json: &'a str,
}

/// Reads `<type>[<attachments>-][<nsp>,][<id>]` and leaves the rest as JSON.
fn parse_header(text: &str, max_attachments: usize) -> Result<Header<'_>, DecodeError> {
    // The type is `Number(str.charAt(0))`: a digit, or 0 (CONNECT) for an
    // empty string or a leading white space.
    let mut chars = text.chars();
    let kind = match chars.next() {
        None => PacketType::Connect,
        Some(c) if c.is_ascii_digit() => {
            PacketType::from_u8(c as u8 - b'0').ok_or(DecodeError::UnknownType)?
        }
        Some(c) if is_js_whitespace(c) => PacketType::Connect,
        Some(_) => return Err(DecodeError::UnknownType),
    };
    let mut rest = chars.as_str();

    let mut attachments = 0;
    if kind.is_binary() {
        let (count, after) = rest
            .split_once('-')
            .ok_or(DecodeError::IllegalAttachments)?;
        attachments = attachments_count(count, max_attachments)?;
        rest = after;
    }

    // The namespace runs from a `/` to the first `,`, or to the end.
    let mut nsp = None;
    if rest.starts_with('/') {
        let (name, after) = rest.split_once(',').unwrap_or((rest, ""));
        nsp = Some(name);
        rest = after;
    }

    // The id is the run of characters `c` with `Number(c) == c`: digits,
    // and white space.
    let json = rest.trim_start_matches(|c: char| c.is_ascii_digit() || is_js_whitespace(c));
    let id_text = rest.get(..rest.len() - json.len()).unwrap_or_default();
    let id = if id_text.is_empty() {
        None
    } else {
        Some(parse_ack_id(id_text)?)
    };

    Ok(Header {
        kind,
        attachments,
        nsp,
        id,
        json,
    })
}

/// The attachments count: `Number(buf)` must be an integer from 0 to the
/// limit. `Number` accepts `""`, white space around, `+1`, `1.0`, `1e0`,
/// `0x1`...
fn attachments_count(text: &str, max: usize) -> Result<usize, DecodeError> {
    if !text.is_empty() && text.len() < 19 && text.bytes().all(|b| b.is_ascii_digit()) {
        let n = text
            .parse::<u64>()
            .map_err(|_| DecodeError::IllegalAttachments)?;
        return usize::try_from(n)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(DecodeError::TooManyAttachments);
    }
    let n = js_number(text).ok_or(DecodeError::IllegalAttachments)?;
    if !n.is_finite() || n.fract() != 0.0 || n < 0.0 {
        return Err(DecodeError::IllegalAttachments);
    }
    if n > max as f64 {
        return Err(DecodeError::TooManyAttachments);
    }
    Ok(n as usize)
}

/// The ack id: `Number()` of digits and white space. White space alone is
/// 0; digits with white space inside are `NaN`, which we refuse, as we
/// refuse what does not fit a `u64`.
fn parse_ack_id(text: &str) -> Result<u64, DecodeError> {
    let digits = text.trim_matches(is_js_whitespace);
    if digits.is_empty() {
        return Ok(0);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::InvalidAckId);
    }
    digits.parse().map_err(|_| DecodeError::InvalidAckId)
}

/// The reference parser's `isPayloadValid`.
fn is_payload_valid(kind: PacketType, payload: &Value) -> bool {
    match kind {
        PacketType::Connect => payload.is_object(),
        PacketType::Disconnect => false,
        PacketType::ConnectError => payload.is_object() || payload.is_string(),
        PacketType::Event | PacketType::BinaryEvent => payload
            .as_array()
            .is_some_and(|data| check_event_name(data.first()).is_ok()),
        PacketType::Ack | PacketType::BinaryAck => payload.is_array(),
    }
}

fn check_event_name(name: Option<&Value>) -> Result<(), PayloadError> {
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

fn event_or_ack(ack: bool, id: Option<u64>, data: Vec<Value>, attachments: Vec<Bytes>) -> Payload {
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

/// JavaScript's `StringToNumber`: `None` for `NaN`.
fn js_number(text: &str) -> Option<f64> {
    let text = text.trim_matches(is_js_whitespace);
    if text.is_empty() {
        return Some(0.0);
    }
    let radix = match text.as_bytes() {
        [b'0', b'x' | b'X', ..] => 16,
        [b'0', b'o' | b'O', ..] => 8,
        [b'0', b'b' | b'B', ..] => 2,
        _ => 10,
    };
    if radix != 10 {
        let digits = text.get(2..).filter(|d| !d.is_empty())?;
        return digits.chars().try_fold(0.0f64, |n, c| {
            Some(n * f64::from(radix) + f64::from(c.to_digit(radix)?))
        });
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned == "Infinity" {
        return Some(if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Rust's float grammar is JavaScript's decimal one once `inf` and `nan`
    // are kept out, and both round to nearest.
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    text.parse().ok()
}

/// JavaScript's `WhiteSpace` and `LineTerminator`, which `Number()` trims.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// What an encoder reserves before writing: most packets fit without
/// growing the buffer, which would cost a copy.
const ENCODE_CAPACITY: usize = 128;

fn push_nsp(out: &mut Vec<u8>, nsp: &str) {
    if !nsp.is_empty() && nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
}

fn push_id(out: &mut Vec<u8>, id: Option<u64>) {
    if let Some(id) = id {
        push_decimal(out, id);
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Writes `value` as `JSON.stringify` would.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        JsFormatter,
    ))
}

fn into_str(out: Vec<u8>) -> Str {
    // serde_json only writes UTF-8, so this never replaces anything (and
    // never copies).
    Str::from_utf8_lossy(Bytes::from(out))
}

/// serde_json's compact output with numbers written as JavaScript writes
/// them (`1e+21`, `100000000000000000000`, `0` for `-0`, `2` for `2.0`). Its
/// string escaping already matches `JSON.stringify`.
struct JsFormatter;

impl serde_json::ser::Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        write_js_float(writer, value, value == 0.0)
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        write_js_float(writer, value, value == 0.0)
    }
}

/// `Number::prototype::toString` for a finite float, from the shortest
/// digits that give the same value back (which `{:e}` prints).
fn write_js_float<W, F>(writer: &mut W, value: F, zero: bool) -> io::Result<()>
where
    W: ?Sized + io::Write,
    F: fmt::LowerExp,
{
    if zero {
        return writer.write_all(b"0");
    }
    let mut buf = FloatBuf::default();
    if write!(buf, "{value:e}").is_err() {
        // Cannot happen: `{:e}` of a float is under 32 bytes.
        return write!(writer, "{value:e}");
    }
    let text = buf.as_str();
    let (negative, text) = match text.strip_prefix('-') {
        Some(text) => (true, text),
        None => (false, text),
    };
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let mut digit_buf = [0u8; 32];
    let mut k = 0;
    for digit in mantissa.bytes().filter(u8::is_ascii_digit) {
        if let Some(slot) = digit_buf.get_mut(k) {
            *slot = digit;
            k += 1;
        }
    }
    let digits = digit_buf.get(..k).unwrap_or_default();
    // The value is 0.d1d2...dk * 10^n.
    let k = k as i64;
    let n = exponent + 1;
    if negative {
        writer.write_all(b"-")?;
    }
    if k <= n && n <= 21 {
        writer.write_all(digits)?;
        write_zeros(writer, n - k)
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at_checked(n as usize).unwrap_or((digits, &[]));
        writer.write_all(int)?;
        writer.write_all(b".")?;
        writer.write_all(frac)
    } else if -6 < n && n <= 0 {
        writer.write_all(b"0.")?;
        write_zeros(writer, -n)?;
        writer.write_all(digits)
    } else {
        let (first, rest) = digits.split_at_checked(1).unwrap_or((digits, &[]));
        writer.write_all(first)?;
        if !rest.is_empty() {
            writer.write_all(b".")?;
            writer.write_all(rest)?;
        }
        let sign = if n > 0 { '+' } else { '-' };
        write!(writer, "e{sign}{}", (n - 1).abs())
    }
}

fn write_zeros<W: ?Sized + io::Write>(writer: &mut W, count: i64) -> io::Result<()> {
    for _ in 0..count {
        writer.write_all(b"0")?;
    }
    Ok(())
}

/// A number as JavaScript's `String(number)` writes it.
fn js_number_string(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_u64() && !n.is_i64() => {
            let mut out = Vec::with_capacity(24);
            // Writing into a `Vec` cannot fail.
            let _ = write_js_float(&mut out, f, f == 0.0);
            String::from_utf8(out).unwrap_or_default()
        }
        _ => n.to_string(),
    }
}

/// A small stack buffer for `{:e}`.
#[derive(Default)]
struct FloatBuf {
    bytes: [u8; 32],
    len: usize,
}

impl FloatBuf {
    fn as_str(&self) -> &str {
        let filled = self.bytes.get(..self.len).unwrap_or_default();
        std::str::from_utf8(filled).unwrap_or_default()
    }
}

impl fmt::Write for FloatBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::binary::{attach, placeholder};
    use proptest::prelude::*;
    use serde_json::json;

    const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
    const PH1: &str = r#"{"_placeholder":true,"num":1}"#;

    fn decoder() -> Decoder {
        Decoder::new(Limits::new(1_000))
    }

    fn decode(text: &str) -> Result<Option<Packet>, DecodeError> {
        decoder().decode_text(Str::from(text.to_owned()))
    }

    fn decode_one(text: &str) -> Packet {
        decode(text).unwrap().unwrap()
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn data(value: Value) -> Vec<Value> {
        match value {
            Value::Array(items) => items,
            _ => panic!("not an array"),
        }
    }

    fn event(nsp: &'static str, id: Option<u64>, array: Value) -> Packet {
        let mut event = Event::from_data(data(array)).unwrap();
        event.id = id;
        Packet::event(nsp, event)
    }

    fn ack(nsp: &'static str, id: u64, array: Value) -> Packet {
        Packet::ack(nsp, Ack::new(id, data(array)))
    }

    /// Decodes `text` then `attachments`, checking that only the last one
    /// completes the packet.
    fn reassemble(decoder: &mut Decoder, text: &str, attachments: &[&'static [u8]]) -> Packet {
        let mut out = decoder.decode_text(Str::from(text.to_owned())).unwrap();
        for a in attachments {
            assert_eq!(out, None);
            out = decoder.decode_binary(Bytes::from_static(a)).unwrap();
        }
        out.expect("complete packet")
    }

    /// Encodes `packet`, checks the exact text, and decodes it back.
    fn assert_wire(packet: &Packet, text: &str) {
        assert_eq!(packet.encode(), text);
        let attachments: Vec<&'static [u8]> = packet
            .attachments()
            .iter()
            .map(|a| &*Vec::leak(a.to_vec()))
            .collect();
        assert_eq!(&reassemble(&mut decoder(), text, &attachments), packet);
    }

    // Encoding and decoding the examples of the spec and of docs/protocol.md.

    #[test]
    fn connect_vectors() {
        assert_wire(&Packet::connect("/", None), "0");
        assert_wire(
            &Packet::connect("/admin", Some(map(json!({"sid": "oSO0OpakMV_3jnilAAAA"})))),
            r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        );
        assert_wire(
            &Packet::connect("/admin", Some(map(json!({"token": "123"})))),
            r#"0/admin,{"token":"123"}"#,
        );
        assert_wire(&Packet::connect("/admin", None), "0/admin,");
        assert_wire(&Packet::connect("/", Some(Map::new())), "0{}");
    }

    #[test]
    fn disconnect_vectors() {
        assert_wire(&Packet::disconnect("/"), "1");
        assert_wire(&Packet::disconnect("/admin"), "1/admin,");
    }

    #[test]
    fn event_vectors() {
        assert_wire(&event("/", None, json!(["foo"])), r#"2["foo"]"#);
        assert_wire(&event("/admin", None, json!(["bar"])), r#"2/admin,["bar"]"#);
        assert_wire(&event("/", Some(12), json!(["foo"])), r#"212["foo"]"#);
        assert_wire(
            &event("/chat", Some(12), json!(["msg", "hi"])),
            r#"2/chat,12["msg","hi"]"#,
        );
        assert_wire(
            &event("/", None, json!(["hey", "Jude"])),
            r#"2["hey","Jude"]"#,
        );
        assert_wire(
            &event("/admin", Some(1), json!(["tellme"])),
            r#"2/admin,1["tellme"]"#,
        );
    }

    #[test]
    fn ack_vectors() {
        assert_wire(&ack("/", 12, json!([])), "312[]");
        assert_wire(&ack("/admin", 13, json!(["bar"])), r#"3/admin,13["bar"]"#);
        assert_wire(&ack("/chat", 12, json!([])), "3/chat,12[]");
    }

    #[test]
    fn connect_error_vectors() {
        assert_wire(
            &Packet::connect_error("/", ConnectErrorData::new("Not authorized", None)),
            r#"4{"message":"Not authorized"}"#,
        );
        assert_wire(
            &Packet::connect_error(
                "/",
                ConnectErrorData::new("not authorized", Some(json!({"a": 1}))),
            ),
            r#"4{"message":"not authorized","data":{"a":1}}"#,
        );
        assert_wire(
            &Packet::connect_error("/random", ConnectErrorData::new("Invalid namespace", None)),
            r#"4/random,{"message":"Invalid namespace"}"#,
        );
        assert_wire(
            &Packet::connect_error("/", ConnectErrorData::Message("not authorized".into())),
            r#"4"not authorized""#,
        );
    }

    #[test]
    fn to_message_is_the_engine_message_of_the_encoded_text() {
        let mut attachments = Vec::new();
        let file = attach(&mut attachments, Bytes::from_static(&[1, 2]));
        let e = Event::new("é", vec![file, Value::from(1.5)])
            .unwrap()
            .with_attachments(attachments)
            .unwrap();
        let packet = Packet::event("/admin", e);
        let message = packet.to_message();
        assert_eq!(message, engineio_proto::Message::text(&packet.encode()));
        // The WebSocket form: the Engine.IO type digit, then the packet.
        assert_eq!(
            message.len(),
            1 + format!(r#"51-/admin,["é",{PH0},1.5]"#).len()
        );
    }

    #[test]
    fn binary_event_vectors() {
        let mut attachments = Vec::new();
        let file = attach(&mut attachments, Bytes::from_static(&[1, 2, 3, 4]));
        let e = Event::new("baz", vec![file])
            .unwrap()
            .with_attachments(attachments);
        let packet = Packet::event("/", e.unwrap());
        assert_eq!(packet.packet_type(), PacketType::BinaryEvent);
        assert_wire(&packet, &format!(r#"51-["baz",{PH0}]"#));

        let e = Event::new("baz", vec![placeholder(0), placeholder(1)]).unwrap();
        let e = e.with_attachments(vec![
            Bytes::from_static(&[1, 2]),
            Bytes::from_static(&[3, 4]),
        ]);
        assert_wire(
            &Packet::event("/admin", e.unwrap()),
            &format!(r#"52-/admin,["baz",{PH0},{PH1}]"#),
        );
    }

    #[test]
    fn binary_ack_vectors() {
        let a = Ack::new(15, vec![json!("bar"), placeholder(0)])
            .with_attachments(vec![Bytes::from_static(&[1, 2, 3, 4])])
            .unwrap();
        let packet = Packet::ack("/", a);
        assert_eq!(packet.packet_type(), PacketType::BinaryAck);
        assert_wire(&packet, &format!(r#"61-15["bar",{PH0}]"#));

        let a = Ack::new(1, vec![placeholder(0)])
            .with_attachments(vec![Bytes::from_static(b"x")])
            .unwrap();
        assert_wire(&Packet::ack("/admin", a), &format!("61-/admin,1[{PH0}]"));
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let args = vec![
            json!(1.5),
            json!(1e21),
            json!(1.5e-7),
            json!(0.000001),
            json!(1e20),
            json!(-0.0),
            json!(2.0),
            json!(-123.456),
            json!(5e-324),
            json!(1.7976931348623157e308),
            json!(u64::MAX),
            json!(i64::MIN),
        ];
        let packet = Packet::event("/", Event::new("n", args).unwrap());
        assert_eq!(
            packet.encode(),
            "2[\"n\",1.5,1e+21,1.5e-7,0.000001,100000000000000000000,0,2,-123.456,\
             5e-324,1.7976931348623157e+308,18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn strings_are_escaped_as_json_stringify_does() {
        let text = "2[\"a\\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u001f\u{7f}é€😀\u{2028}/\"]";
        let packet = decode_one(text);
        assert_eq!(packet.encode(), text);
        // `\/` and `\u00e9` are read, and written back plainly.
        assert_eq!(decode_one(r#"2["\/\u00e9"]"#).encode(), "2[\"/é\"]");
    }

    #[test]
    fn object_keys_keep_their_order_and_javascript_index_order() {
        let text = r#"0{"z":1,"a":{"y":2,"b":3},"m":[{"q":1,"c":2}]}"#;
        assert_eq!(decode_one(text).encode(), text);
        assert_eq!(
            decode_one(r#"2["a",{"b":1,"1":2,"0":3}]"#).encode(),
            r#"2["a",{"0":3,"1":2,"b":1}]"#
        );
        // A repeated key keeps its first place and its last value.
        assert_eq!(
            decode_one(r#"0{"a":1,"b":2,"a":3}"#).encode(),
            r#"0{"a":3,"b":2}"#
        );
    }

    // Decoding quirks of the reference parser.

    #[test]
    fn empty_or_blank_text_is_a_connect() {
        assert_eq!(decode_one(""), Packet::connect("/", None));
        assert_eq!(decode_one(" "), Packet::connect("/", None));
        assert_eq!(
            decode_one("\u{a0}/a,{\"x\":1}"),
            Packet::connect("/a", Some(map(json!({"x": 1}))))
        );
    }

    #[test]
    fn namespace_runs_to_the_first_comma_or_the_end() {
        assert_eq!(decode_one("0/admin"), Packet::connect("/admin", None));
        assert_eq!(decode_one(r#"2/a["x"]"#).nsp, r#"/a["x"]"#);
        assert_eq!(decode_one(r#"2/,["x"]"#), event("/", None, json!(["x"])));
        assert_eq!(
            decode_one(r#"2/a/b,7["x"]"#),
            event("/a/b", Some(7), json!(["x"]))
        );
    }

    #[test]
    fn decoded_namespace_shares_the_frame() {
        let frame = Str::from(String::from(r#"2/chat,["x"]"#));
        let packet = decoder().decode_text(frame.clone()).unwrap().unwrap();
        assert_eq!(packet.nsp, "/chat");
        let offset = packet.nsp.as_ptr() as usize - frame.as_ptr() as usize;
        assert_eq!(offset, 1);
    }

    #[test]
    fn ack_ids() {
        assert_eq!(
            decode_one(r#"2007["a"]"#),
            event("/", Some(7), json!(["a"]))
        );
        assert_eq!(decode_one(r#"2 ["a"]"#), event("/", Some(0), json!(["a"])));
        // White space around the digits is trimmed, JavaScript's included.
        assert_eq!(
            decode_one("2 12\u{3000}[\"a\"]"),
            event("/", Some(12), json!(["a"]))
        );
        assert_eq!(
            decode_one(r#"218446744073709551615["a"]"#),
            event("/", Some(u64::MAX), json!(["a"]))
        );
        assert_eq!(
            decode(r#"218446744073709551616["a"]"#),
            Err(DecodeError::InvalidAckId)
        );
        assert_eq!(decode(r#"21 2["a"]"#), Err(DecodeError::InvalidAckId));
        // An event without payload, with or without an id.
        let Payload::Event(e) = decode_one("2/a,12").payload else {
            panic!()
        };
        assert_eq!((e.id, e.name(), e.data()), (Some(12), None, &[][..]));
        assert_eq!(decode_one("2/a,12").encode(), "2/a,12");
    }

    #[test]
    fn ids_after_other_types_are_read_and_dropped() {
        assert_eq!(decode_one("012{}"), Packet::connect("/", Some(Map::new())));
        assert_eq!(decode_one("1/a,5"), Packet::disconnect("/a"));
        assert_eq!(
            decode_one("43"),
            Packet::new("/", Payload::ConnectError(None))
        );
    }

    #[test]
    fn acks_without_payload_or_id() {
        let Payload::Ack(a) = decode_one("3").payload else {
            panic!()
        };
        assert_eq!((a.id, a.data()), (None, &[][..]));
        assert_eq!(decode_one("3/a,4").encode(), "3/a,4[]");
        assert_eq!(decode_one("3[1]").encode(), "3[1]");
    }

    #[test]
    fn numeric_event_names() {
        for (text, name) in [
            ("2[1,\"a\"]", "1"),
            ("2[-1.5]", "-1.5"),
            ("2[1e21]", "1e+21"),
            ("2[0.1]", "0.1"),
        ] {
            let Payload::Event(e) = decode_one(text).payload else {
                panic!()
            };
            assert_eq!(e.name_str().as_deref(), Some(name), "{text}");
        }
        let Payload::Event(e) = decode_one("2[1,\"a\"]").payload else {
            panic!()
        };
        assert_eq!((e.name(), e.args()), (Some(&json!(1)), &[json!("a")][..]));
    }

    #[test]
    fn every_reserved_event_name_is_refused() {
        for name in RESERVED_EVENTS {
            assert_eq!(
                decode(&format!(r#"2["{name}"]"#)),
                Err(DecodeError::InvalidPayload)
            );
            assert_eq!(
                decode(&format!(r#"51-["{name}",{PH0}]"#)),
                Err(DecodeError::InvalidPayload)
            );
            assert_eq!(
                Event::new(name, vec![]),
                Err(PayloadError::ReservedEventName)
            );
            assert!(matches!(
                encode_event("/", None, name, &[1]),
                Err(EncodeError::Payload(PayloadError::ReservedEventName))
            ));
        }
        // Only the exact names are reserved.
        assert!(decode(r#"2["Connect"]"#).is_ok());
        assert!(decode(r#"2["connect "]"#).is_ok());
    }

    // Every error, with an input that reaches it.

    #[test]
    fn unknown_types() {
        for text in ["7", "8[]", "9", "a", "-1", "[\"a\"]", "€", "😀", "\u{85}"] {
            assert_eq!(decode(text), Err(DecodeError::UnknownType), "{text:?}");
        }
    }

    #[test]
    fn illegal_attachments() {
        for text in [
            "5",
            "51",
            r#"51["a"]"#,
            r#"5a-["a"]"#,
            r#"51.5-["a"]"#,
            r#"5Infinity-["a"]"#,
            r#"51e400-["a"]"#,
            r#"5NaN-["a"]"#,
            r#"51_0-["a"]"#,
            r#"5["a-b"]"#,
            r#"60x-[]"#,
        ] {
            assert_eq!(decode(text), Err(DecodeError::IllegalAttachments), "{text}");
        }
    }

    #[test]
    fn attachments_count_is_read_as_javascript_number_does() {
        // No count at all means zero: the packet is complete at once.
        assert_eq!(decode_one(r#"5-["a"]"#), event("/", None, json!(["a"])));
        for count in [
            "1", "01", " 1 ", "+1", "1.0", "1e0", "0x1", "0b1", "0o1", ".1e1",
        ] {
            let mut decoder = decoder();
            let text = format!(r#"5{count}-["a",{PH0}]"#);
            assert_eq!(decoder.decode_text(Str::from(text)), Ok(None), "{count}");
            assert_eq!(decoder.awaited_attachments(), 1, "{count}");
        }
    }

    #[test]
    fn too_many_attachments() {
        let mut d = decoder();
        assert_eq!(d.decode_text(Str::from(r#"510-["a"]"#)), Ok(None));
        assert_eq!(d.awaited_attachments(), 10);
        assert_eq!(decode(r#"511-["a"]"#), Err(DecodeError::TooManyAttachments));
        assert_eq!(
            decode(r#"51e9-["a"]"#),
            Err(DecodeError::TooManyAttachments)
        );
        // A huge claim is refused without reserving anything for it.
        assert_eq!(
            decode(r#"5451000000-["a"]"#),
            Err(DecodeError::TooManyAttachments)
        );
        assert_eq!(
            decode(r#"599999999999999999999999-["a"]"#),
            Err(DecodeError::TooManyAttachments)
        );
        let mut d = Decoder::new(Limits {
            max_attachments: 2,
            max_binary_bytes: 10,
        });
        assert_eq!(d.decode_text(Str::from(r#"62-1[]"#)), Ok(None));
        d.reset();
        assert_eq!(
            d.decode_text(Str::from(r#"63-1[]"#)),
            Err(DecodeError::TooManyAttachments)
        );
    }

    #[test]
    fn invalid_json() {
        for text in [
            r#"2["a""#,
            r#"2["a"]x"#,
            r#"2["a",]"#,
            r#"2['a']"#,
            r#"2["a",1e400]"#,
            r#"2["\ud800"]"#,
            r#"0{"a":}"#,
            "4{",
            "2,[\"a\"]",
            r#"51-["a""#,
        ] {
            assert_eq!(decode(text), Err(DecodeError::InvalidJson), "{text}");
        }
        let deep = format!("2[\"a\",{}{}]", "[".repeat(200), "]".repeat(200));
        assert_eq!(decode(&deep), Err(DecodeError::InvalidJson));
    }

    #[test]
    fn invalid_payloads() {
        for text in [
            "2[]",
            "2{}",
            r#"2"a""#,
            "2[null]",
            "2[true]",
            r#"2[["a"]]"#,
            r#"2[{"a":1}]"#,
            "2null",
            "3{}",
            r#"3"a""#,
            "0[]",
            r#"0"x""#,
            "0null",
            "1{}",
            "1null",
            "1x",
            "1/a,{}",
            "4[]",
            "4null",
            "5-[]",
            r#"61-{"a":1}"#,
            &format!("51-[{PH0}]"),
        ] {
            assert_eq!(decode(text), Err(DecodeError::InvalidPayload), "{text}");
        }
    }

    #[test]
    fn placeholder_errors() {
        assert_eq!(
            decode(r#"51-["a",{"_placeholder":true,"num":1}]"#),
            Err(DecodeError::PlaceholderOutOfRange)
        );
        assert_eq!(
            decode(r#"52-["a",{"_placeholder":true,"num":-1}]"#),
            Err(DecodeError::PlaceholderOutOfRange)
        );
        assert_eq!(
            decode(r#"51-["a",{"_placeholder":true,"num":"0"}]"#),
            Err(DecodeError::PlaceholderNotANumber)
        );
        assert_eq!(
            decode(r#"61-[{"x":[{"_placeholder":true}]}]"#),
            Err(DecodeError::PlaceholderNotANumber)
        );
    }

    #[test]
    fn binary_frame_when_none_is_expected() {
        let mut d = decoder();
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"x")),
            Err(DecodeError::UnexpectedBinary)
        );
        reassemble(&mut d, &format!(r#"51-["a",{PH0}]"#), &[b"x"]);
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"y")),
            Err(DecodeError::UnexpectedBinary)
        );
        assert_eq!(
            d.decode_text(Str::from(r#"5-["a"]"#)).map(|p| p.is_some()),
            Ok(true)
        );
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"y")),
            Err(DecodeError::UnexpectedBinary)
        );
    }

    #[test]
    fn text_frame_interrupting_reassembly() {
        let mut d = decoder();
        let head = format!(r#"52-["a",{PH0},{PH1}]"#);
        assert_eq!(d.decode_text(Str::from(head.clone())), Ok(None));
        assert_eq!(d.decode_binary(Bytes::from_static(b"1")), Ok(None));
        assert_eq!(
            d.decode_text(Str::from(r#"2["b"]"#)),
            Err(DecodeError::UnexpectedText)
        );
        // The half-built packet is gone; the decoder starts afresh.
        assert_eq!(d.awaited_attachments(), 0);
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"2")),
            Err(DecodeError::UnexpectedBinary)
        );
        let packet = reassemble(&mut d, &head, &[b"1", b"2"]);
        assert_eq!(packet.attachments(), [&b"1"[..], &b"2"[..]]);
    }

    #[test]
    fn reassembly_over_several_frames() {
        let mut d = decoder();
        let text = format!(
            r#"53-/up,9["files",{{"a":{PH0},"b":[{PH1}]}},{{"_placeholder":true,"num":2}}]"#
        );
        assert_eq!(d.decode_text(Str::from(text.clone())), Ok(None));
        assert_eq!(d.awaited_attachments(), 3);
        assert_eq!(d.decode_binary(Bytes::from_static(b"one")), Ok(None));
        assert_eq!(d.awaited_attachments(), 2);
        assert_eq!(d.decode_binary(Bytes::from_static(b"")), Ok(None));
        let packet = d
            .decode_binary(Bytes::from_static(b"three"))
            .unwrap()
            .unwrap();
        assert_eq!(d.awaited_attachments(), 0);
        assert_eq!(packet.nsp, "/up");
        let Payload::Event(e) = &packet.payload else {
            panic!()
        };
        assert_eq!(e.id, Some(9));
        assert_eq!(e.attachments(), [&b"one"[..], b"", b"three"]);
        assert_eq!(
            crate::binary::resolve(&e.args()[0]["b"][0], e.attachments()).unwrap(),
            &b""[..]
        );
        assert_eq!(packet.encode(), text.as_str());
        // The decoder is ready for the next packet.
        assert_eq!(
            d.decode_text(Str::from("1")),
            Ok(Some(Packet::disconnect("/")))
        );
    }

    #[test]
    fn binary_ack_reassembly() {
        let packet = reassemble(&mut decoder(), &format!("61-/admin,1[{PH0}]"), &[b"\xff"]);
        assert_eq!(
            packet,
            Packet::ack(
                "/admin",
                Ack::new(1, vec![placeholder(0)])
                    .with_attachments(vec![Bytes::from_static(b"\xff")])
                    .unwrap()
            )
        );
    }

    #[test]
    fn placeholders_are_renumbered_as_the_reference_server_would_resend() {
        let packet = reassemble(
            &mut decoder(),
            r#"52-["a",{"num":1,"_placeholder":true,"x":0},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1e0}]"#,
            &[b"A", b"B"],
        );
        assert_eq!(
            packet.encode(),
            format!(r#"53-["a",{PH0},{PH1},{{"_placeholder":true,"num":2}}]"#).as_str()
        );
        assert_eq!(packet.attachments(), [&b"B"[..], b"A", b"B"]);
    }

    #[test]
    fn unreferenced_attachments_are_awaited_then_dropped() {
        let packet = reassemble(&mut decoder(), r#"51-["a"]"#, &[b"unused"]);
        assert_eq!(packet, event("/", None, json!(["a"])));
        assert_eq!(packet.encode(), r#"2["a"]"#);
    }

    #[test]
    fn zero_attachments_leave_placeholders_as_json() {
        let text = format!(r#"50-["a",{PH0}]"#);
        let packet = decode_one(&text);
        assert!(packet.attachments().is_empty());
        assert_eq!(packet.encode(), format!(r#"2["a",{PH0}]"#).as_str());
        // Likewise in a text event.
        assert_eq!(decode_one(&format!(r#"2["a",{PH0}]"#)), packet);
    }

    #[test]
    fn binary_size_limit_crossed_by_one() {
        let limits = Limits {
            max_attachments: 10,
            max_binary_bytes: 5,
        };
        let head = format!(r#"52-["a",{PH0},{PH1}]"#);
        let mut d = Decoder::new(limits);
        let packet = reassemble(&mut d, &head, &[b"ab", b"cde"]);
        assert_eq!(packet.attachments().len(), 2);

        assert_eq!(d.decode_text(Str::from(head.clone())), Ok(None));
        assert_eq!(d.decode_binary(Bytes::from_static(b"ab")), Ok(None));
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"cdef")),
            Err(DecodeError::BinaryTooLarge)
        );
        assert_eq!(d.awaited_attachments(), 0);

        assert_eq!(d.decode_text(Str::from(head)), Ok(None));
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"abcdef")),
            Err(DecodeError::BinaryTooLarge)
        );
    }

    #[test]
    fn idle_decoder_holds_no_buffer() {
        assert!(std::mem::size_of::<Decoder>() <= 3 * std::mem::size_of::<usize>());
    }

    // Construction.

    #[test]
    fn event_construction_checks_its_invariants() {
        assert_eq!(
            Event::from_data(vec![]),
            Err(PayloadError::MissingEventName)
        );
        assert_eq!(
            Event::from_data(vec![json!(null)]),
            Err(PayloadError::InvalidEventName)
        );
        assert_eq!(
            Event::from_data(vec![placeholder(0)]),
            Err(PayloadError::InvalidEventName)
        );
        assert!(Event::from_data(vec![json!(7)]).is_ok());
        let e = Event::new("a", vec![placeholder(1), placeholder(0)]).unwrap();
        let two = vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")];
        assert_eq!(
            e.clone().with_attachments(two),
            Err(PayloadError::PlaceholderMismatch)
        );
        assert_eq!(
            e.clone().with_attachments(vec![Bytes::from_static(b"x")]),
            Err(PayloadError::PlaceholderMismatch)
        );
        // Without attachments placeholder-like objects are plain JSON.
        let plain = Packet::event("/", e.with_attachments(vec![]).unwrap());
        assert_eq!(plain.encode(), format!(r#"2["a",{PH1},{PH0}]"#).as_str());
        assert_eq!(
            Ack::new(1, vec![]).with_attachments(vec![Bytes::new()]),
            Err(PayloadError::PlaceholderMismatch)
        );
    }

    #[test]
    fn encode_event_fast_path_matches_packet_encode() {
        let text =
            encode_event("/chat", Some(12), "msg", &("hi", 1.0, [1, 2], None::<u8>)).unwrap();
        assert_eq!(text, r#"2/chat,12["msg","hi",1,[1,2],null]"#);
        let e = Event::new(
            "msg",
            vec![json!("hi"), json!(1.0), json!([1, 2]), json!(null)],
        );
        assert_eq!(
            Packet::event("/chat", e.unwrap().with_id(12)).encode(),
            text
        );
        assert_eq!(
            encode_event("/", None, "ping", &[] as &[u8]).unwrap(),
            r#"2["ping"]"#
        );
        assert_eq!(
            encode_event("/", None, "q\"", &vec![json!({"b":1,"a":2})]).unwrap(),
            r#"2["q\"",{"b":1,"a":2}]"#
        );
        assert!(matches!(
            encode_event("/", None, "a", "not an array"),
            Err(EncodeError::ArgsNotAnArray)
        ));
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(matches!(
            encode_event("/", None, "a", &[bad]),
            Err(EncodeError::Json(_))
        ));
    }

    // Helpers that follow JavaScript.

    #[test]
    fn js_number_follows_string_to_number() {
        for (text, n) in [
            ("", Some(0.0)),
            (" \n\u{a0}\u{feff}", Some(0.0)),
            ("12", Some(12.0)),
            (" 12 ", Some(12.0)),
            ("+1.5", Some(1.5)),
            ("-1.5e3", Some(-1500.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("0x1F", Some(31.0)),
            ("0B101", Some(5.0)),
            ("0o17", Some(15.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("1e400", Some(f64::INFINITY)),
            ("-0x1", None),
            ("0x", None),
            ("0x1g", None),
            ("inf", None),
            ("nan", None),
            ("1 2", None),
            ("1_000", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("--1", None),
        ] {
            assert_eq!(js_number(text), n, "{text:?}");
        }
    }

    #[test]
    fn js_float_layout() {
        let js = |f: f64| {
            let mut out = Vec::new();
            write_js_float(&mut out, f, f == 0.0).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(js(123.0), "123");
        assert_eq!(js(0.1), "0.1");
        assert_eq!(js(-0.0), "0");
        assert_eq!(js(1e21), "1e+21");
        assert_eq!(js(1.2345e21), "1.2345e+21");
        assert_eq!(js(123456789012345680000.0), "123456789012345680000");
        assert_eq!(js(1e-6), "0.000001");
        assert_eq!(js(1.5e-6), "0.0000015");
        assert_eq!(js(1e-7), "1e-7");
        assert_eq!(js(-2.5e-10), "-2.5e-10");
        assert_eq!(js(2f64.powi(60)), "1152921504606847000");
        assert_eq!(js(0.1 + 0.2), "0.30000000000000004");
        use serde_json::ser::Formatter as _;
        let mut out = Vec::new();
        JsFormatter.write_f32(&mut out, 0.1f32).unwrap();
        assert_eq!(out, b"0.1");
    }

    // Round trips and robustness.

    /// JSON values where `{"_placeholder":true,"num":0}` marks binary data;
    /// keys never look like array indices or `_placeholder`.
    fn json_value() -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // JSON has one number type: an integral float comes back as an
            // integer, as in JavaScript.
            any::<f64>()
                .prop_filter("finite fraction", |f| f.is_finite() && f.fract() != 0.0)
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            Just(placeholder(0)),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{0,4}", inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
        .boxed()
    }

    /// Numbers the placeholders depth first and makes their attachments.
    fn with_attachments(mut values: Vec<Value>) -> (Vec<Value>, Vec<Bytes>) {
        let mut attachments = Vec::new();
        let mut stack: Vec<&mut Value> = values.iter_mut().rev().collect();
        while let Some(v) = stack.pop() {
            if crate::binary::is_placeholder(v) {
                let n = attachments.len();
                *v = attach(&mut attachments, Bytes::from(vec![n as u8; n % 3]));
            } else if let Value::Array(items) = v {
                stack.extend(items.iter_mut().rev());
            } else if let Value::Object(map) = v {
                stack.extend(map.values_mut().rev());
            }
        }
        (values, attachments)
    }

    fn object() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec(("[a-z_]{0,6}", json_value()), 0..4)
            .prop_map(|entries| entries.into_iter().collect())
    }

    fn packet() -> impl Strategy<Value = Packet> {
        let nsp = prop_oneof![Just(String::from("/")), "/[^,]{0,8}"].prop_map(Str::from);
        let name = prop_oneof![
            any::<String>()
                .prop_filter("not reserved", |n| !RESERVED_EVENTS.contains(&n.as_str()))
                .prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6)
                .prop_filter("fraction", |f| f.fract() != 0.0)
                .prop_map(Value::from),
        ];
        let args = prop::collection::vec(json_value(), 0..4);
        let id = any::<Option<u64>>();
        let payload = prop_oneof![
            prop::option::of(object()).prop_map(Payload::Connect),
            Just(Payload::Disconnect),
            (name, args.clone(), id).prop_map(|(name, args, id)| {
                let (data, attachments) = with_attachments([vec![name], args].concat());
                let mut e = Event::from_data(data)
                    .unwrap()
                    .with_attachments(attachments);
                e.as_mut().unwrap().id = id;
                Payload::Event(e.unwrap())
            }),
            (args, any::<u64>()).prop_map(|(args, id)| {
                let (data, attachments) = with_attachments(args);
                Payload::Ack(Ack::new(id, data).with_attachments(attachments).unwrap())
            }),
            prop_oneof![
                Just(None),
                any::<String>().prop_map(|m| Some(ConnectErrorData::Message(m))),
                object().prop_map(|m| Some(ConnectErrorData::Object(m))),
            ]
            .prop_map(Payload::ConnectError),
        ];
        (nsp, payload).prop_map(|(nsp, payload)| Packet { nsp, payload })
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_same_packet(packet in packet()) {
            let mut d = Decoder::new(Limits { max_attachments: usize::MAX, max_binary_bytes: usize::MAX });
            let text = packet.encode();
            let mut out = d.decode_text(text.clone()).unwrap();
            for a in packet.attachments() {
                prop_assert_eq!(&out, &None);
                out = d.decode_binary(a.clone()).unwrap();
            }
            prop_assert_eq!(out.as_ref(), Some(&packet));
            // And the text is stable.
            prop_assert_eq!(out.map(|p| p.encode()), Some(text));
        }

        #[test]
        fn encode_event_agrees_with_packet_encode(
            nsp in "/[a-z]{0,5}",
            id in any::<Option<u64>>(),
            name in "[a-z]{1,8}",
            args in prop::collection::vec(json_value(), 0..4),
        ) {
            let fast = encode_event(&nsp, id, &name, &args).unwrap();
            let mut e = Event::new(name, args).unwrap();
            e.id = id;
            prop_assert_eq!(fast, Packet::event(Str::from(nsp), e).encode());
        }

        #[test]
        fn decoder_never_panics_on_text(text in
            r#"[0-9 ]?[0-9a-z.+ -]{0,4}(/[a-z,]{0,4})?[0-9 ]{0,3}[\[\]{}":,0-9a-z_ ]{0,24}"#
        ) {
            let mut d = Decoder::new(Limits::new(16));
            if let Ok(None) = d.decode_text(Str::from(text)) {
                for _ in 0..d.awaited_attachments() {
                    let _ = d.decode_binary(Bytes::from_static(b"0123"));
                }
            }
        }

        #[test]
        fn decoder_never_panics_on_anything(text in any::<String>()) {
            let _ = decoder().decode_text(Str::from(text));
        }
    }
}
