//! The `tracing` events of a session: sockets connecting and leaving with
//! their namespace and id at info, event names at debug (in the span of the
//! WebSocket task that read them), payloads never above trace. One test in its own binary: the subscriber is global.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use runtime_tokio::socketio_async::Socket;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{bind, serve, serve_io};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a line has every one of `parts`; returns it.
    async fn until(&self, parts: &[&str]) -> String {
        for _ in 0..250 {
            if let Some(line) = self
                .lines()
                .into_iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no line with {parts:?} in:\n{}", self.lines().join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_sockets_and_event_names_without_payloads() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("report", |socket: Socket| async move {
            let _ = socket.emit("done", ());
        });
    });
    let driver = serve_io(&io, Config::default());
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(driver, listener));

    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    ws.next().await.unwrap().unwrap(); // the open packet
    ws.send(WsMessage::text("40")).await.unwrap();
    let connected = ws.next().await.unwrap().unwrap();
    let sid = connected.to_text().unwrap();
    let socket_id = sid
        .strip_prefix("40{\"sid\":\"")
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    ws.send(WsMessage::text(r#"42["report","top-secret-payload"]"#))
        .await
        .unwrap();
    ws.close(None).await.unwrap();

    let line = buffer
        .until(&["INFO", "socket connected", &socket_id])
        .await;
    assert!(
        line.contains("nsp=\"/\"") || line.contains("nsp=/"),
        "{line}"
    );
    assert!(line.contains("recovered=false"), "{line}");
    let line = buffer
        .until(&["DEBUG", "event", "event=\"report\"", &socket_id])
        .await;
    assert!(line.contains("nsp="), "{line}");
    // Read by the WebSocket task: inside its span, which names the request.
    assert!(
        line.contains("websocket{uri=\"/socket.io/?EIO=4&transport=websocket\"}"),
        "{line}"
    );
    buffer
        .until(&["INFO", "socket disconnected", &socket_id, "transport close"])
        .await;
    buffer
        .until(&["INFO", "session closed", "reason=\"transport close\""])
        .await;
    let all = buffer.lines().join("\n");
    assert!(!all.contains("top-secret-payload"), "{all}");
}
