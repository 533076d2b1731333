//! The server handle (`io`), namespaces, middlewares and broadcast
//! operators.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use engineio_proto::ClientsCount;
use futures_channel::oneshot;
use serde::Serialize;
use serde_json::Value;
use socketio_proto::{
    BroadcastOptions, Config, Event, Handshake, NamespaceMatcher, ParentId, Room, Server, SocketId,
    Str, Target,
};

use crate::backend::{Backend, Task, act, act_or_defer};
use crate::contain::{Site, core_hook};
use crate::dispatch::Router;
use crate::engine::{Conns, EngineHooks};
use crate::payload::{AckError, EmitError, Payload};
use crate::remote::RemoteSocket;
use crate::socket::Socket;
use crate::waiters::Waiters;
use crate::{Registry, lock};

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

pub(crate) type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Middleware =
    Arc<dyn Fn(Connecting) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
pub(crate) type ConnectionHandler = Arc<dyn Fn(Socket) -> Task + Send + Sync>;
pub(crate) type ServerSideHandler =
    Arc<dyn Fn(Payload, Option<ServerSideAck>) -> Task + Send + Sync>;

/// The handlers of a namespace (or of a parent of dynamic namespaces, whose
/// children share them): a registry swapped whole at each registration, so
/// a reader takes a snapshot under a short lock and runs it outside.
#[derive(Default, Clone)]
pub(crate) struct NsHandlers {
    middlewares: Vec<Middleware>,
    on_connection: Option<ConnectionHandler>,
    server_side: Vec<ServerSideHandler>,
}

impl NsHandlers {
    pub(crate) fn middlewares(&self) -> Vec<Middleware> {
        self.middlewares.clone()
    }

    pub(crate) fn on_connection(&self) -> Option<ConnectionHandler> {
        self.on_connection.clone()
    }

    pub(crate) fn server_side(&self) -> Vec<ServerSideHandler> {
        self.server_side.clone()
    }
}

/// Everything the handles share. Each part has its owner: the module that
/// changes it (see the crate doc's locking rule).
pub(crate) struct Inner {
    backend: OnceLock<Arc<dyn Backend>>,
    /// Handlers by namespace name.
    namespaces: Mutex<HashMap<String, Arc<Registry<NsHandlers>>>>,
    /// Handlers of parent namespaces, by `ParentId`.
    parents: Mutex<Vec<Arc<Registry<NsHandlers>>>>,
    /// Parents registered before the core existed.
    pending_parents: Mutex<Vec<NamespaceMatcher>>,
    /// The core's count of engine sessions, read without its lock.
    clients: OnceLock<ClientsCount>,
    pub(crate) waiters: Waiters,
    pub(crate) router: Router,
    pub(crate) engine_hooks: Mutex<EngineHooks>,
    pub(crate) conns: Conns,
    /// Who is told of sockets coming and going and of room changes (the
    /// admin instrumentation).
    observer: OnceLock<Arc<dyn Observer>>,
}

/// Told of sockets coming and going and of their room changes; called
/// with no lock held, from the socket's task (`connected`,
/// `disconnected`) or the server task (`room`).
pub(crate) trait Observer: Send + Sync + 'static {
    /// A socket connected (called before its connection handler starts).
    fn connected(&self, socket: &crate::Socket);
    /// A socket left.
    fn disconnected(&self, nsp: &str, id: &SocketId, reason: socketio_proto::DisconnectReason);
    /// A socket joined (`joined`) or left a room.
    fn room(&self, joined: bool, nsp: &str, room: &str, id: &SocketId);
    /// The application set a socket's data (from the caller's task).
    fn data_changed(&self, _socket: &crate::Socket, _data: &Value) {}
}

