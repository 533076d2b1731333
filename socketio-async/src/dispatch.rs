//! Dispatch: the core's events, routed as they come (under the core's
//! lock, where no application code runs) to the tasks that run the
//! application's code for them.
//!
//! - Each connected socket has an ordered queue (its [`Mailbox`]) and,
//!   while the queue has events, a task of its own: its events reach its
//!   handlers in arrival order, and a slow or blocking handler stalls that
//!   socket only.
//! - Connection middlewares and `allowRequest` decisions run on a task per
//!   request.
//! - `serverSideEmit` listeners and the engine's connection events run on
//!   the server's queue and task, in order.
//! - Answers (acks, broadcast acks, cluster requests) go straight to the
//!   task that waits for them.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use engineio_proto::{Event as EngineEvent, IdMap};
use futures_util::FutureExt;
use serde_json::Value;
use socketio_proto::{Event, SocketId, Str};

use crate::backend::{Backend, act, start};
use crate::contain::{self, Site, Task};
use crate::engine::{conn_event, session_open};
use crate::extensions::Extensions;
use crate::io::{
    AckSlot, ConnectError, Connecting, ErasedHandler, HandlerContext, Middleware, ServerSideAck,
    ServerSideContext, Socket, SocketIo, SocketParts,
};
use crate::payload::{AckError, Payload};
use crate::sync::lock;

/// The message of the CONNECT_ERROR a client gets when a connection
/// middleware panicked.
pub(crate) const MIDDLEWARE_PANICKED: &str = "Internal server error";

/// An ordered queue of events, and the task that takes them while there
/// are some.
///
/// No task waits on an idle queue: the event that finds the queue idle
/// starts a task ([`push`](Self::push) says so), and the task ends when it
/// finds the queue empty. An idle socket costs its queue's header and no
/// task (a task waiting for each connected socket took a runtime task
/// cell and its future, about 240 bytes per socket).
#[derive(Default)]
struct Mailbox {
    state: Mutex<Mail>,
}

#[derive(Default)]
struct Mail {
    queue: VecDeque<Event>,
    /// A task is taking the events.
    running: bool,
    /// The socket's handle between two runs (made at its `Connection`;
    /// the server's queue has none).
    socket: Option<Socket>,
}

impl Mailbox {
    /// Queues `event`. `true` when the queue was idle: the caller starts
    /// its task ([`Mailbox::run`]).
    #[must_use]
    fn push(&self, event: Event) -> bool {
        let mut mail = lock(&self.state);
        mail.queue.push_back(event);
        !std::mem::replace(&mut mail.running, true)
    }

    /// The task that takes this queue's events, hands each to `handle`
    /// (with the socket's handle), and ends when the queue is empty.
    fn run<F>(self: Arc<Self>, handle: F) -> Task
    where
        F: FnMut(&mut Option<Socket>, Event) + Send + Unpin + 'static,
    {
        Box::pin(Run {
            mailbox: self,
            handle,
            socket: None,
            yielded: false,
            done: false,
        })
    }

    /// Takes up to [`CHUNK`] queued events in one lock acquisition and
    /// hands each to `handle`. The chunk lives on the stack only while it
    /// runs. An empty queue is left idle, its memory given back and the
    /// socket's handle with it.
    fn run_chunk(
        &self,
        socket: &mut Option<Socket>,
        handle: &mut impl FnMut(&mut Option<Socket>, Event),
    ) -> Chunk {
        let mut chunk: [Option<Event>; CHUNK] = [const { None }; CHUNK];
        {
            let mut mail = lock(&self.state);
            if mail.queue.is_empty() {
                // Events are large (four take 512 bytes): an idle socket
                // holds no queue.
                mail.queue = VecDeque::new();
                mail.socket = socket.take();
                mail.running = false;
                return Chunk::Empty;
            }
            if socket.is_none() {
                *socket = mail.socket.take();
            }
            let n = mail.queue.len().min(CHUNK);
            for (slot, event) in chunk.iter_mut().zip(mail.queue.drain(..n)) {
                *slot = Some(event);
            }
        }
        for event in chunk.iter_mut().map_while(Option::take) {
            handle(socket, event);
        }
        Chunk::Ran
    }
}

