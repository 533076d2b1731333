// The official Node Socket.IO server for the benchmark: default options
// (ws engine) except the heartbeat the harness gives every server.
//   node server.js --port 0 [--ping-interval-ms N] [--ping-timeout-ms N]
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const args = { port: 0, pingInterval: 25000, pingTimeout: 20000 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const value = Number(argv[i + 1]);
  switch (argv[i]) {
    case "--port": args.port = value; break;
    case "--ping-interval-ms": args.pingInterval = value; break;
    case "--ping-timeout-ms": args.pingTimeout = value; break;
    default: console.error(`unknown flag ${argv[i]}`); process.exit(2);
  }
}

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: args.pingInterval,
  pingTimeout: args.pingTimeout,
});

io.on("connection", (socket) => {
  socket.join("all");
  socket.on("echo", (...a) => socket.emit("echo", ...a));
  socket.on("echo-ack", (...a) => {
    const ack = a.pop();
    if (typeof ack === "function") ack(...a);
  });
  socket.on("broadcast", (...a) => io.to("all").emit("broadcast", ...a));
});

httpServer.listen(args.port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});
