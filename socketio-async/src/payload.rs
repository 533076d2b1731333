//! Event and acknowledgement arguments: JSON values plus the binary
//! attachments their placeholders point at, and the rule that maps Rust
//! values to Socket.IO arguments and back.
//!
//! # One value, one argument
//!
//! - Emitting: a value is one argument whatever its type (a `Vec` is one
//!   array argument, a struct one object); a tuple is several arguments,
//!   one per element; `()` is no argument. (serde serializes fixed-size
//!   arrays as tuples: `[1, 2]` is two arguments, `vec![1, 2]` one; and
//!   `Value::Null` as `()`: no argument. `None::<T>` is one `null`.)
//! - Receiving ([`Payload::decode`], the `Data` extractor): a tuple type
//!   takes the arguments in order (exactly as many); `()` takes none; any
//!   other type takes the first argument (further ones are ignored, as a
//!   JavaScript function ignores extra arguments). A missing argument is
//!   [`DataError::Missing`], except for an `Option`, which reads `None`.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The arguments of an event or an acknowledgement. Binary arguments are
/// placeholders in `args` (`{"_placeholder":true,"num":N}`) that point into
/// `binary`; [`Payload::attach`] builds them.
///
/// ```
/// use socketio_async::Payload;
///
/// // One argument (the Vec), then a binary one.
/// let payload = Payload::new(vec![1, 2, 3]).unwrap().attach(&b"\x01\x02"[..]);
/// assert_eq!(payload.args.len(), 2);
/// assert_eq!(payload.decode::<Vec<u8>>().unwrap(), vec![1, 2, 3]);
/// assert_eq!(payload.binary_of(&payload.args[1]).unwrap().as_ref(), b"\x01\x02");
///
/// // Two arguments.
/// let payload = Payload::new(("hello", 42)).unwrap();
/// let (text, n): (String, u32) = payload.decode().unwrap();
/// assert_eq!((text.as_str(), n), ("hello", 42));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The arguments (without the event name).
    pub args: Vec<Value>,
    /// The binary attachments, in placeholder order.
    pub binary: Vec<Bytes>,
}

impl Payload {
    /// Arguments from a value, by the rule of the module: a tuple gives one
    /// argument per element, `()` none, any other value one argument.
    ///
    /// ```
    /// use socketio_async::Payload;
    ///
    /// assert_eq!(Payload::new(vec![1, 2]).unwrap().args.len(), 1);
    /// assert_eq!(Payload::new((1, 2)).unwrap().args.len(), 2);
    /// assert_eq!(Payload::new(()).unwrap().args.len(), 0);
    /// ```
    pub fn new(args: impl Serialize) -> Result<Self, serde_json::Error> {
        Ok(Self {
            args: to_args(&args)?,
            binary: Vec::new(),
        })
    }

    /// Appends a binary argument.
    ///
    /// ```
    /// use socketio_async::Payload;
    ///
    /// // client receives ("photo.png", <Buffer 89 50>)
    /// let payload = Payload::new("photo.png").unwrap().attach(vec![0x89, 0x50]);
    /// assert_eq!(payload.binary.len(), 1);
    /// ```
    pub fn attach(mut self, data: impl Into<Bytes>) -> Self {
        let placeholder = socketio_proto::binary::attach(&mut self.binary, data.into());
        self.args.push(placeholder);
        self
    }

    /// The arguments as one typed value, by the rule of the module (a
    /// tuple takes them all, another type the first).
    ///
    /// ```
    /// use socketio_async::{DataError, Payload};
    ///
    /// let payload = Payload::new(("a", 1)).unwrap();
    /// assert_eq!(payload.decode::<String>().unwrap(), "a");
    /// assert_eq!(payload.decode::<(String, u8)>().unwrap(), ("a".to_owned(), 1));
    /// assert!(matches!(payload.decode::<u8>(), Err(DataError::Invalid(_))));
    /// assert!(matches!(Payload::default().decode::<u8>(), Err(DataError::Missing)));
    /// assert_eq!(Payload::default().decode::<Option<u8>>().unwrap(), None);
    /// ```
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DataError> {
        decode(&self.args)
    }

