// The official admin dashboard (@socket.io/admin-ui's ui/dist, served by
// the demo at /admin/) in a real browser: it logs in to the demo with basic
// auth and lists the demo's own sockets (a chat page open beside it), then
// shows on its Events page a chat message received from one page and
// broadcast to the other (event_sent for the recipient).
// Screenshots: admin-sockets.png and admin-events.png in the output folder
// (see common.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startDemo, launch, offlinePage, screenshot, stateIs } from "./common.mjs";

let demo;
let browser;

before(async () => {
  demo = await startDemo(["--admin", "admin:changeit"]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/** Fills the dashboard's connection form and submits it. */
async function login(page, password) {
  await page.waitForSelector("input[type=password]", { visible: true, timeout: 15000 });
  const inputs = await page.$$(".v-dialog input[type=text], .v-dialog input[type=password]");
  // Server URL, username, password (the form's order).
  const [url, user, pass] = inputs;
  await url.click({ clickCount: 3 });
  await url.type(demo.url);
  await user.click({ clickCount: 3 });
  await user.type("admin");
  await pass.click({ clickCount: 3 });
  await pass.type(password);
  await page.click(".v-dialog button[type=submit]");
}

test("the dashboard opens at /admin/, refuses a wrong password, logs in and lists the demo's sockets", async () => {
  // The chat page: one of the demo's sockets to be watched.
  const chat = await offlinePage(browser, demo.url);
  await chat.goto(`${demo.url}/?nick=watched`);
  await stateIs(chat, "connected");
  const chatId = await chat.evaluate("socket.id");
  assert.match(chatId, /^[\w-]{20}$/);

  // The dashboard, from the demo's origin only (its web fonts on a CDN
  // are refused: the page works without them).
  const page = await offlinePage(browser, demo.url);
  await page.goto(`${demo.url}/admin/`);
  assert.equal(await page.title(), "Socket.IO Admin UI");

  await login(page, "wrong");
  await page.waitForFunction(
    () => document.body.innerText.includes("Invalid credentials"),
    { timeout: 15000, polling: 200 },
  );

  await login(page, "changeit");
  await page.waitForFunction(
    () => !document.querySelector(".v-dialog--active input[type=password]"),
    { timeout: 15000, polling: 200 },
  );
  await page.goto(`${demo.url}/admin/#/sockets`);
  await page.waitForFunction(
    (id) => document.body.innerText.includes(id),
    { timeout: 15000, polling: 200 },
    chatId,
  );
  // The connection dialog has finished fading out.
  await page.waitForFunction(
    () => [...document.querySelectorAll(".v-dialog")].every((d) => getComputedStyle(d).display === "none"),
    { timeout: 15000, polling: 200 },
  );
  await screenshot(page, "admin-sockets");
  const text = await page.evaluate(() => document.body.innerText);
  // Its row: id, address, transport.
  assert.match(text, new RegExp(`${chatId}\\s+127\\.0\\.0\\.1:\\d+\\s+WebSocket`), text);
  assert.ok(page.foreign.every((u) => !u.startsWith("http://localhost")), page.foreign.join(" "));

  // A second chat page says something: the demo broadcasts it to the room
  // (socket.to(room).emit), so the watched page gets it. The dashboard's
  // Events page shows the event received from the sender and, per
  // recipient, the event sent to the watched socket.
  const other = await offlinePage(browser, demo.url);
  await other.goto(`${demo.url}/?nick=talker`);
  await stateIs(other, "connected");
  const otherId = await other.evaluate("socket.id");
  const heard = chat.evaluate(
    () => new Promise((resolve) => socket.once("chat", (nick, text) => resolve([nick, text]))),
  );
  await other.evaluate(() => socket.emit("chat", "hello admin"));
  assert.deepEqual(await heard, ["talker", "hello admin"]);
  await page.goto(`${demo.url}/admin/#/events`);
  // Rows: type chip, socket id, "Event name: chat".
  const rows = () =>
    page.evaluate(() => [...document.querySelectorAll("tbody tr")].map((tr) => tr.innerText.replace(/\s+/g, " ")));
  await page.waitForFunction(
    (ids) => {
      const rows = [...document.querySelectorAll("tbody tr")].map((tr) => tr.innerText);
      const has = (type, id) => rows.some((r) => r.includes(type) && r.includes(id) && /Event name: chat\b/.test(r));
      return has("Event received", ids.other) && has("Event sent", ids.chat);
    },
    { timeout: 15000, polling: 200 },
    { chat: chatId, other: otherId },
  );
  // Nothing fading over the table.
  await page.waitForFunction(
    () => [...document.querySelectorAll(".v-dialog, .v-overlay--active")].every((d) => getComputedStyle(d).display === "none" || getComputedStyle(d).opacity === "0"),
    { timeout: 15000, polling: 200 },
  );
  await screenshot(page, "admin-events");
  const shown = await rows();
  const sent = shown.filter((r) => r.includes("Event sent") && /Event name: chat\b/.test(r));
  // The broadcast went to the watched page only (the sender is excepted):
  // one "Event sent" row, for the watched socket.
  assert.equal(sent.length, 1, shown.join("\n"));
  assert.ok(sent[0].includes(chatId), sent[0]);
  assert.ok(!sent.some((r) => r.includes(otherId)), shown.join("\n"));
  await other.close();
});
