// The official Node Socket.IO server for the benchmark: default options
// (ws engine) except the heartbeat the harness gives every server, and what
// the flags turn on.
//   node server.js --port 0 [--ping-interval-ms N] [--ping-timeout-ms N]
//                  [--per-message-deflate off|on|takeover] [--parser json|msgpack]
//                  [--tls-cert FILE --tls-key FILE] [--redis redis://HOST:PORT]
// --per-message-deflate on: threshold 1024 without context takeover (our
// default when on); takeover: ws's default when perMessageDeflate is on
// (context kept by both sides). --parser msgpack: npm socket.io-msgpack-parser.
// --tls-cert/--tls-key: https.createServer. --redis: @socket.io/redis-adapter
// (classic createAdapter, its defaults) on two node-redis clients; the port is
// announced once both are connected.
"use strict";
const fs = require("fs");
const { Server } = require("socket.io");

const args = {
  port: 0, pingInterval: 25000, pingTimeout: 20000,
  deflate: "off", parser: "json", cert: null, key: null, redis: null,
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const value = argv[i + 1];
  switch (argv[i]) {
    case "--port": args.port = Number(value); break;
    case "--ping-interval-ms": args.pingInterval = Number(value); break;
    case "--ping-timeout-ms": args.pingTimeout = Number(value); break;
    case "--per-message-deflate": args.deflate = value; break;
    case "--parser": args.parser = value; break;
    case "--tls-cert": args.cert = value; break;
    case "--tls-key": args.key = value; break;
    case "--redis": args.redis = value; break;
    default: console.error(`unknown flag ${argv[i]}`); process.exit(2);
  }
}

const options = { pingInterval: args.pingInterval, pingTimeout: args.pingTimeout };
if (args.deflate === "on" || args.deflate === "takeover") {
  const off = args.deflate === "on";
  options.perMessageDeflate = {
    threshold: 1024,
    serverNoContextTakeover: off,
    clientNoContextTakeover: off,
  };
} else if (args.deflate !== "off") {
  console.error(`--per-message-deflate: off, on or takeover`); process.exit(2);
}
if (args.parser === "msgpack") {
  options.parser = require("socket.io-msgpack-parser");
} else if (args.parser !== "json") {
  console.error(`--parser: json or msgpack`); process.exit(2);
}

const httpServer = args.cert
  ? require("https").createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) })
  : require("http").createServer();
const io = new Server(httpServer, options);

io.on("connection", (socket) => {
  socket.join("all");
  socket.on("echo", (...a) => socket.emit("echo", ...a));
  socket.on("echo-ack", (...a) => {
    const ack = a.pop();
    if (typeof ack === "function") ack(...a);
  });
  socket.on("broadcast", (...a) => io.to("all").emit("broadcast", ...a));
});

async function main() {
  if (args.redis) {
    const { createAdapter } = require("@socket.io/redis-adapter");
    const { createClient } = require("redis");
    const pub = createClient({ url: args.redis });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  httpServer.listen(args.port, "127.0.0.1", () => {
    console.log(`listening ${httpServer.address().port}`);
  });
}
main().catch((e) => { console.error(e); process.exit(1); });
