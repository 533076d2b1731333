//! Namespace `/typed` of the interop server: the handler API end to end
//! with the official client (tests/interop/typed.test.mjs). Every handler
//! states what it needs with extractors: typed data, the ack, the
//! application state, the user a middleware put in the socket's
//! extensions, binary attachments; the packet middleware, `on_any` and
//! the error handler too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runtime_tokio::socketio_async::{
    AckError, AckSender, Bin, BroadcastAckError, ConnectError, Connecting, Data, ErrorMessage,
    Event, Extension, Payload, Socket, SocketIo, State, TryData,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The application state (registered on the builder).
#[derive(Default)]
pub(crate) struct Stats {
    chats: AtomicUsize,
}

/// Who the socket is: put in its extensions by the middleware.
#[derive(Clone)]
struct User(String);

#[derive(Deserialize)]
struct Chat {
    room: String,
    text: String,
}

#[derive(Serialize)]
struct Relayed<'a> {
    from: &'a str,
    text: &'a str,
}

/// What `on_any` reacts to: events whose first argument is
/// `{"probe": "..."}`.
#[derive(Deserialize)]
struct Probe {
    probe: String,
}

#[derive(Deserialize)]
struct Answer {
    n: i64,
}

/// Registers `/typed` on `io` (built with a [`Stats`] state).
pub(crate) fn register(io: &SocketIo) {
    let nsp = io.of("/typed");
    nsp.use_middleware(|c: Connecting| async move {
        let user = c.handshake.auth.get("user").and_then(|u| u.as_str());
        let Some(user) = user.filter(|u| !u.is_empty()) else {
            return Err(ConnectError::with_data(
                "user required",
                json!({ "field": "user" }),
            ));
        };
        c.extensions.insert(User(user.to_owned()));
        Ok(())
    });
    nsp.on_connection(on_connection);
}

async fn on_connection(socket: Socket, Extension(user): Extension<User>, stats: State<Stats>) {
    let _ = socket.emit(
        "hello",
        json!({ "user": user.0, "chats": stats.chats.load(Ordering::Relaxed) }),
    );
    // Every event passes the packet middleware: `admin:*` is for `root`
    // only; a refusal reaches the error handler, which tells the client.
    socket.use_middleware_with(|Event(event): Event, Extension(user): Extension<User>| {
        if event.starts_with("admin:") && user.0 != "root" {
            return Err(format!("{event}: {} may not", user.0));
        }
        Ok(())
    });
    socket.on_error(
        |socket: Socket, ErrorMessage(error): ErrorMessage| async move {
            let _ = socket.emit("refused", error);
        },
    );
    // Sees every event before its handlers; runs only for those whose
    // first argument is a probe.
    socket.on_any(
        |socket: Socket,
         Event(event): Event,
         Data(probe): Data<Probe>,
         Extension(user): Extension<User>| {
            let _ = socket.emit("probed", (&*event, probe.probe, user.0));
        },
    );
    socket.on(
        "admin:kick",
        |Data(who): Data<String>, ack: AckSender| async move {
            let _ = ack.send(("kicked", who));
        },
    );
    socket.on(
        "chat",
        |socket: Socket,
         Data(chat): Data<Chat>,
         Extension(user): Extension<User>,
         stats: State<Stats>,
         ack: AckSender| async move {
            let count = stats.chats.fetch_add(1, Ordering::Relaxed) + 1;
            let relayed = Relayed {
                from: &user.0,
                text: &chat.text,
            };
            let _ = socket.to(chat.room).emit("chat", relayed);
            let _ = ack.send(count);
        },
    );
    socket.on(
        "validate",
        |TryData(chat): TryData<Chat>, ack: AckSender| async move {
            let _ = match chat {
                Ok(chat) => ack.send(json!({ "ok": true, "room": chat.room })),
                Err(error) => ack.send(json!({ "ok": false, "error": error.to_string() })),
            };
        },
    );
    socket.on(
        "join",
        |socket: Socket, Data(rooms): Data<Vec<String>>, ack: AckSender| async move {
            socket.join(rooms);
            let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
            rooms.sort();
            let _ = ack.send(rooms);
        },
    );
    // Two arguments in, two out; one array out, then three arguments.
    socket.on(
        "sum",
        |Data((a, b)): Data<(i64, i64)>, ack: AckSender| async move {
            let _ = ack.send((a + b, "sum"));
        },
    );
    socket.on("lists", |socket: Socket| async move {
        let _ = socket.emit("one-array", vec![1, 2, 3]);
        let _ = socket.emit("three-args", (1, 2, 3));
    });
    // The server asks the client, typed answer.
    socket.on("ask", |socket: Socket, Data(ms): Data<u64>| async move {
        let asked = socket
            .timeout(Duration::from_millis(ms))
            .emit_with_ack::<Answer>("question", json!({ "q": "n?" }))
            .await;
        let _ = match asked {
            Ok(answer) => socket.emit("asked", answer.n * 2),
            Err(AckError::Decode(e)) => socket.emit("asked-error", ("decode", e.to_string())),
            Err(e) => socket.emit("asked-error", ("other", e.to_string())),
        };
    });
    // A broadcast with acks to room `poll`: the answers that came, and the
    // error when some did not.
    socket.on(
        "poll",
        |socket: Socket, Data(ms): Data<u64>, ack: AckSender| async move {
            let poll = socket
                .io()
                .of("/typed")
                .to("poll")
                .timeout(Duration::from_millis(ms))
                .emit_with_ack::<String>("vote", ())
                .await;
            let (err, mut answers) = match poll {
                Ok(answers) => (None, answers),
                Err(BroadcastAckError { error, answers }) => (Some(error.to_string()), answers),
            };
            answers.sort();
            let _ = ack.send(json!({ "err": err, "answers": answers }));
        },
    );
    // A name and a file in; the size and the file back.
    socket.on(
        "file",
        |Data(name): Data<String>, Bin(files): Bin, ack: AckSender| async move {
            let Some(file) = files.into_iter().next() else {
                let _ = ack.send(("no file", 0));
                return;
            };
            let answer = Payload::new((name, file.len())).map(|p| p.attach(file));
            if let Ok(answer) = answer {
                let _ = ack.send_payload(answer);
            }
        },
    );
    // Two handlers of one event, in registration order.
    socket.on("twice", |socket: Socket| async move {
        let _ = socket.emit("order", "first");
    });
    socket.on("twice", |socket: Socket, ack: AckSender| async move {
        let _ = socket.emit("order", "second");
        let _ = ack.send("done");
    });
}
