//! The project's binaries (see `src/bin`): `demo` (README's first
//! command), `conformance-fixture` (the fixture of docs/protocol.md, for the
//! official protocol test suites) and `interop-server` (what the interop
//! tests in `tests/interop` talk to).
//!
//! The library holds what lets one binary serve on any of the three
//! runtimes (`--runtime tokio|async-std|smol`): an [`App`] is written once,
//! generic over [`Sockets`] (a [`Runtime`] with TCP sockets), and [`run`] starts the chosen runtime and runs
//! it there.

use std::future::Future;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use runtime_async_std::{AsyncIo, AsyncStd};
pub use runtime_hyper::{Runtime, Sockets};
use runtime_tokio::Tokio;

/// Which runtime a binary serves on.
///
/// ```
/// use servers::RuntimeKind;
///
/// assert_eq!("async-std".parse::<RuntimeKind>(), Ok(RuntimeKind::AsyncStd));
/// assert_eq!(RuntimeKind::Smol.name(), "smol");
/// assert!("glommio".parse::<RuntimeKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// tokio (`runtime-tokio`): current-thread with one worker, the
    /// multi-thread scheduler with more.
    #[default]
    Tokio,
    /// async-std (`runtime-async-std` with [`AsyncStd`]): its global
    /// executor, sized to the workers asked for.
    AsyncStd,
    /// smol (`runtime-async-std` with an `Arc<smol::Executor>`): one
    /// executor run by the main thread and one more thread per extra
    /// worker.
    Smol,
}

impl RuntimeKind {
    /// The name `--runtime` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::AsyncStd => "async-std",
            Self::Smol => "smol",
        }
    }
}

impl FromStr for RuntimeKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "tokio" => Ok(Self::Tokio),
            "async-std" => Ok(Self::AsyncStd),
            "smol" => Ok(Self::Smol),
            other => Err(format!(
                "unknown runtime {other:?}: tokio, async-std or smol"
            )),
        }
    }
}

/// A server written once for every runtime.
///
/// ```no_run
/// use std::process::ExitCode;
/// use servers::{App, RuntimeKind, Sockets};
///
/// struct Echo;
///
/// impl App for Echo {
///     async fn run<R: Sockets>(self, runtime: R) -> ExitCode {
///         let io = runtime_hyper::socketio_async::SocketIo::new();
///         let driver = runtime_hyper::serve_io(&io, Default::default(), runtime);
///         match driver.listen("127.0.0.1:3201".parse().unwrap()).await {
///             Ok(()) => ExitCode::SUCCESS,
///             Err(_) => ExitCode::FAILURE,
///         }
///     }
/// }
///
/// servers::run(RuntimeKind::Smol, 1, Echo);
/// ```
pub trait App {
    /// Serves on `runtime` (spawn through it, bind with its listener) until
    /// done.
    fn run<R: Sockets>(self, runtime: R) -> impl Future<Output = ExitCode>;
}

