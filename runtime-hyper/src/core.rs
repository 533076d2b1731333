//! What a [`Driver`](crate::Driver) serves: any sans-IO endpoint (the bare
//! engine, or the Socket.IO core that owns one) that can move between
//! threads. The I/O surface itself is [`engineio_proto::Endpoint`].

use engineio_proto::Endpoint;

/// An [`Endpoint`] a driver can serve from any thread: the bare engine or
/// the Socket.IO core.
///
/// ```
/// fn servable<C: runtime_hyper::Core>() {}
/// servable::<runtime_hyper::engineio_proto::Server>();
/// servable::<runtime_hyper::socketio_proto::Server>();
/// ```
pub trait Core: Endpoint + Send + 'static {}

impl<T: Endpoint + Send + 'static> Core for T {}
