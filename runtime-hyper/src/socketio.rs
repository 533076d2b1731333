//! The async Socket.IO API ([`socketio_async`]) on this driver.

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use socketio_async::{Backend, EventSink, SocketIo, Task};
use socketio_proto::{Config, Server};

use crate::driver::{Driver, Shared};
use crate::runtime::Runtime;

/// The driver of a Socket.IO core, as the async API's [`Backend`].
///
/// It holds the driver weakly: the driver's event hook holds the
/// [`SocketIo`] (through its [`EventSink`]), which holds this backend, so a
/// strong reference here would keep every server made alive after its
/// application, its listeners and its connections let it go. Once the
/// driver is gone, actions find the server not running.
struct DriverBackend<R: Runtime> {
    driver: Weak<Shared<Server, R>>,
    runtime: R,
}

impl<R: Runtime> DriverBackend<R> {
    fn driver(&self) -> Option<Driver<Server, R>> {
        self.driver.upgrade().map(|shared| Driver { shared })
    }
}

impl<R: Runtime> Backend for DriverBackend<R> {
    fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant)) {
        if let Some(driver) = self.driver() {
            driver.act(|core, now| action(core, now));
        }
    }

    fn spawn(&self, task: Task) {
        self.runtime.spawn(task);
    }

    fn close(&self) {
        if let Some(driver) = self.driver() {
            driver.close();
        }
    }
}

/// Starts `io` on `runtime` with `config` and returns the driver to serve
/// (see [`listen`](crate::listen), [`serve`](crate::serve) or the
/// [`Route`](crate::Route) trait). What the config leaves to the runtime is
/// filled in here: an all-zero engine seed is replaced by one from the OS,
/// and the handshake wall clock reads the system time.
///
/// Handlers run on tasks spawned through `runtime`.
///
/// The server runs while its driver is held (by the application, an
/// accept loop, a layer, a connection's task): `io` alone does not keep it.
/// Once every holder lets go, the core, its sessions and the handlers
/// registered on `io` are freed; `io`'s actions then find no server.
///
/// ```
/// use runtime_hyper::Sockets;
/// use runtime_hyper::socketio_async::{Socket, SocketIo};
///
/// async fn run<R: Sockets>(runtime: R) -> std::io::Result<()> {
///     let io = SocketIo::new();
///     io.on_connection(|socket: Socket| async move {
///         let _ = socket.emit("hello", ("world",));
///     });
///     let driver = runtime_hyper::serve_io(&io, Default::default(), runtime);
///     driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// }
/// ```
pub fn serve_io<R: Runtime>(io: &SocketIo, mut config: Config, runtime: R) -> Driver<Server, R> {
    if config.engine.seed == [0; 32] {
        config.engine.seed = random_seed();
    }
    if config.wall_clock.is_none() {
        config.wall_clock = Some(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        }));
    }
    let core = io.build_core(config);
    let sink: Arc<OnceLock<EventSink>> = Arc::new(OnceLock::new());
    let hook_sink = sink.clone();
    let driver = Driver::with_runtime(runtime, core, move |core: &mut Server, _now, event| {
        crate::observe::socketio_event(core, &event);
        if let Some(sink) = hook_sink.get() {
            sink.push(event);
        }
    });
    let events = io.attach(Arc::new(DriverBackend {
        driver: Arc::downgrade(&driver.shared),
        runtime: driver.runtime().clone(),
    }));
    let _ = sink.set(events);
    driver
}

/// 32 bytes from the OS, for id generators.
///
/// ```
/// assert_ne!(runtime_hyper::random_seed(), runtime_hyper::random_seed());
/// ```
///
/// # Panics
///
/// If the OS has no randomness to give: serving guessable session ids is
/// worse than not starting.
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    // Without OS randomness there is no safe session id; failing loudly at
    // start beats serving guessable ids.
    if getrandom::fill(&mut seed).is_err() {
        panic!("no OS randomness for session ids");
    }
    seed
}
