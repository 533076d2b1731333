//! permessage-deflate on a WebSocket (RFC 7692): the byte-stream side of
//! `engineio_proto::deflate`, whose sans-IO pieces do the work. The engine
//! negotiated the extension in the `101` response; here the client's
//! compressed messages are inflated before the frame reader parses them
//! (as plain frames), and the server's messages from the threshold up are
//! sent compressed.
//!
//! Without context takeover (the default) the compressor and decompressor
//! of each message are lent by a [`Spare`] per thread and come back reset:
//! an idle connection holds none, and a message does not pay for setting up
//! a context (a few hundred kilobytes to allocate and zero). At most one of
//! each stays per thread that compressed or inflated a message.

use std::cell::RefCell;

use engineio_proto::deflate::{Agreement, Deflater, Inflater, PerMessageDeflate, Spare};
use engineio_proto::{Frame, Headers, frames};

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

    /// Appends `frame` to `out` as a WebSocket message: compressed (RSV1
    /// set) from the threshold up.
    pub(crate) fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        if frame.len() < self.settings.threshold {
            return frames::encode_message(out, frame);
        }
        let (opcode, data) = match frame {
            Frame::Text(text) => (frames::TEXT, &text.as_bytes()[..]),
            Frame::Binary(data) => (frames::BINARY, &data[..]),
        };
        let takeover = !self.agreement.server_no_context_takeover;
        let (deflater, level) = (&mut self.deflater, self.settings.level);
        let compressed = with_spare(|spare| deflater.deflate_with(data, level, takeover, spare));
        frames::encode_frame(out, opcode, true, &compressed);
    }
}

/// The read side of a WebSocket that negotiated the extension: the bytes
/// read from the socket go through an [`Inflater`] before the frame reader
/// sees them (compressed messages come out as plain frames).
#[derive(Debug)]
pub(crate) struct Inflate {
    inflater: Inflater,
    /// Bytes for the frame reader not handed over yet, from `at`.
    out: Vec<u8>,
    at: usize,
}

/// The output buffer is freed once emptied when it grew past this (an
/// inflated message passed through it): an idle connection keeps none.
const KEEP_OUT: usize = 256;

impl Inflate {
    /// `max`: the limit on an inflated message; `takeover`: whether the
    /// client keeps its context.
    pub(crate) fn new(max: usize, takeover: bool) -> Self {
        Self {
            inflater: Inflater::new(max, takeover),
            out: Vec::new(),
            at: 0,
        }
    }

    /// Whether inflated bytes wait for the frame reader.
    pub(crate) fn has_pending(&self) -> bool {
        self.at < self.out.len()
    }

    /// How many inflated bytes wait for the frame reader.
    pub(crate) fn pending(&self) -> usize {
        self.out.len() - self.at
    }

    /// Feeds bytes read from the socket through the inflater.
    pub(crate) fn feed(&mut self, input: &[u8]) {
        let (inflater, out) = (&mut self.inflater, &mut self.out);
        with_spare(|spare| inflater.feed_with(input, out, spare));
    }

    /// Calls `f` with the bytes not taken yet; `f` advances the slice past
    /// what it takes.
    pub(crate) fn take(&mut self, f: impl FnOnce(&mut &[u8])) {
        let pending = self.out.get(self.at..).unwrap_or_default();
        let mut rest = pending;
        f(&mut rest);
        self.at += pending.len() - rest.len();
        if self.at >= self.out.len() {
            self.at = 0;
            self.out.clear();
            if self.out.capacity() > KEEP_OUT {
                self.out = Vec::new();
            }
        }
    }
}
