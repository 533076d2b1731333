//! What a finished TLS handshake tells about a connection (a leaf: a
//! binding's [`Sockets::tls_accept`](crate::Sockets::tls_accept) produces
//! it, the HTTP layer attaches it to every request of the connection).

use bytes::Bytes;
use rustls::server::ServerConnection;

/// What a finished TLS handshake tells about the connection; every request
/// on it carries a copy as an `http` request extension, which the driver
/// reads (the engine's `secure` flag and `peer_certificate`).
///
/// ```
/// let info = runtime_hyper::TlsInfo { peer_certificate: None, http2: false };
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(info.clone());
/// assert_eq!(request.extensions().get::<runtime_hyper::TlsInfo>(), Some(&info));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// The client's certificate (DER, the leaf of the chain it sent), which
    /// rustls verified; `None` if it sent none.
    pub peer_certificate: Option<Bytes>,
    /// Whether ALPN picked HTTP/2.
    pub http2: bool,
}

impl TlsInfo {
    /// Reads a finished handshake (what a binding's
    /// [`Sockets::tls_accept`](crate::Sockets::tls_accept) returns beside the stream).
    ///
    /// ```
    /// use runtime_hyper::TlsInfo;
    /// use runtime_hyper::rustls::server::ServerConnection;
    ///
    /// // Called by a binding once its TLS handshake is done.
    /// fn info(connection: &ServerConnection) -> TlsInfo {
    ///     let info = TlsInfo::from_connection(connection);
    ///     assert_eq!(info.http2, connection.alpn_protocol() == Some(&b"h2"[..]));
    ///     info
    /// }
    /// # drop(info);
    /// ```
    pub fn from_connection(connection: &ServerConnection) -> Self {
        Self {
            peer_certificate: connection
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| Bytes::copy_from_slice(leaf.as_ref())),
            http2: connection.alpn_protocol() == Some(b"h2"),
        }
    }
}
