//! Sans-IO Socket.IO v5 server core.

pub mod binary;
mod config;
mod namespace;
pub mod packet;
mod server;
mod types;

pub use config::{Config, NamespaceMatcher, NamespacePredicate, RecoveryConfig, WallClock};
pub use engineio_proto::Str;
pub use packet::{Decoder, Limits, Packet, Payload};
pub use server::Server;
pub use types::{
    Broadcast, BroadcastId, BroadcastOptions, DisconnectReason, EmitError, Event, Handshake,
    ParentId, Room, SocketId, SocketInfo, Target,
};
