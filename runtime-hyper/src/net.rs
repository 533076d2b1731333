//! The listener: bind with a deep backlog, accept, and serve each connection
//! as HTTP/1.1 with upgrades, on any [`Runtime`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use socket2::{Domain, Protocol, Socket, Type};

use crate::conn::TlsInfo;
use crate::core::Core;
use crate::driver::Driver;
use crate::response::{HttpResponse, empty};
use crate::runtime::{Either, Runtime, RuntimeExecutor, RuntimeTimer, Sockets, race, yield_now};

/// Connections the kernel keeps waiting for `accept`: a burst of clients
/// queues instead of being refused (the default of many runtimes, 128,
/// overflows when a few hundred clients connect at once).
///
/// ```
/// assert_eq!(runtime_hyper::BACKLOG, 1024);
/// ```
pub const BACKLOG: i32 = 1024;

/// How long to pause after a failed `accept` (out of file descriptors...)
/// rather than spin on it.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// How connections are served.
///
/// ```
/// let options = runtime_hyper::ConnectionOptions {
///     nodelay: false,
///     ..Default::default()
/// };
/// assert!(runtime_hyper::ConnectionOptions::default().nodelay);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// `TCP_NODELAY` on accepted connections (default on): small messages
    /// (an Engine.IO packet is often a few bytes) go out at once rather
    /// than wait for the peer's ACK.
    pub nodelay: bool,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self { nodelay: true }
    }
}

