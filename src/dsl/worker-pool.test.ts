import { afterEach, describe, expect, it } from "vitest";
import { BuiltinAuthorizer } from "../core/authorizer.js";
import { SystemClock } from "../core/clock.js";
import type { DslError } from "../core/errors.js";
import { RuntimeEvents } from "../core/events.js";
import { silentLogger } from "../core/logger.js";
import { compileDsl } from "./extract.js";
import { createDslHost, type DslHost } from "./host.js";
import { runDslAgent, type DslRunLimits } from "./runner.js";
import { DslWorkerPool } from "./worker-pool.js";

const LIMITS: DslRunLimits = { maxSteps: 1_000_000, maxDepth: 100, maxMemoryMb: 64, timeoutMs: 20_000 };
const pools: DslWorkerPool[] = [];

function pool(maxWorkers: number): DslWorkerPool {
  const p = new DslWorkerPool({ maxWorkers });
  pools.push(p);
  return p;
}

function host(onLog: () => void = () => undefined): DslHost {
  const clock = new SystemClock();
  const logger = silentLogger();
  const base = createDslHost({ logger, clock, events: new RuntimeEvents(clock, logger), authorizer: new BuiltinAuthorizer() });
  return { ...base, log: (...args) => (onLog(), base.log(...args)) };
}

afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

const add = compileDsl("agent add(n: int) {\n with {\n log(n);\n n + 1\n }\n}\n");
const spin = compileDsl("agent spin(xs: List<int>) {\n with {\n let t = 0;\n for a in xs { for b in xs { for c in xs { t += 1; } } }\n t\n }\n}\n");
const big = Array.from({ length: 2000 }, (_, i) => i);

describe("dsl worker pool", () => {
  it("reuses its threads across runs", async () => {
    const p = pool(2);
    for (let i = 0; i < 5; i++) expect((await runDslAgent({ file: add, input: { n: i }, host: host(), limits: LIMITS, pool: p })).value).toBe(i + 1);
    expect(p.size).toBe(1);
  });

  it("never runs more threads than its bound; extra runs wait for one", async () => {
    const p = pool(2);
    const seen: number[] = [];
    const h = host(() => seen.push(p.size));
    const values = await Promise.all(Array.from({ length: 6 }, (_, i) => runDslAgent({ file: add, input: { n: i }, host: h, limits: LIMITS, pool: p })));
    expect(values.map((v) => v.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen).toHaveLength(6);
    expect(Math.max(...seen, p.size)).toBeLessThanOrEqual(2);
  });

  it("a runaway body past its wall clock is stopped, its thread replaced; the step budget keeps the thread", async () => {
    const p = pool(1);
    const timedOut = (await runDslAgent({ file: spin, input: { xs: big }, host: host(), limits: { ...LIMITS, maxSteps: 1e12, timeoutMs: 300 }, pool: p }).catch((e: unknown) => e)) as DslError;
    expect(timedOut.code).toBe("DSL_LIMIT_EXCEEDED");
    expect(timedOut.message).toMatch(/timed out after 300 ms/);
    expect(p.size).toBe(0);
    expect((await runDslAgent({ file: add, input: { n: 1 }, host: host(), limits: LIMITS, pool: p })).value).toBe(2);

    const budget = (await runDslAgent({ file: spin, input: { xs: big }, host: host(), limits: { ...LIMITS, maxSteps: 10_000 }, pool: p }).catch((e: unknown) => e)) as DslError;
    expect(budget.message).toMatch(/step budget of 10000 exhausted/);
    expect(p.size).toBe(1);
    expect((await runDslAgent({ file: add, input: { n: 2 }, host: host(), limits: LIMITS, pool: p })).value).toBe(3);
  });

  it("a run's wall clock starts on a thread, not while it waits for one; a cancelled waiter leaves the queue", async () => {
    const p = pool(1);
    const long = runDslAgent({ file: spin, input: { xs: big }, host: host(), limits: { ...LIMITS, maxSteps: 1e12, timeoutMs: 1500 }, pool: p }).catch((e: unknown) => e);
    const controller = new AbortController();
    const cancelled = runDslAgent({ file: add, input: { n: 1 }, host: host(), limits: LIMITS, pool: p, signal: controller.signal }).catch((e: unknown) => e);
    const patient = runDslAgent({ file: add, input: { n: 7 }, host: host(), limits: { ...LIMITS, timeoutMs: 300 }, pool: p });
    controller.abort();
    expect(((await cancelled) as DslError).message).toMatch(/run was cancelled/);
    expect(((await long) as DslError).code).toBe("DSL_LIMIT_EXCEEDED");
    expect((await patient).value).toBe(8);
  });

  it("threads are kept per heap cap: a run with another cap replaces an idle thread when the pool is full", async () => {
    const p = pool(1);
    await runDslAgent({ file: add, input: { n: 1 }, host: host(), limits: LIMITS, pool: p });
    expect((await runDslAgent({ file: add, input: { n: 1 }, host: host(), limits: { ...LIMITS, maxMemoryMb: 48 }, pool: p })).value).toBe(2);
    expect(p.size).toBe(1);
  });

  it("a closed pool refuses runs", async () => {
    const p = pool(1);
    await p.close();
    await expect(runDslAgent({ file: add, input: { n: 1 }, host: host(), limits: LIMITS, pool: p })).rejects.toMatchObject({ code: "DSL_RUNTIME_ERROR" });
  });
});
