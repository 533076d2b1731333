// What the interop test files share: starting and stopping the
// interop-server, the official client in each transport mode, and raw
// HTTP / WebSocket clients for input the official client never sends.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import http from "node:http";
import { io } from "socket.io-client";

export const SERVER = process.env.INTEROP_SERVER ?? "../../target/release/interop-server";
// The runtime the server runs on: tokio (its default), async-std or smol.
export const RUNTIME = process.env.INTEROP_RUNTIME ?? "tokio";

// The interop-server's settings the tests rely on.
export const PING_INTERVAL = 500;
export const PING_TIMEOUT = 400;
export const MAX_PAYLOAD = 100_000;

export const MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};

/**
 * Starts the interop-server on `port` (0: any) with extra command-line
 * `args`; resolves once it listens.
 */
export async function startServer(port = 0, env = {}, args = []) {
  const proc = spawn(SERVER, ["--port", String(port), "--runtime", RUNTIME, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const [line] = await Promise.race([
    once(proc.stdout, "data"),
    once(proc, "exit").then(() => {
      throw new Error("interop-server exited before listening");
    }),
  ]);
  const found = /listening (\d+)/.exec(line.toString())[1];
  return { proc, port: Number(found), url: `http://127.0.0.1:${found}` };
}

/** Kills the server and waits for the process to end. */
export async function stopServer(server, signal = "SIGKILL") {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  const exited = once(server.proc, "exit");
  server.proc.kill(signal);
  await exited;
}

/** The server's resident memory in KiB (Linux). */
export function rssKiB(server) {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

export function connect(url, mode, nsp = "/", opts = {}) {
  return io(url + nsp, { forceNew: true, reconnection: false, ...MODES[mode], ...opts });
}

export function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    }),
  ]);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The conformance fixture (servers/src/bin/conformance-fixture.rs). */
export const FIXTURE = process.env.FIXTURE_SERVER ?? "../../target/release/conformance-fixture";

/**
 * Starts the conformance fixture on RUNTIME on a free port of 127.0.0.1
 * with `extra` flags; resolves with its process, its URL and its port once
 * it listens. Its stderr (where panics are logged) is kept drained.
 */
export async function startFixture(extra = []) {
  const proc = spawn(
    FIXTURE,
    ["--runtime", RUNTIME, "--host", "127.0.0.1", "--port", "0", ...extra],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let seen = "";
  await withTimeout(
    (async () => {
      while (!/listening on 127\.0\.0\.1:\d+/.test(seen)) {
        const [chunk] = await once(proc.stderr, "data");
        seen += chunk.toString();
      }
    })(),
    10000,
    "fixture listening",
  );
  proc.stderr.resume();
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(seen)[1]);
  return { proc, url: `http://127.0.0.1:${port}`, port };
}

/**
 * A connected client of the main namespace that records every `left`
 * (socket id, reason) the server announces, and waits for ids.
 */
export async function watcher(url) {
  const socket = connect(url, "websocket");
  await withTimeout(next(socket, "auth"), 3000, "watcher auth");
  const left = new Map();
  const errors = [];
  socket.on("left", (id, reason) => left.set(id, reason));
  socket.on("socket-error", (id, message) => errors.push([id, message]));
  return {
    socket,
    errors,
    async reasonOf(id, ms = 3000) {
      await withTimeout(
        (async () => {
          while (!left.has(id)) await next(socket, "left");
        })(),
        ms,
        `left of ${id}`,
      );
      return left.get(id);
    },
    close: () => socket.disconnect(),
  };
}

