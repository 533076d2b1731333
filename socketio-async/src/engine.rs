//! The Engine.IO layer under the server (`io.engine`) and under each socket
//! (`socket.conn`): clients count, id generation, header hooks,
//! `allowRequest`, `connection_error`, and per-connection events.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use engineio_proto::{
    CloseReason, ConnectionError, Event as EngineEvent, Headers, HeadersHook, IdGenerator, Packet,
    Protocol, Request, Sid, TransportKind, Watch,
};
use socketio_proto::Server;

use crate::backend::{act, act_or_defer};
use crate::contain::{self, Site, core_hook};
use crate::io::{BoxFuture, SocketIo};
use crate::lock;

pub(crate) type AllowRequestFn =
    Arc<dyn Fn(Request) -> BoxFuture<Result<(), String>> + Send + Sync>;
pub(crate) type ConnectionErrorHandler = Arc<dyn Fn(&ConnectionError) + Send + Sync>;

/// The engine hooks the application registered; applied to the core when
/// it is built and again at each change while it runs.
#[derive(Default)]
pub(crate) struct EngineHooks {
    pub(crate) generate_id: Option<IdGenerator>,
    /// The config's own hooks, kept to run before the application's.
    pub(crate) base_initial_headers: Option<HeadersHook>,
    pub(crate) base_headers: Option<HeadersHook>,
    pub(crate) initial_headers: Vec<HeadersHook>,
    pub(crate) headers: Vec<HeadersHook>,
    pub(crate) allow_request: Option<AllowRequestFn>,
    pub(crate) connection_error: Vec<ConnectionErrorHandler>,
}

impl EngineHooks {
    /// Installs the registered hooks on `core`; what was never registered
    /// keeps the core's configuration.
    /// Every hook runs marked as running inside the core (what it asks of
    /// the server is done right after it) and with its panic logged; the
    /// engine then answers that request with a 500.
    pub(crate) fn apply(&self, core: &mut Server) {
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
/// [`SocketIo::engine`]. Hooks registered here take effect at once, before
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
#[derive(Debug, Clone)]
pub struct Engine {
    io: SocketIo,
}

impl Engine {
    /// How many Engine.IO connections are open (`clientsCount`); 0 before
    /// the server runs. Read without the core's lock: it may be called
    /// from anywhere, the engine's own hooks included.
    pub fn clients_count(&self) -> usize {
        self.io.clients()
    }

    /// Generates the session id of each new connection (`generateId`). An
    /// id that is empty, longer than
    /// [`MAX_SID_LEN`](engineio_proto::MAX_SID_LEN), not visible ASCII, in
    /// need of URL escaping, or already in use refuses the handshake with
    /// code 3 "Bad request" (and a [`connection_error`](Self::on_connection_error)
    /// with [`ErrorContext::IdGenerationError`](engineio_proto::ErrorContext::IdGenerationError)).
    pub fn generate_id(&self, generate: impl Fn(&Request) -> String + Send + Sync + 'static) {
        let generate: IdGenerator = Arc::new(generate);
        self.update(|hooks| hooks.generate_id = Some(generate));
    }

    /// Changes the headers of each handshake response (the `initial_headers`
    /// event). Hooks run in the order registered, after the config's own.
    pub fn on_initial_headers(
        &self,
        hook: impl Fn(&mut Headers, &Request) + Send + Sync + 'static,
    ) {
        let hook: HeadersHook = Arc::new(hook);
        self.update(|hooks| hooks.initial_headers.push(hook));
    }

    /// Changes the headers of every response, handshakes included (the
    /// `headers` event).
    pub fn on_headers(&self, hook: impl Fn(&mut Headers, &Request) + Send + Sync + 'static) {
        let hook: HeadersHook = Arc::new(hook);
        self.update(|hooks| hooks.headers.push(hook));
    }

    /// Sees every refused request (the `connection_error` event): the
    /// request, the official code (0 to 5) and message, and what was wrong.
    pub fn on_connection_error(&self, handler: impl Fn(&ConnectionError) + Send + Sync + 'static) {
        lock(&self.io.inner().engine_hooks)
            .connection_error
            .push(Arc::new(handler));
    }

    /// Changes the hooks, then installs them on the core. The hooks' lock
    /// is taken under the core's (never the other way round), so that two
    /// changes racing each other both end up installed.
    fn update(&self, change: impl FnOnce(&mut EngineHooks)) {
        change(&mut lock(&self.io.inner().engine_hooks));
        if let Some(backend) = self.io.backend_if_running() {
            let io = self.io.clone();
            act_or_defer(backend, move |core, _| {
                lock(&io.inner().engine_hooks).apply(core)
            });
        }
    }
}

impl SocketIo {
    /// The application's `allowRequest` decision.
    pub(crate) fn allow_request_hook(&self) -> Option<AllowRequestFn> {
        lock(&self.inner().engine_hooks).allow_request.clone()
    }

    /// The Engine.IO server underneath (`io.engine`).
    pub fn engine(&self) -> Engine {
        Engine { io: self.clone() }
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
        self.engine()
            .update(|hooks| hooks.allow_request = Some(decide));
    }
}

/// The handlers registered on one connection.
#[derive(Default)]
pub(crate) struct ConnState {
    pub(crate) watch: Watch,
    pub(crate) upgrading: Vec<TransportHandler>,
    pub(crate) upgrade: Vec<TransportHandler>,
    pub(crate) packet: Vec<PacketHandler>,
    pub(crate) packet_create: Vec<PacketHandler>,
    pub(crate) drain: Vec<Arc<dyn Fn() + Send + Sync>>,
    pub(crate) close: Vec<CloseHandler>,
}

pub(crate) type TransportHandler = Arc<dyn Fn(TransportKind) + Send + Sync>;
pub(crate) type PacketHandler = Arc<dyn Fn(&Packet) + Send + Sync>;
pub(crate) type CloseHandler = Arc<dyn Fn(CloseReason, Option<&str>) + Send + Sync>;

/// The connections that have handlers, by session id.
pub(crate) type Conns = Mutex<HashMap<Sid, Arc<Mutex<ConnState>>>>;

/// The Engine.IO connection under a socket (`socket.conn`), from
/// [`Socket::conn`](crate::Socket::conn). Several sockets (one per
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
    io: SocketIo,
    sid: Sid,
    handshake: Arc<socketio_proto::Handshake>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("sid", &self.sid).finish()
    }
}

