//! Application code that panics, blocks its socket, or calls back into the
//! server, on the deterministic backend: every kind of callback and hook.
//! A panic ends that invocation only and is logged (tracing, error level,
//! with the socket id, namespace and event); the socket whose handler
//! panicked stays connected; every public method may be called from every
//! callback and hook.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use socketio_async::{AckSender, DisconnectReason, ErrorMessage, Event, Payload, Socket};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use common::*;
use engineio_proto::testing::sid_of_open;
use serde_json::{Value, json};
use socketio_async::{ConnectError, NamespaceMatcher, SocketIo};

const POLL: &str = "/socket.io/?EIO=4&transport=polling";

// ----- the error log, captured -----

/// The error-level events logged so far, one line each: the message, then
/// `field=value` pairs.
fn errors() -> &'static Mutex<Vec<String>> {
    static ERRORS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture).unwrap();
        Mutex::new(Vec::new())
    })
}

/// The logged line that contains every one of `parts`, if any.
fn logged(parts: &[&str]) -> Option<String> {
    errors()
        .lock()
        .unwrap()
        .iter()
        .find(|line| parts.iter().all(|p| line.contains(p)))
        .cloned()
}

struct Capture;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            errors().lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

// ----- helpers -----

/// A server, with the error log captured from the start.
fn server() -> SocketIo {
    errors();
    SocketIo::new()
}

/// Pending once, then ready: an `.await` that really suspends.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The socket id in a CONNECT reply (`40{"sid":...}`).
fn socket_id(connect: &str) -> String {
    let json: Value = serde_json::from_str(&connect[connect.find('{').unwrap()..]).unwrap();
    json["sid"].as_str().unwrap().to_owned()
}

/// A polling handshake: (status, body, response headers as text).
fn handshake(b: &TestBackend) -> (u16, String, engineio_proto::Headers) {
    let mut id = None;
    b.client(|h| id = Some(h.get(POLL)));
    b.settle();
    let r = b.h.lock().unwrap().response(id.unwrap());
    (r.status, r.body_text().into_owned(), r.headers)
}

const INTERNAL: &str = r#"{"code":3,"message":"Internal server error"}"#;

fn ack_echo(socket: &socketio_async::Socket) {
    socket.on(
        "message-with-ack",
        |payload: Payload, ack: Option<AckSender>| async move {
            ack.unwrap().send_payload(payload).unwrap();
        },
    );
}

// ----- panics -----

