//! One task per WebSocket: read messages into the core, write what the core
//! hands out, report flushes and closes.
//!
//! The framing is engineio-proto's own ([`engineio_proto::frames`]): the
//! task reads the socket through [`HyperIo`] (whose scratch buffer is per
//! thread), the [`FrameReader`] unmasks each message straight into the one
//! buffer it becomes, and the task encodes its frames straight into
//! [`HyperIo`]'s write buffer. Between messages a connection holds no
//! buffer at all.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::Frame;
use engineio_proto::frames::{self, FrameError, FrameReader, Incoming};
use futures_io::AsyncWrite;
use hyper::upgrade::OnUpgrade;

use crate::core::Core;
use crate::deflate::{Inflate, Outgoing};
use crate::driver::{Reply, Watch};
use crate::io::{Conn, HyperIo};
use crate::runtime::{Runtime, timeout};

/// How much larger than `max_http_buffer_size` a message may be before the
/// WebSocket layer refuses it: messages a little too large reach the core,
/// which closes with its own rule (1009, "max payload exceeded").
const MESSAGE_SIZE_SLACK: usize = 1024;

/// How long a closing handshake may take to write before the connection is
/// dropped anyway (a peer that does not read).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Messages handled in a row before giving other tasks a turn.
const READS_PER_TURN: u32 = 64;

/// Messages already read (buffered or ready on the socket) handed to the
/// core under one lock acquisition, at most.
const READ_BATCH: usize = 16;

/// How many compressed bytes the inflater is fed at a time.
const INFLATE_PIECE: usize = 1024;

/// Inflated bytes waiting for the frame reader past which no more are fed.
const INFLATE_AHEAD: usize = 16 * 1024;

/// A WebSocket over `I`, the runtime's connection type (see [`Conn`]): the
/// stream, the frame reader's state, and the inflater when the client may
/// send compressed messages.
struct Ws<I> {
    io: HyperIo<Conn<I>>,
    reader: FrameReader,
    inflate: Option<Box<Inflate>>,
}

impl<I: IoBounds> Ws<I> {
    /// Calls `f` with bytes for the frame reader (through the inflater when
    /// there is one): ready with `false` at the end of the stream.
    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut FrameReader, &mut &[u8]),
    ) -> Poll<std::io::Result<bool>> {
        let (io, reader) = (&mut self.io, &mut self.reader);
        let Some(inflate) = self.inflate.as_deref_mut() else {
            return io.poll_read_with(cx, |input| f(reader, input));
        };
        if !inflate.has_pending() {
            // Fed in pieces, and no further once enough inflated bytes wait
            // (a few compressed bytes may inflate a thousandfold): what is
            // left stays in `io` for the next call.
            match io.poll_read_with(cx, |input| {
                while !input.is_empty() && inflate.pending() < INFLATE_AHEAD {
                    let (piece, rest) = input.split_at(input.len().min(INFLATE_PIECE));
                    inflate.feed(piece);
                    *input = rest;
                }
            }) {
                Poll::Ready(Ok(true)) => {}
                other => return other,
            }
        }
        inflate.take(|input| f(reader, input));
        Poll::Ready(Ok(true))
    }

    /// Sends what is buffered and flushes the connection.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
}

/// What woke the WebSocket task.
enum Wake {
    /// Messages from the peer that were ready together, what stopped the
    /// batch if it was not a message (a ping, the end, an error), and how
    /// much of the task's turn the batch took.
    Read(Frames, Option<Step>, u32),
    /// Outputs from the core (`None`: the slot is gone).
    Write(Option<VecDeque<Reply>>),
}

/// What the task does next.
enum Step {
    /// A message went to the core.
    Read,
    /// Answer a ping with this payload.
    Pong(Bytes),
    /// Write these outputs (`None`: the slot is gone, nothing left to serve).
    Write(Option<VecDeque<Reply>>),
    /// The WebSocket ends.
    End(End),
}

