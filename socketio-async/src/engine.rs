//! The Engine.IO layer under the server (`io.engine`) and under each socket
//! (`socket.conn`): clients count, id generation, header hooks,
//! `allowRequest`, `connection_error`, and per-connection events.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use engineio_proto::{
    ClientsCount, CloseReason, ConnectionError, Event as EngineEvent, Headers, HeadersHook,
    IdGenerator, Packet, Protocol, Request, Sid, TransportKind, Watch,
};
use socketio_proto::{Config, Server};

use crate::backend::Runner;
use crate::contain::{self, Site, core_hook};
use crate::sync::lock;

/// The application's `allowRequest` decision.
pub(crate) type AllowRequestFn =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;
type ConnectionErrorHandler = Arc<dyn Fn(&ConnectionError) + Send + Sync>;
type ConnectionHandler = Arc<dyn Fn(Conn) + Send + Sync>;

/// The engine's state on the API side, owned by this module: the hooks
/// the application registered, the connections that have handlers, and
/// the core's count of sessions. Each behind its own leaf lock.
#[derive(Default)]
pub(crate) struct EngineState {
    hooks: Mutex<EngineHooks>,
    conns: Mutex<HashMap<Sid, Arc<Mutex<ConnState>>>>,
    /// The core's count of engine sessions, read without its lock.
    clients: OnceLock<ClientsCount>,
}

impl EngineState {
    /// Prepares `config` for the core: keeps the config's own header
    /// hooks to run before the application's.
    pub(crate) fn take_config(&self, config: &Config) {
        let mut hooks = lock(&self.hooks);
        hooks.base_initial_headers = config.engine.initial_headers.clone();
        hooks.base_headers = config.engine.headers.clone();
    }

    /// Installs the hooks on a new core and reads its session counter.
    pub(crate) fn install(&self, core: &mut Server) {
        let _ = self.clients.set(core.engine().clients_counter());
        lock(&self.hooks).apply(core);
    }

    /// The number of engine sessions, read without the core's lock.
    pub(crate) fn clients(&self) -> usize {
        self.clients.get().map_or(0, ClientsCount::get)
    }

    /// The application's `allowRequest` decision.
    pub(crate) fn allow_request_hook(&self) -> Option<AllowRequestFn> {
        lock(&self.hooks).allow_request.clone()
    }
}

/// The engine hooks the application registered; applied to the core when
/// it is built and again at each change while it runs.
#[derive(Default)]
struct EngineHooks {
    generate_id: Option<IdGenerator>,
    /// The config's own hooks, kept to run before the application's.
    base_initial_headers: Option<HeadersHook>,
    base_headers: Option<HeadersHook>,
    initial_headers: Vec<HeadersHook>,
    headers: Vec<HeadersHook>,
    allow_request: Option<AllowRequestFn>,
    connection_error: Vec<ConnectionErrorHandler>,
    connection: Vec<ConnectionHandler>,
    /// What every connection is watched for from its handshake.
    watch: Watch,
}

impl EngineHooks {
    /// Installs the registered hooks on `core`; what was never registered
    /// keeps the core's configuration.
    /// Every hook runs marked as running inside the core (what it asks of
    /// the server is done right after it) and with its panic logged; the
    /// engine then answers that request with a 500.
    fn apply(&self, core: &mut Server) {
        if let Some(generate) = &self.generate_id {
            let generate = generate.clone();
            core.set_generate_id(Some(Arc::new(move |request: &Request| {
                core_hook(&Site::of("generate_id"), || generate(request))
            })));
        }
        if !self.initial_headers.is_empty() || self.base_initial_headers.is_some() {
            let hook = chain(
                "initial_headers hook",
                &self.base_initial_headers,
                &self.initial_headers,
            );
            core.set_initial_headers(Some(hook));
        }
        if !self.headers.is_empty() || self.base_headers.is_some() {
            let hook = chain("headers hook", &self.base_headers, &self.headers);
            core.set_headers(Some(hook));
        }
        if self.allow_request.is_some() {
            core.set_allow_request(true);
        }
        if !self.connection.is_empty() {
            core.set_session_events(true);
        }
        core.set_session_watch(self.watch);
    }
}

