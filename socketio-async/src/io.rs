//! The handles and the state they share: the server (`io`), namespaces,
//! sockets, and what a handler is given. This module owns the handler
//! registries and the shared state, each behind a small API; what the
//! handles do lives in the modules above (`operator`, `socket`,
//! `extract`, `dispatch`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use engineio_proto::{Request, Sid};
use serde_json::Value;
use socketio_proto::{
    Config, DisconnectReason, Handshake, NamespaceMatcher, Nsp, ParentId, Room, Server, SocketId,
    Str,
};

use crate::backend::Runner;
use crate::contain::{Site, Task, core_hook};
use crate::engine::{AllowRequestFn, Engine, EngineState};
use crate::extensions::{Extensions, StateMap};
use crate::payload::Payload;
use crate::sync::{Registry, lock};
use crate::waiters::Waiters;

/// Why a connection middleware refused a socket: the client gets
/// CONNECT_ERROR with this message and data (`connect_error` on its side).
///
/// ```
/// use socketio_async::ConnectError;
///
/// let refusal = ConnectError::with_data("not authorized", serde_json::json!({"retry": false}));
/// assert_eq!(refusal.message, "not authorized");
/// assert_eq!(ConnectError::new("no").data, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message.
    pub message: String,
    /// Optional data.
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    ///
    /// ```
    /// use socketio_async::{ConnectError, Connecting, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.use_middleware(|c: Connecting| async move {
    ///     // The client's `connect_error` handler gets `err.message == "closed for maintenance"`.
    ///     Err::<(), _>(ConnectError::new("closed for maintenance"))
    /// });
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// A refusal with a message and data.
    ///
    /// ```
    /// use serde_json::json;
    /// use socketio_async::ConnectError;
    ///
    /// // The client reads `err.data.retryIn`.
    /// let refusal = ConnectError::with_data("too many connections", json!({"retryIn": 30}));
    /// ```
    pub fn with_data(message: impl Into<String>, data: Value) -> Self {
        Self {
            message: message.into(),
            data: Some(data),
        }
    }
}

/// What a connection middleware sees: the socket to be. What it stores in
/// [`extensions`](Self::extensions) the socket keeps (the `Extension`
/// extractor reads it).
///
/// ```
/// use socketio_async::{ConnectError, Connecting, SocketIo};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let io = SocketIo::new();
/// io.use_middleware(|connecting: Connecting| async move {
///     let Some(name) = connecting.handshake.auth.get("name").and_then(|n| n.as_str()) else {
///         return Err(ConnectError::new("who are you?"));
///     };
///     connecting.extensions.insert(User(name.to_owned()));
///     Ok(())
/// });
/// ```
#[derive(Clone)]
pub struct Connecting {
    /// Its id (final).
    pub id: SocketId,
    /// Its namespace.
    pub nsp: Nsp,
    /// Its handshake, auth included.
    pub handshake: Arc<Handshake>,
    /// The socket's typed storage, handed to the socket once it connects.
    pub extensions: Extensions,
    state: Arc<StateMap>,
}

