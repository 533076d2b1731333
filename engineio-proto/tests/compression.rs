//! httpCompression: long-poll bodies at or over the threshold are gzip- or
//! deflate-compressed as the request's Accept-Encoding allows; smaller bodies,
//! POST answers and errors never are; `http_compression: None` turns it off.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::Read;
use std::time::Instant;

use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{
    Config, HttpCompression, Message, Method, PerMessageDeflate, Request, Response,
};

/// A polling session, then a GET with `accept` whose response carries one
/// message of `len` characters (so a body of `len + 1` bytes).
fn poll_with(config: Config, accept: Option<&str>, len: usize) -> Response {
    let mut h = Harness::new(config, Instant::now());
    let sid = h.open_polling();
    let mut r = Request::new(Method::Get, with_sid(POLL, &sid));
    if let Some(accept) = accept {
        r.headers.insert("Accept-Encoding", accept.to_owned());
    }
    let get = h.request(r);
    assert!(!h.answered(get));
    h.server
        .send(&sid, Message::text(&"x".repeat(len)))
        .unwrap();
    h.drain();
    let response = h.response(get);
    assert_eq!(response.status, 200);
    response
}

fn gunzip(body: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn inflate_zlib(body: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(body)
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn expected(len: usize) -> String {
    format!("4{}", "x".repeat(len))
}

#[test]
fn a_body_at_the_threshold_is_gzipped() {
    // 1023 characters + the type digit: exactly 1024 bytes.
    let r = poll_with(fixture_config(), Some("gzip, deflate, br"), 1023);
    let headers: Vec<_> = r.headers.iter().collect();
    assert_eq!(
        headers,
        [
            ("Access-Control-Allow-Origin", "*"),
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("cache-control", "no-store"),
            ("Content-Encoding", "gzip"),
        ]
    );
    assert_eq!(&r.body[..3], &[0x1f, 0x8b, 0x08], "gzip header, deflate");
    assert!(r.body.len() < 100, "{} bytes", r.body.len());
    assert_eq!(gunzip(&r.body), expected(1023));
}

#[test]
fn a_body_one_byte_under_the_threshold_is_not_compressed() {
    let r = poll_with(fixture_config(), Some("gzip, deflate"), 1022);
    assert_eq!(r.headers.get("content-encoding"), None);
    assert_eq!(r.body_text(), expected(1022));
}

#[test]
fn deflate_when_the_client_prefers_it() {
    let r = poll_with(fixture_config(), Some("deflate, gzip"), 5000);
    assert_eq!(r.headers.get("content-encoding"), Some("deflate"));
    assert_eq!(r.body[0], 0x78, "zlib header");
    assert_eq!(inflate_zlib(&r.body), expected(5000));

    let r = poll_with(fixture_config(), Some("gzip;q=0, *"), 5000);
    assert_eq!(r.headers.get("content-encoding"), Some("deflate"));
    assert_eq!(inflate_zlib(&r.body), expected(5000));
}

#[test]
fn no_compression_without_an_accepted_encoding() {
    for accept in [
        None,
        Some("identity"),
        Some("br"),
        Some("gzip;q=0, deflate;q=0"),
    ] {
        let r = poll_with(fixture_config(), accept, 5000);
        assert_eq!(r.headers.get("content-encoding"), None, "{accept:?}");
        assert_eq!(r.body_text(), expected(5000), "{accept:?}");
    }
}

#[test]
fn no_compression_when_switched_off() {
    let config = Config {
        http_compression: None,
        ..fixture_config()
    };
    let r = poll_with(config, Some("gzip"), 5000);
    assert_eq!(r.headers.get("content-encoding"), None);
    assert_eq!(r.body_text(), expected(5000));
}

#[test]
fn threshold_and_level_are_configurable() {
    let level = |level| Config {
        http_compression: Some(HttpCompression {
            threshold: 10,
            level,
        }),
        ..fixture_config()
    };
    // 10 bytes: compressed under a threshold of 10.
    let r = poll_with(level(9), Some("gzip"), 9);
    assert_eq!(r.headers.get("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), expected(9));
    let r = poll_with(level(9), Some("gzip"), 8);
    assert_eq!(r.headers.get("content-encoding"), None);
    // Level 0 stores: bigger than the input, still gzip.
    let r = poll_with(level(0), Some("gzip"), 3000);
    assert_eq!(r.headers.get("content-encoding"), Some("gzip"));
    assert!(r.body.len() > 3001);
    assert_eq!(gunzip(&r.body), expected(3000));
    let best = poll_with(level(9), Some("gzip"), 3000);
    assert!(best.body.len() < 100);
}

#[test]
fn several_packets_are_compressed_as_one_payload() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    for i in 0..3 {
        h.server
            .send(&sid, Message::text(&format!("{i}{}", "y".repeat(600))))
            .unwrap();
    }
    let mut r = Request::new(Method::Get, with_sid(POLL, &sid));
    r.headers.insert("accept-encoding", "gzip");
    let get = h.request(r);
    let r = h.response(get);
    assert_eq!(r.headers.get("content-encoding"), Some("gzip"));
    let y = "y".repeat(600);
    assert_eq!(gunzip(&r.body), format!("40{y}\x1e41{y}\x1e42{y}"));
}

#[test]
fn handshakes_posts_and_errors_are_never_compressed() {
    let config = Config {
        http_compression: Some(HttpCompression {
            threshold: 0,
            level: 6,
        }),
        ..fixture_config()
    };
    let mut h = Harness::new(config, Instant::now());
    let accept = |mut r: Request| {
        r.headers.insert("Accept-Encoding", "gzip");
        r
    };
    // With a threshold of 0 even the handshake (a long-poll answer) is
    // compressed; the POST's `ok` and error answers are not.
    let id = h.request(accept(Request::new(Method::Get, POLL)));
    let r = h.response(id);
    assert_eq!(r.headers.get("content-encoding"), Some("gzip"));
    let sid = Sid::new(&sid_of_open(&gunzip(&r.body)));
    let post = h.post_with(
        accept(Request::new(Method::Post, with_sid(POLL, &sid))),
        "4hi",
    );
    let r = h.response(post);
    assert_eq!(r.headers.get("content-encoding"), None);
    assert_eq!(r.body_text(), "ok");
    let bad = h.request(accept(Request::new(
        Method::Get,
        "/engine.io/?EIO=4&transport=polling&sid=nope",
    )));
    let r = h.response(bad);
    assert_eq!(r.status, 400);
    assert_eq!(r.headers.get("content-encoding"), None);
    assert_eq!(
        r.body_text(),
        r#"{"code":1,"message":"Session ID unknown"}"#
    );
}

#[test]
fn default_config_compresses_at_1024() {
    assert_eq!(
        Config::default().http_compression,
        Some(HttpCompression {
            threshold: 1024,
            level: 6
        })
    );
}

// ----- perMessageDeflate: the engine answers the offer in the 101 -----

fn ws_request(uri: &str, offer: Option<&str>) -> Request {
    let mut r = Request::new(Method::Get, uri);
    r.websocket = true;
    if let Some(offer) = offer {
        r.headers
            .insert("Sec-WebSocket-Extensions", offer.to_owned());
    }
    r
}

fn deflate_config() -> Config {
    Config {
        per_message_deflate: Some(PerMessageDeflate::default()),
        ..fixture_config()
    }
}

#[test]
fn websocket_offer_is_answered_only_when_on() {
    let offer = Some("permessage-deflate; client_max_window_bits");
    // Off by default: no extension in the 101.
    assert_eq!(Config::default().per_message_deflate, None);
    let mut h = Harness::fixture(Instant::now());
    let ws = h.request(ws_request(WS, offer));
    assert_eq!(h.accepted[&ws].get("sec-websocket-extensions"), None);

    let mut h = Harness::new(deflate_config(), Instant::now());
    let ws = h.request(ws_request(WS, offer));
    assert_eq!(
        h.accepted[&ws].get("sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    // No offer, or none acceptable: no extension.
    let ws = h.request(ws_request(WS, None));
    assert_eq!(h.accepted[&ws].get("sec-websocket-extensions"), None);
    let ws = h.request(ws_request(
        WS,
        Some("permessage-deflate; server_max_window_bits=9"),
    ));
    assert_eq!(h.accepted[&ws].get("sec-websocket-extensions"), None);
}

#[test]
fn upgrade_probe_is_answered_too_with_context_takeover_when_allowed() {
    let config = Config {
        per_message_deflate: Some(PerMessageDeflate {
            server_context_takeover: true,
            client_context_takeover: true,
            ..PerMessageDeflate::default()
        }),
        ..fixture_config()
    };
    let mut h = Harness::new(config, Instant::now());
    let sid = h.open_polling();
    let ws = h.request(ws_request(
        &with_sid(WS, &sid),
        Some("permessage-deflate; client_no_context_takeover"),
    ));
    assert_eq!(
        h.accepted[&ws].get("sec-websocket-extensions"),
        Some("permessage-deflate; client_no_context_takeover")
    );
}

// ----- the compress flag -----

#[test]
fn a_payload_of_only_uncompressed_messages_goes_plain() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let big = "z".repeat(3000);
    h.server
        .send(&sid, Message::text(&big).compress(false))
        .unwrap();
    let mut r = Request::new(Method::Get, with_sid(POLL, &sid));
    r.headers.insert("accept-encoding", "gzip");
    let get = h.request(r.clone());
    let resp = h.response(get);
    assert_eq!(resp.headers.get("content-encoding"), None);
    assert_eq!(resp.body_text(), format!("4{big}"));
    // One message that may be compressed makes the whole payload so, as in
    // the official server.
    h.server
        .send(&sid, Message::text(&big).compress(false))
        .unwrap();
    h.server.send(&sid, Message::text("small")).unwrap();
    let get = h.request(r);
    let resp = h.response(get);
    assert_eq!(resp.headers.get("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&resp.body), format!("4{big}\x1e4small"));
}

#[test]
fn websocket_sends_carry_the_flag() {
    let mut h = Harness::fixture(Instant::now());
    h.auto_flush = false;
    let (ws, sid) = h.open_ws();
    h.server.handle_ws_flushed(h.now, ws);
    h.server
        .send(&sid, Message::binary(vec![1u8; 10]).compress(false))
        .unwrap();
    h.server.send(&sid, Message::text("yes")).unwrap();
    let mut flags = Vec::new();
    while let Some(out) = h.server.poll_output() {
        if let engineio_proto::Output::WsSend { compress, .. } = out {
            flags.push(compress);
        }
    }
    assert_eq!(flags, [false]);
    h.server.handle_ws_flushed(h.now, ws);
    while let Some(out) = h.server.poll_output() {
        if let engineio_proto::Output::WsSend { compress, .. } = out {
            flags.push(compress);
        }
    }
    assert_eq!(flags, [false, true]);
}
