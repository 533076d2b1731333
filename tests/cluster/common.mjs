// Helpers of the mixed-cluster tests: a redis-server of their own on a free
// port, cluster nodes (the Rust cluster-fixture on a runtime, or the Node
// fixture.mjs), and official socket.io-client clients.
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { io } from "socket.io-client";

export const FIXTURE =
  process.env.CLUSTER_FIXTURE ?? new URL("../../target/release/cluster-fixture", import.meta.url).pathname;

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits for `pattern` on a child's stdout (or stderr); resolves with the match. */
function waitFor(child, stream, pattern, what) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk) => {
      seen += chunk;
      const m = seen.match(pattern);
      if (m) {
        child[stream].off("data", onData);
        resolve(m);
      }
    };
    child[stream].on("data", onData);
    child.once("exit", (code) => reject(new Error(`${what} exited (${code}) before ready: ${seen}`)));
  });
}

/** redis-server on a free port, its files in a temp dir; restartable on the same port. */
export class Redis {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "cluster-redis-"));
  }
  async start() {
    this.port ??= await freePort();
    this.child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child.stdout.setEncoding("utf8");
    await waitFor(this.child, "stdout", /Ready to accept connections/, "redis-server");
    return this;
  }
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGKILL");
    await exited;
  }
  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A cluster node: `kind` is "tokio" / "smol" / "async-std" (Rust) or "node";
 * `adapter` "classic" or "sharded".
 */
export class ClusterNode {
  constructor(kind, name, redisUrl, extra = [], adapter = "classic") {
    Object.assign(this, { kind, name, redisUrl, extra, adapter, stderr: "" });
  }
  async start() {
    const common = ["--port", "0", "--redis", this.redisUrl, "--adapter", this.adapter, "--name", this.name, ...this.extra];
    this.child =
      this.kind === "node"
        ? spawn(process.execPath, [new URL("./fixture.mjs", import.meta.url).pathname, ...common], {
            stdio: ["ignore", "pipe", "pipe"],
          })
        : spawn(FIXTURE, [...common, "--runtime", this.kind], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8");
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (d) => (this.stderr += d));
    const [, port] = await waitFor(this.child, "stdout", /listening (\d+)/, this.name);
    this.port = Number(port);
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }
  async stop(signal = "SIGTERM") {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode) return null;
    const exited = new Promise((r) => this.child.once("exit", (code) => r(code)));
    this.child.kill(signal);
    return exited;
  }
}

const clients = new Set();

/** A connected client of `node` with auth `{name, rooms}`. */
export async function client(node, name, rooms = [], transports = ["websocket"]) {
  const socket = io(node.url, { auth: { name, rooms }, transports, reconnection: false, forceNew: true });
  clients.add(socket);
  socket.clientName = name;
  socket.on("question", (who, ack) => ack(`${name} answers ${who}`));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

export function closeClients() {
  for (const c of clients) c.close();
  clients.clear();
}

/** Calls `f` until `check(result)` holds (at most `tries` times, 100 ms apart); returns the last result. */
export async function eventually(f, check, tries = 50) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await f();
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

const execFileP = promisify(execFile);

/** `redis-cli -p port args...`; resolves with its stdout and stderr. */
export const redisCli = (port, ...args) => execFileP("redis-cli", ["-p", String(port), ...args]);

/** Starts (or restarts, with its cluster state) the redis-server of master `m`; resolves once it accepts connections. */
export async function spawnRedisMaster(m) {
  m.child = spawn("redis-server", [m.conf], { stdio: ["ignore", "pipe", "pipe"] });
  m.child.stdout.setEncoding("utf8");
  await new Promise((resolve, reject) => {
    let seen = "";
    m.child.stdout.on("data", (d) => {
      seen += d;
      if (/Ready to accept connections/.test(seen)) resolve();
    });
    m.child.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${seen}`)));
  });
}

/** Kills master `m` (SIGKILL) and waits for it to exit; nothing if it is not running. */
export async function killRedisMaster(m) {
  if (m.child.exitCode !== null || m.child.signalCode) return;
  const exited = new Promise((r) => m.child.once("exit", r));
  m.child.kill("SIGKILL");
  await exited;
}

/** `cluster info` of master `m` once it reports `cluster_state:ok` with every master known (or the last answer after `tries`). */
export const redisClusterOk = (m, known, tries = 150) =>
  eventually(
    async () => (await redisCli(m.port, "cluster", "info")).stdout,
    (out) => /cluster_state:ok/.test(out) && out.includes(`cluster_known_nodes:${known}`),
    tries,
  );

/**
 * A Redis Cluster of `count` masters and no replicas: redis-server with
 * `cluster-enabled yes` on free ports, each with its config and files in a
 * temp dir, joined by `redis-cli --cluster create`. Resolves once every
 * master reports `cluster_state:ok`, with `masters` ({ port, conf, child }),
 * `urls` (comma-separated, as the nodes take them) and `stop()`.
 */
export async function startRedisCluster({ count = 3, nodeTimeoutMs = 5000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "redis-cluster-"));
  const masters = await Promise.all(
    [...Array(count).keys()].map(async (i) => {
      const [port, busPort] = [await freePort(), await freePort()];
      const home = join(dir, `m${i}`);
      mkdirSync(home);
      const conf = join(home, "redis.conf");
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `cluster-port ${busPort}`,
          "bind 127.0.0.1",
          "cluster-enabled yes",
          "cluster-config-file nodes.conf",
          `cluster-node-timeout ${nodeTimeoutMs}`,
          'save ""',
          "appendonly no",
          `dir ${home}`,
        ].join("\n") + "\n",
      );
      const m = { port, conf };
      await spawnRedisMaster(m);
      return m;
    }),
  );
  const stop = async () => {
    await Promise.all(masters.map(killRedisMaster));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await execFileP("redis-cli", [
      "--cluster", "create", ...masters.map((m) => `127.0.0.1:${m.port}`), "--cluster-replicas", "0", "--cluster-yes",
    ]);
    for (const m of masters) {
      const info = await redisClusterOk(m, count);
      if (!/cluster_state:ok/.test(info)) throw new Error(`master on ${m.port} not ready: ${info}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const urls = masters.map((m) => `redis://127.0.0.1:${m.port}`).join(",");
  return { masters, urls, stop };
}
