// The fixture's HTTP surface, the same on the Rust binary and the Node
// twin: `--path` serves Socket.IO there only (404 elsewhere), GET / HEAD
// `/health` answer 200, `--cookie io` sets the sticky-session cookie on the
// polling handshake, SIGTERM exits 0. (Reverse-proxy tests rely on these.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { Redis, ClusterNode } from "./common.mjs";

const redis = new Redis();
before(() => redis.start());
after(() => redis.close());

for (const kind of ["tokio", "node"]) {
  test(`${kind} fixture: --path, /health, --cookie, SIGTERM`, async () => {
    const node = await new ClusterNode(kind, `http-${kind}`, redis.url, ["--path", "/custom/", "--cookie", "io"]).start();
    try {
      for (const method of ["GET", "HEAD"]) {
        const res = await fetch(`${node.url}/health`, { method });
        assert.equal(res.status, 200, `${method} /health`);
      }
      const elsewhere = await fetch(`${node.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(elsewhere.status, 404, "Socket.IO only under --path");
      const open = await fetch(`${node.url}/custom/?EIO=4&transport=polling`);
      assert.equal(open.status, 200);
      const body = await open.text();
      const { sid } = JSON.parse(body.slice(1));
      assert.equal(open.headers.get("set-cookie"), `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
      // Not on the next requests of the session.
      const poll = fetch(`${node.url}/custom/?EIO=4&transport=polling&sid=${sid}`);
      const post = await fetch(`${node.url}/custom/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "40" });
      assert.equal(post.status, 200);
      assert.equal(post.headers.get("set-cookie"), null);
      assert.equal((await poll).headers.get("set-cookie"), null);
      const socket = io(node.url, { path: "/custom/", transports: ["websocket"], reconnection: false });
      assert.equal(await socket.emitWithAck("whoami"), `http-${kind}`);
      socket.close();
    } finally {
      assert.equal(await node.stop("SIGTERM"), 0, "SIGTERM: exit 0");
    }
  });
}
