//! The sharded mode's I/O: one RESP3 connection (a multiplexed connection
//! to one Redis, or redis-rs's cluster connection to a Redis Cluster) that
//! `SPUBLISH`es, `SSUBSCRIBE`s and receives the sharded messages as RESP3
//! push messages; one task, fed by the outbox the classic mode uses too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use redis::{PushInfo, PushKind, Value};
use runtime_hyper::{Driver, Runtime};
use socketio_proto::Server;

use crate::adapter::{AdapterError, OUTBOX_LIMIT, Outgoing, RedisAdapter, install_outbox, timed};
use crate::classic::Publish;
use crate::sharded::Sharded;

/// A connection that takes commands and hands push messages over.
enum Connection {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Connection {
    async fn query(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
        match self {
            Self::Single(c) => cmd.query_async(c).await,
            Self::Cluster(c) => cmd.query_async(c).await,
        }
    }
}

/// A push message, tagged with the connection it came from (a connection
/// replaced after a loss may still report it).
type Push = (u64, PushInfo);

struct State<R: Runtime> {
    adapter: Arc<RedisAdapter>,
    codec: Sharded,
    driver: Driver<Server, R>,
    runtime: R,
    connection: Option<Connection>,
    generation: u64,
    pushes: async_channel::Sender<Push>,
    /// Every channel this node listens on (resubscribed after a reconnect).
    channels: BTreeSet<String>,
    namespaces: BTreeSet<String>,
}

pub(crate) async fn attach<R: Runtime>(
    adapter: RedisAdapter,
    driver: &Driver<Server, R>,
) -> Result<(), AdapterError> {
    let codec = adapter.sharded.clone().unwrap_or_default();
    let adapter = Arc::new(adapter);
    let (push_tx, push_rx) = async_channel::bounded::<Push>(OUTBOX_LIMIT);
    let mut state = State {
        adapter: Arc::clone(&adapter),
        codec,
        driver: driver.clone(),
        runtime: driver.runtime().clone(),
        connection: None,
        generation: 0,
        pushes: push_tx,
        channels: BTreeSet::new(),
        namespaces: BTreeSet::new(),
    };
    for nsp in adapter.namespaces.clone() {
        state.add_namespace(&nsp);
    }
    state.connect().await?;
    let (tx, rx) = async_channel::bounded::<Outgoing>(OUTBOX_LIMIT);
    // Rooms that exist already are reported as created: no join is missed.
    driver.act(|core, _now| core.track_rooms());
    let ns_tx = tx.clone();
    install_outbox(driver, &adapter, tx, move |nsp| {
        let _ = ns_tx.try_send(Outgoing::Namespace(nsp));
    });
    driver.runtime().spawn(run(state, rx, push_rx));
    Ok(())
}

impl<R: Runtime> State<R> {
    fn report(&self, e: &AdapterError) {
        (self.adapter.on_error)(e);
    }

    /// Records the channels of a namespace; true if it is new.
    fn add_namespace(&mut self, nsp: &str) -> bool {
        if !self.namespaces.insert(nsp.to_owned()) {
            return false;
        }
        self.channels.insert(self.codec.namespace_channel(nsp));
        self.channels
            .insert(self.codec.response_channel(nsp, &self.adapter.uid));
        true
    }

