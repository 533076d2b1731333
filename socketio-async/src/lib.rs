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

mod backend;
mod dispatch;
mod io;
mod payload;
mod socket;

pub use backend::{Backend, Task};
pub use io::{
    BroadcastOperator, ConnectError, Connecting, EventSink, Namespace, ServerSideAck, SocketIo,
};
pub use payload::{AckError, EmitError, Payload};
pub use socket::{AckSender, Socket};
pub use socketio_proto::{
    Config, DisconnectReason, Handshake, NamespaceMatcher, SocketId, SocketInfo,
};
