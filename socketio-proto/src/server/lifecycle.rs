//! Leaving: a socket leaves its namespace (the client or the server says
//! so, or its connection closed), with [`Event::Disconnecting`] then
//! [`Event::Disconnect`] and the official reason; a connection is closed;
//! the server shuts down.

use std::time::Instant;

use engineio_proto::Sid;

use super::recovery::StoredSession;
use super::{Server, Timer};
use crate::cluster::{ClusterMessage, SessionRecord, WireFlags, WireOptions};
use crate::event::Event;
use crate::packet::Packet;
use crate::types::{AckId, DisconnectReason, Nsp, Room, SocketId, Target};

impl Server {
    /// Disconnects socket `id`: with `close` false it leaves its namespace
    /// ("server namespace disconnect") and the connection stays; with
    /// `close` true every socket of its connection leaves and the
    /// connection closes. An unknown or not connected socket is ignored.
    pub fn disconnect(&mut self, now: Instant, id: &SocketId, close: bool) {
        let Some(socket) = self.sockets.get(id).filter(|s| s.connected) else {
            return;
        };
        let (id, sid) = (&socket.id, socket.sid.clone());
        let ids: Vec<SocketId> = if close {
            self.clients
                .get(&sid)
                .map(|c| c.nsps.values().cloned().collect())
                .unwrap_or_default()
        } else {
            vec![id.clone()]
        };
        for id in ids {
            let Some(socket) = self.sockets.get(&id).filter(|s| s.connected) else {
                continue;
            };
            let packet = Packet::disconnect(socket.nsp.clone());
            let _ = self.send_packet(&sid, &packet);
            self.close_socket(now, &id, DisconnectReason::ServerNamespaceDisconnect);
        }
        if close {
            self.close_client(now, &sid);
        }
        self.pump(now);
    }

