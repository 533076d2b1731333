//! Our server's benchmark handlers and config, written against the
//! runtime-agnostic async API (`socketio-async`): only startup differs
//! between runtimes (see `bin/ours.rs`).

use runtime_hyper::engineio_proto::PerMessageDeflate;
use socketio_async::{AckSender, Payload, Socket, SocketIo};
use socketio_proto::{Config, MsgpackParser};

use crate::Args;

/// The application: the three benchmark events on namespace `/`.
pub fn app() -> SocketIo {
    let io = SocketIo::new();
    io.on_connection(on_connection);
    io
}

/// The core's config: its defaults (a client that stops reading is closed
/// with "send buffer full" at 4096 queued packets, never dropped silently),
/// with the heartbeat the harness gives every server, and the
/// permessage-deflate and parser the flags ask for.
pub fn config(args: &Args) -> Config {
    let mut config = Config::default();
    config.engine.ping_interval = args.ping_interval;
    config.engine.ping_timeout = args.ping_timeout;
    if let Some(takeover) = args.deflate {
        config.engine.per_message_deflate = Some(PerMessageDeflate {
            server_context_takeover: takeover,
            client_context_takeover: takeover,
            ..PerMessageDeflate::default()
        });
    }
    if args.msgpack {
        config.parser = std::sync::Arc::new(MsgpackParser::default());
    }
    config
}

async fn on_connection(socket: Socket) {
    socket.join("all");
    socket.on("echo", |socket: Socket, payload: Payload| async move {
        // A full queue closes the session with a reason; nothing to add.
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
    socket.on("broadcast", |socket: Socket, payload: Payload| async move {
        let _ = socket.io().to("all").emit_payload("broadcast", payload);
    });
}
