//! HTTPS and WSS with rustls, written once for every runtime: the server
//! configuration (PEM certificate chain and key, optional client
//! certificates verified against given CA certificates, ALPN `h2` and
//! `http/1.1`), the accept loop with a bounded handshake, and the choice of
//! HTTP/1.1 or HTTP/2 per connection. A binding supplies only the
//! handshake itself on its own sockets ([`Sockets::tls_accept`]: tokio-rustls
//! or futures-rustls, a few lines).
//!
//! The verified client certificate reaches the core on every request of
//! the connection (a [`TlsInfo`] request extension), and from there the
//! socket's handshake and `socket.conn().peer_certificate()`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::net::{ConnectionOptions, Route, accept_each, bind_std, serve_http};
use crate::runtime::{Sockets, timeout};

/// How long a client may take to finish the TLS handshake by default. A
/// connection that has not finished by then is closed, so half-open
/// handshakes cannot pile up.
///
/// ```
/// assert_eq!(runtime_hyper::DEFAULT_TLS_HANDSHAKE_TIMEOUT.as_secs(), 10);
/// ```
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN names offered when HTTP/2 is on, in order of preference
/// (Node's `http2.createSecureServer({ allowHTTP1: true })`).
const ALPN_H2_AND_H1: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Whether clients must present a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
///
/// ```
/// use runtime_hyper::{ClientAuth, TlsOptions};
///
/// let mut options = TlsOptions::new(std::fs::read("server.pem").unwrap_or_default(), Vec::new());
/// // Mutual TLS: clients present a certificate signed by this CA.
/// options.client_auth = ClientAuth::Required(std::fs::read("clients-ca.pem").unwrap_or_default());
/// ```
pub enum ClientAuth {
    /// Clients are not asked for one (plain HTTPS).
    None,
    /// Clients are asked; one that sends a certificate must chain to these
    /// CA certificates (PEM), one that sends none is let in
    /// (`requestCert: true, rejectUnauthorized: false`).
    Optional(Vec<u8>),
    /// Clients must send a certificate that chains to these CA
    /// certificates (PEM); the handshake fails otherwise (`requestCert:
    /// true`, Node's default `rejectUnauthorized: true`).
    Required(Vec<u8>),
}

/// How to serve TLS: what [`TlsOptions::acceptor`] turns into a
/// [`TlsAcceptor`].
///
/// ```
/// use runtime_hyper::{ClientAuth, TlsOptions};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let mut options = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem());
/// options.http2 = true;
/// let acceptor = options.acceptor().unwrap();
/// assert_eq!(acceptor.rustls_config().alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
///
/// // Client certificates need at least one CA certificate.
/// options.client_auth = ClientAuth::Required(Vec::new());
/// assert!(options.acceptor().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// The server's certificate chain, PEM, leaf first.
    pub cert_chain_pem: Vec<u8>,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
    /// Client certificates (default: none asked).
    pub client_auth: ClientAuth,
    /// Offer HTTP/2 by ALPN beside HTTP/1.1 (default off: HTTP/1.1 only).
    /// Polling works over either; WebSocket needs HTTP/1.1, which clients
    /// pick for it.
    pub http2: bool,
    /// See [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
}

