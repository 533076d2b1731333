//! Two Socket.IO nodes on one Redis, each mounted in its own axum app: a
//! `chat` message sent to either node reaches the clients of both.
//!
//! ```text
//! redis-server --port 6379 &
//! cargo run -p adapter-redis --example two_nodes_axum -- redis://127.0.0.1:6379 [3000 3001]
//! ```
//!
//! Then connect socket.io-client to `http://127.0.0.1:3000` and to
//! `http://127.0.0.1:3001`: emit `chat` on one, both receive it. A Node
//! server with `@socket.io/redis-adapter` (`createAdapter`, default key) on
//! the same Redis joins the same cluster.

use adapter_redis::RedisAdapter;
use axum::Router;
use axum::routing::get;
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_async::{Payload, Socket};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{SocketIoLayer, serve_io};

async fn node(redis: String, port: u16) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let io = SocketIo::new();
    io.on_connection(move |socket: Socket| async move {
        socket.on(
            "chat",
            move |socket: Socket, mut payload: Payload| async move {
                // To every client of every node, saying which node relayed it.
                payload.args.push(serde_json::json!({ "via": port }));
                let _ = socket.io().of("/").operator().emit_payload("chat", payload);
            },
        );
    });
    let adapter = RedisAdapter::classic(redis);
    let config = Config {
        cluster: Some(adapter.cluster_config()),
        ..Config::default()
    };
    let driver = serve_io(&io, config);
    adapter.attach(&driver).await?;
    let app = Router::new()
        .route(
            "/",
            get(move || async move { format!("node on port {port}\n") }),
        )
        .layer(SocketIoLayer::new(driver));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("node on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let redis = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let port_a = args.next().map_or(Ok(3000), |p| p.parse())?;
    let port_b = args.next().map_or(Ok(3001), |p| p.parse())?;
    let a = tokio::spawn(node(redis.clone(), port_a));
    let b = tokio::spawn(node(redis, port_b));
    a.await??;
    b.await??;
    Ok(())
}
