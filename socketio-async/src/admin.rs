//! The instrumentation protocol of the official admin dashboard,
//! `@socket.io/admin-ui` 0.5 (feature `admin`): what its `instrument(io,
//! options)` does on a Node server, on namespace `/admin` by default.
//!
//! - **Authentication**: none ([`AdminOptions::auth`] `None`), or basic: the
//!   dashboard sends `{username, password}` in its CONNECT auth, checked
//!   against a username and a bcrypt hash (`$2a$`/`$2b$`/`$2y$`, as made by
//!   `bcryptjs` or `bcrypt`). A wrong pair is refused with CONNECT_ERROR
//!   `{"message":"invalid credentials"}`; a right one opens a session whose
//!   id the dashboard gets in a `session` event and may send back later as
//!   `auth.sessionId` instead of the password (at most 1 000 sessions are
//!   kept, the oldest forgotten first).
//! - **On connection** an admin socket gets `config`
//!   `{"supportedFeatures":[...]}` (`EMIT`, `JOIN`, `LEAVE`, `DISCONNECT`,
//!   `MJOIN`, `MLEAVE`, `MDISCONNECT` unless read-only, then
//!   `AGGREGATED_EVENTS`, then `ALL_EVENTS` in development mode), in
//!   development mode `all_sockets` (every socket of every namespace this
//!   node has, fetched across the cluster as `fetchSockets` does: with a
//!   cluster adapter the sockets of the other nodes are listed too), and a
//!   first `server_stats`.
//! - **Commands** (not in read-only mode): `emit` (nsp, room filter, event,
//!   args...), `join` / `leave` (nsp, room, filter), `_disconnect` (nsp,
//!   close, filter): they act on the namespace's sockets, or on those in
//!   room `filter` (a socket id is a room), on every node.
//! - **Notifications** in development mode: `socket_connected` (the
//!   serialized socket, date), `socket_updated` (`{id, nsp, transport}`
//!   after an upgrade, `{id, nsp, data}` after
//!   [`Socket::set_data`](crate::Socket::set_data)), `socket_disconnected`
//!   (nsp, id, reason, date), `room_joined` / `room_left` (nsp, room, id,
//!   date), and (`ALL_EVENTS`) `event_received` / `event_sent` (nsp, id,
//!   `[event, ...args]` with their binary attachments, date) for every
//!   event a socket outside the admin namespace receives or is sent with
//!   [`Socket::emit`](crate::Socket::emit). Notifications go to the admin
//!   namespace through the adapter, so a dashboard connected to one node
//!   hears those of every instrumented node (Rust or Node).
//! - As Node does, a socket's `data` holds
//!   `_admin: {clientId, transport}` (added when it connects and again
//!   after the application replaces its data) so that other nodes can
//!   show it; the dashboard gets `data` without it.
//! - **`server_stats`**: `serverId`, `hostname`, `pid`, `uptime` (seconds),
//!   `clientsCount`, `pollingClientsCount`, `aggregatedEvents` and
//!   `namespaces` (`[{name, socketsCount}]`). `aggregatedEvents`
//!   (`AGGREGATED_EVENTS`) counts, per second, `rawConnection`,
//!   `rawDisconnection` (subType: the close reason), `packetsIn` /
//!   `bytesIn` and `packetsOut` / `bytesOut` (Engine.IO packets with data,
//!   and the bytes of that data) since the previous `server_stats`
//!   ([`EventBuffer`], bounded). The dashboard expects one every 2
//!   seconds: this crate has no timer, so the application calls
//!   [`Admin::emit_stats`] on its runtime's interval.
//!
//! As on Node, an Engine.IO connection is counted (`rawConnection`,
//! `pollingClientsCount`, its packets) from its handshake
//! ([`Engine::on_connection`](crate::Engine::on_connection)), whether or
//! not a socket joins a namespace, and `event_sent` is reported for every
//! recipient of a broadcast as for a socket's own emits (through
//! [`Socket::on_any_outgoing`](crate::Socket::on_any_outgoing)).
//!
//! ```
//! use socketio_async::admin::{Admin, AdminOptions};
//! use socketio_async::SocketIo;
//!
//! let io = SocketIo::new();
//! let admin = Admin::instrument(&io, AdminOptions::default()).unwrap();
//! // On the runtime, every 2 seconds:
//! admin.emit_stats();
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use engineio_proto::{Data, Packet, Sid, TransportKind};
use serde_json::{Map, Value, json};
use socketio_proto::{DisconnectReason, Nsp, Room, SocketId, SocketInfo, Target};

use crate::engine::Conn;
use crate::io::{ConnectError, Connecting, Hook, Observer, Socket, SocketIo};
use crate::payload::Payload;
use crate::sync::lock;

/// How many sessions are remembered ([`Sessions`] forgets the oldest past
/// it).
///
/// ```
/// assert_eq!(socketio_async::admin::MAX_SESSIONS, 1000);
/// ```
pub const MAX_SESSIONS: usize = 1000;

/// Basic authentication: a username and the bcrypt hash of the password.
///
/// ```
/// use socketio_async::admin::{AdminOptions, BasicAuth};
///
/// // A bcrypt hash made beforehand (with `bcryptjs`, `htpasswd -B`...), as
/// // given to Node's `instrument(io, { auth: { type: "basic", ... } })`.
/// let auth = BasicAuth {
///     username: "admin".into(),
///     password_hash: "$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS".into(),
/// };
/// let options = AdminOptions { auth: Some(auth), ..AdminOptions::default() };
/// ```
#[derive(Debug, Clone)]
pub struct BasicAuth {
    /// The username.
    pub username: String,
    /// The bcrypt hash of the password.
    pub password_hash: String,
}

impl BasicAuth {
    /// The username and the bcrypt hash of `password` at `cost` (4 to 31;
    /// Node's examples use 10).
    ///
    /// ```
    /// use socketio_async::admin::{Admin, AdminOptions, BasicAuth};
    ///
    /// let io = socketio_async::SocketIo::new();
    /// let options = AdminOptions {
    ///     // Cost 4 keeps this example fast; use 10 or more.
    ///     auth: Some(BasicAuth::with_password("admin", "changeit", 4)?),
    ///     ..AdminOptions::default()
    /// };
    /// let admin = Admin::instrument(&io, options)?;
    /// # Ok::<(), socketio_async::admin::AdminError>(())
    /// ```
    pub fn with_password(
        username: impl Into<String>,
        password: &str,
        cost: u32,
    ) -> Result<Self, AdminError> {
        let password_hash = bcrypt::hash(password, cost).map_err(|_| AdminError::InvalidHash)?;
        Ok(Self {
            username: username.into(),
            password_hash,
        })
    }
}

