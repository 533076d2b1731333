//! The README's getting-started server: typed events, an acknowledgement,
//! rooms, and the browser client bundle served beside Socket.IO.
//!
//! ```text
//! cargo run -p runtime-tokio --example getting_started
//! ```

use std::net::SocketAddr;

use runtime_tokio::socketio_async::SocketIo;
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
    io.on_connection(|socket| async move {
        let _ = socket.emit("welcome", ("hello from Rust",));
        socket.on("message", |socket, payload, ack| async move {
            let Some(message) = payload.arg::<Message>(0) else {
                return;
            };
            socket.join(&message.room);
            let relayed = Relayed {
                from: socket.id().as_str(),
                text: message.text,
            };
            let _ = socket.to(&message.room).emit("message", (relayed,));
            if let Some(ack) = ack {
                let _ = ack.send(("delivered",));
            }
        });
    });

    let driver = serve_io(&io, Config::default());
    // Optional: serve /socket.io/socket.io.js from npm's socket.io-client.
    if let Ok(bundle) = ClientBundle::from_dir("node_modules/socket.io-client/dist") {
        let _ = driver.serve_client(bundle);
    }
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
