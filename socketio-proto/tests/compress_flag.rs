//! The `compress` flag of a broadcast: `Some(false)` keeps its packets out
//! of compression (here: a long-poll payload made only of them goes plain,
//! over the httpCompression threshold); the default lets them be compressed.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::*;
use engineio_proto::{Method, Request};
use serde_json::json;
use socketio_proto::BroadcastOptions;
use socketio_proto::Nsp;

/// A polling client joined to `/`, then the long-poll answer (asked with
/// gzip) to a broadcast of a 3000-character event with `compress`.
fn broadcast_over_polling(compress: Option<bool>) -> engineio_proto::Response {
    let mut h = fixture();
    let get = h.get(POLL);
    let sid = sid_of_open(&h.body(get));
    let post = h.post(&with_sid(POLL, &sid), "40");
    assert_eq!(h.body(post), "ok");
    let (socket, _) = take_connect(&mut h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    let get = h.get(&with_sid(POLL, &sid));
    assert!(h.body(get).starts_with("40{"));
    let options = BroadcastOptions {
        compress,
        ..BroadcastOptions::default()
    };
    let sent = h
        .server
        .broadcast(
            h.now,
            &Nsp::from("/"),
            &options,
            ev("big", vec![json!("x".repeat(3000))]),
        )
        .unwrap();
    assert_eq!(sent.recipients, 1);
    h.drain();
    let mut r = Request::new(Method::Get, with_sid(POLL, &sid));
    r.headers.insert("accept-encoding", "gzip");
    let get = h.request(r);
    h.response(get)
}

#[test]
fn compress_false_keeps_a_broadcast_plain() {
    let plain = broadcast_over_polling(Some(false));
    assert_eq!(plain.headers.get("content-encoding"), None);
    assert_eq!(
        plain.body_text(),
        format!(r#"42["big","{}"]"#, "x".repeat(3000))
    );
    for compress in [None, Some(true)] {
        let r = broadcast_over_polling(compress);
        assert_eq!(
            r.headers.get("content-encoding"),
            Some("gzip"),
            "{compress:?}"
        );
        assert!(r.body.len() < 200);
    }
}
