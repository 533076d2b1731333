//! The async Socket.IO server API, runtime-agnostic.
//!
//! This crate is what applications write against, in the vocabulary of the
//! official documentation: [`SocketIo`] (`io`) with [`SocketIo::of`],
//! connection middlewares ([`Namespace::use_middleware`]),
//! [`Namespace::on_connection`], [`Socket::on`], [`Socket::emit`],
//! [`Socket::emit_with_ack`], rooms, broadcast operators
//! ([`SocketIo::to`], [`BroadcastOperator::except`], `local`, `volatile`,
//! `timeout`), the utility methods (`fetch_sockets`, `sockets_join`,
//! `sockets_leave`, `disconnect_sockets`, `server_side_emit`), disconnect
//! handlers with their reasons.
//!
//! It knows nothing of a runtime: a binding (`runtime-tokio`,
//! `runtime-async-std`) builds the core with [`SocketIo::build_core`],
//! implements [`Backend`] (act on the core under its lock, spawn a task),
//! calls [`SocketIo::attach`], and feeds every core event to the returned
//! [`EventSink`].
//!
//! # Where handlers run
//!
//! - Each connected socket has a task of its own, spawned through the
//!   binding, and an ordered queue: its events reach its handlers in
//!   arrival order (as on Node), and what a handler does before its first
//!   `.await` happens before the socket's next event is handed to a
//!   handler. Sockets do not wait for each other: a handler that computes
//!   or blocks stalls its own socket only (on a runtime with more than one
//!   worker thread, the others go on). On tokio, the tasks a handler
//!   woke just before it blocked (its socket's writer, after an emit) wait
//!   in that worker's own slot until it returns: what the handler emitted
//!   goes out late. A panic's backtrace (`RUST_BACKTRACE=1`) takes long
//!   enough to resolve to count as blocking.
//! - Connection middlewares and `allowRequest` decisions run on a task per
//!   request; `serverSideEmit` listeners, `connection_error` and
//!   [`Conn`] handlers on one server task, in order (not ordered with the
//!   sockets' handlers).
//! - The engine hooks the core calls itself (`generate_id`, the `headers`
//!   / `initial_headers` hooks) and dynamic-namespace predicates run inside
//!   the core, under the binding's lock.
//!
//! # Panics
//!
//! A panic in application code ends that one invocation and nothing else:
//! it is caught, logged with `tracing` at error level (fields `socket`,
//! `nsp`, `event`, `panic`), and the server goes on. This covers connection
//! and event handlers (before their first `.await` and after), `on_any` /
//! `on_any_outgoing`, packet and connection middlewares, error,
//! `disconnecting` and `disconnect` handlers, `serverSideEmit` listeners,
//! dynamic-namespace predicates, [`Conn`] handlers, `connection_error`
//! handlers, `allowRequest`, the header hooks and `generate_id`. (There are
//! no ack callbacks: the answer to `emit_with_ack` is awaited inside a
//! handler, whose panic is contained.)
//!
//! - **The socket whose handler panicked stays connected**, its other
//!   handlers registered, its next events dispatched; an acknowledgement
//!   the handler did not send is never sent (the client's own timeout
//!   applies). Node would crash the whole process; closing the socket
//!   would let one bad event disconnect a client; we keep it.
//! - A panicking connection middleware refuses that socket: the client
//!   gets CONNECT_ERROR `{"message":"Internal server error"}`.
//! - A panicking packet middleware stops that event (no handler, no error
//!   handler).
//! - A panicking dynamic-namespace predicate matches nothing: CONNECT_ERROR
//!   "Invalid namespace".
//! - A panicking `allowRequest`, `headers` / `initial_headers` hook or
//!   `generate_id` answers that request with HTTP 500 and
//!   `{"code":3,"message":"Internal server error"}`; no session opens.
//!
//! # Calling back into the server
//!
//! Every public method may be called from every handler and hook. Handlers
//! and middlewares run with no lock held. The hooks that run inside the
//! core (`generate_id`, header hooks, namespace predicates) cannot act on
//! the core, which is busy with them: [`Engine::clients_count`] is read
//! without its lock (exact), and what they ask (emit, join, leave,
//! disconnect, set data, register a namespace or a hook...) is done right
//! after the hook returns, on a task of its own; from there, an emit
//! reports success and a broadcast counts 0 recipients, since neither has
//! happened yet, and queries of the core (`rooms`, `data`, `transport`)
//! answer as for a socket that is not connected.
//!
//! # The locking rule
//!
//! - The core has one owner: the binding, behind one lock. The API acts on
//!   it only through [`Backend::act_dyn`], never from inside an action and
//!   never while holding a lock of its own, and never from a hook the core
//!   is running (those calls are deferred, see above).
//! - The API's own state is split by owner, each behind a short lock that
//!   is a leaf (nothing is called while it is held, application code
//!   least of all): handler registries (copied out as a whole at each
//!   registration and read as a snapshot: a handler runs on the snapshot,
//!   with no lock held); the sockets' queues (the event sink pushes, the
//!   socket's task pops); the tasks waiting for answers (acks, broadcast
//!   acks, cluster requests); the engine hooks. The only nesting is the
//!   core's lock, then one of these (filling a waiter right after the core
//!   issued its id, installing hooks, routing an event).
//! - A socket's handle and its event loop belong to its task.
//! - No application code runs under any lock of this crate, so no lock is
//!   ever poisoned by an application's panic; the crate's locking recovers from
//!   poisoning deliberately all the same.
//!
//! The Engine.IO layer is reachable too: [`SocketIo::engine`] (clients
//! count, `generate_id`, `initial_headers` / `headers` hooks,
//! `connection_error`), [`SocketIo::allow_request`], and per connection
//! [`Socket::conn`] (upgrade, packet, packet create, drain, close).
//! [`SocketIo::fetch_sockets`] returns [`RemoteSocket`] handles that can
//! emit, join, leave and disconnect wherever the socket is.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use socketio_async::{Config, ConnectError, CookieOptions, Cors, CorsOrigin, SocketIo};
//!
//! let io = SocketIo::new();
//! io.use_middleware(|connecting| async move {
//!     match connecting.handshake.auth.get("token") {
//!         Some(_) => Ok(()),
//!         None => Err(ConnectError::new("no token")),
//!     }
//! });
//! io.on_connection(|socket| async move {
//!     socket.join("lobby");
//!     socket.on("chat", |socket, payload, ack| async move {
//!         let _ = socket.to("lobby").emit_payload("chat", payload);
//!         if let Some(ack) = ack {
//!             let _ = ack.send(("delivered",));
//!         }
//!     });
//!     socket.conn().on_upgrade(|transport| println!("now on {}", transport.name()));
//! });
//! io.allow_request(|request| async move {
//!     if request.headers.get("user-agent").is_some() { Ok(()) } else { Err("who?".into()) }
//! });
//! io.engine().on_headers(|headers, _| headers.insert("x-powered-by", "socketio-rs"));
//!
//! // The configuration the runtime binding builds the core with: CORS and
//! // the session cookie are Engine.IO options.
//! let mut config = Config::default();
//! config.engine.ping_interval = Duration::from_secs(20);
//! config.engine.cors = Some(Cors {
//!     origin: CorsOrigin::List(vec!["https://app.example".into()]),
//!     credentials: true,
//!     ..Cors::default()
//! });
//! config.engine.cookie = Some(CookieOptions::default());
//! // A binding takes it from here, e.g. `runtime_tokio::serve_io(&io, config)`.
//! let core = io.build_core(config);
//! assert!(core.engine().config().cors.is_some());
//! ```

