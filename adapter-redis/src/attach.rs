//! Where the modes meet: [`RedisAdapter::attach`] starts the I/O of the
//! mode the adapter was built for.

use runtime_hyper::{Driver, Runtime};
use socketio_proto::Server;

use crate::adapter::{AdapterError, RedisAdapter};

impl RedisAdapter {
    /// Connects to Redis (subscriptions made), then moves the driver's
    /// cluster messages until the driver closes. Later connection losses are
    /// reported and repaired in the background.
    ///
    /// ```no_run
    /// use adapter_redis::RedisAdapter;
    /// use runtime_hyper::{Sockets, serve_io, socketio_async::SocketIo};
    ///
    /// async fn run<R: Sockets>(runtime: R) -> Result<(), adapter_redis::AdapterError> {
    ///     let io = SocketIo::new();
    ///     let adapter = RedisAdapter::streams("redis://127.0.0.1:6379");
    ///     let mut config = runtime_hyper::socketio_proto::Config::default();
    ///     config.cluster = Some(adapter.cluster_config());
    ///     let driver = serve_io(&io, config, runtime);
    ///     adapter.attach(&driver).await // until the driver closes
    /// }
    /// ```
    pub async fn attach<R: Runtime>(self, driver: &Driver<Server, R>) -> Result<(), AdapterError> {
        if self.sharded.is_some() {
            crate::sharded_io::attach(self, driver).await
        } else if self.streams.is_some() {
            crate::streams_io::attach(self, driver).await
        } else {
            crate::classic_io::attach(self, driver).await
        }
    }
}
