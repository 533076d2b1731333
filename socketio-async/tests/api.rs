//! The async API on a deterministic backend: the core driven by the
//! engine's test harness (virtual clock, scripted clients) and a tiny
//! executor that polls every task until nothing moves.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use socketio_async::{AckSender, DisconnectReason, Event, Socket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use socketio_async::{AckError, Backend, ConnectError, NamespaceMatcher, Payload, SocketIo};

use common::*;

#[test]
fn echo_with_auth_and_binary() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        let auth = Value::Object(socket.handshake().auth.clone());
        socket.emit("auth", (auth,)).unwrap();
        socket.on("message", |socket: Socket, payload: Payload| async move {
            socket.emit_payload("message-back", payload).unwrap();
        });
    });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", r#"{"token":"123"}"#);
    assert!(frames[0].starts_with(r#"40{"sid":""#));
    assert_eq!(frames[1], r#"42["auth",{"token":"123"}]"#);
    b.client(|h| h.ws_send(ws, r#"42["message",1,"2",{"3":[true]}]"#));
    assert_eq!(
        b.frames(ws),
        vec![r#"42["message-back",1,"2",{"3":[true]}]"#]
    );
    b.client(|h| {
        h.ws_send(
            ws,
            r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        h.ws_send_binary(ws, &[1, 2, 3]);
        h.ws_send_binary(ws, &[4, 5, 6]);
    });
    assert_eq!(
        b.frames(ws),
        vec![
            r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
                .to_string(),
            "<010203>".into(),
            "<040506>".into()
        ]
    );
}

#[test]
fn client_acks_are_answered_once() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "message-with-ack",
            |payload: Payload, ack: Option<AckSender>| async move {
                ack.unwrap().send_payload(payload).unwrap();
            },
        );
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42456["message-with-ack",1,"2",{"3":[false]}]"#));
    assert_eq!(b.frames(ws), vec![r#"43456[1,"2",{"3":[false]}]"#]);
}

#[test]
fn middlewares_refuse_with_data_and_run_in_order() {
    let io = SocketIo::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s1 = seen.clone();
    io.use_middleware(move |c| {
        let s1 = s1.clone();
        async move {
            s1.lock().unwrap().push("first");
            if c.handshake.auth.get("token") == Some(&json!("ok")) {
                Ok(())
            } else {
                Err(ConnectError::with_data(
                    "not authorized",
                    json!({"code": 401}),
                ))
            }
        }
    });
    let s2 = seen.clone();
    io.use_middleware(move |_| {
        let s2 = s2.clone();
        async move {
            s2.lock().unwrap().push("second");
            Ok(())
        }
    });
    io.on_connection(|| async {});
    let b = start(&io);
    let (_, frames) = connect(&b, "/", r#"{"token":"bad"}"#);
    assert_eq!(
        frames,
        vec![r#"44{"message":"not authorized","data":{"code":401}}"#]
    );
    assert_eq!(*seen.lock().unwrap(), vec!["first"]);
    let (_, frames) = connect(&b, "/", r#"{"token":"ok"}"#);
    assert!(frames[0].starts_with(r#"40{"sid":""#));
    assert_eq!(*seen.lock().unwrap(), vec!["first", "first", "second"]);
}

#[test]
fn emit_with_ack_resolves_or_times_out() {
    let io = SocketIo::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    io.on_connection(move |socket: Socket| {
        let r = r.clone();
        async move {
            let answer = socket
                .timeout(Duration::from_millis(500))
                .emit_with_ack::<(String, u32)>("question", "?")
                .await;
            r.lock().unwrap().push(answer);
        }
    });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert_eq!(frames[1], r#"420["question","?"]"#);
    b.client(|h| h.ws_send(ws, r#"430["answer",7]"#));
    assert_eq!(*results.lock().unwrap(), vec![Ok(("answer".to_owned(), 7))]);
    // A second client never answers.
    let (_ws2, _) = connect(&b, "/", "");
    b.client(|h| h.advance(499));
    assert_eq!(results.lock().unwrap().len(), 1);
    b.client(|h| h.advance(1));
    assert_eq!(results.lock().unwrap()[1], Err(AckError::Timeout));
}

#[test]
fn rooms_and_broadcast_operators() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.join("room");
        socket.on("shout", |socket: Socket| async move {
            socket.to("room").emit("heard", ("hi",)).unwrap();
        });
    });
    let b = start(&io);
    let (w1, _) = connect(&b, "/", "");
    let (w2, _) = connect(&b, "/", "");
    let (w3, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(w1, r#"42["shout"]"#));
    assert!(b.frames(w1).is_empty(), "socket.to(room) skips the sender");
    assert_eq!(b.frames(w2), vec![r#"42["heard","hi"]"#]);
    assert_eq!(b.frames(w3), vec![r#"42["heard","hi"]"#]);
    assert_eq!(io.to("room").emit("all", ()).unwrap(), 3);
    b.settle();
    assert_eq!(b.frames(w1), vec![r#"42["all"]"#]);
}

#[test]
fn disconnect_handlers_see_reasons_and_rooms() {
    let io = SocketIo::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    io.on_connection(move |socket: Socket| {
        let l = l.clone();
        let l2 = l.clone();
        async move {
            socket.join("lobby");
            socket.on_disconnecting(move |socket: Socket, reason: DisconnectReason| {
                let l = l.clone();
                async move {
                    let mut rooms: Vec<String> =
                        socket.rooms().iter().map(|r| r.to_string()).collect();
                    rooms.retain(|r| r == "lobby");
                    l.lock()
                        .unwrap()
                        .push(format!("disconnecting {reason} {rooms:?}"));
                }
            });
            socket.on_disconnect(move |reason: DisconnectReason| {
                let l = l2.clone();
                async move {
                    l.lock().unwrap().push(format!("disconnect {reason}"));
                }
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, "41"));
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            r#"disconnecting client namespace disconnect ["lobby"]"#.to_string(),
            "disconnect client namespace disconnect".into()
        ]
    );
}

#[test]
fn dynamic_namespaces_use_their_parent_handlers() {
    let io = SocketIo::new();
    let parent = io.of_dynamic(NamespaceMatcher::Pattern(
        regex_lite::Regex::new(r"^/room-\d+$").unwrap(),
    ));
    parent.on_connection(|socket: Socket| async move {
        let nsp = socket.nsp().to_owned();
        socket.emit("welcome", (nsp,)).unwrap();
    });
    let b = start(&io);
    let (_, frames) = connect(&b, "/room-7", "");
    assert!(frames[0].starts_with(r#"40/room-7,{"sid":""#));
    assert_eq!(frames[1], r#"42/room-7,["welcome","/room-7"]"#);
}

#[test]
fn fetch_sockets_and_utility_operations() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.set_data(json!({"n": 1})).unwrap();
    });
    let b = start(&io);
    let (_, f1) = connect(&b, "/", "");
    let (w2, _) = connect(&b, "/", "");
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let io2 = io.clone();
    b.spawn(Box::pin(async move {
        let sockets = io2.fetch_sockets().await.unwrap();
        g.lock()
            .unwrap()
            .extend(sockets.into_iter().map(|s| (s.id.to_string(), s.data)));
    }));
    b.settle();
    assert_eq!(got.lock().unwrap().len(), 2);
    assert!(
        got.lock()
            .unwrap()
            .contains(&(sid_of(&f1[0]), json!({"n": 1})))
    );
    io.to(sid_of(&f1[0])).sockets_join(["vip"]).unwrap();
    io.to("vip").disconnect_sockets(false).unwrap();
    b.settle();
    assert_eq!(b.frames(w2), Vec::<String>::new());
    assert_eq!(io.clients_count(), 2);
}

#[test]
fn on_any_outgoing_sees_broadcasts_per_recipient_and_direct_emits_once() {
    for recovery in [false, true] {
        let io = SocketIo::new();
        let seen = Arc::new(Mutex::new(Vec::<(String, Vec<Value>)>::new()));
        let s = seen.clone();
        io.on_connection(move |socket: Socket| {
            let s = s.clone();
            async move {
                // Only the client that asks is watched.
                if socket.handshake().auth.get("watch").is_some() {
                    socket.on_any_outgoing(move |Event(event): Event, payload: Payload| {
                        s.lock().unwrap().push((event.to_string(), payload.args));
                    });
                }
                socket.join("room");
                socket.on("shout", |socket: Socket| async move {
                    socket.broadcast().emit("shout", "hey").unwrap();
                });
                socket.on("me", |socket: Socket| async move {
                    socket.emit("me", 7).unwrap();
                });
            }
        });
        let mut config = config();
        if recovery {
            config.recovery = Some(socketio_proto::RecoveryConfig::default());
        }
        let b = start_with(&io, config);
        let (wa, _) = connect(&b, "/", r#"{"watch":true}"#);
        let (wb, _) = connect(&b, "/", "");
        // With recovery, each event ends with its offset (a string).
        let strip = |frames: Vec<String>| -> Vec<String> {
            frames
                .into_iter()
                .map(|f| {
                    if !recovery {
                        return f;
                    }
                    let mut v: Vec<Value> = serde_json::from_str(&f[2..]).unwrap();
                    assert!(v.pop().unwrap().is_string(), "{f}");
                    format!("42{}", serde_json::to_string(&v).unwrap())
                })
                .collect()
        };
        // The server broadcasts to everyone, then to a room.
        io.emit("news", (1, "a")).unwrap();
        io.to("room").emit("room-news", json!({"k": true})).unwrap();
        b.settle();
        let both = vec![r#"42["news",1,"a"]"#, r#"42["room-news",{"k":true}]"#];
        assert_eq!(strip(b.frames(wa)), both);
        assert_eq!(strip(b.frames(wb)), both);
        // B's broadcast reaches A (and A's handler), not B.
        b.client(|h| h.ws_send(wb, r#"42["shout"]"#));
        assert_eq!(strip(b.frames(wa)), vec![r#"42["shout","hey"]"#]);
        assert_eq!(b.frames(wb), Vec::<String>::new());
        // A's own emit: reported once, with or without recovery.
        b.client(|h| h.ws_send(wa, r#"42["me"]"#));
        assert_eq!(strip(b.frames(wa)), vec![r#"42["me",7]"#]);
        let mut seen = std::mem::take(&mut *seen.lock().unwrap());
        // Broadcasts are reported as sent (Node's adapter does the same):
        // with their offset; A's own emit as the handler gave it.
        for (event, args) in &mut seen {
            if recovery && event != "me" {
                assert!(args.pop().unwrap().is_string(), "{event}");
            }
        }
        assert_eq!(
            seen,
            vec![
                ("news".to_owned(), vec![json!(1), json!("a")]),
                ("room-news".to_owned(), vec![json!({"k": true})]),
                ("shout".to_owned(), vec![json!("hey")]),
                ("me".to_owned(), vec![json!(7)]),
            ],
            "recovery {recovery}"
        );
    }
}
