//! Namespaces and rooms: the main namespace for everyone, `/admin` for
//! operators; rooms joined and left one or many at a time; broadcasts to
//! rooms, except rooms, from a socket or from the server.
//!
//! ```text
//! cargo run -p runtime-tokio --example namespaces_rooms
//! ```
//!
//! Client: `socket.emit("subscribe", ["news", "sports"])`,
//! `socket.emit("unsubscribe", "sports")`; an `/admin` client sends
//! `announce` `{rooms: ["news"], except: ["muted"], text: "..."}`.

use std::net::SocketAddr;

use runtime_tokio::socketio_async::{AckSender, Data, Socket, SocketIo};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{listen, serve_io};
use serde::Deserialize;

/// One room or several, as the client sends them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Rooms {
    One(String),
    Many(Vec<String>),
}

impl Rooms {
    fn list(self) -> Vec<String> {
        match self {
            Rooms::One(room) => vec![room],
            Rooms::Many(rooms) => rooms,
        }
    }
}

#[derive(Deserialize)]
struct Announcement {
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    text: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.on(
            "subscribe",
            |socket: Socket, Data(rooms): Data<Rooms>, ack: Option<AckSender>| async move {
                socket.join(rooms.list());
                if let Some(ack) = ack {
                    let rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
                    let _ = ack.send(rooms);
                }
            },
        );
        socket.on(
            "unsubscribe",
            |socket: Socket, Data(rooms): Data<Rooms>| async move {
                socket.leave(rooms.list());
            },
        );
        // To the others in the socket's rooms (never to itself).
        socket.on(
            "say",
            |socket: Socket, Data((room, text)): Data<(String, String)>| async move {
                let _ = socket.to(room).emit("said", text);
            },
        );
    });

    let admin = io.of("/admin");
    admin.on_connection(|socket: Socket| async move {
        socket.on(
            "announce",
            |socket: Socket, Data(a): Data<Announcement>, ack: Option<AckSender>| async move {
                // From the admin namespace to the main one's rooms.
                let reached = socket
                    .io()
                    .to(a.rooms)
                    .except(a.except)
                    .emit("announcement", a.text);
                if let Some(ack) = ack {
                    let _ = ack.send(reached.unwrap_or(0));
                }
            },
        );
    });

    let driver = serve_io(&io, Config::default());
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
