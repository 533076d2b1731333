//! Binary attachments (socket.io-protocol v5, "Packet encoding"): a packet
//! that carries binary data sends its JSON with each binary value replaced by
//! a placeholder `{"_placeholder":true,"num":N}`, then the attachments as
//! separate binary messages, attachment `N` being the `N`-th one sent.
//!
//! A [`Packet`](crate::Packet) keeps the JSON with its placeholders and the
//! attachments beside it, in the canonical form the reference encoder
//! produces: placeholders numbered `0, 1, 2...` in depth-first order, one
//! attachment per placeholder.

use std::cmp::Ordering;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::DecodeError;

/// The key that marks an object as a placeholder when its value is `true`.
const PLACEHOLDER_KEY: &str = "_placeholder";
/// The key holding the attachment index of a placeholder.
const NUM_KEY: &str = "num";

/// The placeholder for attachment `num`: `{"_placeholder":true,"num":num}`.
pub fn placeholder(num: usize) -> Value {
    Value::Object(placeholder_map(num))
}

/// Appends `data` to `attachments` and returns the placeholder that stands
/// for it. Calling it in the order the placeholders appear in the JSON
/// (depth first) numbers them as the protocol requires.
///
/// ```
/// use serde_json::json;
/// use socketio_proto::binary::attach;
/// use socketio_proto::packet::Event;
///
/// let mut attachments = Vec::new();
/// let file = attach(&mut attachments, bytes::Bytes::from_static(b"\x01\x02"));
/// let data = vec![json!("upload"), json!({ "name": "a.bin", "file": file })];
/// let event = Event::from_data(data)?.with_attachments(attachments)?;
/// assert_eq!(event.attachments().len(), 1);
/// # Ok::<(), socketio_proto::packet::PayloadError>(())
/// ```
pub fn attach(attachments: &mut Vec<Bytes>, data: Bytes) -> Value {
    let num = attachments.len();
    attachments.push(data);
    placeholder(num)
}

/// Whether a receiver takes `value` for a placeholder: an object whose
/// `_placeholder` is `true` (whatever its `num`).
pub fn is_placeholder(value: &Value) -> bool {
    value.as_object().is_some_and(is_placeholder_map)
}

/// The attachment that `value` stands for, when it is a placeholder whose
/// `num` is an index into `attachments`.
pub fn resolve<'a>(value: &Value, attachments: &'a [Bytes]) -> Option<&'a Bytes> {
    let map = value.as_object().filter(|m| is_placeholder_map(m))?;
    let num = placeholder_index(map.get(NUM_KEY), attachments.len()).ok()?;
    attachments.get(num)
}

/// Every placeholder in `values`, depth first (the order in which their
/// attachments are sent). A placeholder is not searched for placeholders
/// inside it.
pub fn placeholders(values: &[Value]) -> Placeholders<'_> {
    Placeholders {
        stack: values.iter().rev().collect(),
    }
}

/// Iterator over the placeholders of a JSON value, depth first; see
/// [`placeholders`]. It walks with its own stack, never recursing.
#[derive(Debug, Clone)]
pub struct Placeholders<'a> {
    stack: Vec<&'a Value>,
}

impl<'a> Iterator for Placeholders<'a> {
    type Item = &'a Value;

    fn next(&mut self) -> Option<&'a Value> {
        while let Some(value) = self.stack.pop() {
            match value {
                Value::Array(items) => self.stack.extend(items.iter().rev()),
                Value::Object(map) if is_placeholder_map(map) => return Some(value),
                Value::Object(map) => self.stack.extend(map.values().rev()),
                _ => {}
            }
        }
        None
    }
}

/// Whether `values` holds exactly `attachments` placeholders numbered `0`,
/// `1`, ... in depth-first order, as the reference encoder writes them.
pub fn placeholders_match(values: &[Value], attachments: usize) -> bool {
    let mut expected = 0usize;
    for found in placeholders(values) {
        let num = found.get(NUM_KEY).and_then(Value::as_u64);
        if num != u64::try_from(expected).ok() {
            return false;
        }
        expected += 1;
    }
    expected == attachments
}

