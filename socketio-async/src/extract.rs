//! Extractors: a handler states what it needs in its arguments, and the
//! server supplies it, in the manner of axum (and socketioxide).
//!
//! Which extractor serves which kind of handler, and what happens when
//! one cannot give its value, is the crate doc's "Extractors" section
//! (this module's private doc would not be rendered).

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketio_proto::{DisconnectReason, Handshake, SocketId, Str};

use crate::contain::Task;
use crate::extensions::Extensions;
use crate::io::{
    AnyHook, ConnectError, Connecting, ErasedHandler, HandlerContext, Hook, Namespace,
    ServerSideAck, ServerSideContext, Socket, SocketIo,
};
use crate::payload::{DataError, Payload, decode, decode_owned};
use crate::socket::AckSender;

/// Why an extractor could not give its value: the handler does not run.
/// Extractors of your own return it ([`FromContext`]); a packet
/// middleware's refusal carries its text.
///
/// ```
/// use socketio_async::{DataError, ExtractError};
///
/// let missing: ExtractError = DataError::Missing.into();
/// assert_eq!(missing.to_string(), "missing argument");
/// assert_eq!(
///     ExtractError::NoAck.to_string(),
///     "the event did not ask for an acknowledgement"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The arguments have another shape than the handler asked for.
    #[error(transparent)]
    Data(#[from] DataError),
    /// No application state of that type was registered.
    #[error("no state of type {0} was registered on the builder")]
    NoState(&'static str),
    /// The socket has no extension of that type.
    #[error("the socket has no extension of type {0}")]
    NoExtension(&'static str),
    /// The handler takes an [`AckSender`] and the client asked for no
    /// acknowledgement (take `Option<AckSender>` to run either way).
    #[error("the event did not ask for an acknowledgement")]
    NoAck,
    /// The extractor does not apply to this kind of handler.
    #[error("{0} is not available to this handler")]
    NotHere(&'static str),
}

/// Takes one argument of a handler from its context. Implement it for
/// extractors of your own.
///
/// ```
/// use socketio_async::{ExtractError, FromContext, HandlerContext, Socket, SocketIo};
///
/// /// The client's address.
/// struct Address(String);
///
/// impl FromContext for Address {
///     fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
///         Ok(Address(cx.socket().handshake().address.clone()))
///     }
/// }
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket, Address(address): Address| async move {
///     let _ = socket.emit("you-come-from", address);
/// });
/// ```
pub trait FromContext: Sized {
    /// The value, or why there is none.
    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError>;

    /// Whether this extractor may read the event's arguments
    /// ([`HandlerContext::payload`]). An extractor of your own keeps the
    /// default (`true`). The last of a handler's extractors to read them
    /// may take them instead of copying them (see [`Payload`]), so a
    /// built-in extractor that never reads them says `false`.
    #[doc(hidden)]
    const READS_PAYLOAD: bool = true;

    /// Whether this extractor takes the arguments (rather than copying
    /// them) when no later extractor of the handler reads them. Only the
    /// built-in [`Payload`], [`Data`], [`TryData`] and [`Bin`] do.
    #[doc(hidden)]
    const TAKES_PAYLOAD: bool = false;
}

/// A handler: an async function or closure whose arguments are all
/// extractors ([`FromContext`]). `T` is the tuple of those arguments; you
/// never name it.
///
/// ```
/// use socketio_async::{Data, Handler, Socket, SocketIo};
///
/// // A named async function is a handler too.
/// async fn on_chat(socket: Socket, Data(text): Data<String>) {
///     let _ = socket.broadcast().emit("chat", text);
/// }
///
/// // A helper that registers any handler on every socket.
/// fn on_every_socket<H: Handler<T> + Clone, T: 'static>(io: &SocketIo, event: &'static str, handler: H) {
///     io.on_connection(move |socket: Socket| {
///         socket.on(event, handler.clone());
///         async {}
///     });
/// }
///
/// let io = SocketIo::new();
/// on_every_socket(&io, "chat", on_chat);
/// ```
pub trait Handler<T>: Send + Sync + 'static {
    /// Extracts the arguments and starts the handler.
    fn call(&self, cx: HandlerContext) -> Result<Task, ExtractError>;
}

/// Calls `$impl!` once per number of extractor arguments, none to eight:
/// every handler trait is implemented for closures of each arity.
macro_rules! for_each_arity {
    ($impl:ident) => {
        $impl!();
        $impl!(T1);
        $impl!(T1, T2);
        $impl!(T1, T2, T3);
        $impl!(T1, T2, T3, T4);
        $impl!(T1, T2, T3, T4, T5);
        $impl!(T1, T2, T3, T4, T5, T6);
        $impl!(T1, T2, T3, T4, T5, T6, T7);
        $impl!(T1, T2, T3, T4, T5, T6, T7, T8);
    };
}

macro_rules! handler {
    ($($t:ident),*) => {
        impl<F, Fut, $($t,)*> Handler<($($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($t: FromContext,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, mut cx: HandlerContext) -> Result<Task, ExtractError> {
                // How many of the extractors still to run may read the
                // arguments: the last one may take them (all constant,
                // folded away by the compiler).
                let mut readers = 0usize $(+ usize::from(<$t as FromContext>::READS_PAYLOAD))*;
                $(
                    readers -= usize::from(<$t as FromContext>::READS_PAYLOAD);
                    cx.take_payload = <$t as FromContext>::TAKES_PAYLOAD && readers == 0;
                    let $t = $t::from_context(&mut cx)?;
                )*
                Ok(Box::pin(self($($t),*)))
            }
        }
    };
}

for_each_arity!(handler);

/// A handler made runnable on any context: an extractor's refusal is
/// logged and the handler skipped.
fn erase<H: Handler<T>, T>(handler: H, kind: &'static str) -> ErasedHandler {
    Arc::new(move |cx: HandlerContext| {
        // The context moves into the handler: what the refusal's log line
        // names is kept aside first, and only when that line would be
        // written (a copy of the event name per event costs an allocation).
        let logged =
            tracing::enabled!(tracing::Level::DEBUG).then(|| (cx.socket.clone(), cx.event.clone()));
        match handler.call(cx) {
            Ok(task) => Some(task),
            Err(error) => {
                if let Some((socket, event)) = logged {
                    tracing::debug!(
                        socket = socket.id().as_str(),
                        nsp = socket.nsp(),
                        event = &*event,
                        %error,
                        "{kind} not run: an extractor refused"
                    );
                }
                None
            }
        }
    })
}

impl SocketIo {
    /// Connection handler of the main namespace (`io.on("connection")`);
    /// see [`Namespace::on_connection`].
    ///
    /// ```
    /// use socketio_async::{Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     let _ = socket.emit("welcome", socket.id().as_str());
    /// });
    /// ```
    pub fn on_connection<H: Handler<T>, T>(&self, handler: H) {
        self.of("/").on_connection(handler);
    }
}

impl Namespace {
    /// Runs for every socket that joins (`nsp.on("connection")`); several
    /// run in registration order. Its arguments are extractors: the
    /// [`Socket`], the auth object (`Data<T>`), [`State<T>`],
    /// [`Extension<T>`] set by middlewares... What the handler does
    /// before its first `.await` (registering event handlers) happens
    /// before the socket's first event is dispatched.
    ///
    /// ```
    /// use socketio_async::{Data, Socket, SocketIo};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Auth { token: String }
    ///
    /// let io = SocketIo::new();
    /// io.of("/private").on_connection(|socket: Socket, Data(auth): Data<Auth>| async move {
    ///     let _ = socket.emit("token-length", auth.token.len());
    /// });
    /// ```
    pub fn on_connection<H: Handler<T>, T>(&self, handler: H) {
        self.add_connection_handler(erase(handler, "connection handler"));
    }
}

impl Socket {
    /// Handles event `event` (`socket.on`). Several handlers of one event
    /// run in registration order, as on Node; [`off`](Self::off) removes
    /// them. The handler's arguments are extractors (see the [module
    /// doc](crate#extractors)): typed data, the ack, state...
    ///
    /// ```
    /// use socketio_async::{AckSender, Bin, Data, Socket, SocketIo, TryData};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Move { x: i32, y: i32 }
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     // Typed data: a malformed `move` does not run the handler.
    ///     socket.on("move", |socket: Socket, Data(m): Data<Move>| async move {
    ///         let _ = socket.broadcast().emit("moved", (m.x, m.y));
    ///     });
    ///     // The Result, to answer malformed input yourself.
    ///     socket.on("rename", |TryData(name): TryData<String>, ack: AckSender| async move {
    ///         let _ = match name {
    ///             Ok(name) => ack.send(("ok", name)),
    ///             Err(error) => ack.send(("error", error.to_string())),
    ///         };
    ///     });
    ///     // Binary attachments.
    ///     socket.on("upload", |Bin(files): Bin| async move {
    ///         println!("{} bytes", files.iter().map(|f| f.len()).sum::<usize>());
    ///     });
    /// });
    /// ```
    pub fn on<H: Handler<T>, T>(&self, event: &str, handler: H) {
        self.add_event_handler(event, erase(handler, "event handler"));
    }

    /// Runs when the socket starts leaving, its rooms still readable with
    /// [`rooms`](Self::rooms); extractors as for [`on_disconnect`](Self::on_disconnect).
    ///
    /// ```
    /// use socketio_async::{DisconnectReason, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on_disconnecting(|socket: Socket, reason: DisconnectReason| async move {
    ///         // Still in its rooms: tell them.
    ///         for room in socket.rooms() {
    ///             let _ = socket.to(room).emit("left", (socket.id().as_str(), reason.as_str()));
    ///         }
    ///     });
    /// });
    /// ```
    pub fn on_disconnecting<H: Handler<T>, T>(&self, handler: H) {
        self.add_hook(Hook::Disconnecting, erase(handler, "disconnecting handler"));
    }

    /// Runs when the socket has left; several run in registration order.
    /// Extractors: [`Socket`], [`DisconnectReason`], [`State<T>`],
    /// [`Extension<T>`], `Arc<Handshake>`.
    ///
    /// ```
    /// use socketio_async::{DisconnectReason, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move {
    ///         println!("{} left: {}", socket.id(), reason.as_str());
    ///     });
    /// });
    /// ```
    pub fn on_disconnect<H: Handler<T>, T>(&self, handler: H) {
        self.add_hook(Hook::Disconnect, erase(handler, "disconnect handler"));
    }

    /// Sees every incoming event before its handlers (`socket.onAny`),
    /// after the packet middlewares let it through. A plain (not async)
    /// function or closure whose arguments are extractors
    /// ([`AnyHandler`]): [`Socket`], [`Event`] (the name), [`Data<T>`] /
    /// [`TryData<T>`] / [`Payload`] / [`Bin`] (the arguments), [`State<T>`],
    /// [`Extension<T>`], `Arc<Handshake>`. It runs inline, before the
    /// event's handlers start: keep it short (spawn longer work). It
    /// cannot answer the event (an `AckSender` argument never runs it,
    /// `Option<AckSender>` is `None`): the event's handlers do. An
    /// extractor that cannot give its value skips this handler for this
    /// event (logged at debug level).
    ///
    /// ```
    /// use serde_json::Value;
    /// use socketio_async::{Data, Event, Payload, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     // Every event, untyped.
    ///     socket.on_any(|Event(event): Event, payload: Payload| {
    ///         println!("got {event} with {} args", payload.args.len());
    ///     });
    ///     // Only events whose first argument is a string (the others skip it).
    ///     socket.on_any(|socket: Socket, Event(event): Event, Data(text): Data<String>| {
    ///         println!("{}: {event} {text}", socket.id());
    ///     });
    ///     // The raw first argument, whatever it is.
    ///     socket.on_any(|Data(first): Data<Value>| println!("{first}"));
    /// });
    /// ```
    pub fn on_any<H: AnyHandler<T>, T>(&self, handler: H) {
        self.add_any(Hook::Any, erase_any(handler, "on_any handler"));
    }

    /// Sees every event sent to this socket (`socket.onAnyOutgoing`): its
    /// own emits, and, as Node's adapter does, every broadcast that reaches
    /// it (`io.emit`, `to(room).emit`..., from this node or another),
    /// with the packet as sent. Until a socket registers one, the core
    /// does not collect broadcast recipients at all. Extractors as for
    /// [`on_any`](Self::on_any) ([`Event`] is the name sent, [`Data<T>`]
    /// its arguments); it runs inline, where the emit is made (own emits)
    /// or in the socket's turn (broadcasts).
    ///
    /// ```
    /// use socketio_async::{Data, Event, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on_any_outgoing(|Event(event): Event| println!("sent {event}"));
    ///     // Typed: runs only for emits whose first argument is a number.
    ///     socket.on_any_outgoing(|Event(event): Event, Data(n): Data<u64>| {
    ///         println!("sent {event} {n}");
    ///     });
    /// });
    /// ```
    pub fn on_any_outgoing<H: AnyHandler<T>, T>(&self, handler: H) {
        self.add_any(
            Hook::AnyOutgoing,
            erase_any(handler, "on_any_outgoing handler"),
        );
    }

    /// A packet middleware (`socket.use`), the short form: the event's
    /// name and arguments; an `Err` stops the event and reaches the
    /// `error` handlers ([`on_error`](Self::on_error), [`ErrorMessage`]).
    /// Middlewares run in registration order, with those of
    /// [`use_middleware_with`](Self::use_middleware_with), before
    /// [`on_any`](Self::on_any) and the event's handlers.
    ///
    /// ```
    /// use socketio_async::{ErrorMessage, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.use_middleware(|event, _payload| {
    ///         if event.starts_with("admin:") { Err("forbidden".into()) } else { Ok(()) }
    ///     });
    ///     socket.on_error(|socket: Socket, ErrorMessage(error): ErrorMessage| async move {
    ///         let _ = socket.emit("refused", error);
    ///     });
    /// });
    /// ```
    pub fn use_middleware(
        &self,
        middleware: impl Fn(&str, &Payload) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.add_middleware(Arc::new(
            move |_socket: &Socket, event: &str, payload: &Payload| middleware(event, payload),
        ));
    }

    /// A packet middleware whose arguments are extractors
    /// ([`PacketMiddleware`]): [`Socket`], [`Event`], [`Data<T>`] /
    /// [`TryData<T>`] / [`Payload`] / [`Bin`], [`State<T>`],
    /// [`Extension<T>`], `Arc<Handshake>`. A plain (not async) function or
    /// closure returning `Result<(), E>` with any `E: Display` (`&str`,
    /// `String`, an error type); an `Err`, or an extractor that cannot give
    /// its value (a `Data<T>` of another shape...), stops the event and
    /// its message reaches the `error` handlers. Where Rust cannot infer
    /// `E` (a bare `Err("x".into())`, a `?`), use the short form
    /// [`use_middleware`](Self::use_middleware) or name the type
    /// (`Err::<(), String>(..)`).
    ///
    /// ```
    /// use socketio_async::{ErrorMessage, Event, Extension, Socket, SocketIo, State};
    ///
    /// #[derive(Clone)]
    /// struct Role(&'static str);
    /// struct Limits { max_args: usize }
    ///
    /// let io = SocketIo::builder().with_state(Limits { max_args: 4 }).build();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.extensions().insert(Role("guest"));
    ///     // Guests may not send `admin:*` events.
    ///     socket.use_middleware_with(|Event(event): Event, Extension(role): Extension<Role>| {
    ///         if event.starts_with("admin:") && role.0 != "admin" {
    ///             return Err(format!("{event}: forbidden"));
    ///         }
    ///         Ok(())
    ///     });
    ///     // Nobody sends more than `max_args` arguments.
    ///     socket.use_middleware_with(
    ///         |payload: socketio_async::Payload, limits: State<Limits>| {
    ///             if payload.args.len() > limits.max_args { Err("too many arguments") } else { Ok(()) }
    ///         },
    ///     );
    ///     socket.on_error(|socket: Socket, ErrorMessage(error): ErrorMessage| async move {
    ///         let _ = socket.emit("refused", error);
    ///     });
    /// });
    /// ```
    pub fn use_middleware_with<M: PacketMiddleware<T>, T>(&self, middleware: M) {
        self.add_middleware(Arc::new(
            move |socket: &Socket, event: &str, payload: &Payload| {
                let mut cx = HandlerContext::new(
                    socket.clone(),
                    Str::from(event.to_owned()),
                    payload.clone(),
                );
                middleware.call(&mut cx)
            },
        ));
    }

    /// Handles errors: packet middleware refusals, and protocol violations
    /// just before the connection closes. Several run in registration
    /// order. Its arguments are extractors: [`ErrorMessage`] (the error),
    /// [`Socket`], [`State<T>`], [`Extension<T>`], `Arc<Handshake>`.
    ///
    /// ```
    /// use socketio_async::{ErrorMessage, Socket, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on_error(|socket: Socket, ErrorMessage(error): ErrorMessage| async move {
    ///         eprintln!("{}: {error}", socket.id());
    ///     });
    /// });
    /// ```
    pub fn on_error<H: Handler<T>, T>(&self, handler: H) {
        let handler = erase(handler, "error handler");
        self.add_error_handler(Arc::new(move |socket: Socket, error: String| {
            let mut cx = HandlerContext::new(socket, Str::from("error"), Payload::default());
            cx.error = Some(error);
            // An extractor refused (logged): nothing to run.
            handler(cx).unwrap_or_else(|| Box::pin(async {}))
        }));
    }
}

/// A synchronous hook ([`AnyHandler`]) made runnable: an extractor's
/// refusal is logged and the hook skipped for that event.
fn erase_any<H: AnyHandler<T>, T>(handler: H, kind: &'static str) -> AnyHook {
    Arc::new(move |socket: &Socket, event: &str, payload: &Payload| {
        let mut cx =
            HandlerContext::new(socket.clone(), Str::from(event.to_owned()), payload.clone());
        if let Err(error) = handler.call(&mut cx) {
            tracing::debug!(
                socket = socket.id().as_str(),
                nsp = socket.nsp(),
                event,
                %error,
                "{kind} not run: an extractor refused"
            );
        }
    })
}

/// An `on_any` / `on_any_outgoing` handler: a plain (not async) function
/// or closure whose arguments are all extractors ([`FromContext`], up to
/// eight). `T` is the tuple of those arguments; you never name it.
///
/// ```
/// use socketio_async::{AnyHandler, Event, Socket, SocketIo};
///
/// // A named function is one too.
/// fn trace(socket: Socket, Event(event): Event) {
///     println!("{} {event}", socket.id());
/// }
///
/// fn traced<H: AnyHandler<T> + Clone, T: 'static>(io: &SocketIo, hook: H) {
///     io.on_connection(move |socket: Socket| {
///         socket.on_any(hook.clone());
///         async {}
///     });
/// }
///
/// traced(&SocketIo::new(), trace);
/// ```
pub trait AnyHandler<T>: Send + Sync + 'static {
    /// Extracts the arguments and runs the handler; `Err` when an
    /// extractor refused (the handler did not run).
    fn call(&self, cx: &mut HandlerContext) -> Result<(), ExtractError>;
}

macro_rules! any_handler {
    ($($t:ident),*) => {
        impl<F, $($t,)*> AnyHandler<($($t,)*)> for F
        where
            F: Fn($($t),*) + Send + Sync + 'static,
            $($t: FromContext,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, cx: &mut HandlerContext) -> Result<(), ExtractError> {
                $(let $t = $t::from_context(cx)?;)*
                self($($t),*);
                Ok(())
            }
        }
    };
}

for_each_arity!(any_handler);

/// A packet middleware ([`Socket::use_middleware_with`]): a plain (not
/// async) function or closure whose arguments are all extractors
/// ([`FromContext`], up to eight) and which returns `Result<(), E>` for
/// any `E: Display`. `T` is the tuple of its arguments; you never name it.
///
/// ```
/// use socketio_async::{Data, Socket, SocketIo};
///
/// /// Events whose first argument is a string longer than 1 000 bytes
/// /// are refused (the others pass: `TryData` never refuses).
/// fn not_too_long(socketio_async::TryData(text): socketio_async::TryData<String>) -> Result<(), String> {
///     match text {
///         Ok(text) if text.len() > 1000 => Err(format!("{} bytes: too long", text.len())),
///         _ => Ok(()),
///     }
/// }
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.use_middleware_with(not_too_long);
/// });
/// ```
pub trait PacketMiddleware<T>: Send + Sync + 'static {
    /// Extracts the arguments and runs the middleware: `Err` with the
    /// message the `error` handlers get, from the middleware or from an
    /// extractor that refused.
    fn call(&self, cx: &mut HandlerContext) -> Result<(), String>;
}

macro_rules! packet_middleware {
    ($($t:ident),*) => {
        impl<F, E, $($t,)*> PacketMiddleware<($($t,)*)> for F
        where
            F: Fn($($t),*) -> Result<(), E> + Send + Sync + 'static,
            E: std::fmt::Display,
            $($t: FromContext,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, cx: &mut HandlerContext) -> Result<(), String> {
                $(let $t = $t::from_context(cx).map_err(|e| e.to_string())?;)*
                self($($t),*).map_err(|e| e.to_string())
            }
        }
    };
}

