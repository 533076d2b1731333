//! The server handle (`io`), namespaces, middlewares and broadcast
//! operators.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use engineio_proto::Sid;
use futures_channel::{mpsc, oneshot};
use serde::Serialize;
use serde_json::Value;
use socketio_proto::{
    BroadcastOptions, Config, Event, Handshake, NamespaceMatcher, RequestKey, Room, Server,
    SocketId, Str, Target,
};

use crate::backend::{Backend, Task, act};
use crate::engine::{Conns, EngineHooks};
use crate::payload::{AckError, EmitError, Payload};
use crate::remote::RemoteSocket;
use crate::socket::{Socket, SocketState};

/// Why a connection middleware refused a socket: the client gets
/// CONNECT_ERROR with this message and data (`connect_error` on its side).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message.
    pub message: String,
    /// Optional data.
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// A refusal with a message and data.
    pub fn with_data(message: impl Into<String>, data: Value) -> Self {
        Self {
            message: message.into(),
            data: Some(data),
        }
    }
}

/// What a connection middleware sees: the socket to be.
#[derive(Debug, Clone)]
pub struct Connecting {
    /// Its id (final).
    pub id: SocketId,
    /// Its namespace.
    pub nsp: Str,
    /// Its handshake, auth included.
    pub handshake: Arc<Handshake>,
}

/// Where the answer to one `emit_with_ack` goes.
pub(crate) type AckWaiter = oneshot::Sender<Result<Payload, AckError>>;
pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Middleware =
    Arc<dyn Fn(Connecting) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
pub(crate) type ConnectionHandler = Arc<dyn Fn(Socket) -> Task + Send + Sync>;
pub(crate) type ServerSideHandler =
    Arc<dyn Fn(Payload, Option<ServerSideAck>) -> Task + Send + Sync>;

/// The handlers of a namespace (or of a parent of dynamic namespaces, whose
/// children share them).
#[derive(Default)]
pub(crate) struct NsHandlers {
    pub(crate) middlewares: Mutex<Vec<Middleware>>,
    pub(crate) on_connection: Mutex<Option<ConnectionHandler>>,
    pub(crate) server_side: Mutex<Vec<ServerSideHandler>>,
}

/// Everything the handles share.
pub(crate) struct Inner {
    pub(crate) backend: OnceLock<Arc<dyn Backend>>,
    /// Handlers by namespace name.
    pub(crate) namespaces: Mutex<HashMap<String, Arc<NsHandlers>>>,
    /// Handlers of parent namespaces, by `ParentId`.
    pub(crate) parents: Mutex<Vec<Arc<NsHandlers>>>,
    /// Parents registered before the core existed.
    pub(crate) pending_parents: Mutex<Vec<NamespaceMatcher>>,
    pub(crate) sockets: Mutex<HashMap<SocketId, SocketEntry>>,
    pub(crate) acks: Mutex<HashMap<(SocketId, u64), AckWaiter>>,
    pub(crate) broadcast_acks: Mutex<HashMap<socketio_proto::BroadcastId, BroadcastCollector>>,
    pub(crate) requests: Mutex<HashMap<RequestKey, oneshot::Sender<Event>>>,
    pub(crate) events: Mutex<Option<mpsc::UnboundedSender<Event>>>,
    pub(crate) engine_hooks: Mutex<EngineHooks>,
    pub(crate) conns: Conns,
}

/// What the dispatcher keeps of a connected socket.
#[derive(Clone)]
pub(crate) struct SocketEntry {
    pub(crate) nsp: Str,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) recovered: bool,
    /// Its engine session (`socket.conn`).
    pub(crate) sid: Sid,
    pub(crate) state: Arc<SocketState>,
}

pub(crate) struct BroadcastCollector {
    pub(crate) answers: Vec<Payload>,
    pub(crate) done: oneshot::Sender<Result<Vec<Payload>, AckError>>,
}

