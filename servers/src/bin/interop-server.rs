//! The server the interop tests (`tests/interop`, official JavaScript
//! client) talk to. It prints `listening <port>` once ready.
//!
//! ```text
//! cargo run --release --bin interop-server -- --port 0 [--runtime tokio|async-std|smol] [--workers N]
//!     [--parser json|msgpack] [--no-http-compression] [--per-message-deflate]
//!     [--name NAME] [--path /socket.io/] [--cookie NAME] [--cors-origin ORIGIN]
//!     [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE] [--http2]]
//! ```
//!
//! The handlers are the same on every runtime; `--workers` (default 2)
//! sets the worker threads. For the deployment tests (tests/deploy, a
//! single-process node behind each reverse proxy): `--name` is what event
//! `whoami` is acknowledged with, `--path` the Socket.IO path (`/socket.io/`
//! by default; nothing else is served but `/health`), `--cookie` sets the
//! sticky-session cookie of that name on the polling handshake (`Path=/;
//! HttpOnly; SameSite=Lax`), `--cors-origin` allows that origin with
//! credentials; the TLS flags are the conformance fixture's. `GET /health`
//! answers 200. With `INTEROP_LOG_ERRORS` set in the environment, every
//! refused request (Engine.IO `connection_error`) is logged on stderr.
//! Namespace `/typed` (shared/typed.rs) is written with the handler
//! API's extractors, for tests/interop/typed.test.mjs.
//! `--parser msgpack` speaks npm `socket.io-msgpack-parser`;
//! `--no-http-compression` turns off the gzip / deflate of long-poll
//! responses (on by default, as in Node); `--per-message-deflate` turns on
//! WebSocket compression (off by default).

#[path = "shared/echo.rs"]
mod echo;
#[path = "shared/typed.rs"]
mod typed;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::process::ExitCode;

use runtime_hyper::engineio_proto::{CookieOptions, Cors, CorsOrigin};
use runtime_hyper::{ConnectionOptions, Or, Sockets, bind_std, serve, serve_io};
use runtime_tokio::engineio_proto::PerMessageDeflate;
use runtime_tokio::socketio_async::{
    AckSender, ConnectError, Data, DisconnectReason, ErrorMessage, NamespaceMatcher, Payload,
    Socket, SocketIo,
};
use runtime_tokio::socketio_proto::{Config, MsgpackParser, RecoveryConfig};
use serde_json::{Value, json};
use servers::{App, Health, RuntimeKind, TlsArgs};

async fn on_connection(socket: Socket) {
    let auth = Value::Object(socket.handshake().auth.clone());
    let _ = socket.emit("auth", (auth, socket.recovered()));
    echo::echo(&socket, "echo", "echo");
    echo::ack_echo(&socket, "echo-ack");
    // The server asks the client and reports what came back.
    socket.on(
        "ask",
        |socket: Socket, Data(ms): Data<Option<u64>>| async move {
            let timeout = Duration::from_millis(ms.unwrap_or(1000));
            let question = Payload::new("?").unwrap_or_default();
            match socket
                .timeout(timeout)
                .emit_payload_with_ack("question", question)
                .await
            {
                Ok(answer) => {
                    let _ = socket.emit("answer", (Value::Array(answer.args),));
                }
                Err(e) => {
                    let _ = socket.emit("answer-error", (e.to_string(),));
                }
            }
        },
    );
    socket.on(
        "join",
        |socket: Socket, Data(room): Data<Option<String>>, ack: Option<AckSender>| async move {
            if let Some(room) = room {
                socket.join(room);
            }
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
        },
    );
    socket.on(
        "to-room",
        |socket: Socket, Data((room, text)): Data<(String, String)>| async move {
            let _ = socket.to(room).emit("room-msg", text);
        },
    );
    socket.on(
        "all-except",
        |socket: Socket, Data((room, text)): Data<(String, String)>| async move {
            let _ = socket.io().except(room).emit("except-msg", text);
        },
    );
    // Echoed with the `compress` flag off: never compressed.
    socket.on(
        "echo-plain",
        |socket: Socket, payload: Payload| async move {
            let _ = socket
                .io()
                .to(socket.id().as_str())
                .compress(false)
                .emit_payload("echo-plain", payload);
        },
    );
    socket.on(
        "disconnect-me",
        |socket: Socket, Data(close): Data<Option<bool>>| async move {
            socket.disconnect(close.unwrap_or(false));
        },
    );
    socket.on(
        "broadcast-many",
        |socket: Socket, Data(n): Data<u64>| async move {
            for i in 0..n {
                let _ = socket.io().to("recovery").emit("seq", i);
            }
        },
    );
    // Emits `count` events of `size` bytes as fast as the queue takes
    // them; a client that does not read is closed at the queue limit.
    socket.on(
        "flood",
        |socket: Socket, Data((count, size)): Data<(u64, usize)>| async move {
            let filler = "x".repeat(size);
            for i in 0..count {
                if socket.emit("flood", (i, filler.as_str())).is_err() {
                    break;
                }
            }
        },
    );
    socket.on(
        "rooms",
        |socket: Socket, ack: Option<AckSender>| async move {
            let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
            rooms.sort();
            if let Some(ack) = ack {
                let _ = ack.send(rooms);
            }
        },
    );
    // Every client in the socket's namespace gets one event (the load
    // test's broadcast).
    socket.on(
        "broadcast",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let nsp = socket.io().of(socket.nsp());
            let reached = nsp.local().emit_payload("broadcast", payload);
            if let Some(ack) = ack {
                let _ = ack.send((reached.unwrap_or(0),));
            }
        },
    );
    socket.on_error(
        |socket: Socket, ErrorMessage(message): ErrorMessage| async move {
            let _ = socket
                .io()
                .emit("socket-error", (socket.id().as_str(), message));
        },
    );
    let conn_socket = socket.clone();
    socket.conn().on_upgrade(move |transport| {
        let _ = conn_socket.emit("conn-upgrade", (transport.name(),));
    });
    socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move {
        let _ = socket
            .io()
            .emit("left", (socket.id().as_str(), reason.as_str()));
    });
}