/// Binds a non-blocking standard TCP listener on `addr` with a backlog of
/// [`BACKLOG`] (1024) and address reuse, for a runtime to register (see
/// [`Runtime::listener`]). An IPv6 wildcard address also accepts IPv4
/// where the system allows it.
///
/// ```
/// let listener = runtime_hyper::bind_std("127.0.0.1:0".parse().unwrap()).unwrap();
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// ```
pub fn bind_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Dual stack where the system allows it; IPv6 only otherwise.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Serves some request targets: a [`Driver`], or several tried in order
/// ([`Or`]). Requests no route matches get 404.
///
/// ```
/// use std::net::SocketAddr;
///
/// use runtime_hyper::{HttpResponse, Route};
/// use runtime_hyper::hyper::body::Incoming;
///
/// /// A health check beside the Socket.IO path.
/// #[derive(Clone)]
/// struct Health;
///
/// impl Route for Health {
///     fn matches(&self, target: &str) -> bool {
///         target == "/health"
///     }
///
///     async fn call(&self, _: http::Request<Incoming>, _: SocketAddr) -> HttpResponse {
///         http::Response::new(bytes::Bytes::from_static(b"ok").into())
///     }
/// }
///
/// assert!(Health.matches("/health"));
/// ```
pub trait Route: Clone + Send + Sync + 'static {
    /// Whether this route serves `target` (path and query).
    fn matches(&self, target: &str) -> bool;

    /// Serves a request whose target [`matches`](Route::matches).
    fn call(
        &self,
        request: http::Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = HttpResponse> + Send;

    /// Completes once the route is closed for good ([`Driver::close`]):
    /// the accept loop serving it then stops. Never, by default.
    fn closed(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

impl<C: Core, R: Runtime> Route for Driver<C, R> {
    fn matches(&self, target: &str) -> bool {
        Driver::matches(self, target)
    }

    fn call(
        &self,
        request: http::Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = HttpResponse> + Send {
        self.handle(request, Some(remote))
    }

    fn closed(&self) -> impl Future<Output = ()> + Send {
        Driver::closed(self)
    }
}

/// Two routes on one listener: `A` first, then `B` (the conformance
/// fixture's `/engine.io/` and `/socket.io/`).
///
/// ```
/// use runtime_hyper::{Driver, Or, Route, Runtime};
/// use runtime_hyper::engineio_proto::{Config, Server};
///
/// fn both<R: Runtime>(runtime: R) -> impl Route {
///     let engine = Config { path: "/engine.io".into(), ..Config::default() };
///     let a = Driver::with_runtime(runtime.clone(), Server::new(engine), |_, _, _| {});
///     let io = runtime_hyper::socketio_async::SocketIo::new();
///     let b = runtime_hyper::serve_io(&io, Default::default(), runtime);
///     Or(a, b)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Or<A, B>(pub A, pub B);

impl<A: Route, B: Route> Route for Or<A, B> {
    fn matches(&self, target: &str) -> bool {
        self.0.matches(target) || self.1.matches(target)
    }

    async fn call(&self, request: http::Request<Incoming>, remote: SocketAddr) -> HttpResponse {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if self.0.matches(target) {
            self.0.call(request, remote).await
        } else {
            self.1.call(request, remote).await
        }
    }

    /// Once both are closed.
    async fn closed(&self) {
        self.0.closed().await;
        self.1.closed().await;
    }
}

/// Binds `addr` (see [`bind_std`]) and serves every connection with
/// `route` on `runtime`. Returns once the route is closed, or if binding fails.
///
/// ```
/// async fn run<R: runtime_hyper::Sockets>(runtime: R, route: impl runtime_hyper::Route) {
///     let addr = "127.0.0.1:3201".parse().unwrap();
///     runtime_hyper::listen(runtime, route, addr).await.unwrap();
/// }
/// ```
pub async fn listen<R: Sockets>(runtime: R, route: impl Route, addr: SocketAddr) -> io::Result<()> {
    let listener = runtime.listener(bind_std(addr)?)?;
    serve(runtime, route, listener, ConnectionOptions::default()).await;
    Ok(())
}

/// Accepts connections on `listener` until `route` is closed, each served with `route` on
/// a task of its own.
///
/// ```
/// use runtime_hyper::{ConnectionOptions, Route, Sockets};
///
/// async fn run<R: Sockets>(runtime: R, route: impl Route) -> std::io::Result<()> {
///     let listener = runtime_hyper::bind_std("127.0.0.1:3201".parse().unwrap())?;
///     let listener = runtime.listener(listener)?;
///     let options = ConnectionOptions { nodelay: false };
///     runtime_hyper::serve(runtime, route, listener, options).await;
///     Ok(())
/// }
/// ```
pub async fn serve<R: Sockets>(
    runtime: R,
    route: impl Route,
    listener: R::Listener,
    options: ConnectionOptions,
) {
    accept_each(&runtime, &route, &listener, |stream, remote| {
        let io = runtime.io(stream, options.nodelay);
        let route = route.clone();
        let timer = RuntimeTimer(runtime.clone());
        runtime.spawn(async move { serve_connection(timer, &route, io, remote).await });
    })
    .await;
}

/// The accept loop of every listener, plain or TLS: accepts on `listener`
/// until `route` is closed (the listener is then dropped by the caller,
/// freeing the port) and hands each connection to `start`, which spawns
/// its task. A failed accept (out of file descriptors...) pauses
/// [`ACCEPT_ERROR_PAUSE`] rather than spin.
pub(crate) async fn accept_each<R: Sockets>(
    runtime: &R,
    route: &impl Route,
    listener: &R::Listener,
    mut start: impl FnMut(R::Stream, SocketAddr),
) {
    let closed = route.closed();
    let mut closed = std::pin::pin!(closed);
    loop {
        let accepted = match race(runtime.accept(listener), closed.as_mut()).await {
            Either::Left(accepted) => accepted,
            Either::Right(()) => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                start(stream, remote);
                // Let the new connection run before accepting the next
                // one: an executor that runs the task spawned last first
                // (tokio) would serve two clients that connect back to
                // back in the reverse order.
                yield_now().await;
            }
            Err(_) => {
                runtime
                    .sleep_until(runtime.now() + ACCEPT_ERROR_PAUSE)
                    .await
            }
        }
    }
}

/// Serves one connection (any byte stream hyper can read and write) as
/// HTTP/1.1 until it closes: requests `route` matches go to it, others get
/// 404. `timer` times out clients that send their headers too slowly (see
/// [`RuntimeTimer`]).
///
/// ```
/// use std::net::SocketAddr;
///
/// use runtime_hyper::{FuturesIo, Route, Runtime, RuntimeTimer};
///
/// // A connection some other server accepted, as a futures-io stream.
/// async fn hand_over<R: Runtime>(
///     runtime: R,
///     route: &impl Route,
///     stream: impl futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
///     remote: SocketAddr,
/// ) {
///     runtime_hyper::serve_connection(RuntimeTimer(runtime), route, FuturesIo::new(stream), remote)
///         .await;
/// }
/// ```
pub async fn serve_connection<T, I>(timer: T, route: &impl Route, io: I, remote: SocketAddr)
where
    T: hyper::rt::Timer + Send + Sync + 'static,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    // A connection that fails mid-request has nothing left to answer;
    // the requests it held were reported to the core when dropped.
    let _ = http1::Builder::new()
        .timer(timer)
        .serve_connection(io, service(route, remote, None))
        .with_upgrades()
        .await;
}

/// Serves one connection after its TLS handshake: HTTP/2 if ALPN picked
/// it (hyper spawns a task per stream on `runtime`), HTTP/1.1 with
/// upgrades otherwise; every request carries `tls` as an extension.
pub(crate) async fn serve_http<R, I>(
    runtime: R,
    route: &impl Route,
    io: I,
    remote: SocketAddr,
    tls: Option<TlsInfo>,
) where
    R: Runtime,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let h2 = tls.as_ref().is_some_and(|info| info.http2);
    let service = service(route, remote, tls);
    if h2 {
        let _ = http2::Builder::new(RuntimeExecutor(runtime.clone()))
            .timer(RuntimeTimer(runtime))
            .serve_connection(io, service)
            .await;
    } else {
        let _ = http1::Builder::new()
            .timer(RuntimeTimer(runtime))
            .serve_connection(io, service)
            .with_upgrades()
            .await;
    }
}

