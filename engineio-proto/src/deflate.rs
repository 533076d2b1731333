//! permessage-deflate (RFC 7692), the WebSocket compression of the official
//! server's `perMessageDeflate` option, as sans-IO pieces a runtime's
//! WebSocket layer uses:
//!
//! - [`Agreement::negotiate`]: the engine answers a client's
//!   `Sec-WebSocket-Extensions` offer (when [`Config::per_message_deflate`]
//!   is set) in the `101` response it asks for; the runtime reads the
//!   agreement back with [`Agreement::parse`];
//! - [`Inflater`]: sits between the socket and the WebSocket parser and turns
//!   every compressed message from the client into a plain one, with the
//!   inflated size bounded (past it, the parser sees a frame over its
//!   limit, so the connection closes with 1009);
//! - [`Deflater`]: compresses the messages the server sends.
//!
//! Context takeover costs memory on every idle connection (a compressor and
//! an inflater keep their window and tables between messages: hundreds of
//! kilobytes), so the defaults answer with `server_no_context_takeover` and
//! `client_no_context_takeover` (RFC 7692 lets a server add both): nothing
//! is kept between messages. Making and freeing those contexts for every
//! message costs more than compressing a 2 KB message, so without takeover
//! the contexts are lent by a [`Spare`] the runtime keeps (one per thread,
//! not per connection) and come back to it reset.
//!
//! [`Config::per_message_deflate`]: crate::Config::per_message_deflate

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// WebSocket compression settings (`perMessageDeflate`). Off by default, as
/// in Node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerMessageDeflate {
    /// Messages shorter than this many bytes go uncompressed (default 1024).
    pub threshold: usize,
    /// The compression level, 0 to 9 (default 6, zlib's default).
    pub level: u32,
    /// Keep the server's compression context between messages (default
    /// false: the answer carries `server_no_context_takeover`).
    pub server_context_takeover: bool,
    /// Let the client keep its context between messages (default false: the
    /// answer carries `client_no_context_takeover`).
    pub client_context_takeover: bool,
}

impl Default for PerMessageDeflate {
    fn default() -> Self {
        Self {
            threshold: 1024,
            level: 6,
            server_context_takeover: false,
            client_context_takeover: false,
        }
    }
}

/// The permessage-deflate parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The server starts every message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits`, when the client asked for one (only 15 is
    /// accepted: the compressor always uses a 32 KiB window).
    pub server_max_window_bits: Option<u8>,
}

/// The extension's token.
const NAME: &str = "permessage-deflate";

impl Agreement {
    /// Answers the offers of a `Sec-WebSocket-Extensions` request header:
    /// the first acceptable `permessage-deflate` offer, or `None` (the
    /// upgrade then goes on without compression).
    ///
    /// An offer is refused when a parameter is unknown, repeated or out of
    /// range, or when it asks for a server window under 15 bits. The client's
    /// window bits need no answer: the inflater takes any window.
    ///
    /// ```
    /// use engineio_proto::{Agreement, PerMessageDeflate};
    /// let a = Agreement::negotiate(
    ///     "permessage-deflate; client_max_window_bits",
    ///     &PerMessageDeflate::default(),
    /// )
    /// .unwrap();
    /// assert_eq!(
    ///     a.response(),
    ///     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    /// );
    /// ```
    pub fn negotiate(offers: &str, config: &PerMessageDeflate) -> Option<Self> {
        offers.split(',').filter_map(parse_offer).find_map(|offer| {
            if offer.server_max_window_bits.is_some_and(|b| b != 15) {
                return None;
            }
            Some(Self {
                server_no_context_takeover: offer.server_no_context_takeover
                    || !config.server_context_takeover,
                client_no_context_takeover: offer.client_no_context_takeover
                    || !config.client_context_takeover,
                server_max_window_bits: offer.server_max_window_bits,
            })
        })
    }

