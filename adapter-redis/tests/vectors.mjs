// Reference bytes from notepack.io itself (the classic adapter's parser)
// and from JSON.stringify, for tests/classic_wire.rs. Prints one JSON
// object: case name -> hex.
import { createRequire } from "node:module";
const require = createRequire(new URL("../../tests/cluster/package.json", import.meta.url));
const notepack = require("notepack.io");

const hex = (b) => Buffer.from(b).toString("hex");
const pack = (v) => hex(notepack.encode(v));
const json = (v) => hex(Buffer.from(JSON.stringify(v)));
const keys = (n) => Object.fromEntries([...Array(n).keys()].map((i) => ["k" + i, i]));

const out = {
  ints: pack([0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649]),
  floats: pack([1.5, -0.25, 3.0, -1e15]),
  scalars: pack([true, false, null, "", "a".repeat(31), "a".repeat(32), "a".repeat(255), "a".repeat(256), "é"]),
  long_str: pack("b".repeat(70000)),
  bins: pack([Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(300, 7)]),
  big_bin: pack(Buffer.alloc(70000, 9)),
  arrays: pack([[...Array(15).keys()], [...Array(16).keys()]]),
  maps: pack([keys(15), keys(16)]),
  undefined_key: pack({ a: 1, b: undefined, c: null }),
  broadcast: pack(["node-a", { type: 2, data: ["ev", 1, { a: Buffer.from([1, 2]) }, "x"], nsp: "/" }, { rooms: ["r1"], except: ["x"], flags: { volatile: true } }]),
  broadcast_all: pack(["node-a", { type: 2, data: ["hello", "world"], nsp: "/custom" }, { rooms: [], except: [], flags: {} }]),
  broadcast_request: pack({ uid: "node-a", requestId: "node-a:1", type: 7, packet: { type: 2, data: ["q", "node-a"], nsp: "/" }, opts: { rooms: ["r"], except: [], flags: { timeout: 3000 } } }),
  broadcast_ack: pack({ type: 9, requestId: "abc123", packet: "yes" }),
  sockets_join: json({ uid: "node-a", type: 2, opts: { rooms: ["r1"], except: ["r2"] }, rooms: ["new"] }),
  sockets_leave: json({ uid: "node-a", type: 3, opts: { rooms: [], except: [] }, rooms: ["old"] }),
  disconnect: json({ uid: "node-a", type: 4, opts: { rooms: ["r1"], except: [] }, close: true }),
  fetch: json({ uid: "node-a", requestId: "node-a:2", type: 5, opts: { rooms: ["r1"], except: [] } }),
  fetch_response: json({ requestId: "node-a:2", sockets: [{ id: "sid1", handshake: { url: "/" }, rooms: ["sid1", "r1"], data: { node: "b" } }] }),
  sse: json({ uid: "node-a", type: 6, data: ["ping", 0, "x"] }),
  sse_ack: json({ uid: "node-a", requestId: "node-a:3", type: 6, data: ["ping"] }),
  sse_response: json({ type: 6, requestId: "node-a:3", data: "pong" }),
  sockets_request: json({ uid: "node-a", requestId: "q1", type: 0, rooms: ["r1"] }),
  sockets_answer: json({ requestId: "q1", sockets: ["s1", "s2"] }),
  all_rooms_request: json({ uid: "node-a", requestId: "q2", type: 1 }),
  all_rooms_answer: json({ requestId: "q2", rooms: ["r1", "s1"] }),
  client_count: json({ type: 8, requestId: "node-a:1", clientCount: 2 }),
};
console.log(JSON.stringify(out));
