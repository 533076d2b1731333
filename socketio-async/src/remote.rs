//! The sockets `fetch_sockets` returns: a snapshot plus the operations the
//! official `RemoteSocket` offers, on this node or another.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use socketio_proto::{Handshake, Room, SocketId, SocketInfo, Str, Target};

use crate::io::{BroadcastOperator, SocketIo};
use crate::payload::{EmitError, Payload};

/// A socket found by `fetch_sockets`, on this node or another of the
/// cluster: what it was at the time of the call, and handles to act on it.
/// Each operation goes through the socket's own room, so it reaches the
/// socket wherever it is connected (and does nothing if it has left).
///
/// ```
/// # use socketio_async::SocketIo;
/// async fn promote(io: SocketIo) -> Result<(), socketio_async::EmitError> {
///     for socket in io.fetch_sockets().await? {
///         if socket.data["admin"] == true {
///             socket.join(&["admins"])?;
///             socket.emit("promoted", ())?;
///         } else if socket.handshake.auth.is_empty() {
///             socket.disconnect(false)?;
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct RemoteSocket {
    /// Its id.
    pub id: SocketId,
    /// Its namespace.
    pub nsp: Str,
    /// Its handshake.
    pub handshake: Arc<Handshake>,
    /// Its rooms at the time of the fetch.
    pub rooms: Vec<Room>,
    /// Its application data at the time of the fetch.
    pub data: Value,
    io: SocketIo,
}

impl std::fmt::Debug for RemoteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSocket")
            .field("id", &self.id)
            .field("nsp", &self.nsp)
            .field("rooms", &self.rooms)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl RemoteSocket {
    pub(crate) fn new(io: SocketIo, info: SocketInfo) -> Self {
        Self {
            id: info.id,
            nsp: info.nsp,
            handshake: info.handshake,
            rooms: info.rooms,
            data: info.data,
            io,
        }
    }

    /// Emits an event to this socket.
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::from_args(args)?)
    }

    /// Emits arguments that may hold binary attachments.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.operator().emit_payload(event, payload).map(|_| ())
    }

    /// Makes the socket join `rooms`.
    pub fn join(&self, rooms: &[&str]) -> Result<(), EmitError> {
        self.operator().sockets_join(rooms)
    }

    /// Makes the socket leave `rooms`.
    pub fn leave(&self, rooms: &[&str]) -> Result<(), EmitError> {
        self.operator().sockets_leave(rooms)
    }

    /// Disconnects the socket; with `close`, its whole connection.
    pub fn disconnect(&self, close: bool) -> Result<(), EmitError> {
        self.operator().disconnect_sockets(close)
    }

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(
            self.io.clone(),
            &self.nsp,
            Target::room(self.id.to_string()),
        )
    }
}
