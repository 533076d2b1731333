//! Acknowledgements both ways: the client asks and the server answers
//! (`AckSender`, consumed when sent); the server asks one client with a
//! time limit and a typed answer; the server asks a room and gets the
//! answers that came even when some did not.
//!
//! ```text
//! cargo run -p runtime-tokio --example acks
//! ```
//!
//! Client: `await socket.emitWithAck("add", [1, 2, 3])` answers 6;
//! `socket.on("pick", (choices, cb) => cb({choice: choices[0]}))`; then
//! `socket.emit("poll")` asks every client `pick` and reports `poll-result`.

use std::net::SocketAddr;
use std::time::Duration;

use runtime_tokio::socketio_async::{
    AckError, AckSender, BroadcastAckError, Data, Socket, SocketIo,
};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{listen, serve_io};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Pick {
    choice: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new();
    io.on_connection(|socket: Socket| async move {
        socket.join("voters");
        // Client asks, server answers.
        socket.on(
            "add",
            |Data(terms): Data<Vec<i64>>, ack: AckSender| async move {
                let _ = ack.send(terms.iter().sum::<i64>());
            },
        );
        // Server asks this client, typed answer, 5 s at most.
        let asked = socket
            .timeout(Duration::from_secs(5))
            .emit_with_ack::<Pick>("pick", vec!["tea", "coffee"])
            .await;
        match asked {
            Ok(pick) => println!("{} picked {}", socket.id(), pick.choice),
            Err(AckError::Timeout) => println!("{} did not answer", socket.id()),
            Err(e) => println!("{} answered badly: {e}", socket.id()),
        }
        // Server asks every voter: the answers that came, and whether some
        // did not answer in time.
        socket.on("poll", |socket: Socket| async move {
            let result = socket
                .io()
                .to("voters")
                .timeout(Duration::from_secs(2))
                .emit_with_ack::<Pick>("pick", vec!["yes", "no"])
                .await;
            let (answers, missing) = match result {
                Ok(answers) => (answers, None),
                Err(BroadcastAckError { error, answers }) => (answers, Some(error.to_string())),
            };
            let choices: Vec<String> = answers.into_iter().map(|p| p.choice).collect();
            let _ = socket.emit(
                "poll-result",
                json!({ "choices": choices, "error": missing }),
            );
        });
    });
    let driver = serve_io(&io, Config::default());
    listen(driver, SocketAddr::from(([127, 0, 0, 1], 3000))).await
}
