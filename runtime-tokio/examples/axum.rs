//! Socket.IO mounted in an axum application: axum serves its own routes,
//! the layer serves `/socket.io/` (polling and WebSocket) on the same port.
//!
//! ```text
//! cargo run -p runtime-tokio --example axum -- 127.0.0.1:3000
//! ```
//!
//! Then `curl http://127.0.0.1:3000/` answers from axum, and any
//! socket.io-client connects to `http://127.0.0.1:3000`: the server emits
//! `hello` with the client's address and echoes `echo` back.

use runtime_tokio::socketio_async::{Payload, Socket};
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::map_request;
use axum::routing::get;
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{SocketIoLayer, serve_io};

/// Copies axum's `ConnectInfo` into the plain `SocketAddr` extension the
/// layer reads, so handshakes carry the client's address.
async fn peer_address(mut request: Request) -> Request {
    if let Some(ConnectInfo(addr)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let addr = *addr;
        request.extensions_mut().insert(addr);
    }
    request
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned())
        .parse()?;

    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        let address = socket.handshake().address.clone();
        let _ = socket.emit("hello", (address,));
        socket.on("echo", |socket: Socket, payload: Payload| async move {
            let _ = socket.emit_payload("echo", payload);
        });
    });

    let app = Router::new()
        .route(
            "/",
            get(|| async { "axum serves this; Socket.IO is on /socket.io/\n" }),
        )
        // For a load balancer's health checks (DEPLOYMENT.md).
        .route("/health", get(|| async { "ok" }))
        .layer(SocketIoLayer::new(serve_io(&io, Config::default())))
        .layer(map_request(peer_address));

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
