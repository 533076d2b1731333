//! The async Socket.IO server API, runtime-agnostic.
//!
//! This crate is what applications write against, in the vocabulary of the
//! official documentation: [`SocketIo`] (`io`) with [`SocketIo::of`],
//! connection middlewares ([`Namespace::use_middleware`]),
//! [`Namespace::on_connection`], [`Socket::on`], [`Socket::emit`],
//! [`Socket::timeout`] + [`SocketTimeout::emit_with_ack`], rooms, broadcast
//! operators ([`SocketIo::to`], [`BroadcastOperator::except`], `local`,
//! `volatile`, `timeout`), the utility methods (`fetch_sockets`,
//! `sockets_join`, `sockets_leave`, `disconnect_sockets`,
//! `server_side_emit`), disconnect handlers with their reasons.
//!
//! It knows nothing of a runtime: a binding (`runtime-tokio`,
//! `runtime-async-std`) builds the core with [`SocketIo::build_core`],
//! implements [`Backend`] (act on the core under its lock, spawn a task),
//! calls [`SocketIo::attach`], and feeds every core event to the returned
//! [`EventSink`]. The README's "Getting started" goes from an empty folder
//! to a chat served by axum.
//!
//! # Extractors
//!
//! A handler is a plain async function or closure whose arguments all
//! implement [`FromContext`] (up to eight); the server supplies them, as
//! axum does for HTTP handlers. The same extractors serve
//! connection, event, `on_any` / `on_any_outgoing`, packet middleware,
//! error and disconnect handlers, where they apply (columns: connection,
//! event, `on_any` and `on_any_outgoing`, packet middleware, error,
//! disconnect):
//!
//! | extractor | gives | conn. | event | any | packet mw | error | disc. |
//! |---|---|---|---|---|---|---|---|
//! | [`Socket`] | the socket | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | [`Event`] | the event's name (`"connection"`, `"error"`, `"disconnect"` in those handlers) | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | [`Data<T>`] | the arguments as a `T` (see [`Payload::decode`]); on failure the handler does not run | the auth object | ✓ | ✓ | ✓ (refuses the event) | — | — |
//! | [`TryData<T>`] | the same, as a `Result` the handler sees | ✓ | ✓ | ✓ | ✓ | — | — |
//! | [`Payload`] | the arguments untyped, with their binary attachments | ✓ | ✓ | ✓ | ✓ | — | — |
//! | [`Bin`] | the binary attachments | — | ✓ | ✓ | ✓ | — | — |
//! | [`AckSender`] (alias [`Ack`]) | the acknowledgement, consumed when sent; the handler does not run when the client asked for none | — | ✓ | — | — | — | — |
//! | `Option<AckSender>` | the acknowledgement, `None` when the client asked for none | — | ✓ | `None` | `None` | `None` | `None` |
//! | [`State<T>`] | application state (`SocketIo::builder().with_state`) | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | [`Extension<T>`] / `Option<Extension<T>>` | the socket's typed storage | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | `Arc<Handshake>` | the handshake | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | [`ErrorMessage`] | the error | — | — | — | — | ✓ | — |
//! | [`DisconnectReason`] | why it left | — | — | — | — | — | ✓ |
//!
//! Connection, event, error and disconnect handlers are async ([`Handler`]);
//! `on_any`, `on_any_outgoing` ([`AnyHandler`]) and packet middlewares
//! ([`PacketMiddleware`], [`Socket::use_middleware_with`]) are plain
//! functions run inline, before the event's handlers or where the emit is
//! made. The ack belongs to the event's handlers: an `on_any` or a packet
//! middleware cannot answer.
//!
//! Connection middlewares take extractors too
//! ([`Namespace::use_middleware_with`], [`FromConnecting`]): the auth
//! object (`Data<T>`, `TryData<T>`), `State<T>`, `Extension<T>` stored by
//! an earlier middleware, `Extensions` to store into, `Arc<Handshake>`,
//! the `SocketId`, or the whole `Connecting`. So do `serverSideEmit`
//! listeners ([`Namespace::on_server_side`], [`FromServerSide`]): the
//! event's name (`Event`), its arguments (`Data<T>`, `TryData<T>`,
//! `Payload`), the answer (`ServerSideAck`, `Option<ServerSideAck>`),
//! `State<T>`, the `SocketIo`.
//!
//! An extractor that cannot give its value (a `Data<T>` whose arguments
//! have another shape, a `State<T>` never registered, an `Extension<T>`
//! never set...) stops that handler before it runs; the reason is logged
//! with `tracing` at debug level (the client can cause it: an error level
//! would let anyone fill the logs), with the socket id, namespace and
//! event. In a middleware it is a refusal: a connection middleware's
//! refuses the socket (CONNECT_ERROR with the reason), a packet
//! middleware's stops the event (the error handlers get the reason).
//!
//! Where a closure's return type cannot be inferred through a generic
//! handler trait (a middleware whose body uses `?` or ends in
//! `Err("..".into())`), the short forms stay: [`Namespace::use_middleware`]
//! (one `Connecting`) and [`Socket::use_middleware`] (the event's name and
//! arguments).
//!
//! [`FromContext`] makes an extractor of your own. Several handlers of one
//! event run in registration order ([`Socket::off`] and
//! [`Socket::remove_all`] remove them).
//!
//! **Arguments**: one value is one Socket.IO argument whatever its type (a
//! `Vec` is one array); a tuple is several; `()` none. Receiving mirrors
//! it: `Data<(A, B)>` takes two arguments, `Data<A>` the first. See
//! [`Payload`].
//!
//! **Data on a socket**: [`Socket::extensions`] holds typed values on this
//! node (no serde); [`Socket::set_data`] / [`Socket::data`] hold a
//! serializable value that crosses nodes ([`RemoteSocket::data_as`]).
//!
//! ```
//! use std::time::Duration;
//! use socketio_async::{
//!     AckSender, ConnectError, Connecting, Data, Extension, Socket, SocketIo, State,
//! };
//!
//! #[derive(Clone)]
//! struct User(String);
//! struct Config { max_len: usize }
//! #[derive(serde::Deserialize)]
//! struct Chat { room: String, text: String }
//!
//! let io = SocketIo::builder().with_state(Config { max_len: 500 }).build();
//! io.use_middleware(|c: Connecting| async move {
//!     let name = c.handshake.auth.get("name").and_then(|n| n.as_str());
//!     let name = name.ok_or_else(|| ConnectError::new("name required"))?;
//!     c.extensions.insert(User(name.to_owned()));
//!     Ok(())
//! });
//! io.on_connection(|socket: Socket, Extension(user): Extension<User>| async move {
//!     socket.join(["lobby", &*format!("user:{}", user.0)]);
//!     socket.on("chat", |socket: Socket, Data(chat): Data<Chat>, config: State<Config>,
//!                        ack: AckSender| async move {
//!         if chat.text.len() > config.max_len {
//!             let _ = ack.send("too long");
//!             return;
//!         }
//!         let _ = socket.to(chat.room).emit("chat", chat.text);
//!         let _ = ack.send("delivered");
//!     });
//!     // Ask the client something, typed answer, 5 s at most.
//!     let answer = socket.timeout(Duration::from_secs(5)).emit_with_ack::<String>("hello?", ()).await;
//!     println!("{answer:?}");
//! });
//! ```
//!
//! # Where handlers run
//!
//! - Each connected socket has an ordered queue and, while the queue has
//!   events, a task of its own spawned through the binding (an idle
//!   socket has none; its next event starts one): its events reach its handlers in
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
//!   [`Conn`] handlers on the server's task (started the same way), in order (not ordered with the
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
//!   least of all), each changed only through its owner module's API:
//!   handler registries (module `io`: copied out as a whole at each
//!   registration and read as a snapshot: a handler runs on the snapshot,
//!   with no lock held); the sockets' queues and the extensions of sockets
//!   being connected (module `dispatch`, owned by the [`EventSink`]: it
//!   pushes, the socket's task pops); the tasks waiting for answers
//!   (module `waiters`: acks, broadcast acks, cluster requests); the
//!   engine hooks and per-connection handlers (module `engine`); the
//!   application state (fixed when built: no lock). The only nesting is
//!   the core's lock, then one of these (filling a waiter right after the
//!   core issued its id, installing hooks, routing an event).
//! - The modules depend on each other without cycles: types and
//!   registries (`io`) below what acts on them (`operator`, `socket`,
//!   `remote`, `extract`), the dispatch on top.
//! - A socket's handle and its queue of events belong to the event sink's
//!   router; the socket's task, which exists while the queue has events,
//!   holds the handle while it runs.
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
//! # Configuration
//!
//! ```
//! use std::time::Duration;
//! use socketio_async::{Config, CookieOptions, Cors, CorsOrigin, Socket, SocketIo};
//!
//! let io = SocketIo::new();
//! io.on_connection(|socket: Socket| async move {
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
mod extensions;
mod extract;
mod io;
mod operator;
mod payload;
mod remote;
mod rooms;
mod socket;
mod sync;
mod waiters;

