//! The simulated clients: TCP from one of several loopback source addresses,
//! Socket.IO over WebSocket (or a raw WebSocket for the echo baseline) and
//! over HTTP long-polling (hyper), each answering pings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::hist::Hist;
use crate::proto::{self, Packet};
use crate::wire::{self, Conn, Wire};

/// How long one connection (TCP, HTTP or WebSocket handshake, Socket.IO
/// CONNECT) may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the round trip that ends a handshake may take: an event lost
/// right after CONNECT should cost a worker little time.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(2);

/// Microseconds since the loader started: the clock timestamps carry.
pub fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Where clients connect, and from which source addresses.
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// `true` for a Socket.IO server, `false` for the raw WebSocket echo.
    pub socketio: bool,
    /// TLS, permessage-deflate, parser and padding.
    pub wire: Wire,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Target {
    /// A server at `addr`. With `sources > 1`, connections are bound in turn
    /// to 127.0.0.1, 127.0.0.2, ... so the ephemeral port range of one
    /// source address does not cap the client count.
    pub fn new(addr: SocketAddr, socketio: bool, sources: u8, wire: Wire) -> Self {
        let sources = if sources > 1 {
            (1..=sources).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect()
        } else {
            Vec::new()
        };
        Self {
            addr,
            socketio,
            wire,
            sources,
            next: AtomicUsize::new(0),
        }
    }

    /// Opens a TCP connection (no Nagle delay).
    pub async fn tcp(&self) -> Result<TcpStream, String> {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        if !self.sources.is_empty() {
            // Ports in TIME_WAIT from earlier runs may be bound again.
            let _ = socket.set_reuseaddr(true);
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            let ip = self.sources.get(i).copied().unwrap_or(Ipv4Addr::LOCALHOST);
            socket
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// A connection with this target's TLS and inflater (`deflate`: when
    /// the wire offers permessage-deflate).
    pub async fn conn(&self, deflate: bool) -> Result<Conn, String> {
        let tcp = self.tcp().await?;
        let wire = Wire {
            deflate: deflate && self.wire.deflate,
            ..self.wire.clone()
        };
        Conn::new(tcp, &wire).await
    }

    /// An EVENT message with one string argument (JSON text or msgpack
    /// binary, as the wire says), asking for an ack when `id` is set.
    pub fn event(&self, id: Option<u64>, event: &str, arg: &str) -> Message {
        if self.wire.msgpack {
            return Message::binary(wire::msgpack_event(id, event, arg));
        }
        match id {
            Some(id) => Message::text(proto::event_with_ack(id, event, arg)),
            None => Message::text(proto::event(event, arg)),
        }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// A client WebSocket.
pub type Ws = WebSocketStream<Conn>;

/// Small buffers, so that 20,000 clients fit in the loader.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Opens a WebSocket to the target; for a Socket.IO server, completes the
/// Engine.IO handshake and the CONNECT to `/`.
pub async fn ws_open(target: &Target) -> Result<Ws, String> {
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        let path = if target.socketio {
            proto::websocket_path(None)
        } else {
            "/".to_owned()
        };
        let mut ws = ws_handshake(target, &path).await?;
        if target.socketio {
            match next_text(&mut ws).await? {
                t if matches!(proto::decode(&t), Packet::Open { .. }) => {}
                t => return Err(format!("expected the open packet, got {t:?}")),
            }
            let connect = if target.wire.msgpack {
                Message::binary(wire::msgpack_connect())
            } else {
                Message::text(proto::CONNECT)
            };
            ws.send(connect).await.map_err(|e| format!("send: {e}"))?;
            loop {
                let m = next_message(&mut ws).await?;
                match decode(&m) {
                    Packet::Connect => break,
                    Packet::Ping => send(&mut ws, proto::PONG.to_owned()).await?,
                    _ => return Err(format!("expected CONNECT, got {m:?}")),
                }
            }
        }
        Ok(ws)
    })
    .await
    .map_err(|_| "connect timed out".to_owned())?
}

async fn ws_handshake(target: &Target, path: &str) -> Result<Ws, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stream = target.conn(true).await?;
    let url = format!("ws://{}{}", target.host(), path);
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("request: {e}"))?;
    if target.wire.deflate {
        request.headers_mut().insert(
            "sec-websocket-extensions",
            hyper::header::HeaderValue::from_static("permessage-deflate; client_max_window_bits"),
        );
    }
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    Ok(ws)
}

/// Decodes a text (Engine.IO, JSON Socket.IO) or binary (msgpack
/// Socket.IO) message.
fn decode(m: &Message) -> Packet<'_> {
    match m {
        Message::Text(t) => proto::decode(t.as_str()),
        Message::Binary(b) => wire::msgpack_decode(b),
        _ => Packet::Other,
    }
}

