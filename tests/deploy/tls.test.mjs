// HTTPS, WSS, client certificates and HTTP/2, on each runtime: the
// conformance fixture with --tls-cert/--tls-key/--tls-client-ca/--http2,
// the official client (polling, websocket, upgrade), curl --http2 and
// Node's http2 client; and the bad input a TLS port gets (plain HTTP, a
// handshake that never finishes, a certificate from another CA).
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http2 from "node:http2";
import net from "node:net";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { FIXTURE, makeCerts, spawnUntil, stop, client, next, withTimeout, connectedAndUpgraded } from "./common.mjs";

const certs = makeCerts();
after(() => rmSync(certs.dir, { recursive: true, force: true }));
const RUNTIMES = (process.env.DEPLOY_TLS_RUNTIMES ?? "tokio,async-std,smol").split(",");

/** Starts the fixture over TLS; `extra` adds flags. */
async function startTls(runtime, extra = []) {
  const args = [
    "--runtime", runtime, "--host", "127.0.0.1", "--port", "0",
    "--tls-cert", certs.file("server.pem"), "--tls-key", certs.file("server.key"),
    ...extra,
  ];
  const { proc, match } = await spawnUntil(FIXTURE, args, /listening on 127\.0\.0\.1:(\d+)/);
  const port = Number(match[1]);
  return { proc, port, url: `https://127.0.0.1:${port}` };
}

const withClientCert = { ca: certs.read("ca.pem"), cert: certs.read("client.pem"), key: certs.read("client.key") };
const MODES = { polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"] };

function curl(args) {
  return new Promise((resolve) => {
    execFile("curl", args, { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }));
  });
}

for (const runtime of RUNTIMES) {
  describe(`TLS on ${runtime}`, () => {
    let server;
    before(async () => {
      server = await startTls(runtime, ["--tls-client-ca", certs.file("ca.pem"), "--http2", "--tls-handshake-timeout-ms", "500"]);
    });
    after(() => stop(server.proc));

    for (const [mode, transports] of Object.entries(MODES)) {
      test(`official client over ${mode} with a client certificate: peer-cert is its CN`, async () => {
        const socket = client(server.url, { ...withClientCert, transports });
        try {
          const [auth] = await withTimeout(next(socket, "auth"), 5000, "auth");
          assert.deepEqual(auth, {});
          if (mode === "upgrade") await withTimeout(connectedAndUpgraded(socket), 5000, "upgrade");
          assert.equal(socket.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");
          const cn = await withTimeout(socket.emitWithAck("peer-cert"), 5000, "peer-cert ack");
          assert.equal(cn, "client one");
          socket.emit("message", "over tls");
          const [back] = await withTimeout(next(socket, "message-back"), 5000, "echo");
          assert.equal(back, "over tls");
        } finally {
          socket.disconnect();
        }
      });
    }

    for (const [what, opts] of [
      ["without a certificate", { ca: certs.read("ca.pem") }],
      ["with a certificate from another CA", { ca: certs.read("ca.pem"), cert: certs.read("intruder.pem"), key: certs.read("intruder.key") }],
    ]) {
      for (const transports of [["polling"], ["websocket"]]) {
        test(`a client ${what} is refused (${transports[0]}), others unaffected`, async () => {
          const good = client(server.url, { ...withClientCert, transports: ["websocket"] });
          await withTimeout(next(good, "auth"), 5000, "good client");
          const bad = client(server.url, { ...opts, transports });
          try {
            const [err] = await withTimeout(next(bad, "connect_error"), 5000, "connect_error");
            assert.ok(err instanceof Error);
            assert.equal(bad.connected, false);
            assert.equal(await withTimeout(good.emitWithAck("peer-cert"), 5000, "good ack"), "client one");
          } finally {
            bad.disconnect();
            good.disconnect();
          }
        });
      }
    }

    test("curl --http2: the polling handshake answers over HTTP/2, /health too", async () => {
      const base = ["-s", "--http2", "--cacert", certs.file("ca.pem"), "--cert", certs.file("client.pem"), "--key", certs.file("client.key"), "-w", "\n%{http_version} %{http_code}"];
      const open = await curl([...base, `${server.url}/socket.io/?EIO=4&transport=polling`]);
      assert.equal(open.code, 0, open.stderr);
      const [body, status] = open.stdout.split("\n");
      assert.match(body, /^0\{"sid":"[\w-]{20}","upgrades":\["websocket"\],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000\}$/);
      assert.equal(status, "2 200");
      const health = await curl([...base, `${server.url}/health`]);
      assert.equal(health.stdout, "ok\n2 200");
      // Without ALPN h2 the same port speaks HTTP/1.1.
      const h1 = await curl([...base.filter((a) => a !== "--http2"), "--http1.1", `${server.url}/health`]);
      assert.equal(h1.stdout, "ok\n1.1 200");
    });

    test("Node's http2 client: a whole Socket.IO session over HTTP/2 polling on one connection", async () => {
      const session = http2.connect(server.url, withClientCert);
      try {
        await once(session, "connect");
        assert.equal(session.alpnProtocol, "h2");
        const request = (method, path, body) =>
          new Promise((resolve, reject) => {
            const req = session.request({ ":method": method, ":path": path, "content-type": "text/plain;charset=UTF-8" });
            let data = "";
            let status;
            req.on("response", (headers) => (status = headers[":status"]));
            req.setEncoding("utf8");
            req.on("data", (c) => (data += c));
            req.on("end", () => resolve({ status, data }));
            req.on("error", reject);
            req.end(body);
          });
        const open = await request("GET", "/socket.io/?EIO=4&transport=polling");
        assert.equal(open.status, 200);
        const sid = JSON.parse(open.data.slice(1)).sid;
        const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
        assert.deepEqual(await request("POST", path, "40"), { status: 200, data: "ok" });
        const connect = await request("GET", path);
        assert.match(connect.data, /^40\{"sid":"[\w-]{20}"\}/);
        // The fixture emits `auth` right after the connect.
        const auth = connect.data.includes('42["auth"') ? connect.data : (await request("GET", path)).data;
        assert.match(auth, /42\["auth",\{\}\]/);
        assert.deepEqual(await request("POST", path, '421["peer-cert"]'), { status: 200, data: "ok" });
        const ack = await request("GET", path);
        assert.equal(ack.data, '431["client one"]');
      } finally {
        session.close();
      }
    });

    test("plain HTTP to the TLS port gets no HTTP answer, and the port still serves", async () => {
      const plain = await curl(["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=polling`]);
      assert.notEqual(plain.code, 0);
      assert.equal(plain.stdout, "000");
      const socket = client(server.url, { ...withClientCert, transports: ["websocket"] });
      await withTimeout(next(socket, "auth"), 5000, "auth after plain HTTP");
      socket.disconnect();
    });

    test("a TLS handshake that never finishes is closed at the handshake timeout (500 ms)", async () => {
      const silent = net.connect(server.port, "127.0.0.1");
      const stalled = net.connect(server.port, "127.0.0.1");
      await Promise.all([once(silent, "connect"), once(stalled, "connect")]);
      // A handshake record header announcing 512 bytes, then nothing.
      stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      const closed = Promise.all([once(silent, "close"), once(stalled, "close")]);
      // A good client meanwhile.
      const socket = client(server.url, { ...withClientCert, transports: ["websocket"] });
      await withTimeout(next(socket, "auth"), 5000, "auth while handshakes hang");
      socket.disconnect();
      await withTimeout(closed, 5000, "the server closing the stalled handshakes");
    });
  });
}
