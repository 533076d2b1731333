//! The server the interop tests (`tests/interop`, official JavaScript
//! client) talk to. It prints `listening <port>` once ready.
//!
//! ```text
//! cargo run --release --bin interop-server -- --port 0
//! ```

#[path = "shared/echo.rs"]
mod echo;

use std::net::SocketAddr;
use std::time::Duration;

use runtime_tokio::socketio_async::{ConnectError, NamespaceMatcher, Socket, SocketIo};
use runtime_tokio::socketio_proto::{Config, RecoveryConfig};
use runtime_tokio::{bind, serve, serve_io};
use serde_json::{Value, json};

async fn on_connection(socket: Socket) {
    let auth = Value::Object(socket.handshake().auth.clone());
    let _ = socket.emit("auth", (auth, socket.recovered()));
    echo::echo(&socket, "echo", "echo");
    echo::ack_echo(&socket, "echo-ack");
    // The server asks the client and reports what came back.
    socket.on("ask", |socket, payload, _| async move {
        let timeout = Duration::from_millis(payload.arg::<u64>(0).unwrap_or(1000));
        match socket.emit_with_ack("question", ("?",), timeout).await {
            Ok(answer) => {
                let _ = socket.emit("answer", (Value::Array(answer.args),));
            }
            Err(e) => {
                let _ = socket.emit("answer-error", (e.to_string(),));
            }
        }
    });
    socket.on("join", |socket, payload, ack| async move {
        if let Some(room) = payload.arg::<String>(0) {
            socket.join(&room);
        }
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    });
    socket.on("to-room", |socket, payload, _| async move {
        let (room, text): (String, String) = payload.parse().unwrap_or_default();
        let _ = socket.to(room.as_str()).emit("room-msg", (text,));
    });
    socket.on("all-except", |socket, payload, _| async move {
        let (room, text): (String, String) = payload.parse().unwrap_or_default();
        let _ = socket
            .io()
            .except(room.as_str())
            .emit("except-msg", (text,));
    });
    socket.on("disconnect-me", |socket, payload, _| async move {
        socket.disconnect(payload.arg::<bool>(0).unwrap_or(false));
    });
    socket.on("broadcast-many", |socket, payload, _| async move {
        let n = payload.arg::<u64>(0).unwrap_or(0);
        for i in 0..n {
            let _ = socket.io().to("recovery").emit("seq", (i,));
        }
    });
    socket.on_disconnect(|socket, reason| async move {
        let _ = socket
            .io()
            .emit("left", (socket.id().as_str(), reason.as_str()));
    });
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let io = SocketIo::new();
    io.use_middleware(|c| async move {
        match c.handshake.auth.get("token") {
            Some(Value::String(t)) if t == "bad" => Err(ConnectError::with_data(
                "not authorized",
                json!({ "reason": "bad token" }),
            )),
            _ => Ok(()),
        }
    });
    io.on_connection(on_connection);
    io.of("/custom").on_connection(on_connection);
    let pattern = regex_lite::Regex::new(r"^/dyn-\d+$")?;
    io.of_dynamic(NamespaceMatcher::Pattern(pattern))
        .on_connection(|socket| async move {
            let nsp = socket.nsp().to_owned();
            let _ = socket.emit("nsp", (nsp,));
        });
    let mut config = Config::default();
    config.engine.ping_interval = Duration::from_millis(500);
    config.engine.ping_timeout = Duration::from_millis(400);
    config.recovery = Some(RecoveryConfig::default());
    let sio = serve_io(&io, config);
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    println!("listening {}", listener.local_addr()?.port());
    serve(sio, listener).await;
    Ok(())
}
