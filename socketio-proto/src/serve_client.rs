//! `serveClient`: which requests get a file of the browser client bundle
//! (`socket.io-client`'s `dist` directory), with which headers, and when
//! the answer is `304 Not Modified`. No I/O: the runtime holds the files'
//! bytes, asks [`ServeClient::respond`] what to answer, and sends the file
//! it names, compressed with the encoding it names.
//!
//! What the official server does (socket.io 4.x, `serveClient: true`):
//!
//! * the eight files of [`ClientFile::ALL`] are served at
//!   `<path>/<name>` (the query string is ignored), whatever the method;
//! * `Cache-Control: public, max-age=0`, `Content-Type:
//!   application/javascript; charset=utf-8` (`application/json` for the
//!   `.map` files), `ETag: "<version>"` (the package version, quoted);
//! * an `If-None-Match` equal to that ETag, or to its weak form
//!   `W/"<version>"`, answers `304` with no body;
//! * the body is compressed as `Accept-Encoding` prefers among `br`, `gzip`
//!   and `deflate` (the `accepts` package's rules: highest `q`, then an
//!   exact name before `*`, then the order of the header, then that list's
//!   order), with `Content-Encoding` set; nothing acceptable means the
//!   plain file;
//! * with CORS configured, the CORS headers are added, and an `OPTIONS`
//!   preflight answers `204` with them.
//!
//! ```
//! use engineio_proto::{Method, Request};
//! use socketio_proto::serve_client::{ClientFile, ClientReply, ContentEncoding, ServeClient};
//!
//! let serve = ServeClient::new("/socket.io", "4.8.1");
//! let mut request = Request::new(Method::Get, "/socket.io/socket.io.min.js?v=1");
//! request.headers.insert("Accept-Encoding", "gzip, deflate, br");
//! match serve.respond(&request, None) {
//!     Some(ClientReply::File { file, encoding, headers }) => {
//!         assert_eq!(file, ClientFile::MinJs);
//!         assert_eq!(encoding, Some(ContentEncoding::Gzip));
//!         assert_eq!(headers.get("etag"), Some("\"4.8.1\""));
//!     }
//!     other => panic!("{other:?}"),
//! }
//!
//! request.headers.insert("If-None-Match", "W/\"4.8.1\"");
//! assert!(matches!(serve.respond(&request, None), Some(ClientReply::NotModified)));
//!
//! // Not a client file: the engine answers it.
//! let polling = Request::new(Method::Get, "/socket.io/?EIO=4&transport=polling");
//! assert!(serve.respond(&polling, None).is_none());
//! ```

use engineio_proto::{Cors, Headers, Method, Request};

/// One file of the client bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientFile {
    /// `socket.io.js`: the full build, with comments.
    Js,
    /// `socket.io.js.map`.
    JsMap,
    /// `socket.io.min.js`: the minified build.
    MinJs,
    /// `socket.io.min.js.map`.
    MinJsMap,
    /// `socket.io.msgpack.min.js`: minified, with the msgpack parser.
    MsgpackMinJs,
    /// `socket.io.msgpack.min.js.map`.
    MsgpackMinJsMap,
    /// `socket.io.esm.min.js`: the minified ES module.
    EsmMinJs,
    /// `socket.io.esm.min.js.map`.
    EsmMinJsMap,
}

impl ClientFile {
    /// Every file served, in no particular order.
    pub const ALL: [Self; 8] = [
        Self::Js,
        Self::JsMap,
        Self::MinJs,
        Self::MinJsMap,
        Self::MsgpackMinJs,
        Self::MsgpackMinJsMap,
        Self::EsmMinJs,
        Self::EsmMinJsMap,
    ];

