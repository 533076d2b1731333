//! Handlers the example binaries share (included with `#[path]`: by the
//! servers' binaries and by the runtimes' examples, whatever their
//! runtime, so only `socketio_async` is named here).

use socketio_async::{AckSender, Payload, Socket};

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