/// Starts `kind` with `workers` worker threads (at least one) and runs
/// `app` on it.
///
/// One worker means one event loop, as the Node server has: what arrives
/// on two connections back to back is handled in that order.
///
/// ```
/// use std::process::ExitCode;
/// use servers::{App, RuntimeKind, Sockets};
///
/// /// Checks that the runtime's timer and spawn work, then ends.
/// struct Tick;
///
/// impl App for Tick {
///     async fn run<R: Sockets>(self, runtime: R) -> ExitCode {
///         let at = std::time::Instant::now() + std::time::Duration::from_millis(1);
///         runtime.sleep_until(at).await;
///         ExitCode::SUCCESS
///     }
/// }
///
/// for kind in [RuntimeKind::Tokio, RuntimeKind::AsyncStd, RuntimeKind::Smol] {
///     assert_eq!(servers::run(kind, 2, Tick), ExitCode::SUCCESS);
/// }
/// ```
pub fn run(kind: RuntimeKind, workers: usize, app: impl App) -> ExitCode {
    let workers = workers.max(1);
    match kind {
        RuntimeKind::Tokio => {
            let runtime = if workers == 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_all()
                    .build()
            };
            match runtime {
                Ok(runtime) => runtime.block_on(app.run(Tokio)),
                Err(e) => {
                    eprintln!("cannot start tokio: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        RuntimeKind::AsyncStd => {
            // Sizes the global executor async-std spawns on; this must come
            // before its first task, which would start the default size.
            async_global_executor::init_with_config(
                async_global_executor::GlobalExecutorConfig::default()
                    .with_min_threads(workers)
                    .with_max_threads(workers),
            );
            async_std::task::block_on(app.run(AsyncIo(AsyncStd)))
        }
        RuntimeKind::Smol => {
            let executor = Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let threads: Vec<_> = (1..workers)
                .map(|_| {
                    let executor = executor.clone();
                    let stopped = stopped.clone();
                    std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
                })
                .collect();
            let code = smol::block_on(executor.run(app.run(AsyncIo(executor.clone()))));
            drop(stop);
            for thread in threads {
                let _ = thread.join();
            }
            code
        }
    }
}

/// `GET`/`HEAD /health` answered `200 ok`: the check load balancers make
/// (DEPLOYMENT.md), beside the Socket.IO route ([`runtime_hyper::Or`]).
///
/// ```
/// use runtime_hyper::Route;
///
/// assert!(servers::Health.matches("/health"));
/// assert!(servers::Health.matches("/health?probe=1"));
/// assert!(!servers::Health.matches("/healthz"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Health;

impl runtime_hyper::Route for Health {
    fn matches(&self, target: &str) -> bool {
        target.split('?').next() == Some("/health")
    }

    async fn call(
        &self,
        request: http::Request<hyper::body::Incoming>,
        _: std::net::SocketAddr,
    ) -> runtime_hyper::HttpResponse {
        let status = match *request.method() {
            http::Method::GET | http::Method::HEAD => http::StatusCode::OK,
            _ => http::StatusCode::METHOD_NOT_ALLOWED,
        };
        let mut response = http::Response::new(bytes::Bytes::from_static(b"ok").into());
        *response.status_mut() = status;
        response
    }
}

/// The `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--http2` and
/// `--tls-handshake-timeout-ms` flags the binaries share, read into a
/// [`runtime_hyper::TlsOptions`]: `None` without `--tls-cert`.
///
/// ```
/// let tls = servers::TlsArgs::default();
/// assert!(tls.options().unwrap().is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct TlsArgs {
    /// `--tls-cert FILE`: PEM certificate chain.
    pub cert: Option<String>,
    /// `--tls-key FILE`: PEM private key.
    pub key: Option<String>,
    /// `--tls-client-ca FILE`: PEM CA certificates; client certificates are
    /// then required.
    pub client_ca: Option<String>,
    /// `--http2`: offer HTTP/2 by ALPN beside HTTP/1.1.
    pub http2: bool,
    /// `--tls-handshake-timeout-ms MS`.
    pub handshake_timeout: Option<std::time::Duration>,
}

impl TlsArgs {
    /// Takes `flag` (with its value from `value`) if it is one of these
    /// flags; `Ok(false)` if it is not.
    pub fn parse_flag(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        match flag {
            "--tls-cert" => self.cert = Some(value()?),
            "--tls-key" => self.key = Some(value()?),
            "--tls-client-ca" => self.client_ca = Some(value()?),
            "--http2" => self.http2 = true,
            "--tls-handshake-timeout-ms" => {
                let ms = value()?
                    .parse()
                    .map_err(|e| format!("--tls-handshake-timeout-ms: {e}"))?;
                self.handshake_timeout = Some(std::time::Duration::from_millis(ms));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Reads the files into TLS options.
    pub fn options(&self) -> Result<Option<runtime_hyper::TlsOptions>, String> {
        let read = |path: &str| std::fs::read(path).map_err(|e| format!("{path}: {e}"));
        let Some(cert) = &self.cert else {
            if self.key.is_some() || self.client_ca.is_some() || self.http2 {
                return Err("--tls-key, --tls-client-ca and --http2 need --tls-cert".into());
            }
            return Ok(None);
        };
        let key = self.key.as_deref().ok_or("--tls-cert needs --tls-key")?;
        let mut options = runtime_hyper::TlsOptions::new(read(cert)?, read(key)?);
        if let Some(ca) = &self.client_ca {
            options.client_auth = runtime_hyper::ClientAuth::Required(read(ca)?);
        }
        options.http2 = self.http2;
        if let Some(limit) = self.handshake_timeout {
            options.handshake_timeout = limit;
        }
        Ok(Some(options))
    }
}

/// The subject common name (`CN`) of a DER X.509 certificate, if it has one
/// in UTF-8, printable or IA5 form: what the fixtures answer `peer-cert`
/// with. Malformed input gives `None`.
///
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// // rcgen names a simple self-signed certificate "rcgen self signed cert".
/// assert_eq!(
///     servers::subject_common_name(cert.cert.der()).as_deref(),
///     Some("rcgen self signed cert")
/// );
/// assert_eq!(servers::subject_common_name(b"\x30\x03\x02\x01"), None);
/// ```
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (0x30, cert, _) = der_tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = der_tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version (optional), serial, signature algorithm, issuer,
    // validity, then the subject.
    if let Some((0xa0, _, after)) = der_tlv(rest) {
        rest = after;
    }
    for _ in 0..4 {
        rest = der_tlv(rest)?.2;
    }
    let (0x30, mut subject, _) = der_tlv(rest)? else {
        return None;
    };
    while let Some((0x31, mut set, next)) = der_tlv(subject) {
        while let Some((0x30, attribute, after)) = der_tlv(set) {
            if let Some((0x06, oid, value)) = der_tlv(attribute) {
                if oid == CN {
                    let (tag, text, _) = der_tlv(value)?;
                    // UTF8String, PrintableString, IA5String.
                    return matches!(tag, 0x0c | 0x13 | 0x16)
                        .then(|| String::from_utf8(text.to_vec()).ok())
                        .flatten();
                }
            }
            set = after;
        }
        subject = next;
    }
    None
}

/// One DER tag-length-value: (tag, content, what follows).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}
