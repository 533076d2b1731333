//! Acks: the answers a socket owes (an [`Server::emit_with_ack`], each
//! recipient of a broadcast with acks), their timeouts, the answers the
//! application gives ([`Server::ack`]), and the gathering of a broadcast's
//! answers, here and from the other nodes, until all came or its timeout
//! passed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engineio_proto::IdMap;
use serde_json::Value;

use super::sockets::SocketKey;
use super::{Server, Timer};
use crate::cluster::{ClusterMessage, ServerSideReply};
use crate::event::Event;
use crate::packet::{Ack, Event as EventPacket, Packet};
use crate::types::{AckId, BroadcastId, ClientAckId, EmitError, SocketId};

/// Every answer awaited, by socket, and the broadcasts gathering answers.
/// Sockets are named by key: an integer hash per recipient of a broadcast
/// with acks, no id hashed.
#[derive(Debug, Default)]
pub(super) struct Acks {
    /// Socket -> ack id -> the broadcast it belongs to (`None`: its own
    /// `emit_with_ack`). Keys and ack ids are the server's own.
    by_socket: IdMap<SocketKey, IdMap<u64, Option<BroadcastId>>>,
    broadcasts: IdMap<BroadcastId, PendingBroadcast>,
    next_broadcast: u64,
    /// Broadcasts published to the other nodes, by wire request id.
    by_wire_id: HashMap<String, BroadcastId>,
}

/// A broadcast waiting for its recipients' answers.
#[derive(Debug)]
pub(super) struct PendingBroadcast {
    ack_id: u64,
    /// Local recipients.
    targets: Vec<SocketKey>,
    /// Answers received, local and remote.
    received: usize,
    /// Nodes that will say how many clients they reached; `None` until
    /// the transport counted them ([`Membership::Counted`](crate::Membership::Counted)).
    nodes_expected: Option<usize>,
    /// Nodes that said it.
    nodes_answered: usize,
    /// Clients reached on other nodes.
    remote_expected: usize,
    /// Its wire request id, when published.
    wire_id: Option<String>,
    /// For a broadcast asked by another node: where to relay the answers.
    origin: Option<ServerSideReply>,
}

/// How a finished broadcast ends.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Finished {
    pub(super) expected: usize,
    pub(super) received: usize,
    /// Asked by another node: no [`Event::BroadcastAckDone`] here.
    pub(super) relayed: bool,
}

impl PendingBroadcast {
    fn complete(&self) -> bool {
        self.nodes_expected
            .is_some_and(|n| self.nodes_answered >= n)
            && self.received >= self.targets.len() + self.remote_expected
    }
}

impl Acks {
    /// How many answers `socket` owes.
    pub(super) fn outstanding(&self, socket: SocketKey) -> usize {
        self.by_socket.get(&socket).map_or(0, |owed| owed.len())
    }

    /// `socket` owes an answer to ack `id`.
    pub(super) fn expect(&mut self, socket: SocketKey, id: u64, broadcast: Option<BroadcastId>) {
        self.by_socket
            .entry(socket)
            .or_default()
            .insert(id, broadcast);
    }

    /// The answer to ack `id` came: what it was for, or `None` for an
    /// unknown or repeated id.
    pub(super) fn answer(&mut self, socket: SocketKey, id: u64) -> Option<Option<BroadcastId>> {
        let owed = self.by_socket.get_mut(&socket)?;
        let broadcast = owed.remove(&id)?;
        if owed.is_empty() {
            self.by_socket.remove(&socket);
        }
        Some(broadcast)
    }

    /// `socket` left: the ids of its own acks, ascending (their waiters
    /// learn that no answer comes); its part in broadcasts is forgotten.
    pub(super) fn socket_gone(&mut self, socket: SocketKey) -> Vec<u64> {
        let mut own: Vec<u64> = self
            .by_socket
            .remove(&socket)
            .into_iter()
            .flatten()
            .filter(|(_, b)| b.is_none())
            .map(|(id, _)| id)
            .collect();
        own.sort_unstable();
        own
    }

    /// Starts gathering the answers of a broadcast sent with ack id
    /// `ack_id`; its recipients are added with [`reached`](Self::reached)
    /// once it was sent to them all.
    pub(super) fn open_broadcast(
        &mut self,
        ack_id: u64,
        remote_nodes: Option<usize>,
        origin: Option<ServerSideReply>,
    ) -> BroadcastId {
        let id = BroadcastId(self.next_broadcast);
        self.next_broadcast += 1;
        self.broadcasts.insert(
            id,
            PendingBroadcast {
                ack_id,
                targets: Vec::new(),
                received: 0,
                nodes_expected: remote_nodes,
                nodes_answered: 0,
                remote_expected: 0,
                wire_id: None,
                origin,
            },
        );
        id
    }

