//! Application hooks: per-packet events of watched sessions (`packet`,
//! `packetCreate`, `drain`), hooks replaced while the engine runs, and the
//! validation of generated session ids.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Instant;

use engineio_proto::Sid;
use engineio_proto::testing::*;
use engineio_proto::{Config, ErrorContext, Event, MAX_SID_LEN, Message, Method, Request, Watch};

/// The per-packet events so far (taken), as text.
fn conn_events(h: &mut Harness) -> Vec<String> {
    h.take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Packet { packet, .. } => Some(format!("packet {packet:?}")),
            Event::PacketCreate { packet, .. } => Some(format!("create {packet:?}")),
            Event::Drain { .. } => Some("drain".to_owned()),
            _ => None,
        })
        .collect()
}

const ALL: Watch = Watch {
    packet: true,
    packet_create: true,
    drain: true,
};

#[test]
fn an_unwatched_session_reports_no_packet_events() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    h.ws_send(ws, "4hi");
    h.server.send(&sid, Message::text("yo")).unwrap();
    h.drain();
    h.advance(300);
    assert_eq!(conn_events(&mut h), Vec::<String>::new());
}

#[test]
fn a_watched_websocket_session_reports_packets_creates_and_drains() {
    let mut h = Harness::fixture(Instant::now());
    let (ws, sid) = h.open_ws();
    assert!(h.server.watch(&sid, ALL));
    h.take_events();
    h.ws_send(ws, "4hi");
    h.server.send(&sid, Message::text("yo")).unwrap();
    h.server.send(&sid, Message::binary(vec![1u8, 2])).unwrap();
    h.drain();
    assert_eq!(
        conn_events(&mut h),
        vec![
            r#"packet Message(Text("hi"))"#,
            r#"create Message(Text("yo"))"#,
            // The first message goes out at once and drains the queue.
            "drain",
            // The second waits for the flush, then drains again.
            "create Message(Binary(b\"\\x01\\x02\"))",
            "drain",
        ]
    );
    assert_eq!(h.ws_take(ws), vec!["4yo", "<0102>"]);
    // The heartbeat: the ping is created and drained, the pong received.
    h.advance(300);
    h.ws_send(ws, "3");
    assert_eq!(
        conn_events(&mut h),
        vec![r#"create Ping("")"#, "drain", r#"packet Pong("")"#]
    );
    // Watching stops when asked.
    assert!(h.server.watch(&sid, Watch::default()));
    h.ws_send(ws, "4again");
    assert_eq!(conn_events(&mut h), Vec::<String>::new());
}

#[test]
fn a_watched_polling_session_drains_when_a_poll_takes_the_queue() {
    let mut h = Harness::fixture(Instant::now());
    let sid = h.open_polling();
    assert!(h.server.watch(
        &sid,
        Watch {
            drain: true,
            ..Watch::default()
        }
    ));
    h.server.send(&sid, Message::text("a")).unwrap();
    h.server.send(&sid, Message::text("b")).unwrap();
    h.drain();
    // Nothing drains while no GET is there to take the queue.
    assert_eq!(conn_events(&mut h), Vec::<String>::new());
    let get = h.get(&with_sid(POLL, &sid));
    assert_eq!(h.body(get), "4a\u{1e}4b");
    assert_eq!(conn_events(&mut h), vec!["drain"]);
    // Packets from a POST are reported once `packet` is watched.
    h.server.watch(&sid, ALL);
    let post = h.post(&with_sid(POLL, &sid), "4x\u{1e}4y");
    assert_eq!(h.body(post), "ok");
    assert_eq!(
        conn_events(&mut h),
        vec![
            r#"packet Message(Text("x"))"#,
            r#"packet Message(Text("y"))"#
        ]
    );
}

#[test]
fn watching_an_unknown_session_says_so() {
    let mut h = Harness::fixture(Instant::now());
    assert!(!h.server.watch(&Sid::new("nope"), ALL));
}

#[test]
fn hooks_replaced_while_running_apply_to_later_requests() {
    let mut h = Harness::fixture(Instant::now());
    let before = h.open_polling();
    assert_eq!(before.as_str().len(), 20);
    h.server
        .set_generate_id(Some(Arc::new(|_: &Request| "fixed-id".to_owned())));
    h.server
        .set_initial_headers(Some(Arc::new(|h, _| h.insert("x-initial", "yes"))));
    h.server
        .set_headers(Some(Arc::new(|h, _| h.insert("x-every", "yes"))));
    let id = h.get(POLL);
    let r = h.response(id);
    assert_eq!(sid_of_open(&r.body_text()), "fixed-id");
    assert_eq!(r.headers.get("x-initial"), Some("yes"));
    assert_eq!(r.headers.get("x-every"), Some("yes"));
    // allowRequest turned on: the next handshake waits for a verdict.
    h.server.set_allow_request(true);
    h.server.set_generate_id(None);
    h.take_events();
    let id = h.get(POLL);
    assert!(!h.answered(id));
    let [Event::AllowRequest { request, .. }] = &h.take_events()[..] else {
        panic!("expected an allowRequest event");
    };
    h.server.allow_request(h.now, *request, Ok(()));
    h.drain();
    assert_eq!(sid_of_open(&h.body(id)).len(), 20);
    // Hooks removed: plain responses again.
    h.server.set_allow_request(false);
    h.server.set_initial_headers(None);
    h.server.set_headers(None);
    let id = h.get(POLL);
    let r = h.response(id);
    assert_eq!(r.headers.get("x-initial"), None);
    assert_eq!(r.headers.get("x-every"), None);
}

/// Answers a handshake with a generator that returns `id`: the sid, or the
/// refusal's context.
fn handshake_with_id(id: String) -> Result<String, ErrorContext> {
    let mut h = Harness::new(
        Config {
            generate_id: Some(Arc::new(move |_: &Request| id.clone())),
            ..fixture_config()
        },
        Instant::now(),
    );
    let rid = h.request(Request::new(Method::Get, POLL));
    let r = h.response(rid);
    if r.status == 200 {
        return Ok(sid_of_open(&r.body_text()));
    }
    assert_eq!(r.status, 400);
    assert_eq!(r.body_text(), r#"{"code":3,"message":"Bad request"}"#);
    match &h.take_events()[..] {
        [Event::ConnectionError(e)] => Err(e.context.clone()),
        other => panic!("expected one connection_error, got {other:?}"),
    }
}

#[test]
fn generated_ids_must_be_short_visible_ascii_that_needs_no_escaping() {
    let longest = "a".repeat(MAX_SID_LEN);
    assert_eq!(handshake_with_id(longest.clone()), Ok(longest));
    assert_eq!(
        handshake_with_id("A-z_0.9~!$'()*:@[]^`{|}".into()),
        Ok("A-z_0.9~!$'()*:@[]^`{|}".into())
    );
    let mut refused = vec![
        String::new(),
        "a".repeat(MAX_SID_LEN + 1),
        "with space".into(),
        "tab\there".into(),
        "caf\u{e9}".into(),
        "nul\0".into(),
    ];
    refused.extend(
        ["\"", "%", "&", "+", ",", ";", "=", "\\", "#", "?", "/"].map(|c| format!("id{c}x")),
    );
    for id in refused {
        assert_eq!(
            handshake_with_id(id.clone()),
            Err(ErrorContext::IdGenerationError),
            "{id:?}"
        );
    }
}

#[test]
fn a_watched_v3_session_reports_the_pong_it_creates() {
    let mut h = Harness::new(
        Config {
            allow_eio3: true,
            ..fixture_config()
        },
        Instant::now(),
    );
    let ws = h.ws_open("/engine.io/?EIO=3&transport=websocket");
    let open = h.ws_take(ws);
    let sid = Sid::new(&sid_of_open(&open[0]));
    h.server.watch(&sid, ALL);
    h.take_events();
    h.ws_send(ws, "2");
    assert_eq!(
        conn_events(&mut h),
        vec![r#"packet Ping("")"#, r#"create Pong("")"#, "drain"]
    );
}

/// The answer to a request whose hook panicked.
const INTERNAL: &str = r#"{"code":3,"message":"Internal server error"}"#;

#[test]
fn a_panicking_hook_answers_its_request_with_500_and_harms_nothing_else() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut h = Harness::fixture(Instant::now());
    let count = h.server.clients_counter();
    let sid = h.open_polling();
    assert_eq!(count.get(), 1);
    let panics = Arc::new(AtomicBool::new(true));

    // generate_id: the handshake gets the 500, no session opens.
    let p = panics.clone();
    h.server.set_generate_id(Some(Arc::new(move |_: &Request| {
        if p.load(Ordering::Relaxed) {
            panic!("generate_id failed");
        }
        "after-the-panic".to_owned()
    })));
    let r = {
        let rid = h.get(POLL);
        h.response(rid)
    };
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    assert_eq!(r.headers.get("content-type"), Some("application/json"));
    assert_eq!(h.server.clients_count(), 1);
    panics.store(false, Ordering::Relaxed);
    assert_eq!(
        sid_of_open(&{
            let rid = h.get(POLL);
            h.body(rid)
        }),
        "after-the-panic"
    );
    h.server.set_generate_id(None);

    // initial_headers: the same, and no session cookie for a session that
    // never was.
    panics.store(true, Ordering::Relaxed);
    let p = panics.clone();
    h.server.set_initial_headers(Some(Arc::new(move |_, _| {
        assert!(!p.load(Ordering::Relaxed), "initial_headers failed");
    })));
    let r = {
        let rid = h.get(POLL);
        h.response(rid)
    };
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    assert_eq!(r.headers.get("set-cookie"), None);
    let rid = h.ws_open(WS);
    let r = h.response(rid);
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    assert_eq!(h.server.clients_count(), 2);
    assert_eq!(count.get(), 2);
    h.server.set_initial_headers(None);
    let (_ws, ws_sid) = h.open_ws();
    assert_eq!(count.get(), 3);
    h.server.close(h.now, &ws_sid);
    h.drain();
    assert_eq!(count.get(), 2);

    // headers, on a poll, a post and an upgrade of the first session: each
    // gets the 500, the session goes on.
    let p = panics.clone();
    h.server.set_headers(Some(Arc::new(move |_, _| {
        assert!(!p.load(Ordering::Relaxed), "headers failed");
    })));
    let uri = format!("{POLL}&sid={sid}");
    let r = {
        let rid = h.get(&uri);
        h.response(rid)
    };
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    let r = {
        let rid = h.post(&uri, "4hello");
        h.response(rid)
    };
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    let up = h.ws_open(&format!("{WS}&sid={sid}"));
    let r = h.response(up);
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    panics.store(false, Ordering::Relaxed);
    // No GET or POST was left pending: both go through now.
    h.take_events();
    let r = {
        let rid = h.post(&uri, "4hello");
        h.response(rid)
    };
    assert_eq!((r.status, &*r.body_text()), (200, "ok"));
    assert!(matches!(&h.take_events()[..], [Event::Message { .. }]));
    h.server.send(&sid, Message::text("yo")).unwrap();
    assert_eq!(
        {
            let rid = h.get(&uri);
            h.body(rid)
        },
        "4yo"
    );
}

#[test]
fn a_failed_allow_request_decision_answers_500() {
    let mut h = Harness::fixture(Instant::now());
    h.server.set_allow_request(true);
    let id = h.get(POLL);
    let [Event::AllowRequest { request, .. }] = &h.take_events()[..] else {
        panic!("expected an allowRequest event");
    };
    h.server.fail_request(*request);
    h.drain();
    let r = h.response(id);
    assert_eq!((r.status, &*r.body_text()), (500, INTERNAL));
    assert_eq!(h.server.clients_count(), 0);
    // Answered: a late verdict does nothing.
    h.server.allow_request(h.now, *request, Ok(()));
    h.drain();
    assert_eq!(h.server.clients_count(), 0);
}