/// A mailbox's task: yields once, then takes the events and hands each to
/// `handle` until the queue is empty.
///
/// The yield puts the task at the back of the executor's queue, which lets
/// a work-stealing executor (tokio) wake another worker. Without it, a
/// handler that blocks its thread could leave tokio's other workers asleep
/// with no one polling for I/O: a task spawned or woken by a connection's
/// task goes to that worker's own slot, which wakes no one.
///
/// Written by hand rather than as an `async` block: it is the handles it
/// needs, the socket's handle while it runs, and two flags.
struct Run<F> {
    mailbox: Arc<Mailbox>,
    handle: F,
    socket: Option<Socket>,
    yielded: bool,
    /// It found the queue empty and left it idle.
    done: bool,
}

impl<F> Drop for Run<F> {
    /// Dropped before it emptied the queue (its runtime shut down, or a
    /// bug of ours unwound through it): the queue is left idle, with the
    /// socket's handle, so that its next event starts a task again.
    fn drop(&mut self) {
        if !self.done {
            let mut mail = lock(&self.mailbox.state);
            if mail.socket.is_none() {
                mail.socket = self.socket.take();
            }
            mail.running = false;
        }
    }
}

impl<F: FnMut(&mut Option<Socket>, Event) + Unpin> Future for Run<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !std::mem::replace(&mut this.yielded, true) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            match this.mailbox.run_chunk(&mut this.socket, &mut this.handle) {
                Chunk::Ran => {}
                Chunk::Empty => {
                    this.done = true;
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// The most events a socket's task takes from its queue at once.
const CHUNK: usize = 8;

/// What [`Mailbox::run_chunk`] found.
enum Chunk {
    /// It ran the handlers of some events.
    Ran,
    /// The queue is empty (and now idle).
    Empty,
}

/// Where events go: the sockets' queues and the server's; owned by the
/// event sink.
#[derive(Default)]
struct Router {
    /// By socket id (server-made: the fast hasher, as the core's tables).
    sockets: Mutex<IdMap<SocketId, Arc<Mailbox>>>,
    server: Arc<Mailbox>,
    /// What connection middlewares stored for sockets not yet connected.
    pending: Mutex<IdMap<SocketId, Extensions>>,
}

impl Router {
    /// Queues a server-level event, starting the server's task if its
    /// queue was idle.
    fn to_server(&self, io: &SocketIo, backend: &Arc<dyn Backend>, event: Event) {
        if self.server.push(event) {
            let task_io = io.clone();
            let task_backend = backend.clone();
            backend.spawn(self.server.clone().run(move |_, event| {
                server_event(&task_io, &task_backend, event);
            }));
        }
    }

    /// Queues an event of a socket (the last one if `last`: its queue is
    /// then forgotten), starting its task if its queue was idle.
    fn to_socket(
        self: &Arc<Self>,
        io: &SocketIo,
        backend: &Arc<dyn Backend>,
        id: &SocketId,
        event: Event,
        last: bool,
    ) {
        let mailbox = if last {
            lock(&self.sockets).remove(id)
        } else {
            lock(&self.sockets).get(id).cloned()
        };
        if let Some(mailbox) = mailbox {
            self.deliver(io, backend, mailbox, event);
        }
    }

    /// Queues `event` in `mailbox`, a socket's, starting its task if it
    /// was idle.
    fn deliver(
        self: &Arc<Self>,
        io: &SocketIo,
        backend: &Arc<dyn Backend>,
        mailbox: Arc<Mailbox>,
        event: Event,
    ) {
        if mailbox.push(event) {
            let task_io = io.clone();
            let task_backend = backend.clone();
            let task_router = self.clone();
            backend.spawn(mailbox.run(move |socket, event| {
                socket_event(&task_io, task_backend.as_ref(), &task_router, socket, event);
            }));
        }
    }
}

impl SocketIo {
    /// Starts serving through `backend`: returns the sink the binding's
    /// event hook feeds every core event into. Called once by the binding.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Instant;
    /// use socketio_async::{Backend, Config, EventSink, Socket, SocketIo, Task};
    /// use socketio_proto::Server;
    ///
    /// /// The smallest binding: the core behind a lock, every event it
    /// /// reports handed to the sink after each action (a real binding
    /// /// also carries out the core's outputs: writes, timers).
    /// struct Binding {
    ///     core: Mutex<Server>,
    ///     sink: Mutex<Option<EventSink>>,
    ///     tasks: Mutex<Vec<Task>>,
    /// }
    ///
    /// impl Backend for Binding {
    ///     fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant)) {
    ///         let mut core = self.core.lock().unwrap();
    ///         action(&mut core, Instant::now());
    ///         let sink = self.sink.lock().unwrap();
    ///         while let Some(event) = core.poll_event() {
    ///             if let Some(sink) = sink.as_ref() {
    ///                 sink.push(event); // under the core's lock: it never blocks
    ///             }
    ///         }
    ///     }
    ///
    ///     fn spawn(&self, task: Task) {
    ///         self.tasks.lock().unwrap().push(task); // a runtime would run it
    ///     }
    /// }
    ///
    /// let io = SocketIo::new();
    /// io.on_connection(|socket: Socket| async move {
    ///     let _ = socket.emit("hello", ());
    /// });
    /// let binding = Arc::new(Binding {
    ///     core: Mutex::new(io.build_core(Config::default())),
    ///     sink: Mutex::new(None),
    ///     tasks: Mutex::new(Vec::new()),
    /// });
    /// let sink = io.attach(binding.clone());
    /// *binding.sink.lock().unwrap() = Some(sink);
    /// // The server is running. No task yet: a queue of events starts
    /// // one when an event comes to it.
    /// assert!(binding.tasks.lock().unwrap().is_empty());
    /// assert_eq!(io.engine().clients_count(), 0);
    /// ```
    pub fn attach(&self, backend: Arc<dyn Backend>) -> EventSink {
        let router = Arc::new(Router::default());
        self.runner().set(backend);
        EventSink {
            io: self.clone(),
            router,
        }
    }
}

/// Where the binding's event hook puts the core's events (from
/// [`SocketIo::attach`], whose example is a whole binding).
///
/// ```
/// # use socketio_async::EventSink;
/// fn hook(sink: &EventSink, event: socketio_proto::Event) {
///     sink.push(event);
/// }
/// ```
#[derive(Clone)]
pub struct EventSink {
    io: SocketIo,
    router: Arc<Router>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").finish_non_exhaustive()
    }
}

impl EventSink {
    /// Hands one core event to the task that runs the application's code
    /// for it (the socket's own task, for a socket's events). Never blocks
    /// and runs no application code: the binding calls it under the lock
    /// around the core.
    ///
    /// ```
    /// use socketio_async::{EventSink, SocketIo};
    /// use socketio_proto::Server;
    ///
    /// /// A binding's event hook, after each action on the core (see
    /// /// [`SocketIo::attach`] for a whole binding).
    /// fn forward(core: &mut Server, sink: &EventSink) {
    ///     while let Some(event) = core.poll_event() {
    ///         sink.push(event);
    ///     }
    /// }
    /// ```
    pub fn push(&self, event: Event) {
        route(&self.io, &self.router, event);
    }
}

/// Routes one core event. Runs under the core's lock: no application code
/// here, only queueing, answering waiters and spawning.
fn route(io: &SocketIo, router: &Arc<Router>, event: Event) {
    let Some(backend) = io.runner().get() else {
        return;
    };
    match event {
        Event::Connect {
            socket,
            nsp,
            parent,
            handshake,
        } => {
            let middlewares = io
                .handlers(nsp.as_str(), parent)
                .map(|h| h.middlewares().to_vec());
            let connecting = Connecting::new(io, socket, nsp, handshake);
            backend.spawn(Box::pin(connect(
                backend.clone(),
                router.clone(),
                connecting,
                middlewares.unwrap_or_default(),
            )));
        }
        Event::Connection { ref socket, .. } => {
            let mailbox = Arc::new(Mailbox::default());
            lock(&router.sockets).insert(socket.clone(), mailbox.clone());
            router.deliver(io, backend, mailbox, event);
        }
        Event::Event { ref socket, .. }
        | Event::Error { ref socket, .. }
        | Event::Disconnecting { ref socket, .. } => {
            let id = socket.clone();
            router.to_socket(io, backend, &id, event, false);
        }
        Event::Disconnect { ref socket, .. } => {
            let id = socket.clone();
            router.to_socket(io, backend, &id, event, true);
        }
        // A broadcast's recipients, for their `on_any_outgoing` handlers:
        // each socket's task sees it in order with its other events.
        Event::Outgoing {
            nsp,
            sockets,
            event,
        } => {
            for id in &sockets {
                let one = Event::Outgoing {
                    nsp: nsp.clone(),
                    sockets: Vec::new(),
                    event: event.clone(),
                };
                router.to_socket(io, backend, id, one, false);
            }
        }
        Event::Ack {
            socket,
            id,
            data,
            attachments,
        } => io.waiters().ack(
            socket,
            id.0,
            Ok(Payload {
                args: data,
                binary: attachments,
            }),
        ),
        Event::AckTimeout { socket, id } => io.waiters().ack(socket, id.0, Err(AckError::Timeout)),
        Event::BroadcastAck {
            broadcast,
            data,
            attachments,
            ..
        } => io.waiters().broadcast_answer(
            &broadcast,
            Payload {
                args: data,
                binary: attachments,
            },
        ),
        Event::BroadcastAckDone {
            broadcast,
            expected,
            received,
        } => io
            .waiters()
            .broadcast_done(&broadcast, received == expected),
        Event::FetchSocketsDone { request, .. } | Event::ServerSideEmitDone { request, .. } => {
            io.waiters().request_done(&request, event);
        }
        Event::Engine(EngineEvent::AllowRequest { request, head }) => {
            let decide = io.engine_state().allow_request_hook();
            let task_backend = backend.clone();
            backend.spawn(Box::pin(async move {
                // Asked without a decision registered (the config turned it
                // on): let the handshake through rather than hold it.
                let verdict = match decide {
                    None => Some(Ok(())),
                    Some(decide) => {
                        let site = Site::of("allow_request");
                        match contain::call(&site, || decide(*head)) {
                            None => None,
                            Some(fut) => match AssertUnwindSafe(fut).catch_unwind().await {
                                Ok(verdict) => Some(verdict),
                                Err(panic) => {
                                    site.log(&*panic);
                                    None
                                }
                            },
                        }
                    }
                };
                act(task_backend.as_ref(), |core, now| match verdict {
                    Some(verdict) => core.allow_request(now, request, verdict),
                    None => core.fail_request(request),
                });
            }));
        }
        // Sessions opening and their messages are the Socket.IO layer's.
        Event::Engine(EngineEvent::Open { .. } | EngineEvent::Message { .. }) => {}
        Event::ServerSideEmit { .. }
        | Event::Engine(_)
        | Event::RoomJoined { .. }
        | Event::RoomLeft { .. } => router.to_server(io, backend, event),
        // `Event` is non-exhaustive: what a newer core reports goes to the
        // server-level listeners.
        _ => router.to_server(io, backend, event),
    }
}

/// Runs the connection middlewares of a socket to be, then lets it in or
/// refuses it. A panicking middleware refuses it with
/// [`MIDDLEWARE_PANICKED`].
async fn connect(
    backend: Arc<dyn Backend>,
    router: Arc<Router>,
    connecting: Connecting,
    middlewares: Vec<Middleware>,
) {
    let id = connecting.id.clone();
    let nsp = connecting.nsp.clone();
    let site = Site::socket("connection middleware", id.as_str(), nsp.as_str());
    for middleware in middlewares {
        let verdict = match contain::call(&site, || middleware(connecting.clone())) {
            None => Err(ConnectError::new(MIDDLEWARE_PANICKED)),
            Some(fut) => match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(verdict) => verdict,
                Err(panic) => {
                    site.log(&*panic);
                    Err(ConnectError::new(MIDDLEWARE_PANICKED))
                }
            },
        };
        if let Err(refusal) = verdict {
            act(backend.as_ref(), |core, now| {
                core.reject(now, &id, &refusal.message, refusal.data)
            });
            return;
        }
    }
    // The socket's task takes its extensions at its `Connection`.
    lock(&router.pending).insert(id.clone(), connecting.extensions);
    let accepted = act(backend.as_ref(), |core, now| core.accept(now, &id).is_ok());
    if accepted != Some(true) {
        lock(&router.pending).remove(&id);
    }
}

