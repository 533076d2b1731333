//! The classic codec against reference bytes that `notepack.io` and
//! `JSON.stringify` produce at test time (`tests/vectors.mjs`, run with
//! node; `npm ci` in `tests/cluster` first), then decoded back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;

use adapter_redis::{ChannelKind, Classic, Pack};
use bytes::Bytes;
use serde_json::{Value, json};
use socketio_proto::ClusterMessage;
use socketio_proto::cluster::{ClusterEnvelope, WireFlags, WireOptions, WirePacket, WireSocket};

fn vectors() -> &'static HashMap<String, Vec<u8>> {
    static V: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    V.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors.mjs");
        let out = Command::new("node")
            .arg(script)
            .output()
            .expect("node runs (the reference vectors come from notepack.io)");
        assert!(
            out.status.success(),
            "vectors.mjs failed (npm ci in tests/cluster?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let map: HashMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
        map.into_iter().map(|(k, v)| (k, decode_hex(&v))).collect()
    })
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn v(name: &str) -> &'static [u8] {
    vectors()
        .get(name)
        .unwrap_or_else(|| panic!("vector {name}"))
}

fn ints(list: &[i64]) -> Pack {
    Pack::Array(
        list.iter()
            .map(|&i| {
                if i >= 0 {
                    Pack::UInt(i as u64)
                } else {
                    Pack::Int(i)
                }
            })
            .collect(),
    )
}

fn s(text: &str) -> Pack {
    Pack::Str(text.to_owned())
}

#[test]
fn msgpack_forms_match_notepack_byte_for_byte() {
    let ints_list = [
        0,
        127,
        128,
        255,
        256,
        65535,
        65536,
        4294967295,
        4294967296,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -2147483648,
        -2147483649,
    ];
    let cases: Vec<(&str, Pack)> = vec![
        ("ints", ints(&ints_list)),
        (
            "floats",
            Pack::Array(vec![
                Pack::Float(1.5),
                Pack::Float(-0.25),
                Pack::Float(3.0),
                Pack::Float(-1e15),
            ]),
        ),
        (
            "scalars",
            Pack::Array(vec![
                Pack::Bool(true),
                Pack::Bool(false),
                Pack::Nil,
                s(""),
                s(&"a".repeat(31)),
                s(&"a".repeat(32)),
                s(&"a".repeat(255)),
                s(&"a".repeat(256)),
                s("é"),
            ]),
        ),
        ("long_str", s(&"b".repeat(70000))),
        (
            "bins",
            Pack::Array(vec![
                Pack::Bin(Bytes::new()),
                Pack::Bin(Bytes::from_static(&[1, 2, 3])),
                Pack::Bin(Bytes::from(vec![7u8; 300])),
            ]),
        ),
        ("big_bin", Pack::Bin(Bytes::from(vec![9u8; 70000]))),
        (
            "arrays",
            Pack::Array(vec![
                ints(&(0..15).collect::<Vec<_>>()),
                ints(&(0..16).collect::<Vec<_>>()),
            ]),
        ),
        (
            "maps",
            Pack::Array(
                [15u64, 16]
                    .iter()
                    .map(|&n| Pack::Map((0..n).map(|i| (format!("k{i}"), Pack::UInt(i))).collect()))
                    .collect(),
            ),
        ),
    ];
    for (name, pack) in cases {
        assert_eq!(pack.encode(), v(name), "{name}");
        // And notepack's bytes read back to the same value (floats with no
        // fraction read as the integers notepack wrote).
        let back = Pack::decode(v(name)).unwrap();
        if name != "floats" {
            assert_eq!(back, pack, "{name}");
        }
    }
    // A key whose value is undefined is left out by notepack; null stays.
    assert_eq!(
        Pack::decode(v("undefined_key")).unwrap(),
        Pack::Map(vec![("a".into(), Pack::UInt(1)), ("c".into(), Pack::Nil)])
    );
}

fn env(message: ClusterMessage, to: Option<&str>) -> ClusterEnvelope {
    ClusterEnvelope {
        uid: "node-a".into(),
        nsp: "/".into(),
        to: to.map(str::to_owned),
        message,
    }
}

