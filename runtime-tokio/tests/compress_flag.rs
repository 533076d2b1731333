//! The per-emit `compress` flag on one socket (`socket.compress(false)`)
//! over a real WebSocket that negotiated permessage-deflate: the frame goes
//! out uncompressed (RSV1 clear, the packet's bytes as they are), while the
//! same event emitted without the flag is compressed (RSV1 set).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use runtime_tokio::engineio_proto::PerMessageDeflate;
use runtime_tokio::socketio_async::{Socket, SocketIo};
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::{bind, serve, serve_io};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the test waits for anything.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One server frame: (first header byte, payload), the socket read as
/// needed into `buf`.
async fn frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (u8, Vec<u8>) {
    loop {
        if buf.len() >= 2 {
            let (len, head) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
                126 | 127 => (usize::MAX, 0),
                n => (usize::from(n), 2),
            };
            assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
            if head > 0 && buf.len() >= head + len {
                let first = buf[0];
                let payload = buf[head..head + len].to_vec();
                buf.drain(..head + len);
                return (first, payload);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("no frame")
            .unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A masked client text frame (the key is zero: the payload reads as is).
fn client_text(text: &str) -> Vec<u8> {
    assert!(text.len() < 126);
    let mut out = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
    out.extend_from_slice(text.as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_false_sends_one_socket_an_uncompressed_frame() {
    let big = "a".repeat(2000);
    let io = SocketIo::new();
    let text = big.clone();
    io.on_connection(move |socket: Socket| {
        let text = text.clone();
        async move {
            socket.on("go", move |socket: Socket| {
                let text = text.clone();
                async move {
                    socket.compress(false).emit("plain", (&text,)).unwrap();
                    socket.emit("packed", (&text,)).unwrap();
                    // The flag belongs to the handle it made, not to the socket.
                    socket.compress(true).emit("packed", (&text,)).unwrap();
                }
            });
        }
    });
    let mut config = Config::default();
    config.engine.per_message_deflate = Some(PerMessageDeflate::default());
    let driver = serve_io(&io, config);
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(serve(driver.clone(), listener));

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("no 101")
            .unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    };
    let response = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    assert!(response.starts_with("http/1.1 101"), "{response}");
    assert!(
        response.contains(
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ),
        "{response}"
    );
    buf.drain(..end);

    let (first, open) = frame(&mut stream, &mut buf).await;
    assert_eq!(first, 0x81);
    assert!(open.starts_with(br#"0{"sid":""#));
    stream.write_all(&client_text("40")).await.unwrap();
    let (first, connect) = frame(&mut stream, &mut buf).await;
    assert_eq!(first, 0x81);
    assert!(connect.starts_with(br#"40{"sid":""#));
    stream.write_all(&client_text(r#"42["go"]"#)).await.unwrap();

    // With compress(false): FIN + text, RSV1 clear, the exact packet bytes.
    let (first, plain) = frame(&mut stream, &mut buf).await;
    assert_eq!(first, 0x81, "RSV1 must be clear");
    assert_eq!(plain, format!(r#"42["plain","{big}"]"#).into_bytes());

    // Without the flag, and with compress(true): FIN + RSV1 + text, and the
    // payload inflates (raw deflate, the 00 00 ff ff tail added back) to the
    // packet.
    for _ in 0..2 {
        let (first, packed) = frame(&mut stream, &mut buf).await;
        assert_eq!(first, 0xc1, "RSV1 must be set");
        assert!(packed.len() < 100, "{} bytes", packed.len());
        let mut deflated = packed.clone();
        deflated.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut inflated = Vec::with_capacity(4096);
        flate2::Decompress::new(false)
            .decompress_vec(&deflated, &mut inflated, flate2::FlushDecompress::Sync)
            .unwrap();
        assert_eq!(inflated, format!(r#"42["packed","{big}"]"#).into_bytes());
    }

    io.close();
    let _ = tokio::time::timeout(WAIT, serving).await;
}
