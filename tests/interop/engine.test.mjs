// The Engine.IO hooks of the async API seen from the official client and
// raw HTTP (allowRequest, headers, connection_error, clientsCount, the
// upgrade event of socket.conn), and the disconnect reasons a client causes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { MODES, connect, httpRequest, next, startServer, stopServer, watcher, withTimeout } from "./common.mjs";

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

test("allowRequest refuses with 403 and its message; headers hook; connection_error counted", async () => {
  const { refused: before } = await watch.socket.emitWithAck("stats");
  const denied = await httpRequest(server.port, "GET", "/socket.io/?EIO=4&transport=polling&deny=1");
  assert.equal(denied.status, 403);
  assert.equal(denied.headers["content-type"], "application/json");
  assert.equal(denied.body, '{"code":4,"message":"denied by allowRequest"}');
  const unknown = await httpRequest(server.port, "GET", "/socket.io/?EIO=4&transport=polling&sid=nope");
  assert.equal(unknown.body, '{"code":1,"message":"Session ID unknown"}');
  const open = await httpRequest(server.port, "GET", "/socket.io/?EIO=4&transport=polling");
  assert.equal(open.status, 200);
  assert.equal(open.headers["x-interop"], "1");
  const { refused, clients } = await watch.socket.emitWithAck("stats");
  assert.equal(refused - before, 2);
  assert.ok(clients >= 2);
});

for (const mode of Object.keys(MODES)) {
  test(`${mode}: an allowRequest refusal reaches connect_error`, async () => {
    const socket = connect(server.url, mode, "/", { query: { deny: "1" } });
    const [err] = await withTimeout(next(socket, "connect_error"), 3000, "connect_error");
    if (mode === "websocket") {
      assert.equal(err.message, "websocket error");
    } else {
      assert.equal(err.message, "xhr poll error");
      // The status; the body, checked above over raw HTTP, is not kept
      // by the client's XHR on errors.
      assert.equal(err.description, 403);
    }
    socket.disconnect();
  });

  test(`${mode}: disconnect reasons a client causes, on both sides`, async () => {
    // The client leaves its namespace.
    const a = connect(server.url, mode);
    await withTimeout(next(a, "auth"), 3000, "auth");
    const aId = a.id;
    const aGone = next(a, "disconnect");
    a.disconnect();
    assert.deepEqual((await aGone)[0], "io client disconnect");
    assert.equal(await watch.reasonOf(aId), "client namespace disconnect");
    // The client closes its connection underneath.
    const b = connect(server.url, mode);
    await withTimeout(next(b, "auth"), 3000, "auth");
    const bId = b.id;
    const bGone = next(b, "disconnect");
    b.io.engine.close();
    assert.equal((await withTimeout(bGone, 3000, "disconnect"))[0], "forced close");
    assert.equal(await watch.reasonOf(bId), "transport close");
  });
}

test("upgrade: socket.conn reports the upgrade to the application", async () => {
  const socket = connect(server.url, "upgrade");
  const [transport] = await withTimeout(next(socket, "conn-upgrade"), 3000, "conn-upgrade");
  assert.equal(transport, "websocket");
  assert.equal(socket.io.engine.transport.name, "websocket");
  socket.disconnect();
});
