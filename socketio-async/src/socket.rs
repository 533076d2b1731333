//! What a socket does: emit (with or without an acknowledgement), rooms,
//! data, broadcasts from it, disconnect; and the acknowledgement a handler
//! sends back.

use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketio_proto::{Room, SocketId, Str, Target};

use crate::contain::{self, Site};
use crate::engine::Conn;
use crate::io::{AckSlot, Socket};
use crate::operator::BroadcastOperator;
use crate::payload::{AckError, EmitError, Payload};
use crate::rooms::IntoRooms;

impl Socket {
    /// The Engine.IO connection underneath (`socket.conn`): its session
    /// id, transport, and events (upgrade, packet, packet create, drain,
    /// close).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// println!("session {} on {:?}", socket.conn().id(), socket.conn().transport());
    /// # }
    /// ```
    pub fn conn(&self) -> Conn {
        Conn::new(
            &self.io().engine(),
            self.sid().clone(),
            self.handshake_arc().clone(),
        )
    }

    /// Emits an event to this socket. One value is one argument whatever
    /// its type; a tuple is several arguments; `()` is none.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) -> Result<(), socketio_async::EmitError> {
    /// socket.emit("list", vec![1, 2, 3])?;          // client: (list) => [1, 2, 3]
    /// socket.emit("pair", ("a", 1))?;               // client: (a, n) => "a", 1
    /// socket.emit("ping", ())?;                     // client: () => {}
    /// socket.emit("user", serde_json::json!({"name": "ann"}))?;
    /// # Ok(()) }
    /// ```
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::new(args)?)
    }

    /// The `compress` flag (`socket.compress(false).emit(..)`): a handle
    /// whose [`emit`](Self::emit) and [`emit_payload`](Self::emit_payload)
    /// send with it. `false`: the event goes uncompressed (no
    /// permessage-deflate for its frame, and no gzip for a long-poll
    /// response made only of such packets); `true` (as by default) lets the
    /// transport compress it. This handle is left as it was.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) -> Result<(), socketio_async::EmitError> {
    /// // Already compressed (an image): not worth deflating again.
    /// socket.compress(false).emit("thumbnail", "iVBORw0KGgo...")?;
    /// # Ok(()) }
    /// ```
    pub fn compress(&self, compress: bool) -> Self {
        self.with_compress(compress)
    }

    /// Emits arguments that may hold binary attachments.
    ///
    /// ```
    /// # use socketio_async::{Payload, Socket};
    /// # fn f(socket: Socket) -> Result<(), socketio_async::EmitError> {
    /// let payload = Payload::new("avatar.png")?.attach(vec![0x89, 0x50, 0x4e, 0x47]);
    /// socket.emit_payload("file", payload)?; // client: (name, buffer) => ...
    /// # Ok(()) }
    /// ```
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.outgoing(event, &payload);
        let packet = payload.into_event(event)?;
        let id = self.id().clone();
        if self.compress_flag() == Some(false) {
            // The core's single-socket emit has no options: the socket's own
            // room, on this node only, carries the flag.
            let (nsp, options) = (self.nsp_name().clone(), own_room(&id, Some(false)));
            return match self
                .io()
                .runner()
                .act_or_defer(move |core, now| core.broadcast(now, &nsp, &options, packet))
                .map_err(|_| EmitError::NotRunning)?
            {
                Some(Ok(sent)) if sent.recipients == 0 => {
                    Err(socketio_proto::EmitError::UnknownSocket.into())
                }
                Some(sent) => sent.map(drop).map_err(EmitError::from),
                None => Ok(()),
            };
        }
        match self
            .io()
            .runner()
            .act_or_defer(move |core, now| core.emit(now, &id, packet))
            .map_err(|_| EmitError::NotRunning)?
        {
            Some(sent) => Ok(sent?),
            // From a hook the core is running: sent right after it.
            None => Ok(()),
        }
    }

    /// Acknowledgements of [`SocketTimeout::emit_with_ack`] wait at most
    /// `timeout` (`socket.timeout(d).emitWithAck`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::{AckError, Socket};
    /// async fn ask(socket: Socket) -> Result<u32, AckError> {
    ///     // The client answers `callback(42)`.
    ///     socket.timeout(Duration::from_secs(5)).emit_with_ack::<u32>("how-many", ()).await
    /// }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> SocketTimeout {
        SocketTimeout {
            socket: self.clone(),
            timeout: Some(timeout),
        }
    }

    /// Emits and waits for the client's acknowledgement with no time limit
    /// (it ends with [`AckError::Timeout`] if the socket leaves first); the
    /// answer is read as a `T` (its first argument, or all of them for a
    /// tuple). [`timeout`](Self::timeout) sets a limit.
    ///
    /// ```
    /// # use socketio_async::{AckError, Socket};
    /// async fn name(socket: Socket) -> Result<String, AckError> {
    ///     // The client answers `callback("ann")`.
    ///     socket.emit_with_ack::<String>("your-name", ()).await
    /// }
    /// ```
    pub async fn emit_with_ack<T: DeserializeOwned>(
        &self,
        event: &str,
        args: impl Serialize,
    ) -> Result<T, AckError> {
        SocketTimeout {
            socket: self.clone(),
            timeout: None,
        }
        .emit_with_ack(event, args)
        .await
    }

    async fn ask(
        &self,
        event: &str,
        payload: Payload,
        timeout: Option<Duration>,
    ) -> Result<Payload, AckError> {
        self.outgoing(event, &payload);
        let packet = payload.into_event(event)?;
        let (tx, rx) = oneshot::channel();
        let io = self.io();
        io.runner()
            .act(|core, now| {
                let id = core.emit_with_ack(now, self.id(), packet, timeout)?;
                io.waiters().wait_ack(self.id().clone(), id.0, tx);
                Ok::<_, socketio_proto::EmitError>(())
            })
            .ok_or(EmitError::NotRunning)?
            .map_err(EmitError::from)?;
        rx.await.unwrap_or(Err(AckError::Timeout))
    }

    /// Joins `rooms`: one room or many.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.join("lobby");
    /// socket.join(["news", "sports"]);
    /// socket.join(vec![format!("user:{}", 42)]);
    /// # }
    /// ```
    pub fn join(&self, rooms: impl IntoRooms) {
        let (id, rooms) = (self.id().clone(), rooms.into_rooms());
        let _ = self.io().runner().act_or_defer(move |core, _| {
            for room in rooms {
                core.join(&id, room);
            }
        });
    }

    /// Leaves `rooms`: one room or many.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.leave("lobby");
    /// socket.leave(["news", "sports"]);
    /// # }
    /// ```
    pub fn leave(&self, rooms: impl IntoRooms) {
        let (id, rooms) = (self.id().clone(), rooms.into_rooms());
        let _ = self.io().runner().act_or_defer(move |core, _| {
            for room in rooms {
                core.leave(&id, &room);
            }
        });
    }

    /// Its rooms (while disconnecting: the rooms it had).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// // Every socket is in the room of its own id.
    /// assert!(socket.rooms().iter().any(|r| r.as_str() == socket.id().as_str()) || socket.rooms().is_empty());
    /// # }
    /// ```
    pub fn rooms(&self) -> Vec<Room> {
        let rooms = self
            .io()
            .runner()
            .act(|core, _| core.rooms(self.id()))
            .unwrap_or_default();
        if rooms.is_empty() {
            return self.last_rooms();
        }
        rooms
    }

    /// Its application data (`socket.data`) as a `T`: what
    /// [`set_data`](Self::set_data) stored, `Value::Null` if nothing (read
    /// an `Option` to tell). Unlike [`extensions`](Self::extensions), it
    /// crosses nodes: `fetch_sockets` returns it.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Profile { name: String, admin: bool }
    ///
    /// # fn f(socket: Socket) -> Result<(), Box<dyn std::error::Error>> {
    /// socket.set_data(&Profile { name: "ann".into(), admin: false })?;
    /// let profile: Option<Profile> = socket.data()?;
    /// # Ok(()) }
    /// ```
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.data_value())
    }

    /// Its application data as JSON, untyped.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.set_data(serde_json::json!({"nick": "ann"}));
    /// println!("{}", socket.data_value()["nick"]);
    /// # }
    /// ```
    pub fn data_value(&self) -> Value {
        self.io()
            .runner()
            .act(|core, _| core.data(self.id()).cloned())
            .flatten()
            .unwrap_or(Value::Null)
    }

    /// Sets its application data (serialized to JSON, so that it crosses
    /// nodes).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.set_data(("ann", 42)).unwrap(); // any serializable value
    /// let (nick, age): (String, u8) = socket.data().unwrap_or_default();
    /// # }
    /// ```
    pub fn set_data(&self, data: impl Serialize) -> Result<(), EmitError> {
        let data = serde_json::to_value(&data)?;
        let id = self.id().clone();
        let seen = self.io().observer().map(|o| (Arc::clone(o), data.clone()));
        let _ = self
            .io()
            .runner()
            .act_or_defer(move |core, _| core.set_data(&id, data));
        if let Some((observer, data)) = seen {
            observer.data_changed(self, &data);
        }
        Ok(())
    }

    /// Other sockets in `rooms` (`socket.to(room)`): never this one.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.to("lobby").emit("typing", true);
    /// let _ = socket.to(["a", "b"]).emit("typing", true);
    /// # }
    /// ```
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        BroadcastOperator::new(
            self.io().clone(),
            self.nsp_name().clone(),
            Target::default(),
        )
        .to(rooms)
        .except(self.id().as_str())
    }

    /// The same as [`to`](Self::to) (`socket.in`).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.in_("lobby").emit("typing", true);
    /// # }
    /// ```
    pub fn in_(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Every other socket of the namespace but those in `rooms`
    /// (`socket.except(room)`).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.except("muted").emit("news", "hello");
    /// # }
    /// ```
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Every socket of this socket's namespace, this one included, on
    /// every node (Node's `socket.nsp` used as an operator). For a child
    /// of a parent namespace this is the way to reach the child as a
    /// whole: `io.of(name)` would make a namespace of its own.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.nsp_operator().emit("announce", "everyone here");
    /// # }
    /// ```
    pub fn nsp_operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.io().clone(), self.nsp_name().clone(), Target::all())
    }

    /// Every other socket of the namespace (`socket.broadcast`).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.broadcast().emit("joined", socket.id().as_str());
    /// # }
    /// ```
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.io().clone(), self.nsp_name().clone(), Target::all())
            .except(self.id().as_str())
    }

    /// Leaves the namespace; with `close`, closes the whole connection.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.disconnect(false); // this namespace only; `true` closes the connection
    /// # }
    /// ```
    pub fn disconnect(&self, close: bool) {
        let id = self.id().clone();
        let _ = self
            .io()
            .runner()
            .act_or_defer(move |core, now| core.disconnect(now, &id, close));
    }

    /// Runs its `on_any_outgoing` handlers for an event sent to it.
    pub(crate) fn outgoing(&self, event: &str, payload: &Payload) {
        // No socket has one (the usual case): not even a look at this
        // socket's registry.
        if !self.io().has_outgoing_hooks() {
            return;
        }
        let handlers = self.handlers();
        if handlers.any_outgoing().is_empty() {
            return;
        }
        let site =
            Site::socket("on_any_outgoing handler", self.id().as_str(), self.nsp()).event(event);
        for hook in handlers.any_outgoing() {
            contain::call(&site, || hook(self, event, payload));
        }
    }
}