/// Brings a decoded JSON value to the form the reference server would
/// re-encode, walking it depth first with an explicit stack:
///
/// - every object's keys are put in JavaScript property order (array-index
///   keys first, ascending, then the others as received), which is the order
///   `JSON.parse` followed by `JSON.stringify` produces;
/// - when `attachments` is not zero, every placeholder is checked (its `num`
///   must be a number naming one of the attachments) and rewritten to the
///   canonical placeholder numbered by its position, depth first.
///
/// Returns, for each placeholder in that order, the attachment its `num`
/// named. Its length is bounded by the size of the JSON, not by a number the
/// peer claims.
pub(crate) fn normalize(root: &mut Value, attachments: usize) -> Result<Vec<usize>, DecodeError> {
    let mut sources = Vec::new();
    let mut stack: Vec<&mut Value> = vec![root];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter_mut().rev()),
            Value::Object(map) => {
                js_property_order(map);
                if attachments > 0 && is_placeholder_map(map) {
                    sources.push(placeholder_index(map.get(NUM_KEY), attachments)?);
                    let num = sources.len() - 1;
                    if !is_canonical(map, num) {
                        *map = placeholder_map(num);
                    }
                } else {
                    stack.extend(map.values_mut().rev());
                }
            }
            _ => {}
        }
    }
    Ok(sources)
}