/// The Engine.IO hooks the interop tests check: `allowRequest` refuses
/// handshakes with `deny` in the query, every response carries
/// `x-interop: 1`, and refused requests are counted (event `stats`).
/// Event `whoami` is acknowledged with the node's `name`.
fn engine_hooks(io: &SocketIo, name: String) {
    io.allow_request(|request| async move {
        if request.query_pairs().iter().any(|(k, _)| k == "deny") {
            Err("denied by allowRequest".to_owned())
        } else {
            Ok(())
        }
    });
    io.engine()
        .on_headers(|headers, _| headers.insert("x-interop", "1"));
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    let log_errors = std::env::var_os("INTEROP_LOG_ERRORS").is_some();
    io.engine().on_connection_error(move |error| {
        if log_errors {
            eprintln!(
                "connection error {} {} {:?} {}",
                error.code as u8, error.message, error.context, error.request.uri
            );
        }
        counter.fetch_add(1, Ordering::Relaxed);
    });
    io.on_connection(move |socket: Socket| {
        let refused = refused.clone();
        let name = name.clone();
        async move {
            socket.on("whoami", move |ack: Option<AckSender>| {
                let name = name.clone();
                async move {
                    if let Some(ack) = ack {
                        let _ = ack.send((name,));
                    }
                }
            });
            socket.on("stats", move |socket: Socket, ack: Option<AckSender>| {
                let refused = refused.load(Ordering::Relaxed);
                async move {
                    let clients = socket.io().engine().clients_count();
                    if let Some(ack) = ack {
                        let _ = ack.send((json!({ "clients": clients, "refused": refused }),));
                    }
                }
            });
            on_connection(socket).await;
        }
    });
}

