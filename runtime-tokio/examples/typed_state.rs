//! Typed events and application state: a shared scoreboard registered once
//! on the builder, read by every handler with `State<T>`; events in and out
//! as Rust types.
//!
//! ```text
//! cargo run -p runtime-tokio --example typed_state
//! ```
//!
//! Client: `socket.emit("score", {player: "ann", points: 3}, (total) => ...)`,
//! `socket.emit("board", (board) => ...)`; everyone receives `scored`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use runtime_tokio::socketio_async::{AckSender, Data, Socket, SocketIo, State};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{listen, serve_io};
use serde::{Deserialize, Serialize};

/// The application state: one per server, shared by every handler.
#[derive(Default)]
struct Scoreboard {
    totals: Mutex<BTreeMap<String, u64>>,
}

#[derive(Deserialize)]
struct Score {
    player: String,
    points: u64,
}

#[derive(Serialize)]
struct Scored<'a> {
    player: &'a str,
    total: u64,
}

async fn score(socket: Socket, Data(score): Data<Score>, board: State<Scoreboard>, ack: AckSender) {
    let total = {
        let mut totals = board.totals.lock().unwrap_or_else(|e| e.into_inner());
        let total = totals.entry(score.player.clone()).or_default();
        *total += score.points;
        *total
    };
    let _ = socket.io().emit(
        "scored",
        Scored {
            player: &score.player,
            total,
        },
    );
    let _ = ack.send(total);
}

async fn board(board: State<Scoreboard>, ack: AckSender) {
    let totals = board
        .totals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // A map is one argument: the client's callback gets one object.
    let _ = ack.send(totals);
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::builder()
        .with_state(Scoreboard::default())
        .build();
    io.on_connection(|socket: Socket| async move {
        socket.on("score", score);
        socket.on("board", board);
    });
    let driver = serve_io(&io, Config::default());
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