/// One hook that runs `base`, then every hook of `hooks`, in order.
fn chain(kind: &'static str, base: &Option<HeadersHook>, hooks: &[HeadersHook]) -> HeadersHook {
    let all: Vec<HeadersHook> = base.iter().chain(hooks).cloned().collect();
    Arc::new(move |headers: &mut Headers, request: &Request| {
        core_hook(&Site::of(kind), || {
            for hook in &all {
                hook(headers, request);
            }
        })
    })
}

/// The Engine.IO server under Socket.IO (`io.engine`), from
/// `SocketIo::engine`. Hooks registered here take effect at once, before
/// or while the server runs.
///
/// ```
/// use socketio_async::SocketIo;
///
/// let io = SocketIo::new();
/// let engine = io.engine();
/// // Session ids of our own making (unique, 1 to 128 URL-safe characters).
/// let next = std::sync::atomic::AtomicU64::new(0);
/// engine.generate_id(move |_request| {
///     let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     format!("session-{n}")
/// });
/// // A header on every handshake response, another on every response.
/// engine.on_initial_headers(|headers, _request| headers.insert("x-handshake", "1"));
/// engine.on_headers(|headers, _request| headers.insert("x-served-by", "socketio-rs"));
/// // Refused requests, with the official code, message and context.
/// engine.on_connection_error(|error| {
///     eprintln!("{} {} {:?}", error.code as u8, error.message, error.context);
/// });
/// assert_eq!(engine.clients_count(), 0); // not running yet
/// ```
#[derive(Clone)]
pub struct Engine {
    runner: Arc<Runner>,
    state: Arc<EngineState>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("clients_count", &self.clients_count())
            .finish()
    }
}

impl Engine {
    pub(crate) fn new(runner: Arc<Runner>, state: Arc<EngineState>) -> Self {
        Self { runner, state }
    }

    /// How many Engine.IO connections are open (`clientsCount`); 0 before
    /// the server runs. Read without the core's lock: it may be called
    /// from anywhere, the engine's own hooks included.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// assert_eq!(io.engine().clients_count(), 0); // not running yet
    /// ```
    pub fn clients_count(&self) -> usize {
        self.state.clients()
    }

    /// Generates the session id of each new connection (`generateId`). An
    /// id that is empty, longer than
    /// [`MAX_SID_LEN`](engineio_proto::MAX_SID_LEN), not visible ASCII, in
    /// need of URL escaping, or already in use refuses the handshake with
    /// code 3 "Bad request" (and a [`connection_error`](Self::on_connection_error)
    /// with [`ErrorContext::IdGenerationError`](engineio_proto::ErrorContext::IdGenerationError)).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let io = SocketIo::new();
    /// let next = AtomicU64::new(0);
    /// io.engine().generate_id(move |_request| {
    ///     format!("node1-{}", next.fetch_add(1, Ordering::Relaxed))
    /// });
    /// ```
    pub fn generate_id(&self, generate: impl Fn(&Request) -> String + Send + Sync + 'static) {
        let generate: IdGenerator = Arc::new(generate);
        self.update(|hooks| hooks.generate_id = Some(generate));
    }

    /// Changes the headers of each handshake response (the `initial_headers`
    /// event). Hooks run in the order registered, after the config's own.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// io.engine().on_initial_headers(|headers, _request| {
    ///     headers.insert("set-cookie", "lb=node1; Path=/");
    /// });
    /// ```
    pub fn on_initial_headers(
        &self,
        hook: impl Fn(&mut Headers, &Request) + Send + Sync + 'static,
    ) {
        let hook: HeadersHook = Arc::new(hook);
        self.update(|hooks| hooks.initial_headers.push(hook));
    }

    /// Changes the headers of every response, handshakes included (the
    /// `headers` event).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// io.engine().on_headers(|headers, request| {
    ///     if request.headers.get("x-debug").is_some() {
    ///         headers.insert("x-served-by", "node1");
    ///     }
    /// });
    /// ```
    pub fn on_headers(&self, hook: impl Fn(&mut Headers, &Request) + Send + Sync + 'static) {
        let hook: HeadersHook = Arc::new(hook);
        self.update(|hooks| hooks.headers.push(hook));
    }

