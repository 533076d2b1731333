//! The sharded codec against what the real sharded adapter publishes
//! (`tests/sharded_vectors.mjs` runs `createShardedAdapter` on socket.io
//! with a stand-in Redis client and captures every SPUBLISH), then decoded
//! back. `npm ci` in `tests/cluster` first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::process::Command;

use adapter_redis::{Sharded, SubscriptionMode};
use bytes::Bytes;
use serde_json::{Value, json};
use socketio_proto::ClusterMessage;
use socketio_proto::cluster::{ClusterEnvelope, WireFlags, WireOptions, WirePacket, WireSocket};

struct Case {
    channel: String,
    bytes: Vec<u8>,
    uid: String,
    request_id: Option<String>,
}

fn cases() -> HashMap<String, Case> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sharded_vectors.mjs");
    let out = Command::new("node")
        .arg(script)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "sharded_vectors.mjs failed (npm ci in tests/cluster?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map: HashMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    map.into_iter()
        .map(|(k, v)| {
            let hex = v["hex"].as_str().unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let case = Case {
                channel: v["channel"].as_str().unwrap().to_owned(),
                bytes,
                uid: v["uid"].as_str().unwrap().to_owned(),
                request_id: v["requestId"].as_str().map(str::to_owned),
            };
            (k, case)
        })
        .collect()
}

fn opts(rooms: &[&str], except: &[&str], flags: WireFlags) -> WireOptions {
    WireOptions {
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        except: except.iter().map(|r| r.to_string()).collect(),
        flags,
    }
}

fn packet(data: Vec<Value>, attachments: Vec<Bytes>) -> WirePacket {
    WirePacket {
        kind: if attachments.is_empty() { 2 } else { 5 },
        data,
        nsp: "/".into(),
        id: None,
        attachments,
    }
}

#[test]
fn every_message_is_what_the_node_sharded_adapter_publishes() {
    let cases = cases();
    let codec = Sharded::default();
    let none = WireFlags::default;
    let id = |name: &str| cases[name].request_id.clone().unwrap();
    let list: Vec<(&str, ClusterMessage, Option<&str>)> = vec![
        (
            "broadcast_all",
            ClusterMessage::Broadcast {
                opts: opts(&[], &[], none()),
                packet: packet(vec![json!("hello"), json!(1), json!("two")], vec![]),
                request_id: None,
            },
            None,
        ),
        (
            "broadcast_room",
            ClusterMessage::Broadcast {
                opts: opts(&["room1"], &[], none()),
                packet: packet(vec![json!("hello"), json!({"a": 1})], vec![]),
                request_id: None,
            },
            None,
        ),
        (
            "broadcast_rooms",
            ClusterMessage::Broadcast {
                opts: opts(
                    &["room1", "room2"],
                    &["room3"],
                    WireFlags {
                        volatile: Some(true),
                        ..none()
                    },
                ),
                packet: packet(vec![json!("hello")], vec![]),
                request_id: None,
            },
            None,
        ),
        (
            "broadcast_binary",
            ClusterMessage::Broadcast {
                opts: opts(&[], &[], none()),
                packet: packet(
                    vec![json!("bin"), json!({"_placeholder": true, "num": 0})],
                    vec![Bytes::from_static(&[1, 2, 3])],
                ),
                request_id: None,
            },
            None,
        ),
        (
            "broadcast_ack",
            ClusterMessage::Broadcast {
                opts: opts(
                    &[],
                    &[],
                    WireFlags {
                        timeout: Some(3000),
                        ..none()
                    },
                ),
                packet: packet(vec![json!("q")], vec![]),
                request_id: Some(id("broadcast_ack")),
            },
            None,
        ),
        (
            "sockets_join",
            ClusterMessage::SocketsJoin {
                opts: opts(&["room1"], &[], none()),
                rooms: vec!["a".into(), "b".into()],
            },
            None,
        ),
        (
            "sockets_leave",
            ClusterMessage::SocketsLeave {
                opts: opts(&[], &["room1"], none()),
                rooms: vec!["a".into()],
            },
            None,
        ),
        (
            "disconnect",
            ClusterMessage::DisconnectSockets {
                opts: opts(&["room1"], &[], none()),
                close: true,
            },
            None,
        ),
        (
            "sse",
            ClusterMessage::ServerSideEmit {
                request_id: None,
                packet: vec![json!("ping"), json!(0), json!("x")],
            },
            None,
        ),
        (
            "sse_ack",
            ClusterMessage::ServerSideEmit {
                request_id: Some(id("sse_ack")),
                packet: vec![json!("ping"), json!(1)],
            },
            None,
        ),
        (
            "fetch",
            ClusterMessage::FetchSockets {
                opts: opts(&["room1"], &[], none()),
                request_id: id("fetch"),
            },
            None,
        ),
        (
            "sse_response",
            ClusterMessage::ServerSideEmitResponse {
                request_id: "r1".into(),
                packet: json!("pong"),
            },
            Some("other"),
        ),
        (
            "fetch_response",
            ClusterMessage::FetchSocketsResponse {
                request_id: "r2".into(),
                sockets: Vec::<WireSocket>::new(),
            },
            Some("other"),
        ),
        (
            "client_count",
            ClusterMessage::BroadcastClientCount {
                request_id: "r3".into(),
                client_count: 0,
            },
            Some("other"),
        ),
    ];
    for (name, message, to) in list {
        let case = &cases[name];
        let envelope = ClusterEnvelope {
            uid: case.uid.clone(),
            nsp: "/".into(),
            to: to.map(str::to_owned),
            message: message.clone(),
        };
        let out = codec.encode(&envelope).unwrap();
        assert_eq!(out.channel, case.channel, "{name}");
        assert_eq!(
            out.payload,
            case.bytes,
            "{name}: {}",
            String::from_utf8_lossy(&out.payload)
        );
        let counted = matches!(name, "broadcast_ack" | "sse_ack" | "fetch");
        assert_eq!(out.count_request.is_some(), counted, "{name}");
        let back = codec.decode(&case.bytes).unwrap();
        assert_eq!(back.uid, case.uid);
        assert_eq!(back.message, message, "{name}");
    }
}

