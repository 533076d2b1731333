//! The I/O half: moves a node's cluster messages over Redis with redis-rs,
//! on whatever runtime the [`Driver`] runs (tokio, async-std or smol).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use futures_util::{FutureExt, StreamExt};
use runtime_hyper::{Driver, Runtime};
use socketio_proto::cluster::ClusterEnvelope;
use socketio_proto::{ClusterConfig, Membership, Server, Target};

use crate::classic::{ChannelKind, Classic, LocalQuery, Publish};
use crate::sharded::{Sharded, SubscriptionMode};

/// What went wrong on the way to or from Redis. None of it stops the
/// adapter: it reconnects, and what could not be sent is reported here.
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
/// use runtime_hyper::{Runtime, serve_io, socketio_async::SocketIo};
///
/// async fn run<R: Runtime>(runtime: R) -> Result<(), Box<dyn std::error::Error>> {
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
    codec: Classic,
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
    pub fn sharded(url: impl Into<String>) -> Self {
        let mut adapter = Self::classic(url);
        adapter.sharded = Some(Sharded::default());
        adapter
    }

    /// The sharded adapter on a Redis Cluster, reached through any of
    /// `nodes` (`redis://host:port` each); the cluster's topology is
    /// discovered, and subscriptions follow it (redis-rs's cluster client).
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
    pub fn streams(url: impl Into<String>) -> Self {
        let mut adapter = Self::classic(url);
        adapter.streams = Some(crate::streams::Streams::default());
        adapter
    }

    /// Streams mode: its codec's settings (stream name, `maxLen`,
    /// `readCount`, `blockTimeInMs`, channel and session key prefixes).
    pub fn streams_options(mut self, f: impl FnOnce(&mut crate::streams::Streams)) -> Self {
        if let Some(codec) = self.streams.as_mut() {
            f(codec);
        }
        self
    }

    /// Sharded and streams modes: the channel prefix (`channelPrefix`,
    /// default `socket.io`).
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
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        if let Some(codec) = self.sharded.as_mut() {
            codec.mode = mode;
        }
        self
    }

    /// The channel prefix (`key`).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.codec.key = key.into();
        self
    }

    /// How long requests wait for the other nodes (`requestsTimeout`).
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Answer on the asking node's own response channel
    /// (`publishOnSpecificResponseChannel`).
    pub fn specific_response_channel(mut self, on: bool) -> Self {
        self.codec.specific_response_channel = on;
        self
    }

    /// Also serve namespace `nsp` from the start (namespaces are also
    /// joined the first time this node publishes for them).
    pub fn namespace(mut self, nsp: impl Into<String>) -> Self {
        self.namespaces.insert(nsp.into());
        self
    }

    /// Sets the node's uid.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = uid.into();
        self
    }

    /// Reports problems through `hook` instead of stderr.
    pub fn on_error(mut self, hook: impl Fn(&AdapterError) + Send + Sync + 'static) -> Self {
        self.on_error = Arc::new(hook);
        self
    }

    /// The node's uid.
    pub fn node_uid(&self) -> &str {
        &self.uid
    }

    /// The core's cluster settings for this node: put it in
    /// `Config::cluster` before the core is built.
    pub fn cluster_config(&self) -> ClusterConfig {
        let mut config = ClusterConfig::new(self.uid.clone());
        config.requests_timeout = self.requests_timeout;
        config.membership = Membership::Counted;
        config.stream_recovery = self.streams.is_some();
        config
    }

    /// Connects to Redis (subscriptions made), then moves the driver's
    /// cluster messages until the driver closes. Later connection losses are
    /// reported and repaired in the background.
    pub async fn attach<R: Runtime>(self, driver: &Driver<Server, R>) -> Result<(), AdapterError> {
        if self.sharded.is_some() {
            return crate::sharded_io::attach(self, driver).await;
        }
        if self.streams.is_some() {
            return crate::streams_io::attach(self, driver).await;
        }
        let client = redis::Client::open(self.url.as_str())?;
        let shared = Arc::new(self);
        let publisher = connect_publisher(&client, &shared, driver.runtime()).await?;
        let (sink, stream) = connect_subscriber(&client, &shared, driver.runtime()).await?;
        let (tx, rx) = async_channel::bounded::<Outgoing>(OUTBOX_LIMIT);
        let answers = tx.clone();
        let (ns_tx, ns_rx) = async_channel::unbounded::<String>();
        let hook_ns = ns_tx.clone();
        install_outbox(driver, &shared, tx, move |nsp| {
            let _ = hook_ns.try_send(nsp);
        });
        driver.runtime().spawn(publish_loop(
            Arc::clone(&shared),
            client.clone(),
            publisher,
            rx,
            ns_tx,
            driver.clone(),
        ));
        driver.runtime().spawn(subscribe_loop(
            shared,
            client,
            sink,
            stream,
            ns_rx,
            answers,
            driver.clone(),
        ));
        Ok(())
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
                new_namespace(nsp.to_owned());
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

/// What a subscription channel or pattern stands for.
#[derive(Debug, Clone)]
struct Route {
    nsp: String,
    kind: ChannelKind,
}

async fn connect_subscriber<R: Runtime>(
    client: &redis::Client,
    adapter: &RedisAdapter,
    runtime: &R,
) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream), AdapterError> {
    let pubsub = timed(runtime, adapter.redis_timeout, client.get_async_pubsub()).await?;
    let (mut sink, stream) = pubsub.split();
    for nsp in &adapter.namespaces {
        subscribe(&mut sink, adapter, nsp, runtime).await?;
    }
    Ok((sink, stream))
}

