//! The handler API: extractors (success, wrong shape, missing, binary),
//! the acknowledgement rules, several handlers per event in order, the
//! one-value-one-argument rule, typed acks, broadcast acks with partial
//! answers, rooms one or many, typed socket data. On the deterministic
//! backend (virtual clock, scripted clients).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketio_async::{
    Ack, AckError, AckSender, Backend, Bin, BroadcastAckError, ConnectError, Connecting, Data,
    DataError, DisconnectReason, EmitError, ErrorMessage, Event, Extension, Extensions, Payload,
    ServerSideAck, Socket, SocketIo, State, TryData,
};

use common::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Msg {
    text: String,
    n: u32,
}

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::default()
}

fn push(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A server whose connection handler gets each socket and the shared `log`.
fn logging<F, Fut>(log: &Log, on_connection: F) -> SocketIo
where
    F: Fn(Socket, Log) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let io = SocketIo::new();
    let log = log.clone();
    io.on_connection(move |socket: Socket| on_connection(socket, log.clone()));
    io
}

#[test]
fn data_runs_the_handler_only_for_the_right_shape() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("msg", |socket: Socket, Data(msg): Data<Msg>| async move {
            socket.emit("got", (msg.text, msg.n)).unwrap();
        });
        socket.on(
            "pair",
            |socket: Socket, Data((a, b)): Data<(u8, String)>| async move {
                socket.emit("pair", (b, a)).unwrap();
            },
        );
        socket.on(
            "list",
            |socket: Socket, Data(list): Data<Vec<u8>>| async move {
                socket
                    .emit("sum", list.iter().map(|&x| u32::from(x)).sum::<u32>())
                    .unwrap();
            },
        );
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["msg",{"text":"hi","n":2}]"#));
    assert_eq!(b.frames(ws), vec![r#"42["got","hi",2]"#]);
    // Wrong shape, missing argument: the handler does not run.
    b.client(|h| h.ws_send(ws, r#"42["msg",{"text":"hi","n":"two"}]"#));
    b.client(|h| h.ws_send(ws, r#"42["msg"]"#));
    b.client(|h| h.ws_send(ws, r#"42["msg",1]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    // A tuple takes exactly its arguments.
    b.client(|h| h.ws_send(ws, r#"42["pair",1,"a"]"#));
    assert_eq!(b.frames(ws), vec![r#"42["pair","a",1]"#]);
    b.client(|h| h.ws_send(ws, r#"42["pair",1]"#));
    b.client(|h| h.ws_send(ws, r#"42["pair",1,"a",true]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    // One array argument is one Vec.
    b.client(|h| h.ws_send(ws, r#"42["list",[1,2,3]]"#));
    assert_eq!(b.frames(ws), vec![r#"42["sum",6]"#]);
    // The socket is still served after the refusals.
    b.client(|h| h.ws_send(ws, r#"42["msg",{"text":"again","n":3}]"#));
    assert_eq!(b.frames(ws), vec![r#"42["got","again",3]"#]);
}

#[test]
fn try_data_hands_the_error_to_the_handler() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "msg",
            |TryData(msg): TryData<Msg>, ack: AckSender| async move {
                let answer = match msg {
                    Ok(msg) => format!("ok {}", msg.text),
                    Err(DataError::Missing) => "missing".to_owned(),
                    Err(DataError::Invalid(e)) => format!("invalid: {e}"),
                };
                ack.send(answer).unwrap();
            },
        );
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"421["msg",{"text":"a","n":1}]"#));
    b.client(|h| h.ws_send(ws, r#"422["msg"]"#));
    b.client(|h| h.ws_send(ws, r#"423["msg",{"text":"a"}]"#));
    assert_eq!(
        b.frames(ws),
        vec![
            r#"431["ok a"]"#,
            r#"432["missing"]"#,
            r#"433["invalid: missing field `n`"]"#
        ]
    );
}

#[test]
fn binary_attachments_and_payload() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "file",
            |socket: Socket, Data(name): Data<String>, Bin(files): Bin, payload: Payload| async move {
                let sizes: Vec<usize> = files.iter().map(|f| f.len()).collect();
                // The placeholder argument resolves to the first attachment.
                let first = payload.binary_of(&payload.args[1]).unwrap().clone();
                socket
                    .emit_payload("file", Payload::new((name, sizes)).unwrap().attach(first))
                    .unwrap();
            },
        );
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| {
        h.ws_send(
            ws,
            r#"452-["file","a.bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        h.ws_send_binary(ws, &[1, 2, 3]);
        h.ws_send_binary(ws, &[4]);
    });
    assert_eq!(
        b.frames(ws),
        vec![
            r#"451-["file","a.bin",[3,1],{"_placeholder":true,"num":0}]"#.to_owned(),
            "<010203>".to_owned()
        ]
    );
}

/// An extractor of a user's: reads the arguments through the context.
struct Arity(usize);

impl socketio_async::FromContext for Arity {
    fn from_context(
        cx: &mut socketio_async::HandlerContext,
    ) -> Result<Self, socketio_async::ExtractError> {
        Ok(Arity(cx.payload().args.len()))
    }
}

/// The last extractor to read the arguments takes them instead of copying
/// them: whatever the order, every extractor of a handler sees them, an
/// extractor of the user's included, and so does every handler of an event.
#[test]
fn every_extractor_sees_the_arguments_in_any_order() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "payload-first",
            |s: Socket, p: Payload, Data(t): Data<String>, Bin(b): Bin| async move {
                s.emit("seen", (p.args, t, b.len())).unwrap();
            },
        );
        socket.on(
            "data-first",
            |Data(t): Data<String>, s: Socket, p: Payload| async move {
                s.emit("seen", (t, p.args)).unwrap();
            },
        );
        socket.on(
            "user-last",
            |s: Socket, p: Payload, Arity(n): Arity| async move {
                s.emit("seen", (p.args, n)).unwrap();
            },
        );
        socket.on(
            "bin-first",
            |Bin(b): Bin, s: Socket, p: Payload| async move {
                let first = p.binary_of(&p.args[0]).map(|f| f.len());
                s.emit("seen", (b.len(), first)).unwrap();
            },
        );
        socket.on(
            "tuple",
            |TryData(t): TryData<(String, u8)>, s: Socket| async move {
                s.emit("seen", format!("{t:?}")).unwrap();
            },
        );
        for i in 0..2 {
            socket.on("twice", move |s: Socket, p: Payload| async move {
                s.emit("seen", (i, p.args)).unwrap();
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| {
        h.ws_send(ws, r#"42["payload-first","a"]"#);
        h.ws_send(ws, r#"42["data-first","b"]"#);
        h.ws_send(ws, r#"42["user-last","c",1]"#);
        h.ws_send(ws, r#"451-["bin-first",{"_placeholder":true,"num":0}]"#);
        h.ws_send_binary(ws, &[7, 8]);
        h.ws_send(ws, r#"42["tuple","x",3]"#);
        h.ws_send(ws, r#"42["tuple","x",300]"#);
        h.ws_send(ws, r#"42["twice",{"k":[1]}]"#);
    });
    assert_eq!(
        b.frames(ws),
        vec![
            r#"42["seen",["a"],"a",0]"#,
            r#"42["seen","b",["b"]]"#,
            r#"42["seen",["c",1],2]"#,
            r#"42["seen",1,2]"#,
            r#"42["seen","Ok((\"x\", 3))"]"#,
            r#"42["seen","Err(Invalid(\"invalid value: integer `300`, expected u8\"))"]"#,
            r#"42["seen",0,[{"k":[1]}]]"#,
            r#"42["seen",1,[{"k":[1]}]]"#,
        ]
    );
}

#[test]
fn an_ack_is_sent_once_and_only_when_asked() {
    let results = log();
    let io = logging(&results, |socket, r| {
        async move {
            // Two handlers of one event hold the same acknowledgement.
            let first = r.clone();
            socket.on("q", move |ack: AckSender| {
                let r = first.clone();
                async move { push(&r, format!("first {:?}", ack.send("one"))) }
            });
            let second = r.clone();
            socket.on("q", move |ack: Ack| {
                let r = second.clone();
                async move { push(&r, format!("second {:?}", ack.send("two"))) }
            });
            let third = r.clone();
            socket.on("q", move |ack: Option<AckSender>| {
                let r = third.clone();
                async move { push(&r, format!("third {}", ack.is_some())) }
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"427["q"]"#));
    assert_eq!(b.frames(ws), vec![r#"437["one"]"#]);
    assert_eq!(
        taken(&results),
        vec![
            "first Ok(())".to_owned(),
            format!("second {:?}", Err::<(), _>(EmitError::AlreadyAcked)),
            "third true".to_owned(),
        ]
    );
    // No acknowledgement asked: the handlers that take an AckSender do
    // not run (an answer cannot be written), `Option<AckSender>` is None.
    b.client(|h| h.ws_send(ws, r#"42["q"]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    assert_eq!(taken(&results), vec!["third false".to_owned()]);
    // The next event with an ack id is answered as usual.
    b.client(|h| h.ws_send(ws, r#"428["q"]"#));
    assert_eq!(b.frames(ws), vec![r#"438["one"]"#]);
    assert_eq!(taken(&results).len(), 3);
}

#[test]
fn handlers_of_one_event_run_in_order_and_can_be_removed() {
    let seen = log();
    let io = logging(&seen, |socket, s| async move {
        // "other" is registered between two handlers of "e": the order
        // of "e"'s handlers is still theirs.
        for name in ["a", "b", "c"] {
            let s1 = s.clone();
            socket.on("e", move |Data(n): Data<u32>| {
                let s = s1.clone();
                async move { push(&s, format!("{name}{n}")) }
            });
            if name == "a" {
                let s2 = s.clone();
                socket.on("other", move |Event(name): Event| {
                    let s = s2.clone();
                    async move { push(&s, format!("other:{name}")) }
                });
            }
        }
        socket.on("off", |socket: Socket, ack: AckSender| async move {
            let removed = socket.off("e");
            ack.send(removed).unwrap();
        });
        socket.on("remove-all", |socket: Socket| async move {
            socket.remove_all();
        });
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["e",1]"#));
    b.client(|h| h.ws_send(ws, r#"42["e",2]"#));
    assert_eq!(taken(&seen), vec!["a1", "b1", "c1", "a2", "b2", "c2"]);
    b.client(|h| h.ws_send(ws, r#"421["off"]"#));
    assert_eq!(b.frames(ws), vec![r#"431[3]"#]);
    b.client(|h| h.ws_send(ws, r#"42["e",3]"#));
    b.client(|h| h.ws_send(ws, r#"42["other"]"#));
    assert_eq!(taken(&seen), vec!["other:other"]);
    b.client(|h| h.ws_send(ws, r#"42["remove-all"]"#));
    b.client(|h| h.ws_send(ws, r#"42["other"]"#));
    b.client(|h| h.ws_send(ws, r#"422["off"]"#));
    assert_eq!(taken(&seen), Vec::<String>::new());
    assert_eq!(b.frames(ws), Vec::<String>::new());
}

struct Greeting(&'static str);
struct Unregistered;

#[test]
fn state_is_shared_and_a_missing_state_stops_the_handler() {
    let io = SocketIo::builder().with_state(Greeting("hello")).build();
    io.on_connection(|socket: Socket, greeting: State<Greeting>| async move {
        socket.emit("greeting", greeting.0.0).unwrap();
        socket.on(
            "needs",
            |socket: Socket, _: State<Unregistered>| async move {
                socket.emit("ran", ()).unwrap();
            },
        );
        socket.on("has", |socket: Socket, g: State<Greeting>| async move {
            socket.emit("ran", g.0.0).unwrap();
        });
    });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert_eq!(frames[1], r#"42["greeting","hello"]"#);
    b.client(|h| h.ws_send(ws, r#"42["needs"]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    b.client(|h| h.ws_send(ws, r#"42["has"]"#));
    assert_eq!(b.frames(ws), vec![r#"42["ran","hello"]"#]);
}

#[derive(Clone, Debug, PartialEq)]
struct User(String);
#[derive(Clone)]
struct Never;

#[derive(Deserialize)]
struct Auth {
    name: String,
}

#[test]
fn extensions_set_by_a_middleware_reach_every_handler() {
    let left = log();
    let io = SocketIo::new();
    io.use_middleware(|c: Connecting| async move {
        let name = c.handshake.auth.get("name").and_then(Value::as_str);
        let name = name.ok_or_else(|| ConnectError::new("name?"))?;
        c.extensions.insert(User(name.to_owned()));
        Ok(())
    });
    let l = left.clone();
    io.on_connection(
        move |socket: Socket, Extension(user): Extension<User>, Data(auth): Data<Auth>| {
            let l = l.clone();
            async move {
                assert_eq!(user.0, auth.name);
                socket.emit("welcome", &user.0).unwrap();
                socket.on(
                    "me",
                    |socket: Socket, Extension(user): Extension<User>| async move {
                        socket.emit("me", user.0).unwrap();
                    },
                );
                socket.on("never", |socket: Socket, _: Extension<Never>| async move {
                    socket.emit("ran", ()).unwrap();
                });
                socket.on(
                    "maybe",
                    |socket: Socket, never: Option<Extension<Never>>| async move {
                        socket.emit("maybe", never.is_some()).unwrap();
                    },
                );
                socket.on_disconnect(
                    move |reason: DisconnectReason, Extension(user): Extension<User>| {
                        let l = l.clone();
                        async move { push(&l, format!("{} {}", user.0, reason.as_str())) }
                    },
                );
            }
        },
    );
    let b = start(&io);
    let (_, refused) = connect(&b, "/", "{}");
    assert_eq!(refused, vec![r#"44{"message":"name?"}"#]);
    let (ws, frames) = connect(&b, "/", r#"{"name":"ann"}"#);
    assert_eq!(frames[1], r#"42["welcome","ann"]"#);
    b.client(|h| h.ws_send(ws, r#"42["me"]"#));
    b.client(|h| h.ws_send(ws, r#"42["never"]"#));
    b.client(|h| h.ws_send(ws, r#"42["maybe"]"#));
    assert_eq!(
        b.frames(ws),
        vec![r#"42["me","ann"]"#, r#"42["maybe",false]"#]
    );
    b.client(|h| h.ws_send(ws, "41"));
    assert_eq!(taken(&left), vec!["ann client namespace disconnect"]);
}

#[test]
fn one_value_is_one_argument_and_a_tuple_several() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.emit("vec", vec![1, 2, 3]).unwrap();
        socket.emit("json-array", json!([1, 2])).unwrap();
        socket.emit("tuple", (1, "a")).unwrap();
        socket.emit("one-tuple", (vec![1],)).unwrap();
        socket.emit("unit", ()).unwrap();
        socket.emit("none", None::<u8>).unwrap();
        socket
            .emit(
                "struct",
                Msg {
                    text: "t".into(),
                    n: 1,
                },
            )
            .unwrap();
    });
    let b = start(&io);
    let (_, frames) = connect(&b, "/", "");
    assert_eq!(
        frames[1..],
        [
            r#"42["vec",[1,2,3]]"#,
            r#"42["json-array",[1,2]]"#,
            r#"42["tuple",1,"a"]"#,
            r#"42["one-tuple",[1]]"#,
            r#"42["unit"]"#,
            r#"42["none",null]"#,
            r#"42["struct",{"text":"t","n":1}]"#,
        ]
    );
}

#[test]
fn typed_acks_from_the_client() {
    let results = log();
    let io = logging(&results, |socket, r| async move {
        let t = socket.timeout(Duration::from_millis(100));
        let msg = t.emit_with_ack::<Msg>("q1", ()).await;
        push(&r, format!("{msg:?}"));
        let wrong = t.emit_with_ack::<Msg>("q2", ()).await;
        push(&r, format!("{}", matches!(wrong, Err(AckError::Decode(_)))));
        let late = t.emit_with_ack::<u8>("q3", ()).await;
        push(&r, format!("{late:?}"));
    });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert_eq!(frames[1], r#"420["q1"]"#);
    b.client(|h| h.ws_send(ws, r#"430[{"text":"x","n":4}]"#));
    assert_eq!(b.frames(ws), vec![r#"421["q2"]"#]);
    b.client(|h| h.ws_send(ws, r#"431["not a msg"]"#));
    assert_eq!(b.frames(ws), vec![r#"422["q3"]"#]);
    b.client(|h| h.advance(100));
    assert_eq!(
        taken(&results),
        vec![
            format!(
                "{:?}",
                Ok::<_, AckError>(Msg {
                    text: "x".into(),
                    n: 4
                })
            ),
            "true".to_owned(),
            format!("{:?}", Err::<u8, _>(AckError::Timeout)),
        ]
    );
}

#[test]
fn a_broadcast_ack_that_times_out_keeps_the_answers_received() {
    let results = Arc::new(Mutex::new(None));
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.join("poll");
    });
    let b = start(&io);
    let (ws1, _) = connect(&b, "/", "");
    let (ws2, _) = connect(&b, "/", "");
    let (ws3, _) = connect(&b, "/", "");
    let r = results.clone();
    let task_io = io.clone();
    b.spawn(Box::pin(async move {
        let answers = task_io
            .to("poll")
            .timeout(Duration::from_millis(200))
            .emit_with_ack::<u32>("vote", ())
            .await;
        *r.lock().unwrap() = Some(answers);
    }));
    b.settle();
    assert_eq!(b.frames(ws1), vec![r#"420["vote"]"#]);
    b.client(|h| h.ws_send(ws1, "430[1]"));
    b.client(|h| h.ws_send(ws2, "430[2]"));
    // The third never answers.
    let _ = b.frames(ws3);
    b.client(|h| h.advance(199));
    assert!(results.lock().unwrap().is_none());
    b.client(|h| h.advance(1));
    assert_eq!(
        results.lock().unwrap().take(),
        Some(Err(BroadcastAckError {
            error: AckError::Timeout,
            answers: vec![1, 2]
        }))
    );
}

#[derive(Deserialize)]
struct RoomsAuth {
    rooms: Vec<String>,
}

#[test]
fn rooms_one_or_many() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket, Data(auth): Data<RoomsAuth>| async move {
        socket.join(auth.rooms);
        socket.on(
            "leave",
            |socket: Socket, Data(rooms): Data<Vec<String>>| async move {
                socket.leave(rooms);
            },
        );
        socket.on(
            "leave-one",
            |socket: Socket, Data(room): Data<String>| async move {
                socket.leave(room);
            },
        );
    });
    let b = start(&io);
    let (ws_a, _) = connect(&b, "/", r#"{"rooms":["x","y"]}"#);
    let (_ws_b, _) = connect(&b, "/", r#"{"rooms":["y","z"]}"#);
    let (_ws_c, _) = connect(&b, "/", r#"{"rooms":["z"]}"#);
    assert_eq!(io.to("x").emit("n", ()).unwrap(), 1);
    assert_eq!(io.to(["x", "y"]).emit("n", ()).unwrap(), 2);
    assert_eq!(io.to(vec!["x", "z"]).emit("n", ()).unwrap(), 3);
    assert_eq!(io.except(["x", "z"]).emit("n", ()).unwrap(), 0);
    assert_eq!(io.to("z").except("y").emit("n", ()).unwrap(), 1);
    b.client(|h| h.ws_send(ws_a, r#"42["leave",["x","y"]]"#));
    assert_eq!(io.to(["x", "y"]).emit("n", ()).unwrap(), 1);
    io.to("z").sockets_join(["w", "v"]).unwrap();
    assert_eq!(io.to("w").emit("n", ()).unwrap(), 2);
    io.to("z").sockets_leave("w").unwrap();
    assert_eq!(io.to(["w"]).emit("n", ()).unwrap(), 0);
    assert_eq!(io.to("v").emit("n", ()).unwrap(), 2);
}

#[test]
fn typed_socket_data_crosses_fetch_sockets() {
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Profile {
        nick: String,
    }
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        assert_eq!(socket.data::<Option<Profile>>().unwrap(), None);
        socket.set_data(Profile { nick: "ann".into() }).unwrap();
        assert_eq!(
            socket.data::<Profile>().unwrap(),
            Profile { nick: "ann".into() }
        );
        assert_eq!(socket.data_value(), json!({"nick": "ann"}));
    });
    let b = start(&io);
    let _ = connect(&b, "/", "");
    let found = Arc::new(Mutex::new(Vec::new()));
    let f = found.clone();
    let task_io = io.clone();
    b.spawn(Box::pin(async move {
        for socket in task_io.fetch_sockets().await.unwrap() {
            f.lock().unwrap().push(socket.data_as::<Profile>().unwrap());
        }
    }));
    b.settle();
    assert_eq!(*found.lock().unwrap(), vec![Profile { nick: "ann".into() }]);
}

#[test]
fn connection_middlewares_take_extractors() {
    struct Allowed {
        names: Vec<String>,
    }
    struct Unset;
    #[derive(Clone)]
    struct Checked(bool);
    let io = SocketIo::builder()
        .with_state(Allowed {
            names: vec!["ann".into(), "bob".into()],
        })
        .build();
    // The simple form and the extractor form run in registration order.
    io.use_middleware(|c: Connecting| async move {
        c.extensions.insert(Checked(false));
        Ok(())
    });
    io.use_middleware_with(
        |Data(auth): Data<Auth>, allowed: State<Allowed>, ext: Extensions| async move {
            if !allowed.names.contains(&auth.name) {
                return Err(ConnectError::with_data(
                    "unknown user",
                    json!({"name": auth.name}),
                ));
            }
            ext.insert(User(auth.name));
            ext.insert(Checked(true));
            Ok(())
        },
    );
    // Reads what the one before stored; sees the handshake and the id.
    io.use_middleware_with(
        |Extension(user): Extension<User>,
         Extension(checked): Extension<Checked>,
         handshake: Arc<socketio_async::Handshake>,
         id: socketio_async::SocketId| async move {
            assert!(checked.0);
            assert!(!id.as_str().is_empty());
            match handshake.auth.get("ban").and_then(Value::as_bool) {
                Some(true) => Err(ConnectError::new(format!("{} is banned", user.0))),
                _ => Ok(()),
            }
        },
    );
    io.on_connection(
        |socket: Socket, Extension(user): Extension<User>| async move {
            socket.emit("welcome", user.0).unwrap();
        },
    );
    // A namespace whose middleware asks for state never registered.
    io.of("/unset")
        .use_middleware_with(|_: State<Unset>| async move { Ok(()) });
    // TryData: the middleware answers malformed auth itself.
    io.of("/try")
        .use_middleware_with(|TryData(auth): TryData<Auth>| async move {
            match auth {
                Ok(_) => Ok(()),
                Err(e) => Err(ConnectError::new(format!("auth: {e}"))),
            }
        });
    let b = start(&io);
    let (_, frames) = connect(&b, "/", r#"{"name":"ann"}"#);
    assert_eq!(frames[1], r#"42["welcome","ann"]"#);
    let (_, refused) = connect(&b, "/", r#"{"name":"eve"}"#);
    assert_eq!(
        refused,
        vec![r#"44{"message":"unknown user","data":{"name":"eve"}}"#]
    );
    let (_, refused) = connect(&b, "/", r#"{"name":"bob","ban":true}"#);
    assert_eq!(refused, vec![r#"44{"message":"bob is banned"}"#]);
    // Malformed auth for Data<Auth>: refused with the extractor's error.
    let (_, refused) = connect(&b, "/", r#"{"nom":"ann"}"#);
    assert_eq!(
        refused,
        vec![r#"44{"message":"invalid arguments: missing field `name`"}"#]
    );
    let (_, refused) = connect(&b, "/unset", "");
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].starts_with(r#"44/unset,{"message":"no state of type "#),
        "{refused:?}"
    );
    let (_, frames) = connect(&b, "/try", r#"{"name":"x"}"#);
    assert!(frames[0].starts_with(r#"40/try,{"sid":""#), "{frames:?}");
    let (_, refused) = connect(&b, "/try", r#"{"name":5}"#);
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].starts_with(r#"44/try,{"message":"auth: "#),
        "{refused:?}"
    );
}

// ----- on_any, on_any_outgoing, packet middlewares, error handlers,
// serverSideEmit listeners: their extractors -----

#[derive(Clone)]
struct Role(&'static str);
struct Limits {
    max: u32,
}

#[test]
fn on_any_takes_extractors() {
    let seen = log();
    let s = seen.clone();
    let io = SocketIo::builder().with_state(Greeting("hi")).build();
    io.on_connection(move |socket: Socket| {
        let s = s.clone();
        async move {
            socket.extensions().insert(Role("guest"));
            let s1 = s.clone();
            // Success: the socket, the name, the first argument typed,
            // state and extension; it runs before the event's handler.
            socket.on_any(
                move |socket: Socket,
                      Event(event): Event,
                      Data(text): Data<String>,
                      greeting: State<Greeting>,
                      Extension(role): Extension<Role>| {
                    push(
                        &s1,
                        format!("any {event} {text} {} {}", greeting.0.0, role.0),
                    );
                    socket.emit("seen", (&*event, text)).unwrap();
                },
            );
            // Every event, untyped; the ack is not offered to on_any.
            let s2 = s.clone();
            socket.on_any(
                move |Event(event): Event, payload: Payload, ack: Option<AckSender>| {
                    push(
                        &s2,
                        format!("raw {event} {:?} ack={}", payload.args, ack.is_some()),
                    );
                },
            );
            // Never runs: no such extension, an AckSender, another kind's
            // extractor.
            let s3 = s.clone();
            socket.on_any(move |_: Extension<Never>| push(&s3, "never (extension)"));
            let s4 = s.clone();
            socket.on_any(move |_: AckSender| push(&s4, "never (ack)"));
            let s5 = s.clone();
            socket.on_any(move |_: DisconnectReason| push(&s5, "never (reason)"));
            socket.on("hello", |socket: Socket, ack: AckSender| async move {
                socket.emit("handler", ()).unwrap();
                ack.send("answered").unwrap();
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"421["hello","world"]"#));
    assert_eq!(
        b.frames(ws),
        vec![
            r#"42["seen","hello","world"]"#,
            r#"42["handler"]"#,
            r#"431["answered"]"#
        ]
    );
    assert_eq!(
        taken(&seen),
        vec![
            "any hello world hi guest",
            r#"raw hello [String("world")] ack=false"#
        ]
    );
    // Wrong shape (a number for Data<String>): only the untyped one runs.
    b.client(|h| h.ws_send(ws, r#"42["n",5]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    assert_eq!(taken(&seen), vec!["raw n [Number(5)] ack=false"]);
    // Missing argument: the same.
    b.client(|h| h.ws_send(ws, r#"42["empty"]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    assert_eq!(taken(&seen), vec!["raw empty [] ack=false"]);
}

#[test]
fn on_any_outgoing_takes_extractors() {
    let seen = log();
    let s = seen.clone();
    let io = SocketIo::builder().with_state(Limits { max: 10 }).build();
    io.on_connection(move |socket: Socket| {
        let s = s.clone();
        async move {
            let s1 = s.clone();
            socket.on_any_outgoing(
                move |socket: Socket,
                      Event(event): Event,
                      Data(n): Data<u32>,
                      limits: State<Limits>| {
                    let over = n > limits.max;
                    push(
                        &s1,
                        format!("{} sent {event} {n} over={over}", socket.nsp()),
                    );
                },
            );
            let s2 = s.clone();
            socket.on_any_outgoing(move |Event(event): Event, Bin(files): Bin| {
                push(&s2, format!("{event}: {} attachments", files.len()));
            });
            let s3 = s.clone();
            socket.on_any_outgoing(move |_: State<Unregistered>| push(&s3, "never"));
            socket.on("go", |socket: Socket| async move {
                socket.emit("n", 12).unwrap();
                socket.emit("s", "text").unwrap();
                socket.emit("none", ()).unwrap();
                socket.broadcast().emit("all", 3).unwrap();
                socket.io().emit("all", 4).unwrap();
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["go"]"#));
    assert_eq!(
        b.frames(ws),
        vec![
            r#"42["n",12]"#,
            r#"42["s","text"]"#,
            r#"42["none"]"#,
            r#"42["all",4]"#
        ]
    );
    // Typed: only `n` and the broadcast that reaches it (not `s`, wrong
    // shape; not `none`, missing; not the broadcast that excludes it).
    assert_eq!(
        taken(&seen),
        vec![
            "/ sent n 12 over=true",
            "n: 0 attachments",
            "s: 0 attachments",
            "none: 0 attachments",
            "/ sent all 4 over=false",
            "all: 0 attachments",
        ]
    );
}

#[test]
fn packet_middlewares_take_extractors() {
    let seen = log();
    let s = seen.clone();
    let io = SocketIo::builder().with_state(Limits { max: 10 }).build();
    let on_connection = move |socket: Socket| {
        let s = s.clone();
        async move {
            socket.extensions().insert(Role("guest"));
            let s1 = s.clone();
            // The short form and the extractor form run in registration
            // order.
            socket.use_middleware(move |event, _| {
                push(&s1, format!("short {event}"));
                Ok(())
            });
            match socket.nsp() {
                "/" => socket.use_middleware_with(
                    |Event(event): Event, Extension(role): Extension<Role>| {
                        if event.starts_with("admin:") && role.0 != "admin" {
                            return Err(format!("{event}: forbidden for {}", role.0));
                        }
                        Ok(())
                    },
                ),
                // The first argument must be a number under the limit.
                "/typed" => {
                    socket.use_middleware_with(|Data(n): Data<u32>, limits: State<Limits>| {
                        if n > limits.max {
                            Err("too big")
                        } else {
                            Ok(())
                        }
                    })
                }
                _ => socket.use_middleware_with(|_: State<Unregistered>| Ok::<(), String>(())),
            }
            socket.on_error(
                |socket: Socket, ErrorMessage(error): ErrorMessage| async move {
                    socket.emit("refused", error).unwrap();
                },
            );
            socket.on_any(|socket: Socket, Event(event): Event| {
                socket.emit("through", &*event).unwrap();
            });
        }
    };
    io.on_connection(on_connection.clone());
    io.of("/typed").on_connection(on_connection.clone());
    io.of("/unset").on_connection(on_connection);
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["chat","x"]"#));
    assert_eq!(b.frames(ws), vec![r#"42["through","chat"]"#]);
    b.client(|h| h.ws_send(ws, r#"42["admin:kick","bob"]"#));
    assert_eq!(
        b.frames(ws),
        vec![r#"42["refused","admin:kick: forbidden for guest"]"#]
    );
    assert_eq!(taken(&seen), vec!["short chat", "short admin:kick"]);
    let (ws, _) = connect(&b, "/typed", "");
    b.client(|h| h.ws_send(ws, r#"42/typed,["n",3]"#));
    assert_eq!(b.frames(ws), vec![r#"42/typed,["through","n"]"#]);
    b.client(|h| h.ws_send(ws, r#"42/typed,["n",11]"#));
    assert_eq!(b.frames(ws), vec![r#"42/typed,["refused","too big"]"#]);
    // Wrong shape: the extractor's error is the refusal.
    b.client(|h| h.ws_send(ws, r#"42/typed,["n","3"]"#));
    assert_eq!(
        b.frames(ws),
        vec![
            r#"42/typed,["refused","invalid arguments: invalid type: string \"3\", expected u32"]"#
        ]
    );
    // Missing argument.
    b.client(|h| h.ws_send(ws, r#"42/typed,["n"]"#));
    assert_eq!(
        b.frames(ws),
        vec![r#"42/typed,["refused","missing argument"]"#]
    );
    // Missing state.
    let (ws, _) = connect(&b, "/unset", "");
    b.client(|h| h.ws_send(ws, r#"42/unset,["n"]"#));
    let frames = b.frames(ws);
    assert_eq!(frames.len(), 1);
    assert!(
        frames[0].starts_with(r#"42/unset,["refused","no state of type "#),
        "{frames:?}"
    );
}

#[test]
fn error_handlers_take_extractors() {
    let seen = log();
    let s = seen.clone();
    let io = SocketIo::builder().with_state(Greeting("hi")).build();
    io.on_connection(move |socket: Socket| {
        let s = s.clone();
        async move {
            socket.extensions().insert(Role("guest"));
            socket.use_middleware(|event, _| Err(format!("{event} refused")));
            let s1 = s.clone();
            socket.on_error(
                move |socket: Socket,
                      ErrorMessage(error): ErrorMessage,
                      greeting: State<Greeting>,
                      Extension(role): Extension<Role>| {
                    let s1 = s1.clone();
                    async move {
                        push(
                            &s1,
                            format!("{} {error} {} {}", socket.nsp(), greeting.0.0, role.0),
                        );
                    }
                },
            );
            // Never run: no such extension; arguments an error has not.
            let s2 = s.clone();
            socket.on_error(move |_: Extension<Never>| {
                let s2 = s2.clone();
                async move { push(&s2, "never (extension)") }
            });
            let s3 = s.clone();
            socket.on_error(move |_: ErrorMessage, Data(_): Data<String>| {
                let s3 = s3.clone();
                async move { push(&s3, "never (data)") }
            });
            // ErrorMessage elsewhere: the handler does not run.
            let s4 = s.clone();
            socket.on("x", move |_: ErrorMessage| {
                let s4 = s4.clone();
                async move { push(&s4, "never (event)") }
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["x",1]"#));
    assert_eq!(taken(&seen), vec!["/ x refused hi guest"]);
    // A protocol violation reaches them too, before the close.
    b.client(|h| h.ws_send(ws, r#"4["#));
    assert_eq!(taken(&seen), vec!["/ unknown packet type hi guest"]);
}

#[test]
fn server_side_listeners_take_extractors() {
    struct NodeName(&'static str);
    let node = |uid: &'static str| {
        let io = SocketIo::builder().with_state(NodeName(uid)).build();
        let mut config = config();
        config.cluster = Some(socketio_proto::ClusterConfig::new(uid));
        let b = start_with(&io, config);
        (io, b)
    };
    let (a_io, a) = node("A");
    let (b_io, b) = node("B");
    let seen = log();
    let s = seen.clone();
    b_io.of("/").on_server_side(
        move |Event(event): Event, Data((table, id)): Data<(String, u64)>| {
            let s = s.clone();
            async move { push(&s, format!("typed {event} {table} {id}")) }
        },
    );
    let s = seen.clone();
    b_io.of("/").on_server_side(
        move |Event(event): Event, payload: Payload, ack: Option<ServerSideAck>| {
            let s = s.clone();
            async move {
                push(
                    &s,
                    format!("raw {event} {:?} ack={}", payload.args, ack.is_some()),
                );
            }
        },
    );
    // Answers only when asked (the others skip it).
    b_io.of("/").on_server_side(
        |ack: ServerSideAck, Data(question): Data<String>, name: State<NodeName>| async move {
            ack.send(format!("{question}? {}", name.0.0)).unwrap();
        },
    );
    // The server: tell this node's clients.
    b_io.of("/")
        .on_server_side(|io: SocketIo, Event(event): Event| async move {
            io.emit("relayed", &*event).unwrap();
        });
    let s = seen.clone();
    b_io.of("/").on_server_side(move |_: State<Unregistered>| {
        let s = s.clone();
        async move { push(&s, "never") }
    });
    let (ws, _) = connect(&b, "/", "");
    relay([&a, &b]);
    a_io.server_side_emit("invalidate", ("users", 42)).unwrap();
    relay([&a, &b]);
    assert_eq!(
        taken(&seen),
        vec![
            "typed invalidate users 42",
            r#"raw invalidate [String("users"), Number(42)] ack=false"#
        ]
    );
    assert_eq!(b.frames(ws), vec![r#"42["relayed","invalidate"]"#]);
    // Wrong shape for the typed one; missing argument.
    a_io.server_side_emit("invalidate", ("users", "x")).unwrap();
    a_io.server_side_emit("flush", ()).unwrap();
    relay([&a, &b]);
    assert_eq!(
        taken(&seen),
        vec![
            r#"raw invalidate [String("users"), String("x")] ack=false"#,
            "raw flush [] ack=false"
        ]
    );
    // Asked: the answering listener runs and its answer comes back.
    let answers = Arc::new(Mutex::new(None));
    let (io, out) = (a_io.clone(), answers.clone());
    a.spawn(Box::pin(async move {
        let got = io
            .server_side_emit_with_ack::<String>("who", ("anyone",), Duration::from_secs(5))
            .await;
        *out.lock().unwrap() = Some(got);
    }));
    a.settle();
    relay([&a, &b]);
    assert_eq!(
        *answers.lock().unwrap(),
        Some(Ok(vec!["anyone? B".to_owned()]))
    );
    assert_eq!(taken(&seen), vec![r#"raw who [String("anyone")] ack=true"#]);
}

#[test]
fn typed_socket_data_crosses_nodes() {
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Profile {
        nick: String,
        level: u8,
    }
    let node = |uid: &'static str| {
        let io = SocketIo::new();
        let mut config = config();
        config.cluster = Some(socketio_proto::ClusterConfig::new(uid));
        let b = start_with(&io, config);
        (io, b)
    };
    let (a_io, a) = node("A");
    let (b_io, b) = node("B");
    b_io.on_connection(|socket: Socket| async move {
        socket
            .set_data(Profile {
                nick: "bob".into(),
                level: 3,
            })
            .unwrap();
    });
    let _ = connect(&b, "/", "");
    // Each node announces itself with its first cluster message.
    a_io.server_side_emit("hello", ()).unwrap();
    b_io.server_side_emit("hello", ()).unwrap();
    relay([&a, &b]);
    let found = Arc::new(Mutex::new(Vec::new()));
    let (io, f) = (a_io.clone(), found.clone());
    a.spawn(Box::pin(async move {
        for socket in io.fetch_sockets().await.unwrap() {
            // Typed, and the untyped Value path.
            let typed = socket.data_as::<Profile>().unwrap();
            f.lock().unwrap().push((typed, socket.data.clone()));
        }
    }));
    a.settle();
    relay([&a, &b]);
    a.settle();
    assert_eq!(
        *found.lock().unwrap(),
        vec![(
            Profile {
                nick: "bob".into(),
                level: 3
            },
            json!({"nick": "bob", "level": 3})
        )]
    );
}

#[test]
fn hooks_see_binary_attachments_and_the_handshake() {
    let seen = log();
    let s = seen.clone();
    let io = SocketIo::new();
    io.on_connection(move |socket: Socket| {
        let s = s.clone();
        async move {
            let s1 = s.clone();
            socket.on_any(
                move |Event(event): Event, Bin(files): Bin, payload: Payload| {
                    let sizes: Vec<usize> = files.iter().map(|f| f.len()).collect();
                    let first = payload.args.first();
                    let resolved = first.and_then(|v| payload.binary_of(v)).map(|b| b.to_vec());
                    push(&s1, format!("any {event} {sizes:?} {resolved:?}"));
                },
            );
            let s2 = s.clone();
            socket.use_middleware_with(move |Bin(files): Bin| {
                push(&s2, format!("middleware {} files", files.len()));
                if files.len() > 1 {
                    Err("one file at a time")
                } else {
                    Ok(())
                }
            });
            // The handshake in an event handler; a disconnect reason is
            // not there (the handler does not run).
            socket.on(
                "whoami",
                |socket: Socket, handshake: Arc<socketio_async::Handshake>| async move {
                    socket
                        .emit("auth", Value::Object(handshake.auth.clone()))
                        .unwrap();
                },
            );
            let s3 = s.clone();
            socket.on("whoami", move |_: DisconnectReason| {
                let s3 = s3.clone();
                async move { push(&s3, "never (reason)") }
            });
            socket.on_error(|socket: Socket, ErrorMessage(e): ErrorMessage| async move {
                socket.emit("refused", e).unwrap();
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", r#"{"name":"ann"}"#);
    b.client(|h| {
        h.ws_send(ws, r#"451-["file",{"_placeholder":true,"num":0}]"#);
        h.ws_send_binary(ws, &[1, 2, 3]);
    });
    assert_eq!(
        taken(&seen),
        vec!["middleware 1 files", "any file [3] Some([1, 2, 3])"]
    );
    b.client(|h| {
        h.ws_send(
            ws,
            r#"452-["file",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        h.ws_send_binary(ws, &[1]);
        h.ws_send_binary(ws, &[2]);
    });
    assert_eq!(taken(&seen), vec!["middleware 2 files"]);
    assert_eq!(b.frames(ws), vec![r#"42["refused","one file at a time"]"#]);
    b.client(|h| h.ws_send(ws, r#"42["whoami"]"#));
    assert_eq!(b.frames(ws), vec![r#"42["auth",{"name":"ann"}]"#]);
    assert_eq!(
        taken(&seen),
        vec!["middleware 0 files", "any whoami [] None"]
    );
}
