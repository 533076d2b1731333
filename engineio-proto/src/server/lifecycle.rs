//! A session's life: its timers (heartbeat, upgrade checks, close timeout),
//! the packets it receives, its queue and flush, and its close.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::polling::{answer_poll, single};
use super::{Pending, Server, UPGRADE_CHECK_INTERVAL, websocket::flush_ws};
use crate::Str;
use crate::http::{Headers, Response};
use crate::output::{CloseReason, Event, Output, RequestId, SendError, Sid};
use crate::packet::{Frame, Packet, Protocol};
use crate::session::{Timer, Transport};

impl Server {
    /// A request the engine had not answered yet was dropped by the client
    /// (a long-poll, a POST whose body never came, a pending verdict).
    pub fn handle_request_closed(&mut self, now: Instant, request: RequestId) {
        let _ = now;
        match self.requests.remove(&request) {
            Some(Pending::Poll(sid)) => {
                if let Some(Transport::Polling(p)) =
                    self.sessions.get_mut(&sid).map(|s| &mut s.transport)
                {
                    if p.get.as_ref().is_some_and(|g| g.id == request) {
                        p.get = None;
                    }
                }
                self.close_session(
                    &sid,
                    CloseReason::TransportError,
                    Some("poll connection closed prematurely"),
                );
            }
            Some(Pending::Body(body)) => {
                let sid = body.sid;
                if let Some(Transport::Polling(p)) =
                    self.sessions.get_mut(&sid).map(|s| &mut s.transport)
                {
                    if p.post == Some(request) {
                        p.post = None;
                    }
                }
                self.close_session(
                    &sid,
                    CloseReason::TransportError,
                    Some("data request connection closed prematurely"),
                );
            }
            Some(Pending::WebSocket(sid)) => {
                self.on_ws_gone(&sid, request, CloseReason::TransportClose)
            }
            Some(Pending::Decision(_)) | None => {}
        }
    }

