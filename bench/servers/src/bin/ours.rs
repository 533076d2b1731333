//! Our server for the benchmark, on any of the three runtimes.
//!
//! ```text
//! bench-ours --runtime tokio|async-std|smol --port 0 [--workers N] [--nodelay on|off]
//!            [--ping-interval-ms N] [--ping-timeout-ms N]
//! ```
//!
//! The runtime is started by `servers::run` (the same startup the
//! conformance fixture and the interop server use); the handlers and the
//! config (`bench_servers::ours`) are the same on each.

use std::net::SocketAddr;
use std::process::ExitCode;

use bench_servers::{Args, announce, ours, raise_fd_limit};
use runtime_hyper::{ConnectionOptions, Runtime, bind_std, serve, serve_io};
use servers::{App, RuntimeKind};

struct Bench {
    args: Args,
}

impl App for Bench {
    async fn run<R: Runtime>(self, runtime: R) -> ExitCode {
        let io = ours::app();
        let driver = serve_io(&io, ours::config(&self.args), runtime.clone());
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
        serve(runtime, driver, listener.0, options).await;
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
