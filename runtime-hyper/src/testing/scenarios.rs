//! The bindings' scenarios over real sockets, written once: each starts an
//! Engine.IO echo server (or a Socket.IO one) on the runtime it is given,
//! on an ephemeral port, and drives it with blocking std clients (raw
//! HTTP/1.1, a tungstenite WebSocket, raw frames), so that the same
//! assertions run on every runtime.
//!
//! A binding's test calls each scenario with its runtime, from a thread
//! that is not one of the runtime's workers (the scenarios block): the
//! body of `#[tokio::test(flavor = "multi_thread")]`, or a plain `#[test]`
//! for executors with threads of their own.

// Test support: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use socketio_async::{AckSender, Payload, Socket};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, Message as WsMessage, WebSocket};
use engineio_proto::{CloseReason, Config, Cors, Data, Event, Message, Server, Sid};
use socketio_async::SocketIo;

use super::{HttpReply, open_sid, request_head};
use crate::{Driver, Sockets, bind_std, serve_io};

/// How long any single wait may take before the scenario fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// The fixture's engine settings (docs/protocol.md), with a fixed seed.
pub fn fixture_config() -> Config {
    Config {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        cors: Some(Cors::default()),
        seed: [7; 32],
        ..Config::default()
    }
}

/// Long heartbeats, so that no ping gets in the way of a scenario.
pub fn quiet_config() -> Config {
    Config {
        ping_interval: Duration::from_secs(60),
        ping_timeout: Duration::from_secs(60),
        ..fixture_config()
    }
}

/// An Engine.IO echo server: every message comes back to its session, and
/// every event is also kept for the scenario to read.
pub struct EchoServer<R: Sockets> {
    /// Where it listens (127.0.0.1, a port the system chose).
    pub addr: SocketAddr,
    /// Its driver, to act on the core.
    pub driver: Driver<Server, R>,
    events: mpsc::Receiver<Event>,
}

impl<R: Sockets> EchoServer<R> {
    /// Starts one on `runtime` with `config`.
    pub fn start(runtime: R, config: Config) -> Self {
        let (tx, events) = mpsc::channel();
        let driver = Driver::with_runtime(
            runtime.clone(),
            Server::new(config),
            move |server: &mut Server, _now, event| {
                if let Event::Message { sid, data } = &event {
                    let _ = server.send(sid, Message::from_data(data));
                }
                let _ = tx.send(event);
            },
        );
        let addr = listen(&runtime, &driver);
        Self {
            addr,
            driver,
            events,
        }
    }

    /// The next event, skipping none.
    pub fn next_event(&self) -> Event {
        self.events
            .recv_timeout(WAIT)
            .expect("no event from the server")
    }