    /// Runs every timer due at `now`: pings, ping timeouts, upgrade timeouts
    /// and checks, close timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        // The table holds each session's earliest timer; running them
        // re-inserts the session at its next one, drained here too if due.
        while let Some((sid, _)) = self.deadlines.pop_expired(now) {
            self.run_timers(now, &sid);
        }
    }

    /// Runs the timers of session `sid` due at `now`, earliest first. A timer
    /// that chains another (a ping its ping timeout, an upgrade check the
    /// next) counts from the instant it was scheduled for, not from `now`:
    /// a runtime that wakes late does not shift the heartbeat.
    fn run_timers(&mut self, now: Instant, sid: &Sid) {
        while let Some(session) = self.sessions.get_mut(sid) {
            let Some((timer, at)) = session.timers.due(now) else {
                // Nothing more is due: the table keeps the session's next
                // timer (the one popped is back if it was not run).
                session.sync_deadline(&mut self.deadlines);
                return;
            };
            session.clear_timer(&mut self.deadlines, timer);
            match timer {
                Timer::Ping => {
                    // A closing session sends no more pings, but still ends
                    // if the client is gone.
                    session.set_timer(
                        &mut self.deadlines,
                        Timer::PingTimeout,
                        at + self.config.ping_timeout,
                    );
                    if !session.closing
                        && self
                            .enqueue(sid, Frame::Text(Str::from_static("2")))
                            .is_ok()
                    {
                        self.flush(sid);
                    }
                }
                Timer::PingTimeout => self.close_session(sid, CloseReason::PingTimeout, None),
                Timer::UpgradeTimeout => self.abort_upgrade(sid),
                Timer::UpgradeCheck => {
                    // End a pending long-poll so the client can pause
                    // polling; the session's queue is left as it is.
                    if let Transport::Polling(p) = &mut session.transport {
                        if let Some(get) = p.get.take() {
                            answer_poll(
                                &mut self.requests,
                                &mut self.outputs,
                                self.config.http_compression.as_ref(),
                                &session.format,
                                get,
                                single("6"),
                            );
                        }
                    }
                    if let Some(session) = self.sessions.get_mut(sid) {
                        let next = next_period(at, UPGRADE_CHECK_INTERVAL, now);
                        session.set_timer(&mut self.deadlines, Timer::UpgradeCheck, next);
                    }
                }
                Timer::CloseTimeout => self.close_session(sid, CloseReason::ForcedClose, None),
            }
        }
    }

    /// A packet from the client on the session's transport.
    pub(super) fn on_packet(&mut self, now: Instant, sid: &Sid, packet: Packet) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if session.closing {
            return;
        }
        if session.watch.packet {
            self.events.push_back(Event::Packet {
                sid: sid.clone(),
                packet: packet.clone(),
            });
        }
        match (packet, session.protocol) {
            (Packet::Ping(_), Protocol::V3) => {
                let at = now + self.config.ping_interval + self.config.ping_timeout;
                session.set_timer(&mut self.deadlines, Timer::PingTimeout, at);
                if self
                    .enqueue(sid, Frame::Text(Str::from_static("3")))
                    .is_ok()
                {
                    self.flush(sid);
                }
            }
            (Packet::Pong(_), Protocol::V4) => {
                session.clear_timer(&mut self.deadlines, Timer::PingTimeout);
                session.set_timer(
                    &mut self.deadlines,
                    Timer::Ping,
                    now + self.config.ping_interval,
                );
            }
            (Packet::Ping(_), Protocol::V4) | (Packet::Pong(_), Protocol::V3) => {
                self.close_session(
                    sid,
                    CloseReason::TransportError,
                    Some("invalid heartbeat direction"),
                );
            }
            (Packet::Message(data), _) => self.events.push_back(Event::Message {
                sid: sid.clone(),
                data,
            }),
            // Open, upgrade and noop from a client mean nothing here; close
            // is handled by the transport before this point.
            _ => {}
        }
    }

    /// Hands queued packets to the transport if it can take them.
    pub(super) fn flush(&mut self, sid: &Sid) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        match &mut session.transport {
            Transport::Polling(p) => {
                if session.buffer.is_empty() && !p.should_close {
                    return;
                }
                let Some(get) = p.get.take() else {
                    return;
                };
                // A closing session first delivers what is queued; the close
                // packet goes on the next poll, alone (`6\x1e1`), as the
                // official server does. Clients handle a close packet at
                // once but some packets a tick later, so a close in the same
                // payload would overtake them (a DISCONNECT would then read
                // as "transport close").
                let closing = p.should_close && session.buffer.is_empty();
                let frames: Vec<(Frame, bool)> = if closing {
                    vec![
                        (Frame::Text(Str::from_static("6")), true),
                        (Frame::Text(Str::from_static("1")), true),
                    ]
                } else {
                    session.buffered_bytes = 0;
                    // Taken whole: an idle session keeps no queue memory.
                    Vec::from(std::mem::take(&mut session.buffer))
                };
                let drained = !closing && session.watch.drain;
                answer_poll(
                    &mut self.requests,
                    &mut self.outputs,
                    self.config.http_compression.as_ref(),
                    &session.format,
                    get,
                    frames,
                );
                if drained {
                    self.events.push_back(Event::Drain { sid: sid.clone() });
                }
                if closing {
                    self.close_session(sid, CloseReason::ForcedClose, None);
                }
            }
            Transport::WebSocket { ws, writable } => {
                if !*writable {
                    return;
                }
                let ws = *ws;
                if !session.buffer.is_empty() {
                    flush_ws(session, &mut self.outputs, &mut self.events);
                } else if session.closing {
                    self.requests.remove(&ws);
                    self.outputs.push_back(Output::WsClose { ws, code: 1000 });
                    self.close_session(sid, CloseReason::ForcedClose, None);
                }
            }
        }
    }

    /// Ends session `sid`: answers or closes whatever it holds, drops its
    /// queue, and tells the application why.
    pub(super) fn close_session(
        &mut self,
        sid: &Sid,
        reason: CloseReason,
        description: Option<&'static str>,
    ) {
        let Some(session) = self.sessions.remove(sid) else {
            return;
        };
        // Its timers go with it.
        self.deadlines.cancel(sid);
        self.clients.set(self.sessions.len());
        if let Some(probe) = session.probe {
            self.requests.remove(&probe.ws);
            self.outputs.push_back(Output::WsClose {
                ws: probe.ws,
                code: 1000,
            });
        }
        match session.transport {
            Transport::Polling(p) => {
                if let Some(post) = p.post {
                    // The official server destroys a POST in flight.
                    self.requests.remove(&post);
                    self.respond(post, Response::new(400, Headers::new(), Bytes::new()));
                }
                if let Some(get) = p.get {
                    // A client close ends the poll with a noop, anything
                    // else with a close packet.
                    let packet = if reason == CloseReason::TransportClose {
                        "6"
                    } else {
                        "1"
                    };
                    answer_poll(
                        &mut self.requests,
                        &mut self.outputs,
                        self.config.http_compression.as_ref(),
                        &session.format,
                        get,
                        single(packet),
                    );
                }
            }
            Transport::WebSocket { ws, .. } => {
                if self.requests.remove(&ws).is_some() {
                    self.outputs.push_back(Output::WsClose { ws, code: 1000 });
                }
            }
        }
        self.events.push_back(Event::Close {
            sid: sid.clone(),
            reason,
            description,
        });
    }

    /// Queues a packet for `sid` within the queue limits; past them the
    /// session ends with "send buffer full" and nothing is queued.
    pub(super) fn enqueue(&mut self, sid: &Sid, frame: Frame) -> Result<(), SendError> {
        let Some(session) = self.sessions.get_mut(sid) else {
            return Err(SendError::UnknownSession);
        };
        if !session.admits(&frame, &self.config) {
            self.close_session(sid, CloseReason::SendBufferFull, None);
            return Err(SendError::BufferFull);
        }
        if session.watch.packet_create {
            packet_created(&mut self.events, sid, &frame);
        }
        session.push(frame, true);
        Ok(())
    }
}