pub use backend::Backend;
pub use contain::Task;
pub use dispatch::EventSink;
pub use engine::{Conn, Engine};
pub use engineio_proto::{
    CloseReason, ConnectionError, CookieOptions, Cors, CorsOrigin, ErrorCode, ErrorContext,
    Headers, Packet as EnginePacket, Protocol, Request, SameSite, Sid, TransportKind,
};
pub use extensions::Extensions;
pub use extract::{
    AnyHandler, Bin, ConnectMiddleware, Data, ErrorMessage, Event, Extension, ExtractError,
    FromConnecting, FromContext, FromServerSide, Handler, PacketMiddleware, ServerSideHandler,
    State, TryData,
};
pub use io::{
    ConnectError, Connecting, HandlerContext, Namespace, ServerSideAck, ServerSideContext, Socket,
    SocketIo, SocketIoBuilder,
};
pub use operator::{BroadcastAckError, BroadcastOperator};
pub use payload::{AckError, DataError, EmitError, Payload};
pub use remote::RemoteSocket;
pub use rooms::IntoRooms;
pub use socket::{Ack, AckSender, SocketTimeout};
pub use socketio_proto::{
    Config, DisconnectReason, Handshake, NamespaceMatcher, Nsp, Room, SocketId, SocketInfo,
};
