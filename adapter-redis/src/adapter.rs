//! The adapter's builder ([`RedisAdapter`]) and the pieces of I/O every
//! mode shares: the bounded outbox fed by the core, timed Redis calls, the
//! publisher connection. Each mode's loops (`classic_io`, `sharded_io`,
//! `streams_io`) build on these with redis-rs, on whatever runtime the
//! [`Driver`] runs (tokio, async-std or smol); `attach` picks the mode.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use runtime_hyper::{Driver, Runtime};
use socketio_proto::cluster::ClusterEnvelope;
use socketio_proto::{ClusterConfig, Membership, Server};

use crate::classic::{Classic, Publish};
use crate::sharded::{Sharded, SubscriptionMode};

/// What went wrong on the way to or from Redis. None of it stops the
/// adapter: it reconnects, and what could not be sent is reported here.
///
/// ```
/// use adapter_redis::{AdapterError, RedisAdapter};
///
/// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379").on_error(|error| match error {
///     AdapterError::Dropped(what) => eprintln!("lost: {what}"),
///     other => eprintln!("redis: {other}"),
/// });
/// ```
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// Connecting, publishing or subscribing failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A message for the other nodes was dropped (Redis unreachable, or
    /// more than [`OUTBOX_LIMIT`] messages waiting).
    #[error("message for the other nodes dropped: {0}")]
    Dropped(String),
    /// A message on a channel that does not decode; it is ignored.
    #[error("ignored a message on {channel}: {error}")]
    Ignored {
        /// The channel.
        channel: String,
        /// Why.
        error: crate::classic::DecodeError,
    },
}

/// Messages waiting to be published, at most; more are dropped (and
/// reported) rather than held without bound while Redis is away.
pub const OUTBOX_LIMIT: usize = 10_000;

/// What the publisher task publishes: the core's messages, and the
/// answers to Node's `SOCKETS` / `ALL_ROOMS` requests.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Cluster(ClusterEnvelope),
    Answer(Publish),
    /// A room created or deleted (sharded mode, dynamic subscriptions).
    Room(socketio_proto::RoomChange),
    /// A namespace created since the adapter was attached (sharded mode).
    Namespace(String),
    /// A session to keep (streams mode).
    Session(socketio_proto::SessionRecord),
    /// A session to look up (streams mode).
    Restore(socketio_proto::RestoreRequest),
}

/// How to report [`AdapterError`]s (default: one line on stderr).
///
/// ```
/// use std::sync::Arc;
/// use adapter_redis::{AdapterError, ErrorHook};
///
/// let hook: ErrorHook = Arc::new(|error: &AdapterError| eprintln!("redis: {error}"));
/// ```
pub type ErrorHook = Arc<dyn Fn(&AdapterError) + Send + Sync>;

