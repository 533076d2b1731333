//! The other nodes of a cluster: what this node publishes for them, what
//! they publish (broadcasts, room changes and disconnects for sockets here,
//! requests to answer), the requests this node makes (`fetchSockets`,
//! `serverSideEmit`) and the gathering of their answers, and the heartbeats
//! that tell which nodes are alive.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{Server, Timer};
use crate::cluster::{
    ClusterConfig, ClusterEnvelope, ClusterMessage, Membership, RequestKey, ServerSideReply,
    WireFlags, WireOptions, WireSocket,
};
use crate::event::Event;
use crate::packet::Event as EventPacket;
use crate::types::{BroadcastOptions, Nsp, Room, SocketInfo, Target};

/// This node's view of the cluster (unused on a single node).
#[derive(Debug, Default)]
pub(super) struct ClusterState {
    started: bool,
    outbox: VecDeque<ClusterEnvelope>,
    /// Other nodes and when each was last heard from.
    nodes: HashMap<String, Instant>,
    next_request: u64,
    /// Requests this node made, by wire request id.
    requests: HashMap<String, ClusterRequest>,
    /// Stream recovery ([`ClusterConfig::stream_recovery`](crate::ClusterConfig::stream_recovery)).
    pub(super) stream: super::stream_recovery::StreamState,
}

#[derive(Debug)]
struct ClusterRequest {
    key: RequestKey,
    answers: Answers,
    /// Answers awaited; `None` until the transport counted the nodes
    /// ([`Membership::Counted`]).
    expected: Option<usize>,
    current: usize,
}

#[derive(Debug)]
enum Answers {
    Fetch {
        local: Vec<SocketInfo>,
        remote: Vec<WireSocket>,
    },
    ServerSideEmit(Vec<Value>),
}

impl ClusterState {
    /// A fresh wire request id, `<uid>:<n>`, and its key.
    pub(super) fn new_request_id(&mut self, config: Option<&ClusterConfig>) -> String {
        self.next_request += 1;
        let uid = config.map_or("", |c| c.uid.as_str());
        format!("{uid}:{}", self.next_request)
    }

    /// How many other nodes will answer a request made now; `None` when
    /// the transport counts them later.
    fn remote_count(&self, membership: Option<Membership>) -> Option<usize> {
        match membership {
            Some(Membership::Counted) => None,
            _ => Some(self.nodes.len()),
        }
    }

    fn open(&mut self, wire_id: String, answers: Answers, expected: Option<usize>) -> RequestKey {
        let key = RequestKey(self.next_request);
        self.requests.insert(
            wire_id,
            ClusterRequest {
                key,
                answers,
                expected,
                current: 0,
            },
        );
        key
    }

    /// One node answered request `wire_id`; an unknown request is ignored.
    fn answered(&mut self, wire_id: &str, answer: impl FnOnce(&mut Answers)) {
        if let Some(r) = self.requests.get_mut(wire_id) {
            answer(&mut r.answers);
            r.current += 1;
        }
    }

    /// The transport counted the nodes that will answer `wire_id`; whether
    /// it is a request of this node.
    fn counted(&mut self, wire_id: &str, nodes: usize) -> bool {
        self.requests
            .get_mut(wire_id)
            .map(|r| r.expected = Some(nodes))
            .is_some()
    }

    fn is_complete(&self, wire_id: &str) -> bool {
        self.requests
            .get(wire_id)
            .is_some_and(|r| r.expected.is_some_and(|e| r.current >= e))
    }

    /// Ends request `wire_id`: the event that gives its answers.
    fn finish(&mut self, wire_id: &str, timed_out: bool) -> Option<Event> {
        let r = self.requests.remove(wire_id)?;
        Some(match r.answers {
            Answers::Fetch { local, remote } => Event::FetchSocketsDone {
                request: r.key,
                local,
                remote,
                timed_out,
            },
            Answers::ServerSideEmit(responses) => Event::ServerSideEmitDone {
                request: r.key,
                responses,
                timed_out,
            },
        })
    }

    /// Forgets the nodes not heard from within `timeout` before `now`.
    fn prune(&mut self, now: Instant, timeout: Duration) {
        self.nodes
            .retain(|_, seen| now.saturating_duration_since(*seen) <= timeout);
    }
}

