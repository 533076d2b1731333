//! Connection state recovery kept by the cluster transport (the Redis
//! streams adapter): broadcasts delivered with the transport's offsets,
//! sessions handed out on disconnect and looked up on reconnect. See
//! [`ClusterConfig::stream_recovery`](crate::ClusterConfig::stream_recovery).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use engineio_proto::{Sid, Str};
use serde_json::{Map, Value};

use super::Server;
use super::recovery::StoredSession;
use crate::cluster::{
    ClusterEnvelope, ClusterMessage, RestoreRequest, RestoredSession, SessionRecord,
};
use crate::packet::Event as EventPacket;
use crate::types::{BroadcastOptions, Nsp, ParentId, RestoreKey, Room, SocketId};

/// Restores waited for at most: a CONNECT beyond it connects as a new
/// socket at once (the transport is not answering fast enough).
pub(crate) const MAX_WAITING_RESTORES: usize = 10_000;

/// What the core keeps for stream recovery.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    /// Sessions to hand to the transport.
    pub(super) sessions: VecDeque<SessionRecord>,
    /// Lookups to hand to the transport.
    restores: VecDeque<RestoreRequest>,
    /// CONNECTs waiting for their lookup, by key.
    waiting: HashMap<RestoreKey, WaitingConnect>,
    next_key: u64,
}

#[derive(Debug)]
struct WaitingConnect {
    sid: Sid,
    nsp: Nsp,
    auth: Map<String, Value>,
    parent: Option<ParentId>,
    pid: String,
}

impl Server {
    pub(super) fn stream_recovery(&self) -> bool {
        self.config
            .cluster
            .as_ref()
            .is_some_and(|c| c.stream_recovery)
    }

    /// A CONNECT with `pid` and `offset`: asks the transport (`_add`'s
    /// `await adapter.restoreSession`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn wait_for_restore(
        &mut self,
        now: Instant,
        sid: &Sid,
        nsp: Nsp,
        auth: Map<String, Value>,
        parent: Option<ParentId>,
        pid: String,
        offset: String,
    ) {
        let state = &mut self.cluster.stream;
        if state.waiting.len() >= MAX_WAITING_RESTORES {
            // Not worth waiting: a new socket, as for an unknown session.
            self.connect_socket(now, sid, nsp, auth, parent, None);
            return;
        }
        let key = RestoreKey(state.next_key);
        state.next_key += 1;
        state.restores.push_back(RestoreRequest {
            key,
            nsp: nsp.to_string(),
            pid: pid.clone(),
            offset,
        });
        state.waiting.insert(
            key,
            WaitingConnect {
                sid: sid.clone(),
                nsp,
                auth,
                parent,
                pid,
            },
        );
    }

    /// The next session a socket left behind, to keep for
    /// `maxDisconnectionDuration` (stream recovery).
    pub fn poll_session(&mut self) -> Option<SessionRecord> {
        self.cluster.stream.sessions.pop_front()
    }

    /// The next session to look up for a client that came back (stream
    /// recovery); answer with [`handle_restore`](Self::handle_restore).
    pub fn poll_restore(&mut self) -> Option<RestoreRequest> {
        self.cluster.stream.restores.pop_front()
    }

    /// The answer to [`poll_restore`](Self::poll_restore)'s request `key`:
    /// the session, restored with its id, rooms and data, its missed
    /// packets sent before the CONNECT reply; or `None` (unknown, expired,
    /// offset gone): a new socket, as if no `pid` had been sent. A client
    /// that left meanwhile is forgotten.
    pub fn handle_restore(
        &mut self,
        now: Instant,
        key: RestoreKey,
        session: Option<RestoredSession>,
    ) {
        let Some(waiting) = self.cluster.stream.waiting.remove(&key) else {
            return;
        };
        let WaitingConnect {
            sid,
            nsp,
            auth,
            parent,
            pid,
        } = waiting;
        let gone = self
            .clients
            .get(&sid)
            .is_none_or(|c| c.nsps.contains_key(&nsp));
        if gone || !self.namespaces.contains(&nsp) {
            return;
        }
        let restored = session
            .filter(|s| !self.sockets.contains_key(&SocketId::new(&s.id)))
            .map(|s| {
                let missed = s
                    .missed
                    .into_iter()
                    .filter_map(|p| {
                        EventPacket::from_data(p.data)
                            .and_then(|e| e.with_attachments(p.attachments))
                            .ok()
                    })
                    .collect();
                let stored = StoredSession {
                    sid: SocketId::new(&s.id),
                    rooms: s.rooms.into_iter().map(Room::from).collect(),
                    data: s.data,
                    disconnected_at: now,
                };
                (Str::from(pid), stored, missed)
            });
        self.connect_socket(now, &sid, nsp, auth, parent, restored);
        self.pump(now);
    }

    /// A broadcast the transport read from its store (this node's own
    /// included), with its offset (`None` when storing it failed: then it
    /// is delivered without one, as Node does). Other messages go to
    /// [`handle_cluster`](Self::handle_cluster).
    pub fn handle_cluster_broadcast(
        &mut self,
        now: Instant,
        envelope: ClusterEnvelope,
        offset: Option<&str>,
    ) {
        let ClusterMessage::Broadcast {
            opts,
            packet,
            request_id: None,
        } = envelope.message
        else {
            self.handle_cluster(now, envelope);
            return;
        };
        self.ensure_started(now);
        let volatile = opts.flags.volatile == Some(true);
        let mut data = packet.data;
        if let Some(offset) = offset {
            if self.config.recovery.is_some() && !volatile && packet.id.is_none() {
                data.push(Value::String(offset.to_owned()));
            }
        }
        let Ok(event) =
            EventPacket::from_data(data).and_then(|e| e.with_attachments(packet.attachments))
        else {
            return;
        };
        let options = BroadcastOptions {
            target: opts.target(),
            volatile,
            compress: opts.flags.compress,
            timeout: None,
        };
        let _ = self.deliver(
            now,
            &Nsp::from(envelope.nsp),
            &options,
            event,
            None,
            Some(0),
        );
        self.pump(now);
    }
}