async fn subscribe<R: Runtime>(
    sink: &mut redis::aio::PubSubSink,
    adapter: &RedisAdapter,
    nsp: &str,
    runtime: &R,
) -> Result<(), AdapterError> {
    let channels = adapter.codec.channels(nsp, &adapter.uid);
    timed(
        runtime,
        adapter.redis_timeout,
        sink.psubscribe(&channels.broadcast_pattern),
    )
    .await?;
    timed(
        runtime,
        adapter.redis_timeout,
        sink.subscribe(&[
            channels.request.as_str(),
            channels.response.as_str(),
            channels.specific_response.as_str(),
        ]),
    )
    .await?;
    Ok(())
}

fn routes(adapter: &RedisAdapter, nsps: &BTreeSet<String>) -> HashMap<String, Route> {
    let mut routes = HashMap::new();
    for nsp in nsps {
        let c = adapter.codec.channels(nsp, &adapter.uid);
        let route = |kind| Route {
            nsp: nsp.clone(),
            kind,
        };
        routes.insert(c.broadcast_pattern, route(ChannelKind::Broadcast));
        routes.insert(c.request, route(ChannelKind::Request));
        routes.insert(c.response, route(ChannelKind::Response));
        routes.insert(c.specific_response, route(ChannelKind::Response));
    }
    routes
}

/// Encodes and publishes what the core gives; counts the nodes for
/// requests that wait for answers.
async fn publish_loop<R: Runtime>(
    adapter: Arc<RedisAdapter>,
    client: redis::Client,
    connection: redis::aio::MultiplexedConnection,
    rx: async_channel::Receiver<Outgoing>,
    new_namespaces: async_channel::Sender<String>,
    driver: Driver<Server, R>,
) {
    let runtime = driver.runtime().clone();
    let mut connection = Some(connection);
    let mut known = adapter.namespaces.clone();
    loop {
        // Until the driver closes (the hook that feeds `rx` lives in the
        // driver, which this task keeps alive: `rx` alone never ends).
        let next = {
            let message = rx.recv();
            let closed = driver.closed();
            match select(std::pin::pin!(message), std::pin::pin!(closed)).await {
                Either::Left((Ok(envelope), _)) => Some(envelope),
                _ => None,
            }
        };
        let Some(envelope) = next else {
            // Publish what the close itself queued (sockets leaving), then end.
            while let Ok(outgoing) = rx.try_recv() {
                let out = match outgoing {
                    Outgoing::Cluster(envelope) => adapter.codec.encode(&envelope),
                    Outgoing::Answer(answer) => Some(answer),
                    _ => None,
                };
                if let (Some(out), Some(conn)) = (out, connection.as_mut()) {
                    let _: Result<i64, _> = timed(
                        &runtime,
                        adapter.redis_timeout,
                        redis::cmd("PUBLISH")
                            .arg(&out.channel)
                            .arg(&out.payload)
                            .query_async(conn),
                    )
                    .await;
                }
            }
            return;
        };
        let out = match envelope {
            Outgoing::Cluster(envelope) => {
                if known.insert(envelope.nsp.clone()) {
                    let _ = new_namespaces.send(envelope.nsp.clone()).await;
                }
                adapter.codec.encode(&envelope)
            }
            Outgoing::Answer(answer) => Some(answer),
            _ => None,
        };
        let Some(Publish {
            channel,
            payload,
            count_request,
        }) = out
        else {
            continue;
        };
        // A connection that broke (Redis restarted) is replaced and the
        // message tried once more; after that it is dropped and reported.
        let mut sent = false;
        for _attempt in 0..2 {
            if connection.is_none() {
                match connect_publisher(&client, &adapter, &runtime).await {
                    Ok(c) => connection = Some(c),
                    Err(e) => {
                        (adapter.on_error)(&e);
                        break;
                    }
                }
            }
            let Some(conn) = connection.as_mut() else {
                break;
            };
            let published: Result<i64, _> = timed(
                &runtime,
                adapter.redis_timeout,
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&payload)
                    .query_async(conn),
            )
            .await;
            match published {
                Ok(_) => {
                    sent = true;
                    break;
                }
                Err(e) => {
                    (adapter.on_error)(&e);
                    connection = None;
                }
            }
        }
        if !sent {
            (adapter.on_error)(&AdapterError::Dropped(format!("message for {channel}")));
            continue;
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        if let Some(request_id) = count_request {
            // As Node: PUBSUB NUMSUB of the request channel, minus this node.
            let counted: Result<(String, usize), _> = timed(
                &runtime,
                adapter.redis_timeout,
                redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(&channel)
                    .query_async(conn),
            )
            .await;
            match counted {
                Ok((_, subscribers)) => driver.act(|core, now| {
                    core.handle_cluster_count(now, &request_id, subscribers.saturating_sub(1))
                }),
                // The request then ends at its timeout.
                Err(e) => (adapter.on_error)(&e),
            }
        }
    }
}

