//! MessagePack as `notepack.io` 3 (the classic adapter's default parser)
//! writes and reads it, for the JSON-like values Socket.IO carries plus
//! binary buffers.
//!
//! notepack picks the smallest form for every value: integers (a JS number
//! with no fraction) as positive fixint / uint 8-64 or negative fixint /
//! int 8-64, other numbers as float 64, strings as fixstr / str 8-32, arrays
//! as fixarray / array 16-32, objects as fixmap / map 16-32 in key order,
//! `Buffer`s as bin 8-32, `null` and `undefined` as nil (keys whose value
//! is `undefined` are left out). The decoder also takes float 32, the
//! `undefined` extension (`d4 00 00`, read as nil) and notepack's `Date`s
//! (the timestamp extension -1 in its 32, 64 and 96-bit forms, and the
//! older `d7 00` milliseconds), read as the text `JSON.stringify` makes of
//! them (`2026-12-07T00:02:09.123Z`; nil for a date out of JavaScript's
//! range), which is what a client of a Node server gets: the admin UI's
//! notifications carry dates. Other extensions are refused.

use bytes::Bytes;
use serde_json::{Map, Number, Value};

pub use socketio_proto::msgpack::js_date_json;

/// A MessagePack value.
#[derive(Debug, Clone, PartialEq)]
pub enum Pack {
    /// nil (`null`, `undefined`).
    Nil,
    /// true / false.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A number with a fraction, or not finite.
    Float(f64),
    /// UTF-8 text.
    Str(String),
    /// A buffer.
    Bin(Bytes),
    /// A list.
    Array(Vec<Pack>),
    /// An object, keys in order.
    Map(Vec<(String, Pack)>),
}

/// Why bytes are not a value this codec reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    /// The input ends inside a value.
    #[error("truncated msgpack")]
    Truncated,
    /// Bytes are left after the value.
    #[error("trailing bytes after msgpack value")]
    Trailing,
    /// A type byte this codec does not read (extensions other than
    /// `undefined`, reserved 0xc1).
    #[error("unsupported msgpack type 0x{0:02x}")]
    Unsupported(u8),
    /// A string that is not UTF-8, or a map key that is not a string or a
    /// number.
    #[error("invalid msgpack string or key")]
    Invalid,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("msgpack nested too deep")]
    TooDeep,
}

/// How deep arrays and maps may nest in decoded input.
pub const MAX_DEPTH: usize = 100;