/// How the WebSocket ends.
enum End {
    /// The peer closed it (its close frame's payload, which the answer
    /// echoes), or the connection ended (`None`).
    Closed(Option<Bytes>),
    /// The peer broke the WebSocket protocol (or sent a message far too
    /// large).
    ReadFailed(FrameError),
    /// The core asked to close with this code, after the messages before it.
    Close(u16),
    /// The core asked to close while a write was stuck.
    Abandoned,
    /// Writing failed.
    WriteFailed,
}

/// Serves an accepted WebSocket until it closes. `watch` reports it to the
/// core as failed if this task ends any other way.
pub(crate) fn serve<C: Core, R: Runtime>(
    watch: Watch<C, R>,
    upgrade: OnUpgrade,
    deflate: Option<Box<Outgoing>>,
) -> Serve<C, R> {
    Serve {
        state: State::Upgrading {
            watch,
            upgrade,
            deflate,
        },
    }
}

/// The WebSocket task: a hand-written state machine rather than an
/// `async` block, because its size is what every idle connection's task
/// costs. An `async` block kept each wait's locals in slots of their own
/// (376 bytes, tokio's 512-byte task cell); this one is the connection's
/// state and one wait at a time (tokio's 384-byte cell, checked by a test).
pub(crate) struct Serve<C: Core, R: Runtime> {
    state: State<C, R>,
}

