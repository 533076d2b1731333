//! Medians over rounds, and the Markdown report (BENCHMARKS.md).

use std::fmt::Write as _;

use crate::scenario::{Kind, Record, Scenario, Settings};
use crate::server::ServerSpec;

/// The server every ratio is taken for.
const OURS: &str = "ours-tokio";

/// Whether more or less of a metric is better (for reading ratios).
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
    Neither,
}

/// (key, column label, decimals, better)
type Column = (&'static str, &'static str, usize, Better);

// The columns several scenarios share.
const CLIENTS: Column = ("clients", "clients", 0, Better::Neither);
const SETUP: Column = ("setup_per_s", "setup (conn/s)", 0, Better::Higher);
const RSS_TOTAL: Column = ("rss_after_mib", "RSS total (MiB)", 1, Better::Lower);
const SERVER_CPU: Column = ("server_cpu_pct", "server CPU (%)", 0, Better::Neither);
const LOADER_CPU: Column = ("loader_cpu_pct", "loader CPU (%)", 0, Better::Neither);
const LOST: Column = ("lost_sessions", "lost sessions", 0, Better::Lower);
const RATE_KEPT: Column = (
    "rate_msg_per_s",
    "highest rate kept up (msg/s)",
    0,
    Better::Higher,
);
const DELIVERIES: Column = ("deliveries_per_s", "deliveries/s at it", 0, Better::Higher);
const P99_DELIVERY: Column = ("p99_ms", "p99 delivery (ms)", 2, Better::Lower);
const DELIVERED: Column = (
    "delivered_ratio",
    "delivered/expected (all steps)",
    5,
    Better::Higher,
);

fn columns(kind: Kind) -> &'static [Column] {
    use Better::*;
    match kind {
        Kind::Idle(_) => &[
            CLIENTS,
            SETUP,
            ("kb_per_client", "RSS per client (KB)", 2, Lower),
            RSS_TOTAL,
            ("server_cpu_pct", "server CPU idle (%)", 1, Lower),
            ("pings", "pings answered", 0, Neither),
            LOST,
            LOADER_CPU,
        ],
        Kind::Echo(_) | Kind::Polling(_) => &[
            CLIENTS,
            ("rtt_per_s", "round trips/s", 0, Higher),
            ("p50_ms", "p50 (ms)", 2, Lower),
            ("p99_ms", "p99 (ms)", 2, Lower),
            ("cpu_us_per_rtt", "server CPU per round trip (µs)", 2, Lower),
            SERVER_CPU,
            LOADER_CPU,
            LOST,
        ],
        Kind::DeflateIdle(_) => &[
            CLIENTS,
            SETUP,
            ("kb_per_client_idle", "RSS per idle client (KB)", 2, Lower),
            (
                "kb_per_client_active",
                "RSS per client after one compressed echo (KB)",
                2,
                Lower,
            ),
            (
                "kb_per_client_compressor",
                "kept by that echo per client (KB)",
                2,
                Lower,
            ),
            ("cpu_us_per_echo", "server CPU per echo (µs)", 1, Lower),
            RSS_TOTAL,
            LOST,
        ],
        Kind::ClusterBroadcast(_) => &[
            ("clients", "clients (both nodes)", 0, Neither),
            RATE_KEPT,
            DELIVERIES,
            P99_DELIVERY,
            (
                "cpu_ns_per_delivery",
                "CPU of both nodes per delivery (ns)",
                0,
                Lower,
            ),
            (
                "redis_cpu_ns_per_delivery",
                "redis-server CPU per delivery (ns)",
                0,
                Lower,
            ),
            DELIVERED,
            LOST,
            LOADER_CPU,
        ],
        Kind::Broadcast(_) => &[
            CLIENTS,
            RATE_KEPT,
            DELIVERIES,
            P99_DELIVERY,
            (
                "cpu_ns_per_delivery",
                "server CPU per delivery (ns)",
                0,
                Lower,
            ),
            DELIVERED,
            LOST,
            LOADER_CPU,
        ],
        Kind::HandshakeWs | Kind::HandshakeUpgrade => &[
            ("conn_per_s", "connections/s", 0, Higher),
            (
                "cpu_us_per_conn",
                "server CPU per connection (µs)",
                1,
                Lower,
            ),
            SERVER_CPU,
            LOADER_CPU,
            ("failed", "failed", 0, Lower),
        ],
    }
}

