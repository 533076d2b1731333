//! The `io` cookie option: a `Set-Cookie` header on the handshake response
//! carrying the session id, serialized as the `cookie` npm package does.

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`
    Strict,
    /// `SameSite=Lax` (the engine's default)
    Lax,
    /// `SameSite=None`
    None,
}

/// Options of the session cookie. `CookieOptions::default()` is the
/// official default for `cookie: true`: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    /// The cookie name (default `io`).
    pub name: String,
    /// `Path` (default `/`).
    pub path: Option<String>,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Max-Age` in seconds.
    pub max_age: Option<i64>,
    /// `HttpOnly` (default true).
    pub http_only: bool,
    /// `Secure`.
    pub secure: bool,
    /// `Partitioned`.
    pub partitioned: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: Option<SameSite>,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            name: "io".into(),
            path: Some("/".into()),
            domain: None,
            max_age: None,
            http_only: true,
            secure: false,
            partitioned: false,
            same_site: Some(SameSite::Lax),
        }
    }
}

impl CookieOptions {
    /// The `Set-Cookie` value for session `sid`, attributes in the order the
    /// `cookie` package writes them.
    pub fn serialize(&self, sid: &str) -> String {
        let mut out = format!("{}={}", self.name, encode_uri_component(sid));
        if let Some(max_age) = self.max_age {
            out.push_str(&format!("; Max-Age={max_age}"));
        }
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(path) = &self.path {
            out.push_str("; Path=");
            out.push_str(path);
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        match self.same_site {
            Some(SameSite::Strict) => out.push_str("; SameSite=Strict"),
            Some(SameSite::Lax) => out.push_str("; SameSite=Lax"),
            Some(SameSite::None) => out.push_str("; SameSite=None"),
            None => {}
        }
        out
    }
}

/// JavaScript's `encodeURIComponent`.
fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cookie_matches_the_official_default() {
        assert_eq!(
            CookieOptions::default().serialize("abc-_DEF"),
            "io=abc-_DEF; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn every_attribute_in_order_and_value_escaped() {
        let c = CookieOptions {
            name: "sess".into(),
            path: Some("/app".into()),
            domain: Some("example.com".into()),
            max_age: Some(3600),
            http_only: false,
            secure: true,
            partitioned: true,
            same_site: Some(SameSite::None),
        };
        assert_eq!(
            c.serialize("a b/c"),
            "sess=a%20b%2Fc; Max-Age=3600; Domain=example.com; Path=/app; Secure; Partitioned; SameSite=None"
        );
    }
}
