//! An authentication middleware: it checks the token the client sends in
//! its `auth`, refuses strangers with a CONNECT_ERROR the client sees, and
//! stores who the user is in the socket's extensions, where every handler
//! finds it with `Extension<T>`. The middleware's arguments are
//! extractors (`use_middleware_with`): the auth object typed, the token
//! store, the socket's storage to fill; a malformed auth object is refused
//! before it runs.
//!
//! ```text
//! cargo run -p runtime-tokio --example auth_middleware
//! ```
//!
//! Client: `io(url, {auth: {token: "secret-ann"}})` connects as ann;
//! `io(url, {auth: {token: "nope"}})` gets `connect_error` "invalid token".

use std::collections::HashMap;
use std::net::SocketAddr;

use runtime_tokio::socketio_async::{
    ConnectError, Data, Extension, Extensions, Socket, SocketIo, State,
};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{listen, serve_io};
use serde_json::json;

/// Who the socket is, set by the middleware.
#[derive(Clone)]
struct User {
    name: String,
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
            });
            Ok(())
        }
        None => Err(ConnectError::with_data(
            "invalid token",
            json!({ "hint": "send auth.token" }),
        )),
    }
}

async fn on_connection(socket: Socket, Extension(user): Extension<User>, _: State<Tokens>) {
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
