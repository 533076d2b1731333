//! Broadcast operators (`io.to(...).except(...).emit(...)`) and the
//! server-wide emits: what acts on many sockets at once.

use std::time::Duration;

use futures_channel::oneshot;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketio_proto::{BroadcastOptions, Event, Nsp, Target};

use crate::io::{Namespace, SocketIo};
use crate::payload::{AckError, EmitError, Payload, decode};
use crate::rooms::IntoRooms;

/// Selects sockets and flags for a broadcast (`io.to(...).except(...)`).
///
/// ```
/// use std::time::Duration;
/// use socketio_async::{BroadcastAckError, SocketIo};
///
/// async fn poll(io: SocketIo) {
///     // Everyone in "a" or "b" but those in "muted", on this node only.
///     let _ = io.to(["a", "b"]).except("muted").local().emit("news", "hello");
///     // Ask everyone; keep the answers that came even if some did not.
///     match io.timeout(Duration::from_secs(2)).emit_with_ack::<u32>("vote", ()).await {
///         Ok(votes) => println!("all {} voted", votes.len()),
///         Err(BroadcastAckError { error, answers }) => {
///             println!("{error}; {} voted in time", answers.len())
///         }
///     }
/// }
/// ```
#[derive(Clone)]
pub struct BroadcastOperator {
    io: SocketIo,
    nsp: Nsp,
    options: BroadcastOptions,
}

impl std::fmt::Debug for BroadcastOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastOperator")
            .field("nsp", &self.nsp)
            .field("options", &self.options)
            .finish()
    }
}

/// The answers of a broadcast with acknowledgements when not every socket
/// answered (or one answered in another shape): the error, and the answers
/// that did come, as Node gives them.
///
/// ```
/// use std::time::Duration;
/// use socketio_async::{BroadcastAckError, SocketIo};
///
/// async fn poll(io: SocketIo) {
///     match io.timeout(Duration::from_secs(5)).emit_with_ack::<String>("vote", ()).await {
///         Ok(votes) => println!("everyone voted: {votes:?}"),
///         Err(BroadcastAckError { error, answers }) => {
///             println!("{error}; the votes that came: {answers:?}")
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error} ({} answers received)", answers.len())]
pub struct BroadcastAckError<T> {
    /// What went wrong: [`AckError::Timeout`] when some sockets did not
    /// answer in time, [`AckError::Decode`] when an answer had another shape.
    pub error: AckError,
    /// The answers received (those that decoded), in arrival order.
    pub answers: Vec<T>,
}

impl BroadcastOperator {
    pub(crate) fn new(io: SocketIo, nsp: Nsp, target: Target) -> Self {
        Self {
            io,
            nsp,
            options: BroadcastOptions {
                target,
                ..BroadcastOptions::default()
            },
        }
    }

