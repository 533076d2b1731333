//! CPU per broadcast delivery and per echo round trip spent in the cores
//! alone (no sockets, no runtime): a timing loop for before/after figures.
//!
//! ```text
//! cargo run --release -p socketio-proto --example core_cost -- [clients] [rounds]
//! ```
//!
//! `clients` WebSocket clients (10000 by default) join namespace `/` and
//! room `all`. Broadcast: each round emits one event to the room, drains
//! every output as a runtime would, then reports each WebSocket flushed.
//! Echo: each round every client sends one event, which is emitted back to
//! it (as a handler forwarding its payload does). Figures are nanoseconds
//! per delivery (broadcast) and per round trip (echo), median (and minimum) of 9 runs,
//! in CPU time of this thread (Linux: `/proc/thread-self/schedstat`), so
//! that other jobs on the machine do not count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use engineio_proto::testing::Harness;
use engineio_proto::{Frame, Output, RequestId, Str};
use socketio_proto::packet::Event as EventPacket;
use socketio_proto::{BroadcastOptions, Config, Event, Nsp, Server, Target};

const WS: &str = "/socket.io/?EIO=4&transport=websocket";

fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);

    let mut config = Config::default();
    config.engine.ping_interval = Duration::from_secs(3600);
    config.engine.ping_timeout = Duration::from_secs(3600);
    config.engine.seed = [3; 32];
    let mut h = Harness::with(Server::new(config), Instant::now());
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let ws = h.ws_open(WS);
        h.ws_send(ws, "40");
        let socket = h
            .take_events()
            .into_iter()
            .find_map(|e| match e {
                Event::Connect { socket, .. } => Some(socket),
                _ => None,
            })
            .expect("a Connect");
        h.server.accept(h.now, &socket).unwrap();
        h.server.join(&socket, "all");
        h.drain();
        h.ws_take(ws);
        h.take_events();
        sockets.push((ws, socket));
    }
    let now = h.now;
    let mut server = h.server;

    let mut broadcast = Vec::new();
    let mut echo = Vec::new();
    for _ in 0..9 {
        broadcast.push(broadcast_round(&mut server, now, &sockets, rounds));
        echo.push(echo_round(&mut server, now, &sockets, rounds.div_ceil(10)));
    }
    broadcast.sort_unstable();
    echo.sort_unstable();
    println!(
        "clients {clients}: broadcast {} ns/delivery (min {}); echo {} ns/round trip (min {})",
        broadcast[4], broadcast[0], echo[4], echo[0]
    );
}

/// Nanoseconds per delivery of `rounds` broadcasts to every client.
fn broadcast_round(
    server: &mut Server,
    now: Instant,
    sockets: &[(RequestId, socketio_proto::SocketId)],
    rounds: usize,
) -> u128 {
    let options = BroadcastOptions {
        target: Target::room("all"),
        ..BroadcastOptions::default()
    };
    let started = cpu_ns();
    let mut delivered = 0usize;
    for i in 0..rounds {
        let event = EventPacket::from_data(vec!["broadcast".into(), (i as u64).into()]).unwrap();
        let sent = server
            .broadcast(now, &Nsp::from("/"), &options, event)
            .unwrap();
        delivered += sent.recipients;
        drain(server);
        for (ws, _) in sockets {
            server.handle_ws_flushed(now, *ws);
        }
        drain(server);
    }
    assert_eq!(delivered, rounds * sockets.len());
    (cpu_ns() - started) / delivered as u128
}

/// Nanoseconds per echo round trip, each client sending `rounds` events.
fn echo_round(
    server: &mut Server,
    now: Instant,
    sockets: &[(RequestId, socketio_proto::SocketId)],
    rounds: usize,
) -> u128 {
    let message = Str::from_static(r#"42["echo",{"n":1,"text":"hello"}]"#);
    let started = cpu_ns();
    let mut echoed = 0usize;
    for _ in 0..rounds {
        for (ws, _) in sockets {
            server.handle_ws_message(now, *ws, Frame::Text(message.clone()));
            drain(server);
            while let Some(event) = server.poll_event() {
                if let Event::Event { socket, event, .. } = event {
                    server.emit(now, &socket, event).unwrap();
                    echoed += 1;
                }
            }
            drain(server);
            server.handle_ws_flushed(now, *ws);
            drain(server);
        }
    }
    assert_eq!(echoed, rounds * sockets.len());
    (cpu_ns() - started) / echoed as u128
}

/// Takes every output as a runtime does (frames are dropped here).
fn drain(server: &mut Server) {
    while let Some(output) = server.poll_output() {
        if let Output::WsSend { frame, .. } = output {
            black_box(frame);
        }
    }
}

/// CPU time of this thread so far, in nanoseconds.
fn cpu_ns() -> u128 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace().next().unwrap().parse().unwrap()
}
