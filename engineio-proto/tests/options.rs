//! CORS, the cookie, allowRequest, header hooks and the send queue limits.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{
    Config, CookieOptions, Cors, CorsOrigin, ErrorContext, Event, Message, Method, Request,
    SendError,
};
use std::time::Instant;

#[test]
fn cors_preflight_answers_204_with_the_cors_headers() {
    let mut h = Harness::new(
        Config {
            cors: Some(Cors {
                origin: CorsOrigin::List(vec!["https://app.example".into()]),
                credentials: true,
                max_age: Some(86400),
                ..Cors::default()
            }),
            ..fixture_config()
        },
        Instant::now(),
    );
    let mut r = Request::new(Method::Options, POLL);
    r.headers.insert("origin", "https://app.example");
    r.headers
        .insert("access-control-request-headers", "content-type");
    let id = h.request(r);
    let resp = h.response(id);
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    let got: Vec<_> = resp.headers.iter().collect();
    assert_eq!(
        got,
        vec![
            ("Access-Control-Allow-Origin", "https://app.example"),
            ("Vary", "Origin"),
            ("Access-Control-Allow-Credentials", "true"),
            (
                "Access-Control-Allow-Methods",
                "GET,HEAD,PUT,PATCH,POST,DELETE"
            ),
            ("Access-Control-Allow-Headers", "content-type"),
            ("Vary", "Access-Control-Request-Headers"),
            ("Access-Control-Max-Age", "86400"),
        ]
    );
    assert_eq!(h.server.clients_count(), 0);
    assert!(h.take_events().is_empty());
}

#[test]
fn cors_headers_ride_on_every_response_including_errors_and_polls() {
    let mut h = Harness::new(
        Config {
            cors: Some(Cors {
                origin: CorsOrigin::Reflect,
                ..Cors::default()
            }),
            ..fixture_config()
        },
        Instant::now(),
    );
    let mut r = Request::new(Method::Get, POLL);
    r.headers.insert("origin", "https://x.example");
    let id = h.request(r);
    let resp = h.response(id);
    assert_eq!(
        resp.headers.get("access-control-allow-origin"),
        Some("https://x.example")
    );
    let sid = Sid::new(&sid_of_open(&resp.body_text()));
    let mut r = Request::new(Method::Get, with_sid(POLL, &sid));
    r.headers.insert("origin", "https://x.example");
    let get = h.request(r);
    h.server.send(&sid, Message::text("m")).unwrap();
    h.drain();
    assert_eq!(
        h.response(get).headers.get("access-control-allow-origin"),
        Some("https://x.example")
    );
    let mut r = Request::new(Method::Get, "/engine.io/?EIO=4&transport=nope");
    r.headers.insert("origin", "https://x.example");
    let bad = h.request(r);
    let resp = h.response(bad);
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.headers.get("access-control-allow-origin"),
        Some("https://x.example")
    );
}

