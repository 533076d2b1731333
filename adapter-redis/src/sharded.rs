//! The sharded `@socket.io/redis-adapter` (`createShardedAdapter`) wire
//! format, sans-IO: the core's cluster messages as `{type, data, uid, nsp}`
//! objects on sharded channels. See the crate doc for the formats (and for
//! the I/O half, `RedisAdapter::sharded`).

use serde_json::Value;
use socketio_proto::ClusterMessage;
use socketio_proto::cluster::{ClusterEnvelope, WireOptions, WirePacket, WireSocket};

use crate::classic::{DecodeError, Publish};
use crate::msgpack::Pack;

/// Which channels a node subscribes to besides its namespace's and its own
/// response channel (`subscriptionMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubscriptionMode {
    /// None.
    Static,
    /// One per public room (not a socket id) the node has (the default).
    #[default]
    Dynamic,
    /// One per room, socket ids included.
    DynamicPrivate,
}

/// The sharded codec of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharded {
    /// The channel prefix (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// The subscription mode.
    pub mode: SubscriptionMode,
}

impl Default for Sharded {
    fn default() -> Self {
        Self {
            channel_prefix: "socket.io".into(),
            mode: SubscriptionMode::Dynamic,
        }
    }
}

/// Node's test for a private room: socket ids are 20 characters.
fn looks_like_a_socket_id(room: &str) -> bool {
    room.chars().count() == 20
}

