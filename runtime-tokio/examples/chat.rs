//! A chat in axum: the page at `/`, Socket.IO on the same port. The
//! README's "Getting started" builds this file step by step.
//!
//! ```text
//! cargo run -p runtime-tokio --example chat      # then open http://127.0.0.1:3000
//! ```

use std::net::SocketAddr;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use runtime_tokio::socketio_async::{AckSender, Data, DisconnectReason, Socket, SocketIo};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{SocketIoLayer, serve_io};
use serde::{Deserialize, Serialize};

/// What a client sends with `chat`.
#[derive(Deserialize)]
struct Message {
    text: String,
}

/// What everyone receives.
#[derive(Serialize)]
struct Said {
    from: String,
    text: String,
}

async fn on_connection(socket: Socket) {
    let _ = socket.broadcast().emit("joined", socket.id().as_str());
    // Typed data: a `chat` that is not a `Message` never reaches the handler.
    socket.on(
        "chat",
        |socket: Socket, Data(message): Data<Message>, ack: AckSender| async move {
            let said = Said {
                from: socket.id().to_string(),
                text: message.text,
            };
            // One value is one argument: the client's handler gets `said`.
            let _ = socket.io().emit("chat", said);
            let _ = ack.send("delivered");
        },
    );
    socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move {
        let _ = socket
            .broadcast()
            .emit("left", (socket.id().as_str(), reason.as_str()));
    });
}

const PAGE: &str = r#"<!doctype html>
<title>chat</title>
<ul id="log"></ul>
<form id="form"><input id="text" autocomplete="off"><button>send</button></form>
<script src="https://cdn.socket.io/4.8.1/socket.io.min.js"></script>
<script>
  const socket = io();
  const line = (t) => { const li = document.createElement("li"); li.textContent = t; log.append(li); };
  socket.on("chat", (m) => line(`${m.from}: ${m.text}`));
  socket.on("joined", (id) => line(`${id} joined`));
  socket.on("left", (id, why) => line(`${id} left (${why})`));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const status = await socket.timeout(5000).emitWithAck("chat", { text: text.value });
    text.value = "";
    console.log(status);
  };
</script>
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let io = SocketIo::new();
    io.on_connection(on_connection);
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .layer(SocketIoLayer::new(serve_io(&io, Config::default())));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 3000))).await?;
    println!("open http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
