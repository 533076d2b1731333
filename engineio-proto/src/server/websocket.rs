//! WebSockets: messages, flushes and closes on a session's WebSocket, and the
//! upgrade of a polling session (the probe, `2probe`/`3probe`, `5`, aborts).

use std::collections::VecDeque;
use std::time::Instant;

use super::polling::{answer_poll, single};
use super::{Pending, Server, UPGRADE_CHECK_INTERVAL, handshake::run_hook};
use crate::Str;
use crate::config::Config;
use crate::http::{Headers, Request};
use crate::output::{CloseReason, Event, Output, RequestId, Sid};
use crate::packet::{Frame, Packet};
use crate::session::{Probe, Session, Timer, Transport, ws_frame};

impl Server {
    /// A message arrived on an accepted WebSocket.
    pub fn handle_ws_message(&mut self, now: Instant, ws: RequestId, frame: Frame) {
        let Some(Pending::WebSocket(sid)) = self.requests.get(&ws) else {
            return;
        };
        let sid = sid.clone();
        let Some(session) = self.sessions.get_mut(&sid) else {
            return;
        };
        let is_main = session.transport.websocket() == Some(ws);
        let too_large = frame.len() > self.config.max_http_buffer_size;
        let packet = if too_large {
            None
        } else {
            Packet::decode(frame, session.protocol).ok()
        };
        if is_main {
            match packet {
                _ if too_large => {
                    self.requests.remove(&ws);
                    self.outputs.push_back(Output::WsClose { ws, code: 1009 });
                    self.close_session(
                        &sid,
                        CloseReason::TransportError,
                        Some("max payload exceeded"),
                    );
                }
                None => self.close_session(&sid, CloseReason::ParseError, None),
                Some(Packet::Close) => self.close_session(&sid, CloseReason::TransportClose, None),
                Some(packet) => self.on_packet(now, &sid, packet),
            }
            return;
        }
        // The WebSocket is an upgrade probe.
        match packet {
            Some(Packet::Ping(data)) if data == "probe" => {
                self.outputs.push_back(Output::WsSend {
                    ws,
                    frame: Frame::Text(Str::from_static("3probe")),
                    compress: true,
                });
                if let Some(probe) = &mut session.probe {
                    probe.probed = true;
                }
                session.set_timer(
                    &mut self.deadlines,
                    Timer::UpgradeCheck,
                    now + UPGRADE_CHECK_INTERVAL,
                );
                self.events.push_back(Event::Upgrading { sid });
            }
            Some(Packet::Upgrade) => self.complete_upgrade(&sid, ws),
            _ => self.abort_upgrade(&sid),
        }
    }

    /// Every message handed out for this WebSocket so far is written: it may
    /// take more.
    pub fn handle_ws_flushed(&mut self, now: Instant, ws: RequestId) {
        let _ = now;
        let Some(Pending::WebSocket(sid)) = self.requests.get(&ws) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if let Transport::WebSocket { ws: main, writable } = &mut session.transport {
            if *main == ws {
                *writable = true;
                // The common case (nothing queued meanwhile) needs no
                // second lookup.
                if !session.buffer.is_empty() || session.closing {
                    let sid = sid.clone();
                    self.flush(&sid);
                }
            }
        }
    }

    /// The WebSocket closed (the peer closed it, or it failed: pass
    /// `error = true` for a failure, which ends the session with "transport
    /// error" rather than "transport close").
    pub fn handle_ws_closed(&mut self, now: Instant, ws: RequestId, error: bool) {
        let _ = now;
        if let Some(Pending::WebSocket(sid)) = self.requests.remove(&ws) {
            let reason = if error {
                CloseReason::TransportError
            } else {
                CloseReason::TransportClose
            };
            self.on_ws_gone(&sid, ws, reason);
        }
    }

    /// A WebSocket upgrade for an existing polling session: the probe.
    pub(super) fn on_upgrade_request(
        &mut self,
        now: Instant,
        id: RequestId,
        request: &Request,
        sid: Sid,
        cors: Headers,
    ) {
        let Some(session) = self.sessions.get_mut(&sid) else {
            return;
        };
        let mut headers = cors;
        if let Some(hook) = &self.config.headers {
            if run_hook(|| hook(&mut headers, request)).is_none() {
                return self.internal_error(id, headers);
            }
        }
        websocket_extensions(&self.config, request, &mut headers);
        self.outputs.push_back(Output::AcceptWebSocket {
            request: id,
            headers,
        });
        if session.probe.is_some() || session.transport.websocket().is_some() || session.closing {
            // Upgrading already, or upgraded: this one is closed at once.
            self.outputs
                .push_back(Output::WsClose { ws: id, code: 1000 });
            return;
        }
        session.probe = Some(Probe {
            ws: id,
            probed: false,
        });
        session.set_timer(
            &mut self.deadlines,
            Timer::UpgradeTimeout,
            now + self.config.upgrade_timeout,
        );
        self.requests.insert(id, Pending::WebSocket(sid));
    }

