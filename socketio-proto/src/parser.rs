//! Parsers: how Socket.IO packets become Engine.IO messages and back (the
//! official server's `parser` option).
//!
//! [`JsonParser`] is the default (socket.io-parser: a text message plus one
//! binary message per attachment); [`MsgpackParser`](crate::msgpack::MsgpackParser)
//! speaks npm `socket.io-msgpack-parser` (one binary message per packet).
//! Choose one per server with [`Config::parser`](crate::Config::parser);
//! implement [`Parser`] to plug in another. Every parser works on the same
//! [`Packet`] model, so the rest of the server does not know which one runs.

use std::fmt;

use engineio_proto::{Data, Message};

use crate::error::{DecodeError, MsgpackError};
use crate::packet::{Decoder, Limits, Packet};

/// Encodes packets for the wire and makes one decoder per connection.
///
/// A server holds one parser (shared, read-only) for every connection; a
/// broadcast is encoded once with it and the same messages are queued for
/// every recipient.
pub trait Parser: fmt::Debug + Send + Sync + 'static {
    /// The Engine.IO messages carrying `packet`, in sending order.
    /// `sender` tells which part of the server sends it, for parsers whose
    /// bytes depend on it (the official server builds its packet objects
    /// with keys in different orders in different places).
    fn encode(&self, packet: &Packet, sender: Sender) -> Vec<Message>;

    /// The same messages as [`encode`](Parser::encode), appended to `out`:
    /// the server reuses one buffer for every packet it sends to one
    /// socket, so a parser that overrides this allocates no list per
    /// packet. The default calls `encode`.
    ///
    /// ```
    /// use socketio_proto::packet::{Event, Packet};
    /// use socketio_proto::parser::{JsonParser, Parser, Sender};
    ///
    /// let packet = Packet::event("/", Event::new("hi", vec![1.into()]).unwrap());
    /// let mut out = Vec::new();
    /// JsonParser.encode_into(&packet, Sender::Socket, &mut out);
    /// assert_eq!(out, JsonParser.encode(&packet, Sender::Socket));
    /// ```
    fn encode_into(&self, packet: &Packet, sender: Sender, out: &mut Vec<Message>) {
        out.extend(self.encode(packet, sender));
    }

    /// A decoder for one connection, enforcing `limits`.
    fn decoder(&self, limits: Limits) -> Box<dyn PacketDecoder>;
}

/// Turns the messages of one connection into packets.
pub trait PacketDecoder: fmt::Debug + Send {
    /// Decodes one Engine.IO message: `Ok(Some(packet))`, `Ok(None)` when
    /// more messages make the packet (binary attachments), or an error, after
    /// which the connection is closed.
    fn decode(&mut self, data: Data) -> Result<Option<Packet>, ParseError>;
}

/// Which part of the server sends a packet (see [`Parser::encode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// A socket: its emits, acks, CONNECT reply, CONNECT_ERROR from a
    /// middleware, DISCONNECT.
    Socket,
    /// A broadcast through the adapter (`io.to(room).emit`, with or without
    /// acks).
    Broadcast,
    /// The connection itself: the CONNECT_ERROR of an unknown namespace.
    Client,
}

/// Why a message is not (part of) a packet; the connection is closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The JSON parser refused it.
    #[error(transparent)]
    Json(#[from] DecodeError),
    /// The msgpack parser refused it.
    #[error(transparent)]
    Msgpack(#[from] MsgpackError),
    /// Another parser refused it.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// The default parser: the text format of socket.io-parser with binary
/// attachments (see [`Packet::encode`] and [`Decoder`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonParser;

impl Parser for JsonParser {
    fn encode(&self, packet: &Packet, sender: Sender) -> Vec<Message> {
        let mut messages = Vec::with_capacity(1 + packet.attachments().len());
        self.encode_into(packet, sender, &mut messages);
        messages
    }

    fn encode_into(&self, packet: &Packet, _sender: Sender, out: &mut Vec<Message>) {
        out.push(packet.to_message());
        out.extend(
            packet
                .attachments()
                .iter()
                .map(|a| Message::binary(a.clone())),
        );
    }

    fn decoder(&self, limits: Limits) -> Box<dyn PacketDecoder> {
        Box::new(Decoder::new(limits))
    }
}

impl PacketDecoder for Decoder {
    fn decode(&mut self, data: Data) -> Result<Option<Packet>, ParseError> {
        Ok(match data {
            Data::Text(text) => self.decode_text(text)?,
            Data::Binary(bytes) => self.decode_binary(bytes)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use bytes::Bytes;
    use engineio_proto::Str;
    use serde_json::json;

    use super::*;
    use crate::binary::attach;
    use crate::packet::Event;

    #[test]
    fn json_parser_is_the_text_codec_with_attachments() {
        let mut attachments = Vec::new();
        let file = attach(&mut attachments, Bytes::from_static(b"\x01\x02"));
        let event = Event::from_data(vec![json!("up"), file])
            .unwrap()
            .with_attachments(attachments)
            .unwrap();
        let packet = Packet::event("/", event);
        let messages = JsonParser.encode(&packet, Sender::Broadcast);
        assert_eq!(
            messages,
            [
                Message::text(r#"51-["up",{"_placeholder":true,"num":0}]"#),
                Message::binary(Bytes::from_static(b"\x01\x02")),
            ]
        );
        let mut decoder = JsonParser.decoder(Limits::new(100));
        let head = Str::from(r#"51-["up",{"_placeholder":true,"num":0}]"#);
        assert!(decoder.decode(Data::Text(head)).unwrap().is_none());
        let decoded = decoder
            .decode(Data::Binary(Bytes::from_static(b"\x01\x02")))
            .unwrap();
        assert_eq!(decoded, Some(packet));
        let err = decoder
            .decode(Data::Binary(Bytes::from_static(b"\x01")))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "got binary data when not reconstructing a packet"
        );
    }
}
