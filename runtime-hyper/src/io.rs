//! Byte-stream adapters between hyper's I/O traits (`hyper::rt::Read` and
//! `Write`) and futures-io's (`AsyncRead` and `AsyncWrite`), in both
//! directions, without `unsafe`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

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
#[derive(Debug)]
pub(crate) struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self { inner }
    }
}

impl<T: hyper::rt::Read + Unpin> AsyncRead for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut read = hyper::rt::ReadBuf::new(buf);
        match Pin::new(&mut self.inner).poll_read(cx, read.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
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
}
