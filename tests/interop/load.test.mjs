// Many clients at once, every event accounted for.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, next, startServer, stopServer, withTimeout } from "./common.mjs";

let server;

before(async () => {
  // One Node process runs every client here: its event loop can stall for
  // longer than the suite's 900 ms heartbeat while a thousand connect.
  server = await startServer(0, { INTEROP_PING_INTERVAL_MS: "5000", INTEROP_PING_TIMEOUT_MS: "5000" });
});

after(() => stopServer(server));

// In /custom: its sockets' departures are announced to "/" only, so that
// the crowd leaving costs no broadcast to the crowd.
async function crowd(mode, n) {
  const clients = Array.from({ length: n }, () => connect(server.url, mode, "/custom"));
  const main = connect(server.url, "websocket");
  try {
    await withTimeout(Promise.all(clients.map((c) => next(c, "auth"))), 20_000, `${n} connects`);
    // Each client sends three events and must get its three echoes, in
    // order, and nobody else's.
    const echoes = clients.map(() => []);
    clients.forEach((c, i) => c.on("echo", (from, k) => echoes[i].push([from, k])));
    const broadcasts = clients.map(() => []);
    clients.forEach((c, i) => c.on("broadcast", (tag) => broadcasts[i].push(tag)));
    clients.forEach((c, i) => {
      for (let k = 0; k < 3; k++) c.emit("echo", i, k);
    });
    // Acks both ways in between.
    const answers = await withTimeout(
      Promise.all(clients.map((c, i) => c.emitWithAck("echo-ack", i))),
      20_000,
      `${n} acks`,
    );
    assert.deepEqual(answers, clients.map((_, i) => i));
    await withTimeout(
      (async () => {
        while (echoes.some((e) => e.length < 3)) await new Promise((r) => setTimeout(r, 20));
      })(),
      20_000,
      "echoes",
    );
    echoes.forEach((e, i) => assert.deepEqual(e, [[i, 0], [i, 1], [i, 2]]));
    // One broadcast reaches every client exactly once.
    const [reached] = await withTimeout(
      Promise.resolve(clients[0].emitWithAck("broadcast", "all")).then((r) => [r]),
      20_000,
      "broadcast",
    );
    assert.equal(reached, n);
    await withTimeout(
      (async () => {
        while (broadcasts.some((b) => b.length < 1)) await new Promise((r) => setTimeout(r, 20));
      })(),
      20_000,
      "broadcasts",
    );
    await new Promise((r) => setTimeout(r, 100));
    broadcasts.forEach((b) => assert.deepEqual(b, ["all"]));
    const stats = await main.emitWithAck("stats");
    assert.equal(stats.clients, n + 1);
  } finally {
    clients.forEach((c) => c.disconnect());
    main.disconnect();
  }
}

test("websocket: 1000 clients at once exchange events without loss", () => crowd("websocket", 1000));
test("upgrade: 300 clients at once exchange events without loss", () => crowd("upgrade", 300));
test("polling: 300 clients at once exchange events without loss", () => crowd("polling", 300));
