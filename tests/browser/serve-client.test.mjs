// serveClient with the real npm bundle, over raw HTTP against the demo:
// every file of socket.io-client's dist byte for byte, Node's headers, 304
// on the ETag, and each compression decoded back to the file on disk.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";

import { startDemo } from "./common.mjs";

const client = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "servers", "demo", "node_modules", "socket.io-client");
const dist = join(client, "dist");
const version = JSON.parse(readFileSync(join(client, "package.json"), "utf8")).version;
const FILES = [
  "socket.io.js",
  "socket.io.js.map",
  "socket.io.min.js",
  "socket.io.min.js.map",
  "socket.io.msgpack.min.js",
  "socket.io.msgpack.min.js.map",
  "socket.io.esm.min.js",
  "socket.io.esm.min.js.map",
];

let demo;

/** One GET with `headers`; resolves { status, headers, body } (raw bytes). */
function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(`${demo.url}${path}`, { headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

before(async () => {
  demo = await startDemo();
});

after(async () => {
  await demo?.stop();
});

test("every bundle file, as on disk, with Node's headers", async () => {
  for (const file of FILES) {
    const res = await get(`/socket.io/${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(
      res.headers["content-type"],
      file.endsWith(".map") ? "application/json; charset=utf-8" : "application/javascript; charset=utf-8",
    );
    assert.equal(res.headers["cache-control"], "public, max-age=0");
    assert.equal(res.headers.etag, `"${version}"`);
    assert.equal(res.headers["content-encoding"], undefined);
    assert.ok(res.body.equals(readFileSync(join(dist, file))), `${file} differs from the npm package's`);
  }
});

test("304 on the strong or weak ETag, 200 on another", async () => {
  for (const tag of [`"${version}"`, `W/"${version}"`]) {
    const res = await get("/socket.io/socket.io.min.js", { "If-None-Match": tag });
    assert.equal(res.status, 304, tag);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.etag, undefined);
  }
  const stale = await get("/socket.io/socket.io.min.js", { "If-None-Match": '"0.0.0"' });
  assert.equal(stale.status, 200);
});

test("br, gzip and deflate decode to the file", async () => {
  const decoders = { br: brotliDecompressSync, gzip: gunzipSync, deflate: inflateSync };
  for (const file of ["socket.io.min.js", "socket.io.esm.min.js.map"]) {
    const plain = readFileSync(join(dist, file));
    for (const [encoding, decode] of Object.entries(decoders)) {
      const res = await get(`/socket.io/${file}`, { "Accept-Encoding": encoding });
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-encoding"], encoding);
      assert.ok(res.body.length < plain.length / 2, `${file} ${encoding}: ${res.body.length} of ${plain.length}`);
      assert.ok(decode(res.body).equals(plain), `${file} ${encoding}`);
    }
  }
  // What a browser sends: all at q=1, the header's order decides (gzip).
  const browser = await get("/socket.io/socket.io.js", { "Accept-Encoding": "gzip, deflate, br, zstd" });
  assert.equal(browser.headers["content-encoding"], "gzip");
});

test("the rest of the path is still the engine's", async () => {
  const res = await get("/socket.io/socket.io.esm.js");
  assert.equal(res.status, 400);
  assert.equal(res.body.toString(), '{"code":0,"message":"Transport unknown"}');
});
