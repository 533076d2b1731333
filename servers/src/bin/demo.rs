//! The demo server: Socket.IO on http://localhost:3000 (path `/socket.io/`)
//! for any official client, and a chat page at `/` that loads the browser
//! client from this same server (serveClient), so it works with no
//! internet. `GET /health` answers 200, for load balancers.
//!
//! ```text
//! cargo run --release -p servers --bin demo [-- --port 3000] [--client-dir DIR] [--no-install]
//! ```
//!
//! The client bundle is npm's `socket.io-client` (never committed): on
//! first run the demo installs it with `npm ci` in `servers/demo`
//! (`--no-install` turns that off; `--client-dir` points at another
//! `dist` directory).
//!
//! Events: `echo` (answered with `echo` and the same arguments, binary
//! included), `echo-ack` (acknowledged with the same arguments), and the
//! chat: `join(nick, room)` (acknowledged with `{nick, room, members}`;
//! the room is left for the new one), `chat(text)`, `typing(bool)` and
//! `image(mime, bytes)`, each relayed to everyone else in the sender's room
//! with the sender's nickname first. Connection state recovery is on (two
//! minutes): a client that drops, or a page that reloads, gets its rooms,
//! nickname and the messages it missed back.
//!
//! The demo's own sockets are instrumented for the official admin
//! dashboard (`@socket.io/admin-ui`, namespace `/admin`), whose page the
//! demo serves at `/admin/` from the same npm install: open it, set the
//! server URL to this server, and watch the chat's sockets and rooms.
//! `--admin USER:PASSWORD` asks the dashboard for those credentials;
//! `--admin none` (the default) asks for none, for a demo on a trusted
//! network only (the dashboard can disconnect sockets).

#[path = "shared/echo.rs"]
mod echo;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use runtime_tokio::socketio_async::admin::{Admin, AdminOptions, BasicAuth};
use runtime_tokio::socketio_async::{
    AckSender, Data, DisconnectReason, Extension, Payload, Socket, SocketIo,
};
use runtime_tokio::{ClientBundle, HttpResponse, Or, Route, serve_io};
use serde_json::{Value, json};

const PAGE: &str = include_str!("../../demo/page.html");

/// The longest nickname or room name kept (characters): what one client
/// names cannot flood the others' pages.
const MAX_NAME: usize = 32;

/// Serves the page at `/`.
#[derive(Clone)]
struct Page;

impl Route for Page {
    fn matches(&self, target: &str) -> bool {
        target == "/" || target.starts_with("/?")
    }

    async fn call(&self, _: http::Request<Incoming>, _: SocketAddr) -> HttpResponse {
        let mut response = http::Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

/// Serves the admin dashboard's files (`@socket.io/admin-ui`'s `ui/dist`)
/// at `/admin/`: only the files found there at start (no other path can be
/// reached), read on each request.
#[derive(Clone)]
struct AdminUi {
    dir: PathBuf,
    files: Arc<std::collections::HashSet<String>>,
}

impl AdminUi {
    /// Lists the files under `dir`.
    fn new(dir: PathBuf) -> std::io::Result<Self> {
        fn walk(
            root: &Path,
            dir: &Path,
            out: &mut std::collections::HashSet<String>,
        ) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    walk(root, &path, out)?;
                } else if let Ok(rel) = path.strip_prefix(root) {
                    if let Some(rel) = rel.to_str() {
                        out.insert(rel.replace('\\', "/"));
                    }
                }
            }
            Ok(())
        }
        let mut files = std::collections::HashSet::new();
        walk(&dir, &dir, &mut files)?;
        if !files.contains("index.html") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no index.html in {}", dir.display()),
            ));
        }
        Ok(Self {
            dir,
            files: Arc::new(files),
        })
    }
}

/// The content type of a dashboard file.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("map" | "json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn status(code: http::StatusCode, body: &'static str) -> HttpResponse {
    let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = code;
    response
}

impl Route for AdminUi {
    fn matches(&self, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or(target);
        path == "/admin" || path.starts_with("/admin/")
    }

