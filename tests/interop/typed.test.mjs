// The handler API end to end: the official client against namespace
// /typed of the interop server (servers/src/bin/shared/typed.rs), whose
// handlers take extractors: typed data (Data, TryData), the ack, the
// application state, the user a connection middleware stored in the
// socket's extensions, binary attachments; acks both ways, broadcast
// acks with the answers received, several handlers of one event. The
// server has connection state recovery on: every event it emits ends with
// its offset (as Node's does), which the comparisons below leave out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopServer, connect, next, withTimeout } from "./common.mjs";

let server;

before(async () => {
  server = await startServer();
});

after(() => stopServer(server));

async function join(user, mode = "websocket") {
  const socket = connect(server.url, mode, "/typed", { auth: { user } });
  const [hello] = await withTimeout(next(socket, "hello"), 3000, `${user} hello`);
  return { socket, hello };
}

for (const mode of ["websocket", "polling"]) {
  test(`${mode}: the middleware's user and the state reach the handlers; bad input does not run them`, async () => {
    const { socket: ann, hello } = await join("ann", mode);
    assert.equal(hello.user, "ann");
    const { socket: bob } = await join("bob", mode);
    try {
      assert.deepEqual(await ann.timeout(2000).emitWithAck("join", ["r1", "r2"]), [
        ann.id,
        "r1",
        "r2",
      ].sort());
      await bob.timeout(2000).emitWithAck("join", ["r1"]);
      const relayed = next(bob, "chat");
      const before = await ann.timeout(2000).emitWithAck("chat", { room: "r1", text: "hi" });
      assert.deepEqual((await withTimeout(relayed, 2000, "relayed"))[0], { from: "ann", text: "hi" });
      // The state counts across sockets.
      const after = await bob.timeout(2000).emitWithAck("chat", { room: "r2", text: "yo" });
      assert.equal(after, before + 1);
      // A malformed chat does not run the handler: no ack comes.
      await assert.rejects(ann.timeout(300).emitWithAck("chat", { room: 1 }), /operation has timed out/);
      // TryData hands the error to the handler.
      assert.deepEqual(await ann.timeout(2000).emitWithAck("validate", { room: "a", text: "b" }), {
        ok: true,
        room: "a",
      });
      assert.deepEqual(await ann.timeout(2000).emitWithAck("validate", { room: "a" }), {
        ok: false,
        error: "invalid arguments: missing field `text`",
      });
      assert.deepEqual(await ann.timeout(2000).emitWithAck("validate"), {
        ok: false,
        error: "missing argument",
      });
    } finally {
      ann.disconnect();
      bob.disconnect();
    }
  });
}

test("the middleware refuses a socket without a user, with its data", async () => {
  const socket = connect(server.url, "websocket", "/typed", { auth: {} });
  const [err] = await withTimeout(next(socket, "connect_error"), 3000, "connect_error");
  assert.equal(err.message, "user required");
  assert.deepEqual(err.data, { field: "user" });
  socket.disconnect();
});

test("a tuple is several arguments, a Vec one; two arguments in, two out", async () => {
  const { socket } = await join("cy");
  try {
    const one = next(socket, "one-array");
    const three = next(socket, "three-args");
    socket.emit("lists");
    const oneArgs = await withTimeout(one, 2000, "one-array");
    assert.deepEqual(oneArgs.slice(0, -1), [[1, 2, 3]]);
    assert.equal(typeof oneArgs.at(-1), "string", "the recovery offset");
    const threeArgs = await withTimeout(three, 2000, "three-args");
    assert.deepEqual(threeArgs.slice(0, -1), [1, 2, 3]);
    const answer = await new Promise((resolve) => socket.emit("sum", 2, 3, (...args) => resolve(args)));
    assert.deepEqual(answer, [5, "sum"]);
  } finally {
    socket.disconnect();
  }
});

test("the server's typed question: answered, answered in another shape, not answered", async () => {
  const { socket } = await join("dee");
  try {
    let reply = (q, ack) => ack({ n: 21 });
    socket.on("question", (q, ack) => reply(q, ack));
    let asked = next(socket, "asked");
    socket.emit("ask", 2000);
    assert.deepEqual((await withTimeout(asked, 3000, "asked")).slice(0, -1), [42]);
    reply = (q, ack) => ack("not an answer");
    let failed = next(socket, "asked-error");
    socket.emit("ask", 2000);
    const [kind] = await withTimeout(failed, 3000, "decode error");
    assert.equal(kind, "decode");
    reply = () => {};
    failed = next(socket, "asked-error");
    socket.emit("ask", 200);
    const timedOut = await withTimeout(failed, 3000, "timeout");
    assert.deepEqual(timedOut.slice(0, -1), ["other", "operation has timed out"]);
  } finally {
    socket.disconnect();
  }
});

