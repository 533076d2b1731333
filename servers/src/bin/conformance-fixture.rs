//! The conformance fixture the official protocol test suites expect (see the
//! repository's docs/protocol.md): on one port, `/engine.io/` is a bare Engine.IO v4
//! server that echoes every message, text and binary; `/socket.io/` is a
//! Socket.IO server with namespaces `/` and `/custom` that emits `auth` on
//! connection, echoes `message` as `message-back` and acknowledges
//! `message-with-ack` with its own arguments.
//!
//! Handlers that misbehave, to show they harm no one else (in `/` and
//! `/custom`): event `panic` emits `about-to-panic` to its client, then
//! panics before its first `.await`; `panic-async` does the same after an
//! `.await`; `block` with a number of milliseconds blocks its thread that
//! long (`std::thread::sleep`), then acknowledges `"unblocked"`. The
//! socket of a panicking handler stays connected. Namespace `/panic` has a
//! connection middleware that panics: its clients get a CONNECT_ERROR
//! (`Internal server error`). Every handshake response of `/socket.io/`
//! carries `x-clients-count: N`, the number of Engine.IO sessions, read by
//! the engine's headers hook.
//!
//! ```text
//! cargo run --release --bin conformance-fixture -- --runtime tokio --port 3000 [--host ADDR]
//! ```
//!
//! `--serve-client DIR` also serves the browser client bundle (the `dist`
//! directory of npm's `socket.io-client`) under `/socket.io/`, as the
//! official server's `serveClient` does.
//!
//! `--parser msgpack` makes `/socket.io/` speak npm `socket.io-msgpack-parser`
//! (same handlers); `--no-http-compression` turns off the gzip / deflate of
//! long-poll responses on both paths (on by default, as in Node);
//! `--per-message-deflate` turns on WebSocket compression on both paths
//! (off by default).
//! With `--tls-cert FILE --tls-key FILE` it serves HTTPS and WSS on its
//! port; `--tls-client-ca FILE` then requires client certificates signed
//! by those CAs (event `peer-cert` is acknowledged with the client
//! certificate's subject CN); `--http2` offers HTTP/2 beside HTTP/1.1
//! (ALPN); `--tls-handshake-timeout-ms` bounds the handshake. `GET /health`
//! answers 200.
//!
//! `--admin USER:PASSWORD` instruments the server for the admin dashboard
//! (`@socket.io/admin-ui`) on namespace `/admin`, with basic
//! authentication (the password is bcrypt-hashed at start, cost 4);
//! `--admin none` without authentication; `--admin-readonly` takes the
//! dashboard's commands away. `server_stats` goes out every 2 seconds.
//! Event `set-data` sets the socket's data to its argument (what the
//! dashboard sees as `socket_updated`) and acknowledges with no argument;
//! event `broadcast-all` broadcasts its arguments as event `broadcast` to
//! the whole namespace, the sender included (`event_sent` per recipient).
//! `--connect-timeout-ms MS` changes the Socket.IO connect timeout (1 s by
//! default, as the conformance suite expects).
//!
//! `--runtime` is `tokio`, `async-std` or `smol`: the same fixture, the
//! same handlers, on each binding. Without `--host` it listens on the
//! loopback addresses, IPv4 and IPv6, so `localhost` reaches it whichever
//! way it resolves.
//!
//! It runs its tasks on one thread by default (`--workers 1`), like the
//! Node server the suites were written against: the suites send on two
//! connections back to back (a WebSocket `5` then a poll, a poll then a `1`
//! POST) and expect them handled in that order, which only one event loop
//! promises. `--workers N` runs N worker threads (tokio's multi-thread
//! scheduler, async-std's global executor sized to N, or N threads running
//! one smol executor).

#[path = "shared/echo.rs"]
mod echo;

use socketio_async::{AckSender, Payload};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use runtime_hyper::engineio_proto::{Config, Cors, Event, Message, PerMessageDeflate, Server};
use runtime_hyper::socketio_async::admin::{Admin, AdminOptions, BasicAuth};
use runtime_hyper::socketio_async::{Socket, SocketIo};
use runtime_hyper::socketio_proto::MsgpackParser;
use runtime_hyper::{ClientBundle, ConnectionOptions, Driver, Or, Sockets, bind_std, serve_io};
use servers::{App, Health, RuntimeKind, TlsArgs};

