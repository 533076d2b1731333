// The sharded adapter on a real Redis Cluster: three masters started here
// (redis-server --cluster-enabled yes on free ports, each with its config
// and files in a temp dir, joined by `redis-cli --cluster create`), Rust
// nodes (tokio and smol) and a Node node (createShardedAdapter over
// node-redis's createCluster) given every master's address. A broadcast,
// fetchSockets and serverSideEmit cross them in both directions, and their
// channels land on different masters.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createCluster } from "redis";
import { ClusterNode, client, closeClients, eventually, redisCli as cli, startRedisCluster } from "./common.mjs";

let redis;
let masters = [];
let nodes = [];
const byNode = {};

before(async () => {
  redis = await startRedisCluster();
  ({ masters } = redis);
  const { urls } = redis;
  nodes = await Promise.all(
    [
      ["tokio", "rust-tokio"],
      ["smol", "rust-smol"],
      ["node", "node-js"],
    ].map(([kind, name]) => new ClusterNode(kind, name, urls, [], "sharded").start()),
  );
  for (const node of nodes) {
    byNode[node.name] = [
      await client(node, `${node.name}-a`, [`r-${node.name}`, "everyone"]),
      await client(node, `${node.name}-b`, ["everyone"]),
    ];
  }
});

after(async () => {
  closeClients();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

const first = (node) => byNode[node.name][0];
const all = () => Object.values(byNode).flat();

test("every node subscribes to the namespace's channel and to its rooms' channels, spread over the masters", async () => {
  // Dynamic mode: a room's channel has one subscriber per node that has
  // the room (subscriptions follow joins asynchronously, on Node too).
  const expected = {
    "socket.io#/#": 3,
    "socket.io#/#everyone#": 3,
    ...Object.fromEntries(nodes.map((n) => [`socket.io#/#r-${n.name}#`, 1])),
  };
  const cluster = createCluster({ rootNodes: masters.map((m) => ({ url: `redis://127.0.0.1:${m.port}` })) });
  await cluster.connect();
  try {
    for (const [channel, n] of Object.entries(expected)) {
      const counted = await eventually(
        () => cluster.sendCommand(channel, true, ["PUBSUB", "SHARDNUMSUB", channel]),
        (r) => Number(r[1]) === n,
      );
      assert.equal(Number(counted[1]), n, channel);
    }
  } finally {
    await cluster.quit();
  }
  // Which masters hold these subscriptions: more than one.
  const owners = new Set();
  for (const channel of Object.keys(expected)) {
    for (const m of masters) {
      const { stdout } = await cli(m.port, "pubsub", "shardnumsub", channel);
      if (Number(stdout.trim().split("\n")[1]) > 0) owners.add(m.port);
    }
  }
  assert.ok(owners.size >= 2, `channels on ${owners.size} master(s)`);
});

test("a broadcast from every node reaches every client once (all, one room, two rooms)", async () => {
  // The three broadcasts travel on different channels, which live on
  // different masters: a node reads each master on its own connection, so
  // their order at a client is not defined (the official sharded adapter
  // gives no order across channels either). Each client must get exactly
  // the messages meant for it, in any order, and nothing more.
  const wrong = [];
  const settle = (ms) => new Promise((r) => setTimeout(r, ms));
  for (const node of nodes) {
    const expectedFor = (c) => {
      const expected = [[node.name, "all"]];
      if (c.clientName === "node-js-a") expected.push([node.name, "one room"]);
      if (c.clientName === "rust-tokio-a" || c.clientName === "rust-smol-a") expected.push([node.name, "two"]);
      return expected;
    };
    const got = new Map(all().map((c) => [c, []]));
    const handlers = all().map((c) => {
      const h = (...args) => got.get(c).push(args);
      c.on("news", h);
      return [c, h];
    });
    const ended = Promise.all(all().map((c) => new Promise((r) => c.once("end", r))));
    const from = first(node);
    await from.emitWithAck("emit", { event: "news", args: [node.name, "all", Buffer.from([7])] });
    await from.emitWithAck("emit", { rooms: ["r-node-js"], event: "news", args: [node.name, "one room"] });
    await from.emitWithAck("emit", { rooms: ["r-rust-tokio", "r-rust-smol"], event: "news", args: [node.name, "two"] });
    await from.emitWithAck("emit", { event: "end", args: [] });
    await ended;
    // A message on another master's channel may come after "end": wait for
    // every client's count, then a little longer to catch a duplicate.
    await eventually(
      async () => all().every((c) => got.get(c).length >= expectedFor(c).length),
      (done) => done,
    );
    await settle(150);
    for (const [c, h] of handlers) c.off("news", h);
    const key = (m) => JSON.stringify(m);
    for (const c of all()) {
      const expected = expectedFor(c).map(key).sort();
      const seen = got.get(c).map(([a, b]) => key([a, b])).sort();
      if (JSON.stringify(seen) !== JSON.stringify(expected)) wrong.push(`${c.clientName} from ${node.name}: ${seen.join(" ")}`);
      const everyone = got.get(c).find(([, b]) => b === "all");
      if (everyone) assert.deepEqual(Buffer.from(everyone[2]), Buffer.from([7]), `binary to ${c.clientName} from ${node.name}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("fetchSockets from every node finds every socket, with its data", async () => {
  const ids = all().map((c) => c.id).sort();
  for (const node of nodes) {
    const found = await first(node).emitWithAck("fetch", {});
    assert.deepEqual(found.map((s) => s.id), ids, `from ${node.name}`);
    for (const c of all()) {
      const s = found.find((x) => x.id === c.id);
      assert.deepEqual(s.data, { node: c.clientName.replace(/-[ab]$/, ""), name: c.clientName });
    }
    for (const other of nodes) {
      const some = await first(node).emitWithAck("fetch", { rooms: [`r-${other.name}`] });
      assert.deepEqual(some.map((s) => s.id), [first(other).id], `${node.name} -> ${other.name}`);
    }
  }
});

test("serverSideEmit with acks gets one answer from every other node", async () => {
  for (const node of nodes) {
    const answer = await first(node).emitWithAck("sse", 0, "x");
    const others = nodes.filter((n) => n !== node).map((n) => `pong ${n.name} [0,"x"]`).sort();
    assert.deepEqual(answer, { err: null, responses: others }, `from ${node.name}`);
  }
});
