//! A Socket.IO server under `#[async_std::main]`, its tasks on async-std's
//! global executor: an echo, an ack echo and a chat room.
//!
//! ```text
//! cargo run -p runtime-async-std --example async_std [-- PORT]
//! ```
//!
//! Any official client connects to `http://localhost:PORT` (default 3203).

use runtime_async_std::socketio_async::{AckSender, Data, Payload};
use std::net::SocketAddr;

use runtime_async_std::AsyncStd;
use runtime_async_std::socketio_async::{Socket, SocketIo};
use runtime_async_std::socketio_proto::Config;

async fn on_connection(socket: Socket) {
    socket.join("chat");
    socket.on("echo", |socket: Socket, payload: Payload| async move {
        let _ = socket.emit_payload("echo", payload);
    });
    socket.on(
        "echo-ack",
        |payload: Payload, ack: Option<AckSender>| async move {
            if let Some(ack) = ack {
                let _ = ack.send_payload(payload);
            }
        },
    );
    // Typed data: a `chat` whose first argument is not a string does not
    // run the handler.
    socket.on(
        "chat",
        |socket: Socket, Data(text): Data<String>| async move {
            let _ = socket.to("chat").emit("chat", (socket.id().as_str(), text));
        },
    );
}

#[async_std::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3203u16);
    let io = SocketIo::new();
    io.on_connection(on_connection);
    let driver = runtime_async_std::serve_io(&io, Config::default(), AsyncStd);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eprintln!("Socket.IO on async-std at http://{addr}/socket.io/");
    driver.listen(addr).await
}