/// One event of a socket, on its own task. `socket` is the handle, made
/// at its `Connection`.
fn socket_event(
    io: &SocketIo,
    backend: &dyn Backend,
    router: &Router,
    socket: &mut Option<Socket>,
    event: Event,
) {
    match event {
        Event::Connection {
            socket: id,
            nsp,
            recovered,
        } => {
            let extensions = lock(&router.pending).remove(&id).unwrap_or_default();
            let Some(Some((handshake, sid, parent))) = act(backend, |core, _| {
                let handshake = core.socket(&id)?.handshake;
                let sid = core.socket_sid(&id)?.clone();
                Some((handshake, sid, core.parent_of(&nsp)))
            }) else {
                return;
            };
            let parts = SocketParts {
                id,
                nsp,
                handshake,
                recovered,
                sid,
                extensions,
            };
            let handle = Socket::new(io.clone(), parts);
            // A child of a parent namespace uses its parent's handler.
            let handlers = match parent {
                Some(parent) if !io.has_namespace(handle.nsp()) => {
                    io.handlers(handle.nsp(), Some(parent))
                }
                _ => io.handlers(handle.nsp(), None),
            };
            // The observer first, as the admin UI's prepended listener.
            if let Some(observer) = io.observer() {
                observer.connected(&handle);
            }
            if let Some(handlers) = handlers {
                let site = Site::socket("connection handler", handle.id().as_str(), handle.nsp());
                let auth = Value::Object(handle.handshake().auth.clone());
                run_all(
                    backend,
                    &site,
                    &handle,
                    "connection",
                    handlers.on_connection(),
                    |cx| {
                        cx.payload = Payload {
                            args: vec![auth.clone()],
                            binary: Vec::new(),
                        };
                    },
                );
            }
            *socket = Some(handle);
        }
        Event::Outgoing { event, .. } => {
            let Some(socket) = socket else {
                return;
            };
            if socket.handlers().any_outgoing().is_empty() {
                return;
            }
            let event = Arc::unwrap_or_clone(event);
            let (name, _, payload) = split_event(event);
            socket.outgoing(&name, &payload);
        }
        Event::Event { event, .. } => {
            let Some(socket) = socket else {
                return;
            };
            let (name, ack_id, payload) = split_event(event);
            let site = Site::socket("", socket.id().as_str(), socket.nsp()).event(&name);
            let handlers = socket.handlers();
            for middleware in handlers.middlewares() {
                let site = Site {
                    kind: "packet middleware",
                    ..site
                };
                match contain::call(&site, || middleware(socket, &name, &payload)) {
                    Some(Ok(())) => {}
                    Some(Err(error)) => {
                        let site = Site {
                            kind: "error handler",
                            ..site
                        };
                        for on_error in handlers.on_error() {
                            start(backend, &site, || {
                                Some(on_error(socket.clone(), error.clone()))
                            });
                        }
                        return;
                    }
                    // A panicking middleware stops the event.
                    None => return,
                }
            }
            for hook in handlers.any() {
                let site = Site {
                    kind: "on_any handler",
                    ..site
                };
                contain::call(&site, || hook(socket, &name, &payload));
            }
            let Some((registered, list)) = handlers.event_entry(&name) else {
                return;
            };
            let Some((last, others)) = list.split_last() else {
                return;
            };
            // The name moves into the contexts (no copy of the string).
            let event_name = Str::from(name);
            let site =
                Site::socket("event handler", socket.id().as_str(), socket.nsp()).event(registered);
            let ack = ack_id.map(AckSlot::new);
            for (_, handler) in others {
                let mut cx =
                    HandlerContext::new(socket.clone(), event_name.clone(), payload.clone());
                cx.ack = ack.clone();
                start(backend, &site, || handler(cx));
            }
            // The last handler takes the name, the payload and the ack
            // slot, the others a copy.
            let mut cx = HandlerContext::new(socket.clone(), event_name, payload);
            cx.ack = ack;
            start(backend, &site, || (last.1)(cx));
        }
        Event::Error { message, .. } => {
            let Some(socket) = socket else {
                return;
            };
            let site = Site::socket("error handler", socket.id().as_str(), socket.nsp());
            for on_error in socket.handlers().on_error() {
                start(backend, &site, || {
                    Some(on_error(socket.clone(), message.clone()))
                });
            }
        }
        Event::Disconnecting { reason, rooms, .. } => {
            let Some(socket) = socket else {
                return;
            };
            socket.set_last_rooms(rooms);
            let site = Site::socket("disconnecting handler", socket.id().as_str(), socket.nsp());
            let handlers = socket.handlers();
            run_all(
                backend,
                &site,
                socket,
                "disconnecting",
                handlers.on_disconnecting(),
                |cx| {
                    cx.reason = Some(reason);
                },
            );
        }
        Event::Disconnect { reason, .. } => {
            let Some(socket) = socket.take() else {
                return;
            };
            let site = Site::socket("disconnect handler", socket.id().as_str(), socket.nsp());
            let handlers = socket.handlers();
            run_all(
                backend,
                &site,
                &socket,
                "disconnect",
                handlers.on_disconnect(),
                |cx| {
                    cx.reason = Some(reason);
                },
            );
            if let Some(observer) = io.observer() {
                observer.disconnected(socket.nsp(), socket.id(), reason);
            }
        }
        _ => {}
    }
}

