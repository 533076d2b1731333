//! The msgpack parser's decoder (npm `socket.io-msgpack-parser` format) on
//! arbitrary messages with small limits, as the server feeds the binary
//! messages of one connection.
//!
//! Checks: no panic and no allocation past what the message and the limits
//! allow (a count the message cannot hold is refused before anything is
//! reserved); a decoded packet respects the limits (nesting, binary values
//! and their bytes) and has one placeholder per attachment numbered depth
//! first; it re-encodes, whoever sends it, to bytes that decode to a packet
//! JavaScript cannot tell from it, and that re-encoding is canonical.
//! Packets holding an integral float beyond 2^63 are not round-tripped:
//! notepack writes those with the bits JavaScript's 32-bit conversions
//! leave, and so do we.
//!
//! Input: two bytes of limits (max depth 1-32, max binary values 0-7, max
//! binary bytes 0-255 x 4), then the message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use socketio_proto::binary::{is_placeholder, placeholders_match};
use socketio_proto::msgpack::{self, MsgpackLimits};
use socketio_proto::packet::{ConnectErrorData, Payload};
use socketio_proto::parser::Sender;
use socketio_rs_fuzz::packet_js_eq;

fuzz_target!(|data: &[u8]| {
    let [a, b, message @ ..] = data else {
        return;
    };
    let limits = MsgpackLimits {
        max_depth: usize::from(a & 0x1f) + 1,
        max_values: 10_000,
        max_binaries: usize::from(a >> 5),
    };
    let max_binary_bytes = usize::from(*b) * 4;
    let Ok(packet) = msgpack::decode(Bytes::copy_from_slice(message), limits, max_binary_bytes)
    else {
        return;
    };
    let attachments = packet.attachments();
    assert!(attachments.len() <= limits.max_binaries);
    assert!(attachments.iter().map(Bytes::len).sum::<usize>() <= max_binary_bytes);
    let data: &[Value] = match &packet.payload {
        Payload::Event(e) => e.data(),
        Payload::Ack(a) => a.data(),
        _ => &[],
    };
    if !attachments.is_empty() {
        assert!(placeholders_match(data, attachments.len()), "{packet:?}");
    }
    // The packet map is depth 1, its data depth 2.
    assert!(data.iter().all(|v| depth(v) + 2 <= limits.max_depth), "{packet:?}");
    let objects: Vec<Value> = match &packet.payload {
        Payload::Connect(Some(map)) => vec![Value::Object(map.clone())],
        Payload::ConnectError(Some(ConnectErrorData::Object(map))) => {
            vec![Value::Object(map.clone())]
        }
        _ => Vec::new(),
    };
    if data.iter().chain(&objects).any(wide_integral_float) {
        return;
    }
    let roomy = MsgpackLimits {
        max_values: usize::MAX,
        ..limits
    };
    for sender in [Sender::Socket, Sender::Broadcast, Sender::Client] {
        let bytes = msgpack::encode(&packet, sender);
        let decoded = msgpack::decode(bytes.clone(), roomy, usize::MAX)
            .unwrap_or_else(|e| panic!("{packet:?} encodes to {bytes:02x?}: {e}"));
        assert!(packet_js_eq(&packet, &decoded), "{packet:?}\ndecodes to {decoded:?}");
        let again = msgpack::encode(&decoded, sender);
        assert_eq!(msgpack::encode(&msgpack::decode(again.clone(), roomy, usize::MAX).unwrap(), sender), again);
    }
});

/// Nesting of arrays and objects below `value` (a scalar is 0; so is a
/// placeholder, which stands for a binary value).
fn depth(value: &Value) -> usize {
    if is_placeholder(value) {
        return 0;
    }
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn wide_integral_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64().is_some_and(|f| {
            !n.is_u64() && !n.is_i64() && f.fract() == 0.0 && f.abs() >= 9.2e18
        }),
        Value::Array(items) => items.iter().any(wide_integral_float),
        Value::Object(map) => map.values().any(wide_integral_float),
        _ => false,
    }
}
