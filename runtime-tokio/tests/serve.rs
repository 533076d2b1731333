//! The tokio binding over real sockets: an Engine.IO echo server on an
//! ephemeral port, driven by a raw HTTP/1.1 client and a tungstenite
//! WebSocket client.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;

use runtime_hyper::testing::{HttpReply, open_sid, request_head};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use runtime_tokio::engineio_proto::{CloseReason, Config, Cors, Data, Event, Message, Server, Sid};
use runtime_tokio::{Driver, bind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(5);

struct TestServer {
    addr: SocketAddr,
    driver: Driver<Server>,
    events: mpsc::UnboundedReceiver<Event>,
}

/// The fixture's engine settings (PROTOCOL.md), with a fixed seed.
fn fixture_config() -> Config {
    Config {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        cors: Some(Cors::default()),
        seed: [7; 32],
        ..Config::default()
    }
}

/// Long heartbeats, so that no ping gets in the way of a scenario.
fn quiet_config() -> Config {
    Config {
        ping_interval: Duration::from_secs(60),
        ping_timeout: Duration::from_secs(60),
        ..fixture_config()
    }
}

/// An echo server on 127.0.0.1, port chosen by the system; every event is
/// also sent to `events`.
async fn start(config: Config) -> TestServer {
    let (tx, events) = mpsc::unbounded_channel();
    let driver = Driver::new(
        Server::new(config),
        move |server: &mut Server, _now, event| {
            if let Event::Message { sid, data } = &event {
                let _ = server.send(sid.as_str(), Message::from_data(data));
            }
            let _ = tx.send(event);
        },
    );
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(driver.clone().serve(listener));
    TestServer {
        addr,
        driver,
        events,
    }
}

impl TestServer {
    /// The next `Close` event, skipping others.
    async fn next_close(&mut self) -> (Sid, CloseReason, Option<&'static str>) {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Event::Close {
                    sid,
                    reason,
                    description,
                } = self.events.recv().await.expect("events end")
                {
                    return (sid, reason, description);
                }
            }
        })
        .await
        .expect("no close event")
    }

    /// Waits until the engine holds a request (a long-poll).
    async fn until_held(&self) {
        tokio::time::timeout(WAIT, async {
            while self.driver.act(|core, _| core.pending_requests()) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the request is not held");
    }

    fn url(&self, query: &str) -> String {
        format!("/engine.io/?EIO=4&{query}")
    }
}

type Reply = HttpReply;

/// Writes one HTTP/1.1 request on a fresh connection, without waiting.
async fn send_request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = request_head(method, target, body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream
}

/// Reads a whole response (the server closes after it: `Connection: close`).
async fn read_reply(mut stream: TcpStream) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("no response")
        .unwrap();
    HttpReply::parse(&raw).expect("not an HTTP response")
}

async fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Reply {
    read_reply(send_request(addr, method, target, body).await).await
}

