//! The engine under the async API (`io.engine`, `allowRequest`, `socket.conn`)
//! and the operations on fetched sockets, on the deterministic backend.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use socketio_async::{DisconnectReason, ErrorMessage, Socket};
use std::sync::{Arc, Mutex};

use common::*;
use engineio_proto::testing::sid_of_open;
use engineio_proto::{Method, Request};
use futures_channel::oneshot;
use serde_json::json;
use socketio_async::{Backend, ErrorCode, Payload, RemoteSocket, SocketIo};

const POLL: &str = "/socket.io/?EIO=4&transport=polling";
const WS: &str = "/socket.io/?EIO=4&transport=websocket";

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Sends a request and returns (status, content type, body).
fn request(b: &TestBackend, request: Request) -> (u16, Option<String>, String) {
    let mut id = None;
    b.client(|h| id = Some(h.request(request)));
    let r = b.h.lock().unwrap().response(id.unwrap());
    let ct = r.headers.get("content-type").map(str::to_owned);
    (r.status, ct, r.body_text().into_owned())
}

#[test]
fn allow_request_refuses_with_the_official_answer_and_message() {
    let io = SocketIo::new();
    io.allow_request(|request| async move {
        match request.headers.get("x-token") {
            Some("ok") => Ok(()),
            Some("silent") => Err(String::new()),
            _ => Err("denied by test".to_owned()),
        }
    });
    let errors = log();
    let e = errors.clone();
    io.engine().on_connection_error(move |error| {
        e.lock().unwrap().push(format!(
            "{} {} {:?}",
            error.code as u8, error.message, error.context
        ));
    });
    let b = start(&io);
    // Polling: 403 with the JSON body, the message being the decision's.
    let (status, ct, body) = request(&b, Request::new(Method::Get, POLL));
    assert_eq!(status, 403);
    assert_eq!(ct.as_deref(), Some("application/json"));
    assert_eq!(body, r#"{"code":4,"message":"denied by test"}"#);
    // An empty message reads "Forbidden".
    let mut r = Request::new(Method::Get, POLL);
    r.headers.insert("x-token", "silent");
    let (status, _, body) = request(&b, r);
    assert_eq!(status, 403);
    assert_eq!(body, r#"{"code":4,"message":"Forbidden"}"#);
    // WebSocket: refused before the upgrade, 400 with the message.
    let mut r = Request::new(Method::Get, WS);
    r.websocket = true;
    let (status, ct, body) = request(&b, r);
    assert_eq!(status, 400);
    assert_eq!(ct.as_deref(), Some("text/html"));
    assert_eq!(body, "denied by test");
    // Allowed: the handshake goes on.
    let mut r = Request::new(Method::Get, POLL);
    r.headers.insert("x-token", "ok");
    let (status, _, body) = request(&b, r);
    assert_eq!(status, 200);
    assert!(body.starts_with(r#"0{"sid":""#), "{body}");
    assert_eq!(io.engine().clients_count(), 1);
    // connection_error carries the official message, the app's in context.
    assert_eq!(
        take(&errors),
        vec![
            r#"4 Forbidden Forbidden { message: "denied by test" }"#,
            r#"4 Forbidden Forbidden { message: "" }"#,
            r#"4 Forbidden Forbidden { message: "denied by test" }"#,
        ]
    );
}

#[test]
fn allow_request_may_take_its_time() {
    let io = SocketIo::new();
    type Verdict = oneshot::Sender<Result<(), String>>;
    let pending: Arc<Mutex<Vec<Verdict>>> = Arc::default();
    let p = pending.clone();
    io.allow_request(move |_| {
        let (tx, rx) = oneshot::channel();
        p.lock().unwrap().push(tx);
        async move { rx.await.unwrap_or(Err("gone".into())) }
    });
    let b = start(&io);
    let mut first = None;
    let mut second = None;
    b.client(|h| first = Some(h.get(POLL)));
    b.client(|h| second = Some(h.get(POLL)));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(!b.h.lock().unwrap().answered(first));
    // Decisions come back in any order.
    let (tx1, tx2) = {
        let mut p = pending.lock().unwrap();
        (p.remove(0), p.remove(0))
    };
    tx2.send(Err("later".into())).unwrap();
    b.settle();
    assert!(!b.h.lock().unwrap().answered(first));
    let r = b.h.lock().unwrap().response(second);
    assert_eq!(r.status, 403);
    assert_eq!(r.body_text(), r#"{"code":4,"message":"later"}"#);
    tx1.send(Ok(())).unwrap();
    b.settle();
    let r = b.h.lock().unwrap().response(first);
    assert_eq!(r.status, 200);
}

#[test]
fn allow_request_registered_while_running_applies_to_later_handshakes() {
    let io = SocketIo::new();
    let b = start(&io);
    let (status, _, _) = request(&b, Request::new(Method::Get, POLL));
    assert_eq!(status, 200);
    io.allow_request(|_| async { Err("closed for today".into()) });
    let (status, _, body) = request(&b, Request::new(Method::Get, POLL));
    assert_eq!(status, 403);
    assert_eq!(body, r#"{"code":4,"message":"closed for today"}"#);
}

#[test]
fn connection_error_reports_codes_0_to_5_with_context() {
    let io = SocketIo::new();
    let errors = log();
    let e = errors.clone();
    io.engine().on_connection_error(move |error| {
        e.lock().unwrap().push(format!(
            "{} {} {} {:?}",
            error.request.uri, error.code as u8, error.message, error.context
        ));
    });
    io.allow_request(|r| async move {
        if r.uri.contains("deny") {
            Err("nope".into())
        } else {
            Ok(())
        }
    });
    let b = start(&io);
    let cases = [
        (
            Method::Get,
            "/socket.io/?EIO=4&transport=carrier-pigeon",
            400,
        ),
        (
            Method::Get,
            "/socket.io/?EIO=4&transport=polling&sid=unknown",
            400,
        ),
        (Method::Post, POLL, 400),
        (Method::Get, "/socket.io/?EIO=4&transport=websocket", 400),
        (Method::Get, "/socket.io/?EIO=4&transport=polling&deny", 403),
        (Method::Get, "/socket.io/?EIO=5&transport=polling", 400),
    ];
    let codes = [
        ErrorCode::UnknownTransport,
        ErrorCode::UnknownSid,
        ErrorCode::BadHandshakeMethod,
        ErrorCode::BadRequest,
        ErrorCode::Forbidden,
        ErrorCode::UnsupportedProtocolVersion,
    ];
    for ((method, uri, status), code) in cases.into_iter().zip(codes) {
        let (got, _, body) = request(&b, Request::new(method, uri));
        assert_eq!(got, status, "{uri}");
        let message = if code == ErrorCode::Forbidden {
            "nope"
        } else {
            code.message()
        };
        assert_eq!(
            body,
            format!(r#"{{"code":{},"message":"{message}"}}"#, code as u8)
        );
    }
    assert_eq!(
        take(&errors),
        vec![
            r#"/socket.io/?EIO=4&transport=carrier-pigeon 0 Transport unknown UnknownTransport { transport: Some("carrier-pigeon") }"#,
            r#"/socket.io/?EIO=4&transport=polling&sid=unknown 1 Session ID unknown UnknownSid { sid: "unknown" }"#,
            r#"/socket.io/?EIO=4&transport=polling 2 Bad handshake method BadHandshakeMethod { method: "POST" }"#,
            r#"/socket.io/?EIO=4&transport=websocket 3 Bad request TransportHandshakeError"#,
            r#"/socket.io/?EIO=4&transport=polling&deny 4 Forbidden Forbidden { message: "nope" }"#,
            r#"/socket.io/?EIO=5&transport=polling 5 Unsupported protocol version UnsupportedProtocolVersion { protocol: Some("5") }"#,
        ]
    );
}

#[test]
fn header_hooks_and_generated_ids_apply_before_and_while_running() {
    let io = SocketIo::new();
    io.engine()
        .on_initial_headers(|h, _| h.insert("x-initial", "before"));
    let mut config = config();
    config.engine.headers = Some(Arc::new(|h, _| h.insert("x-config", "1")));
    let b = start_with(&io, config);
    let counter = Arc::new(Mutex::new(0));
    let c = counter.clone();
    io.engine().generate_id(move |r| {
        let mut n = c.lock().unwrap();
        *n += 1;
        match r.headers.get("x-id") {
            Some(id) => id.to_owned(),
            None => format!("custom-{n}"),
        }
    });
    io.engine().on_headers(|h, r| {
        let tag = r.headers.get("x-tag").unwrap_or("none").to_owned();
        h.insert("x-every", tag);
    });
    let mut id = None;
    b.client(|h| id = Some(h.get(POLL)));
    let r = b.h.lock().unwrap().response(id.unwrap());
    assert_eq!(r.headers.get("x-initial"), Some("before"));
    assert_eq!(
        r.headers.get("x-config"),
        Some("1"),
        "the config's hook stays"
    );
    assert_eq!(r.headers.get("x-every"), Some("none"));
    let sid = sid_of_open(&r.body_text());
    assert_eq!(sid, "custom-1");
    // A later poll: `headers` runs, `initial_headers` does not.
    let mut req = Request::new(Method::Post, format!("{POLL}&sid={sid}"));
    req.headers.insert("x-tag", "post");
    let mut id = None;
    b.client(|h| id = Some(h.post_with(req, "40")));
    let r = b.h.lock().unwrap().response(id.unwrap());
    assert_eq!(r.headers.get("x-every"), Some("post"));
    assert_eq!(r.headers.get("x-initial"), None);
    // An id that needs escaping refuses the handshake with code 3.
    let mut req = Request::new(Method::Get, POLL);
    req.headers.insert("x-id", "a b");
    let (status, _, body) = request(&b, req);
    assert_eq!(status, 400);
    assert_eq!(body, r#"{"code":3,"message":"Bad request"}"#);
    // So does one already in use.
    let mut req = Request::new(Method::Get, POLL);
    req.headers.insert("x-id", "custom-1");
    let (status, _, _) = request(&b, req);
    assert_eq!(status, 400);
    assert_eq!(io.engine().clients_count(), 1);
}

#[test]
fn conn_events_report_packets_drains_and_the_close_reason() {
    let io = SocketIo::new();
    let events = log();
    let e = events.clone();
    io.on_connection(move |socket: Socket| {
        let e = e.clone();
        async move {
            let conn = socket.conn();
            let (e1, e2, e3, e4) = (e.clone(), e.clone(), e.clone(), e.clone());
            conn.on_packet(move |p| e1.lock().unwrap().push(format!("packet {p:?}")));
            conn.on_packet_create(move |p| e2.lock().unwrap().push(format!("create {p:?}")));
            conn.on_drain(move || e3.lock().unwrap().push("drain".into()));
            conn.on_close(move |reason, _| e4.lock().unwrap().push(format!("close {reason}")));
            socket.on_disconnect(move |reason: DisconnectReason| {
                let e = e.clone();
                async move { e.lock().unwrap().push(format!("disconnect {reason}")) }
            });
            socket.on("hi", |socket: Socket| async move {
                socket.emit("yo", ()).unwrap();
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["hi"]"#));
    assert_eq!(b.frames(ws), vec![r#"42["yo"]"#]);
    // The ping goes out at the interval (600 s here); the pong comes back.
    b.client(|h| h.advance(600_000));
    b.client(|h| h.ws_send(ws, "3"));
    b.client(|h| h.ws_send(ws, "1"));
    assert_eq!(
        take(&events),
        vec![
            r#"packet Message(Text("2[\"hi\"]"))"#,
            r#"create Message(Text("2[\"yo\"]"))"#,
            "drain",
            r#"create Ping("")"#,
            "drain",
            r#"packet Pong("")"#,
            "disconnect transport close",
            "close transport close",
        ]
    );
}

#[test]
fn conn_reports_the_upgrade_and_its_transport() {
    let io = SocketIo::new();
    let events = log();
    let e = events.clone();
    let conns = Arc::new(Mutex::new(Vec::new()));
    let c = conns.clone();
    io.on_connection(move |socket: Socket| {
        let (e1, e2) = (e.clone(), e.clone());
        let conn = socket.conn();
        conn.on_upgrading(move |t| e1.lock().unwrap().push(format!("upgrading {}", t.name())));
        conn.on_upgrade(move |t| e2.lock().unwrap().push(format!("upgrade {}", t.name())));
        c.lock().unwrap().push(conn);
        async {}
    });
    let b = start(&io);
    let mut id = None;
    b.client(|h| id = Some(h.get(POLL)));
    let body = b.h.lock().unwrap().body(id.unwrap());
    let sid = sid_of_open(&body);
    b.client(|h| {
        h.post(&format!("{POLL}&sid={sid}"), "40");
    });
    let conn = conns.lock().unwrap()[0].clone();
    assert_eq!(conn.id().as_str(), sid);
    assert_eq!(conn.transport().map(|t| t.name()), Some("polling"));
    let mut ws = None;
    b.client(|h| ws = Some(h.ws_open(&format!("{WS}&sid={sid}"))));
    let ws = ws.unwrap();
    b.client(|h| h.ws_send(ws, "2probe"));
    assert_eq!(b.frames(ws), vec!["3probe"]);
    b.client(|h| h.ws_send(ws, "5"));
    assert_eq!(
        take(&events),
        vec!["upgrading websocket", "upgrade websocket"]
    );
    assert_eq!(conn.transport().map(|t| t.name()), Some("websocket"));
    b.client(|h| h.ws_send(ws, "1"));
    assert_eq!(conn.transport(), None);
}

#[test]
fn conn_handlers_registered_after_the_close_are_not_kept() {
    let io = SocketIo::new();
    let events = log();
    let e = events.clone();
    io.on_connection(move |socket: Socket| {
        let e = e.clone();
        socket.on_disconnect(move |socket: Socket| {
            let e = e.clone();
            async move {
                // The session is gone: nothing to watch, nothing runs.
                socket
                    .conn()
                    .on_close(move |r, _| e.lock().unwrap().push(format!("late {r}")));
            }
        });
        async {}
    });
    // Every session gets the same id, so a handler kept by mistake for
    // the first would run when the second closes.
    io.engine().generate_id(|_| "same".to_owned());
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, "1"));
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, "1"));
    assert_eq!(take(&events), Vec::<String>::new());
}

#[test]
fn packet_middleware_errors_reach_the_error_handler() {
    let io = SocketIo::new();
    let events = log();
    let e = events.clone();
    io.on_connection(move |socket: Socket| {
        let (e1, e2) = (e.clone(), e.clone());
        socket.use_middleware(|event, payload| {
            if event == "forbidden" {
                Err(format!("{event} refused ({} args)", payload.args.len()))
            } else {
                Ok(())
            }
        });
        socket.on("forbidden", move || {
            let e = e1.clone();
            async move { e.lock().unwrap().push("handler ran".into()) }
        });
        socket.on("fine", move |p: Payload| {
            let e = e2.clone();
            async move { e.lock().unwrap().push(format!("fine {:?}", p.args)) }
        });
        let e = e.clone();
        socket.on_error(move |ErrorMessage(error): ErrorMessage| {
            let e = e.clone();
            async move { e.lock().unwrap().push(format!("error {error}")) }
        });
        async {}
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    b.client(|h| h.ws_send(ws, r#"42["forbidden",1,2]"#));
    b.client(|h| h.ws_send(ws, r#"42["fine",3]"#));
    assert_eq!(
        take(&events),
        vec!["error forbidden refused (2 args)", "fine [Number(3)]"]
    );
    assert!(b.frames(ws).is_empty(), "the socket stays connected");
}

#[test]
fn fetched_sockets_emit_join_leave_and_disconnect() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket
            .set_data(json!({"name": socket.handshake().auth["name"]}))
            .unwrap();
    });
    let b = start(&io);
    let (w1, f1) = connect(&b, "/", r#"{"name":"ann"}"#);
    let (w2, _) = connect(&b, "/", r#"{"name":"bob"}"#);
    let fetched: Arc<Mutex<Vec<RemoteSocket>>> = Arc::default();
    let f = fetched.clone();
    let io2 = io.clone();
    b.spawn(Box::pin(async move {
        *f.lock().unwrap() = io2.fetch_sockets().await.unwrap();
    }));
    b.settle();
    let ann = fetched
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.data == json!({"name": "ann"}))
        .cloned()
        .unwrap();
    assert_eq!(ann.id.as_str(), sid_of(&f1[0]));
    assert_eq!(ann.handshake.auth["name"], json!("ann"));
    let rooms: Vec<String> = ann.rooms.iter().map(|r| r.to_string()).collect();
    assert_eq!(rooms, vec![ann.id.to_string()]);
    ann.emit("hello", ("ann",)).unwrap();
    ann.emit_payload("bin", Payload::default().attach(vec![7u8]))
        .unwrap();
    ann.join(["red", "blue"]).unwrap();
    ann.leave(["blue"]).unwrap();
    b.settle();
    assert_eq!(
        b.frames(w1),
        vec![
            r#"42["hello","ann"]"#.to_string(),
            r#"451-["bin",{"_placeholder":true,"num":0}]"#.into(),
            "<07>".into()
        ]
    );
    assert!(b.frames(w2).is_empty());
    assert_eq!(io.in_("red").emit("red", ()).unwrap(), 1);
    assert_eq!(io.in_("blue").emit("blue", ()).unwrap(), 0);
    assert_eq!(b.frames(w1), vec![r#"42["red"]"#]);
    ann.disconnect(false).unwrap();
    b.settle();
    assert_eq!(b.frames(w1), vec!["41"]);
    // Gone: operations on the stale handle reach nobody.
    ann.emit("late", ()).unwrap();
    b.settle();
    assert!(b.frames(w1).is_empty());
    assert!(b.frames(w2).is_empty());
}

#[test]
fn engine_connection_runs_at_the_handshake_before_any_namespace() {
    let io = SocketIo::new();
    let events = log();
    let e = events.clone();
    io.engine().on_connection(move |conn| {
        let transport = conn.transport().map(|t| t.name());
        e.lock().unwrap().push(format!("open {transport:?}"));
        let (e1, e2) = (e.clone(), e.clone());
        conn.on_packet(move |p| e1.lock().unwrap().push(format!("packet {p:?}")));
        conn.on_close(move |reason, _| e2.lock().unwrap().push(format!("close {reason}")));
    });
    let joined = log();
    let j = joined.clone();
    io.on_connection(move |socket: Socket| {
        j.lock().unwrap().push(format!("socket {}", socket.nsp()));
        async {}
    });
    let b = start(&io);
    // A polling handshake: the handler runs though no socket joined.
    let mut id = None;
    b.client(|h| id = Some(h.get(POLL)));
    let body = b.h.lock().unwrap().body(id.unwrap());
    let sid = sid_of_open(&body);
    assert_eq!(take(&events), vec![r#"open Some("polling")"#]);
    assert_eq!(take(&joined), Vec::<String>::new());
    // Its packets are seen from then on; then the socket joins.
    b.client(|h| {
        h.post(&format!("{POLL}&sid={sid}"), "40");
    });
    assert_eq!(take(&events), vec![r#"packet Message(Text("0"))"#]);
    assert_eq!(take(&joined), vec!["socket /"]);
    // A WebSocket handshake too; then both close.
    let mut ws = None;
    b.client(|h| ws = Some(h.ws_open(WS)));
    assert_eq!(take(&events), vec![r#"open Some("websocket")"#]);
    b.client(|h| h.ws_send(ws.unwrap(), "1"));
    assert_eq!(take(&events), vec!["close transport close"]);
}
