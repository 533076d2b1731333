//! The project's binaries (see `src/bin`): `demo` (README's first
//! command), `conformance-fixture` (the fixture of docs/protocol.md, for the
//! official protocol test suites) and `interop-server` (what the interop
//! tests in `tests/interop` talk to).
//!
//! The library holds what lets one binary serve on any of the three
//! runtimes (`--runtime tokio|async-std|smol`): an [`App`] is written once,
//! generic over [`Runtime`], and [`run`] starts the chosen runtime and runs
//! it there.

use std::future::Future;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use runtime_async_std::{AsyncIo, AsyncStd};
pub use runtime_hyper::Runtime;
use runtime_tokio::Tokio;

/// Which runtime a binary serves on.
///
/// ```
/// use servers::RuntimeKind;
///
/// assert_eq!("async-std".parse::<RuntimeKind>(), Ok(RuntimeKind::AsyncStd));
/// assert_eq!(RuntimeKind::Smol.name(), "smol");
/// assert!("glommio".parse::<RuntimeKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// tokio (`runtime-tokio`): current-thread with one worker, the
    /// multi-thread scheduler with more.
    #[default]
    Tokio,
    /// async-std (`runtime-async-std` with [`AsyncStd`]): its global
    /// executor, sized to the workers asked for.
    AsyncStd,
    /// smol (`runtime-async-std` with an `Arc<smol::Executor>`): one
    /// executor run by the main thread and one more thread per extra
    /// worker.
    Smol,
}

impl RuntimeKind {
    /// The name `--runtime` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::AsyncStd => "async-std",
            Self::Smol => "smol",
        }
    }
}

impl FromStr for RuntimeKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "tokio" => Ok(Self::Tokio),
            "async-std" => Ok(Self::AsyncStd),
            "smol" => Ok(Self::Smol),
            other => Err(format!(
                "unknown runtime {other:?}: tokio, async-std or smol"
            )),
        }
    }
}

/// A server written once for every runtime.
///
/// ```no_run
/// use std::process::ExitCode;
/// use servers::{App, Runtime, RuntimeKind};
///
/// struct Echo;
///
/// impl App for Echo {
///     async fn run<R: Runtime>(self, runtime: R) -> ExitCode {
///         let io = runtime_hyper::socketio_async::SocketIo::new();
///         let driver = runtime_hyper::serve_io(&io, Default::default(), runtime);
///         match driver.listen("127.0.0.1:3201".parse().unwrap()).await {
///             Ok(()) => ExitCode::SUCCESS,
///             Err(_) => ExitCode::FAILURE,
///         }
///     }
/// }
///
/// servers::run(RuntimeKind::Smol, 1, Echo);
/// ```
pub trait App {
    /// Serves on `runtime` (spawn through it, bind with its listener) until
    /// done.
    fn run<R: Runtime>(self, runtime: R) -> impl Future<Output = ExitCode>;
}

/// Starts `kind` with `workers` worker threads (at least one) and runs
/// `app` on it.
///
/// One worker means one event loop, as the Node server has: what arrives
/// on two connections back to back is handled in that order.
///
/// ```
/// use std::process::ExitCode;
/// use servers::{App, Runtime, RuntimeKind};
///
/// /// Checks that the runtime's timer and spawn work, then ends.
/// struct Tick;
///
/// impl App for Tick {
///     async fn run<R: Runtime>(self, runtime: R) -> ExitCode {
///         let at = std::time::Instant::now() + std::time::Duration::from_millis(1);
///         runtime.sleep_until(at).await;
///         ExitCode::SUCCESS
///     }
/// }
///
/// for kind in [RuntimeKind::Tokio, RuntimeKind::AsyncStd, RuntimeKind::Smol] {
///     assert_eq!(servers::run(kind, 2, Tick), ExitCode::SUCCESS);
/// }
/// ```
pub fn run(kind: RuntimeKind, workers: usize, app: impl App) -> ExitCode {
    let workers = workers.max(1);
    match kind {
        RuntimeKind::Tokio => {
            let runtime = if workers == 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_all()
                    .build()
            };
            match runtime {
                Ok(runtime) => runtime.block_on(app.run(Tokio)),
                Err(e) => {
                    eprintln!("cannot start tokio: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        RuntimeKind::AsyncStd => {
            // Sizes the global executor async-std spawns on; this must come
            // before its first task, which would start the default size.
            async_global_executor::init_with_config(
                async_global_executor::GlobalExecutorConfig::default()
                    .with_min_threads(workers)
                    .with_max_threads(workers),
            );
            async_std::task::block_on(app.run(AsyncIo(AsyncStd)))
        }
        RuntimeKind::Smol => {
            let executor = Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let threads: Vec<_> = (1..workers)
                .map(|_| {
                    let executor = executor.clone();
                    let stopped = stopped.clone();
                    std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
                })
                .collect();
            let code = smol::block_on(executor.run(app.run(AsyncIo(executor.clone()))));
            drop(stop);
            for thread in threads {
                let _ = thread.join();
            }
            code
        }
    }
}