for_each_arity!(packet_middleware);

/// The error an `error` handler handles ([`Socket::on_error`]): a packet
/// middleware's refusal, or the protocol violation that closes the
/// connection. Only error handlers have one (elsewhere the handler does
/// not run).
///
/// ```
/// use socketio_async::{ErrorMessage, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.use_middleware(|_event, payload| {
///         if payload.args.is_empty() { Err("arguments required".into()) } else { Ok(()) }
///     });
///     socket.on_error(|socket: Socket, ErrorMessage(message): ErrorMessage| async move {
///         let _ = socket.emit("error-seen", message);
///     });
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage(pub String);

impl FromContext for ErrorMessage {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        cx.error
            .clone()
            .map(ErrorMessage)
            .ok_or(ExtractError::NotHere("ErrorMessage"))
    }
}

impl FromContext for Socket {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(cx.socket.clone())
    }
}

/// The arguments as a `T` (see [`Payload::decode`]: a tuple takes them
/// all, another type the first). When they have another shape, the
/// handler does not run (logged at debug level); use [`TryData`] to see
/// the error. In a connection handler, the auth object.
///
/// ```
/// use socketio_async::{Data, Socket, SocketIo};
///
/// #[derive(serde::Deserialize)]
/// struct Chat { room: String, text: String }
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     // client: socket.emit("chat", {room: "a", text: "hi"})
///     socket.on("chat", |socket: Socket, Data(chat): Data<Chat>| async move {
///         let _ = socket.to(chat.room).emit("chat", chat.text);
///     });
///     // client: socket.emit("move", 3, 4)
///     socket.on("move", |Data((x, y)): Data<(i32, i32)>| async move {
///         println!("{x},{y}");
///     });
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned> FromContext for Data<T> {
    const TAKES_PAYLOAD: bool = true;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(Data(match cx.take_args() {
            Some(args) => decode_owned(args)?,
            None => decode(&cx.payload.args)?,
        }))
    }
}