    /// Also the sockets in `rooms` (`to` / `in`): one room or many.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("a").to(["b", "c"]).emit("news", "hi");
    /// # }
    /// ```
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.options.target.rooms.extend(rooms.into_rooms());
        self
    }

    /// The same as [`to`](Self::to) (`in`).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.local().in_("a").emit("news", "hi");
    /// # }
    /// ```
    pub fn in_(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Not the sockets in `rooms`: one room or many.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("a").except("muted").emit("news", "hi");
    /// # }
    /// ```
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.options.target.except.extend(rooms.into_rooms());
        self
    }

    /// This node only.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("a").local().emit("news", "this node only");
    /// # }
    /// ```
    pub fn local(mut self) -> Self {
        self.options.target.local = true;
        self
    }

    /// Dropped for sockets whose transport cannot take it right now.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("game").volatile().emit("position", (1, 2));
    /// # }
    /// ```
    pub fn volatile(mut self) -> Self {
        self.options.volatile = true;
        self
    }

    /// The `compress` flag: `false` sends the event uncompressed (no
    /// permessage-deflate for it; see `BroadcastOptions::compress`).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("a").compress(false).emit("blob", "incompressible");
    /// # }
    /// ```
    pub fn compress(mut self, compress: bool) -> Self {
        self.options.compress = Some(compress);
        self
    }

    /// Waits at most `timeout` for the acknowledgements of
    /// [`emit_with_ack`](Self::emit_with_ack) (default 5 s).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let op = io.to("voters").timeout(std::time::Duration::from_secs(2));
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    pub(crate) fn nsp(&self) -> &Nsp {
        &self.nsp
    }

    pub(crate) fn target(&self) -> &Target {
        &self.options.target
    }

    pub(crate) fn io(&self) -> &SocketIo {
        &self.io
    }

    /// Emits to the selected sockets; returns how many local ones it
    /// reached. One value is one argument; a tuple is several.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// io.to("room").emit("scores", vec![3, 1, 2])?; // one argument: [3,1,2]
    /// io.to("room").emit("move", (3, 4))?;          // two arguments: 3, 4
    /// io.to("room").emit("ping", ())?;              // no argument
    /// # Ok(()) }
    /// ```
    pub fn emit(self, event: &str, args: impl Serialize) -> Result<usize, EmitError> {
        self.emit_payload(event, Payload::new(args)?)
    }

    /// Emits arguments that may hold binary attachments.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let file = socketio_async::Payload::new("a.bin").unwrap().attach(vec![1, 2, 3]);
    /// let _ = io.to("a").emit_payload("file", file);
    /// # }
    /// ```
    pub fn emit_payload(mut self, event: &str, payload: Payload) -> Result<usize, EmitError> {
        self.options.timeout = None;
        let packet = payload.into_event(event)?;
        let (nsp, options) = (self.nsp, self.options);
        match self
            .io
            .runner()
            .act_or_defer(move |core, now| core.broadcast(now, &nsp, &options, packet))
            .map_err(|_| EmitError::NotRunning)?
        {
            Some(sent) => Ok(sent?.recipients),
            // From a hook the core is running: sent right after it, to
            // sockets not counted here.
            None => Ok(0),
        }
    }

    /// Emits and collects every selected socket's acknowledgement (its
    /// first argument, or all of them for a tuple `T`), waiting at most
    /// the [`timeout`](Self::timeout) (default 5 s). If some did not
    /// answer in time, the error carries the answers that came.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::{BroadcastAckError, SocketIo};
    /// async fn tally(io: SocketIo) -> (usize, usize) {
    ///     let asked = io.to("voters").timeout(Duration::from_secs(5));
    ///     match asked.emit_with_ack::<bool>("vote?", "lunch at noon?").await {
    ///         Ok(votes) => (votes.iter().filter(|v| **v).count(), votes.len()),
    ///         // Some did not answer in time: count those that did.
    ///         Err(BroadcastAckError { answers, .. }) => (answers.iter().filter(|v| **v).count(), answers.len()),
    ///     }
    /// }
    /// ```
    pub async fn emit_with_ack<T: DeserializeOwned>(
        self,
        event: &str,
        args: impl Serialize,
    ) -> Result<Vec<T>, BroadcastAckError<T>> {
        let payload = Payload::new(args).map_err(|e| BroadcastAckError {
            error: AckError::Emit(e.into()),
            answers: Vec::new(),
        })?;
        let result = self.emit_payload_with_ack(event, payload).await;
        let (payloads, error) = match result {
            Ok(answers) => (answers, None),
            Err(BroadcastAckError { error, answers }) => (answers, Some(error)),
        };
        gather_answers(payloads, error, |payload| payload.decode::<T>())
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with binary attachments, the
    /// answers untyped.
    ///
    /// ```
    /// # use socketio_async::{Payload, SocketIo};
    /// async fn f(io: SocketIo) {
    ///     let question = Payload::new("which file?").unwrap();
    ///     if let Ok(answers) = io.to("peers").emit_payload_with_ack("ask", question).await {
    ///         for answer in answers {
    ///             println!("{} files", answer.binary.len());
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn emit_payload_with_ack(
        mut self,
        event: &str,
        payload: Payload,
    ) -> Result<Vec<Payload>, BroadcastAckError<Payload>> {
        let fail = |error: AckError| BroadcastAckError {
            error,
            answers: Vec::new(),
        };
        let timeout = self.options.timeout.unwrap_or(Duration::from_secs(5));
        self.options.timeout = Some(timeout);
        let packet = payload
            .into_event(event)
            .map_err(|e| fail(AckError::Emit(e)))?;
        let (tx, rx) = oneshot::channel();
        self.io
            .runner()
            .act(|core, now| {
                let sent = core.broadcast(now, &self.nsp, &self.options, packet)?;
                if let Some(id) = sent.ack {
                    self.io.waiters().wait_broadcast(id, tx);
                }
                Ok::<_, socketio_proto::EmitError>(())
            })
            .ok_or(fail(AckError::Emit(EmitError::NotRunning)))?
            .map_err(|e| fail(AckError::Emit(e.into())))?;
        match rx.await {
            Ok((answers, true)) => Ok(answers),
            Ok((answers, false)) => Err(BroadcastAckError {
                error: AckError::Timeout,
                answers,
            }),
            Err(_) => Err(fail(AckError::Timeout)),
        }
    }

    /// The selected sockets join `rooms` (`socketsJoin`): one room or many.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("lobby").sockets_join(["game-1", "chat"]);
    /// # }
    /// ```
    pub fn sockets_join(self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms = rooms.into_rooms();
        let (nsp, target) = (self.nsp, self.options.target);
        self.io
            .runner()
            .act_or_defer(move |core, _| core.sockets_join(&nsp, &target, &rooms))
            .map_err(|_| EmitError::NotRunning)?;
        Ok(())
    }

    /// The selected sockets leave `rooms` (`socketsLeave`).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("game-1").sockets_leave("game-1");
    /// # }
    /// ```
    pub fn sockets_leave(self, rooms: impl IntoRooms) -> Result<(), EmitError> {
        let rooms = rooms.into_rooms();
        let (nsp, target) = (self.nsp, self.options.target);
        self.io
            .runner()
            .act_or_defer(move |core, _| core.sockets_leave(&nsp, &target, &rooms))
            .map_err(|_| EmitError::NotRunning)?;
        Ok(())
    }

    /// Disconnects the selected sockets (`disconnectSockets`); with
    /// `close`, their whole connections.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("banned").disconnect_sockets(true);
    /// # }
    /// ```
    pub fn disconnect_sockets(self, close: bool) -> Result<(), EmitError> {
        let (nsp, target) = (self.nsp, self.options.target);
        self.io
            .runner()
            .act_or_defer(move |core, now| core.disconnect_sockets(now, &nsp, &target, close))
            .map_err(|_| EmitError::NotRunning)?;
        Ok(())
    }
}

