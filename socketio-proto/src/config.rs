//! Socket.IO configuration, with the official defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::parser::{JsonParser, Parser};

/// Wall-clock time in milliseconds since the Unix epoch, for
/// `handshake.issued` and `handshake.time`. The core never reads a clock:
/// the runtime supplies this.
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Decides whether a dynamic namespace may be created for a name and the
/// CONNECT's auth payload.
pub type NamespacePredicate = Arc<dyn Fn(&str, &Map<String, Value>) -> bool + Send + Sync>;

/// Connection state recovery (`connectionStateRecovery`), off by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a disconnected session and the packets it missed are kept
    /// (default 2 minutes).
    pub max_disconnection_duration: Duration,
    /// Recovered sockets skip the connection middlewares (default true):
    /// they connect without an [`Event::Connect`](crate::Event::Connect).
    pub skip_middlewares: bool,
    /// The most packets kept for replay per namespace (ours: bounds memory
    /// under a high broadcast rate; older packets are forgotten first, and a
    /// client whose offset was forgotten reconnects as a new socket).
    pub max_stored_packets: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_stored_packets: 100_000,
        }
    }
}

/// The configuration of a Socket.IO server.
#[derive(Clone)]
pub struct Config {
    /// The engine's configuration; its path defaults to `/socket.io`.
    pub engine: engineio_proto::Config,
    /// A connection that joins no namespace within this is closed (default
    /// 45 s).
    pub connect_timeout: Duration,
    /// The most binary attachments one packet may carry (default 10); more
    /// closes the connection.
    pub max_attachments: usize,
    /// The most acknowledgements one socket may wait for at once (ours;
    /// default 10 000). Past it `emit_with_ack` is refused.
    pub max_outstanding_acks: usize,
    /// Remove a dynamic child namespace when its last socket leaves
    /// (default false).
    pub cleanup_empty_child_namespaces: bool,
    /// Connection state recovery; none by default.
    pub recovery: Option<RecoveryConfig>,
    /// The wall clock for handshakes; without it `issued` is 0.
    pub wall_clock: Option<WallClock>,
    /// Membership of a cluster of nodes; none (a single node) by default.
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// How packets are written and read (`parser`): [`JsonParser`] by
    /// default, [`MsgpackParser`](crate::MsgpackParser) for clients using
    /// npm `socket.io-msgpack-parser`, or your own [`Parser`]. Every client
    /// of the server must use the same one.
    pub parser: Arc<dyn Parser>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            engine: engineio_proto::Config {
                path: "/socket.io".into(),
                ..engineio_proto::Config::default()
            },
            connect_timeout: Duration::from_secs(45),
            max_attachments: 10,
            max_outstanding_acks: 10_000,
            cleanup_empty_child_namespaces: false,
            recovery: None,
            wall_clock: None,
            cluster: None,
            parser: Arc::new(JsonParser),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_attachments", &self.max_attachments)
            .field("max_outstanding_acks", &self.max_outstanding_acks)
            .field(
                "cleanup_empty_child_namespaces",
                &self.cleanup_empty_child_namespaces,
            )
            .field("recovery", &self.recovery)
            .field("cluster", &self.cluster)
            .field("parser", &self.parser)
            .finish_non_exhaustive()
    }
}

/// How a parent namespace recognises the names of its children.
#[derive(Clone)]
pub enum NamespaceMatcher {
    /// A regular expression over the whole name (`^/dynamic-\d+$`).
    Pattern(regex_lite::Regex),
    /// A predicate over the name and the CONNECT's auth payload.
    Predicate(NamespacePredicate),
}

impl NamespaceMatcher {
    pub(crate) fn matches(&self, name: &str, auth: &Map<String, Value>) -> bool {
        match self {
            Self::Pattern(re) => re.is_match(name),
            // A panicking predicate matches nothing: the client gets
            // "Invalid namespace", the core stays whole.
            Self::Predicate(accept) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| accept(name, auth)))
                    .unwrap_or(false)
            }
        }
    }
}

impl fmt::Debug for NamespaceMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pattern(re) => f.debug_tuple("Pattern").field(&re.as_str()).finish(),
            Self::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        let p = NamespaceMatcher::Pattern(regex_lite::Regex::new(r"^/dyn-\d+$").unwrap());
        assert!(p.matches("/dyn-12", &Map::new()));
        assert!(!p.matches("/dyn-x", &Map::new()));
        let q = NamespaceMatcher::Predicate(Arc::new(|name, auth| {
            name.starts_with("/t") && auth.contains_key("token")
        }));
        let mut auth = Map::new();
        assert!(!q.matches("/team", &auth));
        auth.insert("token".into(), Value::from(1));
        assert!(q.matches("/team", &auth));
    }
}
