// Node's http-proxy (npm) in front of one node.
// Run: node http-proxy-single.mjs PORT LOG_FILE NODE_PORT
import http from "node:http";
import { appendFileSync } from "node:fs";
import httpProxy from "http-proxy";

const [port, log, node] = process.argv.slice(2);
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${node}`, ws: true });
proxy.on("proxyRes", (res, req) => appendFileSync(log, `status=${res.statusCode} ${req.method} ${req.url}\n`));
// A WebSocket the node accepted (101).
proxy.on("open", () => appendFileSync(log, "status=101 websocket\n"));
proxy.on("error", (err, req, res) => {
  appendFileSync(log, `status=502 ${req.method} ${req.url} ${err.code}\n`);
  if (res.writeHead && !res.headersSent) res.writeHead(502).end();
  else res.destroy?.();
});

const server = http.createServer((req, res) => proxy.web(req, res));
// WebSocket upgrades go through too.
server.on("upgrade", (req, socket, head) => proxy.ws(req, socket, head));
server.listen(Number(port), "127.0.0.1", () => console.log(`proxy listening ${port}`));