/// A node's membership of a cluster on Redis, classic mode
/// (`@socket.io/redis-adapter`'s `createAdapter`, [`RedisAdapter::classic`])
/// or sharded mode (`createShardedAdapter`, [`RedisAdapter::sharded`] on one
/// Redis, [`RedisAdapter::sharded_cluster`] on a Redis Cluster), or streams
/// mode (`@socket.io/redis-streams-adapter`'s `createAdapter`,
/// [`RedisAdapter::streams`], with connection state recovery across
/// nodes).
///
/// ```no_run
/// use adapter_redis::RedisAdapter;
/// use runtime_hyper::{Sockets, serve_io, socketio_async::SocketIo};
///
/// async fn run<R: Sockets>(runtime: R) -> Result<(), Box<dyn std::error::Error>> {
///     let io = SocketIo::new();
///     let adapter = RedisAdapter::classic("redis://127.0.0.1:6379");
///     let mut config = runtime_hyper::socketio_proto::Config::default();
///     config.cluster = Some(adapter.cluster_config());
///     let driver = serve_io(&io, config, runtime);
///     adapter.attach(&driver).await?;
///     driver.listen("127.0.0.1:3000".parse()?).await?;
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct RedisAdapter {
    pub(crate) url: String,
    pub(crate) uid: String,
    pub(crate) codec: Classic,
    /// The sharded mode's codec; `None`: classic mode.
    pub(crate) sharded: Option<Sharded>,
    /// The streams mode's codec (`None`: classic or sharded mode).
    pub(crate) streams: Option<crate::streams::Streams>,
    /// Sharded mode on a Redis Cluster: its nodes (`url` unused).
    pub(crate) cluster_nodes: Vec<String>,
    requests_timeout: Duration,
    pub(crate) redis_timeout: Duration,
    pub(crate) namespaces: BTreeSet<String>,
    pub(crate) on_error: ErrorHook,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("url", &self.url)
            .field("uid", &self.uid)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// The classic adapter on the Redis at `url` with Node's defaults:
    /// key `socket.io`, requests timeout 5 s, responses on the shared
    /// channel, namespace `/`. The node's uid is drawn from the OS.
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379");
    /// assert_eq!(adapter.cluster_config().uid, adapter.node_uid());
    /// ```
    pub fn classic(url: impl Into<String>) -> Self {
        let mut seed = [0u8; 8];
        let uid = if getrandom::fill(&mut seed).is_ok() {
            seed.iter().map(|b| format!("{b:02x}")).collect()
        } else {
            format!("{:x}", std::process::id())
        };
        Self {
            url: url.into(),
            uid,
            codec: Classic::default(),
            sharded: None,
            streams: None,
            cluster_nodes: Vec::new(),
            requests_timeout: Duration::from_secs(5),
            redis_timeout: Duration::from_secs(2),
            namespaces: BTreeSet::from(["/".to_owned()]),
            on_error: Arc::new(|e| eprintln!("adapter-redis: {e}")),
        }
    }

    /// The sharded adapter (Redis 7 `SPUBLISH` / `SSUBSCRIBE`) on the Redis
    /// at `url`, with Node's defaults: channel prefix `socket.io`, dynamic
    /// subscriptions, requests timeout 5 s.
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// // Redis 7 or later: SPUBLISH / SSUBSCRIBE.
    /// let adapter = RedisAdapter::sharded("redis://127.0.0.1:6379");
    /// ```
    pub fn sharded(url: impl Into<String>) -> Self {
        let mut adapter = Self::classic(url);
        adapter.sharded = Some(Sharded::default());
        adapter
    }

    /// The sharded adapter on a Redis Cluster, reached through any of
    /// `nodes` (`redis://host:port` each); the cluster's topology is
    /// discovered, and subscriptions follow it (redis-rs's cluster client).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::sharded_cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]);
    /// ```
    pub fn sharded_cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        let mut adapter = Self::sharded(String::new());
        adapter.cluster_nodes = nodes.into_iter().map(Into::into).collect();
        adapter
    }

    /// The streams adapter (`@socket.io/redis-streams-adapter` 0.3.1's
    /// `createAdapter`) on the Redis at `url`, with Node's defaults: stream
    /// `socket.io` (one stream), `MAXLEN ~ 10000`, `XREAD COUNT 100 BLOCK
    /// 5000`, channel prefix `socket.io`, session keys `sio:session:<pid>`,
    /// requests timeout 5 s. With connection state recovery on in the core's
    /// config, the stream and Redis keep what a client missed and its
    /// session, so that it can come back to any node (Rust or Node).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// // With `config.recovery` on, a client may come back to any node.
    /// let adapter = RedisAdapter::streams("redis://127.0.0.1:6379");
    /// ```
    pub fn streams(url: impl Into<String>) -> Self {
        let mut adapter = Self::classic(url);
        adapter.streams = Some(crate::streams::Streams::default());
        adapter
    }

    /// Streams mode: its codec's settings (stream name, `maxLen`,
    /// `readCount`, `blockTimeInMs`, channel and session key prefixes).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::streams("redis://127.0.0.1:6379").streams_options(|s| {
    ///     s.stream_name = "chat-events".into();
    ///     s.max_len = 50_000;
    /// });
    /// ```
    pub fn streams_options(mut self, f: impl FnOnce(&mut crate::streams::Streams)) -> Self {
        if let Some(codec) = self.streams.as_mut() {
            f(codec);
        }
        self
    }

    /// Sharded and streams modes: the channel prefix (`channelPrefix`,
    /// default `socket.io`).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::sharded("redis://127.0.0.1:6379").channel_prefix("chat");
    /// ```
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        if let Some(codec) = self.sharded.as_mut() {
            codec.channel_prefix = prefix.clone();
        }
        if let Some(codec) = self.streams.as_mut() {
            codec.channel_prefix = prefix;
        }
        self
    }

    /// Sharded mode: which room channels the node subscribes to
    /// (`subscriptionMode`, default dynamic).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// use adapter_redis::SubscriptionMode;
    ///
    /// let adapter = RedisAdapter::sharded("redis://127.0.0.1:6379")
    ///     .subscription_mode(SubscriptionMode::Static);
    /// ```
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        if let Some(codec) = self.sharded.as_mut() {
            codec.mode = mode;
        }
        self
    }

    /// The channel prefix (`key`).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// // Two applications on one Redis, apart.
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379").key("chat-app");
    /// ```
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.codec.key = key.into();
        self
    }

    /// How long requests wait for the other nodes (`requestsTimeout`).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// use std::time::Duration;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379")
    ///     .requests_timeout(Duration::from_secs(2));
    /// ```
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Answer on the asking node's own response channel
    /// (`publishOnSpecificResponseChannel`).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379").specific_response_channel(true);
    /// ```
    pub fn specific_response_channel(mut self, on: bool) -> Self {
        self.codec.specific_response_channel = on;
        self
    }

    /// Also serve namespace `nsp` from the start (namespaces are also
    /// joined the first time this node publishes for them).
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379").namespace("/admin");
    /// ```
    pub fn namespace(mut self, nsp: impl Into<String>) -> Self {
        self.namespaces.insert(nsp.into());
        self
    }

    /// Sets the node's uid.
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379").uid("eu-1");
    /// assert_eq!(adapter.node_uid(), "eu-1");
    /// ```
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = uid.into();
        self
    }

    /// Reports problems through `hook` instead of stderr.
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379")
    ///     .on_error(|error| eprintln!("redis: {error}"));
    /// ```
    pub fn on_error(mut self, hook: impl Fn(&AdapterError) + Send + Sync + 'static) -> Self {
        self.on_error = Arc::new(hook);
        self
    }

    /// The node's uid.
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379");
    /// println!("this node is {}", adapter.node_uid());
    /// ```
    pub fn node_uid(&self) -> &str {
        &self.uid
    }

    /// The core's cluster settings for this node: put it in
    /// `Config::cluster` before the core is built.
    ///
    /// ```
    /// use adapter_redis::RedisAdapter;
    ///
    /// use socketio_proto::Config;
    ///
    /// let adapter = RedisAdapter::classic("redis://127.0.0.1:6379");
    /// let mut config = Config::default();
    /// config.cluster = Some(adapter.cluster_config());
    /// ```
    pub fn cluster_config(&self) -> ClusterConfig {
        let mut config = ClusterConfig::new(self.uid.clone());
        config.requests_timeout = self.requests_timeout;
        config.membership = Membership::Counted;
        config.stream_recovery = self.streams.is_some();
        config
    }
}

