//! The `@socket.io/redis-streams-adapter` 0.3.1 wire format, sans-IO: which
//! messages go to the stream and as which entry fields, which go over
//! pub/sub and as which bytes, the session record, and the replay of a
//! stream range for a session. See the crate doc for the formats (and for
//! the I/O half, `RedisAdapter::streams`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use socketio_proto::cluster::{ClusterEnvelope, WirePacket};
use socketio_proto::{ClusterMessage, SessionRecord};

use crate::classic::{DecodeError, Publish};
use crate::msgpack::Pack;
use crate::sharded::{Parts, Sharded, SubscriptionMode, decode_object};

/// The streams codec of one node, with Node's option names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streams {
    /// The stream (`streamName`, default `socket.io`; one stream:
    /// `streamCount` 1).
    pub stream_name: String,
    /// The pub/sub channel prefix (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// `MAXLEN ~` of every `XADD` (`maxLen`, default 10 000).
    pub max_len: usize,
    /// `COUNT` of every `XREAD` (`readCount`, default 100).
    pub read_count: usize,
    /// `BLOCK` of every `XREAD` in ms (`blockTimeInMs`, default 5000).
    pub block_ms: u64,
    /// The prefix of session keys (`sessionKeyPrefix`, default
    /// `sio:session:`).
    pub session_key_prefix: String,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            stream_name: "socket.io".into(),
            channel_prefix: "socket.io".into(),
            max_len: 10_000,
            read_count: 100,
            block_ms: 5_000,
            session_key_prefix: "sio:session:".into(),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamsOut {
    /// `XADD <stream> MAXLEN ~ <maxLen> * uid .. nsp .. type .. data ..`:
    /// the entry's fields, in that order.
    Entry(Vec<(&'static str, String)>),
    /// `PUBLISH` (requests on the namespace's public channel, answers on
    /// the asker's private channel).
    Publish(Publish),
}

/// A session read back from its key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    /// The socket's public id (`sid`).
    pub id: String,
    /// Its private id (`pid`).
    pub pid: String,
    /// Its rooms.
    pub rooms: Vec<String>,
    /// Its `data` (`null` when Node had `undefined`).
    pub data: Value,
}

impl Streams {
    fn pubsub(&self) -> Sharded {
        Sharded {
            channel_prefix: self.channel_prefix.clone(),
            mode: SubscriptionMode::Static,
        }
    }

    /// `<prefix>#<nsp>#`: the requests of a namespace; `PUBSUB NUMSUB` of
    /// it counts the nodes.
    pub fn public_channel(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.channel_prefix)
    }

    /// `<prefix>#<nsp>#<uid>#`: the answers for node `uid`.
    pub fn private_channel(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{nsp}#{uid}#", self.channel_prefix)
    }

    /// The key of session `pid`.
    pub fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.session_key_prefix)
    }

    /// Where and how `envelope` goes; `None` for heartbeats and adapter
    /// close (0.3.1 counts nodes with `PUBSUB NUMSUB` instead).
    pub fn encode(&self, envelope: &ClusterEnvelope) -> Option<StreamsOut> {
        let Parts {
            channel: _,
            object,
            binary,
            count_request,
        } = self.pubsub().parts(envelope)?;
        let stored = envelope.to.is_none()
            && matches!(
                envelope.message,
                ClusterMessage::Broadcast {
                    request_id: None,
                    ..
                } | ClusterMessage::SocketsJoin { .. }
                    | ClusterMessage::SocketsLeave { .. }
                    | ClusterMessage::DisconnectSockets { .. }
            );
        if !stored {
            // Ephemeral: the whole object as msgpack, always.
            let channel = match &envelope.to {
                Some(to) => self.private_channel(&envelope.nsp, to),
                None => self.public_channel(&envelope.nsp),
            };
            return Some(StreamsOut::Publish(Publish {
                channel,
                payload: object.encode(),
                count_request,
            }));
        }
        let data = object.get("data").cloned().unwrap_or(Pack::Map(Vec::new()));
        let data = if binary {
            BASE64.encode(data.encode())
        } else {
            let mut none = Vec::new();
            data.into_json(&mut none).to_string()
        };
        Some(StreamsOut::Entry(vec![
            ("uid", envelope.uid.clone()),
            ("nsp", envelope.nsp.clone()),
            ("type", envelope.message.kind().to_string()),
            ("data", data),
        ]))
    }

    /// A message from a pub/sub channel (msgpack).
    pub fn decode_message(&self, payload: &[u8]) -> Result<ClusterEnvelope, DecodeError> {
        decode_object(&Pack::decode(payload)?)
    }

    /// A stream entry's fields (in any order; unknown fields ignored).
    /// `Ok(None)` for an entry without `nsp` (Node skips those).
    pub fn decode_entry(
        &self,
        fields: &[(String, Vec<u8>)],
    ) -> Result<Option<ClusterEnvelope>, DecodeError> {
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_slice())
        };
        let text = |name: &str| -> Result<Option<String>, DecodeError> {
            field(name)
                .map(|v| {
                    String::from_utf8(v.to_vec())
                        .map_err(|_| DecodeError::Malformed("a field is not UTF-8"))
                })
                .transpose()
        };
        let Some(nsp) = text("nsp")? else {
            return Ok(None);
        };
        let uid = text("uid")?.ok_or(DecodeError::Malformed("entry without uid"))?;
        let kind: u64 = text("type")?
            .and_then(|t| t.parse().ok())
            .ok_or(DecodeError::Malformed("entry without a numeric type"))?;
        let data = match field("data") {
            None | Some([]) => Pack::Map(Vec::new()),
            Some(raw @ [b'{', ..]) => {
                let value: Value = serde_json::from_slice(raw)
                    .map_err(|e| DecodeError::Undecodable(e.to_string()))?;
                Pack::from_json(&value, &[])
            }
            Some(raw) => {
                let bytes = BASE64
                    .decode(raw)
                    .map_err(|e| DecodeError::Undecodable(format!("base64: {e}")))?;
                Pack::decode(&bytes)?
            }
        };
        let object = Pack::Map(vec![
            ("type".into(), Pack::UInt(kind)),
            ("data".into(), data),
            ("uid".into(), Pack::Str(uid)),
            ("nsp".into(), Pack::Str(nsp)),
        ]);
        decode_object(&object).map(Some)
    }

    /// A session as its key's value: base64 of msgpack `{sid, pid, rooms,
    /// data}`.
    pub fn encode_session(&self, session: &SessionRecord) -> String {
        let object = Pack::Map(vec![
            ("sid".into(), Pack::Str(session.id.clone())),
            ("pid".into(), Pack::Str(session.pid.clone())),
            (
                "rooms".into(),
                Pack::Array(session.rooms.iter().map(|r| Pack::Str(r.clone())).collect()),
            ),
            ("data".into(), Pack::from_json(&session.data, &[])),
        ]);
        BASE64.encode(object.encode())
    }

    /// A session key's value read back.
    pub fn decode_session(&self, value: &[u8]) -> Result<StoredSession, DecodeError> {
        let bytes = BASE64
            .decode(value)
            .map_err(|e| DecodeError::Undecodable(format!("base64: {e}")))?;
        let object = Pack::decode(&bytes)?;
        let text = |name: &'static str| match object.get(name) {
            Some(Pack::Str(s)) => Ok(s.clone()),
            _ => Err(DecodeError::Malformed(name)),
        };
        let mut bins = Vec::new();
        Ok(StoredSession {
            id: text("sid")?,
            pid: text("pid")?,
            rooms: crate::classic::strings(object.get("rooms"))?,
            data: object
                .get("data")
                .cloned()
                .unwrap_or(Pack::Nil)
                .into_json(&mut bins),
        })
    }

    /// What a session in `rooms` of namespace `nsp` missed in the entry
    /// `id` (Node's `restoreSession` filter): a broadcast of that namespace
    /// that reaches one of its rooms and none of its rooms is excluded
    /// from, its offset appended; `Ok(None)` for anything else.
    pub fn missed_packet(
        &self,
        nsp: &str,
        rooms: &[String],
        id: &str,
        fields: &[(String, Vec<u8>)],
    ) -> Result<Option<WirePacket>, DecodeError> {
        let is = |name: &str, value: &[u8]| fields.iter().any(|(k, v)| k == name && v == value);
        if !is("nsp", nsp.as_bytes()) || !is("type", b"3") {
            return Ok(None);
        }
        let Some(envelope) = self.decode_entry(fields)? else {
            return Ok(None);
        };
        let ClusterMessage::Broadcast {
            opts, mut packet, ..
        } = envelope.message
        else {
            return Ok(None);
        };
        let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
        let excluded = rooms.iter().any(|r| opts.except.contains(r));
        if !included || excluded {
            return Ok(None);
        }
        packet.data.push(Value::String(id.to_owned()));
        Ok(Some(packet))
    }
}