/// Development (every socket and its events reported) or production
/// (commands and `server_stats` only).
///
/// ```
/// use socketio_async::admin::{AdminOptions, Mode};
///
/// let options = AdminOptions { mode: Mode::Production, ..AdminOptions::default() };
/// assert_eq!(AdminOptions::default().mode, Mode::Development);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Sockets, their rooms and their comings and goings are reported.
    #[default]
    Development,
    /// Only `config` and `server_stats`.
    Production,
}

/// The options of [`Admin::instrument`].
///
/// ```
/// use socketio_async::admin::{Admin, AdminOptions};
///
/// let io = socketio_async::SocketIo::new();
/// let options = AdminOptions {
///     namespace: "/dashboard".into(),
///     readonly: true,
///     server_id: Some("node-1".into()),
///     ..AdminOptions::default()
/// };
/// let admin = Admin::instrument(&io, options)?;
/// # Ok::<(), socketio_async::admin::AdminError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// The admin namespace; `/admin` by default.
    pub namespace: String,
    /// `None`: no authentication (as `auth: false`).
    pub auth: Option<BasicAuth>,
    /// No commands (`readonly: true`).
    pub readonly: bool,
    /// The server id; the hostname by default.
    pub server_id: Option<String>,
    /// Development or production.
    pub mode: Mode,
}

impl Default for AdminOptions {
    fn default() -> Self {
        Self {
            namespace: "/admin".into(),
            auth: None,
            readonly: false,
            server_id: None,
            mode: Mode::Development,
        }
    }
}

/// Why [`Admin::instrument`] refused its options.
///
/// ```
/// use socketio_async::admin::{Admin, AdminError, AdminOptions, BasicAuth};
///
/// let io = socketio_async::SocketIo::new();
/// let auth = BasicAuth { username: "admin".into(), password_hash: "plain text".into() };
/// let options = AdminOptions { auth: Some(auth), ..AdminOptions::default() };
/// assert_eq!(Admin::instrument(&io, options).unwrap_err(), AdminError::InvalidHash);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// As Node: "the `password` field must be a valid bcrypt hash".
    #[error("the `password` field must be a valid bcrypt hash")]
    InvalidHash,
}

/// The features announced in `config`, in Node's order.
///
/// ```
/// use socketio_async::admin::{Mode, features};
///
/// assert_eq!(features(true, Mode::Production), ["AGGREGATED_EVENTS"]);
/// assert_eq!(features(true, Mode::Development), ["AGGREGATED_EVENTS", "ALL_EVENTS"]);
/// ```
pub fn features(readonly: bool, mode: Mode) -> Vec<&'static str> {
    let mut out = if readonly {
        Vec::new()
    } else {
        vec![
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]
    };
    out.push("AGGREGATED_EVENTS");
    if mode == Mode::Development {
        out.push("ALL_EVENTS");
    }
    out
}

/// How many `(second, type, subType)` entries [`EventBuffer`] keeps
/// between two `server_stats` (the oldest are dropped past it, so a server
/// whose application never calls [`Admin::emit_stats`] stays bounded).
///
/// ```
/// use socketio_async::admin::{EventBuffer, MAX_AGGREGATED};
///
/// let mut buffer = EventBuffer::default();
/// for second in 0..MAX_AGGREGATED as u64 + 5 {
///     buffer.push(second * 1000, "rawConnection", None, 1);
/// }
/// assert_eq!(buffer.len(), MAX_AGGREGATED);
/// ```
pub const MAX_AGGREGATED: usize = 1000;

/// The `AGGREGATED_EVENTS` counts: per second (the timestamp, in
/// milliseconds, rounded down to the second), type and subType, as the
/// entries of `aggregatedEvents`.
///
/// ```
/// use serde_json::json;
/// use socketio_async::admin::EventBuffer;
///
/// let mut buffer = EventBuffer::default();
/// buffer.push(5_100, "packetsIn", None, 1);
/// buffer.push(5_900, "packetsIn", None, 1); // the same second: added up
/// buffer.push(6_000, "rawDisconnection", Some("ping timeout"), 1);
/// assert_eq!(
///     buffer.take(),
///     [
///         json!({"timestamp": 5000, "type": "packetsIn", "count": 2}),
///         json!({"timestamp": 6000, "type": "rawDisconnection", "subType": "ping timeout", "count": 1}),
///     ]
/// );
/// assert!(buffer.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct EventBuffer {
    entries: VecDeque<(u64, &'static str, Option<String>, u64)>,
}

impl EventBuffer {
    /// Counts `count` of `kind` (`subType` `sub`) at `now_ms`.
    ///
    /// ```
    /// # use socketio_async::admin::EventBuffer;
    /// let mut buffer = EventBuffer::default();
    /// buffer.push(1_234, "bytesOut", None, 120);
    /// buffer.push(1_999, "bytesOut", None, 30);
    /// assert_eq!(buffer.take()[0]["count"], 150);
    /// ```
    pub fn push(&mut self, now_ms: u64, kind: &'static str, sub: Option<&str>, count: u64) {
        let second = now_ms - now_ms % 1000;
        // Entries of the same second are at the end.
        for entry in self.entries.iter_mut().rev() {
            if entry.0 != second {
                break;
            }
            if entry.1 == kind && entry.2.as_deref() == sub {
                entry.3 += count;
                return;
            }
        }
        if self.entries.len() == MAX_AGGREGATED {
            self.entries.pop_front();
        }
        self.entries
            .push_back((second, kind, sub.map(str::to_owned), count));
    }