    /// Disconnects the selected sockets (`disconnectSockets`), here and,
    /// unless `local`, on the other nodes.
    pub fn disconnect_sockets(&mut self, now: Instant, nsp: &Nsp, target: &Target, close: bool) {
        for id in self.select(nsp, target) {
            self.disconnect(now, &id, close);
        }
        if self.publishes(target) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            self.publish(
                nsp.as_str(),
                ClusterMessage::DisconnectSockets { opts, close },
            );
        }
    }

    /// Closes every socket with "server shutting down", then every
    /// connection.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SocketId> = self.sockets.ids().cloned().collect();
        for id in ids {
            self.close_socket(now, &id, DisconnectReason::ServerShuttingDown);
        }
        for sid in self.clients.keys() {
            self.timers.cancel(&Timer::Connect(sid.clone()));
        }
        self.clients.clear();
        self.engine.shutdown(now);
        if self.config.cluster.is_some() {
            self.publish("/", ClusterMessage::AdapterClose);
        }
        self.pump(now);
    }

    /// The engine closed session `sid`: its sockets leave with the
    /// engine's reason, then the application sees the close itself.
    pub(super) fn on_engine_close(
        &mut self,
        now: Instant,
        sid: Sid,
        reason: engineio_proto::CloseReason,
        description: Option<&'static str>,
    ) {
        self.timers.cancel(&Timer::Connect(sid.clone()));
        if let Some(client) = self.clients.remove(&sid) {
            let socket_reason = DisconnectReason::from_engine(reason);
            for id in client.nsps.values() {
                self.close_socket(now, id, socket_reason);
            }
        }
        // After the sockets' disconnects, as the official
        // `socket.conn.on("close")` listeners run after the Socket.IO
        // client's own.
        self.events
            .push_back(Event::Engine(engineio_proto::Event::Close {
                sid,
                reason,
                description,
            }));
    }

    /// The socket leaves its namespace (`socket._onclose`).
    pub(super) fn close_socket(&mut self, now: Instant, id: &SocketId, reason: DisconnectReason) {
        let Some((key, socket)) = self.sockets.remove(id) else {
            return;
        };
        if let Some(client) = self.clients.get_mut(&socket.sid) {
            if client.nsps.get(&socket.nsp) == Some(id) {
                client.nsps.remove(&socket.nsp);
            }
        }
        if !socket.connected {
            // Still waiting for its verdict: it never existed for the app.
            return;
        }
        let rooms: Vec<Room> = socket.rooms.iter().cloned().collect();
        self.events.push_back(Event::Disconnecting {
            socket: id.clone(),
            nsp: socket.nsp.clone(),
            reason,
            rooms: rooms.clone(),
        });
        let stream = self.stream_recovery();
        if let Some(ns) = self.namespaces.get_mut(&socket.nsp) {
            for room in &rooms {
                // `rooms` lists its own room if it was in it.
                if ns.rooms.exit(&self.sockets, (key, id), room, true) {
                    self.room_changes.changed(&socket.nsp, room, false);
                }
            }
            ns.rooms.remove_member(key);
            let pid = socket.pid.clone().filter(|_| reason.is_recoverable());
            if let (Some(pid), true) = (&pid, stream) {
                // Kept by the transport: handed out with `poll_session`.
                self.cluster.stream.sessions.push_back(SessionRecord {
                    nsp: socket.nsp.to_string(),
                    pid: pid.to_string(),
                    id: id.to_string(),
                    rooms: rooms.iter().map(|r| r.to_string()).collect(),
                    data: socket.data.clone(),
                });
            } else if let Some(pid) = pid {
                let session = StoredSession {
                    sid: id.clone(),
                    rooms,
                    data: socket.data.clone(),
                    disconnected_at: now,
                };
                self.recovery.persist(&socket.nsp, now, pid, session);
            }
            let empty_child = ns.parent.is_some() && ns.rooms.is_empty();
            if empty_child && self.config.cleanup_empty_child_namespaces {
                let waiting = self.sockets.values().any(|s| s.nsp == socket.nsp);
                if !waiting {
                    self.namespaces.remove(&socket.nsp);
                    self.recovery.forget(&socket.nsp);
                }
            }
        }
        // An answer can no longer come: the waiters learn it now.
        for ack in self.acks.socket_gone(key) {
            self.timers.cancel(&Timer::Ack(id.clone(), ack));
            self.events.push_back(Event::AckTimeout {
                socket: id.clone(),
                id: AckId(ack),
            });
        }
        self.events.push_back(Event::Disconnect {
            socket: id.clone(),
            nsp: socket.nsp,
            reason,
        });
    }

    /// Closes a whole connection from this layer ("forced server close").
    pub(super) fn close_client(&mut self, now: Instant, sid: &Sid) {
        self.engine.close(now, sid);
        self.timers.cancel(&Timer::Connect(sid.clone()));
        if let Some(client) = self.clients.remove(sid) {
            for id in client.nsps.values() {
                self.close_socket(now, id, DisconnectReason::ForcedServerClose);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::super::test_util::{client, config, harness};
    use super::*;
    use crate::packet::Event as EventPacket;

    /// The (socket, reason) of each Disconnect, and whether every one came
    /// after its Disconnecting.
    fn leaves(events: &[Event]) -> Vec<(SocketId, DisconnectReason)> {
        let mut disconnecting = Vec::new();
        let mut out = Vec::new();
        for e in events {
            match e {
                Event::Disconnecting { socket, reason, .. } => {
                    disconnecting.push((socket.clone(), *reason))
                }
                Event::Disconnect { socket, reason, .. } => {
                    assert!(disconnecting.contains(&(socket.clone(), *reason)));
                    out.push((socket.clone(), *reason));
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn a_client_that_leaves_its_namespace_keeps_its_connection() {
        let mut h = harness(config());
        let (ws, socket) = client(&mut h);
        h.server.join(&socket, "room");
        h.ws_send(ws, "41");
        let events = h.take_events();
        assert_eq!(
            leaves(&events),
            [(socket.clone(), DisconnectReason::ClientNamespaceDisconnect)]
        );
        let rooms = events.iter().find_map(|e| match e {
            Event::Disconnecting { rooms, .. } => Some(rooms.clone()),
            _ => None,
        });
        let mut rooms = rooms.unwrap();
        rooms.sort();
        let mut expected = [Room::from("room"), Room::from(socket.to_string())];
        expected.sort();
        assert_eq!(rooms, expected);
        assert!(!h.ws_closed.contains_key(&ws));
        assert!(h.server.socket(&socket).is_none());
    }

    #[test]
    fn a_server_disconnect_with_close_ends_the_connection_after_its_sockets() {
        let mut h = harness(config());
        let (ws, socket) = client(&mut h);
        h.server.disconnect(h.now, &socket, true);
        h.drain();
        assert_eq!(h.ws_take(ws), ["41"]);
        assert!(h.ws_closed.contains_key(&ws));
        let events = h.take_events();
        assert_eq!(
            leaves(&events),
            [(socket, DisconnectReason::ServerNamespaceDisconnect)]
        );
        let close = events
            .iter()
            .position(|e| matches!(e, Event::Engine(engineio_proto::Event::Close { .. })));
        let disconnect = events
            .iter()
            .position(|e| matches!(e, Event::Disconnect { .. }));
        assert!(disconnect < close && close.is_some());
    }

    #[test]
    fn leaving_times_out_own_acks_and_cancels_their_timers() {
        let mut h = harness(config());
        let (_ws, socket) = client(&mut h);
        let event = || EventPacket::new("q", vec![]).unwrap();
        let second = Some(Duration::from_secs(5));
        let a = h
            .server
            .emit_with_ack(h.now, &socket, event(), None)
            .unwrap();
        let b = h
            .server
            .emit_with_ack(h.now, &socket, event(), second)
            .unwrap();
        assert_eq!(h.server.timers.len(), 1);
        h.server.disconnect(h.now, &socket, false);
        h.drain();
        let timeouts: Vec<AckId> = h
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::AckTimeout { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        assert_eq!(timeouts, [a, b]);
        assert!(h.server.timers.is_empty());
        assert_eq!(h.server.pending_acks(&socket), 0);
    }

    #[test]
    fn shutdown_closes_every_socket_as_shutting_down() {
        let mut h = harness(config());
        let (_, first) = client(&mut h);
        let (_, second) = client(&mut h);
        h.server.shutdown(h.now);
        h.drain();
        let left = leaves(&h.take_events());
        assert_eq!(left.len(), 2);
        for socket in [first, second] {
            assert!(left.contains(&(socket, DisconnectReason::ServerShuttingDown)));
        }
        assert!(h.server.timers.is_empty());
    }
}