    /// A new connection, every channel subscribed again.
    async fn connect(&mut self) -> Result<(), AdapterError> {
        self.connection = None;
        self.generation += 1;
        let generation = self.generation;
        let pushes = self.pushes.clone();
        let on_error = Arc::clone(&self.adapter.on_error);
        let sender = move |info: PushInfo| {
            let dropped = pushes.try_send((generation, info)).is_err();
            if dropped {
                on_error(&AdapterError::Dropped(
                    "a message from Redis (inbox full)".into(),
                ));
            }
            Ok::<(), std::convert::Infallible>(())
        };
        let limit = self.adapter.redis_timeout;
        let mut connection = if self.adapter.cluster_nodes.is_empty() {
            let client = redis::Client::open(resp3_url(&self.adapter.url))?;
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(limit))
                .set_response_timeout(Some(limit))
                .set_push_sender(sender);
            Connection::Single(
                timed(
                    &self.runtime,
                    limit,
                    client.get_multiplexed_async_connection_with_config(&config),
                )
                .await?,
            )
        } else {
            let client = redis::cluster::ClusterClientBuilder::new(
                self.adapter
                    .cluster_nodes
                    .iter()
                    .map(|n| resp3_url(n))
                    .collect::<Vec<_>>(),
            )
            .use_protocol(redis::ProtocolVersion::RESP3)
            .connection_timeout(limit)
            .response_timeout(limit)
            .push_sender(sender)
            .build()?;
            Connection::Cluster(timed(&self.runtime, limit, client.get_async_connection()).await?)
        };
        // One channel per command: on a cluster, channels of different
        // slots cannot share one SSUBSCRIBE.
        for channel in &self.channels {
            timed(
                &self.runtime,
                limit,
                connection.query(redis::cmd("SSUBSCRIBE").arg(channel)),
            )
            .await?;
        }
        self.connection = Some(connection);
        Ok(())
    }

    /// Runs `cmd`, reconnecting once if there is no connection; a failure
    /// drops the connection, of a single Redis or of a Redis Cluster (the
    /// cluster client reconnects to a master that restarted, but that
    /// master has lost this node's subscriptions: a new connection
    /// subscribes to every channel again).
    async fn command(&mut self, cmd: &redis::Cmd) -> Result<Value, AdapterError> {
        if self.connection.is_none() {
            self.connect().await?;
        }
        let limit = self.adapter.redis_timeout;
        let Some(connection) = self.connection.as_mut() else {
            return Err(AdapterError::Dropped("no connection".into()));
        };
        let result = timed(&self.runtime, limit, connection.query(cmd)).await;
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn subscribe(&mut self, channel: String, on: bool) {
        let new = if on {
            self.channels.insert(channel.clone())
        } else {
            self.channels.remove(&channel)
        };
        if !new || self.connection.is_none() {
            // Not connected: the reconnection subscribes to `channels`.
            return;
        }
        let name = if on { "SSUBSCRIBE" } else { "SUNSUBSCRIBE" };
        if let Err(e) = self.command(redis::cmd(name).arg(&channel)).await {
            self.report(&e);
        }
    }

    async fn outgoing(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::Namespace(nsp) => self.namespace(&nsp).await,
            Outgoing::Room(change) => {
                // A socket's own room is private: its id names a socket
                // (when the room is deleted the socket is already gone:
                // unsubscribing a channel never subscribed is a no-op).
                let own = socketio_proto::SocketId::new(change.room.as_str());
                let private =
                    change.created && self.driver.act(|core, _| core.data(&own).is_some());
                if let Some(channel) =
                    self.codec
                        .room_channel(change.nsp.as_str(), change.room.as_str(), private)
                {
                    self.subscribe(channel, change.created).await;
                }
            }
            Outgoing::Cluster(envelope) => {
                self.namespace(&envelope.nsp).await;
                if let Some(publish) = self.codec.encode(&envelope) {
                    self.publish(publish).await;
                }
            }
            Outgoing::Answer(_) | Outgoing::Session(_) | Outgoing::Restore(_) => {}
        }
    }

    async fn namespace(&mut self, nsp: &str) {
        if self.add_namespace(nsp) {
            let channels = [
                self.codec.namespace_channel(nsp),
                self.codec.response_channel(nsp, &self.adapter.uid),
            ];
            for channel in channels {
                self.channels.remove(&channel);
                self.subscribe(channel, true).await;
            }
        }
    }

    async fn publish(&mut self, publish: Publish) {
        let Publish {
            channel,
            payload,
            count_request,
        } = publish;
        let spublish = redis::cmd("SPUBLISH").arg(&channel).arg(&payload).clone();
        let mut sent = false;
        // A single Redis that restarted: one more try on a new connection.
        for _attempt in 0..2 {
            match self.command(&spublish).await {
                Ok(_) => {
                    sent = true;
                    break;
                }
                Err(e) => self.report(&e),
            }
        }
        if !sent {
            self.report(&AdapterError::Dropped(format!("message for {channel}")));
            return;
        }
        let Some(request_id) = count_request else {
            return;
        };
        // As Node: PUBSUB SHARDNUMSUB of the namespace's channel, minus
        // this node (requests always go to that channel).
        let counted = self
            .command(redis::cmd("PUBSUB").arg("SHARDNUMSUB").arg(&channel))
            .await;
        match counted {
            Ok(value) => {
                let subscribers = count_subscribers(&value);
                self.driver.act(|core, now| {
                    core.handle_cluster_count(now, &request_id, subscribers.saturating_sub(1))
                });
            }
            // The request then ends at its timeout.
            Err(e) => self.report(&e),
        }
    }