#[test]
fn cookie_is_set_on_the_handshake_only() {
    let mut h = Harness::new(
        Config {
            cookie: Some(CookieOptions::default()),
            ..fixture_config()
        },
        Instant::now(),
    );
    let id = h.get(POLL);
    let r = h.response(id);
    let sid = Sid::new(&sid_of_open(&r.body_text()));
    assert_eq!(
        r.headers.get("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    let get = h.get(&with_sid(POLL, &sid));
    h.server.send(&sid, Message::text("x")).unwrap();
    h.drain();
    assert_eq!(h.response(get).headers.get("set-cookie"), None);
    // Over WebSocket it is on the 101.
    let ws = h.ws_open(WS);
    let sid = Sid::new(&sid_of_open(&h.ws_take(ws)[0]));
    assert_eq!(
        h.accepted[&ws].get("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
}

#[test]
fn allow_request_rejection_is_403_code_4_with_the_message() {
    let mut h = Harness::new(
        Config {
            allow_request: true,
            ..fixture_config()
        },
        Instant::now(),
    );
    let id = h.get(POLL);
    assert!(!h.answered(id));
    let events = h.take_events();
    let [Event::AllowRequest { request, head }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(*request, id);
    assert_eq!(head.uri, POLL);
    h.server.allow_request(h.now, id, Err("no thanks".into()));
    h.drain();
    let r = h.response(id);
    assert_eq!(r.status, 403);
    assert_eq!(r.headers.get("content-type"), Some("application/json"));
    assert_eq!(r.body_text(), r#"{"code":4,"message":"no thanks"}"#);
    let events = h.take_events();
    let [Event::ConnectionError(e)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        e.context,
        ErrorContext::Forbidden {
            message: "no thanks".into()
        }
    );
    // An empty message gives the official one.
    let id = h.get(POLL);
    h.server.allow_request(h.now, id, Err(String::new()));
    h.drain();
    assert_eq!(
        h.response(id).body_text(),
        r#"{"code":4,"message":"Forbidden"}"#
    );
}

#[test]
fn allow_request_acceptance_goes_on_with_the_handshake_polling_and_websocket() {
    let mut h = Harness::new(
        Config {
            allow_request: true,
            ..fixture_config()
        },
        Instant::now(),
    );
    let id = h.get(POLL);
    h.server.allow_request(h.now, id, Ok(()));
    h.drain();
    let sid = Sid::new(&sid_of_open(&h.body(id)));
    assert!(h.server.contains(&sid));
    let ws = h.ws_open(WS);
    assert!(!h.accepted.contains_key(&ws));
    h.server.allow_request(h.now, ws, Ok(()));
    h.drain();
    assert!(h.accepted.contains_key(&ws));
    assert_eq!(h.ws_take(ws).len(), 1);
    // Requests with a sid are not asked about.
    h.take_events();
    let get = h.get(&with_sid(POLL, &sid));
    assert!(
        !h.take_events()
            .iter()
            .any(|e| matches!(e, Event::AllowRequest { .. }))
    );
    h.server.send(&sid, Message::text("ok")).unwrap();
    h.drain();
    assert_eq!(h.body(get), "4ok");
    // A verdict for a dropped request is ignored.
    let id = h.get(POLL);
    h.server.handle_request_closed(h.now, id);
    h.server.allow_request(h.now, id, Ok(()));
    h.drain();
    assert!(!h.answered(id));
}

#[test]
fn initial_headers_and_headers_hooks() {
    let mut h = Harness::new(
        Config {
            initial_headers: Some(Arc::new(|h, _| h.insert("x-initial", "1"))),
            headers: Some(Arc::new(|h, r| {
                h.insert(
                    "x-every",
                    r.headers.get("x-tag").unwrap_or("none").to_owned(),
                )
            })),
            ..fixture_config()
        },
        Instant::now(),
    );
    let id = h.get(POLL);
    let r = h.response(id);
    assert_eq!(r.headers.get("x-initial"), Some("1"));
    assert_eq!(r.headers.get("x-every"), Some("none"));
    let sid = Sid::new(&sid_of_open(&r.body_text()));
    let mut req = Request::new(Method::Get, with_sid(POLL, &sid));
    req.headers.insert("x-tag", "t");
    let get = h.request(req);
    h.server.send(&sid, Message::text("x")).unwrap();
    h.drain();
    let r = h.response(get);
    assert_eq!(r.headers.get("x-initial"), None);
    assert_eq!(r.headers.get("x-every"), Some("t"));
    let post = h.post(&with_sid(POLL, &sid), "4y");
    let r = h.response(post);
    assert_eq!(r.headers.get("x-every"), Some("none"));
    assert_eq!(r.headers.get("content-type"), Some("text/html"));
    let ws = h.ws_open(WS);
    assert_eq!(h.accepted[&ws].get("x-initial"), Some("1"));
}

#[test]
fn a_client_that_never_reads_is_closed_at_the_packet_limit_not_silently_dropped() {
    let mut h = Harness::new(
        Config {
            max_buffered_packets: 3,
            ..fixture_config()
        },
        Instant::now(),
    );
    let sid = h.open_polling();
    for i in 0..3 {
        h.server.send(&sid, Message::text(&i.to_string())).unwrap();
    }
    assert_eq!(
        h.server.send(&sid, Message::text("3")),
        Err(SendError::BufferFull)
    );
    h.drain();
    assert_eq!(h.closes(), vec![(sid.clone(), "send buffer full")]);
    assert_eq!(
        h.server.send(&sid, Message::text("4")),
        Err(SendError::UnknownSession)
    );
}

#[test]
fn a_slow_websocket_reader_is_closed_at_the_byte_limit() {
    let mut h = Harness::new(
        Config {
            max_buffered_bytes: 10,
            ..fixture_config()
        },
        Instant::now(),
    );
    h.auto_flush = false;
    let ws = h.ws_open(WS);
    let sid = Sid::new(&sid_of_open(&h.ws_take(ws)[0]));
    // "41234" and "4123": 9 bytes queued; "412" would make 12 > 10.
    h.server.send(&sid, Message::text("1234")).unwrap();
    h.server.send(&sid, Message::text("123")).unwrap();
    assert_eq!(h.server.buffered(&sid), Some((2, 9)));
    assert_eq!(
        h.server.send(&sid, Message::text("12")),
        Err(SendError::BufferFull)
    );
    h.drain();
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.closes(), vec![(sid, "send buffer full")]);
}

#[test]
fn send_to_an_unknown_session_is_an_error() {
    let mut h = Harness::fixture(Instant::now());
    assert_eq!(
        h.server.send(&Sid::new("nobody"), Message::text("x")),
        Err(SendError::UnknownSession)
    );
}

#[test]
fn one_message_value_serves_many_sessions_without_copying() {
    let mut h = Harness::fixture(Instant::now());
    let a = h.open_ws();
    let b = h.open_ws();
    let m = Message::text("shared");
    h.server.send(&a.1, m.clone()).unwrap();
    h.server.send(&b.1, m).unwrap();
    h.auto_flush = false;
    h.drain();
    let fa = h.ws_frames.remove(&a.0).unwrap();
    let fb = h.ws_frames.remove(&b.0).unwrap();
    match (&fa[0], &fb[0]) {
        (engineio_proto::Frame::Text(x), engineio_proto::Frame::Text(y)) => {
            assert_eq!(x, "4shared");
            assert_eq!(
                x.as_bytes().as_ptr(),
                y.as_bytes().as_ptr(),
                "same bytes, shared"
            );
        }
        other => panic!("{other:?}"),
    }
}
