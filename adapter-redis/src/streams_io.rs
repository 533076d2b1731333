//! The streams mode's I/O: one multiplexed connection for commands
//! (`XADD`, `PUBLISH`, `PUBSUB NUMSUB`, `SET`, `GETDEL`, `XRANGE`), one for
//! the blocking `XREAD` loop, one pub/sub connection for the requests and
//! answers. Every connection is replaced when it breaks; the `XREAD` loop
//! resumes from the last id it handed to the core.
//!
//! Every broadcast of the stream reaches this node's sockets through the
//! `XREAD` loop, this node's own included (the core does not deliver them
//! when made: `ClusterConfig::stream_recovery`), so deliveries follow the
//! stream's order, and a restore can be cut exactly where the loop stands:
//! the replay holds the entries after the client's offset up to the last
//! one the loop delivered, under the same lock of the core as the restore;
//! later ones reach the restored socket live.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use redis::Value;
use runtime_hyper::{Driver, Runtime};
use socketio_proto::cluster::WirePacket;
use socketio_proto::{ClusterMessage, RecoveryConfig, RestoreRequest, RestoredSession, Server};

use crate::adapter::{
    AdapterError, OUTBOX_LIMIT, Outgoing, RedisAdapter, Wake, connect_publisher, install_outbox,
    next_wake, timed,
};
use crate::classic::Publish;
use crate::streams::{Streams, StreamsOut, next_offset, parse_id, valid_offset};

/// Stream entries read per `XRANGE` of a restore.
const RANGE_COUNT: usize = 1_000;
/// `XRANGE` calls of one restore, at most (Node: 100): a replay holds at
/// most this many times [`RANGE_COUNT`] entries.
const MAX_RANGE_CALLS: usize = 100;

/// A stream entry: its id and fields.
type Entry = (String, Vec<(String, Vec<u8>)>);

struct Shared<R: Runtime> {
    adapter: Arc<RedisAdapter>,
    codec: Streams,
    driver: Driver<Server, R>,
    client: redis::Client,
    /// The command connection (cloned out for each command; `None` after
    /// a failure: the next command reconnects).
    commands: Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// The id of the last entry the `XREAD` loop handed to the core.
    position: Mutex<(u64, u64)>,
    recovery: Option<RecoveryConfig>,
}

pub(crate) async fn attach<R: Runtime>(
    adapter: RedisAdapter,
    driver: &Driver<Server, R>,
) -> Result<(), AdapterError> {
    let codec = adapter.streams.clone().unwrap_or_default();
    let client = redis::Client::open(adapter.url.as_str())?;
    let adapter = Arc::new(adapter);
    let runtime = driver.runtime().clone();
    let commands = connect_publisher(&client, &adapter, &runtime).await?;
    let recovery = driver.act(|core, _| core.config().recovery.clone());
    let shared = Arc::new(Shared {
        adapter: Arc::clone(&adapter),
        codec,
        driver: driver.clone(),
        client,
        commands: Mutex::new(Some(commands)),
        position: Mutex::new((0, 0)),
        recovery,
    });
    // Start where the stream ends now (Node: `$`), as a concrete id.
    let last: Value = shared
        .command(
            redis::cmd("XREVRANGE")
                .arg(&shared.codec.stream_name)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1),
        )
        .await?;
    let start = entries(&last)
        .last()
        .and_then(|(id, _)| parse_id(id))
        .unwrap_or((0, 0));
    *lock(&shared.position) = start;
    let (sink, stream) = connect_subscriber(&shared, &adapter.namespaces).await?;

    let (tx, rx) = async_channel::bounded::<Outgoing>(OUTBOX_LIMIT);
    let (ns_tx, ns_rx) = async_channel::unbounded::<String>();
    let hook_ns = ns_tx.clone();
    install_outbox(driver, &adapter, tx, move |nsp| {
        let _ = hook_ns.try_send(nsp);
    });
    runtime.spawn(outbox_loop(Arc::clone(&shared), rx, ns_tx));
    runtime.spawn(read_loop(Arc::clone(&shared), start));
    runtime.spawn(subscribe_loop(shared, sink, stream, ns_rx));
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn id_text((ms, seq): (u64, u64)) -> String {
    format!("{ms}-{seq}")
}

