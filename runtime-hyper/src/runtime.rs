//! What a binding supplies, in the shape of quinn's runtime layer: the small
//! [`Runtime`] trait (now, sleep until, spawn) that the driver needs, and
//! [`Sockets`] (listener, accept, connection I/O, TLS handshake) that the
//! listener loop needs on top of it; and the few runtime-neutral pieces the
//! driver builds on them (a waker-based notification, a race of two
//! futures, a yield, hyper's timer).

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How a binding reaches its executor and its timers: what the
/// [`Driver`](crate::Driver) needs, and the only things besides sockets
/// ([`Sockets`]) that differ between tokio, async-std and smol. Everything
/// else (the driver, HTTP, WebSocket, the listener loop) is written once
/// over it.
///
/// A runtime value is cheap to clone (a unit type, or a handle to an
/// executor); a [`Driver`](crate::Driver) keeps one and spawns every task
/// through it.
///
/// # Example: the shape of an implementation
///
/// ```
/// use std::future::Future;
/// use std::time::Instant;
///
/// /// A runtime that runs nothing: enough for a driver fed by hand.
/// #[derive(Clone, Default)]
/// struct Manual;
///
/// /// A sleep that completes at once (a real runtime waits until then).
/// struct Instantly;
///
/// impl Future for Instantly {
///     type Output = ();
///     fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
///         std::task::Poll::Ready(())
///     }
/// }
///
/// impl runtime_hyper::Runtime for Manual {
///     type Sleep = Instantly;
///     type Io = runtime_hyper::FuturesIo<futures_util::io::Cursor<Vec<u8>>>;
///
///     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
///         drop(task); // a real runtime runs it
///     }
///     fn sleep_until(&self, _: Instant) -> Instantly {
///         Instantly
///     }
/// }
/// ```
pub trait Runtime: Clone + Send + Sync + 'static {
    /// What [`sleep_until`](Runtime::sleep_until) returns.
    type Sleep: Future<Output = ()> + Send + Sync + 'static;
    /// A plain accepted connection as hyper reads and writes it (what
    /// [`Sockets::io`] makes). It is named here rather than on
    /// [`Sockets`] because the driver needs it too: after a WebSocket
    /// upgrade it takes the connection back as this type, so an idle
    /// WebSocket holds the runtime's stream and not hyper's box around it
    /// (a connection of another type, e.g. served through tower, keeps the
    /// box).
    type Io: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static;

    /// The current time: every `now` the driver hands the core, and the
    /// base of every relative timeout, comes from here. The system's
    /// monotonic clock by default; a virtual clock in tests
    /// (`testing::VirtualRuntime`, feature `testing`).
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// Runs `task` to completion on the executor, detached. It may be
    /// called from any thread, inside the runtime or not (an application
    /// thread that emits, disconnects a socket or closes the server starts
    /// the tasks of the handlers it concerns): a runtime whose spawn needs
    /// its own context keeps it in [`captured`](Runtime::captured).
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// This runtime as a driver keeps it, called once when the driver is
    /// made ([`Driver::with_runtime`](crate::Driver::with_runtime)): a
    /// runtime whose [`spawn`](Runtime::spawn) works only on its own
    /// threads (tokio's) captures the runtime it is made in here. By
    /// default, itself.
    fn captured(self) -> Self {
        self
    }

    /// A future that completes at `deadline` (at once if it passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;
}

/// A [`Runtime`]'s TCP sockets: what the listener loop
/// ([`listen`](crate::listen), [`serve`](crate::serve),
/// [`serve_tls`](crate::serve_tls), [`Driver::listen`](crate::Driver::listen))
/// needs on top of it. A driver mounted elsewhere (a tower layer, a
/// connection accepted by the application) needs only the [`Runtime`].
///
/// # Example: the shape of an implementation
///
/// ```
/// use std::net::SocketAddr;
/// # use std::future::Future;
/// # use std::time::Instant;
/// # #[derive(Clone, Default)]
/// # struct Manual;
/// # impl runtime_hyper::Runtime for Manual {
/// #     type Sleep = std::future::Ready<()>;
/// #     type Io = runtime_hyper::FuturesIo<futures_util::io::Cursor<Vec<u8>>>;
/// #     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) { drop(task); }
/// #     fn sleep_until(&self, _: Instant) -> Self::Sleep { std::future::ready(()) }
/// # }
///
/// /// No connection ever comes: enough for a driver fed by hand.
/// impl runtime_hyper::Sockets for Manual {
///     type Listener = std::net::TcpListener;
///     type Stream = std::convert::Infallible;
///     type TlsIo = Self::Io;
///
///     fn listener(&self, listener: std::net::TcpListener) -> std::io::Result<Self::Listener> {
///         Ok(listener)
///     }
///     async fn accept(&self, _: &Self::Listener) -> std::io::Result<(Self::Stream, SocketAddr)> {
///         Err(std::io::ErrorKind::Unsupported.into())
///     }
///     fn io(&self, stream: Self::Stream, _nodelay: bool) -> Self::Io {
///         match stream {}
///     }
///     async fn tls_accept(
///         &self,
///         _: std::sync::Arc<runtime_hyper::rustls::ServerConfig>,
///         stream: Self::Stream,
///         _nodelay: bool,
///     ) -> std::io::Result<(Self::TlsIo, runtime_hyper::TlsInfo)> {
///         match stream {}
///     }
/// }
/// ```
pub trait Sockets: Runtime {
    /// A bound TCP listener.
    type Listener: Send + Sync + 'static;
    /// An accepted TCP connection.
    type Stream: Send + 'static;
    /// An accepted connection after its TLS handshake, as hyper reads and
    /// writes it.
    type TlsIo: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static;

