//! One table of deadlines, shared by both cores.
//!
//! A core keeps one [`Deadlines`] keyed by whatever owns a timer (a session,
//! a socket, an ack) and answers `poll_timeout` with [`Deadlines::next`].
//! When the runtime calls `handle_timeout(now)`, the core drains
//! [`Deadlines::pop_expired`] and gets each key with the instant it was
//! *scheduled* for, so a chained timer (the next ping, the next check) can
//! be anchored on that instant rather than on a late `now`: the runtime may
//! wake late without the core drifting, and needs no slack of its own.
//!
//! Every key has at most one deadline: inserting again moves it. Lookups,
//! inserts and cancels are `O(log n)`; nothing stale is ever kept, so
//! [`next`](Deadlines::next) is exact and the table's size is the number of
//! keys with a live deadline.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use engineio_proto::Deadlines;
//!
//! let t0 = Instant::now();
//! let mut timers = Deadlines::new();
//! timers.insert("ping", t0 + Duration::from_secs(25));
//! timers.insert("ack 1", t0 + Duration::from_secs(5));
//! timers.insert("ack 1", t0 + Duration::from_secs(10)); // moved, not added
//! assert_eq!(timers.next(), Some(t0 + Duration::from_secs(10)));
//!
//! // Woken late, at 30 s: both are due, earliest first, each with the
//! // instant it was scheduled for.
//! let due: Vec<_> = timers.expire(t0 + Duration::from_secs(30)).collect();
//! assert_eq!(due, [("ack 1", t0 + Duration::from_secs(10)), ("ping", t0 + Duration::from_secs(25))]);
//! assert!(timers.is_empty());
//! ```

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Deadlines by key: at most one per key, drained earliest first.
#[derive(Debug, Clone)]
pub struct Deadlines<K> {
    /// Every live deadline, ordered by time (then key, for a stable order).
    by_time: BTreeSet<(Instant, K)>,
    /// The deadline of each key, to move or cancel it.
    by_key: HashMap<K, Instant>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Deadlines<K> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key`'s deadline to `at`, replacing the one it had. Returns the
    /// replaced deadline.
    pub fn insert(&mut self, key: K, at: Instant) -> Option<Instant> {
        let previous = self.by_key.insert(key.clone(), at);
        if let Some(previous) = previous {
            if previous == at {
                return Some(previous);
            }
            self.by_time.remove(&(previous, key.clone()));
        }
        self.by_time.insert((at, key));
        previous
    }

    /// Sets `key`'s deadline to `at` unless it already has an earlier (or
    /// equal) one. Returns whether the deadline changed.
    pub fn insert_earliest(&mut self, key: K, at: Instant) -> bool {
        match self.by_key.get(&key) {
            Some(&current) if current <= at => false,
            _ => {
                self.insert(key, at);
                true
            }
        }
    }

    /// Removes `key`'s deadline. Returns it, or `None` when it had none.
    pub fn cancel(&mut self, key: &K) -> Option<Instant> {
        let at = self.by_key.remove(key)?;
        self.by_time.remove(&(at, key.clone()));
        Some(at)
    }

    /// `key`'s deadline.
    #[must_use]
    pub fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    /// The earliest deadline: the instant a core's `poll_timeout` reports.
    #[must_use]
    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest deadline if it is due at `now`
    /// (`at <= now`), with the instant it was scheduled for.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(K, Instant)> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (at, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some((key, at))
    }

    /// Drains every deadline due at `now`, earliest first. Deadlines
    /// inserted while draining are drained too when they are due.
    pub fn expire(&mut self, now: Instant) -> Expired<'_, K> {
        Expired { table: self, now }
    }

    /// The number of keys with a deadline.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no key has a deadline.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The iterator of [`Deadlines::expire`].
#[derive(Debug)]
pub struct Expired<'a, K> {
    table: &'a mut Deadlines<K>,
    now: Instant,
}

impl<K: Ord + Hash + Clone> Iterator for Expired<'_, K> {
    type Item = (K, Instant);

    fn next(&mut self) -> Option<Self::Item> {
        self.table.pop_expired(self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn earliest_first_and_exact_next() {
        let t0 = Instant::now();
        let mut d = Deadlines::new();
        assert_eq!(d.next(), None);
        d.insert(3u32, secs(t0, 3));
        d.insert(1, secs(t0, 1));
        d.insert(2, secs(t0, 2));
        assert_eq!(d.len(), 3);
        assert_eq!(d.next(), Some(secs(t0, 1)));
        assert_eq!(d.pop_expired(secs(t0, 0)), None);
        assert_eq!(d.pop_expired(secs(t0, 2)), Some((1, secs(t0, 1))));
        assert_eq!(d.pop_expired(secs(t0, 2)), Some((2, secs(t0, 2))));
        assert_eq!(d.pop_expired(secs(t0, 2)), None);
        assert_eq!(d.next(), Some(secs(t0, 3)));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn insert_moves_and_cancel_removes() {
        let t0 = Instant::now();
        let mut d = Deadlines::new();
        assert_eq!(d.insert("a", secs(t0, 5)), None);
        assert_eq!(d.insert("a", secs(t0, 9)), Some(secs(t0, 5)));
        assert_eq!(d.insert("a", secs(t0, 9)), Some(secs(t0, 9)));
        assert_eq!(d.len(), 1);
        // The moved deadline left nothing behind: not due at 5 s.
        assert_eq!(d.pop_expired(secs(t0, 5)), None);
        assert_eq!(d.next(), Some(secs(t0, 9)));
        assert_eq!(d.cancel(&"a"), Some(secs(t0, 9)));
        assert_eq!(d.cancel(&"a"), None);
        assert!(d.is_empty());
        assert_eq!(d.next(), None);
    }

    #[test]
    fn insert_earliest_keeps_the_earlier() {
        let t0 = Instant::now();
        let mut d = Deadlines::new();
        assert!(d.insert_earliest("s", secs(t0, 10)));
        assert!(!d.insert_earliest("s", secs(t0, 20)));
        assert!(!d.insert_earliest("s", secs(t0, 10)));
        assert!(d.insert_earliest("s", secs(t0, 4)));
        assert_eq!(d.get(&"s"), Some(secs(t0, 4)));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn same_instant_many_keys() {
        let t0 = Instant::now();
        let mut d = Deadlines::new();
        for k in (0..100u32).rev() {
            d.insert(k, secs(t0, 1));
        }
        let due: Vec<u32> = d.expire(secs(t0, 1)).map(|(k, _)| k).collect();
        assert_eq!(due, (0..100).collect::<Vec<_>>());
        assert!(d.is_empty());
    }

    #[test]
    fn chained_timer_anchored_on_its_schedule() {
        // A heartbeat every 25 s, handled by a runtime that wakes 3 s late:
        // anchoring on the scheduled instant keeps the period exact.
        let t0 = Instant::now();
        let period = Duration::from_secs(25);
        let mut d = Deadlines::new();
        d.insert("ping", t0 + period);
        let mut fired = Vec::new();
        let mut now = t0;
        for _ in 0..4 {
            now = d
                .next()
                .map(|at| at + Duration::from_secs(3))
                .unwrap_or(now);
            while let Some((key, at)) = d.pop_expired(now) {
                fired.push(at);
                d.insert(key, at + period);
            }
        }
        let expected: Vec<_> = (1..=4).map(|n| t0 + period * n).collect();
        assert_eq!(fired, expected);
    }

    #[test]
    fn matches_a_model_under_random_operations() {
        // A small linear-congruential sequence drives inserts, cancels and
        // expiries; a Vec model checks every answer.
        let t0 = Instant::now();
        let mut d = Deadlines::new();
        let mut model: Vec<(u8, Instant)> = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut now = t0;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let key = u8::try_from((x >> 33) % 16).unwrap_or(0);
            let at = now + Duration::from_millis((x >> 40) % 1_000);
            match (x >> 20) % 4 {
                0 | 1 => {
                    let prev = model.iter().position(|(k, _)| *k == key);
                    let expected = prev.map(|i| model.remove(i).1);
                    model.push((key, at));
                    assert_eq!(d.insert(key, at), expected);
                }
                2 => {
                    let prev = model.iter().position(|(k, _)| *k == key);
                    let expected = prev.map(|i| model.remove(i).1);
                    assert_eq!(d.cancel(&key), expected);
                }
                _ => {
                    now += Duration::from_millis((x >> 50) % 300);
                    let mut due: Vec<_> =
                        model.iter().copied().filter(|(_, t)| *t <= now).collect();
                    due.sort_by_key(|&(k, t)| (t, k));
                    model.retain(|(_, t)| *t > now);
                    let got: Vec<_> = d.expire(now).collect();
                    assert_eq!(got, due);
                }
            }
            assert_eq!(d.len(), model.len());
            assert_eq!(d.next(), model.iter().map(|(_, t)| *t).min());
        }
    }
}
