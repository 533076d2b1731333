//! Byte-stream adapters between hyper's I/O traits (`hyper::rt::Read` and
//! `Write`) and futures-io's (`AsyncRead` and `AsyncWrite`), in both
//! directions, without `unsafe`.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_io::{AsyncRead, AsyncWrite};

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
    pub fn new(inner: T) -> Self {
        Self { inner }
    }

    /// The wrapped stream.
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

/// A hyper stream (an upgraded connection) as futures-io reads and writes
/// it, for the WebSocket layer.
///
/// Reads go through a per-thread scratch buffer of [`READ_AHEAD`] bytes, so
/// that a reader asking for a few bytes at a time (tungstenite with a small
/// read buffer) still takes what the socket has in one system call. What the
/// reader did not take yet is kept in a buffer of its exact size, dropped
/// once taken: an idle connection holds no read buffer here.
#[derive(Debug)]
pub(crate) struct HyperIo<T> {
    inner: T,
    /// Bytes read from `inner` that the reader has not taken yet (never
    /// empty when `Some`).
    ahead: Option<Bytes>,
}

/// How much one read from the socket takes at most.
const READ_AHEAD: usize = 8 * 1024;

thread_local! {
    /// The scratch buffer socket reads land in, one per thread.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_AHEAD].into_boxed_slice());
}

impl<T> HyperIo<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self { inner, ahead: None }
    }

    /// Copies into `buf` what is kept from an earlier read.
    fn take_ahead(&mut self, buf: &mut [u8]) -> usize {
        let Some(ahead) = &mut self.ahead else {
            return 0;
        };
        let n = ahead.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), ahead.get(..n)) {
            to.copy_from_slice(from);
        }
        ahead.advance(n);
        if ahead.is_empty() {
            self.ahead = None;
        }
        n
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

impl<T: hyper::rt::Read + Unpin> AsyncRead for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.ahead.is_some() || buf.is_empty() {
            return Poll::Ready(Ok(this.take_ahead(buf)));
        }
        if buf.len() >= READ_AHEAD {
            return this.poll_read_inner(cx, buf);
        }
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Only if a read re-entered another on this thread: read
                // straight into `buf` instead.
                return this.poll_read_inner(cx, buf);
            };
            match this.poll_read_inner(cx, &mut scratch) {
                Poll::Ready(Ok(n)) => {
                    let read = scratch.get(..n).unwrap_or_default();
                    let given = n.min(buf.len());
                    if let (Some(to), Some(from)) = (buf.get_mut(..given), read.get(..given)) {
                        to.copy_from_slice(from);
                    }
                    if let Some(rest) = read.get(given..).filter(|rest| !rest.is_empty()) {
                        this.ahead = Some(Bytes::copy_from_slice(rest));
                    }
                    Poll::Ready(Ok(given))
                }
                other => other,
            }
        })
    }
}

impl<T: hyper::rt::Write + Unpin> AsyncWrite for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures_util::FutureExt;
    use futures_util::io::{AsyncReadExt, AsyncWriteExt, Cursor};
    use std::future::poll_fn;

    #[test]
    fn bytes_pass_both_adapters_unchanged() {
        // futures-io -> hyper -> futures-io, over an in-memory stream larger
        // than one read chunk.
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut io = HyperIo::new(FuturesIo::new(Cursor::new(data.clone())));
        let mut out = Vec::new();
        io.read_to_end(&mut out).now_or_never().unwrap().unwrap();
        assert_eq!(out, data);

        let mut io = HyperIo::new(FuturesIo::new(Cursor::new(Vec::new())));
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
        let mut io = HyperIo::new(FuturesIo::new(Cursor::new(data.clone())));
        let mut out = Vec::new();
        let mut chunk = [0u8; 7];
        loop {
            let n = io.read(&mut chunk).now_or_never().unwrap().unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(chunk.get(..n).unwrap());
            // The rest of the one socket read is kept until taken.
            assert_eq!(
                io.ahead.as_ref().map_or(0, Bytes::len),
                data.len() - out.len()
            );
        }
        assert_eq!(out, data);
        assert!(io.ahead.is_none());
    }
}
