//! WebSocket sessions, the upgrade from polling and each of its failures,
//! and the heartbeat.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{Config, Event, Message, Method, Request, TransportKind};
use std::time::Instant;

#[test]
fn websocket_messages_both_ways_text_and_binary() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    h.take_events();
    h.ws_send(ws, "4hello");
    h.ws_send_binary(ws, &[1, 2, 3, 4]);
    assert_eq!(
        h.messages(),
        vec![
            (sid.clone(), "hello".into()),
            (sid.clone(), "<01020304>".into())
        ]
    );
    h.server.send(&sid, Message::text("hi")).unwrap();
    h.server.send(&sid, Message::binary(vec![9u8])).unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["4hi", "<09>"]);
}

#[test]
fn websocket_close_packet_ends_the_session_and_closes_the_socket() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    h.ws_send(ws, "1");
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.closes(), vec![(sid, "transport close")]);
}

#[test]
fn websocket_invalid_packet_is_a_parse_error() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    h.ws_send(ws, "abc");
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.closes(), vec![(sid, "parse error")]);
}

#[test]
fn websocket_closed_or_failed_by_the_peer() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    assert_eq!(h.closes(), vec![(sid, "transport close")]);
    assert!(!h.ws_closed.contains_key(&ws), "nothing left to close");
    let (ws, sid) = h.open_ws();
    h.server.handle_ws_closed(h.now, ws, true);
    h.drain();
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
}

#[test]
fn websocket_message_over_max_payload_closes_with_1009() {
    let mut h = Harness::new(
        Config {
            max_http_buffer_size: 8,
            ..fixture_config()
        },
        Instant::now(),
    );
    let (ws, sid) = h.open_ws();
    h.take_events();
    h.ws_send(ws, "412345678");
    assert_eq!(h.ws_closed.get(&ws), Some(&1009));
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
    // At the limit it is a message.
    let (ws, sid) = h.open_ws();
    h.take_events();
    h.ws_send(ws, "41234567");
    assert_eq!(h.messages(), vec![(sid, "1234567".into())]);
}

#[test]
fn nothing_more_goes_to_a_websocket_until_it_is_flushed() {
    let mut h = Harness::fixture(Instant::now());
    h.auto_flush = false;
    let ws = h.ws_open(WS);
    let sid = Sid::new(&sid_of_open(&h.ws_take(ws)[0]));
    assert!(!h.server.is_writable(&sid));
    h.server.send(&sid, Message::text("a")).unwrap();
    h.server.send(&sid, Message::text("b")).unwrap();
    h.drain();
    assert!(h.ws_take(ws).is_empty());
    assert_eq!(h.server.buffered(&sid), Some((2, 4)));
    h.server.handle_ws_flushed(h.now, ws);
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["4a", "4b"]);
    assert_eq!(h.server.buffered(&sid), Some((0, 0)));
}

#[test]
fn server_close_on_websocket_flushes_then_closes() {
    let mut h = Harness::fixture(Instant::now());
    h.auto_flush = false;
    let ws = h.ws_open(WS);
    let sid = Sid::new(&sid_of_open(&h.ws_take(ws)[0]));
    h.server.send(&sid, Message::text("last")).unwrap();
    h.server.close(h.now, &sid);
    h.drain();
    assert!(!h.ws_closed.contains_key(&ws));
    h.server.handle_ws_flushed(h.now, ws);
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["4last"]);
    h.server.handle_ws_flushed(h.now, ws);
    h.drain();
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.closes(), vec![(sid, "forced close")]);
}

/// Opens a polling session and a probe WebSocket for it.
fn start_upgrade(h: &mut Harness) -> (Sid, engineio_proto::RequestId) {
    let sid = h.open_polling();
    let ws = h.ws_open(&with_sid(WS, &sid));
    assert!(h.accepted.contains_key(&ws));
    (sid, ws)
}

