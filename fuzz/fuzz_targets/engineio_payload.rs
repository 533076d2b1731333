//! Polling payload decoding: v4 (`\x1e`-separated), v3 text (UTF-16 length
//! prefixes) and v3 binary (`0xFF` form), and JSONP form bodies. Never
//! panics; bounded by the input.
#![no_main]

use bytes::Bytes;
use engineio_proto::{Frame, Str, payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(rest);
    match selector % 4 {
        0 => {
            let text = Str::from_utf8_lossy(bytes);
            // At most one packet per byte, plus the one error.
            assert!(payload::decode_v4(text).count() <= rest.len() + 1);
        }
        1 => {
            let _ = payload::decode_v3(Frame::Text(Str::from_utf8_lossy(bytes)));
        }
        2 => {
            let _ = payload::decode_v3(Frame::Binary(bytes));
        }
        _ => {
            if let Some(text) = payload::jsonp_unwrap(rest) {
                let _ = payload::decode_v3(Frame::Text(text));
            }
        }
    }
});