    /// Broadcast `b` reached `sockets`, which now owe an answer: one
    /// call after the fan-out (the broadcast is looked up once).
    pub(super) fn reached(&mut self, b: BroadcastId, sockets: Vec<SocketKey>) {
        let Some(pending) = self.broadcasts.get_mut(&b) else {
            return;
        };
        let ack_id = pending.ack_id;
        for &socket in &sockets {
            self.by_socket
                .entry(socket)
                .or_default()
                .insert(ack_id, Some(b));
        }
        if pending.targets.is_empty() {
            pending.targets = sockets;
        } else {
            pending.targets.extend(sockets);
        }
    }

    /// Broadcast `b` was published with `wire_id`: its ack id.
    pub(super) fn published(&mut self, b: BroadcastId, wire_id: String) -> Option<u64> {
        let pending = self.broadcasts.get_mut(&b)?;
        pending.wire_id = Some(wire_id.clone());
        self.by_wire_id.insert(wire_id, b);
        Some(pending.ack_id)
    }

    /// The broadcast published with `wire_id`.
    pub(super) fn by_wire_id(&self, wire_id: &str) -> Option<BroadcastId> {
        self.by_wire_id.get(wire_id).copied()
    }

    /// Where the answers of `b` go when another node asked for it.
    pub(super) fn origin(&self, b: BroadcastId) -> Option<&ServerSideReply> {
        self.broadcasts.get(&b).and_then(|p| p.origin.as_ref())
    }

    /// One more answer to `b`; whether it is now complete.
    pub(super) fn count_answer(&mut self, b: BroadcastId) -> bool {
        self.broadcasts.get_mut(&b).is_some_and(|p| {
            p.received += 1;
            p.complete()
        })
    }

    /// The transport counted the nodes that will answer `b`; whether it is
    /// now complete.
    pub(super) fn nodes_counted(&mut self, b: BroadcastId, nodes: usize) -> bool {
        self.broadcasts.get_mut(&b).is_some_and(|p| {
            p.nodes_expected = Some(nodes);
            p.complete()
        })
    }

    /// A node said it reached `clients` clients for `b`; whether `b` is now
    /// complete.
    pub(super) fn node_reached(&mut self, b: BroadcastId, clients: usize) -> bool {
        self.broadcasts.get_mut(&b).is_some_and(|p| {
            p.nodes_answered += 1;
            p.remote_expected += clients;
            p.complete()
        })
    }

    pub(super) fn is_complete(&self, b: BroadcastId) -> bool {
        self.broadcasts
            .get(&b)
            .is_some_and(PendingBroadcast::complete)
    }

    /// Stops gathering `b` (complete or timed out): what it got. Its
    /// recipients owe nothing more.
    pub(super) fn finish(&mut self, b: BroadcastId) -> Option<Finished> {
        let pending = self.broadcasts.remove(&b)?;
        if let Some(wire_id) = &pending.wire_id {
            self.by_wire_id.remove(wire_id);
        }
        for socket in &pending.targets {
            if let Some(owed) = self.by_socket.get_mut(socket) {
                if owed.get(&pending.ack_id) == Some(&Some(b)) {
                    owed.remove(&pending.ack_id);
                }
                if owed.is_empty() {
                    self.by_socket.remove(socket);
                }
            }
        }
        Some(Finished {
            expected: pending.targets.len() + pending.remote_expected,
            received: pending.received,
            relayed: pending.origin.is_some(),
        })
    }
}