impl<R: Runtime> Shared<R> {
    fn report(&self, e: &AdapterError) {
        (self.adapter.on_error)(e);
    }

    /// Runs `cmd` on the command connection, connecting first if needed;
    /// a connection that broke is replaced and the command tried once more.
    async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, AdapterError> {
        let runtime = self.driver.runtime();
        let mut last_error = None;
        for _attempt in 0..2 {
            let current = lock(&self.commands).clone();
            let mut conn = match current {
                Some(c) => c,
                None => {
                    let c = connect_publisher(&self.client, &self.adapter, runtime).await?;
                    *lock(&self.commands) = Some(c.clone());
                    c
                }
            };
            match timed(
                runtime,
                self.adapter.redis_timeout,
                cmd.query_async(&mut conn),
            )
            .await
            {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let broken = matches!(&e, AdapterError::Redis(r)
                        if r.is_io_error() || r.is_connection_dropped() || r.is_connection_refusal());
                    *lock(&self.commands) = None;
                    if !broken {
                        return Err(e);
                    }
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or(AdapterError::Timeout(self.adapter.redis_timeout)))
    }

    async fn publish(&self, publish: Publish) {
        let Publish {
            channel,
            payload,
            count_request,
        } = publish;
        let sent: Result<i64, _> = self
            .command(redis::cmd("PUBLISH").arg(&channel).arg(payload))
            .await;
        if let Err(e) = sent {
            self.report(&e);
            self.report(&AdapterError::Dropped(format!("message for {channel}")));
            return;
        }
        if let Some(request_id) = count_request {
            // As 0.3.1's serverCount: subscribers of the public channel.
            let counted: Result<(String, usize), _> = self
                .command(redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel))
                .await;
            match counted {
                Ok((_, n)) => self.driver.act(|core, now| {
                    core.handle_cluster_count(now, &request_id, n.saturating_sub(1))
                }),
                Err(e) => self.report(&e),
            }
        }
    }
}

/// Publishes and stores what the core gives, keeps sessions, starts
/// restores.
async fn outbox_loop<R: Runtime>(
    shared: Arc<Shared<R>>,
    rx: async_channel::Receiver<Outgoing>,
    namespaces: async_channel::Sender<String>,
) {
    let mut known = shared.adapter.namespaces.clone();
    loop {
        let next = {
            let message = rx.recv();
            let closed = shared.driver.closed();
            match select(std::pin::pin!(message), std::pin::pin!(closed)).await {
                Either::Left((Ok(outgoing), _)) => Some(outgoing),
                _ => None,
            }
        };
        let Some(outgoing) = next else {
            // What the close itself queued, then end.
            while let Ok(outgoing) = rx.try_recv() {
                if let Outgoing::Cluster(envelope) = outgoing {
                    if let Some(StreamsOut::Publish(p)) = shared.codec.encode(&envelope) {
                        shared.publish(p).await;
                    }
                }
            }
            return;
        };
        match outgoing {
            Outgoing::Cluster(envelope) => {
                if known.insert(envelope.nsp.clone()) {
                    let _ = namespaces.send(envelope.nsp.clone()).await;
                }
                match shared.codec.encode(&envelope) {
                    Some(StreamsOut::Entry(fields)) => {
                        let mut cmd = redis::cmd("XADD");
                        cmd.arg(&shared.codec.stream_name)
                            .arg("MAXLEN")
                            .arg("~")
                            .arg(shared.codec.max_len)
                            .arg("*");
                        for (k, v) in &fields {
                            cmd.arg(*k).arg(v);
                        }
                        let added: Result<String, _> = shared.command(&cmd).await;
                        if let Err(e) = added {
                            shared.report(&e);
                            // As Node: delivered here anyway, without offset.
                            if matches!(
                                envelope.message,
                                ClusterMessage::Broadcast {
                                    request_id: None,
                                    ..
                                }
                            ) {
                                shared.driver.act(|core, now| {
                                    core.handle_cluster_broadcast(now, envelope, None)
                                });
                            } else {
                                shared.report(&AdapterError::Dropped(format!(
                                    "message of type {} for the stream",
                                    envelope.message.kind()
                                )));
                            }
                        }
                    }
                    Some(StreamsOut::Publish(p)) => shared.publish(p).await,
                    None => {}
                }
            }
            Outgoing::Session(session) => {
                // Its own task: a session is stored at once, not behind the
                // broadcasts waiting in this queue (the client may come back
                // to another node within a second).
                let task = store_session(Arc::clone(&shared), session);
                shared.driver.runtime().spawn(task);
            }
            Outgoing::Restore(request) => {
                let task = restore(Arc::clone(&shared), request);
                shared.driver.runtime().spawn(task);
            }
            Outgoing::Namespace(nsp) => {
                if known.insert(nsp.clone()) {
                    let _ = namespaces.send(nsp).await;
                }
            }
            Outgoing::Answer(_) | Outgoing::Room(_) => {}
        }
    }
}

