//! The classic mode's I/O: `PUBLISH` / `PSUBSCRIBE` on one publisher and
//! one subscriber connection, with redis-rs on the driver's runtime.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use runtime_hyper::{Driver, Runtime};
use socketio_proto::{Nsp, Server, Target};

use crate::adapter::{
    AdapterError, OUTBOX_LIMIT, Outgoing, RedisAdapter, Wake, connect_publisher, install_outbox,
    next_wake, timed,
};
use crate::classic::{ChannelKind, LocalQuery, Publish};

/// Connects (subscriptions made) and spawns the publish and subscribe
/// loops of the classic mode.
pub(crate) async fn attach<R: Runtime>(
    adapter: RedisAdapter,
    driver: &Driver<Server, R>,
) -> Result<(), AdapterError> {
    let client = redis::Client::open(adapter.url.as_str())?;
    let shared = Arc::new(adapter);
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
            match next_wake(
                &mut stream,
                &new_namespaces,
                &mut joining,
                &driver,
                &*adapter.on_error,
            )
            .await
            {
                Wake::Closed => return,
                Wake::Namespace(nsp) => {
                    if namespaces.insert(nsp.clone()) {
                        routes_now = routes(&adapter, &namespaces);
                        if let Err(e) = subscribe(&mut sink, &adapter, &nsp, &runtime).await {
                            (adapter.on_error)(&e);
                            break;
                        }
                    }
                }
                Wake::Lost => {
                    drop(sink);
                    break;
                }
                Wake::Message(msg) => {
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
            core.fetch_sockets(&Nsp::from(nsp.to_owned()), &target)
                .iter()
                .map(|s| s.id.as_str().to_owned())
                .collect()
        }
        LocalQuery::AllRooms { .. } => {
            let rooms: BTreeSet<String> = core
                .fetch_sockets(&Nsp::from(nsp.to_owned()), &Target::all())
                .iter()
                .flat_map(|s| s.rooms.iter().map(|r| r.to_string()))
                .collect();
            rooms.into_iter().collect()
        }
    };
    adapter.codec.answer_local_query(nsp, query, &items)
}
