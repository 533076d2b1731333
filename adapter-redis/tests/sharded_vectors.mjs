// What the real sharded adapter (@socket.io/redis-adapter 8.3
// createShardedAdapter on socket.io 4.8) publishes, captured with a stand-in
// Redis client: prints one JSON object, case name -> {channel, hex, uid,
// requestId}. For tests/sharded_wire.rs.
import { createRequire } from "node:module";
const require = createRequire(new URL("../../tests/cluster/package.json", import.meta.url));
const { Server } = require("socket.io");
const { createShardedAdapter } = require("@socket.io/redis-adapter");

const published = [];
const pub = {
  sSubscribe() {},
  sUnsubscribe() {},
  sPublish(channel, payload) {
    published.push({ channel, payload: Buffer.from(payload) });
    return Promise.resolve(1);
  },
  // PUBSUB SHARDNUMSUB: two nodes, so requests are published.
  sendCommand() {
    return Promise.resolve(["x", "2"]);
  },
};
const io = new Server({ adapter: createShardedAdapter(pub, pub, { subscriptionMode: "dynamic" }) });
const adapter = io.of("/").adapter;
const uid = adapter.uid;
const tick = () => new Promise((r) => setTimeout(r, 10));
const out = {};
const take = async (name) => {
  await tick();
  const last = published.pop();
  const text = last.payload.toString();
  let requestId = null;
  try {
    requestId = JSON.parse(text).data?.requestId ?? null;
  } catch {}
  out[name] = { channel: last.channel, hex: last.payload.toString("hex"), uid, requestId };
  published.length = 0;
};

io.emit("hello", 1, "two");
await take("broadcast_all");
io.to("room1").emit("hello", { a: 1 });
await take("broadcast_room");
io.to("room1").to("room2").except("room3").volatile.emit("hello");
await take("broadcast_rooms");
io.emit("bin", Buffer.from([1, 2, 3]));
await take("broadcast_binary");
io.timeout(3000).emit("q", () => {});
await take("broadcast_ack");
io.in("room1").socketsJoin(["a", "b"]);
await take("sockets_join");
io.except("room1").socketsLeave("a");
await take("sockets_leave");
io.in("room1").disconnectSockets(true);
await take("disconnect");
io.serverSideEmit("ping", 0, "x");
await take("sse");
io.serverSideEmit("ping", 1, () => {});
await take("sse_ack");
io.in("room1").fetchSockets().catch(() => {});
await take("fetch");
// Answers to another node's requests ("other" asks): the real adapter
// publishes them on the asker's channel.
io.on("ping", (...args) => args.pop()("pong"));
adapter.onMessage({ type: 9, data: { requestId: "r1", packet: ["ping", 1] }, uid: "other", nsp: "/" });
await take("sse_response");
adapter.onMessage({ type: 7, data: { opts: { rooms: [], except: [], flags: {} }, requestId: "r2" }, uid: "other", nsp: "/" });
await take("fetch_response");
adapter.onMessage({ type: 3, data: { packet: { type: 2, data: ["q"] }, requestId: "r3", opts: { rooms: [], except: [], flags: { timeout: 1000 } } }, uid: "other", nsp: "/" });
await take("client_count");
// A relayed client acknowledgement needs a client; its shape, from the
// source (data {requestId, packet: first argument}), as the adapter would
// serialize it.
out.relayed_ack = {
  channel: "socket.io#/#other#",
  hex: Buffer.from(JSON.stringify({ type: 12, data: { requestId: "r4", packet: "yes" }, uid, nsp: "/" })).toString("hex"),
  uid,
  requestId: "r4",
};
console.log(JSON.stringify(out));
process.exit(0);