/// Node's check of a client's offset: `<digits>-<digits>`.
pub fn valid_offset(offset: &str) -> bool {
    match offset.split_once('-') {
        Some((ms, seq)) => {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            digits(ms) && digits(seq)
        }
        None => false,
    }
}

/// The smallest stream id after `offset` (exclusive ranges without Redis
/// 6.2's `(`), as Node's `nextOffset`; `None` for an invalid offset.
pub fn next_offset(offset: &str) -> Option<String> {
    let (ms, seq) = parse_id(offset)?;
    Some(match seq.checked_add(1) {
        Some(seq) => format!("{ms}-{seq}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

/// A stream id as `(ms, seq)`.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    if !valid_offset(id) {
        return None;
    }
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;
    use socketio_proto::cluster::WireOptions;

    fn fields(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn broadcast(
        rooms: &[&str],
        except: &[&str],
        data: Vec<Value>,
        bins: Vec<Bytes>,
    ) -> ClusterEnvelope {
        ClusterEnvelope {
            uid: "n1".into(),
            nsp: "/".into(),
            to: None,
            message: ClusterMessage::Broadcast {
                opts: WireOptions {
                    rooms: rooms.iter().map(|s| s.to_string()).collect(),
                    except: except.iter().map(|s| s.to_string()).collect(),
                    ..WireOptions::default()
                },
                packet: WirePacket {
                    kind: if bins.is_empty() { 2 } else { 5 },
                    data,
                    nsp: "/".into(),
                    id: None,
                    attachments: bins,
                },
                request_id: None,
            },
        }
    }

    #[test]
    fn a_plain_broadcast_is_an_entry_with_json_data() {
        let codec = Streams::default();
        let out = codec
            .encode(&broadcast(
                &["r"],
                &["x"],
                vec![json!("ev"), json!(1)],
                vec![],
            ))
            .unwrap();
        assert_eq!(
            out,
            StreamsOut::Entry(vec![
                ("uid", "n1".into()),
                ("nsp", "/".into()),
                ("type", "3".into()),
                (
                    "data",
                    r#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r"],"except":["x"],"flags":{}}}"#
                        .into()
                ),
            ])
        );
        let StreamsOut::Entry(f) = out else { panic!() };
        let f: Vec<(String, Vec<u8>)> = f
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_bytes()))
            .collect();
        let back = codec.decode_entry(&f).unwrap().unwrap();
        assert_eq!(
            back,
            broadcast(&["r"], &["x"], vec![json!("ev"), json!(1)], vec![])
        );
    }

    #[test]
    fn a_binary_broadcast_is_base64_msgpack_of_the_data() {
        let codec = Streams::default();
        let envelope = broadcast(
            &[],
            &[],
            vec![json!("b"), json!({"_placeholder": true, "num": 0})],
            vec![Bytes::from_static(&[1, 2])],
        );
        let StreamsOut::Entry(f) = codec.encode(&envelope).unwrap() else {
            panic!()
        };
        let data = &f[3].1;
        // {packet: {type: 2, data: ["b", bin(0102)]}, opts: {rooms: [], except: [], flags: {}}}
        let expected: Vec<u8> = [
            &[0x82, 0xa6][..],
            b"packet",
            &[0x82, 0xa4],
            b"type",
            &[0x02, 0xa4],
            b"data",
            &[0x92, 0xa1, b'b', 0xc4, 0x02, 0x01, 0x02, 0xa4],
            b"opts",
            &[0x83, 0xa5],
            b"rooms",
            &[0x90, 0xa6],
            b"except",
            &[0x90, 0xa5],
            b"flags",
            &[0x80],
        ]
        .concat();
        assert_eq!(BASE64.decode(data).unwrap(), expected);
        let f: Vec<(String, Vec<u8>)> = f
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_bytes()))
            .collect();
        assert_eq!(codec.decode_entry(&f).unwrap().unwrap(), envelope);
    }

    #[test]
    fn requests_and_answers_go_over_pubsub_as_msgpack() {
        let codec = Streams::default();
        let request = ClusterEnvelope {
            uid: "n1".into(),
            nsp: "/".into(),
            to: None,
            message: ClusterMessage::ServerSideEmit {
                request_id: Some("q1".into()),
                packet: vec![json!("hi")],
            },
        };
        let StreamsOut::Publish(p) = codec.encode(&request).unwrap() else {
            panic!()
        };
        assert_eq!(p.channel, "socket.io#/#");
        assert_eq!(p.count_request.as_deref(), Some("q1"));
        let mut expected = vec![0x84, 0xa4];
        expected.extend(b"type");
        expected.extend([0x09, 0xa4]);
        expected.extend(b"data");
        expected.extend([0x82, 0xa9]);
        expected.extend(b"requestId");
        expected.extend([0xa2, b'q', b'1', 0xa6]);
        expected.extend(b"packet");
        expected.extend([0x91, 0xa2, b'h', b'i', 0xa3]);
        expected.extend(b"uid");
        expected.extend([0xa2, b'n', b'1', 0xa3]);
        expected.extend(b"nsp");
        expected.extend([0xa1, b'/']);
        assert_eq!(p.payload, expected);
        assert_eq!(codec.decode_message(&p.payload).unwrap(), request);
        let answer = ClusterEnvelope {
            uid: "n2".into(),
            nsp: "/".into(),
            to: Some("n1".into()),
            message: ClusterMessage::BroadcastClientCount {
                request_id: "q2".into(),
                client_count: 3,
            },
        };
        let StreamsOut::Publish(p) = codec.encode(&answer).unwrap() else {
            panic!()
        };
        assert_eq!(p.channel, "socket.io#/#n1#");
        assert_eq!(p.count_request, None);
        // A broadcast with acks is ephemeral too.
        let mut acked = broadcast(&[], &[], vec![json!("a")], vec![]);
        if let ClusterMessage::Broadcast { request_id, .. } = &mut acked.message {
            *request_id = Some("q3".into());
        }
        assert!(matches!(codec.encode(&acked), Some(StreamsOut::Publish(_))));
        let heartbeat = ClusterEnvelope {
            message: ClusterMessage::Heartbeat,
            ..request
        };
        assert_eq!(codec.encode(&heartbeat), None);
    }

    #[test]
    fn a_session_round_trips_as_base64_msgpack() {
        let codec = Streams::default();
        let session = SessionRecord {
            nsp: "/".into(),
            pid: "p".into(),
            id: "s".into(),
            rooms: vec!["s".into(), "red".into()],
            data: json!({"n": 1}),
        };
        let text = codec.encode_session(&session);
        let mut expected = vec![0x84, 0xa3];
        expected.extend(b"sid");
        expected.extend([0xa1, b's', 0xa3]);
        expected.extend(b"pid");
        expected.extend([0xa1, b'p', 0xa5]);
        expected.extend(b"rooms");
        expected.extend([0x92, 0xa1, b's', 0xa3]);
        expected.extend(b"red");
        expected.extend([0xa4]);
        expected.extend(b"data");
        expected.extend([0x81, 0xa1, b'n', 0x01]);
        assert_eq!(BASE64.decode(&text).unwrap(), expected);
        assert_eq!(
            codec.decode_session(text.as_bytes()).unwrap(),
            StoredSession {
                id: "s".into(),
                pid: "p".into(),
                rooms: vec!["s".into(), "red".into()],
                data: json!({"n": 1}),
            }
        );
        assert_eq!(codec.session_key("p"), "sio:session:p");
        assert!(codec.decode_session(b"!!!").is_err());
        assert!(
            codec
                .decode_session(BASE64.encode([0xc1]).as_bytes())
                .is_err()
        );
        assert!(
            codec
                .decode_session(BASE64.encode([0x80]).as_bytes())
                .is_err()
        );
    }

    #[test]
    fn missed_packets_follow_rooms_and_except_and_carry_the_entry_id() {
        let codec = Streams::default();
        let entry = |rooms: &str, except: &str| {
            fields(&[
                ("uid", "n"),
                ("nsp", "/"),
                ("type", "3"),
                (
                    "data",
                    &format!(
                        r#"{{"packet":{{"type":2,"data":["e"]}},"opts":{{"rooms":{rooms},"except":{except},"flags":{{}}}}}}"#
                    ),
                ),
            ])
        };
        let mine = ["me".to_owned(), "red".to_owned()];
        let got = |f: Vec<(String, Vec<u8>)>| codec.missed_packet("/", &mine, "9-1", &f).unwrap();
        assert_eq!(
            got(entry("[]", "[]")).unwrap().data,
            vec![json!("e"), json!("9-1")]
        );
        assert!(got(entry(r#"["red"]"#, "[]")).is_some());
        assert!(got(entry(r#"["blue"]"#, "[]")).is_none());
        assert!(got(entry("[]", r#"["red"]"#)).is_none());
        // Another namespace, another type: not missed.
        let mut other = entry("[]", "[]");
        other[1].1 = b"/admin".to_vec();
        assert!(got(other).is_none());
        let mut join = entry("[]", "[]");
        join[2].1 = b"4".to_vec();
        assert!(got(join).is_none());
    }

    #[test]
    fn garbage_entries_are_errors_not_panics() {
        let codec = Streams::default();
        let cases: Vec<Vec<(String, Vec<u8>)>> = vec![
            fields(&[("nsp", "/"), ("type", "3"), ("data", "{}")]),
            fields(&[("uid", "u"), ("nsp", "/"), ("data", "{}")]),
            fields(&[("uid", "u"), ("nsp", "/"), ("type", "x"), ("data", "{}")]),
            fields(&[
                ("uid", "u"),
                ("nsp", "/"),
                ("type", "3"),
                ("data", "{not json"),
            ]),
            fields(&[("uid", "u"), ("nsp", "/"), ("type", "3"), ("data", "%%%")]),
            fields(&[("uid", "u"), ("nsp", "/"), ("type", "3"), ("data", "wA==")]),
            fields(&[("uid", "u"), ("nsp", "/"), ("type", "3"), ("data", "{}")]),
            fields(&[("uid", "u"), ("nsp", "/"), ("type", "99"), ("data", "{}")]),
            vec![("uid".into(), vec![0xff]), ("nsp".into(), b"/".to_vec())],
        ];
        for (i, f) in cases.iter().enumerate() {
            assert!(codec.decode_entry(f).is_err(), "case {i}");
            // A replay skips other types unread, and reports bad broadcasts.
            let replayed = codec.missed_packet("/", &[], "1-0", f);
            if [0, 3, 4, 5, 6].contains(&i) {
                assert!(replayed.is_err(), "case {i}");
            } else {
                assert_eq!(replayed, Ok(None), "case {i}");
            }
        }
        // Without nsp: skipped, as Node.
        assert_eq!(codec.decode_entry(&fields(&[("uid", "u")])).unwrap(), None);
        assert!(codec.decode_message(b"\xc1").is_err());
        assert!(codec.decode_message(b"").is_err());
    }

    #[test]
    fn offsets_are_checked_and_stepped_as_node_does() {
        assert!(valid_offset("1733520000000-0"));
        for bad in ["", "-", "1-", "-1", "1", "a-1", "1-1-1", "1 -1", "0x1-0"] {
            assert!(!valid_offset(bad), "{bad}");
        }
        assert_eq!(next_offset("5-9").as_deref(), Some("5-10"));
        assert_eq!(
            next_offset(&format!("5-{}", u64::MAX)).as_deref(),
            Some("6-0")
        );
        assert_eq!(next_offset("nope"), None);
        assert_eq!(parse_id("12-3"), Some((12, 3)));
        assert_eq!(parse_id("99999999999999999999999-0"), None);
    }
}