fn opts(rooms: &[&str], except: &[&str], flags: WireFlags) -> WireOptions {
    WireOptions {
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        except: except.iter().map(|r| r.to_string()).collect(),
        flags,
    }
}

#[test]
fn broadcasts_are_notepack_arrays_on_the_room_channel() {
    let codec = Classic::default();
    let packet = WirePacket {
        kind: 5,
        data: vec![
            json!("ev"),
            json!(1),
            json!({"a": {"_placeholder": true, "num": 0}}),
            json!("x"),
        ],
        nsp: "/".into(),
        id: None,
        attachments: vec![Bytes::from_static(&[1, 2])],
    };
    let flags = WireFlags {
        volatile: Some(true),
        ..WireFlags::default()
    };
    let message = ClusterMessage::Broadcast {
        opts: opts(&["r1"], &["x"], flags),
        packet: packet.clone(),
        request_id: None,
    };
    let out = codec.encode(&env(message.clone(), None)).unwrap();
    assert_eq!(out.channel, "socket.io#/#r1#");
    assert_eq!(out.payload, v("broadcast"));
    assert_eq!(out.count_request, None);
    let back = codec
        .decode("/", ChannelKind::Broadcast, v("broadcast"))
        .unwrap();
    assert_eq!(back.uid, "node-a");
    assert_eq!(back.message, message);

    // To everybody, in another namespace and with another key.
    let codec = Classic {
        key: "k".into(),
        specific_response_channel: false,
    };
    let message = ClusterMessage::Broadcast {
        opts: opts(&[], &[], WireFlags::default()),
        packet: WirePacket {
            kind: 2,
            data: vec![json!("hello"), json!("world")],
            nsp: "/custom".into(),
            id: None,
            attachments: vec![],
        },
        request_id: None,
    };
    let mut e = env(message.clone(), None);
    e.nsp = "/custom".into();
    let out = codec.encode(&e).unwrap();
    assert_eq!(out.channel, "k#/custom#");
    assert_eq!(out.payload, v("broadcast_all"));
    assert_eq!(
        codec
            .decode("/custom", ChannelKind::Broadcast, &out.payload)
            .unwrap()
            .message,
        message
    );
    // A packet of another namespace is refused.
    assert!(
        codec
            .decode("/", ChannelKind::Broadcast, &out.payload)
            .is_err()
    );
}

#[test]
fn broadcast_with_acks_is_a_msgpack_request_and_counted() {
    let codec = Classic::default();
    let message = ClusterMessage::Broadcast {
        opts: opts(
            &["r"],
            &[],
            WireFlags {
                timeout: Some(3000),
                ..WireFlags::default()
            },
        ),
        packet: WirePacket {
            kind: 2,
            data: vec![json!("q"), json!("node-a")],
            nsp: "/".into(),
            id: Some(4),
            attachments: vec![],
        },
        request_id: Some("node-a:1".into()),
    };
    let out = codec.encode(&env(message, None)).unwrap();
    assert_eq!(out.channel, "socket.io-request#/#");
    assert_eq!(out.payload, v("broadcast_request"));
    assert_eq!(out.count_request.as_deref(), Some("node-a:1"));
    let back = codec
        .decode("/", ChannelKind::Request, &out.payload)
        .unwrap();
    let ClusterMessage::Broadcast {
        request_id,
        packet,
        opts,
    } = back.message
    else {
        panic!()
    };
    assert_eq!(request_id.as_deref(), Some("node-a:1"));
    assert_eq!(packet.data, vec![json!("q"), json!("node-a")]);
    assert_eq!(opts.flags.timeout, Some(3000));

    // The answers: the client count as JSON, each ack as msgpack with the
    // first argument only.
    let count = ClusterMessage::BroadcastClientCount {
        request_id: "node-a:1".into(),
        client_count: 2,
    };
    let out = codec.encode(&env(count.clone(), Some("node-b"))).unwrap();
    assert_eq!(out.channel, "socket.io-response#/#");
    assert_eq!(out.payload, v("client_count"));
    assert_eq!(
        codec
            .decode("/", ChannelKind::Response, &out.payload)
            .unwrap()
            .message,
        count
    );
    let ack = ClusterMessage::BroadcastAck {
        request_id: "abc123".into(),
        packet: json!(["yes", "ignored"]),
    };
    let out = codec.encode(&env(ack, Some("node-b"))).unwrap();
    assert_eq!(out.payload, v("broadcast_ack"));
    assert_eq!(
        codec
            .decode("/", ChannelKind::Response, &out.payload)
            .unwrap()
            .message,
        ClusterMessage::BroadcastAck {
            request_id: "abc123".into(),
            packet: json!(["yes"]),
        }
    );
}

