//! A [`Runtime`] (and [`Sockets`]) on a virtual clock, for driver tests as deterministic as
//! the cores' (feature `testing`).
//!
//! * Time moves only when the test says so ([`VirtualRuntime::advance`]):
//!   [`Runtime::now`] is the virtual now, and a sleep completes once the
//!   virtual clock reaches its deadline.
//! * Tasks run on one thread, only inside the test's calls
//!   ([`run_until_stalled`](VirtualRuntime::run_until_stalled), which
//!   `advance` ends with): each woken task is polled until no task is
//!   woken any more, in the order they were spawned.
//! * Connections are in-memory pipes: [`VirtualRuntime::connect`] hands the
//!   test the client's end ([`Pipe`]) and queues the server's end on the
//!   listener of [`VirtualRuntime::virtual_listener`], where the driver's
//!   accept loop takes it. No port, no socket, no OS timer.
//!
//! TLS is not simulated: [`Sockets::tls_accept`] fails with
//! `Unsupported` (the TLS suites run on the real runtimes).
//!
//! ```
//! use std::time::Duration;
//! use runtime_hyper::Runtime;
//! use runtime_hyper::testing::VirtualRuntime;
//!
//! let rt = VirtualRuntime::new();
//! let t0 = rt.now();
//! let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
//! let flag = done.clone();
//! let sleep = rt.sleep_until(t0 + Duration::from_secs(5));
//! rt.spawn(async move {
//!     sleep.await;
//!     flag.store(true, std::sync::atomic::Ordering::SeqCst);
//! });
//! rt.advance(Duration::from_secs(4));
//! assert!(!done.load(std::sync::atomic::Ordering::SeqCst));
//! rt.advance(Duration::from_secs(1));
//! assert!(done.load(std::sync::atomic::Ordering::SeqCst));
//! assert_eq!(rt.now(), t0 + Duration::from_secs(5));
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};

use crate::{FuturesIo, Runtime, Sockets, TlsInfo};

/// How many rounds of polling [`VirtualRuntime::run_until_stalled`] allows
/// before it decides that some task wakes itself forever.
const MAX_ROUNDS: usize = 100_000;

/// A runtime whose clock, tasks and connections the test drives (see the
/// module doc). Cheap to clone: every clone is the same runtime.
#[derive(Clone)]
pub struct VirtualRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("now", &lock(&self.inner.clock).now)
            .finish_non_exhaustive()
    }
}

impl Default for VirtualRuntime {
    fn default() -> Self {
        Self::new()
    }
}

struct Inner {
    clock: Mutex<Clock>,
    /// Every task not finished yet, in the order spawned.
    tasks: Mutex<Vec<Arc<Task>>>,
    /// Server ends of connections not accepted yet.
    backlog: Mutex<Backlog>,
    /// The port of the next connection's client address.
    next_port: AtomicU16,
}

struct Clock {
    now: Instant,
    /// Sleeps waiting for the clock: their deadline, id and task.
    sleepers: Vec<(Instant, u64, Waker)>,
    /// The id of the next sleep.
    next_sleep: u64,
}

#[derive(Default)]
struct Backlog {
    pending: VecDeque<(Pipe, SocketAddr)>,
    waker: Option<Waker>,
}

