// The Node twin of `cluster-fixture` (servers/src/bin/cluster-fixture.rs):
// the same command line and the same handlers, on npm socket.io 4.8 with
// @socket.io/redis-adapter 8.3 (classic: createAdapter with its defaults;
// sharded: createShardedAdapter with its defaults, on a Redis Cluster when
// --redis lists several nodes separated by commas; streams:
// @socket.io/redis-streams-adapter 0.3.1's createAdapter with its defaults
// and connection state recovery on, maxDisconnectionDuration 120 s).
//
//   node fixture.mjs --port P --redis redis://127.0.0.1:R --adapter classic|sharded|streams --name NAME [--cookie io] [--path /socket.io/]
//
// Prints `listening <port>` once ready; SIGTERM / SIGINT close and exit 0.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient, createCluster } from "redis";

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
      ? createShardedAdapter(pub, sub)
      : args.adapter === "streams"
        ? createStreamsAdapter(pub)
        : createAdapter(pub, sub),
  connectionStateRecovery:
    args.adapter === "streams" ? { maxDisconnectionDuration: 120_000, skipMiddlewares: true } : undefined,
  cookie: args.cookie
    ? { name: args.cookie, path: "/", httpOnly: true, sameSite: "lax" }
    : false,
});

const select = (req) => {
  let op = io.in(req?.rooms ?? []);
  if (req?.except?.length) op = op.except(req.except);
  return op;
};
const sorted = (list) => [...list].sort();

io.on("connection", (socket) => {
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
    select(req).emit(req.event, ...(req.args ?? []));
    ack();
  });
  socket.on("fetch", async (req, ack) => {
    try {
      const sockets = await select(req).fetchSockets();
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
      ack({ err: err ? err.message : null, responses: err ? [] : sorted(responses) });
    });
  });
  socket.on("sockets-join", (req, ack) => {
    select(req).socketsJoin(req.room);
    ack();
  });
  socket.on("sockets-leave", (req, ack) => {
    select(req).socketsLeave(req.room);
    ack();
  });
  socket.on("disconnect-sockets", (req, ack) => {
    ack();
    select(req).disconnectSockets(true);
  });
  socket.on("ask", (req, ack) => {
    select(req)
      .timeout(3000)
      .emit("question", NAME, (err, answers) => {
        ack({ err: err ? err.message : null, answers: err ? [] : sorted(answers) });
      });
  });
});

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
