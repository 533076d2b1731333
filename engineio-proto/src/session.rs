//! The state of one session: its transport, upgrade, queue and timers.

use std::collections::VecDeque;
use std::time::Instant;

use crate::compression::ContentEncoding;
use crate::config::{Config, TransportKind};
use crate::deadlines::Deadlines;

use crate::http::Headers;
use crate::output::{RequestId, Sid, Watch};
use crate::packet::{Frame, Protocol};

/// The timers of a session: a fixed table, one slot each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// v4: time to send the next ping.
    Ping = 0,
    /// No pong (v4) or ping (v3) in time: the session ends.
    PingTimeout = 1,
    /// The upgrade took too long: the probe is closed.
    UpgradeTimeout = 2,
    /// During an upgrade, end a pending long-poll with a noop.
    UpgradeCheck = 3,
    /// A server close waited too long for a GET to deliver its `1`.
    CloseTimeout = 4,
}

const TIMERS: [Timer; 5] = [
    Timer::Ping,
    Timer::PingTimeout,
    Timer::UpgradeTimeout,
    Timer::UpgradeCheck,
    Timer::CloseTimeout,
];

#[derive(Debug, Default)]
pub(crate) struct Timers([Option<Instant>; 5]);

impl Timers {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(slot) = self.0.get_mut(timer as usize) {
            *slot = Some(at);
        }
    }

    pub(crate) fn clear(&mut self, timer: Timer) {
        if let Some(slot) = self.0.get_mut(timer as usize) {
            *slot = None;
        }
    }

    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// A timer whose deadline is at or before `now`, earliest first, with
    /// the instant it was scheduled for.
    pub(crate) fn due(&self, now: Instant) -> Option<(Timer, Instant)> {
        TIMERS
            .iter()
            .zip(self.0.iter())
            .filter_map(|(t, at)| at.filter(|at| *at <= now).map(|at| (*t, at)))
            .min_by_key(|(_, at)| *at)
    }
}

/// A long-poll GET waiting for packets, with the headers its response gets.
#[derive(Debug)]
pub(crate) struct PendingGet {
    pub(crate) id: RequestId,
    pub(crate) headers: Headers,
    /// What the response body may be compressed with (`Accept-Encoding`,
    /// when `http_compression` is on).
    pub(crate) encoding: Option<ContentEncoding>,
}

/// The polling transport.
#[derive(Debug, Default)]
pub(crate) struct Polling {
    pub(crate) get: Option<PendingGet>,
    /// A POST whose body is being read.
    pub(crate) post: Option<RequestId>,
    /// The server closes the session: the next GET carries a `1`.
    pub(crate) should_close: bool,
}

/// The session's transport. The polling state (a pending GET with its
/// headers) is boxed: a WebSocket session, the usual idle one, keeps 16
/// bytes here instead of 88.
#[derive(Debug)]
pub(crate) enum Transport {
    Polling(Box<Polling>),
    WebSocket { ws: RequestId, writable: bool },
}

impl Transport {
    pub(crate) fn websocket(&self) -> Option<RequestId> {
        match self {
            Self::WebSocket { ws, .. } => Some(*ws),
            Self::Polling(_) => None,
        }
    }
}

/// A WebSocket opened to upgrade a polling session.
#[derive(Debug)]
pub(crate) struct Probe {
    pub(crate) ws: RequestId,
    /// `2probe` came and `3probe` went.
    pub(crate) probed: bool,
}

/// How a client wants its long-poll payloads: protocol revision, binary or
/// base64 (v3 `b64=1`), JSONP (`j`).
#[derive(Debug, Clone)]
pub(crate) struct PayloadFormat {
    pub(crate) protocol: Protocol,
    pub(crate) supports_binary: bool,
    /// JSONP callback index (the digits of `j`).
    pub(crate) jsonp: Option<Box<str>>,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) sid: Sid,
    pub(crate) protocol: Protocol,
    pub(crate) transport: Transport,
    pub(crate) probe: Option<Probe>,
    /// The application closed the session; what is queued still goes out.
    pub(crate) closing: bool,
    /// How long-poll responses are encoded for this client.
    pub(crate) format: PayloadFormat,
    /// Packets not yet handed to the transport, encoded (v4 form), each
    /// with whether it may be compressed.
    pub(crate) buffer: VecDeque<(Frame, bool)>,
    pub(crate) buffered_bytes: usize,
    /// The session's own fixed table of timers; the server's [`Deadlines`]
    /// holds the earliest of them under the session's id (see
    /// [`Session::set_timer`]).
    pub(crate) timers: Timers,
    /// Which per-packet events the application asked for.
    pub(crate) watch: Watch,
}

impl Session {
    pub(crate) fn new(sid: Sid, format: PayloadFormat, transport: Transport) -> Self {
        Self {
            sid,
            protocol: format.protocol,
            transport,
            probe: None,
            closing: false,
            format,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            timers: Timers::default(),
            watch: Watch::default(),
        }
    }

    pub(crate) fn transport_kind(&self) -> TransportKind {
        match self.transport {
            Transport::Polling(_) => TransportKind::Polling,
            Transport::WebSocket { .. } => TransportKind::WebSocket,
        }
    }

    pub(crate) fn is_writable(&self) -> bool {
        match &self.transport {
            Transport::Polling(p) => p.get.is_some(),
            Transport::WebSocket { writable, .. } => *writable,
        }
    }

    /// Whether `frame` fits in the queue's limits.
    pub(crate) fn admits(&self, frame: &Frame, config: &Config) -> bool {
        self.buffer.len() < config.max_buffered_packets
            && self.buffered_bytes + frame.len() <= config.max_buffered_bytes
    }

    /// Sets `timer` to `at` and keeps the server's table in step: it holds,
    /// under this session's id, exactly the earliest of its timers.
    pub(crate) fn set_timer(&mut self, deadlines: &mut Deadlines<Sid>, timer: Timer, at: Instant) {
        self.timers.set(timer, at);
        self.sync_deadline(deadlines);
    }

    /// Clears `timer`, keeping the server's table in step.
    pub(crate) fn clear_timer(&mut self, deadlines: &mut Deadlines<Sid>, timer: Timer) {
        self.timers.clear(timer);
        self.sync_deadline(deadlines);
    }

    /// Puts the session's earliest timer in the server's table (or takes
    /// the session out of it when no timer is set).
    pub(crate) fn sync_deadline(&self, deadlines: &mut Deadlines<Sid>) {
        match self.timers.earliest() {
            Some(at) => {
                if deadlines.get(&self.sid) != Some(at) {
                    deadlines.insert(self.sid.clone(), at);
                }
            }
            None => {
                deadlines.cancel(&self.sid);
            }
        }
    }

    pub(crate) fn push(&mut self, frame: Frame, compress: bool) {
        self.buffered_bytes += frame.len();
        self.buffer.push_back((frame, compress));
    }
}

/// A queued frame (v4 form) as a WebSocket message of `protocol`: v3 puts
/// the packet type byte before binary data.
pub(crate) fn ws_frame(protocol: Protocol, frame: Frame) -> Frame {
    match (protocol, frame) {
        (Protocol::V3, Frame::Binary(data)) => {
            let mut v = Vec::with_capacity(data.len() + 1);
            v.push(4u8);
            v.extend_from_slice(&data);
            Frame::Binary(v.into())
        }
        (_, frame) => frame,
    }
}
