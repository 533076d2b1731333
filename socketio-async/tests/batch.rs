//! The sends of one batch of a socket's events: what the handlers send
//! before their first `.await` reaches the core in one lock acquisition at
//! the end of the batch, in the order it was sent, and before any other
//! action of the same thread on the core.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use engineio_proto::RequestId;
use engineio_proto::testing::Harness;
use socketio_async::{AckSender, Backend, Payload, Socket, SocketIo, Task};
use socketio_proto::Server;

use common::*;

/// The test backend, counting its lock acquisitions.
struct Counting {
    inner: Arc<TestBackend>,
    acts: AtomicUsize,
}

impl Backend for Counting {
    fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant)) {
        self.acts.fetch_add(1, Ordering::SeqCst);
        self.inner.act_dyn(action);
    }

    fn spawn(&self, task: Task) {
        self.inner.spawn(task);
    }
}

fn start_counting(io: &SocketIo) -> (Arc<TestBackend>, Arc<Counting>) {
    let core = io.build_core(config());
    let inner = Arc::new(TestBackend {
        h: Mutex::new(Harness::with(core, Instant::now())),
        sink: Mutex::new(None),
        tasks: Mutex::new(Vec::new()),
    });
    let counting = Arc::new(Counting {
        inner: inner.clone(),
        acts: AtomicUsize::new(0),
    });
    let sink = io.attach(counting.clone());
    *inner.sink.lock().unwrap() = Some(sink);
    inner.settle();
    (inner, counting)
}

/// Sends `frames` in one client step; returns the lock acquisitions the
/// handlers took and the frames the client got.
fn step(b: &TestBackend, c: &Counting, ws: RequestId, frames: &[&str]) -> (usize, Vec<String>) {
    let before = c.acts.load(Ordering::SeqCst);
    b.client(|h| {
        for frame in frames {
            h.ws_send(ws, frame);
        }
    });
    (c.acts.load(Ordering::SeqCst) - before, b.frames(ws))
}

/// Pending once, then ready: a handler's first `.await` that does not
/// complete at once.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn server() -> SocketIo {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.join("all");
        socket.on("echo", |socket: Socket, payload: Payload| async move {
            socket.emit_payload("echo", payload).unwrap();
        });
        socket.on("ack", |payload: Payload, ack: AckSender| async move {
            ack.send_payload(payload).unwrap();
        });
        socket.on("mixed", |socket: Socket| async move {
            socket.emit("step", 1).unwrap();
            // A broadcast acts on the core: the emit above goes first.
            socket.io().to("all").emit("step", 2).unwrap();
            socket.emit("step", 3).unwrap();
            PendingOnce(false).await;
            socket.emit("step", 4).unwrap();
        });
    });
    io
}

#[test]
fn the_sends_of_a_batch_take_one_lock_and_keep_their_order() {
    let io = server();
    let (b, c) = start_counting(&io);
    let (ws, frames) = connect(&b, "/", "");
    assert!(frames[0].starts_with(r#"40{"sid":""#));
    let (acts, frames) = step(
        &b,
        &c,
        ws,
        &[
            r#"42["echo",1]"#,
            r#"427["ack","a"]"#,
            r#"42["echo",{"x":[2]}]"#,
            r#"428["ack"]"#,
        ],
    );
    assert_eq!(
        frames,
        vec![
            r#"42["echo",1]"#,
            r#"437["a"]"#,
            r#"42["echo",{"x":[2]}]"#,
            r#"438[]"#,
        ]
    );
    // Four events, one batch: their four sends in one acquisition.
    assert_eq!(acts, 1);
}

#[test]
fn a_batch_is_sent_before_other_actions_and_before_a_handler_goes_on_elsewhere() {
    let io = server();
    let (b, c) = start_counting(&io);
    let (ws, _) = connect(&b, "/", "");
    let (acts, frames) = step(&b, &c, ws, &[r#"42["mixed"]"#]);
    assert_eq!(
        frames,
        vec![
            r#"42["step",1]"#,
            r#"42["step",2]"#,
            r#"42["step",3]"#,
            r#"42["step",4]"#,
        ]
    );
    // The broadcast (with the first emit), the third emit before the
    // handler's rest is spawned, the fourth from the rest.
    assert_eq!(acts, 3);
}

#[test]
fn emits_outside_a_batch_are_sent_at_once() {
    let io = SocketIo::new();
    let slot: Arc<Mutex<Option<Socket>>> = Arc::default();
    let kept = slot.clone();
    io.on_connection(move |socket: Socket| {
        *kept.lock().unwrap() = Some(socket);
        async {}
    });
    let (b, c) = start_counting(&io);
    let (ws, _) = connect(&b, "/", "");
    let socket = slot.lock().unwrap().take().unwrap();
    let before = c.acts.load(Ordering::SeqCst);
    socket.emit("direct", "x").unwrap();
    assert_eq!(c.acts.load(Ordering::SeqCst) - before, 1);
    assert_eq!(b.frames(ws), vec![r#"42["direct","x"]"#]);
}

#[test]
fn a_batch_holds_at_most_eight_events() {
    let io = server();
    let (b, c) = start_counting(&io);
    let (ws, _) = connect(&b, "/", "");
    let sent: Vec<String> = (0..10).map(|i| format!(r#"42["echo",{i}]"#)).collect();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    let (acts, frames) = step(&b, &c, ws, &refs);
    assert_eq!(frames, sent);
    // Eight, then two.
    assert_eq!(acts, 2);
}