fn describe(sc: &Scenario, s: &Settings) -> String {
    let mut text = describe_kind(sc.kind, s, sc.first_deliveries);
    if sc.deflate {
        text.push_str(" The clients offer permessage-deflate (`client_max_window_bits`) and inflate what comes compressed; they send their own messages uncompressed.");
    }
    if sc.pad > 0 {
        text.push_str(&format!(
            " Every event's argument carries {} bytes of word-like text (deflate shrinks it to about a quarter), so the server's messages are over the 1024-byte threshold.",
            sc.pad
        ));
    }
    if sc.servers.iter().any(|n| n.contains("msgpack")) {
        text.push_str(" Servers named `-msgpack` speak the msgpack parser (Socket.IO packets as binary WebSocket messages); the others JSON, beside them for comparison.");
    }
    if sc.servers.iter().any(|n| n.ends_with("-tls")) {
        text.push_str(" Servers named `-tls` are reached over TLS (the loader's rustls client, a full handshake for every connection: session resumption off; TLS 1.3); the others over plain TCP, beside them for comparison.");
    }
    text
}

fn describe_kind(kind: Kind, s: &Settings, first: Option<f64>) -> String {
    match kind {
        Kind::DeflateIdle(n) => format!(
            "{n} WebSocket clients connect ({} at a time) with permessage-deflate agreed and stay idle {} s (RSS per idle client); then each sends one `echo` and gets it back compressed, and they stay idle {} s more (RSS per client after one compressed echo). The difference is what one compressed message leaves behind per client: with context takeover, the compressor's window and tables.",
            s.connect_concurrency,
            s.idle_hold.as_secs(),
            s.idle_hold.as_secs()
        ),
        Kind::ClusterBroadcast(n) => format!(
            "Two server nodes on one redis-server (started for the run), {n} WebSocket clients split evenly between them, all in room `all`; one client on the first node emits `broadcast` at a rate doubled each step ({} s per step, first step {:.0} deliveries/s, at most {} steps), which reaches the clients of both nodes through the Redis adapter. CPU per delivery is both nodes' CPU together; redis-server's is shown apart. A step keeps up as in the broadcast scenarios.",
            s.step.as_secs_f64(),
            first.unwrap_or(s.first_deliveries),
            s.steps
        ),
        Kind::Idle(n) => format!(
            "{n} WebSocket clients connect ({} at a time), then stay idle answering pings for {} s. RSS per client = (server RSS after the hold - RSS before connecting) / clients.",
            s.connect_concurrency,
            s.idle_hold.as_secs()
        ),
        Kind::Echo(n) => format!(
            "{n} WebSocket clients, each keeping {} `echo` events in flight ({} s warmup, {} s measured). Latency is from send to the echo's arrival.",
            s.inflight,
            s.warmup.as_secs_f64(),
            s.measure.as_secs_f64()
        ),
        Kind::Broadcast(n) => format!(
            "{n} WebSocket clients in room `all`; one of them emits `broadcast` at a rate doubled each step ({} s per step, first step {:.0} deliveries/s, at most {} steps), which the server re-emits to the whole room. A step keeps up when every event reaches every client and the last arrives within 1 s of the last send; stepping stops at the first that does not. delivered/expected counts every step, the failing one included (missing events are waited for 5 s).",
            s.step.as_secs_f64(),
            first.unwrap_or(s.first_deliveries),
            s.steps
        ),
        Kind::Polling(n) => format!(
            "{n} HTTP long-polling clients (no upgrade), each with one `echo-ack` in flight; one connection long-polls, another posts ({} s warmup, {} s measured).",
            s.warmup.as_secs_f64(),
            s.measure.as_secs_f64()
        ),
        Kind::HandshakeWs => format!(
            "{} workers for {} s each open a WebSocket, connect to `/`, do one `echo-ack` round trip and close (raw-ws: open, one echo, close).",
            s.handshake_concurrency,
            s.handshake.as_secs()
        ),
        Kind::HandshakeUpgrade => format!(
            "{} workers for {} s each do the polling handshake and CONNECT, upgrade to WebSocket (probe, upgrade), do one `echo-ack` round trip over it and close.",
            s.handshake_concurrency,
            s.handshake.as_secs()
        ),
    }
}

