//! The driver: one core behind one lock, the routing of its outputs to the
//! tasks that wait for them, and the one timer task of the whole server.
//!
//! Every lock acquisition follows the same steps: read the clock, feed the
//! core, then [`State::drive`] drains every output and event before the lock
//! is released, so no output waits in the core while nobody holds the lock.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use engineio_proto::{Config, Frame, Headers, IdMap, Output, RequestId, Response};

use crate::client::{ClientBundle, ServedBundle};
use crate::core::Core;
use crate::runtime::{Either, Notify, Runtime, race};

/// The application's hook for the core's events. It runs under the driver's
/// lock with the core at hand, so it may act at once (send, close, answer
/// `allow_request`); it must not block or wait.
///
/// ```
/// use runtime_hyper::EventHook;
/// use runtime_hyper::engineio_proto::{Event, Message, Server};
///
/// let echo: EventHook<Server> = Box::new(|server, _now, event| {
///     if let Event::Message { sid, data } = event {
///         let _ = server.send(&sid, Message::from_data(&data));
///     }
/// });
/// # drop(echo);
/// ```
pub type EventHook<C> =
    Box<dyn FnMut(&mut C, Instant, <C as engineio_proto::Endpoint>::Event) + Send>;

/// Serves one sans-IO [`Core`] on the [`Runtime`] `R`: cheap to clone,
/// every clone drives the same core.
///
/// The core sits behind a mutex held only for synchronous calls, never
/// across an `.await`. One timer task sleeps until the core's next deadline
/// for the whole server; connections have no timers of their own.
///
/// A binding names it with its runtime filled in (`runtime_tokio::Driver<C>`
/// is `Driver<C, Tokio>`).
///
/// ```
/// use runtime_hyper::{Driver, Sockets};
/// use runtime_hyper::engineio_proto::{Config, Server};
///
/// // Serve the engine on a runtime; tell the application how many
/// // sessions are open.
/// async fn run<R: Sockets>(runtime: R) -> std::io::Result<()> {
///     let driver = Driver::with_runtime(runtime, Server::new(Config::default()), |_, _, _| {});
///     let clients = driver.act(|server, _now| server.clients_count());
///     assert_eq!(clients, 0);
///     driver.listen("127.0.0.1:3201".parse().unwrap()).await
/// }
/// ```
pub struct Driver<C: Core, R: Runtime> {
    pub(crate) shared: Arc<Shared<C, R>>,
}

impl<C: Core, R: Runtime> Clone for Driver<C, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Core, R: Runtime> std::fmt::Debug for Driver<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("path", &self.shared.config.path)
            .finish_non_exhaustive()
    }
}

impl<C: Core, R: Runtime + Default> Driver<C, R> {
    /// A driver for `core` on the default value of its runtime; `on_event`
    /// receives every event the core gives.
    ///
    /// # Panics
    ///
    /// Where the runtime cannot spawn (tokio: outside a tokio runtime): the
    /// driver spawns its timer task here.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::engineio_proto::{Config, Server};
    /// fn start<R: Runtime + Default>() -> Driver<Server, R> {
    ///     Driver::new(Server::new(Config::default()), |_server, _now, _event| {})
    /// }
    /// ```
    pub fn new(core: C, on_event: impl FnMut(&mut C, Instant, C::Event) + Send + 'static) -> Self {
        Self::with_runtime(R::default(), core, on_event)
    }
}

