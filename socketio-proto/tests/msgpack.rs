//! The msgpack parser against vectors that npm `socket.io-msgpack-parser`
//! and `notepack.io` produced (`tests/interop/msgpack-vectors.mjs` writes
//! `msgpack_vectors.json`; the interop suite checks that the file is still
//! what the installed packages produce), then its limits, each crossed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Bytes;
use engineio_proto::{Data, Frame};
use serde_json::{Map, Value, json};
use socketio_proto::binary::attach;
use socketio_proto::msgpack::{MsgpackError, MsgpackLimits, MsgpackParser};
use socketio_proto::packet::{Ack, ConnectErrorData, Event, Limits, Packet, Payload};
use socketio_proto::parser::{ParseError, Parser, Sender};

const VECTORS: &str = include_str!("msgpack_vectors.json");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// `{"$bin": hex}` values become placeholders, their bytes attachments, in
/// depth-first order.
fn with_attachments(value: &Value, attachments: &mut Vec<Bytes>) -> Value {
    match value {
        Value::Object(map) => match map.get("$bin") {
            Some(Value::String(h)) if map.len() == 1 => attach(attachments, Bytes::from(unhex(h))),
            _ => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), with_attachments(v, attachments)))
                    .collect(),
            ),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| with_attachments(v, attachments))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The [`Packet`] a vector's `{type, nsp, data, id}` describes.
fn packet_of(v: &Value) -> Packet {
    let nsp = v["nsp"].as_str().unwrap().to_owned();
    let id = v.get("id").and_then(Value::as_u64);
    let mut attachments = Vec::new();
    let data = v.get("data").map(|d| with_attachments(d, &mut attachments));
    let payload = match v["type"].as_u64().unwrap() {
        0 => Payload::Connect(data.map(|d| d.as_object().unwrap().clone())),
        1 => Payload::Disconnect,
        2 => {
            let Some(Value::Array(data)) = data else {
                panic!("event data")
            };
            let mut event = Event::from_data(data)
                .unwrap()
                .with_attachments(attachments)
                .unwrap();
            event.id = id;
            Payload::Event(event)
        }
        3 => {
            let Some(Value::Array(data)) = data else {
                panic!("ack data")
            };
            let mut ack = Ack::new(0, data).with_attachments(attachments).unwrap();
            ack.id = id;
            Payload::Ack(ack)
        }
        4 => Payload::ConnectError(data.map(|d| match d {
            Value::String(s) => ConnectErrorData::Message(s),
            Value::Object(m) => ConnectErrorData::Object(m),
            other => panic!("connect error data {other}"),
        })),
        t => panic!("type {t}"),
    };
    Packet::new(nsp, payload)
}

fn encode(packet: &Packet, sender: Sender) -> Vec<u8> {
    let messages = MsgpackParser::default().encode(packet, sender);
    match &messages[..] {
        [message] => match message.as_frame() {
            Frame::Binary(bytes) => bytes.to_vec(),
            Frame::Text(text) => panic!("a text message: {text:?}"),
        },
        _ => panic!("{} messages for one packet", messages.len()),
    }
}

fn decode(bytes: &[u8]) -> Result<Packet, ParseError> {
    decode_with(MsgpackParser::default(), 1_000_000, bytes)
}

fn decode_with(
    parser: MsgpackParser,
    max_binary: usize,
    bytes: &[u8],
) -> Result<Packet, ParseError> {
    let mut decoder = parser.decoder(Limits::new(max_binary));
    decoder
        .decode(Data::Binary(Bytes::copy_from_slice(bytes)))
        .map(|p| p.expect("a msgpack packet is one message"))
}

fn msgpack_error(r: Result<Packet, ParseError>) -> MsgpackError {
    match r {
        Err(ParseError::Msgpack(e)) => e,
        other => panic!("expected a msgpack error, got {other:?}"),
    }
}

#[test]
fn encodes_as_the_official_server() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = vectors["encode"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let sender = match case["sender"].as_str().unwrap() {
            "socket" => Sender::Socket,
            "broadcast" => Sender::Broadcast,
            "client" => Sender::Client,
            s => panic!("sender {s}"),
        };
        let packet = packet_of(&case["packet"]);
        assert_eq!(
            hex(&encode(&packet, sender)),
            case["hex"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn decodes_as_the_official_decoder() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let cases = vectors["decode"].as_array().unwrap();
    assert!(cases.len() >= 25);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(case["hex"].as_str().unwrap());
        let got = decode(&bytes);
        match case.get("error").and_then(Value::as_str) {
            Some(message) => {
                let error = msgpack_error(got);
                // The reference's own messages for what `checkPacket` refuses.
                if message.starts_with("invalid") {
                    assert_eq!(error.to_string(), message, "{name}");
                }
            }
            None => {
                let expected = packet_of(&case["packet"]);
                assert_eq!(got.unwrap(), expected, "{name}");
            }
        }
    }
}

#[test]
fn decoded_packets_encode_back_to_the_same_bytes() {
    // What the server echoes is what the Node server would echo.
    let mut attachments = Vec::new();
    let file = attach(&mut attachments, Bytes::from_static(b"\x01\x02\x03"));
    let event = Event::from_data(vec![json!("message-back"), json!({"f": file, "n": 1.5})])
        .unwrap()
        .with_attachments(attachments)
        .unwrap()
        .with_id(3);
    let packet = Packet::event("/custom", event);
    let bytes = encode(&packet, Sender::Socket);
    assert_eq!(decode(&bytes).unwrap(), packet);
}

/// A packet map around `data` (an EVENT of namespace `/`).
fn event_bytes(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x83, 0xa4];
    out.extend_from_slice(b"type");
    out.push(2);
    out.push(0xa3);
    out.extend_from_slice(b"nsp");
    out.extend_from_slice(&[0xa1, b'/']);
    out.push(0xa4);
    out.extend_from_slice(b"data");
    out.extend_from_slice(data);
    out
}