/** One HTTP request without keep-alive: { status, headers, body }. */
export function httpRequest(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path, agent: false, headers: { "content-type": "text/plain;charset=UTF-8" } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A Socket.IO session over raw polling, joined to "/": { sid, socketId }. */
export async function rawPollingSocket(port) {
  const open = await httpRequest(port, "GET", "/socket.io/?EIO=4&transport=polling");
  const sid = JSON.parse(open.body.slice(1)).sid;
  const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  await httpRequest(port, "POST", path, "40");
  const reply = await httpRequest(port, "GET", path);
  const connect = reply.body.split("\x1e").find((p) => p.startsWith("40"));
  return { sid, path, socketId: JSON.parse(connect.slice(2)).sid, rest: reply.body };
}

/**
 * A WebSocket client over a bare TCP socket: it sends exactly the frames it
 * is told to (masked, as a client must), reads the server's frames, and can
 * stop reading altogether.
 */
export class RawWebSocket {
  static async open(port, path = "/socket.io/?EIO=4&transport=websocket") {
    const sock = net.connect(port, "127.0.0.1");
    await once(sock, "connect");
    const key = randomBytes(16).toString("base64");
    sock.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const ws = new RawWebSocket(sock);
    await withTimeout(ws.upgraded, 3000, "websocket upgrade");
    return ws;
  }

  constructor(sock) {
    this.sock = sock;
    this.buffer = Buffer.alloc(0);
    this.head = null;
    this.frames = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => sock.once("close", resolve));
    sock.on("error", () => {});
    this.upgraded = new Promise((resolve, reject) => {
      this.onHead = (head) => (head.startsWith("HTTP/1.1 101") ? resolve() : reject(new Error(head)));
    });
    sock.on("data", (chunk) => this.onData(chunk));
    sock.on("close", () => this.wake());
  }

  onData(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.head === null) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.buffer.subarray(0, end).toString();
      this.buffer = this.buffer.subarray(end + 4);
      this.onHead(this.head);
    }
    for (;;) {
      if (this.buffer.length < 2) break;
      const opcode = this.buffer[0] & 0x0f;
      let len = this.buffer[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (this.buffer.length < 4) break;
        len = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (this.buffer.length < 10) break;
        len = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + len) break;
      const data = this.buffer.subarray(offset, offset + len);
      this.buffer = this.buffer.subarray(offset + len);
      this.frames.push({ opcode, data });
    }
    this.wake();
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  /** The next frame: { opcode, data, text }, or null once the TCP connection closed. */
  async next(ms = 3000) {
    await withTimeout(
      (async () => {
        while (this.frames.length === 0 && !this.sock.destroyed && this.sock.readable) {
          await new Promise((r) => this.waiters.push(r));
        }
      })(),
      ms,
      "websocket frame",
    );
    const frame = this.frames.shift();
    if (!frame) return null;
    return { ...frame, text: frame.data.toString() };
  }

  /** Frames until one whose text starts with `prefix` (Engine.IO pings are skipped). */
  async nextText(prefix, ms = 3000) {
    for (;;) {
      const frame = await this.next(ms);
      if (frame === null) throw new Error(`closed before ${prefix}`);
      if (frame.opcode === 1 && frame.text.startsWith(prefix)) return frame.text;
    }
  }

  /** The arguments of the next event `name` (other frames skipped), offset included. */
  async nextEvent(name, ms = 3000) {
    const text = await this.nextText(`42["${name}"`, ms);
    return JSON.parse(text.slice(2)).slice(1);
  }

  /** The close frame's code, skipping other frames; null if TCP closed without one. */
  async closeCode(ms = 3000) {
    for (;;) {
      const frame = await this.next(ms);
      if (frame === null) return null;
      if (frame.opcode === 8) return frame.data.length >= 2 ? frame.data.readUInt16BE(0) : 1005;
    }
  }

  sendFrame(opcode, payload) {
    const mask = randomBytes(4);
    const len = payload.length;
    let header;
    if (len < 126) {
      header = Buffer.from([0x80 | opcode, 0x80 | len]);
    } else if (len < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = payload[i] ^ mask[i & 3];
    this.sock.write(Buffer.concat([header, mask, masked]));
  }

  send(text) {
    this.sendFrame(1, Buffer.from(text));
  }

  sendBinary(bytes) {
    this.sendFrame(2, Buffer.from(bytes));
  }

  /** Joins "/" and returns the socket id. */
  async joinMain() {
    await this.nextText("0{");
    this.send("40");
    const reply = await this.nextText("40");
    return JSON.parse(reply.slice(2)).sid;
  }

  /** Stops reading: the kernel buffers fill and the server's writes stall. */
  stopReading() {
    this.sock.pause();
  }

  destroy() {
    this.sock.destroy();
  }
}
