//! The scenarios: what each measures and how.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::client::{self, Phase, Role, SendPlan, Shared, Target, now_us};
use crate::procfs;

/// One scenario of the issue.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short id (`echo-100`).
    pub id: String,
    /// What runs.
    pub kind: Kind,
    /// Servers it runs against, by name (the first is the one ratios are
    /// taken for).
    pub servers: Vec<&'static str>,
    /// The clients offer permessage-deflate.
    pub deflate: bool,
    /// Bytes of text added to every event's argument.
    pub pad: usize,
    /// The first broadcast rate in deliveries per second, when not the
    /// settings' one.
    pub first_deliveries: Option<f64>,
}

/// The kinds of scenario.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// N WebSocket clients connected, answering pings.
    Idle(usize),
    /// N WebSocket clients, each with 8 `echo` events in flight.
    Echo(usize),
    /// N WebSocket clients in room `all`, one sending `broadcast` at
    /// increasing rates.
    Broadcast(usize),
    /// N polling-only clients, each with one `echo-ack` in flight.
    Polling(usize),
    /// New connections over WebSocket directly.
    HandshakeWs,
    /// New connections over polling, then upgraded to WebSocket.
    HandshakeUpgrade,
    /// N WebSocket clients with permessage-deflate: idle, then each gets one
    /// compressed echo, then idle again (server RSS per client each time).
    DeflateIdle(usize),
    /// Broadcast over two server nodes on one Redis, the clients split
    /// between them, the sender on the first.
    ClusterBroadcast(usize),
}

/// Durations and sizes of one run of the harness.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long idle clients stay connected.
    pub idle_hold: Duration,
    /// Echo and polling warmup.
    pub warmup: Duration,
    /// Echo and polling measurement.
    pub measure: Duration,
    /// How long each broadcast rate is sent.
    pub step: Duration,
    /// How many broadcast rates at most (each twice the one before).
    pub steps: u32,
    /// The first broadcast rate, in deliveries per second (divided by N).
    pub first_deliveries: f64,
    /// How long connections are opened in the handshake scenarios.
    pub handshake: Duration,
    /// Connections opened at once while connecting clients.
    pub connect_concurrency: usize,
    /// Connections in progress at once in the handshake scenarios.
    pub handshake_concurrency: usize,
    /// Events in flight per echo client.
    pub inflight: usize,
    /// Loopback source addresses to spread clients over.
    pub sources: u8,
}

/// A broadcast step keeps up when its last event arrives this soon after
/// the sender stops.
const KEEP_UP: Duration = Duration::from_secs(1);
/// How long a step's missing deliveries are waited for before they count
/// as lost.
const DRAIN: Duration = Duration::from_secs(5);

/// Figures of one run: metric name to value, plus notes.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Metrics by name.
    pub values: BTreeMap<&'static str, f64>,
    /// Things the reader must know (failures, drops, lost sessions).
    pub notes: Vec<String>,
}

impl Record {
    fn set(&mut self, key: &'static str, value: f64) {
        self.values.insert(key, value);
    }
}

/// A metric name made at run time (a few per run; the harness is short-lived).
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// Measures the CPU of the server (every node of it, summed) and of the
/// loader over a window.
struct CpuWindow {
    pids: Vec<u32>,
    server: f64,
    loader: f64,
    at: Instant,
}

fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|&p| procfs::cpu_secs(p).unwrap_or(0.0))
        .sum()
}

impl CpuWindow {
    fn start(pid: u32) -> Self {
        Self::start_all(&[pid])
    }

    fn start_all(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            server: cpu_of(pids),
            loader: procfs::self_cpu_secs(),
            at: Instant::now(),
        }
    }

    /// (server CPU seconds, loader CPU seconds, wall seconds) since start.
    fn end(&self) -> (f64, f64, f64) {
        (
            cpu_of(&self.pids) - self.server,
            procfs::self_cpu_secs() - self.loader,
            self.at.elapsed().as_secs_f64(),
        )
    }
}

/// The processes a run measures.
pub struct Pids {
    /// The server's nodes (one, or two for the cluster scenario).
    pub nodes: Vec<u32>,
    /// The Redis server, when there is one.
    pub redis: Option<u32>,
}

