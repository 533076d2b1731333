// The admin dashboard's protocol (@socket.io/admin-ui 0.5) on namespace
// /admin of the conformance fixture (`--admin USER:PASSWORD`), spoken by the
// official client as the dashboard speaks it: basic auth and sessions,
// config, all_sockets, server_stats, the socket and room notifications, and
// the commands acting on real sockets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, next, startFixture, withTimeout } from "./common.mjs";

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ALL_FEATURES = [
  "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT",
  "AGGREGATED_EVENTS", "ALL_EVENTS",
];

let fixture;
let url;

before(async () => {
  ({ proc: fixture, url } = await startFixture(["--admin", "admin:s3cret"]));
});

after(() => fixture.kill("SIGKILL"));

/** An admin socket as the dashboard opens it; resolves with what it got first. */
async function admin(auth, target = url) {
  const socket = connect(target, "websocket", "/admin", { auth });
  const got = { socket, session: null, config: null, allSockets: null, stats: null };
  socket.on("session", (id) => (got.session = id));
  const config = next(socket, "config");
  const all = next(socket, "all_sockets");
  const stats = next(socket, "server_stats");
  await withTimeout(next(socket, "connect"), 3000, "admin connect");
  [got.config] = await withTimeout(config, 3000, "config");
  [got.allSockets] = await withTimeout(all, 3000, "all_sockets");
  [got.stats] = await withTimeout(stats, 3000, "server_stats");
  return got;
}

/** Collects the admin notifications named `event`. */
function record(socket, event) {
  const list = [];
  socket.on(event, (...args) => list.push(args));
  return list;
}

async function until(what, check) {
  await withTimeout(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 10));
    })(),
    3000,
    what,
  );
}

test("wrong credentials get the connect error the dashboard shows", async () => {
  for (const auth of [
    { username: "admin", password: "wrong" },
    { username: "root", password: "s3cret" },
    { username: "admin" },
    { sessionId: "0123456789abcdef" },
    {},
  ]) {
    const socket = connect(url, "websocket", "/admin", { auth });
    const [err] = await withTimeout(next(socket, "connect_error"), 3000, "connect_error");
    assert.equal(err.message, "invalid credentials", JSON.stringify(auth));
    assert.equal(socket.connected, false);
    socket.close();
  }
});

test("login: session, config, all_sockets and server_stats; the session id logs in again", async () => {
  const user = connect(url, "websocket");
  await withTimeout(next(user, "auth"), 3000, "user connected");
  const got = await admin({ username: "admin", password: "s3cret" });
  assert.match(got.session, /^[0-9a-f]{16}$/);
  assert.deepEqual(got.config, { supportedFeatures: ALL_FEATURES });

  const mine = got.allSockets.find((s) => s.id === user.id);
  assert.ok(mine, "the user's socket is listed");
  assert.equal(mine.nsp, "/");
  assert.equal(mine.transport, "websocket");
  assert.equal(mine.clientId, user.io.engine.id.slice(0, 12));
  assert.deepEqual(mine.rooms, [user.id]);
  assert.deepEqual(mine.data, {});
  // The handshake's address as this server records it (with the port).
  assert.match(mine.handshake.address, /^127\.0\.0\.1(:\d+)?$/);
  assert.equal(mine.handshake.secure, false);
  assert.equal(mine.handshake.xdomain, false);
  assert.match(mine.handshake.url, /^\/socket\.io\/\?EIO=4&transport=websocket/);
  assert.equal(mine.handshake.query.EIO, "4");
  assert.equal(typeof mine.handshake.issued, "number");
  assert.equal(typeof mine.handshake.headers, "object");
  assert.ok(
    got.allSockets.some((s) => s.id === got.socket.id && s.nsp === "/admin"),
    "the admin socket itself is listed, as on Node",
  );

  const stats = got.stats;
  assert.deepEqual(Object.keys(stats).sort(), [
    "aggregatedEvents", "clientsCount", "hostname", "namespaces", "pid",
    "pollingClientsCount", "serverId", "uptime",
  ]);
  assert.equal(typeof stats.serverId, "string");
  assert.equal(stats.serverId, stats.hostname);
  assert.equal(stats.pid, fixture.pid);
  assert.equal(typeof stats.uptime, "number");
  assert.ok(stats.clientsCount >= 2);
  assert.equal(stats.pollingClientsCount, 0);
  assert.ok(Array.isArray(stats.aggregatedEvents));
  const names = stats.namespaces.map((n) => n.name);
  for (const name of ["/", "/admin", "/custom", "/panic"]) assert.ok(names.includes(name), name);
  assert.ok(stats.namespaces.find((n) => n.name === "/admin").socketsCount >= 1);

  // The periodic server_stats (every 2 s).
  const [again] = await withTimeout(next(got.socket, "server_stats"), 5000, "periodic stats");
  assert.ok(again.uptime > stats.uptime);

  // The dashboard reconnects with its session id instead of the password.
  const bySession = await admin({ sessionId: got.session });
  assert.equal(bySession.session, null, "no new session");
  bySession.socket.close();
  got.socket.close();
  user.close();
});