impl std::fmt::Debug for Connecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connecting")
            .field("id", &self.id)
            .field("nsp", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl Connecting {
    pub(crate) fn new(io: &SocketIo, id: SocketId, nsp: Nsp, handshake: Arc<Handshake>) -> Self {
        Self {
            id,
            nsp,
            handshake,
            extensions: Extensions::default(),
            state: io.inner.state.clone(),
        }
    }

    /// The application state of type `T` registered on the builder.
    ///
    /// ```
    /// use socketio_async::{ConnectError, Connecting, SocketIo};
    ///
    /// struct Banned(Vec<String>);
    ///
    /// let io = SocketIo::builder().with_state(Banned(vec!["1.2.3.4".into()])).build();
    /// io.use_middleware(|connecting: Connecting| async move {
    ///     let banned = connecting.state::<Banned>().expect("registered above");
    ///     if banned.0.contains(&connecting.handshake.address) {
    ///         return Err(ConnectError::new("banned"));
    ///     }
    ///     Ok(())
    /// });
    /// ```
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.state.get::<T>()
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Middleware =
    Arc<dyn Fn(Connecting) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
/// A `serverSideEmit` listener: `None` when an extractor refused (logged
/// by the listener).
pub(crate) type ServerSideHook = Arc<dyn Fn(ServerSideContext) -> Option<Task> + Send + Sync>;
/// A handler whose arguments are extracted from a [`HandlerContext`]:
/// `None` when an extractor refused (logged by the handler).
pub(crate) type ErasedHandler = Arc<dyn Fn(HandlerContext) -> Option<Task> + Send + Sync>;

/// The handlers of a namespace (or of a parent of dynamic namespaces, whose
/// children share them).
#[derive(Default, Clone)]
pub(crate) struct NsHandlers {
    middlewares: Vec<Middleware>,
    on_connection: Vec<ErasedHandler>,
    server_side: Vec<ServerSideHook>,
}

impl NsHandlers {
    pub(crate) fn middlewares(&self) -> &[Middleware] {
        &self.middlewares
    }

    pub(crate) fn on_connection(&self) -> &[ErasedHandler] {
        &self.on_connection
    }

    pub(crate) fn server_side(&self) -> &[ServerSideHook] {
        &self.server_side
    }
}

/// Everything the handles share. Each part has one owner, that changes it
/// through its own API: the binding's slot (`backend::Runner`), the
/// waiters (`waiters`), the engine's hooks and connections (`engine`), the
/// namespace registries (here), the application state (fixed at build).
struct Inner {
    runner: Arc<Runner>,
    engine: Arc<EngineState>,
    waiters: Waiters,
    /// Handlers by namespace name.
    namespaces: Mutex<HashMap<String, Arc<Registry<NsHandlers>>>>,
    /// Handlers of parent namespaces, by `ParentId`.
    parents: Mutex<Vec<Arc<Registry<NsHandlers>>>>,
    /// Parents registered before the core existed.
    pending_parents: Mutex<Vec<NamespaceMatcher>>,
    /// Who is told of sockets coming and going and of room changes (the
    /// admin instrumentation).
    observer: OnceLock<Arc<dyn Observer>>,
    /// Some socket has an `on_any_outgoing` handler: the core reports the
    /// recipients of broadcasts.
    outgoing: AtomicBool,
    state: Arc<StateMap>,
}

/// Told of sockets coming and going and of their room changes; called
/// with no lock held, from the socket's task (`connected`,
/// `disconnected`) or the server task (`room`).
pub(crate) trait Observer: Send + Sync + 'static {
    /// A socket connected (called before its connection handler starts).
    fn connected(&self, socket: &Socket);
    /// A socket left.
    fn disconnected(&self, nsp: &str, id: &SocketId, reason: DisconnectReason);
    /// A socket joined (`joined`) or left a room.
    fn room(&self, joined: bool, nsp: &str, room: &str, id: &SocketId);
    /// The application set a socket's data (from the caller's task).
    fn data_changed(&self, _socket: &Socket, _data: &Value) {}
}

/// The server (`io`): cheap to clone, every clone is the same server.
///
/// ```
/// use socketio_async::{Data, Socket, SocketIo, State};
///
/// struct Motd {
///     text: String,
/// }
///
/// let io = SocketIo::builder().with_state(Motd { text: "welcome".into() }).build();
/// io.on_connection(|socket: Socket, motd: State<Motd>| async move {
///     let _ = socket.emit("motd", &motd.text);
///     socket.on("chat", |socket: Socket, Data(text): Data<String>| async move {
///         let _ = socket.broadcast().emit("chat", (socket.id().as_str(), text));
///     });
/// });
/// ```
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

/// Builds a [`SocketIo`] with application state (`State` extractor).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use socketio_async::{Socket, SocketIo, State};
///
/// #[derive(Default)]
/// struct Stats { connections: AtomicUsize }
///
/// let io = SocketIo::builder().with_state(Stats::default()).build();
/// io.on_connection(|_socket: Socket, stats: State<Stats>| async move {
///     stats.connections.fetch_add(1, Ordering::Relaxed);
/// });
/// ```
#[derive(Default)]
pub struct SocketIoBuilder {
    state: StateMap,
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder").finish_non_exhaustive()
    }
}

impl SocketIoBuilder {
    /// Adds a value of application state, one per type (a second value of
    /// a type replaces the first). Handlers read it with `State<T>`.
    ///
    /// ```
    /// use socketio_async::{SocketIo, State};
    ///
    /// struct Config { motd: String }
    /// let io = SocketIo::builder()
    ///     .with_state(Config { motd: "welcome".into() })
    ///     .build();
    /// io.on_connection(|socket: socketio_async::Socket, config: State<Config>| async move {
    ///     let _ = socket.emit("motd", &config.motd);
    /// });
    /// ```
    pub fn with_state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// The server.
    ///
    /// ```
    /// let io = socketio_async::SocketIo::builder().with_state(42_u32).build();
    /// ```
    pub fn build(self) -> SocketIo {
        SocketIo::with_state_map(self.state)
    }
}

impl SocketIo {
    /// A server with no handlers and no state yet. A runtime binding makes
    /// it run (`attach`), usually through its own `listen` or service.
    ///
    /// ```
    /// use socketio_async::{Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("ping", |socket: Socket| async move {
    ///         let _ = socket.emit("pong", ());
    ///     });
    /// });
    /// // Then serve it with a runtime binding (runtime-tokio's `listen`, or
    /// // its tower layer inside axum).
    /// ```
    pub fn new() -> Self {
        Self::with_state_map(StateMap::default())
    }

