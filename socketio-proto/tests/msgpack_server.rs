//! A server configured with the msgpack parser, driven by scripted clients:
//! connect with auth, events with binary both ways, acks, broadcasts,
//! CONNECT_ERROR (middleware and unknown namespace), polling's `b<base64>`,
//! and a malformed packet closing the connection.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use engineio_proto::RequestId;
use serde_json::{Value, json};
use socketio_proto::binary::attach;
use socketio_proto::msgpack::{self, MsgpackParser};
use socketio_proto::packet::{Ack, ConnectErrorData, Packet, Payload};
use socketio_proto::{BroadcastOptions, ClientAckId, Config, Event, Nsp, Sender, Server, SocketId};

fn config() -> Config {
    let mut c = fixture_config();
    c.parser = Arc::new(MsgpackParser::default());
    c
}

fn server() -> Harness<Server> {
    harness(config())
}

/// What the client's frame for `packet` is (a binary frame, as the harness
/// prints it).
fn frame(packet: &Packet, sender: Sender) -> String {
    format!("<{}>", hex(&msgpack::encode(packet, sender)))
}

fn send(h: &mut Harness<Server>, ws: RequestId, packet: &Packet) {
    h.ws_send_binary(ws, &msgpack::encode(packet, Sender::Socket));
}

/// Opens a WebSocket and joins `nsp` with `auth`; returns the socket id.
fn join_msgpack(h: &mut Harness<Server>, nsp: &str, auth: Value) -> (RequestId, SocketId) {
    let ws = open_ws(h);
    let auth = auth.as_object().cloned();
    send(h, ws, &Packet::connect(nsp.to_owned(), auth.clone()));
    let (socket, got) = take_connect(h);
    assert_eq!(got, Value::Object(auth.unwrap_or_default()));
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let mut sid = serde_json::Map::new();
    sid.insert("sid".into(), json!(socket.as_str()));
    assert_eq!(
        h.ws_take(ws),
        vec![frame(
            &Packet::connect(nsp.to_owned(), Some(sid)),
            Sender::Socket
        )]
    );
    h.take_events();
    (ws, socket)
}

#[test]
fn connect_reply_bytes_are_type_data_nsp() {
    let mut h = server();
    let (ws, socket) = join_msgpack(&mut h, "/custom", json!({"token": "abc"}));
    // Checked once by hand as well: {"type":0,"data":{"sid":...},"nsp":"/custom"}.
    let reply = msgpack::encode(
        &Packet::connect(
            "/custom",
            Some(
                json!({"sid": socket.as_str()})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        ),
        Sender::Socket,
    );
    assert_eq!(&reply[..7], b"\x83\xa4type\x00");
    assert_eq!(&reply[7..13], b"\xa4data\x81");
    assert!(reply.ends_with(b"\xa3nsp\xa7/custom"));
    let _ = ws;
}

#[test]
fn events_with_binary_and_acks_both_ways() {
    let mut h = server();
    let (ws, socket) = join_msgpack(&mut h, "/", json!({}));
    // The client emits an event with nested binary and asks for an ack.
    let mut attachments = Vec::new();
    let file = attach(&mut attachments, Bytes::from_static(b"\x01\x02\x03"));
    let event = socketio_proto::packet::Event::from_data(vec![
        json!("message-with-ack"),
        json!({"file": file, "n": [1, 2.5]}),
    ])
    .unwrap()
    .with_attachments(attachments.clone())
    .unwrap()
    .with_id(4);
    send(&mut h, ws, &Packet::event("/", event.clone()));
    let events = h.take_events();
    let [Event::Event { event: got, .. }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(got, &event);
    assert_eq!(got.attachments(), [Bytes::from_static(b"\x01\x02\x03")]);

    // Acked with the same arguments: {id, type, data, nsp}, binary in place.
    let (data, att) = got.clone().into_parts();
    h.server
        .ack(h.now, &socket, ClientAckId(4), data.clone(), att.clone())
        .unwrap();
    h.drain();
    let ack = Ack::new(4, data.clone()).with_attachments(att).unwrap();
    let expected = frame(&Packet::ack("/", ack), Sender::Socket);
    assert!(expected.starts_with("<84a2696404a474797065"), "{expected}");
    assert_eq!(h.ws_take(ws), vec![expected]);

    // The server emits with an ack: {type, data, id, nsp}; the client's
    // ACK comes back as Event::Ack.
    let id = h
        .server
        .emit_with_ack(
            h.now,
            &socket,
            ev("question", vec![json!(1)]),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    h.drain();
    let mut asked = ev("question", vec![json!(1)]);
    asked.id = Some(id.0);
    assert_eq!(
        h.ws_take(ws),
        vec![frame(&Packet::event("/", asked), Sender::Socket)]
    );
    send(
        &mut h,
        ws,
        &Packet::ack("/", Ack::new(id.0, vec![json!("answer")])),
    );
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::Ack { data, .. }] if data == &[json!("answer")]),
        "{events:?}"
    );
}