/// Hands what the other nodes publish to the core; reconnects and
/// resubscribes when the connection drops, until the driver closes.
async fn subscribe_loop<R: Runtime>(
    adapter: Arc<RedisAdapter>,
    client: redis::Client,
    sink: redis::aio::PubSubSink,
    stream: redis::aio::PubSubStream,
    new_namespaces: async_channel::Receiver<String>,
    answers: async_channel::Sender<Outgoing>,
    driver: Driver<Server, R>,
) {
    let runtime = driver.runtime().clone();
    let mut namespaces = adapter.namespaces.clone();
    let mut current = Some((sink, stream));
    let mut backoff = Duration::from_millis(50);
    loop {
        if driver.is_closed() {
            return;
        }
        let (mut sink, mut stream) = match current.take() {
            Some(pair) => pair,
            None => {
                let mut with_all = (*adapter).clone();
                with_all.namespaces = namespaces.clone();
                match connect_subscriber(&client, &with_all, &runtime).await {
                    Ok(pair) => {
                        backoff = Duration::from_millis(50);
                        pair
                    }
                    Err(e) => {
                        (adapter.on_error)(&e);
                        let closed = driver.closed();
                        let sleep = runtime.sleep_until(Instant::now() + backoff);
                        if let Either::Left(_) =
                            select(std::pin::pin!(closed), std::pin::pin!(sleep)).await
                        {
                            return;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                }
            }
        };
        let mut routes_now = routes(&adapter, &namespaces);
        let mut joining = true;
        loop {
            let next = {
                let message = stream.next().fuse();
                let namespace = async {
                    if joining {
                        new_namespaces.recv().await
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
            match next {
                None => return,
                Some(Either::Right(Ok(nsp))) => {
                    if namespaces.insert(nsp.clone()) {
                        routes_now = routes(&adapter, &namespaces);
                        if let Err(e) = subscribe(&mut sink, &adapter, &nsp, &runtime).await {
                            (adapter.on_error)(&e);
                            break;
                        }
                    }
                }
                // The publisher is gone: nothing new will be joined.
                Some(Either::Right(Err(_))) => joining = false,
                Some(Either::Left(None)) => {
                    (adapter.on_error)(&AdapterError::Redis(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "subscription connection lost",
                    ))));
                    drop(sink);
                    break;
                }
                Some(Either::Left(Some(msg))) => {
                    let key = if msg.from_pattern() {
                        msg.get_pattern::<String>().unwrap_or_default()
                    } else {
                        msg.get_channel_name().to_owned()
                    };
                    let Some(route) = routes_now.get(&key) else {
                        continue;
                    };
                    if route.kind == ChannelKind::Request {
                        if let Some(query) =
                            adapter.codec.decode_local_query(msg.get_payload_bytes())
                        {
                            let answer = driver.act(|core, _now| {
                                answer_local_query(&adapter, core, &route.nsp, &query)
                            });
                            if answers.try_send(Outgoing::Answer(answer)).is_err() {
                                (adapter.on_error)(&AdapterError::Dropped(
                                    "an answer to a Node SOCKETS/ALL_ROOMS request (outbox full)"
                                        .into(),
                                ));
                            }
                            continue;
                        }
                    }
                    match adapter
                        .codec
                        .decode(&route.nsp, route.kind, msg.get_payload_bytes())
                    {
                        Ok(envelope) => driver.act(|core, now| core.handle_cluster(now, envelope)),
                        Err(error) => (adapter.on_error)(&AdapterError::Ignored {
                            channel: msg.get_channel_name().to_owned(),
                            error,
                        }),
                    }
                }
            }
        }
    }
}

/// The answer to Node's `SOCKETS` / `ALL_ROOMS` request, from the core's
/// sockets.
fn answer_local_query(
    adapter: &RedisAdapter,
    core: &Server,
    nsp: &str,
    query: &LocalQuery,
) -> Publish {
    let items: Vec<String> = match query {
        LocalQuery::Sockets { rooms, .. } => {
            let target = Target {
                rooms: rooms.iter().map(|r| r.clone().into()).collect(),
                except: Vec::new(),
                local: true,
            };
            core.fetch_sockets(nsp, &target)
                .iter()
                .map(|s| s.id.as_str().to_owned())
                .collect()
        }
        LocalQuery::AllRooms { .. } => {
            let rooms: BTreeSet<String> = core
                .fetch_sockets(nsp, &Target::all())
                .iter()
                .flat_map(|s| s.rooms.iter().map(|r| r.to_string()))
                .collect();
            rooms.into_iter().collect()
        }
    };
    adapter.codec.answer_local_query(nsp, query, &items)
}
