//! Starting and stopping the servers under test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How one server under test is started.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Name in the tables.
    pub name: &'static str,
    /// What it is, for the report.
    pub about: &'static str,
    /// The program.
    pub program: PathBuf,
    /// Arguments before the harness's own (`--port 0 --ping-interval-ms ...`).
    pub args: Vec<String>,
    /// A Socket.IO server (false: the raw WebSocket echo).
    pub socketio: bool,
    /// It serves HTTPS / WSS (the harness's certificate).
    pub tls: bool,
    /// It speaks the msgpack parser.
    pub msgpack: bool,
    /// Nodes started for one run: 1, or 2 on one Redis (given
    /// `--redis URL`).
    pub nodes: usize,
}

/// Where the harness's TLS certificate and key are (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

impl ServerSpec {
    /// Every server the harness knows, from the binaries in `bin_dir` and
    /// the Node project in `node_dir`.
    pub fn all(bin_dir: &Path, node_dir: &Path, tls: &TlsFiles) -> Vec<ServerSpec> {
        let tls_args = || {
            vec![
                "--tls-cert".to_owned(),
                tls.cert.to_string_lossy().into_owned(),
                "--tls-key".to_owned(),
                tls.key.to_string_lossy().into_owned(),
            ]
        };
        let ours = |name: &'static str, about: &'static str, extra: &[&str]| {
            let mut args = vec!["--runtime".to_owned(), "tokio".to_owned()];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            ServerSpec {
                name,
                about,
                program: bin_dir.join("bench-ours"),
                args,
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            }
        };
        let node = |name: &'static str, about: &'static str, extra: &[&str]| {
            let mut args = vec![node_dir.join("server.js").to_string_lossy().into_owned()];
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            ServerSpec {
                name,
                about,
                program: PathBuf::from("node"),
                args,
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            }
        };
        let with_tls = |mut spec: ServerSpec| {
            spec.args.extend(tls_args());
            spec.tls = true;
            spec
        };
        let msgpack = |mut spec: ServerSpec| {
            spec.msgpack = true;
            spec
        };
        let two_nodes = |mut spec: ServerSpec| {
            spec.nodes = 2;
            spec
        };
        let mut all = vec![
            ServerSpec {
                name: "ours-tokio",
                about: "this project: runtime-tokio, default config (a full send queue closes the session with a reason)",
                program: bin_dir.join("bench-ours"),
                args: vec!["--runtime".into(), "tokio".into()],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "ours-async-std",
                about: "this project on async-std: runtime-async-std, the same handlers and config",
                program: bin_dir.join("bench-ours"),
                args: vec!["--runtime".into(), "async-std".into()],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "ours-smol",
                about: "this project on smol: runtime-async-std with a smol executor on 2 threads, the same handlers and config",
                program: bin_dir.join("bench-ours"),
                args: vec!["--runtime".into(), "smol".into()],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "ours-tokio-1-worker",
                about: "ours-tokio on one worker thread (current-thread runtime), to measure how throughput scales from 1 to 2 workers (DEPLOYMENT.md)",
                program: bin_dir.join("bench-ours"),
                args: vec![
                    "--runtime".into(),
                    "tokio".into(),
                    "--workers".into(),
                    "1".into(),
                ],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "ours-tokio-nodelay-off",
                about: "ours-tokio with TCP_NODELAY off (to choose its default by measurement)",
                program: bin_dir.join("bench-ours"),
                args: vec![
                    "--runtime".into(),
                    "tokio".into(),
                    "--nodelay".into(),
                    "off".into(),
                ],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "socketioxide",
                about: "socketioxide 0.18 from crates.io on hyper, its defaults (outgoing queue 128 per client, drops past it)",
                program: bin_dir.join("bench-socketioxide"),
                args: vec![],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "socketioxide-big",
                about: "socketioxide with its outgoing queue raised to 65536 (max_buffer_size), so it does not drop",
                program: bin_dir.join("bench-socketioxide"),
                args: vec!["--buffer".into(), "65536".into()],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "node",
                about: "the official Node server, npm socket.io 4.8 (default ws engine)",
                program: PathBuf::from("node"),
                args: vec![node_dir.join("server.js").to_string_lossy().into_owned()],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "raw-ws",
                about: "raw WebSocket echo on tokio-tungstenite 0.30 (the crate runtime-tokio used for its WebSocket framing until 2026-12-07; 1 KiB read and 8 KiB write buffers), no Socket.IO framing; echoes every frame already readable, then flushes once (one write per batch)",
                program: bin_dir.join("bench-raw-ws"),
                args: vec![],
                socketio: false,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
            ServerSpec {
                name: "raw-ws-frame",
                about: "the same raw echo sending and flushing frame by frame (one write per frame)",
                program: bin_dir.join("bench-raw-ws"),
                args: vec!["--flush".into(), "frame".into()],
                socketio: false,
                tls: false,
                msgpack: false,
                nodes: 1,
            },
        ];
        all.extend([
            ours(
                "ours-tokio-deflate",
                "ours-tokio with perMessageDeflate on as we default it when on: threshold 1024 B, level 6, no context takeover (server_ and client_no_context_takeover)",
                &["--per-message-deflate", "on"],
            ),
            ours(
                "ours-tokio-deflate-takeover",
                "ours-tokio with perMessageDeflate on and context takeover (compressor kept between messages, as Node's ws default)",
                &["--per-message-deflate", "takeover"],
            ),
            node(
                "node-deflate",
                "Node with perMessageDeflate { threshold: 1024 } and ws's defaults (context takeover on both sides)",
                &["--per-message-deflate", "takeover"],
            ),
            node(
                "node-deflate-no-takeover",
                "Node with perMessageDeflate, threshold 1024, serverNoContextTakeover and clientNoContextTakeover",
                &["--per-message-deflate", "on"],
            ),
            msgpack(ours(
                "ours-tokio-msgpack",
                "ours-tokio with the msgpack parser (npm socket.io-msgpack-parser's format)",
                &["--parser", "msgpack"],
            )),
            msgpack(ServerSpec {
                name: "socketioxide-msgpack",
                about: "socketioxide 0.18 with its msgpack parser (feature `msgpack`), outgoing queue 65536 so that broadcast does not drop",
                program: bin_dir.join("bench-socketioxide"),
                args: vec![
                    "--parser".into(),
                    "msgpack".into(),
                    "--buffer".into(),
                    "65536".into(),
                ],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            }),
            msgpack(node(
                "node-msgpack",
                "Node with parser: require(\"socket.io-msgpack-parser\") (npm 3.0)",
                &["--parser", "msgpack"],
            )),
            with_tls(ours(
                "ours-tokio-tls",
                "ours-tokio over TLS (rustls 0.23, ring, TLS 1.3 negotiated), the harness's self-signed certificate",
                &[],
            )),
            with_tls(node(
                "node-tls",
                "Node over TLS: https.createServer (OpenSSL, TLS 1.3 negotiated) with the same certificate",
                &[],
            )),
            two_nodes(ours(
                "ours-tokio-2-nodes",
                "two ours-tokio nodes on one redis-server with our classic Redis adapter (adapter-redis, key socket.io)",
                &[],
            )),
            two_nodes(node(
                "node-2-nodes",
                "two Node nodes on one redis-server with @socket.io/redis-adapter 8.3 (createAdapter, defaults) on node-redis 4",
                &[],
            )),
        ]);
        // A/B runs: another build of `bench-ours` (say main's, copied
        // aside) as `ours-tokio-b`, run beside `ours-tokio` in the echo and
        // polling scenarios (bench/README.md).
        if let Some(program) = std::env::var_os(OURS_B_ENV) {
            all.push(ServerSpec {
                name: OURS_B,
                about: "the bench-ours binary named by $BENCH_OURS_B (an A/B run), on tokio, the same handlers and config",
                program: PathBuf::from(program),
                args: vec!["--runtime".into(), "tokio".into()],
                socketio: true,
                tls: false,
                msgpack: false,
                nodes: 1,
            });
        }
        all
    }
}

/// The environment variable naming the `bench-ours` binary of an A/B run.
pub const OURS_B_ENV: &str = "BENCH_OURS_B";
/// That binary's name in the tables.
pub const OURS_B: &str = "ours-tokio-b";

/// A server process the harness started.
pub struct Running {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Running {
    /// Starts `spec` on a free port with the given heartbeat, its stderr
    /// going to `log`, and waits for its `listening <port>` line.
    pub async fn start(
        spec: &ServerSpec,
        extra: &[String],
        ping_interval_ms: u64,
        log: &Path,
    ) -> Result<Running, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(&spec.program)
            .args(&spec.args)
            .args(extra)
            .args([
                "--port",
                "0",
                "--ping-interval-ms",
                &ping_interval_ms.to_string(),
            ])
            .args(["--ping-timeout-ms", "20000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {}: {e}", spec.program.display()))?;
        let pid = child.id().ok_or("no pid")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| format!("{} did not announce its port within 30 s", spec.name))?
            .map_err(|e| format!("{}: {e}", spec.name))?
            .ok_or_else(|| {
                format!(
                    "{} exited before listening (see {})",
                    spec.name,
                    log.display()
                )
            })?;
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("{}: unexpected first line {line:?}", spec.name))?;
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Running { child, pid, port })
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A redis-server of the harness's own (no persistence) on a free port.
pub struct Redis {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Redis {
    /// Starts `redis-server` and waits until it accepts connections.
    pub async fn start(log: &Path) -> Result<Redis, String> {
        // A free port: bound by the OS, released, handed to redis-server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start redis-server: {e}"))?;
        let pid = child.id().ok_or("no pid")?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Redis { child, pid, port });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("redis-server did not listen on {port} within 5 s"))
    }

    /// Kills it and waits.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