/// `SET <prefix><pid> <base64 msgpack> PX <maxDisconnectionDuration>`.
async fn store_session<R: Runtime>(shared: Arc<Shared<R>>, session: socketio_proto::SessionRecord) {
    let Some(recovery) = &shared.recovery else {
        return;
    };
    let ms = recovery.max_disconnection_duration.as_millis().max(1) as u64;
    let stored: Result<Value, _> = shared
        .command(
            redis::cmd("SET")
                .arg(shared.codec.session_key(&session.pid))
                .arg(shared.codec.encode_session(&session))
                .arg("PX")
                .arg(ms),
        )
        .await;
    if let Err(e) = stored {
        shared.report(&e);
    }
}

/// Looks a session up, gathers what it missed and hands both to the core
/// (or `None`: a new connection).
async fn restore<R: Runtime>(shared: Arc<Shared<R>>, request: RestoreRequest) {
    let key = request.key;
    let found = match find_session(&shared, &request).await {
        Ok(found) => found,
        Err(e) => {
            shared.report(&e);
            None
        }
    };
    let Some((session, offset, mut missed, mut end)) = found else {
        shared
            .driver
            .act(|core, now| core.handle_restore(now, key, None));
        return;
    };
    // Cut the replay where the XREAD loop stands: what it delivered after
    // `end` must be fetched first; what it has not delivered yet comes live
    // (once it has passed the client's offset: before, the client would get
    // again what it had).
    let mut waits = 0;
    while waits < MAX_WAITS {
        waits += 1;
        let handed = shared.driver.act(|core, now| {
            let position = *lock(&shared.position);
            if position < offset {
                return Step::Wait;
            }
            if position > end {
                return Step::Fetch(position);
            }
            missed.retain(|(id, _)| *id <= position);
            let packets = std::mem::take(&mut missed)
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            let restored = RestoredSession {
                id: session.id.clone(),
                rooms: session.rooms.clone(),
                data: session.data.clone(),
                missed: packets,
            };
            core.handle_restore(now, key, Some(restored));
            Step::Done
        });
        let position = match handed {
            Step::Done => return,
            Step::Wait => {
                if pause(&shared, Duration::from_millis(10)).await {
                    return;
                }
                continue;
            }
            Step::Fetch(position) => position,
        };
        match range(&shared, &request.nsp, &session.rooms, end, Some(position)).await {
            Ok((more, last)) => {
                missed.extend(more);
                end = last.max(position);
            }
            Err(e) => {
                shared.report(&e);
                break;
            }
        }
    }
    shared
        .driver
        .act(|core, now| core.handle_restore(now, key, None));
}

