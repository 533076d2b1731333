//! The long-polling transport: held GETs, POST bodies, and the response of a
//! long-poll (one helper builds it, compressed as negotiated).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{Pending, PendingBody, Server, handshake::run_hook};
use crate::compression::ContentEncoding;
use crate::compression::HttpCompression;
use crate::config::Config;
use crate::http::{Headers, Method, Request, Response};
use crate::output::{CloseReason, Output, RequestId, Sid};
use crate::packet::{Frame, Packet, Protocol};
use crate::payload;
use crate::session::{PayloadFormat, ws_frame};
use crate::session::{PendingGet, Transport};
use crate::{IdMap, Str};

impl Server {
    /// The body of a POST the engine asked for with [`Output::ReadBody`].
    /// The runtime may stop reading at `limit + 1` bytes and pass those.
    pub fn handle_body(&mut self, now: Instant, request: RequestId, body: Bytes) {
        let Some(Pending::Body(pending)) = self.requests.remove(&request) else {
            return;
        };
        let PendingBody {
            sid,
            binary,
            headers,
        } = *pending;
        let Some(session) = self.sessions.get_mut(&sid) else {
            // The session ended while the body was read (after an upgrade
            // its close no longer knew this POST): answered as a POST in
            // flight at the close is.
            self.respond(request, Response::new(400, Headers::new(), Bytes::new()));
            return;
        };
        if let Transport::Polling(p) = &mut session.transport {
            if p.post == Some(request) {
                p.post = None;
            }
        }
        if body.len() > self.config.max_http_buffer_size {
            // Too large: refused, but the session goes on.
            self.respond(request, Response::new(413, Headers::new(), Bytes::new()));
            return;
        }
        let jsonp = match &session.transport {
            Transport::Polling(_) => session.format.jsonp.is_some(),
            Transport::WebSocket { .. } => false,
        };
        let packets = decode_body(session.protocol, jsonp, binary, body);
        let mut parse_error = false;
        for packet in packets {
            match packet {
                Ok(Packet::Close) => {
                    self.close_session(&sid, CloseReason::TransportClose, None);
                    break;
                }
                Ok(packet) => self.on_packet(now, &sid, packet),
                Err(_) => {
                    parse_error = true;
                    self.close_session(&sid, CloseReason::ParseError, None);
                    break;
                }
            }
            if !self.sessions.contains_key(&sid) {
                break;
            }
        }
        if parse_error {
            self.respond(request, Response::new(400, Headers::new(), Bytes::new()));
        } else {
            let mut h = headers;
            h.insert("Content-Type", "text/html");
            self.respond(request, Response::new(200, h, Bytes::from_static(b"ok")));
        }
    }

    /// A GET, POST or other request for a polling session (`onRequest`).
    pub(super) fn on_polling_request(
        &mut self,
        now: Instant,
        id: RequestId,
        request: &Request,
        sid: &Sid,
        cors: Headers,
    ) {
        let Some(session) = self.sessions.get_mut(sid) else {
            return;
        };
        let protocol = session.protocol;
        let Transport::Polling(p) = &mut session.transport else {
            return;
        };
        match request.method {
            Method::Get => {
                if p.get.is_some() {
                    self.respond(id, Response::new(400, cors, Bytes::new()));
                    self.close_session(
                        sid,
                        CloseReason::TransportError,
                        Some("overlap from client"),
                    );
                    return;
                }
                let mut headers = cors;
                polling_headers(&mut headers, request);
                if let Some(hook) = &self.config.headers {
                    if run_hook(|| hook(&mut headers, request)).is_none() {
                        return self.internal_error(id, headers);
                    }
                }
                p.get = Some(PendingGet {
                    id,
                    headers,
                    encoding: accepted_encoding(&self.config, request),
                });
                self.requests.insert(id, Pending::Poll(sid.clone()));
                self.flush(sid);
                let _ = now;
            }
            Method::Post => {
                if p.post.is_some() {
                    self.respond(id, Response::new(400, cors, Bytes::new()));
                    self.close_session(
                        sid,
                        CloseReason::TransportError,
                        Some("data request overlap from client"),
                    );
                    return;
                }
                let binary =
                    request.headers.get("content-type") == Some("application/octet-stream");
                if binary && protocol == Protocol::V4 {
                    self.respond(id, Response::new(400, cors, Bytes::new()));
                    self.close_session(sid, CloseReason::TransportError, Some("invalid content"));
                    return;
                }
                let mut headers = cors;
                // Its `Content-Type` comes with the answer (`text/html`);
                // one set earlier (by CORS) goes all the same.
                headers.remove("Content-Type");
                polling_headers_without_type(&mut headers, request);
                if let Some(hook) = &self.config.headers {
                    if run_hook(|| hook(&mut headers, request)).is_none() {
                        return self.internal_error(id, headers);
                    }
                }
                p.post = Some(id);
                self.requests.insert(
                    id,
                    Pending::Body(Box::new(PendingBody {
                        sid: sid.clone(),
                        binary,
                        headers,
                    })),
                );
                self.outputs.push_back(Output::ReadBody {
                    request: id,
                    limit: self.config.max_http_buffer_size,
                });
            }
            _ => self.respond(id, Response::new(500, cors, Bytes::new())),
        }
    }
}

