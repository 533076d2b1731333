//! Sans-IO Engine.IO server core.

mod config;
mod cookie;
mod cors;
mod http;
mod output;
mod packet;
pub mod payload;
mod rng;
mod server;
mod session;
mod str;

pub use config::{Config, HeadersHook, IdGenerator, TransportKind};
pub use cookie::{CookieOptions, SameSite};
pub use cors::{Cors, CorsOrigin};
pub use http::{HeaderText, Headers, Method, Request, Response};
pub use output::{
    CloseReason, ConnectionError, ErrorCode, ErrorContext, Event, Handshake, Message, Output,
    RequestId, SendError, Sid,
};
pub use packet::{Data, DecodeError, Frame, Packet, Protocol};
pub use server::Server;
pub use str::Str;
