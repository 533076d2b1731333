//! Reading a msgpack message into a [`Packet`], with the limits of
//! [`MsgpackLimits`].

use bytes::Bytes;
use engineio_proto::Str;
use serde_json::{Map, Number, Value};

use super::{MsgpackError, MsgpackLimits};
use crate::binary::{normalize, placeholder};
use crate::packet::{Ack, ConnectErrorData, Event, Packet, Payload};

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
                Ok(Read::Value(
                    js_date_json(i128::from(ms)).map_or(Value::Null, Value::String),
                ))
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

/// `JSON.stringify(new Date(ms))` without its quotes, for a time in
/// milliseconds since the epoch: `Date.prototype.toISOString` (years past
/// 9999 or before 0 with a sign and six digits); `None` past JavaScript's
/// dates (±8.64e15 ms), whose JSON is `null`. What a decoded msgpack `Date`
/// becomes, here and in adapter-redis, and the admin UI's timestamps.
///
/// ```
/// use socketio_proto::msgpack::js_date_json;
/// assert_eq!(js_date_json(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
/// assert_eq!(js_date_json(-1).as_deref(), Some("1969-12-31T23:59:59.999Z"));
/// assert_eq!(js_date_json(253_402_300_800_000).as_deref(), Some("+010000-01-01T00:00:00.000Z"));
/// assert_eq!(js_date_json(8_640_000_000_000_001), None);
/// ```
pub fn js_date_json(ms: i128) -> Option<String> {
    if ms.abs() > 8_640_000_000_000_000 {
        return None;
    }
    // In range: fits an i64 with room to spare.
    let ms = ms as i64;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = crate::jsdate::civil_from_days(days);
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
    Some(format!(
        "{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
    ))
}