/// Milliseconds from environment variable `name`, or `default`.
fn env_ms(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Args {
    port: u16,
    runtime: RuntimeKind,
    workers: usize,
    options: Options,
    deploy: Deploy,
}

/// What the flags change in the server's configuration.
#[derive(Clone, Copy, Default)]
struct Options {
    msgpack: bool,
    no_http_compression: bool,
    per_message_deflate: bool,
}

/// The deployment options (see the top of the file).
#[derive(Default)]
struct Deploy {
    name: String,
    path: Option<String>,
    cookie: Option<String>,
    cors_origin: Option<String>,
    tls: TlsArgs,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut parsed = Args {
        port: 0,
        runtime: RuntimeKind::Tokio,
        workers: 2,
        options: Options::default(),
        deploy: Deploy {
            name: "node".into(),
            ..Deploy::default()
        },
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => parsed.port = value()?.parse()?,
            "--runtime" => parsed.runtime = value()?.parse()?,
            "--workers" => parsed.workers = value()?.parse()?,
            "--parser" => {
                parsed.options.msgpack = match value()?.as_str() {
                    "json" => false,
                    "msgpack" => true,
                    other => return Err(format!("--parser: json or msgpack, not {other:?}").into()),
                }
            }
            "--no-http-compression" => parsed.options.no_http_compression = true,
            "--per-message-deflate" => parsed.options.per_message_deflate = true,
            "--name" => parsed.deploy.name = value()?,
            "--path" => parsed.deploy.path = Some(value()?),
            "--cookie" => parsed.deploy.cookie = Some(value()?),
            "--cors-origin" => parsed.deploy.cors_origin = Some(value()?),
            flag if parsed.deploy.tls.parse_flag(flag, &mut value)? => {}
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(args) => servers::run(
            args.runtime,
            args.workers,
            Interop {
                port: args.port,
                options: args.options,
                deploy: args.deploy,
            },
        ),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// The interop server, on whichever runtime `main` started.
struct Interop {
    port: u16,
    options: Options,
    deploy: Deploy,
}

impl App for Interop {
    async fn run<R: Sockets>(self, runtime: R) -> ExitCode {
        match start(runtime, self.port, self.options, self.deploy).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    }
}

async fn start<R: Sockets>(
    runtime: R,
    port: u16,
    options: Options,
    deploy: Deploy,
) -> Result<(), Box<dyn std::error::Error>> {
    let io = SocketIo::builder()
        .with_state(typed::Stats::default())
        .build();
    io.use_middleware(|c| async move {
        match c.handshake.auth.get("token") {
            Some(Value::String(t)) if t == "bad" => Err(ConnectError::with_data(
                "not authorized",
                json!({ "reason": "bad token" }),
            )),
            _ => Ok(()),
        }
    });
    engine_hooks(&io, deploy.name.clone());
    io.of("/custom").on_connection(on_connection);
    typed::register(&io);
    let pattern = regex_lite::Regex::new(r"^/dyn-\d+$")?;
    io.of_dynamic(NamespaceMatcher::Pattern(pattern))
        .on_connection(|socket: Socket| async move {
            let nsp = socket.nsp().to_owned();
            let _ = socket.emit("nsp", (nsp,));
        });
    let mut config = Config::default();
    // Short heartbeats keep the timeout tests fast; the load test, whose
    // single Node process runs a thousand clients, asks for longer ones.
    config.engine.ping_interval = Duration::from_millis(env_ms("INTEROP_PING_INTERVAL_MS", 500));
    config.engine.ping_timeout = Duration::from_millis(env_ms("INTEROP_PING_TIMEOUT_MS", 400));
    config.recovery = Some(RecoveryConfig::default());
    // Small limits, so that the bad-input tests cross them quickly.
    config.engine.max_http_buffer_size = 100_000;
    config.engine.max_buffered_bytes = 1 << 20;
    if options.msgpack {
        config.parser = Arc::new(MsgpackParser::default());
    }
    if options.no_http_compression {
        config.engine.http_compression = None;
    }
    if options.per_message_deflate {
        config.engine.per_message_deflate = Some(PerMessageDeflate::default());
    }
    if let Some(path) = &deploy.path {
        config.engine.path = path.trim_end_matches('/').to_owned();
    }
    if let Some(name) = deploy.cookie {
        config.engine.cookie = Some(CookieOptions {
            name,
            ..CookieOptions::default()
        });
    }
    if let Some(origin) = deploy.cors_origin {
        config.engine.cors = Some(Cors {
            origin: CorsOrigin::Exact(origin),
            credentials: true,
            ..Cors::default()
        });
    }
    let tls = deploy.tls.options()?.map(|o| o.acceptor()).transpose()?;
    let route = Or(serve_io(&io, config, runtime.clone()), Health);
    let listener = bind_std(SocketAddr::from(([127, 0, 0, 1], port)))?;
    println!("listening {}", listener.local_addr()?.port());
    let listener = runtime.listener(listener)?;
    let options = ConnectionOptions::default();
    match tls {
        Some(tls) => runtime_hyper::serve_tls(runtime, route, listener, options, tls).await,
        None => serve(runtime, route, listener, options).await,
    }
    Ok(())
}
