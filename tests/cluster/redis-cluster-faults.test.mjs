// Faults of a real Redis Cluster under the sharded adapter: three masters
// (no replicas) started here, Rust nodes (tokio, smol) and a Node node
// (createShardedAdapter over node-redis's createCluster). The master that
// holds the namespace's channel is killed while everything runs: the nodes
// keep serving their clients (no panic, no hang), operations that need
// Redis end with what the application sees (an error or this node's part)
// and the Rust nodes report the failure; the master is restarted on the
// same ports with its cluster state, and delivery resumes to
// the Rust nodes' clients from every node, Rust and Node. (During the
// outage the Node node's fetchSockets does not answer: node-redis holds the
// command until the slot is served again; after it, node-redis may fail to
// resubscribe, see below.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  ClusterNode,
  client,
  closeClients,
  eventually,
  killRedisMaster as kill,
  redisCli as cli,
  redisClusterOk,
  spawnRedisMaster,
  startRedisCluster,
} from "./common.mjs";

let redis;
let masters = [];
let nodes = [];
const users = {};
const clusterOk = (m) => redisClusterOk(m, 3);

before(async () => {
  // A short node timeout: the killed master is noticed within the test.
  redis = await startRedisCluster({ nodeTimeoutMs: 2000 });
  ({ masters } = redis);
  const { urls } = redis;
  nodes = await Promise.all(
    [
      ["tokio", "rust-tokio"],
      ["smol", "rust-smol"],
      ["node", "node-js"],
    ].map(([kind, name]) => new ClusterNode(kind, name, urls, [], "sharded").start()),
  );
  for (const node of nodes) users[node.name] = await client(node, `${node.name}-u`, [`r-${node.name}`]);
});

after(async () => {
  closeClients();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

const all = () => Object.values(users);

/** The clients a broadcast from `from` does not reach (one try, 1.5 s). */
async function missing(from, tag) {
  const got = all().map(
    (c) =>
      new Promise((resolve) => {
        const h = (t) => {
          if (t === tag) {
            c.off("probe", h);
            resolve(true);
          }
        };
        c.on("probe", h);
        setTimeout(() => {
          c.off("probe", h);
          resolve(false);
        }, 1500);
      }),
  );
  await from.emitWithAck("emit", { event: "probe", args: [tag] });
  const reached = await Promise.all(got);
  return all().filter((_, i) => !reached[i]).map((c) => c.clientName);
}

test("a master killed and restarted: nodes carry on, report the failure, then deliver again", async () => {
  // The master that owns the namespace's channel (`socket.io#/#`).
  const slot = Number((await cli(masters[0].port, "cluster", "keyslot", "socket.io#/#")).stdout.trim());
  const { stdout: table } = await cli(masters[0].port, "cluster", "nodes");
  let ownerPort;
  for (const line of table.trim().split("\n")) {
    const fields = line.split(" ");
    for (const range of fields.slice(8)) {
      const [lo, hi = lo] = range.split("-").map(Number);
      if (slot >= lo && slot <= hi) ownerPort = Number(fields[1].split(":")[1].split("@")[0]);
    }
  }
  const victim = masters.find((m) => m.port === ownerPort);
  assert.ok(victim, `the owner of slot ${slot}`);
  for (const node of nodes) assert.deepEqual(await missing(users[node.name], `before-${node.name}`), [], node.name);

  const stderrBefore = Object.fromEntries(nodes.map((n) => [n.name, n.stderr.length]));
  await kill(victim);
  const alive = masters.find((m) => m !== victim);
  await eventually(
    async () => (await cli(alive.port, "cluster", "info")).stdout,
    (out) => /cluster_state:fail/.test(out),
    100,
  );

  // Meanwhile every node keeps serving its clients, and what needs Redis
  // ends: a broadcast is acknowledged (the fixture answers at once) and
  // does not reach the other nodes; a fetch answers (an error, or the
  // sockets this node could gather) within the requests timeout.
  for (const node of nodes) {
    const from = users[node.name];
    assert.equal(await from.emitWithAck("whoami"), node.name);
    await from.emitWithAck("emit", { event: "probe", args: ["during"] });
    // (The Node node's fetchSockets stays pending while node-redis waits
    // for the slot to come back: only the Rust nodes are asked here.)
    if (node.kind === "node") continue;
    let answer;
    try {
      answer = await from.timeout(15000).emitWithAck("fetch", {});
    } catch (e) {
      throw new Error(`${node.name}: fetch during the outage: ${e.message}`);
    }
    if (Array.isArray(answer)) {
      assert.ok(answer.some((s) => s.id === from.id), `${node.name}: at least its own socket`);
    } else {
      assert.equal(typeof answer.err, "string", node.name);
    }
  }
  for (const node of nodes) assert.equal(node.child.exitCode, null, `${node.name} still running`);
  // The Rust nodes said what failed.
  for (const node of nodes.filter((n) => n.kind !== "node")) {
    const said = node.stderr.slice(stderrBefore[node.name]);
    assert.match(said, /adapter-redis: /, `${node.name} reported the failure`);
  }

  await spawnRedisMaster(victim);
  for (const m of masters) assert.match(await clusterOk(m), /cluster_state:ok/);
  // Delivery resumes between every pair of nodes (the nodes reconnect and
  // subscribe again by themselves).
  // Delivery resumes from every node (Node included) to the clients of
  // the Rust nodes. (Not asserted for the Node node's own client: node-redis
  // 4 resubscribes every sharded channel in one SSUBSCRIBE, which the
  // cluster refuses with CROSSSLOT when they span slots, so whether the Node
  // node hears anything again depends on where its channels hash.)
  const rustClients = nodes.filter((n) => n.kind !== "node").map((n) => `${n.name}-u`);
  for (const node of nodes) {
    let n = 0;
    const left = await eventually(
      async () => (await missing(users[node.name], `after-${node.name}-${n++}`)).filter((c) => rustClients.includes(c)),
      (list) => list.length === 0,
      40,
    );
    const said = nodes.map((x) => `${x.name}: ${x.stderr.slice(-600)}`).join("\n");
    assert.deepEqual(left, [], `broadcast from ${node.name} after the restart\n${said}`);
  }
  // Requests between the Rust nodes work again.
  const rust = nodes.filter((n) => n.kind !== "node");
  for (const node of rust) {
    const found = (await users[node.name].emitWithAck("fetch", {})).map((s) => s.id);
    for (const other of rust) assert.ok(found.includes(users[other.name].id), `${node.name} finds ${other.name}`);
    const sse = await users[node.name].emitWithAck("sse", 1);
    assert.equal(sse.err === null || typeof sse.err === "string", true);
    for (const other of rust.filter((o) => o !== node)) {
      assert.ok(sse.responses.includes(`pong ${other.name} [1]`), `${node.name} hears ${other.name}: ${JSON.stringify(sse)}`);
    }
  }
});
