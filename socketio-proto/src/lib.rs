//! Sans-IO Socket.IO v5 server core.
//!
//! This crate will hold the Socket.IO server state machine that owns one
//! `engineio-proto` engine and adds namespaces, events, acks, rooms and
//! binary attachments on top of it. Like `engineio-proto` it performs no I/O.
