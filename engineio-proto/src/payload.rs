//! Polling payloads: several packets in one HTTP body.
//!
//! v4 joins packets with the record separator `\x1e` and sends binary as `b`
//! plus base64. v3 prefixes each packet with its length (in UTF-16 code units
//! for text payloads, in bytes for the binary form) and has a JSONP variant.

use std::borrow::Cow;
use std::iter::FusedIterator;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

use crate::packet::BASE64;
use crate::{DecodeError, Frame, Packet, Protocol, Str};

/// The v4 packet separator (ASCII "record separator").
const SEPARATOR: char = '\x1e';

/// The v3 parser gives up on a binary-payload length of more than this many
/// digits (the length of `Number.MAX_VALUE` written out).
const MAX_V3_LENGTH_DIGITS: usize = 310;

/// The packets of a v4 payload, decoded lazily and without copying text.
///
/// Yields the first error and then stops: the official server handles the
/// packets before a bad one, then closes the session ("parse error").
#[derive(Debug, Clone)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct V4Packets {
    /// What is left to decode; `None` once done or after an error.
    rest: Option<Str>,
}

/// Encodes frames (from [`Packet::encode`] with [`Protocol::V4`]) as one
/// v4 polling payload: text as is, binary as `b` + base64, joined by `\x1e`.
///
/// ```
/// use bytes::Bytes;
/// use engineio_proto::payload::encode_v4;
/// use engineio_proto::{Frame, Protocol};
///
/// let frames = [
///     Frame::message_text("hello"),
///     Frame::message_binary(Bytes::from_static(&[1, 2, 3, 4]), Protocol::V4),
/// ];
/// assert_eq!(encode_v4(&frames), "4hello\x1ebAQIDBA==");
/// ```
pub fn encode_v4(frames: &[Frame]) -> Str {
    if let [Frame::Text(text)] = frames {
        // One text packet is its own payload: shared, not copied.
        return text.clone();
    }
    let size = frames
        .iter()
        .map(|frame| match frame {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => 1 + base64_len(bytes.len()),
        })
        .sum::<usize>()
        + frames.len().saturating_sub(1);
    let mut out = String::with_capacity(size);
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match frame {
            Frame::Text(text) => out.push_str(text),
            Frame::Binary(bytes) => {
                out.push('b');
                BASE64.encode_string(bytes, &mut out);
            }
        }
    }
    Str::from(out)
}

/// Splits a v4 polling payload into packets. An empty body yields one
/// [`DecodeError::Empty`], as the official parser does.
pub fn decode_v4(body: Str) -> V4Packets {
    V4Packets { rest: Some(body) }
}

impl Iterator for V4Packets {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        let element = match rest.split_once(SEPARATOR) {
            Some((element, tail)) => {
                self.rest = Some(rest.slice_ref(tail));
                rest.slice_ref(element)
            }
            None => rest,
        };
        let packet = Packet::decode(Frame::Text(element), Protocol::V4);
        if packet.is_err() {
            self.rest = None;
        }
        Some(packet)
    }
}

impl FusedIterator for V4Packets {}

/// Encodes frames (from [`Packet::encode`] with [`Protocol::V3`]) as a v3
/// text payload: `<length>:<packet>` each, the length in UTF-16 code units
/// (JavaScript's `string.length`); binary as `b4` + base64. No frames give
/// `0:`.
pub fn encode_v3_text(frames: &[Frame]) -> Str {
    if frames.is_empty() {
        return Str::from_static("0:");
    }
    // UTF-16 units never outnumber UTF-8 bytes, so byte lengths bound the
    // prefixes too.
    let size = frames
        .iter()
        .map(|frame| {
            let len = match frame {
                Frame::Text(text) => text.len(),
                Frame::Binary(bytes) => 2 + base64_len(bytes.len()),
            };
            decimal_digits(len) + 1 + len
        })
        .sum();
    let mut out = String::with_capacity(size);
    for frame in frames {
        match frame {
            Frame::Text(text) => {
                let units: usize = text.chars().map(char::len_utf16).sum();
                out.push_str(&units.to_string());
                out.push(':');
                out.push_str(text);
            }
            Frame::Binary(bytes) => {
                // A v3 binary frame is the type byte then the data.
                let (kind, data) = match bytes.split_first() {
                    Some((&kind, data)) => (kind, data),
                    None => (4, &[][..]),
                };
                let kind = char::from_digit(u32::from(kind), 10).unwrap_or('4');
                // Base64 and the two marker characters are ASCII: one unit
                // per byte.
                out.push_str(&(2 + base64_len(data.len())).to_string());
                out.push(':');
                out.push('b');
                out.push(kind);
                BASE64.encode_string(data, &mut out);
            }
        }
    }
    Str::from(out)
}

