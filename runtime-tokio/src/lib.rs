//! The Engine.IO / Socket.IO server on tokio and hyper.
//!
//! A thin binding: everything but tokio itself (the driver that serves a
//! sans-IO [`Core`], HTTP/1.1 with hyper, WebSocket framing from
//! engineio-proto, the accept loop) lives in [`runtime_hyper`], shared with `runtime-async-std`.
//! This crate supplies [`Tokio`]: tokio's listener, timer and `spawn`, and
//! names the shared items with tokio filled in.
//!
//! # How it drives the core
//!
//! * One [`Driver`] serves one core, kept behind a mutex that is held only
//!   for synchronous calls, never across an `.await`; its outputs are routed
//!   to the task that owns each request or WebSocket.
//! * HTTP: hyper on tokio's sockets (a backlog of 1024, `TCP_NODELAY` on by
//!   default); WebSocket: engineio-proto's frame reader over hyper's
//!   upgraded stream, no buffer kept between messages (socket reads land
//!   in an 8 KiB scratch buffer per thread; a message is unmasked straight
//!   into its own buffer).
//! * Time: a single timer task for the whole server sleeps (tokio's
//!   `sleep_until`) until the core's next deadline.
//! * TLS ([`listen_tls`], [`serve_tls`]): tokio-rustls over tokio's
//!   sockets; the configuration, the handshake limit and HTTP/2 by ALPN are
//!   shared with the other bindings in `runtime-hyper` (DEPLOYMENT.md).
//!
//! # Example: an Engine.IO echo server
//!
//! ```no_run
//! use runtime_tokio::Driver;
//! use runtime_tokio::engineio_proto::{Config, Event, Message, Server};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::new(Config::default());
//! let driver = Driver::new(server, |server: &mut Server, _now, event| {
//!     if let Event::Message { sid, data } = event {
//!         // A full queue closes the session; the hook has nothing to add.
//!         let _ = server.send(&sid, Message::from_data(&data));
//!     }
//! });
//! driver.listen("127.0.0.1:3000".parse().unwrap()).await
//! # }
//! ```
//!
//! # Example: the async Socket.IO API
//!
//! ```no_run
//! use runtime_tokio::socketio_async::{Payload, Socket, SocketIo};
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = SocketIo::new();
//! io.on_connection(|socket: Socket| async move {
//!     socket.on("ping", |socket: Socket, payload: Payload| async move {
//!         let _ = socket.emit_payload("pong", payload);
//!     });
//! });
//! let driver = runtime_tokio::serve_io(&io, Default::default());
//! driver.listen("127.0.0.1:3000".parse().unwrap()).await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use hyper_util::rt::TokioIo;
use runtime_hyper::rustls;
use runtime_hyper::{RuntimeTimer, TlsInfo};
use socketio_async::SocketIo;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

pub use runtime_hyper::{
    BACKLOG, ClientAuth, ClientBundle, ConnectionOptions, Core, EventHook, HttpResponse, Or, Route,
    Runtime, ServiceFuture, Sockets, TlsAcceptor, TlsError, TlsOptions, random_seed,
};
pub use runtime_hyper::{engineio_proto, socketio_async, socketio_proto};

/// Mounts a [`Driver`] in front of another tower service, on the same
/// port: requests for the core's path go to it (WebSocket upgrades
/// included), every other request to the wrapped service. See
/// [`runtime_hyper::SocketIoLayer`].
///
/// # Example: axum routes beside Socket.IO
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use runtime_tokio::socketio_async::{Socket, SocketIo};
/// use runtime_tokio::socketio_proto::Config;
/// use runtime_tokio::{SocketIoLayer, serve_io};
///
/// # async fn run() -> std::io::Result<()> {
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     let _ = socket.emit("hello", ("from Rust",));
/// });
/// let app = Router::new()
///     .route("/", get(|| async { "axum's own route" }))
///     .layer(SocketIoLayer::new(serve_io(&io, Config::default())));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub type SocketIoLayer<C> = runtime_hyper::SocketIoLayer<C, Tokio>;

/// The service a [`SocketIoLayer`] makes around `S` (`layer.layer(s)`,
/// what axum's `Router::layer` does with it): Socket.IO requests go to the
/// server, the others to `S`. You name it only in signatures.
///
/// ```
/// use axum::Router;
/// use runtime_tokio::SocketIoService;
/// use runtime_tokio::socketio_proto::Server;
///
/// /// An application that keeps its composed service.
/// struct App {
///     service: SocketIoService<Server, Router>,
/// }
/// ```
pub type SocketIoService<C, S> = runtime_hyper::SocketIoService<C, Tokio, S>;

