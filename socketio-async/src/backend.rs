//! What a runtime binding provides to the async API: a way to act on the
//! core under its lock (after which the binding carries out the outputs),
//! and a way to spawn tasks. Nothing else here knows about a runtime.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Instant;

use socketio_proto::Server;

/// A boxed task.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A runtime binding, as the async API sees it.
pub trait Backend: Send + Sync + 'static {
    /// Runs `action` on the core with the current time, under the lock the
    /// binding keeps around it; the binding then writes what the core asked
    /// for. The action must not block.
    fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant));

    /// Runs `task` to completion on the runtime.
    fn spawn(&self, task: Task);

    /// Shuts the server down (`io.close()`): every socket closes with
    /// "server shutting down". A binding that serves connections also
    /// stops accepting them; this default only shuts the core down.
    fn close(&self) {
        self.act_dyn(&mut |core, now| core.shutdown(now));
    }
}

/// Runs `f` through `backend.act_dyn` and returns its result.
pub(crate) fn act<R>(backend: &dyn Backend, f: impl FnOnce(&mut Server, Instant) -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    backend.act_dyn(&mut |core, now| {
        if let Some(f) = f.take() {
            out = Some(f(core, now));
        }
    });
    match out {
        Some(out) => out,
        // A binding that does not call the action breaks its contract; this
        // is a bug in the binding, not a peer's doing.
        None => panic!("Backend::act_dyn did not run the action"),
    }
}

/// Polls `task` once right here, so that what a handler does before its
/// first `.await` (registering event handlers, emitting) happens in order
/// with the events around it; spawns the rest only if it is not done.
pub(crate) fn start(backend: &dyn Backend, mut task: Task) {
    let mut cx = Context::from_waker(Waker::noop());
    if task.as_mut().poll(&mut cx).is_pending() {
        // The spawned task polls again and registers its own waker.
        backend.spawn(task);
    }
}