/// Ends long-poll `get` of a session whose payloads are in `format` with
/// `frames` (queued in v4 form, each with whether it may be compressed):
/// the one place a long-poll response is built. The body is compressed, as
/// the official server decides, when the request accepted an encoding,
/// compression is on, one of the frames may be compressed and the body
/// reaches the threshold.
pub(super) fn answer_poll(
    requests: &mut IdMap<RequestId, Pending>,
    outputs: &mut VecDeque<Output>,
    compression: Option<&HttpCompression>,
    format: &PayloadFormat,
    get: PendingGet,
    frames: Vec<(Frame, bool)>,
) {
    let compress = frames.iter().any(|(_, c)| *c);
    let frames = frames.into_iter().map(|(f, _)| f).collect();
    let mut response = encode_payload(format, frames, get.headers);
    if let (Some(encoding), Some(c), true) = (get.encoding, compression, compress) {
        if response.body.len() >= c.threshold {
            response.body = encoding.compress(&response.body, c.level);
            response
                .headers
                .insert("Content-Encoding", encoding.as_str());
        }
    }
    requests.remove(&get.id);
    outputs.push_back(Output::Respond {
        request: get.id,
        response,
    });
}

/// A single packet that ends a long-poll (`6` noop or `1` close).
pub(super) fn single(packet: &'static str) -> Vec<(Frame, bool)> {
    vec![(Frame::Text(Str::from_static(packet)), true)]
}

/// The 200 response carrying `frames` as `format` asks: v4 or v3 payload,
/// v3 binary or base64, JSONP.
fn encode_payload(format: &PayloadFormat, frames: Vec<Frame>, mut headers: Headers) -> Response {
    let jsonp = format.jsonp.as_deref();
    let text = match format.protocol {
        Protocol::V4 => payload::encode_v4(&frames),
        Protocol::V3 => {
            let frames: Vec<Frame> = frames
                .into_iter()
                .map(|f| ws_frame(Protocol::V3, f))
                .collect();
            match payload::encode_v3(&frames, format.supports_binary && jsonp.is_none()) {
                Frame::Text(text) => text,
                Frame::Binary(bytes) => {
                    headers.insert("Content-Type", "application/octet-stream");
                    return Response::new(200, headers, bytes);
                }
            }
        }
    };
    let body: Bytes = match jsonp {
        Some(j) => payload::jsonp_wrap(j, &text).into_bytes(),
        None => text.into_bytes(),
    };
    Response::new(200, headers, body)
}

/// The encoding a long-poll's response may use, if compression is on.
pub(super) fn accepted_encoding(config: &Config, request: &Request) -> Option<ContentEncoding> {
    config.http_compression?;
    ContentEncoding::negotiate(request.headers.get("accept-encoding"))
}

/// The headers every long-poll response carries.
pub(super) fn polling_headers(headers: &mut Headers, request: &Request) {
    make_room(headers);
    headers.insert("Content-Type", "text/plain; charset=UTF-8");
    polling_headers_without_type(headers, request);
}

/// Room for a long-poll response's usual headers (`Content-Type`,
/// `cache-control`) in headers that have none yet (no CORS): they are
/// then written without growing a buffer.
fn make_room(headers: &mut Headers) {
    if headers.is_empty() {
        *headers = Headers::with_capacity(64, 3);
    }
}

/// [`polling_headers`] but `Content-Type`, which a POST's answer sets
/// itself.
fn polling_headers_without_type(headers: &mut Headers, request: &Request) {
    make_room(headers);
    if request
        .headers
        .get("user-agent")
        .is_some_and(|ua| ua.contains(";MSIE") || ua.contains("Trident/"))
    {
        // Prevents XSS warnings on old Internet Explorer.
        headers.insert("X-XSS-Protection", "0");
    }
    headers.insert("cache-control", "no-store");
}

