//! The server's metrics for Prometheus and its `tracing` events on the
//! console: an echo server on `/socket.io/`, and `/metrics` on the same
//! port in Prometheus' text format.
//!
//! ```text
//! RUST_LOG=info cargo run -p runtime-tokio --example prometheus -- 127.0.0.1:3000
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! `RUST_LOG=debug` adds event names and sessions upgrading, `trace` the
//! events' payloads. README.md ("Tracing and metrics") lists the metrics.

use runtime_tokio::socketio_async::{Payload, Socket};
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use runtime_hyper::hyper::body::Incoming;
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{HttpResponse, Or, Route, bind, serve, serve_io};

/// `/metrics`: the recorder's text.
#[derive(Clone)]
struct Metrics(PrometheusHandle);

impl Route for Metrics {
    fn matches(&self, target: &str) -> bool {
        target == "/metrics"
    }

    async fn call(&self, _: http::Request<Incoming>, _: SocketAddr) -> HttpResponse {
        let mut response = http::Response::new(Full::new(Bytes::from(self.0.render())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        response
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = Metrics(recorder.handle());
    metrics::set_global_recorder(recorder)?;

    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |socket: Socket, payload: Payload| async move {
            let _ = socket.emit_payload("echo", payload);
        });
    });
    let driver = serve_io(&io, Config::default());
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned())
        .parse()?;
    let listener = bind(addr)?;
    eprintln!(
        "Socket.IO on http://{}/socket.io/, metrics on /metrics",
        listener.local_addr()?
    );
    serve(Or(driver, metrics), listener).await;
    Ok(())
}
