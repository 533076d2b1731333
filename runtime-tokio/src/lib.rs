//! The Socket.IO server on tokio and hyper.
//!
//! This binding will wire the sans-IO cores (`engineio-proto`,
//! `socketio-proto`) to real sockets: accept, read, hand bytes to the core,
//! drain its outputs, write, and sleep until the next deadline.
