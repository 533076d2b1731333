// Test vectors for the msgpack parser (socketio-proto/src/msgpack/),
// produced by the npm packages themselves: socket.io-msgpack-parser and the
// notepack.io it encodes with.
//
//   node msgpack-vectors.mjs          writes socketio-proto/tests/msgpack_vectors.json
//   vectors() (imported)              the same object, so msgpack.test.mjs
//                                     checks that the committed file is what
//                                     the installed packages produce.
//
// "encode": packets as the official server builds them (keys in the order
// its code assigns them, which depends on who sends: a socket, a broadcast,
// the client for an unknown namespace) and the bytes notepack writes.
// "decode": packets as the official client builds them (with its `options`
// key) or malformed ones, the bytes, and what the reference Decoder makes of
// them: the packet (binary as {"$bin": hex}, Date as its ISO string,
// undefined as null), or its error message.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const parser = require("socket.io-msgpack-parser");
const notepack = require("notepack.io");

const bin = (...bytes) => Buffer.from(bytes);
const fill = (n) => Buffer.alloc(n, 7);
const EVENT = 2;

// Server-side packets: [name, sender, build()] where build assigns keys in
// the official server's order for that sender.
function serverPackets() {
  const numbers = [
    0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 2 ** 53,
    -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -(2 ** 53),
    0.5, -1.25, 1e300, 1e20, -1e20, 2 ** 64, 3.0,
  ];
  const sixteen = Array.from({ length: 16 }, (_, i) => i);
  const map15 = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, i]));
  const map16 = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
  // socket.emit: {type, data} then id (with an ack) then nsp.
  const socketEvent = (data, id, nsp = "/") => {
    const p = { type: EVENT, data };
    if (id !== undefined) p.id = id;
    p.nsp = nsp;
    return p;
  };
  // adapter.broadcast / broadcastWithAck: {type, data}, nsp, then id.
  const broadcastEvent = (data, id, nsp = "/") => {
    const p = { type: EVENT, data };
    p.nsp = nsp;
    if (id !== undefined) p.id = id;
    return p;
  };
  return [
    ["connect reply", "socket", () => ({ type: 0, data: { sid: "FfqbMMEUhJ7lPSu3AAAB" }, nsp: "/" })],
    [
      "connect reply with pid",
      "socket",
      () => ({ type: 0, data: { sid: "a", pid: "b" }, nsp: "/custom" }),
    ],
    ["disconnect", "socket", () => ({ type: 1, nsp: "/chat" })],
    [
      "event",
      "socket",
      () => socketEvent(["hello", 1, -1, 1.5, true, false, null, { a: [1, 2], "": "" }]),
    ],
    ["event with ack id", "socket", () => socketEvent(["q"], 7, "/custom")],
    ["broadcast", "broadcast", () => broadcastEvent(["news", "héllo €😀"])],
    ["broadcast with ack id", "broadcast", () => broadcastEvent(["vote"], 300, "/custom")],
    [
      "event with binary",
      "socket",
      () => socketEvent(["bin", bin(1, 2, 3), { nested: fill(300), deep: [bin()] }]),
    ],
    ["binary sizes", "socket", () => socketEvent(["sizes", fill(255), fill(256)])],
    ["ack", "socket", () => ({ id: 70000, type: 3, data: ["ok", bin(9)], nsp: "/custom" })],
    ["ack without arguments", "socket", () => ({ id: 0, type: 3, data: [], nsp: "/" })],
    [
      "connect error from a middleware",
      "socket",
      () => ({ type: 4, data: { message: "not authorized", data: { code: 42 } }, nsp: "/" }),
    ],
    [
      "connect error of an unknown namespace",
      "client",
      () => ({ type: 4, nsp: "/random", data: { message: "Invalid namespace" } }),
    ],
    ["numbers", "socket", () => socketEvent(["n", ...numbers])],
    [
      "strings",
      "socket",
      () => socketEvent(["s", "", "x".repeat(31), "x".repeat(32), "x".repeat(255), "x".repeat(256), "é".repeat(20)]),
    ],
    ["containers", "socket", () => socketEvent(["c", sixteen.slice(0, 15), sixteen, map15, map16, [[[]]], {}])],
    ["integer keys first", "socket", () => socketEvent(["o", { b: 1, 2: 2, 1: 3, a: 4 }])],
  ];
}