    fn push(&mut self, (generation, info): Push) {
        match info.kind {
            // redis-rs hands `[channel, payload]`.
            PushKind::SMessage => {
                if let [Value::BulkString(channel), Value::BulkString(payload)] =
                    info.data.as_slice()
                {
                    self.message(channel, payload);
                }
            }
            PushKind::Disconnection if generation == self.generation => {
                self.report(&AdapterError::Redis(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "connection to redis lost",
                ))));
                // On a cluster too: the node that went away lost the
                // subscriptions it held.
                self.connection = None;
            }
            _ => {}
        }
    }

    fn message(&self, channel: &[u8], payload: &[u8]) {
        match self.codec.decode(payload) {
            Ok(envelope) => self
                .driver
                .act(|core, now| core.handle_cluster(now, envelope)),
            Err(error) => self.report(&AdapterError::Ignored {
                channel: String::from_utf8_lossy(channel).into_owned(),
                error,
            }),
        }
    }
}

/// The URL with RESP3 asked for (push messages need it).
fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// `PUBSUB SHARDNUMSUB` of one channel: `[channel, n]` from one Redis, a
/// map summed over the masters from the cluster client.
fn count_subscribers(value: &Value) -> usize {
    let count = |v: &Value| match v {
        Value::Int(n) => usize::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    match value {
        Value::Array(items) => items.iter().skip(1).step_by(2).map(count).sum(),
        Value::Map(pairs) => pairs.iter().map(|(_, v)| count(v)).sum(),
        _ => 0,
    }
}

/// Until the driver closes: what the core gives, what Redis pushes, and
/// reconnections of a single Redis (every 50 ms to 1 s while it is away).
async fn run<R: Runtime>(
    mut state: State<R>,
    rx: async_channel::Receiver<Outgoing>,
    pushes: async_channel::Receiver<Push>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        enum Next {
            Out(Box<Outgoing>),
            Push(Push),
            Retry,
            Closed,
        }
        let disconnected = state.connection.is_none();
        let next = {
            let out = rx.recv().fuse();
            let push = pushes.recv().fuse();
            let closed = state.driver.closed().fuse();
            let retry = async {
                if disconnected {
                    state.runtime.sleep_until(Instant::now() + backoff).await;
                } else {
                    std::future::pending::<()>().await;
                }
            }
            .fuse();
            futures_util::pin_mut!(out, push, closed, retry);
            futures_util::select_biased! {
                _ = closed => Next::Closed,
                p = push => p.map(Next::Push).unwrap_or(Next::Closed),
                o = out => o.map(|o| Next::Out(Box::new(o))).unwrap_or(Next::Closed),
                _ = retry => Next::Retry,
            }
        };
        match next {
            Next::Closed => {
                // Publish what the close itself queued (sockets leaving).
                while let Ok(outgoing) = rx.try_recv() {
                    if let Outgoing::Cluster(envelope) = outgoing {
                        if let (Some(publish), Some(_)) =
                            (state.codec.encode(&envelope), state.connection.as_ref())
                        {
                            let cmd = redis::cmd("SPUBLISH")
                                .arg(&publish.channel)
                                .arg(&publish.payload)
                                .clone();
                            let _ = state.command(&cmd).await;
                        }
                    }
                }
                return;
            }
            Next::Push(push) => state.push(push),
            Next::Out(outgoing) => state.outgoing(*outgoing).await,
            Next::Retry => match state.connect().await {
                Ok(()) => backoff = Duration::from_millis(50),
                Err(e) => {
                    state.report(&e);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
        }
    }
}
