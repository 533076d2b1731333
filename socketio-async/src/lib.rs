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
//! [`EventSink`]. One dispatcher task then runs the application's
//! middlewares and handlers, in event order; what a handler does before its
//! first `.await` happens before the next event is dispatched.
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