#[test]
fn relayed_acks_rooms_channels_and_bad_input() {
    let cases = cases();
    let codec = Sharded::default();
    // The relayed acknowledgement: the client's first argument only.
    let case = &cases["relayed_ack"];
    let ack = ClusterEnvelope {
        uid: case.uid.clone(),
        nsp: "/".into(),
        to: Some("other".into()),
        message: ClusterMessage::BroadcastAck {
            request_id: "r4".into(),
            packet: json!(["yes", "dropped"]),
        },
    };
    let out = codec.encode(&ack).unwrap();
    assert_eq!(out.channel, case.channel);
    assert_eq!(out.payload, case.bytes);
    assert_eq!(
        codec.decode(&out.payload).unwrap().message,
        ClusterMessage::BroadcastAck {
            request_id: "r4".into(),
            packet: json!(["yes"]),
        }
    );
    // Room channels by mode: a 20-character room looks like a socket id.
    let sid = "abcdefghij0123456789";
    assert_eq!(
        codec.room_channel("/", "room1", false).as_deref(),
        Some("socket.io#/#room1#")
    );
    assert_eq!(codec.room_channel("/", sid, true), None);
    let private = Sharded {
        mode: SubscriptionMode::DynamicPrivate,
        channel_prefix: "p".into(),
    };
    assert_eq!(
        private.room_channel("/x", sid, true).as_deref(),
        Some("p#/x#abcdefghij0123456789#")
    );
    let fixed = Sharded {
        mode: SubscriptionMode::Static,
        ..Sharded::default()
    };
    assert_eq!(fixed.room_channel("/", "room1", false), None);
    let to_socket = ClusterEnvelope {
        uid: "node-a".into(),
        nsp: "/".into(),
        to: None,
        message: ClusterMessage::Broadcast {
            opts: opts(&[sid], &[], WireFlags::default()),
            packet: packet(vec![json!("e")], vec![]),
            request_id: None,
        },
    };
    assert_eq!(codec.encode(&to_socket).unwrap().channel, "socket.io#/#");
    assert_eq!(
        private.encode(&to_socket).unwrap().channel,
        "p#/#abcdefghij0123456789#"
    );
    assert_eq!(fixed.encode(&to_socket).unwrap().channel, "socket.io#/#");
    // Heartbeats have no form here; a heartbeat from a heartbeat-adapter
    // node still decodes.
    let hb = ClusterEnvelope {
        message: ClusterMessage::Heartbeat,
        ..ack.clone()
    };
    assert_eq!(codec.encode(&hb), None);
    assert_eq!(
        codec
            .decode(br#"{"type":2,"uid":"x","nsp":"/"}"#)
            .unwrap()
            .message,
        ClusterMessage::Heartbeat
    );
    // Bad input: errors, never panics.
    for bad in [
        &b""[..],
        b"{",
        b"\xc1",
        br#"{"type":3,"uid":"x","nsp":"/","data":{}}"#,
        br#"{"type":99,"uid":"x","nsp":"/"}"#,
        br#"{"type":8,"uid":"x","nsp":"/","data":{"requestId":"r","sockets":[1]}}"#,
        br#"{"uid":"x","nsp":"/"}"#,
    ] {
        assert!(codec.decode(bad).is_err(), "{bad:?}");
    }
    let binary = &cases["broadcast_binary"].bytes;
    for cut in 0..binary.len() {
        assert!(codec.decode(&binary[..cut]).is_err(), "cut {cut}");
    }
}