/// One event of the server task: `serverSideEmit` listeners and the
/// engine's connection events. Handlers are copied out of their locks
/// before they run, so they may register more or act on the core.
fn server_event(io: &SocketIo, backend: &Arc<dyn Backend>, event: Event) {
    match event {
        Event::ServerSideEmit { nsp, data, reply } => {
            let handlers = io
                .handlers(nsp.as_str(), None)
                .map(|h| h.server_side().to_vec())
                .unwrap_or_default();
            let site = Site::socket("server_side_emit listener", "", nsp.as_str());
            for handler in handlers {
                let ack = reply.clone().map(|reply| ServerSideAck::new(io, reply));
                let cx = ServerSideContext::new(io, nsp.clone(), data.clone(), ack);
                start(backend.as_ref(), &site, || handler(cx));
            }
        }
        Event::Engine(event) => conn_event(io.engine_state(), event),
        Event::SessionOpen { sid, handshake } => session_open(&io.engine(), sid, handshake),
        Event::RoomJoined { socket, nsp, room } => {
            if let Some(observer) = io.observer() {
                observer.room(true, nsp.as_str(), room.as_str(), &socket);
            }
        }
        Event::RoomLeft { socket, nsp, room } => {
            if let Some(observer) = io.observer() {
                observer.room(false, nsp.as_str(), room.as_str(), &socket);
            }
        }
        _ => {}
    }
}