    /// The entries (`{timestamp, type, subType?, count}`) in the order
    /// they were first counted; the buffer is emptied.
    ///
    /// ```
    /// # use socketio_async::admin::EventBuffer;
    /// let mut buffer = EventBuffer::default();
    /// buffer.push(2_000, "rawConnection", None, 1);
    /// assert_eq!(buffer.take().len(), 1);
    /// assert_eq!(buffer.take().len(), 0); // taken already
    /// ```
    pub fn take(&mut self) -> Vec<Value> {
        self.entries
            .drain(..)
            .map(|(timestamp, kind, sub, count)| {
                let mut o = Map::new();
                o.insert("timestamp".into(), timestamp.into());
                o.insert("type".into(), kind.into());
                if let Some(sub) = sub {
                    o.insert("subType".into(), sub.into());
                }
                o.insert("count".into(), count.into());
                Value::Object(o)
            })
            .collect()
    }

    /// How many entries are held.
    ///
    /// ```
    /// # use socketio_async::admin::EventBuffer;
    /// let mut buffer = EventBuffer::default();
    /// buffer.push(0, "packetsIn", None, 1);
    /// buffer.push(0, "packetsOut", None, 1);
    /// assert_eq!(buffer.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    ///
    /// ```
    /// # use socketio_async::admin::EventBuffer;
    /// assert!(EventBuffer::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The data the dashboard shows: `data` without its `_admin` key (not an
/// object: `{}`).
///
/// ```
/// use serde_json::json;
/// use socketio_async::admin::shown_data;
///
/// let data = json!({"name": "ann", "_admin": {"clientId": "abc", "transport": "polling"}});
/// assert_eq!(shown_data(&data), json!({"name": "ann"}));
/// assert_eq!(shown_data(&json!(7)), json!({}));
/// ```
pub fn shown_data(data: &Value) -> Value {
    match data {
        Value::Object(o) => {
            let mut o = o.clone();
            o.remove("_admin");
            Value::Object(o)
        }
        _ => json!({}),
    }
}

/// A socket as the dashboard knows it (`SerializedSocket`): `client_id` is
/// the first 12 characters of the session id (`None`: unknown, as for a
/// socket of another node without `_admin`), `address` the
/// `cf-connecting-ip` or `x-forwarded-for` header if any, else the peer;
/// `data` without `_admin`.
///
/// ```
/// use std::sync::Arc;
/// use serde_json::{Map, json};
/// use socketio_async::admin::serialize_socket;
/// use socketio_async::{Handshake, Headers, SocketId, SocketInfo};
///
/// let mut headers = Headers::default();
/// headers.insert("x-forwarded-for", "203.0.113.7");
/// let info = SocketInfo {
///     id: SocketId::new("s1"),
///     nsp: "/".into(),
///     handshake: Arc::new(Handshake {
///         headers,
///         sent_time: None,
///         address: "127.0.0.1".into(),
///         xdomain: false,
///         secure: false,
///         peer_certificate: None,
///         issued: 1_795_000_000_000,
///         url: "/socket.io/?EIO=4&transport=polling".into(),
///         sent_query: None,
///         auth: Map::new(),
///     }),
///     rooms: vec!["s1".into(), "lobby".into()],
///     data: json!({"name": "ann", "_admin": {}}),
/// };
/// let shown = serialize_socket(&info, Some("0123456789abcdef"), Some("polling"));
/// assert_eq!(shown["clientId"], "0123456789ab");
/// assert_eq!(shown["handshake"]["address"], "203.0.113.7");
/// assert_eq!(shown["data"], json!({"name": "ann"}));
/// assert_eq!(shown["rooms"], json!(["s1", "lobby"]));
/// ```
pub fn serialize_socket(
    info: &SocketInfo,
    client_id: Option<&str>,
    transport: Option<&str>,
) -> Value {
    let h = &info.handshake;
    let address = h
        .headers
        .get("cf-connecting-ip")
        .or_else(|| h.headers.get("x-forwarded-for"))
        .map_or_else(|| h.address.clone(), str::to_owned);
    let headers: Map<String, Value> = h
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.to_string())))
        .collect();
    let query: Map<String, Value> = h
        .query()
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    json!({
        "id": info.id.as_str(),
        "clientId": client_id.map(|c| c.chars().take(12).collect::<String>()),
        "transport": transport,
        "nsp": info.nsp.as_str(),
        "data": shown_data(&info.data),
        "handshake": {
            "address": address,
            "headers": headers,
            "query": query,
            "issued": h.issued,
            "secure": h.secure,
            "time": h.time(),
            "url": h.url,
            "xdomain": h.xdomain,
        },
        "rooms": info.rooms.iter().map(Room::as_str).collect::<Vec<_>>(),
    })
}

/// What `server_stats` reports at one moment ([`Admin::stats`]).
///
/// ```
/// use socketio_async::admin::Stats;
///
/// let stats = Stats { clients: 3, polling_clients: 1, namespaces: vec![("/".into(), 2)] };
/// assert_eq!(stats.clients - stats.polling_clients, 2); // on WebSocket
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Engine.IO sessions.
    pub clients: usize,
    /// Of which on HTTP long-polling.
    pub polling_clients: usize,
    /// Every namespace and its socket count.
    pub namespaces: Vec<(String, usize)>,
}

/// The `server_stats` object.
///
/// ```
/// use serde_json::json;
/// use socketio_async::admin::{ServerIdentity, Stats, server_stats};
///
/// let me = ServerIdentity { server_id: "node-1".into(), hostname: "box".into(), pid: 42 };
/// let stats = Stats { clients: 2, polling_clients: 1, namespaces: vec![("/".into(), 2)] };
/// let value = server_stats(&me, 12.5, &stats, vec![]);
/// assert_eq!(
///     value,
///     json!({
///         "serverId": "node-1", "hostname": "box", "pid": 42, "uptime": 12.5,
///         "clientsCount": 2, "pollingClientsCount": 1, "aggregatedEvents": [],
///         "namespaces": [{"name": "/", "socketsCount": 2}],
///     })
/// );
/// ```
pub fn server_stats(
    base: &ServerIdentity,
    uptime: f64,
    stats: &Stats,
    aggregated: Vec<Value>,
) -> Value {
    json!({
        "serverId": base.server_id,
        "hostname": base.hostname,
        "pid": base.pid,
        "uptime": uptime,
        "clientsCount": stats.clients,
        "pollingClientsCount": stats.polling_clients,
        "aggregatedEvents": aggregated,
        "namespaces": stats.namespaces.iter()
            .map(|(name, n)| json!({"name": name, "socketsCount": n}))
            .collect::<Vec<_>>(),
    })
}