#[test]
fn upgrade_probe_noop_then_switch_and_flush() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    h.take_events();
    h.ws_send(ws, "2probe");
    assert_eq!(h.ws_take(ws), vec!["3probe"]);
    assert!(matches!(&h.take_events()[..], [Event::Upgrading { .. }]));
    // A GET during the upgrade gets a noop within 100 ms.
    let get = h.get(&with_sid(POLL, &sid));
    assert!(!h.answered(get));
    h.advance(100);
    assert_eq!(h.body(get), "6");
    // Messages sent meanwhile wait, then go over the WebSocket.
    h.server.send(&sid, Message::text("hello")).unwrap();
    h.drain();
    h.ws_send(ws, "5");
    assert_eq!(h.ws_take(ws), vec!["4hello"]);
    assert!(matches!(&h.take_events()[..], [Event::Upgrade { .. }]));
    assert_eq!(h.server.transport(&sid), Some(TransportKind::WebSocket));
    // The noop check stops with the upgrade.
    h.advance(1000);
    assert!(h.ws_take(ws).iter().all(|f| f == "2"), "only pings");
}

#[test]
fn noop_is_repeated_every_100ms_while_upgrading() {
    // Pings far away, so every GET here can only end with a noop.
    let mut h = Harness::new(
        Config {
            ping_interval: std::time::Duration::from_secs(60),
            ..fixture_config()
        },
        Instant::now(),
    );
    let (sid, ws) = start_upgrade(&mut h);
    h.ws_send(ws, "2probe");
    for _ in 0..3 {
        let get = h.get(&with_sid(POLL, &sid));
        h.advance(100);
        assert_eq!(h.body(get), "6");
    }
}

#[test]
fn polling_after_the_upgrade_is_a_bad_request_and_a_second_websocket_is_closed() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    h.ws_send(ws, "2probe");
    h.ws_send(ws, "5");
    h.take_events();
    let get = h.get(&with_sid(POLL, &sid));
    let r = h.response(get);
    assert_eq!(r.status, 400);
    assert_eq!(r.body_text(), r#"{"code":3,"message":"Bad request"}"#);
    let second = h.ws_open(&with_sid(WS, &sid));
    assert!(h.accepted.contains_key(&second));
    assert_eq!(h.ws_closed.get(&second), Some(&1000));
    // The session carries on over the first WebSocket.
    h.ws_take(ws);
    h.server.send(&sid, Message::text("still")).unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["4still"]);
}

#[test]
fn a_second_websocket_during_the_upgrade_is_closed() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    let other = h.ws_open(&with_sid(WS, &sid));
    assert_eq!(h.ws_closed.get(&other), Some(&1000));
    assert!(!h.ws_closed.contains_key(&ws));
}

#[test]
fn another_packet_during_the_probe_closes_the_probe_only() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    h.ws_send(ws, "4too early");
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert!(h.server.contains(&sid));
    assert_eq!(h.server.transport(&sid), Some(TransportKind::Polling));
    // Polling still works.
    h.server.send(&sid, Message::text("on polling")).unwrap();
    let get = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(get), "4on polling");
}

#[test]
fn a_wrong_probe_payload_closes_the_probe() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    h.ws_send(ws, "2notprobe");
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert!(h.server.contains(&sid));
}

#[test]
fn no_upgrade_packet_within_upgrade_timeout_closes_the_probe() {
    let mut h = Harness::new(
        Config {
            ping_interval: std::time::Duration::from_secs(60),
            ..fixture_config()
        },
        Instant::now(),
    );
    let (sid, ws) = start_upgrade(&mut h);
    h.ws_send(ws, "2probe");
    h.advance(9_999);
    assert!(!h.ws_closed.contains_key(&ws));
    h.advance(1);
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.server.transport(&sid), Some(TransportKind::Polling));
    assert!(h.server.contains(&sid));
}

#[test]
fn the_probe_closing_leaves_the_session_on_polling_and_it_may_try_again() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    assert!(h.server.contains(&sid));
    let again = h.ws_open(&with_sid(WS, &sid));
    assert!(!h.ws_closed.contains_key(&again));
    h.ws_send(again, "2probe");
    h.ws_send(again, "5");
    assert_eq!(h.server.transport(&sid), Some(TransportKind::WebSocket));
}