impl<C: Core, R: Runtime> Driver<C, R> {
    /// A driver for `core` that spawns its tasks through `runtime`;
    /// `on_event` receives every event the core gives.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::engineio_proto::{Config, Server};
    /// fn start<R: Runtime>(runtime: R) -> Driver<Server, R> {
    ///     Driver::with_runtime(runtime, Server::new(Config::default()), |_server, _now, _event| {})
    /// }
    /// ```
    pub fn with_runtime(
        runtime: R,
        core: C,
        on_event: impl FnMut(&mut C, Instant, C::Event) + Send + 'static,
    ) -> Self {
        let runtime = runtime.captured();
        let config = core.engine_config().clone();
        let wake_timer = Arc::new(Notify::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core,
                on_event: Box::new(on_event),
                slots: IdMap::default(),
                armed: None,
                last_now: runtime.now(),
                wake_timer: Arc::clone(&wake_timer),
                wakes: Vec::new(),
                closed: false,
                close_waiters: Vec::new(),
                on_drained: None,
            }),
            config,
            wake_timer: Arc::clone(&wake_timer),
            runtime: runtime.clone(),
            client: OnceLock::new(),
        });
        runtime.spawn(run_timer(
            Arc::downgrade(&shared),
            runtime.clone(),
            wake_timer,
        ));
        Self { shared }
    }

    /// The runtime this driver spawns its tasks on.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::engineio_proto::{Config, Server};
    /// fn later<R: Runtime>(driver: &Driver<Server, R>) {
    ///     driver.runtime().spawn(async { /* more work on the same executor */ });
    /// }
    /// ```
    pub fn runtime(&self) -> &R {
        &self.shared.runtime
    }

    /// Runs an application action on the core (send, close, shutdown...),
    /// then carries out what it asked for.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::engineio_proto::{Config, Server};
    /// fn close_all<R: Runtime>(driver: &Driver<Server, R>) {
    ///     driver.act(|server, now| server.shutdown(now));
    /// }
    /// ```
    pub fn act<T>(&self, action: impl FnOnce(&mut C, Instant) -> T) -> T {
        self.shared.with(|d, now| action(d.core(), now))
    }

    /// Whether a request target (path and query) is for the core.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::engineio_proto::{Config, Server};
    /// fn check<R: Runtime>(driver: &Driver<Server, R>) {
    ///     assert!(driver.matches("/engine.io/?EIO=4&transport=polling"));
    ///     assert!(!driver.matches("/other"));
    /// }
    /// ```
    pub fn matches(&self, uri: &str) -> bool {
        self.shared.config.matches_path(uri)
    }

    /// Serves the browser client bundle under the engine's path, as the
    /// official server's `serveClient` option does: `<path>/socket.io.js`,
    /// `socket.io.min.js`, `socket.io.msgpack.min.js`,
    /// `socket.io.esm.min.js` and their `.map` files, with the official
    /// headers, `304` on a matching `If-None-Match`, and `br`, `gzip` or
    /// `deflate` as `Accept-Encoding` asks (the rules are in
    /// [`socketio_proto::serve_client`]). Every other target still goes to
    /// the core.
    ///
    /// The first bundle set stays; a later call returns its argument back.
    ///
    /// ```no_run
    /// # use runtime_hyper::{ClientBundle, Driver, Runtime};
    /// # use runtime_hyper::socketio_proto::Server;
    /// fn serve_bundle<R: Runtime>(driver: &Driver<Server, R>) -> std::io::Result<()> {
    ///     let bundle = ClientBundle::from_dir("node_modules/socket.io-client/dist")?;
    ///     let _ = driver.serve_client(bundle);
    ///     Ok(())
    /// }
    /// ```
    pub fn serve_client(&self, bundle: ClientBundle) -> Result<(), ClientBundle> {
        let served = ServedBundle {
            decide: socketio_proto::serve_client::ServeClient::new(
                &self.shared.config.path,
                bundle.version(),
            ),
            bundle,
        };
        self.shared
            .client
            .set(served)
            .map_err(|served| served.bundle)
    }

    /// Shuts the server down gracefully, as `close()` does on the official
    /// servers: every session closes with "server shutting down" (Socket.IO
    /// sockets see that disconnect reason, clients get their close packets
    /// and WebSocket closes), then every accept loop serving this driver
    /// stops and [`serve`](crate::serve) / [`listen`](crate::listen)
    /// return, which frees the port. Connections already accepted finish
    /// what they are doing. Calling it again does nothing more.
    ///
    /// `SocketIo::close` on the async API does the same.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::socketio_proto::Server;
    /// fn shut_down<R: Runtime>(driver: &Driver<Server, R>) {
    ///     driver.close();
    ///     assert!(driver.is_closed());
    /// }
    /// ```
    pub fn close(&self) {
        self.shared.with(|d, now| {
            if !d.state.closed {
                d.state.core.shutdown(now);
                d.state.closed = true;
                for waker in d.state.close_waiters.drain(..) {
                    waker.wake();
                }
            }
        });
    }

    /// Installs `hook`, run under the driver's lock after every drive of
    /// the core, once its outputs and events are handed out: the place to
    /// drain a queue the [`Endpoint`](engineio_proto::Endpoint) surface does
    /// not cover, such as the Socket.IO core's `poll_cluster` (a cluster
    /// transport hands the messages to its own task there). It must not
    /// block. Installing another hook replaces it.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::socketio_proto::Server;
    /// fn forward<R: Runtime>(driver: &Driver<Server, R>, tx: std::sync::mpsc::Sender<String>) {
    ///     driver.on_drained(move |core, _now| {
    ///         while let Some(message) = core.poll_cluster() {
    ///             let _ = tx.send(message.nsp);
    ///         }
    ///     });
    /// }
    /// ```
    pub fn on_drained(&self, hook: impl FnMut(&mut C, Instant) + Send + 'static) {
        self.shared
            .with(|d, _now| d.state.on_drained = Some(Box::new(hook)));
    }

    /// Whether [`close`](Self::close) ran.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::socketio_proto::Server;
    /// fn still_serving<R: Runtime>(driver: &Driver<Server, R>) -> bool {
    ///     !driver.is_closed()
    /// }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Completes once [`close`](Self::close) has run.
    ///
    /// ```
    /// # use runtime_hyper::{Driver, Runtime};
    /// # use runtime_hyper::socketio_proto::Server;
    /// async fn wait_for_shutdown<R: Runtime>(driver: Driver<Server, R>) {
    ///     driver.closed().await;
    ///     println!("closed: the port is free");
    /// }
    /// ```
    pub async fn closed(&self) {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if state.closed {
                return Poll::Ready(());
            }
            if !state.close_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.close_waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
    }
}

