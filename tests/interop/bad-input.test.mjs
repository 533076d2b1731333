// Bad input over real sockets, from raw HTTP and WebSocket clients: each
// case checks what the client gets and the disconnect reason the
// application sees (the interop-server announces it as `left`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_PAYLOAD,
  PING_INTERVAL,
  PING_TIMEOUT,
  RawWebSocket,
  httpRequest,
  rawPollingSocket,
  rssKiB,
  sleep,
  startServer,
  stopServer,
  watcher,
  withTimeout,
} from "./common.mjs";

let server;
let watch;

before(async () => {
  server = await startServer();
  watch = await watcher(server.url);
});

after(async () => {
  watch.close();
  await stopServer(server);
});

test("polling: a body over maxHttpBufferSize gets 413 with an empty body; the session goes on", async () => {
  const { path, socketId } = await rawPollingSocket(server.port);
  const event = (n) => `42["echo","${"y".repeat(n)}"]`;
  // One byte over the limit: refused, the session survives.
  assert.equal(event(MAX_PAYLOAD - 12).length, MAX_PAYLOAD + 1);
  const refused = await httpRequest(server.port, "POST", path, event(MAX_PAYLOAD - 12));
  assert.equal(refused.status, 413);
  assert.equal(refused.body, "");
  // At the limit exactly, the body is taken and the event handled.
  assert.equal(event(MAX_PAYLOAD - 13).length, MAX_PAYLOAD);
  const ok = await httpRequest(server.port, "POST", path, event(MAX_PAYLOAD - 13));
  assert.equal(ok.status, 200);
  assert.equal(ok.body, "ok");
  const echoed = await httpRequest(server.port, "GET", path);
  // Skip a ping that may ride along; the last argument is the recovery offset.
  const packets = echoed.body.split("\x1e").filter((p) => p !== "2");
  assert.equal(packets.length, 1);
  const [name, arg] = JSON.parse(packets[0].slice(2));
  assert.equal(name, "echo");
  assert.ok(arg === "y".repeat(MAX_PAYLOAD - 13), "the echo carries the whole argument");
  await httpRequest(server.port, "POST", path, "1");
  assert.equal(await watch.reasonOf(socketId), "transport close");
});

for (const [what, size] of [
  ["just over the limit", MAX_PAYLOAD + 1],
  ["far over the limit", 4 * MAX_PAYLOAD],
]) {
  test(`websocket: a message ${what} closes with 1009; the app sees "transport error"`, async () => {
    const ws = await RawWebSocket.open(server.port);
    const id = await ws.joinMain();
    ws.send("4" + "z".repeat(size - 1));
    assert.equal(await ws.closeCode(), 1009);
    assert.equal(await watch.reasonOf(id), "transport error");
  });
}

test("websocket: a message at the limit is taken", async () => {
  const ws = await RawWebSocket.open(server.port);
  await ws.joinMain();
  const event = `42["echo","${"w".repeat(MAX_PAYLOAD - 13)}"]`;
  assert.equal(event.length, MAX_PAYLOAD);
  ws.send(event);
  const [arg] = await ws.nextEvent("echo");
  assert.ok(arg === "w".repeat(MAX_PAYLOAD - 13), "the echo carries the whole argument");
  ws.destroy();
});

test('websocket: bytes that are not Engine.IO packets end the session with "parse error"', async () => {
  const ws = await RawWebSocket.open(server.port);
  const id = await ws.joinMain();
  ws.send("x-not-a-packet");
  assert.equal(await watch.reasonOf(id), "parse error");
  assert.equal(await ws.closeCode(), 1000);
});

test('polling: a body that is not Engine.IO packets gets 400 and "parse error"', async () => {
  const { path, socketId } = await rawPollingSocket(server.port);
  const reply = await httpRequest(server.port, "POST", path, "abc");
  assert.equal(reply.status, 400);
  assert.equal(await watch.reasonOf(socketId), "parse error");
  const after = await httpRequest(server.port, "GET", path);
  assert.equal(after.status, 400);
  assert.equal(after.body, '{"code":1,"message":"Session ID unknown"}');
});