impl Server {
    /// Sends an event to socket `id` and waits for its answer: returns the
    /// ack id that [`Event::Ack`] or [`Event::AckTimeout`] will carry. With no
    /// timeout the answer may never come (until the socket leaves).
    ///
    /// # Errors
    ///
    /// [`EmitError::UnknownSocket`] when no connected socket is `id`,
    /// [`EmitError::TooManyAcks`] past [`Config::max_outstanding_acks`](crate::Config::max_outstanding_acks),
    /// [`EmitError::Engine`] when its session refused the packet.
    pub fn emit_with_ack(
        &mut self,
        now: Instant,
        id: &SocketId,
        event: EventPacket,
        timeout: Option<Duration>,
    ) -> Result<AckId, EmitError> {
        let (key, socket) = self.connected(id)?;
        if self.acks.outstanding(key) >= self.config.max_outstanding_acks {
            return Err(EmitError::TooManyAcks);
        }
        let (socket_id, nsp, sid) = (socket.id.clone(), socket.nsp.clone(), socket.sid.clone());
        let ns = self
            .namespaces
            .get_mut(&nsp)
            .ok_or(EmitError::UnknownNamespace)?;
        let ack_id = ns.next_ack_id();
        let packet = Packet::event(nsp, event.with_id(ack_id));
        let sent = self.send_packet(&sid, &packet);
        if sent.is_ok() {
            self.acks.expect(key, ack_id, None);
            if let Some(timeout) = timeout {
                self.timers
                    .insert(Timer::Ack(socket_id, ack_id), now + timeout);
            }
        }
        self.pump(now);
        sent.map(|()| AckId(ack_id)).map_err(EmitError::from)
    }

    /// Answers an event that asked for an acknowledgement under `ack_id`
    /// ([`packet::Event::ack_id`](crate::packet::Event::ack_id)).
    ///
    /// # Errors
    ///
    /// [`EmitError::UnknownSocket`] when no connected socket is `id`,
    /// [`EmitError::Payload`] when the placeholders of `data` do not match
    /// `attachments`, [`EmitError::Engine`] when its session refused the
    /// packet.
    pub fn ack(
        &mut self,
        now: Instant,
        id: &SocketId,
        ack_id: ClientAckId,
        data: Vec<Value>,
        attachments: Vec<Bytes>,
    ) -> Result<(), EmitError> {
        let (_, socket) = self.connected(id)?;
        let ack = Ack::new(ack_id.0, data).with_attachments(attachments)?;
        let packet = Packet::ack(socket.nsp.clone(), ack);
        let sid = socket.sid.clone();
        let result = self.send_packet(&sid, &packet);
        self.pump(now);
        result.map_err(EmitError::from)
    }

    /// An ACK from a client.
    pub(super) fn on_ack(&mut self, socket: SocketId, ack: Ack) {
        let Some(ack_id) = ack.id else {
            return;
        };
        // Unknown and repeated ids are ignored.
        let Some(key) = self.sockets.key(&socket) else {
            return;
        };
        let Some(broadcast) = self.acks.answer(key, ack_id) else {
            return;
        };
        let (data, attachments) = ack.into_parts();
        let Some(broadcast) = broadcast else {
            self.timers.cancel(&Timer::Ack(socket.clone(), ack_id));
            self.events.push_back(Event::Ack {
                socket,
                id: AckId(ack_id),
                data,
                attachments,
            });
            return;
        };
        match self.acks.origin(broadcast).cloned() {
            // Asked by another node: the answer goes back there.
            Some(origin) => self.respond_to(
                &origin.node,
                &origin.nsp,
                ClusterMessage::BroadcastAck {
                    request_id: origin.request_id,
                    packet: Value::Array(data),
                },
            ),
            None => self.events.push_back(Event::BroadcastAck {
                broadcast,
                socket: Some(socket),
                data,
                attachments,
            }),
        }
        self.count_broadcast_answer(broadcast);
    }

    /// The timeout of an `emit_with_ack` passed.
    pub(super) fn on_ack_timeout(&mut self, socket: SocketId, id: u64) {
        let Some(key) = self.sockets.key(&socket) else {
            return;
        };
        if self.acks.answer(key, id).is_some() {
            self.events.push_back(Event::AckTimeout {
                socket,
                id: AckId(id),
            });
        }
    }

    pub(super) fn count_broadcast_answer(&mut self, broadcast: BroadcastId) {
        if self.acks.count_answer(broadcast) {
            self.finish_broadcast(broadcast);
        }
    }