enum State<C: Core, R: Runtime> {
    /// Waiting for hyper to hand the connection over.
    Upgrading {
        watch: Watch<C, R>,
        upgrade: OnUpgrade,
        deflate: Option<Box<Outgoing>>,
    },
    /// Serving it.
    Open(Open<C, R>),
    /// Closing it (rare, so boxed: it runs with timeouts of its own).
    Finishing(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

/// An open WebSocket's task state. `ws` comes first: it is dropped (the
/// connection closed) before `watch` reports anything.
struct Open<C: Core, R: Runtime> {
    ws: Ws<R::Io>,
    watch: Watch<C, R>,
    deflate: Option<Box<Outgoing>>,
    doing: Doing,
    reads_in_a_row: u32,
    /// Which side is polled first alternates, so that neither a flood of
    /// incoming messages nor a flood of outputs starves the other.
    writes_first: bool,
    /// A batch was written and not yet reported to the core: reported at
    /// this task's next lock acquisition (taking the next batch, or handing
    /// in a message), so that a write costs one acquisition.
    flushed: bool,
}

/// What an open WebSocket's task waits for.
enum Doing {
    /// A message from the peer or a batch from the core.
    Wait,
    /// Writing a batch (the messages not written yet).
    Write(VecDeque<Reply>),
    /// Flushing a pong.
    Flush,
}

impl<C: Core, R: Runtime> Future for Serve<C, R>
where
    R::Io: IoBounds,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Upgrading { upgrade, .. } => {
                    let upgraded = match Pin::new(upgrade).poll(cx) {
                        Poll::Ready(upgraded) => upgraded,
                        Poll::Pending => return Poll::Pending,
                    };
                    let State::Upgrading { watch, deflate, .. } =
                        std::mem::replace(&mut this.state, State::Done)
                    else {
                        return Poll::Ready(());
                    };
                    // The upgrade never completed: dropping `watch` reports it.
                    let Ok(upgraded) = upgraded else {
                        return Poll::Ready(());
                    };
                    this.state = State::Open(Open::new(watch, upgraded, deflate));
                }
                State::Open(open) => {
                    let end = match open.poll(cx) {
                        Poll::Ready(end) => end,
                        Poll::Pending => return Poll::Pending,
                    };
                    let State::Open(open) = std::mem::replace(&mut this.state, State::Done) else {
                        return Poll::Ready(());
                    };
                    match end {
                        // The slot is gone: nothing left to serve.
                        None => return Poll::Ready(()),
                        Some(end) => {
                            this.state =
                                State::Finishing(Box::pin(finish(open.watch, open.ws, end)));
                        }
                    }
                }
                State::Finishing(finishing) => {
                    if finishing.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.state = State::Done;
                }
                State::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<C: Core, R: Runtime> Open<C, R>
where
    R::Io: IoBounds,
{
    fn new(
        watch: Watch<C, R>,
        upgraded: hyper::upgrade::Upgraded,
        deflate: Option<Box<Outgoing>>,
    ) -> Self {
        // Messages (inflated ones too) a little over the core's limit still
        // reach it (which closes with its own rule); far over it, the
        // reader or the inflater refuses them.
        let limit = watch
            .shared()
            .config
            .max_http_buffer_size
            .saturating_add(MESSAGE_SIZE_SLACK);
        let ws = Ws {
            io: Conn::from_upgraded(upgraded),
            reader: FrameReader::new(limit),
            inflate: deflate
                .as_ref()
                .map(|d| Box::new(Inflate::new(limit, d.client_takeover()))),
        };
        Self {
            ws,
            watch,
            deflate,
            doing: Doing::Wait,
            reads_in_a_row: 0,
            // The core's first batch (the open packet) goes out before
            // anything the client sent is read.
            writes_first: true,
            flushed: false,
        }
    }

    /// Serves the WebSocket: ready with how it ends (`None`: the core's
    /// slot for it is gone, nothing to tell or close).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<End>> {
        loop {
            match &mut self.doing {
                Doing::Write(batch) => {
                    match poll_write_batch(&mut self.ws, batch, self.deflate.as_deref_mut(), cx) {
                        Poll::Ready(None) => {
                            self.flushed = true;
                            self.doing = Doing::Wait;
                        }
                        Poll::Ready(Some(end)) => return Poll::Ready(Some(end)),
                        Poll::Pending => return self.poll_abandoned(cx),
                    }
                }
                Doing::Flush => match self.ws.poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.doing = Doing::Wait,
                    Poll::Ready(Err(_)) => return Poll::Ready(Some(End::WriteFailed)),
                    Poll::Pending => return self.poll_abandoned(cx),
                },
                Doing::Wait => {
                    let wake = match self.poll_wake(cx) {
                        Poll::Ready(wake) => wake,
                        Poll::Pending => return Poll::Pending,
                    };
                    self.writes_first = !self.writes_first;
                    let step = match wake {
                        Wake::Read(frames, after, handled) => {
                            self.reads_in_a_row += handled;
                            read(&self.watch, frames, after, &mut self.flushed)
                        }
                        Wake::Write(batch) => Step::Write(batch),
                    };
                    match step {
                        Step::Read => {
                            if self.reads_in_a_row >= READS_PER_TURN {
                                // Gives other tasks a turn: polled again
                                // from the back of the queue.
                                self.reads_in_a_row = 0;
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                        }
                        Step::Pong(data) => {
                            frames::encode_frame(self.ws.io.out(), frames::PONG, false, &data);
                            self.doing = Doing::Flush;
                        }
                        Step::Write(None) => return Poll::Ready(None),
                        Step::Write(Some(batch)) => {
                            self.reads_in_a_row = 0;
                            self.doing = Doing::Write(batch);
                        }
                        Step::End(end) => return Poll::Ready(Some(end)),
                    }
                }
            }
        }
    }

    /// Messages from the peer, or a batch from the core, whichever side
    /// `writes_first` puts first.
    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let (shared, id) = (self.watch.shared(), self.watch.id());
        if self.writes_first {
            if let Poll::Ready(batch) = shared.poll_batch(id, &mut self.flushed, cx) {
                return Poll::Ready(Wake::Write(batch));
            }
            poll_reads(&mut self.ws, cx).map(|(frames, after, n)| Wake::Read(frames, after, n))
        } else {
            if let Poll::Ready((frames, after, n)) = poll_reads(&mut self.ws, cx) {
                return Poll::Ready(Wake::Read(frames, after, n));
            }
            shared
                .poll_batch(id, &mut self.flushed, cx)
                .map(Wake::Write)
        }
    }