#[test]
fn closing_the_session_during_the_upgrade_closes_the_probe() {
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    h.post(&with_sid(POLL, &sid), "1");
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.closes(), vec![(sid, "transport close")]);
}

#[test]
fn a_post_still_being_read_across_the_upgrade_is_answered() {
    // Found by the `engine` fuzz target: once the session had moved to
    // WebSocket its close no longer knew the POST, and a body arriving after
    // the close got no response at all.
    let mut h = Harness::fixture(Instant::now());
    let (sid, ws) = start_upgrade(&mut h);
    let post = h.request(Request::new(Method::Post, with_sid(POLL, &sid)));
    assert!(h.read_body.remove(&post));
    h.ws_send(ws, "2probe");
    h.ws_send(ws, "5");
    // The session is alive: the body is handled and answered.
    h.server
        .handle_body(h.now, post, Bytes::from_static(b"4hello"));
    h.drain();
    assert_eq!(h.body(post), "ok");
    assert_eq!(h.messages(), vec![(sid, "hello".to_owned())]);

    // The session ends first: the POST is answered as one in flight at the
    // close is.
    let (sid, ws) = start_upgrade(&mut h);
    let post = h.request(Request::new(Method::Post, with_sid(POLL, &sid)));
    assert!(h.read_body.remove(&post));
    h.ws_send(ws, "2probe");
    h.ws_send(ws, "5");
    h.ws_send(ws, "1");
    assert_eq!(h.closes(), vec![(sid, "transport close")]);
    assert!(!h.answered(post));
    h.server
        .handle_body(h.now, post, Bytes::from_static(b"4late"));
    h.drain();
    assert_eq!(h.response(post).status, 400);
    assert!(h.messages().is_empty());
}

#[test]
fn heartbeat_over_polling_at_300_and_200_virtual_ms() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let get = h.get(&with_sid(POLL, &sid));
    h.advance(299);
    assert!(!h.answered(get));
    h.advance(1);
    assert_eq!(h.body(get), "2");
    assert_eq!(h.elapsed_ms(), 300);
    // Pong 150 ms later: the next ping comes 300 ms after the pong.
    h.advance(150);
    h.post(&with_sid(POLL, &sid), "3");
    let get = h.get(&with_sid(POLL, &sid));
    h.advance(299);
    assert!(!h.answered(get));
    h.advance(1);
    assert_eq!(h.body(get), "2");
    // No pong this time: ping timeout 200 ms after the ping.
    let get = h.get(&with_sid(POLL, &sid));
    h.advance(199);
    assert!(h.server.contains(&sid));
    h.advance(1);
    assert_eq!(h.body(get), "1");
    assert_eq!(h.closes(), vec![(sid, "ping timeout")]);
}

#[test]
fn heartbeat_over_websocket_and_ping_timeout() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    for _ in 0..3 {
        h.advance(300);
        assert_eq!(h.ws_take(ws), vec!["2"]);
        h.ws_send(ws, "3");
    }
    h.advance(300);
    assert_eq!(h.ws_take(ws), vec!["2"]);
    h.advance(200);
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    assert_eq!(h.closes(), vec![(sid, "ping timeout")]);
}

#[test]
fn a_ping_from_a_v4_client_closes_the_session() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    h.ws_send(ws, "2");
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
    let sid = h.open_polling();
    h.post(&with_sid(POLL, &sid), "2");
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
}

#[test]
fn poll_timeout_reports_the_next_deadline() {
    let mut h = Harness::fixture(Instant::now());
    assert_eq!(h.server.poll_timeout(), None);
    let _sid = h.open_polling();
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + std::time::Duration::from_millis(300))
    );
    // Handling a timeout early does nothing.
    h.server.handle_timeout(h.now);
    h.drain();
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + std::time::Duration::from_millis(300))
    );
}