#[cfg(feature = "admin")]
pub mod admin;
mod backend;
mod contain;
mod dispatch;
mod engine;
mod io;
mod payload;
mod remote;
mod socket;
mod waiters;

pub use backend::{Backend, Task};
pub use engine::{Conn, Engine};
pub use engineio_proto::{
    CloseReason, ConnectionError, CookieOptions, Cors, CorsOrigin, ErrorCode, ErrorContext,
    Headers, Packet as EnginePacket, Protocol, Request, SameSite, Sid, TransportKind,
};
pub use io::{
    BroadcastOperator, ConnectError, Connecting, EventSink, Namespace, ServerSideAck, SocketIo,
};
pub use payload::{AckError, EmitError, Payload};
pub use remote::RemoteSocket;
pub use socket::{AckSender, Socket};
pub use socketio_proto::{
    Config, DisconnectReason, Handshake, NamespaceMatcher, SocketId, SocketInfo,
};

/// Locks a mutex, recovering from poisoning deliberately: no application
/// code ever runs under one of this crate's locks (see the locking rule
/// above), so a poisoned lock can only come from a bug of ours between two
/// statements that each leave the data whole.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A handler registry that readers snapshot and writers swap whole: a
/// reader takes an `Arc` under a short lock and runs the handlers with no
/// lock held; a registration copies the registry, changes the copy, and
/// swaps it in (registrations are rare, reads are per event).
#[derive(Default)]
pub(crate) struct Registry<T: Clone> {
    current: std::sync::Mutex<std::sync::Arc<T>>,
}

impl<T: Clone> Registry<T> {
    /// The registry as it is now.
    pub(crate) fn get(&self) -> std::sync::Arc<T> {
        lock(&self.current).clone()
    }

    /// Changes the registry (`change` must not call back into the server).
    pub(crate) fn update(&self, change: impl FnOnce(&mut T)) {
        let mut current = lock(&self.current);
        change(std::sync::Arc::make_mut(&mut current));
    }
}