/// The server (`io`): cheap to clone, every clone is the same server.
#[derive(Clone)]
pub struct SocketIo {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo").finish_non_exhaustive()
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        Self::new()
    }
}

impl SocketIo {
    /// A server with no handlers yet. A runtime binding makes it run
    /// (`attach`), usually through its own `listen` or service.
    pub fn new() -> Self {
        let inner = Inner {
            backend: OnceLock::new(),
            namespaces: Mutex::new(HashMap::new()),
            parents: Mutex::new(Vec::new()),
            pending_parents: Mutex::new(Vec::new()),
            sockets: Mutex::new(HashMap::new()),
            acks: Mutex::new(HashMap::new()),
            broadcast_acks: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            events: Mutex::new(None),
            engine_hooks: Mutex::new(EngineHooks::default()),
            conns: Mutex::new(HashMap::new()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    // ----- setup -----

    /// The namespace `name` (`io.of(name)`), created if needed. `"/"` is
    /// the main namespace.
    pub fn of(&self, name: &str) -> Namespace {
        let handlers = lock(&self.inner.namespaces)
            .entry(name.to_owned())
            .or_default()
            .clone();
        if let Some(backend) = self.inner.backend.get() {
            let name = name.to_owned();
            act(backend.as_ref(), move |core, _| core.add_namespace(&name));
        }
        Namespace {
            io: self.clone(),
            name: Some(Str::from(name.to_owned())),
            handlers,
        }
    }

    /// A parent namespace (`io.of(/regex/ | fn)`): CONNECTs to names it
    /// matches create child namespaces that use its middlewares and handlers.
    pub fn of_dynamic(&self, matcher: NamespaceMatcher) -> Namespace {
        let handlers = Arc::new(NsHandlers::default());
        lock(&self.inner.parents).push(handlers.clone());
        match self.inner.backend.get() {
            Some(backend) => act(backend.as_ref(), move |core, _| {
                core.add_parent(matcher);
            }),
            None => lock(&self.inner.pending_parents).push(matcher),
        }
        Namespace {
            io: self.clone(),
            name: None,
            handlers,
        }
    }

    /// Connection handler of the main namespace (`io.on("connection")`).
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.of("/").on_connection(handler);
    }

    /// Connection middleware of the main namespace (`io.use`).
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Connecting) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.of("/").use_middleware(middleware);
    }

    /// Builds the core this server runs on: `config`, the namespaces and
    /// parents registered so far, and the engine hooks ([`engine`](Self::engine),
    /// [`allow_request`](Self::allow_request)), which run after the
    /// config's own header hooks and replace its id generator. Called by
    /// the runtime binding.
    pub fn build_core(&self, config: Config) -> Server {
        {
            let mut hooks = lock(&self.inner.engine_hooks);
            hooks.base_initial_headers = config.engine.initial_headers.clone();
            hooks.base_headers = config.engine.headers.clone();
        }
        let mut core = Server::new(config);
        lock(&self.inner.engine_hooks).apply(&mut core);
        for name in lock(&self.inner.namespaces).keys() {
            core.add_namespace(name);
        }
        for matcher in lock(&self.inner.pending_parents).drain(..) {
            core.add_parent(matcher);
        }
        core
    }

    /// Starts serving through `backend`: returns the sink the binding's
    /// event hook feeds every core event into. Called once by the binding.
    pub fn attach(&self, backend: Arc<dyn Backend>) -> EventSink {
        let (tx, rx) = mpsc::unbounded();
        *lock(&self.inner.events) = Some(tx.clone());
        let _ = self.inner.backend.set(backend.clone());
        let io = self.clone();
        backend.spawn(Box::pin(crate::dispatch::run(io, rx)));
        EventSink { tx }
    }

    // ----- broadcast operators -----

    /// Targets the sockets of the main namespace in `room` (`io.to`).
    pub fn to(&self, room: &str) -> BroadcastOperator {
        self.broadcast_in("/").to(room)
    }