#[test]
fn json_requests_and_responses_are_nodes_text() {
    let codec = Classic::default();
    let cases: Vec<(&str, ClusterMessage, &str, Option<&str>)> = vec![
        (
            "sockets_join",
            ClusterMessage::SocketsJoin {
                opts: opts(&["r1"], &["r2"], WireFlags::default()),
                rooms: vec!["new".into()],
            },
            "socket.io-request#/#",
            None,
        ),
        (
            "sockets_leave",
            ClusterMessage::SocketsLeave {
                opts: opts(&[], &[], WireFlags::default()),
                rooms: vec!["old".into()],
            },
            "socket.io-request#/#",
            None,
        ),
        (
            "disconnect",
            ClusterMessage::DisconnectSockets {
                opts: opts(&["r1"], &[], WireFlags::default()),
                close: true,
            },
            "socket.io-request#/#",
            None,
        ),
        (
            "fetch",
            ClusterMessage::FetchSockets {
                opts: opts(&["r1"], &[], WireFlags::default()),
                request_id: "node-a:2".into(),
            },
            "socket.io-request#/#",
            Some("node-a:2"),
        ),
        (
            "fetch_response",
            ClusterMessage::FetchSocketsResponse {
                request_id: "node-a:2".into(),
                sockets: vec![WireSocket {
                    id: "sid1".into(),
                    handshake: json!({"url": "/"}),
                    rooms: vec!["sid1".into(), "r1".into()],
                    data: json!({"node": "b"}),
                }],
            },
            "socket.io-response#/#",
            None,
        ),
        (
            "sse",
            ClusterMessage::ServerSideEmit {
                request_id: None,
                packet: vec![json!("ping"), json!(0), json!("x")],
            },
            "socket.io-request#/#",
            None,
        ),
        (
            "sse_ack",
            ClusterMessage::ServerSideEmit {
                request_id: Some("node-a:3".into()),
                packet: vec![json!("ping")],
            },
            "socket.io-request#/#",
            Some("node-a:3"),
        ),
        (
            "sse_response",
            ClusterMessage::ServerSideEmitResponse {
                request_id: "node-a:3".into(),
                packet: json!("pong"),
            },
            "socket.io-response#/#",
            None,
        ),
    ];
    for (name, message, channel, count) in cases {
        let response = channel.contains("response");
        let out = codec
            .encode(&env(message.clone(), response.then_some("node-b")))
            .unwrap();
        assert_eq!(
            String::from_utf8(out.payload.clone()).unwrap(),
            String::from_utf8(v(name).to_vec()).unwrap(),
            "{name}"
        );
        assert_eq!(out.channel, channel, "{name}");
        assert_eq!(out.count_request.as_deref(), count, "{name}");
        let kind = if response {
            ChannelKind::Response
        } else {
            ChannelKind::Request
        };
        let back = codec.decode("/", kind, v(name)).unwrap();
        assert_eq!(back.message, message, "{name}");
        assert_eq!(back.uid, if response { "" } else { "node-a" });
    }
    // With publishOnSpecificResponseChannel, answers go to the asker's channel.
    let codec = Classic {
        specific_response_channel: true,
        ..Classic::default()
    };
    let count = ClusterMessage::BroadcastClientCount {
        request_id: "x".into(),
        client_count: 0,
    };
    assert_eq!(
        codec.encode(&env(count, Some("node-b"))).unwrap().channel,
        "socket.io-response#/#node-b#"
    );
}

#[test]
fn heartbeats_have_no_classic_form() {
    let codec = Classic::default();
    for m in [
        ClusterMessage::InitialHeartbeat,
        ClusterMessage::Heartbeat,
        ClusterMessage::AdapterClose,
    ] {
        assert_eq!(codec.encode(&env(m, None)), None);
    }
}

