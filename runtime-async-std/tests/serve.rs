//! The async-io binding over real sockets, under async-std and under smol:
//! an Engine.IO echo server (and a Socket.IO one) on an ephemeral port,
//! driven by a raw HTTP/1.1 client and a tungstenite WebSocket client.
//!
//! Every scenario is one generic function, run once per executor by the
//! `on_both!` macro at the bottom.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use async_io::{Async, Timer};
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::{AsyncReadExt, AsyncWriteExt, SinkExt, StreamExt};
use runtime_async_std::engineio_proto::{CloseReason, Config, Cors, Event, Message, Server, Sid};
use runtime_async_std::socketio_async::SocketIo;
use runtime_async_std::{AsyncIo, Driver, Executor, bind, serve_io};
use runtime_hyper::testing::{HttpReply, open_sid, request_head};

const WAIT: Duration = Duration::from_secs(5);

/// `future`, or a panic naming `what` after [`WAIT`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    let timeout = async {
        Timer::after(WAIT).await;
        panic!("timed out: {what}");
    };
    futures_util::future::select(Box::pin(future), Box::pin(timeout))
        .await
        .factor_first()
        .0
}

struct TestServer<E: Executor> {
    addr: SocketAddr,
    driver: Driver<Server, E>,
    events: async_channel::Receiver<Event>,
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

/// An echo server on 127.0.0.1, port chosen by the system, its tasks on
/// `executor`; every event is also sent to `events`.
fn start<E: Executor>(executor: E, config: Config) -> TestServer<E> {
    let (tx, events) = async_channel::unbounded();
    let driver = Driver::with_runtime(
        AsyncIo(executor.clone()),
        Server::new(config),
        move |server: &mut Server, _now, event| {
            if let Event::Message { sid, data } = &event {
                let _ = server.send(sid.as_str(), Message::from_data(data));
            }
            let _ = tx.try_send(event);
        },
    );
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    executor.spawn(Box::pin(driver.clone().serve(listener)));
    TestServer {
        addr,
        driver,
        events,
    }
}

impl<E: Executor> TestServer<E> {
    /// The next `Close` event, skipping others.
    async fn next_close(&mut self) -> (Sid, CloseReason, Option<&'static str>) {
        within("close event", async {
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
    }

    /// Waits until the engine holds a request (a long-poll).
    async fn until_held(&self) {
        within("held request", async {
            while self.driver.act(|core, _| core.pending_requests()) == 0 {
                Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    fn url(&self, query: &str) -> String {
        format!("/engine.io/?EIO=4&{query}")
    }
}

type Reply = HttpReply;

/// Writes one HTTP/1.1 request on a fresh connection, without waiting.
async fn send_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
) -> Async<TcpStream> {
    let mut stream = Async::<TcpStream>::connect(addr).await.unwrap();
    let head = request_head(method, target, body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream
}

/// Reads a whole response (the server closes after it: `Connection: close`).
async fn read_reply(mut stream: Async<TcpStream>) -> Reply {
    let mut raw = Vec::new();
    within("response", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    HttpReply::parse(&raw).expect("not an HTTP response")
}

async fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Reply {
    read_reply(send_request(addr, method, target, body).await).await
}

/// Opens a polling session; returns its sid.
async fn handshake<E: Executor>(server: &TestServer<E>) -> String {
    let reply = request(server.addr, "GET", &server.url("transport=polling"), b"").await;
    assert_eq!(reply.status, 200);
    let text = reply.text();
    open_sid(&text).unwrap().to_owned()
}

type Ws = WebSocketStream<Async<TcpStream>>;

async fn websocket(addr: SocketAddr, target: &str) -> Ws {
    let stream = Async::<TcpStream>::connect(addr).await.unwrap();
    let url = format!("ws://{addr}{target}");
    let (ws, response) = async_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next text or binary message, skipping WebSocket pings.
async fn next_message(ws: &mut Ws) -> Option<WsMessage> {
    within("message", async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
}

fn text(message: Option<WsMessage>) -> String {
    match message {
        Some(WsMessage::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn polling_handshake_answers_the_open_packet<E: Executor>(executor: E) {
    let server = start(executor, fixture_config());
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
    // Other paths are not the engine's.
    let reply = request(
        server.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    )
    .await;
    assert_eq!(reply.status, 404);
}

async fn polling_echoes_and_holds_long_polls<E: Executor>(executor: E) {
    let server = start(executor, quiet_config());
    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let post = request(server.addr, "POST", &target, b"4hello\x1ebAQIDBA==").await;
    assert_eq!(post.status, 200);
    assert_eq!(post.text(), "ok");
    assert_eq!(post.header("content-type"), Some("text/html"));
    let poll = request(server.addr, "GET", &target, b"").await;
    assert_eq!(poll.status, 200);
    assert_eq!(poll.text(), "4hello\x1ebAQIDBA==");
    // A held GET is answered when the application sends.
    let held = send_request(server.addr, "GET", &target, b"").await;
    server.until_held().await;
    server
        .driver
        .act(|core, _| core.send(&sid, Message::text("later")))
        .unwrap();
    let reply = read_reply(held).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "4later");
}

async fn oversized_post_gets_413_and_the_session_survives<E: Executor>(executor: E) {
    let server = start(
        executor,
        Config {
            max_http_buffer_size: 100,
            ..quiet_config()
        },
    );
    let sid = handshake(&server).await;
    let target = server.url(&format!("transport=polling&sid={sid}"));
    let post = request(server.addr, "POST", &target, &[b'4'; 101]).await;
    assert_eq!(post.status, 413);
    let post = request(server.addr, "POST", &target, b"4small").await;
    assert_eq!(post.text(), "ok");
    let poll = request(server.addr, "GET", &target, b"").await;
    assert_eq!(poll.text(), "4small");
}

async fn websocket_echoes_text_and_binary<E: Executor>(executor: E) {
    let mut server = start(executor, quiet_config());
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
    // A message far larger than the read buffer comes back whole.
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(WsMessage::binary(large.clone())).await.unwrap();
    match next_message(&mut ws).await {
        Some(WsMessage::Binary(b)) => assert!(b[..] == large[..]),
        other => panic!("expected binary, got {other:?}"),
    }
    // The close packet closes the socket with 1000.
    ws.send(WsMessage::text("1")).await.unwrap();
    match next_message(&mut ws).await {
        Some(WsMessage::Close(frame)) => assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000)),
        None => {}
        other => panic!("expected a close, got {other:?}"),
    }
    let (_, reason, _) = server.next_close().await;
    assert_eq!(reason, CloseReason::TransportClose);
}

async fn oversized_websocket_message_closes_with_1009<E: Executor>(executor: E) {
    let mut server = start(
        executor,
        Config {
            max_http_buffer_size: 100,
            ..quiet_config()
        },
    );
    let mut ws = websocket(server.addr, &server.url("transport=websocket")).await;
    next_message(&mut ws).await.unwrap();
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

async fn polling_upgrades_to_websocket<E: Executor>(executor: E) {
    let server = start(executor, quiet_config());
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
}

async fn heartbeat_runs_on_the_timer_task<E: Executor>(executor: E) {
    let mut server = start(
        executor,
        Config {
            ping_interval: Duration::from_millis(100),
            ping_timeout: Duration::from_millis(400),
            ..fixture_config()
        },
    );
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

/// The async API on this binding: a Socket.IO echo whose handler runs on
/// the executor, over WebSocket.
async fn socketio_handlers_run_on_the_executor<E: Executor>(executor: E) {
    let io = SocketIo::new();
    io.on_connection(|socket| async move {
        socket.on("message", |socket, payload, _| async move {
            let _ = socket.emit_payload("message-back", payload);
        });
    });
    let mut config = runtime_async_std::socketio_proto::Config::default();
    config.engine.ping_interval = Duration::from_secs(60);
    let driver = serve_io(&io, config, executor.clone());
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    executor.spawn(Box::pin(driver.serve(listener)));

    let mut ws = websocket(addr, "/socket.io/?EIO=4&transport=websocket").await;
    assert!(text(next_message(&mut ws).await).starts_with(r#"0{"sid":""#));
    ws.send(WsMessage::text("40")).await.unwrap();
    let connect = text(next_message(&mut ws).await);
    assert!(connect.starts_with(r#"40{"sid":""#), "{connect}");
    ws.send(WsMessage::text(r#"42["message",1,"two",{"three":3}]"#))
        .await
        .unwrap();
    assert_eq!(
        text(next_message(&mut ws).await),
        r#"42["message-back",1,"two",{"three":3}]"#
    );
}

/// Runs each scenario once under async-std (its global executor) and once
/// under smol (its global executor), each in a module of that name.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod async_std_executor {
            $(
                #[test]
                fn $name() {
                    async_std::task::block_on(super::$name(runtime_async_std::AsyncStd));
                }
            )*
        }

        mod smol_executor {
            $(
                #[test]
                fn $name() {
                    smol::block_on(super::$name(runtime_async_std::Smol));
                }
            )*
        }
    };
}

on_both!(
    polling_handshake_answers_the_open_packet,
    polling_echoes_and_holds_long_polls,
    oversized_post_gets_413_and_the_session_survives,
    websocket_echoes_text_and_binary,
    oversized_websocket_message_closes_with_1009,
    polling_upgrades_to_websocket,
    heartbeat_runs_on_the_timer_task,
    socketio_handlers_run_on_the_executor,
);

/// A user-provided smol executor, run by the test thread itself: the
/// binding's tasks run only where the application runs that executor.
#[test]
fn user_provided_smol_executor_serves() {
    let executor = std::sync::Arc::new(smol::Executor::new());
    smol::block_on(executor.run(websocket_echoes_text_and_binary(executor.clone())));
}