/// Where a restore stands against the XREAD loop.
enum Step {
    Done,
    /// The loop has not reached the client's offset yet.
    Wait,
    /// The loop delivered entries after those read: read up to here.
    Fetch((u64, u64)),
}

/// How many times a restore waits 10 ms for the XREAD loop (or reads more
/// of the stream) before giving up (a new connection then).
const MAX_WAITS: usize = 1_000;

type Found = (
    crate::streams::StoredSession,
    (u64, u64),
    Vec<((u64, u64), WirePacket)>,
    (u64, u64),
);

/// `GETDEL` of the session, its offset still in the stream, then every
/// entry after it (Node's `restoreSession`).
async fn find_session<R: Runtime>(
    shared: &Shared<R>,
    request: &RestoreRequest,
) -> Result<Option<Found>, AdapterError> {
    let Some(offset) = parse_id(&request.offset).filter(|_| valid_offset(&request.offset)) else {
        return Ok(None);
    };
    let raw: Option<Vec<u8>> = shared
        .command(redis::cmd("GETDEL").arg(shared.codec.session_key(&request.pid)))
        .await?;
    let Some(raw) = raw else {
        return Ok(None);
    };
    let there: Value = shared
        .command(
            redis::cmd("XRANGE")
                .arg(&shared.codec.stream_name)
                .arg(&request.offset)
                .arg(&request.offset),
        )
        .await?;
    if entries(&there).is_empty() {
        return Ok(None);
    }
    let session = match shared.codec.decode_session(&raw) {
        Ok(s) => s,
        Err(error) => {
            shared.report(&AdapterError::Ignored {
                channel: shared.codec.session_key(&request.pid),
                error,
            });
            return Ok(None);
        }
    };
    let (missed, end) = range(shared, &request.nsp, &session.rooms, offset, None).await?;
    Ok(Some((session, offset, missed, end)))
}

/// The packets for `rooms` of namespace `nsp` after entry `after`, up to
/// `until` (or the end), and the last id read.
async fn range<R: Runtime>(
    shared: &Shared<R>,
    nsp: &str,
    rooms: &[String],
    after: (u64, u64),
    until: Option<(u64, u64)>,
) -> Result<(Vec<((u64, u64), WirePacket)>, (u64, u64)), AdapterError> {
    let mut missed = Vec::new();
    let mut cursor = after;
    let end = until.map_or_else(|| "+".to_owned(), id_text);
    for _ in 0..MAX_RANGE_CALLS {
        let Some(start) = next_offset(&id_text(cursor)) else {
            break;
        };
        let reply: Value = shared
            .command(
                redis::cmd("XRANGE")
                    .arg(&shared.codec.stream_name)
                    .arg(start)
                    .arg(&end)
                    .arg("COUNT")
                    .arg(RANGE_COUNT),
            )
            .await?;
        let batch = entries(&reply);
        if batch.is_empty() {
            break;
        }
        for (id, fields) in batch {
            let Some(parsed) = parse_id(&id) else {
                continue;
            };
            cursor = parsed;
            match shared.codec.missed_packet(nsp, rooms, &id, &fields) {
                Ok(Some(packet)) => missed.push((parsed, packet)),
                Ok(None) => {}
                Err(error) => shared.report(&AdapterError::Ignored {
                    channel: format!("{} entry {id}", shared.codec.stream_name),
                    error,
                }),
            }
        }
    }
    Ok((missed, cursor))
}

