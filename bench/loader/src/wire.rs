//! What a client's connection carries besides plain JSON over TCP: TLS
//! (rustls), permessage-deflate from the server (RFC 7692, inflated here
//! below tungstenite, which knows no extension), the msgpack parser's
//! packets (npm `socket.io-msgpack-parser`), and padded arguments.
//!
//! The clients offer permessage-deflate but never compress what they send
//! (RFC 7692 lets a client leave its messages plain): the scenarios
//! measure the server's compressor, and the clients' small messages are
//! under every server's 1024-byte threshold anyway.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use flate2::{Decompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::proto::Packet;

/// How one scenario's clients talk to one server.
#[derive(Clone, Default)]
pub struct Wire {
    /// TLS with this client config (the harness's own certificate trusted).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Offer permessage-deflate and inflate what comes compressed.
    pub deflate: bool,
    /// Socket.IO packets in msgpack (binary WebSocket messages).
    pub msgpack: bool,
    /// Bytes of text added to every event's argument (after a `:`).
    pub pad: usize,
}

impl Wire {
    /// `base` with the padding, if any: `base:<pad bytes>`.
    pub fn arg(&self, base: String) -> String {
        if self.pad == 0 {
            return base;
        }
        let mut s = base;
        s.push(':');
        s.push_str(&padding()[..self.pad.min(PAD_MAX)]);
        s
    }
}

/// The longest padding.
const PAD_MAX: usize = 65_536;

/// Text like a chat application's: words from a small vocabulary in a
/// fixed pseudo-random order (letters and `-` only, so it needs no JSON
/// escape). Deflate shrinks 2 KB of it to about a quarter.
fn padding() -> &'static str {
    static PAD: OnceLock<String> = OnceLock::new();
    PAD.get_or_init(|| {
        const WORDS: [&str; 32] = [
            "the",
            "server",
            "sends",
            "message",
            "to",
            "every",
            "client",
            "in",
            "room",
            "with",
            "an",
            "event",
            "name",
            "and",
            "its",
            "arguments",
            "as",
            "json",
            "over",
            "websocket",
            "when",
            "compressed",
            "window",
            "bytes",
            "socket",
            "namespace",
            "broadcast",
            "ack",
            "timestamp",
            "user",
            "hello",
            "world",
        ];
        let mut s = String::with_capacity(PAD_MAX + 16);
        let mut x: u32 = 0x2545_f491;
        while s.len() < PAD_MAX {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.push_str(WORDS[(x % 32) as usize]);
            s.push('-');
        }
        s.truncate(PAD_MAX);
        s
    })
}

/// A client TLS config that trusts `cert_pem` only, with session
/// resumption off (every connection pays a full handshake) and no ALPN
/// (HTTP/1.1).
pub fn tls_config(cert_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut reader = cert_pem;
    for cert in rustls_pemfile_certs(&mut reader)? {
        roots.add(cert).map_err(|e| format!("trust: {e}"))?;
    }
    // ring, as the server (runtime-hyper) uses; deprecated in rustls
    // 0.23.48 for its lack of post-quantum key exchange, which neither side
    // offers here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The certificates of a PEM text.
fn rustls_pemfile_certs(
    pem: &mut &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert PEM, key PEM).
pub fn self_signed() -> Result<(String, String), String> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| format!("rcgen: {e}"))?;
    Ok((cert.cert.pem(), cert.key_pair.serialize_pem()))
}

/// The byte stream under a client's WebSocket or HTTP connection.
pub struct Conn {
    io: Io,
    inflate: Option<Box<Inflating>>,
}