#[test]
fn a_panicking_event_handler_ends_that_invocation_and_its_socket_stays() {
    let io = server();
    io.on_connection(|socket: Socket| async move {
        socket.on("panic", |socket: Socket| async move {
            socket.emit("about-to-panic", ()).unwrap();
            panic!("sync boom");
        });
        socket.on("panic-async", |socket: Socket| async move {
            socket.emit("about-to-panic", ()).unwrap();
            YieldOnce(false).await;
            panic!("async boom");
        });
        ack_echo(&socket);
    });
    let b = start(&io);
    let (a, frames) = connect(&b, "/", "");
    let a_id = socket_id(&frames[0]);
    let (other, _) = connect(&b, "/", "");
    for (event, message) in [("panic", "sync boom"), ("panic-async", "async boom")] {
        b.client(|h| h.ws_send(a, &format!(r#"42["{event}"]"#)));
        assert_eq!(b.frames(a), vec![r#"42["about-to-panic"]"#]);
        let line = logged(&[message]).unwrap();
        assert_eq!(
            line,
            format!(
                " message=event handler panicked; the panic was contained socket={a_id} nsp=/ event={event} panic={message}"
            )
        );
        // The socket is still served, in order, and so is the other one.
        b.client(|h| h.ws_send(a, r#"421["message-with-ack","after"]"#));
        assert_eq!(b.frames(a), vec![r#"431["after"]"#]);
        b.client(|h| h.ws_send(other, r#"422["message-with-ack",2]"#));
        assert_eq!(b.frames(other), vec![r#"432[2]"#]);
    }
}

#[test]
fn a_panicking_connection_handler_leaves_the_socket_connected() {
    let io = server();
    io.on_connection(|socket: Socket| async move {
        ack_echo(&socket);
        panic!("connection handler boom");
    });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert!(frames[0].starts_with(r#"40{"sid":""#));
    let id = socket_id(&frames[0]);
    assert!(
        logged(&[
            "connection handler panicked",
            &id,
            "connection handler boom"
        ])
        .is_some()
    );
    b.client(|h| h.ws_send(ws, r#"421["message-with-ack","ok"]"#));
    assert_eq!(b.frames(ws), vec![r#"431["ok"]"#]);
}

#[test]
fn a_panicking_connection_middleware_gives_its_client_a_connect_error() {
    let io = server();
    io.of("/panic").use_middleware(|_| {
        if true {
            panic!("middleware boom");
        }
        async { Ok(()) }
    });
    io.of("/panic-async").use_middleware(|_| async {
        YieldOnce(false).await;
        if true {
            panic!("async middleware boom");
        }
        Ok::<(), ConnectError>(())
    });
    io.of("/")
        .on_connection(|socket: Socket| async move { ack_echo(&socket) });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert_eq!(frames.len(), 1);
    for nsp in ["/panic", "/panic-async"] {
        b.client(|h| h.ws_send(ws, &format!("40{nsp},")));
        assert_eq!(
            b.frames(ws),
            vec![format!(r#"44{nsp},{{"message":"Internal server error"}}"#)]
        );
        let line = logged(&["connection middleware panicked", &format!("nsp={nsp} ")]);
        assert!(line.is_some(), "{:?}", errors().lock().unwrap());
    }
    // The client's other socket goes on.
    b.client(|h| h.ws_send(ws, r#"421["message-with-ack",1]"#));
    assert_eq!(b.frames(ws), vec![r#"431[1]"#]);
}

#[test]
fn panicking_packet_middlewares_any_hooks_and_error_handlers_are_contained() {
    let io = server();
    io.on_connection(|socket: Socket| async move {
        socket.use_middleware(|event, _| match event {
            "bad" => panic!("packet middleware boom"),
            "refused" => Err("refused".into()),
            _ => Ok(()),
        });
        socket.on_error(|ErrorMessage(error): ErrorMessage| async move {
            panic!("error handler boom: {error}")
        });
        socket.on_any(|Event(event): Event| {
            if &*event == "message-with-ack" {
                panic!("on_any boom")
            }
        });
        socket.on_any_outgoing(|Event(event): Event| panic!("on_any_outgoing boom {event}"));
        socket.on("bad", |socket: Socket| async move {
            socket.emit("should-not-run", ()).unwrap();
        });
        ack_echo(&socket);
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    // The panicking middleware stops its event, nothing else.
    b.client(|h| h.ws_send(ws, r#"42["bad"]"#));
    assert_eq!(b.frames(ws), Vec::<String>::new());
    assert!(logged(&["packet middleware panicked", "event=bad"]).is_some());
    // A refusal reaches the error handler, which panics.
    b.client(|h| h.ws_send(ws, r#"42["refused"]"#));
    assert!(logged(&["error handler panicked", "error handler boom: refused"]).is_some());
    // The panicking on_any does not stop the handler.
    b.client(|h| h.ws_send(ws, r#"421["message-with-ack","through"]"#));
    assert_eq!(b.frames(ws), vec![r#"431["through"]"#]);
    assert!(logged(&["on_any handler panicked", "event=message-with-ack"]).is_some());
}

#[test]
fn a_panicking_on_any_outgoing_does_not_stop_the_emit() {
    let io = server();
    io.on_connection(|socket: Socket| async move {
        socket.on_any_outgoing(|Event(event): Event| panic!("outgoing boom {event}"));
        socket.emit("hello", ("world",)).unwrap();
    });
    let b = start(&io);
    let (_, frames) = connect(&b, "/", "");
    assert_eq!(frames[1], r#"42["hello","world"]"#);
    assert!(
        logged(&[
            "on_any_outgoing handler panicked",
            "event=hello",
            "outgoing boom hello"
        ])
        .is_some()
    );
}

#[test]
fn panicking_disconnect_handlers_are_contained() {
    let io = server();
    io.on_connection(|socket: Socket| async move {
        socket.on_disconnecting(|reason: DisconnectReason| async move {
            panic!("disconnecting boom {reason:?}")
        });
        socket.on_disconnect(|reason: DisconnectReason| async move {
            YieldOnce(false).await;
            panic!("disconnect boom {reason:?}")
        });
        ack_echo(&socket);
    });
    let b = start(&io);
    let (first, frames) = connect(&b, "/", "");
    let id = socket_id(&frames[0]);
    b.client(|h| h.ws_send(first, "41"));
    assert!(logged(&["disconnecting handler panicked", &id, "disconnecting boom"]).is_some());
    assert!(logged(&["disconnect handler panicked", &id, "disconnect boom"]).is_some());
    let (second, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(second, r#"421["message-with-ack",1]"#));
    assert_eq!(b.frames(second), vec![r#"431[1]"#]);
}

#[test]
fn a_panicking_namespace_predicate_refuses_that_connect_only() {
    let io = server();
    io.of_dynamic(NamespaceMatcher::Predicate(Arc::new(|name, _| {
        if name == "/boom" {
            panic!("predicate boom");
        }
        name.starts_with("/dyn-")
    })))
    .on_connection(|socket: Socket| async move { ack_echo(&socket) });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, "40/boom,"));
    assert_eq!(
        b.frames(ws),
        vec![r#"44/boom,{"message":"Invalid namespace"}"#]
    );
    assert!(
        logged(&[
            "namespace predicate panicked",
            "nsp=/boom",
            "predicate boom"
        ])
        .is_some()
    );
    b.client(|h| h.ws_send(ws, "40/dyn-1,"));
    assert!(b.frames(ws)[0].starts_with(r#"40/dyn-1,{"sid":""#));
}

#[test]
fn a_panicking_engine_hook_answers_its_request_with_500() {
    let io = server();
    let which = Arc::new(Mutex::new(""));
    let w = which.clone();
    io.engine().generate_id(move |_| {
        if *w.lock().unwrap() == "generate_id" {
            panic!("generate_id boom");
        }
        format!("id-{}", rand_suffix())
    });
    let w = which.clone();
    io.engine().on_initial_headers(move |_, _| {
        if *w.lock().unwrap() == "initial_headers" {
            panic!("initial_headers boom");
        }
    });
    let w = which.clone();
    io.engine().on_headers(move |_, _| {
        if *w.lock().unwrap() == "headers" {
            panic!("headers boom");
        }
    });
    let w = which.clone();
    io.allow_request(move |_| {
        let w = w.clone();
        async move {
            YieldOnce(false).await;
            if *w.lock().unwrap() == "allow_request" {
                panic!("allow_request boom");
            }
            Ok(())
        }
    });
    let b = start(&io);
    for hook in ["generate_id", "initial_headers", "headers", "allow_request"] {
        *which.lock().unwrap() = hook;
        let (status, body, headers) = handshake(&b);
        assert_eq!((status, body.as_str()), (500, INTERNAL), "{hook}");
        assert_eq!(headers.get("content-type"), Some("application/json"));
        let kind = match hook {
            "generate_id" | "allow_request" => hook.to_owned(),
            _ => format!("{hook} hook"),
        };
        assert!(logged(&[&format!("{kind} panicked"), &format!("{hook} boom")]).is_some());
        assert_eq!(io.engine().clients_count(), 0);
    }
    *which.lock().unwrap() = "";
    let (status, body, _) = handshake(&b);
    assert_eq!(status, 200);
    assert!(sid_of_open(&body).starts_with("id-"));
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn panicking_conn_handlers_are_contained() {
    let io = server();
    io.engine()
        .on_connection_error(|_| panic!("connection_error boom"));
    io.on_connection(|socket: Socket| async move {
        socket.conn().on_packet(|_| panic!("packet boom"));
        ack_echo(&socket);
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"421["message-with-ack",1]"#));
    assert_eq!(b.frames(ws), vec![r#"431[1]"#]);
    assert!(logged(&["conn packet handler panicked", "packet boom"]).is_some());
    let mut id = None;
    b.client(|h| id = Some(h.get("/socket.io/?EIO=4&transport=nope")));
    assert_eq!(b.h.lock().unwrap().response(id.unwrap()).status, 400);
    assert!(logged(&["connection_error handler panicked", "connection_error boom"]).is_some());
    b.client(|h| h.ws_send(ws, r#"422["message-with-ack",2]"#));
    assert_eq!(b.frames(ws), vec![r#"432[2]"#]);
}

// ----- order -----

#[test]
fn a_thousand_events_reach_their_handler_in_arrival_order() {
    let io = server();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    io.on_connection(move |socket: Socket| {
        let s = s.clone();
        async move {
            socket.on("n", move |payload: Payload| {
                let s = s.clone();
                async move {
                    // Half the handlers suspend before they record: order
                    // is that of arrival at the handler, not of completion.
                    let n: u32 = payload.arg(0).unwrap();
                    s.lock().unwrap().push(n);
                    if n % 2 == 0 {
                        YieldOnce(false).await;
                    }
                }
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| {
        for n in 0..1000 {
            h.ws_send(ws, &format!(r#"42["n",{n}]"#));
        }
    });
    assert_eq!(*seen.lock().unwrap(), (0..1000).collect::<Vec<u32>>());
}

// ----- calls back into the server -----

#[test]
fn engine_hooks_read_the_clients_count_and_act_on_the_server() {
    let io = server();
    let engine = io.engine();
    let e = engine.clone();
    engine.generate_id(move |_| format!("s{}", e.clients_count()));
    let e = engine.clone();
    let i = io.clone();
    engine.on_headers(move |headers, _| {
        headers.insert("x-clients-count", e.clients_count().to_string());
        // Acting on the server from inside the core: done right after.
        i.emit("handshake-seen", (e.clients_count(),)).unwrap();
    });
    let i = io.clone();
    engine.on_initial_headers(move |headers, _| {
        headers.insert("x-sockets", format!("{}", i.clients_count()));
        i.of("/late");
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    let (status, body, headers) = handshake(&b);
    assert_eq!(status, 200);
    assert_eq!(sid_of_open(&body), "s1");
    assert_eq!(headers.get("x-clients-count"), Some("1"));
    assert_eq!(headers.get("x-sockets"), Some("1"));
    let (_, body, headers) = handshake(&b);
    assert_eq!(sid_of_open(&body), "s2");
    assert_eq!(headers.get("x-clients-count"), Some("2"));
    assert_eq!(
        b.frames(ws),
        vec![r#"42["handshake-seen",1]"#, r#"42["handshake-seen",2]"#]
    );
    // The namespace registered from the hook exists.
    b.client(|h| h.ws_send(ws, "40/late,"));
    assert!(b.frames(ws)[0].starts_with(r#"40/late,{"sid":""#));
}

#[test]
fn middlewares_and_allow_request_fetch_sockets_and_count_clients() {
    let io = server();
    let i = io.clone();
    io.allow_request(move |_| {
        let i = i.clone();
        async move {
            let sockets = i.fetch_sockets().await.unwrap();
            if i.clients_count() > 1 || sockets.len() > 1 {
                return Err("full".into());
            }
            Ok(())
        }
    });
    let i = io.clone();
    io.use_middleware(move |connecting| {
        let i = i.clone();
        async move {
            let others = i.fetch_sockets().await.unwrap();
            i.emit("newcomer", (connecting.id.as_str(), others.len()))
                .unwrap();
            Ok(())
        }
    });
    let b = start(&io);
    // The handshakes wait for the decision: opened, then decided.
    let open = |b: &TestBackend| {
        let mut ws = None;
        b.client(|h| ws = Some(h.ws_open("/socket.io/?EIO=4&transport=websocket")));
        let ws = ws.unwrap();
        assert!(b.frames(ws)[0].starts_with(r#"0{"sid":""#));
        b.client(|h| h.ws_send(ws, "40"));
        (ws, b.frames(ws))
    };
    let (first, frames) = open(&b);
    assert!(frames[0].starts_with(r#"40{"sid":""#));
    let (_, frames) = open(&b);
    let second = socket_id(&frames[0]);
    assert_eq!(
        b.frames(first),
        vec![format!(r#"42["newcomer","{second}",1]"#)]
    );
    // Two sessions open: the next handshake is refused by the decision.
    let (status, body, _) = handshake(&b);
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"code":4,"message":"full"}"#)
    );
}

#[test]
fn handlers_call_every_kind_of_method() {
    let io = server();
    let i = io.clone();
    io.of_dynamic(NamespaceMatcher::Predicate(Arc::new(move |name, _| {
        // From inside the core: counted without its lock, emitted after.
        let _ = i.emit("predicate", (name, i.clients_count()));
        name == "/dyn"
    })));
    let i = io.clone();
    io.on_connection(move |socket: Socket| {
        let i = i.clone();
        async move {
            socket.join("room");
            socket.on_any(move |s: Socket, Event(event): Event| {
                let rooms: Vec<String> = s
                    .rooms()
                    .iter()
                    .filter(|r| **r != *s.id().as_str())
                    .map(|r| r.to_string())
                    .collect();
                s.emit("any", (&*event, rooms)).unwrap();
            });
            socket.on_any_outgoing(move |s: Socket| {
                let _ = s.data_value();
            });
            socket.conn().on_packet({
                let s = socket.clone();
                move |_| drop(s.set_data(json!({"packets": true})))
            });
            let i2 = i.clone();
            socket.on_disconnect(move |socket: Socket| {
                let i = i2.clone();
                async move {
                    let left = i.fetch_sockets().await.unwrap();
                    assert!(left.iter().all(|s| s.id != *socket.id()));
                    i.emit("left", (left.len(),)).unwrap();
                }
            });
            socket.on("register", move |ack: Option<AckSender>| {
                let i = i.clone();
                async move {
                    i.engine()
                        .on_headers(|h, _| h.insert("x-registered", "yes"));
                    i.of("/registered").on_connection(|s: Socket| async move {
                        s.emit("in", ()).unwrap();
                    });
                    ack.unwrap().send((i.clients_count(),)).unwrap();
                }
            });
            socket.on(
                "data",
                move |socket: Socket, ack: Option<AckSender>| async move {
                    ack.unwrap().send(socket.data_value()).unwrap();
                },
            );
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"421["register"]"#));
    assert_eq!(
        b.frames(ws),
        vec![
            r#"42["any","register",["room"]]"#.to_owned(),
            r#"431[1]"#.to_owned(),
        ]
    );
    // The conn's packet handler ran (on the server task) and set the data.
    b.client(|h| h.ws_send(ws, r#"422["data"]"#));
    assert_eq!(
        b.frames(ws),
        vec![r#"42["any","data",["room"]]"#, r#"432[{"packets":true}]"#]
    );
    let (_, _, headers) = handshake(&b);
    assert_eq!(headers.get("x-registered"), Some("yes"));
    b.client(|h| h.ws_send(ws, "40/registered,"));
    let frames = b.frames(ws);
    assert!(frames[0].starts_with(r#"40/registered,{"sid":""#));
    assert_eq!(frames[1], r#"42/registered,["in"]"#);
    b.client(|h| h.ws_send(ws, "40/dyn,"));
    let frames = b.frames(ws);
    assert_eq!(frames[0], r#"42["predicate","/dyn",2]"#);
    assert!(frames[1].starts_with(r#"40/dyn,{"sid":""#));
    let (other, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(other, "41"));
    assert_eq!(b.frames(ws), vec![r#"42["left",1]"#]);
}

// ----- serverSideEmit listeners -----

#[test]
fn a_panicking_server_side_emit_listener_is_contained() {
    let node = |uid: &str| {
        let io = server();
        let mut config = config();
        config.cluster = Some(socketio_proto::ClusterConfig::new(uid));
        let b = start_with(&io, config);
        (io, b)
    };
    let (a_io, a) = node("A");
    let (b_io, b) = node("B");
    let heard = Arc::new(Mutex::new(Vec::new()));
    b_io.of("/").on_server_side(|payload: Payload| async move {
        panic!("listener boom {:?}", payload.args);
    });
    let h = heard.clone();
    b_io.of("/")
        .on_server_side(move |Event(event): Event, payload: Payload| {
            let h = h.clone();
            async move {
                let mut args = vec![json!(&*event)];
                args.extend(payload.args);
                h.lock().unwrap().push(args)
            }
        });
    relay([&a, &b]);
    a_io.server_side_emit("ping", (1,)).unwrap();
    relay([&a, &b]);
    a_io.server_side_emit("ping", (2,)).unwrap();
    relay([&a, &b]);
    assert_eq!(
        *heard.lock().unwrap(),
        vec![vec![json!("ping"), json!(1)], vec![json!("ping"), json!(2)]]
    );
    assert!(logged(&["server_side_emit listener panicked", "listener boom"]).is_some());
}
