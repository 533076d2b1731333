// The official JavaScript client (npm socket.io-client 4.8) against our
// server (the interop-server binary, on the runtime INTEROP_RUNTIME names:
// tokio, async-std or smol), over websocket-only, polling-only and
// polling-then-upgrade.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { io } from "socket.io-client";

const SERVER = process.env.INTEROP_SERVER ?? "../../target/release/interop-server";
// tokio (the server's default), async-std or smol.
const RUNTIME = process.env.INTEROP_RUNTIME ?? "tokio";
let server;
let url;

before(async () => {
  server = spawn(SERVER, ["--port", "0", "--runtime", RUNTIME], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(server.stdout, "data");
  const port = /listening (\d+)/.exec(line.toString())[1];
  url = `http://127.0.0.1:${port}`;
});

after(() => server.kill());

const MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};

function connect(mode, nsp = "/", opts = {}) {
  return io(url + nsp, { forceNew: true, reconnection: false, ...MODES[mode], ...opts });
}

function next(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

function withTimeout(promise, ms, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

for (const mode of Object.keys(MODES)) {
  test(`${mode}: connect with auth`, async () => {
    const socket = connect(mode, "/", { auth: { token: "123" } });
    const [auth, recovered] = await withTimeout(next(socket, "auth"), 3000, "auth");
    assert.deepEqual(auth, { token: "123" });
    assert.equal(recovered, false);
    assert.ok(socket.connected);
    if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
      await withTimeout(once(socket.io.engine, "upgrade"), 3000, "upgrade");
    }
    const expected = mode === "polling" ? "polling" : "websocket";
    assert.equal(socket.io.engine.transport.name, expected);
    socket.disconnect();
  });

  test(`${mode}: events with mixed binary arguments both ways`, async () => {
    const socket = connect(mode);
    await next(socket, "auth");
    const bytes = Uint8Array.from([1, 2, 3]);
    socket.emit("echo", 1, "two", { three: bytes, four: [Uint8Array.from([4])] }, null);
    const args = await withTimeout(next(socket, "echo"), 3000, "echo");
    assert.equal(args[0], 1);
    assert.equal(args[1], "two");
    assert.deepEqual(new Uint8Array(args[2].three), bytes);
    assert.deepEqual(new Uint8Array(args[2].four[0]), Uint8Array.from([4]));
    assert.equal(args[3], null);
    socket.disconnect();
  });

  test(`${mode}: acks both ways and emitWithAck timeout`, async () => {
    const socket = connect(mode);
    await next(socket, "auth");
    const answer = await withTimeout(socket.emitWithAck("echo-ack", "a", { b: 1 }), 3000, "ack");
    assert.deepEqual(answer, "a");
    socket.once("question", (q, callback) => callback("yes", q));
    socket.emit("ask", 1000);
    const [got] = await withTimeout(next(socket, "answer"), 3000, "answer");
    assert.deepEqual(got, ["yes", "?"]);
    // The client does not answer this time: the server's ack times out.
    socket.once("question", () => {});
    socket.emit("ask", 200);
    const [error] = await withTimeout(next(socket, "answer-error"), 3000, "answer-error");
    assert.equal(error, "operation has timed out");
    // A server that never acks: the client's emitWithAck times out.
    await assert.rejects(socket.timeout(200).emitWithAck("echo", "no ack here"));
    socket.disconnect();
  });

  test(`${mode}: rooms with to and except`, async () => {
    const [a, b, c] = [connect(mode), connect(mode), connect(mode)];
    await Promise.all([a, b, c].map((s) => next(s, "auth")));
    await a.emitWithAck("join", "red");
    await b.emitWithAck("join", "red");
    const heard = [];
    b.on("room-msg", (t) => heard.push(["b", t]));
    c.on("room-msg", (t) => heard.push(["c", t]));
    a.emit("to-room", "red", "hello red");
    await withTimeout(next(b, "room-msg"), 3000, "room-msg");
    assert.deepEqual(heard, [["b", "hello red"]]);
    const got = [];
    for (const [name, s] of [["a", a], ["b", b], ["c", c]]) s.on("except-msg", (t) => got.push([name, t]));
    a.emit("all-except", "red", "not red");
    await withTimeout(next(c, "except-msg"), 3000, "except-msg");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, [["c", "not red"]]);
    [a, b, c].forEach((s) => s.disconnect());
  });

  test(`${mode}: dynamic namespaces and a custom one`, async () => {
    const dyn = connect(mode, "/dyn-42");
    const [name] = await withTimeout(next(dyn, "nsp"), 3000, "nsp");
    assert.equal(name, "/dyn-42");
    const custom = connect(mode, "/custom", { auth: { x: 1 } });
    const [auth] = await withTimeout(next(custom, "auth"), 3000, "custom auth");
    assert.deepEqual(auth, { x: 1 });
    const unknown = connect(mode, "/nope");
    const [err] = await withTimeout(next(unknown, "connect_error"), 3000, "connect_error");
    assert.equal(err.message, "Invalid namespace");
    [dyn, custom, unknown].forEach((s) => s.disconnect());
  });

  test(`${mode}: middleware rejection reaches connect_error with its data`, async () => {
    const socket = connect(mode, "/", { auth: { token: "bad" } });
    const [err] = await withTimeout(next(socket, "connect_error"), 3000, "connect_error");
    assert.equal(err.message, "not authorized");
    assert.deepEqual(err.data, { reason: "bad token" });
    socket.disconnect();
  });

  test(`${mode}: disconnect reasons on both sides`, async () => {
    const watcher = connect(mode);
    await next(watcher, "auth");
    const left = [];
    watcher.on("left", (id, reason) => left.push([id, reason]));

    // The client leaves: "io client disconnect" here, "client namespace
    // disconnect" (websocket: the transport closes with it) on the server.
    const a = connect(mode);
    await next(a, "auth");
    const aId = a.id;
    a.disconnect();
    assert.equal(a.connected, false);

    // The server makes the client leave: "io server disconnect".
    const b = connect(mode);
    await next(b, "auth");
    const bId = b.id;
    b.emit("disconnect-me", false);
    const [reason] = await withTimeout(next(b, "disconnect"), 3000, "disconnect");
    assert.equal(reason, "io server disconnect");

    // The server closes the connection.
    const c = connect(mode);
    await next(c, "auth");
    const cId = c.id;
    c.emit("disconnect-me", true);
    const [closed] = await withTimeout(next(c, "disconnect"), 3000, "disconnect (close)");
    assert.equal(closed, "io server disconnect");

    await withTimeout(
      (async () => {
        const ids = [aId, bId, cId];
        while (!ids.every((id) => left.some(([l]) => l === id))) await next(watcher, "left");
      })(),
      3000,
      "left events",
    );
    const reasons = Object.fromEntries(left);
    assert.equal(reasons[aId], "client namespace disconnect");
    assert.equal(reasons[bId], "server namespace disconnect");
    assert.equal(reasons[cId], "server namespace disconnect");
    watcher.disconnect();
  });
}