impl TlsOptions {
    /// HTTPS with this certificate chain and key (PEM), no client
    /// certificates, HTTP/1.1 only, the default handshake timeout.
    ///
    /// ```
    /// use runtime_hyper::TlsOptions;
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let options = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem());
    /// assert!(!options.http2);
    /// ```
    pub fn new(cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            client_auth: ClientAuth::None,
            http2: false,
            handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        }
    }

    /// Parses the PEM and builds the rustls configuration (ring's
    /// cryptography, TLS 1.2 and 1.3).
    ///
    /// ```
    /// use runtime_hyper::TlsOptions;
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let options = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem());
    /// assert!(options.acceptor().is_ok());
    /// // Not PEM: refused with the reason.
    /// assert!(TlsOptions::new("nope", "nope").acceptor().is_err());
    /// ```
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let chain = CertificateDer::pem_slice_iter(&self.cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem(format!("certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| TlsError::Pem(format!("private key: {e}")))?;
        // ring, not aws-lc-rs: no C toolchain beyond cc, a short build.
        // rustls 0.23.48 deprecates it only for lacking post-quantum key
        // exchange, which no Socket.IO client asks for.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)?;
        let builder = match &self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(ca) | ClientAuth::Required(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca) {
                    let cert = cert.map_err(|e| TlsError::Pem(format!("client CA: {e}")))?;
                    roots.add(cert)?;
                }
                if roots.is_empty() {
                    return Err(TlsError::NoClientCa);
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if matches!(self.client_auth, ClientAuth::Optional(_)) {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = if self.http2 {
            ALPN_H2_AND_H1.iter().map(|p| p.to_vec()).collect()
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(TlsAcceptor::from_rustls(
            Arc::new(config),
            self.handshake_timeout,
        ))
    }
}

/// Why a TLS configuration was refused.
#[derive(Debug, thiserror::Error)]
///
/// ```
/// use runtime_hyper::TlsOptions;
///
/// match TlsOptions::new("not pem", "not pem").acceptor() {
///     Ok(_) => unreachable!(),
///     Err(error) => eprintln!("TLS refused: {error}"),
/// }
/// ```
pub enum TlsError {
    /// Unreadable PEM.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// The certificate chain holds no certificate.
    #[error("no certificate in the certificate chain")]
    NoCertificate,
    /// Client certificates asked for, but no CA certificate given.
    #[error("no CA certificate to verify client certificates against")]
    NoClientCa,
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// rustls refused the certificate, the key, or a CA certificate.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// A rustls server configuration and a handshake time limit: what the TLS
/// accept loops ([`serve_tls`], [`listen_tls`]) take. Cheap to clone.
#[derive(Debug, Clone)]
///
/// ```
/// use runtime_hyper::TlsOptions;
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let acceptor = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem()).acceptor().unwrap();
/// let copy = acceptor.clone(); // one per accept loop
/// assert_eq!(copy.handshake_timeout(), acceptor.handshake_timeout());
/// ```
pub struct TlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// A rustls configuration built elsewhere (another crypto provider,
    /// certificate resolver...). HTTP/2 is served on connections whose ALPN
    /// picked `h2`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime_hyper::{TlsAcceptor, TlsOptions};
    ///
    /// // A rustls configuration at hand (here: the one TlsOptions built).
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let built = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem()).acceptor().unwrap();
    /// let acceptor = TlsAcceptor::from_rustls(built.rustls_config().clone(), Duration::from_secs(5));
    /// assert_eq!(acceptor.handshake_timeout(), Duration::from_secs(5));
    /// ```
    pub fn from_rustls(config: Arc<rustls::ServerConfig>, handshake_timeout: Duration) -> Self {
        Self {
            config,
            handshake_timeout,
        }
    }

    /// The rustls configuration.
    ///
    /// ```
    /// use runtime_hyper::TlsOptions;
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let acceptor = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem()).acceptor().unwrap();
    /// assert_eq!(acceptor.rustls_config().alpn_protocols, [b"http/1.1".to_vec()]);
    /// ```
    pub fn rustls_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }

    /// The handshake time limit.
    ///
    /// ```
    /// use runtime_hyper::TlsOptions;
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let acceptor = TlsOptions::new(cert.cert.pem(), cert.key_pair.serialize_pem()).acceptor().unwrap();
    /// assert!(acceptor.handshake_timeout().as_secs() > 0);
    /// ```
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

/// Binds `addr` (see [`bind_std`]) and serves every connection over TLS
/// with `route` on `runtime`. Returns once the route is closed, or if
/// binding fails.
///
/// ```no_run
/// async fn run<R: runtime_hyper::Sockets>(runtime: R, route: impl runtime_hyper::Route) {
///     let pem = std::fs::read("cert.pem").unwrap();
///     let key = std::fs::read("key.pem").unwrap();
///     let tls = runtime_hyper::TlsOptions::new(pem, key).acceptor().unwrap();
///     let addr = "127.0.0.1:3443".parse().unwrap();
///     runtime_hyper::listen_tls(runtime, route, addr, tls).await.unwrap();
/// }
/// ```
pub async fn listen_tls<R: Sockets>(
    runtime: R,
    route: impl Route,
    addr: SocketAddr,
    tls: TlsAcceptor,
) -> io::Result<()> {
    let listener = runtime.listener(bind_std(addr)?)?;
    serve_tls(runtime, route, listener, ConnectionOptions::default(), tls).await;
    Ok(())
}

/// Accepts connections on `listener` until `route` is closed, each on a
/// task of its own: the TLS handshake (at most the acceptor's handshake
/// timeout; a failed or late one closes that connection and nothing
/// else), then HTTP/2 if ALPN picked it, HTTP/1.1 with upgrades otherwise.
///
/// ```no_run
/// use runtime_hyper::{ConnectionOptions, Route, Sockets, TlsOptions, bind_std};
///
/// // Serve on a listener made elsewhere (here: bound by hand).
/// async fn run<R: Sockets>(runtime: R, route: impl Route) -> std::io::Result<()> {
///     let tls = TlsOptions::new(std::fs::read("cert.pem")?, std::fs::read("key.pem")?)
///         .acceptor()
///         .expect("a valid certificate and key");
///     let listener = runtime.listener(bind_std("127.0.0.1:3443".parse().unwrap())?)?;
///     let options = ConnectionOptions::default(); // TCP_NODELAY on
///     runtime_hyper::serve_tls(runtime, route, listener, options, tls).await;
///     Ok(())
/// }
/// ```
pub async fn serve_tls<R: Sockets>(
    runtime: R,
    route: impl Route,
    listener: R::Listener,
    options: ConnectionOptions,
    tls: TlsAcceptor,
) {
    accept_each(&runtime, &route, &listener, |stream, remote| {
        let task_runtime = runtime.clone();
        let route = route.clone();
        let tls = tls.clone();
        runtime.spawn(async move {
            let handshake = task_runtime.tls_accept(tls.config.clone(), stream, options.nodelay);
            // A failed or late handshake drops the connection.
            if let Some(Ok((io, info))) =
                timeout(&task_runtime, tls.handshake_timeout, handshake).await
            {
                serve_http(task_runtime, &route, io, remote, Some(info)).await;
            }
        });
    })
    .await;
}