    /// The same as [`to`](Self::to) (`io.in`; `in` is a Rust keyword).
    pub fn in_(&self, room: &str) -> BroadcastOperator {
        self.to(room)
    }

    /// Every socket of the main namespace but those in `room`.
    pub fn except(&self, room: &str) -> BroadcastOperator {
        self.broadcast_in("/").except(room)
    }

    /// Every socket of the main namespace, on this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast_in("/").local()
    }

    /// Emits to every socket of the main namespace (`io.emit`).
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<usize, EmitError> {
        self.broadcast_in("/").emit(event, args)
    }

    pub(crate) fn broadcast_in(&self, nsp: &str) -> BroadcastOperator {
        BroadcastOperator {
            io: self.clone(),
            nsp: nsp.to_owned(),
            options: BroadcastOptions::default(),
        }
    }

    /// The sockets of the main namespace (`io.fetchSockets()`), across the
    /// cluster, as handles that can emit, join, leave and disconnect.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.broadcast_in("/").fetch_sockets().await
    }

    /// `serverSideEmit` to the other nodes, without answers.
    pub fn server_side_emit(&self, event: &str, args: impl Serialize) -> Result<(), EmitError> {
        let mut data = vec![Value::String(event.to_owned())];
        data.extend(Payload::from_args(args)?.args);
        let backend = self.backend()?;
        act(backend.as_ref(), move |core, now| {
            core.server_side_emit(now, "/", data, None);
        });
        Ok(())
    }

    /// `serverSideEmit` with answers: one per other node that answered
    /// within `timeout`.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        args: impl Serialize,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        let mut data = vec![Value::String(event.to_owned())];
        data.extend(Payload::from_args(args).map_err(EmitError::from)?.args);
        let backend = self.backend()?;
        let (tx, rx) = oneshot::channel();
        act(backend.as_ref(), |core, now| {
            if let Some(key) = core.server_side_emit(now, "/", data, Some(timeout)) {
                lock(&self.inner.requests).insert(key, tx);
            }
        });
        match rx.await {
            Ok(Event::ServerSideEmitDone {
                responses,
                timed_out: false,
                ..
            }) => Ok(responses),
            _ => Err(AckError::Timeout),
        }
    }

    /// Number of engine connections (`io.engine.clientsCount`); the same
    /// as `io.engine().clients_count()`.
    pub fn clients_count(&self) -> usize {
        self.engine().clients_count()
    }

    /// Closes every socket with "server shutting down" (`io.close()`),
    /// and has the runtime binding stop accepting connections.
    pub fn close(&self) {
        if let Some(b) = self.inner.backend.get() {
            b.close();
        }
    }

    pub(crate) fn backend(&self) -> Result<&Arc<dyn Backend>, EmitError> {
        self.inner.backend.get().ok_or(EmitError::NotRunning)
    }
}

/// Where the binding's event hook puts the core's events.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: mpsc::UnboundedSender<Event>,
}

impl EventSink {
    /// Hands one core event to the dispatcher. Never blocks.
    pub fn push(&self, event: Event) {
        let _ = self.tx.unbounded_send(event);
    }
}

