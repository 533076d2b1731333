//! socketioxide (crates.io) for the benchmark, served by hyper, with its
//! defaults unless `--buffer N` raises its outgoing queue per client
//! (`max_buffer_size`, 128 by default; a full queue drops the message).
//!
//! ```text
//! bench-socketioxide --port 0 [--buffer N] [--ping-interval-ms N] [--ping-timeout-ms N]
//!                    [--parser json|msgpack]
//! ```
//!
//! `--parser msgpack` uses socketioxide's own msgpack parser (its
//! `msgpack` feature). It has no permessage-deflate and the benchmark does
//! not run it over TLS.

use bench_servers::{Args, announce, raise_fd_limit};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    raise_fd_limit();
    let mut builder = SocketIo::builder()
        .ping_interval(args.ping_interval)
        .ping_timeout(args.ping_timeout);
    if let Some(buffer) = args.buffer {
        builder = builder.max_buffer_size(buffer);
    }
    if args.msgpack {
        builder = builder.with_parser(socketioxide::ParserConfig::msgpack());
    }
    if args.deflate.is_some() || args.tls.cert.is_some() || args.redis.is_some() {
        return Err("bench-socketioxide: no --per-message-deflate, --tls-cert or --redis".into());
    }
    let (svc, io) = builder.build_svc();
    io.ns("/", async |s: SocketRef| {
        s.join("all");
        s.on("echo", async |s: SocketRef, Data::<Value>(data)| {
            let _ = s.emit("echo", &data);
        });
        s.on("echo-ack", async |Data::<Value>(data), ack: AckSender| {
            let _ = ack.send(&data);
        });
        s.on("broadcast", async |io: SocketIo, Data::<Value>(data)| {
            let _ = io.to("all").emit("broadcast", &data).await;
        });
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    announce(listener.local_addr()?.port());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}
