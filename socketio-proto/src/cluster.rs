//! The adapter interface between nodes: the official `ClusterAdapter`
//! message model as typed values.
//!
//! With [`ClusterConfig`] set, every operation that is not `local` is also
//! published for the other nodes ([`Server::poll_cluster`](crate::Server::poll_cluster)),
//! and what they publish is handed in with
//! [`Server::handle_cluster`](crate::Server::handle_cluster). A transport
//! (Redis pub/sub, ...) only moves these messages; the logic is here. Field
//! names follow the official messages so that a transport can encode them
//! as the Node adapters do. Socket ids, rooms and request ids in them are
//! `String`s, not the server's typed ids or internal keys: they are wire
//! data, read and written by other nodes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engineio_proto::Headers;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{Handshake, Nsp, Room, SocketId, SocketInfo, Target};

/// Joining a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's id (`uid`), unique in the cluster: the runtime draws it.
    pub uid: String,
    /// Interval between two heartbeats (default 5 s).
    pub heartbeat_interval: Duration,
    /// A node not heard from for this long is gone (default 10 s).
    pub heartbeat_timeout: Duration,
    /// How long a request waits for the other nodes' answers (default 5 s).
    pub requests_timeout: Duration,
    /// How this node learns how many answers a request waits for.
    pub membership: Membership,
    /// The transport keeps the broadcasts and the disconnected sessions
    /// (the Redis streams adapter; default false: each node keeps its own).
    /// When on:
    /// - A broadcast this node makes (not `local`, no acknowledgements) is only
    ///   published: the transport stores it (`XADD`) and hands it back, as it
    ///   hands back the other nodes' broadcasts, in the store's order, with its
    ///   offset (the stream id) through
    ///   [`Server::handle_cluster_broadcast`](crate::Server::handle_cluster_broadcast);
    ///   that is when it reaches this node's sockets, the offset appended as the
    ///   last argument when connection state recovery is on (an EVENT without
    ///   ack id, not volatile, as Node's `addOffsetIfNecessary`). Binary
    ///   broadcasts carry offsets too.
    /// - A socket that leaves for a recoverable reason is given to the transport
    ///   ([`Server::poll_session`](crate::Server::poll_session)) instead of being
    ///   kept here.
    /// - A CONNECT with `pid` and `offset` in its auth waits for the transport:
    ///   [`Server::poll_restore`](crate::Server::poll_restore) gives the
    ///   question, [`Server::handle_restore`](crate::Server::handle_restore)
    ///   takes the answer (the session and what it missed, or nothing: then a
    ///   new socket connects as usual).
    pub stream_recovery: bool,
}

/// A disconnected socket to keep for recovery (Node's `persistSession`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Its namespace.
    pub nsp: String,
    /// Its private id (`pid`, the key it is kept under).
    pub pid: String,
    /// Its public id (`sid`).
    pub id: String,
    /// Its rooms, its own id's included.
    pub rooms: Vec<String>,
    /// Its `data`.
    pub data: Value,
}

/// A client came back with `pid` and `offset`: look its session up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// Names the waiting connect in
    /// [`Server::handle_restore`](crate::Server::handle_restore).
    pub key: crate::RestoreKey,
    /// The namespace.
    pub nsp: String,
    /// The private id the client sent.
    pub pid: String,
    /// The last offset it received.
    pub offset: String,
}

/// A session found again, with the packets it missed, oldest first (each
/// a broadcast's packet, its offset already the last argument).
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The socket's public id.
    pub id: String,
    /// Its rooms.
    pub rooms: Vec<String>,
    /// Its `data`.
    pub data: Value,
    /// What it missed.
    pub missed: Vec<WirePacket>,
}

/// How a node knows the other nodes of its cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Membership {
    /// The `ClusterAdapterWithHeartbeat` way (sharded Redis adapter): nodes
    /// announce themselves and send heartbeats; a request waits for an
    /// answer from every node heard from lately.
    #[default]
    Heartbeat,
    /// The classic Redis adapter's way: no heartbeats; the transport counts
    /// the other nodes when it publishes a request (`PUBSUB NUMSUB`) and
    /// reports it with
    /// [`Server::handle_cluster_count`](crate::Server::handle_cluster_count).
    /// Until then a request cannot complete (it can still time out).
    Counted,
}

impl ClusterConfig {
    /// A node named `uid` with the official timings.
    pub fn new(uid: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
            requests_timeout: Duration::from_secs(5),
            membership: Membership::Heartbeat,
            stream_recovery: false,
        }
    }
}

