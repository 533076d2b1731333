// Node's http-proxy (npm) in front of several nodes, sticky by a cookie
// the proxy sets (`srv`, the index of the node that served the first
// request). http-proxy has no balancer of its own: these lines are it.
// Run: node http-proxy-cluster.mjs PORT LOG_FILE NODE_PORT...
import http from "node:http";
import { appendFileSync } from "node:fs";
import httpProxy from "http-proxy";

const [port, log, ...nodes] = process.argv.slice(2);
const targets = nodes.map((p) => `http://127.0.0.1:${p}`);
const proxy = httpProxy.createProxyServer({ ws: true });
let turn = 0;

/** The node a request goes to: the one its cookie names, or the next in turn. */
function pick(req) {
  const match = /(?:^|;\s*)srv=(\d+)/.exec(req.headers.cookie ?? "");
  const index = match && Number(match[1]) < targets.length ? Number(match[1]) : null;
  if (index !== null) return { index, fresh: false };
  turn = (turn + 1) % targets.length;
  return { index: turn, fresh: true };
}

proxy.on("proxyRes", (res, req) => {
  appendFileSync(log, `status=${res.statusCode} ${req.method} ${req.url}\n`);
  if (req.sticky?.fresh) {
    const cookie = `srv=${req.sticky.index}; Path=/; HttpOnly; SameSite=Lax`;
    res.headers["set-cookie"] = [...(res.headers["set-cookie"] ?? []), cookie];
  }
});
// A WebSocket the node accepted (101).
proxy.on("open", () => appendFileSync(log, "status=101 websocket\n"));
proxy.on("error", (err, req, res) => {
  appendFileSync(log, `status=502 ${req.method} ${req.url} ${err.code}\n`);
  if (res.writeHead && !res.headersSent) res.writeHead(502).end();
  else res.destroy?.();
});

const server = http.createServer((req, res) => {
  req.sticky = pick(req);
  proxy.web(req, res, { target: targets[req.sticky.index] });
});
server.on("upgrade", (req, socket, head) => {
  proxy.ws(req, socket, head, { target: targets[pick(req).index] });
});
server.listen(Number(port), "127.0.0.1", () => console.log(`proxy listening ${port}`));
