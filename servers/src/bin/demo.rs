//! The demo server: Socket.IO on http://localhost:3000 (path `/socket.io/`)
//! for any official client, with an echo and a chat room, and a small page
//! at `/` that uses the browser client.
//!
//! ```text
//! cargo run --release --bin demo [-- --port 3000]
//! ```
//!
//! Events: `echo` (answered with `echo` and the same arguments, binary
//! included), `echo-ack` (acknowledged with the same arguments), `chat`
//! (sent to everyone else in the room `chat` as `chat`, with the sender's id).

#[path = "shared/echo.rs"]
mod echo;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use runtime_tokio::socketio_async::{Socket, SocketIo};
use runtime_tokio::{HttpResponse, Or, Route, listen, serve_io};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>socketio-rs demo</title>
<script src="https://cdn.socket.io/4.8.1/socket.io.min.js"></script>
<ul id="log"></ul>
<form id="f"><input id="m" autocomplete="off"><button>send</button></form>
<script>
  const socket = io();
  const log = (t) => { const li = document.createElement("li"); li.textContent = t; document.getElementById("log").append(li); };
  socket.on("connect", () => log("connected as " + socket.id));
  socket.on("chat", (from, text) => log(from + ": " + text));
  socket.on("disconnect", (reason) => log("disconnected: " + reason));
  document.getElementById("f").onsubmit = (e) => {
    e.preventDefault();
    const m = document.getElementById("m");
    socket.emit("chat", m.value);
    log("me: " + m.value);
    m.value = "";
  };
</script>
"#;

/// Serves the page at `/`.
#[derive(Clone)]
struct Page;

impl Route for Page {
    fn matches(&self, target: &str) -> bool {
        target == "/" || target.starts_with("/?")
    }

    async fn call(&self, _: http::Request<Incoming>, _: SocketAddr) -> HttpResponse {
        let mut response = http::Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

async fn on_connection(socket: Socket) {
    socket.join("chat");
    echo::echo(&socket, "echo", "echo");
    echo::ack_echo(&socket, "echo-ack");
    socket.on("chat", |socket, payload, _| async move {
        let text = payload.arg::<String>(0).unwrap_or_default();
        let _ = socket.to("chat").emit("chat", (socket.id().as_str(), text));
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 3000u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let io = SocketIo::new();
    io.on_connection(on_connection);
    let mut config = runtime_tokio::socketio_proto::Config::default();
    config.engine.cors = Some(runtime_tokio::engineio_proto::Cors::default());
    config.recovery = Some(runtime_tokio::socketio_proto::RecoveryConfig {
        max_disconnection_duration: Duration::from_secs(120),
        ..Default::default()
    });
    let sio = serve_io(&io, config);
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    eprintln!("demo server on http://localhost:{port} (Socket.IO at /socket.io/)");
    listen(Or(sio, Page), addr).await?;
    Ok(())
}