impl Pack {
    /// The bytes notepack writes for this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Appends the encoding to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Nil => out.push(0xc0),
            Self::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
            Self::UInt(v) => write_uint(*v, out),
            Self::Int(v) => write_int(*v, out),
            Self::Float(f) => write_number(*f, out),
            Self::Str(s) => {
                write_len(s.len(), [0xa0, 0xd9, 0xda, 0xdb], 0x20, out);
                out.extend_from_slice(s.as_bytes());
            }
            Self::Bin(b) => {
                // bin has no fix form: bin 8 from length 0.
                write_len(b.len(), [0xc4, 0xc4, 0xc5, 0xc6], 0, out);
                out.extend_from_slice(b);
            }
            Self::Array(items) => {
                write_len(items.len(), [0x90, 0xdc, 0xdc, 0xdd], 0x10, out);
                for item in items {
                    item.write(out);
                }
            }
            Self::Map(entries) => {
                write_len(entries.len(), [0x80, 0xde, 0xde, 0xdf], 0x10, out);
                for (k, v) in entries {
                    Self::Str(k.clone()).write(out);
                    v.write(out);
                }
            }
        }
    }

    /// Reads one value that spans all of `input`.
    pub fn decode(input: &[u8]) -> Result<Self, MsgpackError> {
        let mut reader = Reader { input, pos: 0 };
        let value = reader.value(0)?;
        if reader.pos != input.len() {
            return Err(MsgpackError::Trailing);
        }
        Ok(value)
    }

    /// A JSON value as Socket.IO packs it: binary placeholders
    /// (`{"_placeholder":true,"num":n}`) become the buffers of
    /// `attachments` they point at.
    pub fn from_json(value: &Value, attachments: &[Bytes]) -> Self {
        match value {
            Value::Null => Self::Nil,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Self::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    Self::Int(i)
                } else {
                    Self::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => Self::Str(s.clone()),
            Value::Array(items) => Self::Array(
                items
                    .iter()
                    .map(|v| Self::from_json(v, attachments))
                    .collect(),
            ),
            Value::Object(map) => {
                if let Some(bin) = placeholder(map).and_then(|n| attachments.get(n)) {
                    return Self::Bin(bin.clone());
                }
                Self::Map(
                    map.iter()
                        .map(|(k, v)| (k.clone(), Self::from_json(v, attachments)))
                        .collect(),
                )
            }
        }
    }

    /// The JSON value, each buffer moved to `attachments` and replaced by
    /// its placeholder. A float that is not finite reads as `null`, as
    /// `JSON.stringify` writes it.
    pub fn into_json(self, attachments: &mut Vec<Bytes>) -> Value {
        match self {
            Self::Nil => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::UInt(u) => Value::from(u),
            Self::Int(i) => Value::from(i),
            Self::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Self::Str(s) => Value::String(s),
            Self::Bin(b) => {
                let num = attachments.len();
                attachments.push(b);
                serde_json::json!({"_placeholder": true, "num": num})
            }
            Self::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| v.into_json(attachments))
                    .collect(),
            ),
            Self::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json(attachments)))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// The entry `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Pack> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The attachment index of a binary placeholder object.
fn placeholder(map: &Map<String, Value>) -> Option<usize> {
    if map.len() == 2 && map.get("_placeholder") == Some(&Value::Bool(true)) {
        map.get("num")?.as_u64().map(|n| n as usize)
    } else {
        None
    }
}

/// A JS number: integral finite values take the integer forms.
fn write_number(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() && f.fract() == 0.0 {
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
            return write_uint(f as u64, out);
        }
        if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
            return write_int(f as i64, out);
        }
    }
    out.push(0xcb);
    out.extend_from_slice(&f.to_be_bytes());
}

