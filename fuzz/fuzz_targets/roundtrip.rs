//! Round trips of both codecs on structured packets built with `arbitrary`:
//! encode, decode, compare.
//!
//! * Engine.IO: every packet, in both protocol revisions, as one WebSocket
//!   frame and inside each polling payload form (v4 `\x1e`-joined, v3 text
//!   with UTF-16 lengths, v3 binary); decoding gives back the same packets.
//!   The v4 payload is skipped when a text contains its separator `\x1e`,
//!   which that form cannot carry.
//! * Socket.IO: every packet a sender may build (valid namespace, event
//!   names, placeholders numbered in order); its text and attachments decode
//!   to a packet JavaScript cannot tell from it, which encodes and decodes
//!   to itself exactly.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use engineio_proto::{Data, Frame, Packet as EioPacket, Protocol, Str, payload};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use socketio_proto::binary::attach;
use socketio_proto::packet::{Ack, ConnectErrorData, Event, Packet, Payload};
use socketio_rs_fuzz::check_socketio_roundtrip;

#[derive(Debug, Arbitrary)]
enum EioInput {
    Open(String),
    Close,
    Ping(String),
    Pong(String),
    Text(String),
    Binary(Vec<u8>),
    Upgrade,
    Noop,
}

impl EioInput {
    fn packet(self) -> EioPacket {
        match self {
            Self::Open(s) => EioPacket::Open(Str::from(s)),
            Self::Close => EioPacket::Close,
            Self::Ping(s) => EioPacket::Ping(Str::from(s)),
            Self::Pong(s) => EioPacket::Pong(Str::from(s)),
            Self::Text(s) => EioPacket::Message(Data::Text(Str::from(s))),
            Self::Binary(b) => EioPacket::Message(Data::Binary(Bytes::from(b))),
            Self::Upgrade => EioPacket::Upgrade,
            Self::Noop => EioPacket::Noop,
        }
    }
}

/// A leaf of the JSON tree, or a container whose children come next.
#[derive(Debug, Arbitrary)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
    /// Stands for a binary attachment.
    Binary(Vec<u8>),
    Array(u8),
    Object(u8),
}

/// Object keys: plain names, and the integer-like keys JavaScript
/// enumerates first, to exercise key ordering.
#[derive(Debug, Arbitrary)]
enum Key {
    Name(String),
    Index(u32),
    Fixed(u8),
}

impl Key {
    fn text(self) -> String {
        match self {
            Self::Name(s) => s,
            Self::Index(i) => i.to_string(),
            Self::Fixed(n) => ["a", "b", "0", "1", "10", "01", "_placeholder", "num"]
                [usize::from(n) % 8]
                .to_owned(),
        }
    }
}

/// Builds a value depth first, so that attachments are numbered in the
/// order the protocol sends them.
fn json(
    u: &mut Unstructured<'_>,
    depth: u32,
    attachments: &mut Vec<Bytes>,
) -> arbitrary::Result<Value> {
    Ok(match Node::arbitrary(u)? {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::from(i),
        Node::Uint(n) => Value::from(n),
        // Not finite: not JSON, `Value::from` gives null.
        Node::Float(f) => Value::from(f),
        Node::String(s) => Value::String(s),
        Node::Binary(b) => attach(attachments, Bytes::from(b)),
        Node::Array(n) if depth < 6 => {
            let mut items = Vec::new();
            for _ in 0..n % 5 {
                items.push(json(u, depth + 1, attachments)?);
            }
            Value::Array(items)
        }
        Node::Object(n) if depth < 6 => {
            let mut map = Map::new();
            for _ in 0..n % 5 {
                let key = Key::arbitrary(u)?.text();
                map.insert(key, json(u, depth + 1, attachments)?);
            }
            Value::Object(map)
        }
        Node::Array(_) | Node::Object(_) => Value::Null,
    })
}

fn values(u: &mut Unstructured<'_>, attachments: &mut Vec<Bytes>) -> arbitrary::Result<Vec<Value>> {
    let n = u8::arbitrary(u)? % 5;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(json(u, 1, attachments)?);
    }
    Ok(out)
}

