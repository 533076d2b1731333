//! The msgpack parser: byte for byte what npm `socket.io-msgpack-parser`
//! (3.x, on `notepack.io` 2.x) writes and reads.
//!
//! Every packet is one binary Engine.IO message holding one msgpack map
//! `{type, nsp, data, id}`: `nsp` always present (`/` included), `id` absent
//! (not nil) when there is none, binary values as msgpack `bin` in place (no
//! attachments, no BINARY_EVENT / BINARY_ACK types). The keys come in the
//! order the official server builds its packet objects, which depends on who
//! sends the packet (see [`Sender`]):
//!
//! | packet | keys |
//! | --- | --- |
//! | CONNECT reply | `type, data, nsp` |
//! | DISCONNECT | `type, nsp` |
//! | EVENT from a socket | `type, data, id?, nsp` |
//! | EVENT broadcast | `type, data, nsp, id?` |
//! | ACK | `id, type, data, nsp` |
//! | CONNECT_ERROR from a middleware | `type, data, nsp` |
//! | CONNECT_ERROR "Invalid namespace" | `type, nsp, data` |
//!
//! Values are written as notepack writes the JavaScript value JSON would
//! give: integers (and floats with no fraction) in the smallest integer
//! form, other numbers as float 64, strings by UTF-8 length.
//!
//! Inside the server a packet keeps the [`Packet`] model of the JSON parser:
//! a decoded `bin` becomes a placeholder plus an attachment, numbered depth
//! first, and encoding writes each placeholder's attachment back as `bin`.
//! The differences from the reference decoder, all on input no official
//! client sends:
//!
//! - refused: map keys that are neither strings nor integers, ext types
//!   other than notepack's own (0: ArrayBuffer, undefined, Date), an EVENT
//!   without a name or with a reserved one, ack ids that are not a `u64`,
//!   a literal `{"_placeholder":true,"num":N}` object with `N` out of range
//!   when the packet also carries binary values (it is read as a placeholder);
//! - `undefined` inside data reads as `null`; a Date reads as its ISO 8601
//!   string (what `JSON.stringify` would send);
//! - invalid UTF-8 in strings is replaced by U+FFFD, as Node's
//!   `buffer.toString` does;
//! - the limits of [`MsgpackLimits`] (nesting, values, binary values) and
//!   [`Limits::max_binary_bytes`].

mod decode;

use bytes::Bytes;
use engineio_proto::{Data, Message};
use serde_json::{Map, Number, Value};

use crate::binary::resolve;
use crate::packet::{ConnectErrorData, Limits, Packet, Payload};
use crate::parser::{PacketDecoder, ParseError, Parser, Sender};

pub use crate::error::MsgpackError;
pub use decode::{decode, js_date_json};

/// The npm `socket.io-msgpack-parser`, with limits on what it decodes.
///
/// ```
/// use socketio_proto::msgpack::MsgpackParser;
/// use socketio_proto::parser::{Parser, Sender};
/// use socketio_proto::packet::Packet;
/// use engineio_proto::Message;
///
/// let messages = MsgpackParser::default().encode(&Packet::disconnect("/"), Sender::Socket);
/// // {"type":1,"nsp":"/"}
/// assert_eq!(messages, [Message::binary(&b"\x82\xa4type\x01\xa3nsp\xa1/"[..])]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgpackParser {
    /// What one decoded packet may hold.
    pub limits: MsgpackLimits,
}

/// Bounds on one decoded msgpack packet, beyond the message size the engine
/// already bounds (`max_http_buffer_size`). Crossing one closes the
/// connection with a parse error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgpackLimits {
    /// Deepest nesting of arrays and maps, the packet map itself being
    /// depth 1 (default 32). The decoder recurses once per level.
    pub max_depth: usize,
    /// Most values (map keys included) in one packet (default 100 000):
    /// bounds the memory a message of tiny values expands to.
    pub max_values: usize,
    /// Most binary values in one packet (default 1 000).
    pub max_binaries: usize,
}

impl Default for MsgpackLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_values: 100_000,
            max_binaries: 1_000,
        }
    }
}

impl Parser for MsgpackParser {
    fn encode(&self, packet: &Packet, sender: Sender) -> Vec<Message> {
        vec![Message::binary(encode(packet, sender))]
    }

