//! The driver on a virtual clock: HTTP through hyper over in-memory
//! connections, timers that fire only when the test moves time, so the
//! runtime layer is tested as deterministically as the cores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime_hyper::engineio_proto::{CloseReason, Config, Event, Server, Sid};
use runtime_hyper::testing::{HttpReply, Pipe, VirtualRuntime, open_sid, request_head};
use runtime_hyper::{Driver, Runtime};

const SECOND: Duration = Duration::from_secs(1);

type Closes = Arc<Mutex<Vec<(Instant, CloseReason, Option<&'static str>)>>>;

/// An engine (ping every 25 s, 20 s to answer) served on a virtual
/// runtime; the closes its hook saw, with the `now` of each.
fn serve() -> (VirtualRuntime, Driver<Server, VirtualRuntime>, Closes) {
    let rt = VirtualRuntime::new();
    let closes: Closes = Arc::default();
    let seen = Arc::clone(&closes);
    let config = Config {
        ping_interval: 25 * SECOND,
        ping_timeout: 20 * SECOND,
        seed: [3; 32],
        ..Config::default()
    };
    let driver = Driver::with_runtime(rt.clone(), Server::new(config), move |_, now, event| {
        if let Event::Close {
            reason,
            description,
            ..
        } = event
        {
            seen.lock().unwrap().push((now, reason, description));
        }
    });
    rt.spawn(driver.clone().serve(rt.virtual_listener()));
    rt.run_until_stalled();
    (rt, driver, closes)
}

/// Sends a GET for `target` on a new connection and runs the runtime.
fn get(rt: &VirtualRuntime, target: &str) -> Pipe {
    let client = rt.connect();
    assert!(client.send(request_head("GET", target, 0).as_bytes()));
    rt.run_until_stalled();
    client
}

/// Opens a polling session; returns its id.
fn handshake(rt: &VirtualRuntime) -> String {
    let client = get(rt, "/engine.io/?EIO=4&transport=polling");
    let reply = HttpReply::parse(&client.received()).expect("a whole response");
    assert_eq!(reply.status, 200);
    let text = reply.text();
    assert!(
        text.contains(r#""pingInterval":25000,"pingTimeout":20000"#),
        "{text}"
    );
    open_sid(&text).expect("an open packet").to_owned()
}

#[test]
fn a_late_timer_wake_up_does_not_shift_the_heartbeat() {
    let (rt, driver, closes) = serve();
    let t0 = rt.now();
    let sid = handshake(&rt);
    let poll = get(
        &rt,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    );
    assert!(poll.received().is_empty(), "the long-poll is held");
    // The driver's one timer task sleeps until the first ping.
    assert_eq!(rt.next_sleep(), Some(t0 + 25 * SECOND));

    // It wakes 3 s late: the ping goes out then...
    rt.advance_to(t0 + 28 * SECOND);
    let reply = HttpReply::parse(&poll.received()).expect("the poll answered");
    assert_eq!((reply.status, reply.text().as_str()), (200, "2"));
    // ...but the ping timeout still counts from 25 s: the core's next
    // deadline, and the timer task's sleep, are at 45 s, not 48 s.
    assert_eq!(
        driver.act(|core, _| core.poll_timeout()),
        Some(t0 + 45 * SECOND)
    );
    assert_eq!(rt.next_sleep(), Some(t0 + 45 * SECOND));

    rt.advance_to(t0 + 45 * SECOND - Duration::from_millis(1));
    assert!(closes.lock().unwrap().is_empty());
    assert!(driver.act(|core, _| core.contains(&Sid::new(&sid))));
    rt.advance_to(t0 + 45 * SECOND);
    assert_eq!(
        *closes.lock().unwrap(),
        [(t0 + 45 * SECOND, CloseReason::PingTimeout, None)]
    );
    assert_eq!(driver.act(|core, _| core.clients_count()), 0);
}

#[test]
fn a_client_dropping_its_long_poll_ends_the_session_at_that_instant() {
    let (rt, driver, closes) = serve();
    let t0 = rt.now();
    let sid = handshake(&rt);
    let poll = get(
        &rt,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    );
    rt.advance(7 * SECOND);
    assert!(poll.received().is_empty());
    drop(poll);
    rt.run_until_stalled();
    assert_eq!(
        *closes.lock().unwrap(),
        [(
            t0 + 7 * SECOND,
            CloseReason::TransportError,
            Some("poll connection closed prematurely")
        )]
    );
    assert_eq!(driver.act(|core, _| core.pending_requests()), 0);
    // Nothing is left to time. The timer task is not woken for a deadline
    // that went away (only for one that moved earlier): it wakes at the
    // old one, harmlessly, then waits without a deadline.
    assert_eq!(driver.act(|core, _| core.poll_timeout()), None);
    assert_eq!(rt.next_sleep(), Some(t0 + 25 * SECOND));
    rt.advance_to(t0 + 25 * SECOND);
    assert_eq!(rt.next_sleep(), None);
    assert_eq!(closes.lock().unwrap().len(), 1);
}

#[test]
fn close_answers_the_held_poll_and_stops_the_accept_loop() {
    let (rt, driver, closes) = serve();
    let sid = handshake(&rt);
    let poll = get(
        &rt,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    );
    let tasks = rt.tasks();
    driver.close();
    rt.run_until_stalled();
    let reply = HttpReply::parse(&poll.received()).expect("the poll answered");
    assert_eq!((reply.status, reply.text().as_str()), (200, "1"));
    assert_eq!(closes.lock().unwrap()[0].1, CloseReason::ServerShuttingDown);
    // The accept loop and the poll's connection are done.
    assert_eq!(rt.tasks(), tasks - 2);
    // A new connection is not accepted any more.
    let late = get(&rt, "/engine.io/?EIO=4&transport=polling");
    assert!(late.received().is_empty());
}

/// The server's WebSocket frames in `bytes` (unmasked, as a server sends
/// them), as (opcode, payload); short frames only (payload under 126).
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while let [head, len, rest @ ..] = bytes {
        let len = usize::from(*len);
        assert!(len < 126, "a short frame");
        out.push((head & 0x0f, rest[..len].to_vec()));
        bytes = &rest[len..];
    }
    out
}

#[test]
fn a_websocket_session_pings_late_and_still_times_out_on_schedule() {
    let (rt, _driver, closes) = serve();
    let t0 = rt.now();
    let client = rt.connect();
    assert!(client.send(
        b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\n\
          Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ));
    rt.run_until_stalled();
    let received = client.received();
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&received[..split]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // RFC 6455's example key and its accept value.
    assert!(
        head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    let open = frames(&received[split..]);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].0, 1, "a text frame");
    assert!(open[0].1.starts_with(br#"0{"sid":""#));

    // The ping, 3 s late.
    rt.advance_to(t0 + 28 * SECOND);
    assert_eq!(frames(&client.received()), [(1, b"2".to_vec())]);
    // No pong: closed at 45 s exactly, with a close frame (1000).
    rt.advance_to(t0 + 45 * SECOND - Duration::from_millis(1));
    assert!(client.received().is_empty());
    rt.advance_to(t0 + 45 * SECOND);
    assert_eq!(frames(&client.received()), [(8, vec![0x03, 0xe8])]);
    assert_eq!(
        *closes.lock().unwrap(),
        [(t0 + 45 * SECOND, CloseReason::PingTimeout, None)]
    );
}

#[test]
fn hyper_times_out_slow_headers_on_the_runtime_clock() {
    let (rt, _driver, _closes) = serve();
    let t0 = rt.now();
    let client = rt.connect();
    // Half a request head, then nothing.
    assert!(client.send(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: local"));
    rt.run_until_stalled();
    // hyper's header read timeout (30 s) runs on the runtime's clock, through
    // `RuntimeTimer`: virtual time alone decides when it fires.
    rt.advance_to(t0 + 30 * SECOND - Duration::from_millis(1));
    assert!(!client.peer_closed());
    rt.advance_to(t0 + 30 * SECOND);
    assert!(client.peer_closed());
}
