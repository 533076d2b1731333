// The admin dashboard's event features (@socket.io/admin-ui 0.5) on the
// conformance fixture: ALL_EVENTS (event_received / event_sent, binary
// included), socket_updated when the application sets a socket's data,
// AGGREGATED_EVENTS (the per-second counts in server_stats, checked
// against what the clients sent and received), and the 1,000-session cap
// crossed with real logins.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { Socket as EngineSocket } from "engine.io-client";
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
 * Every Engine.IO message with data a client receives (the server counts a
 * connection from its Engine.IO handshake on, as Node's instrumentation
 * does from `io.engine.on("connection")`): the CONNECT reply included.
 */
function countIncoming(socket) {
  const seen = { packets: 0, bytes: 0, last: 0 };
  socket.io.on("open", () => {
    socket.io.engine.on("packet", (p) => {
      if (p.type !== "message" || !p.data) return;
      seen.packets += 1;
      const n = typeof p.data === "string" ? Buffer.byteLength(p.data) : p.data.byteLength;
      seen.bytes += n;
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

test("ALL_EVENTS: a broadcast is reported as event_sent once per recipient, binary included", async () => {
  const url = await startAdmin(["--admin", "none"]);
  const dash = connect(url, "websocket", "/admin");
  const sent = record(dash, "event_sent");
  const connected = record(dash, "socket_connected");
  await withTimeout(next(dash, "config"), 3000, "admin config");
  const ann = connect(url, "websocket");
  const bob = connect(url, "polling");
  await withTimeout(Promise.all([next(ann, "auth"), next(bob, "auth")]), 3000, "users connected");
  await until("socket_connected", () =>
    [ann.id, bob.id].every((id) => connected.some(([s]) => s.id === id)),
  );
  await until("their auth events", () => sent.length === 2);
  sent.length = 0;

  // Exact bytes on each client's wire.
  const frames = [];
  ann.io.engine.on("packet", (p) => p.type === "message" && frames.push(p.data));
  const annGot = next(ann, "broadcast");
  const bobGot = next(bob, "broadcast");
  ann.emit("broadcast-all", "hi", Buffer.from([9, 8]));
  const [[annText, annBin], [bobText, bobBin]] = await withTimeout(
    Promise.all([annGot, bobGot]),
    3000,
    "broadcast delivered",
  );
  assert.deepEqual([annText, [...new Uint8Array(annBin)]], ["hi", [9, 8]]);
  assert.deepEqual([bobText, [...new Uint8Array(bobBin)]], ["hi", [9, 8]]);
  assert.equal(frames[0], '51-["broadcast","hi",{"_placeholder":true,"num":0}]');
  assert.deepEqual([...new Uint8Array(frames[1])], [9, 8]);

  // One event_sent per recipient (as Node's adapter tells each socket's
  // onAnyOutgoing), the dashboard's namespace not among them.
  await until("event_sent for both", () => sent.length === 2);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(sent.length, 2, "exactly one per recipient");
  const byId = new Map(sent.map((e) => [e[1], e]));
  assert.deepEqual([...byId.keys()].sort(), [ann.id, bob.id].sort());
  for (const [nsp, , [name, text, bin], date] of sent) {
    assert.deepEqual([nsp, name, text], ["/", "broadcast", "hi"]);
    assert.deepEqual([...Buffer.from(bin)], [9, 8]);
    assert.match(date, ISO_DATE);
  }
  ann.close();
  bob.close();
  dash.close();
});

test("AGGREGATED_EVENTS: a connection is counted from its handshake, even if it never joins a namespace", async () => {
  // A long connect timeout: the bare session stays until it closes itself.
  const url = await startAdmin(["--admin", "none", "--connect-timeout-ms", "60000"]);
  const dash = connect(url, "websocket", "/admin");
  const stats = [];
  dash.on("server_stats", (s) => stats.push(s));
  await withTimeout(next(dash, "config"), 3000, "admin config");
  // A bare Engine.IO session on polling (the official engine.io-client,
  // which answers the pings): a handshake, never a Socket.IO CONNECT.
  const bare = new EngineSocket(url, { path: "/socket.io/", transports: ["polling"] });
  await withTimeout(once(bare, "open"), 3000, "bare session open");
  // A second dashboard gets a server_stats as it connects.
  const again = connect(url, "websocket", "/admin");
  const [first] = await withTimeout(next(again, "server_stats"), 3000, "first server_stats");
  assert.equal(first.clientsCount, 3, "two dashboards and the bare session");
  assert.equal(first.pollingClientsCount, 1, "the bare session, on polling");
  assert.deepEqual(
    first.namespaces.find((n) => n.name === "/"),
    { name: "/", socketsCount: 0 },
    "no socket joined the main namespace",
  );
  again.close();
  bare.close();
  const events = () => stats.flatMap((s) => s.aggregatedEvents).concat(first.aggregatedEvents);
  const sum = (type) => events().filter((e) => e.type === type).reduce((n, e) => n + e.count, 0);
  // Both closes reach a server_stats; then one more, made after them.
  await until("both closes counted", () => sum("rawDisconnection") >= 2, 8000);
  const seen = stats.length;
  await until("the next server_stats", () => stats.length > seen, 5000);
  assert.equal(sum("rawConnection"), 3, "both dashboards' and the bare session's");
  assert.equal(sum("rawDisconnection"), 2, "the second dashboard's and the bare session's");
  const last = stats[stats.length - 1];
  assert.equal(last.clientsCount, 1);
  assert.equal(last.pollingClientsCount, 0);
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
  // Its CONNECT, its two events, then the DISCONNECT its close() sends
  // first; the dashboard's CONNECT.
  const sentByUser = ["0", '2["message","abc"]', '2["message","é"]', "1"];
  const sentByDash = ["0/admin,"];
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
  const bothSent = [...sentByUser, ...sentByDash];
  assert.equal(sum("packetsIn"), 5, "both CONNECTs, the user's two events and its DISCONNECT (pongs have no data)");
  assert.equal(sum("bytesIn"), bothSent.reduce((n, s) => n + Buffer.byteLength(s), 0));
  // Out: every message with data both clients received from their
  // handshake on (CONNECT replies included), up to the last server_stats.
  const last = counted[counted.length - 1];
  assert.equal(sum("packetsOut"), last.packets + userIn.packets);
  assert.equal(sum("bytesOut"), last.bytes + userIn.bytes);
  assert.ok(userIn.packets >= 4, "the CONNECT reply, auth and two echoes");
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
