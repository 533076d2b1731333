//! A new request: the official checks (`verify`), refusals with their JSON
//! error bodies, and the handshake that opens a session.

use std::time::Instant;

use super::{
    MAX_SID_LEN, Pending, Refusal, Server,
    polling::{accepted_encoding, polling_headers},
    websocket::websocket_extensions,
};
use crate::config::TransportKind;
use crate::http::{EngineQuery, Headers, Method, Request, Response};
use crate::output::{
    ConnectionError, ErrorCode, ErrorContext, Event, Handshake, Message, Output, RequestId, Sid,
};
use crate::packet::{Frame, Protocol};
use crate::session::{PayloadFormat, PendingGet, Polling, Session, Timer, Transport};

impl Server {
    /// The checks of the official `verify`: transport, origin, session,
    /// handshake method.
    pub(super) fn verify(
        &self,
        request: &Request,
        query: &EngineQuery,
    ) -> Result<TransportKind, Refusal> {
        let kind = query
            .transport
            .as_deref()
            .and_then(TransportKind::from_name)
            .filter(|k| self.config.allows(*k))
            .ok_or_else(|| {
                (
                    ErrorCode::UnknownTransport,
                    ErrorContext::UnknownTransport {
                        transport: query.transport.as_deref().map(str::to_owned),
                    },
                )
            })?;
        if let Some(origin) = request.headers.get("origin") {
            if origin
                .chars()
                .any(|c| (c < ' ' && c != '\t') || c == '\u{7f}')
            {
                return Err((
                    ErrorCode::BadRequest,
                    ErrorContext::InvalidOrigin {
                        origin: origin.to_owned(),
                    },
                ));
            }
        }
        match query.sid.as_deref() {
            Some(sid) => {
                let Some(session) = self.sessions.get(sid) else {
                    return Err((
                        ErrorCode::UnknownSid,
                        ErrorContext::UnknownSid {
                            sid: sid.to_owned(),
                        },
                    ));
                };
                let current = session.transport_kind();
                let mismatch = if request.websocket {
                    // Only a polling session upgrades, and only to WebSocket.
                    kind != TransportKind::WebSocket || !self.config.allow_upgrades
                } else {
                    kind != current || kind == TransportKind::WebSocket
                };
                if mismatch {
                    return Err((
                        ErrorCode::BadRequest,
                        ErrorContext::TransportMismatch {
                            transport: kind.name().to_owned(),
                            previous: current.name(),
                        },
                    ));
                }
            }
            None => {
                if request.method != Method::Get {
                    return Err((
                        ErrorCode::BadHandshakeMethod,
                        ErrorContext::BadHandshakeMethod {
                            method: request.method.as_str().to_owned(),
                        },
                    ));
                }
                if (kind == TransportKind::WebSocket) != request.websocket {
                    return Err((ErrorCode::BadRequest, ErrorContext::TransportHandshakeError));
                }
            }
        }
        Ok(kind)
    }

    /// Answers a refused request: JSON `{"code","message"}` with 400 or 403
    /// on HTTP, a plain 400 before a WebSocket upgrade; and tells the
    /// application (`connection_error`).
    pub(super) fn refuse(
        &mut self,
        id: RequestId,
        request: Request,
        code: ErrorCode,
        context: ErrorContext,
        cors: Headers,
    ) {
        let message = match &context {
            ErrorContext::Forbidden { message } if !message.is_empty() => message.clone(),
            _ => code.message().to_owned(),
        };
        let response = if request.websocket {
            let mut h = Headers::new();
            h.insert("Connection", "close");
            h.insert("Content-type", "text/html");
            Response::new(400, h, message.clone().into_bytes())
        } else {
            let mut h = cors;
            h.insert("Content-Type", "application/json");
            let body = serde_json::json!({ "code": code as u8, "message": message }).to_string();
            Response::new(code.status(), h, body.into_bytes())
        };
        self.respond(id, response);
        self.events
            .push_back(Event::ConnectionError(Box::new(ConnectionError {
                request,
                code,
                message: code.message().to_owned(),
                context,
            })));
    }