    /// Argument `index` as a typed value: [`DataError::Missing`] if there is
    /// no such argument, [`DataError::Invalid`] if it has another shape.
    ///
    /// ```
    /// use socketio_async::{DataError, Payload};
    ///
    /// let payload = Payload::new(("a", 1)).unwrap();
    /// assert_eq!(payload.arg::<u8>(1).unwrap(), 1);
    /// assert!(matches!(payload.arg::<u8>(0), Err(DataError::Invalid(_))));
    /// assert!(matches!(payload.arg::<u8>(2), Err(DataError::Missing)));
    /// ```
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, DataError> {
        let value = self.args.get(index).ok_or(DataError::Missing)?;
        T::deserialize(value).map_err(|e| DataError::Invalid(e.to_string()))
    }

    /// The attachment a placeholder argument points at.
    ///
    /// ```
    /// use socketio_async::Payload;
    ///
    /// let payload = Payload::new("a").unwrap().attach(vec![1, 2]);
    /// assert_eq!(payload.binary_of(&payload.args[1]).map(|b| b.len()), Some(2));
    /// assert_eq!(payload.binary_of(&payload.args[0]), None);
    /// ```
    pub fn binary_of(&self, value: &Value) -> Option<&Bytes> {
        socketio_proto::binary::resolve(value, &self.binary)
    }

    /// The packet event `name` with these arguments.
    pub(crate) fn into_event(self, name: &str) -> Result<socketio_proto::packet::Event, EmitError> {
        // Arguments received in an event keep the slot their name had, so
        // forwarding them inserts the name without a new allocation.
        let mut data = self.args;
        data.insert(0, Value::String(name.to_owned()));
        socketio_proto::packet::Event::from_data(data)
            .and_then(|e| e.with_attachments(self.binary))
            .map_err(EmitError::Payload)
    }
}

/// Why arguments could not be read as the type a handler asked for.
///
/// ```
/// use socketio_async::{AckSender, DataError, Socket, SocketIo, TryData};
///
/// let io = SocketIo::new();
/// io.on_connection(|socket: Socket| async move {
///     socket.on("age", |TryData(age): TryData<u8>, ack: AckSender| async move {
///         let _ = match age {
///             Ok(age) => ack.send(age),
///             Err(DataError::Missing) => ack.send("age required"),
///             Err(DataError::Invalid(why)) => ack.send(format!("bad age: {why}")),
///         };
///     });
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The argument is not there.
    #[error("missing argument")]
    Missing,
    /// The arguments have another shape (the serde error).
    #[error("invalid arguments: {0}")]
    Invalid(String),
}

/// Why an emit failed.
///
/// ```
/// use socketio_async::{EmitError, Socket};
///
/// fn greet(socket: &Socket) {
///     match socket.emit("hello", "world") {
///         Ok(()) => {}
///         Err(EmitError::NotRunning) => eprintln!("the server is not running"),
///         Err(error) => eprintln!("not sent: {error}"),
///     }
/// }
/// ```
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
    /// The event was acknowledged already (by another handler of it).
    #[error("the event was acknowledged already")]
    AlreadyAcked,
}

impl From<serde_json::Error> for EmitError {
    fn from(e: serde_json::Error) -> Self {
        Self::Serialize(e.to_string())
    }
}

/// Why an acknowledgement did not come.
///
/// ```
/// use std::time::Duration;
/// use socketio_async::{AckError, Socket};
///
/// async fn ask(socket: Socket) {
///     match socket.timeout(Duration::from_secs(2)).emit_with_ack::<u32>("count?", ()).await {
///         Ok(n) => println!("{n}"),
///         Err(AckError::Timeout) => println!("no answer in time"),
///         Err(AckError::Decode(why)) => println!("answered in another shape: {why}"),
///         Err(error) => println!("{error}"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No answer within the timeout, or the socket left first.
    #[error("operation has timed out")]
    Timeout,
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The answer came in another shape than the type asked for.
    #[error("unexpected answer: {0}")]
    Decode(#[from] DataError),
}

