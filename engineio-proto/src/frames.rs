//! WebSocket framing (RFC 6455), the server's side, sans-IO: a reader that
//! takes the bytes a client sent, in pieces of any size, and gives back
//! whole messages and control frames, and the encoders of what a server
//! sends.
//!
//! The reader keeps no buffer between messages: an idle connection holds
//! only its fixed state (a partly read header is kept inline). A message's
//! bytes are unmasked straight from the input into the one buffer the
//! message becomes, sized from the frame's header when its payload is
//! already in the input, grown as it arrives otherwise (a header alone
//! never reserves more than the bytes that came with it).
//!
//! It refuses what the RFC forbids a client, with the close code the
//! official server's WebSocket layer (`ws`) sends: an unmasked frame,
//! reserved bits or opcodes, a fragmented or oversized control frame, a
//! continuation out of place, a 64-bit length with its top bit set, a close
//! frame with a bad code (1002); text that is not UTF-8 (1007); a message
//! past the limit, refused at the header that crosses it (1009).
//! permessage-deflate is undone before the reader ([`crate::deflate::Inflater`]),
//! which hands compressed messages on as plain frames.
//!
//! ```
//! use engineio_proto::frames::{FrameReader, Incoming};
//! use engineio_proto::Frame;
//!
//! let mut reader = FrameReader::new(1000);
//! // A masked text frame "4hi" (FIN + text, mask bit + length 3, the key, the payload).
//! let key = [1u8, 2, 3, 4];
//! let mut bytes = vec![0x81, 0x83];
//! bytes.extend_from_slice(&key);
//! bytes.extend(b"4hi".iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
//! // In two pieces: nothing until the message is whole.
//! let (a, b) = bytes.split_at(4);
//! let mut input = a;
//! assert!(reader.read(&mut input).is_none());
//! assert!(input.is_empty());
//! let mut input = b;
//! match reader.read(&mut input) {
//!     Some(Ok(Incoming::Message(Frame::Text(text)))) => assert_eq!(text, "4hi"),
//!     other => panic!("{other:?}"),
//! }
//! assert!(reader.is_idle());
//! ```

use bytes::Bytes;

use crate::{Frame, Str};

/// The opcode of a continuation frame.
pub const CONTINUATION: u8 = 0x0;
/// The opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// The opcode of a binary frame.
pub const BINARY: u8 = 0x2;
/// The opcode of a close frame.
pub const CLOSE: u8 = 0x8;
/// The opcode of a ping frame.
pub const PING: u8 = 0x9;
/// The opcode of a pong frame.
pub const PONG: u8 = 0xa;

/// The largest payload of a control frame.
const MAX_CONTROL: usize = 125;

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message (text is checked UTF-8).
    Message(Frame),
    /// A ping, with its payload: answer with a pong carrying the same
    /// ([`encode_frame`] with [`PONG`]).
    Ping(Bytes),
    /// A pong (nothing to do).
    Pong,
    /// The client closes: the payload of its close frame (empty, or a
    /// valid code and a UTF-8 reason), which the server's close frame
    /// echoes to complete the closing handshake.
    Close(Bytes),
}

/// Why the reader refused the client's bytes. After an error the reader
/// reads nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The client broke the framing rules (the text says which).
    Protocol(&'static str),
    /// A text message (or a close reason) that is not UTF-8.
    InvalidUtf8,
    /// A message larger than the reader's limit.
    TooBig,
}