/// The flags of an operation (`opts.flags`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFlags {
    /// Dropped where the transport is busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volatile: Option<bool>,
    /// Compression hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<bool>,
    /// This node only (never set on published messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    /// Ack timeout in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// Which sockets an operation reaches (`opts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireOptions {
    /// Sockets in any of these rooms; all if empty.
    pub rooms: Vec<String>,
    /// Minus these.
    pub except: Vec<String>,
    /// Flags.
    #[serde(default)]
    pub flags: WireFlags,
}

impl WireOptions {
    pub(crate) fn from_target(target: &Target, flags: WireFlags) -> Self {
        Self {
            rooms: target.rooms.iter().map(|r| r.to_string()).collect(),
            except: target.except.iter().map(|r| r.to_string()).collect(),
            flags,
        }
    }

    pub(crate) fn target(&self) -> Target {
        Target {
            rooms: self.rooms.iter().map(|r| Room::from(r.clone())).collect(),
            except: self.except.iter().map(|r| Room::from(r.clone())).collect(),
            local: true,
        }
    }
}

/// A broadcast packet (`{type, data, nsp, id}`); binary attachments ride
/// beside the JSON, their placeholders in `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePacket {
    /// The Socket.IO packet type (2 EVENT, 5 BINARY_EVENT).
    #[serde(rename = "type")]
    pub kind: u8,
    /// Event name and arguments.
    pub data: Vec<Value>,
    /// Namespace.
    pub nsp: String,
    /// Ack id, on broadcasts with acks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Binary attachments (not JSON: the transport encodes them).
    #[serde(skip)]
    pub attachments: Vec<Bytes>,
}

/// A socket of another node (`FETCH_SOCKETS_RESPONSE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSocket {
    /// Socket id.
    pub id: String,
    /// Its handshake as JSON.
    pub handshake: Value,
    /// Its rooms.
    pub rooms: Vec<String>,
    /// Its data.
    pub data: Value,
}

impl WireSocket {
    /// The socket as this node's API shows sockets, in namespace `nsp`:
    /// the handshake fields the other node sent (missing or mistyped ones
    /// are left empty; headers with a list value are joined with `, `).
    pub fn to_info(&self, nsp: &Nsp) -> SocketInfo {
        let h = &self.handshake;
        let text = |key: &str| h.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
        let headers: Headers = h
            .get("headers")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            Value::Array(list) => list
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", "),
                            _ => return None,
                        };
                        Some((k.clone(), v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Without a query object, the pairs are parsed from the url.
        let query = h.get("query").and_then(Value::as_object).map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        });
        let handshake = Handshake {
            headers,
            // Not text: made from `issued` when asked.
            sent_time: h.get("time").and_then(Value::as_str).map(str::to_owned),
            address: text("address"),
            xdomain: h.get("xdomain").and_then(Value::as_bool).unwrap_or(false),
            secure: h.get("secure").and_then(Value::as_bool).unwrap_or(false),
            peer_certificate: None,
            issued: h.get("issued").and_then(Value::as_u64).unwrap_or(0),
            url: text("url"),
            sent_query: query,
            auth: h
                .get("auth")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        SocketInfo {
            id: SocketId::new(&self.id),
            nsp: nsp.clone(),
            handshake: Arc::new(handshake),
            rooms: self.rooms.iter().map(|r| Room::from(r.clone())).collect(),
            data: self.data.clone(),
        }
    }
}