enum Io {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

struct Inflating {
    inflater: Inflater,
    out: Vec<u8>,
    at: usize,
}

impl Conn {
    /// Over `tcp`: TLS when `wire` says so (handshake done here), and the
    /// inflater when it offers permessage-deflate.
    pub async fn new(tcp: TcpStream, wire: &Wire) -> Result<Self, String> {
        let io = match &wire.tls {
            Some(config) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(|e| format!("server name: {e}"))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("tls handshake: {e}"))?;
                Io::Tls(Box::new(tls))
            }
            None => Io::Tcp(tcp),
        };
        let inflate = wire.deflate.then(|| {
            Box::new(Inflating {
                inflater: Inflater::default(),
                out: Vec::new(),
                at: 0,
            })
        });
        Ok(Self { io, inflate })
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(state) = this.inflate.as_mut() else {
            return match &mut this.io {
                Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            };
        };
        loop {
            if state.at < state.out.len() {
                let pending = &state.out[state.at..];
                let n = pending.len().min(buf.remaining());
                buf.put_slice(&pending[..n]);
                state.at += n;
                if state.at == state.out.len() {
                    state.at = 0;
                    state.out.clear();
                    if state.out.capacity() > 64 * 1024 {
                        state.out = Vec::new();
                    }
                }
                return Poll::Ready(Ok(()));
            }
            let mut scratch = [0u8; 4096];
            let mut read = ReadBuf::new(&mut scratch);
            let polled = match &mut this.io {
                Io::Tcp(s) => Pin::new(s).poll_read(cx, &mut read),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, &mut read),
            };
            match polled {
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    state
                        .inflater
                        .feed(read.filled(), &mut state.out)
                        .map_err(io::Error::other)?;
                }
                other => return other,
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The client side of permessage-deflate on what the server sends: the
/// HTTP response head passes through (and tells whether the server keeps
/// its context), then every frame; a compressed message (RSV1 on its first
/// frame, continuations included) is handed on as one plain frame of its
/// inflated bytes.
#[derive(Default)]
pub struct Inflater {
    /// The response head so far, until its blank line.
    head: Vec<u8>,
    in_frames: bool,
    /// The server keeps its window between messages.
    takeover: bool,
    header: Vec<u8>,
    remaining: u64,
    /// The current frame's payload belongs to a compressed message.
    compressed: bool,
    /// A compressed message under way: its opcode and payload so far.
    message: Option<u8>,
    payload: Vec<u8>,
    decompress: Option<Decompress>,
}

/// Larger inflated messages are refused (the benchmark sends a few KB).
const MAX_INFLATED: usize = 16 << 20;

impl Inflater {
    /// Takes bytes read from the server; appends what tungstenite should read.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !self.in_frames {
            let Some((&b, rest)) = input.split_first() else {
                return Ok(());
            };
            input = rest;
            out.push(b);
            self.head.push(b);
            if self.head.ends_with(b"\r\n\r\n") {
                self.in_frames = true;
                let head = String::from_utf8_lossy(&self.head).to_ascii_lowercase();
                self.takeover = !head.contains("server_no_context_takeover");
                self.head = Vec::new();
            }
            if self.head.len() > 16 * 1024 {
                return Err("response head too long".into());
            }
        }
        while !input.is_empty() {
            if self.remaining == 0 && !self.read_header(&mut input, out)? {
                return Ok(());
            }
            let n = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            let (chunk, rest) = input.split_at(n);
            input = rest;
            self.remaining -= n as u64;
            if self.compressed {
                self.payload.extend_from_slice(chunk);
            } else {
                out.extend_from_slice(chunk);
            }
            if self.remaining == 0 {
                self.end_frame(out)?;
            }
        }
        Ok(())
    }

    /// Reads header bytes; `true` once a whole header was taken.
    fn read_header(&mut self, input: &mut &[u8], out: &mut Vec<u8>) -> Result<bool, String> {
        loop {
            let need = self.header_needed();
            if self.header.len() >= need {
                break;
            }
            let Some((&b, rest)) = input.split_first() else {
                return Ok(false);
            };
            self.header.push(b);
            *input = rest;
        }
        let (b0, b1) = (self.header[0], self.header[1]);
        let opcode = b0 & 0x0f;
        let rsv1 = b0 & 0x40 != 0;
        self.remaining = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(len)
            }
            n => u64::from(n),
        };
        self.compressed = match (opcode, self.message) {
            (o, _) if o & 0x08 != 0 => false,
            (1 | 2, None) if rsv1 => {
                self.message = Some(opcode);
                true
            }
            (0, Some(_)) => true,
            (_, Some(_)) => return Err("a new message inside a compressed one".into()),
            _ => false,
        };
        if !self.compressed {
            out.extend_from_slice(&self.header);
        }
        // FIN kept for end_frame.
        let fin = b0 & 0x80 != 0;
        self.header.clear();
        self.header.push(if fin { 0x80 } else { 0 });
        self.header.push(0);
        if self.remaining == 0 {
            self.end_frame(out)?;
        }
        Ok(true)
    }

    fn header_needed(&self) -> usize {
        if self.header.len() < 2 {
            return 2;
        }
        let b1 = self.header[1];
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    fn end_frame(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let fin = self.header.first() == Some(&0x80);
        self.header.clear();
        if !self.compressed || !fin {
            return Ok(());
        }
        let Some(opcode) = self.message.take() else {
            return Ok(());
        };
        self.payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let d = self
            .decompress
            .get_or_insert_with(|| Decompress::new(false));
        let mut inflated = Vec::with_capacity(self.payload.len() * 4 + 64);
        let start_in = d.total_in();
        loop {
            let before = (d.total_in(), d.total_out());
            let used = (d.total_in() - start_in) as usize;
            let status = d
                .decompress_vec(&self.payload[used..], &mut inflated, FlushDecompress::Sync)
                .map_err(|e| format!("inflate: {e}"))?;
            let used = (d.total_in() - start_in) as usize;
            let room = inflated.len() < inflated.capacity();
            if (used >= self.payload.len() && room) || matches!(status, Status::StreamEnd) {
                break;
            }
            if inflated.len() >= MAX_INFLATED {
                return Err("inflated message too large".into());
            }
            if room && (d.total_in(), d.total_out()) == before {
                return Err("inflate: no progress".into());
            }
            inflated.reserve(inflated.capacity().max(4096));
        }
        self.payload.clear();
        if self.payload.capacity() > 64 * 1024 {
            self.payload = Vec::new();
        }
        if !self.takeover {
            self.decompress = None;
        }
        out.push(0x80 | opcode);
        let len = inflated.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xffff {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&inflated);
        Ok(())
    }
}