    /// The next `Close` event, skipping others.
    pub fn next_close(&self) -> (Sid, CloseReason, Option<&'static str>) {
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Close {
                    sid,
                    reason,
                    description,
                }) => return (sid, reason, description),
                Ok(_) => {}
                Err(_) => panic!("no close event"),
            }
        }
    }

    /// Waits until the engine holds a request (a long-poll).
    pub fn until_held(&self) {
        let until = Instant::now() + WAIT;
        while self.driver.act(|core, _| core.pending_requests()) == 0 {
            assert!(Instant::now() < until, "the request is not held");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// An Engine.IO v4 target with `query` added.
    pub fn url(&self, query: &str) -> String {
        format!("/engine.io/?EIO=4&{query}")
    }
}

/// Binds 127.0.0.1 on a free port and serves `driver` there on `runtime`.
fn listen<C: crate::Core, R: Sockets>(runtime: &R, driver: &Driver<C, R>) -> SocketAddr {
    let listener = bind_std(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = runtime.listener(listener).unwrap();
    runtime.spawn(driver.clone().serve(listener));
    addr
}

/// A fresh connection with [`WAIT`] as its read timeout.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Writes one HTTP/1.1 request on a fresh connection, without waiting.
pub fn send_request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(request_head(method, target, body.len()).as_bytes())
        .unwrap();
    stream.write_all(body).unwrap();
    stream
}

/// Reads a whole response (the server closes after it: `Connection: close`).
pub fn read_reply(mut stream: TcpStream) -> HttpReply {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("no whole response");
    HttpReply::parse(&raw).expect("not an HTTP response")
}

/// One request, its whole response.
pub fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> HttpReply {
    read_reply(send_request(addr, method, target, body))
}

/// Opens a polling session; returns its sid.
pub fn handshake<R: Sockets>(server: &EchoServer<R>) -> String {
    let reply = request(server.addr, "GET", &server.url("transport=polling"), b"");
    assert_eq!(reply.status, 200);
    open_sid(&reply.text()).unwrap().to_owned()
}

/// A WebSocket client.
pub type Ws = WebSocket<TcpStream>;

/// Opens a WebSocket to `target`.
pub fn websocket(addr: SocketAddr, target: &str) -> Ws {
    let (ws, response) =
        tungstenite::client(format!("ws://{addr}{target}"), connect(addr)).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next text, binary or close message (`None`: the connection ended),
/// skipping WebSocket pings.
pub fn next_message(ws: &mut Ws) -> Option<WsMessage> {
    loop {
        match ws.read() {
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => {}
            Ok(message) => return Some(message),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                panic!("no message within {WAIT:?}")
            }
            Err(_) => return None,
        }
    }
}

/// The text of `message`.
pub fn text(message: Option<WsMessage>) -> String {
    match message {
        Some(WsMessage::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Upgrades a raw TCP connection to a WebSocket at `target`; returns it
/// once the 101 came, with whatever the server sent after it.
pub fn raw_websocket(addr: SocketAddr, target: &str) -> (TcpStream, Vec<u8>) {
    let mut stream = connect(addr);
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let end = loop {
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).expect("no 101");
        assert_ne!(n, 0, "closed before the 101");
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    assert!(raw.starts_with(b"HTTP/1.1 101"));
    let rest = raw.split_off(end);
    (stream, rest)
}

/// A client's text frame: masked (with an all-zero key, which leaves the
/// payload as it is), at most 125 bytes.
pub fn masked_text(payload: &str) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// The server's unmasked short text frames at the start of `raw`.
pub fn server_texts(raw: &[u8]) -> Vec<String> {
    let mut texts = Vec::new();
    let mut at = 0;
    while raw.len() >= at + 2 && raw[at] == 0x81 && raw[at + 1] < 126 {
        let len = raw[at + 1] as usize;
        if raw.len() < at + 2 + len {
            break;
        }
        texts.push(String::from_utf8(raw[at + 2..at + 2 + len].to_vec()).unwrap());
        at += 2 + len;
    }
    texts
}

// ----- the scenarios -----

/// The polling handshake's open packet and headers, byte for byte.
pub fn polling_handshake_answers_the_open_packet<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, fixture_config());
    let reply = request(server.addr, "GET", &server.url("transport=polling"), b"");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let body = reply.text();
    let sid = &body[9..29];
    assert!(
        sid.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(
        body,
        format!(
            r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
        )
    );
    assert_eq!(
        reply.header("content-length"),
        Some(body.len().to_string().as_str())
    );
}

/// A bad protocol version gets the official 400 body; other paths are not
/// the engine's (404).
pub fn refused_requests_and_other_paths<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let reply = request(server.addr, "GET", "/engine.io/?transport=polling", b"");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.text(),
        r#"{"code":5,"message":"Unsupported protocol version"}"#
    );
    let reply = request(
        server.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    );
    assert_eq!(reply.status, 404);
    let reply = request(
        server.addr,
        "GET",
        "/engine.io?EIO=4&transport=polling",
        b"",
    );
    assert_eq!(reply.status, 404);
}

/// A POST of text and binary comes back on the next GET.
pub fn polling_echoes_text_and_binary<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let sid = handshake(&server);
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let post = request(server.addr, "POST", &target, b"4hello\x1ebAQIDBA==");
    assert_eq!(post.status, 200);
    assert_eq!(post.text(), "ok");
    assert_eq!(post.header("content-type"), Some("text/html"));
    let poll = request(server.addr, "GET", &target, b"");
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "4hello\x1ebAQIDBA==");
}

