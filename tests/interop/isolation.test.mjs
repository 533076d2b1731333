// Handlers that panic or block harm no one else: the official client
// against the conformance fixture (servers/src/bin/conformance-fixture.rs)
// on the runtime INTEROP_RUNTIME names (tokio, async-std or smol), with two
// worker threads, so that a blocked thread leaves another to serve.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, next, withTimeout, httpRequest, startFixture } from "./common.mjs";

let fixture;
let url;
let port;

before(async () => {
  ({ proc: fixture, url, port } = await startFixture(["--workers", "2"]));
});

after(() => fixture.kill("SIGKILL"));

// First, while no other session is open.
test("every handshake response carries x-clients-count, read by the headers hook", async () => {
  const first = await httpRequest(port, "GET", "/socket.io/?EIO=4&transport=polling");
  assert.equal(first.status, 200);
  assert.equal(first.headers["x-clients-count"], "0");
  const second = await httpRequest(port, "GET", "/socket.io/?EIO=4&transport=polling");
  assert.equal(second.headers["x-clients-count"], "1");
  // Not on the requests of an open session.
  const sid = JSON.parse(second.body.slice(1)).sid;
  const post = await httpRequest(port, "POST", `/socket.io/?EIO=4&transport=polling&sid=${sid}`, "1");
  assert.equal(post.status, 200);
  assert.equal(post.headers["x-clients-count"], undefined);
});

for (const mode of ["websocket", "polling"]) {
  for (const event of ["panic", "panic-async"]) {
    test(`${mode}: a handler that panics (${event}) ends that call only; its socket stays`, async () => {
      const socket = connect(url, mode);
      const other = connect(url, mode);
      await withTimeout(Promise.all([next(socket, "auth"), next(other, "auth")]), 3000, "auth");
      let disconnected = false;
      socket.on("disconnect", () => (disconnected = true));
      socket.emit(event);
      await withTimeout(next(socket, "about-to-panic"), 3000, "about-to-panic");
      const still = await withTimeout(
        socket.emitWithAck("message-with-ack", "still here"),
        3000,
        "ack after the panic",
      );
      assert.equal(still, "still here");
      const fine = await withTimeout(other.emitWithAck("message-with-ack", 2), 3000, "other socket");
      assert.equal(fine, 2);
      assert.equal(disconnected, false);
      assert.ok(socket.connected);
      socket.disconnect();
      other.disconnect();
    });
  }

  test(`${mode}: a panicking connection middleware gives its client a CONNECT_ERROR`, async () => {
    const socket = connect(url, mode, "/panic");
    const [error] = await withTimeout(next(socket, "connect_error"), 3000, "connect_error");
    assert.equal(error.message, "Internal server error");
    socket.disconnect();
    const main = connect(url, mode);
    await withTimeout(next(main, "auth"), 3000, "main namespace after the panic");
    main.disconnect();
  });
}

test("a blocking handler stalls only its own socket", async () => {
  const slow = connect(url, "websocket");
  const fast = connect(url, "websocket");
  await withTimeout(Promise.all([next(slow, "auth"), next(fast, "auth")]), 3000, "auth");
  let unblocked = false;
  const blocked = slow.emitWithAck("block", 2000).then((answer) => {
    unblocked = true;
    return answer;
  });
  // The slow socket's own next event waits for its handler (arrival order).
  const after = slow.emitWithAck("message-with-ack", "after the block");
  // Let the block start on the server (a wait, not an assertion on time).
  await new Promise((r) => setTimeout(r, 200));
  const prompt = await withTimeout(fast.emitWithAck("message-with-ack", "prompt"), 5000, "fast ack");
  assert.equal(prompt, "prompt");
  assert.equal(unblocked, false, "the other socket was answered before the block ended");
  assert.equal(await withTimeout(blocked, 5000, "unblocked"), "unblocked");
  assert.equal(await withTimeout(after, 3000, "after"), "after the block");
  slow.disconnect();
  fast.disconnect();
});
