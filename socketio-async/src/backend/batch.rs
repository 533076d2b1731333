//! The emits and acks of one batch of a socket's events, sent to the core
//! together: while a socket's task runs the handlers of the events it took
//! from its queue in one go, what those handlers send before their first
//! `.await` waits in a list on that thread, and the whole list is handed to
//! the core in one lock acquisition at the end of the batch, instead of one
//! acquisition per emit.
//!
//! Order is kept: any other action on the same core from that thread
//! (a broadcast, a join, an emit with an ack, a disconnect...) sends the
//! list first, in the same acquisition. What the list holds is sent in the
//! order it was queued.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;
use socketio_proto::packet::Event as EventPacket;
use socketio_proto::{ClientAckId, Server, SocketId};

use super::{Backend, act};

/// A send held until the end of the batch.
pub(crate) enum Deferred {
    /// `Socket::emit` (the core's single-socket emit).
    Emit(SocketId, EventPacket),
    /// `AckSender::send`.
    Ack(SocketId, ClientAckId, Vec<Value>, Vec<Bytes>),
}

impl Deferred {
    /// Hands it to the core. Its error has nowhere to go: the handler was
    /// told "queued". A full send buffer has closed the session with its
    /// reason (nothing is dropped silently); a socket gone takes nothing.
    fn send(self, core: &mut Server, now: Instant) {
        let _ = match self {
            Deferred::Emit(id, packet) => core.emit(now, &id, packet),
            Deferred::Ack(id, ack, args, binary) => core.ack(now, &id, ack, args, binary),
        };
    }
}

/// The batch open on this thread: the core it is for, and what waits.
struct Batch {
    backend: Arc<dyn Backend>,
    sends: Vec<Deferred>,
}

thread_local! {
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

/// A batch open on this thread; dropping it sends what it holds. A scope
/// opened inside another (an executor that polls a task inline) adds
/// nothing: the outer one sends.
pub(crate) struct Scope {
    owner: bool,
}

/// Opens a batch for the core behind `backend` on this thread.
pub(crate) fn begin(backend: &Arc<dyn Backend>) -> Scope {
    BATCH.with(|batch| {
        let mut batch = batch.borrow_mut();
        if batch.is_some() {
            return Scope { owner: false };
        }
        *batch = Some(Batch {
            backend: backend.clone(),
            sends: Vec::new(),
        });
        Scope { owner: true }
    })
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let Some(batch) = BATCH.with(|b| b.borrow_mut().take()) else {
            return;
        };
        if !batch.sends.is_empty() {
            let mut sends = batch.sends;
            let _ = act(batch.backend.as_ref(), |core, now| {
                send_all(&mut sends, core, now);
            });
        }
    }
}

/// Whether a batch for `backend`'s core is open on this thread (and this
/// thread is not inside the core): then [`push`] queues a send in it.
pub(crate) fn open_for(backend: &Arc<dyn Backend>) -> bool {
    !crate::contain::in_core()
        && BATCH.with(|batch| {
            batch
                .borrow()
                .as_ref()
                .is_some_and(|batch| Arc::ptr_eq(&batch.backend, backend))
        })
}

/// Queues `send` in the batch open on this thread ([`open_for`] said
/// there is one).
pub(crate) fn push(send: Deferred) {
    BATCH.with(|batch| {
        if let Some(batch) = &mut *batch.borrow_mut() {
            batch.sends.push(send);
        }
    });
}

/// Takes what the batch open on this thread holds for `backend`'s core
/// (to be sent before another action on it, in the same acquisition).
pub(crate) fn take(backend: &dyn Backend) -> Vec<Deferred> {
    BATCH.with(|batch| match &mut *batch.borrow_mut() {
        Some(batch)
            if !batch.sends.is_empty()
                && std::ptr::addr_eq(Arc::as_ptr(&batch.backend), backend) =>
        {
            std::mem::take(&mut batch.sends)
        }
        _ => Vec::new(),
    })
}

/// Sends what [`take`] returned, on the core at hand.
pub(crate) fn send_all(sends: &mut Vec<Deferred>, core: &mut Server, now: Instant) {
    for send in sends.drain(..) {
        send.send(core, now);
    }
}
