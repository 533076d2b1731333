//! The benchmark harness and load generator.
//!
//! ```text
//! loader [--quick] [--rounds N] [--out FILE] [--only SCENARIO,...] [--servers NAME,...]
//!        [--bin-dir DIR] [--node-dir DIR] [--idle-hold SECS] [--sources N] [--notes FILE]
//! ```
//!
//! Starts each server in turn on a free port (A B A B: every server once per
//! round, at least two rounds), runs the scenario against it from this one
//! process, reads the server's CPU time and memory from /proc, and writes
//! the medians as a Markdown report.

mod client;
mod hist;
mod procfs;
mod proto;
mod report;
mod scenario;
mod server;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::Target;
use crate::report::Results;
use crate::scenario::{Kind, Pids, Scenario, Settings};
use crate::server::{Redis, Running, ServerSpec, TlsFiles};
use crate::wire::Wire;

/// Command-line options.
struct Options {
    quick: bool,
    rounds: usize,
    out: PathBuf,
    only: Option<Vec<String>>,
    servers: Option<Vec<String>>,
    bin_dir: PathBuf,
    node_dir: PathBuf,
    idle_hold: Option<u64>,
    sources: u8,
    notes: Option<PathBuf>,
    ping_interval_ms: u64,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        rounds: 2,
        out: PathBuf::from("BENCHMARKS.md"),
        only: None,
        servers: None,
        bin_dir: std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default(),
        node_dir: PathBuf::from("bench/node"),
        idle_hold: None,
        sources: 1,
        notes: None,
        ping_interval_ms: 10_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let list = |v: String| v.split(',').map(str::to_owned).collect::<Vec<_>>();
        match flag.as_str() {
            "--quick" => o.quick = true,
            "--rounds" => o.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--out" => o.out = value()?.into(),
            "--only" => o.only = Some(list(value()?)),
            "--servers" => o.servers = Some(list(value()?)),
            "--bin-dir" => o.bin_dir = value()?.into(),
            "--node-dir" => o.node_dir = value()?.into(),
            "--idle-hold" => {
                o.idle_hold = Some(value()?.parse().map_err(|e| format!("--idle-hold: {e}"))?)
            }
            "--sources" => o.sources = value()?.parse().map_err(|e| format!("--sources: {e}"))?,
            "--notes" => o.notes = Some(value()?.into()),
            "--ping-interval-ms" => {
                o.ping_interval_ms = value()?.parse().map_err(|e| format!("{e}"))?
            }
            "-h" | "--help" => {
                println!(
                    "see the doc comment at the top of bench/loader/src/main.rs and bench/README.md"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if o.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(o)
}

/// The most clients one process can hold: the open-file limit (which cannot
/// be raised past its hard value) less room for everything else.
fn max_clients() -> usize {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
    let _ = rlimit::Resource::NOFILE.set(hard, hard);
    (hard.min(1 << 20) as usize).saturating_sub(200)
}

/// Our server on each runtime; ratios are taken for the first.
const OURS: [&str; 3] = ["ours-tokio", "ours-async-std", "ours-smol"];
const SIO: [&str; 5] = [OURS[0], OURS[1], OURS[2], "socketioxide", "node"];
const SIO_RAW: [&str; 6] = [OURS[0], OURS[1], OURS[2], "socketioxide", "node", "raw-ws"];
/// Echo also runs ours on tokio with TCP_NODELAY off, to choose its default,
/// and on one worker thread (the 1-vs-2 workers figure of DEPLOYMENT.md).
const ECHO: [&str; 9] = [
    OURS[0],
    OURS[1],
    OURS[2],
    "ours-tokio-nodelay-off",
    "ours-tokio-1-worker",
    "socketioxide",
    "node",
    "raw-ws",
    "raw-ws-frame",
];
const BROADCAST: [&str; 6] = [
    OURS[0],
    OURS[1],
    OURS[2],
    "socketioxide",
    "socketioxide-big",
    "node",
];
/// permessage-deflate (issue 18): ours and Node with and without context
/// takeover, and the same 2 KB events uncompressed beside them.
const DEFLATE: [&str; 7] = [
    "ours-tokio-deflate",
    "ours-tokio-deflate-takeover",
    "node-deflate",
    "node-deflate-no-takeover",
    OURS[0],
    "socketioxide",
    "node",
];
const DEFLATE_BROADCAST: [&str; 7] = [
    "ours-tokio-deflate",
    "ours-tokio-deflate-takeover",
    "node-deflate",
    "node-deflate-no-takeover",
    OURS[0],
    "socketioxide-big",
    "node",
];
const DEFLATE_IDLE: [&str; 5] = [
    "ours-tokio-deflate",
    "ours-tokio-deflate-takeover",
    "node-deflate",
    "node-deflate-no-takeover",
    OURS[0],
];
/// The msgpack parser (issue 18), the JSON figures beside.
const MSGPACK: [&str; 6] = [
    "ours-tokio-msgpack",
    "socketioxide-msgpack",
    "node-msgpack",
    OURS[0],
    "socketioxide",
    "node",
];
const MSGPACK_BROADCAST: [&str; 6] = [
    "ours-tokio-msgpack",
    "socketioxide-msgpack",
    "node-msgpack",
    OURS[0],
    "socketioxide-big",
    "node",
];
/// TLS (issue 19), plain TCP beside.
const TLS: [&str; 4] = ["ours-tokio-tls", "node-tls", OURS[0], "node"];
/// Two nodes on one Redis (issue 14).
const CLUSTER: [&str; 2] = ["ours-tokio-2-nodes", "node-2-nodes"];
/// The padding of the deflate scenarios' events: over every server's
/// 1024-byte threshold.
const DEFLATE_PAD: usize = 2048;

fn scenarios(quick: bool, max: usize) -> Vec<Scenario> {
    let s = |id: String, kind: Kind, servers: &[&'static str]| Scenario {
        id,
        kind,
        servers: servers.to_vec(),
        deflate: false,
        pad: 0,
        first_deliveries: None,
    };
    let deflated = |mut sc: Scenario| {
        sc.deflate = true;
        sc.pad = DEFLATE_PAD;
        sc
    };
    // An A/B run's second build of ours goes beside ours-tokio in the plain
    // (WebSocket and polling) scenarios.
    let ab = |mut sc: Scenario| {
        if std::env::var_os(server::OURS_B_ENV).is_some() {
            sc.servers.insert(1, server::OURS_B);
        }
        sc
    };
    let mut list = Vec::new();
    let idle: Vec<usize> = if quick {
        vec![200, 1000]
    } else {
        vec![1000, 10_000, max]
    };
    for n in idle {
        let id = if n == max {
            format!("idle-max-{n}")
        } else {
            format!("idle-{n}")
        };
        list.push(ab(s(id, Kind::Idle(n), &SIO_RAW)));
    }
    for n in if quick { vec![100] } else { vec![100, 1000] } {
        list.push(ab(s(format!("echo-{n}"), Kind::Echo(n), &ECHO)));
    }
    for n in if quick { vec![200] } else { vec![1000, 10_000] } {
        list.push(ab(s(
            format!("broadcast-{n}"),
            Kind::Broadcast(n),
            &BROADCAST,
        )));
    }
    let polling = if quick { 100 } else { 1000 };
    list.push(ab(s(
        format!("polling-{polling}"),
        Kind::Polling(polling),
        &SIO,
    )));
    list.push(ab(s("handshake-ws".into(), Kind::HandshakeWs, &SIO_RAW)));
    list.push(ab(s(
        "handshake-upgrade".into(),
        Kind::HandshakeUpgrade,
        &SIO,
    )));
    // Issue 18: permessage-deflate and the msgpack parser.
    let idle_n = if quick { 200 } else { 1000 };
    list.push(deflated(s(
        format!("deflate-idle-{idle_n}"),
        Kind::DeflateIdle(idle_n),
        &DEFLATE_IDLE,
    )));
    list.push(deflated(s(
        "deflate-echo-100".into(),
        Kind::Echo(100),
        &DEFLATE,
    )));
    let bn = if quick { 200 } else { 1000 };
    let mut b = deflated(s(
        format!("deflate-broadcast-{bn}"),
        Kind::Broadcast(bn),
        &DEFLATE_BROADCAST,
    ));
    // Compressing 2 KB per recipient: start lower than the plain broadcast.
    b.first_deliveries = Some(5_000.0);
    list.push(b);
    list.push(s("msgpack-echo-100".into(), Kind::Echo(100), &MSGPACK));
    list.push(s(
        format!("msgpack-broadcast-{bn}"),
        Kind::Broadcast(bn),
        &MSGPACK_BROADCAST,
    ));
    // Issue 19: TLS.
    list.push(s("tls-handshake".into(), Kind::HandshakeWs, &TLS));
    list.push(s("tls-echo-100".into(), Kind::Echo(100), &TLS));
    // Issue 14: two nodes on one Redis.
    list.push(s(
        format!("cluster-broadcast-{bn}"),
        Kind::ClusterBroadcast(bn),
        &CLUSTER,
    ));
    list
}

fn settings(o: &Options) -> Settings {
    if o.quick {
        Settings {
            idle_hold: Duration::from_secs(o.idle_hold.unwrap_or(3)),
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(2),
            step: Duration::from_secs(1),
            steps: 4,
            first_deliveries: 50_000.0,
            handshake: Duration::from_secs(2),
            connect_concurrency: 128,
            handshake_concurrency: 32,
            inflight: 8,
            sources: o.sources,
        }
    } else {
        Settings {
            idle_hold: Duration::from_secs(o.idle_hold.unwrap_or(20)),
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(5),
            step: Duration::from_secs(2),
            steps: 7,
            first_deliveries: 50_000.0,
            handshake: Duration::from_secs(5),
            connect_concurrency: 128,
            handshake_concurrency: 32,
            inflight: 8,
            sources: o.sources,
        }
    }
}

/// Waits until this process holds few files again (the clients of the last
/// run have closed), so the next run starts from the same place.
async fn wait_for_closed_files() {
    for _ in 0..100 {
        let open = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0);
        if open < 64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loader: {e}");
            std::process::exit(2);
        }
    };
    let max = max_clients();
    let log_dir = std::env::temp_dir().join("socketio-rs-bench-logs");
    let _ = std::fs::create_dir_all(&log_dir);
    // The TLS scenarios' certificate, made for this run.
    let tls_files = TlsFiles {
        cert: log_dir.join("bench-cert.pem"),
        key: log_dir.join("bench-key.pem"),
    };
    let tls_config = match wire::self_signed().and_then(|(cert, key)| {
        std::fs::write(&tls_files.cert, &cert)
            .and_then(|()| std::fs::write(&tls_files.key, &key))
            .map_err(|e| format!("writing the certificate: {e}"))?;
        wire::tls_config(cert.as_bytes())
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loader: {e}");
            std::process::exit(1);
        }
    };
    let specs = ServerSpec::all(&o.bin_dir, &o.node_dir, &tls_files);
    let settings = settings(&o);
    let mut results = Results::new(o.quick, o.rounds, &settings, o.ping_interval_ms, &specs);
    let started = std::time::Instant::now();
    for sc in scenarios(o.quick, max) {
        if o.only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|x| sc.id.starts_with(x.as_str())))
        {
            continue;
        }
        eprintln!(
            "== {} ({:.0} s so far)",
            sc.id,
            started.elapsed().as_secs_f64()
        );
        for round in 0..o.rounds {
            for name in &sc.servers {
                if o.servers
                    .as_ref()
                    .is_some_and(|only| !only.iter().any(|x| x == name))
                {
                    continue;
                }
                let Some(spec) = specs.iter().find(|s| s.name == *name) else {
                    continue;
                };
                let log = log_dir.join(format!("{}-{}-{round}.log", sc.id, spec.name));
                let record = run_one(&sc, spec, &settings, &o, &log, &tls_config).await;
                eprintln!(
                    "  round {round} {:<17} {}",
                    spec.name,
                    report::summary(&record)
                );
                results.add(&sc, spec.name, record);
                wait_for_closed_files().await;
            }
        }
    }
    results.total_secs = started.elapsed().as_secs_f64();
    let notes = o
        .notes
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let markdown = results.markdown(notes.as_deref());
    match std::fs::write(&o.out, markdown) {
        Ok(()) => eprintln!("wrote {} ({:.0} s)", o.out.display(), results.total_secs),
        Err(e) => {
            eprintln!("loader: writing {}: {e}", o.out.display());
            std::process::exit(1);
        }
    }
}