// Client-side packets, as socket.io-client builds them, and bad input.
function clientPackets() {
  const withOptions = (p) => {
    const q = { type: p.type, data: p.data, options: { compress: true } };
    if (p.id !== undefined) q.id = p.id;
    q.nsp = p.nsp;
    return q;
  };
  const ab = new Uint8Array([4, 5, 6]).buffer;
  return [
    ["connect", { type: 0, nsp: "/" }],
    ["connect with auth", { type: 0, nsp: "/custom", data: { token: "abc", n: 1 } }],
    ["disconnect", { type: 1, nsp: "/" }],
    ["event", withOptions({ type: 2, nsp: "/", data: ["message", 1, "two", { three: [3] }] })],
    ["event with id", withOptions({ type: 2, nsp: "/custom", id: 12, data: ["message-with-ack", null] })],
    [
      "event with binary",
      withOptions({ type: 2, nsp: "/", data: ["message", bin(1, 2), { nested: [fill(300)] }, ab] }),
    ],
    ["event with a Date", withOptions({ type: 2, nsp: "/", data: ["when", new Date(Date.UTC(2026, 10, 22, 6, 15, 5, 123))] })],
    ["event with undefined", withOptions({ type: 2, nsp: "/", data: ["u", undefined, { k: undefined }] })],
    ["event named by a number", withOptions({ type: 2, nsp: "/", data: [42, "x"] })],
    ["integer keys first", withOptions({ type: 2, nsp: "/", data: ["o", { b: 1, 2: 2, 1: 3 }] })],
    ["ack", { type: 3, nsp: "/", id: 4, data: ["ok", bin(255)] }],
    ["ack with id 2^32", { type: 3, nsp: "/", id: 2 ** 32, data: [] }],
    ["connect error", { type: 4, nsp: "/", data: "just a string" }],
    ["type out of range", { type: 5, nsp: "/", data: [] }],
    ["type not an integer", { type: 2.5, nsp: "/", data: ["x"] }],
    ["type missing", { nsp: "/", data: ["x"] }],
    ["namespace missing", { type: 2, data: ["x"] }],
    ["namespace not a string", { type: 2, nsp: 1, data: ["x"] }],
    ["event data not an array", { type: 2, nsp: "/", data: { a: 1 } }],
    ["connect data an array", { type: 0, nsp: "/", data: [1] }],
    ["connect data null", { type: 0, nsp: "/", data: null }],
    ["disconnect with data", { type: 1, nsp: "/", data: 1 }],
    ["connect error without data", { type: 4, nsp: "/" }],
    ["id a string", { type: 2, nsp: "/", id: "1", data: ["x"] }],
    ["id null", { type: 2, nsp: "/", id: null, data: ["x"] }],
    ["not a map", [2, "/", ["x"]]],
  ];
}

/** What the reference Decoder makes of `bytes`: { packet } or { error }. */
function referenceDecode(bytes) {
  const decoder = new parser.Decoder();
  let packet;
  decoder.on("decoded", (p) => (packet = p));
  try {
    decoder.add(bytes);
  } catch (e) {
    return { error: e.message };
  }
  return { packet: plain(packet) };
}

/** A decoded value as JSON: binary as {"$bin": hex}, Date as ISO, undefined as null. */
function plain(v) {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v)) return { $bin: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}

export function vectors() {
  const encoder = new parser.Encoder();
  const encode = serverPackets().map(([name, sender, build]) => {
    const packet = build();
    const [bytes] = encoder.encode(packet);
    return { name, sender, packet: plain(packet), keys: Object.keys(packet), hex: bytes.toString("hex") };
  });
  const decode = clientPackets().map(([name, packet]) => {
    const bytes = notepack.encode(packet);
    return { name, hex: bytes.toString("hex"), ...referenceDecode(bytes) };
  });
  // Bytes no encoder writes: trailing data, truncation, the unused prefix.
  const valid = notepack.encode({ type: 1, nsp: "/" });
  for (const [name, bytes] of [
    ["trailing byte", Buffer.concat([valid, bin(0)])],
    ["truncated", valid.subarray(0, valid.length - 1)],
    ["prefix 0xc1", bin(0xc1)],
  ]) {
    let error;
    try {
      new parser.Decoder().add(bytes);
    } catch (e) {
      error = e.message;
    }
    decode.push({ name, hex: bytes.toString("hex"), error: error ?? null });
  }
  return { generator: "tests/interop/msgpack-vectors.mjs", encode, decode };
}

export const VECTORS_FILE = fileURLToPath(new URL("../../socketio-proto/tests/msgpack_vectors.json", import.meta.url));

export function render() {
  return JSON.stringify(vectors(), null, 1) + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(VECTORS_FILE, render());
  console.log(`wrote ${VECTORS_FILE}`);
}