/// What every task of the driver shares.
pub(crate) struct Shared<C: Core, R: Runtime> {
    state: Mutex<State<C>>,
    /// The core's configuration as it was at start (read-only).
    pub(crate) config: Config,
    wake_timer: Arc<Notify>,
    pub(crate) runtime: R,
    /// The client bundle served under the path, once configured.
    pub(crate) client: OnceLock<ServedBundle>,
}

impl<C: Core, R: Runtime> Drop for Shared<C, R> {
    fn drop(&mut self) {
        // The timer task holds only a weak reference: wake it so it ends.
        self.wake_timer.notify();
    }
}

struct State<C: Core> {
    core: C,
    on_event: EventHook<C>,
    /// Outputs waiting for the task that owns a request or WebSocket.
    slots: IdMap<RequestId, Slot>,
    /// The deadline the timer task sleeps until (`None`: no deadline).
    armed: Option<Instant>,
    /// The latest `now` handed to the core.
    last_now: Instant,
    wake_timer: Arc<Notify>,
    /// The tasks that outputs were routed to, woken once the lock is
    /// released ([`release`]): a task woken under it would often find it
    /// still held, and the wake-up itself (another worker thread unparked)
    /// would lengthen the hold.
    wakes: Vec<Waker>,
    /// Whether [`Driver::close`] ran: the accept loops stop.
    closed: bool,
    /// The tasks waiting in [`Driver::closed`] (accept loops: a few).
    close_waiters: Vec<Waker>,
    /// Runs after every drive, with the core at hand ([`Driver::on_drained`]).
    on_drained: Option<DrainHook<C>>,
}

/// A hook that runs after every drive ([`Driver::on_drained`]).
///
/// ```
/// use runtime_hyper::DrainHook;
/// use runtime_hyper::socketio_proto::Server;
///
/// let hook: DrainHook<Server> = Box::new(|core, _now| {
///     let _ = core.engine().clients_count();
/// });
/// ```
pub type DrainHook<C> = Box<dyn FnMut(&mut C, Instant) + Send>;

/// The outputs for one request or WebSocket, and the task waiting for them.
#[derive(Default)]
struct Slot {
    outputs: VecDeque<Reply>,
    /// The owning task's waker, kept across wake-ups so that it is cloned
    /// only when the task changes; `armed` while the task waits for it.
    waker: Option<Waker>,
    armed: bool,
}

