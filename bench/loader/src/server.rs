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
}

impl ServerSpec {
    /// Every server the harness knows, from the binaries in `bin_dir` and
    /// the Node project in `node_dir`.
    pub fn all(bin_dir: &Path, node_dir: &Path) -> Vec<ServerSpec> {
        vec![
            ServerSpec {
                name: "ours-tokio",
                about: "this project: runtime-tokio, default config (a full send queue closes the session with a reason)",
                program: bin_dir.join("bench-ours"),
                args: vec!["--runtime".into(), "tokio".into()],
                socketio: true,
            },
            ServerSpec {
                name: "ours-async-std",
                about: "this project on async-std: runtime-async-std, the same handlers and config",
                program: bin_dir.join("bench-ours"),
                args: vec!["--runtime".into(), "async-std".into()],
                socketio: true,
            },
            ServerSpec {
                name: "ours-smol",
                about: "this project on smol: runtime-async-std with a smol executor on 2 threads, the same handlers and config",
                program: bin_dir.join("bench-ours"),
                args: vec!["--runtime".into(), "smol".into()],
                socketio: true,
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
            },
            ServerSpec {
                name: "socketioxide",
                about: "socketioxide 0.18 from crates.io on hyper, its defaults (outgoing queue 128 per client, drops past it)",
                program: bin_dir.join("bench-socketioxide"),
                args: vec![],
                socketio: true,
            },
            ServerSpec {
                name: "socketioxide-big",
                about: "socketioxide with its outgoing queue raised to 65536 (max_buffer_size), so it does not drop",
                program: bin_dir.join("bench-socketioxide"),
                args: vec!["--buffer".into(), "65536".into()],
                socketio: true,
            },
            ServerSpec {
                name: "node",
                about: "the official Node server, npm socket.io 4.8 (default ws engine)",
                program: PathBuf::from("node"),
                args: vec![node_dir.join("server.js").to_string_lossy().into_owned()],
                socketio: true,
            },
            ServerSpec {
                name: "raw-ws",
                about: "raw WebSocket echo on tokio-tungstenite 0.30 (the crate and buffer sizes runtime-tokio uses), no Socket.IO framing; echoes every frame already readable, then flushes once (one write per batch)",
                program: bin_dir.join("bench-raw-ws"),
                args: vec![],
                socketio: false,
            },
            ServerSpec {
                name: "raw-ws-frame",
                about: "the same raw echo sending and flushing frame by frame (one write per frame)",
                program: bin_dir.join("bench-raw-ws"),
                args: vec!["--flush".into(), "frame".into()],
                socketio: false,
            },
        ]
    }
}

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
        ping_interval_ms: u64,
        log: &Path,
    ) -> Result<Running, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(&spec.program)
            .args(&spec.args)
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
