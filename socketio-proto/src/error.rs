//! The errors of the codecs: why a message is not a packet, for the JSON
//! parser ([`DecodeError`]) and the msgpack one ([`MsgpackError`]). They sit
//! at the bottom of the module graph so that the placeholder helpers
//! (`binary`), the codecs (`packet`, `msgpack`) and the parser interface
//! (`parser`) can all name them without depending on each other. Each is
//! re-exported where it is used: `packet::DecodeError`,
//! `msgpack::MsgpackError`.

/// Why a frame is not (part of) a packet. The connection must be closed (the
/// Node server closes it with reason "parse error"); the [`Decoder`](crate::packet::Decoder) forgets
/// any packet it was reassembling.
///
/// The reference parser reports all of these, with two exceptions where we
/// are stricter: [`InvalidAckId`](Self::InvalidAckId), and a placeholder
/// `num` that is a fraction (it would give `undefined`), reported as
/// [`PlaceholderOutOfRange`](Self::PlaceholderOutOfRange). Where serde_json
/// is stricter than `JSON.parse` (nesting deeper than 128, a number beyond
/// the range of a double, an escaped lone surrogate) the result is
/// [`InvalidJson`](Self::InvalidJson).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first character is not a packet type (`7`, a letter...).
    #[error("unknown packet type")]
    UnknownType,
    /// A binary packet without a `<n>-` attachments count that is a
    /// non-negative integer.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// More attachments than [`Limits::max_attachments`](crate::packet::Limits::max_attachments).
    #[error("too many attachments")]
    TooManyAttachments,
    /// An ack id that is not a `u64`: above `u64::MAX`, or digits separated
    /// by white space (the reference parser makes it `NaN`).
    #[error("invalid ack id")]
    InvalidAckId,
    /// The payload is not JSON.
    #[error("invalid JSON payload")]
    InvalidJson,
    /// The payload does not suit the packet type (the reference parser's
    /// `isPayloadValid`): CONNECT an object, DISCONNECT nothing, EVENT a
    /// non-empty array named by a number or a non-reserved string, ACK an
    /// array, CONNECT_ERROR an object or a string.
    #[error("invalid payload")]
    InvalidPayload,
    /// A text frame came while attachments were still expected.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// A binary frame came while no attachment was expected.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A placeholder whose `num` is missing or not a number.
    #[error("placeholder num is not a number")]
    PlaceholderNotANumber,
    /// A placeholder whose `num` names no attachment.
    #[error("placeholder num out of range")]
    PlaceholderOutOfRange,
    /// The attachments of one packet add up to more than
    /// [`Limits::max_binary_bytes`](crate::packet::Limits::max_binary_bytes).
    #[error("binary attachments too large")]
    BinaryTooLarge,
}

/// Why a message is not a msgpack packet.
/// Why a message is not a msgpack packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MsgpackError {
    /// A text message: this parser only reads binary ones.
    #[error("unexpected text message")]
    UnexpectedText,
    /// The message ends inside a value.
    #[error("truncated msgpack")]
    Truncated,
    /// Bytes follow the packet map.
    #[error("trailing bytes")]
    TrailingBytes,
    /// A byte that starts no msgpack value (`0xc1`).
    #[error("could not parse")]
    InvalidPrefix,
    /// An ext type notepack does not write.
    #[error("unsupported ext type")]
    UnsupportedExt,
    /// A map key that is neither a string nor an integer.
    #[error("unsupported map key")]
    InvalidKey,
    /// Nesting deeper than [`MsgpackLimits::max_depth`](crate::msgpack::MsgpackLimits::max_depth).
    #[error("msgpack nested too deeply")]
    TooDeep,
    /// More values than [`MsgpackLimits::max_values`](crate::msgpack::MsgpackLimits::max_values).
    #[error("too many msgpack values")]
    TooManyValues,
    /// More binary values than [`MsgpackLimits::max_binaries`](crate::msgpack::MsgpackLimits::max_binaries).
    #[error("too many binary values")]
    TooManyBinaries,
    /// Binary values adding up to more than [`Limits::max_binary_bytes`](crate::packet::Limits::max_binary_bytes).
    #[error("binary values too large")]
    BinaryTooLarge,
    /// `type` is not an integer from 0 to 4 (or the message is not a map).
    #[error("invalid packet type")]
    InvalidType,
    /// `nsp` is not a string.
    #[error("invalid namespace")]
    InvalidNamespace,
    /// `data` does not suit the type.
    #[error("invalid payload")]
    InvalidPayload,
    /// `id` is present and not a `u64`.
    #[error("invalid packet id")]
    InvalidId,
}
