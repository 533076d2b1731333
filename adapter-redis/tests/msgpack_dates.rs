//! notepack's `Date`s, as the Node adapter publishes them (the admin UI's
//! notifications carry one): each form decodes to the text a client of a
//! Node server gets (`JSON.stringify`). The bytes and texts were taken from
//! notepack.io 3.0.1 and Node 20 (`encode(new Date(ms))`, `JSON.stringify`).
#![allow(clippy::unwrap_used)]

use adapter_redis::Pack;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn notepack_dates_read_as_their_json_text() {
    for (bytes, text) in [
        // timestamp 64 (milliseconds)
        ("d7ff1d5353006b15f781", "2026-12-07T00:02:09.123Z"),
        // timestamp 32 (whole seconds)
        ("d6ff6b15f781", "2026-12-07T00:02:09.000Z"),
        ("d6ff00000000", "1970-01-01T00:00:00.000Z"),
        // timestamp 96: before 1970, past 9999, past 2^34 seconds
        ("c70cff3b8b87c0ffffffffffffffff", "1969-12-31T23:59:59.999Z"),
        (
            "c70cff000000000000003afff44180",
            "+010000-01-01T00:00:00.000Z",
        ),
        ("c70cff000000000000000400000000", "2514-05-30T01:53:04.000Z"),
        // the older milliseconds form (d7 00)
        ("d7000000000000000000", "1970-01-01T00:00:00.000Z"),
        ("d70000000000000003e8", "1970-01-01T00:00:01.000Z"),
    ] {
        assert_eq!(
            Pack::decode(&hex(bytes)),
            Ok(Pack::Str(text.to_owned())),
            "{bytes}"
        );
    }
    // Inside an array, as in `["socket_connected", {...}, <date>]`.
    assert_eq!(
        Pack::decode(&hex("92a178d6ff00000000")),
        Ok(Pack::Array(vec![
            Pack::Str("x".into()),
            Pack::Str("1970-01-01T00:00:00.000Z".into())
        ]))
    );
}

#[test]
fn dates_out_of_range_or_malformed() {
    // A timestamp 96 far past JavaScript's dates: `null`, as its JSON.
    assert_eq!(
        Pack::decode(&hex("c70cff000000007fffffffffffffff")),
        Ok(Pack::Nil)
    );
    // Other extension types, a wrong length, truncation.
    assert!(Pack::decode(&hex("d60100000000")).is_err());
    assert!(Pack::decode(&hex("c70bff0000000000000000000000")).is_err());
    assert!(Pack::decode(&hex("d7ff1d53")).is_err());
    assert!(Pack::decode(&hex("c70cff00")).is_err());
}