/// Each server's runs of one scenario, by server name.
type Runs = Vec<(&'static str, Vec<Record>)>;

/// Everything measured in one invocation.
pub struct Results {
    quick: bool,
    rounds: usize,
    settings: Settings,
    ping_interval_ms: u64,
    servers: Vec<(&'static str, &'static str)>,
    scenarios: Vec<(Scenario, Runs)>,
    /// Wall time of the whole run.
    pub total_secs: f64,
}

impl Results {
    /// An empty set of results for this run's settings.
    pub fn new(
        quick: bool,
        rounds: usize,
        settings: &Settings,
        ping_interval_ms: u64,
        specs: &[ServerSpec],
    ) -> Self {
        Self {
            quick,
            rounds,
            settings: settings.clone(),
            ping_interval_ms,
            servers: specs.iter().map(|s| (s.name, s.about)).collect(),
            scenarios: Vec::new(),
            total_secs: 0.0,
        }
    }

    /// Adds one run of `scenario` on server `name`.
    pub fn add(&mut self, scenario: &Scenario, name: &'static str, record: Record) {
        let pos = match self.scenarios.iter().position(|(s, _)| s.id == scenario.id) {
            Some(p) => p,
            None => {
                self.scenarios.push((scenario.clone(), Vec::new()));
                self.scenarios.len() - 1
            }
        };
        let Some((_, runs)) = self.scenarios.get_mut(pos) else {
            return;
        };
        match runs.iter_mut().find(|(n, _)| *n == name) {
            Some((_, records)) => records.push(record),
            None => runs.push((name, vec![record])),
        }
    }

    fn median(&self, scenario: &str, server: &str, key: &str) -> Option<f64> {
        let (_, runs) = self.scenarios.iter().find(|(s, _)| s.id == scenario)?;
        let (_, records) = runs.iter().find(|(n, _)| *n == server)?;
        median(
            records
                .iter()
                .filter_map(|r| r.values.get(key).copied())
                .collect(),
        )
    }

    /// The report.
    pub fn markdown(&self, notes: Option<&str>) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Written by `bash bench/run.sh{}` (bench/README.md); every figure below is measured by that run, none is typed in. Each cell is the median over {} rounds; servers run one after the other in alternation (A B C A B C), each started fresh for each run on a free port.\n",
            if self.quick { " --quick" } else { "" },
            self.rounds
        );
        if self.quick {
            let _ = writeln!(
                md,
                "**Quick mode**: small client counts and short durations, to check the harness; not the recorded figures.\n"
            );
        }
        let _ = writeln!(md, "## Machine\n");
        for line in machine() {
            let _ = writeln!(md, "- {line}");
        }
        let _ = writeln!(
            md,
            "- the loader (one process, tokio on all cores) runs on the same cores as the server: CPU per message is the comparable figure when the loader saturates first\n- run took {:.0} s; Engine.IO ping interval {} ms on every Socket.IO server (so idle clients answer pings)\n",
            self.total_secs, self.ping_interval_ms
        );
        let _ = writeln!(md, "## Servers\n");
        for (name, about) in &self.servers {
            let _ = writeln!(md, "- `{name}`: {about}");
        }
        let _ = writeln!(md);
        md.push_str(&self.goals());
        for (sc, runs) in &self.scenarios {
            let _ = writeln!(md, "## {}\n\n{}\n", sc.id, describe(sc, &self.settings));
            let base = base(sc);
            let cols = columns(sc.kind);
            let _ = write!(md, "| server |");
            for (_, label, _, _) in cols {
                let _ = write!(md, " {label} |");
            }
            let _ = write!(md, "\n|---|");
            for _ in cols {
                let _ = write!(md, "---:|");
            }
            let _ = writeln!(md);
            for (name, records) in runs {
                let _ = write!(md, "| {name} |");
                for (key, _, decimals, _) in cols {
                    match self.median(&sc.id, name, key) {
                        Some(v) => {
                            let _ = write!(md, " {} |", fmt(v, *decimals));
                        }
                        None => {
                            let _ = write!(md, " - |");
                        }
                    }
                }
                let _ = writeln!(md);
                let _ = records;
            }
            // Ratios: ours / each peer on the metrics that have a direction.
            if runs.iter().any(|(n, _)| *n == base) {
                let _ = writeln!(
                    md,
                    "\n`{base}` / peer (a ratio above 1 is better where higher is better, below 1 where lower is better):\n"
                );
                let _ = write!(md, "| peer |");
                let rated: Vec<&Column> = cols
                    .iter()
                    .filter(|c| c.3 != Better::Neither && c.0 != "lost_sessions" && c.0 != "failed")
                    .collect();
                for (_, label, _, better) in &rated {
                    let arrow = if *better == Better::Higher {
                        "↑"
                    } else {
                        "↓"
                    };
                    let _ = write!(md, " {label} {arrow} |");
                }
                let _ = write!(md, "\n|---|");
                for _ in &rated {
                    let _ = write!(md, "---:|");
                }
                let _ = writeln!(md);
                for (peer, _) in runs.iter().filter(|(n, _)| *n != base) {
                    let _ = write!(md, "| {peer} |");
                    for (key, _, _, _) in &rated {
                        match (
                            self.median(&sc.id, base, key),
                            self.median(&sc.id, peer, key),
                        ) {
                            (Some(a), Some(b)) if b != 0.0 => {
                                let _ = write!(md, " {:.2}× |", a / b);
                            }
                            _ => {
                                let _ = write!(md, " - |");
                            }
                        }
                    }
                    let _ = writeln!(md);
                }
            }
            let mut any = false;
            for (name, records) in runs {
                for (round, r) in records.iter().enumerate() {
                    for note in &r.notes {
                        if !any {
                            let _ = writeln!(md, "\nNotes:\n");
                            any = true;
                        }
                        let _ = writeln!(md, "- {name}, round {round}: {note}");
                    }
                }
            }
            let _ = writeln!(md);
        }
        if let Some(notes) = notes {
            md.push_str(notes);
        }
        md
    }

    /// The performance goals (issue 21), each met or missed with the
    /// measured figures.
    fn goals(&self) -> String {
        let mut md = String::from("## Goals (issue 21)\n\n| goal | measured | |\n|---|---|---|\n");
        let ids: Vec<&str> = self.scenarios.iter().map(|(s, _)| s.id.as_str()).collect();
        let find = |prefix: &'static str| -> Vec<&str> {
            ids.iter()
                .filter(|id| id.starts_with(prefix))
                .copied()
                .collect()
        };
        let mut row = |goal: String, measured: String, met: Option<bool>| {
            let verdict = match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(md, "| {goal} | {measured} | {verdict} |");
        };
        for id in find("idle") {
            let ours = self.median(id, OURS, "kb_per_client");
            let peers: Vec<String> = ["socketioxide", "node", "raw-ws"]
                .iter()
                .filter_map(|p| {
                    self.median(id, p, "kb_per_client")
                        .map(|v| format!("{p} {v:.2} KB"))
                })
                .collect();
            row(
                format!("{id}: at most 3 KB per idle client"),
                format!("ours {} KB ({})", opt(ours, 2), peers.join(", ")),
                ours.map(|v| v <= 3.0),
            );
        }
        for id in find("echo") {
            let cpu = self.ratio(id, "socketioxide", "cpu_us_per_rtt");
            row(
                format!("{id}: server CPU per round trip at most 0.5× socketioxide"),
                format!("{}×", opt(cpu, 2)),
                cpu.map(|r| r <= 0.5),
            );
            let t = self.ratio(id, "socketioxide", "rtt_per_s");
            row(
                format!("{id}: round trips/s at least 1.5× socketioxide"),
                format!("{}×", opt(t, 2)),
                t.map(|r| r >= 1.5),
            );
            let floor = self.ratio(id, "raw-ws", "cpu_us_per_rtt");
            row(
                format!(
                    "{id}: server CPU per round trip at most 2× the batching raw WebSocket echo"
                ),
                format!("{}×", opt(floor, 2)),
                floor.map(|r| r <= 2.0),
            );
        }
        for id in find("polling") {
            let cpu = self.ratio(id, "socketioxide", "cpu_us_per_rtt");
            row(
                format!("{id}: server CPU per round trip at most 0.7× socketioxide"),
                format!("{}×", opt(cpu, 2)),
                cpu.map(|r| r <= 0.7),
            );
        }
        for id in find("handshake") {
            let t = self.ratio(id, "socketioxide", "conn_per_s");
            row(
                format!("{id}: connections/s at least 1.5× socketioxide"),
                format!("{}×", opt(t, 2)),
                t.map(|r| r >= 1.5),
            );
        }
        for id in find("broadcast") {
            for peer in ["socketioxide", "socketioxide-big"] {
                if self.median(id, peer, "clients").is_none() {
                    continue;
                }
                // Compared at the highest rate both kept up with in every
                // round: near its own limit a server's latency climbs.
                let Some(rate) = self.common_rate(id, peer) else {
                    row(
                        format!("{id}: compared with {peer}"),
                        "no rate both kept up with".into(),
                        None,
                    );
                    continue;
                };
                let at = |server: &str, what: &str| {
                    self.median(id, server, &format!("{what}_at_{rate:.0}"))
                };
                let (oc, pc) = (at(OURS, "cpu_ns"), at(peer, "cpu_ns"));
                let cpu = oc.zip(pc).map(|(a, b)| a / b);
                row(
                    format!("{id}: server CPU per delivery at most 0.5× {peer}"),
                    format!(
                        "at {rate:.0} msg/s: ours {} ns, {peer} {} ns: {}×",
                        opt(oc, 0),
                        opt(pc, 0),
                        opt(cpu, 2)
                    ),
                    cpu.map(|r| r <= 0.5),
                );
                let (op, pp) = (at(OURS, "p99_ms"), at(peer, "p99_ms"));
                let p = op.zip(pp).map(|(a, b)| a / b);
                row(
                    format!("{id}: p99 delivery latency no worse than {peer}"),
                    format!(
                        "at {rate:.0} msg/s: ours {} ms, {peer} {} ms: {}×",
                        opt(op, 1),
                        opt(pp, 1),
                        opt(p, 2)
                    ),
                    p.map(|r| r <= 1.0),
                );
            }
            let ratio = self.median(id, OURS, "delivered_ratio");
            let lost = self.median(id, OURS, "lost_sessions");
            row(
                format!("{id}: ours loses nothing silently"),
                format!(
                    "delivered/expected over all steps {}; sessions closed by the server {}",
                    opt(ratio, 5),
                    opt(lost, 0)
                ),
                // Anything missing must be explained by sessions the server
                // closed with a reason.
                ratio.map(|r| r >= 1.0 || lost.is_some_and(|l| l > 0.0)),
            );
        }
        let _ = writeln!(
            md,
            "\nA ratio is ours / peer on the median figures. \"Nothing dropped\": a step only counts as kept up when every event reached every client; past that rate our server closes a client whose queue is full (\"send buffer full\", a reason the application sees) rather than dropping silently, which the notes show as lost sessions.\n"
        );
        md
    }

    /// The highest broadcast rate that ours and `peer` kept up with in
    /// every round.
    fn common_rate(&self, id: &str, peer: &str) -> Option<f64> {
        let (_, runs) = self.scenarios.iter().find(|(s, _)| s.id == id)?;
        let rates = |server: &str| -> Option<Vec<f64>> {
            let (_, records) = runs.iter().find(|(n, _)| *n == server)?;
            let mut common: Option<Vec<f64>> = None;
            for r in records {
                let here: Vec<f64> = r
                    .values
                    .keys()
                    .filter_map(|k| k.strip_prefix("p99_ms_at_").and_then(|v| v.parse().ok()))
                    .collect();
                common = Some(match common {
                    None => here,
                    Some(c) => c.into_iter().filter(|x| here.contains(x)).collect(),
                });
            }
            common
        };
        let ours = rates(OURS)?;
        let theirs = rates(peer)?;
        ours.into_iter()
            .filter(|x| theirs.contains(x))
            .max_by(f64::total_cmp)
    }

    fn ratio(&self, id: &str, peer: &str, key: &str) -> Option<f64> {
        let a = self.median(id, OURS, key)?;
        let b = self.median(id, peer, key)?;
        (b != 0.0).then_some(a / b)
    }
}

