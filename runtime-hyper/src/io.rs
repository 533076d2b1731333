//! Byte-stream adapters between hyper's I/O traits (`hyper::rt::Read` and
//! `Write`) and futures-io's (`AsyncRead` and `AsyncWrite`), in both
//! directions, without `unsafe`.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use hyper::upgrade::Upgraded;

/// How much one read of a [`FuturesIo`] takes at most: hyper's buffer is
/// not initialised, so the bytes pass through a zeroed buffer of this size
/// on the stack.
const READ_CHUNK: usize = 8 * 1024;

/// A futures-io stream (async-io, async-std, smol sockets) as hyper reads
/// and writes it.
///
/// ```
/// use runtime_hyper::FuturesIo;
///
/// // Any `futures_io::AsyncRead + AsyncWrite` works; an in-memory one here.
/// let io = FuturesIo::new(futures_util::io::Cursor::new(Vec::<u8>::new()));
/// fn is_hyper_io(_: &impl hyper::rt::Write) {}
/// is_hyper_io(&io);
/// ```
#[derive(Debug)]
pub struct FuturesIo<T> {
    inner: T,
}

impl<T> FuturesIo<T> {
    /// Wraps `inner`.
    ///
    /// ```
    /// let io = runtime_hyper::FuturesIo::new(futures_util::io::Cursor::new(vec![1u8, 2]));
    /// assert_eq!(io.into_inner().into_inner(), [1, 2]);
    /// ```
    pub fn new(inner: T) -> Self {
        Self { inner }
    }