/// Puts `map`'s keys in the order a JavaScript object enumerates them:
/// integer indices (`"0"` to `"4294967294"`, no leading zero) ascending, then
/// the other keys in insertion order. A map already in that order, which is
/// nearly every map, is left untouched.
pub(crate) fn js_property_order(map: &mut Map<String, Value>) {
    let mut last_index = None;
    let mut seen_other = false;
    let mut in_order = true;
    for key in map.keys() {
        match array_index(key) {
            Some(index) if seen_other || last_index.is_some_and(|last| last >= index) => {
                in_order = false;
                break;
            }
            Some(index) => last_index = Some(index),
            None => seen_other = true,
        }
    }
    if in_order {
        return;
    }
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    // A stable sort keeps the other keys in insertion order.
    entries.sort_by(|(a, _), (b, _)| match (array_index(a), array_index(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
    *map = entries.into_iter().collect();
}

/// The array index a property key denotes in JavaScript, if any: the
/// canonical decimal form of an integer from 0 to 2^32 - 2.
fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    match bytes {
        [b'0'] => Some(0),
        [b'1'..=b'9', rest @ ..] if rest.len() < 10 && rest.iter().all(u8::is_ascii_digit) => {
            key.parse::<u32>().ok().filter(|&index| index != u32::MAX)
        }
        _ => None,
    }
}

fn is_placeholder_map(map: &Map<String, Value>) -> bool {
    matches!(map.get(PLACEHOLDER_KEY), Some(Value::Bool(true)))
}

fn placeholder_map(num: usize) -> Map<String, Value> {
    let mut map = Map::with_capacity(2);
    map.insert(PLACEHOLDER_KEY.to_owned(), Value::Bool(true));
    map.insert(NUM_KEY.to_owned(), Value::from(num));
    map
}

/// Whether `map` is exactly `{"_placeholder":true,"num":num}`, keys in that
/// order.
fn is_canonical(map: &Map<String, Value>, num: usize) -> bool {
    let mut entries = map.iter();
    let first = entries.next();
    let second = entries.next();
    entries.next().is_none()
        && matches!(first, Some((k, Value::Bool(true))) if k == PLACEHOLDER_KEY)
        && matches!(second, Some((k, Value::Number(n)))
            if k == NUM_KEY && n.as_u64() == u64::try_from(num).ok())
}

/// The attachment a placeholder's `num` names. Like the reference parser it
/// accepts any JSON number equal to an index (`0`, `0.0`, `-0`, `1e0`); a
/// fraction, which the reference parser would turn into `undefined`, is
/// refused as out of range.
fn placeholder_index(num: Option<&Value>, attachments: usize) -> Result<usize, DecodeError> {
    let Some(Value::Number(num)) = num else {
        return Err(DecodeError::PlaceholderNotANumber);
    };
    let index = match num.as_u64() {
        Some(n) => usize::try_from(n).ok(),
        None => num
            .as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < attachments as f64)
            .map(|f| f as usize),
    };
    index
        .filter(|&i| i < attachments)
        .ok_or(DecodeError::PlaceholderOutOfRange)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use serde_json::json;

    fn normalized(text: &str, attachments: usize) -> (String, Result<Vec<usize>, DecodeError>) {
        let mut value: Value = serde_json::from_str(text).unwrap();
        let sources = normalize(&mut value, attachments);
        (serde_json::to_string(&value).unwrap(), sources)
    }

    #[test]
    fn placeholder_is_the_reference_object() {
        assert_eq!(
            serde_json::to_string(&placeholder(3)).unwrap(),
            r#"{"_placeholder":true,"num":3}"#
        );
        assert!(is_placeholder(&placeholder(0)));
        assert!(is_placeholder(&json!({"_placeholder": true})));
        assert!(!is_placeholder(&json!({"_placeholder": "true", "num": 0})));
        assert!(!is_placeholder(&json!([{"_placeholder": true, "num": 0}])));
    }

    #[test]
    fn attach_numbers_in_push_order_and_resolve_finds_them() {
        let mut attachments = Vec::new();
        let a = attach(&mut attachments, Bytes::from_static(b"a"));
        let b = attach(&mut attachments, Bytes::from_static(b"b"));
        assert_eq!(a, json!({"_placeholder": true, "num": 0}));
        assert_eq!(b, json!({"_placeholder": true, "num": 1}));
        assert_eq!(resolve(&b, &attachments).unwrap(), &b"b"[..]);
        assert_eq!(resolve(&placeholder(2), &attachments), None);
        assert_eq!(resolve(&json!("x"), &attachments), None);
    }

    #[test]
    fn placeholders_are_found_depth_first() {
        let data = vec![
            json!("ev"),
            json!({"a": [placeholder(0), {"b": placeholder(1)}], "c": placeholder(2)}),
            placeholder(3),
        ];
        let nums: Vec<u64> = placeholders(&data)
            .map(|p| p["num"].as_u64().unwrap())
            .collect();
        assert_eq!(nums, [0, 1, 2, 3]);
        assert!(placeholders_match(&data, 4));
        assert!(!placeholders_match(&data, 3));
        assert!(!placeholders_match(&data, 5));
        let swapped = vec![placeholder(1), placeholder(0)];
        assert!(!placeholders_match(&swapped, 2));
    }

    #[test]
    fn normalize_keeps_canonical_placeholders() {
        let text = r#"["a",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]"#;
        let (out, sources) = normalized(text, 2);
        assert_eq!(out, text);
        assert_eq!(sources.unwrap(), [0, 1]);
    }

    #[test]
    fn normalize_renumbers_in_order_of_appearance() {
        let (out, sources) = normalized(
            r#"[{"num":1,"_placeholder":true},{"_placeholder":true,"num":0,"x":1},{"_placeholder":true,"num":1.0}]"#,
            2,
        );
        assert_eq!(
            out,
            r#"[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]"#
        );
        assert_eq!(sources.unwrap(), [1, 0, 1]);
    }

    #[test]
    fn normalize_accepts_numbers_equal_to_an_index() {
        for num in ["0", "-0", "0.0", "0e5", "1e0"] {
            let (_, sources) = normalized(&format!(r#"[{{"_placeholder":true,"num":{num}}}]"#), 2);
            assert!(sources.is_ok(), "{num}");
        }
    }

    #[test]
    fn normalize_refuses_bad_nums() {
        for (num, err) in [
            ("2", DecodeError::PlaceholderOutOfRange),
            ("-1", DecodeError::PlaceholderOutOfRange),
            ("0.5", DecodeError::PlaceholderOutOfRange),
            ("1e300", DecodeError::PlaceholderOutOfRange),
            ("18446744073709551616", DecodeError::PlaceholderOutOfRange),
            (r#""0""#, DecodeError::PlaceholderNotANumber),
            ("null", DecodeError::PlaceholderNotANumber),
        ] {
            let (_, sources) = normalized(&format!(r#"[{{"_placeholder":true,"num":{num}}}]"#), 2);
            assert_eq!(sources, Err(err), "{num}");
        }
        let (_, sources) = normalized(r#"[{"_placeholder":true}]"#, 2);
        assert_eq!(sources, Err(DecodeError::PlaceholderNotANumber));
    }

    #[test]
    fn normalize_without_attachments_leaves_placeholders_alone() {
        let text = r#"[{"num":9,"_placeholder":true}]"#;
        let (out, sources) = normalized(text, 0);
        assert_eq!(out, text);
        assert_eq!(sources.unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn object_keys_follow_javascript_property_order() {
        let (out, _) = normalized(
            r#"{"b":1,"10":2,"a":{"z":0,"1":0,"0":0},"2":3,"01":4,"4294967295":5,"4294967294":6}"#,
            0,
        );
        assert_eq!(
            out,
            r#"{"2":3,"10":2,"4294967294":6,"b":1,"a":{"0":0,"1":0,"z":0},"01":4,"4294967295":5}"#
        );
    }

    #[test]
    fn array_index_is_canonical_u32_below_max() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("4294967294"), Some(4_294_967_294));
        assert_eq!(array_index("4294967295"), None);
        assert_eq!(array_index("00"), None);
        assert_eq!(array_index("-1"), None);
        assert_eq!(array_index("1a"), None);
        assert_eq!(array_index(""), None);
        assert_eq!(array_index("99999999999"), None);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut value = placeholder(0);
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        assert_eq!(normalize(&mut value, 1).unwrap(), [0]);
        assert_eq!(placeholders(std::slice::from_ref(&value)).count(), 1);
        // Dropping a deep Value recurses inside serde_json: unwind it here.
        while let Value::Array(mut items) = value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }
}
