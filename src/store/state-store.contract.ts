/**
 * The StateStore contract: every implementation's test calls `describeStateStoreContract` with a factory
 * that opens a fresh store and, when the store is durable, `reopen` to open the same data again.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AgentId, MessageId, TaskId } from "../core/ids.js";
import { parseAgentConfig } from "../core/schemas.js";
import type { AgentInstance } from "../core/types.js";
import type { NewMessage, NewTask, StateStore, StoredSchedule } from "./types.js";

export interface StateStoreContractOptions {
  /** Opens the same data again after `close()` (durable stores only). */
  readonly reopen?: (previous: StateStore) => Promise<StateStore>;
}

const T0 = Date.UTC(2026, 0, 1);

export function agent(overrides: Partial<AgentInstance> = {}): AgentInstance {
  const config = parseAgentConfig({ name: "stored", metadata: { team: "a" }, execution_mode: { type: "Persistent" } });
  return { id: config.id, config, state: "Created", created_at: T0, last_updated: T0, execution_count: 0, error_count: 0, restart_count: 0, ...overrides };
}

export function task(overrides: Partial<NewTask> = {}): NewTask {
  return { id: TaskId.new(), agent_id: AgentId.new(), priority: "Normal", scheduled_time: T0, timeout: 30_000, retry_count: 0, ...overrides };
}

export function message(overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id: MessageId.new(),
    from: AgentId.new(),
    to: AgentId.new(),
    topic: "t",
    priority: "Normal",
    ttl: 60_000,
    payload: new Uint8Array([1, 2, 3, 255]),
    ...overrides,
  };
}

function schedule(overrides: Partial<StoredSchedule> = {}): StoredSchedule {
  return {
    id: `s-${Math.random().toString(36).slice(2)}`,
    agent_id: AgentId.new(),
    interval: 1_000,
    cron: null,
    timezone: null,
    next_run_at: T0 + 1_000,
    last_run_at: null,
    missed_run_policy: "run_once",
    enabled: true,
    created_at: T0,
    updated_at: T0,
    ...overrides,
  };
}

