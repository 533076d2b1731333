//! The tokio binding over real sockets: every scenario of
//! `runtime_hyper::testing::scenarios` (an Engine.IO echo server, and a
//! Socket.IO one, on an ephemeral port, driven by blocking std clients),
//! each as its own test on a two-worker tokio runtime. The same scenarios
//! run on async-std and smol in `runtime-async-std/tests/serve.rs`.

use runtime_hyper::testing::scenarios;
use runtime_tokio::Tokio;

/// One test per scenario. The scenario blocks the test's own thread (not
/// one of the runtime's two workers, which serve it).
macro_rules! on_tokio {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                scenarios::$name(Tokio);
            }
        )*
    };
}

runtime_hyper::for_each_scenario!(on_tokio);

/// Needs two workers: the scenario blocks one of them in a handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_handler_stalls_only_its_own_socket() {
    scenarios::a_blocking_handler_stalls_only_its_own_socket(Tokio);
}

/// The TLS scenarios (HTTPS, WSS, client certificates, HTTP/2, bad
/// handshakes), the same way.
mod tls {
    use runtime_hyper::testing::tls as scenarios;
    use runtime_tokio::Tokio;
    runtime_hyper::for_each_tls_scenario!(on_tokio);
}

/// An idle WebSocket's task stays in tokio's 384-byte task cell (the cell
/// adds about 100 bytes of header and trailer to the future and rounds up
/// to 128 bytes): 176 bytes measured, 376 as an `async` block with its own
/// framing, 528 with tungstenite.
#[test]
fn an_idle_websocket_task_fits_the_small_task_cell() {
    use runtime_hyper::testing::websocket_task_size;
    let socketio = websocket_task_size::<runtime_tokio::socketio_proto::Server, Tokio>();
    let engineio = websocket_task_size::<runtime_tokio::engineio_proto::Server, Tokio>();
    assert!(socketio <= 256, "{socketio} bytes");
    assert!(engineio <= 256, "{engineio} bytes");
}
