//! Engine.IO packets and their encoding in one WebSocket message
//! (engine.io-protocol v4 "Packet encoding"; v3 for `allow_eio3`).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::{BufMut, Bytes, BytesMut};

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
#[non_exhaustive]
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
    /// A text packet inside a v3 binary payload that is not UTF-8.
    #[error("invalid UTF-8 text")]
    InvalidUtf8,
}

impl Packet {
    /// Decodes one packet from a WebSocket message or a payload element.
    ///
    /// Text: the type digit then the data; `b` + base64 is a binary message
    /// (v3: `b` + type digit + base64). Binary: v4 carries the message data
    /// alone, v3 starts with the type byte. Text data is shared with `frame`.
    pub fn decode(frame: Frame, protocol: Protocol) -> Result<Packet, DecodeError> {
        match frame {
            Frame::Text(text) => decode_text(text, protocol),
            Frame::Binary(bytes) => match protocol {
                // An empty binary message is legal in v4 (an empty
                // attachment), so no `Empty` error here.
                Protocol::V4 => Ok(Packet::Message(Data::Binary(bytes))),
                Protocol::V3 => {
                    let (&kind, _) = bytes.split_first().ok_or(DecodeError::Empty)?;
                    v3_binary_packet(kind, bytes.slice(1..))
                }
            },
        }
    }

    /// Encodes the packet as one WebSocket message, which is also the unit
    /// the payload encoders take.
    pub fn encode(&self, protocol: Protocol) -> Frame {
        match self {
            Packet::Open(data) => text_frame(b'0', data),
            Packet::Close => Frame::Text(Str::from_static("1")),
            Packet::Ping(data) => text_frame(b'2', data),
            Packet::Pong(data) => text_frame(b'3', data),
            Packet::Message(Data::Text(data)) => text_frame(b'4', data),
            Packet::Message(Data::Binary(data)) => Frame::message_binary(data.clone(), protocol),
            Packet::Upgrade => Frame::Text(Str::from_static("5")),
            Packet::Noop => Frame::Text(Str::from_static("6")),
        }
    }
}

impl Frame {
    /// A text message packet, `4` + `text`.
    pub fn message_text(text: &str) -> Frame {
        text_frame(b'4', text)
    }

    /// A binary message packet: the data itself in v4 (no copy), the type
    /// byte `4` then the data in v3.
    pub fn message_binary(data: Bytes, protocol: Protocol) -> Frame {
        match protocol {
            Protocol::V4 => Frame::Binary(data),
            Protocol::V3 => {
                let mut buf = BytesMut::with_capacity(1 + data.len());
                buf.put_u8(4);
                buf.put_slice(&data);
                Frame::Binary(buf.freeze())
            }
        }
    }

    /// The encoded length in bytes (UTF-8 bytes for text).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the frame has no bytes at all (never true for an encoded
    /// packet, except an empty v4 binary message).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Base64 as the official server reads it: standard alphabet, padding
/// optional and stray trailing bits ignored (Node's `Buffer.from(_, "base64")`
/// is that lenient), padded on output like Node's `toString("base64")`.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn text_frame(kind: u8, data: &str) -> Frame {
    let mut out = String::with_capacity(1 + data.len());
    out.push(char::from(kind));
    out.push_str(data);
    Frame::Text(Str::from(out))
}

fn decode_text(text: Str, protocol: Protocol) -> Result<Packet, DecodeError> {
    let &kind = text.as_bytes().first().ok_or(DecodeError::Empty)?;
    // Only reached for an ASCII first byte, so byte 1 is a char boundary.
    let data = || text.skip(1).unwrap_or_default();
    match kind {
        b'0' => Ok(Packet::Open(data())),
        b'1' => Ok(Packet::Close),
        b'2' => Ok(Packet::Ping(data())),
        b'3' => Ok(Packet::Pong(data())),
        b'4' => Ok(Packet::Message(Data::Text(data()))),
        b'5' => Ok(Packet::Upgrade),
        b'6' => Ok(Packet::Noop),
        b'b' => decode_base64(text.as_bytes().get(1..).unwrap_or_default(), protocol),
        _ => Err(DecodeError::UnknownType),
    }
}

