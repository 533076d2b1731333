// The admin dashboard's event features (@socket.io/admin-ui 0.5) on the
// conformance fixture: ALL_EVENTS (event_received / event_sent, binary
// included), socket_updated when the application sets a socket's data,
// AGGREGATED_EVENTS (the per-second counts in server_stats, checked
// against what the clients sent and received), and the 1,000-session cap
// crossed with real logins.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, next, startFixture, withTimeout } from "./common.mjs";

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const started = [];

/** The fixture with `extra` flags, killed after the tests; resolves with its URL. */
async function startAdmin(extra) {
  const { proc, url } = await startFixture(extra);
  started.push(proc);
  return url;
}

after(() => started.forEach((p) => p.kill("SIGKILL")));

function record(socket, event) {
  const list = [];
  socket.on(event, (...args) => list.push(args));
  return list;
}

async function until(what, check, ms = 3000) {
  await withTimeout(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 10));
    })(),
    ms,
    what,
  );
}

/**
 * Every Engine.IO message with data a client receives after its CONNECT
 * (the server counts a connection from its socket's connection on): all of
 * them, less the first, which is the CONNECT. (The client hands packets to
 * its sockets a tick later, so its `connect` event cannot mark the start.)
 */
function countIncoming(socket) {
  const seen = { packets: -1, bytes: 0, last: 0 };
  socket.io.on("open", () => {
    socket.io.engine.on("packet", (p) => {
      if (p.type !== "message" || !p.data) return;
      seen.packets += 1;
      const n = typeof p.data === "string" ? Buffer.byteLength(p.data) : p.data.byteLength;
      if (seen.packets > 0) seen.bytes += n;
      seen.last = n;
    });
  });
  return seen;
}

test("ALL_EVENTS: event_received and event_sent for a user socket, binary included; none for /admin", async () => {
  const url = await startAdmin(["--admin", "none"]);
  const dash = connect(url, "websocket", "/admin");
  const received = record(dash, "event_received");
  const sent = record(dash, "event_sent");
  const connected = record(dash, "socket_connected");
  await withTimeout(next(dash, "config"), 3000, "admin config");

  const user = connect(url, "websocket");
  await withTimeout(next(user, "auth"), 3000, "user connected");
  await until("socket_connected", () => connected.some(([s]) => s.id === user.id));
  // The connection handler's own emit, seen because the admin's listener
  // comes first (as Node's prepended listener).
  await until("auth sent", () => sent.length === 1);
  assert.deepEqual(sent[0].slice(0, 3), ["/", user.id, ["auth", {}]]);
  assert.match(sent[0][3], ISO_DATE);

  const back = next(user, "message-back");
  user.emit("message", 1, "é", Buffer.from([1, 2, 3]));
  await withTimeout(back, 3000, "echo");
  await until("event_received", () => received.length === 1);
  await until("event_sent", () => sent.length === 2);
  const [nsp, id, args, date] = received[0];
  assert.deepEqual([nsp, id], ["/", user.id]);
  assert.deepEqual(args.slice(0, 3), ["message", 1, "é"]);
  assert.deepEqual(Buffer.from(args[3]), Buffer.from([1, 2, 3]));
  assert.match(date, ISO_DATE);
  assert.deepEqual(sent[1].slice(0, 2), ["/", user.id]);
  assert.deepEqual(sent[1][2].slice(0, 3), ["message-back", 1, "é"]);
  assert.deepEqual(Buffer.from(sent[1][2][3]), Buffer.from([1, 2, 3]));

  // An event with an ack: reported without the callback; the ack itself is
  // no event.
  const answer = await withTimeout(user.emitWithAck("message-with-ack", "x"), 3000, "ack");
  assert.equal(answer, "x");
  await until("ack event received", () => received.length === 2);
  assert.deepEqual(received[1].slice(0, 3), ["/", user.id, ["message-with-ack", "x"]]);

  // The dashboard's own commands are not reported.
  dash.emit("emit", "/", user.id, "ping-from-dash");
  await withTimeout(next(user, "ping-from-dash"), 3000, "command delivered");
  assert.equal(received.length, 2);
  assert.ok(received.every(([n]) => n === "/"));
  user.close();
  dash.close();
});

test("socket_updated with the data the application set (without _admin); all_sockets lists it", async () => {
  const url = await startAdmin(["--admin", "none"]);
  const dash = connect(url, "websocket", "/admin");
  const updated = record(dash, "socket_updated");
  await withTimeout(next(dash, "config"), 3000, "admin config");
  const user = connect(url, "websocket");
  await withTimeout(next(user, "auth"), 3000, "user connected");
  await withTimeout(user.emitWithAck("set-data", { name: "ann", n: [1, 2] }), 3000, "set-data");
  await until("socket_updated", () => updated.length === 1);
  assert.deepEqual(updated[0], [{ id: user.id, nsp: "/", data: { name: "ann", n: [1, 2] } }]);

  // A fresh dashboard lists the socket with that data, its client id and
  // transport still known (the _admin entry the server keeps, hidden).
  const again = connect(url, "websocket", "/admin");
  const [all] = await withTimeout(next(again, "all_sockets"), 3000, "all_sockets");
  const mine = all.find((s) => s.id === user.id);
  assert.deepEqual(mine.data, { name: "ann", n: [1, 2] });
  assert.equal(mine.clientId, user.io.engine.id.slice(0, 12));
  assert.equal(mine.transport, "websocket");

  // Data that is not an object is shown as {}.
  await withTimeout(user.emitWithAck("set-data", 7), 3000, "set-data 7");
  await until("second socket_updated", () => updated.length === 2);
  assert.deepEqual(updated[1], [{ id: user.id, nsp: "/", data: {} }]);
  user.close();
  dash.close();
  again.close();
});

