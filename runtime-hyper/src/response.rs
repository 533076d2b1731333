//! The HTTP response type every part of the crate answers with, and the
//! small helpers that build one (a leaf: it uses no other module).

use bytes::Bytes;
use engineio_proto::Headers;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;

/// The response type of the driver's HTTP handler (and of a [`Route`](crate::Route)).
///
/// ```
/// use runtime_hyper::HttpResponse;
///
/// let page: HttpResponse = http::Response::new(bytes::Bytes::from_static(b"hi").into());
/// assert_eq!(page.status(), 200);
/// ```
pub type HttpResponse = http::Response<Full<Bytes>>;

/// Appends the core's headers to `map`. Headers that HTTP cannot carry (a
/// hook may produce anything) are left out.
pub(crate) fn append_headers(map: &mut HeaderMap, headers: &Headers) {
    map.reserve(headers.len());
    for (name, value) in headers.iter() {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), header_value(value))
        {
            map.append(name, value);
        }
    }
}

/// The values the engine puts on every long-poll and POST answer (and
/// the CORS default): shared, where any other value is copied.
const COMMON_VALUES: [&str; 6] = [
    "text/plain; charset=UTF-8",
    "no-store",
    "text/html",
    "*",
    "Origin",
    "application/json",
];

/// `value` as an HTTP header value, without a copy when it is one of
/// [`COMMON_VALUES`].
fn header_value(value: &str) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    match COMMON_VALUES.iter().find(|common| **common == value) {
        Some(common) => Ok(HeaderValue::from_static(common)),
        None => HeaderValue::from_bytes(value.as_bytes()),
    }
}

/// A response with no body.
pub(crate) fn empty(status: StatusCode) -> HttpResponse {
    let mut out = http::Response::new(Full::new(Bytes::new()));
    *out.status_mut() = status;
    out
}