    /// The `Sec-WebSocket-Extensions` response header value.
    pub fn response(&self) -> String {
        let mut out = String::from(NAME);
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            out.push_str(&format!("; server_max_window_bits={bits}"));
        }
        out
    }

    /// Reads back an agreement from the response header the engine wrote.
    pub fn parse(response: &str) -> Option<Self> {
        let offer = parse_offer(response)?;
        Some(Self {
            server_no_context_takeover: offer.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover,
            server_max_window_bits: offer.server_max_window_bits,
        })
    }
}

/// One `permessage-deflate` offer's parameters.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<Option<u8>>,
}

fn parse_offer(text: &str) -> Option<Offer> {
    let mut parts = text.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        let bits = |v: Option<&str>| v?.parse::<u8>().ok().filter(|b| (8..=15).contains(b));
        match (key, value) {
            ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            ("server_max_window_bits", v) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(bits(v)?);
            }
            ("client_max_window_bits", None) if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(None);
            }
            ("client_max_window_bits", v) if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(Some(bits(v)?));
            }
            _ => return None,
        }
    }
    Some(offer)
}

/// The four bytes a sync flush ends with, which the sender strips and the
/// receiver puts back (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Contexts lent to connections without context takeover between their
/// messages: a compressor (its window, hash chains and buffers, about 300 KB
/// with the Rust backend) and a decompressor (its 32 KiB window and tables).
/// A runtime keeps one per thread (or per server) and passes it to
/// [`Deflater::deflate_with`] and [`Inflater::feed_with`]: the cost of
/// setting up a context is paid once per thread instead of once per
/// message, and an idle connection still holds none. A context comes back
/// reset (flate2's `reset`, which clears the window and tables), so what is
/// compressed is byte for byte what a new context would make.
///
/// ```
/// use engineio_proto::deflate::{Deflater, Spare};
/// let mut spare = Spare::default();
/// let (mut a, mut b) = (Deflater::default(), Deflater::default());
/// let text = "hello hello hello hello".repeat(50);
/// let first = a.deflate_with(text.as_bytes(), 6, false, &mut spare);
/// assert!(spare.holds_compressor());
/// // Another connection's message, on the same (reset) context: the same bytes.
/// assert_eq!(b.deflate_with(text.as_bytes(), 6, false, &mut spare), first);
/// assert_eq!(first, Deflater::default().deflate(text.as_bytes(), 6, false));
/// ```
#[derive(Default)]
pub struct Spare {
    /// A reset compressor and its level.
    compress: Option<(u32, Box<Compress>)>,
    /// A reset decompressor.
    decompress: Option<Box<Decompress>>,
}

impl std::fmt::Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spare")
            .field("compress", &self.compress.as_ref().map(|(level, _)| level))
            .field("decompress", &self.decompress.is_some())
            .finish()
    }
}

impl Spare {
    /// Whether a compressor is kept.
    pub fn holds_compressor(&self) -> bool {
        self.compress.is_some()
    }

    /// Whether a decompressor is kept.
    pub fn holds_decompressor(&self) -> bool {
        self.decompress.is_some()
    }
}

/// Compresses the messages one connection sends.
#[derive(Default)]
pub struct Deflater {
    /// Kept between messages only with context takeover.
    context: Option<Box<Compress>>,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("context", &self.context.is_some())
            .finish()
    }
}

impl Deflater {
    /// The payload of a compressed message (to send with RSV1 set) for
    /// `data`. Without context takeover nothing stays allocated afterwards
    /// (a context is made and freed for this message: see
    /// [`deflate_with`](Self::deflate_with) to reuse one).
    pub fn deflate(&mut self, data: &[u8], level: u32, takeover: bool) -> Bytes {
        self.deflate_with(data, level, takeover, &mut Spare::default())
    }

