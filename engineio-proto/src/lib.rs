//! Sans-IO Engine.IO server core.

mod packet;
mod payload;
mod str;

pub use packet::{Data, DecodeError, Frame, Packet, Protocol};
pub use payload::{
    V4Packets, decode_v3, decode_v4, encode_v3, encode_v3_binary, encode_v3_text, encode_v4,
    jsonp_unwrap, jsonp_wrap,
};
pub use str::Str;