/// `["e", <nested>]` with `depth` arrays nested in the second element.
fn nested(depth: usize) -> Vec<u8> {
    let mut data = vec![0x92, 0xa1, b'e'];
    data.extend(std::iter::repeat_n(0x91, depth - 1));
    data.push(0x90);
    event_bytes(&data)
}

#[test]
fn nesting_is_bounded() {
    // The packet map is depth 1 and its data array depth 2: with the
    // default of 32, 30 more levels pass and 31 do not.
    assert!(decode(&nested(30)).is_ok());
    assert_eq!(msgpack_error(decode(&nested(31))), MsgpackError::TooDeep);
    // A deep bomb in a small message ends at the limit, not in a stack
    // overflow.
    assert_eq!(
        msgpack_error(decode(&nested(100_000))),
        MsgpackError::TooDeep
    );
    let shallow = MsgpackParser {
        limits: MsgpackLimits {
            max_depth: 3,
            ..MsgpackLimits::default()
        },
    };
    assert!(decode_with(shallow, 100, &nested(1)).is_ok());
    assert_eq!(
        msgpack_error(decode_with(shallow, 100, &nested(2))),
        MsgpackError::TooDeep
    );
}

#[test]
fn value_count_is_bounded() {
    // ["e", 0, 0, ...]: the map, 3 keys, 3 values, the name and n zeros.
    let many = |n: usize| {
        let mut data = vec![0xdc];
        data.extend_from_slice(&u16::try_from(n + 1).unwrap().to_be_bytes());
        data.extend_from_slice(&[0xa1, b'e']);
        data.extend(std::iter::repeat_n(0, n));
        event_bytes(&data)
    };
    let parser = MsgpackParser {
        limits: MsgpackLimits {
            max_values: 108,
            ..MsgpackLimits::default()
        },
    };
    assert!(decode_with(parser, 100, &many(100)).is_ok());
    assert_eq!(
        msgpack_error(decode_with(parser, 100, &many(101))),
        MsgpackError::TooManyValues
    );
    assert!(decode(&many(60_000)).is_ok());
}