/// Who this server is, in `server_stats`.
///
/// ```
/// use socketio_async::admin::ServerIdentity;
///
/// let me = ServerIdentity {
///     server_id: "node-1".into(),
///     hostname: "box".into(),
///     pid: std::process::id(),
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// `serverId`.
    pub server_id: String,
    /// `hostname`.
    pub hostname: String,
    /// `pid`.
    pub pid: u32,
}

/// The verdict on an admin socket's CONNECT auth ([`Sessions::check`]).
///
/// ```
/// use serde_json::{Map, json};
/// use socketio_async::admin::{Sessions, Verdict};
///
/// let mut sessions = Sessions::default();
/// let auth: Map<_, _> = json!({"username": "admin", "password": "nope"}).as_object().unwrap().clone();
/// let verdict = sessions.check(&auth, "admin", |p| p == "pw", || "s1".into());
/// assert_eq!(verdict, Verdict::Refused);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let in, with no new session (no auth configured, or a known session id).
    Known,
    /// Let in: the credentials matched; this session was opened.
    NewSession(String),
    /// Refused: "invalid credentials".
    Refused,
}

/// The remembered sessions and the credential check, without I/O: the
/// password check is passed in (bcrypt in [`Admin`]).
///
/// ```
/// use serde_json::{Map, Value, json};
/// use socketio_async::admin::{Sessions, Verdict};
///
/// let object = |v: Value| v.as_object().unwrap().clone();
/// let mut sessions = Sessions::default();
/// let login = object(json!({"username": "admin", "password": "pw"}));
/// let verdict = sessions.check(&login, "admin", |p| p == "pw", || "s1".into());
/// assert_eq!(verdict, Verdict::NewSession("s1".into()));
/// // Later the dashboard sends the session id instead of the password.
/// let again = object(json!({"sessionId": "s1"}));
/// assert_eq!(sessions.check(&again, "admin", |_| false, String::new), Verdict::Known);
/// ```
#[derive(Debug, Default)]
pub struct Sessions {
    known: HashSet<String>,
    order: VecDeque<String>,
}

impl Sessions {
    /// Decides on `auth` for `username`; `verify` checks a password, and
    /// `new_id` makes a session id.
    ///
    /// ```
    /// use serde_json::json;
    /// use socketio_async::admin::{Sessions, Verdict};
    ///
    /// let mut sessions = Sessions::default();
    /// let auth = json!({"username": "root", "password": "pw"});
    /// let auth = auth.as_object().unwrap();
    /// // A right password for the wrong user is refused.
    /// assert_eq!(sessions.check(auth, "admin", |p| p == "pw", || "s".into()), Verdict::Refused);
    /// ```
    pub fn check(
        &mut self,
        auth: &Map<String, Value>,
        username: &str,
        verify: impl FnOnce(&str) -> bool,
        new_id: impl FnOnce() -> String,
    ) -> Verdict {
        if let Some(Value::String(id)) = auth.get("sessionId") {
            if self.known.contains(id) {
                return Verdict::Known;
            }
        }
        let user_ok = auth.get("username").and_then(Value::as_str) == Some(username);
        let password = auth.get("password").and_then(Value::as_str);
        match password {
            Some(password) if user_ok && verify(password) => {
                let id = new_id();
                if self.order.len() == MAX_SESSIONS {
                    if let Some(old) = self.order.pop_front() {
                        self.known.remove(&old);
                    }
                }
                self.known.insert(id.clone());
                self.order.push_back(id.clone());
                Verdict::NewSession(id)
            }
            _ => Verdict::Refused,
        }
    }

    /// How many sessions are remembered.
    ///
    /// ```
    /// use serde_json::json;
    /// use socketio_async::admin::Sessions;
    ///
    /// let mut sessions = Sessions::default();
    /// let auth = json!({"username": "admin", "password": "pw"});
    /// let auth = auth.as_object().unwrap();
    /// sessions.check(auth, "admin", |_| true, || "a".into());
    /// sessions.check(auth, "admin", |_| true, || "b".into());
    /// assert_eq!(sessions.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    ///
    /// ```
    /// assert!(socketio_async::admin::Sessions::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// A command from the dashboard, decoded from its event and arguments.
///
/// ```
/// use serde_json::json;
/// use socketio_async::admin::Command;
///
/// // The dashboard's "disconnect" button on socket "s1", connection closed.
/// let command = Command::decode("_disconnect", &[json!("/"), json!(true), json!("s1")]);
/// assert_eq!(command, Some(Command::Disconnect("/".into(), true, Some("s1".into()))));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `emit`: nsp, room filter, event, arguments.
    Emit(String, Option<String>, String, Vec<Value>),
    /// `join`: nsp, room, filter.
    Join(String, String, Option<String>),
    /// `leave`: nsp, room, filter.
    Leave(String, String, Option<String>),
    /// `_disconnect`: nsp, close, filter.
    Disconnect(String, bool, Option<String>),
}

impl Command {
    /// Decodes event `event` with `args`; `None` when the arguments do not
    /// have the expected types.
    ///
    /// ```
    /// use serde_json::json;
    /// use socketio_async::admin::Command;
    ///
    /// let emit = Command::decode("emit", &[json!("/"), json!(""), json!("hi"), json!(1)]);
    /// assert_eq!(emit, Some(Command::Emit("/".into(), None, "hi".into(), vec![json!(1)])));
    /// // A room that is not a string: not a command.
    /// assert_eq!(Command::decode("join", &[json!("/"), json!(5)]), None);
    /// assert_eq!(Command::decode("unknown", &[]), None);
    /// ```
    pub fn decode(event: &str, args: &[Value]) -> Option<Self> {
        let s = |i: usize| args.get(i).and_then(Value::as_str).map(str::to_owned);
        let filter = |i: usize| match args.get(i) {
            Some(Value::String(f)) if !f.is_empty() => Some(Some(f.clone())),
            None | Some(Value::Null | Value::String(_)) => Some(None),
            _ => None,
        };
        match event {
            "emit" => Some(Command::Emit(
                s(0)?,
                filter(1)?,
                s(2)?,
                args.get(3..).unwrap_or_default().to_vec(),
            )),
            "join" => Some(Command::Join(s(0)?, s(1)?, filter(2)?)),
            "leave" => Some(Command::Leave(s(0)?, s(1)?, filter(2)?)),
            "_disconnect" => Some(Command::Disconnect(
                s(0)?,
                args.get(1).and_then(Value::as_bool)?,
                filter(2)?,
            )),
            _ => None,
        }
    }
}

