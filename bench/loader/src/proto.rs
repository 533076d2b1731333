//! The client side of Engine.IO v4 and Socket.IO v5, as much as the load
//! generator speaks: the open packet, ping/pong, the upgrade probe, CONNECT
//! to namespace `/`, events and acks whose arguments are one plain string,
//! and polling payloads (packets joined by the record separator 0x1E).
//!
//! Decoding borrows from the message text and takes a fast path for the
//! shapes the benchmark servers send (`42["name","arg"]`, `43<id>["arg"]`);
//! anything else decodes as [`Packet::Other`] and is counted, not guessed.

/// Separates packets in a polling payload (Engine.IO v4).
pub const RECORD_SEPARATOR: char = '\x1e';

/// One decoded Engine.IO packet (with its Socket.IO packet when it is a
/// message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{...}`: the handshake, with the session id.
    Open {
        /// The session id (`sid`).
        sid: String,
    },
    /// `1`: the server closes the session.
    Close,
    /// `2`: a heartbeat to answer with `3`.
    Ping,
    /// `3probe`: the answer to the upgrade probe.
    PongProbe,
    /// `6`: nothing (ends a long-poll during an upgrade).
    Noop,
    /// `40...`: CONNECT accepted on namespace `/`.
    Connect,
    /// `41`: DISCONNECT from the server.
    Disconnect,
    /// `44...`: CONNECT_ERROR.
    ConnectError,
    /// `42["event","arg"]` or `42<id>["event","arg"]`.
    Event {
        /// The event name.
        event: &'a str,
        /// The only argument, a string without escapes.
        arg: &'a str,
    },
    /// `43<id>["arg"]`: an acknowledgement with one string argument.
    Ack {
        /// The ack id the client chose.
        id: u64,
        /// The only argument.
        arg: &'a str,
    },
    /// Anything this client does not take apart.
    Other,
}

/// The CONNECT packet for namespace `/` without auth: `40`.
pub const CONNECT: &str = "40";
/// The answer to a ping: `3`.
pub const PONG: &str = "3";
/// The WebSocket upgrade probe: `2probe`.
pub const PING_PROBE: &str = "2probe";
/// Completes an upgrade: `5`.
pub const UPGRADE: &str = "5";

/// An EVENT on namespace `/` with one string argument: `42["event","arg"]`.
/// `event` and `arg` must need no JSON escaping (the benchmark's are ASCII
/// letters, digits, `-` and `:`).
pub fn event(event: &str, arg: &str) -> String {
    debug_assert!(plain(event) && plain(arg));
    let mut s = String::with_capacity(event.len() + arg.len() + 9);
    s.push_str("42[\"");
    s.push_str(event);
    s.push_str("\",\"");
    s.push_str(arg);
    s.push_str("\"]");
    s
}

/// An EVENT that asks for an ack with id `id`: `42<id>["event","arg"]`.
pub fn event_with_ack(id: u64, event: &str, arg: &str) -> String {
    debug_assert!(plain(event) && plain(arg));
    format!("42{id}[\"{event}\",\"{arg}\"]")
}

/// Joins packets into one polling payload.
pub fn polling_payload<S: AsRef<str>>(packets: &[S]) -> String {
    let mut out = String::new();
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        out.push_str(p.as_ref());
    }
    out
}

/// Splits a polling payload into its packets.
pub fn split_payload(payload: &str) -> impl Iterator<Item = &str> {
    payload.split(RECORD_SEPARATOR).filter(|p| !p.is_empty())
}

/// Decodes one Engine.IO packet sent as text (one WebSocket message, or one
/// packet of a polling payload).
pub fn decode(text: &str) -> Packet<'_> {
    let Some(kind) = text.as_bytes().first() else {
        return Packet::Other;
    };
    let rest = &text[1..];
    match kind {
        b'0' => match serde_json::from_str::<serde_json::Value>(rest) {
            Ok(v) => match v.get("sid").and_then(|s| s.as_str()) {
                Some(sid) => Packet::Open {
                    sid: sid.to_owned(),
                },
                None => Packet::Other,
            },
            Err(_) => Packet::Other,
        },
        b'1' => Packet::Close,
        b'2' if rest.is_empty() => Packet::Ping,
        b'3' if rest == "probe" => Packet::PongProbe,
        b'6' => Packet::Noop,
        b'4' => decode_socketio(rest),
        _ => Packet::Other,
    }
}

/// Decodes the Socket.IO packet inside an Engine.IO message.
fn decode_socketio(text: &str) -> Packet<'_> {
    let Some(kind) = text.as_bytes().first() else {
        return Packet::Other;
    };
    let rest = &text[1..];
    match kind {
        b'0' => Packet::Connect,
        b'1' => Packet::Disconnect,
        b'4' => Packet::ConnectError,
        b'2' => {
            let (_, args) = split_ack_id(rest);
            match strings(args) {
                Some((event, Some(arg))) => Packet::Event { event, arg },
                _ => Packet::Other,
            }
        }
        b'3' => match split_ack_id(rest) {
            (Some(id), args) => match strings(args) {
                Some((arg, None)) => Packet::Ack { id, arg },
                _ => Packet::Other,
            },
            _ => Packet::Other,
        },
        _ => Packet::Other,
    }
}

