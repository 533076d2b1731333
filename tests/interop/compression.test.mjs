// httpCompression over real HTTP: long-poll responses of 1024 bytes or more
// come gzip- or deflate-compressed as Accept-Encoding asks, smaller ones
// plain, and none with `--no-http-compression`. Raw requests, so every
// header and byte is the server's own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import zlib from "node:zlib";
import { startServer, stopServer } from "./common.mjs";

// Long heartbeats: a ping must not slip into the payloads checked here.
const ENV = { INTEROP_PING_INTERVAL_MS: "60000", INTEROP_PING_TIMEOUT_MS: "60000" };
let on;
let off;

before(async () => {
  [on, off] = await Promise.all([
    startServer(0, ENV),
    startServer(0, ENV, ["--no-http-compression"]),
  ]);
});

after(async () => {
  await Promise.all([stopServer(on), stopServer(off)]);
});

/** One request; the body is raw bytes (never decompressed). */
function request(port, method, path, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path, agent: false, headers: { "content-type": "text/plain;charset=UTF-8", ...headers } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * A polling session joined to "/" (the handshake asked with `accept`), then
 * the long-poll answer to an `echo-ack` of `size` characters (the ack,
 * `431["<text>"]`, carries no recovery offset), GET with `accept`.
 */
async function echoOverPolling(server, size, accept) {
  const headers = accept ? { "accept-encoding": accept } : {};
  const open = await request(server.port, "GET", "/socket.io/?EIO=4&transport=polling", { headers });
  assert.equal(open.status, 200);
  assert.equal(open.headers["content-encoding"], undefined, "a handshake is under the threshold");
  const sid = JSON.parse(open.body.toString().slice(1)).sid;
  const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  await request(server.port, "POST", path, { body: "40" });
  // The CONNECT reply goes out as soon as the socket is accepted; the
  // server's connection handler emits "auth" after it, on the socket's
  // task, so a long-poll already waiting may carry the reply alone. Poll
  // until both came, so that the poll checked below holds the echo only.
  let joined = "";
  for (let i = 0; i < 20 && !joined.includes('42["auth"'); i++) {
    joined += (await request(server.port, "GET", path, { headers })).body.toString();
  }
  assert.match(joined, /^40\{"sid":/);
  assert.ok(joined.includes('42["auth"'), joined);
  const text = "x".repeat(size);
  const post = await request(server.port, "POST", path, { body: `421["echo-ack","${text}"]` });
  assert.equal(post.body.toString(), "ok");
  assert.equal(post.headers["content-encoding"], undefined);
  const poll = await request(server.port, "GET", path, { headers });
  await request(server.port, "POST", path, { body: "1" });
  return { poll, expected: `431["${text}"]` };
}

// `431[""]` is 7 bytes: 1017 characters make 1024.
const AT_THRESHOLD = 1017;

test("a long-poll body of exactly 1024 bytes is gzipped", async () => {
  const { poll, expected } = await echoOverPolling(on, AT_THRESHOLD, "gzip, deflate, br");
  assert.equal(Buffer.byteLength(expected), 1024);
  assert.equal(poll.status, 200);
  assert.equal(poll.headers["content-encoding"], "gzip");
  assert.equal(poll.headers["content-type"], "text/plain; charset=UTF-8");
  assert.equal(Number(poll.headers["content-length"]), poll.body.length);
  assert.ok(poll.body.length < 100, `${poll.body.length} bytes`);
  assert.equal(zlib.gunzipSync(poll.body).toString(), expected);
});

test("one byte under the threshold goes plain", async () => {
  const { poll, expected } = await echoOverPolling(on, AT_THRESHOLD - 1, "gzip, deflate");
  assert.equal(poll.headers["content-encoding"], undefined);
  assert.equal(poll.body.toString(), expected);
});

test("deflate when the client prefers it, plain when it accepts neither", async () => {
  const deflated = await echoOverPolling(on, 5000, "deflate, gzip;q=0.5");
  assert.equal(deflated.poll.headers["content-encoding"], "deflate");
  assert.equal(zlib.inflateSync(deflated.poll.body).toString(), deflated.expected);
  const plain = await echoOverPolling(on, 5000, undefined);
  assert.equal(plain.poll.headers["content-encoding"], undefined);
  assert.equal(plain.poll.body.toString(), plain.expected);
  const identity = await echoOverPolling(on, 5000, "identity, br");
  assert.equal(identity.poll.headers["content-encoding"], undefined);
});

test("--no-http-compression sends every body plain", async () => {
  const { poll, expected } = await echoOverPolling(off, 5000, "gzip, deflate");
  assert.equal(poll.headers["content-encoding"], undefined);
  assert.equal(Number(poll.headers["content-length"]), Buffer.byteLength(expected));
  assert.equal(poll.body.toString(), expected);
});

test("a WebSocket offering permessage-deflate is accepted without it (not implemented)", async () => {
  const sock = net.connect(on.port, "127.0.0.1");
  await once(sock, "connect");
  sock.write(
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
      `Sec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n`,
  );
  let data = Buffer.alloc(0);
  while (data.indexOf("\r\n\r\n") < 0) {
    const [chunk] = await once(sock, "data");
    data = Buffer.concat([data, chunk]);
  }
  const head = data.subarray(0, data.indexOf("\r\n\r\n")).toString();
  sock.destroy();
  assert.match(head, /^HTTP\/1.1 101 /);
  assert.doesNotMatch(head, /sec-websocket-extensions/i);
});
