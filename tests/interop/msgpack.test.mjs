// The official client with `parser: require("socket.io-msgpack-parser")`
// against the interop-server started with `--parser msgpack`, over
// websocket-only, polling-only and polling-then-upgrade: events with nested
// objects and binary, acks both ways, broadcast, rooms, namespaces,
// CONNECT_ERROR with data. And the committed msgpack test vectors are what
// the installed npm packages produce.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { MODES, connect, next, startServer, stopServer, withTimeout } from "./common.mjs";
import { render, VECTORS_FILE } from "./msgpack-vectors.mjs";

const require = createRequire(import.meta.url);
const parser = require("socket.io-msgpack-parser");

let server;

before(async () => {
  server = await startServer(0, {}, ["--parser", "msgpack"]);
});

after(() => stopServer(server));

const open = (mode, nsp = "/", opts = {}) => connect(server.url, mode, nsp, { parser, ...opts });

test("the committed vectors are what socket.io-msgpack-parser and notepack.io produce", () => {
  assert.equal(readFileSync(VECTORS_FILE, "utf8"), render());
});

for (const mode of Object.keys(MODES)) {
  test(`msgpack ${mode}: connect with auth, transport as asked`, async () => {
    const socket = open(mode, "/", { auth: { token: "123", nested: { n: [1, 2.5] } } });
    const [auth, recovered] = await withTimeout(next(socket, "auth"), 3000, "auth");
    assert.deepEqual(auth, { token: "123", nested: { n: [1, 2.5] } });
    assert.equal(recovered, false);
    if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
      await withTimeout(next(socket.io.engine, "upgrade"), 3000, "upgrade");
    }
    assert.equal(socket.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");
    socket.disconnect();
  });

  test(`msgpack ${mode}: events with nested objects and binary both ways`, async () => {
    const socket = open(mode);
    await next(socket, "auth");
    const bytes = Buffer.from([1, 2, 3]);
    const nested = { three: bytes, four: [Buffer.from([4]), { deep: [[Buffer.alloc(300, 9)]] }], s: "é😀" };
    socket.emit("echo", 1, "two", nested, null, -1.5, 2 ** 40);
    const args = await withTimeout(next(socket, "echo"), 3000, "echo");
    assert.equal(args[0], 1);
    assert.equal(args[1], "two");
    assert.deepEqual(Buffer.from(args[2].three), bytes);
    assert.deepEqual(Buffer.from(args[2].four[0]), Buffer.from([4]));
    assert.deepEqual(Buffer.from(args[2].four[1].deep[0][0]), Buffer.alloc(300, 9));
    assert.equal(args[2].s, "é😀");
    assert.equal(args[3], null);
    assert.equal(args[4], -1.5);
    assert.equal(args[5], 2 ** 40);
    socket.disconnect();
  });

  test(`msgpack ${mode}: acks both ways`, async () => {
    const socket = open(mode);
    await next(socket, "auth");
    const answer = await withTimeout(socket.emitWithAck("echo-ack", { b: Buffer.from([7]) }, 3), 3000, "ack");
    assert.deepEqual(Buffer.from(answer.b), Buffer.from([7]));
    // The server's handler forwards the answer's values (not its binary).
    socket.once("question", (q, callback) => callback("yes", q, { n: [1, 2.5] }));
    socket.emit("ask", 1000);
    const [got] = await withTimeout(next(socket, "answer"), 3000, "answer");
    assert.deepEqual(got, ["yes", "?", { n: [1, 2.5] }]);
    socket.disconnect();
  });

  test(`msgpack ${mode}: broadcast and rooms`, async () => {
    const [a, b, c] = [open(mode), open(mode), open(mode)];
    await Promise.all([a, b, c].map((s) => next(s, "auth")));
    // A broadcast to the namespace, binary included; its ack counts the
    // sockets reached.
    const heardAll = Promise.all([b, c].map((s) => next(s, "broadcast")));
    const reached = await withTimeout(a.emitWithAck("broadcast", "all", Buffer.from([5])), 3000, "broadcast ack");
    assert.ok(reached >= 3, `reached ${reached}`);
    for (const [text, bin] of await withTimeout(heardAll, 3000, "broadcast")) {
      assert.equal(text, "all");
      assert.deepEqual(Buffer.from(bin), Buffer.from([5]));
    }
    await a.emitWithAck("join", "red");
    await b.emitWithAck("join", "red");
    const heard = [];
    b.on("room-msg", (t) => heard.push(["b", t]));
    c.on("room-msg", (t) => heard.push(["c", t]));
    a.emit("to-room", "red", "hello red");
    await withTimeout(next(b, "room-msg"), 3000, "room-msg");
    const got = [];
    for (const [name, s] of [["a", a], ["b", b], ["c", c]]) s.on("except-msg", (t) => got.push([name, t]));
    a.emit("all-except", "red", "not red");
    await withTimeout(next(c, "except-msg"), 3000, "except-msg");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(heard, [["b", "hello red"]]);
    assert.deepEqual(got, [["c", "not red"]]);
    [a, b, c].forEach((s) => s.disconnect());
  });

  test(`msgpack ${mode}: namespaces and CONNECT_ERROR with data`, async () => {
    const custom = open(mode, "/custom", { auth: { x: 1 } });
    const [auth] = await withTimeout(next(custom, "auth"), 3000, "custom auth");
    assert.deepEqual(auth, { x: 1 });
    const dyn = open(mode, "/dyn-7");
    const [name] = await withTimeout(next(dyn, "nsp"), 3000, "nsp");
    assert.equal(name, "/dyn-7");
    const unknown = open(mode, "/nope");
    const [err] = await withTimeout(next(unknown, "connect_error"), 3000, "connect_error");
    assert.equal(err.message, "Invalid namespace");
    const refused = open(mode, "/", { auth: { token: "bad" } });
    const [denied] = await withTimeout(next(refused, "connect_error"), 3000, "connect_error");
    assert.equal(denied.message, "not authorized");
    assert.deepEqual(denied.data, { reason: "bad token" });
    [custom, dyn, unknown, refused].forEach((s) => s.disconnect());
  });
}
