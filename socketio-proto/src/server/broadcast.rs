//! Emits and broadcasts: a packet for one socket, or for the members of
//! rooms, encoded once and the same bytes queued for every recipient; with
//! connection state recovery, kept for replay with its offset; in a
//! cluster, published for the other nodes.
//!
//! The fan-out hashes no id per recipient: the room index yields socket
//! keys, each reaches its socket by index, and the socket's session key
//! reaches its engine session by index. A broadcast with acks notes its
//! recipients once, after the loop.

use std::sync::Arc;
use std::time::Instant;

use engineio_proto::Str;

use super::sockets::SocketKey;
use super::{Server, Socket, Timer};
use crate::cluster::{ClusterMessage, ServerSideReply, WireFlags, WireOptions, WirePacket};
use crate::event::Event;
use crate::packet::{Event as EventPacket, Packet};
use crate::parser::Sender;
#[cfg(test)]
use crate::types::ClientAckId;
use crate::types::{Broadcast, BroadcastOptions, EmitError, Nsp, Room, SocketId, Target};

impl Server {
    /// Sends an event to socket `id`. With connection state recovery on, it
    /// goes through the namespace's broadcast (to the socket's own room) so
    /// that it carries an offset and is replayed if the client comes back.
    ///
    /// # Errors
    ///
    /// [`EmitError::UnknownSocket`] when no connected socket is `id`,
    /// [`EmitError::Engine`] when its session refused the packet.
    pub fn emit(
        &mut self,
        now: Instant,
        id: &SocketId,
        event: EventPacket,
    ) -> Result<(), EmitError> {
        let (_, socket) = self.connected(id)?;
        if self.recovery.enabled() && event.id.is_none() && event.attachments().is_empty() {
            let nsp = socket.nsp.clone();
            let options = BroadcastOptions {
                target: Target::room(Str::from(socket.id.to_string())),
                ..BroadcastOptions::default()
            };
            // Its caller reports it: not again as a broadcast.
            let outgoing = std::mem::replace(&mut self.reports.outgoing, false);
            let sent = self.broadcast(now, &nsp, &options, event);
            self.reports.outgoing = outgoing;
            sent?;
            return Ok(());
        }
        let packet = Packet::event(socket.nsp.clone(), event);
        let session = socket.session;
        let result = self.send_packet_to(session, &packet);
        self.pump(now);
        result.map_err(EmitError::from)
    }

    /// Sends an event to the sockets of namespace `nsp` that `options`
    /// selects, on this node and (unless `local`) on the other nodes of the
    /// cluster. The packet is encoded once and the same bytes are queued for
    /// every recipient. With a timeout, every recipient's answer comes as
    /// [`Event::BroadcastAck`](crate::Event::BroadcastAck), then
    /// [`Event::BroadcastAckDone`](crate::Event::BroadcastAckDone).
    ///
    /// # Errors
    ///
    /// [`EmitError::UnknownNamespace`] when `nsp` does not exist.
    pub fn broadcast(
        &mut self,
        now: Instant,
        nsp: &Nsp,
        options: &BroadcastOptions,
        event: EventPacket,
    ) -> Result<Broadcast, EmitError> {
        self.ensure_started(now);
        let publish = self.config.cluster.is_some() && !options.target.local;
        let wire = publish.then(|| WirePacket {
            kind: if event.attachments().is_empty() { 2 } else { 5 },
            data: event.data().to_vec(),
            nsp: nsp.to_string(),
            id: None,
            attachments: event.attachments().to_vec(),
        });
        let remote_nodes = if publish && options.timeout.is_some() {
            self.remote_count()
        } else {
            Some(0)
        };
        // With stream recovery the transport hands it back with its offset.
        let sent = if publish && options.timeout.is_none() && self.stream_recovery() {
            if !self.namespaces.contains(nsp) {
                return Err(EmitError::UnknownNamespace);
            }
            // Reached later: no local recipient counted now.
            Broadcast {
                recipients: 0,
                ack: None,
            }
        } else {
            self.deliver(now, nsp, options, event, None, remote_nodes)?
        };
        if let Some(mut packet) = wire {
            let request_id = sent.ack.map(|b| {
                let wire_id = self.cluster.new_request_id(self.config.cluster.as_ref());
                packet.id = self.acks.published(b, wire_id.clone());
                wire_id
            });
            let flags = WireFlags {
                volatile: options.volatile.then_some(true),
                compress: options.compress,
                local: None,
                timeout: options.timeout.map(|t| t.as_millis() as u64),
            };
            let opts = WireOptions::from_target(&options.target, flags);
            self.publish(
                nsp.as_str(),
                ClusterMessage::Broadcast {
                    opts,
                    packet,
                    request_id,
                },
            );
        }
        self.pump(now);
        Ok(sent)
    }