/// A namespace handle (`io.of(name)`), or a parent of dynamic namespaces.
#[derive(Clone)]
pub struct Namespace {
    io: SocketIo,
    /// `None` for a parent.
    name: Option<Str>,
    handlers: Arc<NsHandlers>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    /// Runs for every socket that joins (`nsp.on("connection")`). What the
    /// handler does before its first `.await` (registering event handlers)
    /// happens before the socket's first event is dispatched.
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ConnectionHandler = Arc::new(move |socket| Box::pin(handler(socket)));
        *lock(&self.handlers.on_connection) = Some(handler);
    }

    /// Adds a connection middleware (`nsp.use`): they run in order; the
    /// first `Err` refuses the socket with its message and data.
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Connecting) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let middleware: Middleware = Arc::new(move |c| Box::pin(middleware(c)));
        lock(&self.handlers.middlewares).push(middleware);
    }

    /// Handles `serverSideEmit`s from other nodes for this namespace; `ack`
    /// is set when the sender waits for an answer.
    pub fn on_server_side<F, Fut>(&self, handler: F)
    where
        F: Fn(Payload, Option<ServerSideAck>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ServerSideHandler = Arc::new(move |p, a| Box::pin(handler(p, a)));
        lock(&self.handlers.server_side).push(handler);
    }

    /// Targets the sockets of this namespace in `room`.
    pub fn to(&self, room: &str) -> BroadcastOperator {
        self.operator().to(room)
    }

    /// The same as [`to`](Self::to) (`nsp.in`).
    pub fn in_(&self, room: &str) -> BroadcastOperator {
        self.to(room)
    }

    /// Every socket of this namespace but those in `room`.
    pub fn except(&self, room: &str) -> BroadcastOperator {
        self.operator().except(room)
    }

    /// Every socket of this namespace, on this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.operator().local()
    }

    /// Emits to every socket of this namespace.
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<usize, EmitError> {
        self.operator().emit(event, args)
    }

    /// A broadcast operator over the whole namespace.
    pub fn operator(&self) -> BroadcastOperator {
        let name = self.name.as_deref().unwrap_or("/");
        self.io.broadcast_in(name)
    }
}

/// Selects sockets and flags for a broadcast (`io.to(...).except(...)`).
#[derive(Clone)]
pub struct BroadcastOperator {
    io: SocketIo,
    nsp: String,
    pub(crate) options: BroadcastOptions,
}

impl std::fmt::Debug for BroadcastOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastOperator")
            .field("nsp", &self.nsp)
            .field("options", &self.options)
            .finish()
    }
}

impl BroadcastOperator {
    pub(crate) fn new(io: SocketIo, nsp: &str, target: Target) -> Self {
        Self {
            io,
            nsp: nsp.to_owned(),
            options: BroadcastOptions {
                target,
                ..BroadcastOptions::default()
            },
        }
    }

    /// Also the sockets in `room` (`to` / `in`).
    pub fn to(mut self, room: &str) -> Self {
        self.options.target.rooms.push(Str::from(room.to_owned()));
        self
    }

    /// The same as [`to`](Self::to) (`in`).
    pub fn in_(self, room: &str) -> Self {
        self.to(room)
    }

    /// Not the sockets in `room`.
    pub fn except(mut self, room: &str) -> Self {
        self.options.target.except.push(Str::from(room.to_owned()));
        self
    }

    /// This node only.
    pub fn local(mut self) -> Self {
        self.options.target.local = true;
        self
    }

    /// Dropped for sockets whose transport cannot take it right now.
    pub fn volatile(mut self) -> Self {
        self.options.volatile = true;
        self
    }

    /// The `compress` flag: `false` sends the event uncompressed (no
    /// permessage-deflate for it; see `BroadcastOptions::compress`).
    pub fn compress(mut self, compress: bool) -> Self {
        self.options.compress = Some(compress);
        self
    }

    /// Waits at most `timeout` for the acknowledgements of
    /// [`emit_with_ack`](Self::emit_with_ack).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Emits to the selected sockets; returns how many local ones it reached.
    pub fn emit(self, event: &str, args: impl Serialize) -> Result<usize, EmitError> {
        self.emit_payload(event, Payload::from_args(args)?)
    }

    /// Emits arguments that may hold binary attachments.
    pub fn emit_payload(mut self, event: &str, payload: Payload) -> Result<usize, EmitError> {
        self.options.timeout = None;
        let packet = payload.into_event(event)?;
        let backend = self.io.backend()?;
        let sent = act(backend.as_ref(), |core, now| {
            core.broadcast(now, &self.nsp, &self.options, packet)
        })?;
        Ok(sent.recipients)
    }