    /// Sees every refused request (the `connection_error` event): the
    /// request, the official code (0 to 5) and message, and what was wrong.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// let io = SocketIo::new();
    /// io.engine().on_connection_error(|error| {
    ///     eprintln!("refused ({:?}): {} {:?}", error.code, error.message, error.context);
    /// });
    /// ```
    pub fn on_connection_error(&self, handler: impl Fn(&ConnectionError) + Send + Sync + 'static) {
        lock(&self.state.hooks)
            .connection_error
            .push(Arc::new(handler));
    }

    /// Runs for every new Engine.IO connection, when its handshake is
    /// done and before its sockets connect (`io.engine.on("connection")`):
    /// the place to watch every connection, those that never join a
    /// namespace included. Handlers run on the server's task, in order;
    /// packets the connection exchanged before they ran are not seen by
    /// the `on_packet` handlers they register.
    ///
    /// ```
    /// # use socketio_async::{SocketIo, TransportKind};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let io = SocketIo::new();
    /// let polling = Arc::new(AtomicUsize::new(0));
    /// let count = polling.clone();
    /// io.engine().on_connection(move |conn| {
    ///     if conn.transport() == Some(TransportKind::Polling) {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     }
    ///     conn.on_close(|reason, _| println!("closed: {reason}"));
    /// });
    /// ```
    pub fn on_connection(&self, handler: impl Fn(Conn) + Send + Sync + 'static) {
        let handler: ConnectionHandler = Arc::new(handler);
        self.update(|hooks| hooks.connection.push(handler));
    }

    /// Watches every connection opened from now on for `watch` from its
    /// handshake, so that the `on_packet` / `on_packet_create` handlers an
    /// [`on_connection`](Self::on_connection) handler registers see every
    /// packet (the events wait in order on the server task until it has
    /// run).
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn watch_from_handshake(&self, watch: Watch) {
        self.update(|hooks| {
            hooks.watch.packet |= watch.packet;
            hooks.watch.packet_create |= watch.packet_create;
            hooks.watch.drain |= watch.drain;
        });
    }

    /// Sets the `allowRequest` decision (see `SocketIo::allow_request`).
    pub(crate) fn set_allow_request(&self, decide: AllowRequestFn) {
        self.update(|hooks| hooks.allow_request = Some(decide));
    }

    /// Changes the hooks, then installs them on the core. The hooks' lock
    /// is taken under the core's (never the other way round), so that two
    /// changes racing each other both end up installed.
    fn update(&self, change: impl FnOnce(&mut EngineHooks)) {
        change(&mut lock(&self.state.hooks));
        let state = self.state.clone();
        let _ = self
            .runner
            .act_or_defer(move |core, _| lock(&state.hooks).apply(core));
    }
}

/// The handlers registered on one connection.
#[derive(Default)]
struct ConnState {
    watch: Watch,
    upgrading: Vec<TransportHandler>,
    upgrade: Vec<TransportHandler>,
    packet: Vec<PacketHandler>,
    packet_create: Vec<PacketHandler>,
    drain: Vec<Arc<dyn Fn() + Send + Sync>>,
    close: Vec<CloseHandler>,
}

type TransportHandler = Arc<dyn Fn(TransportKind) + Send + Sync>;
type PacketHandler = Arc<dyn Fn(&Packet) + Send + Sync>;
type CloseHandler = Arc<dyn Fn(CloseReason, Option<&str>) + Send + Sync>;

/// The Engine.IO connection under a socket (`socket.conn`), from
/// `Socket::conn`. Several sockets (one per
/// namespace) may share one connection.
///
/// Handlers run on the server's task, in event order (not ordered with
/// the sockets' handlers), each with its panic contained; they should not
/// block (they would hold up the other connections' handlers).
/// `packet`, `packet_create` and `drain` cost nothing until a handler is
/// registered; they stop with the connection.
///
/// ```
/// # use socketio_async::Socket;
/// fn watch(socket: &Socket) {
///     let conn = socket.conn();
///     conn.on_upgrade(|transport| println!("upgraded to {}", transport.name()));
///     conn.on_packet(|packet| println!("received {packet:?}"));
///     conn.on_packet_create(|packet| println!("sending {packet:?}"));
///     conn.on_drain(|| println!("queue handed to the transport"));
///     conn.on_close(|reason, _| println!("closed: {reason}"));
/// }
/// ```
#[derive(Clone)]
pub struct Conn {
    runner: Arc<Runner>,
    state: Arc<EngineState>,
    sid: Sid,
    handshake: Arc<socketio_proto::Handshake>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("sid", &self.sid).finish()
    }
}

