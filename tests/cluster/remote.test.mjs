// Remote sockets and dynamic namespaces across a mixed cluster on one
// redis-server: Rust nodes (cluster-fixture on tokio and smol) and a Node
// node (socket.io 4.8 + @socket.io/redis-adapter 8.3), classic and
// sharded adapters. The `remote` event fetches sockets (fetchSockets) and
// acts on each RemoteSocket found (emit, join, leave, disconnect), so every
// operation goes from each node to sockets of each other node, Rust -> Node,
// Node -> Rust and Rust -> Rust. The dynamic namespaces /dyn-<word> (a
// parent namespace on every node) carry the same handlers.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { Redis, ClusterNode, client, closeClients, eventually } from "./common.mjs";

const extra = [];

/** A client of namespace `nsp` on `node`, closed with the others. */
async function nspClient(node, nsp, name, rooms = []) {
  const socket = io(`${node.url}${nsp}`, { auth: { name, rooms }, transports: ["websocket"], reconnection: false, forceNew: true });
  extra.push(socket);
  socket.clientName = name;
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Every `event` each client gets until its `end` (sent after, by `from`). */
async function collect(clients, event, from, act) {
  const seen = new Map(clients.map((c) => [c, []]));
  const handlers = clients.map((c) => {
    const h = (...args) => seen.get(c).push(args);
    c.on(event, h);
    return [c, h];
  });
  const ended = Promise.all(clients.map((c) => new Promise((r) => c.once("end", r))));
  await act();
  await from.emitWithAck("emit", { event: "end", args: [] });
  await ended;
  for (const [c, h] of handlers) c.off(event, h);
  return seen;
}

for (const adapter of ["classic", "sharded"]) {
  describe(`${adapter} adapter`, () => {
    const redis = new Redis();
    let nodes = [];
    const users = {};

    before(async () => {
      await redis.start();
      nodes = await Promise.all(
        [
          ["tokio", "rust-tokio"],
          ["smol", "rust-smol"],
          ["node", "node-js"],
        ].map(([kind, name]) => new ClusterNode(kind, name, redis.url, [], adapter).start()),
      );
      for (const node of nodes) users[node.name] = await client(node, `${node.name}-u`, [`r-${node.name}`, "everyone"]);
    });

    after(async () => {
      closeClients();
      for (const s of extra.splice(0)) s.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.close();
    });

    const all = () => Object.values(users);
    const sortedIds = (list) => list.map((c) => c.id).sort();

    test("RemoteSocket.emit from every node reaches the fetched sockets of every node, binary included", async () => {
      for (const node of nodes) {
        const from = users[node.name];
        let answer;
        const seen = await collect(all(), "hey", from, async () => {
          answer = await from.emitWithAck("remote", {
            rooms: ["everyone"], op: "emit", event: "hey", args: [node.name, Buffer.from([7, 8])],
          });
        });
        assert.deepEqual(answer, sortedIds(all()), `fetched from ${node.name}`);
        for (const c of all()) {
          const got = seen.get(c);
          assert.equal(got.length, 1, `${c.clientName} from ${node.name}`);
          assert.equal(got[0][0], node.name);
          assert.deepEqual(Buffer.from(got[0][1]), Buffer.from([7, 8]));
        }
        // One room: only that node's user.
        for (const other of nodes) {
          const one = await collect(all(), "one", from, async () => {
            assert.deepEqual(
              await from.emitWithAck("remote", { rooms: [`r-${other.name}`], op: "emit", event: "one", args: [node.name] }),
              [users[other.name].id],
            );
          });
          for (const c of all()) {
            assert.deepEqual(one.get(c), c === users[other.name] ? [[node.name]] : [], `${node.name} -> ${other.name}: ${c.clientName}`);
          }
        }
      }
    });

    test("RemoteSocket.join / leave from every node move sockets of every node, seen from a third", async () => {
      for (const node of nodes) {
        for (const other of nodes) {
          const target = users[other.name];
          const room = `by-${node.name}-${other.name}`;
          const third = users[nodes.find((n) => n !== node && n !== other)?.name ?? node.name];
          assert.deepEqual(
            await users[node.name].emitWithAck("remote", { rooms: [target.id], op: "join", room }),
            [target.id],
          );
          const joined = await eventually(
            () => third.emitWithAck("fetch", { rooms: [room] }),
            (list) => list.length === 1,
          );
          assert.deepEqual(joined.map((s) => s.id), [target.id], `${node.name} joined ${other.name}`);
          assert.ok(joined[0].rooms.includes(room));
          assert.deepEqual(
            await users[node.name].emitWithAck("remote", { rooms: [room], op: "leave", room }),
            [target.id],
          );
          const left = await eventually(
            () => third.emitWithAck("fetch", { rooms: [room] }),
            (list) => list.length === 0,
          );
          assert.deepEqual(left, [], `${node.name} made ${other.name} leave`);
        }
      }
    });

    test("RemoteSocket.disconnect from every node closes a socket of every node, and only it", async () => {
      for (const node of nodes) {
        for (const other of nodes) {
          const victim = await client(other, `victim-${node.name}-${other.name}`);
          const gone = new Promise((r) => victim.once("disconnect", r));
          const id = victim.id; // the client forgets it once disconnected
          assert.deepEqual(
            await users[node.name].emitWithAck("remote", { rooms: [id], op: "disconnect" }),
            [id],
          );
          assert.equal(await gone, "io server disconnect", `${node.name} -> ${other.name}`);
        }
      }
      for (const c of all()) assert.equal(c.connected, true, c.clientName);
    });

    describe("dynamic namespaces", () => {
      const dyn = {};
      before(async () => {
        for (const node of nodes) dyn[node.name] = await nspClient(node, "/dyn-a", `${node.name}-dyn`, [`d-${node.name}`]);
      });

      test("fetchSockets in /dyn-a from every node finds the /dyn-a sockets of every node, not those of /", async () => {
        const expected = Object.values(dyn).map((c) => c.id).sort();
        for (const node of nodes) {
          const found = await eventually(
            () => dyn[node.name].emitWithAck("fetch", {}),
            (list) => Array.isArray(list) && list.length === 3,
          );
          assert.deepEqual(found.map((s) => s.id), expected, `from ${node.name}`);
          for (const c of Object.values(dyn)) {
            const s = found.find((x) => x.id === c.id);
            assert.deepEqual(s.data, { node: c.clientName.replace(/-dyn$/, ""), name: c.clientName });
          }
        }
      });

      test("broadcasts and RemoteSocket operations in /dyn-a cross every pair of nodes and stay in /dyn-a", async () => {
        const inDyn = Object.values(dyn);
        const leaked = [];
        const spy = () => leaked.push(1);
        for (const c of all()) c.on("dnews", spy);
        for (const node of nodes) {
          const from = dyn[node.name];
          const seen = await collect(inDyn, "dnews", from, async () => {
            await from.emitWithAck("emit", { event: "dnews", args: [node.name] });
            await from.emitWithAck("emit", { rooms: ["d-node-js"], event: "dnews", args: ["room"] });
            await from.emitWithAck("remote", { rooms: ["d-rust-smol"], op: "emit", event: "dnews", args: ["remote"] });
          });
          for (const c of inDyn) {
            const expected = [[node.name]];
            if (c === dyn["node-js"]) expected.push(["room"]);
            if (c === dyn["rust-smol"]) expected.push(["remote"]);
            assert.deepEqual(seen.get(c), expected, `${c.clientName} from ${node.name}`);
          }
        }
        // The sockets of / got none of it (an `end` there, after, closes the count).
        await collect(all(), "nothing", users["node-js"], async () => {});
        for (const c of all()) c.off("dnews", spy);
        assert.deepEqual(leaked, []);
        // A remote join in /dyn-a, from Node to a Rust socket and back.
        for (const [a, b] of [["node-js", "rust-tokio"], ["rust-smol", "node-js"]]) {
          await dyn[a].emitWithAck("remote", { rooms: [dyn[b].id], op: "join", room: "dj" });
          const found = await eventually(
            () => dyn[a].emitWithAck("fetch", { rooms: ["dj"] }),
            (list) => list.some((s) => s.id === dyn[b].id),
          );
          assert.ok(found.some((s) => s.id === dyn[b].id), `${a} -> ${b}`);
          // The main namespace's room of the same name is untouched.
          assert.deepEqual(await users[a].emitWithAck("fetch", { rooms: ["dj"] }), []);
        }
      });

      test("a dynamic namespace on two nodes only: requests count those two (Node's fetchSockets does not time out)", async () => {
        const b1 = await nspClient(nodes[0], "/dyn-b", "b-rust-tokio");
        const b2 = await nspClient(nodes[2], "/dyn-b", "b-node-js");
        const expected = [b1.id, b2.id].sort();
        for (const c of [b1, b2]) {
          const found = await eventually(
            () => c.emitWithAck("fetch", {}),
            (list) => Array.isArray(list) && list.length === 2,
          );
          assert.deepEqual(found.map((s) => s.id), expected, `from ${c.clientName}`);
        }
        // rust-smol has no /dyn-b: a broadcast there reaches only the two.
        const seen = await collect([b1, b2], "bnews", b2, () => b2.emitWithAck("emit", { event: "bnews", args: [1] }));
        assert.deepEqual([seen.get(b1), seen.get(b2)], [[[1]], [[1]]]);
      });
    });
  });
}