// ---- msgpack (npm socket.io-msgpack-parser / notepack.io) ----

fn put_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65_536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn put_uint(out: &mut Vec<u8>, v: u64) {
    if v < 128 {
        out.push(v as u8);
    } else if v < 256 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v < 65_536 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// CONNECT to `/`: `{type: 0, nsp: "/"}`.
pub fn msgpack_connect() -> Vec<u8> {
    let mut out = vec![0x82];
    put_str(&mut out, "type");
    put_uint(&mut out, 0);
    put_str(&mut out, "nsp");
    put_str(&mut out, "/");
    out
}

/// EVENT on `/`: `{type: 2, data: [event, arg], nsp: "/", id?}`.
pub fn msgpack_event(id: Option<u64>, event: &str, arg: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len() + event.len() + 32);
    out.push(if id.is_some() { 0x84 } else { 0x83 });
    put_str(&mut out, "type");
    put_uint(&mut out, 2);
    put_str(&mut out, "data");
    out.push(0x92);
    put_str(&mut out, event);
    put_str(&mut out, arg);
    put_str(&mut out, "nsp");
    put_str(&mut out, "/");
    if let Some(id) = id {
        put_str(&mut out, "id");
        put_uint(&mut out, id);
    }
    out
}

/// A msgpack value, as far as the loader reads them.
#[derive(Debug, PartialEq)]
enum V<'a> {
    Uint(u64),
    Str(&'a str),
    Arr(Vec<V<'a>>),
    Map(Vec<(V<'a>, V<'a>)>),
    /// nil, booleans, negative integers, floats, bin, ext.
    Other,
}

struct Reader<'a> {
    data: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Some(a)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    }

    fn str(&mut self, n: usize) -> Option<V<'a>> {
        std::str::from_utf8(self.take(n)?).ok().map(V::Str)
    }

    fn seq(&mut self, n: usize) -> Option<V<'a>> {
        let mut v = Vec::with_capacity(n.min(self.data.len()));
        for _ in 0..n {
            v.push(self.value()?);
        }
        Some(V::Arr(v))
    }

    fn map(&mut self, n: usize) -> Option<V<'a>> {
        let mut v = Vec::with_capacity(n.min(self.data.len()));
        for _ in 0..n {
            v.push((self.value()?, self.value()?));
        }
        Some(V::Map(v))
    }

    fn value(&mut self) -> Option<V<'a>> {
        self.depth += 1;
        if self.depth > 32 {
            return None;
        }
        let b = *self.take(1)?.first()?;
        let v = match b {
            0x00..=0x7f => V::Uint(u64::from(b)),
            0x80..=0x8f => self.map(usize::from(b & 0x0f))?,
            0x90..=0x9f => self.seq(usize::from(b & 0x0f))?,
            0xa0..=0xbf => self.str(usize::from(b & 0x1f))?,
            0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => V::Other,
            0xc4 => {
                let n = self.be(1)? as usize;
                self.take(n)?;
                V::Other
            }
            0xc5 => {
                let n = self.be(2)? as usize;
                self.take(n)?;
                V::Other
            }
            0xc6 => {
                let n = self.be(4)? as usize;
                self.take(n)?;
                V::Other
            }
            0xca => {
                self.take(4)?;
                V::Other
            }
            0xcb => {
                self.take(8)?;
                V::Other
            }
            0xcc => V::Uint(self.be(1)?),
            0xcd => V::Uint(self.be(2)?),
            0xce => V::Uint(self.be(4)?),
            0xcf => V::Uint(self.be(8)?),
            0xd0 => {
                self.take(1)?;
                V::Other
            }
            0xd1 => {
                self.take(2)?;
                V::Other
            }
            0xd2 => {
                self.take(4)?;
                V::Other
            }
            0xd3 => {
                self.take(8)?;
                V::Other
            }
            0xd4 => {
                self.take(2)?;
                V::Other
            }
            0xd5 => {
                self.take(3)?;
                V::Other
            }
            0xd6 => {
                self.take(5)?;
                V::Other
            }
            0xd7 => {
                self.take(9)?;
                V::Other
            }
            0xd8 => {
                self.take(17)?;
                V::Other
            }
            0xc7 => {
                let n = self.be(1)? as usize;
                self.take(n + 1)?;
                V::Other
            }
            0xc8 => {
                let n = self.be(2)? as usize;
                self.take(n + 1)?;
                V::Other
            }
            0xc9 => {
                let n = self.be(4)? as usize;
                self.take(n + 1)?;
                V::Other
            }
            0xd9 => {
                let n = self.be(1)? as usize;
                self.str(n)?
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.str(n)?
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.str(n)?
            }
            0xdc => {
                let n = self.be(2)? as usize;
                self.seq(n)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.seq(n)?
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(n)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(n)?
            }
            0xc1 => return None,
        };
        self.depth -= 1;
        Some(v)
    }
}

