//! Several nodes joined by their cluster messages (the adapter interface),
//! each with its own clients: heartbeats, broadcasts with and without acks,
//! utility operations and serverSideEmit across nodes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use engineio_proto::RequestId;
use serde_json::json;
use socketio_proto::{
    BroadcastOptions, ClusterConfig, ClusterMessage, Event, Nsp, Server, SocketId, Target,
};

type Node = Harness<Server>;

fn node(uid: &str, start: Instant) -> Node {
    let mut config = fixture_config();
    config.engine.ping_interval = Duration::from_secs(600);
    config.cluster = Some(ClusterConfig::new(uid));
    // Each node draws its own seed (a runtime takes it from the OS).
    config.engine.seed = [uid.as_bytes()[0]; 32];
    let mut server = Server::new(config);
    server.add_namespace("/custom");
    let mut h = Harness::with(server, start);
    h.server.handle_timeout(start);
    h
}

/// Carries every published message to every other node until all is quiet.
/// `deaf` nodes receive nothing.
fn relay(nodes: &mut [&mut Node], deaf: &[usize]) -> usize {
    let mut carried = 0;
    loop {
        let mut out = Vec::new();
        for (i, n) in nodes.iter_mut().enumerate() {
            while let Some(m) = n.server.poll_cluster() {
                out.push((i, m));
            }
        }
        if out.is_empty() {
            return carried;
        }
        for (from, m) in out {
            for (i, n) in nodes.iter_mut().enumerate() {
                if i != from && !deaf.contains(&i) {
                    let now = n.now;
                    n.server.handle_cluster(now, m.clone());
                    n.drain();
                    carried += 1;
                }
            }
        }
    }
}

fn cluster_of_two() -> (Node, Node) {
    let start = Instant::now();
    let mut a = node("A", start);
    let mut b = node("B", start);
    relay(&mut [&mut a, &mut b], &[]);
    (a, b)
}

fn all() -> BroadcastOptions {
    BroadcastOptions::default()
}

#[test]
fn nodes_find_each_other_and_forget_silent_ones() {
    let (mut a, mut b) = cluster_of_two();
    assert_eq!(a.server.cluster_nodes(), vec!["B".to_string()]);
    assert_eq!(b.server.cluster_nodes(), vec!["A".to_string()]);
    // Heartbeats keep them known...
    for _ in 0..4 {
        a.advance(5000);
        b.advance(5000);
        relay(&mut [&mut a, &mut b], &[]);
    }
    assert_eq!(a.server.cluster_nodes(), vec!["B".to_string()]);
    // ...and a node that stops talking is forgotten after the timeout.
    a.advance(5000);
    a.advance(5000);
    a.advance(5000);
    while a.server.poll_cluster().is_some() {}
    assert!(a.server.cluster_nodes().is_empty());
}