    /// [`deflate`](Self::deflate), the compressor taken from `spare` when
    /// the connection keeps none, and given back to it reset when there is
    /// no context takeover.
    pub fn deflate_with(
        &mut self,
        data: &[u8],
        level: u32,
        takeover: bool,
        spare: &mut Spare,
    ) -> Bytes {
        let level = level.min(9);
        let mut compress = match (self.context.take(), spare.compress.take()) {
            (Some(kept), lent) => {
                spare.compress = lent;
                kept
            }
            (None, Some((lent_level, lent))) if lent_level == level && !takeover => lent,
            (None, lent) => {
                spare.compress = lent;
                Box::new(Compress::new(Compression::new(level), false))
            }
        };
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut input = data;
        loop {
            let before_in = compress.total_in();
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            // Writing into spare capacity cannot fail for a valid stream.
            let status = compress.compress_vec(input, &mut out, FlushCompress::Sync);
            let used = (compress.total_in() - before_in) as usize;
            input = input.get(used..).unwrap_or_default();
            // Done once every byte went in and the flush fit in the room
            // left (a full buffer may hold more of it back).
            if status.is_err() || (input.is_empty() && out.capacity() > out.len()) {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if takeover {
            self.context = Some(compress);
        } else {
            compress.reset();
            spare.compress = Some((level, compress));
        }
        Bytes::from(out)
    }
}

/// Whether a frame (or what the parser made of it) goes through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// Copied through as it came.
    Pass,
    /// Unmasked into the inflater.
    Inflate,
}

/// Sits between the socket and the WebSocket parser: frames pass through as
/// they came, except the frames of compressed messages (RSV1 on their
/// first frame), which are gathered, inflated, and handed on as one plain
/// frame (masked with a zero key, as a client frame must be).
///
/// Bounded: a message that inflates past `max_message` bytes is handed on
/// as the header of a frame larger than that, which the parser refuses as
/// too big (the WebSocket then closes with 1009), and nothing more is read.
/// Without context takeover it holds no inflater between messages.
pub struct Inflater {
    max_message: usize,
    takeover: bool,
    /// The frame header being read.
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes left in the current frame, and what to do with them.
    remaining: u64,
    payload: Payload,
    mask: [u8; 4],
    mask_at: usize,
    /// The current frame ends its message.
    fin: bool,
    /// A compressed message is under way, with this opcode.
    message: Option<u8>,
    decompress: Option<Box<Decompress>>,
    inflated: Vec<u8>,
    failed: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("message", &self.message)
            .field("inflated", &self.inflated.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater for messages of at most `max_message` bytes once
    /// inflated; `takeover`: the client keeps its context between messages.
    pub fn new(max_message: usize, takeover: bool) -> Self {
        Self {
            max_message,
            takeover,
            header: [0; 14],
            header_len: 0,
            remaining: 0,
            payload: Payload::Pass,
            mask: [0; 4],
            mask_at: 0,
            fin: false,
            message: None,
            decompress: None,
            inflated: Vec::new(),
            failed: false,
        }
    }

    /// [`feed`](Self::feed), the decompressor taken from `spare` when a
    /// compressed message needs one, and given back to it (reset) once no
    /// message is under way when there is no context takeover.
    pub fn feed_with(&mut self, input: &[u8], out: &mut Vec<u8>, spare: &mut Spare) {
        if self.decompress.is_none() && !self.takeover {
            self.decompress = spare.decompress.take();
        }
        self.feed_frames(input, out);
        // Between messages without takeover it is reset (`end_frame`) and
        // goes back, or is freed if the spare holds one already.
        if !self.takeover && self.message.is_none() {
            if let Some(decompress) = self.decompress.take() {
                spare.decompress.get_or_insert(decompress);
            }
        }
    }

    /// Takes bytes read from the socket; appends to `out` what the parser
    /// should read. Without context takeover a decompressor is made and
    /// freed per compressed message (see [`feed_with`](Self::feed_with) to
    /// reuse one).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.feed_with(input, out, &mut Spare::default());
    }

    fn feed_frames(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() && !self.failed {
            // Between frames: a header comes next.
            if self.remaining == 0 {
                let Some(rest) = self.read_header(input, out) else {
                    return;
                };
                input = rest;
                continue;
            }
            let n = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            let (chunk, rest) = input.split_at(n);
            input = rest;
            self.remaining -= n as u64;
            match self.payload {
                Payload::Pass => out.extend_from_slice(chunk),
                Payload::Inflate => {
                    let mut data = chunk.to_vec();
                    for b in &mut data {
                        *b ^= self.mask.get(self.mask_at % 4).copied().unwrap_or(0);
                        self.mask_at += 1;
                    }
                    self.inflate(&data, out);
                }
            }
            if self.remaining == 0 {
                self.end_frame(out);
            }
        }
    }