/// A GET with nothing to carry is held until the application sends.
pub fn held_long_poll_is_answered_when_a_message_comes<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let sid = handshake(&server);
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let held = send_request(server.addr, "GET", &target, b"");
    server.until_held();
    server
        .driver
        .act(|core, _now| core.send(&Sid::new(&sid), Message::text("from the application")))
        .unwrap();
    let poll = read_reply(held);
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "4from the application");
}

/// A body one byte over `max_http_buffer_size` gets 413; the session lives on.
pub fn oversized_post_gets_413_and_the_session_survives<R: Sockets>(runtime: R) {
    let server = EchoServer::start(
        runtime,
        Config {
            max_http_buffer_size: 100,
            ..quiet_config()
        },
    );
    let sid = handshake(&server);
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let post = request(server.addr, "POST", &target, &[b'4'; 101]);
    assert_eq!(post.status, 413);
    let post = request(server.addr, "POST", &target, b"4small");
    assert_eq!(post.text(), "ok");
    let poll = request(server.addr, "GET", &target, b"");
    assert_eq!(poll.text(), "4small");
}

/// A long-poll whose connection goes away closes the session.
pub fn dropped_long_poll_closes_the_session<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let sid = handshake(&server);
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let held = send_request(server.addr, "GET", &target, b"");
    server.until_held();
    drop(held);
    let (closed, reason, description) = server.next_close();
    assert_eq!(closed.as_str(), sid);
    assert_eq!(reason, CloseReason::TransportError);
    assert_eq!(description, Some("poll connection closed prematurely"));
    let poll = request(server.addr, "GET", &target, b"");
    assert_eq!(poll.status, 400);
    assert_eq!(poll.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
}

/// The open packet over WebSocket, then text, binary and 100 messages in a
/// row echoed in order.
pub fn websocket_echoes_text_and_binary<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    let open = text(next_message(&mut ws));
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    assert!(
        open.ends_with(
            r#"","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":1000000}"#
        ),
        "{open}"
    );
    ws.send(WsMessage::text("4hello")).unwrap();
    assert_eq!(text(next_message(&mut ws)), "4hello");
    ws.send(WsMessage::binary(vec![1u8, 2, 3, 4])).unwrap();
    match next_message(&mut ws) {
        Some(WsMessage::Binary(b)) => assert_eq!(&b[..], &[1, 2, 3, 4]),
        other => panic!("expected binary, got {other:?}"),
    }
    for i in 0..100 {
        ws.write(WsMessage::text(format!("4m{i}"))).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..100 {
        assert_eq!(text(next_message(&mut ws)), format!("4m{i}"));
    }
}

/// A close packet closes the WebSocket (1000) and the session.
pub fn websocket_close_packet_closes_the_socket<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    next_message(&mut ws).unwrap();
    ws.send(WsMessage::text("1")).unwrap();
    match next_message(&mut ws) {
        Some(WsMessage::Close(frame)) => assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000)),
        None => {}
        other => panic!("expected a close, got {other:?}"),
    }
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::TransportClose);
}

/// The client's closing handshake is a "transport close".
pub fn client_closing_the_websocket_closes_the_session<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    next_message(&mut ws).unwrap();
    ws.close(None).unwrap();
    ws.flush().unwrap();
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::TransportClose);
}

/// As on the official server: only a protocol violation is a transport
/// error; a connection that just ends (no close frame) is a close.
pub fn a_websocket_dropped_without_closing_is_a_transport_close<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    next_message(&mut ws).unwrap();
    drop(ws);
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::TransportClose);
}

