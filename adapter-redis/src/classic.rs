//! The classic `@socket.io/redis-adapter` (`createAdapter`) wire format,
//! sans-IO: which channel each cluster message goes to and its bytes, and
//! back. See the crate doc for the formats.

use serde_json::{Map, Value, json};
use socketio_proto::ClusterMessage;
use socketio_proto::cluster::{ClusterEnvelope, WireFlags, WireOptions, WirePacket, WireSocket};

use crate::msgpack::{MsgpackError, Pack};

/// The classic adapter's request types (`RequestType` in the Node source).
mod request_type {
    pub(crate) const SOCKETS: u64 = 0;
    pub(crate) const ALL_ROOMS: u64 = 1;
    pub(crate) const REMOTE_JOIN: u64 = 2;
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    pub(crate) const REMOTE_FETCH: u64 = 5;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    pub(crate) const BROADCAST: u64 = 7;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub(crate) const BROADCAST_ACK: u64 = 9;
}

/// The classic codec of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classic {
    /// The channel prefix (`key`, default `socket.io`).
    pub key: String,
    /// Publish responses on the asking node's own channel
    /// (`publishOnSpecificResponseChannel`, default false).
    pub specific_response_channel: bool,
}

/// The channels of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceChannels {
    /// `<key>#<nsp>#*`: broadcasts (pattern subscription).
    pub broadcast_pattern: String,
    /// `<key>-request#<nsp>#`: requests; `PUBSUB NUMSUB` of it counts nodes.
    pub request: String,
    /// `<key>-response#<nsp>#`: responses.
    pub response: String,
    /// `<key>-response#<nsp>#<uid>#`: responses for this node only.
    pub specific_response: String,
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The channel.
    pub channel: String,
    /// The message.
    pub payload: Vec<u8>,
    /// For a request that waits for answers: its request id. Count the other
    /// nodes (`PUBSUB NUMSUB` of `channel`, minus this node) and report it
    /// with `Server::handle_cluster_count`.
    pub count_request: Option<String>,
}

/// On which kind of channel a message came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// A broadcast channel (`<key>#<nsp>#...`).
    Broadcast,
    /// The request channel.
    Request,
    /// A response channel.
    Response,
}

/// Why a message from a channel was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, not msgpack.
    #[error("undecodable message: {0}")]
    Undecodable(String),
    /// Decoded, but not the shape of any message this adapter knows.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A request type this node does not serve (`SOCKETS`, `ALL_ROOMS`,
    /// per-socket remote join/leave/disconnect, or unknown).
    #[error("unsupported request type {0}")]
    Unsupported(u64),
}

impl From<MsgpackError> for DecodeError {
    fn from(e: MsgpackError) -> Self {
        Self::Undecodable(e.to_string())
    }
}

impl Default for Classic {
    fn default() -> Self {
        Self {
            key: "socket.io".into(),
            specific_response_channel: false,
        }
    }
}

impl Classic {
    /// The channels of namespace `nsp` for node `uid`.
    pub fn channels(&self, nsp: &str, uid: &str) -> NamespaceChannels {
        let key = &self.key;
        NamespaceChannels {
            broadcast_pattern: format!("{key}#{nsp}#*"),
            request: format!("{key}-request#{nsp}#"),
            response: format!("{key}-response#{nsp}#"),
            specific_response: format!("{key}-response#{nsp}#{uid}#"),
        }
    }