impl Sharded {
    /// `<prefix>#<nsp>#`: every node of the namespace; `PUBSUB SHARDNUMSUB`
    /// of it counts them.
    pub fn namespace_channel(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.channel_prefix)
    }

    /// `<prefix>#<nsp>#<uid>#`: the answers for node `uid`.
    pub fn response_channel(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{nsp}#{uid}#", self.channel_prefix)
    }

    /// The channel of `room`, if this mode gives it one (`private`: the
    /// room is a socket's own).
    pub fn room_channel(&self, nsp: &str, room: &str, private: bool) -> Option<String> {
        let own = match self.mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::Dynamic => !private,
            SubscriptionMode::DynamicPrivate => true,
        };
        own.then(|| format!("{}#{nsp}#{room}#", self.channel_prefix))
    }

    /// Where and how to publish `envelope`; `None` for heartbeats and
    /// adapter close (this adapter counts nodes instead).
    pub fn encode(&self, envelope: &ClusterEnvelope) -> Option<Publish> {
        let Parts {
            channel,
            object,
            binary,
            count_request,
        } = self.parts(envelope)?;
        // JSON unless the message holds a buffer (only broadcasts carry
        // attachments in the core's model).
        let payload = if binary {
            object.encode()
        } else {
            let mut none = Vec::new();
            object.into_json(&mut none).to_string().into_bytes()
        };
        Some(Publish {
            channel,
            payload,
            count_request,
        })
    }

    /// The message object `{type, data, uid, nsp}` of `envelope` and where
    /// it goes (the streams mode shares it).
    pub(crate) fn parts(&self, envelope: &ClusterEnvelope) -> Option<Parts> {
        let ClusterEnvelope {
            uid,
            nsp,
            to,
            message,
        } = envelope;
        let mut channel = match to {
            Some(to) => self.response_channel(nsp, to),
            None => self.namespace_channel(nsp),
        };
        let str = |s: &str| Pack::Str(s.to_owned());
        let mut count_request = None;
        let mut binary = false;
        let data = match message {
            ClusterMessage::InitialHeartbeat
            | ClusterMessage::Heartbeat
            | ClusterMessage::AdapterClose => return None,
            ClusterMessage::Broadcast {
                opts,
                packet,
                request_id,
            } => {
                binary = !packet.attachments.is_empty();
                let mut data = vec![(
                    "packet".to_owned(),
                    crate::classic::pack_packet(packet, None),
                )];
                match request_id {
                    Some(id) => {
                        data.push(("requestId".into(), str(id)));
                        count_request = Some(id.clone());
                    }
                    // Node: one room, and a mode that gives it a channel
                    // ("dynamic" judges privacy by the id's length).
                    None => {
                        if let [room] = opts.rooms.as_slice() {
                            if let Some(c) =
                                self.room_channel(nsp, room, looks_like_a_socket_id(room))
                            {
                                channel = c;
                            }
                        }
                    }
                }
                data.push(("opts".into(), pack_opts(opts)));
                data
            }
            ClusterMessage::SocketsJoin { opts, rooms }
            | ClusterMessage::SocketsLeave { opts, rooms } => vec![
                ("opts".into(), pack_opts(opts)),
                (
                    "rooms".into(),
                    Pack::Array(rooms.iter().map(|r| str(r)).collect()),
                ),
            ],
            ClusterMessage::DisconnectSockets { opts, close } => vec![
                ("opts".into(), pack_opts(opts)),
                ("close".into(), Pack::Bool(*close)),
            ],
            ClusterMessage::FetchSockets { opts, request_id } => {
                count_request = Some(request_id.clone());
                vec![
                    ("opts".into(), pack_opts(opts)),
                    ("requestId".into(), str(request_id)),
                ]
            }
            ClusterMessage::FetchSocketsResponse {
                request_id,
                sockets,
            } => vec![
                ("requestId".into(), str(request_id)),
                (
                    "sockets".into(),
                    Pack::from_json(&serde_json::to_value(sockets).unwrap_or_default(), &[]),
                ),
            ],
            ClusterMessage::ServerSideEmit { request_id, packet } => {
                let mut data = Vec::new();
                if let Some(id) = request_id {
                    data.push(("requestId".to_owned(), str(id)));
                    count_request = Some(id.clone());
                }
                data.push((
                    "packet".into(),
                    Pack::Array(packet.iter().map(|v| Pack::from_json(v, &[])).collect()),
                ));
                data
            }
            ClusterMessage::ServerSideEmitResponse { request_id, packet } => vec![
                ("requestId".into(), str(request_id)),
                ("packet".into(), Pack::from_json(packet, &[])),
            ],
            ClusterMessage::BroadcastClientCount {
                request_id,
                client_count,
            } => vec![
                ("requestId".into(), str(request_id)),
                ("clientCount".into(), Pack::UInt(*client_count as u64)),
            ],
            ClusterMessage::BroadcastAck { request_id, packet } => {
                // Node relays the client's first argument only.
                let first = match packet {
                    Value::Array(args) => args.first().cloned().unwrap_or(Value::Null),
                    other => other.clone(),
                };
                vec![
                    ("requestId".into(), str(request_id)),
                    ("packet".into(), Pack::from_json(&first, &[])),
                ]
            }
        };
        let object = Pack::Map(vec![
            ("type".into(), Pack::UInt(u64::from(message.kind()))),
            ("data".into(), Pack::Map(data)),
            ("uid".into(), str(uid)),
            ("nsp".into(), str(nsp)),
        ]);
        Some(Parts {
            channel,
            object,
            binary,
            count_request,
        })
    }

    /// A message from a sharded channel. Answers name no recipient (`to`
    /// is `None`): the channel they came on was this node's own.
    pub fn decode(&self, payload: &[u8]) -> Result<ClusterEnvelope, DecodeError> {
        let message = if payload.first() == Some(&b'{') {
            let value: Value = serde_json::from_slice(payload)
                .map_err(|e| DecodeError::Undecodable(e.to_string()))?;
            Pack::from_json(&value, &[])
        } else {
            Pack::decode(payload)?
        };
        decode_object(&message)
    }
}

