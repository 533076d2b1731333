//! `dispatch_here`: the events a binding's read routes run on the reading
//! task, right after its lock acquisition, in order, and never beside
//! another runner of the same socket.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use socketio_async::{DisconnectReason, Payload, Socket, SocketIo, dispatch_here};

use common::*;

type Log = Arc<Mutex<Vec<String>>>;

/// A server whose `echo` handler emits its arguments back and logs them.
fn echo_server(log: &Log) -> SocketIo {
    let io = SocketIo::new();
    let log = log.clone();
    io.on_connection(move |socket: Socket| {
        let log = log.clone();
        async move {
            let l = log.clone();
            socket.on("echo", move |socket: Socket, payload: Payload| {
                let l = l.clone();
                async move {
                    l.lock().unwrap().push(format!("echo {}", payload.args[0]));
                    socket.emit_payload("echo", payload).unwrap();
                }
            });
            socket.on_disconnect(move |reason: DisconnectReason| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(format!("disconnect {reason}"));
                }
            });
        }
    });
    io
}

/// Hands `frames` to the core as a binding's read does, in a
/// `dispatch_here` scope, without running any task afterwards.
fn read_here(b: &TestBackend, ws: engineio_proto::RequestId, frames: &[&str]) {
    dispatch_here(|| {
        let mut h = b.h.lock().unwrap();
        for frame in frames {
            h.ws_send(ws, frame);
        }
        b.forward(&mut h);
    });
}

#[test]
fn events_read_in_a_scope_are_handled_before_it_returns_in_order() {
    let log: Log = Arc::default();
    let io = echo_server(&log);
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    let tasks_before = b.tasks.lock().unwrap().len();
    read_here(
        &b,
        ws,
        &[r#"42["echo",1]"#, r#"42["echo",2]"#, r#"42["echo",3]"#],
    );
    // No task ran: the handlers ran on this thread, inside the call.
    assert_eq!(*log.lock().unwrap(), vec!["echo 1", "echo 2", "echo 3"]);
    assert_eq!(
        b.frames(ws),
        vec![r#"42["echo",1]"#, r#"42["echo",2]"#, r#"42["echo",3]"#]
    );
    assert_eq!(b.tasks.lock().unwrap().len(), tasks_before);
    // Outside a scope, the socket's own task still takes its events.
    {
        let mut h = b.h.lock().unwrap();
        h.ws_send(ws, r#"42["echo",4]"#);
        b.forward(&mut h);
    }
    assert_eq!(log.lock().unwrap().len(), 3);
    b.settle();
    assert_eq!(log.lock().unwrap()[3], "echo 4");
    assert_eq!(b.frames(ws), vec![r#"42["echo",4]"#]);
}

#[test]
fn a_disconnect_read_in_a_scope_ends_the_socket_task() {
    let log: Log = Arc::default();
    let io = echo_server(&log);
    let b = start(&io);
    let idle_tasks = b.tasks.lock().unwrap().len();
    let (ws, _) = connect(&b, "/", "");
    assert_eq!(b.tasks.lock().unwrap().len(), idle_tasks + 1);
    read_here(&b, ws, &[r#"42["echo","last"]"#]);
    read_here(&b, ws, &["41"]);
    b.settle();
    assert_eq!(
        *log.lock().unwrap(),
        vec![r#"echo "last""#, "disconnect client namespace disconnect"]
    );
    assert_eq!(b.frames(ws), vec![r#"42["echo","last"]"#]);
    // The socket's task saw its queue closed and ended.
    assert_eq!(b.tasks.lock().unwrap().len(), idle_tasks);
}

#[test]
fn events_of_a_socket_already_being_run_wait_for_that_runner() {
    let log: Log = Arc::default();
    let backend: Arc<OnceLock<(Arc<TestBackend>, engineio_proto::RequestId)>> = Arc::default();
    let io = SocketIo::new();
    let (l, bk) = (log.clone(), backend.clone());
    io.on_connection(move |socket: Socket| {
        let (l, bk) = (l.clone(), bk.clone());
        async move {
            let second = l.clone();
            socket.on("first", move || {
                let (l, bk) = (l.clone(), bk.clone());
                async move {
                    l.lock().unwrap().push("first starts".to_owned());
                    // Another read of the same connection while this
                    // socket's queue is being run: its event waits.
                    let (b, ws) = bk.get().unwrap();
                    read_here(b, *ws, &[r#"42["second"]"#]);
                    l.lock().unwrap().push("first ends".to_owned());
                }
            });
            let l = second;
            socket.on("second", move || {
                let l = l.clone();
                async move {
                    l.lock().unwrap().push("second".to_owned());
                }
            });
        }
    });
    let b = start(&io);
    let (ws, _) = connect(&b, "/", "");
    backend.set((b.clone(), ws)).ok().unwrap();
    read_here(&b, ws, &[r#"42["first"]"#]);
    assert_eq!(
        *log.lock().unwrap(),
        vec!["first starts", "first ends", "second"]
    );
}
