//! One task per WebSocket: read messages into the core, write what the core
//! hands out, report flushes and closes.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use async_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame as WsFrame};
use async_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use async_tungstenite::tungstenite::{Error, Message, Utf8Bytes};
use bytes::Bytes;
use engineio_proto::{Frame, Str};
use futures_io::{AsyncRead, AsyncWrite};
use hyper::upgrade::OnUpgrade;

use crate::core::Core;
use crate::deflate::{Inflating, Outgoing};
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

/// Messages already read (buffered by tungstenite or the socket) handed to
/// the core under one lock acquisition, at most.
const READ_BATCH: usize = 16;

/// The WebSocket over `I`, the runtime's connection type (see [`Conn`]):
/// tungstenite's protocol state, driven by this task's poll functions
/// through [`TaskIo`].
type Ws<I> = WebSocket<TaskIo<Inflating<HyperIo<Conn<I>>>>>;

/// The stream under tungstenite's calls (which read and write as if
/// blocking): each call polls the stream with the waker of the task's
/// current poll, and `Pending` becomes `WouldBlock`, which the poll
/// functions below turn back into `Pending`.
///
/// async-tungstenite's stream keeps two shared waker proxies per connection
/// (two allocations, 128 bytes, for a reader and a writer on different
/// tasks); one task serves a WebSocket here, so its own waker, kept inline,
/// is enough.
struct TaskIo<S> {
    inner: S,
    waker: Waker,
}

