//! One task per WebSocket: read messages into the core, write what the core
//! hands out, report flushes and closes.

use std::collections::VecDeque;
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::tungstenite::{Error, Message, Utf8Bytes};
use bytes::Bytes;
use engineio_proto::{Frame, Str};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};

use crate::core::Core;
use crate::driver::{Reply, Watch};
use crate::io::HyperIo;
use crate::runtime::{Either, Runtime, race, timeout, yield_now};

/// How much larger than `max_http_buffer_size` a message may be before the
/// WebSocket layer refuses it: messages a little too large reach the core,
/// which closes with its own rule (1009, "max payload exceeded").
const MESSAGE_SIZE_SLACK: usize = 1024;

/// How long a closing handshake may take to write before the connection is
/// dropped anyway (a peer that does not read).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Messages handled in a row before giving other tasks a turn.
const READS_PER_TURN: u32 = 64;

type Ws = WebSocketStream<HyperIo<Upgraded>>;

/// tungstenite's read buffer, allocated up front for every connection: what
/// one read call takes at most. Small, because an idle connection keeps it
/// (1 KiB measured about 4.5 KB per idle WebSocket, 4 KiB about 7.4 KB);
/// typical Engine.IO messages fit, larger ones take several reads.
const READ_BUFFER: usize = 1024;

/// Frames are gathered up to this size before a write; a batch is flushed
/// at its end anyway.
const WRITE_BUFFER: usize = 8 * 1024;

/// The WebSocket settings for a core whose largest message is `max`.
pub(crate) fn config(max: usize) -> WebSocketConfig {
    let limit = max.saturating_add(MESSAGE_SIZE_SLACK);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// What woke the WebSocket task.
enum Wake {
    /// A message (or the end) from the peer.
    Read(Option<Result<Message, Error>>),
    /// Outputs from the core (`None`: the slot is gone).
    Write(Option<VecDeque<Reply>>),
}

/// Serves an accepted WebSocket until it closes. `watch` reports it to the
/// core as failed if this task ends any other way.
pub(crate) async fn serve<C: Core, R: Runtime>(
    watch: Watch<C, R>,
    upgrade: OnUpgrade,
    config: WebSocketConfig,
) {
    // Boxed: the upgrade's state is large and only needed once; a future
    // holds room for its largest state for as long as the connection lives.
    let Some(mut ws) = Box::pin(open(upgrade, config)).await else {
        // The upgrade never completed: dropping `watch` reports it.
        return;
    };
    let shared = watch.shared().clone();
    let runtime = shared.runtime.clone();
    let id = watch.id();
    let mut reads_in_a_row = 0;
    // Which side is polled first alternates, so that neither a flood of
    // incoming messages nor a flood of outputs starves the other.
    let mut writes_first = false;
    // A batch was written and not yet reported to the core: reported at
    // this task's next lock acquisition (taking the next batch, or handing
    // in a message), so that a write costs one acquisition, not two.
    let mut flushed = false;
    loop {
        writes_first = !writes_first;
        let wake = if writes_first {
            match race(shared.next_batch(id, &mut flushed), ws.next()).await {
                Either::Left(batch) => Wake::Write(batch),
                Either::Right(incoming) => Wake::Read(incoming),
            }
        } else {
            match race(ws.next(), shared.next_batch(id, &mut flushed)).await {
                Either::Left(incoming) => Wake::Read(incoming),
                Either::Right(batch) => Wake::Write(batch),
            }
        };
        match wake {
            Wake::Read(incoming) => {
                let frame = match incoming {
                    Some(Ok(Message::Text(text))) => {
                        Frame::Text(Str::from_utf8_lossy(Bytes::from(text)))
                    }
                    Some(Ok(Message::Binary(data))) => Frame::Binary(data),
                    // Pings are answered by tungstenite itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => {
                        watch.finish(|core, now, id| core.handle_ws_closed(now, id, false));
                        // Completes the closing handshake tungstenite started.
                        let _ = Box::pin(timeout(&runtime, CLOSE_GRACE, ws.close(None))).await;
                        return;
                    }
                    Some(Err(error)) => {
                        let failed = is_protocol_error(&error);
                        watch.finish(|core, now, id| core.handle_ws_closed(now, id, failed));
                        if let Error::Capacity(_) = error {
                            // 1009 "message too big", as the WebSocket layer of
                            // the official server answers.
                            Box::pin(close(&runtime, &mut ws, 1009)).await;
                        }
                        return;
                    }
                };
                shared.with(|d, now| {
                    if std::mem::take(&mut flushed) {
                        d.core().handle_ws_flushed(now, id);
                    }
                    d.core().handle_ws_message(now, id, frame)
                });
                reads_in_a_row += 1;
                if reads_in_a_row >= READS_PER_TURN {
                    reads_in_a_row = 0;
                    yield_now().await;
                }
            }
            Wake::Write(batch) => {
                reads_in_a_row = 0;
                let Some(batch) = batch else {
                    // Only this task forgets the slot; nothing left to serve.
                    return;
                };
                let written =
                    // Boxed, as the other rare or short-lived states below:
                    // the task's future keeps room for its largest state,
                    // and an idle connection should not pay for these.
                    match race(Box::pin(write_batch(&mut ws, batch)), shared.close_requested(id)).await {
                        Either::Left(written) => written,
                        // The core gave up on this WebSocket while a write was
                        // stuck (a peer that does not read): stop writing.
                        Either::Right(()) => Written::Abandoned,
                    };
                match written {
                    Written::Flushed => flushed = true,
                    Written::Close(code) => {
                        // The core already forgot this WebSocket.
                        watch.finish(|_, _, _| {});
                        Box::pin(close(&runtime, &mut ws, code)).await;
                        return;
                    }
                    Written::Abandoned => {
                        watch.finish(|_, _, _| {});
                        return;
                    }
                    Written::Failed => {
                        watch.finish(|core, now, id| core.handle_ws_closed(now, id, true));
                        return;
                    }
                }
            }
        }
    }
}