/// Splits a leading ack id (digits before the `[`) from the arguments.
fn split_ack_id(text: &str) -> (Option<u64>, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return (None, text);
    }
    (text[..digits].parse().ok(), &text[digits..])
}

/// Reads `["a"]` or `["a","b"]` whose strings have no escapes.
fn strings(text: &str) -> Option<(&str, Option<&str>)> {
    let inner = text.strip_prefix("[\"")?.strip_suffix("\"]")?;
    if inner.contains('\\') {
        return None;
    }
    match inner.split_once("\",\"") {
        Some((a, b)) if !b.contains('"') => Some((a, Some(b))),
        Some(_) => None,
        None if !inner.contains('"') => Some((inner, None)),
        None => None,
    }
}

fn plain(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':')
}

/// Socket.IO endpoint paths for one server.
pub fn polling_path(sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        None => "/socket.io/?EIO=4&transport=polling".to_owned(),
    }
}

/// The WebSocket path: a fresh session, or the upgrade of session `sid`.
pub fn websocket_path(sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
        None => "/socket.io/?EIO=4&transport=websocket".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_events_and_acks_byte_for_byte() {
        assert_eq!(event("echo", "12:34"), r#"42["echo","12:34"]"#);
        assert_eq!(event_with_ack(7, "echo-ack", "x"), r#"427["echo-ack","x"]"#);
        assert_eq!(CONNECT, "40");
        assert_eq!(PONG, "3");
        assert_eq!(PING_PROBE, "2probe");
        assert_eq!(UPGRADE, "5");
    }

    #[test]
    fn polling_payloads_join_and_split_on_the_record_separator() {
        let payload = polling_payload(&["3", r#"421["echo-ack","a"]"#]);
        assert_eq!(payload.as_bytes(), b"3\x1e421[\"echo-ack\",\"a\"]");
        assert_eq!(
            split_payload(&payload).collect::<Vec<_>>(),
            ["3", r#"421["echo-ack","a"]"#]
        );
        assert_eq!(polling_payload(&["40"]), "40");
        assert_eq!(split_payload("2").collect::<Vec<_>>(), ["2"]);
    }

    #[test]
    fn decodes_the_open_packet() {
        let open = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        assert_eq!(
            decode(open),
            Packet::Open {
                sid: "lv_VI97HAXpY6yYWAAAC".into()
            }
        );
        assert_eq!(decode("0{}"), Packet::Other);
        assert_eq!(decode("0not json"), Packet::Other);
    }

    #[test]
    fn decodes_engine_packets() {
        assert_eq!(decode("1"), Packet::Close);
        assert_eq!(decode("2"), Packet::Ping);
        assert_eq!(decode("2probe"), Packet::Other);
        assert_eq!(decode("3probe"), Packet::PongProbe);
        assert_eq!(decode("6"), Packet::Noop);
        assert_eq!(decode(""), Packet::Other);
    }

    #[test]
    fn decodes_socketio_packets() {
        assert_eq!(decode(r#"40{"sid":"abc"}"#), Packet::Connect);
        assert_eq!(decode("41"), Packet::Disconnect);
        assert_eq!(decode(r#"44{"message":"no"}"#), Packet::ConnectError);
        assert_eq!(
            decode(r#"42["broadcast","3:17:123456"]"#),
            Packet::Event {
                event: "broadcast",
                arg: "3:17:123456"
            }
        );
        assert_eq!(
            decode(r#"4212["echo","1"]"#),
            Packet::Event {
                event: "echo",
                arg: "1"
            }
        );
        assert_eq!(decode(r#"4312["99"]"#), Packet::Ack { id: 12, arg: "99" });
    }

    #[test]
    fn leaves_other_shapes_undecoded() {
        // No argument, two arguments, escapes, a binary event, an ack without id.
        assert_eq!(decode(r#"42["echo"]"#), Packet::Other);
        assert_eq!(decode(r#"42["echo","a","b"]"#), Packet::Other);
        assert_eq!(decode(r#"42["echo","a\"b"]"#), Packet::Other);
        assert_eq!(
            decode(r#"451-["echo",{"_placeholder":true,"num":0}]"#),
            Packet::Other
        );
        assert_eq!(decode(r#"43["x"]"#), Packet::Other);
        assert_eq!(decode(r#"42["echo",1]"#), Packet::Other);
    }

    #[test]
    fn paths() {
        assert_eq!(polling_path(None), "/socket.io/?EIO=4&transport=polling");
        assert_eq!(
            polling_path(Some("s1")),
            "/socket.io/?EIO=4&transport=polling&sid=s1"
        );
        assert_eq!(
            websocket_path(None),
            "/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            websocket_path(Some("s1")),
            "/socket.io/?EIO=4&transport=websocket&sid=s1"
        );
    }
}