/// The packets of a POST body, up to and including the first error.
pub(super) fn decode_body(
    protocol: Protocol,
    jsonp: bool,
    binary: bool,
    body: Bytes,
) -> Vec<Result<Packet, crate::DecodeError>> {
    let text = if jsonp {
        match payload::jsonp_unwrap(&body) {
            Some(text) => text,
            None => return vec![Err(crate::DecodeError::InvalidFraming)],
        }
    } else if binary {
        Str::new()
    } else {
        Str::from_utf8_lossy(body.clone())
    };
    match protocol {
        Protocol::V4 => payload::decode_v4(text).collect(),
        Protocol::V3 => {
            let frame = if binary && !jsonp {
                Frame::Binary(body)
            } else {
                Frame::Text(text)
            };
            match payload::decode_v3(frame) {
                Ok(packets) => packets.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(encoding: Option<ContentEncoding>) -> PendingGet {
        let mut headers = Headers::new();
        headers.insert("Content-Type", "text/plain; charset=UTF-8");
        PendingGet {
            id: RequestId(7),
            headers,
            encoding,
        }
    }

    fn v4() -> PayloadFormat {
        PayloadFormat {
            protocol: Protocol::V4,
            supports_binary: true,
            jsonp: None,
        }
    }

    /// Answers `get` with `frames` through the one helper; returns the
    /// response, and checks that the request is forgotten.
    fn answer(
        format: &PayloadFormat,
        get: PendingGet,
        compression: Option<&HttpCompression>,
        frames: Vec<(Frame, bool)>,
    ) -> Response {
        let mut requests = IdMap::default();
        requests.insert(get.id, Pending::Poll(Sid::new("s")));
        let mut outputs = VecDeque::new();
        answer_poll(
            &mut requests,
            &mut outputs,
            compression,
            format,
            get,
            frames,
        );
        assert!(requests.is_empty());
        match outputs.pop_front() {
            Some(Output::Respond { request, response }) => {
                assert_eq!(request, RequestId(7));
                assert!(outputs.is_empty());
                response
            }
            other => panic!("not a response: {other:?}"),
        }
    }

    fn text(s: &str) -> (Frame, bool) {
        (Frame::Text(Str::from(s.to_owned())), true)
    }

    #[test]
    fn a_long_poll_is_compressed_only_past_the_threshold_and_when_allowed() {
        let gzip = HttpCompression {
            threshold: 10,
            level: 6,
        };
        let long = "4".to_owned() + &"x".repeat(40);
        // Below the threshold: as it is.
        let r = answer(
            &v4(),
            get(Some(ContentEncoding::Gzip)),
            Some(&gzip),
            single("6"),
        );
        assert_eq!(
            (r.body.as_ref(), r.headers.get("content-encoding")),
            (&b"6"[..], None)
        );
        // Past it: gzip, which inflates back to the payload.
        let r = answer(
            &v4(),
            get(Some(ContentEncoding::Gzip)),
            Some(&gzip),
            vec![text(&long), text("2")],
        );
        assert_eq!(r.headers.get("content-encoding"), Some("gzip"));
        let mut plain = String::new();
        flate2::read::GzDecoder::new(r.body.as_ref())
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, format!("{long}\x1e2"));
        // No frame may be compressed (`compress(false)`), no accepted
        // encoding, or compression off: as it is.
        let frames = vec![(text(&long).0, false)];
        let r = answer(&v4(), get(Some(ContentEncoding::Gzip)), Some(&gzip), frames);
        assert_eq!(r.headers.get("content-encoding"), None);
        let r = answer(&v4(), get(None), Some(&gzip), vec![text(&long)]);
        assert_eq!(r.headers.get("content-encoding"), None);
        let r = answer(
            &v4(),
            get(Some(ContentEncoding::Gzip)),
            None,
            vec![text(&long)],
        );
        assert_eq!(r.body.as_ref(), long.as_bytes());
    }

    #[test]
    fn v3_binary_and_jsonp_payloads() {
        let v3 = PayloadFormat {
            protocol: Protocol::V3,
            supports_binary: true,
            jsonp: None,
        };
        let binary = (Frame::Binary(Bytes::from_static(&[1, 2])), true);
        let r = answer(&v3, get(None), None, vec![binary.clone()]);
        assert_eq!(
            r.headers.get("content-type"),
            Some("application/octet-stream")
        );
        // <binary marker 1><length 3 in digits><255><type 4><data>
        assert_eq!(r.body.as_ref(), &[1, 3, 255, 4, 1, 2]);
        let jsonp = PayloadFormat {
            jsonp: Some("3".into()),
            ..v3
        };
        let r = answer(&jsonp, get(None), None, vec![text("4hi")]);
        assert_eq!(r.body.as_ref(), br#"___eio[3]("3:4hi");"#);
    }
}