/// The arguments as a `Result<T, DataError>`: the handler runs either way
/// and answers malformed input itself.
///
/// ```
/// use socketio_async::{AckSender, Socket, SocketIo, TryData};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.on("age", |TryData(age): TryData<u8>, ack: AckSender| async move {
///         let _ = ack.send(age.map_err(|e| e.to_string()).is_ok());
///     });
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TryData<T>(pub Result<T, DataError>);

impl<T: DeserializeOwned> FromContext for TryData<T> {
    const TAKES_PAYLOAD: bool = true;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(TryData(match cx.take_args() {
            Some(args) => decode_owned(args),
            None => decode(&cx.payload.args),
        }))
    }
}

impl FromContext for Payload {
    const TAKES_PAYLOAD: bool = true;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(cx.take_or_copy(|payload| payload))
    }
}

/// The binary attachments of the event, in order (each placeholder
/// argument points at one; [`Payload::binary_of`] resolves them).
///
/// ```
/// use socketio_async::{Bin, Data, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     // client: socket.emit("file", "a.bin", new Uint8Array([1, 2, 3]))
///     socket.on("file", |Data(name): Data<String>, Bin(files): Bin| async move {
///         println!("{name}: {} bytes", files.first().map_or(0, |f| f.len()));
///     });
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Bin(pub Vec<Bytes>);

