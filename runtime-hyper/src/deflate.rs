//! permessage-deflate on a WebSocket (RFC 7692): the byte-stream side of
//! `engineio_proto::deflate`, whose sans-IO pieces do the work. The engine
//! negotiated the extension in the `101` response; here the client's
//! compressed messages are inflated before tungstenite parses them (it
//! knows no extension and would refuse their RSV1 bit), and the server's
//! messages from the threshold up are sent compressed.
//!
//! Without context takeover (the default) the compressor and decompressor
//! of each message are lent by a [`Spare`] per thread and come back reset:
//! an idle connection holds none, and a message does not pay for setting up
//! a context (a few hundred kilobytes to allocate and zero). At most one of
//! each stays per thread that compressed or inflated a message.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use engineio_proto::deflate::{Agreement, Deflater, Inflater, PerMessageDeflate, Spare};
use engineio_proto::{Frame, Headers};
use futures_io::{AsyncRead, AsyncWrite};

thread_local! {
    /// The contexts lent to connections without context takeover.
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

/// Runs `f` with this thread's [`Spare`] (a fresh one, not kept, if it is
/// borrowed already, which no caller here does).
fn with_spare<T>(f: impl FnOnce(&mut Spare) -> T) -> T {
    SPARE.with(|spare| match spare.try_borrow_mut() {
        Ok(mut spare) => f(&mut spare),
        Err(_) => f(&mut Spare::default()),
    })
}

/// What a WebSocket that negotiated permessage-deflate needs: the settings
/// and the agreement, and the server's compression context when it is kept.
#[derive(Debug)]
pub(crate) struct Outgoing {
    settings: PerMessageDeflate,
    agreement: Agreement,
    deflater: Deflater,
}

/// The agreement the engine wrote in the `101` headers, if any.
pub(crate) fn agreed(
    settings: Option<&PerMessageDeflate>,
    headers: &Headers,
) -> Option<(PerMessageDeflate, Agreement)> {
    let settings = *settings?;
    let agreement = Agreement::parse(headers.get("sec-websocket-extensions")?)?;
    Some((settings, agreement))
}

impl Outgoing {
    pub(crate) fn new(settings: PerMessageDeflate, agreement: Agreement) -> Self {
        Self {
            settings,
            agreement,
            deflater: Deflater::default(),
        }
    }

    /// Whether the client keeps its compression context between messages.
    pub(crate) fn client_takeover(&self) -> bool {
        !self.agreement.client_no_context_takeover
    }

    /// The message for `frame`: compressed (RSV1 set) from the threshold up.
    pub(crate) fn message(
        &mut self,
        frame: Frame,
        plain: impl FnOnce(Frame) -> Message,
    ) -> Message {
        if frame.len() < self.settings.threshold {
            return plain(frame);
        }
        let (opcode, data) = match &frame {
            Frame::Text(text) => (Data::Text, &text.as_bytes()[..]),
            Frame::Binary(data) => (Data::Binary, &data[..]),
        };
        let takeover = !self.agreement.server_no_context_takeover;
        let (deflater, level) = (&mut self.deflater, self.settings.level);
        let compressed = with_spare(|spare| deflater.deflate_with(data, level, takeover, spare));
        let mut out = WsFrame::message(compressed, OpCode::Data(opcode), true);
        out.header_mut().rsv1 = true;
        Message::Frame(out)
    }
}

/// A stream whose reads go through an [`Inflater`] when the extension was
/// negotiated (and straight through otherwise); writes go straight through.
#[derive(Debug)]
pub(crate) struct Inflating<S> {
    inner: S,
    state: Option<Box<ReadState>>,
}

#[derive(Debug)]
struct ReadState {
    inflater: Inflater,
    /// Bytes for the parser not handed over yet, from `at`.
    out: Vec<u8>,
    at: usize,
}

/// The output buffer is freed once emptied when it grew past this (an
/// inflated message passed through it): an idle connection keeps none.
/// Plain frames pass through in reads of tungstenite's 128-byte buffer.
const KEEP_OUT: usize = 256;

impl<S> Inflating<S> {
    /// `inflate`: the limit on an inflated message and whether the client
    /// keeps its context; `None` when the extension is off.
    pub(crate) fn new(inner: S, inflate: Option<(usize, bool)>) -> Self {
        Self {
            inner,
            state: inflate.map(|(max, takeover)| {
                Box::new(ReadState {
                    inflater: Inflater::new(max, takeover),
                    out: Vec::new(),
                    at: 0,
                })
            }),
        }
    }

    /// The stream under it (the WebSocket task writes its frames there).
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Inflating<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(state) = this.state.as_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        loop {
            if state.at < state.out.len() {
                let pending = state.out.get(state.at..).unwrap_or_default();
                let n = pending.len().min(buf.len());
                if let (Some(dst), Some(src)) = (buf.get_mut(..n), pending.get(..n)) {
                    dst.copy_from_slice(src);
                }
                state.at += n;
                if state.at == state.out.len() {
                    state.at = 0;
                    state.out.clear();
                    if state.out.capacity() > KEEP_OUT {
                        state.out = Vec::new();
                    }
                }
                return Poll::Ready(Ok(n));
            }
            // `buf` serves as scratch: what is read is fed in, then
            // overwritten with what comes out.
            let n = match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
                Poll::Ready(Ok(n)) => n,
                other => return other,
            };
            let (inflater, out) = (&mut state.inflater, &mut state.out);
            with_spare(|spare| inflater.feed_with(buf.get(..n).unwrap_or_default(), out, spare));
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Inflating<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