test("a broadcast with acks gives the answers received and the timeout", async () => {
  const voters = await Promise.all(["v1", "v2", "v3"].map((u) => join(u)));
  try {
    for (const { socket } of voters) await socket.timeout(2000).emitWithAck("join", ["poll"]);
    voters[0].socket.on("vote", (ack) => ack("yes"));
    voters[1].socket.on("vote", (ack) => ack("no"));
    // The third never answers.
    voters[2].socket.on("vote", () => {});
    const result = await voters[0].socket.timeout(3000).emitWithAck("poll", 300);
    assert.deepEqual(result, { err: "operation has timed out", answers: ["no", "yes"] });
    voters[2].socket.off("vote");
    voters[2].socket.on("vote", (ack) => ack("late"));
    const all = await voters[0].socket.timeout(3000).emitWithAck("poll", 1000);
    assert.deepEqual(all, { err: null, answers: ["late", "no", "yes"] });
  } finally {
    for (const { socket } of voters) socket.disconnect();
  }
});

test("binary in and out; several handlers of one event in order; AckSender only with a callback", async () => {
  const { socket } = await join("eve");
  try {
    const [name, size, file] = await new Promise((resolve) =>
      socket.emit("file", "a.bin", Buffer.from([1, 2, 3, 4]), (...args) => resolve(args)),
    );
    assert.equal(name, "a.bin");
    assert.equal(size, 4);
    assert.deepEqual([...new Uint8Array(file)], [1, 2, 3, 4]);
    const order = [];
    socket.on("order", (which) => order.push(which));
    const done = await socket.timeout(2000).emitWithAck("twice");
    assert.equal(done, "done");
    assert.deepEqual(order, ["first", "second"]);
    // Without a callback, the handler that takes an AckSender does not
    // run; the other one does.
    socket.emit("twice");
    assert.equal(await socket.timeout(2000).emitWithAck("twice"), "done");
    assert.deepEqual(order, ["first", "second", "first", "first", "second"]);
  } finally {
    socket.disconnect();
  }
});

test("packet middleware, error handler and on_any take extractors: exact frames", async () => {
  const { socket: eve } = await join("eve");
  const { socket: root } = await join("root");
  try {
    // The Socket.IO packets each client receives (its Engine.IO messages).
    const frames = [];
    eve.io.engine.on("packet", (p) => p.type === "message" && frames.push(p.data));
    const rootFrames = [];
    root.io.engine.on("packet", (p) => p.type === "message" && rootFrames.push(p.data));
    // Refused by the middleware (Event + Extension<User>): no ack, the
    // error handler (ErrorMessage) emits the reason.
    const refused = next(eve, "refused");
    await assert.rejects(eve.timeout(300).emitWithAck("admin:kick", "bob"), /operation has timed out/);
    const [reason, offset] = await withTimeout(refused, 2000, "refused");
    assert.equal(reason, "admin:kick: eve may not");
    assert.deepEqual(frames, [`2/typed,${JSON.stringify(["refused", reason, offset])}`]);
    // Let through for root: the handler answers (two arguments; the
    // client's promise gives the first, the frame shows both).
    assert.equal(await root.timeout(2000).emitWithAck("admin:kick", "bob"), "kicked");
    assert.deepEqual(rootFrames, ['3/typed,0["kicked","bob"]']);
    // on_any with Data<Probe>: a probe of another shape, or none, does not
    // run it; the next good probe is the only frame.
    frames.length = 0;
    eve.emit("ping", { probe: 5 });
    eve.emit("ping");
    const probed = next(eve, "probed");
    eve.emit("ping", { probe: "p1" });
    const args = await withTimeout(probed, 2000, "probed");
    assert.deepEqual(args.slice(0, 3), ["ping", "p1", "eve"]);
    assert.deepEqual(frames, [`2/typed,${JSON.stringify(["probed", ...args])}`]);
  } finally {
    eve.disconnect();
    root.disconnect();
  }
});