    /// A builder, to register application state.
    ///
    /// ```
    /// struct Db;
    /// let io = socketio_async::SocketIo::builder().with_state(Db).build();
    /// ```
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::default()
    }

    fn with_state_map(state: StateMap) -> Self {
        let inner = Inner {
            runner: Arc::default(),
            engine: Arc::default(),
            waiters: Waiters::default(),
            namespaces: Mutex::new(HashMap::new()),
            parents: Mutex::new(Vec::new()),
            pending_parents: Mutex::new(Vec::new()),
            observer: OnceLock::new(),
            outgoing: AtomicBool::new(false),
            state: Arc::new(state),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The binding's slot.
    pub(crate) fn runner(&self) -> &Runner {
        &self.inner.runner
    }

    /// The tasks waiting for answers.
    pub(crate) fn waiters(&self) -> &Waiters {
        &self.inner.waiters
    }

    /// The engine's state.
    pub(crate) fn engine_state(&self) -> &EngineState {
        &self.inner.engine
    }

    /// The application state of type `T`.
    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.state.get::<T>()
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

    /// Whether some socket ever added an `on_any_outgoing` handler (set
    /// before the first is added, never cleared).
    pub(crate) fn has_outgoing_hooks(&self) -> bool {
        self.inner.outgoing.load(Ordering::Acquire)
    }

    /// Sets the observer (once) and turns the core's room events on.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn set_observer(&self, observer: Arc<dyn Observer>) {
        if self.inner.observer.set(observer).is_ok() {
            self.runner().act(|core, _| core.set_room_events(true));
        }
    }

    /// The observer, if any.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.inner.observer.get()
    }

    // ----- setup -----

    /// The namespace `name` (`io.of(name)`), created if needed. `"/"` is
    /// the main namespace.
    ///
    /// ```
    /// use socketio_async::{Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// let admin = io.of("/admin");
    /// admin.on_connection(|socket: Socket| async move {
    ///     let _ = socket.emit("hello", "admin");
    /// });
    /// ```
    pub fn of(&self, name: &str) -> Namespace {
        let handlers = lock(&self.inner.namespaces)
            .entry(name.to_owned())
            .or_default()
            .clone();
        let nsp = Nsp::from(name.to_owned());
        let owned = nsp.clone();
        let _ = self
            .runner()
            .act_or_defer(move |core, _| core.add_namespace(owned));
        Namespace {
            io: self.clone(),
            name: Some(nsp),
            handlers,
        }
    }

    /// A parent namespace (`io.of(/regex/ | fn)`): CONNECTs to names it
    /// matches create child namespaces that use its middlewares and handlers.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use socketio_async::{NamespaceMatcher, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// let rooms = io.of_dynamic(NamespaceMatcher::Predicate(Arc::new(|name, _auth| {
    ///     name.starts_with("/room-")
    /// })));
    /// rooms.on_connection(|socket: Socket| async move {
    ///     let _ = socket.emit("in", socket.nsp());
    /// });
    /// ```
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
        if self.runner().get().is_some() {
            let _ = self.runner().act_or_defer(move |core, _| {
                core.add_parent(matcher);
            });
        } else {
            lock(&self.inner.pending_parents).push(matcher);
        }
        Namespace {
            io: self.clone(),
            name: None,
            handlers,
        }
    }

    /// Connection middleware of the main namespace (`io.use`).
    ///
    /// ```
    /// use socketio_async::{ConnectError, Connecting, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.use_middleware(|c: Connecting| async move {
    ///     match c.handshake.auth.get("token").and_then(|t| t.as_str()) {
    ///         Some("secret") => Ok(()),
    ///         _ => Err(ConnectError::new("not authorized")),
    ///     }
    /// });
    /// ```
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
    ///
    /// ```
    /// use socketio_async::{Config, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.of("/chat");
    /// // What a runtime binding does before it attaches the server.
    /// let core = io.build_core(Config::default());
    /// ```
    pub fn build_core(&self, config: Config) -> Server {
        self.inner.engine.take_config(&config);
        let mut core = Server::new(config);
        core.set_room_events(self.inner.observer.get().is_some());
        core.set_outgoing_events(self.inner.outgoing.load(Ordering::Acquire));
        self.inner.engine.install(&mut core);
        for name in lock(&self.inner.namespaces).keys() {
            core.add_namespace(name.clone());
        }
        for matcher in lock(&self.inner.pending_parents).drain(..) {
            core.add_parent(matcher);
        }
        core
    }

    /// The Engine.IO server underneath (`io.engine`).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// io.engine().on_connection_error(|e| eprintln!("refused: {}", e.message));
    /// ```
    pub fn engine(&self) -> Engine {
        Engine::new(self.inner.runner.clone(), self.inner.engine.clone())
    }

    /// Decides on each handshake before a session opens (`allowRequest`):
    /// `Ok(())` lets it through; `Err(message)` refuses it with HTTP 403
    /// and `{"code":4,"message":<message>}` (an empty message reads
    /// "Forbidden"), or a 400 before a WebSocket upgrade, as the official
    /// server does. The decision may take time (a database lookup...);
    /// the client waits. Registering again replaces the decision.
    ///
    /// ```
    /// use socketio_async::SocketIo;
    ///
    /// let io = SocketIo::new();
    /// io.allow_request(|request| async move {
    ///     match request.headers.get("origin") {
    ///         Some("https://app.example") => Ok(()),
    ///         _ => Err("origin not allowed".to_owned()),
    ///     }
    /// });
    /// ```
    pub fn allow_request<F, Fut>(&self, decide: F)
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let decide: AllowRequestFn = Arc::new(move |request| Box::pin(decide(request)));
        self.engine().set_allow_request(decide);
    }

    /// Number of engine connections (`io.engine.clientsCount`); the same
    /// as `io.engine().clients_count()`.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// assert_eq!(io.clients_count(), 0);
    /// ```
    pub fn clients_count(&self) -> usize {
        self.inner.engine.clients()
    }

    /// Closes every socket with "server shutting down" (`io.close()`),
    /// and has the runtime binding stop accepting connections.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # async fn shutdown_signal() {}
    /// async fn run(io: SocketIo) {
    ///     shutdown_signal().await;
    ///     io.close(); // every client gets "server shutting down"
    /// }
    /// ```
    pub fn close(&self) {
        if let Some(b) = self.runner().get() {
            b.close();
        }
    }
}

