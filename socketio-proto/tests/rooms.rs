//! Rooms and broadcast: several rooms, except, volatile, acks, and one
//! encoding shared by every recipient.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::*;
use engineio_proto::Frame;
use serde_json::json;
use socketio_proto::{BroadcastOptions, EmitError, Event, Nsp, Room, Target};

fn opts(target: Target) -> BroadcastOptions {
    BroadcastOptions {
        target,
        ..BroadcastOptions::default()
    }
}

#[test]
fn rooms_several_and_except() {
    let mut h = fixture();
    let (wa, a) = client(&mut h);
    let (wb, b) = client(&mut h);
    let (wc, c) = client(&mut h);
    let (wd, _d) = client(&mut h);
    h.server.join(&a, "red");
    h.server.join(&b, "red");
    h.server.join(&b, "blue");
    h.server.join(&c, "blue");
    let sent = h
        .server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::room("red").to("blue").except(a.to_string())),
            ev("hi", vec![json!(1)]),
        )
        .unwrap();
    h.drain();
    assert_eq!(sent.recipients, 2);
    assert!(h.ws_take(wa).is_empty());
    assert_eq!(
        h.ws_take(wb),
        vec![r#"42["hi",1]"#],
        "in both rooms, gets it once"
    );
    assert_eq!(h.ws_take(wc), vec![r#"42["hi",1]"#]);
    assert!(h.ws_take(wd).is_empty());
    // To everyone but a room.
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::all().except("blue")),
            ev("x", vec![]),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(wa).len(), 1);
    assert!(h.ws_take(wb).is_empty());
    assert!(h.ws_take(wc).is_empty());
    assert_eq!(h.ws_take(wd).len(), 1);
    // After leaving, no more.
    h.server.leave(&b, &Room::from("red"));
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::room("red")),
            ev("y", vec![]),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(wa).len(), 1);
    assert!(h.ws_take(wb).is_empty());
}

#[test]
fn namespaces_are_separate() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    let _main = join(&mut h, ws, "/", "");
    let custom = join(&mut h, ws, "/custom", "");
    h.server.join(&custom, "r");
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/custom"),
            &opts(Target::all()),
            ev("c", vec![]),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec![r#"42/custom,["c"]"#]);
    assert_eq!(
        h.server.broadcast(
            h.now,
            &Nsp::from("/none"),
            &opts(Target::all()),
            ev("c", vec![])
        ),
        Err(EmitError::UnknownNamespace)
    );
}

