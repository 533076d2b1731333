//! Engine configuration: every limit and timing, with the official defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::compression::HttpCompression;
use crate::cookie::CookieOptions;
use crate::cors::Cors;
use crate::deflate::PerMessageDeflate;
use crate::http::{Headers, Request};

/// A transport a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    WebSocket,
}

impl TransportKind {
    /// The name used in the query string.
    pub fn name(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::WebSocket => "websocket",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "polling" => Some(Self::Polling),
            "websocket" => Some(Self::WebSocket),
            _ => None,
        }
    }
}

/// Generates a session id for a handshake request (`generateId`).
pub type IdGenerator = Arc<dyn Fn(&Request) -> String + Send + Sync>;

/// Adds or changes response headers (`initial_headers`, `headers` events).
pub type HeadersHook = Arc<dyn Fn(&mut Headers, &Request) + Send + Sync>;

/// The engine's configuration. Shared read-only (`Arc`) by the engine.
#[derive(Clone)]
pub struct Config {
    /// The path the engine serves (`/engine.io` by default; Socket.IO uses
    /// `/socket.io`). See [`Config::matches_path`].
    pub path: String,
    /// Whether a `/` is added to `path` before matching (default true).
    pub add_trailing_slash: bool,
    /// The transports a client may use (default both).
    pub transports: Vec<TransportKind>,
    /// Whether polling sessions may upgrade to WebSocket (default true).
    pub allow_upgrades: bool,
    /// Interval between two server pings (default 25 s).
    pub ping_interval: Duration,
    /// How long a pong may take (default 20 s).
    pub ping_timeout: Duration,
    /// How long an upgrade may take before the new transport is closed
    /// (default 10 s).
    pub upgrade_timeout: Duration,
    /// How long a closing polling session waits for a GET to deliver the
    /// close packet (30 s, as the official server).
    pub close_timeout: Duration,
    /// The largest polling body or WebSocket message accepted, in bytes
    /// (`maxHttpBufferSize`, default 1 000 000). Announced as `maxPayload`.
    pub max_http_buffer_size: usize,
    /// The most packets queued for one client that has not read them. A send
    /// past it closes the session with [`CloseReason::SendBufferFull`](crate::CloseReason::SendBufferFull).
    pub max_buffered_packets: usize,
    /// The most bytes queued for one client that has not read them; same
    /// policy as `max_buffered_packets`.
    pub max_buffered_bytes: usize,
    /// Accept Engine.IO v3 clients (socket.io 2.x); off by default.
    pub allow_eio3: bool,
    /// Compression of long-poll responses (`httpCompression`): on by
    /// default, threshold 1024 bytes; `None` turns it off.
    pub http_compression: Option<HttpCompression>,
    /// WebSocket compression (`perMessageDeflate`, RFC 7692): off by
    /// default, as in Node. When set, a client's offer is answered in the
    /// `101` response; the runtime's WebSocket layer then compresses messages
    /// from the threshold up and inflates the client's compressed ones (at
    /// most `max_http_buffer_size` bytes once inflated).
    pub per_message_deflate: Option<PerMessageDeflate>,
    /// A message sent right after the open packet (`initialPacket`).
    pub initial_packet: Option<crate::Data>,
    /// The session cookie (`cookie` option); none by default.
    pub cookie: Option<CookieOptions>,
    /// CORS (`cors` option); none by default.
    pub cors: Option<Cors>,
    /// When true, every handshake waits for the application's answer to an
    /// [`Event::AllowRequest`](crate::Event::AllowRequest) (`allowRequest`).
    pub allow_request: bool,
    /// Generates session ids instead of the built-in generator
    /// (`generateId`). An id must be unique among open sessions and be 1 to
    /// [`MAX_SID_LEN`](crate::MAX_SID_LEN) visible ASCII characters that
    /// need no escaping in a URL or a cookie; any other id refuses the
    /// handshake with code 3 ([`ErrorContext::IdGenerationError`](crate::ErrorContext::IdGenerationError)).
    pub generate_id: Option<IdGenerator>,
    /// Called on the headers of every handshake response.
    pub initial_headers: Option<HeadersHook>,
    /// Called on the headers of every response.
    pub headers: Option<HeadersHook>,
    /// Seed of the session id generator. The runtime draws it from the OS;
    /// tests fix it.
    pub seed: [u8; 32],
}

impl Default for Config {
    fn default() -> Self {
        Self {
            path: "/engine.io".into(),
            add_trailing_slash: true,
            transports: vec![TransportKind::Polling, TransportKind::WebSocket],
            allow_upgrades: true,
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            close_timeout: Duration::from_millis(30_000),
            max_http_buffer_size: 1_000_000,
            max_buffered_packets: 4096,
            max_buffered_bytes: 16 * 1024 * 1024,
            allow_eio3: false,
            http_compression: Some(HttpCompression::default()),
            per_message_deflate: None,
            initial_packet: None,
            cookie: None,
            cors: None,
            allow_request: false,
            generate_id: None,
            initial_headers: None,
            headers: None,
            seed: [0; 32],
        }
    }
}

impl Config {
    /// Whether a request target belongs to the engine: the official server
    /// compares the start of the URL with the path (plus `/` unless
    /// `add_trailing_slash` is false).
    pub fn matches_path(&self, uri: &str) -> bool {
        let base = self.path.strip_suffix('/').unwrap_or(&self.path);
        match uri.strip_prefix(base) {
            Some(rest) if self.add_trailing_slash => rest.starts_with('/'),
            Some(_) => true,
            None => false,
        }
    }

    pub(crate) fn allows(&self, kind: TransportKind) -> bool {
        self.transports.contains(&kind)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_http_buffer_size", &self.max_http_buffer_size)
            .field("max_buffered_packets", &self.max_buffered_packets)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("allow_eio3", &self.allow_eio3)
            .field("http_compression", &self.http_compression)
            .field("per_message_deflate", &self.per_message_deflate)
            .field("cookie", &self.cookie)
            .field("cors", &self.cors)
            .field("allow_request", &self.allow_request)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_matching_follows_the_official_prefix_rule() {
        let c = Config {
            path: "/socket.io".into(),
            ..Config::default()
        };
        assert!(c.matches_path("/socket.io/?EIO=4"));
        assert!(c.matches_path("/socket.io/"));
        assert!(!c.matches_path("/socket.io?EIO=4"));
        assert!(!c.matches_path("/other/"));
        let c = Config {
            path: "/socket.io/".into(),
            add_trailing_slash: false,
            ..Config::default()
        };
        assert!(c.matches_path("/socket.io?EIO=4"));
        assert!(c.matches_path("/socket.io/?EIO=4"));
    }
}