impl Server {
    /// The next message to publish to the other nodes.
    #[must_use]
    pub fn poll_cluster(&mut self) -> Option<ClusterEnvelope> {
        self.cluster.outbox.pop_front()
    }

    /// The other nodes this node has heard from lately.
    pub fn cluster_nodes(&self) -> Vec<String> {
        self.cluster.nodes.keys().cloned().collect()
    }

    /// With [`Membership::Counted`]: the transport published the request
    /// `request_id` (a `FetchSockets`, or a `ServerSideEmit` or `Broadcast`
    /// with a request id) and counted `other_nodes` nodes that will answer
    /// it. An unknown or finished request is ignored.
    pub fn handle_cluster_count(&mut self, now: Instant, request_id: &str, other_nodes: usize) {
        if self.cluster.counted(request_id, other_nodes) {
            self.finish_request_if_complete(request_id);
        } else if let Some(b) = self.acks.by_wire_id(request_id) {
            if self.acks.nodes_counted(b, other_nodes) {
                self.finish_broadcast(b);
            }
        }
        self.pump(now);
    }

    /// `fetchSockets` across the cluster: [`Event::FetchSocketsDone`] comes
    /// with this node's sockets and the other nodes' answers (at once on a
    /// single node or with a `local` target).
    pub fn fetch_sockets_cluster(
        &mut self,
        now: Instant,
        nsp: &Nsp,
        target: &Target,
    ) -> RequestKey {
        self.ensure_started(now);
        let local = self.fetch_sockets(nsp, target);
        let expected = if self.publishes(target) {
            self.remote_count()
        } else {
            Some(0)
        };
        let timeout = self
            .config
            .cluster
            .as_ref()
            .map_or(Duration::ZERO, |c| c.requests_timeout);
        let answers = Answers::Fetch {
            local,
            remote: Vec::new(),
        };
        let (key, wire_id) = self.open_request(now + timeout, answers, expected);
        if expected != Some(0) {
            let opts = WireOptions::from_target(target, WireFlags::default());
            self.publish(
                nsp.as_str(),
                ClusterMessage::FetchSockets {
                    opts,
                    request_id: wire_id,
                },
            );
        }
        self.pump(now);
        key
    }

