// DEPLOYMENT.md shows the very files the proxy tests run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { render } from "./make-deployment-md.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const page = readFileSync(join(here, "../../DEPLOYMENT.md"), "utf8");

test("DEPLOYMENT.md is generated from the current template and configs", () => {
  assert.equal(page, render(), "run: node tests/deploy/make-deployment-md.mjs");
});

test("every config file the tests run appears verbatim in DEPLOYMENT.md", () => {
  const files = readdirSync(join(here, "configs"));
  assert.equal(files.length, 11);
  for (const file of files) {
    const text = readFileSync(join(here, "configs", file), "utf8").trimEnd();
    assert.ok(page.includes(text), `${file} is not in DEPLOYMENT.md`);
  }
});