impl Conn {
    pub(crate) fn new(
        engine: &Engine,
        sid: Sid,
        handshake: Arc<socketio_proto::Handshake>,
    ) -> Self {
        Self {
            runner: engine.runner.clone(),
            state: engine.state.clone(),
            sid,
            handshake,
        }
    }

    /// The session id (not the socket id).
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// // Several sockets (one per namespace) share one session.
    /// println!("socket {} on session {}", socket.id(), socket.conn().id());
    /// # }
    /// ```
    pub fn id(&self) -> &Sid {
        &self.sid
    }

    /// The client's TLS certificate (DER), verified against the server's
    /// client CA certificates (`socket.conn.peerCertificate`); `None` on a
    /// plain connection or when the client sent none.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// fn who(socket: &Socket) -> usize {
    ///     socket.conn().peer_certificate().map_or(0, |der| der.len())
    /// }
    /// ```
    pub fn peer_certificate(&self) -> Option<&bytes::Bytes> {
        self.handshake.peer_certificate.as_ref()
    }

    /// The transport in use now; `None` once the connection is closed.
    ///
    /// ```
    /// # use socketio_async::{Socket, TransportKind};
    /// # fn f(socket: Socket) {
    /// if socket.conn().transport() == Some(TransportKind::Polling) {
    ///     println!("{} has not upgraded (yet)", socket.id());
    /// }
    /// # }
    /// ```
    pub fn transport(&self) -> Option<TransportKind> {
        self.runner
            .act(|core, _| core.engine().transport(&self.sid))
            .flatten()
    }

    /// The Engine.IO revision the client speaks; `None` once closed.
    ///
    /// ```
    /// # use socketio_async::{Protocol, Socket};
    /// # fn f(socket: Socket) {
    /// if socket.conn().protocol() == Some(Protocol::V3) {
    ///     println!("a socket.io 2.x client");
    /// }
    /// # }
    /// ```
    pub fn protocol(&self) -> Option<Protocol> {
        self.runner
            .act(|core, _| core.engine().protocol(&self.sid))
            .flatten()
    }

    /// Runs when the client starts upgrading (its probe came): `upgrading`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.conn().on_upgrading(|to| println!("probing {}", to.name()));
    /// # }
    /// ```
    pub fn on_upgrading(&self, handler: impl Fn(TransportKind) + Send + Sync + 'static) {
        self.register(|c| c.upgrading.push(Arc::new(handler)));
    }

    /// Runs when the connection moved to a new transport: `upgrade`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.conn().on_upgrade(|to| println!("now on {}", to.name()));
    /// # }
    /// ```
    pub fn on_upgrade(&self, handler: impl Fn(TransportKind) + Send + Sync + 'static) {
        self.register(|c| c.upgrade.push(Arc::new(handler)));
    }

    /// Sees every Engine.IO packet received (pongs, messages...): `packet`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// # fn f(socket: Socket) {
    /// let received = Arc::new(AtomicUsize::new(0));
    /// let count = received.clone();
    /// socket.conn().on_packet(move |_packet| {
    ///     count.fetch_add(1, Ordering::Relaxed);
    /// });
    /// # }
    /// ```
    pub fn on_packet(&self, handler: impl Fn(&Packet) + Send + Sync + 'static) {
        self.register(|c| {
            c.packet.push(Arc::new(handler));
            c.watch.packet = true;
        });
    }

    /// Sees every Engine.IO packet queued for the client (pings,
    /// messages...): `packetCreate`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.conn().on_packet_create(|packet| println!("queued {packet:?}"));
    /// # }
    /// ```
    pub fn on_packet_create(&self, handler: impl Fn(&Packet) + Send + Sync + 'static) {
        self.register(|c| {
            c.packet_create.push(Arc::new(handler));
            c.watch.packet_create = true;
        });
    }

    /// Runs each time the queue is handed to the transport: `drain`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.conn().on_drain(|| println!("flushed to the transport"));
    /// # }
    /// ```
    pub fn on_drain(&self, handler: impl Fn() + Send + Sync + 'static) {
        self.register(|c| {
            c.drain.push(Arc::new(handler));
            c.watch.drain = true;
        });
    }

