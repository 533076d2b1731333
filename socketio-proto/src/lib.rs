//! Sans-IO Socket.IO v5 server core.
//!
//! This crate will hold the Socket.IO server state machine that owns one
//! `engineio-proto` engine and adds namespaces, events, acks, rooms and
//! binary attachments on top of it. Like `engineio-proto` it performs no I/O.

mod binary;
mod packet;

pub use binary::{
    Placeholders, attach, is_placeholder, placeholder, placeholders, placeholders_match, resolve,
};
pub use engineio_proto::Str;
pub use packet::{
    Ack, ConnectErrorData, DecodeError, Decoder, EncodeError, Event, Limits, Packet, PacketType,
    Payload, PayloadError, RESERVED_EVENTS, encode_event,
};