/// Encodes frames (from [`Packet::encode`] with [`Protocol::V3`]) as a v3
/// binary payload (XHR2): per frame `0` (text) or `1` (binary), the decimal
/// digits of its byte length as bytes 0 to 9, `0xFF`, then the frame bytes.
pub fn encode_v3_binary(frames: &[Frame]) -> Bytes {
    let size = frames
        .iter()
        .map(|frame| 2 + decimal_digits(frame.len()) + frame.len())
        .sum();
    let mut out = BytesMut::with_capacity(size);
    for frame in frames {
        let (marker, bytes): (u8, &[u8]) = match frame {
            Frame::Text(text) => (0, text.as_bytes()),
            Frame::Binary(bytes) => (1, bytes),
        };
        out.put_u8(marker);
        out.extend(bytes.len().to_string().bytes().map(|digit| digit - b'0'));
        out.put_u8(0xFF);
        out.put_slice(bytes);
    }
    out.freeze()
}

/// Encodes a v3 polling response: the binary form when the client supports
/// binary (no `b64=1`) and some frame is binary, the text form otherwise,
/// as the v3 parser's `encodePayload` chooses.
pub fn encode_v3(frames: &[Frame], supports_binary: bool) -> Frame {
    if supports_binary && frames.iter().any(|frame| matches!(frame, Frame::Binary(_))) {
        Frame::Binary(encode_v3_binary(frames))
    } else {
        Frame::Text(encode_v3_text(frames))
    }
}

/// Decodes a v3 polling request body: a text body (length-prefixed in UTF-16
/// code units) or an `application/octet-stream` body (the binary form).
///
/// Text packets point into `body`. Any malformed element fails the whole
/// payload; the work done is bounded by the body's length whatever the
/// lengths it claims.
pub fn decode_v3(body: Frame) -> Result<Vec<Packet>, DecodeError> {
    match body {
        Frame::Text(text) => decode_v3_text(&text),
        Frame::Binary(bytes) => decode_v3_binary(&bytes),
    }
}

/// Wraps a v3 text payload for a JSONP poll (`j` query parameter):
/// `___eio[<digits of j>]("<payload>");`. The payload is a JSON string
/// literal with U+2028 and U+2029 escaped too, because JavaScript before
/// ES2019 does not allow them raw in a string literal.
pub fn jsonp_wrap(j: &str, payload: &str) -> Str {
    // Serializing a `str` cannot fail; the fallback is never taken.
    let mut literal = serde_json::to_string(payload).unwrap_or_else(|_| String::from("\"\""));
    if literal.contains(['\u{2028}', '\u{2029}']) {
        literal = literal
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
    }
    let index = j.chars().filter(char::is_ascii_digit);
    let mut out = String::with_capacity(j.len() + literal.len() + 10);
    out.push_str("___eio[");
    out.extend(index);
    out.push_str("](");
    out.push_str(&literal);
    out.push_str(");");
    Str::from(out)
}

/// Extracts the v3 payload from a JSONP POST body (`d=<payload>`,
/// `application/x-www-form-urlencoded`). `None` when there is no single `d`
/// field (the official server ignores such a body).
///
/// The client escapes newlines as `\n` and an already escaped `\n` as
/// `\\n`; this undoes both, exactly as the JSONP transport does.
pub fn jsonp_unwrap(body: &[u8]) -> Option<Str> {
    // Node reads the body as UTF-8 (invalid bytes become U+FFFD) before
    // parsing the form.
    let body = String::from_utf8_lossy(body);
    let data = form_field(&body, "d")?;
    Some(Str::from(unescape_jsonp_newlines(&data)))
}

