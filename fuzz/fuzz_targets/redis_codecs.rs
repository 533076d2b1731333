//! The Redis adapter's decoders on any bytes from a channel: the classic
//! mode's (msgpack broadcasts, JSON or msgpack requests and responses) and
//! the sharded mode's (`{type, data, uid, nsp}` as JSON or msgpack).
//!
//! Input: the first byte picks the decoder (0 classic broadcast, 1 classic
//! request, 2 classic response, 3 sharded), the rest is the message. Checks: no panic; a message that
//! decodes re-encodes (when it has a classic form) to bytes that decode
//! again and encode to the same bytes (the encoding is canonical after one
//! pass: numbers, floats without fraction and NaN settle there).
#![no_main]

use adapter_redis::{ChannelKind, Classic, Pack, Sharded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    // The msgpack reader on its own: no panic, and what it reads encodes
    // to bytes it reads back the same.
    if let Ok(pack) = Pack::decode(payload) {
        let bytes = pack.encode();
        let again = Pack::decode(&bytes).expect("own encoding decodes");
        assert_eq!(again.encode(), bytes);
    }
    if selector % 4 == 3 {
        let codec = Sharded::default();
        let Ok(first) = codec.decode(payload) else {
            return;
        };
        let Some(out) = codec.encode(&first) else {
            return;
        };
        let second = codec.decode(&out.payload).expect("a re-encoded message decodes");
        let out2 = codec.encode(&second).expect("still has a sharded form");
        let third = codec.decode(&out2.payload).expect("decodes again");
        assert_eq!(codec.encode(&third), Some(out2));
        return;
    }
    let kind = match selector % 4 {
        0 => ChannelKind::Broadcast,
        1 => ChannelKind::Request,
        _ => ChannelKind::Response,
    };
    let codec = Classic::default();
    let Ok(first) = codec.decode("/", kind, payload) else {
        return;
    };
    let Some(out) = codec.encode(&first) else {
        return;
    };
    let kind_of = |channel: &str| {
        if channel.starts_with("socket.io-request#") {
            ChannelKind::Request
        } else if channel.starts_with("socket.io-response#") {
            ChannelKind::Response
        } else {
            ChannelKind::Broadcast
        }
    };
    let second = codec
        .decode("/", kind_of(&out.channel), &out.payload)
        .expect("a re-encoded message decodes");
    let out2 = codec.encode(&second).expect("still has a classic form");
    let third = codec
        .decode("/", kind_of(&out2.channel), &out2.payload)
        .expect("decodes again");
    let out3 = codec.encode(&third).expect("still has a classic form");
    assert_eq!(out2, out3);
});