/// Serves one sans-IO [`Core`] on tokio (see [`runtime_hyper::Driver`]):
/// cheap to clone, every clone drives the same core.
///
/// ```
/// use runtime_tokio::Driver;
/// use runtime_tokio::engineio_proto::{Config, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let driver: Driver<Server> = Driver::new(Server::new(Config::default()), |_, _, _| {});
/// assert_eq!(driver.act(|server, _now| server.clients_count()), 0);
/// # }
/// ```
pub type Driver<C> = runtime_hyper::Driver<C, Tokio>;

/// tokio as a [`Runtime`] (`tokio::spawn`, `tokio::time::sleep_until`)
/// and its [`Sockets`] (tokio's TCP sockets). Every method must run within a tokio runtime,
/// except `spawn` once a driver holds it: a driver made in a runtime keeps
/// that runtime's handle ([`Runtime::captured`]) and spawns on it from any
/// thread (an application thread that emits or closes starts handler
/// tasks).
///
/// ```
/// use runtime_tokio::{Driver, Tokio};
/// use runtime_tokio::engineio_proto::{Config, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // `Driver::new` uses `Tokio::default()`; the same, spelled out:
/// let driver: Driver<Server> = Driver::with_runtime(Tokio, Server::new(Config::default()), |_, _, _| {});
/// # let _ = driver;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Tokio {
    /// The runtime a driver was made in; `None`: the calling thread's.
    handle: Option<tokio::runtime::Handle>,
}

/// The tokio runtime of the calling thread, written as a unit value
/// (`Driver::with_runtime(Tokio, ..)`, `listen(Tokio, ..)`).
#[allow(non_upper_case_globals)]
pub const Tokio: Tokio = Tokio { handle: None };

impl Runtime for Tokio {
    type Sleep = tokio::time::Sleep;
    type Io = TokioIo<TcpStream>;

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.handle {
            Some(handle) => drop(handle.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    fn captured(self) -> Self {
        match self.handle {
            Some(_) => self,
            None => Self {
                handle: tokio::runtime::Handle::try_current().ok(),
            },
        }
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline.into())
    }
}

impl Sockets for Tokio {
    type Listener = TcpListener;
    type Stream = TcpStream;
    type TlsIo = TokioIo<tokio_rustls::server::TlsStream<TcpStream>>;

    fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }

    async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        listener.accept().await
    }

    fn io(&self, stream: TcpStream, nodelay: bool) -> TokioIo<TcpStream> {
        // Failing to set it leaves a working, slower connection.
        let _ = stream.set_nodelay(nodelay);
        TokioIo::new(stream)
    }

    async fn tls_accept(
        &self,
        config: Arc<rustls::ServerConfig>,
        stream: TcpStream,
        nodelay: bool,
    ) -> io::Result<(Self::TlsIo, TlsInfo)> {
        let _ = stream.set_nodelay(nodelay);
        let stream = tokio_rustls::TlsAcceptor::from(config)
            .accept(stream)
            .await?;
        let info = TlsInfo::from_connection(stream.get_ref().1);
        Ok((TokioIo::new(stream), info))
    }
}

/// Binds a TCP listener on `addr` with a backlog of 1024 and address reuse.
/// An IPv6 wildcard address also accepts IPv4 where the system allows it.
///
/// Must be called within a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let listener = runtime_tokio::bind("127.0.0.1:0".parse().unwrap()).unwrap();
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// # }
/// ```
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    Tokio.listener(runtime_hyper::bind_std(addr)?)
}

/// Binds `addr` (see [`bind`]) and serves every connection with `route`.
/// Returns once the route is closed, or if binding fails.
///
/// ```no_run
/// # async fn run(driver: runtime_tokio::Driver<runtime_tokio::engineio_proto::Server>) {
/// runtime_tokio::listen(driver, "127.0.0.1:3201".parse().unwrap()).await.unwrap();
/// # }
/// ```
pub async fn listen(route: impl Route, addr: SocketAddr) -> io::Result<()> {
    runtime_hyper::listen(Tokio, route, addr).await
}

