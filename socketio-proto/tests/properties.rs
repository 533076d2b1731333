//! Random interleavings of joins, leaves, broadcasts and disconnects,
//! checked against a model: a broadcast reaches exactly the sockets its
//! target selects, each once, and nothing panics.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;

use common::*;
use engineio_proto::RequestId;
use proptest::prelude::*;
use serde_json::json;
use socketio_proto::{BroadcastOptions, Nsp, Room, SocketId, Target};

const ROOMS: [&str; 3] = ["r0", "r1", "r2"];
const SLOTS: usize = 5;

#[derive(Debug, Clone)]
enum Action {
    Join(usize, usize),
    Leave(usize, usize),
    Broadcast(Vec<usize>, Vec<usize>),
    ServerDisconnect(usize),
    ClientLeaves(usize),
    TransportDrops(usize),
    Reconnect(usize),
}

fn action() -> impl Strategy<Value = Action> {
    let slot = 0..SLOTS;
    let room = 0..ROOMS.len();
    let rooms = prop::collection::vec(0..ROOMS.len(), 0..3);
    prop_oneof![
        4 => (slot.clone(), room.clone()).prop_map(|(s, r)| Action::Join(s, r)),
        2 => (slot.clone(), room).prop_map(|(s, r)| Action::Leave(s, r)),
        5 => (rooms.clone(), rooms).prop_map(|(r, e)| Action::Broadcast(r, e)),
        1 => slot.clone().prop_map(Action::ServerDisconnect),
        1 => slot.clone().prop_map(Action::ClientLeaves),
        1 => slot.clone().prop_map(Action::TransportDrops),
        2 => slot.prop_map(Action::Reconnect),
    ]
}

struct Slot {
    ws: RequestId,
    socket: Option<SocketId>,
    rooms: HashSet<usize>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn broadcasts_reach_exactly_their_targets_once(actions in prop::collection::vec(action(), 1..80)) {
        let mut h = fixture();
        let mut slots: Vec<Slot> = (0..SLOTS)
            .map(|_| {
                let (ws, s) = client(&mut h);
                Slot { ws, socket: Some(s), rooms: HashSet::new() }
            })
            .collect();
        let mut tag = 0u64;
        for a in actions {
            match a {
                Action::Join(i, r) => {
                    if let Some(s) = &slots[i].socket {
                        h.server.join(s, ROOMS[r]);
                        slots[i].rooms.insert(r);
                    }
                }
                Action::Leave(i, r) => {
                    if let Some(s) = &slots[i].socket {
                        h.server.leave(s, &Room::from(ROOMS[r]));
                        slots[i].rooms.remove(&r);
                    }
                }
                Action::Broadcast(rooms, except) => {
                    tag += 1;
                    let target = Target {
                        rooms: rooms.iter().map(|r| ROOMS[*r].into()).collect(),
                        except: except.iter().map(|r| ROOMS[*r].into()).collect(),
                        local: false,
                    };
                    let options = BroadcastOptions { target, ..BroadcastOptions::default() };
                    let sent = h.server.broadcast(h.now, &Nsp::from("/"), &options, ev("b", vec![json!(tag)])).unwrap();
                    h.drain();
                    let expected: Vec<bool> = slots
                        .iter()
                        .map(|s| {
                            s.socket.is_some()
                                && (rooms.is_empty() || rooms.iter().any(|r| s.rooms.contains(r)))
                                && !except.iter().any(|r| s.rooms.contains(r))
                        })
                        .collect();
                    prop_assert_eq!(sent.recipients, expected.iter().filter(|e| **e).count());
                    let frame = format!(r#"42["b",{tag}]"#);
                    for (slot, want) in slots.iter().zip(expected) {
                        let frames = h.ws_take(slot.ws);
                        let got = frames.iter().filter(|f| **f == frame).count();
                        prop_assert_eq!(got, usize::from(want), "slot rooms {:?}", slot.rooms);
                        prop_assert_eq!(frames.len(), got, "nothing else arrived: {:?}", frames);
                    }
                }
                Action::ServerDisconnect(i) => {
                    if let Some(s) = slots[i].socket.take() {
                        h.server.disconnect(h.now, &s, false);
                        h.drain();
                        prop_assert_eq!(h.ws_take(slots[i].ws), vec!["41".to_string()]);
                        slots[i].rooms.clear();
                    }
                }
                Action::ClientLeaves(i) => {
                    if slots[i].socket.take().is_some() {
                        h.ws_send(slots[i].ws, "41");
                        slots[i].rooms.clear();
                    }
                }
                Action::TransportDrops(i) => {
                    if slots[i].socket.take().is_some() {
                        h.server.handle_ws_closed(h.now, slots[i].ws, true);
                        h.drain();
                        slots[i].rooms.clear();
                        // A new connection, not yet in the namespace.
                        slots[i].ws = open_ws(&mut h);
                    }
                }
                Action::Reconnect(i) => {
                    if slots[i].socket.is_none() {
                        let s = join(&mut h, slots[i].ws, "/", "");
                        slots[i].socket = Some(s);
                    }
                }
            }
            h.take_events();
            // The core's rooms match the model's.
            for slot in &slots {
                if let Some(s) = &slot.socket {
                    let mut rooms: Vec<String> = h.server.rooms(s).iter().map(|r| r.to_string()).collect();
                    rooms.sort();
                    let mut want: Vec<String> = slot.rooms.iter().map(|r| ROOMS[*r].to_string()).collect();
                    want.push(s.to_string());
                    want.sort();
                    prop_assert_eq!(rooms, want);
                }
            }
        }
    }
}
