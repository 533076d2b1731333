//! Event and acknowledgement arguments: JSON values plus the binary
//! attachments their placeholders point at.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The arguments of an event or an acknowledgement. Binary arguments are
/// placeholders in `args` (`{"_placeholder":true,"num":N}`) that point into
/// `binary`; [`Payload::attach`] builds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The arguments (without the event name).
    pub args: Vec<Value>,
    /// The binary attachments, in placeholder order.
    pub binary: Vec<Bytes>,
}

impl Payload {
    /// Arguments from anything that serializes: a tuple or a `Vec` gives
    /// one argument per element, any other value one argument.
    pub fn from_args(args: impl Serialize) -> Result<Self, serde_json::Error> {
        let args = match serde_json::to_value(args)? {
            Value::Array(args) => args,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        Ok(Self {
            args,
            binary: Vec::new(),
        })
    }

    /// Appends a binary argument.
    pub fn attach(mut self, data: impl Into<Bytes>) -> Self {
        let placeholder = socketio_proto::binary::attach(&mut self.binary, data.into());
        self.args.push(placeholder);
        self
    }

    /// The arguments as one typed value (a tuple, a struct that reads a
    /// sequence, a `Vec`...).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Array(self.args.clone()))
    }

    /// Argument `index` as a typed value.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Option<T> {
        self.args
            .get(index)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The attachment a placeholder argument points at.
    pub fn binary_of(&self, value: &Value) -> Option<&Bytes> {
        socketio_proto::binary::resolve(value, &self.binary)
    }

    /// The packet event `name` with these arguments.
    pub(crate) fn into_event(
        self,
        name: &str,
    ) -> Result<socketio_proto::packet::Event, crate::EmitError> {
        let mut data = Vec::with_capacity(self.args.len() + 1);
        data.push(Value::String(name.to_owned()));
        data.extend(self.args);
        socketio_proto::packet::Event::from_data(data)
            .and_then(|e| e.with_attachments(self.binary))
            .map_err(crate::EmitError::Payload)
    }
}

/// Why an emit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The arguments are not JSON.
    #[error("arguments are not JSON: {0}")]
    Serialize(String),
    /// The event name or the placeholders are invalid.
    #[error("invalid payload: {0}")]
    Payload(#[from] socketio_proto::packet::PayloadError),
    /// The core refused it (socket gone, queue full...).
    #[error(transparent)]
    Core(#[from] socketio_proto::EmitError),
    /// The server is not running.
    #[error("the server is not running")]
    NotRunning,
}

impl From<serde_json::Error> for EmitError {
    fn from(e: serde_json::Error) -> Self {
        Self::Serialize(e.to_string())
    }
}

/// Why an acknowledgement did not come.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No answer within the timeout, or the socket left first.
    #[error("operation has timed out")]
    Timeout,
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
}
