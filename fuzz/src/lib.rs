//! Helpers shared by the fuzz targets.

use bytes::Bytes;
use serde_json::{Number, Value};
use socketio_proto::binary::resolve;
use socketio_proto::packet::{DecodeError, Decoder, Limits, Packet, Payload};

/// Whether two JSON values are the same to JavaScript: numbers by value (a
/// JSON number is a double: `2.0` and `2` are one number, `-0` is `0`),
/// object keys as a set (the decoder puts them in JavaScript's enumeration
/// order), everything else exactly.
pub fn js_eq(a: &Value, b: &Value) -> bool {
    js_eq_with(a, &[], b, &[])
}

/// [`js_eq`] where a placeholder stands for the attachment it names (when
/// there are attachments): two placeholders are equal when their bytes are,
/// whatever their numbers. The decoder renumbers placeholders in
/// JavaScript's key order and reorders the attachments to match.
fn js_eq_with(a: &Value, a_bin: &[Bytes], b: &Value, b_bin: &[Bytes]) -> bool {
    let a_ph = (!a_bin.is_empty()).then(|| resolve(a, a_bin)).flatten();
    let b_ph = (!b_bin.is_empty()).then(|| resolve(b, b_bin)).flatten();
    match (a_ph, b_ph) {
        (Some(a), Some(b)) => return a == b,
        (None, None) => {}
        _ => return false,
    }
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => number_eq(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| js_eq_with(a, a_bin, b, b_bin))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| js_eq_with(v, a_bin, w, b_bin)))
        }
        _ => a == b,
    }
}

fn number_eq(a: &Number, b: &Number) -> bool {
    // Integers keep every digit (the decoder does not round beyond 2^53);
    // a float compares by value.
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a == b;
    }
    a.as_f64() == b.as_f64()
}

fn values_eq(a: &[Value], a_bin: &[Bytes], b: &[Value], b_bin: &[Bytes]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| js_eq_with(a, a_bin, b, b_bin))
}

/// Whether two packets say the same thing to JavaScript (see [`js_eq`]),
/// binary data compared where the placeholders put it.
pub fn packet_js_eq(a: &Packet, b: &Packet) -> bool {
    if a.nsp != b.nsp
        || a.packet_type() != b.packet_type()
        || a.attachments().len() != b.attachments().len()
    {
        return false;
    }
    let (a_bin, b_bin) = (a.attachments(), b.attachments());
    match (&a.payload, &b.payload) {
        (Payload::Connect(a), Payload::Connect(b)) => match (a, b) {
            (Some(a), Some(b)) => js_eq(&Value::Object(a.clone()), &Value::Object(b.clone())),
            (a, b) => a == b,
        },
        (Payload::Disconnect, Payload::Disconnect) => true,
        (Payload::Event(a), Payload::Event(b)) => {
            a.id == b.id && values_eq(a.data(), a_bin, b.data(), b_bin)
        }
        (Payload::Ack(a), Payload::Ack(b)) => {
            a.id == b.id && values_eq(a.data(), a_bin, b.data(), b_bin)
        }
        (Payload::ConnectError(a), Payload::ConnectError(b)) => {
            use socketio_proto::packet::ConnectErrorData as C;
            match (a, b) {
                (Some(C::Object(a)), Some(C::Object(b))) => {
                    js_eq(&Value::Object(a.clone()), &Value::Object(b.clone()))
                }
                (a, b) => a == b,
            }
        }
        _ => false,
    }
}

/// Decodes what a sender writes for `packet`: its text, then each of its
/// attachments, with no limits. Every frame before the last must leave the
/// decoder waiting.
pub fn decode_encoded(packet: &Packet) -> Result<Packet, DecodeError> {
    let mut decoder = Decoder::new(Limits {
        max_attachments: usize::MAX,
        max_binary_bytes: usize::MAX,
    });
    let mut out = decoder.decode_text(packet.encode())?;
    for attachment in packet.attachments() {
        assert!(out.is_none(), "complete before its attachments: {packet:?}");
        out = decoder.decode_binary(attachment.clone())?;
    }
    assert_eq!(decoder.awaited_attachments(), 0);
    Ok(out.unwrap_or_else(|| panic!("incomplete after its attachments: {packet:?}")))
}

/// The round-trip property of the Socket.IO codec for a packet that is
/// valid to send: what it encodes to decodes to a packet JavaScript cannot
/// tell from it, and that packet is canonical: it encodes and decodes to
/// itself exactly, text included.
pub fn check_socketio_roundtrip(packet: &Packet) {
    let decoded = decode_encoded(packet)
        .unwrap_or_else(|e| panic!("{packet:?} encodes to {:?}: {e}", packet.encode()));
    assert!(
        packet_js_eq(packet, &decoded),
        "{packet:?}\nencodes to {:?}\ndecodes to {decoded:?}",
        packet.encode()
    );
    let again = decode_encoded(&decoded).unwrap_or_else(|e| panic!("{decoded:?}: {e}"));
    assert_eq!(again, decoded, "not canonical: {:?}", decoded.encode());
    assert_eq!(again.encode(), decoded.encode());
}
