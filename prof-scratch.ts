import { runBody } from "/work/wt/dsl/src/dsl/test-helpers.ts";
const BODY = `
let total = 0;
let buckets = { even: 0, odd: 0 };
for a in xs {
    for b in xs {
        let v = (a * 31 + b) % 97;
        if v % 2 == 0 {
            buckets.even += 1;
        } else {
            buckets.odd += 1;
        }
        total += v;
    }
}
[total, buckets.even, buckets.odd]`;
const xs = Array.from({ length: 400 }, (_, i) => i);
function plainJs(xs: number[]) { let total = 0; const buckets = { even: 0, odd: 0 }; for (const a of xs) for (const b of xs) { const v = (a * 31 + b) % 97; if (v % 2 === 0) buckets.even += 1; else buckets.odd += 1; total += v; } return [total, buckets.even, buckets.odd]; }
for (let k = 0; k < 3; k++) {
  let c0 = process.cpuUsage(); let t = performance.now();
  for (let i = 0; i < 10; i++) runBody(BODY, { xs }, undefined, "", { maxSteps: 1e9, maxDepth: 100 });
  const dsl = performance.now() - t; const dslCpu = process.cpuUsage(c0);
  c0 = process.cpuUsage(); t = performance.now();
  let s = 0; for (let i = 0; i < 10; i++) s += plainJs(xs)[0]!;
  const js = performance.now() - t; const jsCpu = process.cpuUsage(c0);
  console.log("dsl", dsl.toFixed(1), "js", js.toFixed(2), "ratio", (dsl / js).toFixed(1), "cpu ratio", ((dslCpu.user + dslCpu.system) / (jsCpu.user + jsCpu.system)).toFixed(1), s);
}