/// A socket with a time limit on acknowledgements, from
/// [`Socket::timeout`].
///
/// ```
/// use std::time::Duration;
/// use socketio_async::{Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     let asking = socket.timeout(Duration::from_secs(3));
///     if let Ok(name) = asking.emit_with_ack::<String>("name?", ()).await {
///         let _ = socket.emit("hello", name);
///     }
/// });
/// ```
#[derive(Debug, Clone)]
pub struct SocketTimeout {
    socket: Socket,
    timeout: Option<Duration>,
}

impl SocketTimeout {
    /// Emits and waits for the acknowledgement, read as a `T` (its first
    /// argument, or all of them for a tuple; `Payload` for binary answers:
    /// see [`emit_payload_with_ack`](Self::emit_payload_with_ack)).
    /// [`AckError::Timeout`] if it did not come in time,
    /// [`AckError::Decode`] if it came in another shape.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::{AckError, Socket};
    /// async fn confirm(socket: Socket) -> Result<bool, AckError> {
    ///     // The client answers `callback(true)` within 3 s, or the call fails.
    ///     socket.timeout(Duration::from_secs(3)).emit_with_ack::<bool>("confirm?", "delete all?").await
    /// }
    /// ```
    pub async fn emit_with_ack<T: DeserializeOwned>(
        &self,
        event: &str,
        args: impl Serialize,
    ) -> Result<T, AckError> {
        let payload = Payload::new(args).map_err(EmitError::from)?;
        let answer = self.emit_payload_with_ack(event, payload).await?;
        Ok(answer.decode::<T>()?)
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with binary attachments both
    /// ways, the answer untyped.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::{Payload, Socket};
    /// async fn fetch(socket: Socket) -> Option<bytes::Bytes> {
    ///     let ask = Payload::new("avatar").ok()?;
    ///     let answer = socket.timeout(Duration::from_secs(5)).emit_payload_with_ack("get", ask).await.ok()?;
    ///     answer.binary.into_iter().next()
    /// }
    /// ```
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: Payload,
    ) -> Result<Payload, AckError> {
        self.socket.ask(event, payload, self.timeout).await
    }
}