    fn encode_into(&self, packet: &Packet, sender: Sender, out: &mut Vec<Message>) {
        out.push(Message::binary(encode(packet, sender)));
    }

    fn decoder(&self, limits: Limits) -> Box<dyn PacketDecoder> {
        Box::new(MsgpackDecoder {
            limits: self.limits,
            max_binary_bytes: limits.max_binary_bytes,
        })
    }
}

/// The decoder of one connection: it keeps nothing between messages.
#[derive(Debug, Clone, Copy)]
struct MsgpackDecoder {
    limits: MsgpackLimits,
    max_binary_bytes: usize,
}

impl PacketDecoder for MsgpackDecoder {
    fn decode(&mut self, data: Data) -> Result<Option<Packet>, ParseError> {
        match data {
            Data::Text(_) => Err(MsgpackError::UnexpectedText.into()),
            Data::Binary(bytes) => Ok(Some(decode(bytes, self.limits, self.max_binary_bytes)?)),
        }
    }
}

// ----- encoding -----

/// The msgpack bytes of `packet` as the official server writes them.
pub fn encode(packet: &Packet, sender: Sender) -> Bytes {
    let mut w = Writer {
        out: Vec::with_capacity(64),
        attachments: packet.attachments(),
    };
    let kind = packet.packet_type() as u8;
    // Binary packets are EVENT / ACK here: msgpack carries binary in place.
    let kind = match kind {
        5 => 2,
        6 => 3,
        k => k,
    };
    let nsp = &*packet.nsp;
    match &packet.payload {
        Payload::Connect(data) => {
            w.map_header(2 + usize::from(data.is_some()));
            w.key_type(kind);
            if let Some(data) = data {
                w.str("data");
                w.object(data);
            }
            w.key_nsp(nsp);
        }
        Payload::Disconnect => {
            w.map_header(2);
            w.key_type(kind);
            w.key_nsp(nsp);
        }
        Payload::Event(event) => {
            w.map_header(3 + usize::from(event.id.is_some()));
            w.key_type(kind);
            w.str("data");
            w.array(event.data());
            match sender {
                Sender::Broadcast => {
                    w.key_nsp(nsp);
                    w.key_id(event.id);
                }
                Sender::Socket | Sender::Client => {
                    w.key_id(event.id);
                    w.key_nsp(nsp);
                }
            }
        }
        Payload::Ack(ack) => {
            w.map_header(3 + usize::from(ack.id.is_some()));
            w.key_id(ack.id);
            w.key_type(kind);
            w.str("data");
            w.array(ack.data());
            w.key_nsp(nsp);
        }
        Payload::ConnectError(data) => {
            w.map_header(2 + usize::from(data.is_some()));
            w.key_type(kind);
            if sender == Sender::Client {
                w.key_nsp(nsp);
            }
            if let Some(data) = data {
                w.str("data");
                match data {
                    ConnectErrorData::Message(m) => w.str(m),
                    ConnectErrorData::Object(map) => w.object(map),
                }
            }
            if sender != Sender::Client {
                w.key_nsp(nsp);
            }
        }
    }
    Bytes::from(w.out)
}

struct Writer<'a> {
    out: Vec<u8>,
    /// Placeholders stand for these.
    attachments: &'a [Bytes],
}

