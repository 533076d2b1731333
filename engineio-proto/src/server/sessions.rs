//! The session table: every open session in a slot map, addressed by a
//! [`SessionKey`] (a slot index and a generation), and the index from
//! session id to key.
//!
//! Requests name their session by id (from the query string), so the id
//! index is what most paths use. A caller that sends to the same session
//! many times (each recipient of a broadcast) keeps its key and skips the
//! id lookup: the key reaches the slot directly, and the generation makes
//! a key of a closed session miss even once its slot is reused.

use std::borrow::Borrow;
use std::hash::Hash;

use slotmap::SlotMap;

use crate::IdMap;
use crate::output::Sid;
use crate::session::Session;

slotmap::new_key_type! {
    /// A small handle on one open session of an engine (a slot index and
    /// a generation, 8 bytes): [`Server::session_key`](crate::Server::session_key)
    /// gives it, [`Server::send_to`](crate::Server::send_to) uses it. Once
    /// the session closes, its key names nothing, even when the slot holds
    /// a newer session. Opaque, and meaningful to the engine that gave it
    /// only: the session id ([`Sid`]) stays the public name and the one on
    /// the wire.
    pub struct SessionKey;
}

/// The open sessions, by key and by id.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    /// Boxed: the table keeps spare slots, and an empty slot then costs a
    /// pointer rather than a whole session.
    slots: SlotMap<SessionKey, Box<Session>>,
    by_sid: IdMap<Sid, SessionKey>,
}

impl Sessions {
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn contains_key<Q>(&self, sid: &Q) -> bool
    where
        Sid: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.by_sid.contains_key(sid)
    }

    pub(super) fn key<Q>(&self, sid: &Q) -> Option<SessionKey>
    where
        Sid: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.by_sid.get(sid).copied()
    }

    pub(super) fn get<Q>(&self, sid: &Q) -> Option<&Session>
    where
        Sid: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.slots.get(self.key(sid)?).map(|s| &**s)
    }

    pub(super) fn get_mut<Q>(&mut self, sid: &Q) -> Option<&mut Session>
    where
        Sid: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let key = self.key(sid)?;
        self.slots.get_mut(key).map(|s| &mut **s)
    }

    pub(super) fn by_key(&self, key: SessionKey) -> Option<&Session> {
        self.slots.get(key).map(|s| &**s)
    }

    pub(super) fn by_key_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        self.slots.get_mut(key).map(|s| &mut **s)
    }

    /// Adds a session under `sid` (not in the table: the handshake checked).
    pub(super) fn insert(&mut self, sid: Sid, session: Box<Session>) -> SessionKey {
        let key = self.slots.insert(session);
        if let Some(old) = self.by_sid.insert(sid, key) {
            // Not reached (ids are checked unique first); kept consistent.
            self.slots.remove(old);
        }
        key
    }

    pub(super) fn remove(&mut self, sid: &Sid) -> Option<Box<Session>> {
        let key = self.by_sid.remove(sid)?;
        self.slots.remove(key)
    }

    /// The ids of every open session.
    pub(super) fn keys(&self) -> impl Iterator<Item = &Sid> {
        self.by_sid.keys()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::output::{Message, RequestId, SendError};
    use crate::packet::Protocol;
    use crate::session::{PayloadFormat, Transport};
    use crate::testing::Harness;

    fn session(sid: &str) -> Box<Session> {
        let format = PayloadFormat {
            protocol: Protocol::V4,
            supports_binary: true,
            jsonp: None,
        };
        let transport = Transport::WebSocket {
            ws: RequestId(1),
            writable: true,
        };
        Box::new(Session::new(Sid::new(sid), format, transport))
    }

    #[test]
    fn a_key_reaches_its_session_and_no_later_one_in_its_slot() {
        let mut table = Sessions::default();
        let a = table.insert(Sid::new("a"), session("a"));
        assert_eq!(table.key("a"), Some(a));
        assert_eq!(table.by_key(a).unwrap().sid.as_str(), "a");
        assert_eq!(table.get("a").unwrap().sid.as_str(), "a");
        assert!(table.remove(&Sid::new("a")).is_some());
        assert_eq!((table.len(), table.key("a")), (0, None));
        assert!(table.by_key(a).is_none());
        // The slot is reused by the next session, under a new generation:
        // the old key still misses.
        let b = table.insert(Sid::new("b"), session("b"));
        assert_ne!(a, b);
        assert!(table.by_key(a).is_none());
        assert!(table.by_key_mut(a).is_none());
        assert_eq!(table.by_key(b).unwrap().sid.as_str(), "b");
        assert_eq!(table.keys().collect::<Vec<_>>(), [&Sid::new("b")]);
        assert!(table.remove(&Sid::new("a")).is_none());
    }

    #[test]
    fn send_to_by_key_is_send_by_id_and_a_closed_sessions_key_is_unknown() {
        let mut h = Harness::fixture(Instant::now());
        let (ws, sid) = h.open_ws();
        let key = h.server.session_key(&sid).unwrap();
        assert!(h.server.is_writable_to(key));
        h.server.send_to(key, Message::text("by key")).unwrap();
        h.server.send(&sid, Message::text("by id")).unwrap();
        h.drain();
        assert_eq!(h.ws_take(ws), ["4by key", "4by id"]);
        h.server.close(h.now, &sid);
        h.drain();
        assert_eq!(h.server.session_key(&sid), None);
        let (ws2, sid2) = h.open_ws();
        let key2 = h.server.session_key(&sid2).unwrap();
        assert_ne!(key, key2);
        assert!(!h.server.is_writable_to(key));
        assert_eq!(
            h.server.send_to(key, Message::text("stale")),
            Err(SendError::UnknownSession)
        );
        h.server.send_to(key2, Message::text("new")).unwrap();
        h.drain();
        assert_eq!(h.ws_take(ws2), ["4new"]);
    }
}