/// A namespace handle (`io.of(name)`), or a parent of dynamic namespaces.
///
/// ```
/// use socketio_async::{Connecting, ConnectError, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// let admin = io.of("/admin");
/// admin.use_middleware(|c: Connecting| async move {
///     if c.handshake.auth.get("token").is_some() { Ok(()) } else { Err(ConnectError::new("no")) }
/// });
/// admin.on_connection(|socket: Socket| async move {
///     socket.join("admins");
/// });
/// // Everyone in /admin's "admins" room.
/// let _ = admin.to("admins").emit("notice", "maintenance at noon");
/// ```
#[derive(Clone)]
pub struct Namespace {
    io: SocketIo,
    /// `None` for a parent.
    name: Option<Nsp>,
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
    /// The server.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// let chat = io.of("/chat");
    /// let _ = chat.io().emit("news", "to the main namespace");
    /// ```
    pub fn io(&self) -> &SocketIo {
        &self.io
    }

    /// Its name (`"/"` for a parent of dynamic namespaces, whose
    /// broadcasts go to the main namespace).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// assert_eq!(io.of("/chat").name(), "/chat");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_ref().map_or("/", Nsp::as_str)
    }

    /// The name, typed, for the core (`/` for a parent).
    pub(crate) fn nsp_name(&self) -> Nsp {
        self.name.clone().unwrap_or(Nsp::MAIN)
    }

    pub(crate) fn add_connection_handler(&self, handler: ErasedHandler) {
        self.handlers.update(|h| h.on_connection.push(handler));
    }

    /// Adds a connection middleware (`nsp.use`): they run in order; the
    /// first `Err` refuses the socket with its message and data.
    ///
    /// ```
    /// use socketio_async::{ConnectError, Connecting, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.of("/admin").use_middleware(|c: Connecting| async move {
    ///     if c.handshake.auth.get("admin").is_some() { Ok(()) } else { Err(ConnectError::new("admins only")) }
    /// });
    /// ```
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Connecting) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.add_middleware(Arc::new(move |c| Box::pin(middleware(c))));
    }

    /// Adds a connection middleware, after those it has.
    pub(crate) fn add_middleware(&self, middleware: Middleware) {
        self.handlers.update(|h| h.middlewares.push(middleware));
    }

    /// Adds a `serverSideEmit` listener, after those it has.
    pub(crate) fn add_server_side(&self, handler: ServerSideHook) {
        self.handlers.update(|h| h.server_side.push(handler));
    }
}

/// What a socket's handlers are: several per event, in registration
/// order.
///
/// Every connected socket keeps one, so it stays small: a socket has a few
/// event names (a list is smaller than a map, and as quick to search at
/// that size), one entry per handler with the handlers of one name side by
/// side (no list per name), and the other lists live in a box made with
/// the first of them.
#[derive(Default, Clone)]
pub(crate) struct SocketHandlers {
    events: Vec<EventEntry>,
    hooks: Option<Box<Hooks>>,
}

/// One event handler and its event's name.
pub(crate) type EventEntry = (EventName, ErasedHandler);

/// How many bytes of an event name a handler list keeps inline.
const INLINE_NAME: usize = 22;

/// An event name as a socket's handler list keeps it: inline up to
/// [`INLINE_NAME`] bytes (most names: no allocation per handler of every
/// socket), boxed beyond. 24 bytes either way.
#[derive(Clone)]
pub(crate) enum EventName {
    Inline { len: u8, bytes: [u8; INLINE_NAME] },
    Boxed(Box<str>),
}

impl EventName {
    pub(crate) fn new(name: &str) -> Self {
        let mut bytes = [0; INLINE_NAME];
        match bytes.get_mut(..name.len()) {
            Some(inline) => {
                inline.copy_from_slice(name.as_bytes());
                Self::Inline {
                    len: name.len() as u8,
                    bytes,
                }
            }
            None => Self::Boxed(name.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Boxed(name) => name.as_bytes(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole: always UTF-8.
            Self::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Boxed(name) => name,
        }
    }

    fn is(&self, name: &str) -> bool {
        self.as_bytes() == name.as_bytes()
    }
}

/// A socket's handlers other than its event handlers.
#[derive(Default, Clone)]
struct Hooks {
    any: Vec<AnyHook>,
    any_outgoing: Vec<AnyHook>,
    middlewares: Vec<PacketHook>,
    on_error: Vec<ErrorHandler>,
    on_disconnecting: Vec<ErasedHandler>,
    on_disconnect: Vec<ErasedHandler>,
}

/// An `on_any` / `on_any_outgoing` handler, given the socket, the event's
/// name and its arguments.
pub(crate) type AnyHook = Arc<dyn Fn(&Socket, &str, &Payload) + Send + Sync>;
/// A packet middleware: `Err` stops the event.
pub(crate) type PacketHook =
    Arc<dyn Fn(&Socket, &str, &Payload) -> Result<(), String> + Send + Sync>;
pub(crate) type ErrorHandler = Arc<dyn Fn(Socket, String) -> Task + Send + Sync>;

/// Which list of a socket's handlers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hook {
    Any,
    AnyOutgoing,
    Disconnecting,
    Disconnect,
}

impl SocketHandlers {
    /// The handlers of `name`, with the name as registered (a string
    /// the dispatcher borrows rather than copies); `None` if it has none.
    pub(crate) fn event_entry(&self, name: &str) -> Option<(&str, &[EventEntry])> {
        let (first, count) = self.run_of(name)?;
        let run = self.events.get(first..first + count)?;
        Some((run.first()?.0.as_str(), run))
    }

