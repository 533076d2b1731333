//! HTTP compression of long-poll responses (`httpCompression`).
//!
//! As the official server: a long-poll body of at least
//! [`HttpCompression::threshold`] bytes is compressed with gzip or deflate
//! (zlib format, as HTTP's `deflate` means), whichever the request's
//! `Accept-Encoding` prefers; smaller bodies, error answers and POST answers
//! never are. The work is pure computation on a finished body, so it lives in
//! the core: the runtime writes the bytes and headers it is handed.

use std::io::Write;

use bytes::Bytes;

/// Compression of long-poll responses. On by default
/// ([`Config::http_compression`](crate::Config::http_compression)); `None`
/// there turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCompression {
    /// Bodies shorter than this many bytes are sent as they are (default
    /// 1024, as the official server).
    pub threshold: usize,
    /// The compression level, 0 (none) to 9 (best); default 6, zlib's
    /// default, which the official server uses.
    pub level: u32,
}

impl Default for HttpCompression {
    fn default() -> Self {
        Self {
            threshold: 1024,
            level: 6,
        }
    }
}

/// A `Content-Encoding` the engine can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950).
    Deflate,
}

impl ContentEncoding {
    /// The token of the `Content-Encoding` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
        }
    }

    /// The encoding a request's `Accept-Encoding` header prefers among gzip
    /// and deflate, or `None` when it accepts neither (or is absent).
    ///
    /// The choice follows the npm `negotiator` package the official server
    /// uses: an exact name beats `*`, a higher `q` wins, then the one named
    /// first in the header, then gzip; `q=0` refuses.
    ///
    /// ```
    /// use engineio_proto::ContentEncoding;
    /// assert_eq!(ContentEncoding::negotiate(Some("gzip, deflate, br")), Some(ContentEncoding::Gzip));
    /// assert_eq!(ContentEncoding::negotiate(Some("deflate, gzip")), Some(ContentEncoding::Deflate));
    /// assert_eq!(ContentEncoding::negotiate(Some("br")), None);
    /// assert_eq!(ContentEncoding::negotiate(None), None);
    /// ```
    pub fn negotiate(accept_encoding: Option<&str>) -> Option<Self> {
        let header = accept_encoding?;
        let specs: Vec<Spec<'_>> = header
            .split(',')
            .enumerate()
            .filter_map(|(order, part)| Spec::parse(part, order))
            .collect();
        let mut best: Option<(Priority, Self)> = None;
        for (index, encoding) in [Self::Gzip, Self::Deflate].into_iter().enumerate() {
            let Some(priority) = priority(encoding.as_str(), &specs, index) else {
                continue;
            };
            if priority.q <= 0.0 {
                continue;
            }
            if best.as_ref().is_none_or(|(b, _)| priority.beats(b)) {
                best = Some((priority, encoding));
            }
        }
        best.map(|(_, encoding)| encoding)
    }

    /// `body` compressed at `level` (clamped to 9).
    pub fn compress(self, body: &[u8], level: u32) -> Bytes {
        let level = flate2::Compression::new(level.min(9));
        // Writing into a Vec cannot fail: these `Write` impls only pass on
        // the errors of the writer under them.
        let out = match self {
            Self::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
                e.write_all(body).and_then(|()| e.finish())
            }
            Self::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
                e.write_all(body).and_then(|()| e.finish())
            }
        };
        Bytes::from(out.unwrap_or_default())
    }
}

/// One entry of `Accept-Encoding`.
struct Spec<'a> {
    name: &'a str,
    q: f64,
    /// Its position in the header.
    order: usize,
}

impl<'a> Spec<'a> {
    fn parse(part: &'a str, order: usize) -> Option<Self> {
        let mut params = part.split(';');
        let name = params.next()?.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        let mut q = 1.0;
        for param in params {
            if let Some((key, value)) = param.split_once('=') {
                if key.trim() == "q" {
                    // A `q` that is not a number refuses, as NaN does there.
                    q = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        Some(Self { name, q, order })
    }
}

/// How well one offered encoding matches the header.
#[derive(Debug, Clone, Copy)]
struct Priority {
    q: f64,
    /// 1 for an exact name, 0 for `*`.
    specificity: u8,
    order: usize,
    /// Position in the offered list (gzip first).
    index: usize,
}

impl Priority {
    /// Sorted as negotiator does: higher q, then exact name, then earlier in
    /// the header, then earlier in the offered list.
    fn beats(&self, other: &Self) -> bool {
        use std::cmp::Ordering::*;
        match other.q.partial_cmp(&self.q).unwrap_or(Equal) {
            Less => return true,
            Greater => return false,
            Equal => {}
        }
        (other.specificity, self.order, self.index) < (self.specificity, other.order, other.index)
    }
}

/// The best entry of the header for `name`: an exact name over `*`, then the
/// higher q, then the later entry (as negotiator's loop keeps it).
fn priority(name: &str, specs: &[Spec<'_>], index: usize) -> Option<Priority> {
    let mut best: Option<Priority> = None;
    for spec in specs {
        let specificity = if spec.name.eq_ignore_ascii_case(name) {
            1
        } else if spec.name == "*" {
            0
        } else {
            continue;
        };
        let candidate = Priority {
            q: spec.q,
            specificity,
            order: spec.order,
            index,
        };
        let better = best.is_none_or(|b| {
            (candidate.specificity, candidate.q, candidate.order)
                .partial_cmp(&(b.specificity, b.q, b.order))
                .is_some_and(|o| o.is_gt())
        });
        if better {
            best = Some(candidate);
        }
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::io::Read;

    use super::*;

    fn negotiate(h: &str) -> Option<ContentEncoding> {
        ContentEncoding::negotiate(Some(h))
    }

    #[test]
    fn negotiation_follows_negotiator() {
        use ContentEncoding::*;
        assert_eq!(negotiate("gzip"), Some(Gzip));
        assert_eq!(negotiate("deflate"), Some(Deflate));
        assert_eq!(negotiate("GZIP"), Some(Gzip));
        assert_eq!(negotiate("gzip, deflate"), Some(Gzip));
        assert_eq!(negotiate("deflate, gzip"), Some(Deflate));
        assert_eq!(negotiate("*"), Some(Gzip));
        assert_eq!(negotiate("gzip;q=0.5, deflate"), Some(Deflate));
        assert_eq!(negotiate("gzip;q=0, *"), Some(Deflate));
        assert_eq!(negotiate("gzip;q=0, deflate;q=0"), None);
        assert_eq!(negotiate("*;q=0"), None);
        assert_eq!(negotiate("identity"), None);
        assert_eq!(negotiate("br, zstd"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate(" gzip ; q=0.8 , deflate ; q=0.9"), Some(Deflate));
        assert_eq!(negotiate("gzip;q=abc, deflate"), Some(Deflate));
        // An exact name at a lower q still beats `*` for that name.
        assert_eq!(negotiate("*, gzip;q=0.1"), Some(Deflate));
        assert_eq!(ContentEncoding::negotiate(None), None);
    }

    #[test]
    fn compressed_bodies_inflate_back() {
        let body = "4".repeat(3000);
        let gz = ContentEncoding::Gzip.compress(body.as_bytes(), 6);
        assert_eq!(gz.get(..2), Some(&[0x1f, 0x8b][..]), "gzip magic");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);

        let z = ContentEncoding::Deflate.compress(body.as_bytes(), 9);
        assert_eq!(z.first(), Some(&0x78), "zlib header");
        let mut out = String::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(z.len() < 100);
    }
}