    /// Reads header bytes; once the header is whole, decides what its frame
    /// is. Returns what is left of `input`, or `None` when it was all taken.
    fn read_header<'a>(&mut self, input: &'a [u8], out: &mut Vec<u8>) -> Option<&'a [u8]> {
        let mut input = input;
        loop {
            let need = self.header_needed();
            if self.header_len >= need {
                break;
            }
            let (&b, rest) = input.split_first()?;
            if let Some(slot) = self.header.get_mut(self.header_len) {
                *slot = b;
            }
            self.header_len += 1;
            input = rest;
        }
        let need = self.header_needed();
        let [b0, b1, ..] = self.header;
        let opcode = b0 & 0x0f;
        let rsv1 = b0 & 0x40 != 0;
        let masked = b1 & 0x80 != 0;
        let len = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => u64::from_be_bytes(
                self.header
                    .get(2..10)
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or([0xff; 8]),
            ),
            n => u64::from(n),
        };
        if masked {
            self.mask
                .copy_from_slice(self.header.get(need - 4..need).unwrap_or(&[0; 4]));
        }
        self.mask_at = 0;
        self.fin = b0 & 0x80 != 0;
        self.remaining = len;
        let is_control = opcode & 0x08 != 0;
        let compressed = match (opcode, self.message) {
            _ if is_control => false,
            // A new message with RSV1: compressed. Its continuations carry
            // RSV1 clear.
            (1 | 2, None) if rsv1 => {
                self.message = Some(opcode);
                true
            }
            (0, Some(_)) if !rsv1 => true,
            // A new message while a compressed one is unfinished, or RSV1
            // on a continuation: the parser never saw the compressed
            // message begin, so fail here.
            (_, Some(_)) => {
                self.fail(out);
                return None;
            }
            _ => false,
        };
        if compressed && !masked {
            self.fail(out);
            return None;
        }
        self.payload = if compressed {
            Payload::Inflate
        } else {
            Payload::Pass
        };
        if !compressed {
            out.extend_from_slice(self.header.get(..need).unwrap_or_default());
        }
        self.header_len = 0;
        if self.remaining == 0 {
            self.end_frame(out);
        }
        Some(input)
    }

    /// Bytes the header being read takes, as far as its bytes so far tell.
    fn header_needed(&self) -> usize {
        crate::frames::header_needed(&self.header, self.header_len)
    }

    fn inflate(&mut self, data: &[u8], out: &mut Vec<u8>) {
        match self.try_inflate(data) {
            Ok(()) => {}
            Err(Stop::TooBig) => self.too_big(out),
            Err(Stop::Broken) => self.fail(out),
        }
    }

    /// Inflates `data` into the message, never past one byte over the limit.
    fn try_inflate(&mut self, mut data: &[u8]) -> Result<(), Stop> {
        let decompress = self
            .decompress
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        loop {
            // Room for what the limit allows, plus one byte to tell that it
            // was crossed; grown a chunk at a time.
            let room = (self.max_message + 1).saturating_sub(self.inflated.len());
            if room == 0 {
                return Err(Stop::TooBig);
            }
            if self.inflated.capacity() == self.inflated.len() {
                self.inflated.reserve_exact(room.min(16 * 1024));
            }
            let spare = self.inflated.capacity() - self.inflated.len();
            let (before_in, before_out) = (decompress.total_in(), self.inflated.len());
            let status = decompress.decompress_vec(data, &mut self.inflated, FlushDecompress::Sync);
            let used = (decompress.total_in() - before_in) as usize;
            data = data.get(used..).unwrap_or_default();
            match status {
                // A final block: what follows starts a new stream.
                Ok(Status::StreamEnd) => decompress.reset(false),
                Ok(_) => {}
                Err(_) => return Err(Stop::Broken),
            }
            if self.inflated.len() > self.max_message {
                return Err(Stop::TooBig);
            }
            // Done when the input is used up and the output did not fill
            // the room it had (else more may be held back).
            let produced = self.inflated.len() - before_out;
            if data.is_empty() && produced < spare {
                return Ok(());
            }
            if used == 0 && produced == 0 {
                // No progress with room to spare: the stream is stuck.
                return Err(Stop::Broken);
            }
        }
    }

    fn end_frame(&mut self, out: &mut Vec<u8>) {
        if self.payload != Payload::Inflate || !self.fin {
            return;
        }
        self.inflate(&TAIL, out);
        if self.failed {
            return;
        }
        let opcode = self.message.take().unwrap_or(2);
        let data = std::mem::take(&mut self.inflated);
        push_header(out, opcode, data.len());
        out.extend_from_slice(&data);
        self.payload = Payload::Pass;
        if !self.takeover {
            // Reset rather than dropped: `feed_with` lends it on.
            if let Some(decompress) = self.decompress.as_mut() {
                decompress.reset(false);
            }
        }
    }

    /// A message past the limit: the parser gets a header announcing more
    /// than its limit and refuses it as too big.
    fn too_big(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x82, 0xff]);
        out.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        self.stop();
    }

    /// Broken compression or framing: the parser gets a frame with reserved
    /// bits it refuses.
    fn fail(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0xf2, 0x80, 0, 0, 0, 0]);
        self.stop();
    }

    fn stop(&mut self) {
        self.failed = true;
        self.decompress = None;
        self.inflated = Vec::new();
    }
}