#[test]
fn garbage_truncated_and_unknown_messages_are_errors_not_panics() {
    let codec = Classic::default();
    let broadcast = v("broadcast");
    for cut in 0..broadcast.len() {
        assert!(
            codec
                .decode("/", ChannelKind::Broadcast, &broadcast[..cut])
                .is_err(),
            "cut {cut}"
        );
    }
    let request = v("broadcast_request");
    for cut in 0..request.len() {
        assert!(
            codec
                .decode("/", ChannelKind::Request, &request[..cut])
                .is_err(),
            "cut {cut}"
        );
    }
    let cases: &[(ChannelKind, &[u8])] = &[
        (ChannelKind::Broadcast, b"\xc1"),
        (ChannelKind::Broadcast, b"\x93\xa1a\xc0\xc0"),
        (ChannelKind::Request, b"{not json"),
        (
            ChannelKind::Request,
            br#"{"uid":"x","type":0,"requestId":"r"}"#,
        ),
        (ChannelKind::Request, br#"{"uid":"x","type":99}"#),
        (
            ChannelKind::Request,
            br#"{"uid":"x","type":2,"sid":"abc","room":"r"}"#,
        ),
        (ChannelKind::Request, b"[1,2]"),
        (ChannelKind::Response, br#"{"requestId":"r"}"#),
        (
            ChannelKind::Response,
            br#"{"requestId":"r","sockets":[{"id":3}]}"#,
        ),
        // A count of 2^32-1 items with nothing behind it.
        (ChannelKind::Broadcast, b"\xdd\xff\xff\xff\xff"),
        (ChannelKind::Broadcast, b"\xdf\xff\xff\xff\xff"),
        (ChannelKind::Broadcast, b"\xc6\xff\xff\xff\xff"),
        // An extension other than notepack's undefined.
        (ChannelKind::Broadcast, b"\xd4\x05\x00"),
    ];
    for (kind, bytes) in cases {
        assert!(codec.decode("/", *kind, bytes).is_err(), "{bytes:?}");
    }
    // Nested past the depth limit.
    let deep = vec![0x91u8; adapter_redis::msgpack::MAX_DEPTH + 2];
    assert_eq!(
        Pack::decode(&deep),
        Err(adapter_redis::MsgpackError::TooDeep)
    );
    // Trailing bytes.
    assert_eq!(
        Pack::decode(b"\xc0\xc0"),
        Err(adapter_redis::MsgpackError::Trailing)
    );
    // The undefined extension reads as nil.
    assert_eq!(Pack::decode(b"\xd4\x00\x00"), Ok(Pack::Nil));
    let _ = Value::Null;
}

#[test]
fn nodes_sockets_and_all_rooms_requests_are_answered_from_this_node() {
    use adapter_redis::LocalQuery;
    let codec = Classic::default();
    let query = codec.decode_local_query(v("sockets_request")).unwrap();
    assert_eq!(
        query,
        LocalQuery::Sockets {
            uid: "node-a".into(),
            request_id: "q1".into(),
            rooms: vec!["r1".into()],
        }
    );
    let answer = codec.answer_local_query("/", &query, &["s1".into(), "s2".into()]);
    assert_eq!(answer.channel, "socket.io-response#/#");
    assert_eq!(answer.payload, v("sockets_answer"));
    let query = codec.decode_local_query(v("all_rooms_request")).unwrap();
    assert_eq!(
        query,
        LocalQuery::AllRooms {
            uid: "node-a".into(),
            request_id: "q2".into(),
        }
    );
    let specific = Classic {
        specific_response_channel: true,
        ..Classic::default()
    };
    let answer = specific.answer_local_query("/", &query, &["r1".into(), "s1".into()]);
    assert_eq!(answer.channel, "socket.io-response#/#node-a#");
    assert_eq!(answer.payload, v("all_rooms_answer"));
    // Other requests are not local queries; the regular decoder refuses these.
    assert_eq!(codec.decode_local_query(v("fetch")), None);
    assert_eq!(codec.decode_local_query(b"\xc1"), None);
    assert!(
        codec
            .decode("/", ChannelKind::Request, v("sockets_request"))
            .is_err()
    );
}
