//! A tower [`Layer`] and [`Service`]: the server mounted in front of an
//! existing axum or hyper application, on the same port.
//!
//! Requests for the core's path (`/socket.io/` by default, with the
//! official server's trailing-slash handling) go to the [`Driver`]; every
//! other request goes to the wrapped service untouched. WebSocket upgrades
//! work whenever the host server keeps hyper's upgrade in the request's
//! extensions, as axum's `serve` and hyper's own connections do.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body;
use http_body_util::Either;
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;

use crate::core::Core;
use crate::driver::Driver;
use crate::runtime::Runtime;

/// Puts a [`Driver`] in front of a service: `ServiceBuilder::layer`,
/// axum's `Router::layer`, or [`Layer::layer`] by hand.
///
/// The peer address the core sees (`remoteAddress` in the handshake) is
/// taken from a [`SocketAddr`] in the request's extensions when one is
/// there; with axum, a `map_request` middleware can copy it out of
/// `ConnectInfo<SocketAddr>` (runtime-tokio's `examples/axum.rs` does).
///
/// Each binding names it for its runtime, with an example:
/// `runtime_tokio::SocketIoLayer` mounts the server in axum.
///
/// ```
/// use runtime_hyper::engineio_proto::{Config, Server};
/// use tower_layer::Layer;
/// use runtime_hyper::{Driver, Runtime, SocketIoLayer, SocketIoService};
///
/// // Any service `app` keeps its routes; `/engine.io/` goes to the driver.
/// fn mount<R: Runtime, S>(driver: Driver<Server, R>, app: S) -> SocketIoService<Server, R, S> {
///     SocketIoLayer::new(driver).layer(app)
/// }
/// # fn check<R: Runtime + Default>() {
/// #     let driver = Driver::<Server, R>::new(Server::new(Config::default()), |_, _, _| {});
/// #     let _service = mount(driver, ());
/// # }
/// ```
pub struct SocketIoLayer<C: Core, R: Runtime> {
    driver: Driver<C, R>,
}

impl<C: Core, R: Runtime> SocketIoLayer<C, R> {
    /// A layer that serves `driver`'s path.
    ///
    /// ```
    /// use runtime_hyper::engineio_proto::{Config, Server};
    /// use runtime_hyper::{Driver, Runtime, SocketIoLayer};
    ///
    /// fn layer<R: Runtime + Default>() -> SocketIoLayer<Server, R> {
    ///     let driver = Driver::new(Server::new(Config::default()), |_, _, _| {});
    ///     // Clones share the driver: one per router is fine.
    ///     SocketIoLayer::new(driver)
    /// }
    /// ```
    pub fn new(driver: Driver<C, R>) -> Self {
        Self { driver }
    }
}

impl<C: Core, R: Runtime> Clone for SocketIoLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            driver: self.driver.clone(),
        }
    }
}

impl<C: Core, R: Runtime> std::fmt::Debug for SocketIoLayer<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoLayer")
            .field("driver", &self.driver)
            .finish()
    }
}

impl<C: Core, R: Runtime, S> Layer<S> for SocketIoLayer<C, R> {
    type Service = SocketIoService<C, R, S>;

    fn layer(&self, inner: S) -> Self::Service {
        SocketIoService {
            driver: self.driver.clone(),
            inner,
        }
    }
}

/// The service a [`SocketIoLayer`] makes: the core's requests to the
/// driver, the rest to `inner`. Its response body is the driver's
/// [`Full`] body or the inner service's, as [`Either`].
///
/// ```
/// use std::convert::Infallible;
///
/// use runtime_hyper::engineio_proto::{Config, Server};
/// use tower_layer::Layer;
/// use tower_service::Service;
/// use runtime_hyper::{Driver, Runtime, SocketIoLayer};
///
/// // A request outside the engine's path reaches the wrapped service.
/// #[derive(Clone)]
/// struct Hello;
/// impl Service<http::Request<String>> for Hello {
///     type Response = http::Response<String>;
///     type Error = Infallible;
///     type Future = std::future::Ready<Result<Self::Response, Infallible>>;
///     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
///         std::task::Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, _: http::Request<String>) -> Self::Future {
///         std::future::ready(Ok(http::Response::new("hello".to_owned())))
///     }
/// }
///
/// async fn hello<R: Runtime + Default>() {
///     let driver = Driver::<Server, R>::new(Server::new(Config::default()), |_, _, _| {});
///     let mut service = SocketIoLayer::new(driver).layer(Hello);
///     let response = service.call(http::Request::new(String::new())).await.unwrap();
///     assert!(matches!(response.into_body(), http_body_util::Either::Right(body) if body == "hello"));
/// }
/// ```
pub struct SocketIoService<C: Core, R: Runtime, S> {
    driver: Driver<C, R>,
    inner: S,
}

impl<C: Core, R: Runtime, S: Clone> Clone for SocketIoService<C, R, S> {
    fn clone(&self) -> Self {
        Self {
            driver: self.driver.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<C: Core, R: Runtime, S> std::fmt::Debug for SocketIoService<C, R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoService")
            .field("driver", &self.driver)
            .finish_non_exhaustive()
    }
}

/// The future of a [`SocketIoService`] call: boxed, so the service's type
/// does not depend on the wrapped service's future.
///
/// ```
/// use runtime_hyper::ServiceFuture;
///
/// let future: ServiceFuture<u16, std::convert::Infallible> = Box::pin(async { Ok(200) });
/// # drop(future);
/// ```
pub type ServiceFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<C, R, S, ReqBody, ResBody> Service<http::Request<ReqBody>> for SocketIoService<C, R, S>
where
    C: Core,
    R: Runtime,
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + Unpin + Send + 'static,
    ReqBody::Data: Send,
{
    type Response = http::Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ServiceFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if self.driver.matches(target) {
            let driver = self.driver.clone();
            let remote = request.extensions().get::<SocketAddr>().copied();
            Box::pin(async move {
                let response = driver.handle(request, remote).await;
                Ok(response.map(Either::Left))
            })
        } else {
            // The clone takes the place of the service that was made ready,
            // which serves this request (tower's readiness contract).
            let clone = self.inner.clone();
            let mut ready = std::mem::replace(&mut self.inner, clone);
            Box::pin(async move {
                let response = ready.call(request).await?;
                Ok(response.map(Either::Right))
            })
        }
    }
}

/// The driver on its own as a tower service (no inner service): requests
/// outside its path get `404`.
impl<C, R, B> Service<http::Request<B>> for Driver<C, R>
where
    C: Core,
    R: Runtime,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
{
    type Response = crate::response::HttpResponse;
    type Error = Infallible;
    type Future = ServiceFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let driver = self.clone();
        Box::pin(async move {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            if !driver.matches(target) {
                return Ok(crate::response::empty(http::StatusCode::NOT_FOUND));
            }
            let remote = request.extensions().get::<SocketAddr>().copied();
            Ok(driver.handle(request, remote).await)
        })
    }
}