test("websocket: a Socket.IO packet that does not decode reaches the error handler, then the connection closes", async () => {
  const ws = await RawWebSocket.open(server.port);
  const id = await ws.joinMain();
  const errors = watch.errors.length;
  ws.send('42{"not":"an array"}');
  // "forced close": the server closed the connection (as the official
  // server does once the decoder fails).
  assert.equal(await watch.reasonOf(id), "forced close");
  assert.equal(await ws.closeCode(), 1000);
  const mine = watch.errors.slice(errors).filter(([e]) => e === id);
  assert.equal(mine.length, 1);
  assert.match(mine[0][1], /./);
});

test("websocket: more binary attachments than allowed (10) closes the connection", async () => {
  const placeholders = (n) => Array.from({ length: n }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(",");
  // Ten attachments are fine...
  const ok = await RawWebSocket.open(server.port);
  await ok.joinMain();
  ok.send(`4510-["echo",${placeholders(10)}]`);
  for (let i = 0; i < 10; i++) ok.sendBinary([i]);
  assert.equal(await ok.nextText("45"), `4510-["echo",${placeholders(10)}]`);
  // (Events with attachments carry no recovery offset.)
  const binaries = [];
  while (binaries.length < 10) {
    const frame = await ok.next();
    if (frame.opcode === 2) binaries.push(frame.data[0]);
  }
  assert.deepEqual(binaries, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  ok.destroy();
  // ...eleven are not.
  const ws = await RawWebSocket.open(server.port);
  const id = await ws.joinMain();
  const errors = watch.errors.length;
  ws.send(`4511-["echo",${placeholders(11)}]`);
  assert.equal(await watch.reasonOf(id), "forced close");
  assert.equal(await ws.closeCode(), 1000);
  assert.equal(watch.errors.slice(errors).filter(([e]) => e === id).length, 1);
});

test('websocket: a packet for a namespace not joined closes with "forced server close"', async () => {
  const ws = await RawWebSocket.open(server.port);
  const id = await ws.joinMain();
  ws.send('42/custom,["echo"]');
  assert.equal(await watch.reasonOf(id), "forced server close");
  assert.equal(await ws.closeCode(), 1000);
});

test('a client that never reads: memory stays bounded and the app sees "send buffer full"', async () => {
  const ws = await RawWebSocket.open(server.port);
  const id = await ws.joinMain();
  const before = rssKiB(server);
  ws.stopReading();
  // 4000 events of 10 kB (40 MB) for a client that takes none: the server
  // queues up to its limit (1 MiB here), then closes the session.
  ws.send('42["flood",4000,10000]');
  assert.equal(await watch.reasonOf(id, 10_000), "send buffer full");
  const grown = rssKiB(server) - before;
  assert.ok(grown < 8 * 1024, `server memory grew by ${grown} KiB`);
  if (process.env.INTEROP_VERBOSE) console.log(`# never-reading client: server RSS grew ${grown} KiB`);
  ws.destroy();
});

test('websocket: a client gone silent (half-open) ends at "ping timeout"', async () => {
  const ws = await RawWebSocket.open(server.port);
  const id = await ws.joinMain();
  const start = Date.now();
  // It neither answers pings nor closes its connection.
  ws.stopReading();
  assert.equal(await watch.reasonOf(id, 5000), "ping timeout");
  const took = Date.now() - start;
  assert.ok(took >= PING_INTERVAL + PING_TIMEOUT - 50, `after ${took} ms`);
  ws.destroy();
});

test('polling: a client that stops polling ends at "ping timeout"', async () => {
  const { socketId } = await rawPollingSocket(server.port);
  const start = Date.now();
  assert.equal(await watch.reasonOf(socketId, 5000), "ping timeout");
  const took = Date.now() - start;
  assert.ok(took >= PING_INTERVAL + PING_TIMEOUT - 50, `after ${took} ms`);
});

test('polling: a client that drops its long-poll ends with "transport error"', async () => {
  const { path, socketId } = await rawPollingSocket(server.port);
  const req = (await import("node:http")).request({
    host: "127.0.0.1",
    port: server.port,
    path,
    agent: false,
  });
  req.on("error", () => {});
  req.end();
  await sleep(100);
  req.destroy();
  assert.equal(await watch.reasonOf(socketId), "transport error");
});

test("other sessions are untouched by all of the above", async () => {
  const ws = await RawWebSocket.open(server.port);
  await ws.joinMain();
  ws.send('42["echo","still here"]');
  const [arg] = await withTimeout(ws.nextEvent("echo"), 3000, "echo");
  assert.equal(arg, "still here");
  ws.destroy();
});