test("connection state recovery: recovered, every missed event once, in order", async () => {
  const socket = io(url, { forceNew: true, transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await next(socket, "auth");
  await socket.emitWithAck("join", "recovery");
  const seen = [];
  socket.on("seq", (i) => seen.push(i));
  const other = connect("websocket");
  await next(other, "auth");
  other.emit("broadcast-many", 3);
  await withTimeout(
    (async () => {
      while (seen.length < 3) await next(socket, "seq");
    })(),
    3000,
    "first events",
  );
  // Cut the transport: the client reconnects by itself.
  socket.io.engine.close();
  await new Promise((r) => setTimeout(r, 10));
  other.emit("broadcast-many", 5);
  const [auth, recovered] = await withTimeout(next(socket, "auth"), 5000, "reconnect");
  assert.equal(recovered, true);
  assert.equal(socket.recovered, true);
  await withTimeout(
    (async () => {
      while (seen.length < 8) await next(socket, "seq");
    })(),
    3000,
    "missed events",
  );
  assert.deepEqual(seen, [0, 1, 2, 0, 1, 2, 3, 4]);
  // The client sends its private id and last offset in the CONNECT auth.
  assert.equal(typeof auth.pid, "string");
  assert.equal(typeof auth.offset, "string");
  socket.disconnect();
  other.disconnect();
});
