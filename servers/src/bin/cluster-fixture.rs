//! One node of a cluster on Redis, for the mixed-cluster tests
//! (`tests/cluster`, next to a Node node with the same handlers in
//! `tests/cluster/fixture.mjs`) and the reverse-proxy tests.
//!
//! ```text
//! cluster-fixture --port P --redis redis://127.0.0.1:R --adapter classic|sharded|streams --name NAME
//!                 [--runtime tokio|async-std|smol] [--cookie io] [--path /socket.io/]
//!                 [--subscription-mode static|dynamic|dynamic-private] [--admin none]
//! ```
//!
//! It listens on 127.0.0.1:P (`--port 0`: a free port) and prints
//! `listening <port>` once the adapter is connected. Namespace `/`, the
//! adapter's defaults (classic: key `socket.io`, requestsTimeout 5000;
//! sharded: channelPrefix `socket.io`, dynamic subscriptions). With
//! `--adapter sharded`, `--redis` may list several nodes of a Redis
//! Cluster separated by commas. `--adapter streams` is
//! `@socket.io/redis-streams-adapter` 0.3.1's defaults (stream `socket.io`,
//! `MAXLEN ~ 10000`, session keys `sio:session:<pid>`) with connection
//! state recovery on (maxDisconnectionDuration 120 s, skipMiddlewares).
//! `GET`/`HEAD /health` answers 200; Socket.IO is served under `--path`
//! only, 404 elsewhere. `--cookie NAME` sets `NAME=<sid>; Path=/; HttpOnly;
//! SameSite=Lax` on the polling handshake. SIGTERM / SIGINT: close, exit 0.
//!
//! Handlers (`ack(x)`: one argument x; `ack()`: none; absent or empty
//! `rooms` / `except`: no filter): on connection, data = `{node, name:
//! auth.name or null}`, join every room of `auth.rooms` (a recovered
//! socket keeps the data and rooms it had instead); `whoami` ->
//! `ack(NAME)`; `join` room -> `ack()`; `emit` `{rooms, except, event,
//! args}` -> broadcast on every node, `ack()`; `fetch` `{rooms}` ->
//! `ack([{id, rooms sorted, data}] sorted by id)` or `ack({err})`; `sse`
//! args -> serverSideEmit `ping` args with a 5 s ack -> `ack({err,
//! responses sorted})`; `sockets-join` / `sockets-leave` `{rooms, room}` ->
//! `ack()`; `disconnect-sockets` `{rooms}` -> `ack()`; `ask` `{rooms}` ->
//! emit `question` NAME with a 3 s ack -> `ack({err, answers sorted})`;
//! server-side `ping` args -> answers `pong NAME <args as JSON>`.
//!
//! Beyond the issue's list (the Node twin has them too): the dynamic
//! namespaces `/dyn-<word>` (a parent namespace) have the same handlers,
//! each acting on its own namespace; `remote` `{rooms, op, event, args,
//! room}` fetches the sockets in `rooms` on every node and, on each of
//! those `RemoteSocket`s, `op` = `emit` (event, args), `join` / `leave`
//! (room) or `disconnect` (closing the connection) -> `ack(ids sorted)`
//! (for `disconnect` before acting) or `ack({err})`.
//! `--subscription-mode` picks the sharded adapter's `subscriptionMode`;
//! `--admin none` instruments the node for `@socket.io/admin-ui` on
//! `/admin` without authentication, server id NAME, `server_stats` every
//! 2 s.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use adapter_redis::{RedisAdapter, SubscriptionMode};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::body::Incoming;
use runtime_hyper::engineio_proto::CookieOptions;
use runtime_hyper::socketio_async::admin::{Admin, AdminOptions};
use runtime_hyper::socketio_async::{
    AckSender, BroadcastOperator, Event, Payload, ServerSideAck, Socket, SocketIo,
};
use runtime_hyper::socketio_proto::{Config, NamespaceMatcher, RecoveryConfig, Server};
use runtime_hyper::{
    ConnectionOptions, Driver, HttpResponse, Or, Route, Sockets, bind_std, serve, serve_io,
};
use serde_json::{Value, json};
use servers::{App, RuntimeKind};