impl FromContext for Bin {
    const TAKES_PAYLOAD: bool = true;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(Bin(cx.take_or_copy(|payload| &mut payload.binary)))
    }
}

impl FromContext for AckSender {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        let slot = cx.ack.clone().ok_or(ExtractError::NoAck)?;
        Ok(AckSender::new(cx.socket.clone(), slot))
    }
}

impl FromContext for Option<AckSender> {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(cx
            .ack
            .clone()
            .map(|slot| AckSender::new(cx.socket.clone(), slot)))
    }
}

/// Application state registered on the builder
/// ([`SocketIoBuilder::with_state`](crate::io::SocketIoBuilder::with_state)),
/// shared by every handler; the handler does not run if none of that type
/// was registered.
///
/// ```
/// use std::sync::Mutex;
/// use socketio_async::{Data, Socket, SocketIo, State};
///
/// #[derive(Default)]
/// struct History {
///     lines: Mutex<Vec<String>>,
/// }
///
/// let io = SocketIo::builder().with_state(History::default()).build();
/// io.on_connection(|socket: Socket| async move {
///     socket.on("chat", |Data(text): Data<String>, history: State<History>| async move {
///         history.lines.lock().unwrap().push(text);
///     });
/// });
/// ```
#[derive(Debug)]
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromContext for State<T> {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        cx.socket
            .io()
            .state::<T>()
            .map(State)
            .ok_or(ExtractError::NoState(std::any::type_name::<T>()))
    }
}