/// What nodes say to each other, by official message type.
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): a transport must
/// encode every message, so a new one should fail its build, not be
/// dropped at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterMessage {
    /// 1: a node starts; the others answer with a heartbeat.
    InitialHeartbeat,
    /// 2: a node is alive.
    Heartbeat,
    /// 3: a broadcast, with a request id when it waits for acks.
    Broadcast {
        /// Targets.
        opts: WireOptions,
        /// The packet.
        packet: WirePacket,
        /// Set when the sender collects acknowledgements.
        request_id: Option<String>,
    },
    /// 4: `socketsJoin`.
    SocketsJoin {
        /// Targets.
        opts: WireOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 5: `socketsLeave`.
    SocketsLeave {
        /// Targets.
        opts: WireOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 6: `disconnectSockets`.
    DisconnectSockets {
        /// Targets.
        opts: WireOptions,
        /// Close the connections too.
        close: bool,
    },
    /// 7: `fetchSockets`.
    FetchSockets {
        /// Targets.
        opts: WireOptions,
        /// The request.
        request_id: String,
    },
    /// 8: the answer to `FetchSockets`.
    FetchSocketsResponse {
        /// The request.
        request_id: String,
        /// The node's sockets.
        sockets: Vec<WireSocket>,
    },
    /// 9: `serverSideEmit`, with a request id when it waits for answers.
    ServerSideEmit {
        /// Set when the sender collects answers.
        request_id: Option<String>,
        /// Event name and arguments.
        packet: Vec<Value>,
    },
    /// 10: one node's answer to `ServerSideEmit`.
    ServerSideEmitResponse {
        /// The request.
        request_id: String,
        /// The answer.
        packet: Value,
    },
    /// 11: how many of a node's clients a broadcast with acks reached.
    BroadcastClientCount {
        /// The request.
        request_id: String,
        /// Clients reached there.
        client_count: usize,
    },
    /// 12: one client's acknowledgement of a broadcast, relayed.
    BroadcastAck {
        /// The request.
        request_id: String,
        /// The acknowledgement's arguments.
        packet: Value,
    },
    /// 13: a node leaves.
    AdapterClose,
}

impl ClusterMessage {
    /// The official message type number.
    pub fn kind(&self) -> u8 {
        match self {
            Self::InitialHeartbeat => 1,
            Self::Heartbeat => 2,
            Self::Broadcast { .. } => 3,
            Self::SocketsJoin { .. } => 4,
            Self::SocketsLeave { .. } => 5,
            Self::DisconnectSockets { .. } => 6,
            Self::FetchSockets { .. } => 7,
            Self::FetchSocketsResponse { .. } => 8,
            Self::ServerSideEmit { .. } => 9,
            Self::ServerSideEmitResponse { .. } => 10,
            Self::BroadcastClientCount { .. } => 11,
            Self::BroadcastAck { .. } => 12,
            Self::AdapterClose => 13,
        }
    }
}

/// A message with its sender and namespace; responses name the node they
/// answer (`to`), other messages are for every node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterEnvelope {
    /// The sending node.
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// For a response, the node that asked.
    pub to: Option<String>,
    /// The message.
    pub message: ClusterMessage,
}

/// Names a cluster request this node made (`fetchSockets`,
/// `serverSideEmit` with acks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey(pub u64);

/// How to answer a `serverSideEmit` that asked for an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSideReply {
    /// The asking node.
    pub node: String,
    /// Its namespace.
    pub nsp: String,
    /// Its request id.
    pub request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_socket_reads_back_with_lists_joined_and_bad_fields_empty() {
        let wire = WireSocket {
            id: "abc".into(),
            handshake: serde_json::json!({
                "headers": {"accept": "*/*", "x-list": ["a", "b"], "x-num": 3},
                "time": 12,
                "address": "::1",
                "xdomain": true,
                "issued": 7,
                "query": {"EIO": "4", "n": 1},
                "auth": {"token": "t"},
            }),
            rooms: vec!["abc".into(), "red".into()],
            data: serde_json::json!({"k": 1}),
        };
        let info = wire.to_info(&Nsp::from("/custom"));
        assert_eq!(info.id.as_str(), "abc");
        assert_eq!(info.nsp, "/custom");
        let h = &info.handshake;
        let headers: Vec<(&str, &str)> = h.headers.iter().collect();
        assert_eq!(headers, vec![("accept", "*/*"), ("x-list", "a, b")]);
        assert_eq!(h.sent_time, None, "a time that is not text is not kept");
        assert_eq!(
            h.time(),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)",
            "and is made from `issued`"
        );
        assert_eq!(h.address, "::1");
        assert!(h.xdomain && !h.secure);
        assert_eq!(h.issued, 7);
        assert_eq!(h.url, "");
        assert_eq!(h.sent_query, Some(vec![("EIO".to_owned(), "4".to_owned())]));
        assert_eq!(h.auth.get("token"), Some(&serde_json::json!("t")));
        assert_eq!(info.rooms, vec![Room::from("abc"), Room::from("red")]);
        assert_eq!(info.data, serde_json::json!({"k": 1}));
        // Not an object at all: every field empty, nothing panics.
        let odd = WireSocket {
            handshake: Value::Null,
            ..wire.clone()
        };
        let odd = odd.to_info(&Nsp::from("/"));
        assert_eq!(odd.handshake.issued, 0);
        assert!(odd.handshake.query().is_empty());
        // A node's text is kept as it sent it; no query object: the pairs
        // come from the url.
        let node = WireSocket {
            handshake: serde_json::json!({
                "time": "Mon Dec 07 2026 22:00:00 GMT+0100 (Central European Standard Time)",
                "url": "/socket.io/?EIO=4&transport=polling&t=a%20b",
            }),
            ..wire.clone()
        };
        let h = node.to_info(&Nsp::from("/")).handshake;
        assert_eq!(
            h.time(),
            "Mon Dec 07 2026 22:00:00 GMT+0100 (Central European Standard Time)"
        );
        assert_eq!(h.sent_query, None);
        assert_eq!(
            h.query().as_ref(),
            [
                ("EIO".to_owned(), "4".to_owned()),
                ("transport".to_owned(), "polling".to_owned()),
                ("t".to_owned(), "a b".to_owned()),
            ]
        );
    }
}
