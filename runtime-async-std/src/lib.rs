//! The Engine.IO / Socket.IO server on async-std and smol.
//!
//! A thin binding: everything but the runtime itself (the driver that
//! serves a sans-IO [`Core`], HTTP/1.1 with hyper, WebSocket with
//! tungstenite, the accept loop) lives in [`runtime_hyper`], shared with
//! `runtime-tokio`. This crate supplies [`AsyncIo`]: async-io's sockets and
//! timers (the reactor under both async-std and smol), and an [`Executor`]
//! to spawn on: [`AsyncStd`] (`async_std::task::spawn`), [`Smol`]
//! (`smol::spawn`), or your own `Arc<smol::Executor>` (or any type that
//! implements [`Executor`]).
//!
//! No tokio runtime is involved: hyper's I/O and timer traits are
//! implemented here for async-io (the stream adapter is
//! [`runtime_hyper::FuturesIo`]). The `tokio` crate is compiled, but only
//! for its runtime-free parts: hyper uses its `sync` feature (channels and
//! a semaphore) and HTTP/2 (`h2`) its `io-util` traits; no reactor, timer or
//! executor (`cargo tree -p runtime-async-std -e normal,features -i tokio`
//! shows both edges).
//!
//! TLS ([`listen_tls`], [`serve_tls`]) runs futures-rustls over async-io's
//! sockets; the rest of it is shared with tokio in `runtime-hyper`.
//!
//! # Features
//!
//! * `async-std` (default): the [`AsyncStd`] executor.
//! * `smol` (default): the [`Smol`] executor and [`Executor`] for
//!   `Arc<smol::Executor<'static>>`.
//!
//! # Example: the async Socket.IO API on async-std
//!
//! ```no_run
//! use runtime_async_std::AsyncStd;
//! use runtime_async_std::socketio_async::{Payload, Socket, SocketIo};
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = SocketIo::new();
//! io.on_connection(|socket: Socket| async move {
//!     socket.on("ping", |socket: Socket, payload: Payload| async move {
//!         let _ = socket.emit_payload("pong", payload);
//!     });
//! });
//! let driver = runtime_async_std::serve_io(&io, Default::default(), AsyncStd);
//! driver.listen("127.0.0.1:3000".parse().unwrap()).await
//! # }
//! ```
//!
//! # Example: an Engine.IO echo server on smol
//!
//! ```no_run
//! use runtime_async_std::{Driver, Smol};
//! use runtime_async_std::engineio_proto::{Config, Event, Message, Server};
//!
//! smol::block_on(async {
//!     let server = Server::new(Config::default());
//!     let driver: Driver<Server, Smol> = Driver::new(server, |server: &mut Server, _now, event| {
//!         if let Event::Message { sid, data } = event {
//!             // A full queue closes the session; the hook has nothing to add.
//!             let _ = server.send(&sid, Message::from_data(&data));
//!         }
//!     });
//!     driver.listen("127.0.0.1:3000".parse().unwrap()).await
//! })
//! # .unwrap();
//! ```

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_io::{AsyncRead, AsyncWrite};
use runtime_hyper::rustls;
use runtime_hyper::{FuturesIo, TlsInfo};
use socketio_async::SocketIo;
use std::sync::Arc;

pub use runtime_hyper::{
    BACKLOG, ClientAuth, ClientBundle, ConnectionOptions, Core, EventHook, HttpResponse, Or, Route,
    Runtime, Sockets, TlsAcceptor, TlsError, TlsOptions, random_seed,
};
pub use runtime_hyper::{engineio_proto, socketio_async, socketio_proto};

/// Serves one sans-IO [`Core`] on async-io, spawning on the executor `E`
/// (see [`runtime_hyper::Driver`]): cheap to clone, every clone drives the
/// same core.
///
/// ```
/// use runtime_async_std::{AsyncStd, Driver};
/// use runtime_async_std::engineio_proto::{Config, Server};
///
/// let driver: Driver<Server, AsyncStd> = Driver::new(Server::new(Config::default()), |_, _, _| {});
/// assert_eq!(driver.act(|server, _now| server.clients_count()), 0);
/// ```
pub type Driver<C, E> = runtime_hyper::Driver<C, AsyncIo<E>>;