fn write_uint(v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v < 0x100 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v < 0x1_0000 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v < 0x1_0000_0000 {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_int(v: i64, out: &mut Vec<u8>) {
    if v >= 0 {
        write_uint(v as u64, out);
    } else if v >= -0x20 {
        out.push(v as u8);
    } else if v >= -0x80 {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if v >= -0x8000 {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= -0x8000_0000 {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A length prefix: the fix form below `fix_limit` (`tags[0] | len`),
/// then the 8-, 16- and 32-bit forms.
fn write_len(len: usize, tags: [u8; 4], fix_limit: usize, out: &mut Vec<u8>) {
    if len < fix_limit {
        out.push(tags[0] | len as u8);
    } else if len < 0x100 && tags[1] != tags[2] {
        out.extend_from_slice(&[tags[1], len as u8]);
    } else if len < 0x1_0000 {
        out.push(tags[2]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(tags[3]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MsgpackError> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Truncated)?;
        let bytes = self
            .input
            .get(self.pos..end)
            .ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn be(&mut self, n: usize) -> Result<u64, MsgpackError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// A count of items that each take at least one byte: never more than
    /// the bytes left, so nothing is reserved for input that is not there.
    fn count(&mut self, n: usize) -> Result<usize, MsgpackError> {
        let count = self.be(n)? as usize;
        if count > self.input.len() - self.pos {
            return Err(MsgpackError::Truncated);
        }
        Ok(count)
    }

    fn value(&mut self, depth: usize) -> Result<Pack, MsgpackError> {
        if depth > MAX_DEPTH {
            return Err(MsgpackError::TooDeep);
        }
        let tag = self.byte()?;
        Ok(match tag {
            0x00..=0x7f => Pack::UInt(u64::from(tag)),
            0x80..=0x8f => self.map(usize::from(tag & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(tag & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(tag & 0x1f))?,
            0xc0 => Pack::Nil,
            0xc2 => Pack::Bool(false),
            0xc3 => Pack::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be(1 << (tag - 0xc4))? as usize;
                Pack::Bin(Bytes::copy_from_slice(self.take(n)?))
            }
            0xca => Pack::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Pack::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Pack::UInt(self.be(1 << (tag - 0xcc))?),
            0xd0 => Pack::Int(i64::from(self.be(1)? as u8 as i8)),
            0xd1 => Pack::Int(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => Pack::Int(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => {
                let v = self.be(8)? as i64;
                if v >= 0 {
                    Pack::UInt(v as u64)
                } else {
                    Pack::Int(v)
                }
            }
            0xd6 | 0xd7 | 0xc7 => self.date(tag)?,
            0xd4 => {
                // fixext 1: only notepack's `undefined` (type 0).
                let ext = self.take(2)?;
                if ext.first() != Some(&0) {
                    return Err(MsgpackError::Unsupported(tag));
                }
                Pack::Nil
            }
            0xd9..=0xdb => {
                let n = self.be(1 << (tag - 0xd9))? as usize;
                self.str(n)?
            }
            0xdc | 0xdd => {
                let n = self.count(if tag == 0xdc { 2 } else { 4 })?;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.count(if tag == 0xde { 2 } else { 4 })?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Pack::Int(i64::from(tag as i8)),
            other => return Err(MsgpackError::Unsupported(other)),
        })
    }

    /// notepack's `Date` (after its tag): the timestamp extension (type
    /// -1) in 32 (`d6`), 64 (`d7`) and 96 bits (`c7 0c`), or the older
    /// milliseconds form (`d7 00`).
    fn date(&mut self, tag: u8) -> Result<Pack, MsgpackError> {
        if tag == 0xc7 && self.byte()? != 12 {
            return Err(MsgpackError::Unsupported(tag));
        }
        let kind = self.byte()?;
        let ms: i128 = match (tag, kind) {
            (0xd6, 0xff) => i128::from(self.be(4)?) * 1000,
            (0xd7, 0xff) => {
                let (hi, lo) = (self.be(4)?, self.be(4)?);
                let secs = ((hi & 0x3) << 32) | lo;
                i128::from(secs) * 1000 + i128::from(hi >> 2) / 1_000_000
            }
            (0xd7, 0x00) => {
                let (hi, lo) = (self.be(4)? as u32 as i32, self.be(4)?);
                i128::from(hi) * (1 << 32) + i128::from(lo)
            }
            (0xc7, 0xff) => {
                let ns = self.be(4)?;
                let secs = self.be(8)? as i64;
                // JavaScript's Date keeps whole milliseconds, cut toward 0.
                let ms = i128::from(secs) * 1_000_000_000 + i128::from(ns);
                ms / 1_000_000
            }
            _ => return Err(MsgpackError::Unsupported(tag)),
        };
        Ok(js_date_json(ms).map_or(Pack::Nil, Pack::Str))
    }

    fn str(&mut self, n: usize) -> Result<Pack, MsgpackError> {
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(|s| Pack::Str(s.to_owned()))
            .map_err(|_| MsgpackError::Invalid)
    }

    fn array(&mut self, n: usize, depth: usize) -> Result<Pack, MsgpackError> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Pack::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Pack, MsgpackError> {
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            // JS object keys are strings; notepack writes numbers as such.
            let key = match self.value(depth + 1)? {
                Pack::Str(s) => s,
                Pack::UInt(u) => u.to_string(),
                Pack::Int(i) => i.to_string(),
                _ => return Err(MsgpackError::Invalid),
            };
            entries.push((key, self.value(depth + 1)?));
        }
        Ok(Pack::Map(entries))
    }
}