/// Why inflating stopped.
enum Stop {
    TooBig,
    Broken,
}

/// A final, masked (zero key) frame header for `len` bytes.
fn push_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0; 4]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![b0];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        Deflater::default().deflate(data, 6, false).to_vec()
    }

    /// The plain frame the parser should see for `data`.
    fn plain(opcode: u8, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_header(&mut out, opcode, data.len());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn negotiation() {
        let d = PerMessageDeflate::default();
        let n = |offer: &str| Agreement::negotiate(offer, &d).map(|a| a.response());
        let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(n("permessage-deflate").as_deref(), Some(both));
        assert_eq!(
            n("permessage-deflate; client_max_window_bits").as_deref(),
            Some(both)
        );
        assert_eq!(
            n("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=10").as_deref(),
            Some(both)
        );
        // A smaller server window cannot be honoured: the next offer is.
        assert_eq!(
            n("permessage-deflate; server_max_window_bits=10, permessage-deflate").as_deref(),
            Some(both)
        );
        assert_eq!(
            n("permessage-deflate; server_max_window_bits=15").as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15"
            )
        );
        assert_eq!(n("permessage-deflate; server_max_window_bits=9"), None);
        assert_eq!(n("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(n("permessage-deflate; client_max_window_bits=16"), None);
        assert_eq!(n("permessage-deflate; unknown"), None);
        assert_eq!(
            n("permessage-deflate; client_no_context_takeover; client_no_context_takeover"),
            None
        );
        assert_eq!(n("x-webkit-deflate-frame"), None);
        assert_eq!(n(""), None);
        // With context takeover allowed, only what the client asks for.
        let keep = PerMessageDeflate {
            server_context_takeover: true,
            client_context_takeover: true,
            ..d
        };
        let a = Agreement::negotiate("permessage-deflate; client_no_context_takeover", &keep);
        assert_eq!(
            a.map(|a| a.response()).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
        let a = Agreement::negotiate("permessage-deflate", &keep).unwrap();
        assert_eq!(a.response(), "permessage-deflate");
        assert_eq!(Agreement::parse(&a.response()), Some(a));
        let b = Agreement::negotiate("permessage-deflate", &d).unwrap();
        assert_eq!(Agreement::parse(&b.response()), Some(b));
    }

    #[test]
    fn plain_frames_pass_untouched_in_any_pieces() {
        let mut input = client_frame(0x81, b"4hello");
        input.extend(client_frame(0x89, b"ping"));
        input.extend(client_frame(0x82, &[7u8; 300]));
        for piece in [1, 2, 3, 7, 1000] {
            let mut inf = Inflater::new(1000, false);
            let mut out = Vec::new();
            for chunk in input.chunks(piece) {
                inf.feed(chunk, &mut out);
            }
            assert_eq!(out, input, "pieces of {piece}");
        }
    }

    #[test]
    fn compressed_messages_are_inflated_whole_fragmented_or_not() {
        let text = "4".to_owned() + &"hello ".repeat(400);
        let z = deflate(text.as_bytes());
        assert!(z.len() < 100);
        let mut input = client_frame(0xc1, &z); // FIN + RSV1 + text
        // The same compressed in three fragments, a ping between two.
        let (a, rest) = z.split_at(5);
        let (b, c) = rest.split_at(3);
        input.extend(client_frame(0x42, a)); // RSV1 + binary, not final
        input.extend(client_frame(0x00, b));
        input.extend(client_frame(0x89, b"p"));
        input.extend(client_frame(0x80, c));
        let mut expected = plain(1, text.as_bytes());
        expected.extend(client_frame(0x89, b"p"));
        expected.extend(plain(2, text.as_bytes()));
        for piece in [1, 4, 1000] {
            let mut inf = Inflater::new(10_000, false);
            let mut out = Vec::new();
            for chunk in input.chunks(piece) {
                inf.feed(chunk, &mut out);
            }
            assert_eq!(out, expected, "pieces of {piece}");
            assert!(inf.decompress.is_none(), "nothing kept without takeover");
        }
    }

    #[test]
    fn a_spare_compressor_is_reused_reset_and_only_at_its_level() {
        let mut spare = Spare::default();
        let text = "a spare compressor, lent and reset; ".repeat(60);
        let fresh = deflate(text.as_bytes());
        // Three connections in turn: the same bytes as a new compressor,
        // and none of them keeps a context.
        for _ in 0..3 {
            let mut d = Deflater::default();
            assert_eq!(d.deflate_with(text.as_bytes(), 6, false, &mut spare), fresh);
            assert!(d.context.is_none());
            assert_eq!(spare.compress.as_ref().map(|(l, _)| *l), Some(6));
        }
        // Another level gets a compressor of its own, which replaces it.
        let fast = Deflater::default().deflate(text.as_bytes(), 1, false);
        let mut d = Deflater::default();
        assert_eq!(d.deflate_with(text.as_bytes(), 1, false, &mut spare), fast);
        assert_eq!(spare.compress.as_ref().map(|(l, _)| *l), Some(1));
        // With takeover the connection keeps its own, and the spare stays.
        let mut keep = Deflater::default();
        keep.deflate_with(text.as_bytes(), 1, true, &mut spare);
        assert!(keep.context.is_some());
        let second = keep.deflate_with(text.as_bytes(), 1, true, &mut spare);
        assert!(second.len() < fast.len(), "{} {}", second.len(), fast.len());
        assert!(spare.holds_compressor());
    }

    #[test]
    fn a_spare_decompressor_is_lent_per_message_and_comes_back() {
        let mut spare = Spare::default();
        let text = "4".to_owned() + &"lent per message ".repeat(100);
        let z = deflate(text.as_bytes());
        let (a, b) = z.split_at(z.len() / 2);
        let mut input = client_frame(0x42, a); // RSV1 + binary, not final
        input.extend(client_frame(0x80, b));
        input.extend(client_frame(0xc1, &z));
        let mut expected = plain(2, text.as_bytes());
        expected.extend(plain(1, text.as_bytes()));
        // Two connections in turn on one spare, each fed in pieces.
        for piece in [7, 1000] {
            let mut inf = Inflater::new(10_000, false);
            let mut out = Vec::new();
            for chunk in input.chunks(piece) {
                inf.feed_with(chunk, &mut out, &mut spare);
                // Kept only while a compressed message is under way.
                assert_eq!(inf.decompress.is_some(), inf.message.is_some());
            }
            assert_eq!(out, expected, "pieces of {piece}");
            assert!(inf.decompress.is_none());
            assert!(spare.holds_decompressor());
        }
        // A broken stream drops the lent context; the next one is new.
        let mut inf = Inflater::new(1000, false);
        let mut out = Vec::new();
        inf.feed_with(
            &client_frame(0xc2, &[0xff, 0xff, 0xff]),
            &mut out,
            &mut spare,
        );
        assert_eq!(out, [0xf2, 0x80, 0, 0, 0, 0]);
        assert!(!spare.holds_decompressor());
        // With takeover the connection keeps its own, and the spare stays.
        let mut other = Inflater::new(10_000, false);
        other.feed_with(&client_frame(0xc1, &z), &mut Vec::new(), &mut spare);
        let mut inf = Inflater::new(10_000, true);
        let mut out = Vec::new();
        inf.feed_with(&client_frame(0xc1, &z), &mut out, &mut spare);
        assert_eq!(out, plain(1, text.as_bytes()));
        assert!(inf.decompress.is_some());
        assert!(spare.holds_decompressor());
    }

    #[test]
    fn context_takeover_keeps_the_window() {
        let mut d = Deflater::default();
        let text = "the same sentence again and again; ".repeat(40);
        let first = d.deflate(text.as_bytes(), 6, true);
        let second = d.deflate(text.as_bytes(), 6, true);
        assert!(
            second.len() < first.len() / 2,
            "{} {}",
            second.len(),
            first.len()
        );
        let mut inf = Inflater::new(10_000, true);
        let mut out = Vec::new();
        inf.feed(&client_frame(0xc2, &first), &mut out);
        inf.feed(&client_frame(0xc2, &second), &mut out);
        let mut expected = plain(2, text.as_bytes());
        expected.extend(plain(2, text.as_bytes()));
        assert_eq!(out, expected);
        assert!(inf.decompress.is_some());
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10_000_000];
        let z = deflate(&zeros);
        assert!(z.len() < 20_000, "{}", z.len());
        let mut inf = Inflater::new(1_000_000, false);
        let mut out = Vec::new();
        for chunk in client_frame_large(0xc2, &z).chunks(4096) {
            inf.feed(chunk, &mut out);
        }
        // The parser sees a frame header over any limit, and nothing more.
        assert_eq!(out.len(), 14);
        assert_eq!(&out[..2], &[0x82, 0xff]);
        assert!(inf.failed);
        assert!(inf.inflated.capacity() == 0);
        // At the limit exactly, the message goes through.
        let exact = vec![1u8; 1000];
        let mut inf = Inflater::new(1000, false);
        let mut out = Vec::new();
        inf.feed(&client_frame(0xc2, &deflate(&exact)), &mut out);
        assert_eq!(out, plain(2, &exact));
        let mut inf = Inflater::new(999, false);
        let mut out = Vec::new();
        inf.feed(&client_frame(0xc2, &deflate(&exact)), &mut out);
        assert_eq!(out.len(), 14);
    }

    fn client_frame_large(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![b0, 0x80 | 127];
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn broken_input_fails_the_parser() {
        let bad_stream = client_frame(0xc2, &[0xff, 0xff, 0xff]);
        let unmasked = vec![0xc2, 0x01, 0x00];
        let rsv1_continuation = {
            let mut v = client_frame(0x42, &deflate(b"abc"));
            v.extend(client_frame(0xc0, b"x"));
            v
        };
        let new_message_mid_way = {
            let mut v = client_frame(0x42, &deflate(b"abc"));
            v.extend(client_frame(0x81, b"x"));
            v
        };
        for input in [bad_stream, unmasked, rsv1_continuation, new_message_mid_way] {
            let mut inf = Inflater::new(1000, false);
            let mut out = Vec::new();
            inf.feed(&input, &mut out);
            assert_eq!(out, [0xf2, 0x80, 0, 0, 0, 0], "{input:?}");
            inf.feed(b"more", &mut out);
            assert_eq!(out.len(), 6);
        }
    }
}
