//! What the bindings' integration tests share (feature `testing`): raw
//! HTTP/1.1 helpers (the bytes of a request, the parse of a response) and
//! [`scenarios`], every scenario over real sockets written once and run by
//! each binding on its own runtime, and [`tls`], the same for HTTPS, WSS
//! and HTTP/2; and [`VirtualRuntime`], a runtime on a virtual clock with
//! in-memory connections, on which the driver's own tests run.

/// The size of a WebSocket's task (the future spawned for each accepted
/// WebSocket, as long as it stays open) serving core `C` on runtime `R`:
/// what an idle connection's task costs, before the runtime's own header.
///
/// ```
/// use runtime_hyper::testing::{VirtualRuntime, websocket_task_size};
/// assert!(websocket_task_size::<engineio_proto::Server, VirtualRuntime>() < 512);
/// ```
pub fn websocket_task_size<C: crate::Core, R: crate::Runtime>() -> usize
where
    R::Io: hyper::rt::Read + hyper::rt::Write + Unpin,
{
    std::mem::size_of::<crate::ws::Serve<C, R>>()
}

/// An HTTP response read whole from a connection the server closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The headers, names and values trimmed, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// Parses a whole response; `None` if it is not one.
    ///
    /// ```
    /// use runtime_hyper::testing::HttpReply;
    /// let reply = HttpReply::parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nok").unwrap();
    /// assert_eq!((reply.status, reply.header("content-type"), reply.text().as_str()), (200, Some("text/plain"), "ok"));
    /// ```
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(raw.get(..split)?).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':')?;
                Some((n.trim().to_owned(), v.trim().to_owned()))
            })
            .collect::<Option<_>>()?;
        Some(Self {
            status,
            headers,
            body: raw.get(split + 4..)?.to_vec(),
        })
    }

    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The head of a request with a `body_len`-byte body, asking the server to
/// close the connection after answering (so the reply is read to its end).
///
/// ```
/// assert_eq!(
///     runtime_hyper::testing::request_head("GET", "/x", 0),
///     "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
/// );
/// ```
pub fn request_head(method: &str, target: &str, body_len: usize) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Length: {body_len}\r\n\r\n"
    )
}

/// The session id of an Engine.IO open packet (`0{"sid":"…",…}`).
///
/// ```
/// assert_eq!(runtime_hyper::testing::open_sid(r#"0{"sid":"abc","upgrades":[]}"#), Some("abc"));
/// assert_eq!(runtime_hyper::testing::open_sid("40"), None);
/// ```
pub fn open_sid(open: &str) -> Option<&str> {
    open.strip_prefix(r#"0{"sid":""#)?.split('"').next()
}

pub mod scenarios;
pub mod tls;
pub mod virtual_runtime;

pub use virtual_runtime::{Pipe, VirtualListener, VirtualRuntime, VirtualSleep};
