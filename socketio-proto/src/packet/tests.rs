#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::decode::js_number;
use super::json::{JsFormatter, write_js_float};
use super::*;
use crate::binary::{attach, placeholder};
use proptest::prelude::*;
use serde_json::json;

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
const PH1: &str = r#"{"_placeholder":true,"num":1}"#;

fn decoder() -> Decoder {
    Decoder::new(Limits::new(1_000))
}

fn decode(text: &str) -> Result<Option<Packet>, DecodeError> {
    decoder().decode_text(Str::from(text.to_owned()))
}

fn decode_one(text: &str) -> Packet {
    decode(text).unwrap().unwrap()
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

fn data(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        _ => panic!("not an array"),
    }
}

fn event(nsp: &'static str, id: Option<u64>, array: Value) -> Packet {
    let mut event = Event::from_data(data(array)).unwrap();
    event.id = id;
    Packet::event(nsp, event)
}

fn ack(nsp: &'static str, id: u64, array: Value) -> Packet {
    Packet::ack(nsp, Ack::new(id, data(array)))
}

/// Decodes `text` then `attachments`, checking that only the last one
/// completes the packet.
fn reassemble(decoder: &mut Decoder, text: &str, attachments: &[&'static [u8]]) -> Packet {
    let mut out = decoder.decode_text(Str::from(text.to_owned())).unwrap();
    for a in attachments {
        assert_eq!(out, None);
        out = decoder.decode_binary(Bytes::from_static(a)).unwrap();
    }
    out.expect("complete packet")
}

/// Encodes `packet`, checks the exact text, and decodes it back.
fn assert_wire(packet: &Packet, text: &str) {
    assert_eq!(packet.encode(), text);
    let attachments: Vec<&'static [u8]> = packet
        .attachments()
        .iter()
        .map(|a| &*Vec::leak(a.to_vec()))
        .collect();
    assert_eq!(&reassemble(&mut decoder(), text, &attachments), packet);
}

// Encoding and decoding the examples of the spec and of docs/protocol.md.

#[test]
fn connect_vectors() {
    assert_wire(&Packet::connect("/", None), "0");
    assert_wire(
        &Packet::connect("/admin", Some(map(json!({"sid": "oSO0OpakMV_3jnilAAAA"})))),
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
    );
    assert_wire(
        &Packet::connect("/admin", Some(map(json!({"token": "123"})))),
        r#"0/admin,{"token":"123"}"#,
    );
    assert_wire(&Packet::connect("/admin", None), "0/admin,");
    assert_wire(&Packet::connect("/", Some(Map::new())), "0{}");
}

#[test]
fn disconnect_vectors() {
    assert_wire(&Packet::disconnect("/"), "1");
    assert_wire(&Packet::disconnect("/admin"), "1/admin,");
}

#[test]
fn event_vectors() {
    assert_wire(&event("/", None, json!(["foo"])), r#"2["foo"]"#);
    assert_wire(&event("/admin", None, json!(["bar"])), r#"2/admin,["bar"]"#);
    assert_wire(&event("/", Some(12), json!(["foo"])), r#"212["foo"]"#);
    assert_wire(
        &event("/chat", Some(12), json!(["msg", "hi"])),
        r#"2/chat,12["msg","hi"]"#,
    );
    assert_wire(
        &event("/", None, json!(["hey", "Jude"])),
        r#"2["hey","Jude"]"#,
    );
    assert_wire(
        &event("/admin", Some(1), json!(["tellme"])),
        r#"2/admin,1["tellme"]"#,
    );
}

#[test]
fn ack_vectors() {
    assert_wire(&ack("/", 12, json!([])), "312[]");
    assert_wire(&ack("/admin", 13, json!(["bar"])), r#"3/admin,13["bar"]"#);
    assert_wire(&ack("/chat", 12, json!([])), "3/chat,12[]");
}

#[test]
fn connect_error_vectors() {
    assert_wire(
        &Packet::connect_error("/", ConnectErrorData::new("Not authorized", None)),
        r#"4{"message":"Not authorized"}"#,
    );
    assert_wire(
        &Packet::connect_error(
            "/",
            ConnectErrorData::new("not authorized", Some(json!({"a": 1}))),
        ),
        r#"4{"message":"not authorized","data":{"a":1}}"#,
    );
    assert_wire(
        &Packet::connect_error("/random", ConnectErrorData::new("Invalid namespace", None)),
        r#"4/random,{"message":"Invalid namespace"}"#,
    );
    assert_wire(
        &Packet::connect_error("/", ConnectErrorData::Message("not authorized".into())),
        r#"4"not authorized""#,
    );
}

#[test]
fn to_message_is_the_engine_message_of_the_encoded_text() {
    let mut attachments = Vec::new();
    let file = attach(&mut attachments, Bytes::from_static(&[1, 2]));
    let e = Event::new("é", vec![file, Value::from(1.5)])
        .unwrap()
        .with_attachments(attachments)
        .unwrap();
    let packet = Packet::event("/admin", e);
    let message = packet.to_message();
    assert_eq!(message, engineio_proto::Message::text(&packet.encode()));
    // The WebSocket form: the Engine.IO type digit, then the packet.
    assert_eq!(
        message.len(),
        1 + format!(r#"51-/admin,["é",{PH0},1.5]"#).len()
    );
}

#[test]
fn binary_event_vectors() {
    let mut attachments = Vec::new();
    let file = attach(&mut attachments, Bytes::from_static(&[1, 2, 3, 4]));
    let e = Event::new("baz", vec![file])
        .unwrap()
        .with_attachments(attachments);
    let packet = Packet::event("/", e.unwrap());
    assert_eq!(packet.packet_type(), PacketType::BinaryEvent);
    assert_wire(&packet, &format!(r#"51-["baz",{PH0}]"#));

    let e = Event::new("baz", vec![placeholder(0), placeholder(1)]).unwrap();
    let e = e.with_attachments(vec![
        Bytes::from_static(&[1, 2]),
        Bytes::from_static(&[3, 4]),
    ]);
    assert_wire(
        &Packet::event("/admin", e.unwrap()),
        &format!(r#"52-/admin,["baz",{PH0},{PH1}]"#),
    );
}

#[test]
fn binary_ack_vectors() {
    let a = Ack::new(15, vec![json!("bar"), placeholder(0)])
        .with_attachments(vec![Bytes::from_static(&[1, 2, 3, 4])])
        .unwrap();
    let packet = Packet::ack("/", a);
    assert_eq!(packet.packet_type(), PacketType::BinaryAck);
    assert_wire(&packet, &format!(r#"61-15["bar",{PH0}]"#));

    let a = Ack::new(1, vec![placeholder(0)])
        .with_attachments(vec![Bytes::from_static(b"x")])
        .unwrap();
    assert_wire(&Packet::ack("/admin", a), &format!("61-/admin,1[{PH0}]"));
}

#[test]
fn numbers_are_written_as_javascript_writes_them() {
    let args = vec![
        json!(1.5),
        json!(1e21),
        json!(1.5e-7),
        json!(0.000001),
        json!(1e20),
        json!(-0.0),
        json!(2.0),
        json!(-123.456),
        json!(5e-324),
        json!(1.7976931348623157e308),
        json!(u64::MAX),
        json!(i64::MIN),
    ];
    let packet = Packet::event("/", Event::new("n", args).unwrap());
    assert_eq!(
        packet.encode(),
        "2[\"n\",1.5,1e+21,1.5e-7,0.000001,100000000000000000000,0,2,-123.456,\
         5e-324,1.7976931348623157e+308,18446744073709551615,-9223372036854775808]"
    );
}

#[test]
fn strings_are_escaped_as_json_stringify_does() {
    let text = "2[\"a\\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u001f\u{7f}é€😀\u{2028}/\"]";
    let packet = decode_one(text);
    assert_eq!(packet.encode(), text);
    // `\/` and `\u00e9` are read, and written back plainly.
    assert_eq!(decode_one(r#"2["\/\u00e9"]"#).encode(), "2[\"/é\"]");
}

#[test]
fn object_keys_keep_their_order_and_javascript_index_order() {
    let text = r#"0{"z":1,"a":{"y":2,"b":3},"m":[{"q":1,"c":2}]}"#;
    assert_eq!(decode_one(text).encode(), text);
    assert_eq!(
        decode_one(r#"2["a",{"b":1,"1":2,"0":3}]"#).encode(),
        r#"2["a",{"0":3,"1":2,"b":1}]"#
    );
    // A repeated key keeps its first place and its last value.
    assert_eq!(
        decode_one(r#"0{"a":1,"b":2,"a":3}"#).encode(),
        r#"0{"a":3,"b":2}"#
    );
}

// Decoding quirks of the reference parser.

#[test]
fn empty_or_blank_text_is_a_connect() {
    assert_eq!(decode_one(""), Packet::connect("/", None));
    assert_eq!(decode_one(" "), Packet::connect("/", None));
    assert_eq!(
        decode_one("\u{a0}/a,{\"x\":1}"),
        Packet::connect("/a", Some(map(json!({"x": 1}))))
    );
}

#[test]
fn namespace_runs_to_the_first_comma_or_the_end() {
    assert_eq!(decode_one("0/admin"), Packet::connect("/admin", None));
    assert_eq!(decode_one(r#"2/a["x"]"#).nsp, r#"/a["x"]"#);
    assert_eq!(decode_one(r#"2/,["x"]"#), event("/", None, json!(["x"])));
    assert_eq!(
        decode_one(r#"2/a/b,7["x"]"#),
        event("/a/b", Some(7), json!(["x"]))
    );
}

#[test]
fn decoded_namespace_shares_the_frame() {
    let frame = Str::from(String::from(r#"2/chat,["x"]"#));
    let packet = decoder().decode_text(frame.clone()).unwrap().unwrap();
    assert_eq!(packet.nsp, "/chat");
    let offset = packet.nsp.as_ptr() as usize - frame.as_ptr() as usize;
    assert_eq!(offset, 1);
}

#[test]
fn ack_ids() {
    assert_eq!(
        decode_one(r#"2007["a"]"#),
        event("/", Some(7), json!(["a"]))
    );
    assert_eq!(decode_one(r#"2 ["a"]"#), event("/", Some(0), json!(["a"])));
    // White space around the digits is trimmed, JavaScript's included.
    assert_eq!(
        decode_one("2 12\u{3000}[\"a\"]"),
        event("/", Some(12), json!(["a"]))
    );
    assert_eq!(
        decode_one(r#"218446744073709551615["a"]"#),
        event("/", Some(u64::MAX), json!(["a"]))
    );
    assert_eq!(
        decode(r#"218446744073709551616["a"]"#),
        Err(DecodeError::InvalidAckId)
    );
    assert_eq!(decode(r#"21 2["a"]"#), Err(DecodeError::InvalidAckId));
    // An event without payload, with or without an id.
    let Payload::Event(e) = decode_one("2/a,12").payload else {
        panic!()
    };
    assert_eq!((e.id, e.name(), e.data()), (Some(12), None, &[][..]));
    assert_eq!(decode_one("2/a,12").encode(), "2/a,12");
}

#[test]
fn ids_after_other_types_are_read_and_dropped() {
    assert_eq!(decode_one("012{}"), Packet::connect("/", Some(Map::new())));
    assert_eq!(decode_one("1/a,5"), Packet::disconnect("/a"));
    assert_eq!(
        decode_one("43"),
        Packet::new("/", Payload::ConnectError(None))
    );
}

#[test]
fn acks_without_payload_or_id() {
    let Payload::Ack(a) = decode_one("3").payload else {
        panic!()
    };
    assert_eq!((a.id, a.data()), (None, &[][..]));
    assert_eq!(decode_one("3/a,4").encode(), "3/a,4[]");
    assert_eq!(decode_one("3[1]").encode(), "3[1]");
}

#[test]
fn numeric_event_names() {
    for (text, name) in [
        ("2[1,\"a\"]", "1"),
        ("2[-1.5]", "-1.5"),
        ("2[1e21]", "1e+21"),
        ("2[0.1]", "0.1"),
    ] {
        let Payload::Event(e) = decode_one(text).payload else {
            panic!()
        };
        assert_eq!(e.name_str().as_deref(), Some(name), "{text}");
    }
    let Payload::Event(e) = decode_one("2[1,\"a\"]").payload else {
        panic!()
    };
    assert_eq!((e.name(), e.args()), (Some(&json!(1)), &[json!("a")][..]));
}

#[test]
fn every_reserved_event_name_is_refused() {
    for name in RESERVED_EVENTS {
        assert_eq!(
            decode(&format!(r#"2["{name}"]"#)),
            Err(DecodeError::InvalidPayload)
        );
        assert_eq!(
            decode(&format!(r#"51-["{name}",{PH0}]"#)),
            Err(DecodeError::InvalidPayload)
        );
        assert_eq!(
            Event::new(name, vec![]),
            Err(PayloadError::ReservedEventName)
        );
        assert!(matches!(
            encode_event("/", None, name, &[1]),
            Err(EncodeError::Payload(PayloadError::ReservedEventName))
        ));
    }
    // Only the exact names are reserved.
    assert!(decode(r#"2["Connect"]"#).is_ok());
    assert!(decode(r#"2["connect "]"#).is_ok());
}

// Every error, with an input that reaches it.

#[test]
fn unknown_types() {
    for text in ["7", "8[]", "9", "a", "-1", "[\"a\"]", "€", "😀", "\u{85}"] {
        assert_eq!(decode(text), Err(DecodeError::UnknownType), "{text:?}");
    }
}

#[test]
fn illegal_attachments() {
    for text in [
        "5",
        "51",
        r#"51["a"]"#,
        r#"5a-["a"]"#,
        r#"51.5-["a"]"#,
        r#"5Infinity-["a"]"#,
        r#"51e400-["a"]"#,
        r#"5NaN-["a"]"#,
        r#"51_0-["a"]"#,
        r#"5["a-b"]"#,
        r#"60x-[]"#,
    ] {
        assert_eq!(decode(text), Err(DecodeError::IllegalAttachments), "{text}");
    }
}

#[test]
fn attachments_count_is_read_as_javascript_number_does() {
    // No count at all means zero: the packet is complete at once.
    assert_eq!(decode_one(r#"5-["a"]"#), event("/", None, json!(["a"])));
    for count in [
        "1", "01", " 1 ", "+1", "1.0", "1e0", "0x1", "0b1", "0o1", ".1e1",
    ] {
        let mut decoder = decoder();
        let text = format!(r#"5{count}-["a",{PH0}]"#);
        assert_eq!(decoder.decode_text(Str::from(text)), Ok(None), "{count}");
        assert_eq!(decoder.awaited_attachments(), 1, "{count}");
    }
}

#[test]
fn too_many_attachments() {
    let mut d = decoder();
    assert_eq!(d.decode_text(Str::from(r#"510-["a"]"#)), Ok(None));
    assert_eq!(d.awaited_attachments(), 10);
    assert_eq!(decode(r#"511-["a"]"#), Err(DecodeError::TooManyAttachments));
    assert_eq!(
        decode(r#"51e9-["a"]"#),
        Err(DecodeError::TooManyAttachments)
    );
    // A huge claim is refused without reserving anything for it.
    assert_eq!(
        decode(r#"5451000000-["a"]"#),
        Err(DecodeError::TooManyAttachments)
    );
    assert_eq!(
        decode(r#"599999999999999999999999-["a"]"#),
        Err(DecodeError::TooManyAttachments)
    );
    let mut d = Decoder::new(Limits {
        max_attachments: 2,
        max_binary_bytes: 10,
    });
    assert_eq!(d.decode_text(Str::from(r#"62-1[]"#)), Ok(None));
    d.reset();
    assert_eq!(
        d.decode_text(Str::from(r#"63-1[]"#)),
        Err(DecodeError::TooManyAttachments)
    );
}

#[test]
fn invalid_json() {
    for text in [
        r#"2["a""#,
        r#"2["a"]x"#,
        r#"2["a",]"#,
        r#"2['a']"#,
        r#"2["a",1e400]"#,
        r#"2["\ud800"]"#,
        r#"0{"a":}"#,
        "4{",
        "2,[\"a\"]",
        r#"51-["a""#,
    ] {
        assert_eq!(decode(text), Err(DecodeError::InvalidJson), "{text}");
    }
    let deep = format!("2[\"a\",{}{}]", "[".repeat(200), "]".repeat(200));
    assert_eq!(decode(&deep), Err(DecodeError::InvalidJson));
}

#[test]
fn invalid_payloads() {
    for text in [
        "2[]",
        "2{}",
        r#"2"a""#,
        "2[null]",
        "2[true]",
        r#"2[["a"]]"#,
        r#"2[{"a":1}]"#,
        "2null",
        "3{}",
        r#"3"a""#,
        "0[]",
        r#"0"x""#,
        "0null",
        "1{}",
        "1null",
        "1x",
        "1/a,{}",
        "4[]",
        "4null",
        "5-[]",
        r#"61-{"a":1}"#,
        &format!("51-[{PH0}]"),
    ] {
        assert_eq!(decode(text), Err(DecodeError::InvalidPayload), "{text}");
    }
}

#[test]
fn placeholder_errors() {
    assert_eq!(
        decode(r#"51-["a",{"_placeholder":true,"num":1}]"#),
        Err(DecodeError::PlaceholderOutOfRange)
    );
    assert_eq!(
        decode(r#"52-["a",{"_placeholder":true,"num":-1}]"#),
        Err(DecodeError::PlaceholderOutOfRange)
    );
    assert_eq!(
        decode(r#"51-["a",{"_placeholder":true,"num":"0"}]"#),
        Err(DecodeError::PlaceholderNotANumber)
    );
    assert_eq!(
        decode(r#"61-[{"x":[{"_placeholder":true}]}]"#),
        Err(DecodeError::PlaceholderNotANumber)
    );
}

#[test]
fn binary_frame_when_none_is_expected() {
    let mut d = decoder();
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"x")),
        Err(DecodeError::UnexpectedBinary)
    );
    reassemble(&mut d, &format!(r#"51-["a",{PH0}]"#), &[b"x"]);
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"y")),
        Err(DecodeError::UnexpectedBinary)
    );
    assert_eq!(
        d.decode_text(Str::from(r#"5-["a"]"#)).map(|p| p.is_some()),
        Ok(true)
    );
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"y")),
        Err(DecodeError::UnexpectedBinary)
    );
}

#[test]
fn text_frame_interrupting_reassembly() {
    let mut d = decoder();
    let head = format!(r#"52-["a",{PH0},{PH1}]"#);
    assert_eq!(d.decode_text(Str::from(head.clone())), Ok(None));
    assert_eq!(d.decode_binary(Bytes::from_static(b"1")), Ok(None));
    assert_eq!(
        d.decode_text(Str::from(r#"2["b"]"#)),
        Err(DecodeError::UnexpectedText)
    );
    // The half-built packet is gone; the decoder starts afresh.
    assert_eq!(d.awaited_attachments(), 0);
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"2")),
        Err(DecodeError::UnexpectedBinary)
    );
    let packet = reassemble(&mut d, &head, &[b"1", b"2"]);
    assert_eq!(packet.attachments(), [&b"1"[..], &b"2"[..]]);
}

#[test]
fn reassembly_over_several_frames() {
    let mut d = decoder();
    let text =
        format!(r#"53-/up,9["files",{{"a":{PH0},"b":[{PH1}]}},{{"_placeholder":true,"num":2}}]"#);
    assert_eq!(d.decode_text(Str::from(text.clone())), Ok(None));
    assert_eq!(d.awaited_attachments(), 3);
    assert_eq!(d.decode_binary(Bytes::from_static(b"one")), Ok(None));
    assert_eq!(d.awaited_attachments(), 2);
    assert_eq!(d.decode_binary(Bytes::from_static(b"")), Ok(None));
    let packet = d
        .decode_binary(Bytes::from_static(b"three"))
        .unwrap()
        .unwrap();
    assert_eq!(d.awaited_attachments(), 0);
    assert_eq!(packet.nsp, "/up");
    let Payload::Event(e) = &packet.payload else {
        panic!()
    };
    assert_eq!(e.id, Some(9));
    assert_eq!(e.attachments(), [&b"one"[..], b"", b"three"]);
    assert_eq!(
        crate::binary::resolve(&e.args()[0]["b"][0], e.attachments()).unwrap(),
        &b""[..]
    );
    assert_eq!(packet.encode(), text.as_str());
    // The decoder is ready for the next packet.
    assert_eq!(
        d.decode_text(Str::from("1")),
        Ok(Some(Packet::disconnect("/")))
    );
}

#[test]
fn binary_ack_reassembly() {
    let packet = reassemble(&mut decoder(), &format!("61-/admin,1[{PH0}]"), &[b"\xff"]);
    assert_eq!(
        packet,
        Packet::ack(
            "/admin",
            Ack::new(1, vec![placeholder(0)])
                .with_attachments(vec![Bytes::from_static(b"\xff")])
                .unwrap()
        )
    );
}

#[test]
fn placeholders_are_renumbered_as_the_reference_server_would_resend() {
    let packet = reassemble(
        &mut decoder(),
        r#"52-["a",{"num":1,"_placeholder":true,"x":0},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1e0}]"#,
        &[b"A", b"B"],
    );
    assert_eq!(
        packet.encode(),
        format!(r#"53-["a",{PH0},{PH1},{{"_placeholder":true,"num":2}}]"#).as_str()
    );
    assert_eq!(packet.attachments(), [&b"B"[..], b"A", b"B"]);
}

#[test]
fn unreferenced_attachments_are_awaited_then_dropped() {
    let packet = reassemble(&mut decoder(), r#"51-["a"]"#, &[b"unused"]);
    assert_eq!(packet, event("/", None, json!(["a"])));
    assert_eq!(packet.encode(), r#"2["a"]"#);
}

#[test]
fn zero_attachments_leave_placeholders_as_json() {
    let text = format!(r#"50-["a",{PH0}]"#);
    let packet = decode_one(&text);
    assert!(packet.attachments().is_empty());
    assert_eq!(packet.encode(), format!(r#"2["a",{PH0}]"#).as_str());
    // Likewise in a text event.
    assert_eq!(decode_one(&format!(r#"2["a",{PH0}]"#)), packet);
}

#[test]
fn binary_size_limit_crossed_by_one() {
    let limits = Limits {
        max_attachments: 10,
        max_binary_bytes: 5,
    };
    let head = format!(r#"52-["a",{PH0},{PH1}]"#);
    let mut d = Decoder::new(limits);
    let packet = reassemble(&mut d, &head, &[b"ab", b"cde"]);
    assert_eq!(packet.attachments().len(), 2);

    assert_eq!(d.decode_text(Str::from(head.clone())), Ok(None));
    assert_eq!(d.decode_binary(Bytes::from_static(b"ab")), Ok(None));
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"cdef")),
        Err(DecodeError::BinaryTooLarge)
    );
    assert_eq!(d.awaited_attachments(), 0);

    assert_eq!(d.decode_text(Str::from(head)), Ok(None));
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"abcdef")),
        Err(DecodeError::BinaryTooLarge)
    );
}

#[test]
fn idle_decoder_holds_no_buffer() {
    assert!(std::mem::size_of::<Decoder>() <= 3 * std::mem::size_of::<usize>());
}

// Construction.

#[test]
fn event_construction_checks_its_invariants() {
    assert_eq!(
        Event::from_data(vec![]),
        Err(PayloadError::MissingEventName)
    );
    assert_eq!(
        Event::from_data(vec![json!(null)]),
        Err(PayloadError::InvalidEventName)
    );
    assert_eq!(
        Event::from_data(vec![placeholder(0)]),
        Err(PayloadError::InvalidEventName)
    );
    assert!(Event::from_data(vec![json!(7)]).is_ok());
    let e = Event::new("a", vec![placeholder(1), placeholder(0)]).unwrap();
    let two = vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")];
    assert_eq!(
        e.clone().with_attachments(two),
        Err(PayloadError::PlaceholderMismatch)
    );
    assert_eq!(
        e.clone().with_attachments(vec![Bytes::from_static(b"x")]),
        Err(PayloadError::PlaceholderMismatch)
    );
    // Without attachments placeholder-like objects are plain JSON.
    let plain = Packet::event("/", e.with_attachments(vec![]).unwrap());
    assert_eq!(plain.encode(), format!(r#"2["a",{PH1},{PH0}]"#).as_str());
    assert_eq!(
        Ack::new(1, vec![]).with_attachments(vec![Bytes::new()]),
        Err(PayloadError::PlaceholderMismatch)
    );
}

#[test]
fn encode_event_fast_path_matches_packet_encode() {
    let text = encode_event("/chat", Some(12), "msg", &("hi", 1.0, [1, 2], None::<u8>)).unwrap();
    assert_eq!(text, r#"2/chat,12["msg","hi",1,[1,2],null]"#);
    let e = Event::new(
        "msg",
        vec![json!("hi"), json!(1.0), json!([1, 2]), json!(null)],
    );
    assert_eq!(
        Packet::event("/chat", e.unwrap().with_id(12)).encode(),
        text
    );
    assert_eq!(
        encode_event("/", None, "ping", &[] as &[u8]).unwrap(),
        r#"2["ping"]"#
    );
    assert_eq!(
        encode_event("/", None, "q\"", &vec![json!({"b":1,"a":2})]).unwrap(),
        r#"2["q\"",{"b":1,"a":2}]"#
    );
    assert!(matches!(
        encode_event("/", None, "a", "not an array"),
        Err(EncodeError::ArgsNotAnArray)
    ));
    let mut bad = std::collections::HashMap::new();
    bad.insert(vec![1u8], 1);
    assert!(matches!(
        encode_event("/", None, "a", &[bad]),
        Err(EncodeError::Json(_))
    ));
}

// Helpers that follow JavaScript.

#[test]
fn js_number_follows_string_to_number() {
    for (text, n) in [
        ("", Some(0.0)),
        (" \n\u{a0}\u{feff}", Some(0.0)),
        ("12", Some(12.0)),
        (" 12 ", Some(12.0)),
        ("+1.5", Some(1.5)),
        ("-1.5e3", Some(-1500.0)),
        (".5", Some(0.5)),
        ("5.", Some(5.0)),
        ("0x1F", Some(31.0)),
        ("0B101", Some(5.0)),
        ("0o17", Some(15.0)),
        ("Infinity", Some(f64::INFINITY)),
        ("-Infinity", Some(f64::NEG_INFINITY)),
        ("1e400", Some(f64::INFINITY)),
        ("-0x1", None),
        ("0x", None),
        ("0x1g", None),
        ("inf", None),
        ("nan", None),
        ("1 2", None),
        ("1_000", None),
        (".", None),
        ("e5", None),
        ("1e", None),
        ("--1", None),
    ] {
        assert_eq!(js_number(text), n, "{text:?}");
    }
}

#[test]
fn js_float_layout() {
    let js = |f: f64| {
        let mut out = Vec::new();
        write_js_float(&mut out, f, f == 0.0).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert_eq!(js(123.0), "123");
    assert_eq!(js(0.1), "0.1");
    assert_eq!(js(-0.0), "0");
    assert_eq!(js(1e21), "1e+21");
    assert_eq!(js(1.2345e21), "1.2345e+21");
    assert_eq!(js(123456789012345680000.0), "123456789012345680000");
    assert_eq!(js(1e-6), "0.000001");
    assert_eq!(js(1.5e-6), "0.0000015");
    assert_eq!(js(1e-7), "1e-7");
    assert_eq!(js(-2.5e-10), "-2.5e-10");
    assert_eq!(js(2f64.powi(60)), "1152921504606847000");
    assert_eq!(js(0.1 + 0.2), "0.30000000000000004");
    use serde_json::ser::Formatter as _;
    let mut out = Vec::new();
    JsFormatter.write_f32(&mut out, 0.1f32).unwrap();
    assert_eq!(out, b"0.1");
}

// Round trips and robustness.

/// JSON values where `{"_placeholder":true,"num":0}` marks binary data;
/// keys never look like array indices or `_placeholder`.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // JSON has one number type: an integral float comes back as an
        // integer, as in JavaScript.
        any::<f64>()
            .prop_filter("finite fraction", |f| f.is_finite() && f.fract() != 0.0)
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        Just(placeholder(0)),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{0,4}", inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Numbers the placeholders depth first and makes their attachments.
fn with_attachments(mut values: Vec<Value>) -> (Vec<Value>, Vec<Bytes>) {
    let mut attachments = Vec::new();
    let mut stack: Vec<&mut Value> = values.iter_mut().rev().collect();
    while let Some(v) = stack.pop() {
        if crate::binary::is_placeholder(v) {
            let n = attachments.len();
            *v = attach(&mut attachments, Bytes::from(vec![n as u8; n % 3]));
        } else if let Value::Array(items) = v {
            stack.extend(items.iter_mut().rev());
        } else if let Value::Object(map) = v {
            stack.extend(map.values_mut().rev());
        }
    }
    (values, attachments)
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(("[a-z_]{0,6}", json_value()), 0..4)
        .prop_map(|entries| entries.into_iter().collect())
}

fn packet() -> impl Strategy<Value = Packet> {
    let nsp = prop_oneof![Just(String::from("/")), "/[^,]{0,8}"].prop_map(Str::from);
    let name = prop_oneof![
        any::<String>()
            .prop_filter("not reserved", |n| !RESERVED_EVENTS.contains(&n.as_str()))
            .prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6)
            .prop_filter("fraction", |f| f.fract() != 0.0)
            .prop_map(Value::from),
    ];
    let args = prop::collection::vec(json_value(), 0..4);
    let id = any::<Option<u64>>();
    let payload = prop_oneof![
        prop::option::of(object()).prop_map(Payload::Connect),
        Just(Payload::Disconnect),
        (name, args.clone(), id).prop_map(|(name, args, id)| {
            let (data, attachments) = with_attachments([vec![name], args].concat());
            let mut e = Event::from_data(data)
                .unwrap()
                .with_attachments(attachments);
            e.as_mut().unwrap().id = id;
            Payload::Event(e.unwrap())
        }),
        (args, any::<u64>()).prop_map(|(args, id)| {
            let (data, attachments) = with_attachments(args);
            Payload::Ack(Ack::new(id, data).with_attachments(attachments).unwrap())
        }),
        prop_oneof![
            Just(None),
            any::<String>().prop_map(|m| Some(ConnectErrorData::Message(m))),
            object().prop_map(|m| Some(ConnectErrorData::Object(m))),
        ]
        .prop_map(Payload::ConnectError),
    ];
    (nsp, payload).prop_map(|(nsp, payload)| Packet { nsp, payload })
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_same_packet(packet in packet()) {
        let mut d = Decoder::new(Limits { max_attachments: usize::MAX, max_binary_bytes: usize::MAX });
        let text = packet.encode();
        let mut out = d.decode_text(text.clone()).unwrap();
        for a in packet.attachments() {
            prop_assert_eq!(&out, &None);
            out = d.decode_binary(a.clone()).unwrap();
        }
        prop_assert_eq!(out.as_ref(), Some(&packet));
        // And the text is stable.
        prop_assert_eq!(out.map(|p| p.encode()), Some(text));
    }

    #[test]
    fn encode_event_agrees_with_packet_encode(
        nsp in "/[a-z]{0,5}",
        id in any::<Option<u64>>(),
        name in "[a-z]{1,8}",
        args in prop::collection::vec(json_value(), 0..4),
    ) {
        let fast = encode_event(&nsp, id, &name, &args).unwrap();
        let mut e = Event::new(name, args).unwrap();
        e.id = id;
        prop_assert_eq!(fast, Packet::event(Str::from(nsp), e).encode());
    }

    #[test]
    fn decoder_never_panics_on_text(text in
        r#"[0-9 ]?[0-9a-z.+ -]{0,4}(/[a-z,]{0,4})?[0-9 ]{0,3}[\[\]{}":,0-9a-z_ ]{0,24}"#
    ) {
        let mut d = Decoder::new(Limits::new(16));
        if let Ok(None) = d.decode_text(Str::from(text)) {
            for _ in 0..d.awaited_attachments() {
                let _ = d.decode_binary(Bytes::from_static(b"0123"));
            }
        }
    }

    #[test]
    fn decoder_never_panics_on_anything(text in any::<String>()) {
        let _ = decoder().decode_text(Str::from(text));
    }
}
