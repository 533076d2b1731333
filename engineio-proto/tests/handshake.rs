//! Handshake bytes and every error code, with exact status, headers, body.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{Config, ErrorCode, ErrorContext, Event, Method, Request, TransportKind};
use std::time::Instant;

fn open_json(sid: &Sid, upgrades: &str) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
    )
}

#[test]
fn polling_handshake_bytes_and_headers() {
    let mut h = Harness::fixture(Instant::now());
    let id = h.get(POLL);
    let r = h.response(id);
    assert_eq!(r.status, 200);
    let body = r.body_text().into_owned();
    let sid = Sid::new(&sid_of_open(&body));
    assert_eq!(body, open_json(&sid, r#"["websocket"]"#));
    assert_eq!(sid.as_str().len(), 20);
    assert!(
        sid.as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(
        r.headers.get("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(r.headers.get("cache-control"), Some("no-store"));
    assert_eq!(r.headers.get("access-control-allow-origin"), Some("*"));
    match &h.take_events()[..] {
        [Event::Open { sid: s, handshake }] => {
            assert_eq!(s, &sid);
            assert_eq!(handshake.transport, TransportKind::Polling);
            assert_eq!(handshake.query()[0], ("EIO".into(), "4".into()));
            assert_eq!(handshake.time, h.now);
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(h.server.clients_count(), 1);
}

#[test]
fn websocket_handshake_is_the_first_frame_with_no_upgrades() {
    let mut h = Harness::fixture(Instant::now());
    let ws = h.ws_open(WS);
    assert!(h.accepted.contains_key(&ws));
    let frames = h.ws_take(ws);
    let sid = Sid::new(&sid_of_open(&frames[0]));
    assert_eq!(frames, vec![open_json(&sid, "[]")]);
    assert_eq!(h.server.transport(&sid), Some(TransportKind::WebSocket));
}

#[test]
fn session_ids_come_from_the_seed() {
    let ids = |seed: [u8; 32]| {
        let mut h = Harness::new(
            Config {
                seed,
                ..fixture_config()
            },
            Instant::now(),
        );
        (h.open_polling(), h.open_polling())
    };
    let (a1, a2) = ids([1; 32]);
    assert_eq!(ids([1; 32]), (a1.clone(), a2.clone()));
    assert_ne!(a1, a2);
    assert_ne!(ids([2; 32]).0, a1);
}

/// Sends `request` and checks the JSON error answer and the
/// `connection_error` event.
fn expect_error(
    h: &mut Harness,
    request: Request,
    status: u16,
    code: u8,
    message: &str,
) -> ErrorContext {
    let id = h.request(request);
    let r = h.response(id);
    assert_eq!(r.status, status);
    assert_eq!(r.headers.get("Content-Type"), Some("application/json"));
    assert_eq!(
        r.body_text(),
        format!(r#"{{"code":{code},"message":"{message}"}}"#)
    );
    let events = h.take_events();
    match &events[..] {
        [Event::ConnectionError(e)] => {
            assert_eq!(e.code as u8, code);
            e.context.clone()
        }
        other => panic!("expected one connection_error, got {other:?}"),
    }
}

#[test]
fn code_0_unknown_transport() {
    let mut h = Harness::fixture(Instant::now());
    let ctx = expect_error(
        &mut h,
        Request::new(Method::Get, "/engine.io/?EIO=4&transport=abc"),
        400,
        0,
        "Transport unknown",
    );
    assert_eq!(
        ctx,
        ErrorContext::UnknownTransport {
            transport: Some("abc".into())
        }
    );
    let ctx = expect_error(
        &mut h,
        Request::new(Method::Get, "/engine.io/?EIO=4"),
        400,
        0,
        "Transport unknown",
    );
    assert_eq!(ctx, ErrorContext::UnknownTransport { transport: None });
    // A transport switched off in the config is unknown too.
    let mut h = Harness::new(
        Config {
            transports: vec![TransportKind::WebSocket],
            ..fixture_config()
        },
        Instant::now(),
    );
    expect_error(
        &mut h,
        Request::new(Method::Get, POLL),
        400,
        0,
        "Transport unknown",
    );
}

#[test]
fn code_1_unknown_sid() {
    let mut h = Harness::fixture(Instant::now());
    let ctx = expect_error(
        &mut h,
        Request::new(Method::Get, with_sid(POLL, "nope")),
        400,
        1,
        "Session ID unknown",
    );
    assert_eq!(ctx, ErrorContext::UnknownSid { sid: "nope".into() });
    expect_error(
        &mut h,
        Request::new(Method::Post, with_sid(POLL, "nope")),
        400,
        1,
        "Session ID unknown",
    );
}

#[test]
fn code_2_bad_handshake_method() {
    let mut h = Harness::fixture(Instant::now());
    let ctx = expect_error(
        &mut h,
        Request::new(Method::Post, POLL),
        400,
        2,
        "Bad handshake method",
    );
    assert_eq!(
        ctx,
        ErrorContext::BadHandshakeMethod {
            method: "POST".into()
        }
    );
    expect_error(
        &mut h,
        Request::new(Method::from_name("PUT"), POLL),
        400,
        2,
        "Bad handshake method",
    );
    // Without CORS, OPTIONS is a handshake with a bad method as well.
    let mut h = Harness::new(
        Config {
            cors: None,
            ..fixture_config()
        },
        Instant::now(),
    );
    expect_error(
        &mut h,
        Request::new(Method::Options, POLL),
        400,
        2,
        "Bad handshake method",
    );
}

#[test]
fn code_3_bad_request() {
    let mut h = Harness::fixture(Instant::now());
    // A plain GET asking for the websocket transport.
    let ctx = expect_error(&mut h, Request::new(Method::Get, WS), 400, 3, "Bad request");
    assert_eq!(ctx, ErrorContext::TransportHandshakeError);
    // A sid used on the wrong transport.
    let sid = h.open_polling();
    h.take_events();
    let ctx = expect_error(
        &mut h,
        Request::new(Method::Get, with_sid(WS, &sid)),
        400,
        3,
        "Bad request",
    );
    assert_eq!(
        ctx,
        ErrorContext::TransportMismatch {
            transport: "websocket".into(),
            previous: "polling"
        }
    );
    // An Origin header with a control character.
    let mut r = Request::new(Method::Get, POLL);
    r.headers.insert("origin", "http://a\u{1}b");
    let ctx = expect_error(&mut h, r, 400, 3, "Bad request");
    assert_eq!(
        ctx,
        ErrorContext::InvalidOrigin {
            origin: "http://a\u{1}b".into()
        }
    );
    assert_eq!(
        h.server.clients_count(),
        1,
        "the other session is untouched"
    );
}

#[test]
fn code_5_unsupported_protocol_version() {
    let mut h = Harness::fixture(Instant::now());
    for uri in [
        "/engine.io/?transport=polling",
        "/engine.io/?EIO=5&transport=polling",
        "/engine.io/?EIO=3&transport=polling",
    ] {
        let ctx = expect_error(
            &mut h,
            Request::new(Method::Get, uri),
            400,
            5,
            "Unsupported protocol version",
        );
        assert!(matches!(
            ctx,
            ErrorContext::UnsupportedProtocolVersion { .. }
        ));
    }
    assert_eq!(h.server.clients_count(), 0);
}

#[test]
fn bad_websocket_upgrade_is_refused_before_upgrading_with_plain_400() {
    let mut h = Harness::fixture(Instant::now());
    for (uri, message) in [
        (
            "/engine.io/?EIO=5&transport=websocket",
            "Unsupported protocol version",
        ),
        (
            "/engine.io/?EIO=4&transport=websocket&sid=unknown",
            "Session ID unknown",
        ),
        ("/engine.io/?EIO=4&transport=xyz", "Transport unknown"),
        // An upgrade request that asks for polling.
        ("/engine.io/?EIO=4&transport=polling", "Bad request"),
    ] {
        let ws = h.ws_open(uri);
        assert!(!h.accepted.contains_key(&ws));
        let r = h.response(ws);
        assert_eq!(r.status, 400, "{uri}");
        assert_eq!(r.headers.get("connection"), Some("close"));
        assert_eq!(r.headers.get("content-type"), Some("text/html"));
        assert_eq!(r.body_text(), message);
    }
}

#[test]
fn error_codes_have_their_official_messages_and_statuses() {
    let all = [
        (ErrorCode::UnknownTransport, 0, "Transport unknown", 400),
        (ErrorCode::UnknownSid, 1, "Session ID unknown", 400),
        (
            ErrorCode::BadHandshakeMethod,
            2,
            "Bad handshake method",
            400,
        ),
        (ErrorCode::BadRequest, 3, "Bad request", 400),
        (ErrorCode::Forbidden, 4, "Forbidden", 403),
        (
            ErrorCode::UnsupportedProtocolVersion,
            5,
            "Unsupported protocol version",
            400,
        ),
    ];
    for (code, n, message, status) in all {
        assert_eq!(code as u8, n);
        assert_eq!(code.message(), message);
        assert_eq!(code.status(), status);
    }
}

#[test]
fn upgrades_are_empty_when_upgrades_are_off() {
    let mut h = Harness::new(
        Config {
            allow_upgrades: false,
            ..fixture_config()
        },
        Instant::now(),
    );
    let id = h.get(POLL);
    let body = h.body(id);
    let sid = Sid::new(&sid_of_open(&body));
    assert_eq!(body, open_json(&sid, "[]"));
    // And an upgrade attempt is refused.
    let ws = h.ws_open(&with_sid(WS, &sid));
    assert_eq!(h.response(ws).status, 400);
}

#[test]
fn initial_packet_follows_the_open_packet() {
    let mut h = Harness::new(
        Config {
            initial_packet: Some(engineio_proto::Data::Text("welcome".into())),
            ..fixture_config()
        },
        Instant::now(),
    );
    let id = h.get(POLL);
    let body = h.body(id);
    let sid = Sid::new(&sid_of_open(body.split('\x1e').next().unwrap()));
    assert_eq!(
        body,
        format!("{}\x1e4welcome", open_json(&sid, r#"["websocket"]"#))
    );
}

#[test]
fn generated_ids_are_used_and_a_taken_one_is_refused() {
    let mut h = Harness::new(
        Config {
            generate_id: Some(std::sync::Arc::new(|r: &Request| {
                format!("custom-{}", r.headers.get("x-user").unwrap_or("anon"))
            })),
            ..fixture_config()
        },
        Instant::now(),
    );
    let mut r = Request::new(Method::Get, POLL);
    r.headers.insert("x-user", "bob");
    let id = h.request(r.clone());
    assert_eq!(sid_of_open(&h.body(id)), "custom-bob");
    h.take_events();
    let ctx = expect_error(&mut h, r, 400, 3, "Bad request");
    assert_eq!(ctx, ErrorContext::IdGenerationError);
}

#[test]
fn the_handshake_kept_for_the_session_has_every_part_and_no_spare_capacity() {
    let mut h = Harness::fixture(Instant::now());
    let mut request = Request::new(Method::Get, format!("{WS}&token=a%20b"));
    request.websocket = true;
    request.remote_address = "127.0.0.1:5000".into();
    for (name, value) in [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ] {
        request.headers.append(name, value);
    }
    h.request(request);
    match &h.take_events()[..] {
        [Event::Open { handshake, .. }] => {
            let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
                v.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            };
            assert_eq!(
                handshake.query(),
                pairs(&[("EIO", "4"), ("transport", "websocket"), ("token", "a b"),])
            );
            let headers: Vec<(&str, &str)> = handshake.request.headers.iter().collect();
            assert_eq!(
                headers,
                vec![
                    ("Host", "example.com"),
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Sec-WebSocket-Version", "13"),
                ]
            );
            assert_eq!(handshake.request.uri, format!("{WS}&token=a%20b"));
            assert_eq!(handshake.request.remote_address, "127.0.0.1:5000");
            assert_eq!(handshake.transport, TransportKind::WebSocket);
            assert_eq!(handshake.time, h.now);
        }
        other => panic!("unexpected events {other:?}"),
    }
}