    /// Where the handlers of `event` start in `events`, and how many
    /// there are (at least one).
    fn run_of(&self, event: &str) -> Option<(usize, usize)> {
        let first = self.events.iter().position(|(e, _)| e.is(event))?;
        let count = self
            .events
            .iter()
            .skip(first)
            .take_while(|(e, _)| e.is(event))
            .count();
        Some((first, count))
    }

    /// Adds a handler of `event`, after those it has. The list grows one
    /// entry at a time (a socket registers a few handlers, once; every
    /// connected socket keeps the list).
    fn add_event(&mut self, event: &str, handler: ErasedHandler) {
        self.events.reserve_exact(1);
        let entry = (EventName::new(event), handler);
        match self.run_of(event) {
            Some((first, count)) => self.events.insert(first + count, entry),
            None => self.events.push(entry),
        }
    }

    /// Removes the handlers of `event`; how many there were.
    fn remove_event(&mut self, event: &str) -> usize {
        let Some((first, count)) = self.run_of(event) else {
            return 0;
        };
        self.events.drain(first..first + count);
        count
    }

    /// The other lists, to add to.
    fn hooks_mut(&mut self) -> &mut Hooks {
        self.hooks.get_or_insert_with(Box::default)
    }

    fn hook<T>(&self, list: impl FnOnce(&Hooks) -> &[T]) -> &[T] {
        self.hooks.as_deref().map_or(&[], list)
    }

    pub(crate) fn any(&self) -> &[AnyHook] {
        self.hook(|h| &h.any)
    }

    pub(crate) fn any_outgoing(&self) -> &[AnyHook] {
        self.hook(|h| &h.any_outgoing)
    }

    pub(crate) fn middlewares(&self) -> &[PacketHook] {
        self.hook(|h| &h.middlewares)
    }

    pub(crate) fn on_error(&self) -> &[ErrorHandler] {
        self.hook(|h| &h.on_error)
    }

    pub(crate) fn on_disconnecting(&self) -> &[ErasedHandler] {
        self.hook(|h| &h.on_disconnecting)
    }

    pub(crate) fn on_disconnect(&self) -> &[ErasedHandler] {
        self.hook(|h| &h.on_disconnect)
    }
}

/// What every handle of one socket shares: one allocation, so that a
/// handle costs one reference count to clone (a handler context is made
/// per event).
struct SocketState {
    io: SocketIo,
    id: SocketId,
    nsp: Nsp,
    handshake: Arc<Handshake>,
    recovered: bool,
    sid: Sid,
    handlers: Registry<SocketHandlers>,
    /// The rooms the socket had when it started leaving.
    last_rooms: Mutex<Vec<Room>>,
    extensions: Extensions,
}

/// A connected socket: cheap to clone, every clone is the same socket.
///
/// Its handlers are plain async functions or closures whose arguments are
/// extractors (see [`Socket::on`]); it emits with [`emit`](Self::emit)
/// (one value, one argument; a tuple for several), joins rooms, and
/// carries typed data: [`extensions`](Self::extensions) on this node,
/// [`set_data`](Self::set_data) across nodes.
///
/// ```
/// use socketio_async::{AckSender, Data, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.join(["lobby", "news"]);
///     socket.on("rename", |socket: Socket, Data(name): Data<String>, ack: AckSender| async move {
///         let _ = socket.set_data(&name);
///         let _ = ack.send("ok");
///     });
/// });
/// ```
#[derive(Clone)]
pub struct Socket {
    state: Arc<SocketState>,
    /// The `compress` flag of this handle's emits (see `Socket::compress`).
    compress: Option<bool>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.state.id)
            .field("nsp", &self.state.nsp)
            .finish_non_exhaustive()
    }
}

/// What a socket is made of, as the core reports it.
pub(crate) struct SocketParts {
    pub(crate) id: SocketId,
    pub(crate) nsp: Nsp,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) recovered: bool,
    pub(crate) sid: Sid,
    pub(crate) extensions: Extensions,
}

impl Socket {
    pub(crate) fn new(io: SocketIo, parts: SocketParts) -> Self {
        let state = SocketState {
            io,
            id: parts.id,
            nsp: parts.nsp,
            handshake: parts.handshake,
            recovered: parts.recovered,
            sid: parts.sid,
            handlers: Registry::default(),
            last_rooms: Mutex::new(Vec::new()),
            extensions: parts.extensions,
        };
        Self {
            state: Arc::new(state),
            compress: None,
        }
    }

    /// This handle with the `compress` flag of its emits set.
    pub(crate) fn with_compress(&self, compress: bool) -> Self {
        Self {
            compress: Some(compress),
            ..self.clone()
        }
    }

    /// The `compress` flag of this handle's emits (`None`: as by default).
    pub(crate) fn compress_flag(&self) -> Option<bool> {
        self.compress
    }

    /// Its handlers as they are now.
    pub(crate) fn handlers(&self) -> Arc<SocketHandlers> {
        self.state.handlers.get()
    }

    /// Adds a handler of `event`, after those it has.
    pub(crate) fn add_event_handler(&self, event: &str, handler: ErasedHandler) {
        self.state.handlers.update(|h| h.add_event(event, handler));
    }