async fn next_message(ws: &mut Ws) -> Result<Message, String> {
    loop {
        match ws.next().await {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => return Ok(m),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("closed".into()),
        }
    }
}

async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("closed".into()),
        }
    }
}

/// Where a scenario is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connecting: clients answer pings but send nothing yet, so a slow
    /// server is not flooded by the first clients while the last connect.
    Connect,
    /// Running, not counted.
    Warmup,
    /// Running and counted.
    Measure,
    /// Stop and close.
    Stop,
}

/// What the broadcast sender does: `rate` events per second from `start_us`
/// to `end_us`, tagged with `step`.
#[derive(Debug, Clone, Copy)]
pub struct SendPlan {
    /// Tag carried by every event of this step.
    pub step: u64,
    /// Events per second.
    pub rate: f64,
    /// When sending starts ([`now_us`]).
    pub start_us: u64,
    /// When sending stops.
    pub end_us: u64,
}

impl SendPlan {
    /// Events the whole step sends.
    pub fn total(&self) -> u64 {
        (self.rate * self.end_us.saturating_sub(self.start_us) as f64 / 1e6).floor() as u64
    }
}

/// Counters every client of a scenario adds to.
#[derive(Default)]
pub struct Shared {
    /// Echoes or acks received while measuring.
    pub round_trips: AtomicU64,
    /// Latencies (µs) while measuring, or of the current broadcast step.
    pub hist: Hist,
    /// The broadcast step being counted.
    pub step: AtomicU64,
    /// Broadcast events of the current step sent.
    pub sent: AtomicU64,
    /// Broadcast events of the current step received (all clients).
    pub delivered: AtomicU64,
    /// When the last counted broadcast event arrived ([`now_us`]).
    pub last_delivery_us: AtomicU64,
    /// Sessions the server ended (or that failed) before the scenario did.
    pub lost: AtomicU64,
    /// Packets this client does not decode.
    pub unexpected: AtomicU64,
    /// Pings answered.
    pub pings: AtomicU64,
    /// Why the first lost session ended, as far as the client can tell.
    pub first_loss: std::sync::Mutex<Option<String>>,
}

impl Shared {
    /// Counts a session lost for `why`.
    pub fn lose(&self, why: impl FnOnce() -> String) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_loss.lock()
            && first.is_none()
        {
            *first = Some(why());
        }
    }
}

/// What a WebSocket client does once connected.
pub enum Role {
    /// Answers pings, nothing else.
    Idle,
    /// Keeps `inflight` `echo` events outstanding (`once`: sends them once,
    /// not again when they come back).
    Echo {
        /// Events in flight.
        inflight: usize,
        /// Send each once only.
        once: bool,
    },
    /// Counts `broadcast` events; the sender also emits them.
    Broadcast {
        /// The sender's plan.
        sender: Option<watch::Receiver<Option<SendPlan>>>,
    },
}

