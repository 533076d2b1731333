//! The tasks waiting for an answer from the core (acknowledgements,
//! broadcast acknowledgements, cluster requests), by what the answer will
//! name. Filled by the API under the core's lock, right after the core
//! issued the id; emptied by the event sink when the answer comes. The
//! maps' own locks are leaves: nothing is called while one is held.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_channel::oneshot;
use socketio_proto::{BroadcastId, Event, RequestKey, SocketId};

use crate::payload::{AckError, Payload};
use crate::sync::lock;

/// Where the answer to one `emit_with_ack` goes.
pub(crate) type AckWaiter = oneshot::Sender<Result<Payload, AckError>>;
/// Where the answers to one broadcast with an ack go: those that came,
/// and whether every expected one did.
pub(crate) type BroadcastWaiter = oneshot::Sender<(Vec<Payload>, bool)>;

struct BroadcastCollector {
    answers: Vec<Payload>,
    done: BroadcastWaiter,
}

/// Everything that waits for an answer.
#[derive(Default)]
pub(crate) struct Waiters {
    acks: Mutex<HashMap<(SocketId, u64), AckWaiter>>,
    broadcasts: Mutex<HashMap<BroadcastId, BroadcastCollector>>,
    requests: Mutex<HashMap<RequestKey, oneshot::Sender<Event>>>,
}

impl Waiters {
    pub(crate) fn wait_ack(&self, socket: SocketId, id: u64, tx: AckWaiter) {
        lock(&self.acks).insert((socket, id), tx);
    }

    pub(crate) fn ack(&self, socket: SocketId, id: u64, answer: Result<Payload, AckError>) {
        let tx = lock(&self.acks).remove(&(socket, id));
        if let Some(tx) = tx {
            let _ = tx.send(answer);
        }
    }

    pub(crate) fn wait_broadcast(&self, id: BroadcastId, done: BroadcastWaiter) {
        let collector = BroadcastCollector {
            answers: Vec::new(),
            done,
        };
        lock(&self.broadcasts).insert(id, collector);
    }

    pub(crate) fn broadcast_answer(&self, id: &BroadcastId, answer: Payload) {
        if let Some(c) = lock(&self.broadcasts).get_mut(id) {
            c.answers.push(answer);
        }
    }

    pub(crate) fn broadcast_done(&self, id: &BroadcastId, complete: bool) {
        let collector = lock(&self.broadcasts).remove(id);
        if let Some(c) = collector {
            let _ = c.done.send((c.answers, complete));
        }
    }

    pub(crate) fn wait_request(&self, key: RequestKey, tx: oneshot::Sender<Event>) {
        lock(&self.requests).insert(key, tx);
    }

    pub(crate) fn request_done(&self, key: &RequestKey, event: Event) {
        let tx = lock(&self.requests).remove(key);
        if let Some(tx) = tx {
            let _ = tx.send(event);
        }
    }
}