    /// The file's name in the bundle directory and in the URL.
    ///
    /// ```
    /// use socketio_proto::serve_client::ClientFile;
    /// assert_eq!(ClientFile::EsmMinJsMap.name(), "socket.io.esm.min.js.map");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Js => "socket.io.js",
            Self::JsMap => "socket.io.js.map",
            Self::MinJs => "socket.io.min.js",
            Self::MinJsMap => "socket.io.min.js.map",
            Self::MsgpackMinJs => "socket.io.msgpack.min.js",
            Self::MsgpackMinJsMap => "socket.io.msgpack.min.js.map",
            Self::EsmMinJs => "socket.io.esm.min.js",
            Self::EsmMinJsMap => "socket.io.esm.min.js.map",
        }
    }

    /// The file called `name`, if it is one of the bundle's.
    ///
    /// ```
    /// use socketio_proto::serve_client::ClientFile;
    /// assert_eq!(ClientFile::from_name("socket.io.js"), Some(ClientFile::Js));
    /// assert_eq!(ClientFile::from_name("socket.io.esm.js"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|file| file.name() == name)
    }

    /// Whether this is a source map.
    pub fn is_map(self) -> bool {
        matches!(
            self,
            Self::JsMap | Self::MinJsMap | Self::MsgpackMinJsMap | Self::EsmMinJsMap
        )
    }

    /// The `Content-Type` the official server sends for it.
    ///
    /// ```
    /// use socketio_proto::serve_client::ClientFile;
    /// assert_eq!(ClientFile::MinJs.content_type(), "application/javascript; charset=utf-8");
    /// assert_eq!(ClientFile::MinJsMap.content_type(), "application/json; charset=utf-8");
    /// ```
    pub fn content_type(self) -> &'static str {
        if self.is_map() {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        }
    }
}

/// A compression the client accepts for a bundle file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// `br`.
    Brotli,
    /// `gzip`.
    Gzip,
    /// `deflate` (a zlib stream, as Node's `createDeflate` writes).
    Deflate,
}

impl ContentEncoding {
    /// The order of preference when `Accept-Encoding` ranks several the
    /// same: the official server's list.
    pub const OFFERED: [Self; 3] = [Self::Brotli, Self::Gzip, Self::Deflate];

    /// The token of `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
        }
    }
}

/// What to answer a request for a bundle file.
#[derive(Debug, Clone)]
pub enum ClientReply {
    /// `200` with `file`'s bytes, compressed with `encoding` if any, and
    /// `headers` (`Content-Length` is left to the runtime).
    File {
        /// The file to send.
        file: ClientFile,
        /// How to compress it; `None` sends it as it is.
        encoding: Option<ContentEncoding>,
        /// The response headers.
        headers: Headers,
    },
    /// `304 Not Modified`, no headers, no body: the client's copy (by
    /// `If-None-Match`) is current.
    NotModified,
    /// `204` with these CORS headers and no body: an `OPTIONS` preflight
    /// when CORS is configured.
    Preflight(Headers),
}

/// The `serveClient` decisions for one path and one bundle version.
#[derive(Debug, Clone)]
pub struct ServeClient {
    /// The Socket.IO path without its trailing `/`, then `/`.
    prefix: String,
    etag: String,
    weak_etag: String,
}

impl ServeClient {
    /// Decisions for the files under `path` (`/socket.io`, a trailing `/`
    /// or not) of the bundle whose package version is `version`.
    pub fn new(path: &str, version: &str) -> Self {
        let base = path.strip_suffix('/').unwrap_or(path);
        let etag = format!("\"{version}\"");
        Self {
            prefix: format!("{base}/"),
            weak_etag: format!("W/{etag}"),
            etag,
        }
    }

    /// The `ETag` of every file (`"<version>"`).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The bundle file a request target (path and query) names, if any.
    ///
    /// ```
    /// use socketio_proto::serve_client::{ClientFile, ServeClient};
    /// let serve = ServeClient::new("/socket.io/", "4.8.1");
    /// assert_eq!(serve.file_for("/socket.io/socket.io.js?x=1"), Some(ClientFile::Js));
    /// assert_eq!(serve.file_for("/socket.io/?EIO=4"), None);
    /// assert_eq!(serve.file_for("/other/socket.io.js"), None);
    /// ```
    pub fn file_for(&self, target: &str) -> Option<ClientFile> {
        let rest = target.strip_prefix(&self.prefix)?;
        let name = rest.split_once('?').map_or(rest, |(name, _)| name);
        ClientFile::from_name(name)
    }

