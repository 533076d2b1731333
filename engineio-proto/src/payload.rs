//! Polling payloads: several packets in one HTTP body.
//!
//! v4 joins packets with the record separator `\x1e` and sends binary as `b`
//! plus base64. v3 prefixes each packet with its length (in UTF-16 code units
//! for text payloads, in bytes for the binary form) and has a JSONP variant.
