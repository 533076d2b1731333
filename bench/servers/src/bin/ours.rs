//! Our server for the benchmark, on any of the three runtimes.
//!
//! ```text
//! bench-ours --runtime tokio|async-std|smol --port 0 [--workers N] [--nodelay on|off]
//!            [--ping-interval-ms N] [--ping-timeout-ms N]
//!            [--per-message-deflate off|on|takeover] [--parser json|msgpack]
//!            [--tls-cert FILE --tls-key FILE] [--redis redis://HOST:PORT]
//! ```
//!
//! `--tls-cert`/`--tls-key` serve HTTPS and WSS (rustls) on the port;
//! `--redis` attaches the classic Redis adapter (`adapter-redis`, key
//! `socket.io`) before announcing the port, so that two nodes on one Redis
//! share room `all`.
//!
//! The runtime is started by `servers::run` (the same startup the
//! conformance fixture and the interop server use); the handlers and the
//! config (`bench_servers::ours`) are the same on each.

use std::net::SocketAddr;
use std::process::ExitCode;

use adapter_redis::RedisAdapter;
use bench_servers::{Args, announce, ours, raise_fd_limit};
use runtime_hyper::{ConnectionOptions, Sockets, bind_std, serve, serve_io, serve_tls};
use servers::{App, RuntimeKind};

struct Bench {
    args: Args,
}

impl App for Bench {
    async fn run<R: Sockets>(self, runtime: R) -> ExitCode {
        let io = ours::app();
        let mut config = ours::config(&self.args);
        let adapter = self.args.redis.clone().map(RedisAdapter::classic);
        if let Some(adapter) = &adapter {
            config.cluster = Some(adapter.cluster_config());
        }
        let driver = serve_io(&io, config, runtime.clone());
        if let Some(adapter) = adapter
            && let Err(e) = adapter.attach(&driver).await
        {
            eprintln!("redis adapter: {e}");
            return ExitCode::FAILURE;
        }
        let tls = match self.args.tls.options().and_then(|o| {
            o.map(|o| o.acceptor().map_err(|e| e.to_string()))
                .transpose()
        }) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("tls: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listener =
            match bind_std(SocketAddr::from(([127, 0, 0, 1], self.args.port))).and_then(|l| {
                let port = l.local_addr()?.port();
                Ok((runtime.listener(l)?, port))
            }) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("cannot listen: {e}");
                    return ExitCode::FAILURE;
                }
            };
        announce(listener.1);
        let options = ConnectionOptions {
            nodelay: self.args.nodelay,
        };
        match tls {
            Some(tls) => serve_tls(runtime, driver, listener.0, options, tls).await,
            None => serve(runtime, driver, listener.0, options).await,
        }
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    raise_fd_limit();
    let kind: RuntimeKind = match args.runtime.parse() {
        Ok(kind) => kind,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let workers = args.workers;
    servers::run(kind, workers, Bench { args })
}
