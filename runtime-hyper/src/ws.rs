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
use crate::runtime::{Runtime, timeout, yield_now};

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
            match io.poll_read_with(cx, |input| {
                inflate.feed(input);
                *input = &[];
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
    /// Messages from the peer that were ready together, and what stopped
    /// the batch if it was not a message (a ping, the end, an error).
    Read(Frames, Option<Step>),
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
///
/// The task's future is what an idle connection costs, so it stays small:
/// the waits are poll functions over the stream and the driver rather than
/// nested futures, nothing large lives across a wait, the stream is built
/// without one, and the end runs in a box of its own. tokio's task cell
/// grows in 128-byte steps: at 528 bytes (measured) this future keeps the
/// WebSocket task in the 640-byte class.
// Not an `async fn`: that would keep a second copy of its arguments in the
// future (they are moved into locals), a dead 32 bytes per connection.
#[allow(clippy::manual_async_fn)]
pub(crate) fn serve<C: Core, R: Runtime>(
    watch: Watch<C, R>,
    upgrade: OnUpgrade,
    mut deflate: Option<Box<Outgoing>>,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        let Ok(upgraded) = upgrade.await else {
            // The upgrade never completed: dropping `watch` reports it.
            return;
        };
        // Messages (inflated ones too) a little over the core's limit
        // still reach it (which closes with its own rule); far over it,
        // the reader or the inflater refuses them.
        let limit = watch
            .shared()
            .config
            .max_http_buffer_size
            .saturating_add(MESSAGE_SIZE_SLACK);
        let mut ws: Ws<R::Io> = Ws {
            io: Conn::from_upgraded(upgraded),
            reader: FrameReader::new(limit),
            inflate: deflate
                .as_ref()
                .map(|d| Box::new(Inflate::new(limit, d.client_takeover()))),
        };
        let mut reads_in_a_row = 0u32;
        // Which side is polled first alternates, so that neither a flood of
        // incoming messages nor a flood of outputs starves the other.
        let mut writes_first = false;
        // A batch was written and not yet reported to the core: reported at
        // this task's next lock acquisition (taking the next batch, or
        // handing in a message), so that a write costs one acquisition.
        let mut flushed = false;
        loop {
            writes_first = !writes_first;
            let step = {
                // The waits capture what they use by reference, one by one
                // (and the request id through `watch`): what a wait holds
                // is part of every idle connection's task.
                let (w, io, fl, first) = (&watch, &mut ws, &mut flushed, writes_first);
                let wake = poll_fn(move |cx| {
                    let (shared, id) = (w.shared(), w.id());
                    if first {
                        if let Poll::Ready(batch) = shared.poll_batch(id, fl, cx) {
                            return Poll::Ready(Wake::Write(batch));
                        }
                        poll_reads(io, cx).map(|(frames, after)| Wake::Read(frames, after))
                    } else {
                        if let Poll::Ready((frames, after)) = poll_reads(io, cx) {
                            return Poll::Ready(Wake::Read(frames, after));
                        }
                        shared.poll_batch(id, fl, cx).map(Wake::Write)
                    }
                })
                .await;
                match wake {
                    Wake::Read(frames, after) => {
                        reads_in_a_row += frames.len;
                        read(&watch, frames, after, &mut flushed)
                    }
                    Wake::Write(batch) => Step::Write(batch),
                }
            };
            match step {
                Step::Read => {
                    if reads_in_a_row >= READS_PER_TURN {
                        reads_in_a_row = 0;
                        yield_now().await;
                    }
                }
                Step::Pong(data) => {
                    frames::encode_frame(ws.io.out(), frames::PONG, false, &data);
                    let (w, io) = (&watch, &mut ws);
                    let flushed_pong = poll_fn(move |cx| {
                        if let Poll::Ready(flushed) = io.poll_flush(cx) {
                            return Poll::Ready(flushed.err().map(|_| End::WriteFailed));
                        }
                        w.shared()
                            .poll_close_requested(w.id(), cx)
                            .map(|()| Some(End::Abandoned))
                    })
                    .await;
                    if let Some(end) = flushed_pong {
                        return Box::pin(finish(watch, ws, end)).await;
                    }
                }
                Step::Write(None) => return,
                Step::Write(Some(mut batch)) => {
                    reads_in_a_row = 0;
                    // The batch lives in the wait itself (dropped with it).
                    let (w, io, d) = (&watch, &mut ws, &mut deflate);
                    let written = poll_fn(move |cx| {
                        if let Poll::Ready(written) =
                            poll_write_batch(io, &mut batch, d.as_deref_mut(), cx)
                        {
                            return Poll::Ready(written);
                        }
                        // The core gave up on this WebSocket while a write
                        // was stuck (a peer that does not read): stop
                        // writing.
                        w.shared()
                            .poll_close_requested(w.id(), cx)
                            .map(|()| Some(End::Abandoned))
                    })
                    .await;
                    match written {
                        None => flushed = true,
                        Some(end) => return Box::pin(finish(watch, ws, end)).await,
                    }
                }
                Step::End(end) => return Box::pin(finish(watch, ws, end)).await,
            }
        }
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
fn poll_reads<I: IoBounds>(ws: &mut Ws<I>, cx: &mut Context<'_>) -> Poll<(Frames, Option<Step>)> {
    let mut frames = Frames::default();
    let mut stop = None;
    while stop.is_none() && (frames.len as usize) < READ_BATCH {
        let polled = ws.poll_read_with(cx, |reader, input| {
            while (frames.len as usize) < READ_BATCH {
                match reader.read(input) {
                    None => return,
                    Some(Ok(Incoming::Message(frame))) => frames.push(frame),
                    Some(Ok(Incoming::Pong)) => {}
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
            Poll::Pending if frames.len == 0 && stop.is_none() => return Poll::Pending,
            Poll::Pending => break,
        }
    }
    Poll::Ready((frames, stop))
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
