//! The tower layer under axum: axum's own routes and Socket.IO (polling and
//! WebSocket) on one port, the client's address carried into the handshake.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use runtime_tokio::socketio_async::{Payload, Socket};
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::map_request;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{SocketIoLayer, serve_io};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

mod common;

use common::{WAIT, request};

async fn peer_address(mut request: Request) -> Request {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let addr = *addr;
        request.extensions_mut().insert(addr);
    }
    request
}

/// An axum app with a route of its own and Socket.IO through the layer:
/// on connection the server emits `address` (the handshake's address) and
/// echoes `echo`.
async fn start() -> SocketAddr {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        let address = socket.handshake().address.clone();
        let _ = socket.emit("address", (address,));
        socket.on("echo", |socket: Socket, payload: Payload| async move {
            let _ = socket.emit_payload("echo", payload);
        });
    });
    let mut config = Config::default();
    config.engine.seed = [3; 32];
    let app = Router::new()
        .route("/hello", get(|| async { "from axum" }))
        .layer(SocketIoLayer::new(serve_io(&io, config)))
        .layer(map_request(peer_address));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_and_polling_share_the_port() {
    let addr = start().await;
    assert_eq!(
        request(addr, "GET", "/hello", "").await,
        (200, "from axum".to_owned())
    );
    // A path neither serves: axum's own 404.
    assert_eq!(request(addr, "GET", "/nothing", "").await.0, 404);

    let (status, body) = request(addr, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200);
    let sid = body
        .strip_prefix(r#"0{"sid":""#)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let target = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(
        request(addr, "POST", &target, "40").await,
        (200, "ok".to_owned())
    );
    let (status, body) = request(addr, "GET", &target, "").await;
    assert_eq!(status, 200);
    // The CONNECT reply, then the `address` event with the peer address
    // axum's ConnectInfo gave.
    let packets: Vec<&str> = body.split('\x1e').collect();
    assert_eq!(packets.len(), 2, "{body:?}");
    assert!(packets[0].starts_with(r#"40{"sid":""#), "{body:?}");
    assert!(
        packets[1].starts_with(r#"42["address","127.0.0.1:"#),
        "{body:?}"
    );
    // Unknown session: the official 400 body.
    assert_eq!(
        request(
            addr,
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=nope",
            ""
        )
        .await,
        (
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#.to_owned()
        )
    );
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The next text message, skipping WebSocket pings and Engine.IO pings.
async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no message")
        {
            Some(Ok(WsMessage::Text(t))) if t.as_str() != "2" => return t.as_str().to_owned(),
            Some(Ok(WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_through_the_layer() {
    let addr = start().await;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, response) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(response.status(), 101);
    assert!(next_text(&mut ws).await.starts_with(r#"0{"sid":""#));
    ws.send(WsMessage::text("40")).await.unwrap();
    let connected = next_text(&mut ws).await;
    assert!(connected.starts_with(r#"40{"sid":""#), "{connected:?}");
    let address = next_text(&mut ws).await;
    assert!(
        address.starts_with(r#"42["address","127.0.0.1:"#),
        "{address:?}"
    );
    ws.send(WsMessage::text(r#"42["echo",1,"two",{"three":3}]"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        r#"42["echo",1,"two",{"three":3}]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_alone_is_a_tower_service() {
    use http_body_util::{BodyExt, Full};
    use runtime_tokio::Driver;
    use runtime_tokio::engineio_proto::{Config as EngineConfig, Server};
    use tower_service::Service;

    let mut driver = Driver::new(
        Server::new(EngineConfig {
            seed: [5; 32],
            ..EngineConfig::default()
        }),
        |_: &mut Server, _, _| {},
    );
    let get = |target: &str| {
        http::Request::get(target)
            .body(Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    let outside = driver.call(get("/elsewhere")).await.unwrap();
    assert_eq!(outside.status(), 404);
    let open = driver
        .call(get("/engine.io/?EIO=4&transport=polling"))
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    let body = open.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(br#"0{"sid":""#), "{body:?}");
    let bad = driver
        .call(get("/engine.io/?EIO=5&transport=polling"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body = bad.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        br#"{"code":5,"message":"Unsupported protocol version"}"#
    );
}