/// Runs one connected WebSocket client until the phase is `Stop` or the
/// server ends it.
pub async fn ws_client(
    mut ws: Ws,
    role: Role,
    target: Arc<Target>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut current = *phase.borrow();
    let mut out: Vec<Message> = Vec::new();
    let echo = match role {
        Role::Echo { once, .. } => Some(once),
        _ => None,
    };
    // Echo events still to start once the clients are all connected.
    let mut to_start = match role {
        Role::Echo { inflight, .. } => inflight,
        _ => 0,
    };
    let mut plan_rx = match role {
        Role::Broadcast { sender } => sender,
        _ => None,
    };
    let mut ticker = plan_rx.as_ref().map(|_| {
        let mut t = tokio::time::interval(Duration::from_millis(1));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let mut sent_step = u64::MAX;
    let mut sent = 0u64;
    loop {
        if to_start > 0 && current != Phase::Connect {
            for _ in 0..std::mem::take(&mut to_start) {
                out.push(target.event(None, "echo", &target.wire.arg(now_us().to_string())));
            }
        }
        if !out.is_empty() {
            let mut failed = false;
            for message in out.drain(..) {
                if ws.feed(message).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed || ws.flush().await.is_err() {
                shared.lose(|| "write failed".into());
                return;
            }
        }
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    return;
                }
                current = *phase.borrow();
                if current == Phase::Stop {
                    return;
                }
            }
            message = ws.next() => match message {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    handle(&m, echo, current, &target, &shared, &mut out);
                }
                Some(Ok(Message::Close(frame))) => {
                    shared.lose(|| format!("closed by the server: {frame:?}"));
                    return;
                }
                Some(Err(e)) => {
                    shared.lose(|| format!("read: {e}"));
                    return;
                }
                None => {
                    shared.lose(|| "connection closed".into());
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = tick(&mut ticker) => {
                let plan = plan_rx.as_mut().and_then(|rx| *rx.borrow_and_update());
                if let Some(plan) = plan {
                    if plan.step != sent_step {
                        sent_step = plan.step;
                        sent = 0;
                    }
                    let now = now_us();
                    if now >= plan.start_us {
                        let total = plan.total();
                        let elapsed = now.min(plan.end_us) - plan.start_us;
                        let due = ((plan.rate * elapsed as f64 / 1e6).floor() as u64 + 1).min(total);
                        while sent < due {
                            sent += 1;
                            let arg = target.wire.arg(format!("{}:{}:{}", plan.step, sent, now_us()));
                            out.push(target.event(None, "broadcast", &arg));
                        }
                        shared.sent.store(sent, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// `echo`: `None` unless the client echoes; `Some(once)` as in
/// [`Role::Echo`].
fn handle(
    m: &Message,
    echo: Option<bool>,
    phase: Phase,
    target: &Target,
    shared: &Shared,
    out: &mut Vec<Message>,
) {
    match decode(m) {
        Packet::Ping => {
            shared.pings.fetch_add(1, Ordering::Relaxed);
            out.push(Message::text(proto::PONG));
        }
        Packet::Event { event: "echo", arg } if echo.is_some() => {
            let now = now_us();
            if phase == Phase::Measure {
                // The timestamp, before any padding.
                if let Ok(t) = arg.split(':').next().unwrap_or(arg).parse::<u64>() {
                    shared.hist.record(now.saturating_sub(t));
                }
                shared.round_trips.fetch_add(1, Ordering::Relaxed);
            }
            if phase != Phase::Stop && echo == Some(false) {
                out.push(target.event(None, "echo", &target.wire.arg(now.to_string())));
            }
        }
        Packet::Event {
            event: "broadcast",
            arg,
        } => {
            let mut parts = arg.split(':').map(|p| p.parse::<u64>().unwrap_or(u64::MAX));
            let (step, _seq, t) = (parts.next(), parts.next(), parts.next());
            if step == Some(shared.step.load(Ordering::Relaxed)) {
                let now = now_us();
                if let Some(t) = t {
                    shared.hist.record(now.saturating_sub(t));
                }
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
            }
        }
        _ => {
            shared.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// One HTTP/1.1 connection to the target.
type Http = SendRequest<Full<Bytes>>;

async fn http_open(target: &Target) -> Result<Http, String> {
    let stream = target.conn(false).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn http(
    c: &mut Http,
    target: &Target,
    path: &str,
    body: Option<String>,
) -> Result<String, String> {
    let method = if body.is_some() { "POST" } else { "GET" };
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", target.host())
        .header("content-type", "text/plain;charset=UTF-8")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("request: {e}"))?;
    c.ready().await.map_err(|e| format!("http: {e}"))?;
    let response = c
        .send_request(request)
        .await
        .map_err(|e| format!("{method}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{method} body: {e}"))?
        .to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        return Err(format!("{method} {path}: {status} {body}"));
    }
    Ok(body)
}

/// Polling handshake and CONNECT over `c`; returns the session id.
async fn polling_connect(c: &mut Http, target: &Target) -> Result<String, String> {
    let open = http(c, target, &proto::polling_path(None), None).await?;
    let sid = match proto::split_payload(&open).next().map(proto::decode) {
        Some(Packet::Open { sid }) => sid,
        _ => return Err(format!("expected the open packet, got {open:?}")),
    };
    let path = proto::polling_path(Some(&sid));
    http(c, target, &path, Some(proto::CONNECT.to_owned())).await?;
    loop {
        let body = http(c, target, &path, None).await?;
        let mut pong = false;
        for packet in proto::split_payload(&body) {
            match proto::decode(packet) {
                Packet::Connect => return Ok(sid),
                Packet::Ping => pong = true,
                Packet::Noop => {}
                _ => return Err(format!("expected CONNECT, got {body:?}")),
            }
        }
        if pong {
            http(c, target, &path, Some(proto::PONG.to_owned())).await?;
        }
    }
}

/// A polling-only client: one connection long-polls, another posts; keeps
/// one `echo-ack` in flight and answers pings.
pub async fn polling_client(
    target: Arc<Target>,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut get = http_open(&target).await?;
        let post = http_open(&target).await?;
        let sid = polling_connect(&mut get, &target).await?;
        Ok::<_, String>((get, post, sid))
    })
    .await
    .unwrap_or_else(|_| Err("connect timed out".into()));
    let (get, mut post, sid) = match opened {
        Ok(o) => {
            let _ = ready.send(Ok(())).await;
            o
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return;
        }
    };
    drop(ready);
    let path = proto::polling_path(Some(&sid));
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let post_target = target.clone();
    let post_path = path.clone();
    let post_shared = shared.clone();
    let poster = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut packets = vec![first];
            while let Ok(more) = rx.try_recv() {
                packets.push(more);
            }
            let body = proto::polling_payload(&packets);
            if let Err(e) = http(&mut post, &post_target, &post_path, Some(body)).await {
                post_shared.lose(|| e);
                return;
            }
        }
    });
    let mut current = *phase.borrow();
    let mut next_id = 0u64;
    // A long-poll is never cancelled midway: that would lose its response
    // and, with it, the HTTP connection.
    let mut poll = Box::pin(long_poll(get, target.clone(), path.clone()));
    let mut started = false;
    loop {
        if !started && current != Phase::Connect {
            started = true;
            let _ = tx.send(proto::event_with_ack(
                next_id,
                "echo-ack",
                &now_us().to_string(),
            ));
        }
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
                current = *phase.borrow();
                if current == Phase::Stop {
                    break;
                }
            }
            (conn, body) = &mut poll => {
                poll = Box::pin(long_poll(conn, target.clone(), path.clone()));
                let body = match body {
                    Ok(body) => body,
                    Err(e) => {
                        shared.lose(|| e);
                        break;
                    }
                };
                let mut closed = false;
                for packet in proto::split_payload(&body) {
                    match proto::decode(packet) {
                        Packet::Ping => {
                            shared.pings.fetch_add(1, Ordering::Relaxed);
                            let _ = tx.send(proto::PONG.to_owned());
                        }
                        Packet::Ack { id, arg } if id == next_id => {
                            let now = now_us();
                            if current == Phase::Measure {
                                if let Ok(t) = arg.parse::<u64>() {
                                    shared.hist.record(now.saturating_sub(t));
                                }
                                shared.round_trips.fetch_add(1, Ordering::Relaxed);
                            }
                            next_id += 1;
                            let _ = tx.send(proto::event_with_ack(next_id, "echo-ack", &now.to_string()));
                        }
                        Packet::Noop => {}
                        Packet::Close => {
                            shared.lose(|| "close packet from the server".into());
                            closed = true;
                        }
                        _ => {
                            shared.unexpected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if closed {
                    break;
                }
            }
        }
    }
    poster.abort();
}

/// One GET on `conn`, which is handed back for the next.
async fn long_poll(
    mut conn: Http,
    target: Arc<Target>,
    path: String,
) -> (Http, Result<String, String>) {
    let body = http(&mut conn, &target, &path, None).await;
    (conn, body)
}

/// One connection over WebSocket directly, then one ack round trip (one
/// echo for the raw WebSocket server); closes.
pub async fn handshake_ws(target: &Target) -> Result<(), String> {
    let mut ws = ws_open(target).await?;
    tokio::time::timeout(ROUND_TRIP_TIMEOUT, async {
        if target.socketio {
            ack_round_trip(&mut ws, target).await
        } else {
            send(&mut ws, proto::event("echo", "1")).await?;
            next_message(&mut ws).await.map(drop)
        }
    })
    .await
    .map_err(|_| "round trip timed out".to_owned())?
}

/// One connection over polling (handshake, CONNECT), upgraded to
/// WebSocket (probe, upgrade), then one ack round trip over the WebSocket;
/// closes.
pub async fn handshake_upgrade(target: &Target) -> Result<(), String> {
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        let mut c = http_open(target).await?;
        let sid = polling_connect(&mut c, target).await?;
        let mut ws = ws_handshake(target, &proto::websocket_path(Some(&sid))).await?;
        send(&mut ws, proto::PING_PROBE.to_owned()).await?;
        loop {
            let t = next_text(&mut ws).await?;
            match proto::decode(&t) {
                Packet::PongProbe => break,
                Packet::Noop => {}
                _ => return Err(format!("expected 3probe, got {t:?}")),
            }
        }
        send(&mut ws, proto::UPGRADE.to_owned()).await?;
        tokio::time::timeout(ROUND_TRIP_TIMEOUT, ack_round_trip(&mut ws, target))
            .await
            .map_err(|_| "round trip timed out".to_owned())?
    })
    .await
    .map_err(|_| "upgrade timed out".to_owned())?
}

async fn ack_round_trip(ws: &mut Ws, target: &Target) -> Result<(), String> {
    ws.send(target.event(Some(1), "echo-ack", "1"))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let m = next_message(ws).await?;
        match decode(&m) {
            Packet::Ack { id: 1, arg: "1" } => return Ok(()),
            Packet::Ping => send(ws, proto::PONG.to_owned()).await?,
            Packet::Noop => {}
            _ => return Err(format!("expected the ack, got {m:?}")),
        }
    }
}
