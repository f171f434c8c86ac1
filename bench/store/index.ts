/**
 * Durable state costs. Task and message accepts per second on the SQLite file store (WAL, synchronous=FULL,
 * group commit) against the in-memory path measured in the same run: the same store code on an in-memory
 * SQLite database, which does no I/O. Also shown: the same durable accepts without group commit (one
 * commit per accept, awaited in turn) and a bare Map insert, for scale. Restart-to-ready is the time
 * `createRuntime` takes on a data dir holding 100,000 initialized agents with their sealed bus keys (open +
 * integrity check + recovery: agents adopted, bus identities and executor state rebuilt) against the same
 * start on an empty data dir.
 *
 * Run: `npm run bench -- store`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtRestCipher } from "../../src/bus/at-rest.js";
import { busKekFile } from "../../src/bus/create-bus.js";
import { KeyStore } from "../../src/bus/key-store.js";
import { AgentId, MessageId, TaskId } from "../../src/core/ids.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createSqliteStateStore } from "../../src/store/sqlite-state-store.js";
import type { NewMessage, NewTask, StateStore } from "../../src/store/types.js";
import { round, timeMs, type Metric } from "../lib.js";

const ACCEPTS = 20_000;
/** Accepts in flight at once, as an API under load would have. */
const CONCURRENCY = 1_000;
const SEQUENTIAL = 300;
const AGENTS = 100_000;

const newTask = (): NewTask => ({ id: TaskId.new(), agent_id: AgentId.new(), priority: "Normal", scheduled_time: Date.now(), timeout: 30_000, retry_count: 0, payload: { input: "bench" } });
const newMessage = (): NewMessage => ({
  id: MessageId.new(),
  from: AgentId.new(),
  to: AgentId.new(),
  topic: "bench",
  priority: "Normal",
  ttl: 60_000,
  payload: new Uint8Array(256).fill(7),
});

/** Accepts per second with CONCURRENCY accepts in flight. */
async function rate(n: number, accept: () => Promise<unknown>): Promise<number> {
  const ms = await timeMs(async () => {
    for (let i = 0; i < n; i += CONCURRENCY) await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n - i) }, accept));
  });
  return (n * 1000) / ms;
}

async function withStore<T>(file: string, fn: (s: StateStore) => Promise<T>): Promise<T> {
  const s = await createSqliteStateStore({ file });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const run_ = promisify(execFile);
const tmp = () => mkdtempSync(join(tmpdir(), "symbiont-bench-store-"));

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  const dirs: string[] = [];
  const file = () => {
    const d = tmp();
    dirs.push(d);
    return join(d, "state.db");
  };
  try {
    // Warm up the driver and the JIT on both paths.
    await withStore(":memory:", (s) => rate(2_000, () => s.tasks.accept(newTask(), Date.now())));

    const memTasks = await withStore(":memory:", (s) => rate(ACCEPTS, () => s.tasks.accept(newTask(), Date.now())));
    const diskTasks = await withStore(file(), (s) => rate(ACCEPTS, () => s.tasks.accept(newTask(), Date.now())));
    metrics.push({ name: "task_accepts_per_s", value: round(diskTasks, 0), unit: "ops/s", baseline: round(memTasks, 0), ratio: round(diskTasks / memTasks, 2), target: ">= 0.3" });

    const memMsgs = await withStore(":memory:", (s) => rate(ACCEPTS, () => s.messages.accept(newMessage(), Date.now())));
    const diskMsgs = await withStore(file(), (s) => rate(ACCEPTS, () => s.messages.accept(newMessage(), Date.now())));
    metrics.push({ name: "message_accepts_per_s", value: round(diskMsgs, 0), unit: "ops/s", baseline: round(memMsgs, 0), ratio: round(diskMsgs / memMsgs, 2), target: ">= 0.3" });

    // One commit (one fsync) per accept: what group commit saves.
    const oneByOne = await withStore(file(), async (s) => {
      const ms = await timeMs(async () => {
        for (let i = 0; i < SEQUENTIAL; i++) await s.tasks.accept(newTask(), Date.now());
      });
      return (SEQUENTIAL * 1000) / ms;
    });
    metrics.push({ name: "task_accepts_per_s_without_group_commit", value: round(oneByOne, 0), unit: "ops/s", baseline: round(diskTasks, 0), ratio: round(oneByOne / diskTasks, 3) });

    // A bare Map: no store at all.
    const map = new Map<string, NewTask>();
    const mapRate = await rate(ACCEPTS, async () => {
      const t = newTask();
      map.set(t.id, t);
    });
    metrics.push({ name: "task_accepts_per_s_vs_bare_map", value: round(diskTasks, 0), unit: "ops/s", baseline: round(mapRate, 0), ratio: round(diskTasks / mapRate, 3) });

    // Restart to ready with 100,000 stored agents.
    const full = tmp();
    const empty = tmp();
    dirs.push(full, empty);
    // What a runtime leaves behind for initialized agents: each one's row and its sealed bus key pairs.
    const cipher = AtRestCipher.open(busKekFile(full));
    await withStore(join(full, "state.db"), async (s) => {
      const base = parseAgentConfig({ name: "bench", execution_mode: { type: "Persistent" } });
      const now = Date.now();
      for (let i = 0; i < AGENTS; i += 5_000) {
        const keys = new KeyStore();
        await Promise.all(
          Array.from({ length: 5_000 }, async (_, j) => {
            const id = AgentId.new();
            keys.create(id);
            await s.agents.put({ id, config: { ...base, id, name: `bench-${i + j}` }, state: j % 2 ? "Running" : "Ready", created_at: now, last_updated: now, execution_count: j % 2, error_count: 0, restart_count: 0 });
            await s.busKeys.put(id, cipher.seal(keys.exportPrivate(id), `bus-keys:${id}`));
          }),
        );
      }
    });
    // A real restart: a fresh process (clean heap), timed from before createRuntime until it returns ready.
    const start = async (dataDir: string) => {
      const { stdout } = await run_(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./restart-child.ts", import.meta.url)), dataDir, String(AGENTS)]);
      return JSON.parse(stdout) as { ms: number; restored: number };
    };
    const emptyStart = await start(empty);
    const fullStart = await start(full);
    if (fullStart.restored !== AGENTS) throw new Error(`restored ${fullStart.restored} of ${AGENTS} agents`);
    metrics.push({ name: "restart_to_ready_100k_agents", value: round(fullStart.ms, 0), unit: "ms", baseline: round(emptyStart.ms, 0), target: "< 5000" });
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return metrics;
}