#[test]
fn a_broadcast_reaches_clients_on_every_node_once() {
    let (mut a, mut b) = cluster_of_two();
    let (wa, sa) = client(&mut a);
    let (wb, sb) = client(&mut b);
    a.server.join(&sa, "red");
    b.server.join(&sb, "red");
    let (wb2, _) = client(&mut b);
    a.server
        .broadcast(
            a.now,
            &Nsp::from("/"),
            &BroadcastOptions {
                target: Target::room("red"),
                ..all()
            },
            ev("hi", vec![json!(1)]),
        )
        .unwrap();
    relay(&mut [&mut a, &mut b], &[]);
    a.drain();
    b.drain();
    assert_eq!(a.ws_take(wa), vec![r#"42["hi",1]"#]);
    assert_eq!(b.ws_take(wb), vec![r#"42["hi",1]"#]);
    assert!(b.ws_take(wb2).is_empty());
    // `local` stays on this node.
    let local = BroadcastOptions {
        target: Target {
            local: true,
            ..Target::all()
        },
        ..all()
    };
    a.server
        .broadcast(a.now, &Nsp::from("/"), &local, ev("only-a", vec![]))
        .unwrap();
    assert_eq!(relay(&mut [&mut a, &mut b], &[]), 0);
    a.drain();
    assert_eq!(a.ws_take(wa), vec![r#"42["only-a"]"#]);
    assert!(b.ws_take(wb).is_empty());
}

#[test]
fn broadcast_acks_gather_answers_from_every_node() {
    let (mut a, mut b) = cluster_of_two();
    let (wa, _) = client(&mut a);
    let (wb1, _) = client(&mut b);
    let (wb2, _) = client(&mut b);
    let with_ack = BroadcastOptions {
        timeout: Some(Duration::from_secs(5)),
        ..all()
    };
    let sent = a
        .server
        .broadcast(a.now, &Nsp::from("/"), &with_ack, ev("vote", vec![]))
        .unwrap();
    relay(&mut [&mut a, &mut b], &[]);
    let id = sent.ack.unwrap();
    a.drain();
    b.drain();
    assert_eq!(a.ws_take(wa), vec![r#"420["vote"]"#]);
    assert_eq!(b.ws_take(wb1), vec![r#"420["vote"]"#]);
    assert_eq!(b.ws_take(wb2), vec![r#"420["vote"]"#]);
    a.take_events();
    a.ws_send(wa, r#"430["a"]"#);
    b.ws_send(wb1, r#"430["b1"]"#);
    b.ws_send(wb2, r#"430["b2"]"#);
    relay(&mut [&mut a, &mut b], &[]);
    let events = a.take_events();
    let answers: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::BroadcastAck {
                broadcast,
                socket,
                data,
                ..
            } if *broadcast == id => Some((socket.is_some(), data[0].clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (true, json!("a")),
            (false, json!("b1")),
            (false, json!("b2"))
        ]
    );
    assert!(
        matches!(
            events.last(),
            Some(Event::BroadcastAckDone {
                expected: 3,
                received: 3,
                ..
            })
        ),
        "{events:?}"
    );
    assert!(b.take_events().iter().all(|e| !matches!(
        e,
        Event::BroadcastAck { .. } | Event::BroadcastAckDone { .. }
    )));
}

#[test]
fn broadcast_acks_time_out_when_a_remote_client_is_silent() {
    let (mut a, mut b) = cluster_of_two();
    let (wa, _) = client(&mut a);
    let (_wb, _) = client(&mut b);
    let with_ack = BroadcastOptions {
        timeout: Some(Duration::from_millis(500)),
        ..all()
    };
    a.server
        .broadcast(a.now, &Nsp::from("/"), &with_ack, ev("q", vec![]))
        .unwrap();
    relay(&mut [&mut a, &mut b], &[]);
    a.drain();
    a.ws_take(wa);
    a.ws_send(wa, r#"430[1]"#);
    a.take_events();
    a.advance(500);
    let events = a.take_events();
    assert!(
        matches!(
            &events[..],
            [Event::BroadcastAckDone {
                expected: 2,
                received: 1,
                ..
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn sockets_join_leave_and_disconnect_across_nodes() {
    let (mut a, mut b) = cluster_of_two();
    let (_, sa) = client(&mut a);
    let (wb, sb) = client(&mut b);
    a.server
        .sockets_join(&Nsp::from("/"), &Target::all(), &["team".into()]);
    relay(&mut [&mut a, &mut b], &[]);
    assert!(a.server.rooms(&sa).contains(&"team".into()));
    assert!(b.server.rooms(&sb).contains(&"team".into()));
    b.server.sockets_leave(
        &Nsp::from("/"),
        &Target::room(sa.to_string()),
        &["team".into()],
    );
    relay(&mut [&mut a, &mut b], &[]);
    assert!(!a.server.rooms(&sa).contains(&"team".into()));
    a.server
        .disconnect_sockets(a.now, &Nsp::from("/"), &Target::room("team"), false);
    relay(&mut [&mut a, &mut b], &[]);
    b.drain();
    assert_eq!(b.ws_take(wb), vec!["41"]);
    assert_eq!(
        disconnects(&mut b),
        vec![(sb, "server namespace disconnect")]
    );
    assert!(a.server.is_connected(&sa));
}

#[test]
fn fetch_sockets_across_nodes_and_with_a_silent_node() {
    let start = Instant::now();
    let mut a = node("A", start);
    let mut b = node("B", start);
    let mut c = node("C", start);
    relay(&mut [&mut a, &mut b, &mut c], &[]);
    let (_, sa) = client(&mut a);
    let (_, sb) = client(&mut b);
    b.server.set_data(&sb, json!({"name":"bee"}));
    let key = a
        .server
        .fetch_sockets_cluster(a.now, &Nsp::from("/"), &Target::all());
    relay(&mut [&mut a, &mut b, &mut c], &[]);
    a.drain();
    let events = a.take_events();
    let done = events.iter().find_map(|e| match e {
        Event::FetchSocketsDone {
            request,
            local,
            remote,
            timed_out,
        } if *request == key => Some((local, remote, *timed_out)),
        _ => None,
    });
    let (local, remote, timed_out) = done.unwrap();
    assert!(!timed_out);
    assert_eq!(
        local
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<SocketId>>(),
        vec![sa]
    );
    assert_eq!(remote.len(), 1);
    assert_eq!(remote[0].id, sb.as_str());
    assert_eq!(remote[0].data, json!({"name":"bee"}));
    assert_eq!(remote[0].handshake["issued"], json!(1_795_328_105_123u64));
    // Read back on this node, the remote socket is what B sees of it.
    let info = remote[0].to_info(&Nsp::from("/"));
    let own = b.server.socket(&sb).unwrap();
    assert_eq!(
        (&info.id, &info.nsp, &info.data),
        (&own.id, &own.nsp, &own.data)
    );
    assert_eq!(info.rooms, own.rooms);
    assert_eq!(info.handshake, own.handshake);
    // C stops answering: the request ends at its timeout with what came.
    let key = a
        .server
        .fetch_sockets_cluster(a.now, &Nsp::from("/"), &Target::all());
    relay(&mut [&mut a, &mut b, &mut c], &[2]);
    a.drain();
    assert!(
        !a.take_events()
            .iter()
            .any(|e| matches!(e, Event::FetchSocketsDone { .. }))
    );
    a.advance(5000);
    let events = a.take_events();
    assert!(events.iter().any(|e| matches!(e, Event::FetchSocketsDone { request, remote, timed_out: true, .. } if *request == key && remote.len() == 1)));
}

#[test]
fn server_side_emit_with_and_without_answers() {
    let (mut a, mut b) = cluster_of_two();
    a.server
        .server_side_emit(a.now, &Nsp::from("/"), vec![json!("hello"), json!(1)], None);
    relay(&mut [&mut a, &mut b], &[]);
    let events = b.take_events();
    assert!(
        matches!(&events[..], [Event::ServerSideEmit { data, reply: None, .. }] if *data == vec![json!("hello"), json!(1)])
    );
    let key = a
        .server
        .server_side_emit(
            a.now,
            &Nsp::from("/"),
            vec![json!("ping")],
            Some(Duration::from_secs(1)),
        )
        .unwrap();
    relay(&mut [&mut a, &mut b], &[]);
    let events = b.take_events();
    let Some(Event::ServerSideEmit {
        reply: Some(reply), ..
    }) = events.into_iter().next()
    else {
        panic!()
    };
    b.server.server_side_reply(&reply, json!("pong"));
    relay(&mut [&mut a, &mut b], &[]);
    a.drain();
    let events = a.take_events();
    assert!(
        matches!(&events[..], [Event::ServerSideEmitDone { request, responses, timed_out: false }] if *request == key && *responses == vec![json!("pong")]),
        "{events:?}"
    );
}

#[test]
fn a_single_node_answers_cluster_requests_at_once() {
    let mut h = fixture();
    let (_, s) = client(&mut h);
    assert_eq!(
        h.server
            .server_side_emit(h.now, &Nsp::from("/"), vec![json!("x")], None),
        None
    );
    let key = h
        .server
        .server_side_emit(
            h.now,
            &Nsp::from("/"),
            vec![json!("x")],
            Some(Duration::from_secs(1)),
        )
        .unwrap();
    let fetch = h
        .server
        .fetch_sockets_cluster(h.now, &Nsp::from("/"), &Target::all());
    h.drain();
    let events = h.take_events();
    assert!(
        matches!(&events[0], Event::ServerSideEmitDone { request, responses, timed_out: false } if *request == key && responses.is_empty())
    );
    assert!(
        matches!(&events[1], Event::FetchSocketsDone { request, local, remote, timed_out: false } if *request == fetch && local[0].id == s && remote.is_empty())
    );
    assert!(
        h.server.poll_cluster().is_none(),
        "nothing published without a cluster"
    );
}

#[test]
fn messages_from_self_or_for_other_nodes_are_ignored_and_closing_says_goodbye() {
    let (mut a, mut b) = cluster_of_two();
    let own = socketio_proto::ClusterEnvelope {
        uid: "A".into(),
        nsp: "/".into(),
        to: None,
        message: ClusterMessage::ServerSideEmit {
            request_id: None,
            packet: vec![json!("x")],
        },
    };
    a.server.handle_cluster(a.now, own);
    let elsewhere = socketio_proto::ClusterEnvelope {
        uid: "B".into(),
        nsp: "/".into(),
        to: Some("Z".into()),
        message: ClusterMessage::ServerSideEmit {
            request_id: None,
            packet: vec![json!("x")],
        },
    };
    a.server.handle_cluster(a.now, elsewhere);
    a.drain();
    assert!(a.take_events().is_empty());
    b.server.shutdown(b.now);
    relay(&mut [&mut a, &mut b], &[]);
    assert!(a.server.cluster_nodes().is_empty());
    let _: Option<RequestId> = None;
}

#[test]
fn message_kinds_are_the_official_numbers() {
    let kinds = [
        ClusterMessage::InitialHeartbeat.kind(),
        ClusterMessage::Heartbeat.kind(),
        ClusterMessage::AdapterClose.kind(),
        ClusterMessage::ServerSideEmit {
            request_id: None,
            packet: vec![],
        }
        .kind(),
    ];
    assert_eq!(kinds, [1, 2, 13, 9]);
}

fn counted_node(uid: &str, start: Instant) -> Node {
    let mut config = fixture_config();
    config.engine.ping_interval = Duration::from_secs(600);
    let mut cluster = ClusterConfig::new(uid);
    cluster.membership = socketio_proto::Membership::Counted;
    config.cluster = Some(cluster);
    config.engine.seed = [uid.as_bytes()[0]; 32];
    let mut h = Harness::with(Server::new(config), start);
    h.server.handle_timeout(start);
    h
}

/// The request ids of the requests `node` published.
fn published_requests(messages: &[socketio_proto::ClusterEnvelope]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match &m.message {
            ClusterMessage::FetchSockets { request_id, .. } => Some(request_id.clone()),
            ClusterMessage::ServerSideEmit {
                request_id: Some(id),
                ..
            }
            | ClusterMessage::Broadcast {
                request_id: Some(id),
                ..
            } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn counted_membership_sends_no_heartbeats_and_waits_for_the_count() {
    let start = Instant::now();
    let mut a = counted_node("A", start);
    let mut b = counted_node("B", start);
    // No heartbeat, ever.
    a.advance(60_000);
    assert!(a.server.poll_cluster().is_none());
    let (wb, sb) = client(&mut b);
    while b.server.poll_cluster().is_some() {}
    // fetchSockets: published, but not complete until counted.
    let key = a
        .server
        .fetch_sockets_cluster(a.now, &Nsp::from("/"), &Target::all());
    let out: Vec<_> = std::iter::from_fn(|| a.server.poll_cluster()).collect();
    let ids = published_requests(&out);
    assert_eq!(ids.len(), 1);
    for m in out {
        let now = b.now;
        b.server.handle_cluster(now, m);
    }
    // B answers before A knows how many answers to expect.
    while let Some(m) = b.server.poll_cluster() {
        let now = a.now;
        a.server.handle_cluster(now, m);
    }
    a.drain();
    assert!(
        !a.take_events()
            .iter()
            .any(|e| matches!(e, Event::FetchSocketsDone { .. }))
    );
    let now = a.now;
    a.server.handle_cluster_count(now, &ids[0], 1);
    a.drain();
    let events = a.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::FetchSocketsDone { request, remote, timed_out: false, .. } if *request == key && remote.len() == 1 && remote[0].id == sb.as_str())),
        "{events:?}"
    );
    // Counted as zero other nodes: done at once with the local sockets.
    let key = a
        .server
        .fetch_sockets_cluster(a.now, &Nsp::from("/"), &Target::all());
    let out: Vec<_> = std::iter::from_fn(|| a.server.poll_cluster()).collect();
    let ids = published_requests(&out);
    let now = a.now;
    a.server.handle_cluster_count(now, &ids[0], 0);
    a.drain();
    assert!(a.take_events().iter().any(
        |e| matches!(e, Event::FetchSocketsDone { request, timed_out: false, .. } if *request == key)
    ));
    // serverSideEmit counted as two nodes, one answers: the timeout ends it.
    let key = a
        .server
        .server_side_emit(
            a.now,
            &Nsp::from("/"),
            vec![json!("ping")],
            Some(Duration::from_secs(1)),
        )
        .unwrap();
    let out: Vec<_> = std::iter::from_fn(|| a.server.poll_cluster()).collect();
    let ids = published_requests(&out);
    let now = a.now;
    a.server.handle_cluster_count(now, &ids[0], 2);
    for m in out {
        let now = b.now;
        b.server.handle_cluster(now, m);
    }
    b.drain();
    let reply = b
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::ServerSideEmit { reply, .. } => reply,
            _ => None,
        })
        .unwrap();
    b.server.server_side_reply(&reply, json!("pong"));
    while let Some(m) = b.server.poll_cluster() {
        let now = a.now;
        a.server.handle_cluster(now, m);
    }
    a.drain();
    assert!(
        !a.take_events()
            .iter()
            .any(|e| matches!(e, Event::ServerSideEmitDone { .. }))
    );
    a.advance(1000);
    let events = a.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::ServerSideEmitDone { request, responses, timed_out: true } if *request == key && *responses == vec![json!("pong")])),
        "{events:?}"
    );
    // A broadcast with acks completes once counted and every count came.
    let with_ack = BroadcastOptions {
        timeout: Some(Duration::from_secs(5)),
        ..all()
    };
    let sent = a
        .server
        .broadcast(a.now, &Nsp::from("/"), &with_ack, ev("vote", vec![]))
        .unwrap();
    let out: Vec<_> = std::iter::from_fn(|| a.server.poll_cluster()).collect();
    let ids = published_requests(&out);
    for m in out {
        let now = b.now;
        b.server.handle_cluster(now, m);
    }
    while let Some(m) = b.server.poll_cluster() {
        let now = a.now;
        a.server.handle_cluster(now, m);
    }
    a.drain();
    assert!(
        !a.take_events()
            .iter()
            .any(|e| matches!(e, Event::BroadcastAckDone { .. }))
    );
    let now = a.now;
    a.server.handle_cluster_count(now, &ids[0], 1);
    a.drain();
    let events = a.take_events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::BroadcastAckDone { .. })),
        "B's client has not answered"
    );
    b.drain();
    assert_eq!(
        b.ws_take(wb).last().map(String::as_str),
        Some(r#"420["vote"]"#)
    );
    b.ws_send(wb, r#"430["b"]"#);
    while let Some(m) = b.server.poll_cluster() {
        let now = a.now;
        a.server.handle_cluster(now, m);
    }
    a.drain();
    let events = a.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::BroadcastAckDone { broadcast, expected: 1, received: 1 } if Some(*broadcast) == sent.ack)),
        "{events:?}"
    );
}
