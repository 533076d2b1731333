//! The socket handle given to connection handlers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engineio_proto::Sid;
use futures_channel::oneshot;
use serde::Serialize;
use serde_json::Value;
use socketio_proto::{DisconnectReason, Handshake, Room, SocketId, Str, Target};

use crate::backend::{Task, act, act_or_defer};
use crate::contain::{self, Site};
use crate::engine::Conn;
use crate::io::{BroadcastOperator, SocketIo};
use crate::payload::{AckError, EmitError, Payload};
use crate::{Registry, lock};

pub(crate) type EventHandler =
    Arc<dyn Fn(Socket, Payload, Option<AckSender>) -> Task + Send + Sync>;
pub(crate) type AnyHandler = Arc<dyn Fn(&str, &Payload) + Send + Sync>;
pub(crate) type ReasonHandler = Arc<dyn Fn(Socket, DisconnectReason) -> Task + Send + Sync>;
pub(crate) type PacketMiddleware = Arc<dyn Fn(&str, &Payload) -> Result<(), String> + Send + Sync>;
pub(crate) type ErrorHandler = Arc<dyn Fn(Socket, String) -> Task + Send + Sync>;

/// The handlers registered on one socket.
#[derive(Default, Clone)]
pub(crate) struct SocketHandlers {
    events: HashMap<String, EventHandler>,
    any: Vec<AnyHandler>,
    any_outgoing: Vec<AnyHandler>,
    middlewares: Vec<PacketMiddleware>,
    on_error: Option<ErrorHandler>,
    on_disconnecting: Option<ReasonHandler>,
    on_disconnect: Option<ReasonHandler>,
}

impl SocketHandlers {
    pub(crate) fn event(&self, name: &str) -> Option<EventHandler> {
        self.events.get(name).cloned()
    }

    pub(crate) fn any(&self) -> &[AnyHandler] {
        &self.any
    }

    pub(crate) fn middlewares(&self) -> &[PacketMiddleware] {
        &self.middlewares
    }

    pub(crate) fn on_error(&self) -> Option<ErrorHandler> {
        self.on_error.clone()
    }

    pub(crate) fn on_disconnecting(&self) -> Option<ReasonHandler> {
        self.on_disconnecting.clone()
    }

    pub(crate) fn on_disconnect(&self) -> Option<ReasonHandler> {
        self.on_disconnect.clone()
    }
}

/// What every handle of one socket shares.
#[derive(Default)]
struct SocketState {
    handlers: Registry<SocketHandlers>,
    /// The rooms the socket had when it started leaving.
    last_rooms: Mutex<Vec<Room>>,
}

/// A connected socket: cheap to clone.
#[derive(Clone)]
pub struct Socket {
    io: SocketIo,
    id: SocketId,
    nsp: Str,
    handshake: Arc<Handshake>,
    recovered: bool,
    sid: Sid,
    state: Arc<SocketState>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("nsp", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        io: SocketIo,
        id: SocketId,
        nsp: Str,
        handshake: Arc<Handshake>,
        recovered: bool,
        sid: Sid,
    ) -> Self {
        Self {
            io,
            id,
            nsp,
            handshake,
            recovered,
            sid,
            state: Arc::default(),
        }
    }

    /// Its handlers as they are now.
    pub(crate) fn handlers(&self) -> Arc<SocketHandlers> {
        self.state.handlers.get()
    }

    /// Keeps the rooms it had when it started leaving.
    pub(crate) fn set_last_rooms(&self, rooms: Vec<Room>) {
        *lock(&self.state.last_rooms) = rooms;
    }

    /// The socket id.
    pub fn id(&self) -> &SocketId {
        &self.id
    }

    /// Its namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// Its handshake (headers, query, auth, address...).
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// Whether connection state recovery restored it.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The server.
    pub fn io(&self) -> &SocketIo {
        &self.io
    }

    /// The Engine.IO connection underneath (`socket.conn`): its session
    /// id, transport, and events (upgrade, packet, packet create, drain,
    /// close).
    pub fn conn(&self) -> Conn {
        Conn::new(self.io.clone(), self.sid.clone(), self.handshake.clone())
    }

