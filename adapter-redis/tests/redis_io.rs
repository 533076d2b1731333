//! The I/O half against a real redis-server (started here on a free port):
//! a node on tokio and a node on async-std in one cluster. serverSideEmit
//! with answers both ways, a namespace created after the start joins its
//! channels (counted by `PUBSUB NUMSUB` as Node counts nodes), and garbage
//! on a channel is reported through the error hook and ignored; past the
//! outbox limit, messages are dropped and reported. The sharded mode the
//! same way (`SSUBSCRIBE`, counted by `PUBSUB SHARDNUMSUB`), and through a
//! Redis restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use runtime_tokio::socketio_async::Socket;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_redis::{AdapterError, RedisAdapter};
use runtime_tokio::socketio_async::{Event, Payload, ServerSideAck, SocketIo};
use runtime_tokio::socketio_proto::Config;
use serde_json::json;

struct RedisServer {
    child: Child,
    url: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_server() -> RedisServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir =
        std::env::temp_dir().join(format!("adapter-redis-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server) is installed");
    let server = RedisServer {
        child,
        url: format!("redis://127.0.0.1:{port}"),
        _dir: TempDir(dir),
    };
    let client = redis::Client::open(server.url.as_str()).unwrap();
    for _ in 0..100 {
        if let Ok(mut c) = client.get_connection() {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not start");
}

fn numsub(url: &str, channel: &str) -> usize {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let (_, n): (String, usize) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query(&mut c)
        .unwrap();
    n
}

/// A node that answers `ping` with `pong <name> <args>`.
fn pinged(name: &'static str) -> SocketIo {
    let io = SocketIo::new();
    io.of("/").on_server_side(
        move |Event(event): Event, payload: Payload, ack: ServerSideAck| async move {
            let _ = ack.send(format!(
                "pong {name} {}",
                serde_json::Value::Array([vec![event.to_string().into()], payload.args].concat())
            ));
        },
    );
    io
}

#[test]
fn a_tokio_node_and_an_async_std_node_share_one_redis() {
    let redis = redis_server();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();

    // Node A on async-std.
    let io_a = pinged("a");
    let url = redis.url.clone();
    let seen = errors.clone();
    let io = io_a.clone();
    let driver_a = async_std::task::block_on(async move {
        let adapter = RedisAdapter::classic(url)
            .uid("node-a")
            .on_error(move |e: &AdapterError| seen.lock().unwrap().push(e.to_string()));
        let config = Config {
            cluster: Some(adapter.cluster_config()),
            ..Config::default()
        };
        let driver = runtime_async_std::serve_io(&io, config, runtime_async_std::AsyncStd);
        adapter.attach(&driver).await.unwrap();
        driver
    });

    // Node B on tokio.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let io_b = pinged("b");
    let url = redis.url.clone();
    let driver_b = runtime.block_on(async {
        let adapter = RedisAdapter::classic(url).uid("node-b");
        let config = Config {
            cluster: Some(adapter.cluster_config()),
            ..Config::default()
        };
        let driver = runtime_tokio::serve_io(&io_b, config);
        adapter.attach(&driver).await.unwrap();
        driver
    });
    assert_eq!(numsub(&redis.url, "socket.io-request#/#"), 2);

    // serverSideEmit with answers, both ways.
    let from_b = runtime
        .block_on(io_b.server_side_emit_with_ack::<serde_json::Value>(
            "ping",
            (1, "x"),
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(from_b, vec![json!(r#"pong a ["ping",1,"x"]"#)]);
    let from_a = async_std::task::block_on(io_a.server_side_emit_with_ack::<serde_json::Value>(
        "ping",
        (2,),
        Duration::from_secs(5),
    ))
    .unwrap();
    assert_eq!(from_a, vec![json!(r#"pong b ["ping",2]"#)]);

    // A namespace made after the start joins its channels.
    let channel = "socket.io-request#/later#";
    assert_eq!(numsub(&redis.url, channel), 0);
    let _later = io_a.of("/later");
    let mut counted = 0;
    for _ in 0..100 {
        counted = numsub(&redis.url, channel);
        if counted == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(counted, 1);

    // Garbage is reported and ignored; the cluster still works.
    let mut c = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("socket.io-request#/#")
        .arg(&b"\xc1garbage"[..])
        .query(&mut c)
        .unwrap();
    let from_b = runtime
        .block_on(io_b.server_side_emit_with_ack::<serde_json::Value>(
            "ping",
            (),
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(from_b, vec![json!(r#"pong a ["ping"]"#)]);
    let reported = errors.lock().unwrap().clone();
    assert!(
        reported
            .iter()
            .any(|e| e.starts_with("ignored a message on socket.io-request#/#")),
        "{reported:?}"
    );

    // Node's `adapter.sockets()` / `allRooms()` requests: both nodes answer
    // (no sockets here, so empty lists), on the shared response channel.
    let mut listener = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut pubsub = listener.as_pubsub();
    pubsub.subscribe("socket.io-response#/#").unwrap();
    for request in [
        r#"{"uid":"node-js","requestId":"q1","type":0,"rooms":[]}"#,
        r#"{"uid":"node-js","requestId":"q2","type":1}"#,
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("socket.io-request#/#")
            .arg(request)
            .query(&mut c)
            .unwrap();
    }
    let mut answers: Vec<String> = (0..4)
        .map(|_| {
            pubsub
                .get_message()
                .unwrap()
                .get_payload::<String>()
                .unwrap()
        })
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            r#"{"requestId":"q1","sockets":[]}"#,
            r#"{"requestId":"q1","sockets":[]}"#,
            r#"{"requestId":"q2","rooms":[]}"#,
            r#"{"requestId":"q2","rooms":[]}"#,
        ]
    );
    drop(pubsub);

    // Closing a node: its subscriptions go with it.
    driver_a.close();
    io_b.close();
    drop(driver_b);
}

#[test]
fn messages_past_the_outbox_limit_are_dropped_and_reported() {
    let redis = redis_server();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let io = SocketIo::new();
    let seen = errors.clone();
    let url = redis.url.clone();
    let driver = runtime.block_on(async {
        let adapter = RedisAdapter::classic(url)
            .on_error(move |e: &AdapterError| seen.lock().unwrap().push(e.to_string()));
        let config = Config {
            cluster: Some(adapter.cluster_config()),
            ..Config::default()
        };
        let driver = runtime_tokio::serve_io(&io, config);
        adapter.attach(&driver).await.unwrap();
        driver
    });
    // Redis frozen: the publisher waits (2 s for the PUBLISH, 2 s more for
    // a new connection) on the first message while the application goes on
    // broadcasting: all but the outbox's worth are dropped and reported
    // (a publisher on a slow machine may have taken a few meanwhile).
    let pid = redis.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _guard = runtime.enter();
    for i in 0..adapter_redis::OUTBOX_LIMIT + 100 {
        io.emit("tick", (i,)).unwrap();
    }
    let dropped = errors
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains("outbox full"))
        .count();
    assert!(
        (90..=100).contains(&dropped),
        "{dropped} reported as dropped for a full outbox"
    );
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    driver.close();
    drop(redis);
}

fn shardnumsub(url: &str, channel: &str) -> usize {
    try_shardnumsub(url, channel).unwrap()
}

fn try_shardnumsub(url: &str, channel: &str) -> redis::RedisResult<usize> {
    let mut c = redis::Client::open(url)?.get_connection()?;
    let (_, n): (String, usize) = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel)
        .query(&mut c)?;
    Ok(n)
}

/// Polls for up to 10 s (a loaded machine), until `n` are counted.
fn eventually_shardnumsub(url: &str, channel: &str, n: usize) -> usize {
    let mut counted = usize::MAX;
    for _ in 0..500 {
        // (Redis may be restarting: not counted yet.)
        counted = try_shardnumsub(url, channel).unwrap_or(usize::MAX);
        if counted == n {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    counted
}

#[test]
fn sharded_nodes_on_tokio_and_async_std_share_one_redis() {
    let mut redis = redis_server();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();

    // Node A on async-std, prefix "app".
    let io_a = pinged("a");
    let url = redis.url.clone();
    let seen = errors.clone();
    let io = io_a.clone();
    let driver_a = async_std::task::block_on(async move {
        let adapter = RedisAdapter::sharded(url)
            .channel_prefix("app")
            .uid("node-a")
            .on_error(move |e: &AdapterError| seen.lock().unwrap().push(e.to_string()));
        let config = Config {
            cluster: Some(adapter.cluster_config()),
            ..Config::default()
        };
        let driver = runtime_async_std::serve_io(&io, config, runtime_async_std::AsyncStd);
        adapter.attach(&driver).await.unwrap();
        driver
    });
    // Node B on tokio.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let io_b = pinged("b");
    let url = redis.url.clone();
    let driver_b = runtime.block_on(async {
        let adapter = RedisAdapter::sharded(url)
            .channel_prefix("app")
            .uid("node-b");
        let config = Config {
            cluster: Some(adapter.cluster_config()),
            ..Config::default()
        };
        let driver = runtime_tokio::serve_io(&io_b, config);
        adapter.attach(&driver).await.unwrap();
        driver
    });
    // Sharded subscriptions only: the namespace's channel and each node's
    // own response channel.
    assert_eq!(shardnumsub(&redis.url, "app#/#"), 2);
    assert_eq!(shardnumsub(&redis.url, "app#/#node-a#"), 1);
    assert_eq!(shardnumsub(&redis.url, "app#/#node-b#"), 1);
    assert_eq!(numsub(&redis.url, "app#/#"), 0);

    // serverSideEmit with answers, both ways.
    let from_b = runtime
        .block_on(io_b.server_side_emit_with_ack::<serde_json::Value>(
            "ping",
            (1, "x"),
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(from_b, vec![json!(r#"pong a ["ping",1,"x"]"#)]);
    let from_a = async_std::task::block_on(io_a.server_side_emit_with_ack::<serde_json::Value>(
        "ping",
        (2,),
        Duration::from_secs(5),
    ))
    .unwrap();
    assert_eq!(from_a, vec![json!(r#"pong b ["ping",2]"#)]);

    // A namespace made after the start joins its channels.
    assert_eq!(shardnumsub(&redis.url, "app#/later#"), 0);
    let _later = io_a.of("/later");
    assert_eq!(eventually_shardnumsub(&redis.url, "app#/later#", 1), 1);
    // Its response channel is subscribed by a command of its own: wait too.
    assert_eq!(
        eventually_shardnumsub(&redis.url, "app#/later#node-a#", 1),
        1
    );

    // Garbage is reported and ignored; the cluster still works.
    let mut c = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    for garbage in [
        &b"\xc1garbage"[..],
        b"{not json",
        br#"{"uid":"x","nsp":"/","type":99}"#,
    ] {
        let _: i64 = redis::cmd("SPUBLISH")
            .arg("app#/#")
            .arg(garbage)
            .query(&mut c)
            .unwrap();
    }
    let from_b = runtime
        .block_on(io_b.server_side_emit_with_ack::<serde_json::Value>(
            "ping",
            (),
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(from_b, vec![json!(r#"pong a ["ping"]"#)]);
    let reported = errors.lock().unwrap().clone();
    let ignored = reported
        .iter()
        .filter(|e| e.starts_with("ignored a message on app#/#: "))
        .count();
    assert_eq!(ignored, 3, "{reported:?}");

    // Redis restarted: both nodes reconnect and subscribe again.
    let port = redis.url.rsplit(':').next().unwrap().to_owned();
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let restarted = Command::new("redis-server")
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&redis._dir.0)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    redis.child = restarted;
    assert_eq!(eventually_shardnumsub(&redis.url, "app#/#", 2), 2);
    assert_eq!(eventually_shardnumsub(&redis.url, "app#/later#", 1), 1);
    let from_a = async_std::task::block_on(io_a.server_side_emit_with_ack::<serde_json::Value>(
        "ping",
        (3,),
        Duration::from_secs(5),
    ))
    .unwrap();
    assert_eq!(from_a, vec![json!(r#"pong b ["ping",3]"#)]);
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("connection to redis lost")),
        "the loss is reported"
    );

    driver_a.close();
    io_b.close();
    drop(driver_b);
}

/// One HTTP/1.1 request on a fresh connection: the response body.
fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The three subscription modes on a real Redis: a socket joins `room-x`
/// on connection; which room channels the node subscribes to (counted by
/// `PUBSUB SHARDNUMSUB`), and that they are dropped when the room empties.
/// (The adapter handles room changes and new namespaces in order, on one
/// task: once a namespace made after the join is subscribed, the join's
/// subscriptions are made, or not, for good.)
#[test]
fn sharded_subscription_modes_follow_rooms() {
    use adapter_redis::SubscriptionMode;
    let redis = redis_server();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (mode, room_subscribed, own_room_subscribed) in [
        (SubscriptionMode::Static, 0, 0),
        (SubscriptionMode::Dynamic, 1, 0),
        (SubscriptionMode::DynamicPrivate, 1, 1),
    ] {
        let prefix = format!("{mode:?}");
        let io = SocketIo::new();
        io.on_connection(|socket: Socket| async move {
            socket.join("room-x");
            let _ = socket.emit("joined", ());
        });
        let url = redis.url.clone();
        let (driver, addr) = runtime.block_on(async {
            let adapter = RedisAdapter::sharded(url)
                .channel_prefix(prefix.clone())
                .subscription_mode(mode);
            let config = Config {
                cluster: Some(adapter.cluster_config()),
                ..Config::default()
            };
            let driver = runtime_tokio::serve_io(&io, config);
            adapter.attach(&driver).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new().layer(runtime_tokio::SocketIoLayer::new(driver.clone()));
            tokio::spawn(async move { axum::serve(listener, app).await });
            (driver, addr)
        });
        // A polling client joins "/".
        let open = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
        let sid = open.split('"').nth(3).unwrap().to_owned();
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(http(addr, "POST", &path, "40"), "ok");
        let mut packets = http(addr, "GET", &path, "");
        while !packets.contains(r#"42["joined"]"#) {
            packets.push('\x1e');
            packets.push_str(&http(addr, "GET", &path, ""));
        }
        let connected = packets.split('\x1e').next().unwrap();
        let socket_id = connected
            .strip_prefix(r#"40{"sid":""#)
            .and_then(|rest| rest.strip_suffix(r#""}"#))
            .unwrap_or_else(|| panic!("{connected}"))
            .to_owned();
        assert_eq!(socket_id.len(), 20);
        // The join is done; a namespace made now is handled after it.
        let _sentinel = io.of("/sentinel");
        let sentinel = format!("{prefix}#/sentinel#");
        assert_eq!(eventually_shardnumsub(&redis.url, &sentinel, 1), 1);
        let room = format!("{prefix}#/#room-x#");
        let own = format!("{prefix}#/#{socket_id}#");
        assert_eq!(
            shardnumsub(&redis.url, &room),
            room_subscribed,
            "{mode:?}: room-x"
        );
        assert_eq!(
            shardnumsub(&redis.url, &own),
            own_room_subscribed,
            "{mode:?}: the socket's own room"
        );
        // The namespace's channel whatever the mode.
        assert_eq!(shardnumsub(&redis.url, &format!("{prefix}#/#")), 1);
        // The socket leaves: its rooms empty, their channels are dropped.
        assert_eq!(http(addr, "POST", &path, "41"), "ok");
        assert_eq!(eventually_shardnumsub(&redis.url, &room, 0), 0, "{mode:?}");
        assert_eq!(eventually_shardnumsub(&redis.url, &own, 0), 0, "{mode:?}");
        driver.close();
        io.close();
    }
}
