//! A Socket.IO server under `smol::block_on`, its tasks on an executor the
//! application runs itself: an echo, an ack echo and a chat room.
//!
//! ```text
//! cargo run -p runtime-async-std --example smol [-- PORT]
//! ```
//!
//! Any official client connects to `http://localhost:PORT` (default 3202).

use runtime_async_std::socketio_async::Data;
use std::net::SocketAddr;
use std::sync::Arc;

use runtime_async_std::socketio_async::{Socket, SocketIo};
use runtime_async_std::socketio_proto::Config;

#[path = "../../servers/src/bin/shared/echo.rs"]
mod echo;

async fn on_connection(socket: Socket) {
    socket.join("chat");
    echo::echo(&socket, "echo", "echo");
    echo::ack_echo(&socket, "echo-ack");
    // Typed data: a `chat` whose first argument is not a string does not
    // run the handler.
    socket.on(
        "chat",
        |socket: Socket, Data(text): Data<String>| async move {
            let _ = socket.to("chat").emit("chat", (socket.id().as_str(), text));
        },
    );
}

fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3202u16);
    let io = SocketIo::new();
    io.on_connection(on_connection);

    // The binding spawns on this executor; the main thread runs it (add
    // threads that run it too for more cores).
    let executor = Arc::new(smol::Executor::new());
    smol::block_on(executor.run(async {
        let driver = runtime_async_std::serve_io(&io, Config::default(), executor.clone());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        eprintln!("Socket.IO on smol at http://{addr}/socket.io/");
        driver.listen(addr).await
    }))
}
