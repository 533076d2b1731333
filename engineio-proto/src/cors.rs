//! CORS headers, computed as the `cors` npm package (the middleware the
//! official server installs for its `cors` option) computes them.

use std::fmt;
use std::sync::Arc;

use crate::http::{Headers, Method, Request};

/// Which origins may read responses.
#[derive(Clone)]
pub enum CorsOrigin {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// Always this origin (with `Vary: Origin`).
    Exact(String),
    /// The request's origin when it is in the list, none otherwise.
    List(Vec<String>),
    /// The request's origin, whatever it is (`origin: true`).
    Reflect,
    /// The request's origin when the predicate accepts it.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for CorsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("Any"),
            Self::Exact(o) => f.debug_tuple("Exact").field(o).finish(),
            Self::List(l) => f.debug_tuple("List").field(l).finish(),
            Self::Reflect => f.write_str("Reflect"),
            Self::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// The `cors` option. `Cors::default()` is the package's default: any
/// origin, methods `GET,HEAD,PUT,PATCH,POST,DELETE`, request headers
/// reflected, no credentials, no max age.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins.
    pub origin: CorsOrigin,
    /// `Access-Control-Allow-Methods` on preflight responses.
    pub methods: Vec<String>,
    /// `Access-Control-Allow-Headers`; `None` reflects the preflight's
    /// `Access-Control-Request-Headers`.
    pub allowed_headers: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers`.
    pub exposed_headers: Vec<String>,
    /// `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// `Access-Control-Max-Age` in seconds, on preflight responses.
    pub max_age: Option<u64>,
}

impl Default for Cors {
    fn default() -> Self {
        Self {
            origin: CorsOrigin::Any,
            methods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: None,
            exposed_headers: Vec::new(),
            credentials: false,
            max_age: None,
        }
    }
}

impl Cors {
    /// The CORS headers for `request`: for an `OPTIONS` preflight the full
    /// set, for any other request the origin, credentials and exposed headers.
    pub fn headers_for(&self, request: &Request) -> Headers {
        let mut h = Headers::new();
        let preflight = request.method == Method::Options;
        self.origin_headers(request.headers.get("origin"), &mut h);
        if self.credentials {
            h.insert("Access-Control-Allow-Credentials", "true");
        }
        if preflight {
            if !self.methods.is_empty() {
                h.insert("Access-Control-Allow-Methods", self.methods.join(","));
            }
            match &self.allowed_headers {
                Some(list) => {
                    if !list.is_empty() {
                        h.insert("Access-Control-Allow-Headers", list.join(","));
                    }
                }
                None => {
                    if let Some(asked) = request.headers.get("access-control-request-headers") {
                        if !asked.is_empty() {
                            h.insert("Access-Control-Allow-Headers", asked.to_owned());
                        }
                    }
                    h.append("Vary", "Access-Control-Request-Headers");
                }
            }
            if let Some(max_age) = self.max_age {
                h.insert("Access-Control-Max-Age", max_age.to_string());
            }
        }
        if !self.exposed_headers.is_empty() {
            h.insert(
                "Access-Control-Expose-Headers",
                self.exposed_headers.join(","),
            );
        }
        h
    }

    fn origin_headers(&self, origin: Option<&str>, h: &mut Headers) {
        let allowed = match &self.origin {
            CorsOrigin::Any => {
                h.insert("Access-Control-Allow-Origin", "*");
                return;
            }
            CorsOrigin::Exact(o) => Some(o.clone()),
            CorsOrigin::List(list) => origin
                .filter(|o| list.iter().any(|a| a == o))
                .map(String::from),
            CorsOrigin::Reflect => origin.map(String::from),
            CorsOrigin::Predicate(accept) => origin.filter(|o| accept(o)).map(String::from),
        };
        if let Some(o) = allowed {
            h.insert("Access-Control-Allow-Origin", o);
        }
        h.append("Vary", "Origin");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, origin: Option<&str>) -> Request {
        let mut r = Request::new(method, "/engine.io/?EIO=4&transport=polling");
        if let Some(o) = origin {
            r.headers.insert("origin", o.to_owned());
        }
        r
    }

    #[test]
    fn default_preflight_allows_any_origin_and_reflects_requested_headers() {
        let mut r = req(Method::Options, Some("https://a.example"));
        r.headers
            .insert("access-control-request-headers", "x-token");
        let h = Cors::default().headers_for(&r);
        let got: Vec<_> = h.iter().collect();
        assert_eq!(
            got,
            vec![
                ("Access-Control-Allow-Origin", "*"),
                (
                    "Access-Control-Allow-Methods",
                    "GET,HEAD,PUT,PATCH,POST,DELETE"
                ),
                ("Access-Control-Allow-Headers", "x-token"),
                ("Vary", "Access-Control-Request-Headers"),
            ]
        );
    }

    #[test]
    fn list_reflects_only_listed_origins() {
        let cors = Cors {
            origin: CorsOrigin::List(vec!["https://ok.example".into()]),
            credentials: true,
            exposed_headers: vec!["x-a".into(), "x-b".into()],
            ..Cors::default()
        };
        let ok = cors.headers_for(&req(Method::Get, Some("https://ok.example")));
        assert_eq!(
            ok.get("Access-Control-Allow-Origin"),
            Some("https://ok.example")
        );
        assert_eq!(ok.get("Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(ok.get("Access-Control-Expose-Headers"), Some("x-a,x-b"));
        assert_eq!(ok.get("Vary"), Some("Origin"));
        assert_eq!(ok.get("Access-Control-Allow-Methods"), None);
        let bad = cors.headers_for(&req(Method::Get, Some("https://evil.example")));
        assert_eq!(bad.get("Access-Control-Allow-Origin"), None);
        assert_eq!(bad.get("Vary"), Some("Origin"));
    }

    #[test]
    fn predicate_exact_and_max_age() {
        let cors = Cors {
            origin: CorsOrigin::Predicate(Arc::new(|o| o.ends_with(".trusted"))),
            allowed_headers: Some(vec!["a".into(), "b".into()]),
            max_age: Some(600),
            ..Cors::default()
        };
        let h = cors.headers_for(&req(Method::Options, Some("x.trusted")));
        assert_eq!(h.get("Access-Control-Allow-Origin"), Some("x.trusted"));
        assert_eq!(h.get("Access-Control-Allow-Headers"), Some("a,b"));
        assert_eq!(h.get("Access-Control-Max-Age"), Some("600"));
        let exact = Cors {
            origin: CorsOrigin::Exact("https://x".into()),
            ..Cors::default()
        };
        let h = exact.headers_for(&req(Method::Get, None));
        assert_eq!(h.get("Access-Control-Allow-Origin"), Some("https://x"));
    }
}
