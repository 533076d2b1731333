//! Connection state recovery: a client that drops and comes back within
//! max_disconnection_duration gets the same socket, its rooms and data, and
//! every packet it missed, in order, exactly once, before the CONNECT reply.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::*;
use engineio_proto::RequestId;
use serde_json::{Value, json};
use socketio_proto::{BroadcastOptions, Config, Event, Nsp, RecoveryConfig, SocketId, Target};

fn recovery_config(skip_middlewares: bool) -> Config {
    let mut c = fixture_config();
    // Slow pings so that only what the test does ends a session.
    c.engine.ping_interval = Duration::from_secs(600);
    c.recovery = Some(RecoveryConfig {
        skip_middlewares,
        ..RecoveryConfig::default()
    });
    c
}

/// Connects with recovery on: (ws, socket, pid).
fn connect(h: &mut common::Harness<socketio_proto::Server>) -> (RequestId, SocketId, String) {
    let ws = open_ws(h);
    h.ws_send(ws, "40");
    let (socket, _) = take_connect(h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let reply = h.ws_take(ws).remove(0);
    let v: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
    assert_eq!(v["sid"], json!(socket.as_str()));
    let pid = v["pid"].as_str().unwrap().to_owned();
    assert_eq!(reply, format!(r#"40{{"sid":"{socket}","pid":"{pid}"}}"#));
    h.take_events();
    (ws, socket, pid)
}

fn all() -> BroadcastOptions {
    BroadcastOptions::default()
}

/// The events of frames `42[...]`: (name, offset).
fn received(frames: &[String]) -> Vec<(String, String)> {
    frames
        .iter()
        .filter_map(|f| f.strip_prefix("42"))
        .map(|json| {
            let v: Vec<Value> = serde_json::from_str(json).unwrap();
            (
                v[0].as_str().unwrap().to_owned(),
                v.last().unwrap().as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_dropped_client_gets_every_missed_event_in_order_exactly_once() {
    let mut h = harness(recovery_config(true));
    let (ws, socket, pid) = connect(&mut h);
    h.server.join(&socket, "red");
    h.server.set_data(&socket, json!({"user":"ann"}));
    for name in ["e1", "e2"] {
        h.server
            .broadcast(h.now, &Nsp::from("/"), &all(), ev(name, vec![]))
            .unwrap();
    }
    h.drain();
    let got = received(&h.ws_take(ws));
    assert_eq!(
        got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["e1", "e2"]
    );
    let last_offset = got[1].1.clone();

    // The client drops.
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    assert_eq!(
        disconnects(&mut h),
        vec![(socket.clone(), "transport close")]
    );
    h.take_events();

    // What happens while it is away.
    h.advance(1000);
    h.server
        .broadcast(h.now, &Nsp::from("/"), &all(), ev("e3", vec![]))
        .unwrap();
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                target: Target::room("red"),
                ..all()
            },
            ev("e4", vec![]),
        )
        .unwrap();
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                target: Target::room("blue"),
                ..all()
            },
            ev("not-for-me", vec![]),
        )
        .unwrap();
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                target: Target::all().except("red"),
                ..all()
            },
            ev("excluded", vec![]),
        )
        .unwrap();
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                volatile: true,
                ..all()
            },
            ev("volatile", vec![]),
        )
        .unwrap();
    let direct = socketio_proto::Room::from(&socket);
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                target: Target::room(direct),
                ..all()
            },
            ev("e5", vec![]),
        )
        .unwrap();
    h.drain();

    // It comes back with its pid and last offset.
    let ws2 = open_ws(&mut h);
    h.ws_send(
        ws2,
        &format!(r#"40{{"pid":"{pid}","offset":"{last_offset}"}}"#),
    );
    let frames = h.ws_take(ws2);
    let events = h.take_events();
    assert_eq!(
        frames.last().unwrap(),
        &format!(r#"40{{"sid":"{socket}","pid":"{pid}"}}"#)
    );
    let missed = received(&frames[..frames.len() - 1]);
    assert_eq!(
        missed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["e3", "e4", "e5"]
    );
    let mut offsets: Vec<_> = missed.iter().map(|(_, o)| o.clone()).collect();
    offsets.dedup();
    assert_eq!(offsets.len(), 3, "distinct offsets");
    // Skipping middlewares: no Connect to decide, straight to Connection.
    assert!(
        matches!(&events[..], [Event::Connection { socket: s, recovered: true, .. }] if *s == socket),
        "{events:?}"
    );
    assert!(h.server.is_recovered(&socket));
    assert_eq!(h.server.data(&socket), Some(&json!({"user":"ann"})));
    assert!(h.server.rooms(&socket).contains(&"red".into()));
    // Broadcasts to its rooms reach it again.
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                target: Target::room("red"),
                ..all()
            },
            ev("back", vec![]),
        )
        .unwrap();
    h.drain();
    assert_eq!(received(&h.ws_take(ws2))[0].0, "back");
}