impl<S> TaskIo<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            waker: Waker::noop().clone(),
        }
    }

    /// Makes the calls that follow wake the task polled with `cx`.
    fn register(&mut self, cx: &Context<'_>) {
        if !self.waker.will_wake(cx.waker()) {
            self.waker.clone_from(cx.waker());
        }
    }

    fn poll<T>(
        &mut self,
        f: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> io::Result<T>
    where
        S: Unpin,
    {
        let mut cx = Context::from_waker(&self.waker);
        match f(Pin::new(&mut self.inner), &mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncRead + Unpin> io::Read for TaskIo<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.poll(|s, cx| s.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> io::Write for TaskIo<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.poll(|s, cx| s.poll_write(cx, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.poll(|s, cx| s.poll_flush(cx))
    }
}

/// A tungstenite result as a poll: `WouldBlock` is `Pending`.
fn ready<T>(result: Result<T, Error>) -> Poll<Result<T, Error>> {
    match result {
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        other => Poll::Ready(other),
    }
}

/// The next message from the peer; `None` once the connection is closed.
fn poll_next<I: IoBounds>(
    ws: &mut Ws<I>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Message, Error>>> {
    ws.get_mut().register(cx);
    ready(ws.read()).map(|read| match read {
        Ok(message) => Some(Ok(message)),
        Err(Error::ConnectionClosed | Error::AlreadyClosed) => None,
        Err(error) => Some(Err(error)),
    })
}

/// Writes what tungstenite has queued itself (a pong, a close) and flushes
/// the connection. A connection that just closed has nothing left to flush.
fn poll_flush<I: IoBounds>(ws: &mut Ws<I>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
    ws.get_mut().register(cx);
    ready(ws.flush()).map(|flushed| match flushed {
        Err(Error::ConnectionClosed) => Ok(()),
        other => other,
    })
}

/// Sends a close frame (or completes the closing handshake the peer
/// started, with `None`), then flushes.
async fn send_close<I: IoBounds>(ws: &mut Ws<I>, frame: Option<CloseFrame>) -> Result<(), Error> {
    let mut frame = Some(frame);
    poll_fn(|cx| {
        if let Some(frame) = frame.take() {
            ws.get_mut().register(cx);
            match ready(ws.write(Message::Close(frame))) {
                // Queued, not yet written: the flush below goes on with it.
                Poll::Ready(Ok(())) | Poll::Pending => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            }
        }
        poll_flush(ws, cx)
    })
    .await
}

/// tungstenite's read buffer, allocated up front for every connection and
/// kept for its life: what one read call takes at most. Small, because an
/// idle connection keeps it (1 KiB of it was most of the buffers an idle
/// WebSocket held); [`HyperIo`] reads ahead from the socket in large chunks
/// without keeping them, so small reads cost no extra system calls.
const READ_BUFFER: usize = 128;

/// The WebSocket settings for a core whose largest message is `max`.
///
/// tungstenite buffers none of its writes (its write buffer would keep the
/// capacity of the largest batch for the connection's life): the core's
/// frames are encoded by this task straight into [`HyperIo`]'s write
/// buffer, which exists only while it holds bytes; the frames tungstenite
/// writes itself (pongs, closes) go through to the same buffer in order.
fn config(max: usize) -> WebSocketConfig {
    let limit = max.saturating_add(MESSAGE_SIZE_SLACK);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
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
    /// Nothing to do (a ping or pong, answered by tungstenite itself).
    Skip,
    /// Write these outputs (`None`: the slot is gone, nothing left to serve).
    Write(Option<VecDeque<Reply>>),
    /// The WebSocket ends.
    End(End),
}

/// How the WebSocket ends.
enum End {
    /// The peer closed it, or the connection ended.
    Closed,
    /// Reading failed: a protocol violation or not, and whether because a
    /// message was too large.
    ReadFailed { protocol: bool, too_big: bool },
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
        let max = watch.shared().config.max_http_buffer_size;
        let config = config(max);
        // Inflated messages are bounded like plain ones: a little over the
        // core's limit still reaches it (which closes with its own rule),
        // far over it never leaves the inflater.
        let inflate = deflate
            .as_ref()
            .map(|d| (max.saturating_add(MESSAGE_SIZE_SLACK), d.client_takeover()));
        let mut ws: Ws<R::Io> = WebSocket::from_raw_socket(
            TaskIo::new(Inflating::new(Conn::from_upgraded(upgraded), inflate)),
            Role::Server,
            Some(config),
        );
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
                Step::Skip => {}
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
/// message, which comes back beside it.
fn poll_reads<I: IoBounds>(ws: &mut Ws<I>, cx: &mut Context<'_>) -> Poll<(Frames, Option<Step>)> {
    let mut frames = Frames::default();
    while (frames.len as usize) < READ_BATCH {
        let incoming = match poll_next(ws, cx) {
            Poll::Ready(incoming) => incoming,
            Poll::Pending if frames.len == 0 => return Poll::Pending,
            Poll::Pending => break,
        };
        match incoming {
            Some(Ok(Message::Text(text))) => {
                frames.push(Frame::Text(Str::from_utf8_lossy(Bytes::from(text))));
            }
            Some(Ok(Message::Binary(data))) => frames.push(Frame::Binary(data)),
            // Pings are answered by tungstenite itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                return Poll::Ready((frames, Some(Step::Skip)));
            }
            Some(Ok(Message::Close(_))) | None => {
                return Poll::Ready((frames, Some(Step::End(End::Closed))));
            }
            Some(Err(error)) => {
                let end = End::ReadFailed {
                    protocol: is_protocol_error(&error),
                    too_big: matches!(error, Error::Capacity(_)),
                };
                return Poll::Ready((frames, Some(Step::End(end))));
            }
        }
    }
    Poll::Ready((frames, None))
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
        End::Closed => {
            watch.finish(|core, now, id| core.handle_ws_closed(now, id, false));
            // Completes the closing handshake tungstenite started.
            let _ = timeout(&runtime, CLOSE_GRACE, send_close(&mut ws, None)).await;
        }
        End::ReadFailed { protocol, too_big } => {
            watch.finish(|core, now, id| core.handle_ws_closed(now, id, protocol));
            if too_big {
                // 1009 "message too big", as the WebSocket layer of the
                // official server answers.
                close(&runtime, &mut ws, 1009).await;
            }
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
                let io = ws.get_mut().inner.get_mut();
                match io.poll_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => return Poll::Ready(Some(End::WriteFailed)),
                    Poll::Ready(Ok(())) => {}
                }
                if let Some(Reply::WsSend(frame, compress)) = batch.pop_front() {
                    crate::observe::websocket_out(&frame);
                    let message = match deflate.as_deref_mut() {
                        Some(deflate) if compress => deflate.message(frame, message),
                        _ => message(frame),
                    };
                    encode(io.out(), message);
                }
            }
            Some(Reply::WsClose(code)) => return Poll::Ready(Some(End::Close(*code))),
            // Requests' outputs never come for an accepted WebSocket.
            Some(Reply::Respond(_) | Reply::ReadBody(_) | Reply::AcceptWebSocket(_)) => {
                batch.pop_front();
            }
            // tungstenite's flush writes what it has queued itself (a pong)
            // after the frames above, then flushes the buffer they are in.
            None => {
                return poll_flush(ws, cx).map(|flushed| match flushed {
                    Ok(()) => None,
                    Err(_) => Some(End::WriteFailed),
                });
            }
        }
    }
}

/// Sends a close frame with `code` (after what is already written), within
/// [`CLOSE_GRACE`]; the connection is dropped after it either way.
async fn close<R: Runtime>(runtime: &R, ws: &mut Ws<R::Io>, code: u16) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::default(),
    };
    let _ = timeout(runtime, CLOSE_GRACE, send_close(ws, Some(frame))).await;
}