    /// Registers a bound, non-blocking standard listener with the runtime.
    fn listener(&self, listener: std::net::TcpListener) -> io::Result<Self::Listener>;

    /// Accepts the next connection.
    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// Prepares an accepted connection for hyper, with `TCP_NODELAY` set as
    /// asked (failing to set it is not an error: the connection still
    /// works).
    fn io(&self, stream: Self::Stream, nodelay: bool) -> Self::Io;

    /// Runs the server side of a TLS handshake on an accepted connection
    /// with `config` (tokio-rustls or futures-rustls over the runtime's
    /// socket), `TCP_NODELAY` set as asked, and returns the stream with
    /// what the handshake settled ([`TlsInfo::from_connection`](crate::conn::TlsInfo::from_connection)).
    /// The caller bounds how long it may take.
    fn tls_accept(
        &self,
        config: std::sync::Arc<rustls::ServerConfig>,
        stream: Self::Stream,
        nodelay: bool,
    ) -> impl Future<Output = io::Result<(Self::TlsIo, crate::conn::TlsInfo)>> + Send;
}

/// A single-permit, waker-based notification (the timer task's alarm): a
/// [`notify`](Notify::notify) with nobody waiting is kept for the next
/// wait, several collapse into one.
#[derive(Debug, Default)]
pub(crate) struct Notify {
    state: Mutex<NotifyState>,
}

#[derive(Debug, Default)]
struct NotifyState {
    notified: bool,
    waker: Option<Waker>,
}

impl Notify {
    /// Wakes the waiter, or leaves a permit for the next wait.
    pub(crate) fn notify(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.notified = true;
            state.waker.take()
        };
        // Woken outside the lock: a waker may run code that notifies again.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Completes once notified, taking the permit.
    pub(crate) fn poll_notified(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if std::mem::take(&mut state.notified) {
            Poll::Ready(())
        } else {
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

/// Which of two raced futures completed first.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `left` then `right` until one completes; the other is dropped.
pub(crate) async fn race<A: Future, B: Future>(left: A, right: B) -> Either<A::Output, B::Output> {
    let mut left = pin!(left);
    let mut right = pin!(right);
    poll_fn(|cx| {
        if let Poll::Ready(out) = left.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        right.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// Runs `future` for at most `limit`; `None` if the time ran out.
pub(crate) async fn timeout<R: Runtime, F: Future>(
    runtime: &R,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    match race(future, runtime.sleep_until(runtime.now() + limit)).await {
        Either::Left(out) => Some(out),
        Either::Right(()) => None,
    }
}

/// Gives the executor a turn: pending once, after asking to be polled
/// again.
pub(crate) async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// hyper's timer (its header read timeout) on a [`Runtime`]'s sleeps, for
/// [`serve_connection`](crate::serve_connection).
///
/// ```
/// fn is_hyper_timer(_: &impl hyper::rt::Timer) {}
/// # fn check<R: runtime_hyper::Runtime>(runtime: R) {
/// is_hyper_timer(&runtime_hyper::RuntimeTimer(runtime));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeTimer<R>(pub R);

pin_project_lite::pin_project! {
    /// A runtime's sleep as hyper wants it: pinned inside hyper's one box
    /// (hyper makes one per request head, for its header-read timeout).
    struct HyperSleep<S> {
        #[pin]
        sleep: S,
    }
}

impl<S: Future<Output = ()>> Future for HyperSleep<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().sleep.poll(cx)
    }
}

impl<S: Future<Output = ()> + Send + Sync + 'static> hyper::rt::Sleep for HyperSleep<S> {}

impl<R: Runtime> hyper::rt::Timer for RuntimeTimer<R> {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.0.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep {
            sleep: self.0.sleep_until(deadline),
        })
    }

    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// hyper's executor (HTTP/2 spawns a task per stream) on a [`Runtime`].
#[derive(Debug, Clone)]
pub(crate) struct RuntimeExecutor<R>(pub(crate) R);

impl<R: Runtime, F> hyper::rt::Executor<F> for RuntimeExecutor<R>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn(async move {
            drop(future.await);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn notify_keeps_one_permit_and_wakes_the_waiter() {
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let notify = Notify::default();
        // Two notifications with nobody waiting leave one permit.
        notify.notify();
        notify.notify();
        assert_eq!(notify.poll_notified(&mut cx), Poll::Ready(()));
        assert_eq!(notify.poll_notified(&mut cx), Poll::Pending);
        // A waiter is woken once, then finds the permit.
        notify.notify();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(notify.poll_notified(&mut cx), Poll::Ready(()));
    }

    #[test]
    fn race_prefers_the_left_future_when_both_are_ready() {
        let out = futures_util::FutureExt::now_or_never(race(async { 1 }, async { "b" }));
        assert!(matches!(out, Some(Either::Left(1))));
        let out =
            futures_util::FutureExt::now_or_never(race(std::future::pending::<()>(), async {
                "b"
            }));
        assert!(matches!(out, Some(Either::Right("b"))));
    }

    #[test]
    fn yield_now_is_pending_exactly_once() {
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(yield_now());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
    }
}
