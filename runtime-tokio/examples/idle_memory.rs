//! What an idle WebSocket Socket.IO client costs the server: live heap bytes
//! and allocations, and resident memory (RSS), per client.
//!
//! ```text
//! # RSS per client (the figure the benchmark compares with peers)
//! cargo run --release -p runtime-tokio --example idle_memory
//! # live heap bytes and blocks per client, and the allocation sites that hold them
//! cargo run --release -p runtime-tokio --example idle_memory -- --heap
//! # options: --clients N (default 2000), --idle SECONDS (default 5)
//! # permessage-deflate on (the clients offer it, then each sends one
//! # compressed 2 KB event), without and with context takeover:
//! cargo run --release -p runtime-tokio --example idle_memory -- --per-message-deflate
//! cargo run --release -p runtime-tokio --example idle_memory -- --per-message-deflate --context-takeover
//! # the same 2 KB event sent plain, without the extension (the baseline for the two above)
//! cargo run --release -p runtime-tokio --example idle_memory -- --one-event
//! ```
//!
//! This process runs the server (the benchmark's application: `echo`,
//! `echo-ack`, `broadcast`, every socket in room `all`) on tokio; a child
//! process (this same program) opens the clients: raw WebSocket connections
//! that join namespace `/` and then only answer pings. The ping interval is
//! 1 s (timeout 0.8 s, the defaults' ratio), so every client answers several
//! pings during the idle window. The
//! figures are the difference between the server before the clients came
//! and after they idled, divided by the number of clients. Then the clients
//! go, and every session must have ended.
//!
//! `--heap` counts live heap bytes with dhat's allocator and, while the
//! clients are still connected, lists the allocation sites that hold them
//! (bytes and blocks per client, with the first frames of our crates and of
//! the libraries below them). Without `--heap` the allocator passes through
//! to the system's, and only RSS is measured.

use runtime_tokio::socketio_async::Payload;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use runtime_tokio::engineio_proto::PerMessageDeflate;
use runtime_tokio::socketio_async::{Socket, SocketIo};
use runtime_tokio::socketio_proto::Config;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// How many client connections the child process opens at once.
const CONNECT_CONCURRENCY: usize = 50;

/// Where `--heap` writes dhat's profile, in the temporary directory (also
/// readable with dhat's viewer).
fn profile_path() -> std::path::PathBuf {
    std::env::temp_dir().join("dhat-idle-memory.json")
}

/// Allocation sites listed by `--heap`.
const TOP_SITES: usize = 40;

struct Options {
    clients: usize,
    idle: Duration,
    heap: bool,
    /// `None`: no permessage-deflate; `Some(takeover)`: on, with context
    /// takeover allowed or not.
    deflate: Option<bool>,
    /// Without the extension, each client still sends the 2 KB event (plain).
    one_event: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        clients: 2000,
        idle: Duration::from_secs(5),
        heap: false,
        deflate: None,
        one_event: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--clients" => options.clients = args.next().ok_or("--clients N")?.parse()?,
            "--idle" => {
                options.idle = Duration::from_secs(args.next().ok_or("--idle SECONDS")?.parse()?)
            }
            "--heap" => options.heap = true,
            "--per-message-deflate" => options.deflate = Some(options.deflate.unwrap_or(false)),
            "--context-takeover" => options.deflate = Some(true),
            "--one-event" => options.one_event = true,
            "--client-process" => {
                let addr: SocketAddr = args.next().ok_or("--client-process ADDR N D")?.parse()?;
                let count: usize = args.next().ok_or("--client-process ADDR N D")?.parse()?;
                let mode = args.next();
                let deflate = mode.as_deref() == Some("deflate");
                let event = deflate || mode.as_deref() == Some("event");
                return run_clients(addr, count, deflate, event);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_server(options))
}

/// Live heap and RSS at one moment.
#[derive(Clone, Copy)]
struct Reading {
    heap_bytes: u64,
    heap_blocks: u64,
    rss_bytes: u64,
}

fn read(heap: bool) -> Reading {
    let (heap_bytes, heap_blocks) = if heap {
        let stats = dhat::HeapStats::get();
        (stats.curr_bytes as u64, stats.curr_blocks as u64)
    } else {
        (0, 0)
    };
    Reading {
        heap_bytes,
        heap_blocks,
        rss_bytes: rss_bytes(),
    }
}

/// VmRSS of this process.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[path = "../../servers/src/bin/shared/echo.rs"]
mod echo;

