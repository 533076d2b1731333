//! Long-polling: batching, binary, POST rules, overlap, aborts, closes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::Bytes;
use engineio_proto::testing::*;
use engineio_proto::{Config, Event, Message, Method, Request, SendError};
use std::time::Instant;

#[test]
fn a_get_returns_every_buffered_packet_joined_by_record_separators() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    for m in ["test1", "test2", "test3"] {
        h.server.send(&sid, Message::text(m)).unwrap();
    }
    let id = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(id), "4test1\x1e4test2\x1e4test3");
}

#[test]
fn binary_goes_as_b_plus_base64_in_a_payload() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    h.server.send(&sid, Message::text("hello")).unwrap();
    h.server
        .send(&sid, Message::binary(vec![1u8, 2, 3, 4]))
        .unwrap();
    let id = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(id), "4hello\x1ebAQIDBA==");
}

#[test]
fn a_held_get_is_answered_when_a_message_is_sent() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let id = h.get(&with_sid(POLL, &sid));
    assert!(!h.answered(id));
    assert!(h.server.is_writable(&sid));
    h.server.send(&sid, Message::text("late")).unwrap();
    h.drain();
    assert_eq!(h.body(id), "4late");
    assert!(!h.server.is_writable(&sid));
}

#[test]
fn post_answers_ok_and_delivers_text_and_binary_messages() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    h.take_events();
    let id = h.post(&with_sid(POLL, &sid), "4hello\x1ebAQIDBA==\x1e4€");
    let r = h.response(id);
    assert_eq!(r.status, 200);
    assert_eq!(r.body_text(), "ok");
    assert_eq!(r.headers.get("content-type"), Some("text/html"));
    assert_eq!(
        h.messages(),
        vec![
            (sid.clone(), "hello".into()),
            (sid.clone(), "<01020304>".into()),
            (sid, "€".into())
        ]
    );
}

#[test]
fn a_second_concurrent_get_answers_400_and_the_first_gets_a_close_packet() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let first = h.get(&with_sid(POLL, &sid));
    let second = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.response(second).status, 400);
    assert_eq!(h.body(first), "1");
    assert_eq!(h.closes(), vec![(sid.clone(), "transport error")]);
    let later = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.response(later).status, 400);
}

#[test]
fn a_second_concurrent_post_answers_400_and_closes() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let first = h.request(Request::new(Method::Post, with_sid(POLL, &sid)));
    assert!(h.read_body.contains(&first));
    let second = h.request(Request::new(Method::Post, with_sid(POLL, &sid)));
    assert_eq!(h.response(second).status, 400);
    // The first POST, still being read, is ended too.
    assert_eq!(h.response(first).status, 400);
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
    assert_eq!(h.server.pending_requests(), 0);
}

#[test]
fn a_client_dropping_its_pending_get_closes_the_session() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let id = h.get(&with_sid(POLL, &sid));
    h.server.handle_request_closed(h.now, id);
    h.drain();
    assert!(!h.answered(id));
    assert_eq!(h.closes(), vec![(sid.clone(), "transport error")]);
    let later = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.response(later).status, 400);
}

#[test]
fn a_client_dropping_a_post_before_its_body_closes_the_session() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let id = h.request(Request::new(Method::Post, with_sid(POLL, &sid)));
    h.server.handle_request_closed(h.now, id);
    h.drain();
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
}

#[test]
fn post_close_packet_ends_the_session_and_the_pending_get_gets_a_noop() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let get = h.get(&with_sid(POLL, &sid));
    let post = h.post(&with_sid(POLL, &sid), "1");
    assert_eq!(h.body(post), "ok");
    assert_eq!(h.body(get), "6");
    assert_eq!(h.closes(), vec![(sid.clone(), "transport close")]);
    let later = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.response(later).status, 400);
}

#[test]
fn a_body_over_max_http_buffer_size_answers_413_and_the_session_survives() {
    let mut h = Harness::new(
        Config {
            max_http_buffer_size: 10,
            ..fixture_config()
        },
        Instant::now(),
    );
    let sid = h.open_polling();
    h.take_events();
    let big = h.post(&with_sid(POLL, &sid), "4abcdefghij");
    let r = h.response(big);
    assert_eq!(r.status, 413);
    assert!(r.body.is_empty());
    assert!(h.server.contains(&sid));
    assert!(h.messages().is_empty());
    // Exactly at the limit is fine.
    let ok = h.post(&with_sid(POLL, &sid), "4abcdefghi");
    assert_eq!(h.body(ok), "ok");
    assert_eq!(h.messages(), vec![(sid, "abcdefghi".into())]);
}

