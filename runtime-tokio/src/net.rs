//! The listener: bind with a deep backlog, accept, and serve each connection
//! as HTTP/1.1 with upgrades.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::core::Core;
use crate::driver::Driver;
use crate::http::{HttpResponse, empty};

/// Connections the kernel keeps waiting for `accept`: a burst of clients
/// queues instead of being refused.
const BACKLOG: i32 = 1024;

/// How long to pause after a failed `accept` (out of file descriptors...)
/// rather than spin on it.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Binds a TCP listener on `addr` with a backlog of 1024 and address reuse.
/// An IPv6 wildcard address also accepts IPv4 where the system allows it.
///
/// Must be called within a tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Dual stack where the system allows it; IPv6 only otherwise.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Serves some request targets: a [`Driver`], or several tried in order
/// ([`Or`]). Requests no route matches get 404.
pub trait Route: Clone + Send + Sync + 'static {
    /// Whether this route serves `target` (path and query).
    fn matches(&self, target: &str) -> bool;

    /// Serves a request whose target [`matches`](Route::matches).
    fn call(
        &self,
        request: http::Request<Incoming>,
        remote: SocketAddr,
    ) -> impl Future<Output = HttpResponse> + Send;
}

impl<C: Core> Route for Driver<C> {
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
}

/// Two routes on one listener: `A` first, then `B` (the conformance
/// fixture's `/engine.io/` and `/socket.io/`).
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
}

/// Binds `addr` (see [`bind`]) and serves every connection with `route`.
/// Returns only if binding fails.
pub async fn listen(route: impl Route, addr: SocketAddr) -> io::Result<()> {
    let listener = bind(addr)?;
    serve(route, listener).await;
    Ok(())
}

/// Accepts connections on `listener` forever, each on a task of its own.
pub async fn serve(route: impl Route, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let route = route.clone();
                tokio::spawn(async move { serve_connection(&route, stream, remote).await });
                // Let the new connection run before accepting the next
                // one: tokio runs the task spawned last first, which
                // would serve two clients that connect back to back in
                // the reverse order.
                tokio::task::yield_now().await;
            }
            Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
        }
    }
}

/// Serves one accepted connection as HTTP/1.1 until it closes: requests
/// `route` matches go to it, others get 404.
pub async fn serve_connection(route: &impl Route, stream: TcpStream, remote: SocketAddr) {
    // Small messages go out at once rather than wait for an ACK.
    let _ = stream.set_nodelay(true);
    let route = route.clone();
    let service = service_fn(move |request: http::Request<Incoming>| {
        let route = route.clone();
        async move {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let response = if route.matches(target) {
                route.call(request, remote).await
            } else {
                empty(StatusCode::NOT_FOUND)
            };
            Ok::<_, Infallible>(response)
        }
    });
    // A connection that fails mid-request has nothing left to answer;
    // the requests it held were reported to the core when dropped.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

impl<C: Core> Driver<C> {
    /// Binds `addr` (see [`bind`]) and serves every connection. Returns only
    /// if binding fails.
    pub async fn listen(self, addr: SocketAddr) -> io::Result<()> {
        listen(self, addr).await
    }

    /// Accepts connections on `listener` forever, each on a task of its own.
    pub async fn serve(self, listener: TcpListener) {
        serve(self, listener).await;
    }

    /// Serves one accepted connection as HTTP/1.1 until it closes.
    pub async fn serve_connection(&self, stream: TcpStream, remote: SocketAddr) {
        serve_connection(self, stream, remote).await;
    }
}