    /// Broadcast `b` got every answer or timed out.
    pub(super) fn finish_broadcast(&mut self, broadcast: BroadcastId) {
        self.timers.cancel(&Timer::Broadcast(broadcast));
        let Some(done) = self.acks.finish(broadcast) else {
            return;
        };
        if !done.relayed {
            self.events.push_back(Event::BroadcastAckDone {
                broadcast,
                expected: done.expected,
                received: done.received,
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Two socket keys (the table's own make them).
    fn keys() -> (SocketKey, SocketKey) {
        let mut table = slotmap::SlotMap::<SocketKey, ()>::with_key();
        (table.insert(()), table.insert(()))
    }

    #[test]
    fn an_answer_is_taken_once() {
        let mut acks = Acks::default();
        let (sa, sb) = keys();
        acks.expect(sa, 7, None);
        acks.expect(sa, 8, None);
        assert_eq!(acks.outstanding(sa), 2);
        assert_eq!(acks.answer(sa, 7), Some(None));
        assert_eq!(acks.answer(sa, 7), None);
        assert_eq!(acks.answer(sb, 8), None);
        assert_eq!(acks.outstanding(sa), 1);
    }

    #[test]
    fn a_socket_that_leaves_reports_its_own_acks_in_order() {
        let mut acks = Acks::default();
        let (sa, _) = keys();
        let b = acks.open_broadcast(5, Some(0), None);
        for n in [9, 2, 4] {
            acks.expect(sa, n, None);
        }
        acks.reached(b, vec![sa]);
        assert_eq!(acks.outstanding(sa), 4);
        assert_eq!(acks.socket_gone(sa), [2, 4, 9]);
        assert_eq!(acks.outstanding(sa), 0);
        // The broadcast still counts it as asked, never answered.
        assert_eq!(
            acks.finish(b),
            Some(Finished {
                expected: 1,
                received: 0,
                relayed: false
            })
        );
    }

    #[test]
    fn a_broadcast_completes_with_every_local_and_remote_answer() {
        let mut acks = Acks::default();
        let (sa, sb) = keys();
        // Counted membership: the number of nodes is not known yet.
        let b = acks.open_broadcast(3, None, None);
        // Every recipient noted in one call, after the fan-out.
        acks.reached(b, vec![sa, sb]);
        assert_eq!(acks.published(b, "n1:1".into()), Some(3));
        assert_eq!(acks.by_wire_id("n1:1"), Some(b));
        assert_eq!(acks.answer(sa, 3), Some(Some(b)));
        assert!(!acks.count_answer(b));
        assert_eq!(acks.answer(sb, 3), Some(Some(b)));
        // Both local answers, but the other nodes are not counted yet.
        assert!(!acks.count_answer(b));
        assert!(!acks.nodes_counted(b, 1));
        assert!(!acks.node_reached(b, 1));
        assert!(acks.count_answer(b));
        assert!(acks.is_complete(b));
        assert_eq!(
            acks.finish(b),
            Some(Finished {
                expected: 3,
                received: 3,
                relayed: false
            })
        );
        assert_eq!(acks.by_wire_id("n1:1"), None);
        assert_eq!(acks.finish(b), None);
    }

    #[test]
    fn finishing_a_broadcast_forgets_what_its_recipients_owe() {
        let mut acks = Acks::default();
        let (sa, _) = keys();
        let origin = ServerSideReply {
            node: "other".into(),
            nsp: "/".into(),
            request_id: "other:1".into(),
        };
        let b = acks.open_broadcast(0, Some(0), Some(origin.clone()));
        acks.reached(b, vec![sa]);
        acks.expect(sa, 1, None);
        assert_eq!(acks.origin(b), Some(&origin));
        let done = acks.finish(b).unwrap();
        assert!(done.relayed);
        assert_eq!((done.expected, done.received), (1, 0));
        // The late answer matches nothing; the socket's own ack stays.
        assert_eq!(acks.answer(sa, 0), None);
        assert_eq!(acks.outstanding(sa), 1);
    }

    #[test]
    fn an_ack_timer_fires_once_at_its_deadline_or_is_cancelled_by_the_answer() {
        use super::super::test_util::{client, config, harness};
        let mut h = harness(config());
        let (ws, socket) = client(&mut h);
        let event = || EventPacket::new("q", vec![]).unwrap();
        let timeout = Some(Duration::from_millis(500));
        let answered = h
            .server
            .emit_with_ack(h.now, &socket, event(), timeout)
            .unwrap();
        let silent = h
            .server
            .emit_with_ack(h.now, &socket, event(), timeout)
            .unwrap();
        h.drain();
        assert_eq!(h.ws_take(ws), [r#"420["q"]"#, r#"421["q"]"#]);
        assert_eq!(h.server.timers.len(), 2);
        h.ws_send(ws, "430[1]");
        assert!(matches!(
            &h.take_events()[..],
            [Event::Ack { id, .. }] if *id == answered
        ));
        assert_eq!(h.server.timers.len(), 1);
        h.advance(499);
        assert!(h.take_events().is_empty());
        h.advance(1);
        assert!(matches!(
            &h.take_events()[..],
            [Event::AckTimeout { id, .. }] if *id == silent
        ));
        // A late answer is ignored.
        h.ws_send(ws, "431[1]");
        assert!(h.take_events().is_empty());
        assert!(h.server.timers.is_empty());
    }
}
