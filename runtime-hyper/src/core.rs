//! What a [`Driver`](crate::Driver) serves: any sans-IO endpoint (the bare
//! engine, or the Socket.IO core that owns one) that can move between
//! threads. The I/O surface itself is [`engineio_proto::Endpoint`].

use engineio_proto::Endpoint;

/// An [`Endpoint`] a driver can serve from any thread.
pub trait Core: Endpoint + Send + 'static {}

impl<T: Endpoint + Send + 'static> Core for T {}