    /// Handles event `event` (`socket.on`). `ack` is set when the client
    /// waits for an answer.
    pub fn on<F, Fut>(&self, event: &str, handler: F)
    where
        F: Fn(Socket, Payload, Option<AckSender>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: EventHandler = Arc::new(move |s, p, a| Box::pin(handler(s, p, a)));
        let event = event.to_owned();
        self.state
            .handlers
            .update(|h| drop(h.events.insert(event, handler)));
    }

    /// Sees every incoming event before its handler (`socket.onAny`).
    pub fn on_any(&self, handler: impl Fn(&str, &Payload) + Send + Sync + 'static) {
        self.state
            .handlers
            .update(|h| h.any.push(Arc::new(handler)));
    }

    /// Sees every event emitted to this socket (`socket.onAnyOutgoing`).
    pub fn on_any_outgoing(&self, handler: impl Fn(&str, &Payload) + Send + Sync + 'static) {
        self.state
            .handlers
            .update(|h| h.any_outgoing.push(Arc::new(handler)));
    }

    /// A packet middleware (`socket.use`): an `Err` stops the event and
    /// reaches the `error` handler.
    pub fn use_middleware(
        &self,
        middleware: impl Fn(&str, &Payload) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.state
            .handlers
            .update(|h| h.middlewares.push(Arc::new(middleware)));
    }