test("AGGREGATED_EVENTS: server_stats counts connections, packets and bytes both ways, and closes", async () => {
  const url = await startAdmin(["--admin", "none"]);
  const dash = connect(url, "websocket", "/admin");
  const dashIn = countIncoming(dash);
  const stats = [];
  const counted = [];
  dash.on("server_stats", (s) => {
    // What the dashboard had received before this server_stats (which is
    // made after the counts are taken, so counted in the next window). The
    // event comes a tick after its packet, which the engine counted: it is
    // the last one (nothing else arrives in that tick once all is quiet).
    counted.push({ packets: dashIn.packets - 1, bytes: dashIn.bytes - dashIn.last });
    stats.push(s);
  });
  const connected = record(dash, "socket_connected");
  const disconnected = record(dash, "socket_disconnected");
  await withTimeout(next(dash, "config"), 3000, "admin config");

  const user = connect(url, "websocket");
  const userIn = countIncoming(user);
  await withTimeout(next(user, "auth"), 3000, "user connected");
  await until("socket_connected", () => connected.some(([s]) => s.id === user.id));
  // Its two events, then the DISCONNECT its close() sends first.
  const sentByUser = ['2["message","abc"]', '2["message","é"]', "1"];
  user.emit("message", "abc");
  await withTimeout(next(user, "message-back"), 3000, "echo 1");
  user.emit("message", "é");
  await withTimeout(next(user, "message-back"), 3000, "echo 2");
  const id = user.id;
  user.close();
  await until("socket_disconnected", () => disconnected.some(([, sid]) => sid === id));
  const seen = stats.length;
  await until("the next server_stats", () => stats.length > seen, 5000);

  const events = stats.flatMap((s) => s.aggregatedEvents);
  for (const e of events) {
    assert.equal(e.timestamp % 1000, 0, "rounded to the second");
    assert.ok(Math.abs(e.timestamp - Date.now()) < 60000);
    assert.ok(e.count > 0);
  }
  const sum = (type, subType) =>
    events.filter((e) => e.type === type && e.subType === subType).reduce((n, e) => n + e.count, 0);
  assert.equal(sum("rawConnection"), 2, "the dashboard's connection and the user's");
  assert.equal(sum("rawDisconnection", "transport close"), 1);
  assert.deepEqual(
    [...new Set(events.filter((e) => e.type === "rawDisconnection").map((e) => e.subType))],
    ["transport close"],
  );
  assert.equal(sum("packetsIn"), 3, "the user's two events and its DISCONNECT (pongs have no data)");
  assert.equal(sum("bytesIn"), sentByUser.reduce((n, s) => n + Buffer.byteLength(s), 0));
  // Out: every message with data both clients received after their
  // CONNECT, up to the last server_stats.
  const last = counted[counted.length - 1];
  assert.equal(sum("packetsOut"), last.packets + userIn.packets);
  assert.equal(sum("bytesOut"), last.bytes + userIn.bytes);
  assert.ok(userIn.packets >= 3, "auth and two echoes");
  dash.close();
});

test("the session cap: the 1,001st login forgets the first session, the second still logs in", async () => {
  const url = await startAdmin(["--admin", "admin:pw"]);
  const login = async (auth) => {
    const socket = connect(url, "websocket", "/admin", { auth });
    const session = new Promise((resolve) => socket.once("session", resolve));
    const outcome = await withTimeout(
      Promise.race([
        next(socket, "connect").then(() => "ok"),
        next(socket, "connect_error").then(([e]) => e.message),
      ]),
      5000,
      "login",
    );
    const id = outcome === "ok" ? await Promise.race([session, new Promise((r) => setTimeout(() => r(null), 200))]) : null;
    socket.close();
    return { outcome, id };
  };
  const creds = { username: "admin", password: "pw" };
  const first = await login(creds);
  const second = await login(creds);
  assert.equal(first.outcome, "ok");
  assert.match(first.id, /^[0-9a-f]{16}$/);
  assert.match(second.id, /^[0-9a-f]{16}$/);
  assert.equal((await login({ sessionId: first.id })).outcome, "ok", "known before the cap");
  // 999 more: 1,001 sessions opened in all, one over the cap.
  const ids = new Set([first.id, second.id]);
  for (let i = 0; i < 999; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, 999 - i) }, () => login(creds)),
    );
    for (const b of batch) {
      assert.equal(b.outcome, "ok");
      ids.add(b.id);
    }
  }
  assert.equal(ids.size, 1001, "every login opened its own session");
  const forgotten = await login({ sessionId: first.id });
  assert.equal(forgotten.outcome, "invalid credentials");
  const kept = await login({ sessionId: second.id });
  assert.deepEqual(kept, { outcome: "ok", id: null }, "a known session opens no new one");
});
