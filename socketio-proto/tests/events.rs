//! Events and acks both ways, binary attachments over WebSocket and
//! polling, and every malformed packet that closes the connection.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::json;
use socketio_proto::binary::attach;
use socketio_proto::packet::Event as EventPacket;
use socketio_proto::{AckId, ClientAckId, EmitError, Event, SocketId};

#[test]
fn client_event_then_server_emit_exact_bytes() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    h.ws_send(ws, r#"42["message",1,"two",{"three":[3]}]"#);
    assert_eq!(
        client_events(&mut h),
        vec![(
            s.clone(),
            "message".into(),
            vec![json!(1), json!("two"), json!({"three":[3]})],
            None
        )]
    );
    h.server
        .emit(h.now, &s, ev("message-back", vec![json!(1), json!("two")]))
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec![r#"42["message-back",1,"two"]"#]);
}

#[test]
fn numeric_event_names_and_key_order_are_kept() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    h.ws_send(ws, r#"42[7,{"b":1,"a":2}]"#);
    let events = h.take_events();
    let Event::Event { event, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(event.name(), Some(&json!(7)));
    let (data, _) = event.clone().into_parts();
    let reencoded = EventPacket::from_data(data).unwrap();
    h.server.emit(h.now, &s, reencoded).unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec![r#"42[7,{"b":1,"a":2}]"#]);
}

#[test]
fn client_ack_request_and_server_answer() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    let custom = join(&mut h, ws, "/custom", "");
    h.ws_send(ws, r#"42/custom,17["message-with-ack",1,"2"]"#);
    let got = client_events(&mut h);
    assert_eq!(got[0].3, Some(17));
    h.server
        .ack(h.now, &custom, ClientAckId(17), got[0].2.clone(), vec![])
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec![r#"43/custom,17[1,"2"]"#]);
}

#[test]
fn server_emit_with_ack_answered_once_then_ignored() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    let id = h
        .server
        .emit_with_ack(
            h.now,
            &s,
            ev("question", vec![json!("?")]),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec![format!(r#"42{id}["question","?"]"#)]);
    assert_eq!(h.server.pending_acks(&s), 1);
    h.ws_send(ws, &format!(r#"43{id}["answer"]"#));
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::Ack { id: i, data, .. }] if *i == id && data == &vec![json!("answer")])
    );
    // A repeated answer, and one with an unknown id, are ignored.
    h.ws_send(ws, &format!(r#"43{id}["again"]"#));
    h.ws_send(ws, r#"399["stranger"]"#);
    assert!(h.take_events().is_empty());
    assert!(!h.ws_closed.contains_key(&ws));
    // The timer of the answered ack does nothing.
    h.advance(100);
    h.ws_send(ws, "3");
    h.advance(5000);
    assert!(
        !h.take_events()
            .iter()
            .any(|e| matches!(e, Event::AckTimeout { .. }))
    );
}

#[test]
fn emit_with_ack_times_out_with_operation_has_timed_out() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    let id = h
        .server
        .emit_with_ack(
            h.now,
            &s,
            ev("slow", vec![]),
            Some(Duration::from_millis(250)),
        )
        .unwrap();
    h.advance(249);
    assert!(h.take_events().is_empty());
    h.advance(1);
    let events = h.take_events();
    assert!(matches!(&events[..], [Event::AckTimeout { id: i, .. }] if *i == id));
    // A late answer is ignored.
    h.ws_send(ws, &format!("3{id}[]"));
    assert!(h.take_events().is_empty());
}

#[test]
fn ack_ids_count_per_namespace() {
    let mut h = fixture();
    let (_, a) = client(&mut h);
    let (_, b) = client(&mut h);
    let t = Some(Duration::from_secs(1));
    let ids = [
        h.server
            .emit_with_ack(h.now, &a, ev("x", vec![]), t)
            .unwrap(),
        h.server
            .emit_with_ack(h.now, &b, ev("x", vec![]), t)
            .unwrap(),
        h.server
            .emit_with_ack(h.now, &a, ev("x", vec![]), t)
            .unwrap(),
    ];
    assert_eq!(ids, [AckId(0), AckId(1), AckId(2)]);
}

#[test]
fn pending_acks_end_when_the_socket_leaves() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    let id = h
        .server
        .emit_with_ack(h.now, &s, ev("q", vec![]), None)
        .unwrap();
    h.ws_send(ws, "41");
    let events = h.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AckTimeout { id: i, .. } if *i == id))
    );
    assert!(matches!(events.last(), Some(Event::Disconnect { .. })));
}

#[test]
fn outstanding_acks_are_bounded() {
    let mut config = fixture_config();
    config.max_outstanding_acks = 2;
    let mut h = harness(config);
    let (_, s) = client(&mut h);
    for _ in 0..2 {
        h.server
            .emit_with_ack(h.now, &s, ev("q", vec![]), None)
            .unwrap();
    }
    assert_eq!(
        h.server.emit_with_ack(h.now, &s, ev("q", vec![]), None),
        Err(EmitError::TooManyAcks)
    );
}

#[test]
fn binary_event_over_websocket_both_ways() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    h.ws_send(
        ws,
        r#"452-["upload",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]"#,
    );
    assert!(h.take_events().is_empty(), "waits for the attachments");
    h.ws_send_binary(ws, &[1, 2, 3]);
    h.ws_send_binary(ws, &[4]);
    let events = h.take_events();
    let Event::Event { event, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        event.attachments(),
        [Bytes::from_static(&[1, 2, 3]), Bytes::from_static(&[4])]
    );
    // Echo it back: placeholders and attachments go out as they came.
    let (data, attachments) = event.clone().into_parts();
    let back = EventPacket::from_data(data)
        .unwrap()
        .with_attachments(attachments)
        .unwrap();
    h.server.emit(h.now, &s, back).unwrap();
    h.drain();
    assert_eq!(
        h.ws_take(ws),
        vec![
            r#"452-["upload",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]"#
                .to_string(),
            "<010203>".into(),
            "<04>".into()
        ]
    );
}

#[test]
fn binary_event_over_polling_is_one_payload() {
    let mut h = fixture();
    let get = h.get(POLL);
    let sid = sid_of_open(&h.body(get));
    h.post(&with_sid(POLL, &sid), "40");
    let (socket, _) = take_connect(&mut h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let get = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(get), format!(r#"40{{"sid":"{socket}"}}"#));
    h.take_events();
    let mut attachments = Vec::new();
    let p = attach(&mut attachments, Bytes::from_static(&[1, 2, 3]));
    let event = EventPacket::new("bin", vec![p])
        .unwrap()
        .with_attachments(attachments)
        .unwrap();
    h.server.emit(h.now, &socket, event).unwrap();
    let get = h.get(&with_sid(POLL, &sid));
    assert_eq!(
        h.body(get),
        "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID"
    );
    // And from the client, in one POST.
    h.post(
        &with_sid(POLL, &sid),
        "451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1ebBAU=",
    );
    let events = h.take_events();
    let Event::Event { event, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(event.attachments(), [Bytes::from_static(&[4, 5])]);
}

/// Sends `frames` on a connected client and checks that the connection is
/// closed as the official server closes it.
fn closes_the_connection(frames: &[&str], reason: &str) {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    for f in frames {
        h.ws_send(ws, f);
    }
    assert_eq!(h.ws_closed.get(&ws), Some(&1000), "{frames:?}");
    assert_eq!(disconnects(&mut h), vec![(s, reason)], "{frames:?}");
}

#[test]
fn undecodable_packets_close_the_connection() {
    for bad in [
        "42[\"ev\"",                // invalid JSON
        "42{\"not\":\"an array\"}", // EVENT not an array
        "42[]",                     // EVENT without a name
        "42[true]",                 // name neither string nor number
        "49",                       // unknown packet type
        "41{\"x\":1}",              // DISCONNECT with data
        "43\"x\"",                  // ACK not an array
        "40[]",                     // CONNECT not an object
        "45a-[\"x\"]",              // illegal attachments count
    ] {
        closes_the_connection(&[bad], "forced close");
    }
}

#[test]
fn reserved_event_names_close_the_connection() {
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        closes_the_connection(&[&format!(r#"42["{name}"]"#)], "forced close");
    }
}

#[test]
fn attachment_rules_close_the_connection() {
    // A text frame while an attachment is still expected.
    closes_the_connection(
        &[r#"451-["a",{"_placeholder":true,"num":0}]"#, r#"42["b"]"#],
        "forced close",
    );
    // More than max_attachments (10).
    let mut head = String::from("4511-[\"a\"");
    for i in 0..11 {
        head.push_str(&format!(r#",{{"_placeholder":true,"num":{i}}}"#));
    }
    head.push(']');
    closes_the_connection(&[&head], "forced close");
    // A placeholder out of range.
    closes_the_connection(
        &[r#"451-["a",{"_placeholder":true,"num":3}]"#],
        "forced close",
    );
}

#[test]
fn exactly_max_attachments_is_fine() {
    let mut h = fixture();
    let (ws, _) = client(&mut h);
    let mut head = String::from("4510-[\"a\"");
    for i in 0..10 {
        head.push_str(&format!(r#",{{"_placeholder":true,"num":{i}}}"#));
    }
    head.push(']');
    h.ws_send(ws, &head);
    for i in 0..10u8 {
        h.ws_send_binary(ws, &[i]);
    }
    let got = client_events(&mut h);
    assert_eq!(got.len(), 1);
    assert!(!h.ws_closed.contains_key(&ws));
}

#[test]
fn binary_frame_when_none_is_expected_closes_the_connection() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    h.ws_send_binary(ws, &[1]);
    assert_eq!(disconnects(&mut h), vec![(s, "forced close")]);
}

#[test]
fn protocol_violations_are_a_forced_server_close() {
    // A second CONNECT to a joined namespace, a packet for a namespace not
    // joined, a CONNECT_ERROR from a client.
    for frames in [
        &["40"][..],
        &["42/custom,[\"x\"]"][..],
        &[r#"44{"message":"x"}"#][..],
    ] {
        closes_the_connection(frames, "forced server close");
    }
}

#[test]
fn events_to_unknown_sockets_are_errors() {
    let mut h = fixture();
    assert_eq!(
        h.server
            .emit(h.now, &SocketId::new("nobody"), ev("x", vec![])),
        Err(EmitError::UnknownSocket)
    );
    assert!(
        EventPacket::new("disconnect", vec![]).is_err(),
        "reserved names cannot be emitted"
    );
}
