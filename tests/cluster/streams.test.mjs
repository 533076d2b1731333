// The Redis streams adapter in a mixed cluster: two Rust nodes
// (cluster-fixture --adapter streams, on tokio and on smol) and one Node
// node (socket.io 4.8 + @socket.io/redis-streams-adapter 0.3.1), all with
// connection state recovery on, on one redis-server with an append-only
// file (so that it can be restarted without losing the stream). Broadcasts
// and requests cross every direction; clients dropped from one node come
// back on another (Rust -> Node, Node -> Rust, Rust -> Rust) and get every
// packet they missed, once, in the stream's order, with their id, rooms and
// data; faults: a trimmed stream, garbage entries, Redis restarted while
// clients are away.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createClient } from "redis";
import { decode } from "@msgpack/msgpack";
import { io } from "socket.io-client";
import { Redis, ClusterNode, client, closeClients, eventually, freePort } from "./common.mjs";

const STREAM = "socket.io";
const OFFSET = /^\d+-\d+$/;

/** redis-server whose data survives a restart (append-only file, fsync always). */
class PersistentRedis extends Redis {
  async start() {
    this.port ??= await freePort();
    this.child = spawn(
      "redis-server",
      [
        "--port", String(this.port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "yes", "--appendfsync", "always", "--dir", this.dir,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child.stdout.setEncoding("utf8");
    await new Promise((resolve, reject) => {
      let seen = "";
      this.child.stdout.on("data", (d) => {
        seen += d;
        if (/Ready to accept connections/.test(seen)) resolve();
      });
      this.child.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${seen}`)));
    });
    return this;
  }
}

const clientsMade = new Set();

/**
 * Waits until each of `clients` got an `end` from every helper: a node
 * stores its broadcasts in the order it makes them, so each `end` follows
 * that node's earlier broadcasts (an emit is acknowledged before it is
 * stored, on Node as here).
 */
async function endFromAll(helpers, clients, rooms) {
  const ended = Promise.all(
    clients.map(
      (c) =>
        new Promise((resolve) => {
          let n = 0;
          const h = () => {
            if (++n === Object.keys(helpers).length) {
              c.off("end", h);
              resolve();
            }
          };
          c.on("end", h);
        }),
    ),
  );
  for (const h of Object.values(helpers)) await h.emitWithAck("emit", { rooms, event: "end", args: [] });
  await ended;
}

/** A client of `node` that never reconnects by itself (the test moves it). */
async function roamer(node, name) {
  const socket = io(node.url, { auth: { name }, transports: ["websocket"], reconnection: false, forceNew: true });
  clientsMade.add(socket);
  socket.clientName = name;
  socket.got = [];
  socket.on("missed", (...args) => socket.got.push(args));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Kills the client's transport: its node sees "transport close". */
function drop(socket) {
  const gone = new Promise((r) => socket.once("disconnect", r));
  socket.io.engine.close();
  return gone;
}

/** Brings the client back, on `node`. */
async function comeBack(socket, node) {
  socket.io.uri = node.url;
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  socket.connect();
  await connected;
}

describe("streams adapter", () => {
  const redis = new PersistentRedis();
  let nodes = [];
  let byName = {};
  let helpers = {};
  let cmd;

  before(async () => {
    await redis.start();
    nodes = await Promise.all(
      [
        ["tokio", "rust-tokio"],
        ["smol", "rust-smol"],
        ["node", "node-js"],
      ].map(([kind, name]) => new ClusterNode(kind, name, redis.url, [], "streams").start()),
    );
    for (const n of nodes) {
      byName[n.name] = n;
      helpers[n.name] = await client(n, `helper-${n.name}`, ["helpers"]);
    }
    cmd = createClient({ url: redis.url });
    cmd.on("error", () => {});
    await cmd.connect();
  });

  after(async () => {
    for (const c of clientsMade) c.close();
    closeClients();
    await cmd?.quit().catch(() => {});
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.close();
  });

  test("broadcasts from every node reach every client once, with the stream id as offset, binary included", async () => {
    const clients = [];
    for (const n of nodes) {
      clients.push(await client(n, `${n.name}-red`, ["red"]), await client(n, `${n.name}-blue`, ["blue"]));
    }
    const seen = new Map(clients.map((c) => [c, []]));
    for (const c of clients) c.on("news", (...args) => seen.get(c).push(args));
    for (const n of nodes) {
      const from = helpers[n.name];
      await from.emitWithAck("emit", { event: "news", args: [n.name, "all", Buffer.from([1, 2, 3])] });
      await from.emitWithAck("emit", { rooms: ["red"], event: "news", args: [n.name, "red"] });
      await from.emitWithAck("emit", { rooms: ["red", "blue"], except: ["blue"], event: "news", args: [n.name, "except"] });
    }
    await endFromAll(helpers, clients, []);
    const ids = new Map();
    for (const c of clients) {
      const got = seen.get(c);
      const red = c.clientName.endsWith("-red");
      const expected = nodes.flatMap((n) => (red ? [[n.name, "all"], [n.name, "red"], [n.name, "except"]] : [[n.name, "all"]]));
      assert.deepEqual(
        got.map((a) => [a[0], a[1]]).sort(),
        expected.sort(),
        c.clientName,
      );
      for (const args of got) {
        const offset = args[args.length - 1];
        assert.match(offset, OFFSET, `${c.clientName}: ${JSON.stringify(args)}`);
        // Every node gives the same entry the same offset.
        const key = `${args[0]} ${args[1]}`;
        if (ids.has(key)) assert.equal(offset, ids.get(key), key);
        ids.set(key, offset);
        if (args[1] === "all") assert.deepEqual(Buffer.from(args[2]), Buffer.from([1, 2, 3]));
      }
      // In the stream's order on the Rust nodes (a Node node delivers its
      // own broadcasts as soon as XADD answers, before entries it has not
      // read yet).
      const offsets = got.map((a) => a[a.length - 1]);
      if (!c.clientName.startsWith("node-js")) assert.deepEqual(offsets, [...offsets].sort(byId), c.clientName);
    }
    // The entries as 0.3.1 writes them: uid, nsp, type, data.
    const entries = await cmd.xRange(STREAM, "-", "+");
    const ours = entries.filter((e) => e.message.type === "3");
    assert.equal(ours.length, 12, "9 broadcasts and 3 ends");
    for (const e of ours) assert.deepEqual(Object.keys(e.message), ["uid", "nsp", "type", "data"]);
    const binary = ours.filter((e) => !e.message.data.startsWith("{"));
    assert.equal(binary.length, 3, "the three binary broadcasts are base64 msgpack");
    for (const e of binary) {
      const data = decode(Buffer.from(e.message.data, "base64"));
      assert.deepEqual(data.packet.type, 2);
      assert.deepEqual(data.packet.data.slice(0, 1).concat(data.packet.data.slice(2, 3)), ["news", "all"]);
      assert.deepEqual(Buffer.from(data.packet.data[3]), Buffer.from([1, 2, 3]));
      assert.deepEqual(data.opts, { rooms: [], except: [], flags: {} });
    }
    for (const c of clients) c.close();
  });

  test("requests over pub/sub: serverSideEmit and broadcasts with acks from every node", async () => {
    for (const n of nodes) {
      const answer = await helpers[n.name].emitWithAck("sse", 1);
      const others = nodes.filter((o) => o !== n).map((o) => `pong ${o.name} [1]`).sort();
      assert.deepEqual(answer, { err: null, responses: others }, `from ${n.name}`);
      const asked = await helpers[n.name].emitWithAck("ask", { rooms: ["helpers"] });
      assert.deepEqual(asked, {
        err: null,
        answers: nodes.map((o) => `helper-${o.name} answers ${n.name}`).sort(),
      });
      const room = `joined-by-${n.name}`;
      await helpers[n.name].emitWithAck("sockets-join", { rooms: ["helpers"], room });
      const found = await eventually(
        () => helpers["rust-smol"].emitWithAck("fetch", { rooms: [room] }),
        (l) => l.length === nodes.length,
      );
      assert.equal(found.length, nodes.length, `${n.name}'s socketsJoin seen from rust-smol`);
    }
  });

  /**
   * 10 clients on `from` (5 in red, 5 in blue, joined by event), dropped;
   * 100 broadcasts to red+blue from a Rust and the Node helper alternately
   * (every tenth binary), with decoys for no one of them; back on `to`.
   */
  async function recoveryCase(from, to, tag) {
    const clients = [];
    for (let i = 0; i < 10; i++) {
      const c = await roamer(from, `${tag}-${i}`);
      await c.emitWithAck("join", i % 2 ? "blue" : "red");
      await c.emitWithAck("join", `${tag}-room`);
      clients.push(c);
    }
    // One packet before the drop: each client holds an offset.
    await helpers["rust-tokio"].emitWithAck("emit", { rooms: [`${tag}-room`], event: "missed", args: [-1, "rust-tokio"] });
    await eventually(async () => clients.every((c) => c.got.length === 1), (ok) => ok);
    for (const c of clients) assert.equal(c.got[0][0], -1);
    const before = clients.map((c) => ({ id: c.id, pid: c._pid, offset: c._lastOffset }));
    for (const b of before) assert.match(b.offset, OFFSET);
    await Promise.all(clients.map(drop));
    // The sessions are kept in Redis, as 0.3.1 does.
    const keys = await eventually(
      () => cmd.keys("sio:session:*"),
      (k) => before.every((b) => k.includes(`sio:session:${b.pid}`)),
    );
    for (const [k, b] of before.entries()) {
      assert.ok(keys.includes(`sio:session:${b.pid}`), `session of ${b.id}`);
      const raw = await cmd.get(`sio:session:${b.pid}`);
      const session = decode(Buffer.from(raw, "base64"));
      assert.equal(session.sid, b.id);
      assert.equal(session.pid, b.pid);
      assert.deepEqual([...session.rooms].sort(), [b.id, `${tag}-room`, k % 2 ? "blue" : "red"].sort());
      assert.deepEqual(session.data, { node: from.name, name: `${tag}-${k}` });
      const ttl = await cmd.pTTL(`sio:session:${b.pid}`);
      assert.ok(ttl > 60_000 && ttl <= 120_000, `PX 120000, ${ttl} left`);
    }
    // A client that stays, to know when every broadcast is stored.
    const observer = await roamer(to, `${tag}-observer`);
    await observer.emitWithAck("join", "red");
    const emitters = ["rust-smol", "node-js"];
    const send = async (from, until) => {
      for (let i = from; i < until; i++) {
        const who = emitters[i % 2];
        const args = i % 10 === 0 ? [i, who, Buffer.from([i])] : [i, who];
        await helpers[who].emitWithAck("emit", { rooms: ["red", "blue"], event: "missed", args });
        if (i % 25 === 0) {
          await helpers[who].emitWithAck("emit", { rooms: ["elsewhere"], event: "missed", args: [1000 + i, who] });
          await helpers[who].emitWithAck("emit", { except: ["red", "blue"], event: "missed", args: [2000 + i, who] });
        }
      }
    };
    // To a Rust node, the last 30 flow while the clients come back.
    const rustTarget = to.kind !== "node";
    await send(0, rustTarget ? 70 : 100);
    // Every broadcast stored before the clients come back (0.3.1 restoring
    // on a Node node loses an entry added between its last XRANGE and the
    // socket joining its rooms; a Rust node cuts the replay where its XREAD
    // loop stands and has no such window).
    if (rustTarget) {
      await Promise.all([send(70, 100), ...clients.map((c) => comeBack(c, to))]);
    } else {
      await eventually(async () => observer.got.length, (n) => n === 100);
      assert.equal(observer.got.length, 100);
      await Promise.all(clients.map((c) => comeBack(c, to)));
    }
    observer.close();
    for (const [k, c] of clients.entries()) {
      assert.equal(c.recovered, true, `${c.clientName} recovered`);
      assert.equal(c.id, before[k].id, "same id");
    }
    // The session keys were taken (GETDEL).
    for (const b of before) assert.equal(await cmd.get(`sio:session:${b.pid}`), null);
    // Live packets still come, after the missed ones.
    await endFromAll(helpers, clients, [`${tag}-room`]);
    for (const c of clients) {
      const got = c.got.slice(1);
      const numbers = got.map((a) => a[0]);
      assert.deepEqual([...numbers].sort((a, b) => a - b), [...Array(100).keys()], `${c.clientName}: all 100, none twice, no decoy`);
      const offsets = got.map((a) => a[a.length - 1]);
      assert.deepEqual(offsets, [...offsets].sort(byId), `${c.clientName}: in the stream's order`);
      assert.equal(new Set(offsets).size, 100);
      for (const who of emitters) {
        const own = got.filter((a) => a[1] === who).map((a) => a[0]);
        assert.deepEqual(own, [...own].sort((a, b) => a - b), `${c.clientName}: ${who}'s in order`);
      }
      for (const a of got.filter((a) => a[0] % 10 === 0)) assert.deepEqual(Buffer.from(a[2]), Buffer.from([a[0]]));
    }
    // Id, rooms and data restored on the new node (data says the old node).
    const found = await helpers[to.name].emitWithAck("fetch", { rooms: [`${tag}-room`] });
    assert.equal(found.length, 10);
    for (const [k, c] of clients.entries()) {
      const s = found.find((x) => x.id === c.id);
      assert.ok(s, `${c.clientName} is on the cluster`);
      assert.deepEqual(s.rooms, [c.id, `${tag}-room`, k % 2 ? "blue" : "red"].sort());
      assert.deepEqual(s.data, { node: from.name, name: c.clientName });
    }
    for (const c of clients) c.close();
  }

  test("recovery Rust -> Node: 10 clients, 100 missed packets each", async () => {
    await recoveryCase(byName["rust-tokio"], byName["node-js"], "rn");
  });

  test("recovery Node -> Rust: 10 clients, 100 missed packets each", async () => {
    await recoveryCase(byName["node-js"], byName["rust-smol"], "nr");
  });

  test("recovery Rust -> Rust: 10 clients, 100 missed packets each", async () => {
    await recoveryCase(byName["rust-smol"], byName["rust-tokio"], "rr");
  });

  test("a stream trimmed past the client's offset: a clean new connection", async () => {
    for (const [from, to] of [
      ["rust-tokio", "rust-smol"],
      ["rust-smol", "node-js"],
      ["node-js", "rust-tokio"],
    ]) {
      const c = await roamer(byName[from], `trimmed-${from}`);
      await c.emitWithAck("join", "trim");
      await helpers[from].emitWithAck("emit", { rooms: ["trim"], event: "missed", args: [0] });
      await eventually(async () => c.got.length, (n) => n === 1);
      const old = c.id;
      await drop(c);
      await eventually(() => cmd.keys(`sio:session:${c._pid}`), (k) => k.length === 1);
      await helpers[from].emitWithAck("emit", { rooms: ["trim"], event: "missed", args: [1] });
      await cmd.sendCommand(["XTRIM", STREAM, "MAXLEN", "0"]);
      await helpers[from].emitWithAck("emit", { rooms: ["trim"], event: "missed", args: [2] });
      await comeBack(c, byName[to]);
      assert.equal(c.recovered, false, `${from} -> ${to}`);
      assert.notEqual(c.id, old);
      // A working new socket: it answers and receives.
      assert.equal(await c.emitWithAck("whoami"), to);
      const fresh = await helpers[to].emitWithAck("fetch", { rooms: [c.id] });
      assert.deepEqual(fresh[0].rooms, [c.id], "a new socket, no rooms restored");
      assert.deepEqual(c.got.map((a) => a[0]), [0], "nothing replayed");
      c.close();
    }
  });

  test("garbage entries in the stream are skipped (and reported by the Rust nodes), live and in replays", async () => {
    const live = await Promise.all(nodes.map((n) => roamer(n, `live-${n.name}`)));
    const away = await roamer(byName["rust-smol"], "away");
    for (const c of [...live, away]) await c.emitWithAck("join", "garbage");
    await helpers["node-js"].emitWithAck("emit", { rooms: ["garbage"], event: "missed", args: [0] });
    await eventually(async () => [...live, away].every((c) => c.got.length === 1), (ok) => ok);
    await drop(away);
    await eventually(() => cmd.keys(`sio:session:${away._pid}`), (k) => k.length === 1);
    // Garbage the Node node survives too (0.3.1 stops at a broadcast whose
    // decoded data lacks packet/opts: it would read that entry forever).
    const bad = [
      ["uid", "x", "nsp", "/", "type", "3", "data", "{not json"],
      ["uid", "x", "nsp", "/", "type", "3", "data", "wQ=="],
      ["uid", "x", "nsp", "/", "type", "zz", "data", "{}"],
      ["uid", "x", "garbage", "no nsp"],
    ];
    for (const fields of bad) await cmd.sendCommand(["XADD", STREAM, "*", ...fields]);
    await helpers["rust-tokio"].emitWithAck("emit", { rooms: ["garbage"], event: "missed", args: [1] });
    await eventually(async () => live.every((c) => c.got.length === 2), (ok) => ok);
    for (const c of live) assert.deepEqual(c.got.map((a) => a[0]), [0, 1], c.clientName);
    await comeBack(away, byName["rust-tokio"]);
    assert.equal(away.recovered, true);
    await eventually(async () => away.got.length, (n) => n === 2);
    assert.deepEqual(away.got.map((a) => a[0]), [0, 1]);
    for (const n of nodes.filter((n) => n.kind !== "node")) {
      const reported = await eventually(async () => n.stderr, (s) => (s.match(/ignored a message on socket\.io entry/g) ?? []).length >= 3);
      assert.match(reported, /ignored a message on socket\.io entry \d+-\d+: /, n.name);
    }
    for (const c of [...live, away]) c.close();
  });

  test("redis restarted while clients are away: they come back to every packet, before and after", async () => {
    const pairs = [
      ["rust-tokio", "node-js"],
      ["node-js", "rust-smol"],
      ["rust-smol", "rust-tokio"],
    ];
    const away = [];
    for (const [from] of pairs) {
      const c = await roamer(byName[from], `restart-${from}`);
      await c.emitWithAck("join", "restart");
      away.push(c);
    }
    await helpers["rust-tokio"].emitWithAck("emit", { rooms: ["restart"], event: "missed", args: [0] });
    await eventually(async () => away.every((c) => c.got.length === 1), (ok) => ok);
    await Promise.all(away.map(drop));
    await eventually(() => cmd.keys("sio:session:*"), (k) => away.every((c) => k.includes(`sio:session:${c._pid}`)));
    await helpers["node-js"].emitWithAck("emit", { rooms: ["restart"], event: "missed", args: [1] });
    await helpers["rust-smol"].emitWithAck("emit", { rooms: ["restart"], event: "missed", args: [2] });
    // Let the entries reach the append-only file (fsync always).
    await eventually(async () => (await cmd.xLen(STREAM)) > 0, (ok) => ok);
    await cmd.quit().catch(() => {});
    await redis.stop();
    await redis.start();
    cmd = createClient({ url: redis.url });
    cmd.on("error", () => {});
    await cmd.connect();
    // Every node reads the stream again: a live client on each gets this.
    const watchers = await Promise.all(nodes.map((n) => roamer(n, `watch-${n.name}`)));
    for (const w of watchers) await w.emitWithAck("join", "restart");
    let k = 3;
    await eventually(
      async () => {
        for (const n of nodes) await helpers[n.name].timeout(5000).emitWithAck("emit", { rooms: ["restart"], event: "missed", args: [k++, "probe"] }).catch(() => {});
        return watchers.every((w) => nodes.every((n) => w.got.some((a) => a[1] === "probe")));
      },
      (ok) => ok,
    );
    await helpers["rust-smol"].emitWithAck("emit", { rooms: ["restart"], event: "missed", args: [100, "after"] });
    await eventually(async () => watchers.every((w) => w.got.some((a) => a[0] === 100)), (ok) => ok);
    for (const [i, [, to]] of pairs.entries()) {
      const c = away[i];
      await comeBack(c, byName[to]);
      assert.equal(c.recovered, true, `${pairs[i][0]} -> ${to}`);
    }
    await endFromAll(helpers, [...away, ...watchers], ["restart"]);
    // Probes sent before Redis answered again may not be stored (a node
    // then delivers them to its own clients only, without offset); every
    // stored packet comes exactly once.
    const stored = (w) => w.got.filter((a) => a[0] >= 3 && OFFSET.test(a.at(-1))).map((a) => a.at(-1));
    for (const [i, [, to]] of pairs.entries()) {
      const c = away[i];
      const numbers = c.got.map((a) => a[0]);
      assert.deepEqual(numbers.slice(0, 3), [0, 1, 2], c.clientName);
      assert.ok(numbers.includes(100));
      assert.equal(new Set(numbers).size, numbers.length, "none twice");
      const offsets = c.got.map((a) => a.at(-1));
      for (const o of offsets) assert.match(o, OFFSET);
      if (to !== "node-js") assert.deepEqual(offsets, [...offsets].sort(byId), `${c.clientName}: stream order`);
      for (const w of watchers) {
        assert.deepEqual(
          offsets.slice(3).sort(byId),
          stored(w).sort(byId),
          `${c.clientName}: the same stored packets as ${w.clientName}, which stayed`,
        );
      }
    }
    for (const c of [...away, ...watchers]) c.close();
  });
});

/** Stream id order. */
function byId(a, b) {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am === bm ? (as < bs ? -1 : as > bs ? 1 : 0) : am < bm ? -1 : 1;
}
