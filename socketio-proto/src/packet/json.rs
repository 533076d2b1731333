//! Writing packets as text: JSON as `JSON.stringify` writes it (numbers
//! included) and the event fast path.

use std::fmt::{self, Write as _};
use std::io;

use bytes::Bytes;
use engineio_proto::Str;
use serde::Serialize;
use serde_json::Number;

use super::{EncodeError, PacketType, PayloadError, RESERVED_EVENTS};

/// Encodes an EVENT from its name and arguments without building a `Value`:
/// the server's most frequent packet. `args` must serialize as a JSON array
/// (a tuple, a slice, a `Vec`); each element is one argument. The result is
/// what [`Packet::encode`](crate::packet::Packet::encode) writes for the same event.
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

/// What an encoder reserves before writing: most packets fit without
/// growing the buffer, which would cost a copy.
pub(super) const ENCODE_CAPACITY: usize = 128;

pub(super) fn push_nsp(out: &mut Vec<u8>, nsp: &str) {
    if !nsp.is_empty() && nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
}

pub(super) fn push_id(out: &mut Vec<u8>, id: Option<u64>) {
    if let Some(id) = id {
        push_decimal(out, id);
    }
}

pub(super) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
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
pub(super) fn write_json<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        JsFormatter,
    ))
}

pub(super) fn into_str(out: Vec<u8>) -> Str {
    // serde_json only writes UTF-8, so this never replaces anything (and
    // never copies).
    Str::from_utf8_lossy(Bytes::from(out))
}

/// serde_json's compact output with numbers written as JavaScript writes
/// them (`1e+21`, `100000000000000000000`, `0` for `-0`, `2` for `2.0`). Its
/// string escaping already matches `JSON.stringify`.
pub(super) struct JsFormatter;

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
pub(super) fn write_js_float<W, F>(writer: &mut W, value: F, zero: bool) -> io::Result<()>
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
pub(super) fn js_number_string(n: &Number) -> String {
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