    /// The wrapped stream.
    ///
    /// ```
    /// use futures_util::io::Cursor;
    ///
    /// let io = runtime_hyper::FuturesIo::new(Cursor::new(Vec::<u8>::new()));
    /// let cursor: Cursor<Vec<u8>> = io.into_inner();
    /// assert_eq!(cursor.position(), 0);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for FuturesIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; READ_CHUNK];
        let len = buf.remaining().min(READ_CHUNK);
        let Some(chunk) = chunk.get_mut(..len) else {
            return Poll::Ready(Ok(()));
        };
        match Pin::new(&mut self.inner).poll_read(cx, chunk) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(chunk.get(..n).unwrap_or_default());
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for FuturesIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

/// A hyper stream (an upgraded connection) as the WebSocket task reads it
/// ([`HyperIo::poll_read_with`]) and writes it (futures-io's `AsyncWrite`).
/// It keeps no buffer while the connection is idle.
///
/// Reads land in a per-thread scratch buffer of [`READ_AHEAD`] bytes (one
/// system call takes what the socket has), which the WebSocket task parses
/// in place. What it did not take yet is kept in a buffer of its exact
/// size, dropped once taken.
///
/// Writes are gathered in a buffer that exists only while it holds bytes:
/// taken from a per-thread spare when the first byte is written, sent to
/// the socket from [`WRITE_HIGH`] bytes on and on every flush, and given
/// back (or freed) once everything is sent. The WebSocket task encodes its
/// frames straight into it ([`HyperIo::out`]).
#[derive(Debug)]
pub(crate) struct HyperIo<T> {
    inner: T,
    /// Bytes read from `inner` that the reader has not taken yet (never
    /// empty when `Some`); boxed, as they are rare (the WebSocket task
    /// leaves bytes only when a batch of messages is full) and this sits
    /// in every idle WebSocket's task.
    ahead: Option<Box<Bytes>>,
    /// Bytes written and not sent yet, from `sent` (never empty when
    /// `Some`, outside of a write in progress).
    out: Option<Vec<u8>>,
    sent: usize,
}

/// How much one read from the socket takes at most.
const READ_AHEAD: usize = 8 * 1024;

/// From this many buffered bytes on, a write first sends what is buffered
/// (and waits if the socket cannot take it).
pub(crate) const WRITE_HIGH: usize = 8 * 1024;

/// A write buffer that grew past this is freed once sent rather than kept
/// as the thread's spare.
const SPARE_MAX: usize = 64 * 1024;

thread_local! {
    /// The scratch buffer socket reads land in, one per thread.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_AHEAD].into_boxed_slice());
    /// One empty write buffer kept for the next connection that writes on
    /// this thread.
    static SPARE: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

impl<T> HyperIo<T> {
    /// Wraps `inner`; `ahead`: bytes already read from it (the part of the
    /// upgrade request's read that followed it).
    pub(crate) fn new(inner: T, ahead: Bytes) -> Self {
        Self {
            inner,
            ahead: (!ahead.is_empty()).then(|| Box::new(ahead)),
            out: None,
            sent: 0,
        }
    }

    /// The write buffer, to append bytes to (taken from the thread's spare
    /// if there is none). Call [`HyperIo::release_if_empty`] if nothing may
    /// have been appended.
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        self.out
            .get_or_insert_with(|| SPARE.with(Cell::take).unwrap_or_default())
    }

    /// How many written bytes are not sent yet.
    pub(crate) fn buffered(&self) -> usize {
        self.out.as_ref().map_or(0, |out| out.len() - self.sent)
    }

    /// Gives the write buffer back once nothing is left in it.
    fn release_if_empty(&mut self) {
        if self.buffered() > 0 {
            return;
        }
        self.sent = 0;
        if let Some(mut out) = self.out.take() {
            if out.capacity() <= SPARE_MAX {
                out.clear();
                SPARE.with(|spare| {
                    let kept = spare.take();
                    // The larger of the two stays.
                    let keep = match kept {
                        Some(kept) if kept.capacity() >= out.capacity() => kept,
                        _ => out,
                    };
                    spare.set(Some(keep));
                });
            }
        }
    }
}

impl<T: hyper::rt::Read + Unpin> HyperIo<T> {
    /// One read from `inner` into `buf`.
    fn poll_read_inner(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut read = hyper::rt::ReadBuf::new(buf);
        match Pin::new(&mut self.inner).poll_read(cx, read.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: hyper::rt::Read + Unpin> HyperIo<T> {
    /// Calls `f` with bytes from the stream: what an earlier call left, or
    /// else what one read from the socket brings (through the thread's
    /// scratch buffer, no copy). `f` advances the slice past what it takes;
    /// the rest is kept, in a buffer of its exact size, for the next call.
    /// Ready with `false` at the end of the stream (`f` not called).
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut &[u8]),
    ) -> Poll<io::Result<bool>> {
        if let Some(mut ahead) = self.ahead.take() {
            let mut rest: &[u8] = &ahead;
            f(&mut rest);
            if !rest.is_empty() {
                *ahead = ahead.slice_ref(rest);
                self.ahead = Some(ahead);
            }
            return Poll::Ready(Ok(true));
        }
        SCRATCH.with(|scratch| {
            let mut own;
            let mut borrowed = scratch.try_borrow_mut();
            let buf: &mut [u8] = match &mut borrowed {
                Ok(scratch) => scratch,
                // Only if a read re-entered another on this thread.
                Err(_) => {
                    own = vec![0; READ_AHEAD];
                    &mut own
                }
            };
            match self.poll_read_inner(cx, buf) {
                Poll::Ready(Ok(0)) => Poll::Ready(Ok(false)),
                Poll::Ready(Ok(n)) => {
                    let mut rest = buf.get(..n).unwrap_or_default();
                    f(&mut rest);
                    if !rest.is_empty() {
                        self.ahead = Some(Box::new(Bytes::copy_from_slice(rest)));
                    }
                    Poll::Ready(Ok(true))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    }
}

impl<T: hyper::rt::Write + Unpin> HyperIo<T> {
    /// Sends every buffered byte to `inner` (not flushing it), then gives
    /// the buffer back.
    pub(crate) fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self
            .out
            .as_ref()
            .and_then(|out| out.get(self.sent..))
            .filter(|rest| !rest.is_empty())
        {
            match Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.release_if_empty();
        Poll::Ready(Ok(()))
    }

    /// Ready once more bytes may be buffered: below [`WRITE_HIGH`], or
    /// once what is buffered was sent.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buffered() < WRITE_HIGH {
            return Poll::Ready(Ok(()));
        }
        self.poll_send(cx)
    }
}

impl<T: hyper::rt::Write + Unpin> AsyncWrite for HyperIo<T> {
    /// Buffers `buf` (after sending what is buffered if that reached
    /// [`WRITE_HIGH`]).
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.poll_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if !buf.is_empty() {
            this.out().extend_from_slice(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// The connection under a WebSocket: the runtime's own stream `I` when
/// hyper hands it back from the upgrade (no box of hyper's around it), or
/// hyper's upgraded stream otherwise (a TLS connection, for one).
#[derive(Debug)]
pub(crate) enum Conn<I> {
    /// The runtime's stream itself.
    Io(I),
    /// hyper's stream around it (a TLS stream): boxed, as it is larger
    /// than the runtime's stream and this sits in every WebSocket task.
    Upgraded(Box<Upgraded>),
}

impl<I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static> Conn<I> {
    /// The stream of a completed upgrade, with what hyper had already read
    /// past the request.
    pub(crate) fn from_upgraded(upgraded: Upgraded) -> HyperIo<Self> {
        match upgraded.downcast::<I>() {
            Ok(parts) => HyperIo::new(Conn::Io(parts.io), parts.read_buf),
            Err(upgraded) => HyperIo::new(Conn::Upgraded(Box::new(upgraded)), Bytes::new()),
        }
    }
}

impl<I: hyper::rt::Read + Unpin> hyper::rt::Read for Conn<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Io(io) => Pin::new(io).poll_read(cx, buf),
            Conn::Upgraded(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl<I: hyper::rt::Write + Unpin> hyper::rt::Write for Conn<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Io(io) => Pin::new(io).poll_write(cx, buf),
            Conn::Upgraded(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Io(io) => Pin::new(io).poll_flush(cx),
            Conn::Upgraded(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Io(io) => Pin::new(io).poll_shutdown(cx),
            Conn::Upgraded(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures_util::FutureExt;
    use futures_util::io::{AsyncWriteExt, Cursor};
    use std::future::poll_fn;

    /// One `poll_read_with` taking at most `max` bytes into `out`: `false`
    /// at the end of the stream.
    fn take<T: hyper::rt::Read + Unpin>(
        io: &mut HyperIo<T>,
        max: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        poll_fn(|cx| {
            io.poll_read_with(cx, |input| {
                let (taken, rest) = input.split_at(input.len().min(max));
                out.extend_from_slice(taken);
                *input = rest;
            })
        })
        .now_or_never()
        .unwrap()
        .unwrap()
    }

    /// Everything `io` reads, `max` bytes at a time.
    fn read_all<T: hyper::rt::Read + Unpin>(io: &mut HyperIo<T>, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while take(io, max, &mut out) {}
        out
    }

    #[test]
    fn bytes_pass_both_adapters_unchanged() {
        // futures-io -> hyper -> futures-io, over an in-memory stream larger
        // than one read chunk.
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut io = HyperIo::new(FuturesIo::new(Cursor::new(data.clone())), Bytes::new());
        assert_eq!(read_all(&mut io, usize::MAX), data);

        let mut io = HyperIo::new(FuturesIo::new(Cursor::new(Vec::new())), Bytes::new());
        io.write_all(b"4hello").now_or_never().unwrap().unwrap();
        io.flush().now_or_never().unwrap().unwrap();
        poll_fn(|cx| Pin::new(&mut io).poll_close(cx))
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(io.inner.into_inner().into_inner(), b"4hello");
    }

    #[test]
    fn small_reads_take_one_socket_read_and_keep_nothing_once_taken() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut io = HyperIo::new(FuturesIo::new(Cursor::new(data.clone())), Bytes::new());
        let mut out = Vec::new();
        while take(&mut io, 7, &mut out) {
            // The rest of the one socket read is kept until taken.
            assert_eq!(
                io.ahead.as_ref().map_or(0, |ahead| ahead.len()),
                data.len() - out.len()
            );
        }
        assert_eq!(out, data);
        assert!(io.ahead.is_none());
    }

    #[test]
    fn bytes_read_before_the_upgrade_come_first() {
        let mut io = HyperIo::new(
            FuturesIo::new(Cursor::new(b" world".to_vec())),
            Bytes::from_static(b"hello"),
        );
        assert_eq!(read_all(&mut io, usize::MAX), b"hello world");
        assert!(io.ahead.is_none());
    }

    /// A socket that takes at most `per_call` bytes per write, and takes
    /// nothing once `budget` writes were made (the writer is woken at once,
    /// as a socket that becomes writable again would).
    struct Trickle {
        written: Vec<u8>,
        per_call: usize,
        budget: Option<usize>,
        flushes: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match self.budget {
                Some(0) => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Some(left) => self.budget = Some(left - 1),
                None => {}
            }
            let n = buf.len().min(self.per_call);
            self.written.extend_from_slice(buf.get(..n).unwrap());
            Poll::Ready(Ok(n))
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn trickle(per_call: usize) -> HyperIo<FuturesIo<Trickle>> {
        HyperIo::new(
            FuturesIo::new(Trickle {
                written: Vec::new(),
                per_call,
                budget: None,
                flushes: 0,
            }),
            Bytes::new(),
        )
    }

    fn socket(io: &mut HyperIo<FuturesIo<Trickle>>) -> &mut Trickle {
        &mut io.inner.inner
    }

    #[test]
    fn writes_wait_in_a_buffer_that_is_let_go_once_flushed() {
        let mut io = trickle(5);
        io.write_all(b"\x81\x0240").now_or_never().unwrap().unwrap();
        // Nothing reached the socket before the flush.
        assert!(socket(&mut io).written.is_empty());
        assert_eq!(io.buffered(), 4);
        // Frames encoded straight into the buffer follow in order.
        io.out().extend_from_slice(b"\x81\x012");
        io.flush().now_or_never().unwrap().unwrap();
        assert_eq!(socket(&mut io).written, b"\x81\x0240\x81\x012");
        assert_eq!(socket(&mut io).flushes, 1);
        // An idle connection keeps no write buffer.
        assert!(io.out.is_none());
        assert_eq!((io.buffered(), io.sent), (0, 0));
    }

    #[test]
    fn a_stalled_socket_keeps_the_bytes_until_it_takes_them() {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut io = trickle(4);
        io.out().extend_from_slice(b"0123456789");
        // One partial write, then the socket stalls.
        socket(&mut io).budget = Some(1);
        assert!(Pin::new(&mut io).poll_flush(&mut cx).is_pending());
        assert_eq!(socket(&mut io).written, b"0123");
        assert_eq!(io.buffered(), 6);
        assert_eq!(socket(&mut io).flushes, 0);
        socket(&mut io).budget = None;
        assert!(Pin::new(&mut io).poll_flush(&mut cx).is_ready());
        assert_eq!(socket(&mut io).written, b"0123456789");
        assert_eq!(socket(&mut io).flushes, 1);
        assert!(io.out.is_none());
    }

    #[test]
    fn writes_past_the_high_mark_wait_for_the_socket() {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut io = trickle(usize::MAX);
        socket(&mut io).budget = Some(0);
        let chunk = [7u8; 1000];
        let mut accepted = 0;
        while let Poll::Ready(n) = Pin::new(&mut io).poll_write(&mut cx, &chunk) {
            accepted += n.unwrap();
            assert!(accepted < WRITE_HIGH + chunk.len(), "unbounded buffering");
        }
        // Everything up to the mark was taken, nothing past it.
        assert_eq!(accepted, WRITE_HIGH.div_ceil(chunk.len()) * chunk.len());
        assert!(io.poll_ready(&mut cx).is_pending());
        socket(&mut io).budget = None;
        assert!(io.poll_ready(&mut cx).is_ready());
        assert_eq!(socket(&mut io).written.len(), accepted);
        assert!(io.out.is_none());
        // A buffer that grew past the spare's limit is freed, not kept.
        let mut io = trickle(usize::MAX);
        io.out().extend_from_slice(&vec![1u8; SPARE_MAX + 1]);
        io.flush().now_or_never().unwrap().unwrap();
        assert!(SPARE.with(|spare| {
            let kept = spare.take();
            let small = kept
                .as_ref()
                .is_none_or(|v| v.capacity() <= SPARE_MAX && v.is_empty());
            spare.set(kept);
            small
        }));
    }
}