/// The part both modes share: after every drive of the driver, the core's
/// cluster messages (and, once the core tracks them, its room changes) go
/// to the one bounded outbox; what does not fit is dropped and reported.
/// `new_namespace` hears of every namespace each time their number changes
/// (io.of, or a dynamic one on its first connection).
pub(crate) fn install_outbox<R: Runtime>(
    driver: &Driver<Server, R>,
    adapter: &Arc<RedisAdapter>,
    tx: async_channel::Sender<Outgoing>,
    new_namespace: impl Fn(String) + Send + 'static,
) {
    let adapter = Arc::clone(adapter);
    let mut namespaces_seen = 0;
    driver.on_drained(move |core, _now| {
        if core.namespaces_count() != namespaces_seen {
            namespaces_seen = core.namespaces_count();
            for nsp in core.namespace_names() {
                new_namespace(nsp.to_string());
            }
        }
        let push = |outgoing: Outgoing| {
            if let Err(e) = tx.try_send(outgoing) {
                let what = match e.into_inner() {
                    Outgoing::Cluster(envelope) => {
                        format!("message of type {}", envelope.message.kind())
                    }
                    Outgoing::Room(change) => format!("room change of {:?}", change.room),
                    _ => "message".to_owned(),
                };
                (adapter.on_error)(&AdapterError::Dropped(format!(
                    "{what} (outbox full or closed)"
                )));
            }
        };
        while let Some(change) = core.poll_room_change() {
            push(Outgoing::Room(change));
        }
        while let Some(envelope) = core.poll_cluster() {
            push(Outgoing::Cluster(envelope));
        }
        while let Some(session) = core.poll_session() {
            push(Outgoing::Session(session));
        }
        while let Some(restore) = core.poll_restore() {
            push(Outgoing::Restore(restore));
        }
    });
}

