// What the deployment tests share: free ports, throwaway certificates
// (openssl CLI), starting our server nodes, starting a reverse proxy from a
// config file of configs/ (the very files DEPLOYMENT.md shows), and the
// official client.
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { io } from "socket.io-client";

const HERE = dirname(fileURLToPath(import.meta.url));
const TARGET = process.env.CARGO_TARGET_DIR ?? join(HERE, "../../target");
export const FIXTURE = process.env.DEPLOY_FIXTURE ?? join(TARGET, "release/conformance-fixture");
export const INTEROP_SERVER = process.env.DEPLOY_SERVER ?? join(TARGET, "release/interop-server");
export const CLUSTER_FIXTURE = process.env.CLUSTER_FIXTURE ?? join(TARGET, "release/cluster-fixture");
export const CONFIGS = join(HERE, "configs");

/** A port nobody listens on now (the OS picks it). */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** A fresh temp dir, readable by every user (nginx's and Apache's workers). */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * A throwaway CA, a server certificate for localhost / 127.0.0.1, a client
 * certificate with CN "client one", and a client certificate from another
 * CA ("intruder"), as PEM files in a temp dir.
 */
export function makeCerts() {
  const dir = tempDir("certs-");
  const ssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const key = (name) => ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`);
  const ca = (name, cn) => {
    key(name);
    ssl("req", "-x509", "-new", "-key", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${cn}`);
  };
  const leaf = (name, cn, caName, ext) => {
    key(name);
    ssl("req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${caName}.pem`, "-CAkey", `${caName}.key`,
      "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
  };
  ca("ca", "deploy test CA");
  ca("other-ca", "another CA");
  leaf("server", "localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  leaf("client", "client one", "ca", "extendedKeyUsage=clientAuth\n");
  leaf("intruder", "intruder", "other-ca", "extendedKeyUsage=clientAuth\n");
  const file = (name) => join(dir, name);
  const read = (name) => readFileSync(file(name));
  return { dir, file, read };
}

/** Spawns `cmd args`, resolves once a line of its output matches `ready`. */
export async function spawnUntil(cmd, args, ready, opts = {}) {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  let seen = "";
  const match = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = ready.exec(seen);
      if (m) resolve(m);
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.once("exit", (code) => reject(new Error(`${cmd} exited (${code}) before it was ready:\n${seen}`)));
  });
  proc.stdout.resume();
  proc.stderr.resume();
  return { proc, match, output: () => seen };
}

/** Kills a process and waits for its end. */
export async function stop(proc, signal = "SIGKILL") {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, "exit");
  proc.kill(signal);
  // A process that ignores a gentler signal for 5 s is killed.
  const late = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(late);
}

/**
 * The command that starts one server node behind the proxies. With
 * `redis` (a redis:// URL) a node of a cluster: the Redis adapter's
 * `cluster-fixture`, so broadcasts reach the clients of every node.
 * Without, the single-process interop-server (same `--name`, `--cookie`,
 * `--path`, `whoami` and `/health`), whose heartbeat the tests can shorten.
 */
export function nodeCommand({ port, name, cookie, path, redis }) {
  const runtime = process.env.DEPLOY_RUNTIME ?? "tokio";
  const args = ["--port", String(port), "--name", name, "--runtime", runtime];
  if (cookie) args.push("--cookie", cookie);
  if (path) args.push("--path", path);
  if (redis) return { cmd: CLUSTER_FIXTURE, args: [...args, "--redis", redis, "--adapter", "classic"] };
  return { cmd: INTEROP_SERVER, args };
}

/** A redis-server of our own on a free port, files in a temp dir. */
export async function startRedis() {
  const port = await freePort();
  const dir = tempDir("redis-");
  const started = await spawnUntil(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    /Ready to accept connections/,
  );
  return { port, url: `redis://127.0.0.1:${port}`, proc: started.proc, dir };
}

/** Starts `count` nodes on free ports; resolves once each listens. */
export async function startNodes(count, { cookie, path, redis } = {}) {
  const nodes = [];
  for (let i = 1; i <= count; i++) {
    const port = await freePort();
    const { cmd, args } = nodeCommand({ port, name: `node${i}`, cookie, path, redis });
    // Heartbeats every 500 ms, but a pong may come late on a loaded machine.
    const env = { ...process.env, INTEROP_PING_INTERVAL_MS: "500", INTEROP_PING_TIMEOUT_MS: "5000", INTEROP_LOG_ERRORS: "1" };
    const started = await spawnUntil(cmd, args, /listening (\d+)/, { env });
    nodes.push({ name: `node${i}`, port, proc: started.proc, output: started.output });
  }
  return nodes;
}

/** Waits until `port` accepts TCP connections. */
export async function waitForPort(port, ms = 10_000) {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} never opened`);
    await sleep(50);
  }
}

/** A config file of configs/ with its {{NAME}} placeholders filled in. */
export function renderConfig(file, values) {
  const text = readFileSync(join(CONFIGS, file), "utf8");
  return text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, key) => {
    if (!(key in values)) throw new Error(`${file}: no value for {{${key}}}`);
    return String(values[key]);
  });
}

export { existsSync };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    }),
  ]);
}

/**
 * An official client with its defaults (polling first, then the upgrade)
 * and a cookie jar (`withCredentials`), as a browser behind a cookie-based
 * balancer has.
 */
export function client(url, opts = {}) {
  return io(url, { forceNew: true, reconnection: false, withCredentials: true, ...opts });
}

/** Resolves once `socket` is connected and, unless polling-only, upgraded. */
export async function connectedAndUpgraded(socket, upgrade = true) {
  if (!socket.connected) {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
  }
  if (upgrade && socket.io.engine.transport.name !== "websocket") {
    await next(socket.io.engine, "upgrade");
  }
}