/// A boxed task, as an [`Executor`] receives it.
///
/// ```
/// let task: runtime_async_std::Task = Box::pin(async {});
/// smol::block_on(task);
/// ```
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the binding's tasks run (the timer task, one per connection, one
/// per WebSocket, the application's handlers).
///
/// ```
/// use runtime_async_std::{Executor, Task};
///
/// /// Spawns on a thread of its own per task (for illustration only).
/// #[derive(Clone)]
/// struct Threads;
///
/// impl Executor for Threads {
///     fn spawn(&self, task: Task) {
///         std::thread::spawn(move || async_io::block_on(task));
///     }
/// }
/// ```
pub trait Executor: Clone + Send + Sync + 'static {
    /// Runs `task` to completion, detached. Called from any thread (an
    /// application thread that emits starts handler tasks), possibly under
    /// the lock around the core: it must not block nor run the task
    /// inline.
    fn spawn(&self, task: Task);
}

/// async-std's global executor (`async_std::task::spawn`).
///
/// ```no_run
/// #[async_std::main]
/// async fn main() -> std::io::Result<()> {
///     let io = runtime_async_std::socketio_async::SocketIo::new();
///     let driver = runtime_async_std::serve_io(&io, Default::default(), runtime_async_std::AsyncStd);
///     driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// }
/// ```
#[cfg(feature = "async-std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

#[cfg(feature = "async-std")]
impl Executor for AsyncStd {
    fn spawn(&self, task: Task) {
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(task));
    }
}

/// smol's global executor (`smol::spawn`, run by threads of its own).
///
/// ```no_run
/// smol::block_on(async {
///     let io = runtime_async_std::socketio_async::SocketIo::new();
///     let driver = runtime_async_std::serve_io(&io, Default::default(), runtime_async_std::Smol);
///     driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// })
/// # .unwrap();
/// ```
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

#[cfg(feature = "smol")]
impl Executor for Smol {
    fn spawn(&self, task: Task) {
        smol::spawn(task).detach();
    }
}

/// An executor the application runs itself (`executor.run(...)`, on as
/// many threads as it likes).
///
/// ```no_run
/// use std::sync::Arc;
///
/// let executor = Arc::new(smol::Executor::new());
/// let io = runtime_async_std::socketio_async::SocketIo::new();
/// smol::block_on(executor.run(async {
///     let driver = runtime_async_std::serve_io(&io, Default::default(), executor.clone());
///     driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// }))
/// # .unwrap();
/// ```
#[cfg(feature = "smol")]
impl Executor for std::sync::Arc<smol::Executor<'static>> {
    fn spawn(&self, task: Task) {
        smol::Executor::spawn(self, task).detach();
    }
}

/// async-io as a [`Runtime`] and its [`Sockets`]: its timers and TCP sockets, with tasks
/// spawned on the executor `E`.
///
/// ```
/// use runtime_async_std::{AsyncIo, Driver, Smol};
/// use runtime_async_std::engineio_proto::{Config, Server};
///
/// // `Driver::new` uses `AsyncIo::default()`; the same, spelled out:
/// let driver: Driver<Server, Smol> =
///     Driver::with_runtime(AsyncIo(Smol), Server::new(Config::default()), |_, _, _| {});
/// # let _ = driver;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncIo<E>(pub E);

impl<E: Executor> Runtime for AsyncIo<E> {
    type Sleep = Sleep;
    type Io = FuturesIo<Async<TcpStream>>;

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(Box::pin(task));
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(Timer::at(deadline))
    }
}

impl<E: Executor> Sockets for AsyncIo<E> {
    type Listener = Async<TcpListener>;
    type Stream = Async<TcpStream>;
    type TlsIo = FuturesIo<futures_rustls::server::TlsStream<Async<TcpStream>>>;

    fn listener(&self, listener: TcpListener) -> io::Result<Async<TcpListener>> {
        Async::new(listener)
    }