const USAGE: &str = "usage: conformance-fixture [--runtime tokio|async-std|smol] [--port PORT] [--host ADDR] [--workers N] [--serve-client DIR] [--admin USER:PASSWORD|none] [--admin-readonly] [--parser json|msgpack] [--no-http-compression] [--per-message-deflate] [--connect-timeout-ms MS] [--verbose] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE] [--http2] [--tls-handshake-timeout-ms MS]]";

struct Args {
    runtime: RuntimeKind,
    port: u16,
    host: Option<IpAddr>,
    workers: usize,
    serve_client: Option<std::path::PathBuf>,
    /// `Some(None)`: admin without authentication.
    admin: Option<Option<(String, String)>>,
    admin_readonly: bool,
    verbose: bool,
    msgpack: bool,
    no_http_compression: bool,
    per_message_deflate: bool,
    /// The Socket.IO connect timeout (1 s by default, as the conformance
    /// suite expects).
    connect_timeout: Duration,
    tls: TlsArgs,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        runtime: RuntimeKind::Tokio,
        port: 3000,
        host: None,
        workers: 1,
        serve_client: None,
        admin: None,
        admin_readonly: false,
        verbose: false,
        msgpack: false,
        no_http_compression: false,
        per_message_deflate: false,
        connect_timeout: Duration::from_millis(1000),
        tls: TlsArgs::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--runtime" => args.runtime = value()?.parse()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => args.host = Some(value()?.parse().map_err(|e| format!("--host: {e}"))?),
            "--workers" => {
                args.workers = value()?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--workers: a number above 0")?;
            }
            "--serve-client" => args.serve_client = Some(value()?.into()),
            "--admin" => {
                let value = value()?;
                args.admin = Some(match value.split_once(':') {
                    _ if value == "none" => None,
                    Some((user, password)) => Some((user.to_owned(), password.to_owned())),
                    None => return Err(format!("--admin: USER:PASSWORD or none\n{USAGE}")),
                });
            }
            "--admin-readonly" => args.admin_readonly = true,
            "--verbose" => args.verbose = true,
            "--parser" => {
                args.msgpack = match value()?.as_str() {
                    "json" => false,
                    "msgpack" => true,
                    other => return Err(format!("--parser: json or msgpack, not {other:?}")),
                }
            }
            "--no-http-compression" => args.no_http_compression = true,
            "--per-message-deflate" => args.per_message_deflate = true,
            "--connect-timeout-ms" => {
                let ms = value()?
                    .parse()
                    .map_err(|e| format!("--connect-timeout-ms: {e}"))?;
                args.connect_timeout = Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if args.tls.parse_flag(flag, &mut value)? => {}
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// The `/engine.io/` server of the fixture.
fn engine_config() -> Result<Config, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no OS randomness: {e}"))?;
    Ok(Config {
        path: "/engine.io".into(),
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_http_buffer_size: 1_000_000,
        cors: Some(Cors::default()),
        allow_eio3: false,
        seed,
        ..Config::default()
    })
}

/// The `/socket.io/` server of the fixture.
fn socketio_config(seed: [u8; 32]) -> runtime_hyper::socketio_proto::Config {
    let mut config = runtime_hyper::socketio_proto::Config::default();
    config.engine.ping_interval = Duration::from_millis(300);
    config.engine.ping_timeout = Duration::from_millis(200);
    config.engine.max_http_buffer_size = 1_000_000;
    config.engine.cors = Some(Cors::default());
    config.engine.allow_eio3 = false;
    config.engine.seed = seed;
    config.connect_timeout = Duration::from_millis(1000);
    config
}

/// The fixture's behaviour in `/` and `/custom`.
async fn on_connection(socket: Socket) {
    let auth = serde_json::Value::Object(socket.handshake().auth.clone());
    let _ = socket.emit("auth", (auth,));
    echo::echo(&socket, "message", "message-back");
    echo::ack_echo(&socket, "message-with-ack");
    // A broadcast to the whole namespace, the sender included (the admin
    // dashboard's `event_sent` for each recipient).
    socket.on(
        "broadcast-all",
        |socket: Socket, payload: Payload| async move {
            let _ = socket.nsp_operator().emit_payload("broadcast", payload);
        },
    );
    socket.on(
        "set-data",
        |socket: Socket, payload: Payload, ack: Option<AckSender>| async move {
            let _ = socket.set_data(payload.args.into_iter().next().unwrap_or_default());
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
        },
    );
    // Over TLS with --tls-client-ca: the client certificate's subject CN.
    socket.on(
        "peer-cert",
        |socket: Socket, ack: Option<AckSender>| async move {
            let cn = socket
                .conn()
                .peer_certificate()
                .and_then(|der| servers::subject_common_name(der));
            if let Some(ack) = ack {
                let _ = ack.send((cn,));
            }
        },
    );
    misbehave(&socket);
}

/// The handlers that panic or block.
fn misbehave(socket: &Socket) {
    socket.on("panic", |socket: Socket| async move {
        let _ = socket.emit("about-to-panic", ());
        panic!("the fixture's `panic` handler panics, as asked");
    });
    socket.on("panic-async", |socket: Socket| async move {
        let _ = socket.emit("about-to-panic", ());
        YieldOnce(false).await;
        panic!("the fixture's `panic-async` handler panics after an await, as asked");
    });
    socket.on(
        "block",
        |payload: Payload, ack: Option<AckSender>| async move {
            let ms: u64 = payload.arg(0).unwrap_or(0);
            // Blocks the worker thread on purpose: only this socket may wait.
            std::thread::sleep(Duration::from_millis(ms.min(60_000)));
            if let Some(ack) = ack {
                let _ = ack.send(("unblocked",));
            }
        },
    );
}

/// Pending once (waking itself), then ready: an `.await` that suspends on
/// any runtime.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Echoes every message back to its session.
fn echo(server: &mut Server, _now: Instant, event: Event) {
    if let Event::Message { sid, data } = event {
        // The session may be gone or closing; then there is no one to echo to.
        let _ = server.send(&sid, Message::from_data(&data));
    }
}

/// One line per event on stderr (`--verbose`), for debugging a suite run.
fn log_event(at: Duration, event: &Event) {
    let at = at.as_secs_f64();
    match event {
        Event::Open { sid, handshake } => {
            eprintln!("{at:.3} open {sid} {}", handshake.transport.name());
        }
        Event::Message { sid, data } => eprintln!("{at:.3} message {sid} {data:?}"),
        Event::Upgrading { sid } => eprintln!("{at:.3} upgrading {sid}"),
        Event::Upgrade { sid } => eprintln!("{at:.3} upgrade {sid}"),
        Event::Close {
            sid,
            reason,
            description,
        } => eprintln!("{at:.3} close {sid} {reason} {description:?}"),
        Event::ConnectionError(e) => {
            eprintln!("{at:.3} connection error {} {:?}", e.request.uri, e.context);
        }
        Event::AllowRequest { head, .. } => eprintln!("{at:.3} allow request {}", head.uri),
        Event::Packet { sid, packet } => eprintln!("{at:.3} packet {sid} {packet:?}"),
        Event::PacketCreate { sid, packet } => eprintln!("{at:.3} packet create {sid} {packet:?}"),
        Event::Drain { sid } => eprintln!("{at:.3} drain {sid}"),
        other => eprintln!("{at:.3} {other:?}"),
    }
}

fn main() -> ExitCode {
    // The fixture panics on purpose (`panic`, `panic-async`, `/panic`): one
    // line each on stderr, without the backtrace `RUST_BACKTRACE` would
    // capture. Resolving one takes seconds, during which the worker that
    // panicked runs nothing else: on tokio, the tasks it woke just before
    // (the socket's own writer, with `about-to-panic`) wait in its slot.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    servers::run(args.runtime, args.workers, Fixture(args))
}

/// The fixture, on whichever runtime `main` started.
struct Fixture(Args);

impl App for Fixture {
    async fn run<R: Sockets>(self, runtime: R) -> ExitCode {
        let args = self.0;
        let bundle = match args.serve_client.as_deref().map(ClientBundle::from_dir) {
            None => None,
            Some(Ok(bundle)) => Some(bundle),
            Some(Err(e)) => {
                eprintln!("--serve-client: {e}");
                return ExitCode::FAILURE;
            }
        };
        let config = match engine_config() {
            Ok(mut config) => {
                if args.no_http_compression {
                    config.http_compression = None;
                }
                if args.per_message_deflate {
                    config.per_message_deflate = Some(PerMessageDeflate::default());
                }
                config
            }
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        };
        let driver = if args.verbose {
            let start = Instant::now();
            Driver::with_runtime(
                runtime.clone(),
                Server::new(config),
                move |server: &mut Server, now, event| {
                    log_event(now - start, &event);
                    echo(server, now, event);
                },
            )
        } else {
            Driver::with_runtime(runtime.clone(), Server::new(config), echo)
        };

        let hosts = match args.host {
            Some(host) => vec![host],
            None => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
        };
        let mut listeners = Vec::new();
        for host in hosts {
            let addr = SocketAddr::new(host, args.port);
            match bind_std(addr).and_then(|l| Ok((l.local_addr()?, runtime.listener(l)?))) {
                Ok(listener) => listeners.push(listener),
                // A machine without IPv6 still serves the IPv4 loopback.
                Err(e) if args.host.is_none() && host.is_ipv6() && !listeners.is_empty() => {
                    eprintln!("not listening on {addr}: {e}");
                }
                Err(e) => {
                    eprintln!("cannot listen on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        for (addr, _) in &listeners {
            eprintln!(
                "conformance fixture ({}, {} worker(s)) listening on {addr}",
                args.runtime.name(),
                args.workers
            );
        }
        let io = SocketIo::new();
        io.of("/").on_connection(on_connection);
        io.of("/custom").on_connection(on_connection);
        io.of("/panic").use_middleware(|_| async {
            if true {
                panic!("the fixture's `/panic` middleware panics, as asked");
            }
            Ok(())
        });
        let admin = match args.admin {
            None => None,
            Some(auth) => {
                let auth = match auth {
                    None => None,
                    Some((user, password)) => match BasicAuth::with_password(user, &password, 4) {
                        Ok(auth) => Some(auth),
                        Err(e) => {
                            eprintln!("--admin: {e}");
                            return ExitCode::FAILURE;
                        }
                    },
                };
                let options = AdminOptions {
                    auth,
                    readonly: args.admin_readonly,
                    ..AdminOptions::default()
                };
                match Admin::instrument(&io, options) {
                    Ok(admin) => Some(admin),
                    Err(e) => {
                        eprintln!("--admin: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        };
        if let Some(admin) = admin {
            let timer = runtime.clone();
            runtime.spawn(async move {
                loop {
                    timer
                        .sleep_until(Instant::now() + Duration::from_secs(2))
                        .await;
                    admin.emit_stats();
                }
            });
        }
        let engine = io.engine();
        let count = engine.clone();
        engine.on_headers(move |headers, request| {
            if !request.query_string().contains("sid=") {
                headers.insert("x-clients-count", count.clients_count().to_string());
            }
        });
        let mut config = socketio_config(runtime_hyper::random_seed());
        config.connect_timeout = args.connect_timeout;
        if args.msgpack {
            config.parser = std::sync::Arc::new(MsgpackParser::default());
        }
        if args.no_http_compression {
            config.engine.http_compression = None;
        }
        if args.per_message_deflate {
            config.engine.per_message_deflate = Some(PerMessageDeflate::default());
        }
        let sio = serve_io(&io, config, runtime.clone());
        if let Some(bundle) = bundle {
            let _ = sio.serve_client(bundle);
        }
        let route = Or(Or(driver, sio), Health);
        let tls = match args.tls.options().and_then(|o| {
            o.map(|o| o.acceptor().map_err(|e| e.to_string()))
                .transpose()
        }) {
            Ok(tls) => tls,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        };
        for (_, listener) in listeners {
            let options = ConnectionOptions::default();
            match &tls {
                Some(tls) => runtime.spawn(runtime_hyper::serve_tls(
                    runtime.clone(),
                    route.clone(),
                    listener,
                    options,
                    tls.clone(),
                )),
                None => runtime.spawn(runtime_hyper::serve(
                    runtime.clone(),
                    route.clone(),
                    listener,
                    options,
                )),
            }
        }
        // The accept loops run forever.
        std::future::pending().await
    }
}
