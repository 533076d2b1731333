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

use bytes::Bytes;
use engineio_proto::{Data, Message, Str};
use serde_json::{Map, Number, Value};

use crate::binary::{normalize, placeholder, resolve};
use crate::packet::{Ack, ConnectErrorData, Event, Limits, Packet, Payload};
use crate::parser::{PacketDecoder, ParseError, Parser, Sender};

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

/// Why a message is not a msgpack packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    /// A text message: this parser only reads binary ones.
    #[error("unexpected text message")]
    UnexpectedText,
    /// The message ends inside a value.
    #[error("truncated msgpack")]
    Truncated,
    /// Bytes follow the packet map.
    #[error("trailing bytes")]
    TrailingBytes,
    /// A byte that starts no msgpack value (`0xc1`).
    #[error("could not parse")]
    InvalidPrefix,
    /// An ext type notepack does not write.
    #[error("unsupported ext type")]
    UnsupportedExt,
    /// A map key that is neither a string nor an integer.
    #[error("unsupported map key")]
    InvalidKey,
    /// Nesting deeper than [`MsgpackLimits::max_depth`].
    #[error("msgpack nested too deeply")]
    TooDeep,
    /// More values than [`MsgpackLimits::max_values`].
    #[error("too many msgpack values")]
    TooManyValues,
    /// More binary values than [`MsgpackLimits::max_binaries`].
    #[error("too many binary values")]
    TooManyBinaries,
    /// Binary values adding up to more than [`Limits::max_binary_bytes`].
    #[error("binary values too large")]
    BinaryTooLarge,
    /// `type` is not an integer from 0 to 4 (or the message is not a map).
    #[error("invalid packet type")]
    InvalidType,
    /// `nsp` is not a string.
    #[error("invalid namespace")]
    InvalidNamespace,
    /// `data` does not suit the type.
    #[error("invalid payload")]
    InvalidPayload,
    /// `id` is present and not a `u64`.
    #[error("invalid packet id")]
    InvalidId,
}

impl Parser for MsgpackParser {
    fn encode(&self, packet: &Packet, sender: Sender) -> Vec<Message> {
        vec![Message::binary(encode(packet, sender))]
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

// ----- decoding -----

/// Decodes one message into a packet, checking what the reference decoder
/// checks (`checkPacket`) and the limits.
pub fn decode(
    bytes: Bytes,
    limits: MsgpackLimits,
    max_binary_bytes: usize,
) -> Result<Packet, MsgpackError> {
    let mut r = Reader {
        bytes: &bytes,
        pos: 0,
        limits,
        max_binary_bytes,
        values: 0,
        binary_bytes: 0,
        binaries: Vec::new(),
    };
    let fields = r.root()?;
    if r.pos != bytes.len() {
        return Err(MsgpackError::TrailingBytes);
    }
    let binaries = std::mem::take(&mut r.binaries);
    build(fields, binaries)
}

/// The packet map's fields the reference decoder reads. `None`: absent or
/// `undefined`.
#[derive(Default)]
struct Fields {
    kind: Option<Value>,
    nsp: Option<Value>,
    data: Option<(Shape, Value)>,
    id: Option<Value>,
}

/// What msgpack type a `data` value had, before binary values became
/// placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Map,
    Array,
    Str,
    Other,
}

fn build(fields: Fields, binaries: Vec<Bytes>) -> Result<Packet, MsgpackError> {
    let kind = fields
        .kind
        .as_ref()
        .and_then(integer)
        .filter(|k| (0.0..=4.0).contains(k))
        .ok_or(MsgpackError::InvalidType)?;
    let nsp = match fields.nsp {
        Some(Value::String(nsp)) => Str::from(nsp),
        _ => return Err(MsgpackError::InvalidNamespace),
    };
    let id = match &fields.id {
        None => None,
        Some(v) => Some(
            integer(v)
                .filter(|id| *id >= 0.0)
                .and_then(|_| v.as_u64().or_else(|| exact_u64(v)))
                .ok_or(MsgpackError::InvalidId)?,
        ),
    };
    let payload = match (kind as u8, fields.data) {
        (0, None) => Payload::Connect(None),
        (0, Some((Shape::Map, Value::Object(mut map)))) => {
            sort_keys(&mut map, binaries.len())?;
            Payload::Connect(Some(map))
        }
        (1, None) => Payload::Disconnect,
        (4, Some((Shape::Str, Value::String(s)))) => {
            Payload::ConnectError(Some(ConnectErrorData::Message(s)))
        }
        (4, Some((Shape::Map, Value::Object(mut map)))) => {
            sort_keys(&mut map, binaries.len())?;
            Payload::ConnectError(Some(ConnectErrorData::Object(map)))
        }
        (2 | 3, Some((Shape::Array, Value::Array(data)))) => {
            let mut root = Value::Array(data);
            let sources = normalize(&mut root, binaries.len()).map_err(|_| {
                // A literal placeholder naming no binary value.
                MsgpackError::InvalidPayload
            })?;
            let Value::Array(data) = root else {
                return Err(MsgpackError::InvalidPayload);
            };
            let attachments: Vec<Bytes> = sources
                .iter()
                .filter_map(|&s| binaries.get(s).cloned())
                .collect();
            if kind as u8 == 2 {
                let mut event = Event::from_data(data)
                    .and_then(|e| e.with_attachments(attachments))
                    .map_err(|_| MsgpackError::InvalidPayload)?;
                event.id = id;
                Payload::Event(event)
            } else {
                let mut ack = Ack::new(0, data)
                    .with_attachments(attachments)
                    .map_err(|_| MsgpackError::InvalidPayload)?;
                ack.id = id;
                Payload::Ack(ack)
            }
        }
        _ => return Err(MsgpackError::InvalidPayload),
    };
    Ok(Packet { nsp, payload })
}

/// Objects outside event data cannot hold binary values in the [`Packet`]
/// model; their keys go in JavaScript order as the others.
fn sort_keys(map: &mut Map<String, Value>, binaries: usize) -> Result<(), MsgpackError> {
    if binaries > 0 {
        return Err(MsgpackError::InvalidPayload);
    }
    let mut root = Value::Object(std::mem::take(map));
    let _ = normalize(&mut root, 0);
    if let Value::Object(sorted) = root {
        *map = sorted;
    }
    Ok(())
}

/// The number `v` is, when it is an integer (as `Number.isInteger`).
fn integer(v: &Value) -> Option<f64> {
    let f = v.as_f64()?;
    (f.is_finite() && f.fract() == 0.0).then_some(f)
}

/// A float without fraction that a `u64` holds exactly.
fn exact_u64(v: &Value) -> Option<u64> {
    let f = v.as_f64()?;
    (0.0..18_446_744_073_709_551_616.0)
        .contains(&f)
        .then_some(f as u64)
}

struct Reader<'a> {
    bytes: &'a Bytes,
    pos: usize,
    limits: MsgpackLimits,
    max_binary_bytes: usize,
    values: usize,
    binary_bytes: usize,
    /// The binary values met, in reading order.
    binaries: Vec<Bytes>,
}