impl Slot {
    /// The owning task waits: wake it at the next output.
    fn arm(&mut self, cx: &Context<'_>) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        self.armed = true;
    }

    /// An output came: have the task woken once (it is scheduled from then
    /// on, until it waits again), after the lock is released.
    fn wake(&mut self, wakes: &mut Vec<Waker>) {
        if std::mem::take(&mut self.armed) {
            if let Some(waker) = &self.waker {
                wakes.push(waker.clone());
            }
        }
    }
}

/// An output, without the id that routed it.
#[derive(Debug)]
pub(crate) enum Reply {
    Respond(Response),
    ReadBody(usize),
    AcceptWebSocket(Headers),
    WsSend(Frame, bool),
    WsClose(u16),
}

impl<C: Core, R: Runtime> Shared<C, R> {
    /// Locks the state, runs `f` with the current time, then drives the
    /// core. A panic in an event hook poisons the lock; the state is still
    /// consistent between two core calls, so it is used as it is.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Driven<'_, C>, Instant) -> T) -> T {
        let mut guard = self.lock();
        let now = guard.now(self.runtime.now());
        let mut driven = Driven { state: &mut guard };
        let result = f(&mut driven, now);
        guard.drive(now);
        release(guard);
        result
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a slot for `id` (before the core can answer it), and takes
    /// the first output the core routed to it under the same acquisition
    /// (most requests are answered, or asked for their body, at once).
    ///
    /// When nothing came yet (a long-poll with nothing to send), the task
    /// of `cx` is registered to be woken at the first output, under the
    /// same acquisition too.
    pub(crate) fn handle_request(
        &self,
        request: engineio_proto::Request,
        cx: &Context<'_>,
    ) -> (RequestId, Option<Reply>) {
        let mut guard = self.lock();
        let now = guard.now(self.runtime.now());
        let id = guard.core.handle_request(now, request);
        guard.slots.insert(id, Slot::default());
        guard.drive(now);
        let first = guard.take_reply(id);
        if first.is_none() {
            if let Some(slot) = guard.slots.get_mut(&id) {
                slot.arm(cx);
            }
        }
        release(guard);
        (id, first)
    }

    /// Hands request `id`'s body to the core and takes the next output
    /// routed to the request (usually its response) under the same
    /// acquisition.
    pub(crate) fn handle_body(&self, id: RequestId, body: bytes::Bytes) -> Option<Reply> {
        let mut guard = self.lock();
        let now = guard.now(self.runtime.now());
        guard.core.handle_body(now, id, body);
        guard.drive(now);
        let next = guard.take_reply(id);
        release(guard);
        next
    }

    /// Waits for the next output routed to `id`; `None` once its slot is
    /// gone. A response is the last output of a request: taking it forgets
    /// the slot.
    pub(crate) async fn next_reply(&self, id: RequestId) -> Option<Reply> {
        poll_fn(|cx| self.poll_reply(id, cx)).await
    }