/// A message object `{type, data, uid, nsp}` read back (the streams mode
/// shares it).
pub(crate) fn decode_object(message: &Pack) -> Result<ClusterEnvelope, DecodeError> {
    {
        let text = |p: Option<&Pack>| match p {
            Some(Pack::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let uid = text(message.get("uid")).ok_or(DecodeError::Malformed("message without uid"))?;
        let nsp = text(message.get("nsp")).ok_or(DecodeError::Malformed("message without nsp"))?;
        let kind = match message.get("type") {
            Some(Pack::UInt(k)) => *k,
            _ => return Err(DecodeError::Malformed("message without type")),
        };
        let empty = Pack::Map(Vec::new());
        let data = message.get("data").unwrap_or(&empty);
        let request_id = text(data.get("requestId"));
        let need_id = || {
            request_id
                .clone()
                .ok_or(DecodeError::Malformed("without requestId"))
        };
        let opts = || {
            data.get("opts")
                .ok_or(DecodeError::Malformed("without opts"))
                .and_then(crate::classic::unpack_opts)
        };
        let rooms = || crate::classic::strings(data.get("rooms"));
        let json = |p: Option<&Pack>| {
            let mut bins = Vec::new();
            p.cloned().unwrap_or(Pack::Nil).into_json(&mut bins)
        };
        let message = match kind {
            1 => ClusterMessage::InitialHeartbeat,
            2 => ClusterMessage::Heartbeat,
            3 => {
                let packet = data
                    .get("packet")
                    .cloned()
                    .ok_or(DecodeError::Malformed("broadcast without packet"))?;
                let mut packet: WirePacket = crate::classic::unpack_packet(packet)?;
                if !matches!(
                    data.get("packet").and_then(|p| p.get("nsp")),
                    Some(Pack::Str(_))
                ) {
                    packet.nsp = nsp.clone();
                }
                ClusterMessage::Broadcast {
                    opts: opts()?,
                    packet,
                    request_id,
                }
            }
            4 => ClusterMessage::SocketsJoin {
                opts: opts()?,
                rooms: rooms()?,
            },
            5 => ClusterMessage::SocketsLeave {
                opts: opts()?,
                rooms: rooms()?,
            },
            6 => ClusterMessage::DisconnectSockets {
                opts: opts()?,
                close: matches!(data.get("close"), Some(Pack::Bool(true))),
            },
            7 => ClusterMessage::FetchSockets {
                opts: opts()?,
                request_id: need_id()?,
            },
            8 => {
                let sockets: Vec<WireSocket> = serde_json::from_value(json(data.get("sockets")))
                    .map_err(|_| {
                        DecodeError::Malformed("fetchSockets response with a bad socket")
                    })?;
                ClusterMessage::FetchSocketsResponse {
                    request_id: need_id()?,
                    sockets,
                }
            }
            9 => {
                let Value::Array(packet) = json(data.get("packet")) else {
                    return Err(DecodeError::Malformed("serverSideEmit without packet"));
                };
                ClusterMessage::ServerSideEmit { request_id, packet }
            }
            10 => ClusterMessage::ServerSideEmitResponse {
                request_id: need_id()?,
                packet: json(data.get("packet")),
            },
            11 => ClusterMessage::BroadcastClientCount {
                request_id: need_id()?,
                client_count: match data.get("clientCount") {
                    Some(Pack::UInt(n)) => *n as usize,
                    _ => return Err(DecodeError::Malformed("client count without clientCount")),
                },
            },
            12 => ClusterMessage::BroadcastAck {
                request_id: need_id()?,
                packet: Value::Array(vec![json(data.get("packet"))]),
            },
            13 => ClusterMessage::AdapterClose,
            other => return Err(DecodeError::Unsupported(other)),
        };
        Ok(ClusterEnvelope {
            uid,
            nsp,
            to: None,
            message,
        })
    }
}

/// A message object and where it goes.
pub(crate) struct Parts {
    pub(crate) channel: String,
    pub(crate) object: Pack,
    /// Whether it holds a buffer.
    pub(crate) binary: bool,
    pub(crate) count_request: Option<String>,
}

/// `{type: 2, data}`: Node publishes the packet before its adapter sets
/// `nsp` on it.
fn pack_opts(opts: &WireOptions) -> Pack {
    crate::classic::pack_opts(opts)
}
