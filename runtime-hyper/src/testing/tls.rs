//! The TLS scenarios, written once for every runtime: a throwaway CA,
//! server and client certificates made at test time (rcgen), a Socket.IO
//! server behind [`serve_tls`](crate::serve_tls), and blocking rustls
//! clients (HTTPS polling, WSS, a raw HTTP/2 preface, bad handshakes).

// Test support: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use socketio_async::{AckSender, Socket};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::{self, Message as WsMessage, WebSocket};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use socketio_async::SocketIo;

use super::scenarios::WAIT;
use super::{HttpReply, open_sid, request_head};
use crate::{ClientAuth, ConnectionOptions, Sockets, TlsOptions, bind_std, serve_io, serve_tls};

/// A certificate and its key, PEM and DER.
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Issued {
    /// The key as rustls takes it.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_der.clone()).into()
    }
}

/// A throwaway certificate authority.
pub struct TestCa {
    /// Its own certificate.
    pub ca: Issued,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca: issued(&cert, &key),
            cert,
            key,
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> Issued {
        let mut params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate whose subject CN is `cn`.
    pub fn client(&self, cn: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        issued(&cert, &key)
    }
}

fn issued(cert: &rcgen::Certificate, key: &KeyPair) -> Issued {
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// A Socket.IO server over TLS: event `peer-cert` is acknowledged with
/// `[secure, the peer certificate's DER length or null]`.
pub struct TlsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA that signed its certificate (and the accepted clients').
    pub ca: TestCa,
}

impl TlsServer {
    /// Starts one on `runtime`, with `client_auth` built from its CA's
    /// certificate, `http2` as asked and a handshake limit of `handshake`.
    pub fn start<R: Sockets>(
        runtime: R,
        client_auth: fn(Vec<u8>) -> ClientAuth,
        http2: bool,
        handshake: Duration,
    ) -> Self {
        let ca = TestCa::new("scenario CA");
        let server = ca.server();
        let mut options = TlsOptions::new(server.cert_pem, server.key_pem);
        options.client_auth = client_auth(ca.ca.cert_pem.clone().into_bytes());
        options.http2 = http2;
        options.handshake_timeout = handshake;
        let acceptor = options.acceptor().unwrap();

        let io = SocketIo::new();
        io.on_connection(|socket: Socket| async move {
            socket.on(
                "peer-cert",
                |socket: Socket, ack: Option<AckSender>| async move {
                    let len = socket.conn().peer_certificate().map(|der| der.len());
                    let secure = socket.handshake().secure;
                    if let Some(ack) = ack {
                        let _ = ack.send((secure, len));
                    }
                },
            );
        });
        let mut config = socketio_proto::Config::default();
        config.engine.ping_interval = Duration::from_secs(60);
        let driver = serve_io(&io, config, runtime.clone());
        let listener = bind_std(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = runtime.listener(listener).unwrap();
        runtime.spawn(serve_tls(
            runtime.clone(),
            driver,
            listener,
            ConnectionOptions::default(),
            acceptor,
        ));
        Self { addr, ca }
    }

    /// A client configuration that trusts this server's CA, with `client`
    /// as its certificate if given, offering `alpn`.
    pub fn client_config(&self, client: Option<&Issued>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        client_config(&self.ca, client, alpn)
    }

    /// A TLS connection to the server (the handshake runs on first use).
    pub fn connect(&self, config: Arc<ClientConfig>) -> Tls {
        let tcp = TcpStream::connect(self.addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        StreamOwned::new(ClientConnection::new(config, name).unwrap(), tcp)
    }
}

/// A blocking TLS client stream.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A client configuration trusting `ca`.
pub fn client_config(ca: &TestCa, client: Option<&Issued>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.ca.cert_der.clone()).unwrap();
    #[allow(deprecated)] // ring, as the server (see `TlsOptions::acceptor`)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some(issued) => builder
            .with_client_auth_cert(vec![issued.cert_der.clone()], issued.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// One HTTP/1.1 request over `tls`, its whole response.
pub fn https_request(mut tls: Tls, method: &str, target: &str, body: &[u8]) -> HttpReply {
    tls.write_all(request_head(method, target, body.len()).as_bytes())
        .unwrap();
    tls.write_all(body).unwrap();
    let mut raw = Vec::new();
    // The server closes after answering; a missing close_notify is fine.
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading the response: {e}"),
    }
    HttpReply::parse(&raw).expect("not an HTTP response")
}

/// Whether the server refuses `tls`: its handshake fails, or the
/// connection ends without an HTTP response to a request.
pub fn refused(mut tls: Tls) -> bool {
    let head = request_head("GET", "/socket.io/?EIO=4&transport=polling", 0);
    if tls.write_all(head.as_bytes()).is_err() {
        return true;
    }
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Err(e) => {
            assert!(
                !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "the server neither answered nor refused within {WAIT:?}"
            );
            raw.is_empty()
        }
        Ok(_) => raw.is_empty(),
    }
}

/// Polling over HTTPS (with a client certificate the server requires),
/// then WSS on the same session id, and the certificate on
/// `socket.conn()`.
pub fn tls_polling_and_websocket_with_a_client_certificate<R: Sockets>(runtime: R) {
    let server = TlsServer::start(runtime, ClientAuth::Required, false, Duration::from_secs(5));
    let client = server.ca.client("client one");
    let config = server.client_config(Some(&client), &[]);

    // HTTPS polling: open, CONNECT, ask for the certificate, read the ack.
    let reply = https_request(
        server.connect(config.clone()),
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    );
    assert_eq!(reply.status, 200);
    let sid = open_sid(&reply.text()).unwrap().to_owned();
    let target = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let post = https_request(server.connect(config.clone()), "POST", &target, b"40");
    assert_eq!(post.text(), "ok");
    let connect = https_request(server.connect(config.clone()), "GET", &target, b"");
    assert!(
        connect.text().starts_with(r#"40{"sid":""#),
        "{}",
        connect.text()
    );
    let post = https_request(
        server.connect(config.clone()),
        "POST",
        &target,
        br#"421["peer-cert"]"#,
    );
    assert_eq!(post.text(), "ok");
    let ack = https_request(server.connect(config.clone()), "GET", &target, b"");
    let len = client.cert_der.len();
    assert_eq!(ack.text(), format!("431[true,{len}]"));

    // WSS: a fresh session over WebSocket, the same answer.
    let tls = server.connect(config);
    let (mut ws, response): (WebSocket<Tls>, _) = tungstenite::client(
        format!(
            "ws://localhost:{}/socket.io/?EIO=4&transport=websocket",
            server.addr.port()
        ),
        tls,
    )
    .unwrap();
    assert_eq!(response.status(), 101);
    assert!(ws_text(&mut ws).starts_with(r#"0{"sid":""#));
    ws.send(WsMessage::text("40")).unwrap();
    assert!(ws_text(&mut ws).starts_with(r#"40{"sid":""#));
    ws.send(WsMessage::text(r#"427["peer-cert"]"#)).unwrap();
    assert_eq!(ws_text(&mut ws), format!("437[true,{len}]"));
}

/// Client certificates required: a client without one, and one with a
/// certificate from another CA, are refused; a good one still gets in.
pub fn tls_refuses_a_missing_or_foreign_client_certificate<R: Sockets>(runtime: R) {
    let server = TlsServer::start(runtime, ClientAuth::Required, false, Duration::from_secs(5));
    assert!(refused(server.connect(server.client_config(None, &[]))));
    let other = TestCa::new("another CA");
    let foreign = other.client("intruder");
    assert!(refused(
        server.connect(server.client_config(Some(&foreign), &[]))
    ));
    let good = server.ca.client("client one");
    let reply = https_request(
        server.connect(server.client_config(Some(&good), &[])),
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    );
    assert_eq!(reply.status, 200);
}

/// Client certificates optional: a client without one gets in, and
/// `socket.conn()` has no certificate.
pub fn tls_optional_client_certificate<R: Sockets>(runtime: R) {
    let server = TlsServer::start(runtime, ClientAuth::Optional, false, Duration::from_secs(5));
    let tls = server.connect(server.client_config(None, &[]));
    let (mut ws, _): (WebSocket<Tls>, _) = tungstenite::client(
        format!(
            "ws://localhost:{}/socket.io/?EIO=4&transport=websocket",
            server.addr.port()
        ),
        tls,
    )
    .unwrap();
    assert!(ws_text(&mut ws).starts_with(r#"0{"sid":""#));
    ws.send(WsMessage::text("40")).unwrap();
    assert!(ws_text(&mut ws).starts_with(r#"40{"sid":""#));
    ws.send(WsMessage::text(r#"421["peer-cert"]"#)).unwrap();
    assert_eq!(ws_text(&mut ws), "431[true,null]");
}

/// A handshake that never finishes is closed at the handshake timeout
/// (and one stalled mid-record too); plain HTTP on the TLS port gets no
/// HTTP answer; meanwhile a good client is served.
pub fn tls_bad_handshakes_are_closed_and_others_served<R: Sockets>(runtime: R) {
    let server = TlsServer::start(
        runtime,
        |_| ClientAuth::None,
        false,
        Duration::from_millis(300),
    );
    // Connected, silent: closed by the server once the limit passes (the
    // read's own timeout, WAIT, is far longer).
    let silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    // The header of a TLS handshake record announcing 512 bytes, then
    // nothing.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.set_read_timeout(Some(WAIT)).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    // A good client is served while both hang.
    let reply = https_request(
        server.connect(server.client_config(None, &[])),
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        b"",
    );
    assert_eq!(reply.status, 200);
    for mut stream in [silent, stalled] {
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("unexpected {n} bytes: {:?}", &buf[..n]),
            Err(e) => assert!(
                !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "not closed within {WAIT:?}"
            ),
        }
    }
    // Plain HTTP: whatever comes back (a TLS alert at most) is not HTTP,
    // and the connection ends.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain
        .write_all(request_head("GET", "/socket.io/?EIO=4&transport=polling", 0).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(!raw.starts_with(b"HTTP"), "{raw:?}");
    assert!(raw.len() < 64, "{raw:?}");
}

/// With HTTP/2 on, ALPN picks `h2` for a client that offers it (the
/// server opens with its SETTINGS frame) and `http/1.1` for one that
/// offers only that.
pub fn tls_alpn_offers_http2_and_http1<R: Sockets>(runtime: R) {
    let server = TlsServer::start(runtime, |_| ClientAuth::None, true, Duration::from_secs(5));
    let mut h2 = server.connect(server.client_config(None, &[b"h2", b"http/1.1"]));
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    h2.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut frame = [0u8; 9];
    h2.read_exact(&mut frame).unwrap();
    assert_eq!(h2.conn.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(frame[3], 4, "not a SETTINGS frame: {frame:?}");

    let h1 = server.connect(server.client_config(None, &[b"http/1.1"]));
    let reply = https_request(h1, "GET", "/socket.io/?EIO=4&transport=polling", b"");
    assert_eq!(reply.status, 200);
}

fn ws_text(ws: &mut WebSocket<Tls>) -> String {
    loop {
        match ws.read().unwrap() {
            WsMessage::Text(t) => return t.as_str().to_owned(),
            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Every TLS scenario, by name (see [`for_each_scenario`](crate::for_each_scenario)).
#[macro_export]
macro_rules! for_each_tls_scenario {
    ($m:ident) => {
        $m!(
            tls_polling_and_websocket_with_a_client_certificate,
            tls_refuses_a_missing_or_foreign_client_certificate,
            tls_optional_client_certificate,
            tls_bad_handshakes_are_closed_and_others_served,
            tls_alpn_offers_http2_and_http1,
        );
    };
}
