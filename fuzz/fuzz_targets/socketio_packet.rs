//! Socket.IO packet decoding with binary reassembly: a sequence of text and
//! binary frames fed to one `packet::Decoder` with small limits, as the
//! server feeds the messages of one connection.
//!
//! Checks: no panic; the decoder never waits for more attachments than its
//! limit, and waits for none after a complete packet or an error; a decoded
//! packet has the shape the protocol allows (namespace starting with `/`
//! and free of `,`, one placeholder per attachment numbered depth first);
//! and it re-encodes to frames that decode to the same packet (to
//! JavaScript: numbers by value, object keys as a set), which is canonical.
//!
//! Input: one byte of limits, then frames, each `<kind> <len> <len bytes>`
//! (kind bit 0: binary; kind bit 1: reset the decoder first).
#![no_main]

use bytes::Bytes;
use engineio_proto::Str;
use libfuzzer_sys::fuzz_target;
use socketio_proto::binary::placeholders_match;
use socketio_proto::packet::{Decoder, Limits, Packet, Payload};
use socketio_rs_fuzz::check_socketio_roundtrip;

fuzz_target!(|data: &[u8]| {
    let Some((&limits, mut rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_attachments: usize::from(limits & 0x07),
        max_binary_bytes: usize::from(limits >> 3) * 4,
    };
    let mut decoder = Decoder::new(limits);
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        if kind & 2 != 0 {
            decoder.reset();
            assert_eq!(decoder.awaited_attachments(), 0);
        }
        let waiting = decoder.awaited_attachments();
        let result = if kind & 1 == 0 {
            decoder.decode_text(Str::from_utf8_lossy(Bytes::copy_from_slice(frame)))
        } else {
            decoder.decode_binary(Bytes::copy_from_slice(frame))
        };
        let awaited = decoder.awaited_attachments();
        assert!(awaited <= limits.max_attachments);
        match result {
            Ok(Some(packet)) => {
                assert_eq!(awaited, 0);
                check_shape(&packet);
                check_socketio_roundtrip(&packet);
            }
            // A head that announced attachments, or one more attachment.
            Ok(None) => assert!(awaited > 0 && (waiting == 0 || awaited == waiting - 1)),
            Err(_) => assert_eq!(awaited, 0),
        }
    }
});

fn check_shape(packet: &Packet) {
    assert!(packet.nsp.starts_with('/'), "{packet:?}");
    assert!(!packet.nsp.contains(','), "{packet:?}");
    let (data, attachments) = match &packet.payload {
        Payload::Event(e) => (e.data(), e.attachments()),
        Payload::Ack(a) => (a.data(), a.attachments()),
        _ => return,
    };
    if !attachments.is_empty() {
        assert!(placeholders_match(data, attachments.len()), "{packet:?}");
    }
}