/// Reads from `stream` (after `raw`, what came with the 101) until the
/// server's bytes after its open packet's frame are `expected` long, and
/// returns them.
fn after_open(stream: &mut TcpStream, mut raw: Vec<u8>, expected: usize) -> Vec<u8> {
    loop {
        // The open packet: one short text frame.
        if raw.len() >= 2 && raw[0] == 0x81 && raw.len() >= 2 + raw[1] as usize + expected {
            let open = 2 + raw[1] as usize;
            return raw[open..].to_vec();
        }
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).expect("the server's frames");
        assert_ne!(n, 0, "closed early: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    }
}

/// An unmasked client frame (RFC 6455, 5.1) is a "transport error", and
/// the server closes with 1002, as the official server's WebSocket layer.
pub fn a_websocket_protocol_violation_is_a_transport_error<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let (mut stream, raw) = raw_websocket(server.addr, &server.url("transport=websocket"));
    stream.write_all(&[0x81, 0x02, b'4', b'x']).unwrap();
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::TransportError);
    assert_eq!(after_open(&mut stream, raw, 4), [0x88, 0x02, 0x03, 0xea]);
}

/// The WebSocket's control frames, byte for byte: a ping gets a pong with
/// its payload, the client's close frame is echoed (then a "transport
/// close"), text that is not UTF-8 gets 1007 (a "transport error").
pub fn websocket_control_frames_byte_for_byte<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let (mut stream, raw) = raw_websocket(server.addr, &server.url("transport=websocket"));
    // Masked with a zero key: the payload reads as it is.
    stream
        .write_all(&[0x89, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .unwrap();
    let pong = after_open(&mut stream, raw, 4);
    assert_eq!(pong, [0x8a, 0x02, b'h', b'i']);
    // A message after the ping is still served.
    stream.write_all(&masked_text("4after")).unwrap();
    let mut buf = [0u8; 8];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"\x81\x064after");
    stream
        .write_all(&[0x88, 0x85, 0, 0, 0, 0, 0x03, 0xe8, b'b', b'y', b'e'])
        .unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, &[0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::TransportClose);

    let (mut stream, raw) = raw_websocket(server.addr, &server.url("transport=websocket"));
    stream
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, b'4', 0xc3])
        .unwrap();
    assert_eq!(after_open(&mut stream, raw, 4), [0x88, 0x02, 0x03, 0xef]);
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::TransportError);
}

/// A flood of pongs and of empty fragments (frames that complete nothing)
/// is read in bounded turns: the message after it is still answered, and
/// so is the next.
pub fn a_flood_of_control_frames_and_empty_fragments_is_served<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let (mut stream, raw) = raw_websocket(server.addr, &server.url("transport=websocket"));
    let mut flood = Vec::new();
    for _ in 0..5000 {
        // A pong, masked with a zero key, no payload.
        flood.extend_from_slice(&[0x8a, 0x80, 0, 0, 0, 0]);
    }
    // A text message in 3000 fragments: an empty first frame, empty
    // continuations, then the payload in the last.
    flood.extend_from_slice(&[0x01, 0x80, 0, 0, 0, 0]);
    for _ in 0..3000 {
        flood.extend_from_slice(&[0x00, 0x80, 0, 0, 0, 0]);
    }
    flood.extend_from_slice(&[0x80, 0x82, 0, 0, 0, 0, b'4', b'a']);
    flood.extend_from_slice(&masked_text("4b"));
    stream.write_all(&flood).unwrap();
    assert_eq!(after_open(&mut stream, raw, 8), b"\x81\x024a\x81\x024b");
}