    /// Handles errors: packet middleware refusals, and protocol violations
    /// just before the connection closes.
    pub fn on_error<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ErrorHandler = Arc::new(move |s, e| Box::pin(handler(s, e)));
        self.state.handlers.update(|h| h.on_error = Some(handler));
    }

    /// Runs when the socket starts leaving, its rooms still readable with
    /// [`rooms`](Self::rooms).
    pub fn on_disconnecting<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ReasonHandler = Arc::new(move |s, r| Box::pin(handler(s, r)));
        self.state
            .handlers
            .update(|h| h.on_disconnecting = Some(handler));
    }

    /// Runs when the socket has left.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ReasonHandler = Arc::new(move |s, r| Box::pin(handler(s, r)));
        self.state
            .handlers
            .update(|h| h.on_disconnect = Some(handler));
    }

    /// Emits an event to this socket.
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::from_args(args)?)
    }

    /// Emits arguments that may hold binary attachments.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.outgoing(event, &payload);
        let packet = payload.into_event(event)?;
        let backend = self.io.backend()?;
        let id = self.id.clone();
        match act_or_defer(backend, move |core, now| core.emit(now, &id, packet)) {
            Some(sent) => Ok(sent?),
            // From a hook the core is running: sent right after it.
            None => Ok(()),
        }
    }

    /// Emits and waits for the client's acknowledgement, at most `timeout`
    /// (`socket.timeout(d).emitWithAck`).
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: impl Serialize,
        timeout: Duration,
    ) -> Result<Payload, AckError> {
        let payload = Payload::from_args(args).map_err(EmitError::from)?;
        self.emit_payload_with_ack(event, payload, timeout).await
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with binary attachments.
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Payload, AckError> {
        self.outgoing(event, &payload);
        let packet = payload.into_event(event)?;
        let backend = self.io.backend()?.clone();
        let (tx, rx) = oneshot::channel();
        act(backend.as_ref(), |core, now| {
            let id = core.emit_with_ack(now, &self.id, packet, Some(timeout))?;
            self.io.inner().waiters.wait_ack(self.id.clone(), id, tx);
            Ok::<_, socketio_proto::EmitError>(())
        })
        .ok_or(EmitError::NotRunning)?
        .map_err(EmitError::from)?;
        rx.await.unwrap_or(Err(AckError::Timeout))
    }

    /// Joins `room`.
    pub fn join(&self, room: &str) {
        if let Some(backend) = self.io.backend_if_running() {
            let (id, room) = (self.id.clone(), room.to_owned());
            act_or_defer(backend, move |core, _| core.join(&id, room));
        }
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) {
        if let Some(backend) = self.io.backend_if_running() {
            let (id, room) = (self.id.clone(), room.to_owned());
            act_or_defer(backend, move |core, _| core.leave(&id, &room));
        }
    }

    /// Its rooms (while disconnecting: the rooms it had).
    pub fn rooms(&self) -> Vec<Room> {
        let rooms = match self.io.backend_if_running() {
            Some(backend) => {
                act(backend.as_ref(), |core, _| core.rooms(&self.id)).unwrap_or_default()
            }
            None => Vec::new(),
        };
        if rooms.is_empty() {
            return lock(&self.state.last_rooms).clone();
        }
        rooms
    }

    /// Its application data (`socket.data`).
    pub fn data(&self) -> Value {
        match self.io.backend_if_running() {
            Some(backend) => act(backend.as_ref(), |core, _| core.data(&self.id).cloned())
                .flatten()
                .unwrap_or(Value::Null),
            None => Value::Null,
        }
    }

    /// Sets its application data.
    pub fn set_data(&self, data: Value) {
        if let Some(backend) = self.io.backend_if_running() {
            let id = self.id.clone();
            let seen = self.io.observer().map(|o| (o.clone(), data.clone()));
            act_or_defer(backend, move |core, _| core.set_data(&id, data));
            if let Some((observer, data)) = seen {
                observer.data_changed(self, &data);
            }
        }
    }

    /// Other sockets in `room` (`socket.to(room)`): never this one.
    pub fn to(&self, room: &str) -> BroadcastOperator {
        BroadcastOperator::new(self.io.clone(), &self.nsp, Target::room(room.to_owned()))
            .except(self.id.as_str())
    }

    /// The same as [`to`](Self::to) (`socket.in`).
    pub fn in_(&self, room: &str) -> BroadcastOperator {
        self.to(room)
    }

    /// Every socket of this socket's namespace, this one included, on
    /// every node (Node's `socket.nsp` used as an operator). For a child
    /// of a parent namespace this is the way to reach the child as a
    /// whole: `io.of(name)` would make a namespace of its own.
    pub fn nsp_operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.io.clone(), &self.nsp, Target::all())
    }

    /// Every other socket of the namespace (`socket.broadcast`).
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.io.clone(), &self.nsp, Target::all()).except(self.id.as_str())
    }

    /// Leaves the namespace; with `close`, closes the whole connection.
    pub fn disconnect(&self, close: bool) {
        if let Some(backend) = self.io.backend_if_running() {
            let id = self.id.clone();
            act_or_defer(backend, move |core, now| core.disconnect(now, &id, close));
        }
    }

    fn outgoing(&self, event: &str, payload: &Payload) {
        let handlers = self.handlers();
        if handlers.any_outgoing.is_empty() {
            return;
        }
        let site =
            Site::socket("on_any_outgoing handler", self.id.as_str(), &self.nsp).event(event);
        for hook in &handlers.any_outgoing {
            contain::call(&site, || hook(event, payload));
        }
    }
}

/// Answers one event that asked for an acknowledgement. Sending consumes
/// it: an event is acknowledged once.
#[derive(Clone)]
pub struct AckSender {
    socket: Socket,
    id: u64,
}

impl std::fmt::Debug for AckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSender").field("id", &self.id).finish()
    }
}

impl AckSender {
    pub(crate) fn new(socket: Socket, id: u64) -> Self {
        Self { socket, id }
    }

    /// Answers with `args`.
    pub fn send(self, args: impl Serialize) -> Result<(), EmitError> {
        self.send_payload(Payload::from_args(args)?)
    }

    /// Answers with arguments that may hold binary attachments.
    pub fn send_payload(self, payload: Payload) -> Result<(), EmitError> {
        let backend = self.socket.io.backend()?;
        let Payload { args, binary } = payload;
        let (socket, id) = (self.socket.id, self.id);
        match act_or_defer(backend, move |core, now| {
            core.ack(now, &socket, id, args, binary)
        }) {
            Some(sent) => Ok(sent?),
            // From a hook the core is running: sent right after it.
            None => Ok(()),
        }
    }
}