export function describeStateStoreContract(name: string, make: () => Promise<StateStore>, options: StateStoreContractOptions = {}): void {
  describe(`${name} - state store contract`, () => {
    let open: StateStore[] = [];
    const fresh = async () => {
      const s = await make();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open) await s.close();
      open = [];
    });

    it("agents - put, get, list, count, replace and remove", async () => {
      const s = await fresh();
      const a = agent();
      const b = agent({ created_at: T0 + 1 });
      await Promise.all([s.agents.put(a), s.agents.put(b)]);
      expect(await s.agents.get(a.id)).toEqual(a);
      expect((await s.agents.list()).map((x) => x.id)).toEqual([a.id, b.id]);
      await s.agents.put({ ...a, state: "Running", execution_count: 1, last_updated: T0 + 5 });
      expect(await s.agents.get(a.id)).toMatchObject({ state: "Running", execution_count: 1, last_updated: T0 + 5, created_at: T0 });
      expect(await s.agents.countByState()).toMatchObject({ Running: 1, Created: 1, Failed: 0 });
      await s.agents.remove(b.id);
      expect(await s.agents.get(b.id)).toBeUndefined();
      expect(await s.agents.count()).toBe(1);
    });

    it("allocations - put, get, list and remove", async () => {
      const s = await fresh();
      const a = agent();
      const alloc = {
        agent_id: a.id,
        allocated_at: T0,
        limits: a.config.resource_limits,
        current_usage: { memory_used: 1, cpu_usage: 0.5, disk_io_rate: 0, network_io_rate: 0, uptime: 10 },
      };
      await s.allocations.put(alloc);
      expect(await s.allocations.get(a.id)).toEqual(alloc);
      expect(await s.allocations.list()).toEqual([alloc]);
      await s.allocations.remove(a.id);
      expect(await s.allocations.get(a.id)).toBeUndefined();
    });

    it("tasks - accept is idempotent by id and keeps the payload", async () => {
      const s = await fresh();
      const t = task({ payload: { input: "x", n: [1, 2] } });
      const first = await s.tasks.accept(t, T0);
      expect(first.accepted).toBe(true);
      expect(first.task).toMatchObject({ ...t, status: "Pending", attempts: 0, owner: null, created_at: T0 });
      const again = await s.tasks.accept({ ...t, priority: "High" }, T0 + 1);
      expect(again.accepted).toBe(false);
      expect(again.task.priority).toBe("Normal");
      expect((await s.tasks.countByStatus()).Pending).toBe(1);
    });

    it("tasks - a claim is won once; a completed task is never claimed again", async () => {
      const s = await fresh();
      const t = task();
      await s.tasks.accept(t, T0);
      const [a, b] = await Promise.all([s.tasks.claim(t.id, "n1", T0 + 1), s.tasks.claim(t.id, "n2", T0 + 1)]);
      expect([a, b].filter(Boolean)).toHaveLength(1);
      expect(a ?? b).toMatchObject({ status: "Running", attempts: 1, started_at: T0 + 1 });
      expect(await s.tasks.finish(t.id, { status: "Completed", result: { ok: true } }, T0 + 2)).toBe(true);
      expect(await s.tasks.finish(t.id, { status: "Failed", error: "late" }, T0 + 3)).toBe(false);
      expect(await s.tasks.claim(t.id, "n1", T0 + 4)).toBeUndefined();
      expect(await s.tasks.requeueRunning("n1", T0 + 5)).toEqual([]);
      expect(await s.tasks.cancel(t.id, T0 + 6)).toBe(false);
      expect(await s.tasks.get(t.id)).toMatchObject({ status: "Completed", result: { ok: true }, error: null, finished_at: T0 + 2, attempts: 1 });
    });

    it("tasks - running tasks of a node are re-queued with their attempt count (at-least-once)", async () => {
      const s = await fresh();
      const mine = task();
      const theirs = task();
      await s.tasks.accept(mine, T0);
      await s.tasks.accept(theirs, T0);
      await s.tasks.claim(mine.id, "n1", T0);
      await s.tasks.claim(theirs.id, "n2", T0);
      const requeued = await s.tasks.requeueRunning("n1", T0 + 10);
      expect(requeued.map((t) => t.id)).toEqual([mine.id]);
      expect(requeued[0]).toMatchObject({ status: "Pending", attempts: 1 });
      expect(await s.tasks.claim(mine.id, "n1", T0 + 11)).toMatchObject({ attempts: 2 });
      expect((await s.tasks.get(theirs.id))?.status).toBe("Running");
    });

    it("tasks - retry, cancel, priority and failure outcomes", async () => {
      const s = await fresh();
      const t = task();
      await s.tasks.accept(t, T0);
      expect(await s.tasks.retry(t.id, T0 + 100, "x", T0)).toBe(false);
      await s.tasks.claim(t.id, "n", T0);
      expect(await s.tasks.retry(t.id, T0 + 100, "boom", T0 + 1)).toBe(true);
      expect(await s.tasks.get(t.id)).toMatchObject({ status: "Pending", retry_count: 1, scheduled_time: T0 + 100, error: "boom", owner: null });
      expect(await s.tasks.nextPending(T0 + 99, 10)).toEqual([]);
      expect(await s.tasks.updatePriority(t.id, "Critical", T0 + 2)).toBe(true);
      await s.tasks.claim(t.id, "n", T0 + 100);
      expect(await s.tasks.finish(t.id, { status: "TimedOut", error: "exceeded 30000 ms" }, T0 + 200)).toBe(true);
      expect(await s.tasks.get(t.id)).toMatchObject({ status: "TimedOut", priority: "Critical", attempts: 2, error: "exceeded 30000 ms" });
      expect(await s.tasks.updatePriority(t.id, "Low", T0 + 201)).toBe(false);
      const c = task();
      await s.tasks.accept(c, T0);
      expect(await s.tasks.cancel(c.id, T0 + 1)).toBe(true);
      expect(await s.tasks.claim(c.id, "n", T0 + 2)).toBeUndefined();
      expect(await s.tasks.claim(TaskId.new(), "n", T0)).toBeUndefined();
    });

    it("tasks - reassign moves an unfinished task to another agent", async () => {
      const s = await fresh();
      const t = task();
      const to = AgentId.new();
      await s.tasks.accept(t, T0);
      expect(await s.tasks.reassign(t.id, to, T0 + 1)).toBe(true);
      expect(await s.tasks.get(t.id)).toMatchObject({ agent_id: to, status: "Pending", updated_at: T0 + 1 });
      await s.tasks.claim(t.id, "n", T0 + 2);
      await s.tasks.finish(t.id, { status: "Completed" }, T0 + 3);
      expect(await s.tasks.reassign(t.id, AgentId.new(), T0 + 4)).toBe(false);
      expect((await s.tasks.get(t.id))?.agent_id).toBe(to);
      expect(await s.tasks.reassign(TaskId.new(), to, T0)).toBe(false);
    });

    it("tasks - nextPending orders by priority, then scheduled time, then arrival", async () => {
      const s = await fresh();
      const low = task({ priority: "Low", scheduled_time: T0 });
      const n1 = task({ scheduled_time: T0 + 5 });
      const n2 = task({ scheduled_time: T0 + 5 });
      const crit = task({ priority: "Critical", scheduled_time: T0 + 9 });
      const later = task({ priority: "Critical", scheduled_time: T0 + 1_000 });
      for (const t of [low, n1, n2, crit, later]) await s.tasks.accept(t, T0);
      expect((await s.tasks.nextPending(T0 + 10, 10)).map((t) => t.id)).toEqual([crit.id, n1.id, n2.id, low.id]);
      expect((await s.tasks.nextPending(T0 + 10, 2)).map((t) => t.id)).toEqual([crit.id, n1.id]);
      expect((await s.tasks.list({ status: "Pending", limit: 2 })).map((t) => t.id)).toEqual([low.id, n1.id]);
      expect(await s.tasks.list({ agent_id: low.agent_id })).toHaveLength(1);
    });

    it("tasks - claimNext hands the most urgent due tasks to one claimer each", async () => {
      const s = await fresh();
      const ts = [task({ priority: "Low" }), task({ priority: "High" }), task(), task({ scheduled_time: T0 + 1_000 })];
      for (const t of ts) await s.tasks.accept(t, T0);
      const [a, b] = await Promise.all([s.tasks.claimNext("n1", T0, 2), s.tasks.claimNext("n2", T0, 2)]);
      expect(a.map((t) => t.id)).toEqual([ts[1]!.id, ts[2]!.id]);
      expect(b.map((t) => [t.id, t.status, t.owner, t.attempts])).toEqual([[ts[0]!.id, "Running", "n2", 1]]);
      expect(await s.tasks.claimNext("n1", T0, 10)).toEqual([]);
      expect((await s.tasks.claimNext("n1", T0 + 1_000, 10)).map((t) => t.id)).toEqual([ts[3]!.id]);
    });

    it("tasks - concurrent writes on many rows and on the same row keep single-write results", async () => {
      const s = await fresh();
      const ts = Array.from({ length: 20 }, () => task());
      const dup = ts[0]!;
      const accepted = await Promise.all([...ts.map((t) => s.tasks.accept(t, T0)), s.tasks.accept(dup, T0)]);
      expect(accepted.map((r) => r.accepted)).toEqual([...ts.map(() => true), false]);
      const claims = await Promise.all([...ts.map((t) => s.tasks.claim(t.id, "n", T0)), s.tasks.claim(dup.id, "n", T0)]);
      expect(claims.filter(Boolean)).toHaveLength(20);
      const fin = await Promise.all([
        ...ts.map((t) => s.tasks.finish(t.id, { status: "Completed", result: t.id }, T0 + 1)),
        s.tasks.finish(dup.id, { status: "Failed", error: "second" }, T0 + 2),
      ]);
      expect(fin).toEqual([...ts.map(() => true), false]);
      expect(await s.tasks.get(ts[5]!.id)).toMatchObject({ status: "Completed", result: ts[5]!.id });
      const ms = Array.from({ length: 20 }, () => message());
      await Promise.all(ms.map((m) => s.messages.accept(m, T0)));
      await s.messages.claim(100, T0);
      const acks = await Promise.all([...ms.map((m) => s.messages.ack(m.id, T0)), s.messages.ack(ms[0]!.id, T0)]);
      expect(acks).toEqual([...ms.map(() => true), false]);
    });

    it("tasks - finished tasks are pruned by age", async () => {
      const s = await fresh();
      const old = task();
      const pending = task();
      await s.tasks.accept(old, T0);
      await s.tasks.accept(pending, T0);
      await s.tasks.claim(old.id, "n", T0);
      await s.tasks.finish(old.id, { status: "Completed" }, T0 + 10);
      expect(await s.tasks.pruneFinished(T0 + 10)).toBe(0);
      expect(await s.tasks.pruneFinished(T0 + 11)).toBe(1);
      expect(await s.tasks.get(old.id)).toBeUndefined();
      expect(await s.tasks.get(pending.id)).toBeDefined();
    });

    it("schedules - due, and advance is a compare-and-set", async () => {
      const s = await fresh();
      const a = schedule({ next_run_at: T0 + 1_000, payload: { k: 1 } });
      const b = schedule({ next_run_at: T0 + 5_000, cron: "0 * * * * *", interval: null, timezone: "UTC", missed_run_policy: "skip" });
      const off = schedule({ next_run_at: T0, enabled: false });
      for (const x of [a, b, off]) await s.schedules.put(x);
      expect(await s.schedules.get(b.id)).toEqual(b);
      expect((await s.schedules.due(T0 + 1_000, 10)).map((x) => x.id)).toEqual([a.id]);
      const wins = await Promise.all([
        s.schedules.advance(a.id, T0 + 1_000, T0 + 2_000, T0 + 1_000, T0 + 1_000),
        s.schedules.advance(a.id, T0 + 1_000, T0 + 2_000, T0 + 1_000, T0 + 1_000),
      ]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(await s.schedules.get(a.id)).toMatchObject({ next_run_at: T0 + 2_000, last_run_at: T0 + 1_000, payload: { k: 1 } });
      expect((await s.schedules.list()).map((x) => x.id)).toEqual([off.id, a.id, b.id]);
      await s.schedules.remove(a.id);
      expect(await s.schedules.get(a.id)).toBeUndefined();
    });

    it("messages - accepted once by id, claimed once, acked once", async () => {
      const s = await fresh();
      const m = message();
      expect(await s.messages.accept(m, T0)).toEqual({ accepted: true });
      expect(await s.messages.accept(m, T0 + 1)).toEqual({ accepted: false });
      const [c1, c2] = await Promise.all([s.messages.claim(10, T0 + 1), s.messages.claim(10, T0 + 1)]);
      expect([...c1, ...c2].map((x) => x.id)).toEqual([m.id]);
      const got = [...c1, ...c2][0]!;
      expect(got).toMatchObject({ from: m.from, to: m.to, topic: "t", status: "InFlight", attempts: 1, expires_at: T0 + 60_000 });
      expect([...got.payload]).toEqual([1, 2, 3, 255]);
      expect(await Promise.all([s.messages.ack(m.id, T0 + 2), s.messages.ack(m.id, T0 + 2)])).toEqual([true, false]);
      expect(await s.messages.accept(m, T0 + 3)).toEqual({ accepted: false });
      expect(await s.messages.claim(10, T0 + 4)).toEqual([]);
      expect(await s.messages.get(m.id)).toMatchObject({ status: "Delivered", delivered_at: T0 + 2 });
      expect(await s.messages.pruneDelivered(T0 + 3)).toBe(1);
    });

    it("messages - in-flight messages come back after a crash; release, per-recipient claims and expiry", async () => {
      const s = await fresh();
      const to = AgentId.new();
      const mine = [message({ to }), message({ to })];
      const other = message();
      const short = message({ ttl: 10 });
      for (const m of [...mine, other, short]) await s.messages.accept(m, T0);
      expect((await s.messages.claim(10, T0 + 1, to)).map((m) => m.id)).toEqual(mine.map((m) => m.id));
      expect(await s.messages.requeueInFlight()).toBe(2);
      const again = await s.messages.claim(1, T0 + 2, to);
      expect(again.map((m) => [m.id, m.attempts])).toEqual([[mine[0]!.id, 2]]);
      expect(await s.messages.release(mine[0]!.id)).toBe(true);
      expect(await s.messages.release(mine[0]!.id)).toBe(false);
      expect(await s.messages.countByStatus()).toEqual({ Pending: 4, InFlight: 0, Delivered: 0, Failed: 0, Expired: 0 });
      expect((await s.messages.takeExpired(T0 + 10, 10)).map((m) => m.id)).toEqual([short.id]);
      expect(await s.messages.get(short.id)).toBeUndefined();
      expect((await s.messages.claim(10, T0 + 11)).map((m) => m.id)).toEqual([...mine.map((m) => m.id), other.id]);
    });

    it("messages - a held message is acked straight from Pending; failed and expired are final and pruned", async () => {
      const s = await fresh();
      const [held, dead, late] = [message(), message(), message()];
      for (const m of [held, dead, late]) await s.messages.accept(m, T0);
      expect(await Promise.all([s.messages.ack(held.id, T0 + 1), s.messages.ack(held.id, T0 + 1)])).toEqual([true, false]);
      expect(await s.messages.settle(dead.id, "Failed", T0 + 1)).toBe(true);
      expect(await s.messages.claim(10, T0 + 1)).toHaveLength(1);
      expect(await s.messages.settle(late.id, "Expired", T0 + 2)).toBe(true);
      expect(await s.messages.settle(late.id, "Failed", T0 + 2)).toBe(false);
      expect(await s.messages.ack(dead.id, T0 + 2)).toBe(false);
      expect(await s.messages.get(dead.id)).toMatchObject({ status: "Failed", delivered_at: T0 + 1 });
      expect(await s.messages.countByStatus()).toEqual({ Pending: 0, InFlight: 0, Delivered: 1, Failed: 1, Expired: 1 });
      expect(await s.messages.claim(10, T0 + 3)).toEqual([]);
      expect(await s.messages.pruneDelivered(T0 + 2)).toBe(2);
      expect(await s.messages.get(late.id)).toMatchObject({ status: "Expired" });
    });

    it("bus keys - stored opaque, replaced, listed in order, removed", async () => {
      const s = await fresh();
      const [a, b] = [AgentId.new(), AgentId.new()];
      await s.busKeys.put(a, Uint8Array.of(1, 2, 3));
      await s.busKeys.put(b, Uint8Array.of(9));
      await s.busKeys.put(a, Uint8Array.of(4, 5));
      expect([...((await s.busKeys.get(a)) ?? [])]).toEqual([4, 5]);
      expect((await s.busKeys.list()).map((k) => [k.agent_id, [...k.sealed]])).toEqual([
        [a, [4, 5]],
        [b, [9]],
      ]);
      await s.busKeys.remove(a);
      expect(await s.busKeys.get(a)).toBeUndefined();
      expect((await s.busKeys.list()).map((k) => k.agent_id)).toEqual([b]);
    });

    it("dead letters - bounded by capacity, oldest dropped, idempotent by id", async () => {
      const s = await fresh();
      for (let i = 0; i < 5; i++) {
        await s.deadLetters.add({ id: `d${i}`, kind: i % 2 ? "task" : "message", ref_id: `r${i}`, agent_id: null, reason: "ttl", attempts: i, payload: { i }, created_at: T0 + i }, 3);
      }
      await s.deadLetters.add({ id: "d4", kind: "task", ref_id: "dup", agent_id: null, reason: "dup", attempts: 0, created_at: T0 }, 3);
      expect((await s.deadLetters.list()).map((d) => [d.id, d.payload])).toEqual([
        ["d2", { i: 2 }],
        ["d3", { i: 3 }],
        ["d4", { i: 4 }],
      ]);
      expect(await s.deadLetters.count()).toBe(3);
      expect(await s.deadLetters.remove("d3")).toBe(true);
      expect(await s.deadLetters.remove("d3")).toBe(false);
      expect(await s.deadLetters.list(1)).toHaveLength(1);
    });

    it("group commit - many concurrent writes share transactions and all resolve after commit", async () => {
      const s = await fresh();
      const ts = Array.from({ length: 2_000 }, () => task());
      const results = await Promise.all(ts.map((t) => s.tasks.accept(t, T0)));
      expect(results.every((r) => r.accepted)).toBe(true);
      expect((await s.tasks.countByStatus()).Pending).toBe(2_000);
    });

    it("close - flushes pending writes and later calls fail with STORE_CLOSED", async () => {
      const s = await make();
      const writes = Array.from({ length: 50 }, () => s.tasks.accept(task(), T0));
      await s.close();
      await Promise.all(writes);
      await s.close();
      await expect(s.tasks.accept(task(), T0)).rejects.toMatchObject({ code: "STORE_CLOSED" });
      await expect(s.agents.list()).rejects.toMatchObject({ code: "STORE_CLOSED" });
    });

    if (options.reopen) it("durability - everything acknowledged is there after reopening", async () => {
      const s = await make();
      const a = agent({ state: "Running" });
      const t = task();
      const m = message();
      const sc = schedule();
      await Promise.all([s.agents.put(a), s.tasks.accept(t, T0), s.messages.accept(m, T0), s.schedules.put(sc)]);
      await s.tasks.claim(t.id, "n1", T0 + 1);
      await s.close();
      const r = await options.reopen!(s);
      open.push(r);
      expect(await r.agents.get(a.id)).toEqual(a);
      expect(await r.tasks.get(t.id)).toMatchObject({ status: "Running", attempts: 1 });
      expect((await r.messages.get(m.id))?.status).toBe("Pending");
      expect(await r.schedules.get(sc.id)).toEqual(sc);
      expect(r.info.schema_version).toBeGreaterThanOrEqual(1);
    });
  });
}