    async fn accept(
        &self,
        listener: &Async<TcpListener>,
    ) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        listener.accept().await
    }

    fn io(&self, stream: Async<TcpStream>, nodelay: bool) -> FuturesIo<Async<TcpStream>> {
        // Failing to set it leaves a working, slower connection.
        let _ = stream.get_ref().set_nodelay(nodelay);
        FuturesIo::new(stream)
    }

    async fn tls_accept(
        &self,
        config: Arc<rustls::ServerConfig>,
        stream: Async<TcpStream>,
        nodelay: bool,
    ) -> io::Result<(Self::TlsIo, TlsInfo)> {
        let _ = stream.get_ref().set_nodelay(nodelay);
        let stream = futures_rustls::TlsAcceptor::from(config)
            .accept(stream)
            .await?;
        let info = TlsInfo::from_connection(stream.get_ref().1);
        Ok((FuturesIo::new(stream), info))
    }
}

/// An async-io timer that completes once, at its deadline (what
/// [`AsyncIo`] sleeps with).
///
/// ```
/// use std::time::{Duration, Instant};
/// use runtime_async_std::{AsyncIo, Runtime, Smol};
///
/// let start = Instant::now();
/// smol::block_on(AsyncIo(Smol).sleep_until(start + Duration::from_millis(5)));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[derive(Debug)]
pub struct Sleep(Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// hyper's timer on async-io, for connections served with
/// [`serve_connection`] (which spawns nothing itself).
#[derive(Debug, Clone, Copy, Default)]
struct AsyncIoTimer;

/// [`Sleep`] as hyper wants it.
impl hyper::rt::Sleep for Sleep {}

impl hyper::rt::Timer for AsyncIoTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep(Timer::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep(Timer::at(deadline)))
    }
}

/// Binds a TCP listener on `addr` with a backlog of 1024 and address reuse.
/// An IPv6 wildcard address also accepts IPv4 where the system allows it.
///
/// ```
/// let listener = runtime_async_std::bind("127.0.0.1:0".parse().unwrap()).unwrap();
/// assert_ne!(listener.get_ref().local_addr().unwrap().port(), 0);
/// ```
pub fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    Async::new(runtime_hyper::bind_std(addr)?)
}

/// Binds `addr` (see [`bind`]) and serves every connection with `route`,
/// each on a task spawned on `executor`. Returns only if binding fails.
///
/// ```no_run
/// # async fn run(driver: runtime_async_std::Driver<runtime_async_std::engineio_proto::Server, runtime_async_std::Smol>) {
/// let addr = "127.0.0.1:3201".parse().unwrap();
/// runtime_async_std::listen(driver, addr, runtime_async_std::Smol).await.unwrap();
/// # }
/// ```
pub async fn listen<E: Executor>(
    route: impl Route,
    addr: SocketAddr,
    executor: E,
) -> io::Result<()> {
    runtime_hyper::listen(AsyncIo(executor), route, addr).await
}

/// Binds `addr` (see [`bind`]) and serves every connection over TLS with
/// `route` (HTTPS and WSS; HTTP/2 too if the acceptor offers it), each on a
/// task spawned on `executor`. Returns only if binding fails.
///
/// ```no_run
/// # async fn run(driver: runtime_async_std::Driver<runtime_async_std::engineio_proto::Server, runtime_async_std::Smol>) {
/// use runtime_async_std::TlsOptions;
///
/// let tls = TlsOptions::new(std::fs::read("server.pem").unwrap(), std::fs::read("server.key").unwrap());
/// let addr = "127.0.0.1:3443".parse().unwrap();
/// runtime_async_std::listen_tls(driver, addr, tls.acceptor().unwrap(), runtime_async_std::Smol)
///     .await
///     .unwrap();
/// # }
/// ```
pub async fn listen_tls<E: Executor>(
    route: impl Route,
    addr: SocketAddr,
    tls: TlsAcceptor,
    executor: E,
) -> io::Result<()> {
    runtime_hyper::listen_tls(AsyncIo(executor), route, addr, tls).await
}

