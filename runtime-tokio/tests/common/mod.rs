//! Helpers the runtime-tokio test files share.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for anything.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// One HTTP/1.1 request on a fresh connection: (status, body).
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = runtime_hyper::testing::request_head(method, target, body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("no response")
        .unwrap();
    let reply = runtime_hyper::testing::HttpReply::parse(&raw).expect("not an HTTP response");
    (reply.status, reply.text())
}