/// A copy of the value of type `T` in the socket's typed storage
/// ([`Socket::extensions`], filled by middlewares and handlers); the
/// handler does not run if there is none (`Option<Extension<T>>` runs it
/// with `None`).
///
/// ```
/// use socketio_async::{ConnectError, Connecting, Extension, Socket, SocketIo};
///
/// #[derive(Clone)]
/// struct UserId(u64);
///
/// let io = SocketIo::new();
/// io.use_middleware(|c: Connecting| async move {
///     let id = c.handshake.auth.get("user").and_then(|u| u.as_u64());
///     let id = id.ok_or_else(|| ConnectError::new("no user"))?;
///     c.extensions.insert(UserId(id));
///     Ok(())
/// });
/// io.on_connection(|socket: Socket, Extension(user): Extension<UserId>| async move {
///     socket.join(format!("user:{}", user.0));
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromContext for Extension<T> {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        cx.socket
            .extensions()
            .get::<T>()
            .map(Extension)
            .ok_or(ExtractError::NoExtension(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromContext for Option<Extension<T>> {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(cx.socket.extensions().get::<T>().map(Extension))
    }
}

impl FromContext for Arc<Handshake> {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(cx.socket.handshake_arc().clone())
    }
}

impl FromContext for DisconnectReason {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        cx.reason.ok_or(ExtractError::NotHere("DisconnectReason"))
    }
}