/// Decodes one msgpack Socket.IO packet (a binary WebSocket message) into
/// the loader's packet model; only namespace `/`.
pub fn msgpack_decode(data: &[u8]) -> Packet<'_> {
    let mut r = Reader { data, depth: 0 };
    let Some(V::Map(entries)) = r.value() else {
        return Packet::Other;
    };
    if !r.data.is_empty() {
        return Packet::Other;
    }
    let (mut kind, mut nsp, mut id, mut args) = (None, None, None, None);
    for (k, v) in entries {
        match (k, v) {
            (V::Str("type"), V::Uint(t)) => kind = Some(t),
            (V::Str("nsp"), V::Str(n)) => nsp = Some(n),
            (V::Str("id"), V::Uint(i)) => id = Some(i),
            (V::Str("data"), V::Arr(a)) => args = Some(a),
            _ => {}
        }
    }
    if nsp != Some("/") {
        return Packet::Other;
    }
    fn strings<'a>(a: Option<Vec<V<'a>>>) -> Option<Vec<&'a str>> {
        a?.into_iter()
            .map(|v| match v {
                V::Str(s) => Some(s),
                _ => None,
            })
            .collect()
    }
    match kind {
        Some(0) => Packet::Connect,
        Some(1) => Packet::Disconnect,
        Some(4) => Packet::ConnectError,
        Some(2) => match strings(args).as_deref() {
            Some([event, arg]) => Packet::Event { event, arg },
            _ => Packet::Other,
        },
        Some(3) => match (id, strings(args).as_deref()) {
            (Some(id), Some([arg])) => Packet::Ack { id, arg },
            _ => Packet::Other,
        },
        _ => Packet::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgpack_packets_byte_for_byte() {
        assert_eq!(msgpack_connect(), b"\x82\xa4type\x00\xa3nsp\xa1/".to_vec());
        assert_eq!(
            msgpack_event(None, "echo", "12"),
            b"\x83\xa4type\x02\xa4data\x92\xa4echo\xa212\xa3nsp\xa1/".to_vec()
        );
        assert_eq!(
            msgpack_event(Some(300), "e", "x"),
            b"\x84\xa4type\x02\xa4data\x92\xa1e\xa1x\xa3nsp\xa1/\xa2id\xcd\x01\x2c".to_vec()
        );
        let long = "a".repeat(300);
        let e = msgpack_event(None, "e", &long);
        // 0x83, "type", 2, "data", 0x92, "e": the argument's str16 header next.
        assert_eq!(&e[15..18], b"\xda\x01\x2c");
    }

    #[test]
    fn msgpack_decodes_what_servers_send() {
        // CONNECT reply `{type, data: {sid}, nsp}` (the official key order).
        let connect = b"\x83\xa4type\x00\xa4data\x81\xa3sid\xa2ab\xa3nsp\xa1/";
        assert_eq!(msgpack_decode(connect), Packet::Connect);
        let event = msgpack_event(None, "echo", "1:pad");
        assert_eq!(
            msgpack_decode(&event),
            Packet::Event {
                event: "echo",
                arg: "1:pad"
            }
        );
        // ACK `{id, type, data, nsp}`.
        let ack = b"\x84\xa2id\x07\xa4type\x03\xa4data\x91\xa299\xa3nsp\xa1/";
        assert_eq!(msgpack_decode(ack), Packet::Ack { id: 7, arg: "99" });
        // Another namespace, trailing bytes, truncation, too deep.
        assert_eq!(
            msgpack_decode(b"\x82\xa4type\x00\xa3nsp\xa2/a"),
            Packet::Other
        );
        assert_eq!(
            msgpack_decode(&[connect.as_slice(), b"\x00"].concat()),
            Packet::Other
        );
        assert_eq!(msgpack_decode(&connect[..10]), Packet::Other);
        assert_eq!(msgpack_decode(&[0x91; 100]), Packet::Other);
    }

    /// A server frame sequence: the 101 head, a plain frame, a compressed
    /// message in two frames, a ping between them.
    #[test]
    fn inflates_compressed_messages_and_passes_the_rest() {
        let text = "hello hello hello hello hello".repeat(10);
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        let mut deflated = Vec::with_capacity(1024);
        c.compress_vec(text.as_bytes(), &mut deflated, flate2::FlushCompress::Sync)
            .unwrap_or(Status::Ok);
        assert!(deflated.ends_with(&[0, 0, 0xff, 0xff]));
        deflated.truncate(deflated.len() - 4);
        let (a, b) = deflated.split_at(deflated.len() / 2);
        let mut input = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n".to_vec();
        input.extend_from_slice(&[0x81, 2, b'4', b'0']);
        input.extend_from_slice(&[0x41, a.len() as u8]);
        input.extend_from_slice(a);
        input.extend_from_slice(&[0x89, 0]);
        input.extend_from_slice(&[0x80, b.len() as u8]);
        input.extend_from_slice(b);
        let mut inflater = Inflater::default();
        let mut out = Vec::new();
        // Byte by byte: every state boundary is crossed mid-read.
        for byte in &input {
            assert_eq!(inflater.feed(std::slice::from_ref(byte), &mut out), Ok(()));
        }
        let head_len = input.iter().position(|&b| b == 0x81).unwrap_or(0);
        assert_eq!(&out[..head_len], &input[..head_len]);
        let mut expected = vec![0x81, 2, b'4', b'0', 0x89, 0, 0x81, 126];
        expected.extend_from_slice(&(text.len() as u16).to_be_bytes());
        expected.extend_from_slice(text.as_bytes());
        assert_eq!(&out[head_len..], &expected[..]);
        assert!(!inflater.takeover);
    }

    #[test]
    fn padding_is_plain_text_of_the_asked_length() {
        let wire = Wire {
            pad: 2048,
            ..Wire::default()
        };
        let arg = wire.arg("123".into());
        assert_eq!(arg.len(), 3 + 1 + 2048);
        assert!(arg.starts_with("123:"));
        assert!(
            arg.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b':')
        );
        assert_eq!(Wire::default().arg("123".into()), "123");
    }
}