    fn poll_reply(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<Option<Reply>> {
        let mut state = self.lock();
        if !state.slots.contains_key(&id) {
            return Poll::Ready(None);
        }
        match state.take_reply(id) {
            Some(reply) => Poll::Ready(Some(reply)),
            None => {
                if let Some(slot) = state.slots.get_mut(&id) {
                    slot.arm(cx);
                }
                Poll::Pending
            }
        }
    }

    /// Takes every output routed to `id` (`None` once its slot is gone), or
    /// registers the task to be woken when some come. A poll method rather
    /// than a future: the WebSocket task polls it beside its reads without
    /// keeping a future of its own alive while idle.
    ///
    /// When `flushed` is set, first reports to the core that WebSocket `id`
    /// wrote its last batch (and clears it): a connection task reports a
    /// flush and takes (or waits for) its next batch under one lock.
    pub(crate) fn poll_batch(
        &self,
        id: RequestId,
        flushed: &mut bool,
        cx: &mut Context<'_>,
    ) -> Poll<Option<VecDeque<Reply>>> {
        let mut state = self.lock();
        if std::mem::take(flushed) {
            let now = state.now(self.runtime.now());
            state.core.handle_ws_flushed(now, id);
            state.drive(now);
        }
        let polled = match state.slots.get_mut(&id) {
            None => Poll::Ready(None),
            Some(slot) if slot.outputs.is_empty() => {
                slot.arm(cx);
                Poll::Pending
            }
            Some(slot) => {
                // Not waiting any more: no wake-up until it waits again.
                slot.armed = false;
                Poll::Ready(Some(std::mem::take(&mut slot.outputs)))
            }
        };
        release(state);
        polled
    }

    /// Ready once a [`Reply::WsClose`] is waiting for `id` (or its slot is
    /// gone), without taking anything else.
    pub(crate) fn poll_close_requested(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(&id) else {
            return Poll::Ready(());
        };
        if slot.outputs.iter().any(|r| matches!(r, Reply::WsClose(_))) {
            Poll::Ready(())
        } else {
            slot.arm(cx);
            Poll::Pending
        }
    }
}

/// The state as a `with` closure sees it: the core and the slots.
pub(crate) struct Driven<'a, C: Core> {
    state: &'a mut State<C>,
}

impl<C: Core> Driven<'_, C> {
    /// The core.
    pub(crate) fn core(&mut self) -> &mut C {
        &mut self.state.core
    }

    /// Forgets the slot of `id`: its task is done with it.
    pub(crate) fn close_slot(&mut self, id: RequestId) {
        self.state.slots.remove(&id);
    }
}

impl<C: Core> State<C> {
    /// Takes the next output routed to `id`, if one is waiting. A response
    /// is the last output of a request: taking it forgets the slot.
    fn take_reply(&mut self, id: RequestId) -> Option<Reply> {
        let slot = self.slots.get_mut(&id)?;
        let reply = slot.outputs.pop_front()?;
        if matches!(reply, Reply::Respond(_)) {
            // A response ends the request: nothing more comes for it.
            self.slots.remove(&id);
        } else if slot.outputs.is_empty() {
            // Give the memory back: an idle connection holds none.
            slot.outputs = VecDeque::new();
        }
        Some(reply)
    }

    /// The time to hand the core, from the runtime's clock read under the
    /// lock (`clock`): it only moves forward.
    fn now(&mut self, clock: Instant) -> Instant {
        let now = clock.max(self.last_now);
        self.last_now = now;
        now
    }

    /// Lets the core act on passed deadlines, then routes every output and
    /// hands every event to the hook, until the core has nothing left; then
    /// wakes the timer task if the next deadline moved earlier.
    fn drive(&mut self, now: Instant) {
        // Check the clock rather than trust the timer task alone.
        if self.core.poll_timeout().is_some_and(|at| at <= now) {
            self.core.handle_timeout(now);
        }
        loop {
            let mut progressed = false;
            while let Some(output) = self.core.poll_output() {
                progressed = true;
                self.route(now, output);
            }
            while let Some(event) = self.core.poll_event() {
                progressed = true;
                (self.on_event)(&mut self.core, now, event);
            }
            if !progressed {
                break;
            }
        }
        if let Some(hook) = &mut self.on_drained {
            hook(&mut self.core, now);
        }
        let next = self.core.poll_timeout();
        let earlier = match (next, self.armed) {
            (Some(next), Some(armed)) => next < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            self.armed = next;
            self.wake_timer.notify();
        }
    }

    /// Puts an output in the slot of its request or WebSocket and wakes the
    /// task that owns it. An output for a slot already gone is dropped: its
    /// task told the core it was gone under this same lock.
    fn route(&mut self, now: Instant, output: Output) {
        let (id, reply) = match output {
            Output::Respond { request, response } => (request, Reply::Respond(response)),
            Output::ReadBody { request, limit } => (request, Reply::ReadBody(limit)),
            Output::AcceptWebSocket { request, headers } => {
                (request, Reply::AcceptWebSocket(headers))
            }
            Output::WsSend {
                ws,
                frame,
                compress,
            } => (ws, Reply::WsSend(frame, compress)),
            Output::WsClose { ws, code } => (ws, Reply::WsClose(code)),
        };
        match self.slots.get_mut(&id) {
            Some(slot) => {
                slot.outputs.push_back(reply);
                slot.wake(&mut self.wakes);
            }
            None => {
                if matches!(reply, Reply::AcceptWebSocket(_)) {
                    // Nobody will complete this upgrade.
                    self.core.handle_ws_closed(now, id, true);
                }
            }
        }
    }
}