/// [`serve_with`] over TLS, each handshake bounded by the acceptor's
/// timeout.
///
/// ```no_run
/// # async fn run(driver: runtime_async_std::Driver<runtime_async_std::engineio_proto::Server, runtime_async_std::Smol>) {
/// use runtime_async_std::{ConnectionOptions, Smol, TlsOptions};
///
/// let tls = TlsOptions::new(std::fs::read("server.pem").unwrap(), std::fs::read("server.key").unwrap());
/// let listener = runtime_async_std::bind("127.0.0.1:3443".parse().unwrap()).unwrap();
/// let acceptor = tls.acceptor().unwrap();
/// runtime_async_std::serve_tls(driver, listener, ConnectionOptions::default(), acceptor, Smol).await;
/// # }
/// ```
pub async fn serve_tls<E: Executor>(
    route: impl Route,
    listener: Async<TcpListener>,
    options: ConnectionOptions,
    tls: TlsAcceptor,
    executor: E,
) {
    runtime_hyper::serve_tls(AsyncIo(executor), route, listener, options, tls).await;
}

/// Accepts connections on `listener` forever, each on a task spawned on
/// `executor`, with `TCP_NODELAY` on.
///
/// ```no_run
/// # async fn run(driver: runtime_async_std::Driver<runtime_async_std::engineio_proto::Server, runtime_async_std::AsyncStd>) {
/// let listener = runtime_async_std::bind("127.0.0.1:3201".parse().unwrap()).unwrap();
/// runtime_async_std::serve(driver, listener, runtime_async_std::AsyncStd).await;
/// # }
/// ```
pub async fn serve<E: Executor>(route: impl Route, listener: Async<TcpListener>, executor: E) {
    serve_with(route, listener, ConnectionOptions::default(), executor).await;
}

/// [`serve`] with explicit [`ConnectionOptions`] (`TCP_NODELAY` off, ...).
///
/// ```no_run
/// # async fn run(driver: runtime_async_std::Driver<runtime_async_std::engineio_proto::Server, runtime_async_std::Smol>) {
/// use runtime_async_std::{ConnectionOptions, Smol};
///
/// let listener = runtime_async_std::bind("127.0.0.1:3201".parse().unwrap()).unwrap();
/// let options = ConnectionOptions { nodelay: false, ..Default::default() };
/// runtime_async_std::serve_with(driver, listener, options, Smol).await;
/// # }
/// ```
pub async fn serve_with<E: Executor>(
    route: impl Route,
    listener: Async<TcpListener>,
    options: ConnectionOptions,
    executor: E,
) {
    runtime_hyper::serve(AsyncIo(executor), route, listener, options).await;
}

/// Serves one connection accepted elsewhere (any futures-io stream: an
/// `async_std::net::TcpStream`, a `smol::net::TcpStream`, a TLS stream...)
/// as HTTP/1.1 until it closes: requests `route` matches go to it, others
/// get 404. `TCP_NODELAY` is the caller's to set.
///
/// ```no_run
/// # async fn run(driver: runtime_async_std::Driver<runtime_async_std::engineio_proto::Server, runtime_async_std::AsyncStd>) {
/// let listener = async_std::net::TcpListener::bind("127.0.0.1:3201").await.unwrap();
/// let (stream, remote) = listener.accept().await.unwrap();
/// runtime_async_std::serve_connection(&driver, stream, remote).await;
/// # }
/// ```
pub async fn serve_connection<S>(route: &impl Route, stream: S, remote: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    runtime_hyper::serve_connection(AsyncIoTimer, route, FuturesIo::new(stream), remote).await;
}

/// Starts `io` with `config`, its handlers spawned on `executor`, and
/// returns the driver to serve (see [`listen`], [`serve`] or the [`Route`]
/// trait). An all-zero engine seed is replaced by one from the OS, and the
/// handshake wall clock reads the system time.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let io = runtime_async_std::socketio_async::SocketIo::new();
/// let driver = runtime_async_std::serve_io(&io, Default::default(), runtime_async_std::Smol);
/// driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// # }
/// ```
pub fn serve_io<E: Executor>(
    io: &SocketIo,
    config: socketio_proto::Config,
    executor: E,
) -> Driver<socketio_proto::Server, E> {
    runtime_hyper::serve_io(io, config, AsyncIo(executor))
}
