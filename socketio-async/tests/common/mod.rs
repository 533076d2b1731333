//! The deterministic backend the API tests share: the core driven by the
//! engine's test harness (virtual clock, scripted clients) and a tiny
//! executor that polls every task until nothing moves.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use engineio_proto::RequestId;
use engineio_proto::testing::Harness;
use serde_json::Value;
use socketio_async::{Backend, EventSink, SocketIo, Task};
use socketio_proto::{Config, Server};

pub struct TestBackend {
    pub h: Mutex<Harness<Server>>,
    pub sink: Mutex<Option<EventSink>>,
    pub tasks: Mutex<Vec<Task>>,
}

impl Backend for TestBackend {
    fn act_dyn(&self, action: &mut dyn FnMut(&mut Server, Instant)) {
        let mut h = self.h.lock().unwrap();
        let now = h.now;
        action(&mut h.server, now);
        self.forward(&mut h);
    }

    fn spawn(&self, task: Task) {
        self.tasks.lock().unwrap().push(task);
    }
}

impl TestBackend {
    pub fn forward(&self, h: &mut Harness<Server>) {
        h.drain();
        let events = h.take_events();
        if let Some(sink) = self.sink.lock().unwrap().as_ref() {
            for e in events {
                sink.push(e);
            }
        }
    }

    /// Runs a client step, then every task until nothing moves.
    pub fn client(&self, step: impl FnOnce(&mut Harness<Server>)) {
        {
            let mut h = self.h.lock().unwrap();
            step(&mut h);
            self.forward(&mut h);
        }
        self.settle();
    }

    pub fn settle(&self) {
        for _ in 0..50 {
            let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
            if tasks.is_empty() {
                return;
            }
            let mut pending = Vec::new();
            let mut cx = Context::from_waker(Waker::noop());
            for mut t in tasks {
                if t.as_mut().poll(&mut cx).is_pending() {
                    pending.push(t);
                }
            }
            self.tasks.lock().unwrap().extend(pending);
        }
    }

    pub fn frames(&self, ws: RequestId) -> Vec<String> {
        self.h.lock().unwrap().ws_take(ws)
    }
}

pub fn config() -> Config {
    let mut c = Config::default();
    c.engine.ping_interval = Duration::from_secs(600);
    c.engine.seed = [3; 32];
    c
}

pub fn start(io: &SocketIo) -> Arc<TestBackend> {
    start_with(io, config())
}

/// Starts `io` on a core built with `config`.
pub fn start_with(io: &SocketIo, config: Config) -> Arc<TestBackend> {
    let core = io.build_core(config);
    let backend = Arc::new(TestBackend {
        h: Mutex::new(Harness::with(core, Instant::now())),
        sink: Mutex::new(None),
        tasks: Mutex::new(Vec::new()),
    });
    let sink = io.attach(backend.clone());
    *backend.sink.lock().unwrap() = Some(sink);
    backend.settle();
    backend
}

/// A WebSocket client that joins `nsp` with `auth`: (ws, reply frames).
pub fn connect(b: &TestBackend, nsp: &str, auth: &str) -> (RequestId, Vec<String>) {
    let ws = {
        let mut h = b.h.lock().unwrap();
        let ws = h.ws_open("/socket.io/?EIO=4&transport=websocket");
        h.ws_take(ws);
        ws
    };
    let prefix = if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    };
    b.client(|h| h.ws_send(ws, &format!("40{prefix}{auth}")));
    (ws, b.frames(ws))
}

pub fn sid_of(reply: &str) -> String {
    let json = &reply[reply.find('{').unwrap()..];
    serde_json::from_str::<Value>(json).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Carries each node's cluster messages to the other until all is quiet.
pub fn relay(nodes: [&TestBackend; 2]) {
    loop {
        let mut carried = false;
        for (from, to) in [(0, 1), (1, 0)] {
            let out: Vec<_> = {
                let mut h = nodes[from].h.lock().unwrap();
                std::iter::from_fn(|| h.server.poll_cluster()).collect()
            };
            for message in out {
                carried = true;
                let mut h = nodes[to].h.lock().unwrap();
                let now = h.now;
                h.server.handle_cluster(now, message);
                nodes[to].forward(&mut h);
            }
            nodes[to].settle();
        }
        if !carried {
            return;
        }
    }
}