fn decode_v3_text(body: &Str) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut packets = Vec::new();
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (length, after) = rest.split_once(':').ok_or(DecodeError::InvalidFraming)?;
        let units = parse_decimal(length.bytes()).ok_or(DecodeError::InvalidFraming)?;
        let end = utf16_prefix_len(after, units).ok_or(DecodeError::InvalidFraming)?;
        let (packet, tail) = after
            .split_at_checked(end)
            .ok_or(DecodeError::InvalidFraming)?;
        // The official parser skips empty elements: `0:` is what an empty
        // payload encodes to.
        if !packet.is_empty() {
            packets.push(Packet::decode(
                Frame::Text(body.slice_ref(packet)),
                Protocol::V3,
            )?);
        }
        rest = tail;
    }
    Ok(packets)
}

fn decode_v3_binary(body: &Bytes) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    let mut pos = 0;
    while let Some(element) = body.get(pos..).filter(|rest| !rest.is_empty()) {
        let (&marker, after_marker) = element.split_first().ok_or(DecodeError::InvalidFraming)?;
        // Look no further than the longest length the v3 parser accepts.
        let digits = after_marker
            .iter()
            .take(MAX_V3_LENGTH_DIGITS + 1)
            .position(|&byte| byte == 0xFF)
            .ok_or(DecodeError::InvalidFraming)?;
        let length = parse_decimal(
            after_marker
                .get(..digits)
                .unwrap_or_default()
                .iter()
                .map(|digit| digit.wrapping_add(b'0')),
        )
        .ok_or(DecodeError::InvalidFraming)?;
        let start = pos + 1 + digits + 1;
        let end = start
            .checked_add(length)
            .filter(|&end| end <= body.len())
            .ok_or(DecodeError::InvalidFraming)?;
        let data = body.slice(start..end);
        let frame = match marker {
            0 => Frame::Text(Str::from_utf8(data).map_err(|_| DecodeError::InvalidUtf8)?),
            1 => Frame::Binary(data),
            _ => return Err(DecodeError::InvalidFraming),
        };
        packets.push(Packet::decode(frame, Protocol::V3)?);
        pos = end;
    }
    Ok(packets)
}

/// A non-empty run of ASCII digits as a number; `None` for anything else or
/// a number too large for `usize` (longer than any body anyway).
fn parse_decimal(digits: impl Iterator<Item = u8>) -> Option<usize> {
    let mut value: usize = 0;
    let mut seen = false;
    for digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(usize::from(digit - b'0'))?;
        seen = true;
    }
    seen.then_some(value)
}

/// The byte length of the first `units` UTF-16 code units of `s`, or `None`
/// when `s` is shorter or the count ends inside a surrogate pair.
fn utf16_prefix_len(s: &str, units: usize) -> Option<usize> {
    let mut count = 0;
    for (index, c) in s.char_indices() {
        if count == units {
            return Some(index);
        }
        count += c.len_utf16();
        if count > units {
            return None;
        }
    }
    (count == units).then_some(s.len())
}

fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// The value of the only `name` field of a form body, decoded as Node's
/// `querystring.parse` does: `+` is a space, `%XX` escapes are decoded (a
/// malformed one is kept as is), at most 1000 fields are read, and a name
/// given twice gives an array, which the JSONP transport ignores.
fn form_field(body: &str, name: &str) -> Option<String> {
    const MAX_FIELDS: usize = 1000;
    let mut found = None;
    for field in body.split('&').take(MAX_FIELDS) {
        if field.is_empty() {
            continue;
        }
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        if form_decode(key) == name {
            if found.is_some() {
                return None;
            }
            found = Some(form_decode(value).into_owned());
        }
    }
    found
}