    /// Where and how to publish `envelope`; `None` for messages the
    /// classic adapter has no form for (heartbeats, adapter close: it
    /// counts nodes with `PUBSUB NUMSUB` instead).
    pub fn encode(&self, envelope: &ClusterEnvelope) -> Option<Publish> {
        let ClusterEnvelope { uid, nsp, to, .. } = envelope;
        let channels = self.channels(nsp, uid);
        let response_channel = match to {
            Some(to) if self.specific_response_channel => {
                format!("{}-response#{nsp}#{to}#", self.key)
            }
            _ => channels.response.clone(),
        };
        let json = |v: Value| v.to_string().into_bytes();
        let publish = |channel: String, payload: Vec<u8>| Publish {
            channel,
            payload,
            count_request: None,
        };
        Some(match &envelope.message {
            ClusterMessage::InitialHeartbeat
            | ClusterMessage::Heartbeat
            | ClusterMessage::AdapterClose => return None,
            ClusterMessage::Broadcast {
                opts,
                packet,
                request_id: None,
            } => {
                let mut channel = format!("{}#{nsp}#", self.key);
                if let [room] = opts.rooms.as_slice() {
                    channel.push_str(room);
                    channel.push('#');
                }
                let message = Pack::Array(vec![
                    Pack::Str(uid.clone()),
                    pack_packet(packet, Some(nsp)),
                    pack_opts(opts),
                ]);
                publish(channel, message.encode())
            }
            ClusterMessage::Broadcast {
                opts,
                packet,
                request_id: Some(id),
            } => {
                let message = Pack::Map(vec![
                    ("uid".into(), Pack::Str(uid.clone())),
                    ("requestId".into(), Pack::Str(id.clone())),
                    ("type".into(), Pack::UInt(request_type::BROADCAST)),
                    ("packet".into(), pack_packet(packet, Some(nsp))),
                    ("opts".into(), pack_opts(opts)),
                ]);
                Publish {
                    channel: channels.request,
                    payload: message.encode(),
                    count_request: Some(id.clone()),
                }
            }
            ClusterMessage::SocketsJoin { opts, rooms }
            | ClusterMessage::SocketsLeave { opts, rooms } => {
                let kind = if matches!(envelope.message, ClusterMessage::SocketsJoin { .. }) {
                    request_type::REMOTE_JOIN
                } else {
                    request_type::REMOTE_LEAVE
                };
                publish(
                    channels.request,
                    json(json!({"uid": uid, "type": kind, "opts": targets(opts), "rooms": rooms})),
                )
            }
            ClusterMessage::DisconnectSockets { opts, close } => publish(
                channels.request,
                json(
                    json!({"uid": uid, "type": request_type::REMOTE_DISCONNECT, "opts": targets(opts), "close": close}),
                ),
            ),
            ClusterMessage::FetchSockets { opts, request_id } => Publish {
                channel: channels.request,
                payload: json(
                    json!({"uid": uid, "requestId": request_id, "type": request_type::REMOTE_FETCH, "opts": targets(opts)}),
                ),
                count_request: Some(request_id.clone()),
            },
            ClusterMessage::FetchSocketsResponse {
                request_id,
                sockets,
            } => publish(
                response_channel,
                json(json!({"requestId": request_id, "sockets": sockets})),
            ),
            ClusterMessage::ServerSideEmit {
                request_id: None,
                packet,
            } => publish(
                channels.request,
                json(json!({"uid": uid, "type": request_type::SERVER_SIDE_EMIT, "data": packet})),
            ),
            ClusterMessage::ServerSideEmit {
                request_id: Some(id),
                packet,
            } => Publish {
                channel: channels.request,
                payload: json(
                    json!({"uid": uid, "requestId": id, "type": request_type::SERVER_SIDE_EMIT, "data": packet}),
                ),
                count_request: Some(id.clone()),
            },
            // Node always answers on the shared response channel here.
            ClusterMessage::ServerSideEmitResponse { request_id, packet } => publish(
                channels.response,
                json(
                    json!({"type": request_type::SERVER_SIDE_EMIT, "requestId": request_id, "data": packet}),
                ),
            ),
            ClusterMessage::BroadcastClientCount {
                request_id,
                client_count,
            } => publish(
                response_channel,
                json(
                    json!({"type": request_type::BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": client_count}),
                ),
            ),
            ClusterMessage::BroadcastAck { request_id, packet } => {
                // Node relays the client's first argument only.
                let first = match packet {
                    Value::Array(args) => args.first().cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                let message = Pack::Map(vec![
                    ("type".into(), Pack::UInt(request_type::BROADCAST_ACK)),
                    ("requestId".into(), Pack::Str(request_id.clone())),
                    ("packet".into(), Pack::from_json(&first, &[])),
                ]);
                publish(response_channel, message.encode())
            }
        })
    }

    /// A message that came on a channel of kind `kind` of namespace `nsp`.
    /// Responses carry no sender: their `uid` is empty.
    pub fn decode(
        &self,
        nsp: &str,
        kind: ChannelKind,
        payload: &[u8],
    ) -> Result<ClusterEnvelope, DecodeError> {
        let envelope = |uid: String, message| ClusterEnvelope {
            uid,
            nsp: nsp.to_owned(),
            to: None,
            message,
        };
        match kind {
            ChannelKind::Broadcast => {
                let Pack::Array(items) = Pack::decode(payload)? else {
                    return Err(DecodeError::Malformed(
                        "broadcast is not [uid, packet, opts]",
                    ));
                };
                let mut items = items.into_iter();
                let (Some(Pack::Str(uid)), Some(packet), Some(opts)) =
                    (items.next(), items.next(), items.next())
                else {
                    return Err(DecodeError::Malformed(
                        "broadcast is not [uid, packet, opts]",
                    ));
                };
                let packet = unpack_packet(packet)?;
                if packet.nsp != nsp {
                    return Err(DecodeError::Malformed("broadcast for another namespace"));
                }
                let opts = unpack_opts(&opts)?;
                Ok(envelope(
                    uid,
                    ClusterMessage::Broadcast {
                        opts,
                        packet,
                        request_id: None,
                    },
                ))
            }
            ChannelKind::Request => {
                let request = read_message(payload)?;
                let uid = request
                    .get("uid")
                    .and_then(Pack::as_str)
                    .unwrap_or("")
                    .to_owned();
                let request_id = request
                    .get("requestId")
                    .and_then(Pack::as_str)
                    .map(str::to_owned);
                let kind = request
                    .get("type")
                    .and_then(Pack::as_u64)
                    .ok_or(DecodeError::Malformed("request without type"))?;
                let message = match kind {
                    request_type::REMOTE_JOIN | request_type::REMOTE_LEAVE => {
                        let opts = request.get("opts").ok_or(DecodeError::Unsupported(kind))?;
                        let opts = unpack_opts(opts)?;
                        let rooms = strings(request.get("rooms"))?;
                        if kind == request_type::REMOTE_JOIN {
                            ClusterMessage::SocketsJoin { opts, rooms }
                        } else {
                            ClusterMessage::SocketsLeave { opts, rooms }
                        }
                    }
                    request_type::REMOTE_DISCONNECT => {
                        let opts = request.get("opts").ok_or(DecodeError::Unsupported(kind))?;
                        ClusterMessage::DisconnectSockets {
                            opts: unpack_opts(opts)?,
                            close: matches!(request.get("close"), Some(Pack::Bool(true))),
                        }
                    }
                    request_type::REMOTE_FETCH => ClusterMessage::FetchSockets {
                        opts: unpack_opts(
                            request
                                .get("opts")
                                .ok_or(DecodeError::Malformed("fetch without opts"))?,
                        )?,
                        request_id: request_id
                            .ok_or(DecodeError::Malformed("fetch without requestId"))?,
                    },
                    request_type::SERVER_SIDE_EMIT => {
                        let Some(Pack::Array(data)) = request.get("data").cloned() else {
                            return Err(DecodeError::Malformed("serverSideEmit without data"));
                        };
                        let mut bins = Vec::new();
                        let packet = data.into_iter().map(|v| v.into_json(&mut bins)).collect();
                        ClusterMessage::ServerSideEmit { request_id, packet }
                    }
                    request_type::BROADCAST => ClusterMessage::Broadcast {
                        opts: unpack_opts(
                            request
                                .get("opts")
                                .ok_or(DecodeError::Malformed("broadcast without opts"))?,
                        )?,
                        packet: unpack_packet(
                            request
                                .get("packet")
                                .cloned()
                                .ok_or(DecodeError::Malformed("broadcast without packet"))?,
                        )?,
                        request_id: Some(
                            request_id
                                .ok_or(DecodeError::Malformed("broadcast without requestId"))?,
                        ),
                    },
                    other => return Err(DecodeError::Unsupported(other)),
                };
                Ok(envelope(uid, message))
            }
            ChannelKind::Response => {
                let response = read_message(payload)?;
                let request_id = response
                    .get("requestId")
                    .and_then(Pack::as_str)
                    .ok_or(DecodeError::Malformed("response without requestId"))?
                    .to_owned();
                let message = match response.get("type").and_then(Pack::as_u64) {
                    Some(request_type::SERVER_SIDE_EMIT) => {
                        let mut bins = Vec::new();
                        ClusterMessage::ServerSideEmitResponse {
                            request_id,
                            packet: response
                                .get("data")
                                .cloned()
                                .unwrap_or(Pack::Nil)
                                .into_json(&mut bins),
                        }
                    }
                    Some(request_type::BROADCAST_CLIENT_COUNT) => {
                        ClusterMessage::BroadcastClientCount {
                            request_id,
                            client_count: response
                                .get("clientCount")
                                .and_then(Pack::as_u64)
                                .ok_or(DecodeError::Malformed("client count without clientCount"))?
                                as usize,
                        }
                    }
                    Some(request_type::BROADCAST_ACK) => {
                        let mut bins = Vec::new();
                        let arg = response
                            .get("packet")
                            .cloned()
                            .unwrap_or(Pack::Nil)
                            .into_json(&mut bins);
                        ClusterMessage::BroadcastAck {
                            request_id,
                            packet: Value::Array(vec![arg]),
                        }
                    }
                    Some(other) => return Err(DecodeError::Unsupported(other)),
                    // fetchSockets answers carry no type, only `sockets`.
                    None => {
                        let Some(Pack::Array(list)) = response.get("sockets").cloned() else {
                            return Err(DecodeError::Malformed("response without type or sockets"));
                        };
                        let mut bins = Vec::new();
                        let sockets = list
                            .into_iter()
                            .map(|s| serde_json::from_value::<WireSocket>(s.into_json(&mut bins)))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|_| {
                                DecodeError::Malformed("fetchSockets response with a bad socket")
                            })?;
                        ClusterMessage::FetchSocketsResponse {
                            request_id,
                            sockets,
                        }
                    }
                };
                Ok(envelope(String::new(), message))
            }
        }
    }
}

/// A classic request about this node's own state that the core's message
/// model has no type for (Node's `adapter.sockets(rooms)` and
/// `allRooms()`): the transport answers it from the core directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalQuery {
    /// 0 `SOCKETS`: the ids of the sockets in any of `rooms` (all if empty).
    Sockets {
        /// The asking node.
        uid: String,
        /// The request.
        request_id: String,
        /// The rooms.
        rooms: Vec<String>,
    },
    /// 1 `ALL_ROOMS`: every room of the namespace.
    AllRooms {
        /// The asking node.
        uid: String,
        /// The request.
        request_id: String,
    },
}

impl Classic {
    /// A `SOCKETS` or `ALL_ROOMS` request from the request channel, or
    /// `None` for anything else (including what does not decode).
    pub fn decode_local_query(&self, payload: &[u8]) -> Option<LocalQuery> {
        let request = read_message(payload).ok()?;
        let uid = request.get("uid")?.as_str()?.to_owned();
        let request_id = request.get("requestId")?.as_str()?.to_owned();
        match request.get("type")?.as_u64()? {
            request_type::SOCKETS => Some(LocalQuery::Sockets {
                uid,
                request_id,
                rooms: strings(request.get("rooms")).ok()?,
            }),
            request_type::ALL_ROOMS => Some(LocalQuery::AllRooms { uid, request_id }),
            _ => None,
        }
    }

