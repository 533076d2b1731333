//! A raw WebSocket echo server on tokio-tungstenite (the WebSocket crate our
//! runtime used until its framing became engineio-proto's own, 2026-12-07),
//! with 1 KiB read and 8 KiB write buffers: every message comes back as it
//! is, no Engine.IO or Socket.IO framing. The floor our server is read
//! against.
//!
//! ```text
//! bench-raw-ws --port 0 [--flush batch|frame]
//! ```
//!
//! With `--flush batch` (the default) a connection echoes every frame that
//! is already readable, then flushes once: one write system call per batch,
//! as a server that drains its queue per wake-up does. `--flush frame`
//! sends and flushes each echo on its own (one write per frame).

use bench_servers::{Args, announce, raise_fd_limit};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames echoed before a flush at the most, so one busy client cannot
/// grow the write buffer without bound.
const MAX_BATCH: usize = 64;

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
    let per_batch = args.flush_per_batch;
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
                if !per_batch {
                    let sent = match echo_of(message) {
                        Echo::Send(echo) => ws.send(echo).await.is_ok(),
                        Echo::Skip => true,
                        Echo::Close => false,
                    };
                    if sent {
                        continue;
                    }
                    break;
                }
                // Queue this echo and every one already readable, then
                // write them all with one flush.
                let mut next = Some(message);
                let mut queued = 0;
                let mut open = true;
                while let Some(message) = next.take() {
                    match echo_of(message) {
                        Echo::Send(echo) => {
                            if ws.feed(echo).await.is_err() {
                                return;
                            }
                            queued += 1;
                        }
                        Echo::Skip => {}
                        Echo::Close => {
                            open = false;
                            break;
                        }
                    }
                    if queued < MAX_BATCH {
                        next = match ws.next().now_or_never() {
                            Some(Some(Ok(message))) => Some(message),
                            Some(_) => {
                                open = false;
                                None
                            }
                            None => None,
                        };
                    }
                }
                if ws.flush().await.is_err() || !open {
                    break;
                }
            }
        });
    }
}

enum Echo {
    Send(Message),
    Skip,
    Close,
}

fn echo_of(message: Message) -> Echo {
    match message {
        Message::Text(_) | Message::Binary(_) => Echo::Send(message),
        Message::Close(_) => Echo::Close,
        _ => Echo::Skip,
    }
}