    /// Emits and collects every selected socket's acknowledgement; fails
    /// with [`AckError::Timeout`] if some did not answer within the timeout
    /// (default 5 s).
    pub async fn emit_with_ack(
        mut self,
        event: &str,
        args: impl Serialize,
    ) -> Result<Vec<Payload>, AckError> {
        let timeout = self.options.timeout.unwrap_or(Duration::from_secs(5));
        self.options.timeout = Some(timeout);
        let packet = Payload::from_args(args)
            .map_err(EmitError::from)?
            .into_event(event)?;
        let backend = self.io.backend()?.clone();
        let (tx, rx) = oneshot::channel();
        act(backend.as_ref(), |core, now| {
            let sent = core.broadcast(now, &self.nsp, &self.options, packet)?;
            if let Some(id) = sent.ack {
                lock(&self.io.inner.broadcast_acks).insert(
                    id,
                    BroadcastCollector {
                        answers: Vec::new(),
                        done: tx,
                    },
                );
            }
            Ok::<_, socketio_proto::EmitError>(())
        })
        .map_err(EmitError::from)?;
        rx.await.unwrap_or(Err(AckError::Timeout))
    }

    /// The selected sockets, across the cluster (`fetchSockets`): this
    /// node's, then those the other nodes sent within their time limit.
    pub async fn fetch_sockets(self) -> Result<Vec<RemoteSocket>, EmitError> {
        let backend = self.io.backend()?.clone();
        let (tx, rx) = oneshot::channel();
        act(backend.as_ref(), |core, now| {
            let key = core.fetch_sockets_cluster(now, &self.nsp, &self.options.target);
            lock(&self.io.inner.requests).insert(key, tx);
        });
        match rx.await {
            Ok(Event::FetchSocketsDone { local, remote, .. }) => {
                let mut sockets: Vec<RemoteSocket> = local
                    .into_iter()
                    .map(|info| RemoteSocket::new(self.io.clone(), info))
                    .collect();
                sockets.extend(
                    remote
                        .iter()
                        .map(|w| RemoteSocket::new(self.io.clone(), w.to_info(&self.nsp))),
                );
                Ok(sockets)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The selected sockets join `rooms` (`socketsJoin`).
    pub fn sockets_join(self, rooms: &[&str]) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.iter().map(|r| Str::from(r.to_string())).collect();
        let backend = self.io.backend()?;
        act(backend.as_ref(), |core, _| {
            core.sockets_join(&self.nsp, &self.options.target, &rooms)
        });
        Ok(())
    }

    /// The selected sockets leave `rooms` (`socketsLeave`).
    pub fn sockets_leave(self, rooms: &[&str]) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.iter().map(|r| Str::from(r.to_string())).collect();
        let backend = self.io.backend()?;
        act(backend.as_ref(), |core, _| {
            core.sockets_leave(&self.nsp, &self.options.target, &rooms)
        });
        Ok(())
    }

    /// Disconnects the selected sockets (`disconnectSockets`).
    pub fn disconnect_sockets(self, close: bool) -> Result<(), EmitError> {
        let backend = self.io.backend()?;
        act(backend.as_ref(), |core, now| {
            core.disconnect_sockets(now, &self.nsp, &self.options.target, close)
        });
        Ok(())
    }
}

/// Answers another node's `serverSideEmit`.
#[derive(Debug, Clone)]
pub struct ServerSideAck {
    pub(crate) io: SocketIo,
    pub(crate) reply: socketio_proto::cluster::ServerSideReply,
}

impl ServerSideAck {
    /// Sends the answer.
    pub fn send(self, answer: impl Serialize) -> Result<(), EmitError> {
        let value = serde_json::to_value(answer)?;
        let backend = self.io.backend()?;
        act(backend.as_ref(), |core, _| {
            core.server_side_reply(&self.reply, value)
        });
        Ok(())
    }
}

/// Locks a mutex, ignoring poisoning: the data behind these locks stays
/// consistent across a panicking handler (each update is one statement).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