    /// The answer to a [`LocalQuery`] of namespace `nsp`: `items` are the
    /// socket ids (`SOCKETS`) or the rooms (`ALL_ROOMS`). JSON
    /// `{"requestId","sockets":[...]}` / `{"requestId","rooms":[...]}` on
    /// the response channel (the asker's own with
    /// `specific_response_channel`).
    pub fn answer_local_query(&self, nsp: &str, query: &LocalQuery, items: &[String]) -> Publish {
        let (uid, body) = match query {
            LocalQuery::Sockets {
                uid, request_id, ..
            } => (uid, json!({"requestId": request_id, "sockets": items})),
            LocalQuery::AllRooms { uid, request_id } => {
                (uid, json!({"requestId": request_id, "rooms": items}))
            }
        };
        let channel = if self.specific_response_channel {
            format!("{}-response#{nsp}#{uid}#", self.key)
        } else {
            format!("{}-response#{nsp}#", self.key)
        };
        Publish {
            channel,
            payload: body.to_string().into_bytes(),
            count_request: None,
        }
    }
}

impl Pack {
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Self::UInt(u) => Some(*u),
            Self::Float(f) if *f >= 0.0 && f.fract() == 0.0 => Some(*f as u64),
            _ => None,
        }
    }
}

/// A request or response: JSON if it starts with `{`, else msgpack (as
/// Node reads them).
fn read_message(payload: &[u8]) -> Result<Pack, DecodeError> {
    let pack = if payload.first() == Some(&b'{') {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| DecodeError::Undecodable(e.to_string()))?;
        Pack::from_json(&value, &[])
    } else {
        Pack::decode(payload)?
    };
    if matches!(pack, Pack::Map(_)) {
        Ok(pack)
    } else {
        Err(DecodeError::Malformed("message is not an object"))
    }
}