/// Answers one event that asked for an acknowledgement (the `Ack` /
/// `AckSender` extractor). Sending consumes it, and an event is answered
/// once: when several handlers of the event hold one, the first send wins
/// and the others get [`EmitError::AlreadyAcked`].
///
/// An `AckSender` exists only for an event that asked for an
/// acknowledgement, so answering an event that asked for none cannot be
/// written. A handler that takes `AckSender` (or `Ack`) **does not run**
/// for an event sent without a callback (an extractor refusal,
/// [`ExtractError::NoAck`](crate::ExtractError::NoAck), logged at debug
/// level); a handler that serves both kinds takes `Option<AckSender>`,
/// `None` when the client asked for nothing. (On Node the handler would
/// run with no callback argument and fail calling it; socketioxide runs it
/// and drops the answer silently.)
///
/// ```
/// use socketio_async::{AckSender, Data, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     // client: socket.emit("add", [1, 2], (sum) => ...)
///     socket.on("add", |Data(terms): Data<Vec<i64>>, ack: AckSender| async move {
///         let _ = ack.send(terms.iter().sum::<i64>());
///     });
///     // client: socket.emit("log", "text") or socket.emit("log", "text", () => ...)
///     socket.on("log", |Data(line): Data<String>, ack: Option<AckSender>| async move {
///         println!("{line}");
///         if let Some(ack) = ack {
///             let _ = ack.send("logged");
///         }
///     });
/// });
/// ```
pub struct AckSender {
    socket: Socket,
    slot: Arc<AckSlot>,
}