/// The Socket.IO arguments of `value` (see the module doc).
pub(crate) fn to_args(value: &impl Serialize) -> Result<Vec<Value>, serde_json::Error> {
    let shape = value
        .serialize(probe::Shape)
        .err()
        .unwrap_or(probe::Kind::Other);
    let json = serde_json::to_value(value)?;
    Ok(match (shape, json) {
        (probe::Kind::Unit, _) => Vec::new(),
        (probe::Kind::Tuple, Value::Array(args)) => args,
        (_, one) => vec![one],
    })
}

/// `args` as a `T` (see the module doc).
pub(crate) fn decode<T: DeserializeOwned>(args: &[Value]) -> Result<T, DataError> {
    decode_from(args.iter())
}

/// [`decode`], moving strings and arrays out of the values instead of
/// copying them.
pub(crate) fn decode_owned<T: DeserializeOwned>(args: Vec<Value>) -> Result<T, DataError> {
    decode_from(args)
}

/// The rules of [`decode`] over arguments borrowed (`&Value`) or owned
/// (`Value`): serde_json deserializes both.
fn decode_from<'de, T, V>(args: impl IntoIterator<Item = V>) -> Result<T, DataError>
where
    T: DeserializeOwned,
    V: serde::Deserializer<'de, Error = serde_json::Error>
        + serde::de::IntoDeserializer<'de, serde_json::Error, Deserializer = V>,
{
    let invalid = |e: serde_json::Error| DataError::Invalid(e.to_string());
    match T::deserialize(probe::Shape)
        .err()
        .unwrap_or(probe::Kind::Other)
    {
        probe::Kind::Tuple => {
            T::deserialize(serde::de::value::SeqDeserializer::new(args.into_iter()))
                .map_err(|e: serde_json::Error| invalid(e))
        }
        probe::Kind::Unit => T::deserialize(Value::Null).map_err(invalid),
        probe::Kind::Other => match args.into_iter().next() {
            Some(first) => T::deserialize(first).map_err(invalid),
            None => T::deserialize(Value::Null).map_err(|_| DataError::Missing),
        },
    }
}

/// Tells a tuple (several arguments) and `()` (none) from any other type,
/// by the first call its serde implementation makes.
mod probe {
    use serde::ser::Impossible;
    use serde::{Serialize, Serializer, de};

