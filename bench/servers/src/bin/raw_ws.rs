//! A raw WebSocket echo server on tokio-tungstenite, the WebSocket crate our
//! runtime uses, with the same buffer sizes: every message comes back as it
//! is, no Engine.IO or Socket.IO framing. The physical limit our server is
//! read against.
//!
//! ```text
//! bench-raw-ws --port 0
//! ```

use bench_servers::{Args, announce, raise_fd_limit};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    raise_fd_limit();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    announce(listener.local_addr()?.port());
    // runtime-tokio's settings (runtime-tokio/src/ws.rs).
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                let echo = match message {
                    Message::Text(_) | Message::Binary(_) => message,
                    Message::Close(_) => break,
                    _ => continue,
                };
                if ws.send(echo).await.is_err() {
                    break;
                }
            }
        });
    }
}