impl Namespace {
    /// A broadcast operator over the whole namespace.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.of("/admin").operator().volatile().emit("tick", ());
    /// # }
    /// ```
    pub fn operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.io().clone(), self.nsp_name(), Target::all())
    }

    /// Targets the sockets of this namespace in `rooms`.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.of("/admin").to("ops").emit("alert", "disk full");
    /// # }
    /// ```
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// The same as [`to`](Self::to) (`nsp.in`).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.of("/chat").in_("lobby").emit("typing", true);
    /// # }
    /// ```
    pub fn in_(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Every socket of this namespace but those in `rooms`.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.of("/admin").except("muted").emit("alert", "disk full");
    /// # }
    /// ```
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().except(rooms)
    }

    /// Every socket of this namespace, on this node only.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.of("/admin").local().emit("alert", "this node");
    /// # }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.operator().local()
    }

    /// Acknowledgements wait at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::SocketIo;
    /// async fn poll(io: SocketIo) -> usize {
    ///     let votes = io.of("/vote").timeout(Duration::from_secs(10)).emit_with_ack::<bool>("vote?", ());
    ///     votes.await.map_or_else(|e| e.answers.len(), |all| all.len())
    /// }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.operator().timeout(timeout)
    }

    /// Emits to every socket of this namespace.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.of("/admin").emit("alert", ("disk", 95));
    /// # }
    /// ```
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<usize, EmitError> {
        self.operator().emit(event, args)
    }
}