/// `b<base64>` (v4) or `b<type digit><base64>` (v3).
fn decode_base64(rest: &[u8], protocol: Protocol) -> Result<Packet, DecodeError> {
    let decode = |b64: &[u8]| {
        BASE64
            .decode(b64)
            .map(Bytes::from)
            .map_err(|_| DecodeError::InvalidBase64)
    };
    match protocol {
        Protocol::V4 => Ok(Packet::Message(Data::Binary(decode(rest)?))),
        Protocol::V3 => {
            let (&digit, b64) = rest.split_first().ok_or(DecodeError::UnknownType)?;
            let kind = digit.checked_sub(b'0').ok_or(DecodeError::UnknownType)?;
            if kind > 6 {
                return Err(DecodeError::UnknownType);
            }
            v3_binary_packet(kind, decode(b64)?)
        }
    }
}

/// A v3 packet whose data arrived as bytes (a binary frame, or `b` +
/// base64). The v3 parser keeps the type and hands the bytes on; only a
/// message has binary data in our types, so ping/pong/open data becomes text.
fn v3_binary_packet(kind: u8, data: Bytes) -> Result<Packet, DecodeError> {
    match kind {
        0 => Ok(Packet::Open(Str::from_utf8_lossy(data))),
        1 => Ok(Packet::Close),
        2 => Ok(Packet::Ping(Str::from_utf8_lossy(data))),
        3 => Ok(Packet::Pong(Str::from_utf8_lossy(data))),
        4 => Ok(Packet::Message(Data::Binary(data))),
        5 => Ok(Packet::Upgrade),
        6 => Ok(Packet::Noop),
        _ => Err(DecodeError::UnknownType),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
// Visible to the crate so that the payload tests reuse the packet strategies.
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text(s: &'static str) -> Frame {
        Frame::Text(Str::from_static(s))
    }

    fn binary(b: &'static [u8]) -> Frame {
        Frame::Binary(Bytes::from_static(b))
    }

    fn message_binary(b: &'static [u8]) -> Packet {
        Packet::Message(Data::Binary(Bytes::from_static(b)))
    }

    const BOTH: [Protocol; 2] = [Protocol::V3, Protocol::V4];

    #[test]
    fn encodes_text_packets_identically_in_both_protocols() {
        let open = r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000}"#;
        for protocol in BOTH {
            let cases = [
                (Packet::Open(Str::from(open)), format!("0{open}")),
                (Packet::Close, "1".to_owned()),
                (Packet::Ping(Str::new()), "2".to_owned()),
                (Packet::Ping(Str::from("probe")), "2probe".to_owned()),
                (Packet::Pong(Str::from("probe")), "3probe".to_owned()),
                (
                    Packet::Message(Data::Text(Str::from("hello €"))),
                    "4hello €".to_owned(),
                ),
                (Packet::Message(Data::Text(Str::new())), "4".to_owned()),
                (Packet::Upgrade, "5".to_owned()),
                (Packet::Noop, "6".to_owned()),
            ];
            for (packet, expected) in cases {
                assert_eq!(packet.encode(protocol), Frame::Text(Str::from(expected)));
            }
        }
    }

    #[test]
    fn v4_binary_message_is_the_data_itself_without_copy() {
        let data = Bytes::from(vec![1, 2, 3, 4]);
        let frame = Packet::Message(Data::Binary(data.clone())).encode(Protocol::V4);
        let Frame::Binary(bytes) = frame else {
            panic!("not binary")
        };
        assert_eq!(&bytes[..], &[1, 2, 3, 4]);
        assert_eq!(bytes.as_ptr(), data.as_ptr());
    }

    #[test]
    fn v3_binary_message_starts_with_type_byte() {
        let frame = message_binary(&[1, 2, 3, 4]).encode(Protocol::V3);
        assert_eq!(frame, binary(&[4, 1, 2, 3, 4]));
        assert_eq!(message_binary(&[]).encode(Protocol::V3), binary(&[4]));
    }

    #[test]
    fn decodes_every_text_type_in_both_protocols() {
        for protocol in BOTH {
            let cases = [
                (
                    "0{\"sid\":\"x\"}",
                    Packet::Open(Str::from("{\"sid\":\"x\"}")),
                ),
                ("1", Packet::Close),
                ("2", Packet::Ping(Str::new())),
                ("2probe", Packet::Ping(Str::from("probe"))),
                ("3probe", Packet::Pong(Str::from("probe"))),
                ("4hello", Packet::Message(Data::Text(Str::from("hello")))),
                ("4", Packet::Message(Data::Text(Str::new()))),
                ("4€😀", Packet::Message(Data::Text(Str::from("€😀")))),
                ("5", Packet::Upgrade),
                ("6", Packet::Noop),
            ];
            for (input, expected) in cases {
                assert_eq!(
                    Packet::decode(text(input), protocol),
                    Ok(expected),
                    "{input}"
                );
            }
        }
    }

    #[test]
    fn close_upgrade_and_noop_ignore_their_data() {
        for protocol in BOTH {
            assert_eq!(Packet::decode(text("1bye"), protocol), Ok(Packet::Close));
            assert_eq!(
                Packet::decode(text("5probe"), protocol),
                Ok(Packet::Upgrade)
            );
            assert_eq!(Packet::decode(text("6x"), protocol), Ok(Packet::Noop));
        }
    }

    #[test]
    fn text_data_shares_the_frame_storage() {
        let frame = Str::from(String::from("4hello"));
        let base = frame.as_bytes().as_ptr();
        let packet = Packet::decode(Frame::Text(frame), Protocol::V4).unwrap();
        let Packet::Message(Data::Text(data)) = packet else {
            panic!("not a text message")
        };
        assert_eq!(data, "hello");
        assert_eq!(data.as_bytes().as_ptr(), base.wrapping_add(1));
    }

    #[test]
    fn v4_base64_message() {
        let decode = |s| Packet::decode(text(s), Protocol::V4);
        assert_eq!(decode("bAQIDBA=="), Ok(message_binary(&[1, 2, 3, 4])));
        // Node's base64 decoder does not insist on padding.
        assert_eq!(decode("bAQIDBA"), Ok(message_binary(&[1, 2, 3, 4])));
        assert_eq!(decode("b"), Ok(message_binary(&[])));
    }

    #[test]
    fn v3_base64_carries_the_type_after_b() {
        let decode = |s| Packet::decode(text(s), Protocol::V3);
        assert_eq!(decode("b4AQIDBA=="), Ok(message_binary(&[1, 2, 3, 4])));
        assert_eq!(decode("b4"), Ok(message_binary(&[])));
        // The v3 parser keeps any type 0-6 with the decoded bytes as data.
        assert_eq!(decode("b2cHJvYmU="), Ok(Packet::Ping(Str::from("probe"))));
        assert_eq!(decode("b6"), Ok(Packet::Noop));
        assert_eq!(decode("b7AQ=="), Err(DecodeError::UnknownType));
        assert_eq!(decode("bxAQ=="), Err(DecodeError::UnknownType));
        assert_eq!(decode("b"), Err(DecodeError::UnknownType));
    }

    #[test]
    fn bad_base64_is_an_error() {
        assert_eq!(
            Packet::decode(text("bAQ!D"), Protocol::V4),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            Packet::decode(text("b4AQ!D"), Protocol::V3),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            Packet::decode(text("bA"), Protocol::V4),
            Err(DecodeError::InvalidBase64)
        );
    }

    #[test]
    fn empty_and_unknown_text_frames_are_errors() {
        for protocol in BOTH {
            assert_eq!(Packet::decode(text(""), protocol), Err(DecodeError::Empty));
            for input in ["7", "9x", "x", "a4", " 4", "é", "\u{1e}4"] {
                assert_eq!(
                    Packet::decode(text(input), protocol),
                    Err(DecodeError::UnknownType),
                    "{input:?}"
                );
            }
        }
    }

    #[test]
    fn v4_binary_frame_is_a_message_without_copy() {
        let data = Bytes::from(vec![4, 0, 255]);
        let packet = Packet::decode(Frame::Binary(data.clone()), Protocol::V4).unwrap();
        let Packet::Message(Data::Binary(bytes)) = packet else {
            panic!("not binary")
        };
        assert_eq!(&bytes[..], &[4, 0, 255]);
        assert_eq!(bytes.as_ptr(), data.as_ptr());
        // An empty binary message is a legal (empty) attachment in v4.
        assert_eq!(
            Packet::decode(binary(&[]), Protocol::V4),
            Ok(message_binary(&[]))
        );
    }

    #[test]
    fn v3_binary_frame_type_byte() {
        let data = Bytes::from(vec![4, 1, 2, 3]);
        let packet = Packet::decode(Frame::Binary(data.clone()), Protocol::V3).unwrap();
        let Packet::Message(Data::Binary(bytes)) = packet else {
            panic!("not binary")
        };
        assert_eq!(&bytes[..], &[1, 2, 3]);
        assert_eq!(bytes.as_ptr(), data.as_ptr().wrapping_add(1));

        let decode = |b| Packet::decode(binary(b), Protocol::V3);
        assert_eq!(decode(&[4]), Ok(message_binary(&[])));
        assert_eq!(decode(b"\x02probe"), Ok(Packet::Ping(Str::from("probe"))));
        assert_eq!(decode(b"\x03\xff"), Ok(Packet::Pong(Str::from("\u{fffd}"))));
        assert_eq!(decode(&[1, 9, 9]), Ok(Packet::Close));
        assert_eq!(decode(&[5]), Ok(Packet::Upgrade));
        assert_eq!(decode(&[6]), Ok(Packet::Noop));
        assert_eq!(decode(&[0]), Ok(Packet::Open(Str::new())));
        assert_eq!(decode(&[7, 1]), Err(DecodeError::UnknownType));
        assert_eq!(decode(b"4abc"), Err(DecodeError::UnknownType));
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn frame_helpers() {
        assert_eq!(Frame::message_text("hé"), text("4hé"));
        assert_eq!(Frame::message_text("hé").len(), 4);
        let data = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(
            Frame::message_binary(data.clone(), Protocol::V4),
            binary(&[1, 2, 3])
        );
        assert_eq!(
            Frame::message_binary(data.clone(), Protocol::V3),
            binary(&[4, 1, 2, 3])
        );
        assert_eq!(Frame::message_binary(data, Protocol::V3).len(), 4);
        assert!(binary(&[]).is_empty());
        assert!(!text("6").is_empty());
    }

    fn any_text() -> impl Strategy<Value = Str> {
        proptest::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| Str::from(String::from_iter(c)))
    }

    /// Any packet whose text may contain any character.
    pub(crate) fn any_packet(text: BoxedStrategy<Str>) -> impl Strategy<Value = Packet> {
        prop_oneof![
            text.clone().prop_map(Packet::Open),
            Just(Packet::Close),
            text.clone().prop_map(Packet::Ping),
            text.clone().prop_map(Packet::Pong),
            text.prop_map(|t| Packet::Message(Data::Text(t))),
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|b| Packet::Message(Data::Binary(Bytes::from(b)))),
            Just(Packet::Upgrade),
            Just(Packet::Noop),
        ]
    }

    pub(crate) fn any_text_boxed() -> BoxedStrategy<Str> {
        any_text().boxed()
    }

    proptest! {
        #[test]
        fn packet_round_trip_v4(packet in any_packet(any_text_boxed())) {
            let frame = packet.encode(Protocol::V4);
            prop_assert_eq!(Packet::decode(frame, Protocol::V4), Ok(packet));
        }

        #[test]
        fn packet_round_trip_v3(packet in any_packet(any_text_boxed())) {
            let frame = packet.encode(Protocol::V3);
            prop_assert_eq!(Packet::decode(frame, Protocol::V3), Ok(packet));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32), v3 in any::<bool>()) {
            let protocol = if v3 { Protocol::V3 } else { Protocol::V4 };
            let frame = Frame::Binary(Bytes::from(bytes.clone()));
            let _ = Packet::decode(frame, protocol);
            let _ = Packet::decode(Frame::Text(Str::from_utf8_lossy(Bytes::from(bytes))), protocol);
        }
    }
}