async fn on_connection(socket: Socket) {
    socket.join("all");
    echo::echo(&socket, "echo", "echo");
    echo::ack_echo(&socket, "echo-ack");
    socket.on("broadcast", |socket: Socket, payload: Payload| async move {
        let _ = socket.io().to("all").emit_payload("broadcast", payload);
    });
}

async fn run_server(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let profiler = options.heap.then(|| {
        dhat::Profiler::builder()
            .file_name(profile_path())
            .trim_backtraces(Some(40))
            .build()
    });

    let io = SocketIo::new();
    io.on_connection(on_connection);
    let mut config = Config::default();
    config.engine.ping_interval = Duration::from_secs(1);
    // The defaults' ratio (20 s / 25 s): a timeout shorter than the interval
    // keeps one timer entry per session, as the defaults do.
    config.engine.ping_timeout = Duration::from_millis(800);
    if let Some(takeover) = options.deflate {
        config.engine.per_message_deflate = Some(PerMessageDeflate {
            server_context_takeover: takeover,
            client_context_takeover: takeover,
            ..PerMessageDeflate::default()
        });
    }
    let driver = runtime_tokio::serve_io(&io, config);
    let listener = runtime_tokio::bind("127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr()?;
    tokio::spawn(runtime_tokio::serve(driver.clone(), listener));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let before = read(options.heap);
    let started = Instant::now();
    let mode = match (options.deflate, options.one_event) {
        (Some(_), _) => "deflate",
        (None, true) => "event",
        (None, false) => "plain",
    };
    let mut child = spawn_clients(addr, options.clients, mode)?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("child stdout")?).lines();
    let ready = tokio::task::spawn_blocking(move || lines.next()).await?;
    match ready {
        Some(Ok(line)) if line.starts_with("ready") => {}
        other => {
            let _ = child.kill();
            return Err(format!("clients failed: {other:?}").into());
        }
    }
    let setup = started.elapsed();
    tokio::time::sleep(options.idle).await;
    let connected = io.clients_count();
    let idle = read(options.heap);

    let n = options.clients as f64;
    println!(
        "{} clients connected to / in {:.2} s ({} engine clients counted), idle {} s with a 1 s ping interval",
        options.clients,
        setup.as_secs_f64(),
        connected,
        options.idle.as_secs()
    );
    if !options.heap {
        println!(
            "RSS: {:.1} MiB before, {:.1} MiB idle: {:.0} bytes per client",
            before.rss_bytes as f64 / 1048576.0,
            idle.rss_bytes as f64 / 1048576.0,
            idle.rss_bytes.saturating_sub(before.rss_bytes) as f64 / n
        );
    } else {
        // dhat's own records would count in RSS: not measured here.
        println!(
            "heap: {:.0} bytes in {:.1} blocks per client (requested sizes; malloc adds its own headers and rounding)",
            idle.heap_bytes.saturating_sub(before.heap_bytes) as f64 / n,
            idle.heap_blocks.saturating_sub(before.heap_blocks) as f64 / n,
        );
    }
    if let Some(profiler) = profiler {
        // Dropping the profiler writes the live blocks of this moment.
        drop(profiler);
        print_sites(options.clients)?;
    }

    let _ = child.kill();
    let _ = child.wait();
    // Closed connections are noticed and their sessions end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "after the clients left: {} engine clients counted (malloc keeps the freed memory for reuse: RSS {:.1} MiB)",
        io.clients_count(),
        rss_bytes() as f64 / 1048576.0,
    );
    Ok(())
}

fn spawn_clients(addr: SocketAddr, count: usize, mode: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args([
            "--client-process",
            &addr.to_string(),
            &count.to_string(),
            mode,
        ])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
}

/// The child process: `count` clients that join `/` and answer pings (with
/// `deflate`: that offer permessage-deflate and send one compressed event;
/// with `event` alone: that send the same event plain).
fn run_clients(
    addr: SocketAddr,
    count: usize,
    deflate: bool,
    event: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
            let (joined_tx, mut joined_rx) = tokio::sync::mpsc::channel::<()>(count.max(1));
            let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
            for _ in 0..count {
                let permit = permits.clone().acquire_owned().await?;
                let url = url.clone();
                let joined = joined_tx.clone();
                tokio::spawn(async move {
                    if let Err(error) = client(&url, permit, joined, deflate, event).await {
                        eprintln!("client: {error}");
                        std::process::exit(1);
                    }
                });
            }
            for _ in 0..count {
                joined_rx.recv().await.ok_or("a client ended")?;
            }
            println!("ready");
            std::future::pending::<()>().await;
            Ok(())
        })
}