#[test]
fn claimed_counts_beyond_the_message_are_refused_before_allocating() {
    // An array claiming 2^32 - 1 elements in a 20-byte message.
    let bomb = event_bytes(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xa1, b'e']);
    assert_eq!(msgpack_error(decode(&bomb)), MsgpackError::Truncated);
    let bomb = event_bytes(&[0x92, 0xa1, b'e', 0xdf, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(msgpack_error(decode(&bomb)), MsgpackError::Truncated);
    let bomb = event_bytes(&[0x92, 0xa1, b'e', 0xc6, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(msgpack_error(decode(&bomb)), MsgpackError::Truncated);
    let bomb = event_bytes(&[0x92, 0xa1, b'e', 0xdb, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(msgpack_error(decode(&bomb)), MsgpackError::Truncated);
}

#[test]
fn binary_values_are_bounded_in_count_and_bytes() {
    let bins = |n: usize, len: u8| {
        let mut data = vec![0xdc];
        data.extend_from_slice(&u16::try_from(n + 1).unwrap().to_be_bytes());
        data.extend_from_slice(&[0xa1, b'e']);
        for _ in 0..n {
            data.extend_from_slice(&[0xc4, len]);
            data.extend(std::iter::repeat_n(9, usize::from(len)));
        }
        event_bytes(&data)
    };
    let parser = MsgpackParser {
        limits: MsgpackLimits {
            max_binaries: 4,
            ..MsgpackLimits::default()
        },
    };
    let packet = decode_with(parser, 1000, &bins(4, 1)).unwrap();
    let Payload::Event(event) = &packet.payload else {
        panic!()
    };
    assert_eq!(event.attachments().len(), 4);
    assert_eq!(
        msgpack_error(decode_with(parser, 1000, &bins(5, 1))),
        MsgpackError::TooManyBinaries
    );
    // Bytes: 4 x 25 = 100 fits a limit of 100; 4 x 26 does not.
    assert!(decode_with(parser, 100, &bins(4, 25)).is_ok());
    assert_eq!(
        msgpack_error(decode_with(parser, 100, &bins(4, 26))),
        MsgpackError::BinaryTooLarge
    );
}

#[test]
fn every_length_form_round_trips() {
    // str 8/16/32, bin 8/16/32, array 16/32, map 16/32 boundaries.
    let cases: Vec<(Value, Vec<u8>)> = vec![
        (json!("x".repeat(255)), vec![0xd9, 0xff]),
        (json!("x".repeat(256)), vec![0xda, 0x01, 0x00]),
        (json!("x".repeat(65_536)), vec![0xdb, 0, 1, 0, 0]),
        (json!(vec![0; 65_535]), vec![0xdc, 0xff, 0xff]),
        (json!(vec![0; 65_536]), vec![0xdd, 0, 1, 0, 0]),
        (
            Value::Object((0..65_536).map(|i| (format!("k{i}"), json!(0))).collect()),
            vec![0xdf, 0, 1, 0, 0],
        ),
    ];
    for (value, head) in cases {
        let event = Event::from_data(vec![json!("e"), value]).unwrap();
        let packet = Packet::event("/", event);
        let bytes = encode(&packet, Sender::Socket);
        // type, data: fixarray(2) "e" then the value's head.
        let at = 1 + 5 + 1 + 5 + 1 + 2;
        assert_eq!(&bytes[at..at + head.len()], &head[..]);
        let roomy = MsgpackParser {
            limits: MsgpackLimits {
                max_values: 1 << 20,
                ..MsgpackLimits::default()
            },
        };
        assert_eq!(decode_with(roomy, 0, &bytes).unwrap(), packet);
    }
    for (len, head) in [
        (65_535usize, vec![0xc5, 0xff, 0xff]),
        (65_536, vec![0xc6, 0, 1, 0, 0]),
    ] {
        let mut attachments = Vec::new();
        let p = attach(&mut attachments, Bytes::from(vec![1u8; len]));
        let event = Event::from_data(vec![json!("e"), p])
            .unwrap()
            .with_attachments(attachments)
            .unwrap();
        let packet = Packet::event("/", event);
        let bytes = encode(&packet, Sender::Socket);
        let at = 1 + 5 + 1 + 5 + 1 + 2;
        assert_eq!(&bytes[at..at + head.len()], &head[..]);
        assert_eq!(decode(&bytes).unwrap(), packet);
    }
}

#[test]
fn inputs_notepack_never_writes() {
    // float 32 reads as its double.
    let packet = decode(&event_bytes(&[0x92, 0xa1, b'e', 0xca, 0x3f, 0xc0, 0, 0])).unwrap();
    let Payload::Event(event) = &packet.payload else {
        panic!()
    };
    assert_eq!(event.args(), [json!(1.5)]);
    // Ext types other than notepack's refuse; so do non-string keys.
    assert_eq!(
        msgpack_error(decode(&event_bytes(&[0x92, 0xa1, b'e', 0xd4, 0x05, 0x00]))),
        MsgpackError::UnsupportedExt
    );
    assert_eq!(
        msgpack_error(decode(&event_bytes(&[0x92, 0xa1, b'e', 0x81, 0xc0, 0x01]))),
        MsgpackError::InvalidKey
    );
    // An integer key is its decimal name.
    let packet = decode(&event_bytes(&[0x92, 0xa1, b'e', 0x81, 0x07, 0x01])).unwrap();
    let Payload::Event(event) = &packet.payload else {
        panic!()
    };
    assert_eq!(event.args(), [json!({"7": 1})]);
    // A text message is not a msgpack packet.
    let mut decoder = MsgpackParser::default().decoder(Limits::new(10));
    let err = decoder.decode(Data::Text("2[\"e\"]".into())).unwrap_err();
    assert_eq!(err.to_string(), "unexpected text message");
    // Reserved and missing event names close, as with the JSON parser.
    let mut data = vec![0x91, 0xa7];
    data.extend_from_slice(b"connect");
    assert_eq!(
        msgpack_error(decode(&event_bytes(&data))),
        MsgpackError::InvalidPayload
    );
    assert_eq!(
        msgpack_error(decode(&event_bytes(&[0x90]))),
        MsgpackError::InvalidPayload
    );
    // Binary values in a CONNECT's auth cannot be kept: refused.
    let mut bytes = vec![0x83, 0xa4];
    bytes.extend_from_slice(b"type");
    bytes.push(0);
    bytes.push(0xa3);
    bytes.extend_from_slice(b"nsp");
    bytes.extend_from_slice(&[0xa1, b'/', 0xa4]);
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&[0x81, 0xa1, b'k', 0xc4, 0x01, 0x00]);
    assert_eq!(msgpack_error(decode(&bytes)), MsgpackError::InvalidPayload);
}

#[test]
fn connect_error_of_a_middleware_keeps_its_data() {
    let mut map = Map::new();
    map.insert("message".into(), json!("nope"));
    map.insert("data".into(), json!({"code": 1}));
    let packet = Packet::connect_error("/", ConnectErrorData::Object(map));
    let bytes = encode(&packet, Sender::Socket);
    assert_eq!(decode(&bytes).unwrap(), packet);
}