struct Shared {
    io: SocketIo,
    nsp: String,
    mode: Mode,
    readonly: bool,
    auth: Option<BasicAuth>,
    identity: ServerIdentity,
    started: Instant,
    sessions: Mutex<Sessions>,
    /// Sessions opened by a socket's CONNECT, told to it once connected.
    pending: Mutex<HashMap<SocketId, String>>,
    /// The `AGGREGATED_EVENTS` counts since the last `server_stats`.
    events: Mutex<EventBuffer>,
    /// The Engine.IO connections on polling (not upgraded, not closed).
    polling: Mutex<HashSet<Sid>>,
}

/// An instrumented server: see the [module documentation](self).
///
/// ```
/// use socketio_async::admin::{Admin, AdminOptions};
///
/// let io = socketio_async::SocketIo::new();
/// let admin = Admin::instrument(&io, AdminOptions::default())?;
/// // Every 2 s or so (Node's interval), a timer of the application calls:
/// admin.emit_stats();
/// assert_eq!(admin.stats().clients, 0);
/// # Ok::<(), socketio_async::admin::AdminError>(())
/// ```
#[derive(Clone)]
pub struct Admin {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("nsp", &self.shared.nsp)
            .finish_non_exhaustive()
    }
}

fn valid_hash(hash: &str) -> bool {
    hash.parse::<bcrypt::HashParts>().is_ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    // A failing OS random source leaves a session id nobody can guess
    // less of: refuse to make one that is all zeros.
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_iso() -> String {
    iso_date(now_ms())
}

/// A date as JavaScript's `Date.toJSON()` (what `new Date()` becomes on
/// the wire; empty past JavaScript's dates, year 275760).
///
/// ```
/// use socketio_async::admin::iso_date;
///
/// assert_eq!(iso_date(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(iso_date(1_795_328_105_123), "2026-11-22T06:15:05.123Z");
/// ```
pub fn iso_date(ms: u64) -> String {
    socketio_proto::msgpack::js_date_json(i128::from(ms)).unwrap_or_default()
}

impl Admin {
    /// Instruments `io` (`instrument(io, options)`): registers the admin
    /// namespace and starts reporting. Call it before the server runs or
    /// after; once per server.
    ///
    /// ```
    /// use socketio_async::admin::{Admin, AdminOptions, Mode};
    ///
    /// let io = socketio_async::SocketIo::new();
    /// let admin = Admin::instrument(&io, AdminOptions {
    ///     readonly: true,
    ///     mode: Mode::Production,
    ///     server_id: Some("eu-1".into()),
    ///     ..AdminOptions::default()
    /// })?;
    /// # Ok::<(), socketio_async::admin::AdminError>(())
    /// ```
    pub fn instrument(io: &SocketIo, options: AdminOptions) -> Result<Admin, AdminError> {
        if let Some(auth) = &options.auth {
            if !valid_hash(&auth.password_hash) {
                return Err(AdminError::InvalidHash);
            }
        }
        let shared = Arc::new(Shared {
            io: io.clone(),
            nsp: options.namespace.clone(),
            mode: options.mode,
            readonly: options.readonly,
            auth: options.auth,
            identity: ServerIdentity {
                server_id: options.server_id.unwrap_or_else(hostname),
                hostname: hostname(),
                pid: std::process::id(),
            },
            started: Instant::now(),
            sessions: Mutex::new(Sessions::default()),
            pending: Mutex::new(HashMap::new()),
            events: Mutex::new(EventBuffer::default()),
            polling: Mutex::new(HashSet::new()),
        });
        let admin = Admin { shared };
        let nsp = io.of(&options.namespace);
        let check = admin.shared.clone();
        nsp.use_middleware(move |connecting: Connecting| {
            let shared = check.clone();
            async move {
                let Some(auth) = &shared.auth else {
                    return Ok(());
                };
                let verdict = lock(&shared.sessions).check(
                    &connecting.handshake.auth,
                    &auth.username,
                    |password| bcrypt::verify(password, &auth.password_hash).unwrap_or(false),
                    random_id,
                );
                match verdict {
                    Verdict::Known => Ok(()),
                    Verdict::NewSession(id) => {
                        lock(&shared.pending).insert(connecting.id.clone(), id);
                        Ok(())
                    }
                    Verdict::Refused => Err(ConnectError::new("invalid credentials")),
                }
            }
        });
        let on_conn = admin.clone();
        nsp.on_connection(move |socket: Socket| {
            let admin = on_conn.clone();
            async move { admin.admin_connected(socket).await }
        });
        // Production mode too: the aggregated events are counted from the
        // engine's connections.
        let engine_admin = admin.clone();
        let engine = io.engine();
        // Every packet from the handshake on, as Node counts them.
        engine.watch_from_handshake(engineio_proto::Watch {
            packet: true,
            packet_create: true,
            drain: false,
        });
        engine.on_connection(move |conn| engine_admin.count_connection(&conn));
        let observer: Arc<dyn Observer> = Arc::new(admin.clone());
        io.set_observer(observer);
        Ok(admin)
    }

    async fn admin_connected(&self, socket: Socket) {
        if let Some(session) = lock(&self.shared.pending).remove(socket.id()) {
            let _ = socket.emit("session", (session,));
        }
        if !self.shared.readonly {
            for event in ["emit", "join", "leave", "_disconnect"] {
                let admin = self.clone();
                socket.on(event, move |payload: Payload| {
                    admin.command(event, &payload);
                    async {}
                });
            }
        }
        let features = features(self.shared.readonly, self.shared.mode);
        let _ = socket.emit("config", (json!({ "supportedFeatures": features }),));
        if self.shared.mode == Mode::Development {
            let sockets = self.all_sockets().await;
            let _ = socket.emit("all_sockets", (sockets,));
        }
        let _ = socket.emit("server_stats", (self.stats_value(),));
    }

    fn command(&self, event: &str, payload: &Payload) {
        let Some(command) = Command::decode(event, &payload.args) else {
            return;
        };
        let io = &self.shared.io;
        let select = |nsp: &str, filter: &Option<String>| {
            let op = io.of(nsp).operator();
            match filter {
                Some(room) => op.in_(room),
                None => op,
            }
        };
        let _ = match command {
            Command::Emit(nsp, filter, ev, args) => select(&nsp, &filter)
                .emit_payload(
                    &ev,
                    Payload {
                        args,
                        binary: Vec::new(),
                    },
                )
                .map(|_| ()),
            Command::Join(nsp, room, filter) => select(&nsp, &filter).sockets_join(room),
            Command::Leave(nsp, room, filter) => select(&nsp, &filter).sockets_leave(room),
            Command::Disconnect(nsp, close, filter) => {
                select(&nsp, &filter).disconnect_sockets(close)
            }
        };
    }

    /// Every socket of every namespace of this node, fetched across the
    /// cluster (`fetchSockets` per namespace, as Node's `instrument`).
    async fn all_sockets(&self) -> Vec<Value> {
        let io = &self.shared.io;
        let mut names: Vec<String> = io
            .runner()
            .act(|core, _| {
                core.namespace_names()
                    .into_iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut out = Vec::new();
        for nsp in names {
            let Ok(sockets) = io.broadcast_in(&nsp).fetch_sockets().await else {
                continue;
            };
            for remote in sockets {
                let info = SocketInfo {
                    id: remote.id.clone(),
                    nsp: remote.nsp.clone(),
                    handshake: remote.handshake.clone(),
                    rooms: remote.rooms.clone(),
                    data: remote.data.clone(),
                };
                out.push(self.serialize(&info));
            }
        }
        out
    }

    /// A socket of this node (client id and transport from the engine) or
    /// of another (from its `data._admin`, when that node put it there).
    fn serialize(&self, info: &SocketInfo) -> Value {
        let local: Option<(String, Option<&str>)> = self
            .shared
            .io
            .runner()
            .act(|core, _| {
                let engine_sid = core.socket_sid(&info.id)?;
                let transport = core.engine().transport(engine_sid).map(|t| t.name());
                Some((engine_sid.to_string(), transport))
            })
            .flatten();
        match local {
            Some((sid, transport)) => serialize_socket(info, Some(&sid), transport),
            None => {
                let admin = info.data.get("_admin");
                let field = |k: &str| admin.and_then(|a| a.get(k)).and_then(Value::as_str);
                serialize_socket(info, field("clientId"), field("transport"))
            }
        }
    }

    /// This node's figures now.
    ///
    /// ```
    /// use socketio_async::admin::{Admin, AdminOptions};
    ///
    /// let io = socketio_async::SocketIo::new();
    /// let admin = Admin::instrument(&io, AdminOptions::default())?;
    /// let stats = admin.stats();
    /// assert_eq!(stats.clients, 0); // not running yet
    /// # Ok::<(), socketio_async::admin::AdminError>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let io = &self.shared.io;
        let clients = io.clients_count();
        // Counted from the engine's connections, as Node does.
        let polling_clients = lock(&self.shared.polling).len();
        let namespaces = io
            .runner()
            .act(|core, _| {
                let mut names: Vec<String> = core
                    .namespace_names()
                    .into_iter()
                    .map(ToString::to_string)
                    .collect();
                names.sort();
                names
                    .into_iter()
                    .map(|nsp| {
                        let count = core
                            .fetch_sockets(&Nsp::from(&nsp), &Target::default())
                            .len();
                        (nsp, count)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Stats {
            clients,
            polling_clients,
            namespaces,
        }
    }

    fn stats_value(&self) -> Value {
        let aggregated = lock(&self.shared.events).take();
        server_stats(
            &self.shared.identity,
            self.shared.started.elapsed().as_secs_f64(),
            &self.stats(),
            aggregated,
        )
    }

    fn count(&self, kind: &'static str, sub: Option<&str>, n: u64) {
        lock(&self.shared.events).push(now_ms(), kind, sub, n);
    }

    /// Counts an Engine.IO connection from its handshake on, as Node's
    /// instrumentation does from `io.engine.on("connection")`: the
    /// connection, its packets in and out with data, its close, and (while
    /// it has not upgraded) its polling transport.
    fn count_connection(&self, conn: &Conn) {
        self.count("rawConnection", None, 1);
        let sid = conn.id().clone();
        let polling = conn.transport() == Some(TransportKind::Polling);
        if polling {
            lock(&self.shared.polling).insert(sid.clone());
            let (admin, sid) = (self.clone(), sid.clone());
            conn.on_upgrade(move |_| {
                lock(&admin.shared.polling).remove(&sid);
            });
        }
        let admin = self.clone();
        conn.on_packet(move |packet| {
            if let Some(n) = data_len(packet) {
                admin.count("packetsIn", None, 1);
                admin.count("bytesIn", None, n);
            }
        });
        let admin = self.clone();
        conn.on_packet_create(move |packet| {
            if let Some(n) = data_len(packet) {
                admin.count("packetsOut", None, 1);
                admin.count("bytesOut", None, n);
            }
        });
        let (admin, closed) = (self.clone(), sid.clone());
        conn.on_close(move |reason, _| {
            lock(&admin.shared.polling).remove(&closed);
            admin.count("rawDisconnection", Some(reason.as_str()), 1);
        });
        // Closed before its handlers were taken: none will run.
        if conn.transport().is_none() {
            lock(&self.shared.polling).remove(&sid);
        }
    }

    /// `event_received` / `event_sent` for a socket outside the admin
    /// namespace.
    fn watch_events(&self, socket: &Socket) {
        if socket.nsp() == self.shared.nsp {
            return;
        }
        for (hook, event) in [(true, "event_received"), (false, "event_sent")] {
            let admin = self.clone();
            let (nsp, id) = (socket.nsp().to_owned(), socket.id().to_string());
            let report = move |name: &str, payload: &Payload| {
                let mut args = Vec::with_capacity(payload.args.len() + 1);
                args.push(Value::from(name));
                args.extend(payload.args.iter().cloned());
                admin.notify_payload(
                    event,
                    Payload {
                        args: vec![
                            Value::from(nsp.as_str()),
                            Value::from(id.as_str()),
                            Value::Array(args),
                            Value::from(now_iso()),
                        ],
                        binary: payload.binary.clone(),
                    },
                );
            };
            // The hook's own shape (no extractors): the arguments are
            // read where they are, not copied first.
            let report = Arc::new(move |_: &Socket, name: &str, payload: &Payload| {
                report(name, payload);
            });
            socket.add_any(if hook { Hook::Any } else { Hook::AnyOutgoing }, report);
        }
    }

    /// Emits `server_stats` to the admin namespace: call it every 2
    /// seconds on the application's runtime.
    ///
    /// ```
    /// use socketio_async::admin::{Admin, AdminOptions};
    ///
    /// let io = socketio_async::SocketIo::new();
    /// let admin = Admin::instrument(&io, AdminOptions::default())?;
    /// // With tokio, for example:
    /// // tokio::spawn(async move {
    /// //     let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
    /// //     loop { every.tick().await; admin.emit_stats(); }
    /// // });
    /// admin.emit_stats();
    /// # Ok::<(), socketio_async::admin::AdminError>(())
    /// ```
    pub fn emit_stats(&self) {
        let value = self.stats_value();
        let _ = self
            .shared
            .io
            .of(&self.shared.nsp)
            .emit("server_stats", (value,));
    }

    fn notify(&self, event: &str, args: Value) {
        self.notify_payload(
            event,
            Payload {
                args: args_vec(args),
                binary: Vec::new(),
            },
        );
    }

    fn notify_payload(&self, event: &str, payload: Payload) {
        let _ = self
            .shared
            .io
            .broadcast_in(&self.shared.nsp)
            .emit_payload(event, payload);
    }

    /// `_admin: {clientId, transport}` put back into the data of socket
    /// `id` if it lacks it (data that is not an object is left alone).
    fn mark(&self, id: &SocketId, transport: Option<&str>) {
        self.shared.io.runner().act(|core, _| {
            let Some(engine_sid) = core.socket_sid(id).cloned() else {
                return;
            };
            let transport = transport
                .map(str::to_owned)
                .or_else(|| core.engine().transport(&engine_sid).map(|t| t.name().to_owned()));
            let sid = engine_sid.to_string();
            let mut data = match core.data(id) {
                Some(Value::Object(o)) => o.clone(),
                Some(Value::Null) | None => Map::new(),
                Some(_) => return,
            };
            data.insert(
                "_admin".into(),
                json!({ "clientId": sid.chars().take(12).collect::<String>(), "transport": transport }),
            );
            core.set_data(id, Value::Object(data));
        });
    }
}

/// The length of a packet's data, as Node's `Buffer.byteLength(data)`;
/// `None` for a packet without data.
fn data_len(packet: &Packet) -> Option<u64> {
    let n = match packet {
        Packet::Message(Data::Text(t)) => t.len(),
        Packet::Message(Data::Binary(b)) => b.len(),
        Packet::Open(t) | Packet::Ping(t) | Packet::Pong(t) => t.len(),
        _ => 0,
    };
    (n > 0).then_some(n as u64)
}

fn args_vec(args: Value) -> Vec<Value> {
    match args {
        Value::Array(a) => a,
        other => vec![other],
    }
}

impl Observer for Admin {
    fn connected(&self, socket: &Socket) {
        if self.shared.mode != Mode::Development {
            return;
        }
        self.mark(socket.id(), None);
        let id = socket.id().clone();
        let found = self
            .shared
            .io
            .runner()
            .act(|core, _| core.socket(&id))
            .flatten();
        let Some(info) = found else {
            return;
        };
        self.notify(
            "socket_connected",
            json!([self.serialize(&info), now_iso()]),
        );
        self.watch_events(socket);
        let admin = self.clone();
        let (nsp, id) = (socket.nsp().to_owned(), socket.id().clone());
        socket.conn().on_upgrade(move |transport| {
            admin.mark(&id, Some(transport.name()));
            admin.notify(
                "socket_updated",
                json!([{ "id": id.as_str(), "nsp": nsp, "transport": transport.name() }]),
            );
        });
    }

    fn data_changed(&self, socket: &Socket, data: &Value) {
        if self.shared.mode != Mode::Development {
            return;
        }
        if data.is_object() && data.get("_admin").is_none() || data.is_null() {
            self.mark(socket.id(), None);
        }
        self.notify(
            "socket_updated",
            json!([{ "id": socket.id().as_str(), "nsp": socket.nsp(), "data": shown_data(data) }]),
        );
    }

    fn disconnected(&self, nsp: &str, id: &SocketId, reason: DisconnectReason) {
        if self.shared.mode != Mode::Development {
            return;
        }
        self.notify(
            "socket_disconnected",
            json!([nsp, id.as_str(), reason.as_str(), now_iso()]),
        );
    }

    fn room(&self, joined: bool, nsp: &str, room: &str, id: &SocketId) {
        if self.shared.mode != Mode::Development {
            return;
        }
        let event = if joined { "room_joined" } else { "room_left" };
        self.notify(event, json!([nsp, room, id.as_str(), now_iso()]));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn auth(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn credentials_and_sessions() {
        let mut s = Sessions::default();
        let ok = |p: &str| p == "secret";
        let good = auth(json!({"username": "admin", "password": "secret"}));
        assert_eq!(
            s.check(&good, "admin", ok, || "s1".into()),
            Verdict::NewSession("s1".into())
        );
        for bad in [
            json!({"username": "admin", "password": "wrong"}),
            json!({"username": "root", "password": "secret"}),
            json!({"username": "admin"}),
            json!({"username": "admin", "password": 1}),
            json!({"sessionId": "nope"}),
            json!({}),
        ] {
            assert_eq!(
                s.check(&auth(bad), "admin", ok, || "x".into()),
                Verdict::Refused
            );
        }
        assert_eq!(
            s.check(&auth(json!({"sessionId": "s1"})), "admin", ok, || "x"
                .into()),
            Verdict::Known
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn sessions_are_bounded_oldest_first() {
        let mut s = Sessions::default();
        let good = auth(json!({"username": "a", "password": "p"}));
        for i in 0..=MAX_SESSIONS {
            let _ = s.check(&good, "a", |_| true, || format!("s{i}"));
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        let known = |s: &mut Sessions, id: &str| {
            s.check(
                &auth(json!({ "sessionId": id })),
                "a",
                |_| false,
                String::new,
            )
        };
        assert_eq!(known(&mut s, "s0"), Verdict::Refused);
        assert_eq!(known(&mut s, "s1"), Verdict::Known);
        assert_eq!(known(&mut s, &format!("s{MAX_SESSIONS}")), Verdict::Known);
    }

    #[test]
    fn bcrypt_hashes_verify() {
        let mine = bcrypt::hash("changeit", 4).unwrap();
        assert!(bcrypt::verify("changeit", &mine).unwrap());
        assert!(!bcrypt::verify("changeIt", &mine).unwrap());
        assert!(valid_hash(&mine));
        assert!(!valid_hash("changeit"));
    }

    #[test]
    fn commands_decode() {
        assert_eq!(
            Command::decode("join", &[json!("/"), json!("room1"), json!("abc")]),
            Some(Command::Join(
                "/".into(),
                "room1".into(),
                Some("abc".into())
            ))
        );
        assert_eq!(
            Command::decode("leave", &[json!("/chat"), json!("r")]),
            Some(Command::Leave("/chat".into(), "r".into(), None))
        );
        assert_eq!(
            Command::decode("_disconnect", &[json!("/"), json!(true), json!("id")]),
            Some(Command::Disconnect("/".into(), true, Some("id".into())))
        );
        assert_eq!(
            Command::decode("_disconnect", &[json!("/"), json!(false)]),
            Some(Command::Disconnect("/".into(), false, None))
        );
        assert_eq!(
            Command::decode(
                "emit",
                &[json!("/"), json!(""), json!("hi"), json!(1), json!("x")]
            ),
            Some(Command::Emit(
                "/".into(),
                None,
                "hi".into(),
                vec![json!(1), json!("x")]
            ))
        );
        assert_eq!(Command::decode("join", &[json!("/"), json!(3)]), None);
        assert_eq!(Command::decode("_disconnect", &[json!("/")]), None);
        assert_eq!(Command::decode("eval", &[]), None);
        assert_eq!(
            features(true, Mode::Development),
            ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        );
        assert_eq!(features(true, Mode::Production), ["AGGREGATED_EVENTS"]);
        assert_eq!(
            features(false, Mode::Development),
            [
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
                "AGGREGATED_EVENTS",
                "ALL_EVENTS"
            ]
        );
        assert_eq!(features(false, Mode::Production).len(), 8);
    }

    #[test]
    fn aggregated_events_per_second() {
        let mut b = EventBuffer::default();
        b.push(5_200, "rawConnection", None, 1);
        b.push(5_300, "packetsIn", None, 1);
        b.push(5_300, "bytesIn", None, 12);
        b.push(5_999, "packetsIn", None, 1);
        b.push(5_999, "bytesIn", None, 3);
        b.push(5_999, "rawDisconnection", Some("transport close"), 1);
        b.push(5_999, "rawDisconnection", Some("ping timeout"), 1);
        b.push(6_000, "packetsIn", None, 1);
        b.push(6_001, "rawDisconnection", Some("transport close"), 1);
        assert_eq!(
            Value::Array(b.take()),
            json!([
                {"timestamp": 5000, "type": "rawConnection", "count": 1},
                {"timestamp": 5000, "type": "packetsIn", "count": 2},
                {"timestamp": 5000, "type": "bytesIn", "count": 15},
                {"timestamp": 5000, "type": "rawDisconnection", "subType": "transport close", "count": 1},
                {"timestamp": 5000, "type": "rawDisconnection", "subType": "ping timeout", "count": 1},
                {"timestamp": 6000, "type": "packetsIn", "count": 1},
                {"timestamp": 6000, "type": "rawDisconnection", "subType": "transport close", "count": 1},
            ])
        );
        assert!(b.is_empty());
        assert_eq!(b.take(), Vec::<Value>::new());
    }

    #[test]
    fn aggregated_events_are_bounded() {
        let mut b = EventBuffer::default();
        // One entry a second, one more than the bound: the oldest goes.
        for s in 0..=MAX_AGGREGATED as u64 {
            b.push(s * 1000, "packetsOut", None, 1);
        }
        assert_eq!(b.len(), MAX_AGGREGATED);
        let taken = b.take();
        assert_eq!(taken[0]["timestamp"], 1000);
        assert_eq!(
            taken[MAX_AGGREGATED - 1]["timestamp"],
            MAX_AGGREGATED as u64 * 1000
        );
    }

    #[test]
    fn shown_data_drops_admin() {
        assert_eq!(
            shown_data(&json!({"_admin": {"clientId": "x"}, "name": "a"})),
            json!({"name": "a"})
        );
        assert_eq!(shown_data(&json!(3)), json!({}));
        assert_eq!(shown_data(&Value::Null), json!({}));
        let p = Packet::Message(Data::Text("2[\"é\"]".into()));
        assert_eq!(data_len(&p), Some(7));
        assert_eq!(data_len(&Packet::Ping("".into())), None);
        assert_eq!(
            data_len(&Packet::Message(Data::Binary(vec![1, 2, 3].into()))),
            Some(3)
        );
    }

    #[test]
    fn stats_and_dates() {
        let id = ServerIdentity {
            server_id: "node-1".into(),
            hostname: "h".into(),
            pid: 42,
        };
        let stats = Stats {
            clients: 3,
            polling_clients: 1,
            namespaces: vec![("/".into(), 2), ("/admin".into(), 1)],
        };
        let events = vec![json!({"timestamp": 1000, "type": "rawConnection", "count": 1})];
        assert_eq!(
            server_stats(&id, 1.5, &stats, events),
            json!({"serverId": "node-1", "hostname": "h", "pid": 42, "uptime": 1.5,
                "clientsCount": 3, "pollingClientsCount": 1,
                "aggregatedEvents": [{"timestamp": 1000, "type": "rawConnection", "count": 1}],
                "namespaces": [{"name": "/", "socketsCount": 2},
                               {"name": "/admin", "socketsCount": 1}]})
        );
        assert_eq!(iso_date(0), "1970-01-01T00:00:00.000Z");
        // Both checked against `new Date(ms).toJSON()` on Node.
        assert_eq!(iso_date(1_796_601_729_123), "2026-12-07T00:02:09.123Z");
        assert_eq!(iso_date(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