/// Over the engine's limit but under the WebSocket layer's: the engine's
/// rule answers, 1009 and "max payload exceeded".
pub fn oversized_websocket_message_closes_with_1009<R: Sockets>(runtime: R) {
    let server = EchoServer::start(
        runtime,
        Config {
            max_http_buffer_size: 100,
            ..quiet_config()
        },
    );
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    next_message(&mut ws).unwrap();
    ws.send(WsMessage::text(format!("4{}", "x".repeat(200))))
        .unwrap();
    match next_message(&mut ws) {
        Some(WsMessage::Close(frame)) => assert_eq!(frame.map(|f| u16::from(f.code)), Some(1009)),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    let (_, reason, description) = server.next_close();
    assert_eq!(reason, CloseReason::TransportError);
    assert_eq!(description, Some("max payload exceeded"));
}

/// Forty messages in one TCP write: the connection task hands them to the
/// core in batches (one lock each), and every one is echoed, in order.
pub fn messages_arriving_together_are_all_handled_in_order<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let (mut stream, mut raw) = raw_websocket(server.addr, &server.url("transport=websocket"));
    let sent: Vec<String> = (0..40).map(|i| format!("4m{i}")).collect();
    let burst: Vec<u8> = sent.iter().flat_map(|m| masked_text(m)).collect();
    stream.write_all(&burst).unwrap();
    let texts = loop {
        let texts = server_texts(&raw);
        if texts.len() > sent.len() {
            break texts;
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("not every echo came");
        assert_ne!(n, 0, "closed early");
        raw.extend_from_slice(&buf[..n]);
    };
    assert!(texts[0].starts_with("0{\"sid\":"), "{}", texts[0]);
    assert_eq!(texts[1..], sent[..]);
}

/// Messages and a close frame in one read: every message reaches the core
/// before the close.
pub fn messages_before_a_close_in_the_same_read_reach_the_core<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let (mut stream, _) = raw_websocket(server.addr, &server.url("transport=websocket"));
    let mut burst: Vec<u8> = (0..20)
        .flat_map(|i| masked_text(&format!("4m{i}")))
        .collect();
    // A close frame, code 1000, right behind them.
    burst.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    stream.write_all(&burst).unwrap();
    let mut messages = Vec::new();
    let reason = loop {
        match server.next_event() {
            Event::Message { data, .. } => messages.push(match data {
                Data::Text(text) => text.as_str().to_owned(),
                Data::Binary(_) => panic!("no binary was sent"),
            }),
            Event::Close { reason, .. } => break reason,
            _ => {}
        }
    };
    assert_eq!(reason, CloseReason::TransportClose);
    let expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(messages, expected);
}

/// Polling, then the WebSocket probe and upgrade; polling is refused after
/// it, and a second WebSocket for the same sid is closed at once.
pub fn polling_upgrades_to_websocket<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let sid = handshake(&server);
    let polling = server.url(&format!("transport=polling&sid={sid}"));
    let upgrade = server.url(&format!("transport=websocket&sid={sid}"));
    let mut ws = websocket(server.addr, &upgrade);
    ws.send(WsMessage::text("2probe")).unwrap();
    assert_eq!(text(next_message(&mut ws)), "3probe");
    // A long-poll during the upgrade ends with a noop.
    let poll = request(server.addr, "GET", &polling, b"");
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "6");
    ws.send(WsMessage::text("5")).unwrap();
    ws.send(WsMessage::text("4hello")).unwrap();
    assert_eq!(text(next_message(&mut ws)), "4hello");
    let poll = request(server.addr, "GET", &polling, b"");
    assert_eq!(poll.status, 400);
    assert_eq!(poll.text(), r#"{"code":3,"message":"Bad request"}"#);
    let mut second = websocket(server.addr, &upgrade);
    assert!(matches!(
        next_message(&mut second),
        Some(WsMessage::Close(_)) | None
    ));
    ws.send(WsMessage::text("4still here")).unwrap();
    assert_eq!(text(next_message(&mut ws)), "4still here");
}

/// Answered pings keep the session open; an unanswered one closes it with
/// "ping timeout".
pub fn heartbeat_runs_on_the_timer_task<R: Sockets>(runtime: R) {
    let server = EchoServer::start(
        runtime,
        Config {
            ping_interval: Duration::from_millis(100),
            ping_timeout: Duration::from_millis(400),
            ..fixture_config()
        },
    );
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    next_message(&mut ws).unwrap();
    for _ in 0..3 {
        assert_eq!(text(next_message(&mut ws)), "2");
        ws.send(WsMessage::text("3")).unwrap();
    }
    assert_eq!(text(next_message(&mut ws)), "2");
    assert!(matches!(
        next_message(&mut ws),
        Some(WsMessage::Close(_)) | None
    ));
    let (_, reason, _) = server.next_close();
    assert_eq!(reason, CloseReason::PingTimeout);
}