test("socket_connected, socket_updated and socket_disconnected follow real sockets", async () => {
  const { socket: watcher } = await admin({ username: "admin", password: "s3cret" });
  const connected = record(watcher, "socket_connected");
  const updated = record(watcher, "socket_updated");
  const disconnected = record(watcher, "socket_disconnected");

  const user = connect(url, "upgrade");
  await withTimeout(next(user, "auth"), 3000, "user connected");
  await until("socket_connected", () => connected.some(([s]) => s.id === user.id));
  const [serialized, date] = connected.find(([s]) => s.id === user.id);
  assert.equal(serialized.nsp, "/");
  assert.equal(serialized.transport, "polling");
  assert.deepEqual(serialized.rooms, [user.id]);
  assert.match(date, ISO_DATE);
  await until("socket_updated", () => updated.some(([u]) => u.id === user.id));
  assert.deepEqual(updated.find(([u]) => u.id === user.id), [
    { id: user.id, nsp: "/", transport: "websocket" },
  ]);

  const id = user.id;
  user.disconnect();
  await until("socket_disconnected", () => disconnected.some(([, sid]) => sid === id));
  const [nsp, sid, reason, when] = disconnected.find(([, sid]) => sid === id);
  assert.deepEqual([nsp, sid, reason], ["/", id, "client namespace disconnect"]);
  assert.match(when, ISO_DATE);
  watcher.close();
});

test("join, leave and emit commands act on the sockets, with room_joined / room_left", async () => {
  const { socket: dash } = await admin({ username: "admin", password: "s3cret" });
  const joined = record(dash, "room_joined");
  const left = record(dash, "room_left");
  const a = connect(url, "websocket");
  const b = connect(url, "websocket");
  await withTimeout(Promise.all([next(a, "auth"), next(b, "auth")]), 3000, "users");
  const gotA = [];
  const gotB = [];
  a.onAny((ev, ...args) => gotA.push([ev, ...args]));
  b.onAny((ev, ...args) => gotB.push([ev, ...args]));

  // One socket, picked by its id (the dashboard's filter).
  dash.emit("join", "/", "room1", a.id);
  await until("room_joined", () => joined.length === 1);
  assert.deepEqual(joined[0].slice(0, 3), ["/", "room1", a.id]);
  assert.match(joined[0][3], ISO_DATE);
  dash.emit("emit", "/", "room1", "hello", 1, "two");
  await until("hello in room1", () => gotA.length === 1);
  assert.deepEqual(gotA, [["hello", 1, "two"]]);

  // Leave, then a room emit reaches nobody; an emit to all reaches both.
  dash.emit("leave", "/", "room1", a.id);
  await until("room_left", () => left.length === 1);
  assert.deepEqual(left[0].slice(0, 3), ["/", "room1", a.id]);
  dash.emit("emit", "/", "room1", "nobody");
  dash.emit("emit", "/", "", "everyone");
  await until("everyone", () => gotA.length === 2 && gotB.length === 1);
  assert.deepEqual(gotA[1], ["everyone"]);
  assert.deepEqual(gotB, [["everyone"]]);

  // Every socket of a namespace (no filter): both join.
  dash.emit("join", "/", "all");
  await until("both joined", () => joined.filter((j) => j[1] === "all").length >= 2);
  const ids = joined.filter((j) => j[1] === "all").map((j) => j[2]);
  assert.ok(ids.includes(a.id) && ids.includes(b.id));
  a.close();
  b.close();
  dash.close();
});

test("_disconnect disconnects the socket it names, and only it", async () => {
  const { socket: dash } = await admin({ username: "admin", password: "s3cret" });
  const disconnected = record(dash, "socket_disconnected");
  const a = connect(url, "websocket");
  const b = connect(url, "websocket");
  await withTimeout(Promise.all([next(a, "auth"), next(b, "auth")]), 3000, "users");
  const id = a.id;
  const bye = next(a, "disconnect");
  dash.emit("_disconnect", "/", false, id);
  const [reason] = await withTimeout(bye, 3000, "a disconnected");
  assert.equal(reason, "io server disconnect");
  await until("socket_disconnected", () => disconnected.some(([, sid]) => sid === id));
  assert.deepEqual(disconnected.find(([, sid]) => sid === id).slice(0, 3), [
    "/", id, "server namespace disconnect",
  ]);
  // b is still there: an emit command reaches it.
  const hello = next(b, "still");
  dash.emit("emit", "/", b.id, "still");
  await withTimeout(hello, 3000, "b still connected");
  assert.equal(b.connected, true);
  b.close();
  dash.close();
});

test("--admin none --admin-readonly: no auth, only the event features, commands ignored", async () => {
  const other = await startFixture(["--admin", "none", "--admin-readonly"]);
  try {
    const got = await admin({}, other.url);
    assert.deepEqual(got.config, { supportedFeatures: ["AGGREGATED_EVENTS", "ALL_EVENTS"] });
    assert.equal(got.session, null);
    const user = connect(other.url, "websocket");
    await withTimeout(next(user, "auth"), 3000, "user connected");
    const disconnected = record(got.socket, "socket_disconnected");
    got.socket.emit("_disconnect", "/", false, user.id);
    got.socket.emit("join", "/", "room1", user.id);
    // The next periodic stats come after the commands were handled (one
    // connection, in order): the user is still there, in no new room.
    await withTimeout(next(got.socket, "server_stats"), 5000, "stats");
    assert.equal(user.connected, true);
    assert.deepEqual(disconnected, []);
    const [listed] = await withTimeout(
      (async () => {
        const again = await admin({}, other.url);
        again.socket.close();
        return [again.allSockets.find((s) => s.id === user.id)];
      })(),
      5000,
      "relisted",
    );
    assert.deepEqual(listed.rooms, [user.id]);
    user.close();
    got.socket.close();
  } finally {
    other.proc.kill("SIGKILL");
  }
});