    /// Delivers a broadcast to this node's sockets. `origin` is set for a
    /// broadcast with acks asked by another node; `remote_nodes` is how many
    /// other nodes will report their clients for one asked here.
    pub(super) fn deliver(
        &mut self,
        now: Instant,
        nsp: &Nsp,
        options: &BroadcastOptions,
        mut event: EventPacket,
        origin: Option<ServerSideReply>,
        remote_nodes: Option<usize>,
    ) -> Result<Broadcast, EmitError> {
        let stream = self.stream_recovery();
        let ns = self
            .namespaces
            .get_mut(nsp)
            .ok_or(EmitError::UnknownNamespace)?;
        let ack = options.timeout.map(|t| (ns.next_ack_id(), now + t));
        if let Some((id, _)) = ack {
            event = event.with_id(id);
        } else if self.recovery.enabled()
            // With stream recovery the offset is the transport's, added before.
            && !stream
            && !options.volatile
            && event.attachments().is_empty()
            && event.id.is_none()
        {
            // Kept for replay, with its offset as the last argument.
            let (data, _) = event.into_parts();
            let data = match self.recovery.keep(&ns.name, now, &options.target, data) {
                Ok(data) | Err(data) => data,
            };
            // The name was valid before the offset was appended.
            event = EventPacket::from_data(data)?;
        }
        // Kept for the report only when it is asked for.
        let reported = self.reports.outgoing.then(|| Arc::new(event.clone()));
        let packet = Packet::event(ns.name.clone(), event);
        // Encoded once: every recipient gets clones of the same messages.
        let mut messages = self.config.parser.encode(&packet, Sender::Broadcast);
        if options.compress == Some(false) {
            messages = messages.into_iter().map(|m| m.compress(false)).collect();
        }
        let broadcast =
            ack.map(|(ack_id, _)| self.acks.open_broadcast(ack_id, remote_nodes, origin));
        // The recipients are visited in place (no list of ids is built).
        let Some(ns) = self.namespaces.get(nsp) else {
            return Err(EmitError::UnknownNamespace);
        };
        let (engine, sockets) = (&mut self.engine, &self.sockets);
        let mut recipients = 0;
        // Kept only when a broadcast with acks or the report needs them.
        let keep = broadcast.is_some() || reported.is_some();
        let mut reached: Vec<SocketKey> = Vec::new();
        let owner = |room: &Room| sockets.own_room_of(room);
        ns.rooms.each_target(&options.target, owner, |key| {
            let Some(socket) = sockets.by_key(key) else {
                return;
            };
            if options.volatile && !engine.is_writable_to(socket.session) {
                return;
            }
            let Some((first, rest)) = messages.split_first() else {
                return;
            };
            if engine.send_to(socket.session, first.clone()).is_err() {
                return;
            }
            for m in rest {
                let _ = engine.send_to(socket.session, m.clone());
            }
            recipients += 1;
            if keep {
                reached.push(key);
            }
        });
        if let Some(event) = reported {
            if !reached.is_empty() {
                self.events.push_back(Event::Outgoing {
                    nsp: ns.name.clone(),
                    sockets: self.sockets.ids_of(reached.iter().copied()),
                    event,
                });
            }
        }
        if let Some(b) = broadcast {
            self.acks.reached(b, reached);
        }
        if let (Some((_, deadline)), Some(b)) = (ack, broadcast) {
            if self.acks.is_complete(b) {
                self.finish_broadcast(b);
            } else {
                self.timers.insert(Timer::Broadcast(b), deadline);
            }
        }
        Ok(Broadcast {
            recipients,
            ack: broadcast,
        })
    }

