// Writes DEPLOYMENT.md at the repository root from DEPLOYMENT.template.md:
// {{FILE name}} becomes the config file configs/name, verbatim; {{WORKERS}}
// the measured worker-scaling figures (workers.md). Run after editing
// either; tests/deploy/docs.test.mjs checks the result is current.
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export function render() {
  const template = readFileSync(join(here, "DEPLOYMENT.template.md"), "utf8");
  return template
    .replace(/\{\{FILE ([\w.-]+)\}\}/g, (_, name) => readFileSync(join(here, "configs", name), "utf8").trimEnd())
    .replace("{{WORKERS}}", readFileSync(join(here, "workers.md"), "utf8").trimEnd());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(join(here, "../../DEPLOYMENT.md"), render());
}
