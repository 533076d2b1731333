//! The Socket.IO server on async-std and smol.
//!
//! This binding will wire the sans-IO cores to async-io sockets and timers,
//! sharing the runtime-agnostic async API with `runtime-tokio`.
