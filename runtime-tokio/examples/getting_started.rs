//! The README's getting-started server: typed events, an acknowledgement,
//! rooms, and the browser client bundle served beside Socket.IO.
//!
//! ```text
//! cargo run -p runtime-tokio --example getting_started
//! ```

use std::net::SocketAddr;

use runtime_tokio::socketio_async::{AckSender, Data, Socket, SocketIo};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{ClientBundle, listen, serve_io};
use serde::{Deserialize, Serialize};

/// What a client sends with `message`.
#[derive(Deserialize)]
struct Message {
    room: String,
    text: String,
}

/// What the room receives.
#[derive(Serialize)]
struct Relayed<'a> {
    from: &'a str,
    text: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        let _ = socket.emit("welcome", "hello from Rust");
        // A `message` that is not a `Message` does not run the handler.
        socket.on(
            "message",
            |socket: Socket, Data(message): Data<Message>, ack: AckSender| async move {
                socket.join(&message.room);
                let relayed = Relayed {
                    from: socket.id().as_str(),
                    text: message.text,
                };
                let _ = socket.to(&message.room).emit("message", relayed);
                // An error only if the client asked for no acknowledgement.
                let _ = ack.send("delivered");
            },
        );
    });

    let driver = serve_io(&io, Config::default());
    // Optional: serve /socket.io/socket.io.js from npm's socket.io-client.
    if let Ok(bundle) = ClientBundle::from_dir("node_modules/socket.io-client/dist") {
        let _ = driver.serve_client(bundle);
    }
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