/// The event's name, for handlers shared by several events.
///
/// ```
/// use socketio_async::{Event, Socket, SocketIo};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     for name in ["a", "b"] {
///         socket.on(name, |Event(name): Event| async move { println!("got {name}") });
///     }
/// });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event(pub Str);

impl FromContext for Event {
    const READS_PAYLOAD: bool = false;

    fn from_context(cx: &mut HandlerContext) -> Result<Self, ExtractError> {
        Ok(Event(cx.event.clone()))
    }
}

/// Takes one argument of a connection middleware from the socket to be
/// ([`Connecting`]): the same extractors as handlers where they apply.
///
/// | extractor | gives |
/// |---|---|
/// | [`Connecting`] | everything (the common case, see [`Namespace::use_middleware`]) |
/// | `Arc<Handshake>` | the handshake, auth included |
/// | [`Data<T>`] / [`TryData<T>`] | the auth object as a `T` |
/// | [`State<T>`] | application state |
/// | [`Extension<T>`] / `Option<Extension<T>>` | what an earlier middleware stored |
/// | [`Extensions`] | the socket's typed storage, to store into |
/// | [`SocketId`] | its id (final) |
///
/// An extractor that cannot give its value refuses the socket: the
/// client gets CONNECT_ERROR with the extractor's error as its message
/// (a malformed auth object for `Data<T>`:
/// `"invalid arguments: missing field ..."`).
///
/// ```
/// use socketio_async::{ConnectError, Connecting, ExtractError, FromConnecting, SocketIo};
///
/// /// The `x-api-key` header; a socket without one is refused.
/// struct ApiKey(String);
///
/// impl FromConnecting for ApiKey {
///     fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
///         c.handshake.headers.get("x-api-key")
///             .map(|k| ApiKey(k.to_owned()))
///             .ok_or(ExtractError::NotHere("x-api-key"))
///     }
/// }
///
/// let io = SocketIo::new();
/// io.use_middleware_with(|ApiKey(key): ApiKey| async move {
///     if key.len() == 32 { Ok(()) } else { Err(ConnectError::new("bad key")) }
/// });
/// ```
pub trait FromConnecting: Sized {
    /// The value, or why there is none.
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError>;
}

impl FromConnecting for Connecting {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(c.clone())
    }
}

impl FromConnecting for Arc<Handshake> {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(c.handshake.clone())
    }
}

impl FromConnecting for SocketId {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(c.id.clone())
    }
}

impl FromConnecting for Extensions {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(c.extensions.clone())
    }
}

fn auth_args(c: &Connecting) -> [Value; 1] {
    [Value::Object(c.handshake.auth.clone())]
}

impl<T: DeserializeOwned> FromConnecting for Data<T> {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(Data(decode(&auth_args(c))?))
    }
}

impl<T: DeserializeOwned> FromConnecting for TryData<T> {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(TryData(decode(&auth_args(c))))
    }
}

impl<T: Send + Sync + 'static> FromConnecting for State<T> {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        c.state::<T>()
            .map(State)
            .ok_or(ExtractError::NoState(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromConnecting for Extension<T> {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        c.extensions
            .get::<T>()
            .map(Extension)
            .ok_or(ExtractError::NoExtension(std::any::type_name::<T>()))
    }
}

impl<T: Clone + Send + Sync + 'static> FromConnecting for Option<Extension<T>> {
    fn from_connecting(c: &Connecting) -> Result<Self, ExtractError> {
        Ok(c.extensions.get::<T>().map(Extension))
    }
}