/// The server (`io`): cheap to clone, every clone is the same server.
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<Inner>,
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
            clients: OnceLock::new(),
            waiters: Waiters::default(),
            router: Router::default(),
            engine_hooks: Mutex::new(EngineHooks::default()),
            conns: Mutex::new(HashMap::new()),
            observer: OnceLock::new(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The handlers of namespace `nsp`, or of parent `parent`.
    pub(crate) fn handlers(&self, nsp: &str, parent: Option<ParentId>) -> Option<Arc<NsHandlers>> {
        let registry = match parent {
            Some(ParentId(p)) => lock(&self.inner.parents).get(p as usize).cloned(),
            None => lock(&self.inner.namespaces).get(nsp).cloned(),
        };
        registry.map(|r| r.get())
    }

    /// Whether `nsp` was registered with [`of`](Self::of) (rather than
    /// created as the child of a parent).
    pub(crate) fn has_namespace(&self, nsp: &str) -> bool {
        lock(&self.inner.namespaces).contains_key(nsp)
    }

    /// Sets the observer (once) and turns the core's room events on.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn set_observer(&self, observer: Arc<dyn Observer>) {
        if self.inner.observer.set(observer).is_ok() {
            if let Some(backend) = self.backend_if_running() {
                crate::backend::act(backend.as_ref(), |core, _| core.set_room_events(true));
            }
        }
    }

    /// The observer, if any.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.inner.observer.get()
    }

    /// The number of engine sessions, read without the core's lock.
    pub(crate) fn clients(&self) -> usize {
        self.inner.clients.get().map_or(0, ClientsCount::get)
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
            act_or_defer(backend, move |core, _| core.add_namespace(&name));
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
        let handlers = Arc::new(Registry::default());
        lock(&self.inner.parents).push(handlers.clone());
        // The core runs a predicate under its lock: contained and marked.
        let matcher = match matcher {
            NamespaceMatcher::Predicate(accept) => {
                NamespaceMatcher::Predicate(Arc::new(move |name, auth| {
                    let site = Site::socket("namespace predicate", "", name);
                    core_hook(&site, || accept(name, auth))
                }))
            }
            pattern => pattern,
        };
        match self.inner.backend.get() {
            Some(backend) => {
                act_or_defer(backend, move |core, _| {
                    core.add_parent(matcher);
                });
            }
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
        core.set_room_events(self.inner.observer.get().is_some());
        let _ = self.inner.clients.set(core.engine().clients_counter());
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
        if self.inner.backend.set(backend.clone()).is_ok() {
            self.inner.router.start(self, &backend);
        }
        EventSink { io: self.clone() }
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
        act_or_defer(backend, move |core, now| {
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
                self.inner.waiters.wait_request(key, tx);
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

    /// The binding, once running.
    pub(crate) fn backend_if_running(&self) -> Option<&Arc<dyn Backend>> {
        self.inner.backend.get()
    }
}

/// Where the binding's event hook puts the core's events.
#[derive(Debug, Clone)]
pub struct EventSink {
    io: SocketIo,
}

impl EventSink {
    /// Hands one core event to the task that runs the application's code
    /// for it (the socket's own task, for a socket's events). Never blocks
    /// and runs no application code: the binding calls it under the lock
    /// around the core.
    pub fn push(&self, event: Event) {
        crate::dispatch::route(&self.io, event);
    }
}

/// A namespace handle (`io.of(name)`), or a parent of dynamic namespaces.
#[derive(Clone)]
pub struct Namespace {
    io: SocketIo,
    /// `None` for a parent.
    name: Option<Str>,
    handlers: Arc<Registry<NsHandlers>>,
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
        self.handlers.update(|h| h.on_connection = Some(handler));
    }

    /// Adds a connection middleware (`nsp.use`): they run in order; the
    /// first `Err` refuses the socket with its message and data.
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Connecting) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let middleware: Middleware = Arc::new(move |c| Box::pin(middleware(c)));
        self.handlers.update(|h| h.middlewares.push(middleware));
    }

    /// Handles `serverSideEmit`s from other nodes for this namespace; `ack`
    /// is set when the sender waits for an answer.
    pub fn on_server_side<F, Fut>(&self, handler: F)
    where
        F: Fn(Payload, Option<ServerSideAck>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ServerSideHandler = Arc::new(move |p, a| Box::pin(handler(p, a)));
        self.handlers.update(|h| h.server_side.push(handler));
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
        let (nsp, options) = (self.nsp, self.options);
        match act_or_defer(backend, move |core, now| {
            core.broadcast(now, &nsp, &options, packet)
        }) {
            Some(sent) => Ok(sent?.recipients),
            // From a hook the core is running: sent right after it, to
            // sockets not counted here.
            None => Ok(0),
        }
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
                self.io.inner.waiters.wait_broadcast(id, tx);
            }
            Ok::<_, socketio_proto::EmitError>(())
        })
        .ok_or(EmitError::NotRunning)?
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
            self.io.inner.waiters.wait_request(key, tx);
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
        let (nsp, target) = (self.nsp, self.options.target);
        act_or_defer(backend, move |core, _| {
            core.sockets_join(&nsp, &target, &rooms)
        });
        Ok(())
    }

    /// The selected sockets leave `rooms` (`socketsLeave`).
    pub fn sockets_leave(self, rooms: &[&str]) -> Result<(), EmitError> {
        let rooms: Vec<Room> = rooms.iter().map(|r| Str::from(r.to_string())).collect();
        let backend = self.io.backend()?;
        let (nsp, target) = (self.nsp, self.options.target);
        act_or_defer(backend, move |core, _| {
            core.sockets_leave(&nsp, &target, &rooms)
        });
        Ok(())
    }

    /// Disconnects the selected sockets (`disconnectSockets`).
    pub fn disconnect_sockets(self, close: bool) -> Result<(), EmitError> {
        let backend = self.io.backend()?;
        let (nsp, target) = (self.nsp, self.options.target);
        act_or_defer(backend, move |core, now| {
            core.disconnect_sockets(now, &nsp, &target, close)
        });
        Ok(())
    }
}

/// Answers another node's `serverSideEmit`.
#[derive(Debug, Clone)]
pub struct ServerSideAck {
    io: SocketIo,
    reply: socketio_proto::cluster::ServerSideReply,
}

impl ServerSideAck {
    pub(crate) fn new(io: SocketIo, reply: socketio_proto::cluster::ServerSideReply) -> Self {
        Self { io, reply }
    }

    /// Sends the answer.
    pub fn send(self, answer: impl Serialize) -> Result<(), EmitError> {
        let value = serde_json::to_value(answer)?;
        let backend = self.io.backend()?;
        let reply = self.reply;
        act_or_defer(backend, move |core, _| {
            core.server_side_reply(&reply, value)
        });
        Ok(())
    }
}
