// The admin dashboard's protocol (@socket.io/admin-ui 0.5) across a mixed
// cluster on one redis-server (classic adapter): Rust nodes (cluster-fixture
// on tokio and smol, `--admin none`) and a Node node instrumented by the npm
// package itself (`instrument(io, {auth: false})`), server id = node name.
// A dashboard on any node lists the sockets of every node (all_sockets
// through fetchSockets), gets every node's server_stats and notifications
// (they travel to /admin through the adapter), and its commands act on
// sockets of other nodes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { Redis, ClusterNode, client, closeClients } from "./common.mjs";

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const redis = new Redis();
let nodes = [];
const users = {};
const dashboards = [];

function dashboard(node) {
  const socket = io(`${node.url}/admin`, { transports: ["websocket"], reconnection: false, forceNew: true });
  dashboards.push(socket);
  const got = { socket, stats: [], connected: [], disconnected: [], received: [], joined: [] };
  socket.on("server_stats", (s) => got.stats.push(s));
  socket.on("socket_connected", (...a) => got.connected.push(a));
  socket.on("socket_disconnected", (...a) => got.disconnected.push(a));
  socket.on("event_received", (...a) => got.received.push(a));
  socket.on("room_joined", (...a) => got.joined.push(a));
  got.allSockets = new Promise((resolve) => socket.once("all_sockets", resolve));
  got.config = new Promise((resolve) => socket.once("config", resolve));
  return got;
}

async function until(what, check, ms = 8000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  await redis.start();
  nodes = await Promise.all(
    [
      ["tokio", "rust-tokio"],
      ["smol", "rust-smol"],
      ["node", "node-js"],
    ].map(([kind, name]) => new ClusterNode(kind, name, redis.url, ["--admin", "none"], "classic").start()),
  );
  for (const node of nodes) users[node.name] = await client(node, `${node.name}-u`, [`r-${node.name}`]);
});

after(async () => {
  closeClients();
  for (const d of dashboards) d.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.close();
});

const byName = (name) => nodes.find((n) => n.name === name);

test("a dashboard on every node lists the sockets of every node; Node reads the Rust sockets' _admin", async () => {
  for (const node of nodes) {
    const dash = dashboard(node);
    const config = await dash.config;
    assert.ok(config.supportedFeatures.includes("ALL_EVENTS"), node.name);
    const list = await dash.allSockets;
    for (const [home, user] of Object.entries(users)) {
      const mine = list.find((s) => s.id === user.id);
      assert.ok(mine, `${home}'s socket listed by ${node.name}`);
      assert.equal(mine.nsp, "/");
      assert.deepEqual(mine.data, { node: home, name: `${home}-u` }, "data without _admin");
      assert.deepEqual([...mine.rooms].sort(), [user.id, `r-${home}`].sort());
      assert.equal(mine.handshake.url.startsWith("/socket.io/?EIO=4&transport=websocket"), true);
      if (home.startsWith("rust")) {
        // Locally from the engine, remotely from data._admin.
        assert.equal(mine.clientId, user.io.engine.id.slice(0, 12), `${home} via ${node.name}`);
        assert.equal(mine.transport, "websocket", `${home} via ${node.name}`);
      } else {
        // The Node fixture replaces socket.data in its connection handler,
        // so Node itself loses its _admin (and no node can show it).
        assert.equal(mine.clientId ?? null, null);
      }
    }
    dash.socket.close();
  }
});

test("every node's server_stats reach a dashboard on any node", async () => {
  for (const node of [byName("rust-tokio"), byName("node-js")]) {
    const dash = dashboard(node);
    await until(`stats of all nodes on ${node.name}`, () =>
      ["rust-tokio", "rust-smol", "node-js"].every((id) => dash.stats.some((s) => s.serverId === id)),
    );
    for (const s of dash.stats) {
      assert.deepEqual(Object.keys(s).sort(), [
        "aggregatedEvents", "clientsCount", "hostname", "namespaces", "pid",
        "pollingClientsCount", "serverId", "uptime",
      ]);
      const pid = byName(s.serverId).child.pid;
      assert.equal(s.pid, pid, s.serverId);
      assert.ok(s.namespaces.some((n) => n.name === "/" && n.socketsCount >= 1));
    }
    dash.socket.close();
  }
});

test("socket_connected, event_received and socket_disconnected cross nodes, both ways", async () => {
  const rustDash = dashboard(byName("rust-tokio"));
  const nodeDash = dashboard(byName("node-js"));
  await Promise.all([rustDash.allSockets, nodeDash.allSockets]);
  for (const home of ["rust-smol", "node-js"]) {
    const user = await client(byName(home), `new-${home}`);
    for (const dash of [rustDash, nodeDash]) {
      await until(`socket_connected of ${home}`, () => dash.connected.some(([s]) => s.id === user.id));
      const [s, date] = dash.connected.find(([x]) => x.id === user.id);
      assert.equal(s.nsp, "/");
      assert.match(date, ISO_DATE);
    }
    assert.equal(await user.emitWithAck("whoami"), home);
    for (const dash of [rustDash, nodeDash]) {
      await until(`event_received of ${home}`, () => dash.received.some(([, id]) => id === user.id));
      const [nsp, id, args, date] = dash.received.find(([, x]) => x === user.id);
      assert.deepEqual([nsp, id, args], ["/", user.id, ["whoami"]]);
      assert.match(date, ISO_DATE);
    }
    const id = user.id;
    user.close();
    for (const dash of [rustDash, nodeDash]) {
      await until(`socket_disconnected of ${home}`, () => dash.disconnected.some(([, x]) => x === id));
      const [nsp, , reason] = dash.disconnected.find(([, x]) => x === id);
      assert.deepEqual([nsp, reason], ["/", "client namespace disconnect"]);
    }
  }
  rustDash.socket.close();
  nodeDash.socket.close();
});

test("dashboard commands act on sockets of other nodes", async () => {
  const rustDash = dashboard(byName("rust-tokio"));
  const nodeDash = dashboard(byName("node-js"));
  await Promise.all([rustDash.allSockets, nodeDash.allSockets]);

  // emit, from a Rust dashboard to a Node socket and from Node to Rust.
  const toNode = new Promise((r) => users["node-js"].once("cmd", (...a) => r(a)));
  rustDash.socket.emit("emit", "/", users["node-js"].id, "cmd", 1, "x");
  assert.deepEqual(await toNode, [1, "x"]);
  const toRust = new Promise((r) => users["rust-smol"].once("cmd", (...a) => r(a)));
  nodeDash.socket.emit("emit", "/", users["rust-smol"].id, "cmd", 2);
  assert.deepEqual(await toRust, [2]);

  // join: a Node socket joins from the Rust dashboard; the Node node's
  // room_joined reaches it.
  rustDash.socket.emit("join", "/", "picked", users["node-js"].id);
  await until("room_joined from node-js", () =>
    rustDash.joined.some(([nsp, room, id]) => nsp === "/" && room === "picked" && id === users["node-js"].id),
  );
  const found = await users["rust-tokio"].emitWithAck("fetch", { rooms: ["picked"] });
  assert.deepEqual(found.map((s) => s.id), [users["node-js"].id]);

  // _disconnect: the Node dashboard disconnects a socket of a Rust node.
  const victim = await client(byName("rust-smol"), "victim");
  const gone = new Promise((r) => victim.once("disconnect", r));
  nodeDash.socket.emit("_disconnect", "/", false, victim.id);
  assert.equal(await gone, "io server disconnect");
  rustDash.socket.close();
  nodeDash.socket.close();
});