    pub(super) fn handshake(
        &mut self,
        now: Instant,
        id: RequestId,
        request: Request,
        query: &EngineQuery,
        kind: TransportKind,
        cors: Headers,
    ) {
        let protocol = match query.eio.as_deref() {
            Some("4") => Protocol::V4,
            // The official server takes anything else as v3.
            _ if self.config.allow_eio3 => Protocol::V3,
            other => {
                let protocol = other.map(String::from);
                self.refuse(
                    id,
                    request,
                    ErrorCode::UnsupportedProtocolVersion,
                    ErrorContext::UnsupportedProtocolVersion { protocol },
                    cors,
                );
                return;
            }
        };
        let sid = match &self.config.generate_id {
            Some(generate) => match run_hook(|| generate(&request)) {
                Some(sid) => sid,
                None => return self.internal_error(id, cors),
            },
            None => self.rng.next_id(),
        };
        if !valid_sid(&sid) || self.sessions.contains_key(sid.as_str()) {
            self.refuse(
                id,
                request,
                ErrorCode::BadRequest,
                ErrorContext::IdGenerationError,
                cors,
            );
            return;
        }
        let sid = Sid::new(&sid);

        let mut headers = cors;
        if kind == TransportKind::Polling {
            polling_headers(&mut headers, &request);
        }
        if let Some(cookie) = &self.config.cookie {
            headers.append("Set-Cookie", cookie.serialize(sid.as_str()));
        }
        let hooked = run_hook(|| {
            if let Some(hook) = &self.config.initial_headers {
                hook(&mut headers, &request);
            }
            if let Some(hook) = &self.config.headers {
                hook(&mut headers, &request);
            }
        });
        if hooked.is_none() {
            headers.remove("Set-Cookie");
            return self.internal_error(id, headers);
        }

        let transport = match kind {
            TransportKind::Polling => Transport::Polling(Box::new(Polling {
                get: Some(PendingGet {
                    id,
                    headers,
                    encoding: accepted_encoding(&self.config, &request),
                }),
                post: None,
                should_close: false,
            })),
            TransportKind::WebSocket => {
                let mut headers = headers;
                websocket_extensions(&self.config, &request, &mut headers);
                self.outputs.push_back(Output::AcceptWebSocket {
                    request: id,
                    headers,
                });
                Transport::WebSocket {
                    ws: id,
                    writable: true,
                }
            }
        };
        self.requests.insert(
            id,
            match kind {
                TransportKind::Polling => Pending::Poll(sid.clone()),
                TransportKind::WebSocket => Pending::WebSocket(sid.clone()),
            },
        );
        let format = PayloadFormat {
            protocol,
            // v3 clients that cannot read binary ask for base64 (`b64=1`).
            supports_binary: !query.b64,
            // The JSONP transport is chosen by the presence of `j`; only its
            // digits name the callback.
            jsonp: query
                .j
                .as_ref()
                .map(|j| j.chars().filter(char::is_ascii_digit).collect()),
        };
        let mut session = Session::new(sid.clone(), format, transport);

        let upgrades = if kind == TransportKind::Polling
            && self.config.allow_upgrades
            && self.config.allows(TransportKind::WebSocket)
        {
            r#"["websocket"]"#
        } else {
            "[]"
        };
        let open = format!(
            r#"0{{"sid":{},"upgrades":{},"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
            serde_json::Value::from(sid.as_str()),
            upgrades,
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_http_buffer_size,
        );
        session.push(Frame::Text(open.into()), true);
        if let Some(initial) = &self.config.initial_packet {
            session.push(Message::from_data(initial).0, true);
        }
        match protocol {
            Protocol::V4 => session.set_timer(
                &mut self.deadlines,
                Timer::Ping,
                now + self.config.ping_interval,
            ),
            Protocol::V3 => {
                let at = now + self.config.ping_interval + self.config.ping_timeout;
                session.set_timer(&mut self.deadlines, Timer::PingTimeout, at);
            }
        }
        self.sessions.insert(sid.clone(), Box::new(session));
        self.clients.set(self.sessions.len());
        // The handshake is kept for the session's life (the application's
        // `socket.handshake`): without the spare capacity its parts grew by.
        let mut request = request;
        request.headers.shrink_to_fit();
        request.uri.shrink_to_fit();
        request.remote_address.shrink_to_fit();
        self.events.push_back(Event::Open {
            sid: sid.clone(),
            handshake: Box::new(Handshake {
                request,
                protocol,
                transport: kind,
                time: now,
            }),
        });
        self.flush(&sid);
    }

    /// Answers a request whose application hook panicked: HTTP 500 with
    /// the Engine.IO JSON error body. Nothing of the request was kept.
    pub(super) fn internal_error(&mut self, id: RequestId, mut headers: Headers) {
        headers.insert("Content-Type", "application/json");
        let body = format!(
            r#"{{"code":{},"message":"{INTERNAL_ERROR}"}}"#,
            ErrorCode::BadRequest as u8
        );
        self.respond(id, Response::new(500, headers, body.into_bytes()));
    }
}

/// Whether a generated session id can serve as one: 1 to [`MAX_SID_LEN`]
/// visible ASCII characters, none of which needs escaping in a query
/// string or a cookie (`"`, `%`, `&`, `+`, `,`, `;`, `=`, `\`, `#`, `?`, `/`).
pub(super) fn valid_sid(sid: &str) -> bool {
    !sid.is_empty()
        && sid.len() <= MAX_SID_LEN
        && sid
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"%&+,;=\\#?/".contains(&b))
}

/// The message of the 500 answer to a request whose hook panicked.
pub(super) const INTERNAL_ERROR: &str = "Internal server error";

/// Runs an application hook (`generate_id`, `initial_headers`, `headers`):
/// `None` if it panicked. The panic stops here, so the engine's state (and
/// the lock a runtime keeps around it) is never left half-changed: hooks
/// run before the engine changes anything for their request.
pub(super) fn run_hook<T>(hook: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_must_fit_urls_and_cookies() {
        assert!(valid_sid("abcDEF-_~.123"));
        assert!(valid_sid(&"a".repeat(MAX_SID_LEN)));
        assert!(!valid_sid(""));
        assert!(!valid_sid(&"a".repeat(MAX_SID_LEN + 1)));
        for bad in [
            "a b", "a\"b", "a%b", "a&b", "a+b", "a,b", "a;b", "a=b", "a\\b", "a#b", "a?b", "a/b",
            "é",
        ] {
            assert!(!valid_sid(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_panicking_hook_is_caught() {
        assert_eq!(run_hook(|| 5), Some(5));
        let caught: Option<()> = run_hook(|| panic!("the application's bug"));
        assert_eq!(caught, None);
    }
}