    async fn call(&self, request: http::Request<Incoming>, _: SocketAddr) -> HttpResponse {
        let path = request.uri().path();
        if path == "/admin" {
            let mut response = status(http::StatusCode::MOVED_PERMANENTLY, "");
            response.headers_mut().insert(
                http::header::LOCATION,
                http::HeaderValue::from_static("/admin/"),
            );
            return response;
        }
        let file = match path.strip_prefix("/admin/").unwrap_or("") {
            "" => "index.html",
            file => file,
        };
        if !self.files.contains(file) {
            return status(http::StatusCode::NOT_FOUND, "not found");
        }
        match tokio::fs::read(self.dir.join(file)).await {
            Ok(body) => {
                let mut response = http::Response::new(Full::new(Bytes::from(body)));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(content_type(file)),
                );
                response
            }
            Err(_) => status(http::StatusCode::NOT_FOUND, "not found"),
        }
    }
}

/// A nickname or room name as sent, trimmed and cut to [`MAX_NAME`]
/// characters; `None` when empty.
fn name(value: Option<String>) -> Option<String> {
    let value = value?;
    let value: String = value.trim().chars().take(MAX_NAME).collect();
    (!value.is_empty()).then_some(value)
}

/// A socket's nickname and room. Kept in `socket.data` (which connection
/// state recovery restores) and in this copy, in the socket's extensions,
/// that every handler of the socket extracts (the disconnecting handler
/// runs when the socket's data is already gone).
#[derive(Clone)]
struct Profile(Arc<Mutex<(String, String)>>);

impl Profile {
    /// The profile in `socket.data`, or the defaults (the id's first
    /// characters, room `lobby`).
    fn of(socket: &Socket) -> Self {
        let data = socket.data_value();
        let field = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
        let nick = field("nick").unwrap_or_else(|| socket.id().as_str().chars().take(6).collect());
        let room = field("room").unwrap_or_else(|| "lobby".to_owned());
        Self(Arc::new(Mutex::new((nick, room))))
    }

    fn get(&self) -> (String, String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, socket: &Socket, nick: &str, room: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = (nick.to_owned(), room.to_owned());
        let _ = socket.set_data(json!({ "nick": nick, "room": room }));
    }
}

async fn on_connection(socket: Socket) {
    echo::echo(&socket, "echo", "echo");
    echo::ack_echo(&socket, "echo-ack");
    let profile = Profile::of(&socket);
    if socket.recovered() {
        let (nick, room) = profile.get();
        let _ = socket.to(&room).emit(
            "notice",
            (format!("{nick} is back (connection recovered)"),),
        );
    } else {
        socket.join("lobby");
    }
    socket.extensions().insert(profile);
    socket.on(
        "join",
        |socket: Socket,
         payload: Payload,
         Extension(profile): Extension<Profile>,
         ack: Option<AckSender>| async move {
            let (old_nick, old_room) = profile.get();
            let nick = name(payload.arg(0).ok()).unwrap_or(old_nick);
            let room = name(payload.arg(1).ok()).unwrap_or(old_room.clone());
            if room != old_room {
                socket.leave(&old_room);
                let _ = socket
                    .to(&old_room)
                    .emit("notice", (format!("{nick} left #{old_room}"),));
            }
            socket.join(&room);
            profile.set(&socket, &nick, &room);
            let _ = socket
                .to(&room)
                .emit("notice", (format!("{nick} is in #{room}"),));
            let members = socket
                .io()
                .in_(&room)
                .fetch_sockets()
                .await
                .map_or(1, |sockets| sockets.len());
            if let Some(ack) = ack {
                let _ = ack.send(json!({ "nick": nick, "room": room, "members": members }));
            }
        },
    );
    socket.on(
        "chat",
        |socket: Socket, Data(text): Data<String>, Extension(profile): Extension<Profile>| async move {
            let (nick, room) = profile.get();
            let _ = socket.to(&room).emit("chat", (nick, text));
        },
    );
    socket.on(
        "typing",
        |socket: Socket, Data(on): Data<bool>, Extension(profile): Extension<Profile>| async move {
            let (nick, room) = profile.get();
            let _ = socket.to(&room).emit("typing", (nick, on));
        },
    );
    socket.on(
        "image",
        |socket: Socket, payload: Payload, Extension(profile): Extension<Profile>| async move {
            let (nick, room) = profile.get();
            let mime = payload.arg::<String>(0).unwrap_or_default();
            let image = payload.args.get(1).and_then(|v| payload.binary_of(v));
            let (Some(image), true) = (image, mime.starts_with("image/")) else {
                let _ = socket.emit("notice", "only images can be sent");
                return;
            };
            if let Ok(relay) = Payload::new((nick, mime)) {
                let _ = socket
                    .to(&room)
                    .emit_payload("image", relay.attach(image.clone()));
            }
        },
    );
    socket.on_disconnecting(
        |socket: Socket, reason: DisconnectReason, Extension(profile): Extension<Profile>| async move {
            let (nick, room) = profile.get();
            let _ = socket.to(&room).emit("typing", (nick.as_str(), false));
            let _ = socket
                .to(&room)
                .emit("notice", format!("{nick} dropped ({reason})"));
        },
    );
}