async fn run_one(
    sc: &Scenario,
    spec: &ServerSpec,
    settings: &Settings,
    o: &Options,
    log: &std::path::Path,
    tls: &Arc<rustls::ClientConfig>,
) -> scenario::Record {
    let failed = |e: String| {
        let mut r = scenario::Record::default();
        r.notes.push(format!("did not start: {e}"));
        r
    };
    // Two nodes share a redis-server started for this run.
    let redis = if spec.nodes > 1 {
        match Redis::start(&log.with_extension("redis.log")).await {
            Ok(r) => Some(r),
            Err(e) => return failed(e),
        }
    } else {
        None
    };
    let extra: Vec<String> = match &redis {
        Some(r) => vec!["--redis".into(), format!("redis://127.0.0.1:{}", r.port)],
        None => Vec::new(),
    };
    let mut nodes: Vec<Running> = Vec::new();
    for i in 0..spec.nodes.max(1) {
        let node_log = if i == 0 {
            log.to_path_buf()
        } else {
            log.with_extension(format!("node{i}.log"))
        };
        match Running::start(spec, &extra, o.ping_interval_ms, &node_log).await {
            Ok(r) => nodes.push(r),
            Err(e) => {
                for n in nodes {
                    n.stop().await;
                }
                if let Some(r) = redis {
                    r.stop().await;
                }
                return failed(e);
            }
        }
    }
    let mut settings = settings.clone();
    if let Some(first) = sc.first_deliveries {
        settings.first_deliveries = first;
    }
    let settings = &settings;
    // Past 10k clients one source address makes connect() search long for
    // a free ephemeral port (the setup rate then measures the loader):
    // spread over 8 loopback addresses.
    let sources = match sc.kind {
        Kind::Idle(n) | Kind::Echo(n) | Kind::Broadcast(n) | Kind::ClusterBroadcast(n)
            if n > 10_000 =>
        {
            settings.sources.max(8)
        }
        _ => settings.sources,
    };
    let wire = Wire {
        tls: spec.tls.then(|| tls.clone()),
        deflate: sc.deflate,
        msgpack: spec.msgpack,
        pad: sc.pad,
    };
    let targets: Vec<Arc<Target>> = nodes
        .iter()
        .map(|n| {
            Arc::new(Target::new(
                std::net::SocketAddr::from(([127, 0, 0, 1], n.port)),
                spec.socketio,
                sources,
                wire.clone(),
            ))
        })
        .collect();
    let pids = Pids {
        nodes: nodes.iter().map(|n| n.pid).collect(),
        redis: redis.as_ref().map(|r| r.pid),
    };
    // Generous: connecting 20k clients to a slow server, or seven broadcast
    // steps with their drains.
    let limit = Duration::from_secs(240);
    let mut record =
        match tokio::time::timeout(limit, scenario::run(sc.kind, targets, pids, settings)).await {
            Ok(r) => r,
            Err(_) => {
                let mut r = scenario::Record::default();
                r.notes
                    .push(format!("timed out after {} s", limit.as_secs()));
                r
            }
        };
    for running in &mut nodes {
        if !running.alive() {
            record.notes.push(format!(
                "server exited during the run (log: {})",
                log.display()
            ));
        }
    }
    for running in nodes {
        running.stop().await;
    }
    if let Some(r) = redis {
        r.stop().await;
    }
    record
}
