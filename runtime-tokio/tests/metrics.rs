//! The counters of `runtime_hyper`'s observation points, read through the
//! Prometheus exporter: sockets connected and disconnected by namespace and
//! reason, packets and bytes in and out by transport, engine closes by
//! reason, a close for a full queue, and a timed-out acknowledgement. One
//! test in its own binary: the recorder is global to the process.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use runtime_tokio::socketio_async::{Payload, Socket};
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{bind, serve, serve_io};
use tokio_tungstenite::tungstenite::Message as WsMessage;

mod common;

use common::{WAIT, request};

/// Waits until the exported text has `line` (a metric with its labels and
/// value, as rendered); fails with the whole text after [`WAIT`].
async fn until_exported(handle: &PrometheusHandle, line: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = handle.render();
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line {line:?} in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message other than a ping.
async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(WsMessage::Text(t))) if t.as_str() != "2" => return t.as_str().to_owned(),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// The value of a counter line starting with `prefix` (name and labels).
fn value(handle: &PrometheusHandle, prefix: &str) -> Option<u64> {
    handle
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_of_sockets_packets_closes_and_acks() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();

    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |socket: Socket, payload: Payload| async move {
            let _ = socket.emit_payload("echo", payload);
        });
        socket.on("flood", |socket: Socket| async move {
            for i in 0..10 {
                let _ = socket.emit("flood", (i,));
            }
        });
        socket.on("ask", |socket: Socket| async move {
            // The client never answers: the ack times out.
            let _ = socket
                .timeout(Duration::from_millis(50))
                .emit_with_ack::<serde_json::Value>("question", ())
                .await;
        });
    });
    let mut config = Config::default();
    config.engine.max_buffered_packets = 4;
    let driver = serve_io(&io, config);
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(serve(driver, listener));

    // A WebSocket client: open, connect to "/", an echo, an unanswered ack.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws.send(WsMessage::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40{"));
    ws.send(WsMessage::text(r#"42["echo","hi"]"#))
        .await
        .unwrap();
    ws.send(WsMessage::text(r#"42["ask"]"#)).await.unwrap();
    until_exported(&handle, "socketio_acks_timed_out_total 1").await;
    until_exported(
        &handle,
        r#"socketio_sockets_connected_total{nsp="/",recovered="false"} 1"#,
    )
    .await;
    // In: 40, the echo, the ask (and no pong yet: the ping interval is 25 s).
    until_exported(
        &handle,
        r#"socketio_packets_in_total{transport="websocket"} 3"#,
    )
    .await;
    let bytes_in = 2 + r#"42["echo","hi"]"#.len() + r#"42["ask"]"#.len();
    until_exported(
        &handle,
        &format!(r#"socketio_bytes_in_total{{transport="websocket"}} {bytes_in}"#),
    )
    .await;
    // Out: the open packet, the CONNECT reply, the echo, the question.
    until_exported(
        &handle,
        r#"socketio_packets_out_total{transport="websocket"} 4"#,
    )
    .await;
    ws.close(None).await.unwrap();
    until_exported(
        &handle,
        r#"socketio_sockets_disconnected_total{nsp="/",reason="transport close"} 1"#,
    )
    .await;
    until_exported(
        &handle,
        r#"socketio_engine_closes_total{reason="transport close"} 1"#,
    )
    .await;

    // A polling client that asks for a flood and never polls: its queue
    // fills (4 packets) and the session closes for it.
    let (status, open) = request(addr, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200);
    let sid = runtime_hyper::testing::open_sid(&open).unwrap().to_owned();
    let target = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(
        request(addr, "POST", &target, "40").await,
        (200, "ok".to_owned())
    );
    let (status, connected) = request(addr, "GET", &target, "").await;
    assert_eq!(status, 200);
    assert!(connected.starts_with("40{"), "{connected}");
    assert_eq!(
        request(addr, "POST", &target, r#"42["flood"]"#).await,
        (200, "ok".to_owned())
    );
    until_exported(&handle, "socketio_queue_full_closes_total 1").await;
    until_exported(
        &handle,
        r#"socketio_engine_closes_total{reason="send buffer full"} 1"#,
    )
    .await;
    // Polling: in, the two POST bodies; out, the handshake and the CONNECT
    // reply ("ok" answers are not packets).
    until_exported(
        &handle,
        r#"socketio_packets_in_total{transport="polling"} 2"#,
    )
    .await;
    until_exported(
        &handle,
        r#"socketio_packets_out_total{transport="polling"} 2"#,
    )
    .await;
    let open_len = u64::try_from(open.len() + connected.len()).unwrap();
    assert_eq!(
        value(&handle, r#"socketio_bytes_out_total{transport="polling"}"#),
        Some(open_len)
    );
    until_exported(&handle, "socketio_engine_clients 0").await;
}