#[test]
fn broadcasts_are_encoded_once_with_nsp_before_id() {
    let mut h = server();
    let (ws1, _) = join_msgpack(&mut h, "/", json!({}));
    let (ws2, _) = join_msgpack(&mut h, "/", json!({}));
    let options = BroadcastOptions {
        timeout: Some(Duration::from_secs(5)),
        ..BroadcastOptions::default()
    };
    let sent = h
        .server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &options,
            ev("vote", vec![json!("yes")]),
        )
        .unwrap();
    assert_eq!(sent.recipients, 2);
    h.drain();
    let a = h.ws_take(ws1);
    let b = h.ws_take(ws2);
    assert_eq!(a, b);
    // {type:2, data:["vote","yes"], nsp:"/", id:N}
    let Some(frame) = a.first() else { panic!() };
    assert!(frame.starts_with("<84a474797065"), "{frame}");
    assert!(
        frame.contains("a36e7370a12fa2696400>"),
        "nsp then id 0: {frame}"
    );
}

#[test]
fn connect_errors_keep_the_official_key_orders() {
    let mut h = server();
    // An unknown namespace: the client answers {type, nsp, data}.
    let ws = open_ws(&mut h);
    send(&mut h, ws, &Packet::connect("/random", None));
    let expected =
        Packet::connect_error("/random", ConnectErrorData::new("Invalid namespace", None));
    let got = h.ws_take(ws);
    assert_eq!(got, vec![frame(&expected, Sender::Client)]);
    assert!(got[0].starts_with("<83a474797065 04a36e7370".replace(' ', "").as_str()));

    // A middleware refusal with data: {type, data, nsp}.
    send(&mut h, ws, &Packet::connect("/", None));
    let (socket, _) = take_connect(&mut h);
    h.server
        .reject(h.now, &socket, "not authorized", Some(json!({"code": 42})));
    h.drain();
    let expected = Packet::connect_error(
        "/",
        ConnectErrorData::new("not authorized", Some(json!({"code": 42}))),
    );
    let got = h.ws_take(ws);
    assert_eq!(got, vec![frame(&expected, Sender::Socket)]);
    assert!(got[0].starts_with("<83a47479706504a464617461"));
}

#[test]
fn polling_carries_each_packet_as_base64() {
    let mut h = server();
    let get = h.get(POLL);
    let sid = sid_of_open(&h.body(get));
    let connect = msgpack::encode(&Packet::connect("/", None), Sender::Socket);
    let body = format!(
        "b{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &connect)
    );
    let post = h.post(&with_sid(POLL, &sid), body);
    assert_eq!(h.body(post), "ok");
    let (socket, _) = take_connect(&mut h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let get = h.get(&with_sid(POLL, &sid));
    let text = h.body(get);
    let reply = msgpack::encode(
        &Packet::connect(
            "/",
            Some(
                json!({"sid": socket.as_str()})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        ),
        Sender::Socket,
    );
    assert_eq!(
        text,
        format!(
            "b{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &reply)
        )
    );
}

#[test]
fn malformed_packets_close_the_connection() {
    for bad in [
        &b"\xc1"[..],
        b"\x82\xa4type\x05\xa3nsp\xa1/",
        b"\x93\x02\xa1/\x90",
    ] {
        let mut h = server();
        let (ws, socket) = join_msgpack(&mut h, "/", json!({}));
        h.ws_send_binary(ws, bad);
        assert_eq!(disconnects(&mut h), vec![(socket, "forced close")]);
    }
    // A text frame is not a msgpack packet either.
    let mut h = server();
    let (ws, socket) = join_msgpack(&mut h, "/", json!({}));
    h.ws_send(ws, r#"42["message"]"#);
    let events = h.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::Error { socket: s, message } if *s == socket && message == "unexpected text message")),
        "{events:?}"
    );
}

#[test]
fn payload_shapes_are_typed() {
    // The parser works on the same Packet model: a CONNECT_ERROR with a
    // string reason round-trips as one.
    let p = Packet::connect_error("/", ConnectErrorData::Message("nope".into()));
    let bytes = msgpack::encode(&p, Sender::Socket);
    let decoded = msgpack::decode(bytes, Default::default(), 10).unwrap();
    assert!(
        matches!(decoded.payload, Payload::ConnectError(Some(ConnectErrorData::Message(ref m))) if m == "nope")
    );
}