#[test]
fn an_octet_stream_post_answers_400_and_closes_the_session() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let mut r = Request::new(Method::Post, with_sid(POLL, &sid));
    r.headers.insert("content-type", "application/octet-stream");
    let id = h.post_with(r, Bytes::from_static(&[4, 1, 2]));
    assert_eq!(h.response(id).status, 400);
    assert_eq!(h.closes(), vec![(sid, "transport error")]);
}

#[test]
fn another_method_with_a_valid_sid_answers_500_and_the_session_survives() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let id = h.request(Request::new(Method::from_name("PUT"), with_sid(POLL, &sid)));
    let r = h.response(id);
    assert_eq!(r.status, 500);
    assert!(r.body.is_empty());
    assert!(h.server.contains(&sid));
}

#[test]
fn a_body_that_is_not_packets_closes_the_session() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    h.take_events();
    let get = h.get(&with_sid(POLL, &sid));
    let id = h.post(&with_sid(POLL, &sid), "abc");
    assert_eq!(h.response(id).status, 400);
    assert_eq!(h.body(get), "1");
    assert_eq!(h.closes(), vec![(sid.clone(), "parse error")]);
    let later = h.get(&with_sid(POLL, &sid));
    let r = h.response(later);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body_text(),
        r#"{"code":1,"message":"Session ID unknown"}"#
    );
}

#[test]
fn packets_before_a_bad_one_are_delivered_then_the_session_closes() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    h.take_events();
    h.post(&with_sid(POLL, &sid), "4first\x1ex\x1e4never");
    assert_eq!(h.messages(), vec![(sid.clone(), "first".into())]);
    assert_eq!(h.closes(), vec![(sid, "parse error")]);
}

#[test]
fn server_close_with_a_pending_get_sends_the_queue_and_a_close_packet() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    let get = h.get(&with_sid(POLL, &sid));
    h.server.send(&sid, Message::text("bye")).unwrap_or(());
    h.drain();
    assert_eq!(h.body(get), "4bye");
    let get = h.get(&with_sid(POLL, &sid));
    h.server.close(h.now, &sid);
    h.drain();
    assert_eq!(h.body(get), "6\x1e1");
    assert_eq!(h.closes(), vec![(sid, "forced close")]);
}

#[test]
fn server_close_without_a_get_waits_for_the_next_one_then_times_out() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    h.server.send(&sid, Message::text("last")).unwrap();
    h.server.close(h.now, &sid);
    h.drain();
    assert_eq!(
        h.server.send(&sid, Message::text("more")),
        Err(SendError::Closing)
    );
    // What was queued comes first, alone; the close packet on the next poll.
    let get = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(get), "4last");
    assert!(h.closes().is_empty());
    let get = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(get), "6\x1e1");
    assert_eq!(h.closes(), vec![(sid, "forced close")]);

    // With no GET at all the close timeout (30 s) ends it.
    let sid = h.open_polling();
    h.server.close(h.now, &sid);
    h.drain();
    // Pings stop mattering: the session is closing and no pong is expected
    // of a client that is gone; the close timeout or the ping timeout ends
    // it, whichever is first.
    h.advance(30_000);
    assert!(!h.server.contains(&sid));
    assert_eq!(h.closes().len(), 1);
}

#[test]
fn shutdown_closes_every_session_with_its_reason() {
    let mut h = Harness::fixture(Instant::now());
    let a = h.open_polling();
    let b = h.open_polling();
    let get = h.get(&with_sid(POLL, &a));
    let (ws, c) = h.open_ws();
    h.server.shutdown(h.now);
    h.drain();
    assert_eq!(h.body(get), "1");
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    let mut closes = h.closes();
    closes.sort();
    let mut want = vec![
        (a, "server shutting down"),
        (b, "server shutting down"),
        (c, "server shutting down"),
    ];
    want.sort();
    assert_eq!(closes, want);
    assert_eq!(h.server.clients_count(), 0);
    assert_eq!(h.server.pending_requests(), 0);
}

#[test]
fn a_request_for_another_session_does_not_disturb_this_one() {
    let mut h = Harness::fixture(Instant::now());
    let a = h.open_polling();
    let b = h.open_polling();
    let get_a = h.get(&with_sid(POLL, &a));
    h.post(&with_sid(POLL, &b), "garbage");
    assert!(h.server.contains(&a));
    assert!(!h.server.contains(&b));
    h.server.send(&a, Message::text("still here")).unwrap();
    h.drain();
    assert_eq!(h.body(get_a), "4still here");
    let events = h.take_events();
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::Close { sid, .. } if *sid == a))
    );
}