impl FrameError {
    /// The close code the server answers with: 1002, 1007 or 1009.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::InvalidUtf8 => 1007,
            FrameError::TooBig => 1009,
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Protocol(what) => write!(f, "websocket protocol error: {what}"),
            FrameError::InvalidUtf8 => f.write_str("websocket text is not UTF-8"),
            FrameError::TooBig => f.write_str("websocket message too big"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Reads a client's WebSocket frames; see the [module](self) for the rules.
///
/// Between messages it is three words: what a frame or message read in
/// part needs (the header so far, the masking key, the payload so far) is
/// boxed only while one is, so an idle connection pays for none of it.
#[derive(Debug)]
pub struct FrameReader {
    max_message: usize,
    /// A header, frame or message read in part; `None` between messages.
    partial: Option<Box<State>>,
    failed: bool,
}

/// Where the reader is within the client's frames.
#[derive(Debug, Default)]
struct State {
    /// The header being read (2 to 14 bytes), kept while it is incomplete.
    header: [u8; 14],
    header_len: u8,
    /// The header is whole: payload bytes of the current frame are next.
    in_payload: bool,
    /// The current frame: its opcode, whether it ends its message, its
    /// masking key, how far into the key the payload is, what is left.
    opcode: u8,
    fin: bool,
    mask: [u8; 4],
    mask_at: usize,
    remaining: usize,
    /// The message under way (text or binary) and its bytes so far.
    message: Option<(u8, Vec<u8>)>,
    /// The payload of the control frame being read.
    control: Vec<u8>,
}

impl FrameReader {
    /// A reader of messages of at most `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            partial: None,
            failed: false,
        }
    }

    /// Whether nothing is partly read (no header, frame or message under
    /// way), so the reader holds no buffer.
    pub fn is_idle(&self) -> bool {
        self.partial.is_none()
    }

    /// Reads from `input` up to the end of the next message or control
    /// frame, and advances `input` past what it took. `None`: `input` was
    /// used up without completing one (what was read is kept), or the
    /// reader failed before.
    pub fn read(&mut self, input: &mut &[u8]) -> Option<Result<Incoming, FrameError>> {
        if self.failed {
            *input = &[];
            return None;
        }
        let result = match self.partial.take() {
            // Went on from where the last read stopped; the box is kept
            // while something is still under way.
            Some(mut state) => {
                let result = state.read(self.max_message, input);
                if !state.is_idle() {
                    self.partial = Some(state);
                }
                result
            }
            // The usual case: the state lives on the stack, boxed only if
            // `input` ends within a frame.
            None => {
                let mut state = State::default();
                let result = state.read(self.max_message, input);
                if !state.is_idle() {
                    self.partial = Some(Box::new(state));
                }
                result
            }
        };
        if let Some(Err(_)) = result {
            self.failed = true;
            self.partial = None;
            *input = &[];
        }
        result
    }
}

impl State {
    fn is_idle(&self) -> bool {
        self.header_len == 0 && !self.in_payload && self.message.is_none()
    }

