//! Connection state recovery: every broadcast that may be replayed gets an
//! offset and is kept (per namespace, bounded), a socket that drops for a
//! recoverable reason is kept with its rooms and data, and a client that
//! comes back with its private id and last offset gets its socket back and
//! the packets it missed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use engineio_proto::Str;
use serde_json::Value;

use crate::config::RecoveryConfig;
use crate::types::{Nsp, Room, SocketId, Target};

/// The recovery state of every namespace; inert when recovery is off.
#[derive(Debug)]
pub(super) struct Recovery {
    config: Option<RecoveryConfig>,
    /// The next offset, shared by every namespace (as one counter per
    /// server in the official adapter).
    next_offset: u64,
    stores: HashMap<Nsp, Store>,
}

/// A disconnected session kept for recovery.
#[derive(Debug, Clone)]
pub(super) struct StoredSession {
    /// The socket id it gets back.
    pub(super) sid: SocketId,
    pub(super) rooms: Vec<Room>,
    pub(super) data: Value,
    pub(super) disconnected_at: Instant,
}

/// A broadcast kept for replay, with the offset it was sent with.
#[derive(Debug, Clone)]
struct StoredPacket {
    offset: Str,
    rooms: Vec<Room>,
    except: Vec<Room>,
    /// The EVENT's array, offset last.
    data: Vec<Value>,
    at: Instant,
}

/// What one namespace keeps.
#[derive(Debug, Default)]
struct Store {
    sessions: HashMap<Str, StoredSession>,
    /// Private ids in the order they were stored, for expiry.
    order: VecDeque<(Instant, Str)>,
    packets: VecDeque<StoredPacket>,
}

impl Recovery {
    pub(super) fn new(config: Option<RecoveryConfig>) -> Self {
        Self {
            config,
            next_offset: 0,
            stores: HashMap::new(),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// Whether a recovered socket connects without the middlewares.
    pub(super) fn skips_middlewares(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.skip_middlewares)
    }

    /// Keeps the EVENT array `data` sent to `target` in `nsp` for replay:
    /// returns it with its offset appended, as it must be sent. `None` when
    /// recovery is off.
    pub(super) fn keep(
        &mut self,
        nsp: &Nsp,
        now: Instant,
        target: &Target,
        mut data: Vec<Value>,
    ) -> Result<Vec<Value>, Vec<Value>> {
        let Some(config) = &self.config else {
            return Err(data);
        };
        let offset = Str::from(format!("{:x}", self.next_offset));
        self.next_offset += 1;
        data.push(Value::String(offset.to_string()));
        let store = self.stores.entry(nsp.clone()).or_default();
        store.expire(now, config.max_disconnection_duration);
        store.store_packet(
            StoredPacket {
                offset,
                rooms: target.rooms.clone(),
                except: target.except.clone(),
                data: data.clone(),
                at: now,
            },
            config.max_stored_packets,
        );
        Ok(data)
    }

    /// Keeps the session of a socket that left for a recoverable reason.
    pub(super) fn persist(&mut self, nsp: &Nsp, now: Instant, pid: Str, session: StoredSession) {
        let Some(config) = &self.config else {
            return;
        };
        let store = self.stores.entry(nsp.clone()).or_default();
        store.expire(now, config.max_disconnection_duration);
        store.persist(pid, session);
    }

    /// The session `pid` of `nsp` and the packets it missed after `offset`,
    /// if both are still known (`restoreSession`) and `taken` says its
    /// socket id is free.
    pub(super) fn restore(
        &mut self,
        nsp: &Nsp,
        now: Instant,
        pid: &str,
        offset: &str,
        taken: impl Fn(&SocketId) -> bool,
    ) -> Option<(StoredSession, Vec<Vec<Value>>)> {
        let config = self.config.as_ref()?;
        let store = self.stores.get_mut(nsp)?;
        store.expire(now, config.max_disconnection_duration);
        store.restore(pid, offset).filter(|(s, _)| !taken(&s.sid))
    }

    /// Forgets what a removed namespace kept.
    pub(super) fn forget(&mut self, nsp: &Nsp) {
        self.stores.remove(nsp);
    }
}

impl Store {
    /// Forgets what is older than `max_age` before `now`.
    fn expire(&mut self, now: Instant, max_age: Duration) {
        let fresh = |at: Instant| now.saturating_duration_since(at) <= max_age;
        while let Some((at, pid)) = self.order.front() {
            if fresh(*at) {
                break;
            }
            if self
                .sessions
                .get(pid)
                .is_some_and(|s| s.disconnected_at == *at)
            {
                self.sessions.remove(pid);
            }
            self.order.pop_front();
        }
        while self.packets.front().is_some_and(|p| !fresh(p.at)) {
            self.packets.pop_front();
        }
    }

    fn persist(&mut self, pid: Str, session: StoredSession) {
        self.order.push_back((session.disconnected_at, pid.clone()));
        self.sessions.insert(pid, session);
    }

