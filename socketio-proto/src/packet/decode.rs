//! The decoder: text frames and binary attachments in, packets out, with
//! the reference parser's reading of headers and numbers.

use bytes::Bytes;
use engineio_proto::Str;
use serde_json::Value;

use super::{
    ConnectErrorData, DecodeError, Limits, Packet, PacketType, Payload, check_event_name,
    event_or_ack,
};
use crate::binary::normalize;

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

/// JavaScript's `StringToNumber`: `None` for `NaN`.
pub(super) fn js_number(text: &str) -> Option<f64> {
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
