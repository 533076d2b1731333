// perMessageDeflate: the official client (whose WebSocket offers the
// extension by default) against the interop-server started with
// `--per-message-deflate`; then raw WebSocket clients that offer it, to see
// it accepted only when on, compressed frames both ways at the threshold,
// and a compression bomb closed with 1009.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import zlib from "node:zlib";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { MAX_PAYLOAD, connect, next, startServer, stopServer, withTimeout } from "./common.mjs";

let on;
let off;

before(async () => {
  // Long heartbeats: the raw clients below do not answer pings.
  const env = { INTEROP_PING_INTERVAL_MS: "60000", INTEROP_PING_TIMEOUT_MS: "60000" };
  [on, off] = await Promise.all([startServer(0, env, ["--per-message-deflate"]), startServer(0, env)]);
});

after(async () => {
  await Promise.all([stopServer(on), stopServer(off)]);
});

test("the official client negotiates it and large events go both ways", async () => {
  const socket = connect(on.url, "websocket");
  await withTimeout(next(socket, "auth"), 3000, "auth");
  const extensions = socket.io.engine.transport.ws.extensions;
  assert.match(String(extensions), /permessage-deflate/);
  const big = "compress me ".repeat(1000);
  const bytes = Buffer.alloc(5000, 3);
  socket.emit("echo", big, bytes, { nested: [big] });
  const [text, bin, obj] = await withTimeout(next(socket, "echo"), 3000, "echo");
  assert.equal(text, big);
  assert.deepEqual(Buffer.from(bin), bytes);
  assert.deepEqual(obj, { nested: [big] });
  // Small ones too (under the threshold, sent plain).
  assert.equal(await withTimeout(socket.emitWithAck("echo-ack", "tiny"), 3000, "ack"), "tiny");
  socket.disconnect();
});

/** A raw WebSocket client: the 101 head, then frames (opcode, rsv1, data). */
async function rawOpen(port, extensions) {
  const sock = net.connect(port, "127.0.0.1");
  await once(sock, "connect");
  sock.write(
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
      `Sec-WebSocket-Version: 13\r\n` +
      (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : "") +
      `\r\n`,
  );
  const client = { sock, buffer: Buffer.alloc(0), head: null, frames: [], waiters: [], closed: false };
  sock.on("error", () => {});
  sock.on("close", () => {
    client.closed = true;
    client.waiters.splice(0).forEach((w) => w());
  });
  sock.on("data", (chunk) => {
    client.buffer = Buffer.concat([client.buffer, chunk]);
    if (client.head === null) {
      const end = client.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      client.head = client.buffer.subarray(0, end).toString();
      client.buffer = client.buffer.subarray(end + 4);
    }
    for (;;) {
      const b = client.buffer;
      if (b.length < 2) break;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + len) break;
      client.frames.push({ opcode: b[0] & 0x0f, rsv1: (b[0] & 0x40) !== 0, data: b.subarray(at, at + len) });
      client.buffer = b.subarray(at + len);
    }
    client.waiters.splice(0).forEach((w) => w());
  });
  await withTimeout(
    (async () => {
      while (client.head === null) await new Promise((r) => client.waiters.push(r));
    })(),
    3000,
    "101",
  );
  return client;
}

/** The next frame that `pick` accepts (frames before it are dropped). */
async function frame(client, pick = () => true) {
  return withTimeout(
    (async () => {
      for (;;) {
        const i = client.frames.findIndex(pick);
        if (i >= 0) return client.frames.splice(0, i + 1)[i];
        if (client.closed) throw new Error("closed");
        await new Promise((r) => client.waiters.push(r));
      }
    })(),
    3000,
    "frame",
  );
}