/// An event packet as a handler sees it: its name (a number in its
/// JavaScript form), its ack id, its arguments after the name.
fn split_event(
    event: socketio_proto::packet::Event,
) -> (String, Option<socketio_proto::ClientAckId>, Payload) {
    // A string name (the usual case) is moved out of the array rather
    // than copied.
    let number_name = match event.name() {
        Some(Value::String(_)) => None,
        _ => Some(event.name_str().map(|n| n.into_owned()).unwrap_or_default()),
    };
    let ack_id = event.ack_id();
    let (mut args, binary) = event.into_parts();
    let first = (!args.is_empty()).then(|| args.remove(0));
    let name = match (number_name, first) {
        (Some(name), _) => name,
        (None, Some(Value::String(name))) => name,
        (None, _) => String::new(),
    };
    (name, ack_id, Payload { args, binary })
}

/// Runs every handler of a list, in order, each with a context of its own
/// that `fill` completes.
fn run_all(
    backend: &dyn Backend,
    site: &Site<'_>,
    socket: &Socket,
    event: &'static str,
    handlers: &[ErasedHandler],
    fill: impl Fn(&mut HandlerContext),
) {
    for handler in handlers {
        let mut cx = HandlerContext::new(socket.clone(), Str::from(event), Payload::default());
        fill(&mut cx);
        start(backend, site, || handler(cx));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use socketio_proto::{Nsp, Room};
    use std::task::Waker;

    fn joined(room: &str) -> Event {
        Event::RoomJoined {
            socket: SocketId::new("s"),
            nsp: Nsp::from("/"),
            room: Room::from(room.to_owned()),
        }
    }

    fn names(seen: &Mutex<Vec<String>>) -> Vec<String> {
        std::mem::take(&mut *lock(seen))
    }

    #[test]
    fn a_queue_starts_a_task_when_idle_and_its_task_ends_when_it_is_empty() {
        let mailbox = Arc::new(Mailbox::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handle = |seen: Arc<Mutex<Vec<String>>>| {
            move |_: &mut Option<Socket>, event: Event| {
                if let Event::RoomJoined { room, .. } = event {
                    lock(&seen).push(room.to_string());
                }
            }
        };
        let mut cx = Context::from_waker(Waker::noop());
        for round in ["a", "b"] {
            // Idle: the first event asks for a task, the next one does not.
            assert!(mailbox.push(joined(&format!("{round}1"))));
            assert!(!mailbox.push(joined(&format!("{round}2"))));
            let mut task = mailbox.clone().run(handle(seen.clone()));
            // It yields once before it runs anything.
            assert!(task.as_mut().poll(&mut cx).is_pending());
            assert!(names(&seen).is_empty());
            assert!(task.as_mut().poll(&mut cx).is_ready());
            assert_eq!(names(&seen), [format!("{round}1"), format!("{round}2")]);
            assert!(!lock(&mailbox.state).running, "left idle");
        }
        // A task dropped before it ran (its runtime shut down) leaves the
        // queue idle: the next event starts a task again, and both run.
        assert!(mailbox.push(joined("c1")));
        let mut task = mailbox.clone().run(handle(seen.clone()));
        assert!(task.as_mut().poll(&mut cx).is_pending());
        drop(task);
        assert!(mailbox.push(joined("c2")));
        let mut task = mailbox.clone().run(handle(seen.clone()));
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert!(task.as_mut().poll(&mut cx).is_ready());
        assert_eq!(names(&seen), ["c1", "c2"]);
    }
}