/// Messages close to `maxHttpBufferSize` (1 MB) echo whole over both
/// transports.
pub fn large_messages_echo_whole<R: Sockets>(runtime: R) {
    let server = EchoServer::start(runtime, quiet_config());
    let data: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    let mut ws = websocket(server.addr, &server.url("transport=websocket"));
    next_message(&mut ws).unwrap();
    ws.send(WsMessage::binary(data.clone())).unwrap();
    match next_message(&mut ws) {
        Some(WsMessage::Binary(b)) => assert!(b[..] == data[..]),
        other => panic!("expected binary, got {other:?}"),
    }
    let sid = handshake(&server);
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let text = format!("4{}", "é".repeat(400_000));
    let post = request(server.addr, "POST", &target, text.as_bytes());
    assert_eq!(post.text(), "ok");
    let poll = request(server.addr, "GET", &target, b"");
    assert!(poll.text() == text);
}

/// The async API on the runtime: a Socket.IO echo whose handler runs on
/// the runtime's tasks, over WebSocket.
pub fn socketio_handlers_run_on_the_runtime<R: Sockets>(runtime: R) {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("message", |socket: Socket, payload: Payload| async move {
            let _ = socket.emit_payload("message-back", payload);
        });
    });
    let mut config = socketio_proto::Config::default();
    config.engine.ping_interval = Duration::from_secs(60);
    let driver = serve_io(&io, config, runtime.clone());
    let addr = listen(&runtime, &driver);
    let mut ws = websocket(addr, "/socket.io/?EIO=4&transport=websocket");
    assert!(text(next_message(&mut ws)).starts_with(r#"0{"sid":""#));
    ws.send(WsMessage::text("40")).unwrap();
    let connect = text(next_message(&mut ws));
    assert!(connect.starts_with(r#"40{"sid":""#), "{connect}");
    ws.send(WsMessage::text(r#"42["message",1,"two",{"three":3}]"#))
        .unwrap();
    assert_eq!(
        text(next_message(&mut ws)),
        r#"42["message-back",1,"two",{"three":3}]"#
    );
}

/// A Socket.IO server on the runtime, on an ephemeral port.
fn socketio_server<R: Sockets>(runtime: R, io: &SocketIo) -> SocketAddr {
    let mut config = socketio_proto::Config::default();
    config.engine.ping_interval = Duration::from_secs(60);
    let driver = serve_io(io, config, runtime.clone());
    listen(&runtime, &driver)
}

/// A WebSocket client connected to the main namespace.
fn socketio_client(addr: SocketAddr) -> Ws {
    let mut ws = websocket(addr, "/socket.io/?EIO=4&transport=websocket");
    assert!(text(next_message(&mut ws)).starts_with(r#"0{"sid":""#));
    ws.send(WsMessage::text("40")).unwrap();
    let connect = text(next_message(&mut ws));
    assert!(connect.starts_with(r#"40{"sid":""#), "{connect}");
    ws
}

/// The handler every panicking scenario ends with: it acknowledges
/// `message-with-ack` with its arguments.
fn ack_echo(socket: &socketio_async::Socket) {
    socket.on(
        "message-with-ack",
        |payload: Payload, ack: Option<AckSender>| async move {
            if let Some(ack) = ack {
                let _ = ack.send_payload(payload);
            }
        },
    );
}

/// Handlers that panic, before their first `.await` and after it, end
/// that one invocation: their socket stays connected and is served, and so
/// is every other socket.
pub fn a_panicking_handler_harms_no_one<R: Sockets>(runtime: R) {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("panic", |socket: Socket| async move {
            let _ = socket.emit("about-to-panic", ());
            panic!("the handler panics before its first await");
        });
        socket.on("panic-async", |socket: Socket| async move {
            let _ = socket.emit("about-to-panic", ());
            crate::runtime::yield_now().await;
            panic!("the handler panics after an await");
        });
        ack_echo(&socket);
    });
    let addr = socketio_server(runtime, &io);
    let mut first = socketio_client(addr);
    let mut second = socketio_client(addr);
    for event in ["panic", "panic-async"] {
        first
            .send(WsMessage::text(format!(r#"42["{event}"]"#)))
            .unwrap();
        assert_eq!(text(next_message(&mut first)), r#"42["about-to-panic"]"#);
        first
            .send(WsMessage::text(r#"421["message-with-ack","still here"]"#))
            .unwrap();
        assert_eq!(text(next_message(&mut first)), r#"431["still here"]"#);
        second
            .send(WsMessage::text(r#"427["message-with-ack",{"other":true}]"#))
            .unwrap();
        assert_eq!(text(next_message(&mut second)), r#"437[{"other":true}]"#);
    }
    // New sockets still get in.
    let mut third = socketio_client(addr);
    third.send(WsMessage::text(r#"42["panic"]"#)).unwrap();
    assert_eq!(text(next_message(&mut third)), r#"42["about-to-panic"]"#);
}

/// 1,000 events sent at once reach the socket's handler in the order sent,
/// on every worker count.
pub fn events_of_one_socket_reach_their_handler_in_order<R: Sockets>(runtime: R) {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        socket.on("n", move |socket: Socket, payload: Payload| {
            let seen = seen.clone();
            async move {
                let n: u32 = payload.arg(0).unwrap();
                let mut seen = seen.lock().unwrap();
                seen.push(n);
                if seen.len() == 1000 {
                    let _ = socket.emit("seen", (&*seen,));
                }
            }
        });
    });
    let addr = socketio_server(runtime, &io);
    let mut ws = socketio_client(addr);
    for n in 0..1000u32 {
        ws.write(WsMessage::text(format!(r#"42["n",{n}]"#)))
            .unwrap();
    }
    ws.flush().unwrap();
    let expected: Vec<String> = (0..1000).map(|n| n.to_string()).collect();
    assert_eq!(
        text(next_message(&mut ws)),
        format!(r#"42["seen",[{}]]"#, expected.join(","))
    );
}

/// A handler that blocks its thread stalls its own socket only: on a
/// runtime with at least two worker threads, another socket's
/// acknowledgement is answered while it blocks. The handler blocks until
/// the other socket has its answer (no timing involved): if the other
/// socket waited for it, neither would ever finish and the client's read
/// would time out.
pub fn a_blocking_handler_stalls_only_its_own_socket<R: Sockets>(runtime: R) {
    let (blocked_tx, blocked) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let hold = std::sync::Arc::new(std::sync::Mutex::new((blocked_tx, released)));
    let io = SocketIo::new();
    io.on_connection(move |socket: Socket| {
        let hold = hold.clone();
        async move {
            socket.on("block", move |ack: Option<AckSender>| {
                let hold = hold.clone();
                async move {
                    let hold = hold.lock().unwrap();
                    hold.0.send(()).unwrap();
                    // Blocks the worker thread, as `std::thread::sleep` would.
                    hold.1.recv_timeout(WAIT * 2).unwrap();
                    if let Some(ack) = ack {
                        let _ = ack.send(("unblocked",));
                    }
                }
            });
            ack_echo(&socket);
        }
    });
    let addr = socketio_server(runtime, &io);
    let mut slow = socketio_client(addr);
    let mut fast = socketio_client(addr);
    slow.send(WsMessage::text(r#"421["block"]"#)).unwrap();
    blocked.recv_timeout(WAIT).unwrap();
    fast.send(WsMessage::text(r#"422["message-with-ack","prompt"]"#))
        .unwrap();
    assert_eq!(text(next_message(&mut fast)), r#"432["prompt"]"#);
    release.send(()).unwrap();
    assert_eq!(text(next_message(&mut slow)), r#"431["unblocked"]"#);
}

/// Waits until `freed` says so, at most [`WAIT`].
fn wait_until(what: &str, freed: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !freed() {
        assert!(Instant::now() < deadline, "{what} was never freed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a server holds is freed when it is let go: a socket's handle and
/// extensions once it disconnects, and the whole server (its core, the
/// driver, every handler registered on its `SocketIo`) once the application
/// drops its `SocketIo` and driver after `io.close()` (which ends the
/// accept loop) and the last connection has ended.
pub fn a_server_let_go_is_freed<R: Sockets>(runtime: R) {
    use std::sync::{Arc, Mutex, Weak};
    let server_kept = Arc::new(());
    let (socket_tx, socket_kept) = mpsc::channel::<Weak<()>>();
    let socket_tx = Mutex::new(socket_tx);
    let io = SocketIo::new();
    let held = server_kept.clone();
    io.on_connection(move |socket: Socket| {
        let _held = &held;
        // One sentinel in the socket's extensions, one in a handler.
        let kept = Arc::new(());
        socket_tx
            .lock()
            .unwrap()
            .send(Arc::downgrade(&kept))
            .unwrap();
        socket.extensions().insert(kept.clone());
        socket.on("kept", move |ack: Option<AckSender>| {
            let count = Arc::strong_count(&kept);
            async move {
                if let Some(ack) = ack {
                    let _ = ack.send((count,));
                }
            }
        });
        async {}
    });
    let mut config = socketio_proto::Config::default();
    config.engine.ping_interval = Duration::from_secs(60);
    let driver = serve_io(&io, config, runtime.clone());
    let addr = listen(&runtime, &driver);

    // A socket that disconnects is freed, with its extensions and handlers.
    let mut first = socketio_client(addr);
    let socket_kept = socket_kept.recv_timeout(WAIT).unwrap();
    first.send(WsMessage::text(r#"421["kept"]"#)).unwrap();
    // The handler's sentinel and the extensions' copy.
    assert_eq!(text(next_message(&mut first)), "431[2]");
    first.send(WsMessage::text("41")).unwrap();
    wait_until("a disconnected socket's state", || {
        socket_kept.upgrade().is_none()
    });
    drop(first);

    // A server let go is freed, even with a client connected when it
    // closed; before that, it holds the handlers' sentinel.
    let mut second = socketio_client(addr);
    assert_eq!(Arc::strong_count(&server_kept), 2);
    io.close();
    loop {
        match next_message(&mut second) {
            Some(WsMessage::Close(_)) | None => break,
            Some(_) => {}
        }
    }
    drop(second);
    drop(io);
    drop(driver);
    wait_until("a server let go", || Arc::strong_count(&server_kept) == 1);
}

/// Every scenario above, by name, for a binding to run each as its own
/// test (see `runtime-tokio/tests/serve.rs`).
#[macro_export]
macro_rules! for_each_scenario {
    ($m:ident) => {
        $m!(
            polling_handshake_answers_the_open_packet,
            refused_requests_and_other_paths,
            polling_echoes_text_and_binary,
            held_long_poll_is_answered_when_a_message_comes,
            oversized_post_gets_413_and_the_session_survives,
            dropped_long_poll_closes_the_session,
            websocket_echoes_text_and_binary,
            websocket_close_packet_closes_the_socket,
            client_closing_the_websocket_closes_the_session,
            a_websocket_dropped_without_closing_is_a_transport_close,
            a_websocket_protocol_violation_is_a_transport_error,
            websocket_control_frames_byte_for_byte,
            a_flood_of_control_frames_and_empty_fragments_is_served,
            oversized_websocket_message_closes_with_1009,
            messages_arriving_together_are_all_handled_in_order,
            messages_before_a_close_in_the_same_read_reach_the_core,
            polling_upgrades_to_websocket,
            heartbeat_runs_on_the_timer_task,
            large_messages_echo_whole,
            socketio_handlers_run_on_the_runtime,
            a_panicking_handler_harms_no_one,
            events_of_one_socket_reach_their_handler_in_order,
            a_server_let_go_is_freed,
        );
    };
}