impl SocketIo {
    /// A broadcast operator over namespace `nsp`.
    pub(crate) fn broadcast_in(&self, nsp: impl Into<Nsp>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone(), nsp.into(), Target::all())
    }

    /// Targets the sockets of the main namespace in `rooms` (`io.to`):
    /// one room or many.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.to("lobby").emit("hello", "everyone in the lobby");
    /// let _ = io.to(["a", "b"]).emit("hello", "everyone in a or b");
    /// # }
    /// ```
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast_in("/").to(rooms)
    }

    /// The same as [`to`](Self::to) (`io.in`; `in` is a Rust keyword).
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.in_("lobby").emit("news", "hi lobby");
    /// # }
    /// ```
    pub fn in_(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Every socket of the main namespace but those in `rooms`.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.except(["muted", "away"]).emit("news", "hi");
    /// # }
    /// ```
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast_in("/").except(rooms)
    }

    /// Every socket of the main namespace, on this node only.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.local().emit("news", "this node only");
    /// # }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast_in("/").local()
    }

    /// Acknowledgements of the main namespace's sockets wait at most
    /// `timeout` (`io.timeout(d).emitWithAck`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::SocketIo;
    /// async fn ready(io: SocketIo) -> bool {
    ///     let answers = io.timeout(Duration::from_secs(2)).emit_with_ack::<bool>("ready?", ()).await;
    ///     answers.is_ok_and(|all| all.iter().all(|r| *r))
    /// }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.broadcast_in("/").timeout(timeout)
    }

    /// Emits to every socket of the main namespace (`io.emit`): one value
    /// is one argument, a tuple several.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let reached = io.emit("news", "hello everyone").unwrap_or(0);
    /// # }
    /// ```
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<usize, EmitError> {
        self.broadcast_in("/").emit(event, args)
    }

    /// `serverSideEmit` to the other nodes, without answers: one value is
    /// one argument, a tuple several.
    ///
    /// ```
    /// # use socketio_async::SocketIo;
    /// # fn f(io: SocketIo) {
    /// let _ = io.server_side_emit("cache-invalidate", ("users", 42));
    /// # }
    /// ```
    pub fn server_side_emit(&self, event: &str, args: impl Serialize) -> Result<(), EmitError> {
        self.server_side_emit_payload(event, Payload::new(args)?)
    }

    /// [`server_side_emit`](Self::server_side_emit) with the arguments as
    /// they are (binary attachments do not cross nodes this way).
    ///
    /// ```
    /// # use socketio_async::{Payload, SocketIo};
    /// # fn f(io: SocketIo) -> Result<(), socketio_async::EmitError> {
    /// io.server_side_emit_payload("reload", Payload::new(("config", 3))?)?;
    /// # Ok(()) }
    /// ```
    pub fn server_side_emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        let mut data = vec![Value::String(event.to_owned())];
        data.extend(payload.args);
        self.runner()
            .act_or_defer(move |core, now| {
                core.server_side_emit(now, &Nsp::MAIN, data, None);
            })
            .map_err(|_| EmitError::NotRunning)?;
        Ok(())
    }

    /// `serverSideEmit` with answers: one per other node that answered
    /// within `timeout`, each read as a `T`. When some node did not answer
    /// in time (or an answer had another shape), the error carries the
    /// answers that did come, as Node's callback gets `(err, responses)`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::{BroadcastAckError, SocketIo};
    /// async fn count(io: SocketIo) -> usize {
    ///     // Each node answers `ack.send(n)` (see `Namespace::on_server_side`).
    ///     match io.server_side_emit_with_ack::<usize>("count", (), Duration::from_secs(2)).await {
    ///         Ok(counts) => counts.iter().sum(),
    ///         // A node too slow: count those that answered.
    ///         Err(BroadcastAckError { answers, .. }) => answers.iter().sum(),
    ///     }
    /// }
    /// ```
    pub async fn server_side_emit_with_ack<T: DeserializeOwned>(
        &self,
        event: &str,
        args: impl Serialize,
        timeout: Duration,
    ) -> Result<Vec<T>, BroadcastAckError<T>> {
        let payload = Payload::new(args).map_err(|e| BroadcastAckError {
            error: AckError::Emit(e.into()),
            answers: Vec::new(),
        })?;
        self.server_side_emit_payload_with_ack(event, payload, timeout)
            .await
    }

    /// [`server_side_emit_with_ack`](Self::server_side_emit_with_ack) with
    /// the arguments as they are.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use socketio_async::{Payload, SocketIo};
    /// async fn users(io: SocketIo) -> Vec<u64> {
    ///     let question = Payload::new("users").unwrap_or_default();
    ///     io.server_side_emit_payload_with_ack::<u64>("count", question, Duration::from_secs(2))
    ///         .await
    ///         .unwrap_or_else(|partial| partial.answers)
    /// }
    /// ```
    pub async fn server_side_emit_payload_with_ack<T: DeserializeOwned>(
        &self,
        event: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Vec<T>, BroadcastAckError<T>> {
        let mut data = vec![Value::String(event.to_owned())];
        data.extend(payload.args);
        let (tx, rx) = oneshot::channel();
        self.runner()
            .act(|core, now| {
                if let Some(key) = core.server_side_emit(now, &Nsp::MAIN, data, Some(timeout)) {
                    self.waiters().wait_request(key, tx);
                }
            })
            .ok_or(BroadcastAckError {
                error: AckError::Emit(EmitError::NotRunning),
                answers: Vec::new(),
            })?;
        let (responses, error) = match rx.await {
            Ok(Event::ServerSideEmitDone {
                responses,
                timed_out,
                ..
            }) => (responses, timed_out.then_some(AckError::Timeout)),
            // The server stopped before the answers came.
            _ => (Vec::new(), Some(AckError::Timeout)),
        };
        gather_answers(responses, error, |response| {
            decode::<T>(std::slice::from_ref(&response))
        })
    }
}

/// The typed answers of a broadcast or server-side emit with acks: every
/// answer that decodes is kept, and the first error (`error` if the
/// gathering itself failed, else the first answer of the wrong shape) comes
/// with them, as Node hands `(err, responses)`.
fn gather_answers<A, T>(
    raw: Vec<A>,
    mut error: Option<AckError>,
    decode: impl Fn(A) -> Result<T, crate::payload::DataError>,
) -> Result<Vec<T>, BroadcastAckError<T>> {
    let mut answers = Vec::with_capacity(raw.len());
    for item in raw {
        match decode(item) {
            Ok(answer) => answers.push(answer),
            Err(e) => {
                error.get_or_insert(AckError::Decode(e));
            }
        }
    }
    match error {
        None => Ok(answers),
        Some(error) => Err(BroadcastAckError { error, answers }),
    }
}