pub(crate) async fn timed<R: Runtime, T>(
    runtime: &R,
    limit: Duration,
    work: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, AdapterError> {
    let sleep = runtime.sleep_until(Instant::now() + limit);
    match select(std::pin::pin!(work), std::pin::pin!(sleep)).await {
        Either::Left((result, _)) => Ok(result?),
        Either::Right(_) => Err(AdapterError::Timeout(limit)),
    }
}

pub(crate) async fn connect_publisher<R: Runtime>(
    client: &redis::Client,
    adapter: &RedisAdapter,
    runtime: &R,
) -> Result<redis::aio::MultiplexedConnection, AdapterError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(adapter.redis_timeout))
        .set_response_timeout(Some(adapter.redis_timeout));
    timed(
        runtime,
        adapter.redis_timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
}

/// What a subscriber loop wakes up for ([`next_wake`]).
pub(crate) enum Wake {
    /// A message on a subscribed channel.
    Message(redis::Msg),
    /// A namespace to subscribe to now.
    Namespace(String),
    /// The subscription connection is gone (already reported).
    Lost,
    /// The driver closed: the loop ends.
    Closed,
}

/// Waits for what comes first on a subscriber connection: a message on
/// `stream`, a new namespace on `namespaces` (while `joining`: once its
/// sender is gone, `joining` turns false and it is no longer waited on),
/// or the driver's close. A lost connection is reported with `report`.
pub(crate) async fn next_wake<R: Runtime>(
    stream: &mut redis::aio::PubSubStream,
    namespaces: &async_channel::Receiver<String>,
    joining: &mut bool,
    driver: &Driver<Server, R>,
    report: impl Fn(&AdapterError),
) -> Wake {
    use futures_util::{FutureExt, StreamExt};
    loop {
        let next = {
            let message = stream.next().fuse();
            let namespace = async {
                if *joining {
                    namespaces.recv().await
                } else {
                    std::future::pending().await
                }
            }
            .fuse();
            let closed = driver.closed().fuse();
            futures_util::pin_mut!(message, namespace, closed);
            futures_util::select! {
                m = message => Some(Either::Left(m)),
                n = namespace => Some(Either::Right(n)),
                _ = closed => None,
            }
        };
        return match next {
            None => Wake::Closed,
            Some(Either::Left(Some(msg))) => Wake::Message(msg),
            Some(Either::Left(None)) => {
                report(&AdapterError::Redis(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "subscription connection lost",
                ))));
                Wake::Lost
            }
            Some(Either::Right(Ok(nsp))) => Wake::Namespace(nsp),
            // The publisher is gone: nothing new will be joined.
            Some(Either::Right(Err(_))) => {
                *joining = false;
                continue;
            }
        };
    }
}