    fn read(
        &mut self,
        max_message: usize,
        input: &mut &[u8],
    ) -> Option<Result<Incoming, FrameError>> {
        loop {
            if !self.in_payload {
                match self.read_header(max_message, input) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(error) => return Some(Err(error)),
                }
            }
            if self.remaining > 0 {
                if input.is_empty() {
                    return None;
                }
                let n = self.remaining.min(input.len());
                let (chunk, rest) = input.split_at(n);
                *input = rest;
                let (mask, at) = (self.mask, self.mask_at);
                let into = if is_control(self.opcode) {
                    &mut self.control
                } else {
                    match self.message.as_mut() {
                        Some((_, data)) => data,
                        None => &mut self.control,
                    }
                };
                unmask_into(into, chunk, mask, at);
                self.mask_at = (at + n) % 4;
                self.remaining -= n;
                if self.remaining > 0 {
                    return None;
                }
            }
            self.in_payload = false;
            match self.end_frame() {
                Ok(Some(incoming)) => return Some(Ok(incoming)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// Takes header bytes from `input`: `Ok(true)` once the header is whole
    /// and checked (the frame's payload comes next), `Ok(false)` if `input`
    /// ran out first.
    fn read_header(&mut self, max_message: usize, input: &mut &[u8]) -> Result<bool, FrameError> {
        loop {
            let need = self.header_needed();
            let have = usize::from(self.header_len);
            if have >= need {
                break;
            }
            let take = (need - have).min(input.len());
            if take == 0 {
                return Ok(false);
            }
            let (bytes, rest) = input.split_at(take);
            if let Some(slot) = self.header.get_mut(have..have + take) {
                slot.copy_from_slice(bytes);
            }
            self.header_len += take as u8;
            *input = rest;
        }
        let need = self.header_needed();
        self.header_len = 0;
        let [b0, b1, ..] = self.header;
        if b0 & 0x70 != 0 {
            return Err(FrameError::Protocol("reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err(FrameError::Protocol("unmasked frame from a client"));
        }
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
        let len = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(self.header.get(2..10).unwrap_or(&[0xff; 8]));
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(FrameError::Protocol("64-bit length with its top bit set"));
                }
                len
            }
            n => u64::from(n),
        };
        self.mask
            .copy_from_slice(self.header.get(need - 4..need).unwrap_or(&[0; 4]));
        match opcode {
            CLOSE | PING | PONG => {
                if !fin {
                    return Err(FrameError::Protocol("fragmented control frame"));
                }
                if len > MAX_CONTROL as u64 {
                    return Err(FrameError::Protocol("control frame over 125 bytes"));
                }
                self.control.clear();
            }
            TEXT | BINARY | CONTINUATION => {
                let so_far = match (&self.message, opcode) {
                    (None, CONTINUATION) => {
                        return Err(FrameError::Protocol("continuation without a message"));
                    }
                    (Some(_), TEXT | BINARY) => {
                        return Err(FrameError::Protocol("new message before the last ended"));
                    }
                    (Some((_, data)), _) => data.len(),
                    (None, _) => 0,
                };
                let total = u64::try_from(so_far)
                    .unwrap_or(u64::MAX)
                    .saturating_add(len);
                if total > max_message as u64 {
                    return Err(FrameError::TooBig);
                }
                // Reserve for the part of the payload that is already here
                // (all of it, in the usual case): a header alone reserves
                // nothing it has not been sent.
                let here = usize::try_from(len).unwrap_or(usize::MAX).min(input.len());
                match &mut self.message {
                    Some((_, data)) => data.reserve(here),
                    None => self.message = Some((opcode, Vec::with_capacity(here))),
                }
            }
            _ => return Err(FrameError::Protocol("reserved opcode")),
        }
        self.opcode = opcode;
        self.fin = fin;
        self.mask_at = 0;
        // Bounded by the checks above (the limit or 125).
        self.remaining = usize::try_from(len).unwrap_or(usize::MAX);
        self.in_payload = true;
        Ok(true)
    }

    /// Bytes the header being read takes, as far as its bytes so far tell.
    fn header_needed(&self) -> usize {
        header_needed(&self.header, usize::from(self.header_len))
    }

    /// The current frame is whole: what it completes, if anything.
    fn end_frame(&mut self) -> Result<Option<Incoming>, FrameError> {
        match self.opcode {
            PING => Ok(Some(Incoming::Ping(Bytes::from(std::mem::take(
                &mut self.control,
            ))))),
            PONG => {
                self.control.clear();
                Ok(Some(Incoming::Pong))
            }
            CLOSE => {
                let payload = std::mem::take(&mut self.control);
                check_close(&payload)?;
                Ok(Some(Incoming::Close(Bytes::from(payload))))
            }
            _ if !self.fin => Ok(None),
            _ => {
                let Some((opcode, data)) = self.message.take() else {
                    return Ok(None);
                };
                let data = Bytes::from(data);
                let frame = if opcode == TEXT {
                    Frame::Text(Str::from_utf8(data).map_err(|_| FrameError::InvalidUtf8)?)
                } else {
                    Frame::Binary(data)
                };
                Ok(Some(Incoming::Message(frame)))
            }
        }
    }
}

/// Bytes a frame header takes, as far as its first `have` bytes (in
/// `header`) tell: 2 until the length byte is known, then 2 to 14.
pub(crate) fn header_needed(header: &[u8; 14], have: usize) -> usize {
    if have < 2 {
        return 2;
    }
    let b1 = header[1];
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

fn is_control(opcode: u8) -> bool {
    opcode & 0x08 != 0
}

/// A close frame's payload: empty, or a code a peer may send and a UTF-8
/// reason.
fn check_close(payload: &[u8]) -> Result<(), FrameError> {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return if payload.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Protocol("close frame of one byte"))
        };
    };
    let code = u16::from_be_bytes(*code);
    let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !allowed {
        return Err(FrameError::Protocol("close code not allowed"));
    }
    std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
    Ok(())
}