#[test]
fn without_skip_middlewares_the_app_decides_and_missed_packets_still_come_first() {
    let mut h = harness(recovery_config(false));
    let (ws, socket, pid) = connect(&mut h);
    h.server
        .broadcast(h.now, &Nsp::from("/"), &all(), ev("e1", vec![]))
        .unwrap();
    h.drain();
    let offset = received(&h.ws_take(ws))[0].1.clone();
    h.server.handle_ws_closed(h.now, ws, true);
    h.drain();
    h.server
        .broadcast(h.now, &Nsp::from("/"), &all(), ev("e2", vec![]))
        .unwrap();
    let ws2 = open_ws(&mut h);
    h.ws_send(ws2, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    assert!(h.ws_take(ws2).is_empty(), "nothing before the verdict");
    let (again, _) = take_connect(&mut h);
    assert_eq!(again, socket);
    h.server.accept(h.now, &again).unwrap();
    h.drain();
    let frames = h.ws_take(ws2);
    assert_eq!(received(&frames[..1])[0].0, "e2");
    assert_eq!(
        frames[1],
        format!(r#"40{{"sid":"{socket}","pid":"{pid}"}}"#)
    );
}

#[test]
fn no_recovery_after_max_disconnection_duration_or_with_an_unknown_offset() {
    let mut h = harness(recovery_config(true));
    let (ws, socket, pid) = connect(&mut h);
    h.server
        .broadcast(h.now, &Nsp::from("/"), &all(), ev("e1", vec![]))
        .unwrap();
    h.drain();
    let offset = received(&h.ws_take(ws))[0].1.clone();
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    // An unknown offset: a new socket, and the session is kept.
    let ws2 = open_ws(&mut h);
    h.ws_send(ws2, &format!(r#"40{{"pid":"{pid}","offset":"nope"}}"#));
    let (fresh, _) = take_connect(&mut h);
    assert_ne!(fresh, socket);
    // Past two minutes, nothing is left to recover.
    h.advance(120_001);
    let ws3 = open_ws(&mut h);
    h.ws_send(ws3, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let (late, _) = take_connect(&mut h);
    assert_ne!(late, socket);
    assert!(!h.server.is_recovered(&late));
}

#[test]
fn a_client_that_left_on_purpose_is_not_recovered() {
    let mut h = harness(recovery_config(true));
    let (ws, socket, pid) = connect(&mut h);
    h.server
        .broadcast(h.now, &Nsp::from("/"), &all(), ev("e1", vec![]))
        .unwrap();
    h.drain();
    let offset = received(&h.ws_take(ws))[0].1.clone();
    h.ws_send(ws, "41");
    let ws2 = open_ws(&mut h);
    h.ws_send(ws2, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let (fresh, _) = take_connect(&mut h);
    assert_ne!(fresh, socket);
}

#[test]
fn events_with_acks_or_binary_carry_no_offset() {
    let mut h = harness(recovery_config(true));
    let (ws, socket, _) = connect(&mut h);
    h.server
        .emit_with_ack(h.now, &socket, ev("q", vec![]), None)
        .unwrap();
    h.server.emit(h.now, &socket, ev("plain", vec![])).unwrap();
    h.drain();
    let frames = h.ws_take(ws);
    assert_eq!(frames[0], r#"420["q"]"#);
    let plain: Vec<Value> = serde_json::from_str(frames[1].strip_prefix("42").unwrap()).unwrap();
    assert_eq!(plain.len(), 2, "name and offset");
}

#[test]
fn stored_packets_are_bounded() {
    let mut config = recovery_config(true);
    config.recovery.as_mut().unwrap().max_stored_packets = 3;
    let mut h = harness(config);
    let (ws, socket, pid) = connect(&mut h);
    h.server
        .broadcast(h.now, &Nsp::from("/"), &all(), ev("e0", vec![]))
        .unwrap();
    h.drain();
    let offset = received(&h.ws_take(ws))[0].1.clone();
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    for i in 1..=3 {
        h.server
            .broadcast(h.now, &Nsp::from("/"), &all(), ev(&format!("e{i}"), vec![]))
            .unwrap();
    }
    // e0 was forgotten to keep three: its offset is unknown now.
    let ws2 = open_ws(&mut h);
    h.ws_send(ws2, &format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#));
    let (fresh, _) = take_connect(&mut h);
    assert_ne!(fresh, socket);
}
