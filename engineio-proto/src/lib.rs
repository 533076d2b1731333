//! Sans-IO Engine.IO server core.

mod packet;
mod payload;
mod str;

pub use packet::{Data, DecodeError, Frame, Packet, Protocol};
pub use str::Str;
