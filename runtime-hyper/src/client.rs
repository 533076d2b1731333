//! `serveClient`: the browser client bundle at `<path>/socket.io.js` and
//! its siblings. The decisions (which target, which headers, `304`, which
//! compression) are [`socketio_proto::serve_client`]'s; this module holds
//! the files' bytes and the compressed copies.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use engineio_proto::{Cors, Request};
use http::StatusCode;
use socketio_proto::serve_client::{ClientFile, ClientReply, ContentEncoding, ServeClient};

use crate::response::{HttpResponse, append_headers, empty};

/// The files of `socket.io-client`'s `dist` directory, read once, for
/// [`Driver::serve_client`](crate::Driver::serve_client).
///
/// The bundle is not part of this crate: install the npm package
/// `socket.io-client` and point this at its `dist` directory. The version
/// (the `ETag`) is read from the package's `package.json`, one directory
/// up.
///
/// ```no_run
/// let bundle = runtime_hyper::ClientBundle::from_dir("node_modules/socket.io-client/dist")?;
/// println!("serving socket.io-client {}", bundle.version());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBundle {
    inner: Arc<Bundle>,
}

#[derive(Debug)]
struct Bundle {
    version: String,
    files: HashMap<ClientFile, Bytes>,
    /// Compressed copies, made on first request (compressing the maps with
    /// brotli takes a while; most are never asked for).
    compressed: Mutex<HashMap<(ClientFile, ContentEncoding), Bytes>>,
}