/// Binds `addr` (see [`bind`]) and serves every connection over TLS with
/// `route` (HTTPS and WSS; HTTP/2 too if the acceptor offers it). Returns
/// once the route is closed, or if binding fails.
///
/// ```no_run
/// # async fn run(driver: runtime_tokio::Driver<runtime_tokio::engineio_proto::Server>) {
/// use runtime_tokio::{ClientAuth, TlsOptions};
///
/// let mut tls = TlsOptions::new(std::fs::read("server.pem").unwrap(), std::fs::read("server.key").unwrap());
/// tls.client_auth = ClientAuth::Required(std::fs::read("client-ca.pem").unwrap());
/// tls.http2 = true;
/// let addr = "127.0.0.1:3443".parse().unwrap();
/// runtime_tokio::listen_tls(driver, addr, tls.acceptor().unwrap()).await.unwrap();
/// # }
/// ```
pub async fn listen_tls(route: impl Route, addr: SocketAddr, tls: TlsAcceptor) -> io::Result<()> {
    runtime_hyper::listen_tls(Tokio, route, addr, tls).await
}

/// [`serve_with`] over TLS: accepts connections on `listener` until the
/// route is closed, each handshake bounded by the acceptor's timeout.
///
/// ```no_run
/// # async fn run(driver: runtime_tokio::Driver<runtime_tokio::engineio_proto::Server>) {
/// use runtime_tokio::{ConnectionOptions, TlsOptions};
///
/// let tls = TlsOptions::new(std::fs::read("server.pem").unwrap(), std::fs::read("server.key").unwrap());
/// let listener = runtime_tokio::bind("127.0.0.1:3443".parse().unwrap()).unwrap();
/// runtime_tokio::serve_tls(driver, listener, ConnectionOptions::default(), tls.acceptor().unwrap()).await;
/// # }
/// ```
pub async fn serve_tls(
    route: impl Route,
    listener: TcpListener,
    options: ConnectionOptions,
    tls: TlsAcceptor,
) {
    runtime_hyper::serve_tls(Tokio, route, listener, options, tls).await;
}

/// Accepts connections on `listener` until the route is closed
/// ([`Driver::close`](runtime_hyper::Driver::close)), each on a task of its own,
/// with `TCP_NODELAY` on.
///
/// ```no_run
/// # async fn run(driver: runtime_tokio::Driver<runtime_tokio::engineio_proto::Server>) {
/// let listener = runtime_tokio::bind("127.0.0.1:3201".parse().unwrap()).unwrap();
/// runtime_tokio::serve(driver, listener).await;
/// # }
/// ```
pub async fn serve(route: impl Route, listener: TcpListener) {
    serve_with(route, listener, ConnectionOptions::default()).await;
}

/// [`serve`] with explicit [`ConnectionOptions`] (`TCP_NODELAY` off, ...).
///
/// ```no_run
/// # async fn run(driver: runtime_tokio::Driver<runtime_tokio::engineio_proto::Server>) {
/// use runtime_tokio::ConnectionOptions;
///
/// let listener = runtime_tokio::bind("127.0.0.1:3201".parse().unwrap()).unwrap();
/// let options = ConnectionOptions { nodelay: false, ..Default::default() };
/// runtime_tokio::serve_with(driver, listener, options).await;
/// # }
/// ```
pub async fn serve_with(route: impl Route, listener: TcpListener, options: ConnectionOptions) {
    runtime_hyper::serve(Tokio, route, listener, options).await;
}

/// Serves one connection accepted elsewhere as HTTP/1.1 until it closes
/// (`TCP_NODELAY` on): requests `route` matches go to it, others get 404.
///
/// ```no_run
/// # async fn run(driver: runtime_tokio::Driver<runtime_tokio::engineio_proto::Server>) {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3201").await.unwrap();
/// let (stream, remote) = listener.accept().await.unwrap();
/// runtime_tokio::serve_connection(&driver, stream, remote).await;
/// # }
/// ```
pub async fn serve_connection(route: &impl Route, stream: TcpStream, remote: SocketAddr) {
    let io = Tokio.io(stream, ConnectionOptions::default().nodelay);
    runtime_hyper::serve_connection(RuntimeTimer(Tokio), route, io, remote).await;
}

/// Starts `io` on tokio with `config` and returns the driver to serve
/// (see [`listen`], [`serve`] or the [`Route`] trait). An all-zero engine
/// seed is replaced by one from the OS, and the handshake wall clock reads
/// the system time.
///
/// Must be called within a tokio runtime.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let io = runtime_tokio::socketio_async::SocketIo::new();
/// let driver = runtime_tokio::serve_io(&io, Default::default());
/// driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// # }
/// ```
pub fn serve_io(io: &SocketIo, config: socketio_proto::Config) -> Driver<socketio_proto::Server> {
    runtime_hyper::serve_io(io, config, Tokio)
}