/// The `packetCreate` event of a frame being queued for `sid`.
pub(super) fn packet_created(events: &mut VecDeque<Event>, sid: &Sid, frame: &Frame) {
    // Queued frames are in v4 form, which always decodes.
    if let Ok(packet) = Packet::decode(frame.clone(), Protocol::V4) {
        events.push_back(Event::PacketCreate {
            sid: sid.clone(),
            packet,
        });
    }
}

/// The first instant after `now` on the grid of `period` that starts at
/// `at`: the next run of a periodic timer scheduled for `at`, which keeps
/// its phase however late it ran, and skips the runs a late wake-up missed.
fn next_period(at: Instant, period: Duration, now: Instant) -> Instant {
    let late = now.saturating_duration_since(at).as_nanos();
    let periods = late / period.as_nanos().max(1) + 1;
    let periods = u32::try_from(periods).unwrap_or(u32::MAX);
    at + period.saturating_mul(periods)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{Config, Method, Request};

    const SECOND: Duration = Duration::from_secs(1);

    fn server() -> Server {
        Server::new(Config {
            ping_interval: 25 * SECOND,
            ping_timeout: 20 * SECOND,
            seed: [7; 32],
            ..Config::default()
        })
    }

    /// Opens a v4 polling session at `now`; returns its id.
    fn open(server: &mut Server, now: Instant) -> Sid {
        server.handle_request(
            now,
            Request::new(Method::Get, "/engine.io/?EIO=4&transport=polling"),
        );
        while server.poll_output().is_some() {}
        let mut sid = None;
        while let Some(event) = server.poll_event() {
            if let Event::Open { sid: s, .. } = event {
                sid = Some(s);
            }
        }
        sid.expect("a session opened")
    }

    /// Holds a long-poll GET for `sid`.
    fn poll(server: &mut Server, now: Instant, sid: &Sid) -> RequestId {
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        server.handle_request(now, Request::new(Method::Get, uri))
    }

    fn responses(server: &mut Server) -> Vec<(RequestId, String)> {
        std::iter::from_fn(|| server.poll_output())
            .filter_map(|o| match o {
                Output::Respond { request, response } => {
                    Some((request, response.body_text().into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_late_wake_up_does_not_shift_the_heartbeat() {
        let t0 = Instant::now();
        let mut server = server();
        let sid = open(&mut server, t0);
        let get = poll(&mut server, t0, &sid);
        assert_eq!(server.poll_timeout(), Some(t0 + 25 * SECOND));
        // The runtime wakes 3 s after the ping was due: the ping goes out
        // then, but its timeout still counts from 25 s.
        server.handle_timeout(t0 + 28 * SECOND);
        assert_eq!(responses(&mut server), vec![(get, "2".to_owned())]);
        assert_eq!(server.poll_timeout(), Some(t0 + 45 * SECOND));
        // No pong: the session ends at exactly 45 s, not 48 s.
        server.handle_timeout(t0 + 45 * SECOND - Duration::from_millis(1));
        assert!(server.contains(&sid));
        server.handle_timeout(t0 + 45 * SECOND);
        assert!(!server.contains(&sid));
        let reasons: Vec<_> = std::iter::from_fn(|| server.poll_event())
            .filter_map(|e| match e {
                Event::Close { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(reasons, [CloseReason::PingTimeout]);
        // Nothing of the session is left in the table.
        assert_eq!(server.poll_timeout(), None);
        assert!(server.deadlines.is_empty());
    }

    #[test]
    fn a_pong_moves_the_next_ping_and_the_table_holds_one_deadline() {
        let t0 = Instant::now();
        let mut server = server();
        let sid = open(&mut server, t0);
        server.handle_timeout(t0 + 25 * SECOND);
        assert_eq!(server.deadlines.len(), 1);
        assert_eq!(server.poll_timeout(), Some(t0 + 45 * SECOND));
        // The pong (an input, timed by its own `now`) schedules the next
        // ping a whole interval later and cancels the ping timeout.
        server.on_packet(t0 + 30 * SECOND, &sid, Packet::Pong(Str::new()));
        assert_eq!(server.poll_timeout(), Some(t0 + 55 * SECOND));
        assert_eq!(server.deadlines.len(), 1);
        // Waking early, or twice, does nothing.
        server.handle_timeout(t0 + 54 * SECOND);
        server.handle_timeout(t0 + 54 * SECOND);
        assert_eq!(server.poll_timeout(), Some(t0 + 55 * SECOND));
        assert!(server.contains(&sid));
    }

    #[test]
    fn upgrade_checks_keep_their_phase_when_woken_late() {
        let t0 = Instant::now();
        let mut server = server();
        let sid = open(&mut server, t0);
        let mut upgrade = Request::new(
            Method::Get,
            format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
        );
        upgrade.websocket = true;
        let ws = server.handle_request(t0, upgrade);
        server.handle_ws_message(t0, ws, Frame::Text(Str::from_static("2probe")));
        while server.poll_output().is_some() {}
        let check = t0 + Duration::from_millis(100);
        assert_eq!(server.poll_timeout(), Some(check));
        let get = poll(&mut server, t0, &sid);
        // Woken 250 ms late: the held GET ends with a noop, and the next
        // check stays on the 100 ms grid (400 ms), the missed ones skipped.
        server.handle_timeout(check + Duration::from_millis(250));
        assert_eq!(responses(&mut server), vec![(get, "6".to_owned())]);
        assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_millis(400)));
    }

    #[test]
    fn next_period_is_the_first_grid_instant_after_now() {
        let t0 = Instant::now();
        let p = Duration::from_millis(100);
        assert_eq!(next_period(t0, p, t0), t0 + p);
        assert_eq!(next_period(t0, p, t0 + Duration::from_millis(99)), t0 + p);
        assert_eq!(next_period(t0, p, t0 + p), t0 + 2 * p);
        assert_eq!(
            next_period(t0, p, t0 + Duration::from_millis(350)),
            t0 + 4 * p
        );
    }
}
