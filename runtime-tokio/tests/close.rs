//! Graceful shutdown over real sockets: `io.close()` ends every socket with
//! "server shutting down", clients see their transports close, and the
//! accept loop returns, freeing the port.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use runtime_tokio::socketio_async::{DisconnectReason, Socket};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{bind, serve, serve_io};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

mod common;

use common::{WAIT, request};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The next text message, skipping pings of both layers; `None` once the
/// WebSocket is closed.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no message")
        {
            Some(Ok(WsMessage::Text(t))) if t.as_str() != "2" => {
                return Some(t.as_str().to_owned());
            }
            Some(Ok(WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_close_disconnects_everyone_and_stops_accepting() {
    let (reasons_tx, mut reasons) = mpsc::unbounded_channel();
    let io = SocketIo::new();
    io.on_connection(move |socket: Socket| {
        let reasons_tx = reasons_tx.clone();
        async move {
            socket.on_disconnect(move |reason: DisconnectReason| {
                let reasons_tx = reasons_tx.clone();
                async move {
                    let _ = reasons_tx.send(reason.as_str().to_owned());
                }
            });
        }
    });
    let mut config = Config::default();
    config.engine.seed = [9; 32];
    let driver = serve_io(&io, config);
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(serve(driver.clone(), listener));

    // A WebSocket client and a polling client, both connected to `/`.
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(
        next_text(&mut ws)
            .await
            .unwrap()
            .starts_with(r#"0{"sid":""#)
    );
    ws.send(WsMessage::text("40")).await.unwrap();
    assert!(
        next_text(&mut ws)
            .await
            .unwrap()
            .starts_with(r#"40{"sid":""#)
    );

    let (status, open) = request(addr, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200);
    let sid = open
        .strip_prefix(r#"0{"sid":""#)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let poll = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(request(addr, "POST", &poll, "40").await, (200, "ok".into()));
    let (_, connected) = request(addr, "GET", &poll, "").await;
    assert!(connected.starts_with(r#"40{"sid":""#), "{connected:?}");

    // A long-poll held when the server closes.
    let held = tokio::spawn(async move { request(addr, "GET", &poll, "").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished());

    assert!(!driver.is_closed());
    io.close();
    assert!(driver.is_closed());

    // Both sockets see the reason; each client sees its transport end: the
    // WebSocket closes, the held poll gets the close packet.
    for _ in 0..2 {
        let reason = tokio::time::timeout(WAIT, reasons.recv()).await.unwrap();
        assert_eq!(reason.as_deref(), Some("server shutting down"));
    }
    assert_eq!(next_text(&mut ws).await, None);
    let held = tokio::time::timeout(WAIT, held).await.unwrap().unwrap();
    assert_eq!(held, (200, "1".into()));

    // The accept loop returned and dropped the listener: the port refuses.
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
    // Closing again changes nothing.
    io.close();
    assert!(driver.is_closed());
}