fn object(u: &mut Unstructured<'_>) -> arbitrary::Result<Map<String, Value>> {
    match json(u, 5, &mut Vec::new())? {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Connect(bool),
    Disconnect,
    Event(Option<u64>),
    Ack(Option<u64>),
    ConnectErrorNone,
    ConnectErrorMessage(String),
    ConnectErrorObject,
}

#[derive(Debug, Arbitrary)]
enum Name {
    Text(String),
    Int(i64),
    Float(f64),
}

/// A packet a sender may build; `None` for an input that names a packet the
/// API refuses (a reserved event name, a placeholder the attachments do not
/// match).
fn socketio_packet(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Packet>> {
    // The namespace starts with `/` and holds no `,`.
    let nsp = match Option::<String>::arbitrary(u)? {
        None => String::from("/"),
        Some(s) => format!("/{}", s.replace(',', "")),
    };
    let payload = match Kind::arbitrary(u)? {
        Kind::Connect(false) => Payload::Connect(None),
        Kind::Connect(true) => Payload::Connect(Some(object(u)?)),
        Kind::Disconnect => Payload::Disconnect,
        Kind::Event(id) => {
            let name = match Name::arbitrary(u)? {
                Name::Text(s) => Value::String(s),
                Name::Int(i) => Value::from(i),
                Name::Float(f) if f.is_finite() => Value::from(f),
                Name::Float(_) => Value::from(0),
            };
            let mut attachments = Vec::new();
            let mut data = vec![name];
            data.extend(values(u, &mut attachments)?);
            let Ok(mut event) =
                Event::from_data(data).and_then(|e| e.with_attachments(attachments))
            else {
                return Ok(None);
            };
            event.id = id;
            Payload::Event(event)
        }
        Kind::Ack(id) => {
            let mut attachments = Vec::new();
            let data = values(u, &mut attachments)?;
            let mut ack = Ack::new(0, data);
            ack.id = id;
            match ack.with_attachments(attachments) {
                Ok(ack) => Payload::Ack(ack),
                Err(_) => return Ok(None),
            }
        }
        Kind::ConnectErrorNone => Payload::ConnectError(None),
        Kind::ConnectErrorMessage(m) => Payload::ConnectError(Some(ConnectErrorData::Message(m))),
        Kind::ConnectErrorObject => {
            Payload::ConnectError(Some(ConnectErrorData::Object(object(u)?)))
        }
    };
    Ok(Some(Packet::new(nsp, payload)))
}

fn check_engineio(packets: &[EioPacket]) {
    for protocol in [Protocol::V4, Protocol::V3] {
        let frames: Vec<Frame> = packets.iter().map(|p| p.encode(protocol)).collect();
        for (packet, frame) in packets.iter().zip(&frames) {
            assert_eq!(
                EioPacket::decode(frame.clone(), protocol).as_ref(),
                Ok(packet),
                "{protocol:?} frame {frame:?}"
            );
        }
        let decoded = match protocol {
            Protocol::V4 => {
                let separator = |f: &Frame| matches!(f, Frame::Text(t) if t.contains('\x1e'));
                if frames.is_empty() || frames.iter().any(separator) {
                    continue;
                }
                let body = payload::encode_v4(&frames);
                payload::decode_v4(body).collect::<Result<Vec<_>, _>>()
            }
            Protocol::V3 => {
                let binary = payload::decode_v3(Frame::Binary(payload::encode_v3_binary(&frames)));
                assert_eq!(binary.as_deref(), Ok(packets), "v3 binary payload");
                payload::decode_v3(Frame::Text(payload::encode_v3_text(&frames)))
            }
        };
        assert_eq!(decoded.as_deref(), Ok(packets), "{protocol:?} payload");
    }
}

/// `FUZZ_DEBUG` set: print the packets built (to check the seeds).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(engine) = Vec::<EioInput>::arbitrary(&mut u) else {
        return;
    };
    let engine: Vec<EioPacket> = engine.into_iter().take(16).map(EioInput::packet).collect();
    if debug() {
        eprintln!("engine.io: {engine:?}");
    }
    check_engineio(&engine);
    for _ in 0..32 {
        if u.is_empty() {
            break;
        }
        match socketio_packet(&mut u) {
            Ok(Some(packet)) => {
                if debug() {
                    eprintln!(
                        "socket.io: {:?} {:?}",
                        packet.encode(),
                        packet.attachments()
                    );
                }
                check_socketio_roundtrip(&packet);
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
});