    /// What to answer `request`, or `None` when it is not for a bundle file
    /// (the engine answers it). `cors` is the engine's CORS option.
    pub fn respond(&self, request: &Request, cors: Option<&Cors>) -> Option<ClientReply> {
        let file = self.file_for(&request.uri)?;
        let cors_headers = cors.map(|cors| cors.headers_for(request));
        if request.method == Method::Options {
            if let Some(headers) = cors_headers {
                return Some(ClientReply::Preflight(headers));
            }
        }
        if let Some(tag) = request.headers.get("if-none-match") {
            if tag == self.etag || tag == self.weak_etag {
                return Some(ClientReply::NotModified);
            }
        }
        let mut headers = cors_headers.unwrap_or_default();
        headers.insert("Cache-Control", "public, max-age=0");
        headers.insert("Content-Type", file.content_type());
        headers.insert("ETag", self.etag.clone());
        let encoding = negotiate_encoding(request.headers.get("accept-encoding"));
        if let Some(encoding) = encoding {
            headers.insert("Content-Encoding", encoding.token());
        }
        Some(ClientReply::File {
            file,
            encoding,
            headers,
        })
    }
}

/// The encoding of [`ContentEncoding::OFFERED`] that an `Accept-Encoding`
/// value prefers, by the rules of the `accepts` package the official server
/// uses: the highest `q` (`q=0` refuses), then an exact token before `*`,
/// then the earlier in the header, then the earlier in the offered list.
/// No header, or nothing acceptable, is `None`: no compression.
///
/// ```
/// use socketio_proto::serve_client::{ContentEncoding, negotiate_encoding};
/// assert_eq!(negotiate_encoding(Some("gzip, deflate, br")), Some(ContentEncoding::Gzip));
/// assert_eq!(negotiate_encoding(Some("gzip;q=0.5, br")), Some(ContentEncoding::Brotli));
/// assert_eq!(negotiate_encoding(Some("*")), Some(ContentEncoding::Brotli));
/// assert_eq!(negotiate_encoding(Some("identity")), None);
/// assert_eq!(negotiate_encoding(None), None);
/// ```
pub fn negotiate_encoding(accept_encoding: Option<&str>) -> Option<ContentEncoding> {
    let accepted: Vec<Accepted<'_>> = accept_encoding
        .unwrap_or("")
        .split(',')
        .enumerate()
        .filter_map(|(order, item)| Accepted::parse(item, order))
        .collect();
    ContentEncoding::OFFERED
        .into_iter()
        .enumerate()
        .filter_map(|(index, encoding)| {
            let best = accepted
                .iter()
                .filter_map(|spec| spec.priority(encoding.token(), index))
                .fold(None::<Priority>, |best, spec| match best {
                    Some(best) if !best.loses_to(&spec) => Some(best),
                    _ => Some(spec),
                })?;
            (best.q > 0.0).then_some((best, encoding))
        })
        .min_by(|(a, _), (b, _)| a.rank(b))
        .map(|(_, encoding)| encoding)
}

/// One entry of `Accept-Encoding`.
struct Accepted<'a> {
    token: &'a str,
    q: f64,
    order: usize,
}

impl<'a> Accepted<'a> {
    fn parse(item: &'a str, order: usize) -> Option<Self> {
        let item = item.trim();
        let (token, params) = match item.split_once(';') {
            Some((token, params)) => (token.trim_end(), Some(params)),
            None => (item, None),
        };
        if token.is_empty() || token.contains(char::is_whitespace) {
            return None;
        }
        let mut q = 1.0;
        for param in params.into_iter().flat_map(|p| p.split(';')) {
            if let Some((key, value)) = param.trim().split_once('=') {
                if key == "q" {
                    q = parse_float_prefix(value);
                }
            }
        }
        Some(Self { token, q, order })
    }

    /// How this entry ranks `token` (offered at `index`), if it covers it.
    fn priority(&self, token: &str, index: usize) -> Option<Priority> {
        let exact = self.token.eq_ignore_ascii_case(token);
        if !exact && self.token != "*" {
            return None;
        }
        Some(Priority {
            q: self.q,
            exact,
            order: self.order,
            index,
        })
    }
}

/// How well an offered encoding is accepted.
#[derive(Clone, Copy)]
struct Priority {
    q: f64,
    exact: bool,
    order: usize,
    index: usize,
}