const USAGE: &str = "usage: cluster-fixture --port P --redis redis://127.0.0.1:R --adapter classic|sharded|streams --name NAME [--runtime tokio|async-std|smol] [--cookie io] [--path /socket.io/] [--subscription-mode static|dynamic|dynamic-private] [--admin none]";

#[derive(Clone)]
struct Args {
    port: u16,
    redis: String,
    adapter: String,
    name: String,
    runtime: RuntimeKind,
    cookie: Option<String>,
    path: String,
    subscription_mode: SubscriptionMode,
    admin: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut redis = None;
    let mut adapter = None;
    let mut name = None;
    let mut runtime = RuntimeKind::Tokio;
    let mut cookie = None;
    let mut path = "/socket.io/".to_owned();
    let mut subscription_mode = SubscriptionMode::Dynamic;
    let mut admin = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--port" => {
                port = Some(
                    value()?
                        .parse::<u16>()
                        .map_err(|e| format!("--port: {e}"))?,
                )
            }
            "--redis" => redis = Some(value()?),
            "--adapter" => adapter = Some(value()?),
            "--name" => name = Some(value()?),
            "--runtime" => runtime = value()?.parse()?,
            "--cookie" => cookie = Some(value()?),
            "--path" => path = value()?,
            "--subscription-mode" => {
                subscription_mode = match value()?.as_str() {
                    "static" => SubscriptionMode::Static,
                    "dynamic" => SubscriptionMode::Dynamic,
                    "dynamic-private" => SubscriptionMode::DynamicPrivate,
                    other => return Err(format!("--subscription-mode {other:?}\n{USAGE}")),
                }
            }
            "--admin" => match value()?.as_str() {
                "none" => admin = true,
                other => return Err(format!("--admin {other:?}: only none\n{USAGE}")),
            },
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    Ok(Args {
        port: port.ok_or_else(|| missing("--port"))?,
        redis: redis.ok_or_else(|| missing("--redis"))?,
        adapter: adapter.ok_or_else(|| missing("--adapter"))?,
        name: name.ok_or_else(|| missing("--name"))?,
        runtime,
        cookie,
        path,
        subscription_mode,
        admin,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match args.adapter.as_str() {
        "classic" | "sharded" | "streams" => {}
        other => {
            eprintln!("--adapter {other:?}: classic, sharded or streams\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    servers::run(args.runtime, 2, Fixture(args))
}

struct Fixture(Args);

impl App for Fixture {
    async fn run<R: Sockets>(self, runtime: R) -> ExitCode {
        match start(runtime, self.0).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cluster-fixture: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

/// `GET` / `HEAD /health`: 200. It closes with the driver, so that the
/// accept loop stops on SIGTERM.
#[derive(Clone)]
struct Health<R: Sockets>(Driver<Server, R>);

impl<R: Sockets> Route for Health<R> {
    fn matches(&self, target: &str) -> bool {
        target == "/health" || target.starts_with("/health?")
    }

    async fn call(&self, request: http::Request<Incoming>, _: SocketAddr) -> HttpResponse {
        let ok = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
        let mut response =
            http::Response::new(Full::new(Bytes::from_static(if ok { b"ok" } else { b"" })));
        if !ok {
            *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        }
        response
    }

    fn closed(&self) -> impl Future<Output = ()> + Send {
        self.0.closed()
    }
}

async fn start<R: Sockets>(runtime: R, args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let io = SocketIo::new();
    let name = args.name.clone();
    io.on_connection(move |socket: Socket| on_connection(socket, name.clone()));
    let name = args.name.clone();
    let dynamic = NamespaceMatcher::Pattern(regex_lite::Regex::new(r"^/dyn-\w+$")?);
    io.of_dynamic(dynamic)
        .on_connection(move |socket: Socket| on_connection(socket, name.clone()));
    let name = args.name.clone();
    // The listener sees every server-side event: answer `ping` only.
    io.of("/").on_server_side(
        move |Event(event): Event, payload: Payload, ack: ServerSideAck| {
            let name = name.clone();
            async move {
                if &*event == "ping" {
                    let args = Value::Array(payload.args).to_string();
                    let _ = ack.send(format!("pong {name} {args}"));
                }
            }
        },
    );
    let adapter = match (args.adapter.as_str(), args.redis.contains(',')) {
        ("sharded", true) => RedisAdapter::sharded_cluster(args.redis.split(',')),
        ("sharded", false) => RedisAdapter::sharded(args.redis.clone()),
        ("streams", _) => RedisAdapter::streams(args.redis.clone()),
        _ => RedisAdapter::classic(args.redis.clone()),
    }
    .subscription_mode(args.subscription_mode);
    let admin = if args.admin {
        let options = AdminOptions {
            server_id: Some(args.name.clone()),
            ..AdminOptions::default()
        };
        Some(Admin::instrument(&io, options)?)
    } else {
        None
    };
    let mut config = Config::default();
    if args.adapter == "streams" {
        config.recovery = Some(RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            ..RecoveryConfig::default()
        });
    }
    config.engine.path = args.path.clone();
    if let Some(cookie) = &args.cookie {
        config.engine.cookie = Some(CookieOptions {
            name: cookie.clone(),
            ..CookieOptions::default()
        });
    }
    config.cluster = Some(adapter.cluster_config());
    let driver = serve_io(&io, config, runtime.clone());
    adapter.attach(&driver).await?;
    if let Some(admin) = admin {
        let (timer, closed) = (runtime.clone(), driver.clone());
        runtime.spawn(async move {
            while !closed.is_closed() {
                timer
                    .sleep_until(Instant::now() + Duration::from_secs(2))
                    .await;
                admin.emit_stats();
            }
        });
    }
    let listener = bind_std(SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    println!("listening {}", listener.local_addr()?.port());
    let listener = runtime.listener(listener)?;
    let closer = driver.clone();
    runtime.spawn(async move {
        if let Ok(mut signals) =
            async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])
        {
            if signals.next().await.is_some() {
                closer.close();
            }
        }
    });
    serve(
        runtime,
        Or(Health(driver.clone()), driver),
        listener,
        ConnectionOptions::default(),
    )
    .await;
    Ok(())
}

/// The rooms (and exceptions) of a request object, as an operator on the
/// socket's namespace.
fn select(socket: &Socket, request: &Value) -> BroadcastOperator {
    let mut op = socket.nsp_operator();
    for room in strings(request.get("rooms")) {
        op = op.to(&room);
    }
    for room in strings(request.get("except")) {
        op = op.except(&room);
    }
    op
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// JS `Array.prototype.sort` order: by the values' text.
fn sorted(mut values: Vec<Value>) -> Vec<Value> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    values.sort_by_key(text);
    values
}

async fn on_connection(socket: Socket, name: String) {
    let auth = &socket.handshake().auth;
    let client_name = auth.get("name").cloned().unwrap_or(Value::Null);
    let rooms = strings(auth.get("rooms"));
    if !socket.recovered() {
        let _ = socket.set_data(json!({"node": name, "name": client_name}));
        for room in rooms {
            socket.join(&room);
        }
    }
    let me = name.clone();
    socket.on("whoami", move |ack: Option<AckSender>| {
        let me = me.clone();
        async move {
            if let Some(ack) = ack {
                let _ = ack.send((me,));
            }
        }
    });
    socket.on(
        "join",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            if let Ok(room) = payload.arg::<String>(0) {
                socket.join(&room);
            }
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
        },
    );
    socket.on(
        "emit",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let request = payload.args.first().cloned().unwrap_or(Value::Null);
            let event = request.get("event").and_then(Value::as_str).unwrap_or("");
            let args = request
                .get("args")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let out = Payload {
                args,
                binary: payload.binary.clone(),
            };
            let _ = select(&socket, &request).emit_payload(event, out);
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
        },
    );
    socket.on(
        "fetch",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let request = payload.args.first().cloned().unwrap_or(Value::Null);
            let answer = match select(&socket, &request).fetch_sockets().await {
                Ok(list) => {
                    let mut list: Vec<Value> = list
                        .into_iter()
                        .map(|s| {
                            let mut rooms: Vec<String> =
                                s.rooms.iter().map(|r| r.to_string()).collect();
                            rooms.sort();
                            json!({"id": s.id.as_str(), "rooms": rooms, "data": s.data})
                        })
                        .collect();
                    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                    Value::Array(list)
                }
                Err(e) => json!({"err": e.to_string()}),
            };
            if let Some(ack) = ack {
                let _ = ack.send((answer,));
            }
        },
    );
    socket.on(
        "sse",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let answer = match socket
                .io()
                .server_side_emit_payload_with_ack::<Value>("ping", payload, Duration::from_secs(5))
                .await
            {
                Ok(responses) => json!({"err": null, "responses": sorted(responses)}),
                // As Node's callback: the error and the answers that came.
                Err(e) => json!({"err": e.error.to_string(), "responses": sorted(e.answers)}),
            };
            if let Some(ack) = ack {
                let _ = ack.send((answer,));
            }
        },
    );
    for (event, join) in [("sockets-join", true), ("sockets-leave", false)] {
        socket.on(
            event,
            move |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
                let request = payload.args.first().cloned().unwrap_or(Value::Null);
                if let Some(room) = request.get("room").and_then(Value::as_str) {
                    let op = select(&socket, &request);
                    let _ = if join {
                        op.sockets_join(room)
                    } else {
                        op.sockets_leave(room)
                    };
                }
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            },
        );
    }
    socket.on(
        "disconnect-sockets",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let request = payload.args.first().cloned().unwrap_or(Value::Null);
            // Answer first: this socket may be one of those disconnected.
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
            let _ = select(&socket, &request).disconnect_sockets(true);
        },
    );
    socket.on(
        "remote",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let request = payload.args.first().cloned().unwrap_or(Value::Null);
            let field = |k: &str| {
                request
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let (op, event, room) = (field("op"), field("event"), field("room"));
            let sockets = match select(&socket, &request).fetch_sockets().await {
                Ok(list) => list,
                Err(e) => {
                    if let Some(ack) = ack {
                        let _ = ack.send((json!({"err": e.to_string()}),));
                    }
                    return;
                }
            };
            let mut ids: Vec<String> = sockets.iter().map(|s| s.id.to_string()).collect();
            ids.sort();
            let mut ack = ack;
            if op == "disconnect" {
                // Answer first: this socket may be one of those disconnected.
                if let Some(ack) = ack.take() {
                    let _ = ack.send((ids.clone(),));
                }
            }
            let args = request
                .get("args")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for remote in &sockets {
                let _ = match op.as_str() {
                    "emit" => remote.emit_payload(
                        &event,
                        Payload {
                            args: args.clone(),
                            binary: payload.binary.clone(),
                        },
                    ),
                    "join" => remote.join(room.as_str()),
                    "leave" => remote.leave(room.as_str()),
                    "disconnect" => remote.disconnect(true),
                    _ => Ok(()),
                };
            }
            if let Some(ack) = ack {
                let _ = ack.send((ids,));
            }
        },
    );
    socket.on(
        "ask",
        move |socket: Socket, payload: Payload, ack: Option<AckSender>| {
            let name = name.clone();
            async move {
                let request = payload.args.first().cloned().unwrap_or(Value::Null);
                let answer = match select(&socket, &request)
                    .timeout(Duration::from_secs(3))
                    .emit_with_ack::<Value>("question", name)
                    .await
                {
                    Ok(answers) => json!({"err": null, "answers": sorted(answers)}),
                    // As the Node fixture: the error only (the answers that
                    // came are in `e.answers`).
                    Err(e) => json!({"err": e.error.to_string(), "answers": []}),
                };
                if let Some(ack) = ack {
                    let _ = ack.send((answer,));
                }
            }
        },
    );
}