/// A decoded value, `undefined` kept apart.
enum Read {
    Undefined,
    Value(Value),
}

impl Reader<'_> {
    /// The packet map.
    fn root(&mut self) -> Result<Fields, MsgpackError> {
        let prefix = self.peek()?;
        let len = match prefix {
            0x80..=0x8f => {
                self.pos += 1;
                usize::from(prefix & 0x0f)
            }
            0xde => {
                self.pos += 1;
                self.be(2)?
            }
            0xdf => {
                self.pos += 1;
                self.be(4)?
            }
            // Not an object: its `type` is undefined.
            _ => {
                let _ = self.read(1)?;
                return Err(MsgpackError::InvalidType);
            }
        };
        self.check_count(len, 2)?;
        self.count()?;
        let mut fields = Fields::default();
        for _ in 0..len {
            let key = self.key(1)?;
            let shape = match self.peek()? {
                0x80..=0x8f | 0xde | 0xdf => Shape::Map,
                0x90..=0x9f | 0xdc | 0xdd => Shape::Array,
                0xa0..=0xbf | 0xd9..=0xdb => Shape::Str,
                _ => Shape::Other,
            };
            let value = match self.read(1)? {
                Read::Undefined => None,
                Read::Value(v) => Some(v),
            };
            // A repeated key: the last value wins, as in a JavaScript object.
            match key.as_str() {
                "type" => fields.kind = value,
                "nsp" => fields.nsp = value,
                "data" => fields.data = value.map(|v| (shape, v)),
                "id" => fields.id = value,
                _ => {}
            }
        }
        Ok(fields)
    }

    fn peek(&self) -> Result<u8, MsgpackError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(MsgpackError::Truncated)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], MsgpackError> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Truncated)?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    /// A big-endian unsigned integer of `n` (1, 2, 4 or 8) bytes.
    fn be(&mut self, n: usize) -> Result<usize, MsgpackError> {
        let v = self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        usize::try_from(v).map_err(|_| MsgpackError::Truncated)
    }

    fn count(&mut self) -> Result<(), MsgpackError> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(MsgpackError::TooManyValues);
        }
        Ok(())
    }

    /// A container claiming `len` elements of at least `min` bytes each must
    /// fit in what is left: nothing is reserved for a count the message
    /// cannot hold.
    fn check_count(&self, len: usize, min: usize) -> Result<(), MsgpackError> {
        let left = self.bytes.len().saturating_sub(self.pos);
        if len.saturating_mul(min) > left {
            return Err(MsgpackError::Truncated);
        }
        Ok(())
    }

    /// A map key: a string, or an integer in its decimal form (the property
    /// name JavaScript makes of it).
    fn key(&mut self, depth: usize) -> Result<String, MsgpackError> {
        match self.read(depth)? {
            Read::Value(Value::String(s)) => Ok(s),
            Read::Value(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            _ => Err(MsgpackError::InvalidKey),
        }
    }

    fn string(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let raw = self.take(len)?;
        Ok(Value::String(String::from_utf8_lossy(raw).into_owned()))
    }

    fn binary(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let start = self.pos;
        let _ = self.take(len)?;
        if self.binaries.len() >= self.limits.max_binaries {
            return Err(MsgpackError::TooManyBinaries);
        }
        self.binary_bytes = self.binary_bytes.saturating_add(len);
        if self.binary_bytes > self.max_binary_bytes {
            return Err(MsgpackError::BinaryTooLarge);
        }
        self.binaries.push(self.bytes.slice(start..start + len));
        Ok(placeholder(self.binaries.len() - 1))
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, MsgpackError> {
        if depth >= self.limits.max_depth {
            return Err(MsgpackError::TooDeep);
        }
        self.check_count(len, 1)?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(match self.read(depth + 1)? {
                Read::Undefined => Value::Null,
                Read::Value(v) => v,
            });
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, MsgpackError> {
        if depth >= self.limits.max_depth {
            return Err(MsgpackError::TooDeep);
        }
        self.check_count(len, 2)?;
        let mut map = Map::with_capacity(len);
        for _ in 0..len {
            let key = self.key(depth + 1)?;
            let value = match self.read(depth + 1)? {
                Read::Undefined => Value::Null,
                Read::Value(v) => v,
            };
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    /// An ext value: notepack writes type 0 only (ArrayBuffer, undefined,
    /// Date).
    fn ext(&mut self, len: usize) -> Result<Read, MsgpackError> {
        let kind = self.take(1)?.first().copied().unwrap_or(1);
        match (kind, len) {
            (0, 1) => {
                let _ = self.take(1)?;
                Ok(Read::Undefined)
            }
            (0, 8) => {
                let ms = i64::from_be_bytes(
                    self.take(8)?
                        .try_into()
                        .map_err(|_| MsgpackError::Truncated)?,
                );
                Ok(Read::Value(Value::String(iso_date(ms))))
            }
            _ => Err(MsgpackError::UnsupportedExt),
        }
    }

    /// One value at nesting `depth`.
    fn read(&mut self, depth: usize) -> Result<Read, MsgpackError> {
        self.count()?;
        let prefix = self.take(1)?.first().copied().unwrap_or(0xc1);
        let v = match prefix {
            0x00..=0x7f => Value::from(prefix),
            0x80..=0x8f => self.map(usize::from(prefix & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(prefix & 0x0f), depth)?,
            0xa0..=0xbf => self.string(usize::from(prefix & 0x1f))?,
            0xe0..=0xff => Value::from(i64::from(prefix as i8)),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.be(1)?;
                self.binary(n)?
            }
            0xc5 => {
                let n = self.be(2)?;
                self.binary(n)?
            }
            0xc6 => {
                let n = self.be(4)?;
                self.binary(n)?
            }
            // ext 8/16/32: type 0 is an ArrayBuffer.
            0xc7..=0xc9 => {
                let n = self.be(1 << (prefix - 0xc7))?;
                let kind = self.take(1)?.first().copied().unwrap_or(1);
                if kind != 0 {
                    return Err(MsgpackError::UnsupportedExt);
                }
                self.binary(n)?
            }
            0xca => {
                let bits = self.be(4)? as u32;
                float(f64::from(f32::from_bits(bits)))
            }
            0xcb => {
                let bits = self.be(8)? as u64;
                float(f64::from_bits(bits))
            }
            0xcc => Value::from(self.be(1)?),
            0xcd => Value::from(self.be(2)?),
            0xce => Value::from(self.be(4)?),
            0xcf => Value::from(self.be(8)? as u64),
            0xd0 => Value::from(i64::from(self.be(1)? as u8 as i8)),
            0xd1 => Value::from(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::from(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::from(self.be(8)? as u64 as i64),
            // fixext 1, 2, 4, 8, 16
            0xd4 => return self.ext(1),
            0xd5 => return self.ext(2),
            0xd6 => return self.ext(4),
            0xd7 => return self.ext(8),
            0xd8 => return self.ext(16),
            0xd9 => {
                let n = self.be(1)?;
                self.string(n)?
            }
            0xda => {
                let n = self.be(2)?;
                self.string(n)?
            }
            0xdb => {
                let n = self.be(4)?;
                self.string(n)?
            }
            0xdc => {
                let n = self.be(2)?;
                self.array(n, depth)?
            }
            0xdd => {
                let n = self.be(4)?;
                self.array(n, depth)?
            }
            0xde => {
                let n = self.be(2)?;
                self.map(n, depth)?
            }
            0xdf => {
                let n = self.be(4)?;
                self.map(n, depth)?
            }
            // 0xc1
            _ => return Err(MsgpackError::InvalidPrefix),
        };
        Ok(Read::Value(v))
    }
}

/// A decoded float; NaN and the infinities, which JSON cannot hold, become
/// `null` as `JSON.stringify` makes them.
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `Date.prototype.toISOString` of a time in milliseconds since the epoch.
fn iso_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}