    /// `serverSideEmit`: an event for the other nodes of the cluster (they
    /// see [`Event::ServerSideEmit`]). With a timeout, their answers come in
    /// one [`Event::ServerSideEmitDone`] and the request is returned.
    pub fn server_side_emit(
        &mut self,
        now: Instant,
        nsp: &Nsp,
        data: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Option<RequestKey> {
        self.ensure_started(now);
        let clustered = self.config.cluster.is_some();
        let request = timeout.map(|t| {
            let expected = self.remote_count();
            self.open_request(now + t, Answers::ServerSideEmit(Vec::new()), expected)
        });
        if clustered {
            let request_id = request.as_ref().map(|(_, id)| id.clone());
            self.publish(
                nsp.as_str(),
                ClusterMessage::ServerSideEmit {
                    request_id,
                    packet: data,
                },
            );
        }
        self.pump(now);
        request.map(|(key, _)| key)
    }

    /// Answers another node's [`Event::ServerSideEmit`].
    pub fn server_side_reply(&mut self, reply: &ServerSideReply, answer: Value) {
        self.respond_to(
            &reply.node,
            &reply.nsp,
            ClusterMessage::ServerSideEmitResponse {
                request_id: reply.request_id.clone(),
                packet: answer,
            },
        );
    }

    /// A message another node published. One from this node, or addressed
    /// to another, is ignored; so is everything without a
    /// [`Config::cluster`](crate::Config::cluster).
    pub fn handle_cluster(&mut self, now: Instant, envelope: ClusterEnvelope) {
        self.ensure_started(now);
        let Some(config) = self.config.cluster.clone() else {
            return;
        };
        if envelope.uid == config.uid || envelope.to.as_ref().is_some_and(|to| *to != config.uid) {
            return;
        }
        self.cluster.nodes.insert(envelope.uid.clone(), now);
        let (node, nsp) = (envelope.uid, Nsp::from(envelope.nsp));
        match envelope.message {
            ClusterMessage::InitialHeartbeat => {
                self.publish(nsp.as_str(), ClusterMessage::Heartbeat);
            }
            ClusterMessage::Heartbeat => {}
            ClusterMessage::AdapterClose => {
                self.cluster.nodes.remove(&node);
            }
            ClusterMessage::Broadcast {
                opts,
                packet,
                request_id,
            } => {
                let Ok(event) = EventPacket::from_data(packet.data)
                    .and_then(|e| e.with_attachments(packet.attachments))
                else {
                    return;
                };
                let timeout = request_id.as_ref().map(|_| {
                    opts.flags
                        .timeout
                        .map_or(config.requests_timeout, Duration::from_millis)
                });
                let options = BroadcastOptions {
                    target: opts.target(),
                    volatile: opts.flags.volatile == Some(true),
                    compress: opts.flags.compress,
                    timeout,
                };
                let origin = request_id.map(|request_id| ServerSideReply {
                    node: node.clone(),
                    nsp: nsp.to_string(),
                    request_id,
                });
                if let Ok(sent) = self.deliver(now, &nsp, &options, event, origin.clone(), Some(0))
                {
                    if let Some(origin) = origin {
                        self.respond_to(
                            &node,
                            nsp.as_str(),
                            ClusterMessage::BroadcastClientCount {
                                request_id: origin.request_id,
                                client_count: sent.recipients,
                            },
                        );
                    }
                }
            }
            ClusterMessage::SocketsJoin { opts, rooms } => {
                let rooms: Vec<Room> = rooms.into_iter().map(Room::from).collect();
                self.sockets_join(&nsp, &opts.target(), &rooms);
            }
            ClusterMessage::SocketsLeave { opts, rooms } => {
                let rooms: Vec<Room> = rooms.into_iter().map(Room::from).collect();
                self.sockets_leave(&nsp, &opts.target(), &rooms);
            }
            ClusterMessage::DisconnectSockets { opts, close } => {
                self.disconnect_sockets(now, &nsp, &opts.target(), close);
            }
            ClusterMessage::FetchSockets { opts, request_id } => {
                let sockets = self
                    .fetch_sockets(&nsp, &opts.target())
                    .iter()
                    .map(wire_socket)
                    .collect();
                self.respond_to(
                    &node,
                    nsp.as_str(),
                    ClusterMessage::FetchSocketsResponse {
                        request_id,
                        sockets,
                    },
                );
            }
            ClusterMessage::ServerSideEmit { request_id, packet } => {
                let reply = request_id.map(|request_id| ServerSideReply {
                    node: node.clone(),
                    nsp: nsp.to_string(),
                    request_id,
                });
                self.events.push_back(Event::ServerSideEmit {
                    nsp,
                    data: packet,
                    reply,
                });
            }
            ClusterMessage::FetchSocketsResponse {
                request_id,
                sockets,
            } => {
                self.cluster.answered(&request_id, |answers| {
                    if let Answers::Fetch { remote, .. } = answers {
                        remote.extend(sockets);
                    }
                });
                self.finish_request_if_complete(&request_id);
            }
            ClusterMessage::ServerSideEmitResponse { request_id, packet } => {
                self.cluster.answered(&request_id, |answers| {
                    if let Answers::ServerSideEmit(responses) = answers {
                        responses.push(packet);
                    }
                });
                self.finish_request_if_complete(&request_id);
            }
            ClusterMessage::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                if let Some(b) = self.acks.by_wire_id(&request_id) {
                    if self.acks.node_reached(b, client_count) {
                        self.finish_broadcast(b);
                    }
                }
            }
            ClusterMessage::BroadcastAck { request_id, packet } => {
                if let Some(b) = self.acks.by_wire_id(&request_id) {
                    let data = match packet {
                        Value::Array(data) => data,
                        other => vec![other],
                    };
                    self.events.push_back(Event::BroadcastAck {
                        broadcast: b,
                        socket: None,
                        data,
                        attachments: Vec::new(),
                    });
                    self.count_broadcast_answer(b);
                }
            }
        }
        self.pump(now);
    }