    /// The client sent `5` on the probe: the session moves to WebSocket.
    pub(super) fn complete_upgrade(&mut self, sid: &Sid, ws: RequestId) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        session.probe = None;
        session.clear_timer(&mut self.deadlines, Timer::UpgradeTimeout);
        session.clear_timer(&mut self.deadlines, Timer::UpgradeCheck);
        let old = std::mem::replace(
            &mut session.transport,
            Transport::WebSocket { ws, writable: true },
        );
        if let Transport::Polling(p) = old {
            if let Some(get) = p.get {
                // A long-poll still open ends with a noop; the client has
                // already left polling.
                answer_poll(
                    &mut self.requests,
                    &mut self.outputs,
                    self.config.http_compression.as_ref(),
                    &session.format,
                    get,
                    single("6"),
                );
            }
            // A POST still being read is processed when its body comes.
        }
        self.events.push_back(Event::Upgrade { sid: sid.clone() });
        self.flush(sid);
    }

    /// Ends an upgrade that failed: the probe WebSocket is closed and the
    /// session stays on polling.
    pub(super) fn abort_upgrade(&mut self, sid: &Sid) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        session.clear_timer(&mut self.deadlines, Timer::UpgradeTimeout);
        session.clear_timer(&mut self.deadlines, Timer::UpgradeCheck);
        if let Some(probe) = session.probe.take() {
            self.requests.remove(&probe.ws);
            self.outputs.push_back(Output::WsClose {
                ws: probe.ws,
                code: 1000,
            });
        }
    }

    /// A WebSocket of `sid` is gone (closed by the peer or failed).
    pub(super) fn on_ws_gone(&mut self, sid: &Sid, ws: RequestId, reason: CloseReason) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        if session.transport.websocket() == Some(ws) {
            // Nothing to close on our side any more.
            session.transport = Transport::Polling(Box::default());
            self.close_session(sid, reason, None);
        } else if session.probe.as_ref().is_some_and(|p| p.ws == ws) {
            session.probe = None;
            session.clear_timer(&mut self.deadlines, Timer::UpgradeTimeout);
            session.clear_timer(&mut self.deadlines, Timer::UpgradeCheck);
        }
    }
}

/// Hands the queue of a writable WebSocket session out as sends (the
/// transport is busy until the runtime reports them flushed).
pub(super) fn flush_ws(
    session: &mut Session,
    outputs: &mut VecDeque<Output>,
    events: &mut VecDeque<Event>,
) {
    let protocol = session.protocol;
    let Transport::WebSocket { ws, writable } = &mut session.transport else {
        return;
    };
    if !*writable || session.buffer.is_empty() {
        return;
    }
    *writable = false;
    let ws = *ws;
    session.buffered_bytes = 0;
    // Taken whole: an idle session keeps no queue memory.
    for (frame, compress) in std::mem::take(&mut session.buffer) {
        let frame = ws_frame(protocol, frame);
        outputs.push_back(Output::WsSend {
            ws,
            frame,
            compress,
        });
    }
    if session.watch.drain {
        events.push_back(Event::Drain {
            sid: session.sid.clone(),
        });
    }
}

/// Answers a permessage-deflate offer in the `101` response, when
/// `per_message_deflate` is on (RFC 7692).
pub(super) fn websocket_extensions(config: &Config, request: &Request, headers: &mut Headers) {
    let Some(deflate) = &config.per_message_deflate else {
        return;
    };
    let offers = request
        .headers
        .get("sec-websocket-extensions")
        .unwrap_or("");
    if let Some(agreement) = crate::deflate::Agreement::negotiate(offers, deflate) {
        headers.insert("Sec-WebSocket-Extensions", agreement.response());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Watch;
    use crate::packet::Protocol;
    use crate::session::PayloadFormat;
    use bytes::Bytes;

    fn session(protocol: Protocol) -> Session {
        let format = PayloadFormat {
            protocol,
            supports_binary: true,
            jsonp: None,
        };
        let transport = Transport::WebSocket {
            ws: RequestId(3),
            writable: true,
        };
        Session::new(Sid::new("s"), format, transport)
    }

    #[test]
    fn a_writable_websocket_takes_the_whole_queue_then_waits_for_its_flush() {
        let mut s = session(Protocol::V3);
        s.watch = Watch {
            drain: true,
            ..Watch::default()
        };
        s.push(Frame::Text(Str::from_static("4a")), true);
        s.push(Frame::Binary(Bytes::from_static(&[9])), false);
        let (mut outputs, mut events) = (VecDeque::new(), VecDeque::new());
        flush_ws(&mut s, &mut outputs, &mut events);
        // In order, v3 binary with its type byte, each with its compress flag.
        assert_eq!(
            Vec::from(outputs),
            [
                Output::WsSend {
                    ws: RequestId(3),
                    frame: Frame::Text(Str::from_static("4a")),
                    compress: true
                },
                Output::WsSend {
                    ws: RequestId(3),
                    frame: Frame::Binary(Bytes::from_static(&[4, 9])),
                    compress: false
                },
            ]
        );
        assert!(
            matches!(Vec::from(events).as_slice(), [Event::Drain { sid }] if sid.as_str() == "s")
        );
        assert!((s.buffer.is_empty(), s.buffered_bytes) == (true, 0));
        // Busy until flushed: what comes next waits in the queue.
        assert!(!s.is_writable());
        s.push(Frame::Text(Str::from_static("4b")), true);
        let (mut outputs, mut events) = (VecDeque::new(), VecDeque::new());
        flush_ws(&mut s, &mut outputs, &mut events);
        assert!(outputs.is_empty() && events.is_empty());
        assert_eq!(s.buffer.len(), 1);
    }
}