thread_local! {
    /// An empty vector with capacity, swapped with [`State::wakes`] so that
    /// the wakers are woken outside the lock without allocating.
    static SPARE_WAKES: Cell<Vec<Waker>> = const { Cell::new(Vec::new()) };
}

/// Releases the lock, then wakes the tasks that outputs were routed to
/// while it was held.
fn release<C: Core>(mut state: MutexGuard<'_, State<C>>) {
    if state.wakes.is_empty() {
        return;
    }
    let mut wakes = SPARE_WAKES.take();
    std::mem::swap(&mut wakes, &mut state.wakes);
    drop(state);
    for waker in wakes.drain(..) {
        waker.wake();
    }
    SPARE_WAKES.set(wakes);
}

/// The one timer task: sleeps until the core's next deadline, or until woken
/// because it moved earlier, then lets the core act. It holds the driver
/// only weakly, and ends once the driver is gone.
async fn run_timer<C: Core, R: Runtime>(shared: Weak<Shared<C, R>>, runtime: R, wake: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut state = shared.lock();
            // The plain clock, however late this wake-up: the core anchors
            // its chained timers on the instants they were scheduled for,
            // so lateness here does not shift them.
            let now = state.now(runtime.now());
            state.drive(now);
            let next = state.core.poll_timeout();
            state.armed = next;
            release(state);
            next
        };
        let notified = poll_fn(|cx| wake.poll_notified(cx));
        match deadline {
            Some(at) => match race(runtime.sleep_until(at), notified).await {
                Either::Left(()) | Either::Right(()) => {}
            },
            None => notified.await,
        }
    }
}

/// Reports a request or WebSocket to the core as gone when its task ends
/// without saying how (the client went away, the task was cancelled, a
/// panic), and forgets its slot.
pub(crate) struct Watch<C: Core, R: Runtime> {
    shared: Arc<Shared<C, R>>,
    id: RequestId,
    kind: Option<Watched>,
}

/// What a [`Watch`] reports when dropped while armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watched {
    /// A request not answered yet: `handle_request_closed`.
    Request,
    /// A WebSocket still open: `handle_ws_closed` with an error.
    WebSocket,
}

impl<C: Core, R: Runtime> Watch<C, R> {
    pub(crate) fn new(shared: Arc<Shared<C, R>>, id: RequestId, kind: Watched) -> Self {
        Self {
            shared,
            id,
            kind: Some(kind),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<C, R>> {
        &self.shared
    }

    /// Reports nothing on drop: the core already knows the request ended and
    /// its slot is gone (it was answered).
    pub(crate) fn disarm(&mut self) {
        self.kind = None;
    }

    /// The request or WebSocket watched.
    pub(crate) fn id(&self) -> RequestId {
        self.id
    }

    /// From now on a drop reports `kind`.
    pub(crate) fn set(&mut self, kind: Watched) {
        self.kind = Some(kind);
    }

    /// Ends the watch: runs `f` under the lock, forgets the slot, and
    /// reports nothing more.
    pub(crate) fn finish(mut self, f: impl FnOnce(&mut C, Instant, RequestId)) {
        self.kind = None;
        let id = self.id;
        self.shared.with(|d, now| {
            d.close_slot(id);
            f(d.core(), now, id);
        });
    }
}

impl<C: Core, R: Runtime> Drop for Watch<C, R> {
    fn drop(&mut self) {
        let id = self.id;
        let kind = self.kind.take();
        // `finish` already forgot the slot and reported.
        if let Some(kind) = kind {
            self.shared.with(|d, now| {
                d.close_slot(id);
                match kind {
                    Watched::Request => d.core().handle_request_closed(now, id),
                    Watched::WebSocket => d.core().handle_ws_closed(now, id, true),
                }
            });
        }
    }
}
