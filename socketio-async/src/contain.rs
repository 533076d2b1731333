//! Containment of the application's panics: every callback and hook runs
//! through here, so that a panic ends that one invocation, is logged
//! (`tracing`, error level, with the socket id, namespace and event), and
//! harms nothing else. Also the marker of "running inside the core": the
//! few hooks the core itself calls (header hooks, `generate_id`, namespace
//! predicates) run while the runtime's lock around the core is held.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A boxed task: what a handler starts and a [`Backend`](crate::Backend)
/// spawns.
///
/// ```
/// use socketio_async::Task;
///
/// let task: Task = Box::pin(async { println!("ran") });
/// # drop(task);
/// ```
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where application code runs: what is logged when it panics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    /// The kind of callback (`"event handler"`, `"connection middleware"`...).
    pub(crate) kind: &'static str,
    pub(crate) socket: &'a str,
    pub(crate) nsp: &'a str,
    pub(crate) event: &'a str,
}

impl<'a> Site<'a> {
    /// A callback of no socket.
    pub(crate) fn of(kind: &'static str) -> Self {
        Self {
            kind,
            socket: "",
            nsp: "",
            event: "",
        }
    }

    /// A callback of socket `socket` in `nsp`.
    pub(crate) fn socket(kind: &'static str, socket: &'a str, nsp: &'a str) -> Self {
        Self {
            kind,
            socket,
            nsp,
            event: "",
        }
    }

    /// The same, for event `event`.
    pub(crate) fn event(self, event: &'a str) -> Self {
        Self { event, ..self }
    }

    fn owned(&self) -> OwnedSite {
        OwnedSite {
            kind: self.kind,
            text: [self.socket, self.nsp, self.event].map(Box::<str>::from),
        }
    }

    /// Logs a contained panic.
    pub(crate) fn log(&self, panic: &(dyn Any + Send)) {
        tracing::error!(
            socket = self.socket,
            nsp = self.nsp,
            event = self.event,
            panic = message(panic),
            "{} panicked; the panic was contained",
            self.kind
        );
    }
}

/// A [`Site`] kept by a task that outlives the place it was started from.
struct OwnedSite {
    kind: &'static str,
    text: [Box<str>; 3],
}

impl OwnedSite {
    fn site(&self) -> Site<'_> {
        let [socket, nsp, event] = &self.text;
        Site {
            kind: self.kind,
            socket,
            nsp,
            event,
        }
    }
}

/// The text of a panic payload.
fn message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(not a string)"
    }
}

/// Runs `f`; `None` if it panicked (logged).
pub(crate) fn call<R>(site: &Site<'_>, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(panic) => {
            site.log(&*panic);
            None
        }
    }
}

/// Polls `task` once right here (what a handler does before its first
/// `.await` happens in order with the events around it), its panic
/// contained; returns the rest if it is not done, still contained, for the
/// caller to spawn. The rest costs one allocation only if it is pending.
pub(crate) fn poll_once(site: &Site<'_>, mut task: Task) -> Option<Task> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match call(site, || task.as_mut().poll(&mut cx)) {
        Some(Poll::Pending) => Some(Box::pin(Contained {
            task,
            site: site.owned(),
        })),
        Some(Poll::Ready(())) | None => None,
    }
}

/// A task whose panic ends it (logged) rather than the executor's thread.
struct Contained {
    task: Task,
    site: OwnedSite,
}

impl Future for Contained {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match catch_unwind(AssertUnwindSafe(|| this.task.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                this.site.site().log(&*panic);
                Poll::Ready(())
            }
        }
    }
}

thread_local! {
    /// Set while a hook the core called runs on this thread: the runtime's
    /// lock around the core is held, so the core cannot be acted on now.
    static IN_CORE: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread runs a hook the core called.
pub(crate) fn in_core() -> bool {
    IN_CORE.get()
}

/// Runs a hook the core calls (`headers`, `initial_headers`,
/// `generate_id`, a namespace predicate): marked as running inside the
/// core, so that what it asks of the server is done right after
/// (the backend's `act_or_defer`) instead of deadlocking. A panic is
/// logged here, then handed on to the core, which answers the request (a
/// 500, or "Invalid namespace") and stays whole.
pub(crate) fn core_hook<R>(site: &Site<'_>, f: impl FnOnce() -> R) -> R {
    let outer = IN_CORE.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_CORE.set(outer);
    match result {
        Ok(r) => r,
        Err(panic) => {
            site.log(&*panic);
            resume_unwind(panic)
        }
    }
}
