//! A socket's queue: its task takes the queued events in chunks, and their
//! handlers still run, and answer, in arrival order.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use socketio_async::{AckSender, Payload, Socket, SocketIo};

use common::*;

#[test]
fn events_queued_together_are_answered_in_order_across_chunks() {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |socket: Socket, payload: Payload| async move {
            socket.emit_payload("echo", payload).unwrap();
        });
        socket.on("ack", |payload: Payload, ack: AckSender| async move {
            ack.send_payload(payload).unwrap();
        });
    });
    let b = start(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert!(frames[0].starts_with(r#"40{"sid":""#));
    // Twenty events in one step: more than one chunk (eight) of the queue.
    let sent: Vec<String> = (0..20)
        .map(|i| {
            if i % 3 == 0 {
                format!(r#"42{i}["ack",{i}]"#)
            } else {
                format!(r#"42["echo",{i}]"#)
            }
        })
        .collect();
    b.client(|h| {
        for frame in &sent {
            h.ws_send(ws, frame);
        }
    });
    let expected: Vec<String> = (0..20)
        .map(|i| {
            if i % 3 == 0 {
                format!("43{i}[{i}]")
            } else {
                format!(r#"42["echo",{i}]"#)
            }
        })
        .collect();
    assert_eq!(b.frames(ws), expected);
}
