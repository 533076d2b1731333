//! Engine.IO v3 behind `allow_eio3`: payload framing, reversed heartbeat,
//! binary forms, JSONP.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{Config, Message, Method, Protocol, Request};
use std::time::Instant;

const POLL3: &str = "/engine.io/?EIO=3&transport=polling";

fn v3() -> Harness {
    Harness::new(
        Config {
            allow_eio3: true,
            ..fixture_config()
        },
        Instant::now(),
    )
}

/// Opens a v3 polling session; returns the sid.
fn open3(h: &mut Harness, uri: &str) -> Sid {
    let id = h.get(uri);
    let body = h.body(id);
    let (len, open) = body.split_once(':').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), open.encode_utf16().count());
    Sid::new(&sid_of_open(open))
}

#[test]
fn v3_handshake_is_length_prefixed_and_a_missing_eio_means_v3() {
    let mut h = v3();
    let sid = open3(&mut h, POLL3);
    assert_eq!(h.server.protocol(&sid), Some(Protocol::V3));
    let sid = open3(&mut h, "/engine.io/?transport=polling");
    assert_eq!(h.server.protocol(&sid), Some(Protocol::V3));
}

#[test]
fn v3_payload_vectors_both_ways() {
    let mut h = v3();
    let sid = open3(&mut h, POLL3);
    h.take_events();
    h.server.send(&sid, Message::text("hello")).unwrap();
    h.server.send(&sid, Message::text("€")).unwrap();
    let get = h.get(&with_sid(POLL3, &sid));
    assert_eq!(h.body(get), "6:4hello2:4€");
    let post = h.post(&with_sid(POLL3, &sid), "6:4hello2:4€");
    assert_eq!(h.body(post), "ok");
    assert_eq!(
        h.messages(),
        vec![(sid.clone(), "hello".into()), (sid, "€".into())]
    );
}

#[test]
fn v3_client_pings_and_the_server_pongs() {
    let mut h = v3();
    let sid = open3(&mut h, POLL3);
    // No server ping in v3; the client has interval + timeout to ping.
    h.advance(450);
    h.post(&with_sid(POLL3, &sid), "1:2");
    let get = h.get(&with_sid(POLL3, &sid));
    assert_eq!(h.body(get), "1:3");
    h.advance(499);
    assert!(h.server.contains(&sid));
    h.advance(1);
    assert_eq!(h.closes(), vec![(sid, "ping timeout")]);
}

#[test]
fn a_pong_from_a_v3_client_closes_the_session() {
    let mut h = v3();
    let sid = open3(&mut h, POLL3);
    h.post(&with_sid(POLL3, &sid), "1:3");
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
}

#[test]
fn v3_binary_goes_as_a_binary_payload_or_base64_with_b64() {
    let mut h = v3();
    let sid = open3(&mut h, POLL3);
    h.server.send(&sid, Message::text("hi")).unwrap();
    h.server
        .send(&sid, Message::binary(vec![1u8, 2, 3, 4]))
        .unwrap();
    let get = h.get(&with_sid(POLL3, &sid));
    let r = h.response(get);
    assert_eq!(
        r.headers.get("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        &r.body[..],
        &[0, 3, 255, b'4', b'h', b'i', 1, 5, 255, 4, 1, 2, 3, 4]
    );
    let sid = open3(&mut h, &format!("{POLL3}&b64=1"));
    h.server
        .send(&sid, Message::binary(vec![1u8, 2, 3, 4]))
        .unwrap();
    let get = h.get(&format!("{}&b64=1", with_sid(POLL3, &sid)));
    assert_eq!(h.body(get), "10:b4AQIDBA==");
}

#[test]
fn v3_binary_post_and_websocket_binary_frames() {
    let mut h = v3();
    let sid = open3(&mut h, POLL3);
    h.take_events();
    let mut r = Request::new(Method::Post, with_sid(POLL3, &sid));
    r.headers.insert("content-type", "application/octet-stream");
    let post = h.post_with(r, Bytes::from_static(&[1, 3, 255, 4, 9, 8]));
    assert_eq!(h.body(post), "ok");
    assert_eq!(h.messages(), vec![(sid, "<0908>".into())]);
    // Over WebSocket a v3 binary message starts with its type byte.
    let ws = h.ws_open("/engine.io/?EIO=3&transport=websocket");
    let sid = Sid::new(&sid_of_open(&h.ws_take(ws)[0]));
    h.take_events();
    h.ws_send_binary(ws, &[4, 7]);
    assert_eq!(h.messages(), vec![(sid.clone(), "<07>".into())]);
    h.server.send(&sid, Message::binary(vec![5u8])).unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["<0405>"]);
}

#[test]
fn jsonp_wraps_the_payload_and_reads_form_posts() {
    let mut h = v3();
    let id = h.get(&format!("{POLL3}&j=1"));
    let body = h.body(id);
    let inner = body
        .strip_prefix("___eio[1](")
        .unwrap()
        .strip_suffix(");")
        .unwrap();
    let payload: String = serde_json::from_str(inner).unwrap();
    let open = payload.split_once(':').unwrap().1;
    let sid = Sid::new(&sid_of_open(open));
    h.take_events();
    let uri = format!("{}&j=1", with_sid(POLL3, &sid));
    let post = h.post(&uri, "d=6%3A4hello");
    assert_eq!(h.body(post), "ok");
    assert_eq!(h.messages(), vec![(sid.clone(), "hello".into())]);
    h.server.send(&sid, Message::text("x")).unwrap();
    let get = h.get(&uri);
    assert_eq!(h.body(get), r#"___eio[1]("2:4x");"#);
    // A form without `d` is not packets.
    h.post(&uri, "e=1");
    assert_eq!(h.closes(), vec![(sid, "parse error")]);
}

#[test]
fn a_v3_client_that_pings_but_never_reads_is_closed_at_the_queue_limit() {
    let mut h = Harness::new(
        Config {
            max_buffered_packets: 4,
            ..v3().server.config().clone()
        },
        Instant::now(),
    );
    let sid = open3(&mut h, POLL3);
    for _ in 0..4 {
        h.post(&with_sid(POLL3, &sid), "1:2");
        assert!(h.server.contains(&sid));
    }
    assert_eq!(h.server.buffered(&sid), Some((4, 4)));
    h.post(&with_sid(POLL3, &sid), "1:2");
    assert_eq!(h.closes(), vec![(sid, "send buffer full")]);
}