    /// How many other nodes will answer a request made now; `None` when
    /// the transport counts them later.
    pub(super) fn remote_count(&self) -> Option<usize> {
        let membership = self.config.cluster.as_ref().map(|c| c.membership);
        self.cluster.remote_count(membership)
    }

    pub(super) fn publishes(&self, target: &Target) -> bool {
        self.config.cluster.is_some() && !target.local
    }

    /// Announces this node once, then keeps a heartbeat going.
    pub(super) fn ensure_started(&mut self, now: Instant) {
        if self.cluster.started {
            return;
        }
        let Some(config) = &self.config.cluster else {
            return;
        };
        self.cluster.started = true;
        if config.membership == Membership::Counted {
            // No heartbeats: the transport counts the nodes per request.
            return;
        }
        let next = now + config.heartbeat_interval;
        self.publish("/", ClusterMessage::InitialHeartbeat);
        self.timers.insert(Timer::Heartbeat, next);
    }

    /// The heartbeat scheduled `at` is due: nodes gone quiet are forgotten
    /// and the next one is anchored on `at` (not on a late `now`), unless
    /// the runtime woke so late that it would be due already.
    pub(super) fn on_heartbeat(&mut self, now: Instant, at: Instant) {
        let Some(config) = self.config.cluster.clone() else {
            return;
        };
        self.cluster.prune(now, config.heartbeat_timeout);
        self.publish("/", ClusterMessage::Heartbeat);
        let mut next = at + config.heartbeat_interval;
        if next <= now {
            next = now + config.heartbeat_interval;
        }
        self.timers.insert(Timer::Heartbeat, next);
    }

    pub(super) fn publish(&mut self, nsp: &str, message: ClusterMessage) {
        if let Some(config) = &self.config.cluster {
            self.cluster.outbox.push_back(ClusterEnvelope {
                uid: config.uid.clone(),
                nsp: nsp.to_owned(),
                to: None,
                message,
            });
        }
    }

    pub(super) fn respond_to(&mut self, node: &str, nsp: &str, message: ClusterMessage) {
        if let Some(config) = &self.config.cluster {
            self.cluster.outbox.push_back(ClusterEnvelope {
                uid: config.uid.clone(),
                nsp: nsp.to_owned(),
                to: Some(node.to_owned()),
                message,
            });
        }
    }

    fn open_request(
        &mut self,
        deadline: Instant,
        answers: Answers,
        expected: Option<usize>,
    ) -> (RequestKey, String) {
        let wire_id = self.cluster.new_request_id(self.config.cluster.as_ref());
        let key = self.cluster.open(wire_id.clone(), answers, expected);
        self.timers
            .insert(Timer::Request(wire_id.clone()), deadline);
        self.finish_request_if_complete(&wire_id);
        (key, wire_id)
    }

    fn finish_request_if_complete(&mut self, wire_id: &str) {
        if self.cluster.is_complete(wire_id) {
            self.finish_request(wire_id, false);
        }
    }

    /// Ends request `wire_id` (all answered, or timed out).
    pub(super) fn finish_request(&mut self, wire_id: &str, timed_out: bool) {
        self.timers.cancel(&Timer::Request(wire_id.to_owned()));
        if let Some(event) = self.cluster.finish(wire_id, timed_out) {
            self.events.push_back(event);
        }
    }
}