/** Sends one masked frame; `rsv1` marks it compressed. */
function send(client, opcode, data, rsv1 = false) {
  const mask = randomBytes(4);
  const len = data.length;
  const head = len < 126 ? Buffer.from([0, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (len >= 126 && len < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.from(data);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i % 4];
  client.sock.write(Buffer.concat([head, mask, masked]));
}

const deflate = (text) => {
  const out = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
};
const inflate = (data) =>
  zlib
    .inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
    .toString();

test("a raw client's offer is accepted only when it is on", async () => {
  const offer = "permessage-deflate; client_max_window_bits";
  const accepted = await rawOpen(on.port, offer);
  assert.match(accepted.head, /^HTTP\/1.1 101 /);
  assert.match(
    accepted.head,
    /\r\nsec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover(\r\n|$)/i,
  );
  accepted.sock.destroy();
  const refused = await rawOpen(off.port, offer);
  assert.match(refused.head, /^HTTP\/1.1 101 /);
  assert.doesNotMatch(refused.head, /sec-websocket-extensions/i);
  refused.sock.destroy();
  const none = await rawOpen(on.port, undefined);
  assert.doesNotMatch(none.head, /sec-websocket-extensions/i);
  none.sock.destroy();
});

test("compressed client frames are taken; replies compress from 1024 bytes", async () => {
  const ws = await rawOpen(on.port, "permessage-deflate");
  const open = await frame(ws);
  assert.equal(open.rsv1, false);
  assert.match(open.data.toString(), /^0\{"sid"/);
  // A compressed CONNECT, then a compressed event.
  send(ws, 1, deflate("40"), true);
  const connected = await frame(ws, (f) => !f.rsv1 && f.data.toString().startsWith("40"));
  assert.match(connected.data.toString(), /^40\{"sid"/);
  // echo-ack answers `43<id>[...]` with no recovery offset: 1017
  // characters make a 1024-byte reply, compressed; 1016 make 1023, plain.
  send(ws, 1, deflate(`421["echo-ack","${"a".repeat(1017)}"]`), true);
  const big = await frame(ws, (f) => f.opcode === 1 && (f.rsv1 || f.data.toString().startsWith("431")));
  assert.equal(big.rsv1, true, "1024 bytes: compressed");
  assert.equal(inflate(big.data), `431["${"a".repeat(1017)}"]`);
  send(ws, 1, Buffer.from(`422["echo-ack","${"b".repeat(1016)}"]`));
  const small = await frame(ws, (f) => f.opcode === 1 && (f.rsv1 || f.data.toString().startsWith("432")));
  assert.equal(small.rsv1, false, "1023 bytes: plain");
  assert.equal(small.data.toString(), `432["${"b".repeat(1016)}"]`);
  ws.sock.destroy();
});

test("a compression bomb is closed with 1009 and memory stays bounded", async () => {
  // 50 MB of one character compress to about 50 KB; the limit is 100 000.
  const bomb = zlib.deflateRawSync(Buffer.alloc(50_000_000, 0x61), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  const ws = await rawOpen(on.port, "permessage-deflate");
  await frame(ws);
  send(ws, 1, deflate("40"), true);
  await frame(ws, (f) => f.data.toString().startsWith("40"));
  assert.ok(bomb.length < MAX_PAYLOAD, `${bomb.length}`);
  const rssBefore = Number(/VmRSS:\s+(\d+)/.exec((await import("node:fs")).readFileSync(`/proc/${on.proc.pid}/status`, "utf8"))[1]);
  send(ws, 1, bomb.subarray(0, bomb.length - 4), true);
  const close = await frame(ws, (f) => f.opcode === 8);
  assert.equal(close.data.readUInt16BE(0), 1009);
  const rssAfter = Number(/VmRSS:\s+(\d+)/.exec((await import("node:fs")).readFileSync(`/proc/${on.proc.pid}/status`, "utf8"))[1]);
  assert.ok(rssAfter - rssBefore < 8 * 1024, `server RSS grew by ${rssAfter - rssBefore} KiB`);
  ws.sock.destroy();
});

test("at the limit a compressed message is taken", async () => {
  const ws = await rawOpen(on.port, "permessage-deflate");
  await frame(ws);
  send(ws, 1, deflate("40"), true);
  await frame(ws, (f) => f.data.toString().startsWith("40"));
  // `421["echo-ack","…"]` of exactly MAX_PAYLOAD bytes once inflated.
  const text = "z".repeat(MAX_PAYLOAD - `421["echo-ack",""]`.length);
  send(ws, 1, deflate(`421["echo-ack","${text}"]`), true);
  const reply = await frame(ws, (f) => f.opcode === 1 && f.rsv1);
  assert.equal(inflate(reply.data), `431["${text}"]`);
  ws.sock.destroy();
});

test("compress(false) sends a large event uncompressed", async () => {
  const ws = await rawOpen(on.port, "permessage-deflate");
  await frame(ws);
  send(ws, 1, Buffer.from("40"));
  await frame(ws, (f) => f.data.toString().startsWith("40"));
  const text = "p".repeat(3000);
  send(ws, 1, Buffer.from(`42["echo-plain","${text}"]`));
  const plain = await frame(ws, (f) => f.opcode === 1 && (f.rsv1 || f.data.toString().startsWith('42["echo-plain"')));
  assert.equal(plain.rsv1, false);
  assert.match(plain.data.toString(), new RegExp(`^42\\["echo-plain","${text}"`));
  // The same event through `echo` (compress on) comes compressed.
  send(ws, 1, Buffer.from(`42["echo","${text}"]`));
  const compressed = await frame(ws, (f) => f.opcode === 1 && f.rsv1);
  assert.match(inflate(compressed.data), new RegExp(`^42\\["echo","${text}"`));
  ws.sock.destroy();
});