impl Priority {
    /// Whether `other`, another entry covering the same token, replaces
    /// this one (more specific, then higher q, then later in the header).
    fn loses_to(&self, other: &Self) -> bool {
        (self.exact, self.q, self.order) < (other.exact, other.q, other.order)
    }

    /// The order of the candidates: highest q, then exact, then earlier in
    /// the header, then earlier in the offered list.
    fn rank(&self, other: &Self) -> std::cmp::Ordering {
        other
            .q
            .total_cmp(&self.q)
            .then(other.exact.cmp(&self.exact))
            .then(self.order.cmp(&other.order))
            .then(self.index.cmp(&other.index))
    }
}

/// JavaScript's `parseFloat`: the longest leading decimal number, `NaN`
/// (here 0, which refuses) when there is none.
fn parse_float_prefix(text: &str) -> f64 {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '+' || c == '-')))
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    // The longest prefix that parses ("0.5.1" is 0.5, as in JavaScript);
    // the prefix is ASCII, so every length is a char boundary.
    (1..=end)
        .rev()
        .filter_map(|len| text.get(..len)?.parse::<f64>().ok())
        .next()
        .unwrap_or(0.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn get(target: &str, headers: &[(&str, &str)]) -> Request {
        let mut request = Request::new(Method::Get, target);
        for (name, value) in headers {
            request.headers.insert(name.to_string(), value.to_string());
        }
        request
    }

    fn file_reply(reply: Option<ClientReply>) -> (ClientFile, Option<ContentEncoding>, Headers) {
        match reply {
            Some(ClientReply::File {
                file,
                encoding,
                headers,
            }) => (file, encoding, headers),
            other => panic!("expected a file, got {other:?}"),
        }
    }

    #[test]
    fn every_file_with_the_official_headers() {
        let serve = ServeClient::new("/socket.io", "4.8.1");
        for file in ClientFile::ALL {
            let target = format!("/socket.io/{}", file.name());
            let (served, encoding, headers) = file_reply(serve.respond(&get(&target, &[]), None));
            assert_eq!(served, file);
            assert_eq!(encoding, None);
            let listed: Vec<_> = headers.iter().collect();
            let content_type = if file.name().ends_with(".map") {
                "application/json; charset=utf-8"
            } else {
                "application/javascript; charset=utf-8"
            };
            assert_eq!(
                listed,
                [
                    ("Cache-Control", "public, max-age=0"),
                    ("Content-Type", content_type),
                    ("ETag", "\"4.8.1\""),
                ]
            );
        }
    }

    #[test]
    fn only_the_bundle_files_under_the_path() {
        let serve = ServeClient::new("/socket.io/", "1.0.0");
        for target in [
            "/socket.io/",
            "/socket.io/?EIO=4&transport=polling",
            "/socket.io/socket.io.esm.js",
            "/socket.io/sub/socket.io.js",
            "/socket.iosocket.io.js",
            "/socket.io.js",
            "/custom/socket.io.js",
        ] {
            assert!(serve.respond(&get(target, &[]), None).is_none(), "{target}");
        }
        assert_eq!(
            serve.file_for("/socket.io/socket.io.msgpack.min.js.map?t=1#x"),
            Some(ClientFile::MsgpackMinJsMap)
        );
        let custom = ServeClient::new("/custom", "1.0.0");
        assert_eq!(
            custom.file_for("/custom/socket.io.js"),
            Some(ClientFile::Js)
        );
        assert_eq!(custom.file_for("/socket.io/socket.io.js"), None);
        // Any method, as the official server.
        let post = Request::new(Method::Post, "/socket.io/socket.io.js");
        assert!(matches!(
            serve.respond(&post, None),
            Some(ClientReply::File { .. })
        ));
    }

    #[test]
    fn not_modified_on_the_strong_or_weak_etag_only() {
        let serve = ServeClient::new("/socket.io", "4.8.1");
        for tag in ["\"4.8.1\"", "W/\"4.8.1\""] {
            let request = get("/socket.io/socket.io.js", &[("If-None-Match", tag)]);
            assert!(matches!(
                serve.respond(&request, None),
                Some(ClientReply::NotModified)
            ));
        }
        for tag in ["\"4.8.0\"", "4.8.1", "*", "\"4.8.1\", \"x\"", "w/\"4.8.1\""] {
            let request = get("/socket.io/socket.io.js", &[("If-None-Match", tag)]);
            let (_, _, headers) = file_reply(serve.respond(&request, None));
            assert_eq!(headers.get("etag"), Some("\"4.8.1\""), "{tag}");
        }
    }

    #[test]
    fn content_encoding_as_negotiated() {
        let serve = ServeClient::new("/socket.io", "4.8.1");
        let request = get("/socket.io/socket.io.js", &[("Accept-Encoding", "br")]);
        let (_, encoding, headers) = file_reply(serve.respond(&request, None));
        assert_eq!(encoding, Some(ContentEncoding::Brotli));
        assert_eq!(headers.get("content-encoding"), Some("br"));
        let request = get(
            "/socket.io/socket.io.js",
            &[("Accept-Encoding", "compress")],
        );
        let (_, encoding, headers) = file_reply(serve.respond(&request, None));
        assert_eq!(encoding, None);
        assert_eq!(headers.get("content-encoding"), None);
    }

    #[test]
    fn negotiation_follows_the_accepts_package() {
        use ContentEncoding::*;
        let cases: &[(&str, Option<ContentEncoding>)] = &[
            ("", None),
            ("identity", None),
            ("gzip", Some(Gzip)),
            ("deflate", Some(Deflate)),
            ("br", Some(Brotli)),
            // Equal q: the header's order (a browser's usual header).
            ("gzip, deflate, br, zstd", Some(Gzip)),
            ("br, gzip", Some(Brotli)),
            ("deflate, gzip", Some(Deflate)),
            // Higher q wins.
            ("gzip;q=0.8, deflate;q=0.9", Some(Deflate)),
            ("gzip; q=0.2, br; q=0.3", Some(Brotli)),
            // q=0 refuses; `*` covers the rest with the offered order.
            ("gzip;q=0, *", Some(Brotli)),
            ("br;q=0, *", Some(Gzip)),
            ("*;q=0", None),
            ("*;q=0, deflate", Some(Deflate)),
            // An exact token before `*` at the same q.
            ("*, deflate", Some(Deflate)),
            ("GZIP", Some(Gzip)),
            ("gzip;q=abc", None),
            ("gzip;q=0.5.1, br;q=0.4", Some(Gzip)),
            ("  , ,gzip", Some(Gzip)),
        ];
        for (header, expected) in cases {
            assert_eq!(negotiate_encoding(Some(header)), *expected, "{header:?}");
        }
    }

    #[test]
    fn cors_headers_and_preflight() {
        let serve = ServeClient::new("/socket.io", "4.8.1");
        let cors = Cors::default();
        let (_, _, headers) = file_reply(serve.respond(
            &get("/socket.io/socket.io.js", &[("Origin", "http://a.test")]),
            Some(&cors),
        ));
        assert_eq!(headers.get("access-control-allow-origin"), Some("*"));
        let mut preflight = Request::new(Method::Options, "/socket.io/socket.io.min.js");
        preflight.headers.insert("Origin", "http://a.test");
        match serve.respond(&preflight, Some(&cors)) {
            Some(ClientReply::Preflight(headers)) => {
                assert_eq!(headers.get("access-control-allow-origin"), Some("*"));
                assert_eq!(
                    headers.get("access-control-allow-methods"),
                    Some("GET,HEAD,PUT,PATCH,POST,DELETE")
                );
            }
            other => panic!("{other:?}"),
        }
        // Without CORS an OPTIONS is served like any method.
        assert!(matches!(
            serve.respond(&preflight, None),
            Some(ClientReply::File { .. })
        ));
    }

    #[test]
    fn float_prefix_as_javascript() {
        assert_eq!(parse_float_prefix(" 0.5"), 0.5);
        assert_eq!(parse_float_prefix("1"), 1.0);
        assert_eq!(parse_float_prefix("0.3x"), 0.3);
        assert_eq!(parse_float_prefix("x"), 0.0);
        assert_eq!(parse_float_prefix(""), 0.0);
    }
}
