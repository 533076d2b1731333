//! Calls from an application thread outside the tokio runtime (a plain
//! `std::thread`): a broadcast seen by a socket's `on_any_outgoing` handler
//! and a `disconnect` reach handlers that run on the socket's task, which
//! such a call starts (a socket has a task only while it has events). The
//! driver keeps the handle of the runtime it was made in and spawns there.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use runtime_tokio::socketio_async::{DisconnectReason, Event, Socket, SocketIo};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{bind, serve, serve_io};
use tokio_tungstenite::tungstenite::Message;

/// How long the test waits for anything.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The next text message.
async fn text<S, E>(stream: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    loop {
        let message = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("nothing came")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return text.to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_outside_the_runtime_starts_the_handlers_tasks() {
    let io = SocketIo::new();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (socket_tx, socket_rx) = std::sync::mpsc::channel::<Socket>();
    io.on_connection(move |socket: Socket| {
        let seen_tx = seen_tx.clone();
        let socket_tx = socket_tx.clone();
        async move {
            let out = seen_tx.clone();
            socket.on_any_outgoing(move |Event(event): Event| {
                let _ = out.send(format!("out {event}"));
            });
            socket.on_disconnect(move |reason: DisconnectReason| {
                let seen_tx = seen_tx.clone();
                async move {
                    let _ = seen_tx.send(format!("disconnect {reason}"));
                }
            });
            socket_tx.send(socket).unwrap();
        }
    });
    let driver = serve_io(&io, Config::default());
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(serve(driver.clone(), listener));

    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut sink, mut stream) = ws.split();
    assert!(text(&mut stream).await.starts_with(r#"0{"sid":""#));
    sink.send(Message::text("40")).await.unwrap();
    assert!(text(&mut stream).await.starts_with(r#"40{"sid":""#));
    let socket = tokio::task::spawn_blocking(move || socket_rx.recv_timeout(WAIT).unwrap())
        .await
        .unwrap();

    // From a thread tokio knows nothing of: a broadcast, then a disconnect.
    let from_outside = io.clone();
    std::thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        from_outside.emit("news", ("hi",)).unwrap();
        socket.disconnect(false);
    })
    .join()
    .expect("the calls from outside the runtime must not panic");

    assert_eq!(text(&mut stream).await, r#"42["news","hi"]"#);
    assert_eq!(text(&mut stream).await, "41");
    let mut got = Vec::new();
    for _ in 0..2 {
        let one = tokio::time::timeout(WAIT, seen.recv())
            .await
            .expect("a handler did not run")
            .unwrap();
        got.push(one);
    }
    assert_eq!(got, ["out news", "disconnect server namespace disconnect"]);
    serving.abort();
}
