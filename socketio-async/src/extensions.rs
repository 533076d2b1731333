//! Typed storage: the application's state (one value per type, set on the
//! builder, read by the `State` extractor) and each socket's extensions
//! (one value per type, set by middlewares and handlers, read by the
//! `Extension` extractor).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::sync::lock;

/// A socket's typed storage (`socket.extensions()`): one value per type,
/// local to this node (unlike `socket.set_data`, it does not cross nodes
/// and needs no serde). Every handle of the socket sees the same storage;
/// a connection middleware fills it before the socket exists
/// ([`Connecting::extensions`](crate::Connecting)), the `Extension`
/// extractor reads it.
///
/// ```
/// use socketio_async::Extensions;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct UserId(u64);
///
/// let ext = Extensions::default();
/// assert_eq!(ext.insert(UserId(7)), None);
/// assert_eq!(ext.get::<UserId>(), Some(UserId(7)));
/// assert_eq!(ext.insert(UserId(8)), Some(UserId(7)));
/// assert_eq!(ext.remove::<UserId>(), Some(UserId(8)));
/// assert!(!ext.contains::<UserId>());
/// ```
///
/// A socket with no connection middleware whose handlers store nothing
/// has no storage allocated: it is made by the first
/// [`insert`](Self::insert) or clone (clones share it, so a clone makes it
/// first; each connection middleware gets a clone).
#[derive(Default)]
pub struct Extensions {
    map: OnceLock<Arc<TypeMap>>,
}

type Values = HashMap<TypeId, Box<dyn Any + Send + Sync>>;
type TypeMap = Mutex<Values>;

impl Clone for Extensions {
    fn clone(&self) -> Self {
        Self {
            map: OnceLock::from(self.shared().clone()),
        }
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.map.get().map_or(0, |map| lock(map).len());
        f.debug_struct("Extensions").field("len", &len).finish()
    }
}

impl Extensions {
    /// The storage, made if it was not.
    fn shared(&self) -> &Arc<TypeMap> {
        self.map.get_or_init(Arc::default)
    }

    /// The storage if it was made (reading needs none).
    fn made(&self) -> Option<MutexGuard<'_, Values>> {
        self.map.get().map(|map| lock(map))
    }

    /// Stores `value`, returning the value of that type it replaces.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// #[derive(Clone)]
    /// struct User { name: String }
    /// # fn f(socket: Socket) {
    /// let old = socket.extensions().insert(User { name: "ann".into() });
    /// assert!(old.is_none());
    /// # }
    /// ```
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        let old = lock(self.shared()).insert(TypeId::of::<T>(), Box::new(value));
        old.and_then(|old| old.downcast::<T>().ok()).map(|b| *b)
    }

    /// A copy of the value of type `T`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # #[derive(Clone)] struct User { name: String }
    /// # fn f(socket: Socket) {
    /// if let Some(user) = socket.extensions().get::<User>() {
    ///     println!("{} says hi", user.name);
    /// }
    /// # }
    /// ```
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.made()?
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    /// Removes the value of type `T`.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # #[derive(Clone)] struct User { name: String }
    /// # fn f(socket: Socket) {
    /// let logged_out: Option<User> = socket.extensions().remove::<User>();
    /// # }
    /// ```
    pub fn remove<T: Send + Sync + 'static>(&self) -> Option<T> {
        let old = self.made()?.remove(&TypeId::of::<T>());
        old.and_then(|old| old.downcast::<T>().ok()).map(|b| *b)
    }

    /// Whether a value of type `T` is stored.
    ///
    /// ```
    /// # use socketio_async::Socket;
    /// # #[derive(Clone)] struct User { name: String }
    /// # fn f(socket: Socket) {
    /// let authenticated = socket.extensions().contains::<User>();
    /// # }
    /// ```
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.made()
            .is_some_and(|map| map.contains_key(&TypeId::of::<T>()))
    }
}

/// The application's state: one value per type, fixed when the server is
/// built (so read with no lock).
#[derive(Clone, Default)]
pub(crate) struct StateMap {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl StateMap {
    /// Stores `value` (replacing the value of that type).
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.clone().downcast::<T>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_made_by_the_first_insert_or_clone_and_clones_share_it() {
        let ext = Extensions::default();
        assert_eq!(ext.get::<u8>(), None);
        assert!(!ext.contains::<u8>());
        assert_eq!(ext.remove::<u8>(), None);
        assert!(ext.map.get().is_none(), "reads make no storage");
        assert_eq!(ext.insert(1u8), None);
        assert!(ext.map.get().is_some());

        // A clone of storage not yet made: both see each other's values.
        let a = Extensions::default();
        let b = a.clone();
        assert!(a.map.get().is_some(), "a clone makes the storage first");
        b.insert("from b");
        assert_eq!(a.get::<&str>(), Some("from b"));
        assert_eq!(a.remove::<&str>(), Some("from b"));
        assert!(!b.contains::<&str>());
        assert_eq!(format!("{a:?}"), "Extensions { len: 0 }");
    }
}
