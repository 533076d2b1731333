//! What a runtime binding provides to the async API: a way to act on the
//! core under its lock (after which the binding carries out the outputs),
//! and a way to spawn tasks. Nothing else here knows about a runtime.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use socketio_proto::Server;

use crate::contain::{self, Site, Task};

/// A runtime binding, as the async API sees it: runtime-tokio and
/// runtime-async-std implement it; applications never do. The smallest
/// one is in [`SocketIo::attach`](crate::SocketIo::attach)'s example.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Instant;
/// use socketio_async::{Backend, Task};
/// use socketio_proto::Server;
///
/// /// The core behind a lock; tasks handed to an executor.
/// struct Binding {
///     core: Mutex<Server>,
///     spawn: fn(Task),
/// }
///
/// impl Backend for Binding {
///     fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant)) {
///         action(&mut self.core.lock().unwrap(), Instant::now());
///         // ...then carry out the core's outputs and events.
///     }
///     fn spawn(&self, task: Task) {
///         (self.spawn)(task)
///     }
/// }
/// ```
pub trait Backend: Send + Sync + 'static {
    /// Runs `action` on the core with the current time, under the lock the
    /// binding keeps around it; the binding then writes what the core asked
    /// for. The action must not block. The async API never calls it from
    /// inside an action, nor while it holds a lock of its own, nor from a
    /// hook the core is running.
    fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant));

    /// Runs `task` to completion on the runtime, detached; it must not run
    /// it inline. It is called while the lock around the core is held (the
    /// event sink starts a socket's or the server's task when an event
    /// comes to its idle queue), so it must not take that lock nor block,
    /// and from whatever thread acted on the core, inside the runtime or
    /// not (an application thread that emits or disconnects).
    fn spawn(&self, task: Task);

    /// Shuts the server down (`io.close()`): every socket closes with
    /// "server shutting down". A binding that serves connections also
    /// stops accepting them; this default only shuts the core down.
    fn close(&self) {
        self.act_dyn(&mut |core, now| core.shutdown(now));
    }
}

/// Runs `f` through `backend.act_dyn` and returns its result; `None` when
/// called from a hook the core is running (the lock around the core is
/// held by this very thread: acting now would deadlock), or if the binding
/// did not run it.
pub(crate) fn act<R>(
    backend: &dyn Backend,
    f: impl FnOnce(&mut Server, Instant) -> R,
) -> Option<R> {
    if contain::in_core() {
        return None;
    }
    let mut f = Some(f);
    let mut out = None;
    backend.act_dyn(&mut |core, now| {
        if let Some(f) = f.take() {
            out = Some(f(core, now));
        }
    });
    out
}

/// Runs `f` on the core now (`Some` of its result), or, from a hook the
/// core is running, right after that hook: on a task of its own, once the
/// lock is free (`None`).
pub(crate) fn act_or_defer<R: 'static>(
    backend: &Arc<dyn Backend>,
    f: impl FnOnce(&mut Server, Instant) -> R + Send + 'static,
) -> Option<R> {
    if !contain::in_core() {
        return act(backend.as_ref(), f);
    }
    let task_backend = backend.clone();
    backend.spawn(Box::pin(async move {
        let _ = act(task_backend.as_ref(), f);
    }));
    None
}

/// Runs application code that returns a task: the call and the task's
/// first poll happen right here, so that what a handler does before its
/// first `.await` (registering handlers, emitting) happens in order with
/// the events around it; the rest is spawned only if it is not done. Every
/// panic, of the call or of the task, is contained (see [`contain`]).
/// `task` may decline to start (`None`: an extractor refused).
pub(crate) fn start(backend: &dyn Backend, site: &Site<'_>, task: impl FnOnce() -> Option<Task>) {
    if let Some(Some(task)) = contain::call(site, task) {
        if let Some(rest) = contain::poll_once(site, task) {
            backend.spawn(rest);
        }
    }
}

/// The binding the server runs on, once it runs: set once by `attach`,
/// shared by every handle that acts on the core.
#[derive(Default)]
pub(crate) struct Runner {
    backend: OnceLock<Arc<dyn Backend>>,
}

impl Runner {
    /// Sets the binding; `false` if one was set already.
    pub(crate) fn set(&self, backend: Arc<dyn Backend>) -> bool {
        self.backend.set(backend).is_ok()
    }

    /// The binding, once running.
    pub(crate) fn get(&self) -> Option<&Arc<dyn Backend>> {
        self.backend.get()
    }

    /// [`act`] on the binding; `None` if not running (or from a hook the
    /// core is running).
    pub(crate) fn act<R>(&self, f: impl FnOnce(&mut Server, Instant) -> R) -> Option<R> {
        act(self.get()?.as_ref(), f)
    }

    /// [`act_or_defer`] on the binding: `Err` if not running, `Ok(None)`
    /// if deferred.
    pub(crate) fn act_or_defer<R: 'static>(
        &self,
        f: impl FnOnce(&mut Server, Instant) -> R + Send + 'static,
    ) -> Result<Option<R>, NotRunning> {
        let backend = self.get().ok_or(NotRunning)?;
        Ok(act_or_defer(backend, f))
    }
}

/// The server is not running (no binding attached yet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotRunning;
