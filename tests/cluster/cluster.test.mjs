// A mixed cluster on one redis-server: two Rust nodes (cluster-fixture on
// tokio and on smol) and one Node node (socket.io 4.8 +
// @socket.io/redis-adapter 8.3), two official clients on each; the same
// tests with the classic adapter (createAdapter) and with the sharded one
// (createShardedAdapter: SPUBLISH / SSUBSCRIBE, dynamic room channels).
// Every operation is asked from every node, so each direction between
// Rust and Node is crossed.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { Redis, ClusterNode, client, closeClients, eventually } from "./common.mjs";

for (const adapter of ["classic", "sharded"]) {
  describe(`${adapter} adapter`, () => {
    const redis = new Redis();
    let nodes = [];
    let clients = [];
    const byNode = {};

    before(async () => {
      await redis.start();
      nodes = await Promise.all(
        [
          ["tokio", "rust-tokio"],
          ["smol", "rust-smol"],
          ["node", "node-js"],
        ].map(([kind, name]) => new ClusterNode(kind, name, redis.url, [], adapter).start()),
      );
      for (const node of nodes) {
        byNode[node.name] = [
          await client(node, `${node.name}-a`, [`r-${node.name}`, "everyone"]),
          await client(node, `${node.name}-b`, ["everyone"], ["polling", "websocket"]),
        ];
        clients.push(...byNode[node.name]);
      }
    });

    after(async () => {
      closeClients();
      await Promise.all(nodes.map((n) => n.stop()));
      await redis.close();
    });

    const first = (node) => byNode[node.name][0];
    const ids = (list) => list.map((c) => c.id).sort();

    /** Every event `event` each client gets until it gets `end` (sent after). */
    function record(event) {
      const seen = new Map(clients.map((c) => [c, []]));
      const handlers = clients.map((c) => {
        const h = (...args) => seen.get(c).push(args);
        c.on(event, h);
        return [c, h];
      });
      const ended = Promise.all(clients.map((c) => new Promise((r) => c.once("end", r))));
      return {
        seen,
        async done(from) {
          await from.emitWithAck("emit", { event: "end", args: [] });
          await ended;
          for (const [c, h] of handlers) c.off(event, h);
          return seen;
        },
      };
    }

    test("the nodes answer who they are", async () => {
      for (const node of nodes) assert.equal(await first(node).emitWithAck("whoami"), node.name);
    });

    test("fetchSockets from every node finds every socket with its data and rooms", async () => {
      for (const node of nodes) {
        const all = await first(node).emitWithAck("fetch", {});
        assert.deepEqual(all.map((s) => s.id), ids(clients), `from ${node.name}`);
        for (const c of clients) {
          const s = all.find((x) => x.id === c.id);
          const home = c.clientName.replace(/-[ab]$/, "");
          assert.deepEqual(s.data, { node: home, name: c.clientName });
          const rooms = c.clientName.endsWith("-a") ? [c.id, `r-${home}`, "everyone"] : [c.id, "everyone"];
          assert.deepEqual(s.rooms, rooms.sort());
        }
        for (const other of nodes) {
          const some = await first(node).emitWithAck("fetch", { rooms: [`r-${other.name}`] });
          assert.deepEqual(some.map((s) => s.id), [first(other).id], `${node.name} -> ${other.name}`);
        }
      }
    });

    test("broadcasts from every node reach every client once, to rooms and except, binary included", async () => {
      for (const node of nodes) {
        const rec = record("news");
        const from = first(node);
        await from.emitWithAck("emit", { event: "news", args: [node.name, "all", Buffer.from([1, 2, 3])] });
        await from.emitWithAck("emit", { rooms: ["r-node-js", "r-rust-smol"], event: "news", args: [node.name, "two rooms"] });
        await from.emitWithAck("emit", { rooms: ["everyone"], except: ["r-rust-tokio"], event: "news", args: [node.name, "except"] });
        const seen = await rec.done(from);
        for (const c of clients) {
          const got = seen.get(c);
          const expected = [[node.name, "all"]];
          if (c.clientName === "rust-smol-a" || c.clientName === "node-js-a") expected.push([node.name, "two rooms"]);
          if (c.clientName !== "rust-tokio-a") expected.push([node.name, "except"]);
          assert.deepEqual(got.map(([a, b]) => [a, b]), expected, `${c.clientName} from ${node.name}`);
          assert.deepEqual(Buffer.from(got[0][2]), Buffer.from([1, 2, 3]), `binary to ${c.clientName}`);
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

    test("broadcasts with acks collect the answer of every client on every node", async () => {
      for (const node of nodes) {
        const all = await first(node).emitWithAck("ask", {});
        assert.deepEqual(all, {
          err: null,
          answers: clients.map((c) => `${c.clientName} answers ${node.name}`).sort(),
        });
        const one = await first(node).emitWithAck("ask", { rooms: ["r-node-js"] });
        assert.deepEqual(one, { err: null, answers: [`node-js-a answers ${node.name}`] });
        const none = await first(node).emitWithAck("ask", { rooms: ["nobody"] });
        assert.deepEqual(none, { err: null, answers: [] });
      }
    });

    test("socketsJoin and socketsLeave from every node act on every node", async () => {
      for (const node of nodes) {
        const room = `joined-by-${node.name}`;
        await first(node).emitWithAck("sockets-join", { rooms: ["everyone"], room });
        for (const other of nodes) {
          const found = await eventually(
            () => first(other).emitWithAck("fetch", { rooms: [room] }),
            (l) => l.length === clients.length,
          );
          assert.deepEqual(found.map((s) => s.id), ids(clients), `${node.name} joined, ${other.name} looks`);
        }
        await first(node).emitWithAck("sockets-leave", { rooms: [room], except: ["r-node-js"], room });
        const left = await eventually(
          () => first(node).emitWithAck("fetch", { rooms: [room] }),
          (l) => l.length === 1,
        );
        assert.deepEqual(left.map((s) => s.id), [first(nodes[2]).id]);
      }
    });

    test("disconnectSockets from every node closes the chosen sockets on every node", async () => {
      for (const node of nodes) {
        const doomed = await Promise.all(nodes.map((n) => client(n, `doomed-${n.name}`, ["doomed"])));
        const reasons = Promise.all(doomed.map((c) => new Promise((r) => c.once("disconnect", r))));
        await first(node).emitWithAck("disconnect-sockets", { rooms: ["doomed"] });
        assert.deepEqual(await reasons, doomed.map(() => "io server disconnect"), `from ${node.name}`);
        // The others are still there.
        const all = await eventually(
          () => first(node).emitWithAck("fetch", {}),
          (l) => l.length === clients.length,
        );
        assert.deepEqual(all.map((s) => s.id), ids(clients));
      }
    });

    test("garbage on the channels is ignored (and reported by the Rust nodes)", async () => {
      const raw = createClient({ url: redis.url });
      await raw.connect();
      // Classic: Node's adapter decodes broadcasts outside any try/catch (bad
      // msgpack there would crash the Node node): they go to a room no Node
      // socket is in, which Node skips before decoding and the Rust nodes
      // decode. Sharded: Node catches what does not decode; the namespace's
      // channel and a room channel every node subscribes to (dynamic mode).
      const channels =
        adapter === "classic"
          ? ["socket.io#/#no-node-room#", "socket.io-request#/#", "socket.io-response#/#"]
          : ["socket.io#/#", "socket.io#/#everyone#"];
      const send = (channel, message) =>
        adapter === "classic" ? raw.publish(channel, message) : raw.sPublish(channel, message);
      for (const channel of channels) {
        await send(channel, Buffer.from([0xc1, 0xff, 0x00]));
        await send(channel, Buffer.from("{not json"));
        await send(channel, JSON.stringify({ uid: "x", type: 99, nsp: "/" }));
        await send(channel, Buffer.from([0x93, 0xa1, 0x78])); // truncated [uid, ...
        await send(channel, Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])); // 4 G items announced
      }
      await raw.quit();
      for (const node of nodes) {
        const answer = await first(node).emitWithAck("sse", 1);
        assert.equal(answer.err, null, `${node.name} still answers`);
        assert.equal(answer.responses.length, 2);
      }
      for (const node of nodes.filter((n) => n.kind !== "node")) {
        for (const channel of channels) {
          const escaped = channel.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
          assert.match(node.stderr, new RegExp(`ignored a message on ${escaped}: `), `${node.name} on ${channel}`);
        }
      }
    });

    test("a request to a node that stopped answering ends at the timeout", async () => {
      const frozen = nodes[1]; // rust-smol: still subscribed, so still counted
      frozen.child.kill("SIGSTOP");
      try {
        const asks = [nodes[0], nodes[2]].map((n) => first(n).timeout(10000).emitWithAck("sse", 2));
        const [fromRust, fromNode] = await Promise.all(asks);
        assert.notEqual(fromRust.err, null);
        assert.notEqual(fromNode.err, null);
        // With the error, the answers that came (Node's callback gets
        // `(err, responses)`): the one node still running answered.
        const pong = (n) => `pong ${n.name} [2]`;
        assert.deepEqual(fromRust.responses, [pong(nodes[2])]);
        if (adapter === "classic") assert.deepEqual(fromNode.responses, [pong(nodes[0])]);
        // fetchSockets ends at the timeout too: Node's rejects; ours (as
        // socketio-async documents) gives what the nodes that answered sent.
        const [rustFetch, nodeFetch] = await Promise.all(
          [nodes[0], nodes[2]].map((n) => first(n).timeout(10000).emitWithAck("fetch", {})),
        );
        // (Node's two adapters word it differently.)
        const message =
          adapter === "classic"
            ? "timeout reached while waiting for fetchSockets response"
            : "timeout reached: only 1 responses received out of 2";
        assert.deepEqual(nodeFetch, { err: message });
        const alive = clients.filter((c) => !c.clientName.startsWith("rust-smol"));
        assert.deepEqual(rustFetch.map((s) => s.id), ids(alive));
      } finally {
        frozen.child.kill("SIGCONT");
      }
    });

    test("redis restarted mid-run: the nodes reconnect and every operation works again", async () => {
      await redis.stop();
      // While Redis is away a request cannot be sent: the caller gets an error.
      const during = await first(nodes[0]).timeout(10000).emitWithAck("sse", 3);
      assert.notEqual(during.err, null);
      await redis.start();
      for (const node of nodes) {
        const answer = await eventually(
          () => first(node).timeout(10000).emitWithAck("sse", 4),
          (a) => a.err === null && a.responses.length === 2,
        );
        assert.deepEqual(answer.responses, nodes.filter((n) => n !== node).map((n) => `pong ${n.name} [4]`).sort());
      }
      // The closing `end` goes out from the same node as the broadcast: one
      // publisher keeps the order on the channel, while an `end` from another
      // node may reach its clients before the broadcast crosses Redis.
      const rec = record("after");
      await first(nodes[0]).emitWithAck("emit", { event: "after", args: [1] });
      const seen = await rec.done(first(nodes[0]));
      for (const c of clients) assert.deepEqual(seen.get(c), [[1]], c.clientName);
    });

    test("a node leaving and a new one joining", async () => {
      const leaving = nodes[2];
      assert.equal(await leaving.stop(), 0, "SIGTERM: exit 0");
      const gone = await eventually(
        () => first(nodes[0]).emitWithAck("sse", 5),
        (a) => a.err === null && a.responses.length === 1,
      );
      assert.deepEqual(gone.responses, ["pong rust-smol [5]"]);
      const fresh = await new ClusterNode("node", "node-new", redis.url, [], adapter).start();
      nodes.push(fresh);
      const c = await client(fresh, "newcomer", ["everyone"]);
      const back = await eventually(
        () => first(nodes[1]).emitWithAck("sse", 6),
        (a) => a.err === null && a.responses.length === 2,
      );
      assert.deepEqual(back.responses, ["pong node-new [6]", "pong rust-tokio [6]"]);
      const found = await first(nodes[0]).emitWithAck("fetch", { rooms: ["everyone"] });
      assert.ok(found.some((s) => s.id === c.id && s.data.node === "node-new"));
      assert.equal(await nodes[0].stop(), 0, "the Rust node exits 0 on SIGTERM");
    });
  });
}