/// The directory of the demo's npm package (`servers/demo`).
fn assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo")
}

/// Installs the demo's npm packages (`npm ci`) unless they are there.
fn install(assets: &Path, client_dir: &Path, admin_dir: &Path) -> Result<(), String> {
    if client_dir.join("socket.io.min.js").is_file() && admin_dir.join("index.html").is_file() {
        return Ok(());
    }
    eprintln!(
        "installing the browser client from npm (npm ci in {})",
        assets.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(assets)
        .status()
        .map_err(|e| {
            format!("cannot run npm ({e}): install Node.js and npm, or pass --client-dir")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci failed in {} ({status})", assets.display()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 3000u16;
    let assets = assets_dir();
    let mut client_dir = assets.join("node_modules/socket.io-client/dist");
    let admin_dir = assets.join("node_modules/@socket.io/admin-ui/ui/dist");
    let mut admin_auth = None;
    let mut auto_install = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--client-dir" => {
                client_dir = args.next().ok_or("--client-dir needs a directory")?.into();
                auto_install = false;
            }
            "--admin" => {
                let value = args.next().ok_or("--admin needs USER:PASSWORD or none")?;
                admin_auth = match value.split_once(':') {
                    _ if value == "none" => None,
                    Some((user, password)) => Some(BasicAuth::with_password(user, password, 10)?),
                    None => return Err("--admin: USER:PASSWORD or none".into()),
                };
            }
            "--no-install" => auto_install = false,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if auto_install {
        install(&assets, &client_dir, &admin_dir)?;
    }
    let bundle = ClientBundle::from_dir(&client_dir).map_err(|e| {
        format!(
            "no client bundle ({e}); run `npm ci` in {}",
            assets.display()
        )
    })?;

    let admin_ui = AdminUi::new(admin_dir).map_err(|e| {
        format!(
            "no admin dashboard ({e}); run `npm ci` in {}",
            assets.display()
        )
    })?;

    let io = SocketIo::new();
    io.on_connection(on_connection);
    let with_auth = admin_auth.is_some();
    let admin = Admin::instrument(
        &io,
        AdminOptions {
            auth: admin_auth,
            ..AdminOptions::default()
        },
    )?;
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(2));
        loop {
            every.tick().await;
            admin.emit_stats();
        }
    });
    let mut config = runtime_tokio::socketio_proto::Config::default();
    config.engine.cors = Some(runtime_tokio::engineio_proto::Cors::default());
    config.recovery = Some(runtime_tokio::socketio_proto::RecoveryConfig {
        max_disconnection_duration: Duration::from_secs(120),
        ..Default::default()
    });
    let sio = serve_io(&io, config);
    let _ = sio.serve_client(bundle.clone());
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = runtime_tokio::bind(addr)?;
    eprintln!(
        "demo server on http://localhost:{} (Socket.IO at /socket.io/, socket.io-client {} served from there)",
        listener.local_addr()?.port(),
        bundle.version()
    );
    eprintln!(
        "admin dashboard at http://localhost:{}/admin/ (namespace /admin, {})",
        listener.local_addr()?.port(),
        if with_auth {
            "basic auth"
        } else {
            "no auth: --admin USER:PASSWORD to ask for one"
        }
    );
    // `/health` (200) for a load balancer's checks (DEPLOYMENT.md).
    runtime_tokio::serve(Or(Or(sio, Or(admin_ui, Page)), servers::Health), listener).await;
    Ok(())
}
