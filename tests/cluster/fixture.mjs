// The Node twin of `cluster-fixture` (servers/src/bin/cluster-fixture.rs):
// the same command line and the same handlers, on npm socket.io 4.8 with
// @socket.io/redis-adapter 8.3 (classic: createAdapter with its defaults;
// sharded: createShardedAdapter with its defaults, on a Redis Cluster when
// --redis lists several nodes separated by commas; streams:
// @socket.io/redis-streams-adapter 0.3.1's createAdapter with its defaults
// and connection state recovery on, maxDisconnectionDuration 120 s).
//
//   node fixture.mjs --port P --redis redis://127.0.0.1:R --adapter classic|sharded|streams --name NAME [--cookie io] [--path /socket.io/]
//                    [--subscription-mode static|dynamic|dynamic-private] [--admin none]
//
// As the Rust binary: the dynamic namespaces /dyn-<word> with the same
// handlers, the `remote` event (RemoteSocket emit / join / leave /
// disconnect on the fetched sockets), the sharded adapter's
// subscriptionMode, and @socket.io/admin-ui's instrument (no auth, server
// id NAME).
//
// Prints `listening <port>` once ready; SIGTERM / SIGINT close and exit 0.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient, createCluster } from "redis";
import { instrument } from "@socket.io/admin-ui";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
}
for (const required of ["port", "redis", "adapter", "name"]) {
  if (args[required] === undefined) {
    console.error(`--${required} is required`);
    process.exit(2);
  }
}
if (!["classic", "sharded", "streams"].includes(args.adapter)) {
  console.error(`--adapter ${args.adapter}: not yet`);
  process.exit(2);
}
const NAME = args.name;
const path = args.path ?? "/socket.io/";

const urls = args.redis.split(",");
const pub =
  urls.length > 1
    ? createCluster({ rootNodes: urls.map((url) => ({ url })) })
    : createClient({ url: args.redis });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on("error", (e) => console.error("redis:", e.message));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer((req, res) => {
  if (req.url.startsWith(path)) return; // socket.io answers
  if (req.url === "/health" || req.url.startsWith("/health?")) {
    res.writeHead(req.method === "GET" || req.method === "HEAD" ? 200 : 405);
    return res.end(req.method === "GET" ? "ok" : undefined);
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(http, {
  path,
  adapter:
    args.adapter === "sharded"
      ? createShardedAdapter(pub, sub, args["subscription-mode"] ? { subscriptionMode: args["subscription-mode"] } : {})
      : args.adapter === "streams"
        ? createStreamsAdapter(pub)
        : createAdapter(pub, sub),
  connectionStateRecovery:
    args.adapter === "streams" ? { maxDisconnectionDuration: 120_000, skipMiddlewares: true } : undefined,
  cookie: args.cookie
    ? { name: args.cookie, path: "/", httpOnly: true, sameSite: "lax" }
    : false,
});

if (args.admin === "none") {
  instrument(io, { auth: false, mode: "development", serverId: NAME });
}

// The rooms (and exceptions) of a request, on the socket's namespace.
const select = (socket, req) => {
  let op = socket.nsp.in(req?.rooms ?? []);
  if (req?.except?.length) op = op.except(req.except);
  return op;
};
const sorted = (list) => [...list].sort();

const onConnection = (socket) => {
  const auth = socket.handshake.auth ?? {};
  if (!socket.recovered) {
    socket.data = { node: NAME, name: auth.name ?? null };
    for (const room of auth.rooms ?? []) socket.join(room);
  }
  socket.on("whoami", (ack) => ack(NAME));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack();
  });
  socket.on("emit", (req, ack) => {
    select(socket, req).emit(req.event, ...(req.args ?? []));
    ack();
  });
  socket.on("fetch", async (req, ack) => {
    try {
      const sockets = await select(socket, req).fetchSockets();
      ack(
        sockets
          .map((s) => ({ id: s.id, rooms: sorted(s.rooms), data: s.data }))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      );
    } catch (e) {
      ack({ err: e.message });
    }
  });
  socket.on("sse", (...argv) => {
    const ack = argv.pop();
    io.serverSideEmit("ping", ...argv, (err, responses) => {
      // On a timeout Node's adapters give the error and the answers that came.
      ack({ err: err ? err.message : null, responses: sorted(responses ?? []) });
    });
  });
  socket.on("sockets-join", (req, ack) => {
    select(socket, req).socketsJoin(req.room);
    ack();
  });
  socket.on("sockets-leave", (req, ack) => {
    select(socket, req).socketsLeave(req.room);
    ack();
  });
  socket.on("disconnect-sockets", (req, ack) => {
    ack();
    select(socket, req).disconnectSockets(true);
  });
  socket.on("remote", async (req, ack) => {
    let sockets;
    try {
      sockets = await select(socket, req).fetchSockets();
    } catch (e) {
      return ack({ err: e.message });
    }
    const ids = sockets.map((s) => s.id).sort();
    if (req.op === "disconnect") ack(ids);
    for (const s of sockets) {
      if (req.op === "emit") s.emit(req.event, ...(req.args ?? []));
      else if (req.op === "join") s.join(req.room);
      else if (req.op === "leave") s.leave(req.room);
      else if (req.op === "disconnect") s.disconnect(true);
    }
    if (req.op !== "disconnect") ack(ids);
  });
  socket.on("ask", (req, ack) => {
    select(socket, req)
      .timeout(3000)
      .emit("question", NAME, (err, answers) => {
        ack({ err: err ? err.message : null, answers: err ? [] : sorted(answers) });
      });
  });
};
io.on("connection", onConnection);
io.of(/^\/dyn-\w+$/).on("connection", onConnection);

io.on("ping", (...argv) => {
  const cb = argv.pop();
  cb(`pong ${NAME} ${JSON.stringify(argv)}`);
});

http.listen(Number(args.port), "127.0.0.1", () => {
  console.log(`listening ${http.address().port}`);
});

const stop = () => {
  io.close(() => {
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
