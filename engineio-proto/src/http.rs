//! The HTTP side of the engine: requests as the runtime hands them in,
//! responses as the engine hands them back, and query parsing.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

/// A header name or value: usually a static string, owned when computed.
pub type HeaderText = Cow<'static, str>;

/// An ordered list of HTTP headers. Lookups ignore ASCII case; names keep
/// the case they were given in.
///
/// Every name and value sits in one buffer: a connection keeps its
/// handshake's headers for its whole life, and two allocations per header
/// (plus a 48-byte entry each) were a good part of what an idle client cost.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// The names and values one after the other.
    text: String,
    /// Where each header's name and value end in `text`; each part starts
    /// where the one before it ended.
    ends: Vec<(u32, u32)>,
}

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Self {
            text: String::new(),
            ends: Vec::new(),
        }
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Sets header `name` to `value`, replacing every earlier value.
    pub fn insert(&mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) {
        let name = name.into();
        self.remove(&name);
        self.push(&name, &value.into());
    }

    /// Adds a value for `name`, keeping earlier ones (`Set-Cookie`, `Vary`).
    pub fn append(&mut self, name: impl Into<HeaderText>, value: impl Into<HeaderText>) {
        self.push(&name.into(), &value.into());
    }

    /// Removes every value of header `name`.
    pub fn remove(&mut self, name: &str) {
        if self.get(name).is_none() {
            return;
        }
        let old = std::mem::take(self);
        for (n, v) in old.iter() {
            if !n.eq_ignore_ascii_case(name) {
                self.push(n, v);
            }
        }
    }

    /// The headers in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let (name_end, value_end) = (name_end as usize, value_end as usize);
            // The ends only ever come from `push`, on char boundaries.
            let name = self.text.get(start..name_end).unwrap_or_default();
            let value = self.text.get(name_end..value_end).unwrap_or_default();
            start = value_end;
            (name, value)
        })
    }

    /// How many header lines there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Adds every header of `other` after those of `self`.
    pub fn extend(&mut self, other: Headers) {
        for (name, value) in other.iter() {
            self.push(name, value);
        }
    }

    /// Gives back the spare capacity: for headers kept for a session's
    /// life (the handshake's), which grew by doubling as they were read.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// No headers, with room for `count` headers of `bytes` bytes of
    /// names and values in all (what a runtime knows before copying a
    /// request's headers in).
    pub fn with_capacity(bytes: usize, count: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// Adds a value for `name`, copied from borrowed text ([`append`](Self::append)
    /// takes owned or static text).
    pub fn append_str(&mut self, name: &str, value: &str) {
        self.push(name, value);
    }

    fn push(&mut self, name: &str, value: &str) {
        let name_end = self.text.len() + name.len();
        let value_end = name_end + value.len();
        // Offsets are 32-bit: 4 GiB of headers cannot come through any HTTP
        // layer (hyper refuses a request head past a few hundred KiB).
        let (Ok(name_end), Ok(value_end)) = (u32::try_from(name_end), u32::try_from(value_end))
        else {
            return;
        };
        self.text.push_str(name);
        self.text.push_str(value);
        self.ends.push((name_end, value_end));
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<N: Into<HeaderText>, V: Into<HeaderText>> FromIterator<(N, V)> for Headers {
    /// Collects headers, then gives back the buffers' spare capacity: a
    /// request's headers are kept as long as its connection.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut headers = Self::new();
        for (name, value) in iter {
            headers.push(&name.into(), &value.into());
        }
        headers.text.shrink_to_fit();
        headers.ends.shrink_to_fit();
        headers
    }
}

/// The HTTP method of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`: a handshake, a long-poll, or a WebSocket upgrade.
    Get,
    /// `POST`: packets from a polling client.
    Post,
    /// `OPTIONS`: a CORS preflight.
    Options,
    /// Any other method, by name.
    Other(Box<str>),
}

impl Method {
    /// Parses a method name as it appears on the request line.
    pub fn from_name(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "OPTIONS" => Self::Options,
            other => Self::Other(other.into()),
        }
    }

    /// The method name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Options => "OPTIONS",
            Self::Other(name) => name,
        }
    }
}