async fn client(
    url: &str,
    permit: tokio::sync::OwnedSemaphorePermit,
    joined: tokio::sync::mpsc::Sender<()>,
    deflate: bool,
    event: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    if deflate {
        request.headers_mut().insert(
            "sec-websocket-extensions",
            http::HeaderValue::from_static("permessage-deflate"),
        );
    }
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await?;
    let agreed = response.headers().contains_key("sec-websocket-extensions");
    if agreed != deflate {
        return Err(format!("permessage-deflate offered {deflate}, agreed {agreed}").into());
    }
    let open = ws.next().await.ok_or("closed before open")??;
    if !open.to_text()?.starts_with('0') {
        return Err(format!("unexpected {open:?}").into());
    }
    ws.send(Message::text("40")).await?;
    loop {
        let message = ws.next().await.ok_or("closed before connect")??;
        let text = message.to_text()?;
        if text.starts_with("40") {
            break;
        }
        if text == "2" {
            ws.send(Message::text("3")).await?;
        }
    }
    // One 2 KB event no handler answers: compressed with the extension (the
    // server inflates it, and keeps its inflater when the client keeps its
    // context), plain without.
    let event_text = format!("42[\"ignored\",\"{}\"]", "x".repeat(2000));
    if event && !deflate {
        ws.send(Message::text(event_text.as_str())).await?;
    }
    if deflate {
        let event = event_text;
        let mut d = runtime_tokio::engineio_proto::deflate::Deflater::default();
        let data = d.deflate(event.as_bytes(), 6, false);
        let mut frame = Frame::message(
            data,
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
            ),
            true,
        );
        frame.header_mut().rsv1 = true;
        ws.send(Message::Frame(frame)).await?;
    }
    drop(permit);
    joined.send(()).await?;
    while let Some(message) = ws.next().await {
        if message?.to_text()? == "2" {
            ws.send(Message::text("3")).await?;
        }
    }
    Err("the server closed the connection".into())
}

/// Lists the allocation sites holding the most bytes in dhat's profile.
fn print_sites(clients: usize) -> Result<(), Box<dyn std::error::Error>> {
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(profile_path())?)?;
    let frames: Vec<&str> = profile
        .get("ftbl")
        .and_then(|f| f.as_array())
        .ok_or("no ftbl")?
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    let mut sites: Vec<(u64, u64, String)> = Vec::new();
    let pps = profile.get("pps").and_then(|p| p.as_array());
    for pp in pps.ok_or("no pps")? {
        let count = |key: &str| pp.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        let (bytes, blocks) = (count("eb"), count("ebk"));
        if bytes == 0 {
            continue;
        }
        let names: Vec<String> = pp
            .get("fs")
            .and_then(|fs| fs.as_array())
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f.as_u64())
                    .filter_map(|f| frames.get(f as usize))
                    .map(|f| frame_name(f))
                    .filter(|name| is_telling(name))
                    .take(4)
                    .collect()
            })
            .unwrap_or_default();
        let names = names.join(" < ");
        // One site reached along several paths (threads, inlining) is
        // listed once.
        match sites.iter_mut().find(|site| site.2 == names) {
            Some(site) => {
                site.0 += bytes;
                site.1 += blocks;
            }
            None => sites.push((bytes, blocks, names)),
        }
    }
    sites.sort_by_key(|site| std::cmp::Reverse(site.0));
    let n = clients as f64;
    println!("live heap by allocation site, per client (sites under 1 byte per client left out):");
    for (bytes, blocks, names) in sites.iter().take(TOP_SITES) {
        let per_client = *bytes as f64 / n;
        if per_client < 1.0 {
            break;
        }
        println!(
            "  {per_client:7.1} B {:5.2} blocks  {names}",
            *blocks as f64 / n
        );
    }
    Ok(())
}

/// The function of a dhat frame ("0x..: name (file:line:col)"), without
/// its hash.
fn frame_name(frame: &str) -> String {
    let name = frame.split_once(": ").map_or(frame, |(_, rest)| rest);
    let name = name.split(" (").next().unwrap_or(name);
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 => path.to_owned(),
        _ => name.to_owned(),
    }
}

/// Frames that say who allocated: not the allocator's own plumbing.
fn is_telling(name: &str) -> bool {
    ![
        "alloc::",
        "<alloc::",
        "core::",
        "<core::",
        "std::",
        "<std::",
        "dhat::",
        "<dhat::",
        "hashbrown::",
        "<hashbrown::",
        "[root]",
        "__rust",
        "_start",
        "__libc",
        "main",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}