fn form_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => match tail {
                [high, low, after @ ..] => match (hex_value(*high), hex_value(*low)) {
                    (Some(high), Some(low)) => {
                        bytes.push(high << 4 | low);
                        rest = after;
                    }
                    _ => bytes.push(b'%'),
                },
                _ => bytes.push(b'%'),
            },
            _ => bytes.push(byte),
        }
    }
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// The JSONP transport's two replacements, in order: `/(\\)?\\n/g` turns
/// `\n` into a newline but leaves `\\n` alone, then `/\\\\n/g` turns `\\n`
/// into `\n`. Both scan left to right without overlapping matches.
fn unescape_jsonp_newlines(data: &str) -> String {
    let mut first = String::with_capacity(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("\\\\n") {
            first.push_str("\\\\n");
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix("\\n") {
            first.push('\n');
            rest = tail;
        } else {
            let mut chars = rest.chars();
            first.extend(chars.next());
            rest = chars.as_str();
        }
    }
    first.replace("\\\\n", "\\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Data;
    use crate::packet::tests::{any_packet, any_text_boxed};

    fn text(s: &'static str) -> Frame {
        Frame::Text(Str::from_static(s))
    }

    fn binary(b: &'static [u8]) -> Frame {
        Frame::Binary(Bytes::from_static(b))
    }

    fn message(s: &'static str) -> Packet {
        Packet::Message(Data::Text(Str::from_static(s)))
    }

    fn message_binary(b: &'static [u8]) -> Packet {
        Packet::Message(Data::Binary(Bytes::from_static(b)))
    }

    fn v3_text(s: &'static str) -> Result<Vec<Packet>, DecodeError> {
        decode_v3(text(s))
    }

    fn v3_binary(b: &'static [u8]) -> Result<Vec<Packet>, DecodeError> {
        decode_v3(binary(b))
    }

    // ---- v4 ----

    #[test]
    fn encode_v4_joins_with_record_separator() {
        let frames = [text("4hello"), binary(&[1, 2, 3, 4])];
        assert_eq!(encode_v4(&frames), "4hello\x1ebAQIDBA==");
        assert_eq!(encode_v4(&[text("2")]), "2");
        assert_eq!(encode_v4(&[binary(&[])]), "b");
        assert_eq!(encode_v4(&[text("6"), text("1")]), "6\x1e1");
        assert_eq!(encode_v4(&[]), "");
    }

    #[test]
    fn encode_v4_is_presized() {
        let frames = [text("4hello"), binary(&[1, 2, 3, 4, 5]), text("4€")];
        let out = encode_v4(&frames);
        assert_eq!(out, "4hello\x1ebAQIDBAU=\x1e4€");
        assert_eq!(out.as_bytes().len(), 6 + 1 + 9 + 1 + 4);
    }

    #[test]
    fn decode_v4_splits_and_shares_storage() {
        let body = Str::from(String::from("4hello\x1ebAQIDBA==\x1e2probe"));
        let base = body.as_bytes().as_ptr();
        let packets: Vec<_> = decode_v4(body).collect();
        assert_eq!(
            packets,
            [
                Ok(message("hello")),
                Ok(message_binary(&[1, 2, 3, 4])),
                Ok(Packet::Ping(Str::from("probe"))),
            ]
        );
        let Some(Ok(Packet::Message(Data::Text(hello)))) = packets.first() else {
            panic!("not a text message")
        };
        assert_eq!(hello.as_bytes().as_ptr(), base.wrapping_add(1));
    }

    #[test]
    fn decode_v4_stops_at_the_first_error() {
        let mut packets = decode_v4(Str::from("4a\x1eabc\x1e4b"));
        assert_eq!(packets.next(), Some(Ok(message("a"))));
        assert_eq!(packets.next(), Some(Err(DecodeError::UnknownType)));
        assert_eq!(packets.next(), None);
        assert_eq!(packets.next(), None);

        let packets: Vec<_> = decode_v4(Str::from("4a\x1e\x1e4b")).collect();
        assert_eq!(packets, [Ok(message("a")), Err(DecodeError::Empty)]);

        let packets: Vec<_> = decode_v4(Str::from("4a\x1e")).collect();
        assert_eq!(packets, [Ok(message("a")), Err(DecodeError::Empty)]);

        let packets: Vec<_> = decode_v4(Str::from("bAQ!\x1e4b")).collect();
        assert_eq!(packets, [Err(DecodeError::InvalidBase64)]);
    }

    #[test]
    fn decode_v4_empty_body_is_one_error() {
        let packets: Vec<_> = decode_v4(Str::new()).collect();
        assert_eq!(packets, [Err(DecodeError::Empty)]);
    }

    // ---- v3 text form ----

    #[test]
    fn encode_v3_text_spec_vectors() {
        assert_eq!(
            encode_v3_text(&[text("4hello"), text("4€")]),
            "6:4hello2:4€"
        );
        assert_eq!(encode_v3_text(&[binary(&[4, 1, 2, 3, 4])]), "10:b4AQIDBA==");
        assert_eq!(
            encode_v3_text(&[text("4€"), binary(&[4, 1, 2, 3, 4])]),
            "2:4€10:b4AQIDBA=="
        );
        assert_eq!(
            encode_v3_text(&[text("4test1"), text("4test2"), text("4test3")]),
            "6:4test16:4test26:4test3"
        );
        assert_eq!(encode_v3_text(&[]), "0:");
        assert_eq!(encode_v3_text(&[text("6")]), "1:6");
    }

    #[test]
    fn encode_v3_text_counts_utf16_units() {
        // U+1F600 is two UTF-16 units (a surrogate pair) and four UTF-8 bytes.
        assert_eq!(encode_v3_text(&[text("4😀")]), "3:4😀");
        assert_eq!(encode_v3_text(&[text("4a😀€b")]), "6:4a😀€b");
        let long = Str::from(format!("4{}", "é".repeat(10)));
        assert_eq!(
            encode_v3_text(&[Frame::Text(long)]),
            format!("11:4{}", "é".repeat(10)).as_str()
        );
    }

    #[test]
    fn decode_v3_text_spec_vectors() {
        assert_eq!(
            v3_text("6:4hello2:4€"),
            Ok(vec![message("hello"), message("€")])
        );
        assert_eq!(
            v3_text("6:4hello10:b4AQIDBA=="),
            Ok(vec![message("hello"), message_binary(&[1, 2, 3, 4])])
        );
        assert_eq!(v3_text("1:2"), Ok(vec![Packet::Ping(Str::new())]));
        assert_eq!(v3_text("06:4hello"), Ok(vec![message("hello")]));
    }

    #[test]
    fn decode_v3_text_skips_empty_elements() {
        assert_eq!(v3_text("0:"), Ok(vec![]));
        assert_eq!(v3_text("0:6:4hello0:"), Ok(vec![message("hello")]));
    }

    #[test]
    fn decode_v3_text_utf16_lengths() {
        assert_eq!(v3_text("3:4😀1:6"), Ok(vec![message("😀"), Packet::Noop]));
        // A length of 2 ends between the two halves of the surrogate pair.
        assert_eq!(v3_text("2:4😀"), Err(DecodeError::InvalidFraming));
        // Counting bytes instead of units is wrong too.
        assert_eq!(v3_text("5:4😀"), Err(DecodeError::InvalidFraming));
    }

    #[test]
    fn decode_v3_text_shares_storage() {
        let body = Str::from(String::from("2:4a6:4hello"));
        let base = body.as_bytes().as_ptr();
        let packets = decode_v3(Frame::Text(body)).unwrap();
        let Some(Packet::Message(Data::Text(hello))) = packets.get(1) else {
            panic!("not a text message")
        };
        assert_eq!(hello, "hello");
        assert_eq!(hello.as_bytes().as_ptr(), base.wrapping_add(7));
    }

    #[test]
    fn decode_v3_text_framing_errors() {
        for body in [
            "abc",
            "6",
            "6:4hel",
            "7:4hello",
            "6:4hello3",
            ":4a",
            "x:4a",
            "-1:4",
            " 2:4a",
            "2.0:4a",
            "1e0:4",
            "99999999999999999999999999:4",
        ] {
            assert_eq!(v3_text(body), Err(DecodeError::InvalidFraming), "{body:?}");
        }
        assert_eq!(v3_text(""), Err(DecodeError::Empty));
    }

    #[test]
    fn decode_v3_text_packet_errors() {
        assert_eq!(v3_text("1:7"), Err(DecodeError::UnknownType));
        assert_eq!(v3_text("6:4hello1:x"), Err(DecodeError::UnknownType));
        assert_eq!(v3_text("4:b4!!"), Err(DecodeError::InvalidBase64));
    }

    // ---- v3 binary form ----

    #[test]
    fn encode_v3_binary_test_suite_vector() {
        let frames = [text("4hello"), binary(&[4, 1, 2, 3, 4])];
        assert_eq!(
            &encode_v3_binary(&frames)[..],
            &[
                0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4
            ]
        );
    }

    #[test]
    fn encode_v3_binary_lengths_in_bytes_and_digits() {
        assert_eq!(
            &encode_v3_binary(&[text("4€")])[..],
            &[0, 4, 255, b'4', 0xe2, 0x82, 0xac]
        );
        let long = Frame::Text(Str::from(format!("4{}", "x".repeat(11))));
        let encoded = encode_v3_binary(&[long]);
        assert_eq!(&encoded[..4], &[0, 1, 2, 255]);
        assert_eq!(encoded.len(), 4 + 12);
        assert!(encode_v3_binary(&[]).is_empty());
    }

    #[test]
    fn encode_v3_picks_the_form() {
        let mixed = [text("4hello"), binary(&[4, 1, 2, 3, 4])];
        assert_eq!(
            encode_v3(&mixed, true),
            Frame::Binary(Bytes::from_static(&[
                0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4
            ]))
        );
        assert_eq!(encode_v3(&mixed, false), text("6:4hello10:b4AQIDBA=="));
        assert_eq!(encode_v3(&[text("4hello")], true), text("6:4hello"));
        assert_eq!(encode_v3(&[], true), text("0:"));
    }

    #[test]
    fn decode_v3_binary_vectors() {
        assert_eq!(
            v3_binary(&[
                0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4
            ]),
            Ok(vec![message("hello"), message_binary(&[1, 2, 3, 4])])
        );
        assert_eq!(
            v3_binary(&[0, 4, 255, b'4', 0xe2, 0x82, 0xac]),
            Ok(vec![message("€")])
        );
        // Text inside the binary form may still be base64.
        assert_eq!(
            v3_binary(b"\x00\x01\x00\xffb4AQIDBA=="),
            Ok(vec![message_binary(&[1, 2, 3, 4])])
        );
        assert_eq!(v3_binary(&[]), Ok(vec![]));
    }

    #[test]
    fn decode_v3_binary_shares_storage() {
        let body = Bytes::from(vec![1, 4, 255, 4, 7, 8, 9]);
        let packets = decode_v3(Frame::Binary(body.clone())).unwrap();
        let Some(Packet::Message(Data::Binary(data))) = packets.first() else {
            panic!("not binary")
        };
        assert_eq!(&data[..], &[7, 8, 9]);
        assert_eq!(data.as_ptr(), body.as_ptr().wrapping_add(4));
    }

    #[test]
    fn decode_v3_binary_errors() {
        // The length runs past the end.
        assert_eq!(
            v3_binary(&[1, 9, 255, 4, 1]),
            Err(DecodeError::InvalidFraming)
        );
        // No 0xFF after the digits.
        assert_eq!(v3_binary(&[1, 1, 4]), Err(DecodeError::InvalidFraming));
        // No digits at all.
        assert_eq!(v3_binary(&[1, 255, 4]), Err(DecodeError::InvalidFraming));
        // A "digit" above 9.
        assert_eq!(
            v3_binary(&[1, 10, 255, 4]),
            Err(DecodeError::InvalidFraming)
        );
        // A marker that is neither text (0) nor binary (1).
        assert_eq!(v3_binary(&[2, 1, 255, 4]), Err(DecodeError::InvalidFraming));
        // Good first element, broken second.
        assert_eq!(
            v3_binary(&[1, 1, 255, 4, 0, 3]),
            Err(DecodeError::InvalidFraming)
        );
        assert_eq!(
            v3_binary(&[0, 2, 255, b'4', 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(v3_binary(&[0, 1, 255, b'9']), Err(DecodeError::UnknownType));
        assert_eq!(v3_binary(&[0, 0, 255]), Err(DecodeError::Empty));
        assert_eq!(v3_binary(&[1, 0, 255]), Err(DecodeError::Empty));
    }

    #[test]
    fn decode_v3_binary_digit_limit() {
        // 310 digits is the most the v3 parser reads; all zeros is length 0,
        // which gets as far as decoding an empty packet.
        let mut body = vec![0u8];
        body.extend(std::iter::repeat_n(0u8, 310));
        body.push(255);
        assert_eq!(
            decode_v3(binary_owned(body.clone())),
            Err(DecodeError::Empty)
        );
        body.insert(1, 0);
        assert_eq!(
            decode_v3(binary_owned(body)),
            Err(DecodeError::InvalidFraming)
        );
        // A huge claimed length allocates nothing and fails.
        let mut huge = vec![1u8];
        huge.extend(std::iter::repeat_n(9u8, 300));
        huge.extend([255, 4]);
        assert_eq!(
            decode_v3(binary_owned(huge)),
            Err(DecodeError::InvalidFraming)
        );
    }

    fn binary_owned(b: Vec<u8>) -> Frame {
        Frame::Binary(Bytes::from(b))
    }

    // ---- JSONP ----

    #[test]
    fn jsonp_wrap_vectors() {
        assert_eq!(jsonp_wrap("4", "6:4hello"), "___eio[4](\"6:4hello\");");
        assert_eq!(jsonp_wrap("a1<b>2", "1:6"), "___eio[12](\"1:6\");");
        assert_eq!(jsonp_wrap("", "1:6"), "___eio[](\"1:6\");");
        assert_eq!(
            jsonp_wrap("0", "7:4\"a\\\nb\u{1}"),
            "___eio[0](\"7:4\\\"a\\\\\\nb\\u0001\");"
        );
        assert_eq!(
            jsonp_wrap("1", "3:4\u{2028}\u{2029}"),
            "___eio[1](\"3:4\\u2028\\u2029\");"
        );
        assert_eq!(jsonp_wrap("1", "2:4€"), "___eio[1](\"2:4€\");");
    }

    #[test]
    fn jsonp_unwrap_form_decoding() {
        let unwrap = |b: &[u8]| jsonp_unwrap(b).map(|s| s.to_string());
        assert_eq!(unwrap(b"d=6%3A4hello"), Some("6:4hello".to_owned()));
        assert_eq!(unwrap(b"d=7:4a+b%2Bc"), Some("7:4a b+c".to_owned()));
        assert_eq!(unwrap(b"x=1&d=3:4a%3D&y"), Some("3:4a=".to_owned()));
        assert_eq!(unwrap(b"d=4:4a=b"), Some("4:4a=b".to_owned()));
        assert_eq!(unwrap(b"d=2%3A4%E2%82%AC"), Some("2:4€".to_owned()));
        assert_eq!(unwrap(b"%64=1:6"), Some("1:6".to_owned()));
        // Malformed escapes stay as they are.
        assert_eq!(unwrap(b"d=%zz%4"), Some("%zz%4".to_owned()));
        // Invalid UTF-8 becomes U+FFFD.
        assert_eq!(unwrap(b"d=%FF\xff"), Some("\u{fffd}\u{fffd}".to_owned()));
        assert_eq!(unwrap(b"d"), Some(String::new()));
        assert_eq!(unwrap(b"d="), Some(String::new()));
    }

    #[test]
    fn jsonp_unwrap_without_a_single_d_is_none() {
        assert_eq!(jsonp_unwrap(b""), None);
        assert_eq!(jsonp_unwrap(b"6:4hello"), None);
        assert_eq!(jsonp_unwrap(b"dd=1:6"), None);
        // A repeated field parses as an array, which the transport ignores.
        assert_eq!(jsonp_unwrap(b"d=1:6&d=1:6"), None);
        // Only the first 1000 fields are read.
        let late = format!("{}d=1:6", "&".repeat(1000));
        assert_eq!(jsonp_unwrap(late.as_bytes()), None);
        let in_time = format!("{}d=1:6", "&".repeat(999));
        assert_eq!(jsonp_unwrap(in_time.as_bytes()).unwrap(), "1:6");
    }

    #[test]
    fn jsonp_unwrap_newline_rules() {
        let unwrap = |b: &[u8]| jsonp_unwrap(b).unwrap().to_string();
        // `\n` (backslash, n) is a newline.
        assert_eq!(unwrap(b"d=5:4a%5Cnb"), "5:4a\nb");
        // `\\n` is an escaped `\n`: it becomes backslash, n.
        assert_eq!(unwrap(b"d=6:4a%5C%5Cnb"), "6:4a\\nb");
        // Three backslashes: the first pass skips the lone one and keeps
        // `\\n`, which the second pass turns into `\n`.
        assert_eq!(unwrap(b"d=%5C%5C%5Cn"), "\\\\n");
        // Four: the first pass keeps `\\` then `\\n`; the second pass
        // rewrites only the trailing `\\n`.
        assert_eq!(unwrap(b"d=%5C%5C%5C%5Cn"), "\\\\\\n");
        // A backslash not before `n` is untouched; a raw newline stays.
        assert_eq!(unwrap(b"d=%5Cx%0A"), "\\x\n");
    }

    // ---- round trips ----

    /// Text packets whose data has no `\x1e`: the v4 payload format cannot
    /// carry one (the official parser would split the packet there too).
    fn v4_packet() -> impl Strategy<Value = Packet> {
        let text = proptest::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| Str::from(String::from_iter(c).replace('\x1e', "")))
            .boxed();
        any_packet(text)
    }

    fn v3_packet() -> impl Strategy<Value = Packet> {
        any_packet(any_text_boxed())
    }

    fn encode_all(packets: &[Packet], protocol: Protocol) -> Vec<Frame> {
        packets.iter().map(|p| p.encode(protocol)).collect()
    }

    proptest! {
        #[test]
        fn v4_payload_round_trip(packets in proptest::collection::vec(v4_packet(), 1..8)) {
            let body = encode_v4(&encode_all(&packets, Protocol::V4));
            let decoded: Vec<_> = decode_v4(body).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(decoded, packets);
        }

        #[test]
        fn v3_text_payload_round_trip(packets in proptest::collection::vec(v3_packet(), 0..8)) {
            let body = encode_v3_text(&encode_all(&packets, Protocol::V3));
            prop_assert_eq!(decode_v3(Frame::Text(body)), Ok(packets));
        }

        #[test]
        fn v3_binary_payload_round_trip(packets in proptest::collection::vec(v3_packet(), 0..8)) {
            let body = encode_v3_binary(&encode_all(&packets, Protocol::V3));
            prop_assert_eq!(decode_v3(Frame::Binary(body)), Ok(packets));
        }

        #[test]
        fn v3_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_v3(Frame::Binary(Bytes::from(bytes.clone())));
            let _ = decode_v3(Frame::Text(Str::from_utf8_lossy(Bytes::from(bytes))));
        }

        #[test]
        fn jsonp_round_trip_without_backslashes(payload in "[^\\\\]*") {
            // What the v3 client posts: the payload form-encoded as `d`.
            let mut body = String::from("d=");
            for byte in payload.bytes() {
                body.push_str(&format!("%{byte:02X}"));
            }
            prop_assert_eq!(jsonp_unwrap(body.as_bytes()).unwrap(), payload.as_str());
        }
    }
}
