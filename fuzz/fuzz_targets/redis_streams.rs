//! The Redis streams adapter's decoders on any bytes: a stream entry's
//! fields (as `XREAD` / `XRANGE` hand them, from any writer of the stream),
//! a pub/sub message, a session key's value, a client's offset.
//!
//! Input: the first byte picks the decoder (0 entry, 1 pub/sub message,
//! 2 session, 3 offset); for an entry the rest is split at 0 bytes into
//! field, value, field, value... Checks: no panic; an entry that decodes
//! re-encodes (when it belongs to the stream) to fields that decode to the
//! same message; what a replay takes from it carries the entry id last; a
//! session that decodes re-encodes to a value that decodes the same; an
//! offset Node accepts has a next offset that is greater.
#![no_main]

use adapter_redis::streams::{StreamsOut, next_offset, parse_id, valid_offset};
use adapter_redis::Streams;
use libfuzzer_sys::fuzz_target;
use socketio_proto::SessionRecord;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let codec = Streams::default();
    match selector % 4 {
        0 => {
            let parts: Vec<&[u8]> = payload.split(|b| *b == 0).collect();
            let fields: Vec<(String, Vec<u8>)> = parts
                .chunks(2)
                .filter_map(|kv| match kv {
                    [k, v] => Some((String::from_utf8_lossy(k).into_owned(), v.to_vec())),
                    _ => None,
                })
                .collect();
            let rooms = ["a".to_owned(), "b".to_owned()];
            if let Ok(Some(packet)) = codec.missed_packet("/", &rooms, "1-2", &fields) {
                assert_eq!(packet.data.last(), Some(&serde_json::json!("1-2")));
            }
            let Ok(Some(first)) = codec.decode_entry(&fields) else {
                return;
            };
            if let Some(StreamsOut::Entry(out)) = codec.encode(&first) {
                let out: Vec<(String, Vec<u8>)> = out
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.into_bytes()))
                    .collect();
                let second = codec
                    .decode_entry(&out)
                    .expect("a re-encoded entry decodes")
                    .expect("with its nsp");
                let again = codec.encode(&second);
                let third = match &again {
                    Some(StreamsOut::Entry(f)) => codec
                        .decode_entry(
                            &f.iter()
                                .map(|(k, v)| (k.to_string(), v.clone().into_bytes()))
                                .collect::<Vec<_>>(),
                        )
                        .expect("decodes again"),
                    _ => panic!("still a stream entry"),
                };
                assert_eq!(third.map(|t| codec.encode(&t)), Some(again));
            }
        }
        1 => {
            let Ok(first) = codec.decode_message(payload) else {
                return;
            };
            if let Some(StreamsOut::Publish(out)) = codec.encode(&first) {
                let second = codec
                    .decode_message(&out.payload)
                    .expect("a re-encoded message decodes");
                let again = codec.encode(&second);
                let Some(StreamsOut::Publish(out2)) = &again else {
                    panic!("still a pub/sub message");
                };
                let third = codec.decode_message(&out2.payload).expect("decodes again");
                assert_eq!(codec.encode(&third), again);
            }
        }
        2 => {
            let Ok(session) = codec.decode_session(payload) else {
                return;
            };
            let record = SessionRecord {
                nsp: "/".into(),
                pid: session.pid.clone(),
                id: session.id.clone(),
                rooms: session.rooms.clone(),
                data: session.data.clone(),
            };
            let text = codec.encode_session(&record);
            let back = codec
                .decode_session(text.as_bytes())
                .expect("an encoded session decodes");
            assert_eq!(codec.encode_session(&SessionRecord { data: back.data, ..record }), text);
        }
        _ => {
            let offset = String::from_utf8_lossy(payload);
            if let Some(id) = parse_id(&offset) {
                assert!(valid_offset(&offset));
                if let Some(next) = next_offset(&offset) {
                    assert!(parse_id(&next).expect("a valid id") > id);
                }
            }
        }
    }
});
