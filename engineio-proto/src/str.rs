//! `Str`: a cheaply cloneable UTF-8 string backed by [`Bytes`].

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// An immutable UTF-8 string that shares its storage: cloning and slicing it
/// never copies the text. Text messages and polling bodies travel as `Str` so
/// that a packet decoded from a request body points into that body.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Str(ByteString);

impl Str {
    /// The empty string.
    pub const fn new() -> Self {
        Self(ByteString::new())
    }

    /// A string borrowed for the whole program.
    pub const fn from_static(s: &'static str) -> Self {
        Self(ByteString::from_static(s))
    }

    /// Checks that `bytes` is UTF-8 and wraps it without copying.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Self)
    }

    /// Wraps `bytes` without copying when it is UTF-8; otherwise replaces
    /// every invalid sequence with U+FFFD, as a JavaScript server decoding the
    /// body as UTF-8 does.
    pub fn from_utf8_lossy(bytes: Bytes) -> Self {
        match ByteString::try_from(bytes.clone()) {
            Ok(s) => Self(s),
            Err(_) => Self::from(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Checked once, when the string was made.
        &self.0
    }

    /// The UTF-8 bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The UTF-8 bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// A sub-string of `self` that shares its storage. `sub` must be a slice
    /// of `self.as_str()` (as returned by `split`, `trim`, indexing...);
    /// anything else gives an owned copy.
    pub fn slice_ref(&self, sub: &str) -> Self {
        let base = self.0.as_ptr() as usize;
        let start = sub.as_ptr() as usize;
        if start >= base && start + sub.len() <= base + self.0.len() {
            Self(self.0.slice_ref(sub))
        } else {
            Self::from(sub.to_owned())
        }
    }

    /// `self` without its first `n` bytes, sharing storage. Returns `None`
    /// when `n` is past the end or not on a character boundary.
    pub fn skip(&self, n: usize) -> Option<Self> {
        let rest = self.as_str().get(n..)?;
        Some(self.slice_ref(rest))
    }
}

// Hashes as `str` does, so that maps keyed by `Str` can be searched with a
// `&str` (the `Borrow` contract).
impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Self(ByteString::from(s))
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Self::from_static(s)
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.0.into_bytes()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn slicing_shares_storage() {
        let s = Str::from(String::from("4hello"));
        let rest = s.skip(1).unwrap();
        assert_eq!(rest, "hello");
        assert_eq!(rest.as_bytes().as_ptr(), unsafe_free_offset(&s, 1));
    }

    fn unsafe_free_offset(s: &Str, n: usize) -> *const u8 {
        s.as_bytes()[n..].as_ptr()
    }

    #[test]
    fn skip_refuses_a_split_character() {
        let s = Str::from("€");
        assert!(s.skip(1).is_none());
        assert_eq!(s.skip(3).unwrap(), "");
        assert!(s.skip(4).is_none());
    }

    #[test]
    fn lossy_replaces_invalid_sequences() {
        let s = Str::from_utf8_lossy(Bytes::from_static(b"4a\xffb"));
        assert_eq!(s, "4a\u{fffd}b");
        assert!(Str::from_utf8(Bytes::from_static(b"\xff")).is_err());
    }
}