/// hyper's service for one connection: requests `route` matches go to it
/// (with the connection's TLS facts attached), others get 404.
fn service(
    route: &impl Route,
    remote: SocketAddr,
    tls: Option<TlsInfo>,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = HttpResponse,
    Error = Infallible,
    Future = impl Future<Output = Result<HttpResponse, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static {
    let route = route.clone();
    service_fn(move |mut request: http::Request<Incoming>| {
        let route = route.clone();
        if let Some(tls) = &tls {
            request.extensions_mut().insert(tls.clone());
        }
        async move {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let response = if route.matches(target) {
                route.call(request, remote).await
            } else {
                empty(StatusCode::NOT_FOUND)
            };
            Ok::<_, Infallible>(response)
        }
    })
}

impl<C: Core, R: Sockets> Driver<C, R> {
    /// Binds `addr` (see [`bind_std`]) and serves every connection on this
    /// driver's runtime. Returns once the route is closed, or if binding fails.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Sockets};
    /// # use runtime_hyper::engineio_proto::Server;
    /// async fn run<R: Sockets>(driver: Driver<Server, R>) -> std::io::Result<()> {
    ///     driver.listen("127.0.0.1:3201".parse().unwrap()).await
    /// }
    /// ```
    pub async fn listen(self, addr: SocketAddr) -> io::Result<()> {
        listen(self.runtime().clone(), self, addr).await
    }

    /// Accepts connections on `listener` forever, each on a task of its own.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Sockets};
    /// # use runtime_hyper::engineio_proto::Server;
    /// async fn run<R: Sockets>(driver: Driver<Server, R>) -> std::io::Result<()> {
    ///     let listener = runtime_hyper::bind_std("127.0.0.1:3201".parse().unwrap())?;
    ///     let listener = driver.runtime().listener(listener)?;
    ///     driver.serve(listener).await;
    ///     Ok(())
    /// }
    /// ```
    pub async fn serve(self, listener: R::Listener) {
        serve(
            self.runtime().clone(),
            self,
            listener,
            ConnectionOptions::default(),
        )
        .await;
    }

    /// Serves one accepted connection as HTTP/1.1 until it closes, with
    /// `TCP_NODELAY` on.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Sockets};
    /// # use runtime_hyper::engineio_proto::Server;
    /// async fn run<R: Sockets>(driver: Driver<Server, R>, listener: R::Listener) -> std::io::Result<()> {
    ///     let (stream, remote) = driver.runtime().accept(&listener).await?;
    ///     driver.serve_connection(stream, remote).await;
    ///     Ok(())
    /// }
    /// ```
    pub async fn serve_connection(&self, stream: R::Stream, remote: SocketAddr) {
        let runtime = self.runtime().clone();
        let io = runtime.io(stream, ConnectionOptions::default().nodelay);
        serve_connection(RuntimeTimer(runtime), self, io, remote).await;
    }
}
