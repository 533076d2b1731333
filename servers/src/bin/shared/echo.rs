//! Handlers the example binaries share (included with `#[path]`).

use runtime_tokio::socketio_async::Socket;
use runtime_tokio::socketio_async::{AckSender, Payload};

/// Answers event `event` by emitting `reply` with the same arguments,
/// binary included.
pub(crate) fn echo(socket: &Socket, event: &str, reply: &'static str) {
    socket.on(event, move |socket: Socket, payload: Payload| async move {
        let _ = socket.emit_payload(reply, payload);
    });
}

/// Acknowledges event `event` with its own arguments.
pub(crate) fn ack_echo(socket: &Socket, event: &str) {
    socket.on(
        event,
        |payload: Payload, ack: Option<AckSender>| async move {
            if let Some(ack) = ack {
                let _ = ack.send_payload(payload);
            }
        },
    );
}