    /// Adds a handler to one of its lists.
    pub(crate) fn add_hook(&self, hook: Hook, handler: ErasedHandler) {
        self.state.handlers.update(|h| match hook {
            Hook::Disconnecting => h.hooks_mut().on_disconnecting.push(handler),
            Hook::Disconnect => h.hooks_mut().on_disconnect.push(handler),
            Hook::Any | Hook::AnyOutgoing => {}
        });
    }

    /// Adds an `on_any` or `on_any_outgoing` handler. The first
    /// `on_any_outgoing` asks the core for the recipients of broadcasts
    /// (until then a broadcast pays nothing for them).
    pub(crate) fn add_any(&self, hook: Hook, handler: AnyHook) {
        if let Hook::AnyOutgoing = hook {
            if !self.state.io.inner.outgoing.swap(true, Ordering::AcqRel) {
                let _ = self
                    .state
                    .io
                    .runner()
                    .act_or_defer(|core, _| core.set_outgoing_events(true));
            }
        }
        self.state.handlers.update(|h| match hook {
            Hook::Any => h.hooks_mut().any.push(handler),
            Hook::AnyOutgoing => h.hooks_mut().any_outgoing.push(handler),
            Hook::Disconnecting | Hook::Disconnect => {}
        });
    }

    /// Adds a packet middleware.
    pub(crate) fn add_middleware(&self, middleware: PacketHook) {
        self.state
            .handlers
            .update(|h| h.hooks_mut().middlewares.push(middleware));
    }

    /// Adds an error handler.
    pub(crate) fn add_error_handler(&self, handler: ErrorHandler) {
        self.state
            .handlers
            .update(|h| h.hooks_mut().on_error.push(handler));
    }

    /// Removes the handlers of `event` (`socket.off(event)`); returns how
    /// many there were.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.on("tick", || async {});
    /// socket.on("tick", || async {});
    /// assert_eq!(socket.off("tick"), 2);
    /// # }
    /// ```
    pub fn off(&self, event: &str) -> usize {
        self.state.handlers.update(|h| h.remove_event(event))
    }

    /// Removes the handlers of every event (`socket.removeAllListeners()`);
    /// `on_any`, middlewares, error and disconnect handlers stay.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.remove_all(); // no event handler is left
    /// # }
    /// ```
    pub fn remove_all(&self) {
        self.state.handlers.update(|h| h.events.clear());
    }

    /// Keeps the rooms it had when it started leaving.
    pub(crate) fn set_last_rooms(&self, rooms: Vec<Room>) {
        *lock(&self.state.last_rooms) = rooms;
    }

    /// The rooms it had when it started leaving.
    pub(crate) fn last_rooms(&self) -> Vec<Room> {
        lock(&self.state.last_rooms).clone()
    }

    /// The socket id.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.emit("your-id", socket.id().as_str());
    /// # }
    /// ```
    pub fn id(&self) -> &SocketId {
        &self.state.id
    }

    /// Its namespace.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// if socket.nsp() == "/admin" { /* ... */ }
    /// # }
    /// ```
    pub fn nsp(&self) -> &str {
        self.state.nsp.as_str()
    }

    /// The namespace, typed, for the core.
    pub(crate) fn nsp_name(&self) -> &Nsp {
        &self.state.nsp
    }

    /// Its handshake (headers, query, auth, address...).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let token = socket.handshake().auth.get("token");
    /// let address = &socket.handshake().address;
    /// # }
    /// ```
    pub fn handshake(&self) -> &Handshake {
        &self.state.handshake
    }

    pub(crate) fn handshake_arc(&self) -> &Arc<Handshake> {
        &self.state.handshake
    }

    /// Its engine session id.
    pub(crate) fn sid(&self) -> &Sid {
        &self.state.sid
    }

    /// Whether connection state recovery restored it.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// if !socket.recovered() {
    ///     socket.join("lobby"); // a recovered socket has its rooms back
    /// }
    /// # }
    /// ```
    pub fn recovered(&self) -> bool {
        self.state.recovered
    }

    /// The server.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// let _ = socket.io().emit("someone-connected", ());
    /// # }
    /// ```
    pub fn io(&self) -> &SocketIo {
        &self.state.io
    }

    /// Its typed storage on this node (see [`Extensions`]): what
    /// middlewares and handlers put there, read by the `Extension`
    /// extractor.
    ///
    /// ```
    /// use socketio_async::{Extension, Socket, SocketIo};
    ///
    /// #[derive(Clone)]
    /// struct Nickname(String);
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.extensions().insert(Nickname("anonymous".into()));
    ///     socket.on("whoami", |socket: Socket, Extension(nick): Extension<Nickname>| async move {
    ///         let _ = socket.emit("you-are", nick.0);
    ///     });
    /// });
    /// ```
    pub fn extensions(&self) -> &Extensions {
        &self.state.extensions
    }
}

/// One event's acknowledgement, shared by the handlers of that event: the
/// first to send it consumes it.
#[derive(Debug)]
pub(crate) struct AckSlot {
    pub(crate) id: socketio_proto::ClientAckId,
    sent: AtomicBool,
}

impl AckSlot {
    pub(crate) fn new(id: socketio_proto::ClientAckId) -> Arc<Self> {
        Arc::new(Self {
            id,
            sent: AtomicBool::new(false),
        })
    }

    /// Takes the right to send it: `true` the first time only.
    pub(crate) fn take(&self) -> bool {
        !self.sent.swap(true, Ordering::AcqRel)
    }
}

