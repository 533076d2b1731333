// Every reverse proxy of DEPLOYMENT.md, each run unprivileged on a free
// port with the config file of configs/ (placeholders filled in) in a temp
// dir, never a system service: nginx, Apache httpd, HAProxy, Caddy and
// Node's http-proxy. Per proxy: one node (20 official clients with default
// transports connect, upgrade, a broadcast reaches all 20), three nodes
// behind the sticky config (all connect and upgrade, polling-only clients
// keep working through heartbeats), and zero HTTP 400 in the proxy's log.
// Plus the custom path behind nginx, and the `io` cookie and CORS with
// credentials at the handshake.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import http from "node:http";
import {
  CONFIGS, freePort, tempDir, startNodes, startRedis, stop, waitForPort, renderConfig, sleep, next, withTimeout,
  client, connectedAndUpgraded,
} from "./common.mjs";

const CLIENTS = 20;
const POLLING_CLIENTS = 5;
// The nodes' heartbeat (interop-server: pingInterval 500 ms).
const PING_INTERVAL = 500;

/**
 * How each proxy runs: the config file, where it goes in the temp dir, the
 * command, and where its log is.
 */
const PROXIES = {
  nginx: {
    bin: "nginx",
    configs: { single: "nginx-single.conf", cluster: "nginx-cluster.conf" },
    file: "nginx.conf",
    sticky: "address",
    command: (dir) => ["nginx", ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`, "-g", "daemon off;"]],
    // Its worker outlives the master by a moment: it must not hold our pipes.
    quiet: true,
    log: (dir) => readFileSync(join(dir, "access.log"), "utf8"),
  },
  apache: {
    bin: "apache2",
    configs: { single: "apache-single.conf", cluster: "apache-cluster.conf" },
    file: "httpd.conf",
    sticky: "cookie",
    command: (dir) => ["apache2", ["-X", "-d", dir, "-f", `${dir}/httpd.conf`]],
    log: (dir) => readFileSync(join(dir, "access.log"), "utf8"),
  },
  haproxy: {
    bin: "haproxy",
    configs: { single: "haproxy-single.cfg", cluster: "haproxy-cluster.cfg" },
    file: "haproxy.cfg",
    sticky: "cookie",
    command: (dir) => ["haproxy", ["-db", "-f", `${dir}/haproxy.cfg`]],
    log: (_dir, output) => output(),
  },
  caddy: {
    bin: "caddy",
    configs: { single: "caddy-single.Caddyfile", cluster: "caddy-cluster.Caddyfile" },
    file: "Caddyfile",
    sticky: "cookie",
    command: (dir) => ["caddy", ["run", "--config", `${dir}/Caddyfile`, "--adapter", "caddyfile"]],
    env: (dir) => ({ HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir }),
    log: (dir) => readFileSync(join(dir, "access.log"), "utf8"),
  },
  "http-proxy": {
    bin: process.execPath,
    configs: { single: "http-proxy-single.mjs", cluster: "http-proxy-cluster.mjs" },
    sticky: "cookie",
    command: (dir, port, nodes, kind) => [
      process.execPath,
      [join(CONFIGS, PROXIES["http-proxy"].configs[kind]), String(port), `${dir}/access.log`, ...nodes.map((n) => String(n.port))],
    ],
    log: (dir) => (existsSync(join(dir, "access.log")) ? readFileSync(join(dir, "access.log"), "utf8") : ""),
  },
};

/** Which binary is on PATH (the CI installs them all; missing is a failure). */
function onPath(bin) {
  if (bin.startsWith("/")) return existsSync(bin);
  return (process.env.PATH ?? "").split(":").some((d) => existsSync(join(d, bin)));
}

/** Starts `name` with its `kind` config in front of `nodes`. */
async function startProxy(name, kind, nodes, configFile) {
  const spec = PROXIES[name];
  const dir = tempDir(`${name}-`);
  const port = await freePort();
  if (spec.file) {
    const values = { DIR: dir, PORT: port };
    nodes.forEach((n, i) => (values[`NODE${i + 1}`] = n.port));
    writeFileSync(join(dir, spec.file), renderConfig(configFile ?? spec.configs[kind], values));
  }
  const [cmd, args] = spec.command(dir, port, nodes, kind);
  const stdio = spec.quiet ? "ignore" : ["ignore", "pipe", "pipe"];
  const proc = spawn(cmd, args, { stdio, env: { ...process.env, ...(spec.env?.(dir) ?? {}) } });
  let output = "";
  proc.stdout?.on("data", (c) => (output += c));
  proc.stderr?.on("data", (c) => (output += c));
  const exited = once(proc, "exit").then(([code]) => {
    throw new Error(`${name} exited (${code}):\n${output}`);
  });
  await Promise.race([waitForPort(port), exited]);
  exited.catch(() => {});
  return {
    name, dir, port, proc, url: `http://127.0.0.1:${port}`,
    log: () => spec.log(dir, () => output),
    async stop() {
      // SIGTERM: nginx's master then stops its worker (a SIGKILL would
      // leave the worker running, holding the port).
      await stop(proc, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The HTTP statuses in a proxy log (`status=NNN` lines, or Caddy's JSON). */
function statuses(log) {
  const found = [];
  for (const line of log.split("\n")) {
    if (line.startsWith("{")) {
      // Caddy's JSON: a WebSocket it handed over is logged with status 0
      // and the 101's headers.
      const entry = JSON.parse(line);
      found.push(entry.status === 0 && entry.resp_headers?.Upgrade ? 101 : entry.status);
    } else {
      const m = /status=(\d{3})/.exec(line);
      if (m) found.push(Number(m[1]));
    }
  }
  return found;
}

/**
 * Checks the proxy's log: not one request got 400 while the clients were
 * connected (a request that reached another node than its session's:
 * "Session ID unknown"), polling requests went through, and, once the
 * clients are gone (most proxies log a WebSocket when it closes), the
 * upgrades too. The 400 count is taken before the disconnects: a
 * polling client that closes can have one more poll in flight, which the
 * node (as Node's would) answers 400 since the session just ended.
 */
async function closeAndCheckLog(proxy, sockets, nodes) {
  const connected = statuses(proxy.log());
  const why = nodes.map((n) => `${n.name}: ${n.output()}`).join("\n");
  assert.equal(connected.filter((s) => s === 400).length, 0, `${proxy.log()}\n${why}`);
  const upgraded = sockets.filter((s) => s.io.engine.transport.name === "websocket").length;
  sockets.forEach((s) => s.disconnect());
  let seen = [];
  for (let i = 0; i < 40; i++) {
    await sleep(50);
    seen = statuses(proxy.log());
    if (seen.filter((s) => s === 101).length >= upgraded) break;
  }
  assert.ok(seen.includes(200), `no polling request in the log:\n${proxy.log()}`);
  assert.ok(seen.includes(101), `no upgrade in the log:\n${proxy.log()}`);
}

/** Connects `count` default clients through `url`; all upgraded. */
async function connectAll(url, count, opts = {}) {
  const sockets = Array.from({ length: count }, () => client(url, opts));
  await withTimeout(Promise.all(sockets.map((s) => connectedAndUpgraded(s, opts.transports?.length !== 1))), 15_000, "clients connected");
  return sockets;
}

function httpGet(port, path, headers = {}, method = "GET") {
  return httpRequest(port, method, path, headers);
}

function httpRequest(port, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

for (const [name, spec] of Object.entries(PROXIES)) {
  describe(`${name}`, () => {
    test(`${name} is installed`, () => assert.ok(onPath(spec.bin), `${spec.bin} not on PATH (.ci/run installs it)`));

    test(`${name}, one node: ${CLIENTS} clients connect and upgrade, a broadcast reaches all, no 400`, async () => {
      const nodes = await startNodes(1);
      const proxy = await startProxy(name, "single", nodes);
      let sockets = [];
      try {
        sockets = await connectAll(proxy.url, CLIENTS);
        for (const s of sockets) assert.equal(s.io.engine.transport.name, "websocket");
        const received = sockets.map((s) => withTimeout(next(s, "broadcast"), 5000, "broadcast"));
        const reached = await withTimeout(sockets[0].emitWithAck("broadcast", "hello all"), 5000, "broadcast ack");
        assert.equal(reached, CLIENTS);
        for (const [text] of await Promise.all(received)) assert.equal(text, "hello all");
        await closeAndCheckLog(proxy, sockets, nodes);
      } finally {
        sockets.forEach((s) => s.disconnect());
        await proxy.stop();
        await Promise.all(nodes.map((n) => stop(n.proc)));
      }
    });

    test(`${name}, three nodes, sticky by ${spec.sticky}: all connect and upgrade, polling-only clients live through heartbeats, no 400`, async () => {
      const nodes = await startNodes(3, { cookie: "io" });
      const proxy = await startProxy(name, "cluster", nodes);
      let sockets = [];
      let polling = [];
      try {
        sockets = await connectAll(proxy.url, CLIENTS);
        polling = await connectAll(proxy.url, POLLING_CLIENTS, { transports: ["polling"] });
        const names = await Promise.all(sockets.map((s) => withTimeout(s.emitWithAck("whoami"), 5000, "whoami")));
        const used = new Set(names);
        if (spec.sticky === "cookie") {
          // The balancer really spreads clients; only stickiness keeps
          // each one's requests on its node.
          assert.ok(used.size >= 2, `every client on ${[...used]}`);
        } else {
          // One client address: one node.
          assert.equal(used.size, 1);
        }
        const before = await Promise.all(polling.map((s) => s.emitWithAck("whoami")));
        let dropped = 0;
        polling.forEach((s) => s.on("disconnect", () => dropped++));
        await sleep(4 * PING_INTERVAL);
        const afterwards = await Promise.all(polling.map((s) => withTimeout(s.emitWithAck("whoami"), 5000, "whoami after heartbeats")));
        assert.equal(dropped, 0);
        assert.deepEqual(afterwards, before);
        for (const s of polling) assert.equal(s.io.engine.transport.name, "polling");
        await closeAndCheckLog(proxy, [...sockets, ...polling], nodes);
      } finally {
        [...sockets, ...polling].forEach((s) => s.disconnect());
        await proxy.stop();
        await Promise.all(nodes.map((n) => stop(n.proc)));
      }
    });

    test(`${name}, three cluster-fixture nodes on one Redis, sticky by ${spec.sticky}: a broadcast from one client reaches all ${CLIENTS}, no 400`, async () => {
      const redis = await startRedis();
      let nodes = [];
      let proxy;
      let sockets = [];
      try {
        nodes = await startNodes(3, { cookie: "io", redis: redis.url });
        proxy = await startProxy(name, "cluster", nodes);
        sockets = await connectAll(proxy.url, CLIENTS);
        const names = await Promise.all(sockets.map((s) => withTimeout(s.emitWithAck("whoami"), 5000, "whoami")));
        const used = new Set(names);
        // Spread over the nodes by the cookie balancers; one node per
        // client address behind nginx.
        if (spec.sticky === "cookie") assert.ok(used.size >= 2, `every client on ${[...used]}`);
        else assert.equal(used.size, 1);
        const received = sockets.map((s) => withTimeout(next(s, "hello"), 5000, "cross-node broadcast"));
        await withTimeout(sockets[0].emitWithAck("emit", { event: "hello", args: ["from one", 1] }), 5000, "emit ack");
        for (const args of await Promise.all(received)) assert.deepEqual(args, ["from one", 1]);
        await closeAndCheckLog(proxy, sockets, nodes);
      } finally {
        sockets.forEach((s) => s.disconnect());
        await proxy?.stop();
        await Promise.all(nodes.map((n) => stop(n.proc, "SIGTERM")));
        await stop(redis.proc);
        rmSync(redis.dir, { recursive: true, force: true });
      }
    });
  });
}

describe("custom path and cookies", () => {
  test("nginx, location /my-custom-path/: the client's path works, /socket.io/ is not served", async () => {
    const nodes = await startNodes(1, { path: "/my-custom-path/" });
    const proxy = await startProxy("nginx", "single", nodes, "nginx-custom-path.conf");
    let sockets = [];
    try {
      sockets = await connectAll(proxy.url, 3, { path: "/my-custom-path/" });
      assert.equal(await sockets[0].emitWithAck("whoami"), "node1");
      const open = await httpGet(proxy.port, "/my-custom-path/?EIO=4&transport=polling");
      assert.equal(open.status, 200);
      assert.match(open.body, /^0\{"sid":"/);
      const other = await httpGet(proxy.port, "/socket.io/?EIO=4&transport=polling");
      assert.equal(other.status, 404);
      // The node itself serves only its path (and /health).
      assert.equal((await httpGet(nodes[0].port, "/socket.io/?EIO=4&transport=polling")).status, 404);
      assert.equal((await httpGet(nodes[0].port, "/health")).status, 200);
    } finally {
      sockets.forEach((s) => s.disconnect());
      await proxy.stop();
      await stop(nodes[0].proc);
    }
  });

  test("HAProxy rewrites the io cookie with the node's name and routes by it", async () => {
    const nodes = await startNodes(3, { cookie: "io" });
    const proxy = await startProxy("haproxy", "cluster", nodes);
    try {
      const open = await httpGet(proxy.port, "/socket.io/?EIO=4&transport=polling");
      assert.equal(open.status, 200);
      const sid = JSON.parse(open.body.slice(1)).sid;
      const [cookie] = open.headers["set-cookie"];
      const m = /^io=(node\d)~([\w-]+); Path=\/; HttpOnly; SameSite=Lax$/.exec(cookie);
      assert.ok(m, cookie);
      assert.equal(m[2], sid);
      // With the cookie: the node that holds the session (any other
      // would answer 400 "Session ID unknown").
      const headers = { cookie: `io=${m[1]}~${sid}`, "content-type": "text/plain;charset=UTF-8" };
      const target = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
      const post = await httpRequest(proxy.port, "POST", target, headers, "40");
      assert.deepEqual([post.status, post.body], [200, "ok"]);
      const connect = await httpRequest(proxy.port, "GET", target, headers);
      assert.equal(connect.status, 200, connect.body);
      assert.match(connect.body, /^40\{"sid":"/);
    } finally {
      await proxy.stop();
      await Promise.all(nodes.map((n) => stop(n.proc)));
    }
  });

  test("the io cookie and CORS with credentials at the handshake (cross-origin client)", async () => {
    const port = await freePort();
    const { spawnUntil, INTEROP_SERVER } = await import("./common.mjs");
    const node = await spawnUntil(INTEROP_SERVER, ["--port", String(port), "--cookie", "io", "--cors-origin", "http://app.example"], /listening (\d+)/);
    try {
      const origin = { origin: "http://app.example" };
      const preflight = await httpGet(port, "/socket.io/?EIO=4&transport=polling", { ...origin, "access-control-request-method": "POST" }, "OPTIONS");
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers["access-control-allow-origin"], "http://app.example");
      assert.equal(preflight.headers["access-control-allow-credentials"], "true");
      const open = await httpGet(port, "/socket.io/?EIO=4&transport=polling", origin);
      assert.equal(open.status, 200);
      assert.equal(open.headers["access-control-allow-origin"], "http://app.example");
      assert.equal(open.headers["access-control-allow-credentials"], "true");
      const sid = JSON.parse(open.body.slice(1)).sid;
      assert.deepEqual(open.headers["set-cookie"], [`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
      // Only the handshake sets it.
      const poll = await httpGet(port, `/socket.io/?EIO=4&transport=polling&sid=${sid}`, origin);
      assert.equal(poll.headers["set-cookie"], undefined);
    } finally {
      await stop(node.proc);
    }
  });
});