/// `{type, data, nsp}`, buffers in place of the placeholders. Node's
/// packets say EVENT (2) even with buffers: its encoder finds them.
/// A packet as Node's adapters pack it: `{type: 2, data}`, with `nsp` last
/// where the format carries it (the classic one does, the sharded one
/// does not).
pub(crate) fn pack_packet(packet: &WirePacket, nsp: Option<&str>) -> Pack {
    let mut fields = vec![
        ("type".into(), Pack::UInt(2)),
        (
            "data".into(),
            Pack::Array(
                packet
                    .data
                    .iter()
                    .map(|v| Pack::from_json(v, &packet.attachments))
                    .collect(),
            ),
        ),
    ];
    if let Some(nsp) = nsp {
        fields.push(("nsp".into(), Pack::Str(nsp.to_owned())));
    }
    Pack::Map(fields)
}

pub(crate) fn unpack_packet(packet: Pack) -> Result<WirePacket, DecodeError> {
    let Some(Pack::Array(data)) = packet.get("data").cloned() else {
        return Err(DecodeError::Malformed("packet without data"));
    };
    let packet_nsp = match packet.get("nsp") {
        Some(Pack::Str(s)) => s.clone(),
        // Node reads a packet without nsp as the main namespace.
        _ => "/".to_owned(),
    };
    let mut attachments = Vec::new();
    let data: Vec<Value> = data
        .into_iter()
        .map(|v| v.into_json(&mut attachments))
        .collect();
    Ok(WirePacket {
        kind: if attachments.is_empty() { 2 } else { 5 },
        data,
        nsp: packet_nsp,
        id: None,
        attachments,
    })
}