    /// Runs when the connection closes, with the reason and a detail when
    /// there is one: `close`. The core reports it after the sockets'
    /// disconnects, which run on their own tasks.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # fn f(socket: Socket) {
    /// socket.conn().on_close(|reason, detail| println!("closed: {reason:?} {detail:?}"));
    /// # }
    /// ```
    pub fn on_close(&self, handler: impl Fn(CloseReason, Option<&str>) + Send + Sync + 'static) {
        self.register(|c| c.close.push(Arc::new(handler)));
    }

    /// Adds a handler; the engine is told which events to report. Nothing
    /// is kept for a connection that is already closed: its close event
    /// has passed, so its handlers could never run or be dropped.
    fn register(&self, add: impl FnOnce(&mut ConnState) + Send + 'static) {
        let (state, sid) = (self.state.clone(), self.sid.clone());
        let _ = self.runner.act_or_defer(move |core, _| {
            // Under the core's lock: the close event, if any, comes after
            // this entry exists and removes it.
            if !core.engine().contains(&sid) {
                return;
            }
            // What every connection is watched for stays watched.
            let all = lock(&state.hooks).watch;
            let mut conns = lock(&state.conns);
            let state = conns.entry(sid.clone()).or_default();
            let mut state = lock(state);
            add(&mut state);
            let watch = Watch {
                packet: state.watch.packet || all.packet,
                packet_create: state.watch.packet_create || all.packet_create,
                drain: state.watch.drain || all.drain,
            };
            core.watch_conn(&sid, watch);
        });
    }
}

/// A new Engine.IO session, on the server task: the engine's
/// `connection` handlers run, in order, each with its panic contained.
pub(crate) fn session_open(engine: &Engine, sid: Sid, handshake: Arc<socketio_proto::Handshake>) {
    let handlers = lock(&engine.state.hooks).connection.clone();
    for handler in handlers {
        let conn = Conn::new(engine, sid.clone(), handshake.clone());
        contain::call(&Site::of("engine connection handler"), || handler(conn));
    }
}

/// An engine event of the server task: `connection_error` and the events
/// of connections that have handlers. Handlers are copied out of their
/// locks before they run, so they may register more or act on the core;
/// each runs with its panic contained.
pub(crate) fn conn_event(engine: &EngineState, event: EngineEvent) {
    let conn = |sid: &Sid| lock(&engine.conns).get(sid).cloned();
    let site = |kind| Site::of(kind);
    match event {
        EngineEvent::ConnectionError(error) => {
            let handlers = lock(&engine.hooks).connection_error.clone();
            for handler in handlers {
                contain::call(&site("connection_error handler"), || handler(&error));
            }
        }
        EngineEvent::Upgrading { sid } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).upgrading.clone();
                for handler in handlers {
                    contain::call(&site("conn upgrading handler"), || {
                        handler(TransportKind::WebSocket)
                    });
                }
            }
        }
        EngineEvent::Upgrade { sid } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).upgrade.clone();
                for handler in handlers {
                    contain::call(&site("conn upgrade handler"), || {
                        handler(TransportKind::WebSocket)
                    });
                }
            }
        }
        EngineEvent::Packet { sid, packet } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).packet.clone();
                for handler in handlers {
                    contain::call(&site("conn packet handler"), || handler(&packet));
                }
            }
        }
        EngineEvent::PacketCreate { sid, packet } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).packet_create.clone();
                for handler in handlers {
                    contain::call(&site("conn packet_create handler"), || handler(&packet));
                }
            }
        }
        EngineEvent::Drain { sid } => {
            if let Some(state) = conn(&sid) {
                let handlers = lock(&state).drain.clone();
                for handler in handlers {
                    contain::call(&site("conn drain handler"), || handler());
                }
            }
        }
        EngineEvent::Close {
            sid,
            reason,
            description,
        } => {
            let state = lock(&engine.conns).remove(&sid);
            if let Some(state) = state {
                let handlers = lock(&state).close.clone();
                for handler in handlers {
                    contain::call(&site("conn close handler"), || handler(reason, description));
                }
            }
        }
        _ => {}
    }
}