impl Conn {
    pub(crate) fn new(io: SocketIo, sid: Sid, handshake: Arc<socketio_proto::Handshake>) -> Self {
        Self { io, sid, handshake }
    }

    /// The session id (not the socket id).
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
    pub fn transport(&self) -> Option<TransportKind> {
        let backend = self.io.backend_if_running()?;
        act(backend.as_ref(), |core, _| {
            core.engine().transport(&self.sid)
        })
        .flatten()
    }

    /// The Engine.IO revision the client speaks; `None` once closed.
    pub fn protocol(&self) -> Option<Protocol> {
        let backend = self.io.backend_if_running()?;
        act(backend.as_ref(), |core, _| {
            core.engine().protocol(&self.sid)
        })
        .flatten()
    }

    /// Runs when the client starts upgrading (its probe came): `upgrading`.
    pub fn on_upgrading(&self, handler: impl Fn(TransportKind) + Send + Sync + 'static) {
        self.register(|c| c.upgrading.push(Arc::new(handler)));
    }

    /// Runs when the connection moved to a new transport: `upgrade`.
    pub fn on_upgrade(&self, handler: impl Fn(TransportKind) + Send + Sync + 'static) {
        self.register(|c| c.upgrade.push(Arc::new(handler)));
    }

    /// Sees every Engine.IO packet received (pongs, messages...): `packet`.
    pub fn on_packet(&self, handler: impl Fn(&Packet) + Send + Sync + 'static) {
        self.register(|c| {
            c.packet.push(Arc::new(handler));
            c.watch.packet = true;
        });
    }

    /// Sees every Engine.IO packet queued for the client (pings,
    /// messages...): `packetCreate`.
    pub fn on_packet_create(&self, handler: impl Fn(&Packet) + Send + Sync + 'static) {
        self.register(|c| {
            c.packet_create.push(Arc::new(handler));
            c.watch.packet_create = true;
        });
    }

    /// Runs each time the queue is handed to the transport: `drain`.
    pub fn on_drain(&self, handler: impl Fn() + Send + Sync + 'static) {
        self.register(|c| {
            c.drain.push(Arc::new(handler));
            c.watch.drain = true;
        });
    }

    /// Runs when the connection closes, with the reason and a detail when
    /// there is one: `close`. The core reports it after the sockets'
    /// disconnects, which run on their own tasks.
    pub fn on_close(&self, handler: impl Fn(CloseReason, Option<&str>) + Send + Sync + 'static) {
        self.register(|c| c.close.push(Arc::new(handler)));
    }

    /// Adds a handler; the engine is told which events to report. Nothing
    /// is kept for a connection that is already closed: its close event
    /// has passed, so its handlers could never run or be dropped.
    fn register(&self, add: impl FnOnce(&mut ConnState) + Send + 'static) {
        let Some(backend) = self.io.backend_if_running() else {
            return;
        };
        let (io, sid) = (self.io.clone(), self.sid.clone());
        act_or_defer(backend, move |core, _| {
            // Under the core's lock: the close event, if any, comes after
            // this entry exists and removes it.
            if !core.engine().contains(&sid) {
                return;
            }
            let mut conns = lock(&io.inner().conns);
            let state = conns.entry(sid.clone()).or_default();
            let mut state = lock(state);
            add(&mut state);
            core.watch_conn(&sid, state.watch);
        });
    }
}

/// An engine event of the server task: `connection_error` and the events
/// of connections that have handlers. Handlers are copied out of their
/// locks before they run, so they may register more or act on the core;
/// each runs with its panic contained.
pub(crate) fn conn_event(io: &SocketIo, event: EngineEvent) {
    let conn = |sid: &Sid| lock(&io.inner().conns).get(sid).cloned();
    let site = |kind| Site::of(kind);
    match event {
        EngineEvent::ConnectionError(error) => {
            let handlers = lock(&io.inner().engine_hooks).connection_error.clone();
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
            let state = lock(&io.inner().conns).remove(&sid);
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