/// Opens a polling session; returns its sid.
async fn handshake(server: &TestServer) -> String {
    let reply = request(server.addr, "GET", &server.url("transport=polling"), b"").await;
    assert_eq!(reply.status, 200);
    let text = reply.text();
    open_sid(&text).unwrap().to_owned()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn websocket(addr: SocketAddr, target: &str) -> Ws {
    let url = format!("ws://{addr}{target}");
    let (ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next text or binary message, skipping WebSocket pings.
async fn next_message(ws: &mut Ws) -> Option<WsMessage> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("no message")
}

fn text(message: Option<WsMessage>) -> String {
    match message {
        Some(WsMessage::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_handshake_answers_the_open_packet() {
    let server = start(fixture_config()).await;
    let reply = request(server.addr, "GET", &server.url("transport=polling"), b"").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_and_other_paths() {
    let server = start(quiet_config()).await;
    let reply = request(server.addr, "GET", "/engine.io/?transport=polling", b"").await;
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
    )
    .await;
    assert_eq!(reply.status, 404);
    let reply = request(
        server.addr,
        "GET",
        "/engine.io?EIO=4&transport=polling",
        b"",
    )
    .await;
    assert_eq!(reply.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_echoes_text_and_binary() {
    let server = start(quiet_config()).await;
    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let post = request(server.addr, "POST", &target, b"4hello\x1ebAQIDBA==").await;
    assert_eq!(post.status, 200);
    assert_eq!(post.text(), "ok");
    assert_eq!(post.header("content-type"), Some("text/html"));
    let poll = request(server.addr, "GET", &target, b"").await;
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "4hello\x1ebAQIDBA==");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_long_poll_is_answered_when_a_message_comes() {
    let server = start(quiet_config()).await;
    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let held = send_request(server.addr, "GET", &target, b"").await;
    // The GET is held: nothing to send yet. The application sends through
    // the driver; the held GET carries it.
    server.until_held().await;
    server
        .driver
        .act(|core, _now| core.send(&sid, Message::text("from the application")))
        .unwrap();
    let poll = read_reply(held).await;
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "4from the application");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_post_gets_413_and_the_session_survives() {
    let server = start(Config {
        max_http_buffer_size: 16,
        ..quiet_config()
    })
    .await;
    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let big = vec![b'4'; 100_000];
    let post = request(server.addr, "POST", &target, &big).await;
    assert_eq!(post.status, 413);
    let post = request(server.addr, "POST", &target, b"4small").await;
    assert_eq!(post.text(), "ok");
    let poll = request(server.addr, "GET", &target, b"").await;
    assert_eq!(poll.text(), "4small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_long_poll_closes_the_session() {
    let mut server = start(quiet_config()).await;
    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let held = send_request(server.addr, "GET", &target, b"").await;
    server.until_held().await;
    drop(held);
    let (closed, reason, description) = server.next_close().await;
    assert_eq!(closed.as_str(), sid);
    assert_eq!(reason, CloseReason::TransportError);
    assert_eq!(description, Some("poll connection closed prematurely"));
    let poll = request(server.addr, "GET", &target, b"").await;
    assert_eq!(poll.status, 400);
    assert_eq!(poll.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echoes_text_and_binary() {
    let server = start(quiet_config()).await;
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    let open = text(next_message(&mut ws).await);
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    assert!(
        open.ends_with(
            r#"","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":1000000}"#
        ),
        "{open}"
    );
    ws.send(WsMessage::text("4hello")).await.unwrap();
    assert_eq!(text(next_message(&mut ws).await), "4hello");
    ws.send(WsMessage::binary(vec![1u8, 2, 3, 4]))
        .await
        .unwrap();
    match next_message(&mut ws).await {
        Some(WsMessage::Binary(b)) => assert_eq!(&b[..], &[1, 2, 3, 4]),
        other => panic!("expected binary, got {other:?}"),
    }
    // Many messages in a row come back in order.
    for i in 0..100 {
        ws.feed(WsMessage::text(format!("4m{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..100 {
        assert_eq!(text(next_message(&mut ws).await), format!("4m{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_close_packet_closes_the_socket() {
    let mut server = start(quiet_config()).await;
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
    ws.send(WsMessage::text("1")).await.unwrap();
    match next_message(&mut ws).await {
        Some(WsMessage::Close(frame)) => assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000)),
        None => {}
        other => panic!("expected a close, got {other:?}"),
    }
    let (_, reason, _) = server.next_close().await;
    assert_eq!(reason, CloseReason::TransportClose);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_closing_the_websocket_closes_the_session() {
    let mut server = start(quiet_config()).await;
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
    ws.close(None).await.unwrap();
    let (_, reason, _) = server.next_close().await;
    assert_eq!(reason, CloseReason::TransportClose);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_dropped_without_closing_is_a_transport_close() {
    // As on the official server: only a protocol violation is a transport
    // error; a connection that just ends (no close frame) is a close.
    let mut server = start(quiet_config()).await;
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
    drop(ws);
    let (_, reason, _) = server.next_close().await;
    assert_eq!(reason, CloseReason::TransportClose);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_protocol_violation_is_a_transport_error() {
    let mut server = start(quiet_config()).await;
    let target = server.url("transport=websocket");
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 101"));
    // An unmasked text frame: clients must mask (RFC 6455, 5.1).
    stream.write_all(&[0x81, 0x02, b'4', b'x']).await.unwrap();
    let (_, reason, _) = server.next_close().await;
    assert_eq!(reason, CloseReason::TransportError);
}

/// Upgrades a raw TCP connection to a WebSocket at `target`, returns it
/// once the 101 came (and whatever the server sent after it).
async fn raw_websocket(addr: SocketAddr, target: &str) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let end = loop {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
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
fn masked_text(payload: &str) -> Vec<u8> {
    let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// The server's unmasked text frames at the start of `raw` (short ones),
/// and how many bytes they took.
fn server_texts(raw: &[u8]) -> (Vec<String>, usize) {
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
    (texts, at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arriving_together_are_all_handled_in_order() {
    // Forty messages in one TCP write: the task hands them to the core in
    // batches (one lock each), and every one is echoed, in order.
    let server = start(quiet_config()).await;
    let (mut stream, mut raw) =
        raw_websocket(server.addr, &server.url("transport=websocket")).await;
    let sent: Vec<String> = (0..40).map(|i| format!("4m{i}")).collect();
    let burst: Vec<u8> = sent.iter().flat_map(|m| masked_text(m)).collect();
    stream.write_all(&burst).await.unwrap();
    let texts = tokio::time::timeout(WAIT, async {
        loop {
            let (texts, _) = server_texts(&raw);
            if texts.len() > sent.len() {
                return texts;
            }
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "closed early");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("not every echo came");
    assert!(texts[0].starts_with("0{\"sid\":"), "{}", texts[0]);
    assert_eq!(texts[1..], sent[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_before_a_close_in_the_same_read_reach_the_core() {
    let mut server = start(quiet_config()).await;
    let (mut stream, _) = raw_websocket(server.addr, &server.url("transport=websocket")).await;
    let mut burst: Vec<u8> = (0..20)
        .flat_map(|i| masked_text(&format!("4m{i}")))
        .collect();
    // A close frame, code 1000, right behind them.
    burst.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    stream.write_all(&burst).await.unwrap();
    let mut messages = Vec::new();
    let reason = tokio::time::timeout(WAIT, async {
        loop {
            match server.events.recv().await.expect("events end") {
                Event::Message { data, .. } => messages.push(match data {
                    Data::Text(text) => text.as_str().to_owned(),
                    Data::Binary(_) => panic!("no binary was sent"),
                }),
                Event::Close { reason, .. } => return reason,
                _ => {}
            }
        }
    })
    .await
    .expect("no close event");
    assert_eq!(reason, CloseReason::TransportClose);
    let expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(messages, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_websocket_message_closes_with_1009() {
    let mut server = start(Config {
        max_http_buffer_size: 100,
        ..quiet_config()
    })
    .await;
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
    // Over the engine's limit but under the WebSocket layer's: the engine's
    // rule answers.
    ws.send(WsMessage::text(format!("4{}", "x".repeat(200))))
        .await
        .unwrap();
    match next_message(&mut ws).await {
        Some(WsMessage::Close(frame)) => assert_eq!(frame.map(|f| u16::from(f.code)), Some(1009)),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    let (_, reason, description) = server.next_close().await;
    assert_eq!(reason, CloseReason::TransportError);
    assert_eq!(description, Some("max payload exceeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_upgrades_to_websocket() {
    let server = start(quiet_config()).await;
    let sid = handshake(&server).await;
    let polling = server.url(&format!("transport=polling&sid={sid}"));
    let mut ws = websocket(
        server.addr,
        &server.url(&format!("transport=websocket&sid={sid}")),
    )
    .await;
    ws.send(WsMessage::text("2probe")).await.unwrap();
    assert_eq!(text(next_message(&mut ws).await), "3probe");
    // A long-poll during the upgrade ends with a noop.
    let poll = request(server.addr, "GET", &polling, b"").await;
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "6");
    ws.send(WsMessage::text("5")).await.unwrap();
    ws.send(WsMessage::text("4hello")).await.unwrap();
    assert_eq!(text(next_message(&mut ws).await), "4hello");
    // Polling with that sid is refused from now on.
    let poll = request(server.addr, "GET", &polling, b"").await;
    assert_eq!(poll.status, 400);
    assert_eq!(poll.text(), r#"{"code":3,"message":"Bad request"}"#);
    // A second WebSocket for the same sid is closed at once.
    let mut second = websocket(
        server.addr,
        &server.url(&format!("transport=websocket&sid={sid}")),
    )
    .await;
    assert!(matches!(
        next_message(&mut second).await,
        Some(WsMessage::Close(_)) | None
    ));
    ws.send(WsMessage::text("4still here")).await.unwrap();
    assert_eq!(text(next_message(&mut ws).await), "4still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_runs_on_the_timer_task() {
    let mut server = start(Config {
        ping_interval: Duration::from_millis(100),
        ping_timeout: Duration::from_millis(400),
        ..fixture_config()
    })
    .await;
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
    // Answered pings keep the session open...
    for _ in 0..3 {
        assert_eq!(text(next_message(&mut ws).await), "2");
        ws.send(WsMessage::text("3")).await.unwrap();
    }
    // ...an unanswered one closes it.
    assert_eq!(text(next_message(&mut ws).await), "2");
    assert!(matches!(
        next_message(&mut ws).await,
        Some(WsMessage::Close(_)) | None
    ));
    let (_, reason, _) = server.next_close().await;
    assert_eq!(reason, CloseReason::PingTimeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_echo_whole() {
    let server = start(quiet_config()).await;
    // Close to maxHttpBufferSize (1 MB), over both transports.
    let data: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
    ws.send(WsMessage::binary(data.clone())).await.unwrap();
    match next_message(&mut ws).await {
        Some(WsMessage::Binary(b)) => assert!(b[..] == data[..]),
        other => panic!("expected binary, got {other:?}"),
    }

    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let text = format!("4{}", "é".repeat(400_000));
    let post = request(server.addr, "POST", &target, text.as_bytes()).await;
    assert_eq!(post.text(), "ok");
    let poll = request(server.addr, "GET", &target, b"").await;
    assert!(poll.text() == text);
}
