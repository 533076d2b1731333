//! Several Socket.IO nodes on one Redis, wire-compatible with the official
//! Node adapters `@socket.io/redis-adapter` 8.3 and
//! `@socket.io/redis-streams-adapter` 0.3.1, so Rust and Node servers can
//! share one cluster.
//!
//! The logic of a cluster lives in the core (`socketio_proto::Server`:
//! `poll_cluster`, `handle_cluster`, `handle_cluster_count`); this crate
//! only encodes its messages as the Node adapter does and moves them over
//! Redis:
//! - [`msgpack`], [`classic`], [`sharded`] and [`streams`] are sans-IO: bytes in,
//!   typed messages out, and back, with tests on exact bytes (reference
//!   bytes come from `notepack.io` itself and from the real sharded adapter
//!   at test time: `tests/classic_wire.rs`, `tests/sharded_wire.rs`);
//! - `RedisAdapter` (feature `io`, on by default) is the I/O half on
//!   redis-rs, on the runtime of the
//!   driver it is attached to (tokio, async-std or smol: redis-rs takes
//!   tokio inside a tokio runtime, `async-io` elsewhere).
//!
//! Status: the classic mode (`createAdapter`, [`RedisAdapter::classic`])
//! and the sharded mode (`createShardedAdapter`, [`RedisAdapter::sharded`]
//! on one Redis 7, [`RedisAdapter::sharded_cluster`] on a Redis Cluster),
//! codecs and I/O, tested in mixed Rust/Node clusters (`tests/cluster`,
//! the sharded mode also on a 3-master Redis Cluster), and the streams
//! mode (`@socket.io/redis-streams-adapter` 0.3.1's `createAdapter`,
//! [`RedisAdapter::streams`]) with connection state recovery across nodes
//! (`tests/cluster/streams.test.mjs`).
//!
//! The sharded I/O: redis-rs 1.2 has no sharded pub/sub on its RESP2
//! `PubSub`; it has RESP3 push messages. So the sharded mode asks for
//! RESP3 (`protocol=resp3` is added to the URL) and uses one connection
//! for everything: a multiplexed connection to one Redis, or redis-rs's
//! cluster connection, which routes `SPUBLISH` / `SSUBSCRIBE` (one channel
//! per command: channels of different slots cannot share one) to the
//! master of the channel's slot and resubscribes itself when the topology
//! changes. Messages arrive as `smessage` pushes. On one Redis a lost
//! connection is replaced (every 50 ms to 1 s) and every channel
//! subscribed again. Dynamic subscriptions follow the core's room changes
//! (`Server::track_rooms` / `poll_room_change`, Node's `create-room` /
//! `delete-room`). Nodes are counted with `PUBSUB SHARDNUMSUB` (summed
//! over the masters on a cluster).
//!
//! # Using it
//!
//! Put [`RedisAdapter::cluster_config`] in the core's config, serve, then
//! [`RedisAdapter::attach`] to the driver (see its example). The adapter
//! drains the core's cluster messages after every drive of the driver
//! ([`Driver::on_drained`](runtime_hyper::Driver::on_drained)), publishes
//! them from a task of its own, and feeds what it receives back with
//! `Driver::act`.
//!
//! The codec alone, as a transport drives it: encode what `poll_cluster`
//! gives and publish it on its channel (then, for a request, count the
//! nodes and report it with `handle_cluster_count`); decode what arrives on
//! a channel and hand it to `handle_cluster`.
//!
//! ```
//! use adapter_redis::{ChannelKind, Classic};
//! use socketio_proto::ClusterMessage;
//! use socketio_proto::cluster::ClusterEnvelope;
//!
//! let codec = Classic::default();
//! let envelope = ClusterEnvelope {
//!     uid: "node-a".into(),
//!     nsp: "/".into(),
//!     to: None,
//!     message: ClusterMessage::ServerSideEmit {
//!         request_id: Some("node-a:1".into()),
//!         packet: vec![serde_json::json!("hello")],
//!     },
//! };
//! let out = codec.encode(&envelope).expect("serverSideEmit has a classic form");
//! assert_eq!(out.channel, "socket.io-request#/#");
//! assert_eq!(
//!     out.payload,
//!     br#"{"uid":"node-a","requestId":"node-a:1","type":6,"data":["hello"]}"#
//! );
//! // Wait for PUBSUB NUMSUB - 1 answers to this one.
//! assert_eq!(out.count_request.as_deref(), Some("node-a:1"));
//! // Another node reads it back from the request channel.
//! let back = codec.decode("/", ChannelKind::Request, &out.payload).unwrap();
//! assert_eq!(back, envelope);
//! ```
//!
//! # The classic wire format, as the Node adapter 8.3 writes it
//!
//! Every node of namespace `nsp` with key `key` (default `socket.io`)
//! subscribes to the pattern `<key>#<nsp>#*` and to the channels
//! `<key>-request#<nsp>#`, `<key>-response#<nsp>#` and
//! `<key>-response#<nsp>#<uid>#`. The node's `uid` only appears inside
//! messages. A node counts the nodes of a namespace (itself included) with
//! `PUBSUB NUMSUB <key>-request#<nsp>#`; there are no heartbeats.
//!
//! **Broadcasts** (no acknowledgement) are one msgpack array
//! `[uid, packet, opts]` published on `<key>#<nsp>#`, or on
//! `<key>#<nsp>#<room>#` when `opts.rooms` holds exactly one room:
//! - `packet` is the map `{type: 2, data: [event, ...args], nsp}`; binary
//!   arguments are msgpack bin values in place (no placeholders, and the
//!   type stays 2: the receiving node's encoder finds the buffers);
//! - `opts` is `{rooms: [...], except: [...], flags: {...}}`, flags as set
//!   by the sender (`volatile`, `compress`, `timeout`...; `local` is never
//!   published); a receiver ignores its own uid and packets of another
//!   namespace (a packet without `nsp` is for `/`).
//!
//! msgpack is `notepack.io`'s: the smallest form for each value, numbers
//! with no fraction as integers, others as float 64, objects as maps in key
//! order, buffers as bin 8/16/32, `null` as nil (details in [`msgpack`]).
//!
//! **Requests** go to `<key>-request#<nsp>#`, as JSON text (a reader takes
//! a message starting with `{` as JSON, anything else as msgpack), with the
//! request types of the Node source:
//! - 2 `REMOTE_JOIN` `{"uid","type":2,"opts":{"rooms","except"},"rooms":[...]}`
//!   (socketsJoin) and 3 `REMOTE_LEAVE` (socketsLeave, same fields): no answer;
//! - 4 `REMOTE_DISCONNECT` `{"uid","type":4,"opts":{...},"close":bool}`: no answer;
//! - 5 `REMOTE_FETCH` `{"uid","requestId","type":5,"opts":{...}}`: each
//!   other node answers `{"requestId","sockets":[{"id","handshake","rooms","data"}]}`
//!   (no type field);
//! - 6 `SERVER_SIDE_EMIT` `{"uid","type":6,"data":[event, ...args]}`, with
//!   a `"requestId"` after `uid` when the sender wants answers: each other
//!   node answers `{"type":6,"requestId","data":answer}` (one argument),
//!   always on the shared response channel;
//! - 7 `BROADCAST` (a broadcast with acknowledgements): msgpack
//!   `{uid, requestId, type: 7, packet, opts}` (`opts.flags.timeout` in
//!   ms); each other node answers JSON `{"type":8,"requestId","clientCount"}`
//!   (8 `BROADCAST_CLIENT_COUNT`: how many of its clients it sent it to),
//!   then for each client's acknowledgement msgpack
//!   `{type: 9, requestId, packet: firstArgument}` (9 `BROADCAST_ACK`);
//! - 0 `SOCKETS` `{"uid","requestId","type":0,"rooms":[...]}` (Node's
//!   `adapter.sockets(rooms)`): each other node answers
//!   `{"requestId","sockets":[ids]}`; 1 `ALL_ROOMS`
//!   `{"uid","requestId","type":1}` (`allRooms()`): `{"requestId","rooms":[...]}`.
//!   The core has no message for these; the transport answers them from
//!   the core's sockets ([`LocalQuery`]); this node never asks them;
//! - the per-socket forms of 2-4 (with `sid` and `room`, no `opts`, from
//!   older Node versions) are reported and ignored.
//!
//! Answers go to `<key>-response#<nsp>#`, or with
//! `publishOnSpecificResponseChannel` to `<key>-response#<nsp>#<asker uid>#`.
//! Request ids are opaque text (Node draws 6 characters; this node uses
//! `<uid>:<n>`). The asking node waits for `NUMSUB - 1` answers, at most
//! `requestsTimeout` (default 5000 ms); for a broadcast with acks, for one
//! client count per other node and one acknowledgement per counted client,
//! at most the broadcast's own timeout.
//!
//! Anything on these channels that does not decode, or has an unknown
//! shape or type, is reported through the error hook and ignored.
//!
//! # The sharded wire format, as the Node adapter 8.3 writes it
//!
//! (`createShardedAdapter`, Redis 7 sharded pub/sub; Debian's redis-server
//! 7.0 has it.) [`Sharded`] encodes and decodes it. It extends the plain `ClusterAdapter` (no heartbeats): the
//! messages are the core's `ClusterMessage` types, each an object
//! `{type, data, uid, nsp}` in that key order (`data` per type as in the
//! core's message model; a broadcast's `data` is `{packet, opts}` or, with
//! acks, `{packet, requestId, opts}`, `opts` being `{rooms, except,
//! flags}`, and its packet `{type: 2, data}`: published before the adapter
//! sets `nsp` on it; joins/leaves `{opts, rooms}`, disconnects `{opts,
//! close}`, fetches `{opts, requestId}`, serverSideEmit `{packet}` or
//! `{requestId, packet}`; answers `{requestId, sockets}`,
//! `{requestId, packet}` (one argument), `{requestId, clientCount}`). A message is JSON text, unless its type may carry binary
//! (BROADCAST, BROADCAST_ACK, FETCH_SOCKETS_RESPONSE, SERVER_SIDE_EMIT,
//! SERVER_SIDE_EMIT_RESPONSE) and it does hold a buffer: then the whole
//! object is notepack msgpack; a reader takes `{` as JSON, else msgpack.
//! Every node `SSUBSCRIBE`s `<prefix>#<nsp>#` (prefix `channelPrefix`,
//! default `socket.io`) and its own response channel
//! `<prefix>#<nsp>#<uid>#`; answers are `SPUBLISH`ed on the asker's.
//! Subscription modes: `static` (those two channels only), `dynamic`
//! (default: also `<prefix>#<nsp>#<room>#` for every public room the node
//! has, that is a room that is not a socket id, subscribed when the room is
//! created and dropped when it empties) and `dynamic-private` (every room,
//! socket ids included). A broadcast without acks to exactly one room goes
//! to that room's channel when the mode gives rooms channels (`dynamic`:
//! unless the room looks like a socket id, 20 characters); everything else
//! goes to the namespace channel. Nodes are counted with `PUBSUB
//! SHARDNUMSUB <prefix>#<nsp>#` (itself included), as the classic mode
//! counts with NUMSUB: the core's `Membership::Counted` fits it unchanged.
//!
//! # The streams wire format, as `@socket.io/redis-streams-adapter` 0.3.1 writes it
//!
//! [`Streams`] encodes and decodes it. The messages are the same
//! `ClusterAdapter` messages as in the sharded mode (type numbers 1-13,
//! `data` per type as described there); no heartbeats: a node counts the
//! nodes of a namespace with `PUBSUB NUMSUB <prefix>#<nsp>#`.
//!
//! **The stream.** Broadcasts without acknowledgements (3), `socketsJoin`
//! (4), `socketsLeave` (5) and `disconnectSockets` (6) are appended to one
//! stream (`streamName`, default `socket.io`) with
//! `XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <type> data <data>`
//! (maxLen default 10 000): four fields in that order, `type` the message
//! type as decimal text, `data` the message's `data` object as JSON text,
//! except for a broadcast that holds a buffer: then the base64 (standard
//! alphabet, padded) of the msgpack of that object, buffers as bin values
//! in place. A reader takes a `data` that starts with `{` as JSON, anything
//! else as base64 msgpack. Node encodes with `@msgpack/msgpack` (smallest
//! forms, maps in key order, floats as float 64): this crate writes the
//! same bytes for the values it sends. Every node reads the stream with
//! `XREAD COUNT <readCount> BLOCK <blockTimeInMs> STREAMS <stream> <last id>`
//! (100 and 5000 by default), starting at the end of the stream when it
//! starts (Node: `$`; here the id of the last entry, asked with
//! `XREVRANGE <stream> + - COUNT 1`), and after a lost connection from the
//! last id it read.
//! An entry without `nsp` is skipped; one that does not decode is reported
//! and skipped, the reader moving on. A node ignores its own entries,
//! except broadcasts: see below.
//!
//! **Pub/sub.** The other messages are the whole message object
//! `{type, data, uid, nsp}` as msgpack (always msgpack, even without
//! buffers): requests (a broadcast with acks, `fetchSockets`,
//! `serverSideEmit`) are `PUBLISH`ed on `<prefix>#<nsp>#` (prefix
//! `channelPrefix`, default `socket.io`), answers (8, 10, 11, 12) on the
//! asker's `<prefix>#<nsp>#<asker uid>#`. Every node `SUBSCRIBE`s to both
//! channels of each namespace it serves.
//!
//! **Offsets.** With connection state recovery on, a broadcast's packet
//! (an EVENT without ack id, not volatile) reaches the clients with its
//! stream id (`<ms>-<seq>`) as its last argument: the offset a client sends
//! back (`auth.offset`) when it reconnects. Node delivers its own
//! broadcasts once `XADD` answered with the id (without offset when `XADD`
//! failed); this crate's nodes deliver them when the `XREAD` loop reads
//! them back, as they deliver the other nodes' (`XADD` failed: at once,
//! without offset), so that every delivery follows the stream's order.
//!
//! **Sessions.** When a socket leaves for a recoverable reason (transport
//! close or error, ping timeout...), its session is stored with
//! `SET <sessionKeyPrefix><pid> <value> PX <maxDisconnectionDuration in ms>`
//! (prefix default `sio:session:`; the key names no namespace), the value
//! being the base64 of the msgpack map `{sid, pid, rooms, data}` (`rooms`
//! with the socket's own id; `data` nil when unset). A client that comes
//! back with `pid` and `offset` in its CONNECT auth, on any node: the
//! offset must be `<digits>-<digits>`; the session is taken (Node: `MULTI
//! GET DEL`; here `GETDEL`, the same effect in one command), the offset
//! entry must still be in the stream (`XRANGE <stream> <offset> <offset>`),
//! and the entries after it are read with `XRANGE <stream> <next id> +`
//! (`<ms>-<seq+1>`, as Node, which supports Redis before 6.2's exclusive
//! ranges; here in batches of 1000, at most 100 batches). Of those, the
//! broadcasts (type `3`) of the session's namespace whose `opts.rooms` is
//! empty or shares a room with the session, and whose `opts.except` shares
//! none, are the missed packets, each with its entry id appended as its
//! last argument. They are sent before the CONNECT reply, which carries the
//! same `sid` and `pid`; the socket gets its rooms and data back and is
//! `recovered`. A session or offset not found: a new socket, as if no `pid`
//! had been sent (never an error).
//!
//! Where the replay stops: a node's `XREAD` loop may be behind or ahead of
//! the `XRANGE` reads. Here the replay is cut at the last entry the loop
//! handed to the core, under the same lock as the restore (more is read
//! first if the loop got further; a restore waits while the loop has not yet
//! reached the client's offset), so each entry reaches the restored socket
//! once: replayed, or live.

#[cfg(feature = "io")]
pub mod adapter;
#[cfg(feature = "io")]
mod attach;
pub mod classic;
#[cfg(feature = "io")]
mod classic_io;
pub mod msgpack;
pub mod sharded;
#[cfg(feature = "io")]
mod sharded_io;
pub mod streams;
#[cfg(feature = "io")]
mod streams_io;

#[cfg(feature = "io")]
pub use adapter::{AdapterError, ErrorHook, OUTBOX_LIMIT, RedisAdapter};
pub use classic::{ChannelKind, Classic, DecodeError, LocalQuery, NamespaceChannels, Publish};
pub use msgpack::{MsgpackError, Pack};
pub use sharded::{Sharded, SubscriptionMode};
pub use streams::{Streams, StreamsOut};