/// Waits for hyper to hand over the upgraded connection, and wraps it.
async fn open(upgrade: OnUpgrade, config: WebSocketConfig) -> Option<Ws> {
    let upgraded = upgrade.await.ok()?;
    Some(WebSocketStream::from_raw_socket(HyperIo::new(upgraded), Role::Server, Some(config)).await)
}

/// How writing a batch of outputs ended.
enum Written {
    /// Every message is written and flushed.
    Flushed,
    /// Messages are written; the core asked to close with this code.
    Close(u16),
    /// The core asked to close while the write was stuck.
    Abandoned,
    /// The connection failed.
    Failed,
}

/// Writes the messages of `batch` in order, then flushes them once.
async fn write_batch(ws: &mut Ws, batch: VecDeque<Reply>) -> Written {
    for reply in batch {
        let result = match reply {
            Reply::WsSend(frame) => ws.feed(message(frame)).await,
            Reply::WsClose(code) => return Written::Close(code),
            // Requests' outputs never come for an accepted WebSocket.
            Reply::Respond(_) | Reply::ReadBody(_) | Reply::AcceptWebSocket(_) => Ok(()),
        };
        if result.is_err() {
            return Written::Failed;
        }
    }
    match ws.flush().await {
        Ok(()) => Written::Flushed,
        Err(_) => Written::Failed,
    }
}

/// Sends a close frame with `code` (after what is already written), within
/// [`CLOSE_GRACE`]; the connection is dropped after it either way.
async fn close<R: Runtime>(runtime: &R, ws: &mut Ws, code: u16) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::default(),
    };
    let _ = timeout(runtime, CLOSE_GRACE, ws.close(Some(frame))).await;
}

/// A core frame as a WebSocket message.
fn message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => match Utf8Bytes::try_from(text.into_bytes()) {
            Ok(text) => Message::Text(text),
            // `Str` is UTF-8 by construction; never taken.
            Err(_) => Message::Text(Utf8Bytes::default()),
        },
        Frame::Binary(data) => Message::Binary(data),
    }
}

/// Whether a read error is the peer breaking the WebSocket protocol
/// ("transport error"), rather than the connection simply ending
/// ("transport close"). The official server's WebSocket layer reports only
/// protocol violations as errors; a connection reset or dropped without a
/// closing handshake is a plain close there.
fn is_protocol_error(error: &Error) -> bool {
    use async_tungstenite::tungstenite::error::ProtocolError;
    !matches!(
        error,
        Error::ConnectionClosed
            | Error::AlreadyClosed
            | Error::Io(_)
            | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
    )
}

#[cfg(test)]
mod tests {
    use std::future::{Future, Ready, ready};
    use std::net::SocketAddr;
    use std::time::Instant;

    use engineio_proto::{RequestId, Server};
    use futures_util::io::Cursor;

    use crate::driver::{Watch, Watched};
    use crate::{Driver, FuturesIo, Runtime};

    /// A runtime that runs nothing: enough to build the task's future.
    #[derive(Clone, Default)]
    struct Inert;

    impl Runtime for Inert {
        type Sleep = Ready<()>;
        type Listener = ();
        type Stream = ();
        type Io = FuturesIo<Cursor<Vec<u8>>>;

        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _: F) {}

        fn sleep_until(&self, _: Instant) -> Ready<()> {
            ready(())
        }

        fn listener(&self, _: std::net::TcpListener) -> std::io::Result<()> {
            Ok(())
        }

        async fn accept(&self, _: &()) -> std::io::Result<((), SocketAddr)> {
            Err(std::io::ErrorKind::Unsupported.into())
        }

        fn io(&self, _: (), _: bool) -> Self::Io {
            FuturesIo::new(Cursor::new(Vec::new()))
        }
    }

    /// Every idle WebSocket keeps its task's future, sized for its largest
    /// state: the upgrade, the writes and the closes are boxed so that it
    /// stays near the stream itself (1392 bytes before they were).
    #[test]
    fn the_websocket_task_stays_small_while_idle() {
        let driver: Driver<Server, Inert> =
            Driver::new(Server::new(Default::default()), |_, _, _| {});
        let watch = Watch::new(driver.shared.clone(), RequestId(0), Watched::WebSocket);
        let mut request = http::Request::new(());
        let task = super::serve(watch, hyper::upgrade::on(&mut request), super::config(1000));
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= std::mem::size_of::<super::Ws>() + 512,
            "{size} bytes"
        );
    }
}