type BoxedTask = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Task {
    future: Mutex<Option<BoxedTask>>,
    woken: AtomicBool,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VirtualRuntime {
    /// A runtime whose clock starts at the real now (an `Instant` cannot be
    /// made otherwise) and then moves only through [`advance`](Self::advance).
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                clock: Mutex::new(Clock {
                    now: Instant::now(),
                    sleepers: Vec::new(),
                    next_sleep: 0,
                }),
                tasks: Mutex::new(Vec::new()),
                backlog: Mutex::new(Backlog::default()),
                next_port: AtomicU16::new(40_000),
            }),
        }
    }

    /// Moves the clock `by` forward, wakes the sleeps it reached, and runs
    /// the tasks until they stall. A timer task woken this way sees the
    /// new now: advancing past a deadline is a late wake-up.
    pub fn advance(&self, by: Duration) {
        let to = lock(&self.inner.clock).now + by;
        self.advance_to(to);
    }

    /// Moves the clock to `at` (never back), as [`advance`](Self::advance).
    pub fn advance_to(&self, at: Instant) {
        let due: Vec<Waker> = {
            let mut clock = lock(&self.inner.clock);
            clock.now = clock.now.max(at);
            let now = clock.now;
            let (due, waiting) = std::mem::take(&mut clock.sleepers)
                .into_iter()
                .partition(|(deadline, _, _)| *deadline <= now);
            clock.sleepers = waiting;
            due.into_iter().map(|(_, _, waker)| waker).collect()
        };
        for waker in due {
            waker.wake();
        }
        self.run_until_stalled();
    }

    /// The earliest deadline a sleep still waits for (one being polled and
    /// not dropped), if any.
    pub fn next_sleep(&self) -> Option<Instant> {
        lock(&self.inner.clock)
            .sleepers
            .iter()
            .map(|(at, _, _)| *at)
            .min()
    }

    /// Polls every woken task, in the order they were spawned, until none
    /// is woken; tasks spawned meanwhile run too.
    ///
    /// # Panics
    ///
    /// When tasks still wake each other after many rounds (a task that
    /// never waits): a test bug, reported rather than looped on.
    pub fn run_until_stalled(&self) {
        for _ in 0..MAX_ROUNDS {
            let woken: Vec<Arc<Task>> = lock(&self.inner.tasks)
                .iter()
                .filter(|t| t.woken.swap(false, Ordering::SeqCst))
                .cloned()
                .collect();
            if woken.is_empty() {
                return;
            }
            for task in woken {
                let waker = Waker::from(Arc::clone(&task));
                let mut cx = Context::from_waker(&waker);
                let mut slot = lock(&task.future);
                let finished = match slot.as_mut() {
                    Some(future) => future.as_mut().poll(&mut cx).is_ready(),
                    None => false,
                };
                if finished {
                    *slot = None;
                    drop(slot);
                    lock(&self.inner.tasks).retain(|t| !Arc::ptr_eq(t, &task));
                }
            }
        }
        panic!("the virtual runtime's tasks never stall");
    }

    /// How many spawned tasks have not finished.
    pub fn tasks(&self) -> usize {
        lock(&self.inner.tasks).len()
    }

    /// A listener whose connections come from [`connect`](Self::connect).
    pub fn virtual_listener(&self) -> VirtualListener {
        VirtualListener {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Opens a connection to the listener: returns the client's end; the
    /// server's end waits for the accept loop (which runs at the next
    /// [`run_until_stalled`](Self::run_until_stalled)).
    pub fn connect(&self) -> Pipe {
        let (client, server) = Pipe::pair();
        let port = self.inner.next_port.fetch_add(1, Ordering::SeqCst);
        let remote = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let waker = {
            let mut backlog = lock(&self.inner.backlog);
            backlog.pending.push_back((server, remote));
            backlog.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        client
    }
}

/// The listener of a [`VirtualRuntime`]: every one takes from the same
/// queue of [`VirtualRuntime::connect`]ed connections.
pub struct VirtualListener {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VirtualListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualListener").finish_non_exhaustive()
    }
}

/// What [`VirtualRuntime`]'s sleeps are: done once the virtual clock
/// reaches the deadline.
pub struct VirtualSleep {
    inner: Arc<Inner>,
    deadline: Instant,
    id: u64,
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        let id = self.id;
        lock(&self.inner.clock)
            .sleepers
            .retain(|(_, i, _)| *i != id);
    }
}