/// `{rooms, except, flags}`; flags as Node sets them.
pub(crate) fn pack_opts(opts: &WireOptions) -> Pack {
    let mut flags = Vec::new();
    let WireFlags {
        volatile,
        compress,
        local,
        timeout,
    } = &opts.flags;
    if let Some(v) = volatile {
        flags.push(("volatile".to_owned(), Pack::Bool(*v)));
    }
    if let Some(c) = compress {
        flags.push(("compress".to_owned(), Pack::Bool(*c)));
    }
    if let Some(l) = local {
        flags.push(("local".to_owned(), Pack::Bool(*l)));
    }
    if let Some(t) = timeout {
        flags.push(("timeout".to_owned(), Pack::UInt(*t)));
    }
    let list = |v: &[String]| Pack::Array(v.iter().map(|s| Pack::Str(s.clone())).collect());
    Pack::Map(vec![
        ("rooms".into(), list(&opts.rooms)),
        ("except".into(), list(&opts.except)),
        ("flags".into(), Pack::Map(flags)),
    ])
}

pub(crate) fn unpack_opts(opts: &Pack) -> Result<WireOptions, DecodeError> {
    if !matches!(opts, Pack::Map(_)) {
        return Err(DecodeError::Malformed("opts is not an object"));
    }
    let flag = |name: &str| match opts.get("flags").and_then(|f| f.get(name)) {
        Some(Pack::Bool(b)) => Some(*b),
        _ => None,
    };
    Ok(WireOptions {
        rooms: strings(opts.get("rooms"))?,
        except: strings(opts.get("except"))?,
        flags: WireFlags {
            volatile: flag("volatile"),
            compress: flag("compress"),
            local: None,
            timeout: opts
                .get("flags")
                .and_then(|f| f.get("timeout"))
                .and_then(Pack::as_u64),
        },
    })
}

/// `{rooms, except}` of a JSON request.
fn targets(opts: &WireOptions) -> Value {
    let mut map = Map::new();
    map.insert("rooms".into(), json!(opts.rooms));
    map.insert("except".into(), json!(opts.except));
    Value::Object(map)
}

/// A list of room names; absent is empty; numbers (Node rooms may be
/// numbers) are written as text.
pub(crate) fn strings(list: Option<&Pack>) -> Result<Vec<String>, DecodeError> {
    match list {
        None | Some(Pack::Nil) => Ok(Vec::new()),
        Some(Pack::Array(items)) => items
            .iter()
            .map(|i| match i {
                Pack::Str(s) => Ok(s.clone()),
                Pack::UInt(u) => Ok(u.to_string()),
                Pack::Int(n) => Ok(n.to_string()),
                _ => Err(DecodeError::Malformed("a room is not text")),
            })
            .collect(),
        Some(_) => Err(DecodeError::Malformed("rooms is not a list")),
    }
}
