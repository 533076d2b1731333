//! The state of one session: its transport, upgrade, queue and timers.

use std::collections::VecDeque;
use std::time::Instant;

use crate::config::TransportKind;
use crate::http::Headers;
use crate::output::{RequestId, Sid};
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

    /// A timer whose deadline is at or before `now`, earliest first.
    pub(crate) fn due(&self, now: Instant) -> Option<Timer> {
        TIMERS
            .iter()
            .zip(self.0.iter())
            .filter_map(|(t, at)| at.filter(|at| *at <= now).map(|at| (at, *t)))
            .min_by_key(|(at, _)| *at)
            .map(|(_, t)| t)
    }
}

/// A long-poll GET waiting for packets, with the headers its response gets.
#[derive(Debug)]
pub(crate) struct PendingGet {
    pub(crate) id: RequestId,
    pub(crate) headers: Headers,
}

/// The polling transport.
#[derive(Debug, Default)]
pub(crate) struct Polling {
    pub(crate) get: Option<PendingGet>,
    /// A POST whose body is being read.
    pub(crate) post: Option<RequestId>,
    /// JSONP callback index (digits of `j`) when the client uses JSONP.
    pub(crate) jsonp: Option<Box<str>>,
    /// The server closes the session: the next GET carries a `1`.
    pub(crate) should_close: bool,
}

#[derive(Debug)]
pub(crate) enum Transport {
    Polling(Polling),
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

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) sid: Sid,
    pub(crate) protocol: Protocol,
    pub(crate) transport: Transport,
    pub(crate) probe: Option<Probe>,
    /// The application closed the session; what is queued still goes out.
    pub(crate) closing: bool,
    /// v3 clients may ask for base64 instead of binary (`b64=1`).
    pub(crate) supports_binary: bool,
    /// Packets not yet handed to the transport, encoded (v4 form).
    pub(crate) buffer: VecDeque<Frame>,
    pub(crate) buffered_bytes: usize,
    pub(crate) timers: Timers,
    /// The deadline of this session's live entry in the server's heap: never
    /// later than the earliest timer.
    pub(crate) scheduled: Option<Instant>,
}

impl Session {
    pub(crate) fn new(
        sid: Sid,
        protocol: Protocol,
        transport: Transport,
        supports_binary: bool,
    ) -> Self {
        Self {
            sid,
            protocol,
            transport,
            probe: None,
            closing: false,
            supports_binary,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            timers: Timers::default(),
            scheduled: None,
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

    pub(crate) fn push(&mut self, frame: Frame) {
        self.buffered_bytes += frame.len();
        self.buffer.push_back(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_gives_the_earliest_expired_timer() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(Timer::PingTimeout, t0 + Duration::from_millis(20));
        t.set(Timer::Ping, t0 + Duration::from_millis(10));
        t.set(Timer::CloseTimeout, t0 + Duration::from_millis(50));
        assert_eq!(t.due(t0), None);
        assert_eq!(t.due(t0 + Duration::from_millis(30)), Some(Timer::Ping));
        t.clear(Timer::Ping);
        assert_eq!(
            t.due(t0 + Duration::from_millis(30)),
            Some(Timer::PingTimeout)
        );
        assert_eq!(t.earliest(), Some(t0 + Duration::from_millis(20)));
    }
}