/// A connection middleware whose arguments are all [`FromConnecting`]
/// extractors (up to eight) and whose future gives
/// `Result<(), ConnectError>`. `T` is the tuple of its arguments; you never
/// name it.
///
/// ```
/// use socketio_async::{ConnectError, Data, SocketIo};
///
/// #[derive(serde::Deserialize)]
/// struct Auth { token: String }
///
/// // A named async function is a middleware too.
/// async fn check(Data(auth): Data<Auth>) -> Result<(), ConnectError> {
///     if auth.token.is_empty() { Err(ConnectError::new("token required")) } else { Ok(()) }
/// }
///
/// let io = SocketIo::new();
/// io.of("/private").use_middleware_with(check);
/// ```
pub trait ConnectMiddleware<T>: Send + Sync + 'static {
    /// Extracts the arguments and starts the middleware; an extractor's
    /// refusal is the socket's refusal.
    fn call(&self, c: Connecting) -> MiddlewareFuture;
}

/// What a connection middleware runs.
type MiddlewareFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send + 'static>>;

macro_rules! connect_middleware {
    ($($t:ident),*) => {
        impl<F, Fut, $($t,)*> ConnectMiddleware<($($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
            $($t: FromConnecting,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, c: Connecting) -> MiddlewareFuture {
                $(let $t = match $t::from_connecting(&c) {
                    Ok(value) => value,
                    Err(error) => {
                        let refusal = ConnectError::new(error.to_string());
                        return Box::pin(async move { Err(refusal) });
                    }
                };)*
                Box::pin(self($($t),*))
            }
        }
    };
}

for_each_arity!(connect_middleware);

impl SocketIo {
    /// A connection middleware of the main namespace whose arguments are
    /// extractors; see [`Namespace::use_middleware_with`].
    ///
    /// ```
    /// use socketio_async::{ConnectError, Data, SocketIo};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Auth { token: String }
    ///
    /// let io = SocketIo::new();
    /// io.use_middleware_with(|Data(auth): Data<Auth>| async move {
    ///     if auth.token == "secret" { Ok(()) } else { Err(ConnectError::new("bad token")) }
    /// });
    /// ```
    pub fn use_middleware_with<M: ConnectMiddleware<T>, T>(&self, middleware: M) {
        self.of("/").use_middleware_with(middleware);
    }
}

impl Namespace {
    /// Adds a connection middleware (`nsp.use`) whose arguments are
    /// extractors ([`FromConnecting`]): the auth object typed
    /// (`Data<T>`), the application state, the socket's storage to fill,
    /// what an earlier middleware stored... They run in order with those
    /// of [`use_middleware`](Self::use_middleware) (the simple form, one
    /// [`Connecting`] argument); the first `Err`, or an extractor that
    /// cannot give its value, refuses the socket. The future must give
    /// `Result<(), ConnectError>`: where Rust cannot infer it (a `?` in the
    /// body), end with `Ok::<(), ConnectError>(())`.
    ///
    /// ```
    /// use socketio_async::{ConnectError, Data, Extension, Extensions, Socket, SocketIo, State};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Auth { user: u64, token: String }
    /// struct Tokens { by_user: std::collections::HashMap<u64, String> }
    /// #[derive(Clone)]
    /// struct UserId(u64);
    ///
    /// let tokens = Tokens { by_user: [(7, "t7".to_owned())].into() };
    /// let io = SocketIo::builder().with_state(tokens).build();
    /// let chat = io.of("/chat");
    /// chat.use_middleware_with(
    ///     |Data(auth): Data<Auth>, tokens: State<Tokens>, ext: Extensions| async move {
    ///         if tokens.by_user.get(&auth.user) != Some(&auth.token) {
    ///             return Err(ConnectError::new("not authorized"));
    ///         }
    ///         ext.insert(UserId(auth.user));
    ///         Ok(())
    ///     },
    /// );
    /// // A later middleware reads what the first stored.
    /// chat.use_middleware_with(|Extension(user): Extension<UserId>| async move {
    ///     if user.0 == 0 { Err(ConnectError::new("no root")) } else { Ok(()) }
    /// });
    /// chat.on_connection(|socket: Socket, Extension(user): Extension<UserId>| async move {
    ///     socket.join(format!("user:{}", user.0));
    /// });
    /// ```
    pub fn use_middleware_with<M: ConnectMiddleware<T>, T>(&self, middleware: M) {
        self.add_middleware(Arc::new(move |c| middleware.call(c)));
    }
}

/// Takes one argument of a `serverSideEmit` listener
/// ([`Namespace::on_server_side`]) from what another node sent:
///
/// | extractor | gives |
/// |---|---|
/// | [`Event`] | the event's name |
/// | [`Data<T>`] / [`TryData<T>`] / [`Payload`] | its arguments, after the name (as for events: a tuple takes them all, another type the first) |
/// | [`ServerSideAck`] | the answer the sender waits for; the listener does not run when it waits for none |
/// | `Option<ServerSideAck>` | the same, `None` when it waits for none |
/// | [`State<T>`] | application state |
/// | [`SocketIo`] | this server |
///
/// There is no socket: the emit comes from a node, not a client.
///
/// ```
/// use socketio_async::{ExtractError, FromServerSide, ServerSideContext, SocketIo};
///
/// /// Only `cache:*` events (the listener does not run for the others).
/// struct CacheEvent(String);
///
/// impl FromServerSide for CacheEvent {
///     fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
///         cx.event()
///             .strip_prefix("cache:")
///             .map(|key| CacheEvent(key.to_owned()))
///             .ok_or(ExtractError::NotHere("CacheEvent"))
///     }
/// }
///
/// let io = SocketIo::new();
/// io.of("/").on_server_side(|CacheEvent(key): CacheEvent| async move {
///     println!("drop {key}");
/// });
/// ```
pub trait FromServerSide: Sized {
    /// The value, or why there is none.
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError>;
}

impl FromServerSide for Event {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        Ok(Event(cx.event.clone()))
    }
}