/// An HTTP request for the engine's path, as the runtime received it.
///
/// The body is not part of it: for a POST the engine asks for the body with
/// [`Output::ReadBody`](crate::Output::ReadBody) once it knows the request is
/// acceptable, and how many bytes it will take.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target: path and query, as on the request line
    /// (`/engine.io/?EIO=4&transport=polling`).
    pub uri: String,
    /// The request headers.
    pub headers: Headers,
    /// The peer's address as text (`127.0.0.1:54321`), empty when unknown.
    pub remote_address: String,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// The client's TLS certificate (DER), when the connection is TLS and
    /// the client presented one that the server verified
    /// (`socket.conn.peerCertificate` in the Node docs).
    pub peer_certificate: Option<bytes::Bytes>,
    /// Whether this is a WebSocket upgrade request (`Upgrade: websocket`).
    /// The runtime must not complete the upgrade before the engine answers
    /// with [`Output::AcceptWebSocket`](crate::Output::AcceptWebSocket).
    pub websocket: bool,
}

impl Request {
    /// A plain request with no headers, for tests and embedders.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            remote_address: String::new(),
            secure: false,
            peer_certificate: None,
            websocket: false,
        }
    }

    /// The query string, without `?` (empty when there is none).
    pub fn query_string(&self) -> &str {
        self.uri.split_once('?').map_or("", |(_, q)| q)
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        self.uri
            .split_once('?')
            .map_or(self.uri.as_str(), |(p, _)| p)
    }

    /// Every query parameter, decoded, in order (repeated keys repeat).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(self.query_string())
    }
}

/// An HTTP response the runtime must write for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers. `Content-Length` is left to the runtime.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

impl Response {
    pub(crate) fn new(status: u16, headers: Headers, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// The body as text (lossy), for tests and logs.
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// The query parameters the engine reads. As with the JavaScript server
/// (`Object.fromEntries(url.searchParams)`), the last value of a repeated
/// key wins. Values borrow the query string unless they had escapes to
/// decode: a long-poll's query costs no allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EngineQuery<'a> {
    pub(crate) eio: Option<Cow<'a, str>>,
    pub(crate) transport: Option<Cow<'a, str>>,
    pub(crate) sid: Option<Cow<'a, str>>,
    pub(crate) b64: bool,
    pub(crate) j: Option<Cow<'a, str>>,
}

impl<'a> EngineQuery<'a> {
    pub(crate) fn parse(query: &'a str) -> Self {
        let mut q = Self::default();
        for part in query.split('&').filter(|part| !part.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let value = || percent_decode_cow(value);
            match &*percent_decode_cow(key) {
                "EIO" => q.eio = Some(value()),
                "transport" => q.transport = Some(value()),
                // An empty sid is "no sid", as a falsy value in JavaScript.
                "sid" => q.sid = Some(value()).filter(|s| !s.is_empty()),
                // Any value, even empty, is truthy for `b64` only if non-empty.
                "b64" => q.b64 = !value().is_empty(),
                "j" => q.j = Some(value()),
                _ => {}
            }
        }
        q
    }

    /// The same parameters, owning their text.
    pub(crate) fn into_owned(self) -> EngineQuery<'static> {
        let own = |v: Option<Cow<'a, str>>| v.map(|v| Cow::Owned(v.into_owned()));
        EngineQuery {
            eio: own(self.eio),
            transport: own(self.transport),
            sid: own(self.sid),
            b64: self.b64,
            j: own(self.j),
        }
    }
}

/// [`percent_decode`], borrowing `s` when it has nothing to decode.
fn percent_decode_cow(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'%' || b == b'+') {
        Cow::Owned(percent_decode(s))
    } else {
        Cow::Borrowed(s)
    }
}

