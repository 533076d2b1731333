// The conformance fixture's compression and parser flags: with
// `--parser msgpack --per-message-deflate` the official client (msgpack
// parser, WebSocket compression) gets the same handlers (`auth` on
// connection, `message` echoed as `message-back`, `message-with-ack`
// acked); `--no-http-compression` turns off the gzip of long-polls, which
// is on otherwise.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import zlib from "node:zlib";
import { io } from "socket.io-client";
import { RUNTIME, next, withTimeout } from "./common.mjs";

const require = createRequire(import.meta.url);
const parser = require("socket.io-msgpack-parser");
const FIXTURE = process.env.FIXTURE_SERVER ?? "../../target/release/conformance-fixture";

/** A port the OS says is free now. */
async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

async function startFixture(flags) {
  const port = await freePort();
  const proc = spawn(FIXTURE, ["--runtime", RUNTIME, "--host", "127.0.0.1", "--port", String(port), ...flags], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  await withTimeout(
    new Promise((resolve, reject) => {
      proc.stderr.on("data", (chunk) => {
        log += chunk;
        if (log.includes("listening on")) resolve();
      });
      proc.once("exit", () => reject(new Error(`fixture exited: ${log}`)));
    }),
    10_000,
    "fixture listening",
  );
  return { proc, port, url: `http://127.0.0.1:${port}` };
}

async function stop(fixture) {
  if (fixture.proc.exitCode !== null || fixture.proc.signalCode !== null) return;
  const exited = once(fixture.proc, "exit");
  fixture.proc.kill("SIGKILL");
  await exited;
}

let packed;
let plain;

before(async () => {
  [packed, plain] = await Promise.all([
    startFixture(["--parser", "msgpack", "--per-message-deflate"]),
    startFixture(["--no-http-compression"]),
  ]);
});

after(async () => {
  await Promise.all([stop(packed), stop(plain)]);
});

test("--parser msgpack --per-message-deflate: the fixture's handlers, compressed", async () => {
  for (const nsp of ["/", "/custom"]) {
    const socket = io(packed.url + nsp, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      parser,
      auth: { token: "abc" },
    });
    const [auth] = await withTimeout(next(socket, "auth"), 3000, "auth");
    assert.deepEqual(auth, { token: "abc" });
    assert.match(String(socket.io.engine.transport.ws.extensions), /permessage-deflate/);
    const big = "m".repeat(4000);
    socket.emit("message", big, Buffer.from([1, 2, 3]), { n: 1 });
    const back = await withTimeout(next(socket, "message-back"), 3000, "message-back");
    assert.equal(back[0], big);
    assert.deepEqual(Buffer.from(back[1]), Buffer.from([1, 2, 3]));
    assert.deepEqual(back[2], { n: 1 });
    const acked = await withTimeout(socket.emitWithAck("message-with-ack", "x", Buffer.from([9])), 3000, "ack");
    assert.equal(acked, "x");
    socket.disconnect();
  }
});

function request(port, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, agent: false, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The `/engine.io/` echo of a 3000-byte message over polling, asked with gzip. */
async function polledEcho(fixture) {
  const open = await request(fixture.port, "GET", "/engine.io/?EIO=4&transport=polling");
  const sid = JSON.parse(open.body.toString().slice(1)).sid;
  const path = `/engine.io/?EIO=4&transport=polling&sid=${sid}`;
  const text = "e".repeat(3000);
  await request(fixture.port, "POST", path, `4${text}`, { "content-type": "text/plain;charset=UTF-8" });
  const poll = await request(fixture.port, "GET", path, undefined, { "accept-encoding": "gzip" });
  await request(fixture.port, "POST", path, "1", { "content-type": "text/plain;charset=UTF-8" });
  return { poll, text };
}

test("long-polls are gzipped by default and plain with --no-http-compression", async () => {
  const on = await polledEcho(packed);
  assert.equal(on.poll.headers["content-encoding"], "gzip");
  assert.ok(zlib.gunzipSync(on.poll.body).toString().split("\x1e").includes(`4${on.text}`));
  const off = await polledEcho(plain);
  assert.equal(off.poll.headers["content-encoding"], undefined);
  assert.ok(off.poll.body.toString().split("\x1e").includes(`4${off.text}`));
});
