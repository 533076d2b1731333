//! What the server reports about itself: `tracing` events (sessions,
//! sockets, namespaces, event names; never a payload) and counters through
//! the `metrics` crate, taken at the few places every byte and every event
//! passes: the WebSocket reads and writes, the polling bodies, and the
//! Socket.IO core's events. Without a `tracing` subscriber or a `metrics`
//! recorder installed they cost a check each.
//!
//! The metrics (Prometheus names; `runtime-tokio/examples/prometheus.rs`
//! exports them):
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | `socketio_engine_clients` | gauge | |
//! | `socketio_engine_closes_total` | counter | `reason` (Engine.IO close reason) |
//! | `socketio_queue_full_closes_total` | counter | |
//! | `socketio_sockets_connected_total` | counter | `nsp`, `recovered` |
//! | `socketio_sockets_disconnected_total` | counter | `nsp`, `reason` |
//! | `socketio_packets_in_total`, `socketio_packets_out_total` | counter | `transport` (`polling`, `websocket`) |
//! | `socketio_bytes_in_total`, `socketio_bytes_out_total` | counter | `transport` |
//! | `socketio_acks_timed_out_total` | counter | |
//!
//! Namespaces are labels: an application with dynamic namespaces by the
//! thousand should not export these as they are.

use engineio_proto::{CloseReason, Frame};
use metrics::{counter, gauge};
use socketio_proto::{Event, Server};

/// The Engine.IO record separator of a v4 polling payload.
const SEPARATOR: u8 = 0x1e;

/// One message a WebSocket brought in.
pub(crate) fn websocket_in(frame: &Frame) {
    counter!("socketio_packets_in_total", "transport" => "websocket").increment(1);
    counter!("socketio_bytes_in_total", "transport" => "websocket").increment(frame_len(frame));
}

/// One message written to a WebSocket.
pub(crate) fn websocket_out(frame: &Frame) {
    counter!("socketio_packets_out_total", "transport" => "websocket").increment(1);
    counter!("socketio_bytes_out_total", "transport" => "websocket").increment(frame_len(frame));
}

/// A polling POST body handed to the engine.
pub(crate) fn polling_in(body: &[u8]) {
    if !body.is_empty() {
        counter!("socketio_packets_in_total", "transport" => "polling").increment(records(body));
        counter!("socketio_bytes_in_total", "transport" => "polling").increment(len(body));
    }
}

/// A polling response the engine answered (a `200` with a payload: the
/// handshake, a long-poll's packets, or `ok`).
pub(crate) fn polling_out(status: u16, body: &[u8]) {
    if status == 200 && !body.is_empty() && body != b"ok" {
        counter!("socketio_packets_out_total", "transport" => "polling").increment(records(body));
        counter!("socketio_bytes_out_total", "transport" => "polling").increment(len(body));
    }
}

/// A Socket.IO core event, before the application sees it.
pub(crate) fn socketio_event(core: &Server, event: &Event) {
    match event {
        Event::Connect { socket, nsp, .. } => {
            tracing::debug!(
                socket = socket.as_str(),
                nsp = nsp.as_str(),
                "socket connecting"
            );
        }
        Event::Connection {
            socket,
            nsp,
            recovered,
        } => {
            tracing::info!(
                socket = socket.as_str(),
                nsp = nsp.as_str(),
                recovered,
                "socket connected"
            );
            counter!(
                "socketio_sockets_connected_total",
                "nsp" => nsp.as_str().to_owned(),
                "recovered" => if *recovered { "true" } else { "false" }
            )
            .increment(1);
            gauge!("socketio_engine_clients").set(core.engine().clients_count() as f64);
        }
        Event::Event { socket, nsp, event } => {
            let name = event.name_str().unwrap_or_default();
            tracing::debug!(
                socket = socket.as_str(),
                nsp = nsp.as_str(),
                event = &*name,
                "event"
            );
            // Payloads only at trace level: they may hold anything.
            tracing::trace!(socket = socket.as_str(), args = ?event.args(), "event payload");
        }
        Event::AckTimeout { socket, id } => {
            tracing::debug!(
                socket = socket.as_str(),
                ack = id.0,
                "acknowledgement timed out"
            );
            counter!("socketio_acks_timed_out_total").increment(1);
        }
        Event::BroadcastAckDone {
            expected, received, ..
        } if received < expected => {
            counter!("socketio_acks_timed_out_total").increment((expected - received) as u64);
        }
        Event::Error { socket, message } => {
            tracing::info!(
                socket = socket.as_str(),
                message = message.as_str(),
                "socket error"
            );
        }
        Event::Disconnect {
            socket,
            nsp,
            reason,
        } => {
            tracing::info!(
                socket = socket.as_str(),
                nsp = nsp.as_str(),
                reason = reason.as_str(),
                "socket disconnected"
            );
            counter!(
                "socketio_sockets_disconnected_total",
                "nsp" => nsp.as_str().to_owned(),
                "reason" => reason.as_str()
            )
            .increment(1);
        }
        Event::Engine(engineio_proto::Event::Upgrade { sid }) => {
            tracing::debug!(session = sid.as_str(), "session upgraded to websocket");
        }
        Event::Engine(engineio_proto::Event::Close {
            sid,
            reason,
            description,
        }) => {
            tracing::info!(
                session = sid.as_str(),
                reason = reason.as_str(),
                description = description.unwrap_or_default(),
                "session closed"
            );
            counter!("socketio_engine_closes_total", "reason" => reason.as_str()).increment(1);
            if *reason == CloseReason::SendBufferFull {
                counter!("socketio_queue_full_closes_total").increment(1);
            }
            gauge!("socketio_engine_clients").set(core.engine().clients_count() as f64);
        }
        _ => {}
    }
}

fn frame_len(frame: &Frame) -> u64 {
    match frame {
        Frame::Text(text) => len(text.as_str().as_bytes()),
        Frame::Binary(data) => len(data),
    }
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// Packets in a v4 polling payload (records joined by `\x1e`). A v3
/// payload counts as one.
fn records(body: &[u8]) -> u64 {
    let separators = body.iter().filter(|&&b| b == SEPARATOR).count();
    u64::try_from(separators)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn records_of_a_payload() {
        assert_eq!(records(b"4hello"), 1);
        assert_eq!(records(b"4hello\x1ebAQIDBA==\x1e2"), 3);
    }
}
