// The demo's chat page in a real browser (Debian's chromium, headless,
// with no internet: every request that leaves the demo's origin is
// refused): two pages chat, see each other typing, switch rooms, send an
// image that arrives byte for byte, and recover their connection both after
// a dropped transport and after a page reload. Screenshots go to the output
// folder (see common.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync, crc32 } from "node:zlib";

import { startDemo, launch, offlinePage, screenshot, logShows, stateIs, outputDir } from "./common.mjs";

let demo;
let browser;
let alice;
let bob;

/** A `size`×`size` RGB PNG with a diagonal gradient (a real image file). */
function png(size) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "latin1");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, "latin1"), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      row[1 + x * 3] = (x * 255) / size;
      row[2 + x * 3] = (y * 255) / size;
      row[3 + x * 3] = 160;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Types in `page` (brought to the front: a background tab does not render). */
async function type(page, text) {
  await page.bringToFront();
  await page.type("#m", text);
}

async function click(page, selector) {
  await page.bringToFront();
  await page.click(selector);
}

async function send(page, text) {
  await type(page, text);
  await click(page, "#f button");
}

before(async () => {
  demo = await startDemo();
  browser = await launch();
  alice = await offlinePage(browser, demo.url);
  bob = await offlinePage(browser, demo.url);
  await alice.goto(`${demo.url}/?nick=alice`);
  await bob.goto(`${demo.url}/?nick=bob`);
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

test("the page loads the client from our server and connects, then upgrades to WebSocket", async () => {
  for (const page of [alice, bob]) {
    await stateIs(page, "connected");
    await stateIs(page, "connected · websocket (upgraded)");
    // Polling first, then the upgrade (which may come before or after the
    // namespace is connected).
    const states = await page.evaluate(() => window.chatStates);
    assert.deepEqual(states.slice(0, 2), ["connecting", "connecting · polling"]);
    assert.ok(
      ["connected · polling", "connecting · websocket (upgraded)"].includes(states[2]),
      states.join(" / "),
    );
    assert.equal(states.at(-1), "connected · websocket (upgraded)");
    const script = await page.evaluate(() => document.querySelector("script[src]").src);
    assert.equal(script, `${demo.url}/socket.io/socket.io.js`);
    assert.equal(await page.evaluate(() => typeof io), "function");
  }
  await logShows(alice, "you are alice in #lobby");
  await logShows(bob, "you are bob in #lobby (2 here)");
  assert.deepEqual(alice.foreign, []);
  assert.deepEqual(bob.foreign, []);
});

test("two pages chat, with a typing indicator", async () => {
  await type(alice, "hello b");
  await bob.waitForFunction(() => document.getElementById("typing").textContent === "alice is typing…", {
    timeout: 15000,
    polling: "mutation",
  });
  await type(alice, "ob");
  await click(alice, "#f button");
  await logShows(bob, "alice: hello bob");
  await bob.waitForFunction(() => document.getElementById("typing").textContent === "", {
    timeout: 15000,
    polling: "mutation",
  });
  await send(bob, "hi alice");
  await logShows(alice, "bob: hi alice");
  await screenshot(alice, "chat-alice");
  await screenshot(bob, "chat-bob");
});

test("rooms: a message reaches only the room it is sent in", async () => {
  await click(bob, '#rooms button[data-room="rust"]');
  await logShows(bob, "you are bob in #rust (1 here)");
  await logShows(alice, "bob left #lobby");
  await send(alice, "anyone in lobby?");
  await click(alice, '#rooms button[data-room="rust"]');
  await logShows(alice, "you are alice in #rust (2 here)");
  await send(alice, "found you in rust");
  await logShows(bob, "alice: found you in rust");
  const lines = await bob.evaluate(() => [...document.querySelectorAll("#log li")].map((li) => li.textContent));
  assert.ok(!lines.some((l) => l.includes("anyone in lobby?")), lines.join("\n"));
});

test("an image crosses as binary and arrives byte for byte", async () => {
  const image = png(48);
  const file = join(outputDir, "sent.png");
  writeFileSync(file, image);
  await alice.bringToFront();
  const input = await alice.$("#file");
  await input.uploadFile(file);
  await click(alice, "#f button");
  const img = await bob.waitForSelector('#log img[alt="image from alice"]', { timeout: 15000 });
  await bob.bringToFront();
  const received = await img.evaluate(async (el) => {
    await el.decode();
    const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
    return { width: el.naturalWidth, height: el.naturalHeight, bytes: Array.from(bytes) };
  });
  assert.equal(received.width, 48);
  assert.equal(received.height, 48);
  assert.deepEqual(Buffer.from(received.bytes), image);
  await screenshot(bob, "image-bob");
});

test("a dropped transport reconnects and recovers, missed messages delivered", async () => {
  // Reconnect after 3 s rather than about 1 s, so the drop can be seen.
  await bob.evaluate(() => {
    socket.io.reconnectionDelay(3000);
    socket.io.randomizationFactor(0);
    socket.io.engine.close();
  });
  // The client closed its own transport: it calls that a forced close; the
  // server sees the transport close.
  await stateIs(bob, "disconnected · forced close");
  await logShows(alice, "bob dropped (transport close)");
  await send(alice, "sent while bob was away");
  await stateIs(bob, "reconnecting · attempt 1");
  await stateIs(bob, "recovered");
  await logShows(bob, "connection recovered");
  await logShows(bob, "alice: sent while bob was away");
  await logShows(alice, "bob is back (connection recovered)");
  // Still in #rust with the same nickname: recovery restored rooms and data.
  await send(alice, "still here?");
  await logShows(bob, "alice: still here?");
});

test("a page reloads and recovers its session", async () => {
  const before = await bob.evaluate(() => socket.id);
  await bob.goto("about:blank");
  await logShows(alice, "bob dropped (transport close)", 2);
  await send(alice, "sent during the reload");
  await bob.goto(`${demo.url}/`);
  await stateIs(bob, "recovered");
  assert.equal(await bob.evaluate(() => socket.id), before);
  await logShows(bob, "alice: sent during the reload");
  await stateIs(bob, "recovered · websocket (upgraded)");
  // Its nickname and room came back with the session.
  assert.equal(await bob.evaluate(() => document.querySelector('#rooms button[aria-pressed="true"]').dataset.room), "rust");
  await send(bob, "back in rust");
  await logShows(alice, "bob: back in rust");
  await logShows(alice, "bob is back (connection recovered)", 2);
  await screenshot(bob, "recovered-bob");
  assert.deepEqual(alice.foreign, []);
  assert.deepEqual(bob.foreign, []);
});
