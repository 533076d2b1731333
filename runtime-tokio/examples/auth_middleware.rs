//! An authentication middleware: it checks the token the client sends in
//! its `auth`, refuses strangers with a CONNECT_ERROR the client sees, and
//! stores who the user is in the socket's extensions, where every handler
//! finds it with `Extension<T>`. The middleware's arguments are
//! extractors (`use_middleware_with`): the auth object typed, the token
//! store, the socket's storage to fill; a malformed auth object is refused
//! before it runs. Then, per event, a packet middleware (extractors too:
//! the event's name, the user) keeps `admin:*` events for admins; a
//! refusal reaches the error handler (`ErrorMessage`), which tells the
//! client.
//!
//! ```text
//! cargo run -p runtime-tokio --example auth_middleware
//! ```
//!
//! Client: `io(url, {auth: {token: "secret-ann"}})` connects as ann;
//! `io(url, {auth: {token: "nope"}})` gets `connect_error` "invalid token";
//! ann's `socket.emit("admin:kick", "bob")` gets `refused` back.

use std::collections::HashMap;
use std::net::SocketAddr;

use runtime_tokio::socketio_async::{
    ConnectError, Data, ErrorMessage, Event, Extension, Extensions, Socket, SocketIo, State,
};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{listen, serve_io};
use serde_json::json;

/// Who the socket is, set by the middleware.
#[derive(Clone)]
struct User {
    name: String,
    admin: bool,
}

/// The tokens we know (a database, in a real application).
struct Tokens(HashMap<&'static str, &'static str>);

/// What the client sends as `auth`.
#[derive(serde::Deserialize)]
struct Auth {
    token: String,
}

async fn authenticate(
    Data(auth): Data<Auth>,
    tokens: State<Tokens>,
    extensions: Extensions,
) -> Result<(), ConnectError> {
    let State(tokens) = tokens;
    match tokens.0.get(auth.token.as_str()) {
        Some(name) => {
            extensions.insert(User {
                name: (*name).to_owned(),
                admin: *name == "bob",
            });
            Ok(())
        }
        None => Err(ConnectError::with_data(
            "invalid token",
            json!({ "hint": "send auth.token" }),
        )),
    }
}

/// A packet middleware: every event passes here before its handlers.
fn authorize(Event(event): Event, Extension(user): Extension<User>) -> Result<(), String> {
    if event.starts_with("admin:") && !user.admin {
        return Err(format!("{event} is for admins"));
    }
    Ok(())
}

async fn on_connection(socket: Socket, Extension(user): Extension<User>, _: State<Tokens>) {
    socket.use_middleware_with(authorize);
    socket.on_error(
        |socket: Socket, ErrorMessage(error): ErrorMessage| async move {
            let _ = socket.emit("refused", error);
        },
    );
    socket.on(
        "admin:kick",
        |socket: Socket, Data(name): Data<String>| async move {
            let _ = socket
                .nsp_operator()
                .to(format!("user:{name}"))
                .disconnect_sockets(false);
        },
    );
    // A room per user: every tab of one user.
    socket.join(format!("user:{}", user.name));
    let _ = socket.emit("welcome", &user.name);
    socket.on(
        "whisper",
        |socket: Socket,
         Extension(me): Extension<User>,
         Data((to, text)): Data<(String, String)>| async move {
            let _ = socket
                .to(format!("user:{to}"))
                .emit("whisper", (me.name, text));
        },
    );
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let tokens = Tokens(HashMap::from([
        ("secret-ann", "ann"),
        ("secret-bob", "bob"),
    ]));
    let io = SocketIo::builder().with_state(tokens).build();
    io.use_middleware_with(authenticate);
    io.on_connection(on_connection);
    let driver = serve_io(&io, Config::default());
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