impl<T: DeserializeOwned> FromServerSide for Data<T> {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        Ok(Data(decode(&cx.payload.args)?))
    }
}

impl<T: DeserializeOwned> FromServerSide for TryData<T> {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        Ok(TryData(decode(&cx.payload.args)))
    }
}

impl FromServerSide for Payload {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        Ok(cx.payload.clone())
    }
}

impl FromServerSide for ServerSideAck {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        cx.ack.clone().ok_or(ExtractError::NoAck)
    }
}

impl FromServerSide for Option<ServerSideAck> {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        Ok(cx.ack.clone())
    }
}

impl<T: Send + Sync + 'static> FromServerSide for State<T> {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        cx.io
            .state::<T>()
            .map(State)
            .ok_or(ExtractError::NoState(std::any::type_name::<T>()))
    }
}

impl FromServerSide for SocketIo {
    fn from_server_side(cx: &ServerSideContext) -> Result<Self, ExtractError> {
        Ok(cx.io.clone())
    }
}

/// A `serverSideEmit` listener: an async function or closure whose
/// arguments are all [`FromServerSide`] extractors (up to eight). `T` is
/// the tuple of those arguments; you never name it.
///
/// ```
/// use socketio_async::{Data, Event, SocketIo};
///
/// // A named async function is a listener too.
/// async fn invalidate(Event(event): Event, Data(key): Data<String>) {
///     println!("{event}: {key}");
/// }
///
/// let io = SocketIo::new();
/// io.of("/").on_server_side(invalidate);
/// ```
pub trait ServerSideHandler<T>: Send + Sync + 'static {
    /// Extracts the arguments and starts the listener.
    fn call(&self, cx: ServerSideContext) -> Result<Task, ExtractError>;
}

macro_rules! server_side_handler {
    ($($t:ident),*) => {
        impl<F, Fut, $($t,)*> ServerSideHandler<($($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($t: FromServerSide,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(&self, cx: ServerSideContext) -> Result<Task, ExtractError> {
                $(let $t = $t::from_server_side(&cx)?;)*
                Ok(Box::pin(self($($t),*)))
            }
        }
    };
}

for_each_arity!(server_side_handler);

impl Namespace {
    /// Handles `serverSideEmit`s from other nodes for this namespace
    /// (`io.on(event)` on Node's side: one listener sees every event, its
    /// name in [`Event`]). Several run in registration order, on the
    /// server task. Its arguments are [`FromServerSide`] extractors: the
    /// arguments typed (`Data<T>`), the answer (`ServerSideAck`, or
    /// `Option<ServerSideAck>` to run whether or not one is awaited), the
    /// state, the server. An extractor that cannot give its value skips
    /// the listener (logged at debug level): the sender's wait for an
    /// answer then ends at its timeout.
    ///
    /// ```
    /// use socketio_async::{Data, Event, ServerSideAck, SocketIo, State};
    ///
    /// struct Node { name: String }
    ///
    /// let io = SocketIo::builder().with_state(Node { name: "eu-1".into() }).build();
    /// // io.server_side_emit("invalidate", ("users", 42)) on another node:
    /// io.of("/").on_server_side(|Event(event): Event, Data((table, id)): Data<(String, u64)>| async move {
    ///     println!("{event}: {table} {id}");
    /// });
    /// // io.server_side_emit_with_ack::<String>("who", ()) on another node:
    /// io.of("/").on_server_side(|Event(event): Event, ack: Option<ServerSideAck>, node: State<Node>| async move {
    ///     if let (true, Some(ack)) = (&*event == "who", ack) {
    ///         let _ = ack.send(&node.name);
    ///     }
    /// });
    /// ```
    pub fn on_server_side<H: ServerSideHandler<T>, T>(&self, handler: H) {
        self.add_server_side(Arc::new(move |cx: ServerSideContext| {
            let (nsp, event) = (cx.nsp.clone(), cx.event.clone());
            match handler.call(cx) {
                Ok(task) => Some(task),
                Err(error) => {
                    tracing::debug!(
                        nsp = nsp.as_str(),
                        event = &*event,
                        %error,
                        "server_side_emit listener not run: an extractor refused"
                    );
                    None
                }
            }
        }));
    }
}
