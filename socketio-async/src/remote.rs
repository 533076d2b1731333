//! The sockets `fetch_sockets` returns: a snapshot plus the operations the
//! official `RemoteSocket` offers, on this node or another.

use std::sync::Arc;

use futures_channel::oneshot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketio_proto::{Event, Handshake, Nsp, Room, SocketId, SocketInfo, Target};

use crate::io::SocketIo;
use crate::operator::BroadcastOperator;
use crate::payload::{EmitError, Payload};
use crate::rooms::IntoRooms;

/// A socket found by `fetch_sockets`, on this node or another of the
/// cluster: what it was at the time of the call, and handles to act on it.
/// Each operation goes through the socket's own room, so it reaches the
/// socket wherever it is connected (and does nothing if it has left).
///
/// ```
/// # use socketio_async::SocketIo;
/// async fn promote(io: SocketIo) -> Result<(), socketio_async::EmitError> {
///     for socket in io.fetch_sockets().await? {
///         if matches!(socket.data_as::<Option<bool>>(), Ok(Some(true))) {
///             socket.join("admins")?;
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
    pub nsp: Nsp,
    /// Its handshake.
    pub handshake: Arc<Handshake>,
    /// Its rooms at the time of the fetch.
    pub rooms: Vec<Room>,
    /// Its application data at the time of the fetch (`socket.set_data`),
    /// as JSON; [`data_as`](Self::data_as) reads it typed.
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

    /// Its application data as a `T` (`Value::Null` when never set: read
    /// an `Option` to tell).
    ///
    /// ```
    /// # use socketio_async::{RemoteSocket, SocketIo};
    /// # async fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// for socket in io.fetch_sockets().await? {
    ///     let nick: Option<String> = socket.data_as().unwrap_or(None);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }

    /// Emits an event to this socket: one value is one argument, a tuple
    /// several.
    ///
    /// ```
    /// # use socketio_async::{RemoteSocket, SocketIo};
    /// # async fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// for socket in io.fetch_sockets().await? {
    ///     socket.emit("maintenance", ("in", 5, "minutes"))?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::new(args)?)
    }

    /// Emits arguments that may hold binary attachments.
    ///
    /// ```
    /// # use socketio_async::{RemoteSocket, SocketIo};
    /// # async fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// for socket in io.fetch_sockets().await? {
    ///     socket.emit_payload("file", socketio_async::Payload::new("a.bin").unwrap().attach(vec![1]))?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.operator().emit_payload(event, payload).map(|_| ())
    }

    /// Makes the socket join `rooms`: one room or many.
    ///
    /// ```
    /// # use socketio_async::{RemoteSocket, SocketIo};
    /// # async fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// for socket in io.fetch_sockets().await? {
    ///     socket.join(["everyone", "v2"])?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn join(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.operator().sockets_join(rooms)
    }

    /// Makes the socket leave `rooms`.
    ///
    /// ```
    /// # use socketio_async::{RemoteSocket, SocketIo};
    /// # async fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// for socket in io.fetch_sockets().await? {
    ///     socket.leave("v1")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn leave(&self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        self.operator().sockets_leave(rooms)
    }

    /// Disconnects the socket; with `close`, its whole connection.
    ///
    /// ```
    /// # use socketio_async::{RemoteSocket, SocketIo};
    /// # async fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// for socket in io.fetch_sockets().await? {
    ///     socket.disconnect(true)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn disconnect(&self, close: bool) -> Result<(), EmitError> {
        self.operator().disconnect_sockets(close)
    }

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(
            self.io.clone(),
            self.nsp.clone(),
            Target::room(self.id.to_string()),
        )
    }
}

impl BroadcastOperator {
    /// The selected sockets, across the cluster (`fetchSockets`): this
    /// node's, then those the other nodes sent within their time limit.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// async fn count(io: SocketIo) -> usize {
    ///     io.to("lobby").fetch_sockets().await.map_or(0, |s| s.len())
    /// }
    /// ```
    pub async fn fetch_sockets(self) -> Result<Vec<RemoteSocket>, EmitError> {
        let (tx, rx) = oneshot::channel();
        let io = self.io().clone();
        io.runner()
            .act(|core, now| {
                let key = core.fetch_sockets_cluster(now, self.nsp(), self.target());
                io.waiters().wait_request(key, tx);
            })
            .ok_or(EmitError::NotRunning)?;
        match rx.await {
            Ok(Event::FetchSocketsDone { local, remote, .. }) => {
                let mut sockets: Vec<RemoteSocket> = local
                    .into_iter()
                    .map(|info| RemoteSocket::new(io.clone(), info))
                    .collect();
                sockets.extend(
                    remote
                        .iter()
                        .map(|w| RemoteSocket::new(io.clone(), w.to_info(self.nsp()))),
                );
                Ok(sockets)
            }
            _ => Ok(Vec::new()),
        }
    }
}

impl SocketIo {
    /// The sockets of the main namespace (`io.fetchSockets()`), across the
    /// cluster, as handles that can emit, join, leave and disconnect.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// async fn ids(io: SocketIo) -> Vec<String> {
    ///     let sockets = io.fetch_sockets().await.unwrap_or_default();
    ///     sockets.iter().map(|s| s.id.to_string()).collect()
    /// }
    /// ```
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.broadcast_in("/").fetch_sockets().await
    }
}