/// Appends `src` XORed with the masking key `mask`, starting `at` bytes
/// into it, to `dst`.
fn unmask_into(dst: &mut Vec<u8>, src: &[u8], mask: [u8; 4], at: usize) {
    let start = dst.len();
    dst.extend_from_slice(src);
    let Some(data) = dst.get_mut(start..) else {
        return;
    };
    let mut key = [0u8; 8];
    for (i, k) in key.iter_mut().enumerate() {
        *k = mask.get((at + i) % 4).copied().unwrap_or(0);
    }
    let word = u64::from_ne_bytes(key);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (b, k) in chunks.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

/// Appends one final, unmasked frame (what a server sends) with `opcode`
/// and `payload` to `out`; `rsv1` marks a compressed message
/// (permessage-deflate).
///
/// ```
/// use engineio_proto::frames::{encode_frame, TEXT};
///
/// let mut out = Vec::new();
/// encode_frame(&mut out, TEXT, false, b"40");
/// assert_eq!(out, b"\x81\x0240");
/// ```
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, rsv1: bool, payload: &[u8]) {
    let b0 = 0x80 | if rsv1 { 0x40 } else { 0 } | (opcode & 0x0f);
    let len = payload.len();
    out.reserve(10 + len);
    if len < 126 {
        out.extend_from_slice(&[b0, len as u8]);
    } else if let Ok(len) = u16::try_from(len) {
        out.extend_from_slice(&[b0, 126]);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.extend_from_slice(&[b0, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` (and no reason) to `out`.
///
/// ```
/// let mut out = Vec::new();
/// engineio_proto::frames::encode_close(&mut out, 1009);
/// assert_eq!(out, [0x88, 0x02, 0x03, 0xf1]);
/// ```
pub fn encode_close(out: &mut Vec<u8>, code: u16) {
    encode_frame(out, CLOSE, false, &code.to_be_bytes());
}

/// Appends `frame` to `out` as a plain (uncompressed) message.
pub fn encode_message(out: &mut Vec<u8>, frame: &Frame) {
    match frame {
        Frame::Text(text) => encode_frame(out, TEXT, false, text.as_bytes()),
        Frame::Binary(data) => encode_frame(out, BINARY, false, data),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// A client frame: masked with `key`.
    fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = vec![b0];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xffff {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&key);
        out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        out
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn read_all(reader: &mut FrameReader, mut input: &[u8]) -> Vec<Result<Incoming, FrameError>> {
        let mut out = Vec::new();
        while let Some(r) = reader.read(&mut input) {
            out.push(r);
        }
        assert!(input.is_empty());
        out
    }

    fn text(s: &str) -> Result<Incoming, FrameError> {
        Ok(Incoming::Message(Frame::Text(Str::from(s.to_owned()))))
    }

    #[test]
    fn messages_of_every_length_form_in_pieces_of_every_size() {
        for len in [0usize, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut bytes = client_frame(0x81, &payload, KEY);
            bytes.extend(client_frame(0x82, &payload, KEY));
            for piece in [1usize, 3, 13, 4096, usize::MAX] {
                if len > 200 && piece < 13 {
                    continue;
                }
                let mut reader = FrameReader::new(100_000);
                let mut got = Vec::new();
                for chunk in bytes.chunks(piece.min(bytes.len()).max(1)) {
                    got.extend(read_all(&mut reader, chunk));
                }
                let s = String::from_utf8(payload.clone()).unwrap();
                assert_eq!(
                    got,
                    vec![
                        text(&s),
                        Ok(Incoming::Message(Frame::Binary(Bytes::from(
                            payload.clone()
                        ))))
                    ],
                    "len {len}, pieces of {piece}"
                );
                assert!(reader.is_idle());
            }
        }
    }

    #[test]
    fn fragments_join_and_control_frames_come_between_them() {
        let mut bytes = client_frame(0x01, b"4he", KEY);
        bytes.extend(client_frame(0x89, b"p", KEY));
        bytes.extend(client_frame(0x00, b"ll", [9, 9, 9, 9]));
        bytes.extend(client_frame(0x8a, b"", KEY));
        bytes.extend(client_frame(0x80, b"o", KEY));
        let mut reader = FrameReader::new(100);
        assert_eq!(
            read_all(&mut reader, &bytes),
            vec![
                Ok(Incoming::Ping(Bytes::from_static(b"p"))),
                Ok(Incoming::Pong),
                text("4hello"),
            ]
        );
        assert!(reader.is_idle());
    }

    #[test]
    fn a_close_frame_comes_back_with_its_payload() {
        let mut reader = FrameReader::new(100);
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend(b"bye");
        assert_eq!(
            read_all(&mut reader, &client_frame(0x88, &payload, KEY)),
            vec![Ok(Incoming::Close(Bytes::from(payload)))]
        );
        let mut reader = FrameReader::new(100);
        assert_eq!(
            read_all(&mut reader, &client_frame(0x88, b"", KEY)),
            vec![Ok(Incoming::Close(Bytes::new()))]
        );
    }

    #[test]
    fn what_a_client_may_not_send_is_refused_with_its_code() {
        let mut long_len = vec![0x82, 0x80 | 127];
        long_len.extend(u64::MAX.to_be_bytes());
        long_len.extend(KEY);
        let cases: Vec<(&str, Vec<u8>, FrameError)> = vec![
            (
                "unmasked",
                vec![0x81, 0x02, b'4', b'x'],
                FrameError::Protocol("unmasked frame from a client"),
            ),
            (
                "rsv1",
                client_frame(0xc1, b"4x", KEY),
                FrameError::Protocol("reserved bits set"),
            ),
            (
                "rsv3",
                client_frame(0x91, b"4x", KEY),
                FrameError::Protocol("reserved bits set"),
            ),
            (
                "opcode 3",
                client_frame(0x83, b"", KEY),
                FrameError::Protocol("reserved opcode"),
            ),
            (
                "opcode 11",
                client_frame(0x8b, b"", KEY),
                FrameError::Protocol("reserved opcode"),
            ),
            (
                "fragmented ping",
                client_frame(0x09, b"", KEY),
                FrameError::Protocol("fragmented control frame"),
            ),
            (
                "long ping",
                client_frame(0x89, &[0; 126], KEY),
                FrameError::Protocol("control frame over 125 bytes"),
            ),
            (
                "lone continuation",
                client_frame(0x80, b"x", KEY),
                FrameError::Protocol("continuation without a message"),
            ),
            (
                "top bit",
                long_len,
                FrameError::Protocol("64-bit length with its top bit set"),
            ),
            (
                "close of one byte",
                client_frame(0x88, &[3], KEY),
                FrameError::Protocol("close frame of one byte"),
            ),
            (
                "close 1005",
                client_frame(0x88, &1005u16.to_be_bytes(), KEY),
                FrameError::Protocol("close code not allowed"),
            ),
            (
                "close 999",
                client_frame(0x88, &999u16.to_be_bytes(), KEY),
                FrameError::Protocol("close code not allowed"),
            ),
            (
                "close 5000",
                client_frame(0x88, &5000u16.to_be_bytes(), KEY),
                FrameError::Protocol("close code not allowed"),
            ),
            (
                "close reason",
                client_frame(0x88, &[0x03, 0xe8, 0xff], KEY),
                FrameError::InvalidUtf8,
            ),
            (
                "text",
                client_frame(0x81, &[b'4', 0xc3], KEY),
                FrameError::InvalidUtf8,
            ),
            (
                "one over",
                client_frame(0x82, &[0; 11], KEY),
                FrameError::TooBig,
            ),
        ];
        for (what, bytes, error) in cases {
            let mut reader = FrameReader::new(10);
            // A good message first: it still comes out.
            let mut input = client_frame(0x81, b"4ok", KEY);
            input.extend(&bytes);
            input.extend(client_frame(0x81, b"4after", KEY));
            assert_eq!(
                read_all(&mut reader, &input),
                vec![text("4ok"), Err(error)],
                "{what}"
            );
            // Nothing more is read after an error.
            assert_eq!(
                read_all(&mut reader, &client_frame(0x81, b"4", KEY)),
                vec![],
                "{what}"
            );
        }
        assert_eq!(FrameError::Protocol("x").close_code(), 1002);
        assert_eq!(FrameError::InvalidUtf8.close_code(), 1007);
        assert_eq!(FrameError::TooBig.close_code(), 1009);
    }

    #[test]
    fn the_limit_counts_the_whole_message_and_a_header_reserves_only_what_came() {
        // Fragments of 6 + 4 = 10 bytes pass; one more byte does not, and
        // the refusal comes at the header that crosses the limit.
        let mut reader = FrameReader::new(10);
        let mut bytes = client_frame(0x02, &[1; 6], KEY);
        bytes.extend(client_frame(0x80, &[2; 4], KEY));
        let got = read_all(&mut reader, &bytes);
        assert_eq!(got.len(), 1);
        let mut bytes = client_frame(0x02, &[1; 6], KEY);
        bytes.extend(&client_frame(0x80, &[2; 5], KEY)[..6]);
        assert_eq!(read_all(&mut reader, &bytes), vec![Err(FrameError::TooBig)]);

        // A header announcing a megabyte with 3 bytes after it reserves 3.
        let mut reader = FrameReader::new(1 << 20);
        let frame = client_frame(0x82, &vec![7; 1 << 20], KEY);
        assert_eq!(read_all(&mut reader, &frame[..14 + 3]), vec![]);
        let state = reader.partial.as_ref().unwrap();
        let capacity = state.message.as_ref().map(|(_, d)| d.capacity()).unwrap();
        assert!(capacity < 64, "{capacity}");
        assert_eq!(read_all(&mut reader, &frame[17..]).len(), 1);
        assert!(reader.is_idle());
        // Between messages the reader is three words.
        assert_eq!(std::mem::size_of::<FrameReader>(), 24);
    }

    #[test]
    fn frames_are_encoded_as_the_rfc_lays_them_out() {
        for (len, head) in [
            (0usize, vec![0x81, 0]),
            (125, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (65535, vec![0x81, 126, 0xff, 0xff]),
            (65536, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut out = vec![9];
            encode_frame(&mut out, TEXT, false, &vec![b'a'; len]);
            assert_eq!(out[0], 9);
            assert_eq!(&out[1..1 + head.len()], &head[..], "{len}");
            assert_eq!(out.len(), 1 + head.len() + len);
        }
        let mut out = Vec::new();
        encode_frame(&mut out, BINARY, true, &[9, 9, 9]);
        assert_eq!(out, b"\xc2\x03\x09\x09\x09");
        let mut out = Vec::new();
        encode_message(&mut out, &Frame::Binary(Bytes::from_static(&[1, 2])));
        assert_eq!(out, b"\x82\x02\x01\x02");
        let mut out = Vec::new();
        encode_frame(&mut out, PONG, false, b"p");
        assert_eq!(out, b"\x8a\x01p");
    }

    #[test]
    fn unmasking_starts_anywhere_in_the_key() {
        let data: Vec<u8> = (0..37u8).collect();
        for at in 0..4 {
            let mut out = vec![0xaa];
            unmask_into(&mut out, &data, KEY, at);
            let expected: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ KEY[(at + i) % 4])
                .collect();
            assert_eq!(&out[1..], &expected[..]);
        }
    }
}
