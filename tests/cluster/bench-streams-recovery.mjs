// The delivery bench of the streams adapter with connection state recovery:
// two nodes on one redis-server, clients on both, broadcasts flowing from
// both nodes while every client is dropped every few seconds (its transport
// killed) and comes back on the other node. Counts, per client, the
// broadcasts it got (once, and twice), against what was sent.
//
//   node bench-streams-recovery.mjs [--pair tokio,node] [--clients 40] [--seconds 30] [--rate 100]
//
// Prints one Markdown table row per run; bench/results/streams-recovery.md
// records them. Not part of `npm test` (no timed assertion: it measures).
import { io } from "socket.io-client";
import { Redis, ClusterNode, client, closeClients } from "./common.mjs";

const opts = { pair: "tokio,node", clients: 40, seconds: 30, rate: 100 };
for (let i = 2; i < process.argv.length; i += 2) opts[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const [kindA, kindB] = opts.pair.split(",");
const CLIENTS = Number(opts.clients);
const SECONDS = Number(opts.seconds);
const RATE = Number(opts.rate);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const between = (lo, hi) => lo + Math.random() * (hi - lo);

const redis = await new Redis().start();
const nodes = await Promise.all(
  [kindA, kindB].map((kind, i) => new ClusterNode(kind, `${kind}-${i}`, redis.url, [], "streams").start()),
);
const senders = await Promise.all(nodes.map((n) => client(n, `sender-${n.name}`)));

const clients = [];
for (let i = 0; i < CLIENTS; i++) {
  const home = i % 2;
  const socket = io(nodes[home].url, { transports: ["websocket"], reconnection: false, forceNew: true });
  socket.home = home;
  socket.counts = new Map();
  socket.drops = 0;
  socket.recoveries = 0;
  socket.on("tick", (n) => socket.counts.set(n, (socket.counts.get(n) ?? 0) + 1));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  clients.push(socket);
}

let running = true;
/** Every 2-5 s: kill the transport, wait 0.5-1.5 s (a client's reconnection delay), come back on the other node. */
async function churn(socket) {
  while (running) {
    await sleep(between(2000, 5000));
    if (!running) break;
    const gone = new Promise((r) => socket.once("disconnect", r));
    socket.io.engine.close();
    await gone;
    socket.drops++;
    await sleep(between(500, 1500));
    socket.home = 1 - socket.home;
    socket.io.uri = nodes[socket.home].url;
    const back = new Promise((resolve) => {
      socket.once("connect", () => resolve(true));
      socket.once("connect_error", (e) => { socket.lastError = e.message; resolve(false); });
    });
    socket.connect();
    if (await back) {
      if (socket.recovered) socket.recoveries++;
      else console.error(`not recovered: to ${nodes[socket.home].name}, offset ${socket._lastOffset}`);
    } else {
      console.error(`connect_error on ${nodes[socket.home].name}: ${socket.lastError}; its stderr: ${nodes[socket.home].stderr.slice(0, 2000)}; exit ${nodes[socket.home].child.exitCode}`);
    }
  }
}
const churning = clients.map(churn);

// The broadcasts, from both nodes alternately, at RATE per second.
let sent = 0;
const started = Date.now();
const total = SECONDS * RATE;
while (sent < total) {
  const due = Math.floor(((Date.now() - started) / 1000) * RATE);
  while (sent < Math.min(due, total)) {
    senders[sent % 2].emit("emit", { event: "tick", args: [sent] }, () => {});
    sent++;
  }
  await sleep(5);
}
running = false;
await Promise.all(churning);
// Everyone connected again: the end marker, then count.
for (const c of clients) {
  if (!c.connected) {
    const back = new Promise((r) => c.once("connect", r));
    c.connect();
    await back;
  }
}
const ended = Promise.all(clients.map((c) => new Promise((r) => c.once("end", r))));
await senders[0].emitWithAck("emit", { event: "end", args: [] });
await Promise.race([ended, sleep(20000)]);

let delivered = 0;
let twice = 0;
for (const c of clients) {
  for (const [, n] of c.counts) {
    delivered++;
    if (n > 1) twice += n - 1;
  }
}
const expected = sent * CLIENTS;
const drops = clients.reduce((a, c) => a + c.drops, 0);
const recoveries = clients.reduce((a, c) => a + c.recoveries, 0);
const pct = ((100 * delivered) / expected).toFixed(3);
console.log(
  `| ${kindA} + ${kindB} | ${CLIENTS} | ${SECONDS} s x ${RATE}/s = ${sent} | ${drops} | ${recoveries} | ${delivered} / ${expected} (${pct} %) | ${twice} |`,
);
for (const c of clients) c.close();
closeClients();
await Promise.all(nodes.map((n) => n.stop()));
for (const n of nodes) {
  const errors = n.stderr.split("\n").filter((l) => l.trim()).slice(0, 5);
  if (errors.length) console.error(`${n.name} stderr:`, errors.join("\n"));
}
await redis.close();
process.exit(0);
