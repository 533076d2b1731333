// The client reconnecting by itself: after the server restarts on the same
// port, and after the server stops answering (frozen: the client sees
// "ping timeout"), over each transport mode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MODES, PING_INTERVAL, PING_TIMEOUT, connect, next, startServer, stopServer, withTimeout } from "./common.mjs";

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0 };

// What the client reads when the server process dies under it.
const DEATH = { websocket: "transport close", polling: "transport error", upgrade: "transport close" };

for (const mode of Object.keys(MODES)) {
  test(`${mode}: the server restarts on the same port and the client reconnects by itself`, async () => {
    let server = await startServer();
    const port = server.port;
    const socket = connect(server.url, mode, "/", RECONNECT);
    try {
      await withTimeout(next(socket, "auth"), 3000, "first connect");
      if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
        await withTimeout(next(socket.io.engine, "upgrade"), 3000, "upgrade");
      }
      const firstId = socket.id;
      const disconnected = next(socket, "disconnect");
      await stopServer(server);
      const [reason] = await withTimeout(disconnected, 3000, "disconnect");
      assert.equal(reason, DEATH[mode]);
      // A few attempts fail while nothing listens.
      await withTimeout(next(socket.io, "reconnect_attempt"), 3000, "reconnect attempt");
      const reconnected = next(socket.io, "reconnect");
      const connected = next(socket, "connect");
      server = await startServer(port);
      const [attempts] = await withTimeout(reconnected, 5000, "reconnect");
      assert.ok(attempts >= 1);
      await withTimeout(connected, 3000, "connect");
      assert.ok(socket.connected);
      assert.notEqual(socket.id, firstId);
      // A new server knows nothing of the old session.
      assert.equal(socket.recovered, false);
      assert.deepEqual(await withTimeout(socket.emitWithAck("echo-ack", "again"), 3000, "ack"), "again");
    } finally {
      socket.disconnect();
      await stopServer(server);
    }
  });

  test(`${mode}: a frozen server is a "ping timeout" for the client, which reconnects once it thaws`, async () => {
    const server = await startServer();
    const socket = connect(server.url, mode, "/", RECONNECT);
    try {
      await withTimeout(next(socket, "auth"), 3000, "first connect");
      const disconnected = next(socket, "disconnect");
      const start = Date.now();
      server.proc.kill("SIGSTOP");
      const [reason] = await withTimeout(disconnected, 5000, "disconnect");
      const took = Date.now() - start;
      server.proc.kill("SIGCONT");
      assert.equal(reason, "ping timeout");
      assert.ok(took <= 2 * (PING_INTERVAL + PING_TIMEOUT) + 500, `after ${took} ms`);
      await withTimeout(next(socket, "connect"), 5000, "reconnect");
      assert.deepEqual(await withTimeout(socket.emitWithAck("echo-ack", "thawed"), 3000, "ack"), "thawed");
    } finally {
      server.proc.kill("SIGCONT");
      socket.disconnect();
      await stopServer(server);
    }
  });
}