/// What the connection under a WebSocket must be.
trait IoBounds: hyper::rt::Read + hyper::rt::Write + Unpin {}

impl<I: hyper::rt::Read + hyper::rt::Write + Unpin> IoBounds for I {}

/// Appends `message` to `out` as one final, unmasked frame (what a server
/// sends). The core's frames are text or binary, and compressed ones come
/// as ready frames (RSV1 set); nothing else is ever handed here.
fn encode(out: &mut Vec<u8>, message: Message) {
    let frame = match message {
        Message::Text(text) => WsFrame::message(text, OpCode::Data(Data::Text), true),
        Message::Binary(data) => WsFrame::message(data, OpCode::Data(Data::Binary), true),
        Message::Frame(frame) => frame,
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return,
    };
    let payload = frame.payload();
    let len = payload.len() as u64;
    out.reserve(frame.header().len(len) + payload.len());
    // Writing into a vector cannot fail.
    let _ = frame.header().format(len, out);
    out.extend_from_slice(payload);
}

/// A core frame as a WebSocket message.
fn message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => match Utf8Bytes::try_from(text.into_bytes()) {
            Ok(text) => Message::Text(text),
            // `Str` is UTF-8 by construction; never taken.
            Err(_) => Message::Text(Utf8Bytes::default()),
        },
        Frame::Binary(data) => Message::Binary(data),
    }
}

/// Whether a read error is the peer breaking the WebSocket protocol
/// ("transport error"), rather than the connection simply ending
/// ("transport close"). The official server's WebSocket layer reports only
/// protocol violations as errors; a connection reset or dropped without a
/// closing handshake is a plain close there.
fn is_protocol_error(error: &Error) -> bool {
    use async_tungstenite::tungstenite::error::ProtocolError;
    !matches!(
        error,
        Error::ConnectionClosed
            | Error::AlreadyClosed
            | Error::Io(_)
            | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// What tungstenite itself writes for `frame`.
    fn tungstenite_bytes(frame: WsFrame) -> Vec<u8> {
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out
    }

    #[test]
    fn frames_are_encoded_as_tungstenite_encodes_them() {
        // Every length form: 7 bits, 16 bits, 64 bits, at their edges.
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            let data = Bytes::from(vec![b'a'; len]);
            let mut out = vec![1, 2, 3];
            encode(
                &mut out,
                message(Frame::Text(Str::from_utf8_lossy(data.clone()))),
            );
            let expected = tungstenite_bytes(WsFrame::message(
                data.clone(),
                OpCode::Data(Data::Text),
                true,
            ));
            // Appended after what was there.
            assert_eq!(out.get(..3).unwrap(), &[1, 2, 3]);
            assert_eq!(
                out.get(3..).unwrap(),
                expected.as_slice(),
                "text of {len} bytes"
            );

            let mut out = Vec::new();
            encode(&mut out, message(Frame::Binary(data.clone())));
            let expected =
                tungstenite_bytes(WsFrame::message(data, OpCode::Data(Data::Binary), true));
            assert_eq!(out, expected, "binary of {len} bytes");
        }
        // Exact bytes: FIN + text, no mask, length 2.
        let mut out = Vec::new();
        encode(&mut out, Message::text("40"));
        assert_eq!(out, b"\x81\x0240");
        // A compressed frame keeps its RSV1 bit: FIN + RSV1 + binary.
        let mut frame = WsFrame::message(vec![9u8; 3], OpCode::Data(Data::Binary), true);
        frame.header_mut().rsv1 = true;
        let mut out = Vec::new();
        encode(&mut out, Message::Frame(frame));
        assert_eq!(out, b"\xc2\x03\x09\x09\x09");
        // Control messages are never the core's: nothing is written.
        let mut out = Vec::new();
        encode(&mut out, Message::Ping(Bytes::from_static(b"x")));
        assert!(out.is_empty());
    }
}