impl ClientBundle {
    /// Reads the eight bundle files from `dist` and the version from
    /// `dist/../package.json`. Fails if a file or the version is missing.
    ///
    /// ```no_run
    /// let bundle = runtime_hyper::ClientBundle::from_dir("node_modules/socket.io-client/dist")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_dir(dist: impl AsRef<Path>) -> io::Result<Self> {
        let dist = dist.as_ref();
        let manifest: PathBuf = dist.join("..").join("package.json");
        let manifest = std::fs::read_to_string(&manifest)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", manifest.display())))?;
        let version = package_version(&manifest).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "no \"version\" in the bundle's package.json",
            )
        })?;
        let mut files = HashMap::new();
        for file in ClientFile::ALL {
            let path = dist.join(file.name());
            let bytes = std::fs::read(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            files.insert(file, Bytes::from(bytes));
        }
        Ok(Self::from_files(version, files))
    }

    /// A bundle from bytes already at hand (tests, bundles embedded by the
    /// application). Files left out answer like any other target of the
    /// engine's path.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use runtime_hyper::ClientBundle;
    /// use runtime_hyper::socketio_proto::serve_client::ClientFile;
    ///
    /// // A bundle embedded in the binary (here: a stand-in).
    /// let files = HashMap::from([(ClientFile::Js, bytes::Bytes::from_static(b"/* socket.io.js */"))]);
    /// let bundle = ClientBundle::from_files("4.8.1", files);
    /// assert_eq!(bundle.version(), "4.8.1");
    /// ```
    pub fn from_files(version: impl Into<String>, files: HashMap<ClientFile, Bytes>) -> Self {
        Self {
            inner: Arc::new(Bundle {
                version: version.into(),
                files,
                compressed: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The package version, sent quoted as the `ETag`.
    ///
    /// ```
    /// use runtime_hyper::ClientBundle;
    ///
    /// let bundle = ClientBundle::from_files("4.8.1", Default::default());
    /// assert_eq!(bundle.version(), "4.8.1"); // the ETag is "4.8.1", quoted
    /// ```
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// `file`'s bytes with `encoding` applied (cached after the first time).
    fn body(&self, file: ClientFile, encoding: Option<ContentEncoding>) -> Option<Bytes> {
        let plain = self.inner.files.get(&file)?;
        let Some(encoding) = encoding else {
            return Some(plain.clone());
        };
        let lock = || {
            self.inner
                .compressed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(done) = lock().get(&(file, encoding)) {
            return Some(done.clone());
        }
        // Compressed outside the lock: two first requests may both do it.
        let done = Bytes::from(compress(plain, encoding).ok()?);
        lock().insert((file, encoding), done.clone());
        Some(done)
    }
}

/// The bundle as served under one engine path.
#[derive(Debug, Clone)]
pub(crate) struct ServedBundle {
    pub(crate) decide: ServeClient,
    pub(crate) bundle: ClientBundle,
}

impl ServedBundle {
    /// The answer to `request` if it is for a bundle file this bundle has.
    pub(crate) fn respond(&self, request: &Request, cors: Option<&Cors>) -> Option<HttpResponse> {
        let file = self.decide.file_for(&request.uri)?;
        if !self.bundle.inner.files.contains_key(&file) {
            return None;
        }
        Some(match self.decide.respond(request, cors)? {
            ClientReply::NotModified => empty(StatusCode::NOT_MODIFIED),
            ClientReply::Preflight(headers) => {
                let mut response = empty(StatusCode::NO_CONTENT);
                append_headers(response.headers_mut(), &headers);
                response
            }
            ClientReply::File {
                file,
                encoding,
                headers,
            } => match self.bundle.body(file, encoding) {
                Some(body) => {
                    let mut response = http::Response::new(body.into());
                    append_headers(response.headers_mut(), &headers);
                    response
                }
                None => empty(StatusCode::INTERNAL_SERVER_ERROR),
            },
        })
    }
}

/// The `"version"` of a `package.json`, read without a JSON parser: the
/// first `"version"` key's string value.
fn package_version(manifest: &str) -> Option<String> {
    let after = manifest.split_once("\"version\"")?.1;
    let value = after.trim_start().strip_prefix(':')?.trim_start();
    let value = value.strip_prefix('"')?;
    let (version, _) = value.split_once('"')?;
    (!version.is_empty()).then(|| version.to_owned())
}

/// Compresses as Node's zlib streams do with their defaults (brotli quality
/// 11 and a 4 MB window; gzip and zlib-wrapped deflate at level 6).
fn compress(plain: &[u8], encoding: ContentEncoding) -> io::Result<Vec<u8>> {
    match encoding {
        ContentEncoding::Brotli => {
            let mut out = Vec::with_capacity(plain.len() / 4);
            {
                let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
                writer.write_all(plain)?;
            }
            Ok(out)
        }
        ContentEncoding::Gzip => {
            let mut writer = flate2::write::GzEncoder::new(
                Vec::with_capacity(plain.len() / 3),
                flate2::Compression::new(6),
            );
            writer.write_all(plain)?;
            writer.finish()
        }
        ContentEncoding::Deflate => {
            let mut writer = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(plain.len() / 3),
                flate2::Compression::new(6),
            );
            writer.write_all(plain)?;
            writer.finish()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn version_from_package_json() {
        assert_eq!(
            package_version("{\n  \"name\": \"socket.io-client\",\n  \"version\": \"4.8.4\",\n}"),
            Some("4.8.4".to_owned())
        );
        assert_eq!(package_version("{\"version\":\"\"}"), None);
        assert_eq!(package_version("{\"name\":\"x\"}"), None);
        assert_eq!(package_version("{\"version\": 4}"), None);
    }

    #[test]
    fn every_encoding_decompresses_to_the_file() {
        let plain: Vec<u8> = b"function io(){return 'socket.io';}\n".repeat(200);
        let br = compress(&plain, ContentEncoding::Brotli).unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        assert!(br.len() < plain.len() / 10);

        let gz = compress(&plain, ContentEncoding::Gzip).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);

        let zlib = compress(&plain, ContentEncoding::Deflate).unwrap();
        assert_eq!(zlib[0], 0x78);
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&zlib[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn from_dir_needs_every_file_and_the_version() {
        let dir = std::env::temp_dir().join(format!("client-bundle-{}", std::process::id()));
        let dist = dir.join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        let missing = ClientBundle::from_dir(&dist).unwrap_err();
        assert!(missing.to_string().contains("package.json"), "{missing}");
        std::fs::write(dir.join("package.json"), "{\"version\": \"9.9.9\"}").unwrap();
        for file in ClientFile::ALL.into_iter().skip(1) {
            std::fs::write(dist.join(file.name()), file.name()).unwrap();
        }
        let missing = ClientBundle::from_dir(&dist).unwrap_err();
        assert!(missing.to_string().contains("socket.io.js"), "{missing}");
        std::fs::write(dist.join("socket.io.js"), "js").unwrap();
        let bundle = ClientBundle::from_dir(&dist).unwrap();
        assert_eq!(bundle.version(), "9.9.9");
        assert_eq!(
            bundle.body(ClientFile::Js, None),
            Some(Bytes::from_static(b"js"))
        );
        // The compressed copy is made once and kept.
        let first = bundle
            .body(ClientFile::Js, Some(ContentEncoding::Gzip))
            .unwrap();
        let second = bundle
            .body(ClientFile::Js, Some(ContentEncoding::Gzip))
            .unwrap();
        assert_eq!(first.as_ptr(), second.as_ptr());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
