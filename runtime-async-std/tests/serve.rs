//! The async-io binding over real sockets, under async-std and under smol:
//! every scenario of `runtime_hyper::testing::scenarios` (an Engine.IO echo
//! server, and a Socket.IO one, on an ephemeral port, driven by blocking
//! std clients), once per executor. The same scenarios run on tokio in
//! `runtime-tokio/tests/serve.rs`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use runtime_async_std::{AsyncIo, AsyncStd, Smol};
use runtime_hyper::testing::scenarios;

/// Runs each scenario once under async-std and once under smol (their
/// global executors, which have threads of their own), each in a module
/// of that name.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod async_std_executor {
            use super::*;
            $(
                #[test]
                fn $name() {
                    scenarios::$name(AsyncIo(AsyncStd));
                }
            )*
        }

        mod smol_executor {
            use super::*;
            $(
                #[test]
                fn $name() {
                    scenarios::$name(AsyncIo(Smol));
                }
            )*
        }
    };
}

runtime_hyper::for_each_scenario!(on_both);

/// The TLS scenarios (HTTPS, WSS, client certificates, HTTP/2, bad
/// handshakes), the same way.
mod tls {
    use super::*;
    use runtime_hyper::testing::tls as scenarios;
    runtime_hyper::for_each_tls_scenario!(on_both);
}

/// A user-provided smol executor, run by the test thread itself: the
/// binding's tasks run only where the application runs that executor, so
/// the scenario's client runs on a thread of its own.
#[test]
fn user_provided_smol_executor_serves() {
    let executor = Arc::new(smol::Executor::new());
    let runtime = AsyncIo(executor.clone());
    let (done, finished) = async_channel::bounded(1);
    let client = std::thread::spawn(move || {
        scenarios::websocket_echoes_text_and_binary(runtime);
        done.send_blocking(()).unwrap();
    });
    let outcome = smol::block_on(executor.run(finished.recv()));
    // A panic in the scenario drops `done`: join to show it.
    client.join().expect("the scenario failed");
    outcome.expect("the scenario ended without finishing");
}

/// Needs two worker threads: the scenario blocks one of them in a handler.
/// async-std's global executor has one per core (CI has two).
#[test]
fn a_blocking_handler_stalls_only_its_own_socket_on_async_std() {
    scenarios::a_blocking_handler_stalls_only_its_own_socket(AsyncIo(AsyncStd));
}

/// The same on a smol executor run by two threads of its own (smol's global
/// executor runs one thread unless `SMOL_THREADS` says otherwise).
#[test]
fn a_blocking_handler_stalls_only_its_own_socket_on_smol() {
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || {
                let _ = smol::block_on(executor.run(stopped.recv()));
            })
        })
        .collect();
    scenarios::a_blocking_handler_stalls_only_its_own_socket(AsyncIo(executor));
    drop(stop);
    for worker in workers {
        worker.join().unwrap();
    }
}
