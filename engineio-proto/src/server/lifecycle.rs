//! A session's life: its timers (heartbeat, upgrade checks, close timeout),
//! the packets it receives, its queue and flush, and its close.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::polling::{answer_poll, single};
use super::{Pending, Server, UPGRADE_CHECK_INTERVAL, websocket::flush_ws};
use crate::Str;
use crate::http::{Headers, Response};
use crate::output::{CloseReason, Event, Output, RequestId, SendError, Sid};
use crate::packet::{Frame, Packet, Protocol};
use crate::session::{Session, Timer, Transport};

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
            Some(Pending::Body { sid, .. }) => {
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
        while let Some(Reverse((at, sid))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let (at, sid) = (*at, sid.clone());
            self.deadlines.pop();
            let live = self
                .sessions
                .get_mut(&sid)
                .is_some_and(|s| s.scheduled == Some(at) && s.scheduled.take().is_some());
            if live {
                self.run_timers(now, &sid);
                if let Some(session) = self.sessions.get_mut(&sid) {
                    if let Some(next) = session.timers.earliest() {
                        schedule(&mut self.deadlines, session, next);
                    }
                }
            }
        }
    }

    pub(super) fn run_timers(&mut self, now: Instant, sid: &Sid) {
        while let Some(session) = self.sessions.get_mut(sid) {
            let Some(timer) = session.timers.due(now) else {
                return;
            };
            session.timers.clear(timer);
            match timer {
                Timer::Ping => {
                    // A closing session sends no more pings, but still ends
                    // if the client is gone.
                    set_timer(
                        &mut self.deadlines,
                        session,
                        Timer::PingTimeout,
                        now + self.config.ping_timeout,
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
                        set_timer(
                            &mut self.deadlines,
                            session,
                            Timer::UpgradeCheck,
                            now + UPGRADE_CHECK_INTERVAL,
                        );
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
                set_timer(&mut self.deadlines, session, Timer::PingTimeout, at);
                if self
                    .enqueue(sid, Frame::Text(Str::from_static("3")))
                    .is_ok()
                {
                    self.flush(sid);
                }
            }
            (Packet::Pong(_), Protocol::V4) => {
                session.timers.clear(Timer::PingTimeout);
                set_timer(
                    &mut self.deadlines,
                    session,
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

/// Sets `timer` and makes sure the heap has an entry no later than it.
pub(super) fn set_timer(
    deadlines: &mut BinaryHeap<Reverse<(Instant, Sid)>>,
    session: &mut Session,
    timer: Timer,
    at: Instant,
) {
    session.timers.set(timer, at);
    schedule(deadlines, session, at);
}

pub(super) fn schedule(
    deadlines: &mut BinaryHeap<Reverse<(Instant, Sid)>>,
    session: &mut Session,
    at: Instant,
) {
    if session.scheduled.is_none_or(|s| at < s) {
        session.scheduled = Some(at);
        deadlines.push(Reverse((at, session.sid.clone())));
    }
}
