//! HTTP requests: hand each one to the core, carry out what the core answers
//! (a response, a body read, a WebSocket upgrade), and tell the core when a
//! client drops a request it still holds.

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use engineio_proto::{Headers, Method, Request, Response};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body::Body;
use http_body_util::{BodyExt, Full};

use crate::core::Core;
use crate::driver::{Driver, Reply, Watch, Watched};
use crate::response::{HttpResponse, append_headers, empty};
use crate::runtime::Runtime;
use crate::ws;

impl<C: Core, R: Runtime> Driver<C, R> {
    /// Serves one HTTP request for the core's path (see
    /// [`matches`](Driver::matches)): the core decides everything, this only
    /// moves bytes. A WebSocket upgrade the core accepts is answered `101`
    /// and served on a task of its own.
    ///
    /// If the returned future is dropped before it completes (the client
    /// went away during a long-poll), the core is told the request closed.
    ///
    /// ```
    /// use runtime_hyper::{Driver, HttpResponse, Runtime};
    /// use runtime_hyper::engineio_proto::Server;
    ///
    /// // What a host HTTP server does with a request for the engine's path.
    /// async fn forward<R: Runtime>(
    ///     driver: &Driver<Server, R>,
    ///     request: http::Request<http_body_util::Full<bytes::Bytes>>,
    /// ) -> HttpResponse {
    ///     driver.handle(request, None).await
    /// }
    /// ```
    pub async fn handle<B>(
        &self,
        mut request: http::Request<B>,
        remote: Option<SocketAddr>,
    ) -> HttpResponse
    where
        B: Body + Unpin + Send,
        B::Data: Send,
    {
        let head = engine_request(&request, remote);
        // The WebSocket task's span: what the core reports while serving
        // it carries the request (the session id is in its query).
        let span = head
            .websocket
            .then(|| tracing::debug_span!("websocket", uri = head.uri.as_str()));
        if let Some(client) = self.shared.client.get() {
            if let Some(response) = client.respond(&head, self.shared.config.cors.as_ref()) {
                return response;
            }
        }
        let upgrade = head.websocket.then(|| {
            (
                hyper::upgrade::on(&mut request),
                accept_key(request.headers()),
            )
        });
        let mut body = request.into_body();

        let mut head = Some(head);
        let (id, mut ready) = std::future::poll_fn(|cx| match head.take() {
            Some(head) => std::task::Poll::Ready(self.shared.handle_request(head, cx)),
            None => std::task::Poll::Pending,
        })
        .await;
        let mut watch = Watch::new(self.shared.clone(), id, Watched::Request);
        loop {
            let reply = match ready.take() {
                Some(reply) => Some(reply),
                None => self.shared.next_reply(id).await,
            };
            match reply {
                Some(Reply::Respond(response)) => {
                    watch.disarm();
                    crate::observe::polling_out(response.status, &response.body);
                    return to_http(response);
                }
                Some(Reply::ReadBody(limit)) => match read_body(&mut body, limit).await {
                    Ok(bytes) => {
                        crate::observe::polling_in(&bytes);
                        ready = self.shared.handle_body(id, bytes);
                    }
                    // The client is gone mid-body: dropping `watch` tells the core.
                    Err(()) => return empty(StatusCode::BAD_REQUEST),
                },
                Some(Reply::AcceptWebSocket(headers)) => {
                    return match upgrade {
                        Some((on_upgrade, Some(accept))) => {
                            watch.set(Watched::WebSocket);
                            let deflate = crate::deflate::agreed(
                                self.shared.config.per_message_deflate.as_ref(),
                                &headers,
                            )
                            .map(|(settings, agreement)| {
                                Box::new(crate::deflate::Outgoing::new(settings, agreement))
                            });
                            let task = ws::serve(watch, on_upgrade, deflate);
                            // The span is only worn by the task when a
                            // subscriber records it: it would cost every
                            // idle WebSocket's task its size otherwise.
                            match span.clone().filter(|span| !span.is_disabled()) {
                                Some(span) => self
                                    .shared
                                    .runtime
                                    .spawn(tracing::Instrument::instrument(task, span)),
                                None => self.shared.runtime.spawn(task),
                            }
                            switching_protocols(&accept, &headers)
                        }
                        // Not a valid WebSocket handshake (no key, another
                        // version): refused before upgrading, as the
                        // WebSocket layer of the official server does.
                        _ => {
                            watch.finish(|core, now, id| core.handle_ws_closed(now, id, true));
                            empty(StatusCode::BAD_REQUEST)
                        }
                    };
                }
                // WebSocket outputs before the accept cannot come; skip them.
                Some(Reply::WsSend(..) | Reply::WsClose(_)) => {}
                // Only this task forgets the slot of a request it holds.
                None => {
                    watch.disarm();
                    return empty(StatusCode::INTERNAL_SERVER_ERROR);
                }
            }
        }
    }
}

