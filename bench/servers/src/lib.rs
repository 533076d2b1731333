//! What the benchmark servers share: command-line flags, the file limit, and
//! our server's handlers.
//!
//! Every server answers the same three events on namespace `/`:
//! `echo` is emitted back with the same arguments, `echo-ack` is
//! acknowledged with the same arguments, and `broadcast` is emitted to room
//! `all`, which every socket joins on connect (the sender included). Each
//! prints `listening <port>` on stdout once it accepts connections.

use std::time::Duration;

pub mod ours;

/// Flags every benchmark server takes.
#[derive(Debug, Clone)]
pub struct Args {
    /// Port on 127.0.0.1; 0 picks a free one (printed).
    pub port: u16,
    /// Engine.IO ping interval.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout.
    pub ping_timeout: Duration,
    /// Outgoing queue per client (socketioxide's `max_buffer_size`); `None`
    /// keeps the server's default.
    pub buffer: Option<usize>,
    /// Which executor runs our server (`tokio`, `async-std`, `smol`).
    pub runtime: String,
    /// Worker threads for our server's runtime (2: the machine's cores).
    pub workers: usize,
    /// `TCP_NODELAY` on our server's connections (on by default).
    pub nodelay: bool,
    /// The raw echo's writes: `true` (`--flush batch`, the default) echoes
    /// every frame already readable and flushes once per batch; `false`
    /// (`--flush frame`) sends and flushes frame by frame.
    pub flush_per_batch: bool,
    /// `--per-message-deflate off|on|takeover`: WebSocket compression off
    /// (`None`, the default), on without context takeover (`Some(false)`:
    /// our default when on), or on with it (`Some(true)`: Node's default
    /// when on). Threshold 1024 bytes either way.
    pub deflate: Option<bool>,
    /// `--parser msgpack` (npm `socket.io-msgpack-parser`'s format); JSON
    /// otherwise.
    pub msgpack: bool,
    /// `--tls-cert FILE --tls-key FILE`: HTTPS and WSS on the port (ours).
    pub tls: servers::TlsArgs,
    /// `--redis URL`: the classic Redis adapter (ours), so that several
    /// nodes share rooms.
    pub redis: Option<String>,
}

impl Args {
    /// Reads `--port`, `--ping-interval-ms`, `--ping-timeout-ms`, `--buffer`,
    /// `--runtime`, `--workers`, `--nodelay`, `--flush`,
    /// `--per-message-deflate`, `--parser`, `--redis`, `--tls-cert` and
    /// `--tls-key` from the command line.
    pub fn parse() -> Result<Self, String> {
        let mut args = Self {
            port: 0,
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            buffer: None,
            runtime: "tokio".into(),
            workers: 2,
            nodelay: true,
            flush_per_batch: true,
            deflate: None,
            msgpack: false,
            tls: servers::TlsArgs::default(),
            redis: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--port" => args.port = number(value()?)? as u16,
                "--ping-interval-ms" => {
                    args.ping_interval = Duration::from_millis(number(value()?)?)
                }
                "--ping-timeout-ms" => args.ping_timeout = Duration::from_millis(number(value()?)?),
                "--buffer" => args.buffer = Some(number(value()?)? as usize),
                "--runtime" => args.runtime = value()?,
                "--workers" => args.workers = number(value()?)? as usize,
                "--nodelay" => {
                    args.nodelay = match value()?.as_str() {
                        "on" => true,
                        "off" => false,
                        other => return Err(format!("--nodelay: on or off, not {other:?}")),
                    }
                }
                "--flush" => {
                    args.flush_per_batch = match value()?.as_str() {
                        "batch" => true,
                        "frame" => false,
                        other => return Err(format!("--flush: batch or frame, not {other:?}")),
                    }
                }
                "--per-message-deflate" => {
                    args.deflate = match value()?.as_str() {
                        "off" => None,
                        "on" => Some(false),
                        "takeover" => Some(true),
                        other => {
                            return Err(format!(
                                "--per-message-deflate: off, on or takeover, not {other:?}"
                            ));
                        }
                    }
                }
                "--parser" => {
                    args.msgpack = match value()?.as_str() {
                        "json" => false,
                        "msgpack" => true,
                        other => return Err(format!("--parser: json or msgpack, not {other:?}")),
                    }
                }
                "--redis" => args.redis = Some(value()?),
                flag if args.tls.parse_flag(flag, &mut value)? => {}
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        Ok(args)
    }
}

/// Raises this process's open-file soft limit to its hard limit (20,000 on
/// the benchmark machine; it cannot go higher there).
pub fn raise_fd_limit() {
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
}

/// Announces the port to the harness, which waits for this line.
pub fn announce(port: u16) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening {port}");
    let _ = out.flush();
}