/// `XREAD COUNT <readCount> BLOCK <blockTimeInMs>` from the last id handed
/// to the core, until the driver closes; reconnects after a failure.
async fn read_loop<R: Runtime>(shared: Arc<Shared<R>>, start: (u64, u64)) {
    let runtime = shared.driver.runtime().clone();
    let mut last = start;
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let block = Duration::from_millis(shared.codec.block_ms);
    loop {
        if shared.driver.is_closed() {
            return;
        }
        if conn.is_none() {
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(shared.adapter.redis_timeout))
                .set_response_timeout(Some(block + shared.adapter.redis_timeout));
            match timed(
                &runtime,
                shared.adapter.redis_timeout,
                shared
                    .client
                    .get_multiplexed_async_connection_with_config(&config),
            )
            .await
            {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    shared.report(&e);
                    if pause(&shared, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else {
            continue;
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(shared.codec.read_count)
            .arg("BLOCK")
            .arg(shared.codec.block_ms)
            .arg("STREAMS")
            .arg(&shared.codec.stream_name)
            .arg(id_text(last));
        let reply = {
            let read = cmd.query_async::<Value>(c);
            let closed = shared.driver.closed();
            match select(std::pin::pin!(read), std::pin::pin!(closed)).await {
                Either::Left((reply, _)) => reply,
                Either::Right(_) => return,
            }
        };
        let reply = match reply {
            Ok(v) => v,
            Err(e) => {
                shared.report(&AdapterError::Redis(e));
                conn = None;
                if pause(&shared, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        let batch = read_entries(&reply);
        if let Some(id) = batch.iter().rev().find_map(|(id, _)| parse_id(id)) {
            last = last.max(id);
        }
        if batch.is_empty() {
            continue;
        }
        let codec = &shared.codec;
        let errors = shared.driver.act(|core, now| {
            let mut errors = Vec::new();
            for (id, fields) in batch {
                match codec.decode_entry(&fields) {
                    Ok(Some(envelope)) => {
                        if matches!(
                            envelope.message,
                            ClusterMessage::Broadcast {
                                request_id: None,
                                ..
                            }
                        ) {
                            core.handle_cluster_broadcast(now, envelope, Some(&id));
                        } else {
                            // The core ignores this node's own.
                            core.handle_cluster(now, envelope);
                        }
                    }
                    Ok(None) => {}
                    Err(error) => errors.push((id.clone(), error)),
                }
                if let Some(parsed) = parse_id(&id) {
                    let mut position = lock(&shared.position);
                    *position = (*position).max(parsed);
                }
            }
            errors
        });
        for (id, error) in errors {
            shared.report(&AdapterError::Ignored {
                channel: format!("{} entry {id}", codec.stream_name),
                error,
            });
        }
    }
}

/// Sleeps `time`; true when the driver closed meanwhile.
async fn pause<R: Runtime>(shared: &Shared<R>, time: Duration) -> bool {
    let closed = shared.driver.closed();
    let sleep = shared.driver.runtime().sleep_until(Instant::now() + time);
    matches!(
        select(std::pin::pin!(closed), std::pin::pin!(sleep)).await,
        Either::Left(_)
    )
}

async fn connect_subscriber<R: Runtime>(
    shared: &Shared<R>,
    namespaces: &BTreeSet<String>,
) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream), AdapterError> {
    let runtime = shared.driver.runtime();
    let limit = shared.adapter.redis_timeout;
    let pubsub = timed(runtime, limit, shared.client.get_async_pubsub()).await?;
    let (mut sink, stream) = pubsub.split();
    for nsp in namespaces {
        subscribe(shared, &mut sink, nsp).await?;
    }
    Ok((sink, stream))
}

async fn subscribe<R: Runtime>(
    shared: &Shared<R>,
    sink: &mut redis::aio::PubSubSink,
    nsp: &str,
) -> Result<(), AdapterError> {
    let channels = [
        shared.codec.public_channel(nsp),
        shared.codec.private_channel(nsp, &shared.adapter.uid),
    ];
    timed(
        shared.driver.runtime(),
        shared.adapter.redis_timeout,
        sink.subscribe(&channels),
    )
    .await
}

/// Hands the requests and answers of the pub/sub channels to the core;
/// resubscribes after a loss, until the driver closes.
async fn subscribe_loop<R: Runtime>(
    shared: Arc<Shared<R>>,
    sink: redis::aio::PubSubSink,
    stream: redis::aio::PubSubStream,
    new_namespaces: async_channel::Receiver<String>,
) {
    let mut namespaces = shared.adapter.namespaces.clone();
    let mut current = Some((sink, stream));
    let mut backoff = Duration::from_millis(50);
    let mut joining = true;
    loop {
        if shared.driver.is_closed() {
            return;
        }
        let (mut sink, mut stream) = match current.take() {
            Some(pair) => pair,
            None => match connect_subscriber(&shared, &namespaces).await {
                Ok(pair) => {
                    backoff = Duration::from_millis(50);
                    pair
                }
                Err(e) => {
                    shared.report(&e);
                    if pause(&shared, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        loop {
            let report = &*shared.adapter.on_error;
            match next_wake(
                &mut stream,
                &new_namespaces,
                &mut joining,
                &shared.driver,
                report,
            )
            .await
            {
                Wake::Closed => return,
                Wake::Namespace(nsp) => {
                    if namespaces.insert(nsp.clone()) {
                        if let Err(e) = subscribe(&shared, &mut sink, &nsp).await {
                            shared.report(&e);
                            break;
                        }
                    }
                }
                Wake::Lost => break,
                Wake::Message(msg) => match shared.codec.decode_message(msg.get_payload_bytes()) {
                    Ok(envelope) => shared
                        .driver
                        .act(|core, now| core.handle_cluster(now, envelope)),
                    Err(error) => shared.report(&AdapterError::Ignored {
                        channel: msg.get_channel_name().to_owned(),
                        error,
                    }),
                },
            }
        }
    }
}

/// The entries of an `XRANGE` / `XREVRANGE` reply: `[[id, [field, value,
/// ...]], ...]`; malformed parts are left out.
fn entries(reply: &Value) -> Vec<Entry> {
    let Value::Array(list) = reply else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let [id, Value::Array(flat)] = pair.as_slice() else {
                return None;
            };
            let id = text(id)?;
            let fields = flat
                .chunks(2)
                .filter_map(|kv| match kv {
                    [k, v] => Some((text(k)?, bytes(v)?)),
                    _ => None,
                })
                .collect();
            Some((id, fields))
        })
        .collect()
}

/// The entries of an `XREAD` reply of one stream: `[[name, entries]]`
/// (RESP2) or `{name: entries}` (RESP3); `Nil` when it timed out.
fn read_entries(reply: &Value) -> Vec<Entry> {
    match reply {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|s| match s {
                Value::Array(pair) => match pair.as_slice() {
                    [_, list] => entries(list),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.iter().flat_map(|(_, list)| entries(list)).collect(),
        _ => Vec::new(),
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    String::from_utf8(bytes(v)?).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn replies_are_read_in_both_protocols_and_malformed_parts_skipped() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![
                bulk("uid"),
                bulk("a"),
                bulk("nsp"),
                bulk("/"),
                bulk("odd"),
            ]),
        ]);
        let broken = Value::Array(vec![bulk("2-0"), Value::Nil]);
        let list = Value::Array(vec![entry, broken, Value::Int(3)]);
        let expected = vec![(
            "1-0".to_owned(),
            vec![
                ("uid".to_owned(), b"a".to_vec()),
                ("nsp".to_owned(), b"/".to_vec()),
            ],
        )];
        assert_eq!(entries(&list), expected);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("socket.io"), list.clone()])]);
        assert_eq!(read_entries(&resp2), expected);
        let resp3 = Value::Map(vec![(bulk("socket.io"), list)]);
        assert_eq!(read_entries(&resp3), expected);
        assert!(read_entries(&Value::Nil).is_empty());
        assert!(entries(&Value::Okay).is_empty());
    }
}
