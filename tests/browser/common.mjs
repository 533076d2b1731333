// What the browser tests share: the demo server on a free port, Debian's
// chromium driven headless by puppeteer-core, and the screenshot folder.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

/** Where screenshots go (a CI artefact): BROWSER_OUTPUT or tests/browser/output. */
export const outputDir = process.env.BROWSER_OUTPUT || join(here, "output");
mkdirSync(outputDir, { recursive: true });

/** Starts the demo binary on a free port; resolves { url, stop }. */
export function startDemo(extraArgs = []) {
  const binary = process.env.DEMO_SERVER || join(root, "target", "release", "demo");
  const child = spawn(binary, ["--port", "0", "--no-install", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error("demo did not start: " + err)), 20000);
    child.stderr.on("data", (chunk) => {
      err += chunk;
      const match = /http:\/\/localhost:(\d+)/.exec(err);
      if (match) {
        clearTimeout(timer);
        resolve({
          url: `http://localhost:${match[1]}`,
          stop: () => new Promise((done) => {
            child.once("exit", done);
            child.kill("SIGTERM");
          }),
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`demo exited (${code}): ${err}`)));
  });
}

/** Launches chromium (CHROMIUM or /usr/bin/chromium) headless. */
export function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Root in CI containers: chromium's sandbox needs an unprivileged user.
    // Two pages chat at once: neither may be throttled as a background tab.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-dev-shm-usage",
      "--disable-background-timer-throttling",
      "--disable-backgrounding-occluded-windows",
      "--disable-renderer-backgrounding",
      // A page left is unloaded (its connection closes), as on a reload,
      // rather than frozen in the back/forward cache.
      "--disable-features=BackForwardCache",
    ],
    defaultViewport: { width: 900, height: 600 },
    protocolTimeout: 30000,
  });
}

/**
 * A page that may only reach `origin`: any other request (a CDN, fonts) is
 * refused and recorded in `page.foreign`, so a test can prove the page
 * works with no internet.
 */
export async function offlinePage(browser, origin) {
  const page = await browser.newPage();
  page.foreign = [];
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = request.url();
    if (url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:") || url === "about:blank") {
      request.continue();
    } else {
      page.foreign.push(url);
      request.abort("internetdisconnected");
    }
  });
  return page;
}

/** Saves a screenshot of `page` as `<name>.png` in the output folder. */
export async function screenshot(page, name) {
  const path = join(outputDir, `${name}.png`);
  await page.bringToFront();
  await page.screenshot({ path });
  return path;
}

/** Waits until `count` lines (default 1) of the page's chat log contain `text`. */
export function logShows(page, text, count = 1) {
  return page.waitForFunction(
    (t, n) => [...document.querySelectorAll("#log li")].filter((li) => li.textContent.includes(t)).length >= n,
    { timeout: 15000, polling: "mutation" },
    text,
    count,
  );
}

/** Waits until the connection badge reads something that starts with `prefix`. */
export function stateIs(page, prefix) {
  return page.waitForFunction(
    (p) => document.getElementById("state").textContent.startsWith(p),
    { timeout: 15000, polling: "mutation" },
    prefix,
  );
}
