// The official admin dashboard (@socket.io/admin-ui's ui/dist, served by
// the demo at /admin/) in a real browser: it logs in to the demo with basic
// auth and lists the demo's own sockets (a chat page open beside it).
// Screenshot: admin-sockets.png in the output folder (see common.mjs).
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
});