/// The engine's view of a request: method, target, headers (names in lower
/// case, as hyper keeps them), peer address, and whether it asks for a
/// WebSocket upgrade.
fn engine_request<B>(request: &http::Request<B>, remote: Option<SocketAddr>) -> Request {
    let tls = request.extensions().get::<crate::conn::TlsInfo>();
    let uri = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    // Copied straight into the engine's one buffer: no text of its own per
    // header (a value that is not UTF-8 is replaced lossily, and may then
    // outgrow the room reserved).
    let map = request.headers();
    let bytes = map
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let mut headers = Headers::with_capacity(bytes, map.len());
    for (name, value) in map {
        headers.append_str(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    Request {
        method: Method::from_name(request.method().as_str()),
        uri,
        websocket: is_websocket_upgrade(request.headers()),
        headers,
        remote_address: remote.map(address_text).unwrap_or_default(),
        secure: tls.is_some(),
        peer_certificate: tls.and_then(|info| info.peer_certificate.clone()),
    }
}

/// A peer address as text, as `SocketAddr`'s `Display` writes it
/// (`127.0.0.1:54321`), without the formatting machinery for IPv4 (every
/// request carries its peer's address).
fn address_text(addr: SocketAddr) -> String {
    let SocketAddr::V4(v4) = addr else {
        return addr.to_string();
    };
    let mut out = String::with_capacity(21);
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(&mut out, u32::from(octet));
    }
    out.push(':');
    push_decimal(&mut out, u32::from(v4.port()));
    out
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u32) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    // One digit: `n % 10` is below 10.
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `Upgrade: websocket` with `Connection: upgrade`: what makes Node's HTTP
/// server hand a request to the engine as an upgrade.
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    has_token(headers, &header::UPGRADE, "websocket")
        && has_token(headers, &header::CONNECTION, "upgrade")
}

/// Whether a comma-separated header lists `token` (ignoring case).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// The `Sec-WebSocket-Accept` value for a version 13 handshake, or `None`
/// when the handshake is not one.
fn accept_key(headers: &HeaderMap) -> Option<String> {
    let version = headers.get(header::SEC_WEBSOCKET_VERSION)?;
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    (version.as_bytes() == b"13" && !key.is_empty())
        .then(|| async_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// Reads a POST body up to `limit + 1` bytes: enough for the core to tell
/// that it is too large, and never more. `Err` when the body fails (the
/// client went away).
async fn read_body<B>(body: &mut B, limit: usize) -> Result<Bytes, ()>
where
    B: Body + Unpin,
{
    let wanted = limit.saturating_add(1);
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    let mut len = 0;
    while len < wanted {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(mut data) = frame.map_err(drop)?.into_data() else {
            // Trailers carry no body bytes.
            continue;
        };
        let chunk = data.copy_to_bytes(data.remaining().min(wanted - len));
        len += chunk.len();
        match &mut joined {
            Some(buf) => buf.extend_from_slice(&chunk),
            None if first.is_empty() => first = chunk,
            None => {
                let hint = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
                let mut buf = BytesMut::with_capacity(wanted.min(len.saturating_add(hint)));
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&chunk);
                joined = Some(buf);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// The core's response as an HTTP response. Headers that HTTP cannot carry
/// (a hook may produce anything) are left out.
fn to_http(response: Response) -> HttpResponse {
    let mut out = http::Response::new(Full::new(response.body));
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    append_headers(out.headers_mut(), &response.headers);
    out
}

/// The `101` that completes a WebSocket handshake, with the core's headers.
fn switching_protocols(accept: &str, headers: &Headers) -> HttpResponse {
    let mut out = empty(StatusCode::SWITCHING_PROTOCOLS);
    let map = out.headers_mut();
    map.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    map.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(accept) {
        map.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    append_headers(map, headers);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_address_reads_as_display_writes_it() {
        for text in [
            "127.0.0.1:54321",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.0.200.9:80",
            "[::1]:3000",
            "[2001:db8::7]:443",
        ] {
            let addr: SocketAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(address_text(addr), addr.to_string());
            assert_eq!(address_text(addr), text);
        }
    }
}