#[test]
fn a_broadcast_is_encoded_once_and_shared() {
    let mut h = fixture();
    let (wa, _) = client(&mut h);
    let (wb, _) = client(&mut h);
    h.auto_flush = false;
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::all()),
            ev("shared", vec![json!("x")]),
        )
        .unwrap();
    h.drain();
    let fa = h.ws_frames.remove(&wa).unwrap();
    let fb = h.ws_frames.remove(&wb).unwrap();
    match (&fa[..], &fb[..]) {
        ([Frame::Text(x)], [Frame::Text(y)]) => {
            assert_eq!(x, r#"42["shared","x"]"#);
            assert_eq!(x.as_bytes().as_ptr(), y.as_bytes().as_ptr());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn volatile_is_dropped_where_the_transport_is_busy() {
    let mut h = fixture();
    let (wa, _) = client(&mut h);
    let (wb, b) = client(&mut h);
    h.auto_flush = false;
    // b has a write in flight; a has none.
    h.server.emit(h.now, &b, ev("busy", vec![])).unwrap();
    h.drain();
    h.ws_take(wb);
    let volatile = BroadcastOptions {
        volatile: true,
        ..opts(Target::all())
    };
    let sent = h
        .server
        .broadcast(h.now, &Nsp::from("/"), &volatile, ev("v", vec![]))
        .unwrap();
    h.drain();
    assert_eq!(sent.recipients, 1);
    assert_eq!(h.ws_take(wa), vec![r#"42["v"]"#]);
    h.server.handle_ws_flushed(h.now, wb);
    h.drain();
    assert!(h.ws_take(wb).is_empty(), "dropped, not queued");
    // A non-volatile one waits for b instead.
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::all()),
            ev("kept", vec![]),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(wb), vec![r#"42["kept"]"#]);
}

#[test]
fn broadcast_acks_with_one_socket_timing_out() {
    let mut h = fixture();
    let (wa, a) = client(&mut h);
    let (wb, b) = client(&mut h);
    let (wc, _c) = client(&mut h);
    let with_ack = BroadcastOptions {
        timeout: Some(Duration::from_millis(250)),
        ..opts(Target::all())
    };
    let sent = h
        .server
        .broadcast(h.now, &Nsp::from("/"), &with_ack, ev("vote", vec![]))
        .unwrap();
    h.drain();
    assert_eq!(sent.recipients, 3);
    let id = sent.ack.unwrap();
    for ws in [wa, wb, wc] {
        assert_eq!(h.ws_take(ws), vec![r#"420["vote"]"#]);
    }
    h.ws_send(wa, r#"430["yes"]"#);
    h.ws_send(wb, r#"430["no"]"#);
    let events = h.take_events();
    let answers: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::BroadcastAck {
                broadcast,
                socket,
                data,
                ..
            } if *broadcast == id => Some((socket.clone(), data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![(Some(a), vec![json!("yes")]), (Some(b), vec![json!("no")])]
    );
    h.advance(249);
    assert!(h.take_events().is_empty());
    h.advance(1);
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::BroadcastAckDone { broadcast, expected: 3, received: 2 }] if *broadcast == id)
    );
    // c's late answer is ignored.
    h.ws_send(wc, r#"430["late"]"#);
    assert!(h.take_events().is_empty());
}

#[test]
fn broadcast_acks_finish_early_when_everyone_answers_and_at_once_when_nobody_is_there() {
    let mut h = fixture();
    let (wa, _) = client(&mut h);
    let with_ack = BroadcastOptions {
        timeout: Some(Duration::from_secs(10)),
        ..opts(Target::all())
    };
    let sent = h
        .server
        .broadcast(h.now, &Nsp::from("/"), &with_ack, ev("q", vec![]))
        .unwrap();
    h.ws_take(wa);
    h.ws_send(wa, r#"430[1]"#);
    let events = h.take_events();
    assert!(matches!(
        events.last(),
        Some(Event::BroadcastAckDone {
            expected: 1,
            received: 1,
            ..
        })
    ));
    let empty = BroadcastOptions {
        timeout: Some(Duration::from_secs(10)),
        ..opts(Target::room("nobody"))
    };
    let sent2 = h
        .server
        .broadcast(h.now, &Nsp::from("/"), &empty, ev("q", vec![]))
        .unwrap();
    assert_eq!(sent2.recipients, 0);
    h.drain();
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::BroadcastAckDone { broadcast, expected: 0, received: 0 }] if Some(*broadcast) == sent2.ack)
    );
    assert_ne!(sent.ack, sent2.ack);
}

#[test]
fn a_slow_reader_is_closed_at_its_queue_limit_not_silently_skipped() {
    let mut config = fixture_config();
    config.engine.max_buffered_packets = 5;
    let mut h = harness(config);
    let (wa, a) = client(&mut h);
    let (wb, b) = client(&mut h);
    h.auto_flush = false;
    // The first goes out to both; b never confirms it, so the next five
    // queue up for b, and the seventh crosses its limit of five.
    for i in 0..7 {
        h.server
            .broadcast(
                h.now,
                &Nsp::from("/"),
                &opts(Target::all()),
                ev("n", vec![json!(i)]),
            )
            .unwrap();
        h.drain();
        h.ws_take(wa);
        h.server.handle_ws_flushed(h.now, wa);
    }
    h.drain();
    assert!(h.server.is_connected(&a));
    assert!(!h.server.is_connected(&b));
    assert_eq!(disconnects(&mut h), vec![(b, "send buffer full")]);
    assert_eq!(h.ws_closed.get(&wb), Some(&1000));
}

/// Rooms created and deleted (`create-room` / `delete-room`), for a cluster
/// transport that subscribes to room channels: off until asked for, then
/// the rooms that exist already, every first join and every last leave
/// (a leave, a disconnection), once each.
#[test]
fn room_changes_once_tracked() {
    use socketio_proto::RoomChange;
    let change = |room: &str, created: bool| RoomChange {
        nsp: "/".into(),
        room: room.to_owned().into(),
        created,
    };
    let mut h = fixture();
    let (_wa, a) = client(&mut h);
    h.server.join(&a, "red");
    // Not tracked yet: nothing piles up.
    assert_eq!(h.server.poll_room_change(), None);
    h.server.track_rooms();
    let mut existing: Vec<_> = std::iter::from_fn(|| h.server.poll_room_change()).collect();
    existing.sort_by(|x, y| x.room.cmp(&y.room));
    let mut expected = vec![change(a.as_str(), true), change("red", true)];
    expected.sort_by(|x, y| x.room.cmp(&y.room));
    assert_eq!(existing, expected);
    // Tracking twice reports nothing again.
    h.server.track_rooms();
    assert_eq!(h.server.poll_room_change(), None);

    let (_wb, b) = client(&mut h);
    assert_eq!(h.server.poll_room_change(), Some(change(b.as_str(), true)));
    h.server.join(&b, "red");
    h.server.join(&b, "blue");
    // "red" existed already: only "blue" is new.
    assert_eq!(h.server.poll_room_change(), Some(change("blue", true)));
    assert_eq!(h.server.poll_room_change(), None);
    h.server.leave(&a, &Room::from("red"));
    assert_eq!(h.server.poll_room_change(), None, "b is still in red");
    h.server.leave(&b, &Room::from("red"));
    assert_eq!(h.server.poll_room_change(), Some(change("red", false)));
    h.server.leave(&b, &Room::from("nowhere"));
    assert_eq!(h.server.poll_room_change(), None);
    // A disconnection deletes the rooms it empties.
    h.server.disconnect(h.now, &b, true);
    h.drain();
    let mut gone: Vec<_> = std::iter::from_fn(|| h.server.poll_room_change()).collect();
    gone.sort_by(|x, y| x.room.cmp(&y.room));
    let mut expected = vec![change(b.as_str(), false), change("blue", false)];
    expected.sort_by(|x, y| x.room.cmp(&y.room));
    assert_eq!(gone, expected);
}

/// Room changes of connected sockets, as `set_room_events` reports them:
/// (joined, socket, nsp, room).
fn room_events(
    h: &mut common::Harness<socketio_proto::Server>,
) -> Vec<(bool, String, String, String)> {
    let mut out = Vec::new();
    h.events.retain(|e| match e {
        Event::RoomJoined { socket, nsp, room } | Event::RoomLeft { socket, nsp, room } => {
            let joined = matches!(e, Event::RoomJoined { .. });
            out.push((
                joined,
                socket.to_string(),
                nsp.to_string(),
                room.to_string(),
            ));
            false
        }
        _ => true,
    });
    out
}

#[test]
fn room_events_report_real_changes_only_when_asked() {
    let mut h = fixture();
    let (_wa, a) = client(&mut h);
    let (_wb, b) = client(&mut h);
    // Off by default.
    h.server.join(&a, "quiet");
    h.drain();
    assert_eq!(room_events(&mut h), vec![]);
    h.server.set_room_events(true);
    h.server.join(&a, "red");
    h.server.join(&a, "red"); // already in: nothing
    h.server.leave(&b, &Room::from("red")); // not in: nothing
    h.server.sockets_join(
        &Nsp::from("/"),
        &Target::room(b.to_string()),
        &["blue".into()],
    );
    h.server
        .sockets_leave(&Nsp::from("/"), &Target::all(), &["red".into()]);
    h.server.leave(&a, &Room::from("quiet"));
    h.drain();
    let (a, b) = (a.to_string(), b.to_string());
    let t = |j, s: &str, r: &str| (j, s.to_owned(), "/".to_owned(), r.to_owned());
    assert_eq!(
        room_events(&mut h),
        vec![
            t(true, &a, "red"),
            t(true, &b, "blue"),
            t(false, &a, "red"),
            t(false, &a, "quiet"),
        ]
    );
}

/// The `Outgoing` events: (namespace, sorted recipients, packet data, ack id).
fn outgoing(
    h: &mut common::Harness<socketio_proto::Server>,
) -> Vec<(String, Vec<String>, String, Option<u64>)> {
    h.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Outgoing {
                nsp,
                sockets,
                event,
            } => {
                let mut ids: Vec<String> = sockets.iter().map(|s| s.to_string()).collect();
                ids.sort();
                Some((
                    nsp.to_string(),
                    ids,
                    serde_json::to_string(event.data()).unwrap(),
                    event.id,
                ))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn outgoing_events_name_each_broadcast_recipient_only_when_asked() {
    let mut h = fixture();
    let (wa, a) = client(&mut h);
    let (wb, b) = client(&mut h);
    let (wc, _c) = client(&mut h);
    h.server.join(&a, "red");
    h.server.join(&b, "red");
    // Off by default: the broadcast goes out, nothing is reported.
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::room("red")),
            ev("hi", vec![json!(1)]),
        )
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(wa), vec![r#"42["hi",1]"#]);
    assert_eq!(h.ws_take(wb), vec![r#"42["hi",1]"#]);
    assert_eq!(outgoing(&mut h), vec![]);
    h.server.set_outgoing_events(true);
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::room("red")),
            ev("hi", vec![json!(2)]),
        )
        .unwrap();
    h.drain();
    // The same bytes on the wire; one event naming both recipients.
    assert_eq!(h.ws_take(wa), vec![r#"42["hi",2]"#]);
    assert_eq!(h.ws_take(wb), vec![r#"42["hi",2]"#]);
    assert_eq!(h.ws_take(wc), Vec::<String>::new());
    let mut ab = vec![a.to_string(), b.to_string()];
    ab.sort();
    assert_eq!(
        outgoing(&mut h),
        vec![("/".to_owned(), ab.clone(), r#"["hi",2]"#.to_owned(), None)]
    );
    // With acks: the packet as sent, its ack id included.
    let options = BroadcastOptions {
        timeout: Some(Duration::from_secs(5)),
        ..opts(Target::room("red"))
    };
    h.server
        .broadcast(h.now, &Nsp::from("/"), &options, ev("q", vec![]))
        .unwrap();
    h.drain();
    assert_eq!(h.ws_take(wa), vec![r#"420["q"]"#]);
    let reported = outgoing(&mut h);
    assert_eq!(
        reported,
        vec![("/".to_owned(), ab, r#"["q"]"#.to_owned(), Some(0))]
    );
    // No recipient: no event. An emit to one socket: its caller reports it.
    h.server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &opts(Target::room("nobody")),
            ev("x", vec![]),
        )
        .unwrap();
    h.server.emit(h.now, &a, ev("direct", vec![])).unwrap();
    h.drain();
    assert_eq!(h.ws_take(wa), vec![r#"42["direct"]"#]);
    assert_eq!(outgoing(&mut h), vec![]);
}

#[test]
fn session_events_come_at_the_handshake_only_when_asked() {
    let mut h = fixture();
    let sessions = |h: &mut common::Harness<socketio_proto::Server>| {
        h.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::SessionOpen { sid, handshake } => {
                    Some((sid.as_str().to_owned(), handshake.url.clone()))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let _ = open_ws(&mut h);
    h.drain();
    assert_eq!(sessions(&mut h), vec![]);
    h.server.set_session_events(true);
    let ws = h.ws_open("/socket.io/?EIO=4&transport=websocket");
    let open = h.ws_take(ws).remove(0);
    let sid = open[open.find("\"sid\":\"").unwrap() + 7..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    h.drain();
    assert_eq!(
        sessions(&mut h),
        vec![(sid, "/socket.io/?EIO=4&transport=websocket".to_owned())]
    );
    // Before the namespace's Connect, which needs the client's CONNECT.
    h.ws_send(ws, "40");
    let (_socket, _) = take_connect(&mut h);
}