    /// The shape found, carried as the "error" that stops the probe.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Kind {
        Tuple,
        Unit,
        Other,
    }

    impl std::fmt::Display for Kind {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl std::error::Error for Kind {}

    impl serde::ser::Error for Kind {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Kind::Other
        }
    }

    impl de::Error for Kind {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Kind::Other
        }
    }

    /// The probe, as a serializer and as a deserializer.
    pub(super) struct Shape;

    impl<'de> de::Deserializer<'de> for Shape {
        type Error = Kind;

        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Kind> {
            Err(Kind::Other)
        }

        fn deserialize_tuple<V: de::Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Kind> {
            Err(Kind::Tuple)
        }

        fn deserialize_unit<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Kind> {
            Err(Kind::Unit)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit_struct newtype_struct seq
            tuple_struct map struct enum identifier ignored_any
        }
    }

    type No = Impossible<(), Kind>;

    macro_rules! other {
        ($($name:ident($($arg:ty),*);)*) => {
            $(fn $name(self, $(_: $arg),*) -> Result<(), Kind> { Err(Kind::Other) })*
        };
    }

    impl Serializer for Shape {
        type Ok = ();
        type Error = Kind;
        type SerializeSeq = No;
        type SerializeTuple = No;
        type SerializeTupleStruct = No;
        type SerializeTupleVariant = No;
        type SerializeMap = No;
        type SerializeStruct = No;
        type SerializeStructVariant = No;

        other! {
            serialize_bool(bool); serialize_i8(i8); serialize_i16(i16);
            serialize_i32(i32); serialize_i64(i64); serialize_i128(i128);
            serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
            serialize_u64(u64); serialize_u128(u128); serialize_f32(f32);
            serialize_f64(f64); serialize_char(char); serialize_str(&str);
            serialize_bytes(&[u8]); serialize_none();
            serialize_unit_struct(&'static str);
            serialize_unit_variant(&'static str, u32, &'static str);
        }

        fn serialize_unit(self) -> Result<(), Kind> {
            Err(Kind::Unit)
        }

        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Kind> {
            Err(Kind::Other)
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<(), Kind> {
            Err(Kind::Other)
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Kind> {
            Err(Kind::Other)
        }

        fn serialize_seq(self, _: Option<usize>) -> Result<No, Kind> {
            Err(Kind::Other)
        }

        fn serialize_tuple(self, _: usize) -> Result<No, Kind> {
            Err(Kind::Tuple)
        }

        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<No, Kind> {
            Err(Kind::Other)
        }

        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<No, Kind> {
            Err(Kind::Other)
        }

        fn serialize_map(self, _: Option<usize>) -> Result<No, Kind> {
            Err(Kind::Other)
        }

        fn serialize_struct(self, _: &'static str, _: usize) -> Result<No, Kind> {
            Err(Kind::Other)
        }

        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<No, Kind> {
            Err(Kind::Other)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Point(i32, i32);

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Msg {
        text: String,
    }

    #[test]
    fn one_value_is_one_argument() {
        assert_eq!(to_args(&vec![1, 2, 3]).unwrap(), vec![json!([1, 2, 3])]);
        assert_eq!(to_args(&json!([1, 2])).unwrap(), vec![json!([1, 2])]);
        assert_eq!(to_args(&"a").unwrap(), vec![json!("a")]);
        assert_eq!(to_args(&Point(1, 2)).unwrap(), vec![json!([1, 2])]);
        assert_eq!(
            to_args(&Msg { text: "x".into() }).unwrap(),
            vec![json!({"text": "x"})]
        );
        assert_eq!(to_args(&None::<u8>).unwrap(), vec![Value::Null]);
        assert_eq!(to_args(&Some(1)).unwrap(), vec![json!(1)]);
        // serde cannot tell `Value::Null` from `()`: no argument.
        assert_eq!(to_args(&Value::Null).unwrap(), Vec::<Value>::new());
        // A reference or an Arc is the value it points at.
        assert_eq!(to_args(&&vec![1]).unwrap(), vec![json!([1])]);
    }

    #[test]
    fn a_tuple_is_several_arguments_and_unit_none() {
        assert_eq!(to_args(&(1, "a")).unwrap(), vec![json!(1), json!("a")]);
        assert_eq!(to_args(&(vec![1],)).unwrap(), vec![json!([1])]);
        assert_eq!(to_args(&()).unwrap(), Vec::<Value>::new());
        assert_eq!(to_args(&[1, 2]).unwrap(), vec![json!(1), json!(2)]);
    }

    #[test]
    fn decoding_follows_the_same_rule() {
        let args = vec![json!({"text": "hi"}), json!(2)];
        assert_eq!(decode::<Msg>(&args).unwrap(), Msg { text: "hi".into() });
        assert_eq!(
            decode::<(Msg, u8)>(&args).unwrap(),
            (Msg { text: "hi".into() }, 2)
        );
        assert_eq!(decode::<Value>(&args).unwrap(), json!({"text": "hi"}));
        assert_eq!(decode::<Vec<i32>>(&[json!([1, 2])]).unwrap(), vec![1, 2]);
        assert_eq!(decode::<Point>(&[json!([1, 2])]).unwrap(), Point(1, 2));
        decode::<()>(&args).unwrap();
    }

    #[test]
    fn decoding_errors_tell_missing_from_invalid() {
        assert_eq!(decode::<Msg>(&[]), Err(DataError::Missing));
        assert_eq!(decode::<Option<Msg>>(&[]), Ok(None));
        assert!(matches!(
            decode::<Msg>(&[json!(1)]),
            Err(DataError::Invalid(_))
        ));
        // A tuple wants exactly its arguments.
        assert!(matches!(
            decode::<(u8, u8)>(&[json!(1)]),
            Err(DataError::Invalid(_))
        ));
        assert!(matches!(
            decode::<(u8,)>(&[json!(1), json!(2)]),
            Err(DataError::Invalid(_))
        ));
    }
}