impl Writer<'_> {
    fn key_type(&mut self, kind: u8) {
        self.str("type");
        self.out.push(kind);
    }

    fn key_nsp(&mut self, nsp: &str) {
        self.str("nsp");
        self.str(nsp);
    }

    fn key_id(&mut self, id: Option<u64>) {
        if let Some(id) = id {
            self.str("id");
            self.uint(id);
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.out.push(0xc0),
            Value::Bool(b) => self.out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Number(n) => self.number(n),
            Value::String(s) => self.str(s),
            Value::Array(items) => self.array(items),
            Value::Object(map) => match resolve(value, self.attachments) {
                Some(bin) => self.bin(bin),
                None => self.object(map),
            },
        }
    }

    fn array(&mut self, items: &[Value]) {
        self.header(items.len(), 0x90, 0x10, 0xdc);
        for item in items {
            self.value(item);
        }
    }

    fn object(&mut self, map: &Map<String, Value>) {
        self.map_header(map.len());
        for (key, value) in map {
            self.str(key);
            self.value(value);
        }
    }

    fn map_header(&mut self, len: usize) {
        self.header(len, 0x80, 0x10, 0xde);
    }

    /// A fix form below `fix_max`, else the 16-bit form `tag`, else the
    /// 32-bit one (`tag + 1`).
    fn header(&mut self, len: usize, fix: u8, fix_max: usize, tag: u8) {
        if len < fix_max {
            // Below 16 or 32: fits the low bits.
            self.out.push(fix | len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.push(tag);
            self.out.extend_from_slice(&len.to_be_bytes());
        } else {
            self.out.push(tag + 1);
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }

    fn str(&mut self, s: &str) {
        let len = s.len();
        if len < 0x20 {
            self.out.push(0xa0 | len as u8);
        } else if let Ok(len) = u8::try_from(len) {
            self.out.extend_from_slice(&[0xd9, len]);
        } else {
            self.header(len, 0, 0, 0xda);
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    fn bin(&mut self, data: &[u8]) {
        let len = data.len();
        if let Ok(len) = u8::try_from(len) {
            self.out.extend_from_slice(&[0xc4, len]);
        } else if let Ok(len) = u16::try_from(len) {
            self.out.push(0xc5);
            self.out.extend_from_slice(&len.to_be_bytes());
        } else {
            self.out.push(0xc6);
            self.out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.out.extend_from_slice(data);
    }

    fn number(&mut self, n: &Number) {
        if let Some(u) = n.as_u64() {
            self.uint(u);
        } else if let Some(i) = n.as_i64() {
            self.int(i);
        } else if let Some(f) = n.as_f64() {
            self.float(f);
        }
    }

    fn uint(&mut self, u: u64) {
        if u < 0x80 {
            self.out.push(u as u8);
        } else if let Ok(u) = u8::try_from(u) {
            self.out.extend_from_slice(&[0xcc, u]);
        } else if let Ok(u) = u16::try_from(u) {
            self.out.push(0xcd);
            self.out.extend_from_slice(&u.to_be_bytes());
        } else if let Ok(u) = u32::try_from(u) {
            self.out.push(0xce);
            self.out.extend_from_slice(&u.to_be_bytes());
        } else {
            self.out.push(0xcf);
            self.out.extend_from_slice(&u.to_be_bytes());
        }
    }

    fn int(&mut self, i: i64) {
        if i >= 0 {
            self.uint(i.unsigned_abs());
        } else if i >= -0x20 {
            self.out.push(i as u8);
        } else if let Ok(i) = i8::try_from(i) {
            self.out.extend_from_slice(&[0xd0, i as u8]);
        } else if let Ok(i) = i16::try_from(i) {
            self.out.push(0xd1);
            self.out.extend_from_slice(&i.to_be_bytes());
        } else if let Ok(i) = i32::try_from(i) {
            self.out.push(0xd2);
            self.out.extend_from_slice(&i.to_be_bytes());
        } else {
            self.out.push(0xd3);
            self.out.extend_from_slice(&i.to_be_bytes());
        }
    }

    /// A double as notepack writes the JavaScript number: one without a
    /// fraction in integer form (-0 as 0), beyond 64 bits with the bits
    /// JavaScript's 32-bit conversions leave; any other as float 64.
    fn float(&mut self, f: f64) {
        const TWO_32: f64 = 4_294_967_296.0;
        if !f.is_finite() || f.fract() != 0.0 {
            self.out.push(0xcb);
            self.out.extend_from_slice(&f.to_be_bytes());
            return;
        }
        // Both conversions are in range: the value has no fraction and is
        // checked against each bound first.
        // -0 is in the first range (it compares equal to 0).
        if (0.0..TWO_32).contains(&f) {
            self.uint(f as u64);
        } else if (-2_147_483_648.0..0.0).contains(&f) {
            self.int(f as i64);
        } else {
            let hi = (f / TWO_32).floor().rem_euclid(TWO_32) as u32;
            let lo = f.rem_euclid(TWO_32) as u32;
            self.out.push(if f >= 0.0 { 0xcf } else { 0xd3 });
            self.out.extend_from_slice(&hi.to_be_bytes());
            self.out.extend_from_slice(&lo.to_be_bytes());
        }
    }
}