    /// The connected socket `id`, with its key.
    pub(super) fn connected(&self, id: &SocketId) -> Result<(SocketKey, &Socket), EmitError> {
        self.sockets
            .entry(id)
            .filter(|(_, s)| s.connected)
            .ok_or(EmitError::UnknownSocket)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use slotmap::Key;

    use super::super::test_util::{client, config, harness};
    use super::*;
    use crate::packet::PayloadError;

    fn hello() -> EventPacket {
        EventPacket::new("hello", vec![json!(1)]).unwrap()
    }

    #[test]
    fn a_broadcast_reaches_its_rooms_with_the_same_bytes() {
        let mut h = harness(config());
        let (a, sa) = client(&mut h);
        let (b, sb) = client(&mut h);
        let (c, _) = client(&mut h);
        h.server.join(&sa, "r");
        h.server.join(&sb, "r");
        let options = BroadcastOptions {
            target: Target::room("r"),
            ..BroadcastOptions::default()
        };
        let sent = h
            .server
            .broadcast(h.now, &Nsp::from("/"), &options, hello())
            .unwrap();
        assert_eq!(
            sent,
            Broadcast {
                recipients: 2,
                ack: None
            }
        );
        h.drain();
        assert_eq!(h.ws_take(a), [r#"42["hello",1]"#]);
        assert_eq!(h.ws_take(b), [r#"42["hello",1]"#]);
        assert!(h.ws_take(c).is_empty());
    }

    #[test]
    fn a_broadcast_reaches_sockets_by_key_not_a_stale_one_in_a_reused_slot() {
        let mut h = harness(config());
        h.server.set_outgoing_events(true);
        let (a, sa) = client(&mut h);
        let (b, sb) = client(&mut h);
        // b leaves; c's socket takes the freed slot, under a new key.
        let old = h.server.sockets.key(&sb).unwrap();
        h.server.disconnect(h.now, &sb, true);
        h.drain();
        h.ws_take(b);
        h.take_events();
        let (c, sc) = client(&mut h);
        let new = h.server.sockets.key(&sc).unwrap();
        let slot = |k: SocketKey| k.data().as_ffi() & 0xffff_ffff;
        assert_eq!(slot(old), slot(new));
        assert_ne!(old, new);
        let options = BroadcastOptions {
            timeout: Some(std::time::Duration::from_secs(5)),
            ..BroadcastOptions::default()
        };
        let sent = h
            .server
            .broadcast(h.now, &Nsp::from("/"), &options, hello())
            .unwrap();
        assert_eq!(sent.recipients, 2);
        let broadcast = sent.ack.unwrap();
        h.drain();
        // The ack id is the namespace's first: 0.
        assert_eq!(h.ws_take(a), [r#"420["hello",1]"#]);
        assert_eq!(h.ws_take(c), [r#"420["hello",1]"#]);
        assert!(h.ws_take(b).is_empty());
        // Each recipient owes one answer, noted once.
        assert_eq!(h.server.pending_acks(&sa), 1);
        assert_eq!(h.server.pending_acks(&sc), 1);
        assert_eq!(h.server.pending_acks(&sb), 0);
        let outgoing: Vec<Vec<SocketId>> = h
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Outgoing { mut sockets, .. } => {
                    sockets.sort();
                    Some(sockets)
                }
                _ => None,
            })
            .collect();
        let mut both = vec![sa.clone(), sc.clone()];
        both.sort();
        assert_eq!(outgoing, [both]);
        h.ws_send(a, r#"430["ok"]"#);
        h.ws_send(c, r#"430["ok"]"#);
        let answers: Vec<(Option<SocketId>, bool)> = h
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::BroadcastAck { socket, .. } => Some((socket, false)),
                Event::BroadcastAckDone {
                    broadcast: done,
                    expected: 2,
                    received: 2,
                } if done == broadcast => Some((None, true)),
                _ => None,
            })
            .collect();
        assert_eq!(
            answers,
            [
                (Some(sa.clone()), false),
                (Some(sc.clone()), false),
                (None, true)
            ]
        );
        assert_eq!(h.server.pending_acks(&sa), 0);
        assert_eq!(h.server.pending_acks(&sc), 0);
    }

    #[test]
    fn errors_name_their_cause() {
        let mut h = harness(config());
        let (_, socket) = client(&mut h);
        let now = h.now;
        let nobody = SocketId::new("nobody");
        assert_eq!(
            h.server.emit(now, &nobody, hello()),
            Err(EmitError::UnknownSocket)
        );
        assert_eq!(
            h.server.emit_with_ack(now, &nobody, hello(), None),
            Err(EmitError::UnknownSocket)
        );
        assert_eq!(
            h.server.ack(now, &nobody, ClientAckId(0), vec![], vec![]),
            Err(EmitError::UnknownSocket)
        );
        let options = BroadcastOptions::default();
        assert_eq!(
            h.server
                .broadcast(now, &Nsp::from("/nowhere"), &options, hello()),
            Err(EmitError::UnknownNamespace)
        );
        // An ack whose attachments have no placeholder is a payload error,
        // not an unknown socket.
        assert_eq!(
            h.server.ack(
                now,
                &socket,
                ClientAckId(0),
                vec![json!(1)],
                vec![Bytes::from_static(b"x")]
            ),
            Err(EmitError::Payload(PayloadError::PlaceholderMismatch))
        );
        let mut small = config();
        small.max_outstanding_acks = 1;
        let mut h = harness(small);
        let (_, socket) = client(&mut h);
        h.server
            .emit_with_ack(h.now, &socket, hello(), None)
            .unwrap();
        assert_eq!(
            h.server.emit_with_ack(h.now, &socket, hello(), None),
            Err(EmitError::TooManyAcks)
        );
    }
}
