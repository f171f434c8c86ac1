/**
 * `npm run bench` runs every suite; `npm run bench -- <suite> [...]` runs the named ones. Each writes
 * bench/results/<suite>.json and prints its metrics with a mark for targets met or missed.
 */
import { mkdirSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { meetsTarget, type Metric, type SuiteResult } from "./lib.js";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(benchDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(benchDir, d.name, "index.ts")))
  .map((d) => d.name)
  .sort();

const requested = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const unknown = requested.filter((s) => !available.includes(s));
if (unknown.length) {
  console.error(`unknown bench suite(s): ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}
const suites = requested.length ? requested : available;
const resultsDir = join(benchDir, "results");
mkdirSync(resultsDir, { recursive: true });

function show(m: Metric): string {
  const judged = m.ratio ?? m.value;
  const mark = m.target ? (meetsTarget(judged, m.target) ? "ok  " : "MISS") : "    ";
  const base = m.baseline !== undefined ? `  baseline ${m.baseline} ${m.unit}` : "";
  const ratio = m.ratio !== undefined ? `  ratio ${m.ratio}` : "";
  const target = m.target ? `  target ${m.target}` : "";
  return `${mark} ${m.name}: ${m.value} ${m.unit}${base}${ratio}${target}`;
}

for (const suite of suites) {
  const mod = (await import(`./${suite}/index.ts`)) as { run: () => Promise<Metric[]> };
  console.log(`== ${suite}`);
  const metrics = await mod.run();
  const result: SuiteResult = { suite, node: process.version, metrics };
  writeFileSync(join(resultsDir, `${suite}.json`), `${JSON.stringify(result, null, 2)}\n`);
  for (const m of metrics) console.log(show(m));
}