/// The same as [`AckSender`], by the name socketioxide's users know.
///
/// ```
/// use socketio_async::{Ack, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.on("ping", |ack: Ack| async move {
///         let _ = ack.send("pong");
///     });
/// });
/// ```
pub type Ack = AckSender;

impl std::fmt::Debug for AckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSender")
            .field("id", &self.slot.id)
            .finish()
    }
}

impl AckSender {
    pub(crate) fn new(socket: Socket, slot: Arc<AckSlot>) -> Self {
        Self { socket, slot }
    }

    /// Answers with `args`: one value is one argument, a tuple several.
    ///
    /// ```
    /// # use socketio_async::{AckSender, Socket};
    /// # fn f(socket: Socket) {
    /// socket.on("pair", |ack: AckSender| async move {
    ///     let _ = ack.send(("a", 1)); // client: (text, n) => ...
    /// });
    /// # }
    /// ```
    pub fn send(self, args: impl Serialize) -> Result<(), EmitError> {
        self.send_payload(Payload::new(args)?)
    }

    /// Answers with arguments that may hold binary attachments.
    ///
    /// ```
    /// # use socketio_async::{AckSender, Payload, Socket};
    /// # fn f(socket: Socket) {
    /// socket.on("thumbnail", |ack: AckSender| async move {
    ///     let answer = Payload::new("png").unwrap().attach(vec![0x89, 0x50]);
    ///     let _ = ack.send_payload(answer); // client: (kind, buffer) => ...
    /// });
    /// # }
    /// ```
    pub fn send_payload(self, payload: Payload) -> Result<(), EmitError> {
        let slot = self.slot;
        if !slot.take() {
            return Err(EmitError::AlreadyAcked);
        }
        let Payload { args, binary } = payload;
        let (socket, id) = (self.socket.id().clone(), slot.id);
        match self
            .socket
            .io()
            .runner()
            .act_or_defer(move |core, now| core.ack(now, &socket, id, args, binary))
            .map_err(|_| EmitError::NotRunning)?
        {
            Some(sent) => Ok(sent?),
            // From a hook the core is running: sent right after it.
            None => Ok(()),
        }
    }
}

/// Options that reach socket `id` alone (its own room, this node only),
/// with the `compress` flag.
fn own_room(id: &SocketId, compress: Option<bool>) -> socketio_proto::BroadcastOptions {
    socketio_proto::BroadcastOptions {
        target: Target {
            local: true,
            ..Target::room(Str::from(id.as_str().to_owned()))
        },
        compress,
        ..socketio_proto::BroadcastOptions::default()
    }
}
