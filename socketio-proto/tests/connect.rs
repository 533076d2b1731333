//! Connecting to namespaces, middleware verdicts, dynamic namespaces,
//! connect timeout, and every way of leaving.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::*;
use serde_json::json;
use socketio_proto::{Event, NamespaceMatcher, Nsp, Target};

#[test]
fn connect_to_main_and_custom_with_auth() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    h.ws_send(ws, r#"40{"token":"123"}"#);
    let (socket, auth) = take_connect(&mut h);
    assert_eq!(auth, json!({"token":"123"}));
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec![format!(r#"40{{"sid":"{socket}"}}"#)]);
    // The socket id is not the engine's session id, and the socket is in
    // the room of its own id.
    assert_ne!(
        h.server.socket_sid(&socket).unwrap().as_str(),
        socket.as_str()
    );
    assert_eq!(
        h.server.rooms(&socket),
        vec![socketio_proto::Room::from(&socket)]
    );
    h.take_events();
    h.ws_send(ws, r#"40/custom,{"token":"abc"}"#);
    let (custom, auth) = take_connect(&mut h);
    assert_eq!(auth, json!({"token":"abc"}));
    h.server.accept(h.now, &custom).unwrap();
    h.drain();
    assert_eq!(
        h.ws_take(ws),
        vec![format!(r#"40/custom,{{"sid":"{custom}"}}"#)]
    );
    assert_ne!(socket, custom);
    assert_eq!(h.server.sockets_of(&Nsp::from("/custom")), vec![custom]);
}

#[test]
fn handshake_record_is_filled_from_the_request() {
    let mut h = fixture();
    let mut r = engineio_proto::Request::new(engineio_proto::Method::Get, format!("{WS}&foo=bar"));
    r.websocket = true;
    r.headers.insert("origin", "https://site.example");
    r.remote_address = "10.0.0.1:4000".into();
    let ws = h.request(r);
    h.ws_take(ws);
    h.ws_send(ws, r#"40{"a":1}"#);
    let events = h.take_events();
    let Event::Connect {
        handshake,
        nsp,
        parent,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(nsp.as_str(), "/");
    assert_eq!(*parent, None);
    assert_eq!(handshake.address, "10.0.0.1:4000");
    assert!(handshake.xdomain);
    assert!(!handshake.secure);
    assert_eq!(handshake.issued, 1_795_328_105_123);
    assert_eq!(handshake.sent_time, None, "made when asked");
    assert_eq!(
        handshake.time(),
        "Sun Nov 22 2026 06:15:05 GMT+0000 (Coordinated Universal Time)"
    );
    assert_eq!(handshake.url, format!("{WS}&foo=bar"));
    assert_eq!(handshake.sent_query, None, "parsed from the url when asked");
    assert_eq!(
        handshake.query().as_ref(),
        [
            ("EIO".to_owned(), "4".to_owned()),
            ("transport".to_owned(), "websocket".to_owned()),
            ("foo".to_owned(), "bar".to_owned()),
        ]
    );
    assert_eq!(handshake.auth["a"], json!(1));
}

#[test]
fn middleware_rejection_carries_message_and_data_and_the_connection_stays() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    h.ws_send(ws, "40");
    let (socket, _) = take_connect(&mut h);
    h.server.reject(
        h.now,
        &socket,
        "not authorized",
        Some(json!({"reason":"token"})),
    );
    h.drain();
    assert_eq!(
        h.ws_take(ws),
        vec![r#"44{"message":"not authorized","data":{"reason":"token"}}"#]
    );
    assert!(!h.ws_closed.contains_key(&ws));
    assert!(h.server.socket(&socket).is_none());
    // Without data the key is absent, as JSON.stringify leaves it out.
    h.ws_send(ws, "40/custom,");
    let (socket, _) = take_connect(&mut h);
    h.server.reject(h.now, &socket, "nope", None);
    h.drain();
    assert_eq!(h.ws_take(ws), vec![r#"44/custom,{"message":"nope"}"#]);
    // And it may try again.
    join(&mut h, ws, "/", "");
}

#[test]
fn unknown_namespace_is_refused_and_the_connection_stays() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    h.ws_send(ws, "40/random,");
    assert_eq!(
        h.ws_take(ws),
        vec![r#"44/random,{"message":"Invalid namespace"}"#]
    );
    assert!(h.take_events().is_empty());
    assert!(!h.ws_closed.contains_key(&ws));
    assert!(!h.server.has_namespace(&Nsp::from("/random")));
}

#[test]
fn dynamic_namespaces_by_pattern_and_predicate_and_cleanup() {
    let mut config = fixture_config();
    config.cleanup_empty_child_namespaces = true;
    let mut h = harness(config);
    let by_pattern = h.server.add_parent(NamespaceMatcher::Pattern(
        regex_lite::Regex::new(r"^/dyn-\d+$").unwrap(),
    ));
    let by_predicate = h
        .server
        .add_parent(NamespaceMatcher::Predicate(std::sync::Arc::new(
            |name, auth| name.starts_with("/team-") && auth.get("member") == Some(&json!(true)),
        )));
    let ws = open_ws(&mut h);
    h.ws_send(ws, "40/dyn-42,");
    let events = h.take_events();
    let Event::Connect {
        socket,
        parent,
        nsp,
        ..
    } = &events[0]
    else {
        panic!()
    };
    assert_eq!(*parent, Some(by_pattern));
    assert_eq!(nsp.as_str(), "/dyn-42");
    h.server.accept(h.now, socket).unwrap();
    h.drain();
    let socket = socket.clone();
    assert!(h.ws_take(ws)[0].starts_with("40/dyn-42,{\"sid\""));
    h.take_events();
    h.ws_send(ws, "40/dyn-x,");
    assert_eq!(
        h.ws_take(ws),
        vec![r#"44/dyn-x,{"message":"Invalid namespace"}"#]
    );
    h.ws_send(ws, r#"40/team-a,{"member":false}"#);
    assert_eq!(
        h.ws_take(ws),
        vec![r#"44/team-a,{"message":"Invalid namespace"}"#]
    );
    h.ws_send(ws, r#"40/team-a,{"member":true}"#);
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::Connect { parent: Some(p), .. }] if *p == by_predicate),
        "{events:?}"
    );
    // The child goes away with its last socket.
    h.ws_send(ws, "41/dyn-42,");
    assert_eq!(
        disconnects(&mut h),
        vec![(socket, "client namespace disconnect")]
    );
    assert!(!h.server.has_namespace(&Nsp::from("/dyn-42")));
}

#[test]
fn connect_timeout_closes_a_connection_that_joins_nothing() {
    // Pings far away, so only the connect timeout can close.
    let mut config = fixture_config();
    config.engine.ping_interval = std::time::Duration::from_secs(60);
    let mut h = harness(config);
    let ws = open_ws(&mut h);
    h.advance(999);
    assert!(!h.ws_closed.contains_key(&ws));
    h.advance(1);
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    // One that joined in time stays.
    let (ws, _) = client(&mut h);
    h.advance(1500);
    assert!(!h.ws_closed.contains_key(&ws));
}

#[test]
fn client_namespace_disconnect_gets_no_reply_and_the_connection_stays() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    let main = join(&mut h, ws, "/", "");
    let custom = join(&mut h, ws, "/custom", "");
    h.ws_send(ws, "41/custom,");
    assert!(h.ws_take(ws).is_empty());
    let events = h.take_events();
    assert!(
        matches!(&events[0], Event::Disconnecting { reason, rooms, .. }
        if reason.as_str() == "client namespace disconnect" && rooms.len() == 1)
    );
    assert!(matches!(&events[1], Event::Disconnect { socket, .. } if *socket == custom));
    assert!(!h.ws_closed.contains_key(&ws));
    assert!(h.server.is_connected(&main));
}

#[test]
fn server_namespace_disconnect_and_forced_server_close() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    let main = join(&mut h, ws, "/", "");
    let custom = join(&mut h, ws, "/custom", "");
    h.server.disconnect(h.now, &custom, false);
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["41/custom,"]);
    assert_eq!(
        disconnects(&mut h),
        vec![(custom.clone(), "server namespace disconnect")]
    );
    assert!(!h.ws_closed.contains_key(&ws));
    // With close: every socket leaves, then the connection closes.
    let custom = join(&mut h, ws, "/custom", "");
    h.server.disconnect(h.now, &main, true);
    h.drain();
    let mut frames = h.ws_take(ws);
    frames.sort();
    assert_eq!(frames, vec!["41", "41/custom,"]);
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
    let mut d = disconnects(&mut h);
    d.sort();
    let mut want = vec![
        (main, "server namespace disconnect"),
        (custom, "server namespace disconnect"),
    ];
    want.sort();
    assert_eq!(d, want);
}

#[test]
fn engine_close_reasons_reach_every_socket_of_the_connection() {
    let mut h = fixture();
    let ws = open_ws(&mut h);
    let main = join(&mut h, ws, "/", "");
    let custom = join(&mut h, ws, "/custom", "");
    h.advance(300); // ping, never answered
    h.advance(200);
    let mut d = disconnects(&mut h);
    d.sort();
    let mut want = vec![(main, "ping timeout"), (custom, "ping timeout")];
    want.sort();
    assert_eq!(d, want);
    let (ws, s) = client(&mut h);
    h.server.handle_ws_closed(h.now, ws, false);
    h.drain();
    assert_eq!(disconnects(&mut h), vec![(s, "transport close")]);
    let (ws, s) = client(&mut h);
    h.ws_send(ws, "1");
    assert_eq!(disconnects(&mut h), vec![(s, "transport close")]);
}

#[test]
fn disconnecting_comes_before_disconnect_with_the_rooms() {
    let mut h = fixture();
    let (ws, s) = client(&mut h);
    h.server.join(&s, "red");
    h.ws_send(ws, "41");
    let events = h.take_events();
    match &events[..] {
        [Event::Disconnecting { rooms, .. }, Event::Disconnect { .. }] => {
            let mut rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
            rooms.sort();
            let mut want = vec!["red".to_string(), s.to_string()];
            want.sort();
            assert_eq!(rooms, want);
        }
        other => panic!("{other:?}"),
    }
    assert!(h.server.rooms(&s).is_empty());
}

#[test]
fn shutdown_disconnects_everyone_with_its_reason() {
    let mut h = fixture();
    let (_, a) = client(&mut h);
    let (ws, b) = client(&mut h);
    h.server.shutdown(h.now);
    h.drain();
    let mut d = disconnects(&mut h);
    d.sort();
    let mut want = vec![(a, "server shutting down"), (b, "server shutting down")];
    want.sort();
    assert_eq!(d, want);
    assert_eq!(h.ws_closed.get(&ws), Some(&1000));
}

#[test]
fn utility_operations_fetch_join_leave_disconnect() {
    let mut h = fixture();
    let (_, a) = client(&mut h);
    let (_, b) = client(&mut h);
    let (_, c) = client(&mut h);
    h.server.set_data(&a, json!({"name":"ann"}));
    h.server.sockets_join(
        &Nsp::from("/"),
        &Target::all().except(c.to_string()),
        &["team".into()],
    );
    let mut team: Vec<_> = h
        .server
        .fetch_sockets(&Nsp::from("/"), &Target::room("team"))
        .into_iter()
        .map(|s| s.id)
        .collect();
    team.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(team, want);
    let ann = h
        .server
        .fetch_sockets(&Nsp::from("/"), &Target::room(a.to_string()));
    assert_eq!(ann[0].data, json!({"name":"ann"}));
    assert!(ann[0].rooms.contains(&"team".into()));
    h.server.sockets_leave(
        &Nsp::from("/"),
        &Target::room(b.to_string()),
        &["team".into()],
    );
    assert_eq!(
        h.server
            .fetch_sockets(&Nsp::from("/"), &Target::room("team"))
            .len(),
        1
    );
    h.server
        .disconnect_sockets(h.now, &Nsp::from("/"), &Target::room("team"), false);
    h.drain();
    assert_eq!(
        disconnects(&mut h),
        vec![(a, "server namespace disconnect")]
    );
    assert_eq!(h.server.sockets_of(&Nsp::from("/")).len(), 2);
}

#[test]
fn socket_io_v2_clients_join_the_main_namespace_at_once() {
    let mut config = fixture_config();
    config.engine.allow_eio3 = true;
    let mut h = harness(config);
    let ws = h.ws_open("/socket.io/?EIO=3&transport=websocket");
    let frames = h.ws_take(ws);
    assert!(frames[0].starts_with("0{"));
    let (socket, _) = take_connect(&mut h);
    h.server.accept(h.now, &socket).unwrap();
    h.drain();
    assert_eq!(h.ws_take(ws), vec!["40"]);
    // A namespace with its query as auth; a refusal is a bare string.
    h.ws_send(ws, "40/custom?token=abc,");
    let (custom, auth) = take_connect(&mut h);
    assert_eq!(auth, json!({"token":"abc"}));
    h.server.reject(h.now, &custom, "denied", None);
    h.drain();
    assert_eq!(h.ws_take(ws), vec![r#"44/custom,"denied""#]);
}

#[test]
fn engine_parse_and_transport_errors_reach_the_sockets_with_their_reasons() {
    let mut h = fixture();
    // Bytes that are not an Engine.IO packet: "parse error".
    let (ws, s) = client(&mut h);
    h.ws_send(ws, "x");
    assert_eq!(disconnects(&mut h), vec![(s, "parse error")]);
    // The WebSocket fails: "transport error".
    let (ws, s) = client(&mut h);
    h.server.handle_ws_closed(h.now, ws, true);
    h.drain();
    assert_eq!(disconnects(&mut h), vec![(s, "transport error")]);
    // A polling client whose long-poll is dropped: "transport error" too.
    let get = h.get(POLL);
    let sid = sid_of_open(&h.body(get));
    h.post(&with_sid(POLL, &sid), "40");
    let (socket, _) = take_connect(&mut h);
    h.server.accept(h.now, &socket).unwrap();
    let get = h.get(&with_sid(POLL, &sid));
    h.body(get);
    let get = h.get(&with_sid(POLL, &sid));
    h.server.handle_request_closed(h.now, get);
    h.drain();
    assert_eq!(disconnects(&mut h), vec![(socket, "transport error")]);
}
