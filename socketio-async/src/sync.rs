//! The crate's two locking primitives: a mutex that recovers from
//! poisoning, and a registry swapped whole. Every lock of the crate is a
//! leaf (see the crate doc's locking rule).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Locks a mutex, recovering from poisoning deliberately: no application
/// code ever runs under one of this crate's locks, so a poisoned lock can
/// only come from a bug of ours between two statements that each leave
/// the data whole.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A handler registry that readers snapshot and writers swap whole: a
/// reader takes an `Arc` under a short lock and runs the handlers with no
/// lock held; a registration copies the registry, changes the copy, and
/// swaps it in (registrations are rare, reads are per event).
#[derive(Default)]
pub(crate) struct Registry<T: Clone> {
    current: Mutex<Arc<T>>,
}

impl<T: Clone> Registry<T> {
    /// The registry as it is now.
    pub(crate) fn get(&self) -> Arc<T> {
        lock(&self.current).clone()
    }

    /// Changes the registry (`change` must not call back into the server).
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut T) -> R) -> R {
        let mut current = lock(&self.current);
        change(Arc::make_mut(&mut current))
    }
}
