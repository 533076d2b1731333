//! Engine.IO packet decoding (a WebSocket frame, text or binary, both
//! protocol revisions): never panics, and what decodes re-encodes to a
//! frame that decodes to the same packet.
#![no_main]

use bytes::Bytes;
use engineio_proto::{Frame, Packet, Protocol, Str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let protocol = if selector & 1 == 0 {
        Protocol::V4
    } else {
        Protocol::V3
    };
    let bytes = Bytes::copy_from_slice(rest);
    let frame = if selector & 2 == 0 {
        match Str::from_utf8(bytes) {
            Ok(text) => Frame::Text(text),
            Err(_) => return,
        }
    } else {
        Frame::Binary(bytes)
    };
    if let Ok(packet) = Packet::decode(frame, protocol) {
        let again = Packet::decode(packet.encode(protocol), protocol);
        assert_eq!(again.as_ref(), Ok(&packet));
    }
});