    fn store_packet(&mut self, packet: StoredPacket, max_packets: usize) {
        while self.packets.len() >= max_packets.max(1) {
            self.packets.pop_front();
        }
        self.packets.push_back(packet);
    }

    fn restore(&mut self, pid: &str, offset: &str) -> Option<(StoredSession, Vec<Vec<Value>>)> {
        let index = self.packets.iter().position(|p| p.offset == offset)?;
        let session = self.sessions.remove(pid)?;
        let missed = self
            .packets
            .iter()
            .skip(index + 1)
            .filter(|p| {
                let included =
                    p.rooms.is_empty() || session.rooms.iter().any(|r| p.rooms.contains(r));
                let excluded = session.rooms.iter().any(|r| p.except.contains(r));
                included && !excluded
            })
            .map(|p| p.data.clone())
            .collect();
        Some((session, missed))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config(max_stored_packets: usize) -> RecoveryConfig {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(10),
            skip_middlewares: true,
            max_stored_packets,
        }
    }

    fn session(id: &str, rooms: &[&str], at: Instant) -> StoredSession {
        StoredSession {
            sid: SocketId::new(id),
            rooms: rooms.iter().map(|r| Room::from(r.to_string())).collect(),
            data: json!({"n": 1}),
            disconnected_at: at,
        }
    }

    #[test]
    fn off_keeps_nothing() {
        let mut r = Recovery::new(None);
        let t0 = Instant::now();
        let nsp = Nsp::from("/");
        assert_eq!(
            r.keep(&nsp, t0, &Target::all(), vec![json!("e")]),
            Err(vec![json!("e")])
        );
        r.persist(&nsp, t0, Str::from("p"), session("s", &[], t0));
        assert!(
            r.restore(&Nsp::from("/"), t0, "p", "0", |_| false)
                .is_none()
        );
        assert!(!r.enabled() && !r.skips_middlewares());
    }

    #[test]
    fn offsets_count_in_hex_and_replay_follows_rooms() {
        let mut r = Recovery::new(Some(config(100)));
        let t0 = Instant::now();
        let nsp = Nsp::from("/");
        let mut last = None;
        for i in 0..17 {
            let data = r.keep(&nsp, t0, &Target::all(), vec![json!("e"), json!(i)]);
            last = data.unwrap().last().cloned();
        }
        // The 17th packet has offset 16: "10" in hex.
        assert_eq!(last, Some(json!("10")));
        let sent = |r: &mut Recovery, target: &Target, n: i32| {
            r.keep(&nsp, t0, target, vec![json!("m"), json!(n)])
                .unwrap()
        };
        sent(&mut r, &Target::room("red"), 1);
        sent(&mut r, &Target::room("blue"), 2);
        sent(&mut r, &Target::all().except("red"), 3);
        sent(&mut r, &Target::all(), 4);
        r.persist(&nsp, t0, Str::from("pid"), session("sock", &["red"], t0));
        let (s, missed) = r
            .restore(&Nsp::from("/"), t0, "pid", "10", |_| false)
            .unwrap();
        assert_eq!(s.sid, SocketId::new("sock"));
        assert_eq!(
            missed,
            vec![
                vec![json!("m"), json!(1), json!("11")],
                vec![json!("m"), json!(4), json!("14")],
            ]
        );
        // Restored once: the session is gone.
        assert!(
            r.restore(&Nsp::from("/"), t0, "pid", "10", |_| false)
                .is_none()
        );
    }

    #[test]
    fn unknown_offset_expiry_and_taken_ids_restore_nothing() {
        let mut r = Recovery::new(Some(config(2)));
        let t0 = Instant::now();
        let nsp = Nsp::from("/");
        for _ in 0..3 {
            r.keep(&nsp, t0, &Target::all(), vec![json!("e")]).unwrap();
        }
        r.persist(&nsp, t0, Str::from("pid"), session("sock", &[], t0));
        // Offset 0 was dropped to keep 2 packets.
        assert!(
            r.restore(&Nsp::from("/"), t0, "pid", "0", |_| false)
                .is_none()
        );
        // A socket id in use is not handed out twice.
        assert!(
            r.restore(&Nsp::from("/"), t0, "pid", "1", |_| true)
                .is_none()
        );
        // Within the maximum disconnection duration a session comes back;
        // past it, sessions and packets are forgotten.
        r.persist(&nsp, t0, Str::from("a"), session("sa", &[], t0));
        r.persist(&nsp, t0, Str::from("b"), session("sb", &[], t0));
        let within = t0 + Duration::from_secs(10);
        assert!(
            r.restore(&Nsp::from("/"), within, "a", "1", |_| false)
                .is_some()
        );
        let late = t0 + Duration::from_secs(11);
        assert!(
            r.restore(&Nsp::from("/"), late, "b", "1", |_| false)
                .is_none()
        );
        r.persist(&nsp, late, Str::from("pid2"), session("s2", &[], late));
        r.forget(&Nsp::from("/"));
        assert!(
            r.restore(&Nsp::from("/"), late, "pid2", "1", |_| false)
                .is_none()
        );
    }
}