    /// While a write is stuck (a peer that does not read): ready once the
    /// core gave up on this WebSocket, which then stops writing.
    fn poll_abandoned(&self, cx: &mut Context<'_>) -> Poll<Option<End>> {
        self.watch
            .shared()
            .poll_close_requested(self.watch.id(), cx)
            .map(|()| Some(End::Abandoned))
    }
}

/// Messages read in one go: the first kept inline, so that the usual
/// single message costs no allocation.
#[derive(Default)]
struct Frames {
    first: Option<Frame>,
    rest: Vec<Frame>,
    len: u32,
}

impl Frames {
    fn push(&mut self, frame: Frame) {
        if self.first.is_none() {
            self.first = Some(frame);
        } else {
            self.rest.push(frame);
        }
        self.len += 1;
    }
}

impl IntoIterator for Frames {
    type Item = Frame;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Frame>, std::vec::IntoIter<Frame>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

/// Reads every message the stream has ready, at most [`READ_BATCH`]:
/// pending only if none is. A batch ends early at anything that is not a
/// message (a ping, the end, an error), which comes back beside it.
///
/// Bounded per call whatever the client sends: at most [`READ_BATCH`]
/// socket reads and as many messages and pongs. The count that comes back
/// (messages and pongs, at least 1) goes toward the task's turn, so that a
/// flood of pongs, or of frames that complete nothing, still lets the
/// core's batches through and other tasks run.
fn poll_reads<I: IoBounds>(
    ws: &mut Ws<I>,
    cx: &mut Context<'_>,
) -> Poll<(Frames, Option<Step>, u32)> {
    let mut frames = Frames::default();
    let mut stop = None;
    let mut handled = 0u32;
    let mut reads = 0;
    while stop.is_none() && (handled as usize) < READ_BATCH && reads < READ_BATCH {
        reads += 1;
        let polled = ws.poll_read_with(cx, |reader, input| {
            while (handled as usize) < READ_BATCH {
                match reader.read(input) {
                    None => return,
                    Some(Ok(Incoming::Message(frame))) => {
                        frames.push(frame);
                        handled += 1;
                    }
                    Some(Ok(Incoming::Pong)) => handled += 1,
                    Some(Ok(Incoming::Ping(data))) => {
                        stop = Some(Step::Pong(data));
                        return;
                    }
                    Some(Ok(Incoming::Close(payload))) => {
                        stop = Some(Step::End(End::Closed(Some(payload))));
                        return;
                    }
                    Some(Err(error)) => {
                        stop = Some(Step::End(End::ReadFailed(error)));
                        return;
                    }
                }
            }
        });
        match polled {
            Poll::Ready(Ok(true)) => {}
            // The connection ended, or failed under the WebSocket: a plain
            // close, as on the official server.
            Poll::Ready(Ok(false) | Err(_)) => stop = Some(Step::End(End::Closed(None))),
            Poll::Pending if handled == 0 && stop.is_none() => return Poll::Pending,
            Poll::Pending => break,
        }
    }
    Poll::Ready((frames, stop, handled.max(1)))
}

/// Hands the messages from the peer to the core under one lock; then the
/// task goes on with what ended the batch, if anything did.
fn read<C: Core, R: Runtime>(
    watch: &Watch<C, R>,
    frames: Frames,
    after: Option<Step>,
    flushed: &mut bool,
) -> Step {
    if frames.len > 0 {
        let id = watch.id();
        watch.shared().with(|d, now| {
            // A flush not reported yet goes first, in the same lock.
            if std::mem::take(flushed) {
                d.core().handle_ws_flushed(now, id);
            }
            for frame in frames {
                crate::observe::websocket_in(&frame);
                d.core().handle_ws_message(now, id, frame);
            }
        });
    }
    after.unwrap_or(Step::Read)
}

/// Ends the WebSocket: tells the core what it does not know yet, then
/// closes the connection as `end` requires.
async fn finish<C: Core, R: Runtime>(watch: Watch<C, R>, mut ws: Ws<R::Io>, end: End) {
    let runtime = watch.shared().runtime.clone();
    match end {
        End::Closed(reply) => {
            watch.finish(|core, now, id| core.handle_ws_closed(now, id, false));
            // Completes the closing handshake the peer started, echoing
            // its close frame.
            if let Some(payload) = reply {
                frames::encode_frame(ws.io.out(), frames::CLOSE, false, &payload);
                flush_within_grace(&runtime, &mut ws).await;
            }
        }
        End::ReadFailed(error) => {
            watch.finish(|core, now, id| core.handle_ws_closed(now, id, true));
            // 1002, 1007 or 1009, as the WebSocket layer of the official
            // server answers.
            close(&runtime, &mut ws, error.close_code()).await;
        }
        End::Close(code) => {
            // The core already forgot this WebSocket.
            watch.finish(|_, _, _| {});
            close(&runtime, &mut ws, code).await;
        }
        End::Abandoned => watch.finish(|_, _, _| {}),
        End::WriteFailed => watch.finish(|core, now, id| core.handle_ws_closed(now, id, true)),
    }
}

/// Writes the messages of `batch` in order, then flushes them once: ready
/// with `None` once flushed, or with how the WebSocket ends. A message
/// leaves `batch` only once the stream is ready for it.
fn poll_write_batch<I: IoBounds>(
    ws: &mut Ws<I>,
    batch: &mut VecDeque<Reply>,
    mut deflate: Option<&mut Outgoing>,
    cx: &mut Context<'_>,
) -> Poll<Option<End>> {
    loop {
        match batch.front() {
            Some(Reply::WsSend(..)) => {
                match ws.io.poll_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => return Poll::Ready(Some(End::WriteFailed)),
                    Poll::Ready(Ok(())) => {}
                }
                if let Some(Reply::WsSend(frame, compress)) = batch.pop_front() {
                    crate::observe::websocket_out(&frame);
                    match deflate.as_deref_mut() {
                        Some(deflate) if compress => deflate.encode(&frame, ws.io.out()),
                        _ => frames::encode_message(ws.io.out(), &frame),
                    }
                }
            }
            Some(Reply::WsClose(code)) => return Poll::Ready(Some(End::Close(*code))),
            // Requests' outputs never come for an accepted WebSocket.
            Some(Reply::Respond(_) | Reply::ReadBody(_) | Reply::AcceptWebSocket(_)) => {
                batch.pop_front();
            }
            None => {
                return ws
                    .poll_flush(cx)
                    .map(|flushed| flushed.err().map(|_| End::WriteFailed));
            }
        }
    }
}

/// Flushes what is written, within [`CLOSE_GRACE`] (a peer that does not
/// read gets dropped).
async fn flush_within_grace<R: Runtime, I: IoBounds>(runtime: &R, ws: &mut Ws<I>) {
    let _ = timeout(runtime, CLOSE_GRACE, poll_fn(|cx| ws.poll_flush(cx))).await;
}

/// Sends a close frame with `code` (after what is already written), within
/// [`CLOSE_GRACE`]; the connection is dropped after it either way.
async fn close<R: Runtime, I: IoBounds>(runtime: &R, ws: &mut Ws<I>, code: u16) {
    frames::encode_close(ws.io.out(), code);
    flush_within_grace(runtime, ws).await;
}

/// What the connection under a WebSocket must be.
trait IoBounds: hyper::rt::Read + hyper::rt::Write + Unpin {}

impl<I: hyper::rt::Read + hyper::rt::Write + Unpin> IoBounds for I {}
