//! Connection state recovery kept by the cluster transport
//! (`ClusterConfig::stream_recovery`, the Redis streams adapter): a
//! broadcast is delivered when the transport hands it back with its offset;
//! sessions go out on disconnect and come back on reconnect, with the
//! packets the transport found missed, binary ones included.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use engineio_proto::RequestId;
use serde_json::{Value, json};
use socketio_proto::cluster::{WireOptions, WirePacket};
use socketio_proto::{
    BroadcastOptions, ClusterConfig, ClusterEnvelope, ClusterMessage, Config, Event, Membership,
    Nsp, RecoveryConfig, RestoredSession, SessionRecord, SocketId,
};

fn config() -> Config {
    let mut c = fixture_config();
    c.engine.ping_interval = Duration::from_secs(600);
    c.recovery = Some(RecoveryConfig::default());
    let mut cluster = ClusterConfig::new("me");
    cluster.membership = Membership::Counted;
    cluster.stream_recovery = true;
    c.cluster = Some(cluster);
    c
}

fn connect(h: &mut Harness<socketio_proto::Server>) -> (RequestId, SocketId, String) {
    let ws = open_ws(h);
    h.ws_send(ws, "40");
    let (socket, _) = take_connect(h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let reply = h.ws_take(ws).remove(0);
    let v: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
    let pid = v["pid"].as_str().unwrap().to_owned();
    h.take_events();
    (ws, socket, pid)
}

fn broadcast_envelope(
    uid: &str,
    rooms: &[&str],
    data: Vec<Value>,
    bins: Vec<Bytes>,
) -> ClusterEnvelope {
    ClusterEnvelope {
        uid: uid.into(),
        nsp: "/".into(),
        to: None,
        message: ClusterMessage::Broadcast {
            opts: WireOptions {
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
                ..WireOptions::default()
            },
            packet: WirePacket {
                kind: 2,
                data,
                nsp: "/".into(),
                id: None,
                attachments: bins,
            },
            request_id: None,
        },
    }
}

#[test]
fn own_broadcasts_wait_for_the_transport_and_carry_its_offsets() {
    let mut h = harness(config());
    let (ws, _socket, _pid) = connect(&mut h);
    while h.server.poll_cluster().is_some() {}
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions::default(),
            ev("hello", vec![json!(1)]),
        )
        .unwrap();
    h.drain();
    assert!(
        h.ws_take(ws).is_empty(),
        "not delivered before it is stored"
    );
    let published = h.server.poll_cluster().unwrap();
    assert!(matches!(
        published.message,
        ClusterMessage::Broadcast {
            request_id: None,
            ..
        }
    ));
    // The transport stored it as 1700000000000-0 and hands it back.
    h.server
        .handle_cluster_broadcast(h.now, published, Some("1700000000000-0"));
    h.drain();
    assert_eq!(h.ws_take(ws), [r#"42["hello",1,"1700000000000-0"]"#]);
    // Another node's, binary: the offset follows the placeholder.
    let other = broadcast_envelope(
        "other",
        &[],
        vec![json!("bin"), json!({"_placeholder": true, "num": 0})],
        vec![Bytes::from_static(&[1, 2, 3])],
    );
    h.server
        .handle_cluster_broadcast(h.now, other, Some("1700000000001-0"));
    h.drain();
    assert_eq!(
        h.ws_take(ws),
        [
            r#"451-["bin",{"_placeholder":true,"num":0},"1700000000001-0"]"#,
            "<010203>"
        ]
    );
    // Storing failed: delivered without an offset (as Node).
    let again = broadcast_envelope("me", &[], vec![json!("plain")], vec![]);
    h.server.handle_cluster_broadcast(h.now, again, None);
    h.drain();
    assert_eq!(h.ws_take(ws), [r#"42["plain"]"#]);
    // A broadcast with acks is not deferred (it is never stored).
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                timeout: Some(Duration::from_secs(1)),
                ..BroadcastOptions::default()
            },
            ev("ack", vec![]),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), [r#"420["ack"]"#]);
}

#[test]
fn a_session_goes_to_the_transport_and_comes_back_with_what_it_missed() {
    let mut h = harness(config());
    let (ws, socket, pid) = connect(&mut h);
    h.server.join(&socket, "red");
    h.server.set_data(&socket, json!({"user": "ann"}));
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    h.take_events();
    let session = h.server.poll_session().unwrap();
    let mut rooms = session.rooms.clone();
    rooms.sort();
    let mut expected = vec![socket.to_string(), "red".to_owned()];
    expected.sort();
    assert_eq!(
        session,
        SessionRecord {
            nsp: "/".into(),
            pid: pid.clone(),
            id: socket.to_string(),
            rooms: session.rooms.clone(),
            data: json!({"user": "ann"}),
        }
    );
    assert_eq!(rooms, expected);
    assert!(h.server.poll_session().is_none());

    // It comes back: the CONNECT waits for the transport's lookup.
    let ws2 = open_ws(&mut h);
    h.ws_send(ws2, &format!(r#"40{{"pid":"{pid}","offset":"5-0"}}"#));
    assert!(h.ws_take(ws2).is_empty());
    assert!(h.take_events().is_empty());
    let request = h.server.poll_restore().unwrap();
    assert_eq!(
        (
            request.nsp.as_str(),
            request.pid.as_str(),
            request.offset.as_str()
        ),
        ("/", pid.as_str(), "5-0")
    );
    let missed = vec![
        WirePacket {
            kind: 2,
            data: vec![json!("m1"), json!("6-0")],
            nsp: "/".into(),
            id: None,
            attachments: vec![],
        },
        WirePacket {
            kind: 2,
            data: vec![
                json!("m2"),
                json!({"_placeholder": true, "num": 0}),
                json!("7-0"),
            ],
            nsp: "/".into(),
            id: None,
            attachments: vec![Bytes::from_static(&[9])],
        },
    ];
    h.server.handle_restore(
        h.now,
        request.key,
        Some(RestoredSession {
            id: socket.to_string(),
            rooms: session.rooms.clone(),
            data: session.data.clone(),
            missed,
        }),
    );
    h.drain();
    assert_eq!(
        h.ws_take(ws2),
        [
            r#"42["m1","6-0"]"#.to_owned(),
            r#"451-["m2",{"_placeholder":true,"num":0},"7-0"]"#.to_owned(),
            "<09>".to_owned(),
            format!(r#"40{{"sid":"{socket}","pid":"{pid}"}}"#),
        ]
    );
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::Connection { socket: s, recovered: true, .. }] if *s == socket),
        "{events:?}"
    );
    assert_eq!(h.server.data(&socket), Some(&json!({"user": "ann"})));
    assert!(h.server.rooms(&socket).contains(&"red".into()));
    // A later broadcast to its room reaches it.
    let red = broadcast_envelope("other", &["red"], vec![json!("back")], vec![]);
    h.server.handle_cluster_broadcast(h.now, red, Some("8-0"));
    h.drain();
    assert_eq!(h.ws_take(ws2), [r#"42["back","8-0"]"#]);
    // An answer for a key no one waits for is ignored.
    h.server.handle_restore(h.now, request.key, None);
}

#[test]
fn an_unknown_session_is_a_new_socket_and_a_client_gone_meanwhile_is_forgotten() {
    let mut h = harness(config());
    let ws = open_ws(&mut h);
    h.ws_send(ws, r#"40{"pid":"nope","offset":"1-0"}"#);
    let request = h.server.poll_restore().unwrap();
    h.server.handle_restore(h.now, request.key, None);
    h.drain();
    let (socket, _) = take_connect(&mut h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let reply = h.ws_take(ws).remove(0);
    assert!(
        reply.starts_with(&format!(r#"40{{"sid":"{socket}","pid":""#)),
        "{reply}"
    );
    assert!(!h.server.is_recovered(&socket));

    // The client leaves while its lookup is under way.
    let ws2 = open_ws(&mut h);
    h.ws_send(ws2, r#"40{"pid":"p","offset":"1-0"}"#);
    let request = h.server.poll_restore().unwrap();
    h.server.handle_ws_closed(h.now, ws2, false);
    h.drain();
    h.take_events();
    h.server.handle_restore(
        h.now,
        request.key,
        Some(RestoredSession {
            id: "ghost".into(),
            rooms: vec![],
            data: Value::Null,
            missed: vec![],
        }),
    );
    h.drain();
    assert!(
        h.server
            .socket(&socketio_proto::SocketId::new("ghost"))
            .is_none()
    );
    assert!(h.take_events().is_empty());
}