/// Runs `scenario` against the server at `targets` (one per node,
/// processes `pids`).
pub async fn run(kind: Kind, targets: Vec<Arc<Target>>, pids: Pids, s: &Settings) -> Record {
    let (Some(target), Some(&pid)) = (targets.first().cloned(), pids.nodes.first()) else {
        let mut r = Record::default();
        r.notes.push("no server".into());
        return r;
    };
    match kind {
        Kind::Idle(n) => idle(n, target, pid, s).await,
        Kind::Echo(n) => echo(n, target, pid, s).await,
        Kind::Broadcast(n) | Kind::ClusterBroadcast(n) => broadcast(n, &targets, &pids, s).await,
        Kind::Polling(n) => polling(n, target, pid, s).await,
        Kind::HandshakeWs => handshake(false, target, pid, s).await,
        Kind::HandshakeUpgrade => handshake(true, target, pid, s).await,
        Kind::DeflateIdle(n) => deflate_idle(n, target, pid, s).await,
    }
}

/// Clients that connected, how long it took, the first error.
struct Connected {
    ok: usize,
    failed: usize,
    secs: f64,
    first_error: Option<String>,
}

impl Connected {
    fn note(&self, r: &mut Record, n: usize) {
        r.set("clients", self.ok as f64);
        if self.failed > 0 {
            r.notes.push(format!(
                "{} of {n} clients failed to connect (first: {})",
                self.failed,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
    }
}

/// Connects `n` WebSocket clients, at most `concurrency` at a time, each
/// then running `role(i)`.
async fn connect_ws(
    n: usize,
    targets: &[Arc<Target>],
    s: &Settings,
    shared: &Arc<Shared>,
    phase: &watch::Receiver<Phase>,
    mut role: impl FnMut(usize) -> Role,
) -> Connected {
    let semaphore = Arc::new(Semaphore::new(s.connect_concurrency));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    for i in 0..n {
        let Ok(permit) = semaphore.clone().acquire_owned().await else {
            break;
        };
        let Some(target) = targets.get(i % targets.len().max(1)) else {
            break;
        };
        let (target, tx, shared, phase, role) = (
            target.clone(),
            tx.clone(),
            shared.clone(),
            phase.clone(),
            role(i),
        );
        tokio::spawn(async move {
            match client::ws_open(&target).await {
                Ok(ws) => {
                    drop(permit);
                    let _ = tx.send(Ok(()));
                    client::ws_client(ws, role, target, shared, phase).await;
                }
                Err(e) => {
                    drop(permit);
                    let _ = tx.send(Err(e));
                }
            }
        });
    }
    drop(tx);
    collect(n, &mut rx, start).await
}

async fn collect(
    n: usize,
    rx: &mut mpsc::UnboundedReceiver<Result<(), String>>,
    start: Instant,
) -> Connected {
    let mut c = Connected {
        ok: 0,
        failed: 0,
        secs: 0.0,
        first_error: None,
    };
    for _ in 0..n {
        match rx.recv().await {
            Some(Ok(())) => c.ok += 1,
            Some(Err(e)) => {
                c.failed += 1;
                c.first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    c.secs = start.elapsed().as_secs_f64();
    c
}

fn lost_note(r: &mut Record, shared: &Shared) {
    let lost = shared.lost.load(Ordering::Relaxed);
    r.set("lost_sessions", lost as f64);
    if lost > 0 {
        let first = shared
            .first_loss
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        r.notes.push(format!(
            "{lost} sessions ended by the server (or failed) during the run (first: {first})"
        ));
    }
    let unexpected = shared.unexpected.load(Ordering::Relaxed);
    if unexpected > 0 {
        r.notes
            .push(format!("{unexpected} packets the loader did not expect"));
    }
}

async fn idle(n: usize, target: Arc<Target>, pid: u32, s: &Settings) -> Record {
    let mut r = Record::default();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = procfs::rss_kib(pid).unwrap_or(0);
    let shared = Arc::new(Shared::default());
    let (phase_tx, phase) = watch::channel(Phase::Measure);
    let c = connect_ws(n, std::slice::from_ref(&target), s, &shared, &phase, |_| {
        Role::Idle
    })
    .await;
    c.note(&mut r, n);
    r.set("setup_per_s", c.ok as f64 / c.secs);
    let cpu = CpuWindow::start(pid);
    tokio::time::sleep(s.idle_hold).await;
    let (server, loader, wall) = cpu.end();
    let rss_after = procfs::rss_kib(pid).unwrap_or(0);
    r.set("rss_before_mib", rss_before as f64 / 1024.0);
    r.set("rss_after_mib", rss_after as f64 / 1024.0);
    if c.ok > 0 {
        r.set(
            "kb_per_client",
            (rss_after.saturating_sub(rss_before)) as f64 * 1.024 / c.ok as f64,
        );
    }
    r.set("server_cpu_pct", server / wall * 100.0);
    r.set("loader_cpu_pct", loader / wall * 100.0);
    r.set("pings", shared.pings.load(Ordering::Relaxed) as f64);
    lost_note(&mut r, &shared);
    let _ = phase_tx.send(Phase::Stop);
    r
}

async fn echo(n: usize, target: Arc<Target>, pid: u32, s: &Settings) -> Record {
    let mut r = Record::default();
    let shared = Arc::new(Shared::default());
    let (phase_tx, phase) = watch::channel(Phase::Connect);
    let inflight = s.inflight;
    let c = connect_ws(n, std::slice::from_ref(&target), s, &shared, &phase, |_| {
        Role::Echo {
            inflight,
            once: false,
        }
    })
    .await;
    c.note(&mut r, n);
    measure_round_trips(&mut r, &shared, &phase_tx, pid, s).await;
    r
}

async fn measure_round_trips(
    r: &mut Record,
    shared: &Shared,
    phase_tx: &watch::Sender<Phase>,
    pid: u32,
    s: &Settings,
) {
    let _ = phase_tx.send(Phase::Warmup);
    tokio::time::sleep(s.warmup).await;
    let _ = phase_tx.send(Phase::Measure);
    let cpu = CpuWindow::start(pid);
    tokio::time::sleep(s.measure).await;
    let (server, loader, wall) = cpu.end();
    let _ = phase_tx.send(Phase::Stop);
    let rtt = shared.round_trips.load(Ordering::Relaxed) as f64;
    r.set("rtt_per_s", rtt / wall);
    r.set("p50_ms", shared.hist.quantile(0.5) as f64 / 1000.0);
    r.set("p99_ms", shared.hist.quantile(0.99) as f64 / 1000.0);
    if rtt > 0.0 {
        r.set("cpu_us_per_rtt", server * 1e6 / rtt);
    }
    r.set("server_cpu_pct", server / wall * 100.0);
    r.set("loader_cpu_pct", loader / wall * 100.0);
    lost_note(r, shared);
}

async fn broadcast(n: usize, targets: &[Arc<Target>], pids: &Pids, s: &Settings) -> Record {
    let mut r = Record::default();
    let shared = Arc::new(Shared::default());
    shared.step.store(u64::MAX, Ordering::Relaxed);
    let (phase_tx, phase) = watch::channel(Phase::Measure);
    let (plan_tx, plan_rx) = watch::channel::<Option<SendPlan>>(None);
    let mut plan_rx = Some(plan_rx);
    let c = connect_ws(n, targets, s, &shared, &phase, |i| Role::Broadcast {
        sender: if i == 0 { plan_rx.take() } else { None },
    })
    .await;
    c.note(&mut r, n);
    if c.failed > 0 && c.ok == 0 {
        return r;
    }
    // Let the connection burst settle before the first step.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut expected_all = 0u64;
    let mut delivered_all = 0u64;
    let mut rate = (s.first_deliveries / n as f64).max(1.0);
    for step in 0..s.steps as u64 {
        let receivers = c.ok as u64 - shared.lost.load(Ordering::Relaxed);
        shared.hist.reset();
        shared.delivered.store(0, Ordering::Relaxed);
        shared.sent.store(0, Ordering::Relaxed);
        shared.last_delivery_us.store(0, Ordering::Relaxed);
        shared.step.store(step, Ordering::Relaxed);
        let start_us = now_us() + 50_000;
        let plan = SendPlan {
            step,
            rate,
            start_us,
            end_us: start_us + s.step.as_micros() as u64,
        };
        let expected = plan.total() * receivers;
        let cpu = CpuWindow::start_all(&pids.nodes);
        let redis_cpu = pids.redis.map(CpuWindow::start);
        let _ = plan_tx.send(Some(plan));
        // Wait for the step to end, then for its deliveries.
        tokio::time::sleep(Duration::from_micros(
            plan.end_us - now_us().min(plan.end_us),
        ))
        .await;
        let deadline = Instant::now() + DRAIN;
        while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (server, loader, _) = cpu.end();
        let redis = redis_cpu.map(|w| w.end().0);
        let _ = plan_tx.send(None);
        let delivered = shared.delivered.load(Ordering::Relaxed);
        let sent = shared.sent.load(Ordering::Relaxed);
        let last = shared.last_delivery_us.load(Ordering::Relaxed);
        let lost = shared.lost.load(Ordering::Relaxed);
        expected_all += expected;
        delivered_all += delivered.min(expected);
        let span = last.saturating_sub(plan.start_us).max(1) as f64 / 1e6;
        let kept_up = delivered == expected
            && sent == plan.total()
            && lost == 0
            && last <= plan.end_us + KEEP_UP.as_micros() as u64;
        let p99 = shared.hist.quantile(0.99) as f64 / 1000.0;
        eprintln!(
            "    step {step}: {rate:.0} msg/s x {receivers}: delivered {delivered}/{expected} in {span:.2} s, p99 {p99:.1} ms, server cpu {server:.2} s, loader cpu {loader:.2} s{}",
            if kept_up { "" } else { "  <- falls behind" }
        );
        if kept_up {
            // Per rate too, so servers can be compared at a rate both keep
            // up with (near a server's own limit its latency climbs).
            r.set(leak(format!("p99_ms_at_{rate:.0}")), p99);
            r.set(
                leak(format!("cpu_ns_at_{rate:.0}")),
                server * 1e9 / delivered.max(1) as f64,
            );
            r.set("rate_msg_per_s", rate);
            r.set("deliveries_per_s", delivered as f64 / span);
            r.set("p99_ms", p99);
            r.set(
                "cpu_ns_per_delivery",
                server * 1e9 / delivered.max(1) as f64,
            );
            if let Some(redis) = redis {
                r.set(
                    "redis_cpu_ns_per_delivery",
                    redis * 1e9 / delivered.max(1) as f64,
                );
            }
            r.set("loader_cpu_pct", loader / span * 100.0);
        } else {
            if delivered < expected {
                r.notes.push(format!(
                    "at {rate:.0} msg/s: {delivered} of {expected} delivered within {} s after the last send{}",
                    DRAIN.as_secs(),
                    if lost > 0 { format!(", {lost} sessions closed by the server") } else { String::new() }
                ));
            } else {
                r.notes.push(format!(
                    "at {rate:.0} msg/s: everything delivered but {:.1} s late",
                    last.saturating_sub(plan.end_us) as f64 / 1e6
                ));
            }
            break;
        }
        rate *= 2.0;
    }
    r.set(
        "delivered_ratio",
        if expected_all > 0 {
            delivered_all as f64 / expected_all as f64
        } else {
            0.0
        },
    );
    lost_note(&mut r, &shared);
    let _ = phase_tx.send(Phase::Stop);
    r
}

async fn polling(n: usize, target: Arc<Target>, pid: u32, s: &Settings) -> Record {
    let mut r = Record::default();
    let shared = Arc::new(Shared::default());
    let (phase_tx, phase) = watch::channel(Phase::Connect);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let semaphore = Arc::new(Semaphore::new(s.connect_concurrency));
    for _ in 0..n {
        let Ok(permit) = semaphore.clone().acquire_owned().await else {
            break;
        };
        let (target, shared, phase) = (target.clone(), shared.clone(), phase.clone());
        let (ready_tx, mut ready_rx) = mpsc::channel(1);
        let tx = tx.clone();
        tokio::spawn(client::polling_client(target, shared, phase, ready_tx));
        tokio::spawn(async move {
            let result = ready_rx.recv().await.unwrap_or(Err("client ended".into()));
            drop(permit);
            let _ = tx.send(result);
        });
    }
    drop(tx);
    let c = collect(n, &mut rx, start).await;
    c.note(&mut r, n);
    measure_round_trips(&mut r, &shared, &phase_tx, pid, s).await;
    r
}

async fn handshake(upgrade: bool, target: Arc<Target>, pid: u32, s: &Settings) -> Record {
    let mut r = Record::default();
    let ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let cpu = CpuWindow::start(pid);
    let deadline = Instant::now() + s.handshake;
    let mut workers = Vec::new();
    for _ in 0..s.handshake_concurrency {
        let (target, ok, failed, first_error) = (
            target.clone(),
            ok.clone(),
            failed.clone(),
            first_error.clone(),
        );
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let result = if upgrade {
                    client::handshake_upgrade(&target).await
                } else {
                    client::handshake_ws(&target).await
                };
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(e);
                        }
                        // Do not spin on a server that refuses.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let (server, loader, wall) = cpu.end();
    let ok = ok.load(Ordering::Relaxed) as f64;
    let failed = failed.load(Ordering::Relaxed);
    r.set("conn_per_s", ok / wall);
    if ok > 0.0 {
        r.set("cpu_us_per_conn", server * 1e6 / ok);
    }
    r.set("server_cpu_pct", server / wall * 100.0);
    r.set("loader_cpu_pct", loader / wall * 100.0);
    r.set("failed", failed as f64);
    if failed > 0 {
        let first = first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        r.notes
            .push(format!("{failed} connections failed (first: {first})"));
    }
    r
}

async fn deflate_idle(n: usize, target: Arc<Target>, pid: u32, s: &Settings) -> Record {
    let mut r = Record::default();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = procfs::rss_kib(pid).unwrap_or(0);
    let shared = Arc::new(Shared::default());
    let (phase_tx, phase) = watch::channel(Phase::Connect);
    let c = connect_ws(n, std::slice::from_ref(&target), s, &shared, &phase, |_| {
        Role::Echo {
            inflight: 1,
            once: true,
        }
    })
    .await;
    c.note(&mut r, n);
    r.set("setup_per_s", c.ok as f64 / c.secs);
    let per_client = |rss: u64| rss.saturating_sub(rss_before) as f64 * 1.024 / c.ok.max(1) as f64;
    // Idle: the extension negotiated, nothing compressed yet.
    tokio::time::sleep(s.idle_hold).await;
    let rss_idle = procfs::rss_kib(pid).unwrap_or(0);
    r.set("kb_per_client_idle", per_client(rss_idle));
    // Active: every client sends one padded echo and gets it back
    // compressed; then idle again.
    let cpu = CpuWindow::start(pid);
    let _ = phase_tx.send(Phase::Measure);
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.round_trips.load(Ordering::Relaxed) < c.ok as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (server, _, _) = cpu.end();
    let echoed = shared.round_trips.load(Ordering::Relaxed);
    r.set("echoed", echoed as f64);
    if echoed > 0 {
        r.set("cpu_us_per_echo", server * 1e6 / echoed as f64);
    }
    if echoed < c.ok as u64 {
        r.notes.push(format!(
            "{echoed} of {} compressed echoes came back within 60 s",
            c.ok
        ));
    }
    tokio::time::sleep(s.idle_hold).await;
    let rss_active = procfs::rss_kib(pid).unwrap_or(0);
    r.set("kb_per_client_active", per_client(rss_active));
    r.set(
        "kb_per_client_compressor",
        per_client(rss_active) - per_client(rss_idle),
    );
    r.set("rss_after_mib", rss_active as f64 / 1024.0);
    lost_note(&mut r, &shared);
    let _ = phase_tx.send(Phase::Stop);
    r
}