/// A socket as another node receives it (`FETCH_SOCKETS_RESPONSE`).
fn wire_socket(socket: &SocketInfo) -> WireSocket {
    let h = &socket.handshake;
    let headers: Map<String, Value> = h
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.to_owned())))
        .collect();
    let query: Map<String, Value> = h
        .query()
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    WireSocket {
        id: socket.id.to_string(),
        handshake: serde_json::json!({
            "headers": headers,
            "time": h.time(),
            "address": h.address,
            "xdomain": h.xdomain,
            "secure": h.secure,
            "issued": h.issued,
            "url": h.url,
            "query": query,
            "auth": h.auth,
        }),
        rooms: socket.rooms.iter().map(|r| r.to_string()).collect(),
        data: socket.data.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        ClusterConfig::new("me")
    }

    #[test]
    fn request_ids_carry_the_node_and_count_up() {
        let mut c = ClusterState::default();
        assert_eq!(c.new_request_id(Some(&config())), "me:1");
        assert_eq!(c.new_request_id(Some(&config())), "me:2");
        assert_eq!(c.new_request_id(None), ":3");
    }

    #[test]
    fn a_request_completes_when_every_expected_node_answered() {
        let mut c = ClusterState::default();
        let wire = c.new_request_id(Some(&config()));
        let key = c.open(wire.clone(), Answers::ServerSideEmit(Vec::new()), Some(2));
        assert_eq!(key, RequestKey(1));
        c.answered(&wire, |a| {
            if let Answers::ServerSideEmit(r) = a {
                r.push(Value::from(1));
            }
        });
        assert!(!c.is_complete(&wire));
        c.answered(&wire, |a| {
            if let Answers::ServerSideEmit(r) = a {
                r.push(Value::from(2));
            }
        });
        assert!(c.is_complete(&wire));
        match c.finish(&wire, false) {
            Some(Event::ServerSideEmitDone {
                request,
                responses,
                timed_out,
            }) => {
                assert_eq!(request, key);
                assert_eq!(responses, [Value::from(1), Value::from(2)]);
                assert!(!timed_out);
            }
            other => panic!("{other:?}"),
        }
        // Finished once; late answers are ignored.
        assert!(c.finish(&wire, true).is_none());
        c.answered(&wire, |_| panic!("no such request"));
    }

    #[test]
    fn counted_membership_waits_for_the_count() {
        let mut c = ClusterState::default();
        assert_eq!(c.remote_count(Some(Membership::Counted)), None);
        let wire = c.new_request_id(Some(&config()));
        c.open(
            wire.clone(),
            Answers::Fetch {
                local: Vec::new(),
                remote: Vec::new(),
            },
            None,
        );
        c.answered(&wire, |_| {});
        assert!(!c.is_complete(&wire));
        assert!(c.counted(&wire, 1));
        assert!(c.is_complete(&wire));
        assert!(!c.counted("me:99", 1));
    }

    #[test]
    fn quiet_nodes_are_forgotten() {
        let mut c = ClusterState::default();
        let t0 = Instant::now();
        c.nodes.insert("a".into(), t0);
        c.nodes.insert("b".into(), t0 + Duration::from_secs(5));
        assert_eq!(c.remote_count(Some(Membership::Heartbeat)), Some(2));
        c.prune(t0 + Duration::from_secs(11), Duration::from_secs(10));
        assert_eq!(c.remote_count(None), Some(1));
        assert!(c.nodes.contains_key("b"));
    }

    #[test]
    fn heartbeats_are_anchored_on_their_schedule() {
        let mut config = crate::Config::default();
        let mut cluster = ClusterConfig::new("me");
        cluster.heartbeat_interval = Duration::from_secs(5);
        config.cluster = Some(cluster);
        let mut server = Server::new(config);
        let t0 = Instant::now();
        let secs = |s: u64| t0 + Duration::from_secs(s);
        server.handle_timeout(t0);
        let sent = |server: &mut Server| {
            std::iter::from_fn(|| server.poll_cluster())
                .map(|e| e.message)
                .collect::<Vec<_>>()
        };
        assert_eq!(sent(&mut server), [ClusterMessage::InitialHeartbeat]);
        assert_eq!(server.timers.get(&Timer::Heartbeat), Some(secs(5)));
        // Woken 300 ms late: the next one is still due at 10 s.
        server.handle_timeout(secs(5) + Duration::from_millis(300));
        assert_eq!(sent(&mut server), [ClusterMessage::Heartbeat]);
        assert_eq!(server.timers.get(&Timer::Heartbeat), Some(secs(10)));
        // Woken after several intervals: one heartbeat, not a burst, and
        // the next a whole interval later.
        server.handle_timeout(secs(23));
        assert_eq!(sent(&mut server), [ClusterMessage::Heartbeat]);
        assert_eq!(server.timers.get(&Timer::Heartbeat), Some(secs(28)));
        // Early and repeated calls do nothing.
        server.handle_timeout(secs(23));
        server.handle_timeout(secs(27));
        assert!(sent(&mut server).is_empty());
    }
}