impl std::fmt::Debug for VirtualSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualSleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut clock = lock(&self.inner.clock);
        if clock.now >= self.deadline {
            return Poll::Ready(());
        }
        let (deadline, id) = (self.deadline, self.id);
        match clock.sleepers.iter_mut().find(|(_, i, _)| *i == id) {
            Some((_, _, waker)) => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
            }
            None => clock.sleepers.push((deadline, id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Runtime for VirtualRuntime {
    type Sleep = VirtualSleep;
    type Io = FuturesIo<Pipe>;

    fn now(&self) -> Instant {
        lock(&self.inner.clock).now
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        lock(&self.inner.tasks).push(Arc::new(Task {
            future: Mutex::new(Some(Box::pin(task))),
            woken: AtomicBool::new(true),
        }));
    }

    fn sleep_until(&self, deadline: Instant) -> VirtualSleep {
        let id = {
            let mut clock = lock(&self.inner.clock);
            clock.next_sleep += 1;
            clock.next_sleep
        };
        VirtualSleep {
            inner: Arc::clone(&self.inner),
            deadline,
            id,
        }
    }
}

impl Sockets for VirtualRuntime {
    type Listener = VirtualListener;
    type Stream = Pipe;
    type TlsIo = FuturesIo<Pipe>;

    /// A listener of this runtime's [`connect`](VirtualRuntime::connect)ed
    /// connections; the real socket given is closed unused.
    fn listener(&self, listener: std::net::TcpListener) -> io::Result<VirtualListener> {
        drop(listener);
        Ok(self.virtual_listener())
    }

    fn accept(
        &self,
        listener: &VirtualListener,
    ) -> impl Future<Output = io::Result<(Pipe, SocketAddr)>> + Send {
        let inner = Arc::clone(&listener.inner);
        std::future::poll_fn(move |cx| {
            let mut backlog = lock(&inner.backlog);
            match backlog.pending.pop_front() {
                Some(accepted) => Poll::Ready(Ok(accepted)),
                None => {
                    backlog.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }

    fn io(&self, stream: Pipe, _nodelay: bool) -> FuturesIo<Pipe> {
        FuturesIo::new(stream)
    }

    async fn tls_accept(
        &self,
        _config: Arc<rustls::ServerConfig>,
        _stream: Pipe,
        _nodelay: bool,
    ) -> io::Result<(FuturesIo<Pipe>, TlsInfo)> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the virtual runtime does not simulate TLS",
        ))
    }
}

/// One end of an in-memory connection: what one end writes, the other
/// reads, in order. Dropping or closing an end ends the other's reads
/// (end of stream) and fails its writes (broken pipe).
pub struct Pipe {
    /// What this end reads.
    incoming: Arc<Mutex<Half>>,
    /// What this end writes.
    outgoing: Arc<Mutex<Half>>,
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe")
            .field("unread", &lock(&self.incoming).data.len())
            .finish_non_exhaustive()
    }
}

/// One direction of a pipe.
#[derive(Default)]
struct Half {
    data: VecDeque<u8>,
    /// The writer closed (or dropped) its end: reads end once drained.
    write_closed: bool,
    /// The reader dropped its end: writes fail.
    read_closed: bool,
    /// The reader waiting for data.
    waker: Option<Waker>,
}

impl Half {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl Pipe {
    /// Two connected ends.
    fn pair() -> (Self, Self) {
        let a = Arc::new(Mutex::new(Half::default()));
        let b = Arc::new(Mutex::new(Half::default()));
        (
            Self {
                incoming: Arc::clone(&a),
                outgoing: Arc::clone(&b),
            },
            Self {
                incoming: b,
                outgoing: a,
            },
        )
    }

    /// Writes `bytes` at once (the pipe has no capacity limit); the
    /// reader runs at the runtime's next turn. Returns false if the other
    /// end is gone.
    pub fn send(&self, bytes: &[u8]) -> bool {
        let mut half = lock(&self.outgoing);
        if half.read_closed {
            return false;
        }
        half.data.extend(bytes);
        half.wake();
        true
    }

    /// Takes everything the other end has written so far.
    pub fn received(&self) -> Vec<u8> {
        lock(&self.incoming).data.drain(..).collect()
    }

    /// Whether the other end closed its writing side (or is gone).
    pub fn peer_closed(&self) -> bool {
        lock(&self.incoming).write_closed
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let mut out = lock(&self.outgoing);
        out.write_closed = true;
        out.wake();
        drop(out);
        let mut incoming = lock(&self.incoming);
        incoming.read_closed = true;
        incoming.data.clear();
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut half = lock(&self.incoming);
        if half.data.is_empty() {
            if half.write_closed || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            half.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(half.data.len());
        for (slot, byte) in buf.iter_mut().zip(half.data.drain(..n)) {
            *slot = byte;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut half = lock(&self.outgoing);
        if half.read_closed || half.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        half.data.extend(buf);
        half.wake();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut half = lock(&self.outgoing);
        half.write_closed = true;
        half.wake();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_pipe_carries_bytes_both_ways_and_ends_on_close() {
        let rt = VirtualRuntime::new();
        let (client, mut server) = Pipe::pair();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        rt.spawn(async move {
            let mut all = Vec::new();
            let _ = server.read_to_end(&mut all).await;
            let _ = server.write_all(b"bye").await;
            *lock(&sink) = all;
        });
        rt.run_until_stalled();
        assert!(client.send(b"hello "));
        rt.run_until_stalled();
        assert!(lock(&got).is_empty(), "still reading: the writer is open");
        assert!(client.send(b"world"));
        // Closing the client's writing side ends the server's read.
        lock(&client.outgoing).write_closed = true;
        lock(&client.outgoing).wake();
        rt.run_until_stalled();
        assert_eq!(*lock(&got), b"hello world");
        assert_eq!(client.received(), b"bye");
        assert!(client.peer_closed(), "the server's end was dropped");
        assert_eq!(rt.tasks(), 0);
    }

    #[test]
    fn sleeps_complete_in_deadline_order_only_when_the_clock_gets_there() {
        let rt = VirtualRuntime::new();
        let t0 = rt.now();
        let order = Arc::new(Mutex::new(Vec::new()));
        for secs in [3u64, 1, 2] {
            let sleep = rt.sleep_until(t0 + Duration::from_secs(secs));
            let order = Arc::clone(&order);
            let rt2 = rt.clone();
            rt.spawn(async move {
                sleep.await;
                lock(&order).push((secs, rt2.now()));
            });
        }
        rt.run_until_stalled();
        assert_eq!(rt.next_sleep(), Some(t0 + Duration::from_secs(1)));
        rt.advance(Duration::from_millis(1_500));
        assert_eq!(*lock(&order), [(1, t0 + Duration::from_millis(1_500))]);
        // One late step wakes both of the others, which see the same now.
        rt.advance(Duration::from_secs(5));
        let late = t0 + Duration::from_millis(6_500);
        assert_eq!(
            *lock(&order),
            [(1, t0 + Duration::from_millis(1_500)), (3, late), (2, late)]
        );
        assert_eq!(rt.next_sleep(), None);
    }

    #[test]
    fn accept_takes_connections_in_order() {
        let rt = VirtualRuntime::new();
        let listener = rt.virtual_listener();
        let a = rt.connect();
        let b = rt.connect();
        let runtime = rt.clone();
        let remotes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&remotes);
        rt.spawn(async move {
            for _ in 0..2 {
                if let Ok((pipe, remote)) = runtime.accept(&listener).await {
                    pipe.send(remote.port().to_string().as_bytes());
                    lock(&seen).push(remote.port());
                }
            }
        });
        rt.run_until_stalled();
        assert_eq!(*lock(&remotes), [40_000, 40_001]);
        assert_eq!(a.received(), b"40000");
        assert_eq!(b.received(), b"40001");
    }
}