/// The server a scenario's ratios are taken for: its first when that is
/// ours (`ours-tokio-deflate` for the deflate scenarios...), else
/// `ours-tokio`.
fn base(sc: &Scenario) -> &'static str {
    sc.servers
        .first()
        .copied()
        .filter(|n| n.starts_with("ours"))
        .unwrap_or(OURS)
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| fmt(v, decimals))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v.get(mid).copied()
    } else {
        Some((v.get(mid - 1)? + v.get(mid)?) / 2.0)
    }
}

fn fmt(v: f64, decimals: usize) -> String {
    if decimals == 0 && v.abs() >= 10_000.0 {
        // Thousands separated for readability.
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{v:.decimals$}")
    }
}

/// One line per fact about the machine.
fn machine() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("?".into(), |s| s.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or("?".into(), |k| {
            format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0)
        });
    let cmd = |c: &str, a: &[&str]| {
        std::process::Command::new(c)
            .args(a)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let (_, nofile) = rlimit::Resource::NOFILE.get().unwrap_or((0, 0));
    vec![
        format!("date: {}", cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
        format!("CPU: {model}, {cores} cores"),
        format!("kernel: Linux {}", kernel.trim()),
        format!("memory: {mem}; open files per process: {nofile}"),
        format!(
            "{}; node {}",
            cmd("rustc", &["--version"]),
            cmd("node", &["--version"])
        ),
    ]
}

/// One line for the console.
pub fn summary(r: &Record) -> String {
    let mut s = String::new();
    for (k, v) in r.values.iter().filter(|(k, _)| !k.contains("_at_")) {
        let _ = write!(
            s,
            "{k}={} ",
            if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.3}")
            }
        );
    }
    for n in &r.notes {
        let _ = write!(s, "[{n}] ");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0]), Some(3.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(vec![5.0, 1.0, 3.0]), Some(3.0));
    }

    #[test]
    fn formats_large_numbers_with_separators() {
        assert_eq!(fmt(1234567.4, 0), "1,234,567");
        assert_eq!(fmt(999.0, 0), "999");
        assert_eq!(fmt(2.345, 2), "2.35");
    }
}
