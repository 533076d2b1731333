//! The hyper + WebSocket driver shared by the runtime bindings
//! (`runtime-tokio`, `runtime-async-std`).
//!
//! It holds no protocol logic: it accepts connections, speaks HTTP/1.1
//! (hyper) and WebSocket (engineio-proto's own framing,
//! [`engineio_proto::frames`], driven by each WebSocket's task), hands every request, body, message, flush and close to a
//! sans-IO [`Core`] (an [`engineio_proto::Server`], or the Socket.IO core
//! that owns one), carries out the core's outputs, and sleeps until its
//! next deadline. It reaches an executor and timers only through the small
//! [`Runtime`] trait (now, sleep until, spawn, and the stream type: all the driver needs), and
//! sockets through [`Sockets`] (listener, accept, connection I/O, TLS
//! handshake: what the listener loop needs on top of it), in the shape of
//! quinn's runtime layer. Each binding implements both in a few lines and
//! adds nothing else but its own names for these items.
//!
//! # How it drives the core
//!
//! * One [`Driver`] serves one core, kept behind a mutex that is held only
//!   for synchronous calls, never across an `.await`. Each lock: read the
//!   clock, feed the core, then drain every output (routed by
//!   [`RequestId`](engineio_proto::RequestId) to the task that owns that
//!   request or WebSocket) and every event (handed to the application's
//!   hook, which may act on the core at once).
//! * HTTP: a request whose path the core serves becomes an
//!   [`engineio_proto::Request`]; the task then carries out what the core
//!   answers: a response, a body read (at most `limit + 1` bytes), or a
//!   WebSocket upgrade. A client that drops a request the core holds (a
//!   long-poll) is reported with `handle_request_closed`.
//! * WebSocket: one task per connection reads messages into the core and
//!   writes what the core hands out, in order, reporting each flushed batch
//!   with `handle_ws_flushed`; closes go both ways. Its read buffer is
//!   128 bytes and its future about 480, so an idle connection holds
//!   little (README, "Memory").
//! * TLS ([`TlsOptions`], [`serve_tls`]): rustls with optional client
//!   certificates; each connection's handshake (bounded by a timeout) runs
//!   through [`Sockets::tls_accept`], then hyper serves HTTP/2 if ALPN
//!   picked `h2`, HTTP/1.1 with upgrades otherwise; every request carries
//!   the connection's [`TlsInfo`] to the core (`secure`, the peer
//!   certificate).
//! * Time: every `now` comes from [`Runtime::now`]. A single timer task for
//!   the whole server sleeps until `poll_timeout` and is woken (a
//!   waker-based notification, no runtime's channel) when the deadline
//!   moves earlier; every lock also checks the clock, so a late timer
//!   never delays the core. The driver hands the core the plain clock,
//!   however late it woke: the cores anchor chained timers on the instants
//!   they were scheduled for, so no slack is needed here.
//! * Tests: `testing::VirtualRuntime` (feature `testing`) runs the
//!   driver on a virtual clock with in-memory connections, as
//!   deterministic as the cores' tests.
//!
//! * The browser client bundle: [`Driver::serve_client`] serves npm's
//!   `socket.io-client` files ([`ClientBundle`]) under the engine's path, as
//!   the official `serveClient` option does; the decisions (files, headers,
//!   `304`, compression) are `socketio_proto::serve_client`'s.
//! * What the server does is reported through `tracing` events (sockets,
//!   sessions, namespaces, event names; payloads only at trace level, each
//!   WebSocket task in a debug span) and `metrics` counters (connections,
//!   packets and bytes by transport, closes by reason, queue-full closes,
//!   acks timed out), taken where bytes and core events pass; the README's
//!   "Tracing and metrics" lists them.
//!
//! # Layout
//!
//! `runtime` (the [`Runtime`] and [`Sockets`] traits and runtime-neutral helpers), `driver`
//! (the lock, routing, the timer task), `net` (the one accept loop,
//! HTTP/1.1 and HTTP/2 per connection) and `tls` on top of it, `http` and
//! `ws` (a request, a WebSocket), `tower` (the tower service), `client`
//! (the browser bundle), the leaves `response` and `conn`, and `testing`.
//! No module depends on itself through others (a test checks it with
//! `engineio_proto::testing::assert_no_module_cycles`).
//!
//! # Example: an Engine.IO echo server on a binding's runtime
//!
//! ```no_run
//! use runtime_hyper::{Driver, Sockets};
//! use runtime_hyper::engineio_proto::{Config, Event, Message, Server};
//!
//! async fn run<R: Sockets>(runtime: R) -> std::io::Result<()> {
//!     let server = Server::new(Config::default());
//!     let driver = Driver::with_runtime(runtime, server, |server: &mut Server, _now, event| {
//!         if let Event::Message { sid, data } = event {
//!             // A full queue closes the session; the hook has nothing to add.
//!             let _ = server.send(&sid, Message::from_data(&data));
//!         }
//!     });
//!     driver.listen("127.0.0.1:3000".parse().unwrap()).await
//! }
//! ```

mod client;
mod conn;
mod core;
mod deflate;
mod driver;
mod http;
mod io;
mod net;
mod observe;
mod response;
mod runtime;
mod socketio;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod tower;
mod ws;

pub use crate::client::ClientBundle;
pub use crate::conn::TlsInfo;
pub use crate::core::Core;
pub use crate::driver::{DrainHook, Driver, EventHook};
pub use crate::io::FuturesIo;
pub use crate::net::{
    BACKLOG, ConnectionOptions, Or, Route, bind_std, listen, serve, serve_connection,
};
pub use crate::response::HttpResponse;
pub use crate::runtime::{Runtime, RuntimeTimer, Sockets};
pub use crate::socketio::{random_seed, serve_io};
pub use crate::tls::{
    ClientAuth, DEFAULT_TLS_HANDSHAKE_TIMEOUT, TlsAcceptor, TlsError, TlsOptions, listen_tls,
    serve_tls,
};
pub use crate::tower::{ServiceFuture, SocketIoLayer, SocketIoService};
pub use engineio_proto;
pub use hyper;
pub use rustls;
pub use socketio_async;
pub use socketio_proto;

#[cfg(test)]
mod tests {
    use engineio_proto::testing::{assert_no_module_cycles, module_graph};

    #[test]
    fn no_module_depends_on_itself_through_others() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        assert_no_module_cycles(&src);
        // The edges that used to close circles now point one way only: the
        // leaves (`response`, `conn`) are used and use nothing of the crate,
        // TLS builds on the plain listener, and the runtime knows neither.
        let graph = module_graph(&src);
        let uses = |a: &str, b: &str| graph.get(a).is_some_and(|s| s.contains(b));
        assert!(uses("driver", "client") && uses("http", "driver") && uses("client", "response"));
        assert!(!uses("client", "http"));
        assert!(uses("tls", "net") && !uses("net", "tls"));
        assert!(!uses("runtime", "tls") && uses("runtime", "conn"));
        assert!(graph.get("response").is_some_and(|s| s.is_empty()));
        assert!(graph.get("conn").is_some_and(|s| s.is_empty()));
    }
}