/// What a handler is called with, from which its extractors take their
/// values (see `FromContext`): the socket, the event and its arguments,
/// the acknowledgement asked for, the disconnect reason.
///
/// ```
/// use socketio_async::{ExtractError, FromContext, HandlerContext, Socket, SocketIo};
///
/// /// An extractor: the event's name and how many arguments it has.
/// struct Shape(String, usize);
///
/// impl FromContext for Shape {
///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
///         Ok(Shape(cx.event().to_owned(), cx.payload().args.len()))
///     }
/// }
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.on_any(|Shape(event, n): Shape| println!("{event}/{n}"));
/// });
/// ```
pub struct HandlerContext {
    pub(crate) socket: Socket,
    pub(crate) event: Str,
    pub(crate) payload: Payload,
    pub(crate) ack: Option<Arc<AckSlot>>,
    pub(crate) reason: Option<DisconnectReason>,
    pub(crate) error: Option<String>,
    /// Set while the extractor that runs may take the arguments (it is
    /// their last reader, see `FromContext::TAKES_PAYLOAD`).
    pub(crate) take_payload: bool,
}

impl std::fmt::Debug for HandlerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerContext")
            .field("socket", &self.socket)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl HandlerContext {
    /// The context of an event (for a connection handler: the auth
    /// object as its one argument; for a disconnect handler: the reason).
    pub(crate) fn new(socket: Socket, event: Str, payload: Payload) -> Self {
        Self {
            socket,
            event,
            payload,
            ack: None,
            reason: None,
            error: None,
            take_payload: false,
        }
    }

    /// The arguments, moved out, when the running extractor is their last
    /// reader; `None` when they must be copied.
    pub(crate) fn take_args(&mut self) -> Option<Vec<serde_json::Value>> {
        std::mem::take(&mut self.take_payload).then(|| std::mem::take(&mut self.payload.args))
    }

    /// A part of the payload (`part` picks it): moved out when the
    /// running extractor is the payload's last reader, copied otherwise.
    pub(crate) fn take_or_copy<T: Clone + Default>(
        &mut self,
        part: impl FnOnce(&mut Payload) -> &mut T,
    ) -> T {
        let take = std::mem::take(&mut self.take_payload);
        let part = part(&mut self.payload);
        if take {
            std::mem::take(part)
        } else {
            part.clone()
        }
    }

    /// The socket.
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromContext, HandlerContext};
    ///
    /// /// An extractor: the socket's id as a string.
    /// struct Id(String);
    /// impl FromContext for Id {
    ///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
    ///         Ok(Id(cx.socket().id().as_str().to_owned()))
    ///     }
    /// }
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The event's name (`"connection"`, `"error"`, `"disconnecting"` and
    /// `"disconnect"` for those handlers).
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromContext, HandlerContext};
    ///
    /// /// An extractor: the event's name.
    /// struct Name(String);
    /// impl FromContext for Name {
    ///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
    ///         Ok(Name(cx.event().to_owned()))
    ///     }
    /// }
    /// ```
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event's arguments (for a connection handler, the auth object).
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromContext, HandlerContext};
    ///
    /// /// An extractor: how many arguments came.
    /// struct Arity(usize);
    /// impl FromContext for Arity {
    ///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
    ///         Ok(Arity(cx.payload().args.len()))
    ///     }
    /// }
    /// ```
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Whether the client asked for an acknowledgement.
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromContext, HandlerContext};
    ///
    /// /// An extractor: whether the client waits for an answer.
    /// struct Waits(bool);
    /// impl FromContext for Waits {
    ///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
    ///         Ok(Waits(cx.wants_ack()))
    ///     }
    /// }
    /// ```
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// The disconnect reason (disconnect handlers only).
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromContext, HandlerContext};
    ///
    /// /// An extractor: whether the client left on its own.
    /// struct ByClient(bool);
    /// impl FromContext for ByClient {
    ///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
    ///         Ok(ByClient(cx.reason().is_some_and(|r| r.as_str() == "client namespace disconnect")))
    ///     }
    /// }
    /// ```
    pub fn reason(&self) -> Option<DisconnectReason> {
        self.reason
    }
}

/// Answers another node's `serverSideEmit` (see [`Namespace::on_server_side`]):
/// the extractor `ServerSideAck` is there only when the sender waits for
/// an answer (`Option<ServerSideAck>` runs the listener either way).
///
/// ```
/// use socketio_async::{Data, ServerSideAck, SocketIo};
///
/// let io = SocketIo::new();
/// // Another node: io.server_side_emit_with_ack::<usize>("count", ("room-1",), timeout)
/// io.of("/").on_server_side(|Data(room): Data<String>, ack: ServerSideAck| async move {
///     let _ = ack.send(room.len());
/// });
/// ```
#[derive(Clone)]
pub struct ServerSideAck {
    runner: Arc<Runner>,
    reply: socketio_proto::cluster::ServerSideReply,
}

impl std::fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSideAck")
            .field("reply", &self.reply)
            .finish()
    }
}

impl ServerSideAck {
    pub(crate) fn new(io: &SocketIo, reply: socketio_proto::cluster::ServerSideReply) -> Self {
        Self {
            runner: io.inner.runner.clone(),
            reply,
        }
    }