/// Parses `application/x-www-form-urlencoded` text as WHATWG URLSearchParams
/// does: `&`-separated, split at the first `=`, `+` is a space, percent
/// escapes decoded, invalid UTF-8 replaced.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `+` and `%XX` escapes; a `%` not followed by two hex digits stays.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
                if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                    // Two hex digits make at most 255.
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_case_and_every_value() {
        let mut h: Headers = [
            ("Host", "localhost"),
            ("Set-Cookie", "a=1"),
            ("X-Name", "caf\u{e9} \u{1f600}"),
            ("set-cookie", "b=2"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.len(), 4);
        assert_eq!(h.get("HOST"), Some("localhost"));
        assert_eq!(h.get("x-name"), Some("caf\u{e9} \u{1f600}"));
        // The first value of a repeated header.
        assert_eq!(h.get("Set-Cookie"), Some("a=1"));
        assert_eq!(h.get("missing"), None);

        // `insert` drops every earlier value and adds at the end.
        h.insert("SET-COOKIE", "c=3");
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [
                ("Host", "localhost"),
                ("X-Name", "caf\u{e9} \u{1f600}"),
                ("SET-COOKIE", "c=3")
            ]
        );

        h.remove("host");
        h.remove("not there");
        h.append("Vary", "Origin");
        h.append("Empty", "");
        let mut more = Headers::new();
        more.append("Vary", "Accept");
        h.extend(more);
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [
                ("X-Name", "caf\u{e9} \u{1f600}"),
                ("SET-COOKIE", "c=3"),
                ("Vary", "Origin"),
                ("Empty", ""),
                ("Vary", "Accept")
            ]
        );
        assert_eq!(h.get("empty"), Some(""));

        // Equal lists compare equal however they were built.
        let rebuilt: Headers = all
            .iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(rebuilt, h);
        assert_ne!(rebuilt, Headers::new());
        assert!(Headers::new().is_empty());
        assert_eq!(
            format!("{:?}", Headers::from_iter([("a", "b")])),
            "{\"a\": \"b\"}"
        );
    }

    #[test]
    fn query_is_decoded_and_last_value_wins() {
        let q = EngineQuery::parse("EIO=4&transport=polling&t=abc&transport=websocket&sid=a%2Bb");
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some("websocket"));
        assert_eq!(q.sid.as_deref(), Some("a+b"));
        assert!(!q.b64);
        assert_eq!(q.j, None);
    }

    #[test]
    fn query_values_borrow_unless_escaped_and_can_be_owned() {
        let text = String::from("EIO=4&transport=polling&sid=a%2Bb&j=1+2&%73id2=x");
        let q = EngineQuery::parse(&text);
        assert!(matches!(q.eio, Some(Cow::Borrowed("4"))));
        assert!(matches!(q.transport, Some(Cow::Borrowed("polling"))));
        assert!(matches!(&q.sid, Some(Cow::Owned(s)) if s == "a+b"));
        assert!(matches!(&q.j, Some(Cow::Owned(s)) if s == "1 2"));
        // An escaped key is decoded before it is matched.
        let q2 = EngineQuery::parse("%73id=x&%74ransport=websocket");
        assert_eq!(q2.sid.as_deref(), Some("x"));
        assert_eq!(q2.transport.as_deref(), Some("websocket"));
        let owned: EngineQuery<'static> = q.clone().into_owned();
        drop(text);
        assert_eq!(owned.eio.as_deref(), Some("4"));
        assert_eq!(owned.transport.as_deref(), Some("polling"));
        assert_eq!(owned.sid.as_deref(), Some("a+b"));
        assert_eq!(owned.j.as_deref(), Some("1 2"));
        assert!(!owned.b64);
    }

    #[test]
    fn headers_copied_from_borrowed_text_equal_collected_ones() {
        let pairs = [("host", "localhost:3000"), ("accept", "*/*"), ("x-e", "")];
        let mut h = Headers::with_capacity(10, 1);
        for (name, value) in pairs {
            h.append_str(name, value);
        }
        assert_eq!(h, pairs.into_iter().collect::<Headers>());
        assert_eq!(h.get("HOST"), Some("localhost:3000"));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn empty_sid_is_no_sid_and_b64_needs_a_value() {
        let q = EngineQuery::parse("sid=&b64=1&j=0");
        assert_eq!(q.sid, None);
        assert!(q.b64);
        assert_eq!(q.j.as_deref(), Some("0"));
        assert!(!EngineQuery::parse("b64=").b64);
    }

    #[test]
    fn percent_decoding_follows_url_search_params() {
        assert_eq!(percent_decode("a+b%20c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
        assert_eq!(percent_decode("%FF"), "\u{fffd}");
        assert_eq!(
            parse_query("a=1&&b&c=x=y"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "x=y".into())
            ]
        );
    }

    #[test]
    fn headers_ignore_case_on_lookup_and_insert_replaces() {
        let mut h = Headers::new();
        h.insert("Content-Type", "text/html");
        h.append("Vary", "Origin");
        h.insert("content-type", "text/plain");
        assert_eq!(h.get("CONTENT-TYPE"), Some("text/plain"));
        assert_eq!(h.len(), 2);
        h.remove("vary");
        assert_eq!(h.get("Vary"), None);
    }

    #[test]
    fn request_splits_path_and_query() {
        let r = Request::new(Method::Get, "/engine.io/?EIO=4&x=%20");
        assert_eq!(r.path(), "/engine.io/");
        assert_eq!(r.query_string(), "EIO=4&x=%20");
        assert_eq!(
            r.query_pairs(),
            vec![("EIO".into(), "4".into()), ("x".into(), " ".into())]
        );
        assert_eq!(Method::from_name("PUT").as_str(), "PUT");
    }
}
