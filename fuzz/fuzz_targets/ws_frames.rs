//! The WebSocket frame reader (`engineio_proto::frames`): never panics, and
//! reads the same messages, control frames and error whatever pieces the
//! bytes come in; no message is over the limit.
#![no_main]

use engineio_proto::Frame;
use engineio_proto::frames::{FrameError, FrameReader, Incoming};
use libfuzzer_sys::fuzz_target;

fn read(limit: usize, data: &[u8], piece: usize) -> Vec<Result<Incoming, FrameError>> {
    let mut reader = FrameReader::new(limit);
    let mut out = Vec::new();
    for chunk in data.chunks(piece.max(1)) {
        let mut input = chunk;
        while let Some(result) = reader.read(&mut input) {
            out.push(result);
        }
        assert!(input.is_empty());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let limit = usize::from(selector & 0x0f) * 16;
    let piece = usize::from(selector >> 4) + 1;
    let whole = read(limit, rest, rest.len());
    assert_eq!(whole, read(limit, rest, piece));
    for item in &whole {
        if let Ok(Incoming::Message(frame)) = item {
            let len = match frame {
                Frame::Text(text) => text.len(),
                Frame::Binary(data) => data.len(),
            };
            assert!(len <= limit);
        }
    }
    // Nothing after an error.
    if let Some(at) = whole.iter().position(Result::is_err) {
        assert_eq!(at + 1, whole.len());
    }
});