    /// Sends the answer (one value; it is what the asking node receives).
    ///
    /// ```
    /// # use socketio_async::{ServerSideAck, SocketIo};
    /// let io = SocketIo::new();
    /// io.of("/").on_server_side(|ack: ServerSideAck| async move {
    ///     let _ = ack.send(io_count());
    /// });
    /// # fn io_count() -> usize { 0 }
    /// ```
    pub fn send(self, answer: impl serde::Serialize) -> Result<(), crate::payload::EmitError> {
        let value = serde_json::to_value(answer)?;
        let reply = self.reply;
        self.runner
            .act_or_defer(move |core, _| core.server_side_reply(&reply, value))
            .map_err(|_| crate::payload::EmitError::NotRunning)?;
        Ok(())
    }
}

/// What a `serverSideEmit` listener is called with, from which its
/// extractors ([`FromServerSide`](crate::FromServerSide)) take their
/// values: the server, the namespace, the event's name and arguments, the
/// answer asked for.
///
/// ```
/// use socketio_async::{ExtractError, FromServerSide, ServerSideContext, SocketIo};
///
/// /// An extractor: the namespace and the event's name.
/// struct Origin(String, String);
///
/// impl FromServerSide for Origin {
///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
///         Ok(Origin(cx.nsp().to_owned(), cx.event().to_owned()))
///     }
/// }
///
/// let io = SocketIo::new();
/// io.of("/").on_server_side(|Origin(nsp, event): Origin| async move {
///     println!("{nsp} {event}");
/// });
/// ```
pub struct ServerSideContext {
    pub(crate) io: SocketIo,
    pub(crate) nsp: Nsp,
    pub(crate) event: Str,
    pub(crate) payload: Payload,
    pub(crate) ack: Option<ServerSideAck>,
}

impl std::fmt::Debug for ServerSideContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSideContext")
            .field("nsp", &self.nsp)
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl ServerSideContext {
    /// The context of one `serverSideEmit`, whose `data` is the event's
    /// name then its arguments (a first element that is not a string is
    /// an argument, and the name is empty).
    pub(crate) fn new(
        io: &SocketIo,
        nsp: Nsp,
        mut data: Vec<Value>,
        ack: Option<ServerSideAck>,
    ) -> Self {
        let event = match data.first() {
            Some(Value::String(_)) => match data.remove(0) {
                Value::String(name) => Str::from(name),
                _ => Str::from(""),
            },
            _ => Str::from(""),
        };
        Self {
            io: io.clone(),
            nsp,
            event,
            payload: Payload {
                args: data,
                binary: Vec::new(),
            },
            ack,
        }
    }

    /// The server.
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromServerSide, ServerSideContext};
    ///
    /// /// An extractor: how many clients this node has.
    /// struct Clients(usize);
    /// impl FromServerSide for Clients {
    ///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
    ///         Ok(Clients(cx.io().clients_count()))
    ///     }
    /// }
    /// ```
    pub fn io(&self) -> &SocketIo {
        &self.io
    }

    /// The namespace the emit was made on.
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromServerSide, ServerSideContext};
    ///
    /// /// An extractor: the namespace's name.
    /// struct NspName(String);
    /// impl FromServerSide for NspName {
    ///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
    ///         Ok(NspName(cx.nsp().to_owned()))
    ///     }
    /// }
    /// ```
    pub fn nsp(&self) -> &str {
        self.nsp.as_str()
    }

    /// The event's name (`io.server_side_emit(name, ..)`).
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromServerSide, ServerSideContext};
    ///
    /// /// An extractor: whether the event is a cache command.
    /// struct CacheCommand(bool);
    /// impl FromServerSide for CacheCommand {
    ///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
    ///         Ok(CacheCommand(cx.event().starts_with("cache:")))
    ///     }
    /// }
    /// ```
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event's arguments, after its name.
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromServerSide, ServerSideContext};
    ///
    /// /// An extractor: how many arguments came.
    /// struct Arity(usize);
    /// impl FromServerSide for Arity {
    ///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
    ///         Ok(Arity(cx.payload().args.len()))
    ///     }
    /// }
    /// ```
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Whether the sending node waits for an answer.
    ///
    /// ```
    /// use socketio_async::{ExtractError, FromServerSide, ServerSideContext};
    ///
    /// /// An extractor: whether an answer is awaited.
    /// struct Waits(bool);
    /// impl FromServerSide for Waits {
    ///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
    ///         Ok(Waits(cx.wants_ack()))
    ///     }
    /// }
    /// ```
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Names up to the inline size are kept inline, longer ones boxed; both
    /// read back whole and compare by their bytes, multi-byte text included.
    #[test]
    fn event_names_inline_and_boxed() {
        assert_eq!(std::mem::size_of::<EventName>(), 24);
        let at_limit = "a".repeat(INLINE_NAME);
        let over = "a".repeat(INLINE_NAME + 1);
        let accents = "é".repeat(INLINE_NAME / 2);
        for (text, inline) in [
            ("", true),
            ("chat message", true),
            (at_limit.as_str(), true),
            (accents.as_str(), true),
            (over.as_str(), false),
            ("événement ünïcode", true),
            ("événement ünïcode plus long", false),
        ] {
            let name = EventName::new(text);
            assert_eq!(matches!(name, EventName::Inline { .. }), inline, "{text}");
            assert_eq!(name.as_str(), text);
            assert!(name.is(text));
            assert!(!name.is(&format!("{text}x")));
            assert_eq!(name.clone().as_str(), text);
        }
        assert!(!EventName::new("ab").is("a"));
        assert!(!EventName::new("a").is("ab"));
    }
}
