// The sharded adapter's subscription modes (createShardedAdapter's
// `subscriptionMode`) in a mixed cluster on one redis-server: Rust nodes
// (cluster-fixture on tokio and smol) and a Node node, all started with the
// same `--subscription-mode`. The default ("dynamic") is what
// cluster.test.mjs runs; here "static" (the namespace's channel only) and
// "dynamic-private" (a channel per room, socket ids included). Each mode:
// the channels every node subscribes to (PUBSUB SHARDNUMSUB), broadcasts
// from every node to all, one room, one socket id and an except, and a
// request (fetchSockets by room) from every node.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { Redis, ClusterNode, client, closeClients, eventually } from "./common.mjs";

for (const mode of ["static", "dynamic-private"]) {
  describe(`subscriptionMode ${mode}`, () => {
    const redis = new Redis();
    let nodes = [];
    const users = {};
    let probe;

    before(async () => {
      await redis.start();
      nodes = await Promise.all(
        [
          ["tokio", "rust-tokio"],
          ["smol", "rust-smol"],
          ["node", "node-js"],
        ].map(([kind, name]) =>
          new ClusterNode(kind, name, redis.url, ["--subscription-mode", mode], "sharded").start(),
        ),
      );
      for (const node of nodes) users[node.name] = await client(node, `${node.name}-u`, [`r-${node.name}`, "everyone"]);
      probe = createClient({ url: redis.url });
      await probe.connect();
    });

    after(async () => {
      closeClients();
      await probe?.quit();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.close();
    });

    const all = () => Object.values(users);
    const subscribers = async (channel) => Number((await probe.sendCommand(["PUBSUB", "SHARDNUMSUB", channel]))[1]);

    test("every node subscribes to the channels its mode calls for, as the Node node does", async () => {
      const expected = { "socket.io#/#": 3 };
      const rooms = mode === "static" ? 0 : 1;
      expected["socket.io#/#everyone#"] = rooms * 3;
      for (const n of nodes) expected[`socket.io#/#r-${n.name}#`] = rooms;
      // A socket's own room: a channel in dynamic-private mode only.
      for (const c of all()) expected[`socket.io#/#${c.id}#`] = rooms;
      for (const [channel, n] of Object.entries(expected)) {
        const counted = await eventually(() => subscribers(channel), (got) => got === n);
        assert.equal(counted, n, channel);
      }
    });

    test("broadcasts from every node: all (binary), one room, one socket id, except", async () => {
      for (const node of nodes) {
        const from = users[node.name];
        const seen = new Map(all().map((c) => [c, []]));
        const handlers = all().map((c) => {
          const h = (...args) => seen.get(c).push(args);
          c.on("news", h);
          return [c, h];
        });
        const ended = Promise.all(all().map((c) => new Promise((r) => c.once("end", r))));
        await from.emitWithAck("emit", { event: "news", args: ["all", Buffer.from([4, 2])] });
        for (const other of nodes) {
          await from.emitWithAck("emit", { rooms: [`r-${other.name}`], event: "news", args: [`room ${other.name}`] });
          await from.emitWithAck("emit", { rooms: [users[other.name].id], event: "news", args: [`id ${other.name}`] });
        }
        await from.emitWithAck("emit", { rooms: ["everyone"], except: ["r-rust-smol"], event: "news", args: ["except"] });
        await from.emitWithAck("emit", { event: "end", args: [] });
        await ended;
        for (const [c, h] of handlers) c.off("news", h);
        for (const other of nodes) {
          const got = seen.get(users[other.name]);
          const expected = [["all"], [`room ${other.name}`], [`id ${other.name}`]];
          if (other.name !== "rust-smol") expected.push(["except"]);
          assert.deepEqual(got.map((args) => args.slice(0, 1)), expected, `${other.name} from ${node.name}`);
          assert.deepEqual(Buffer.from(got[0][1]), Buffer.from([4, 2]));
        }
      }
    });

    test("fetchSockets by room from every node (a request on the namespace's channel)", async () => {
      for (const node of nodes) {
        for (const other of nodes) {
          const found = await users[node.name].emitWithAck("fetch", { rooms: [`r-${other.name}`] });
          assert.deepEqual(found.map((s) => s.id), [users[other.name].id], `${node.name} -> ${other.name}`);
          assert.deepEqual(found[0].data, { node: other.name, name: `${other.name}-u` });
        }
      }
    });
  });
}
