//! Binary data: files in (the `Bin` extractor gives the attachments),
//! files out (`Payload::attach`), in either direction with an ack.
//!
//! ```text
//! cargo run -p runtime-tokio --example binary
//! ```
//!
//! Client: `socket.emit("upload", "a.png", new Uint8Array([...]), (size) => ...)`
//! stores it; `socket.emit("download", "a.png", (name, bytes) => ...)`
//! answers it; every client receives `uploaded` with the file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use runtime_tokio::socketio_async::{AckSender, Bin, Data, Payload, Socket, SocketIo, State};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{listen, serve_io};

/// The files received, by name.
#[derive(Default)]
struct Files {
    by_name: Mutex<HashMap<String, bytes::Bytes>>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::builder().with_state(Files::default()).build();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "upload",
            |socket: Socket,
             Data(name): Data<String>,
             Bin(attachments): Bin,
             files: State<Files>,
             ack: AckSender| async move {
                let Some(file) = attachments.into_iter().next() else {
                    let _ = ack.send(0);
                    return;
                };
                let size = file.len();
                files
                    .by_name
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.clone(), file.clone());
                // Two arguments: the name, then the bytes (a Buffer on Node,
                // an ArrayBuffer in a browser).
                if let Ok(payload) = Payload::new(name).map(|p| p.attach(file)) {
                    let _ = socket.broadcast().emit_payload("uploaded", payload);
                }
                let _ = ack.send(size);
            },
        );
        socket.on(
            "download",
            |Data(name): Data<String>, files: State<Files>, ack: AckSender| async move {
                let file = files
                    .by_name
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&name)
                    .cloned();
                let answer = match file {
                    Some(file) => Payload::new(name).map(|p| p.attach(file)),
                    None => Payload::new((name, ())),
                };
                if let Ok(answer) = answer {
                    let _ = ack.send_payload(answer);
                }
            },
        );
    });
    let driver = serve_io(&io, Config::default());
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
