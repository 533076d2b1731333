//! `serveClient` over real sockets: every bundle file with the official
//! headers, `304` on the ETag (strong and weak), each compression decoded
//! back to the file, CORS preflight, and the engine still answering the
//! rest of its path. The bundle here is made of small known files; the
//! real npm bundle is served the same way in `tests/browser`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;

use bytes::Bytes;
use runtime_hyper::testing::HttpReply;
use runtime_tokio::socketio_async::SocketIo;
use runtime_tokio::socketio_proto::Config;
use runtime_tokio::socketio_proto::serve_client::ClientFile;
use runtime_tokio::{ClientBundle, bind, serve, serve_io};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for a response.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A bundle whose files are their names repeated (compressible, distinct).
fn bundle(version: &str) -> (ClientBundle, HashMap<ClientFile, Bytes>) {
    let files: HashMap<ClientFile, Bytes> = ClientFile::ALL
        .into_iter()
        .map(|file| (file, Bytes::from(file.name().repeat(300))))
        .collect();
    (ClientBundle::from_files(version, files.clone()), files)
}

/// Serves a Socket.IO server (kept alive by the returned handle) on a
/// free port.
async fn start(config: Config, bundle: Option<ClientBundle>) -> (SocketAddr, SocketIo) {
    let io = SocketIo::new();
    let driver = serve_io(&io, config);
    if let Some(bundle) = bundle {
        assert!(driver.serve_client(bundle).is_ok());
    }
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(driver, listener));
    (addr, io)
}

/// One request with extra headers, its whole response.
async fn fetch(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> HttpReply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("no response")
        .unwrap();
    HttpReply::parse(&raw).expect("not an HTTP response")
}

#[tokio::test]
async fn every_file_with_the_official_headers() {
    let (bundle, files) = bundle("4.8.4");
    let (addr, _io) = start(Config::default(), Some(bundle)).await;
    for file in ClientFile::ALL {
        let reply = fetch(addr, "GET", &format!("/socket.io/{}?v=2", file.name()), &[]).await;
        assert_eq!(reply.status, 200, "{}", file.name());
        assert_eq!(reply.body, files[&file].as_ref(), "{}", file.name());
        let content_type = if file.name().ends_with(".map") {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        };
        assert_eq!(reply.header("content-type"), Some(content_type));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=0"));
        assert_eq!(reply.header("etag"), Some("\"4.8.4\""));
        assert_eq!(reply.header("content-encoding"), None);
        assert_eq!(
            reply.header("content-length"),
            Some(files[&file].len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn not_modified_on_the_etag() {
    let (bundle, _) = bundle("4.8.4");
    let (addr, _io) = start(Config::default(), Some(bundle)).await;
    for tag in ["\"4.8.4\"", "W/\"4.8.4\""] {
        let reply = fetch(
            addr,
            "GET",
            "/socket.io/socket.io.min.js",
            &[("If-None-Match", tag)],
        )
        .await;
        assert_eq!(reply.status, 304, "{tag}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("etag"), None);
        assert_eq!(reply.header("content-type"), None);
    }
    let stale = fetch(
        addr,
        "GET",
        "/socket.io/socket.io.min.js",
        &[("If-None-Match", "\"4.8.0\"")],
    )
    .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("etag"), Some("\"4.8.4\""));
}

#[tokio::test]
async fn compressed_as_accept_encoding_asks() {
    let (bundle, files) = bundle("1.0.0");
    let (addr, _io) = start(Config::default(), Some(bundle)).await;
    let plain = files[&ClientFile::Js].to_vec();
    let cases = [
        ("br", "br"),
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        // A browser's header: equal q, the header's order decides.
        ("gzip, deflate, br, zstd", "gzip"),
        ("deflate;q=0.5, br;q=0.9", "br"),
    ];
    for (accept, expected) in cases {
        let reply = fetch(
            addr,
            "GET",
            "/socket.io/socket.io.js",
            &[("Accept-Encoding", accept)],
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-encoding"), Some(expected), "{accept}");
        assert!(
            reply.body.len() < plain.len() / 5,
            "{accept}: not compressed"
        );
        let mut decoded = Vec::new();
        match expected {
            "br" => brotli::Decompressor::new(&reply.body[..], 4096)
                .read_to_end(&mut decoded)
                .unwrap(),
            "gzip" => flate2::read::GzDecoder::new(&reply.body[..])
                .read_to_end(&mut decoded)
                .unwrap(),
            _ => flate2::read::ZlibDecoder::new(&reply.body[..])
                .read_to_end(&mut decoded)
                .unwrap(),
        };
        assert_eq!(decoded, plain, "{accept}");
    }
    let identity = fetch(
        addr,
        "GET",
        "/socket.io/socket.io.js",
        &[("Accept-Encoding", "identity")],
    )
    .await;
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(identity.body, plain);
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let (bundle, _) = bundle("1.0.0");
    let mut config = Config::default();
    config.engine.cors = Some(Default::default());
    let (addr, _io) = start(config, Some(bundle)).await;
    let preflight = fetch(
        addr,
        "OPTIONS",
        "/socket.io/socket.io.js",
        &[
            ("Origin", "http://a.test"),
            ("Access-Control-Request-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(preflight.body.is_empty());
    let file = fetch(
        addr,
        "GET",
        "/socket.io/socket.io.js",
        &[("Origin", "http://a.test")],
    )
    .await;
    assert_eq!(file.status, 200);
    assert_eq!(file.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn the_engine_keeps_the_rest_of_its_path() {
    let (bundle, _) = bundle("1.0.0");
    let (addr, _io) = start(Config::default(), Some(bundle)).await;
    let open = fetch(addr, "GET", "/socket.io/?EIO=4&transport=polling", &[]).await;
    assert_eq!(open.status, 200);
    assert!(open.text().starts_with("0{\"sid\":"), "{}", open.text());
    // Not a bundle file: the engine's answer to an unknown transport.
    let other = fetch(addr, "GET", "/socket.io/socket.io.esm.js", &[]).await;
    assert_eq!(other.status, 400);
    assert_eq!(
        other.text(),
        "{\"code\":0,\"message\":\"Transport unknown\"}"
    );
}

#[tokio::test]
async fn without_a_bundle_the_engine_answers() {
    let (addr, _io) = start(Config::default(), None).await;
    let reply = fetch(addr, "GET", "/socket.io/socket.io.js", &[]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.text(),
        "{\"code\":0,\"message\":\"Transport unknown\"}"
    );
}

#[tokio::test]
async fn a_custom_path_serves_under_it() {
    let (bundle, files) = bundle("1.0.0");
    let mut config = Config::default();
    config.engine.path = "/custom/".to_owned();
    let (addr, _io) = start(config, Some(bundle)).await;
    let reply = fetch(addr, "GET", "/custom/socket.io.min.js", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, files[&ClientFile::MinJs].as_ref());
    let head = fetch(addr, "HEAD", "/custom/socket.io.min.js", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), Some("\"1.0.0\""));
}
