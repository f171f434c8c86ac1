/**
 * DefaultScheduler: a priority queue (FIFO within a priority, optional aging) feeding executor slots under
 * `max_concurrent_tasks`, with per-task timeouts, cancellation, retries decided by the error handler,
 * pause/resume, load balancing and executor health checks.
 *
 * A task is in exactly one place: the ready queue, the delay heap (scheduled_time ahead), waiting on its
 * agent (suspended, initializing...), waiting out a retry backoff, running, or finished. Timing uses the
 * injected Clock, so tests drive it with ManualClock.
 *
 * With a TaskJournal (a durable state store) a task is also in the store: `scheduleTask` returns only after
 * the task committed ("accepting"), a task starts only after the store let this node claim it ("claiming"),
 * and a task's end is announced (status, waiters, `task.finished`) only after it committed. A shutdown leaves
 * pending and interrupted tasks in the store for `restore()` at the next start.
 */
import "./events.js";
import type { Clock } from "../core/clock.js";
import type { SchedulerConfig } from "../core/config/scheduler.js";
import { LifecycleError, ValidationError, toRuntimeError, type RuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId, TaskId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { PRIORITIES, type Priority } from "../core/types.js";
import { ExecutorHealth } from "./executor-health.js";
import { LoadBalancer, makeSlots, type ExecutorSlot } from "./load-balancer.js";
import { TaskStats } from "./metrics.js";
import { alreadyExists, alreadyFinished, notFound, queueFull, taskCancelled, taskError, taskTimedOut } from "./task-errors.js";
import { QUEUED, Run, type Delayed, type TaskRecord } from "./task-record.js";
import { validateTaskRequest } from "./task-request.js";
import { AgentWaitLists, TaskQueue } from "./task-queue.js";
import { TimedHeap } from "./timed-heap.js";
import type { FinalStatus, TaskJournal } from "./task-journal.js";
import type {
  RunningTask,
  ScheduledTask,
  Scheduler,
  SchedulerMetrics,
  TaskFailureSink,
  TaskListQuery,
  TaskRequest,
  TaskRunner,
  TaskStatus,
  TaskView,
  UsageProbe,
} from "./types.js";

export interface SchedulerDeps {
  readonly config: SchedulerConfig;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly runner: TaskRunner;
  /** The error handler; without one a failed task is simply Failed. */
  readonly failures?: TaskFailureSink;
  /** Measured usage per agent (the resource manager) for ResourceBased balancing. */
  readonly usage?: UsageProbe;
  /** Where tasks are persisted when the runtime has a durable store. */
  readonly journal?: TaskJournal;
}

export class DefaultScheduler implements Scheduler {
  readonly #config: SchedulerConfig;
  readonly #clock: Clock;
  readonly #events: EventStream;
  readonly #logger: Logger;
  readonly #runner: TaskRunner;
  #failures: TaskFailureSink | undefined;
  readonly #journal: TaskJournal | undefined;
  readonly #records = new Map<TaskId, TaskRecord>();
  readonly #finished: TaskId[] = [];
  #finishedHead = 0;
  readonly #ready: TaskQueue<TaskRecord>;
  readonly #delayed: TimedHeap<Delayed>;
  /** Running tasks' deadlines: one clock timer for the earliest rather than one per task. */
  readonly #deadlines: TimedHeap<Run>;
  readonly #waiting = new AgentWaitLists<TaskRecord>();
  #retryingCount = 0;
  #acceptingCount = 0;
  #claimingCount = 0;
  /** Agents with a failure being decided: their other tasks wait, so a restart or suspension comes first. */
  readonly #deciding = new Map<AgentId, number>();
  readonly #running = new Map<TaskId, TaskRecord>();
  readonly #slots: ExecutorSlot[];
  readonly #balancer: LoadBalancer;
  readonly #health: ExecutorHealth | undefined;
  #seq = 0;
  #lastPending: Extract<TaskStatus, { state: "Pending" }> | undefined;
  #paused = false;
  #closing = false;
  #pumping = false;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #stats: TaskStats;

  constructor(deps: SchedulerDeps) {
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#logger = deps.logger.child({ component: "scheduler" });
    this.#runner = deps.runner;
    this.#failures = deps.failures;
    this.#journal = deps.journal;
    this.#paused = deps.config.start_paused;
    this.#ready = new TaskQueue(deps.config.enable_priority_scheduling, deps.config.aging_interval);
    this.#delayed = new TimedHeap<Delayed>(
      this.#clock,
      (d, now) => this.#pushReady(d.rec, now),
      () => this.#pump(),
    );
    this.#deadlines = new TimedHeap<Run>(this.#clock, (run) => this.#expire(run));
    this.#slots = makeSlots(deps.config.worker_threads, deps.config.max_concurrent_tasks, deps.config.executor_weights);
    this.#balancer = new LoadBalancer(deps.config.load_balancing_strategy, this.#slots, deps.usage);
    this.#stats = new TaskStats(this.#clock.now());
    // A task waiting on its agent is looked at again whenever that agent changes state.
    this.#unsubscribe.push(
      this.#events.on("agent.state_changed", (e) => this.#agentChanged(e.agent_id)),
      this.#events.on("agent.removed", (e) => this.#agentChanged(e.agent_id)),
    );
    const runner = this.#runner;
    if (runner.probe) {
      this.#health = new ExecutorHealth({
        slots: this.#slots,
        probe: (id) => (runner.probe as (id: string) => Promise<boolean>).call(runner, id),
        clock: this.#clock,
        events: this.#events,
        logger: this.#logger,
        intervalMs: deps.config.health_check_interval,
        onRound: () => this.#pump(),
      });
      this.#health.start();
    }
  }

  /** Wires the error handler after construction (the two refer to each other). */
  setFailureSink(sink: TaskFailureSink): void {
    this.#failures = sink;
  }

  // ---- the spec's methods ----

  /**
   * Not an async function: without a journal a task is queued synchronously, and an async function would
   * allocate its suspendable frame on every call (enqueueing 10,000 tasks is benchmarked). Errors still
   * come back as a rejected promise.
   */
  scheduleTask(request: TaskRequest): Promise<ScheduledTask> {
    try {
      const now = this.#clock.now();
      const rec = this.#admit(request, now);
      if (this.#journal) return this.#acceptDurably(rec, this.#journal);
      this.#announceScheduled(rec.task);
      this.#enqueue(rec, now);
      this.#pump();
      return Promise.resolve(rec.task);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Validates a new task against the queue's bounds and records it (not yet queued). */
  #admit(request: TaskRequest, now: number): TaskRecord {
    this.#assertOpen();
    const task = validateTaskRequest(request, now, this.#config.task_timeout);
    if (this.#records.has(task.id)) throw alreadyExists(task.id);
    const pending = this.#pendingCount();
    if (pending >= this.#config.task_queue_size) {
      throw queueFull(this.#config.task_queue_size, pending);
    }
    this.#failures?.assertAccepting(task.agent_id);
    const rec: TaskRecord = {
      task,
      status: this.#pendingStatus(now),
      place: this.#journal ? "accepting" : "ready",
      seq: this.#seq,
      order: this.#seq++,
      // Stamped when the task joins the ready queue (#pushReady), the only moment wait time counts from.
      enqueued_mono: 0,
      attempt: 0,
      queued: -1,
    };
    this.#records.set(task.id, rec);
    return rec;
  }

  /**
   * Queues the task once the journal committed it: an acknowledged task survives a crash. Throws
   * TASK_ALREADY_EXISTS when its id is already stored. A `then` rather than an async function: a burst of
   * concurrent accepts keeps every pending continuation alive until its group commit, and a suspended async
   * frame is twice the garbage of two small closures.
   */
  #acceptDurably(rec: TaskRecord, journal: TaskJournal): Promise<ScheduledTask> {
    this.#acceptingCount++;
    let stored: Promise<{ readonly accepted: boolean }>;
    try {
      stored = journal.accept(rec.task);
    } catch (err) {
      this.#notAccepted(rec);
      throw err;
    }
    return stored.then(
      (r) => this.#accepted(rec, r.accepted),
      (err: unknown) => {
        this.#notAccepted(rec);
        throw err;
      },
    );
  }

  #notAccepted(rec: TaskRecord): void {
    this.#acceptingCount--;
    this.#drop(rec);
  }

  #accepted(rec: TaskRecord, fresh: boolean): ScheduledTask {
    if (!fresh) {
      this.#notAccepted(rec);
      throw alreadyExists(rec.task.id);
    }
    this.#acceptingCount--;
    const now = this.#clock.now();
    if (rec.cancelRequested !== undefined) this.#finish(rec, { state: "Cancelled", finished_at: now, reason: rec.cancelRequested }, 0);
    else if (this.#closing) this.#finish(rec, { state: "Cancelled", finished_at: now, reason: "scheduler shut down" }, 0, false);
    // Cancelled, or the scheduler shut down, while the task was being committed.
    if (rec.place === "done") return rec.task;
    this.#announceScheduled(rec.task);
    this.#enqueue(rec, now);
    this.#pump();
    return rec.task;
  }

  /**
   * Statuses are immutable values, so tasks that became Pending in the same millisecond share one (frozen):
   * a burst of enqueues keeps a few status objects alive rather than one per task.
   */
  #pendingStatus(since: number): TaskStatus {
    let status = this.#lastPending;
    if (status?.since !== since) this.#lastPending = status = Object.freeze({ state: "Pending", since } as const);
    return status;
  }

  #announceScheduled(task: ScheduledTask): void {
    if (this.#events.listening("task.scheduled")) {
      this.#events.emit("task.scheduled", { task_id: task.id, agent_id: task.agent_id, priority: task.priority, scheduled_time: task.scheduled_time });
    }
  }

  /**
   * Puts back what a restart must resume: every stored Pending task, with the attempts it already made, in
   * arrival order (so dispatch order is priority, then arrival). Tasks that were Running when the last process
   * died are among them once store recovery (`recoverStoredWork`) re-queued them, so call this after it.
   * Returns how many tasks came back.
   */
  async restore(): Promise<number> {
    if (!this.#journal) return 0;
    const stored = await this.#journal.pending();
    const now = this.#clock.now();
    const mono = this.#clock.monotonic();
    let restored = 0;
    for (const { task, attempts } of stored) {
      if (this.#records.has(task.id)) continue;
      const rec: TaskRecord = { task, status: this.#pendingStatus(now), place: "ready", seq: this.#seq, order: this.#seq++, enqueued_mono: mono, attempt: attempts, queued: -1 };
      this.#records.set(task.id, rec);
      this.#enqueue(rec, now);
      restored++;
    }
    this.#pump();
    return restored;
  }

  async cancelTask(taskId: TaskId): Promise<void> {
    const rec = this.#get(taskId);
    const reason = "cancelled";
    switch (rec.place) {
      case "done":
        throw alreadyFinished(rec.task.id, rec.status.state);
      case "running": {
        const run = rec.run as Run;
        if (!run.stop) {
          run.stop = "cancel";
          run.cancelReason = reason;
          run.abort(taskCancelled(rec.task, reason));
        }
        await this.waitForTask(taskId);
        return;
      }
      case "accepting":
      case "claiming":
      case "deciding":
        rec.cancelRequested = reason;
        await this.waitForTask(taskId);
        return;
      default:
        this.#unplace(rec);
        this.#finish(rec, { state: "Cancelled", finished_at: this.#clock.now(), reason }, 0);
        await this.#committed(rec);
    }
  }

  async getTaskStatus(taskId: TaskId): Promise<TaskStatus> {
    const rec = this.#records.get(taskId);
    if (rec) return rec.status;
    const stored = await this.#journal?.status(taskId);
    if (stored) return stored;
    throw notFound(taskId);
  }

  async listPendingTasks(): Promise<ScheduledTask[]> {
    const out: ScheduledTask[] = [];
    for (const rec of this.#ready.entries()) out.push(rec.task);
    for (const d of this.#delayed.live()) out.push(d.rec.task);
    for (const rec of this.#waiting.items()) out.push(rec.task);
    return out;
  }

  async listRunningTasks(): Promise<RunningTask[]> {
    return [...this.#running.values()].map((rec) => {
      const run = rec.run as Run;
      return { task: rec.task, started_at: run.started_at, executor_id: run.slot.id, attempt: rec.attempt, deadline: run.deadline };
    });
  }

  async getSchedulerMetrics(): Promise<SchedulerMetrics> {
    const pendingByPriority: Record<Priority, number> = { Low: 0, Normal: 0, High: 0, Critical: 0 };
    for (const t of await this.listPendingTasks()) pendingByPriority[t.priority]++;
    const now = this.#clock.now();
    return {
      pending: this.#pendingCount(),
      running: this.#running.size,
      retrying: this.#retryingCount,
      ...this.#stats.snapshot(now),
      pending_by_priority: pendingByPriority,
      paused: this.#paused,
      executors: this.#slots.map((s) => ({
        id: s.id,
        weight: s.weight,
        healthy: s.healthy,
        active: s.active,
        capacity: s.capacity,
        assigned: s.assigned,
      })),
    };
  }

  async updateTaskPriority(taskId: TaskId, priority: Priority): Promise<void> {
    if (!PRIORITIES.includes(priority)) {
      throw new ValidationError("priority", [{ path: "priority", message: `expected one of ${PRIORITIES.join(", ")}` }]);
    }
    const rec = this.#get(taskId);
    if (rec.place === "done") throw alreadyFinished(rec.task.id, rec.status.state);
    rec.task = { ...rec.task, priority };
    await this.#journal?.updatePriority(taskId, priority);
    if (rec.place === "ready") {
      // Re-queued at the back of its new priority, keeping its wait time for aging.
      this.#ready.remove(rec);
      rec.seq = this.#seq++;
      this.#pushReady(rec, rec.enqueued_mono);
      this.#pump();
    }
  }

  async pauseScheduling(): Promise<void> {
    this.#assertOpen();
    if (this.#paused) return;
    this.#paused = true;
    this.#events.emit("scheduler.paused", {});
  }

  async resumeScheduling(): Promise<void> {
    this.#assertOpen();
    if (!this.#paused) return;
    this.#paused = false;
    this.#events.emit("scheduler.resumed", {});
    this.#pump();
  }

  waitForTask(taskId: TaskId): Promise<TaskStatus> {
    const rec = this.#records.get(taskId);
    if (!rec) return this.#storedEnd(taskId);
    if (rec.place === "done" && !rec.committing) return Promise.resolve(rec.status);
    return new Promise((resolve) => (rec.waiters ??= []).push(resolve));
  }

  /** Resolves once the end of a finished task has been committed. */
  #committed(rec: TaskRecord): Promise<unknown> {
    if (!rec.committing) return Promise.resolve();
    return new Promise((resolve) => (rec.waiters ??= []).push(resolve));
  }

  /** A task no longer in memory: its end as the store recorded it. */
  async #storedEnd(taskId: TaskId): Promise<TaskStatus> {
    const stored = await this.#journal?.status(taskId);
    if (stored && stored.state !== "Pending" && stored.state !== "Running" && stored.state !== "Retrying") return stored;
    throw notFound(taskId);
  }

  async listTasks(query: TaskListQuery): Promise<TaskView[]> {
    const out: TaskView[] = [];
    // Records are kept in acceptance order, so the newest are at the end.
    const all = [...this.#records.values()];
    for (let i = all.length - 1; i >= 0 && out.length < query.limit; i--) {
      const rec = all[i] as TaskRecord;
      if (query.before !== undefined && rec.order >= query.before) continue;
      if (query.agent_id !== undefined && rec.task.agent_id !== query.agent_id) continue;
      out.push({ task: rec.task, status: rec.status, order: rec.order });
    }
    return out;
  }

  reassignPendingTasks(from: AgentId, to: AgentId): number {
    let moved = 0;
    const move = (rec: TaskRecord) => {
      rec.task = { ...rec.task, agent_id: to };
      this.#record(this.#journal?.reassign(rec.task.id, to), rec);
      this.#events.emit("task.reassigned", { task_id: rec.task.id, agent_id: to, from });
      moved++;
    };
    for (const rec of this.#ready.entries()) if (rec.task.agent_id === from) move(rec);
    for (const d of this.#delayed.live()) if (d.rec.task.agent_id === from) move(d.rec);
    for (const rec of this.#records.values()) if (rec.place === "retrying" && rec.task.agent_id === from) move(rec);
    const waiting = this.#waiting.take(from);
    if (waiting) {
      for (const rec of waiting) {
        move(rec);
        this.#pushReady(rec, rec.enqueued_mono, rec.seq);
      }
    }
    if (moved) this.#pump();
    return moved;
  }

  async cancelAgentTasks(agentId: AgentId, reason: string): Promise<number> {
    const victims = [...this.#records.values()].filter((r) => r.task.agent_id === agentId && QUEUED.has(r.place));
    const now = this.#clock.now();
    for (const rec of victims) {
      this.#unplace(rec);
      this.#finish(rec, { state: "Cancelled", finished_at: now, reason }, 0);
    }
    await Promise.all(victims.map((rec) => this.#committed(rec)));
    return victims.length;
  }

  async shutdown(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const u of this.#unsubscribe) u();
    this.#health?.stop();
    this.#delayed.stop();
    this.#deadlines.stop();
    const reason = "scheduler shut down";
    const running = [...this.#running.values()];
    for (const rec of running) {
      const run = rec.run as Run;
      if (!run.stop) {
        run.stop = "shutdown";
        run.cancelReason = reason;
        run.abort(taskCancelled(rec.task, reason));
      }
    }
    const claiming: TaskRecord[] = [];
    const now = this.#clock.now();
    for (const rec of [...this.#records.values()]) {
      if (rec.place === "claiming") claiming.push(rec);
      if (!QUEUED.has(rec.place)) continue;
      this.#unplace(rec);
      // Not recorded: with a durable store the task stays Pending, to be resumed by the next start.
      this.#finish(rec, { state: "Cancelled", finished_at: now, reason }, 0, false);
    }
    await Promise.all([...running, ...claiming].map((r) => this.waitForTask(r.task.id)));
  }

  // ---- queueing ----

  #assertOpen(): void {
    if (this.#closing) throw new LifecycleError("RUNTIME_SHUT_DOWN", "The scheduler has been shut down");
  }

  #get(taskId: TaskId): TaskRecord {
    const rec = this.#records.get(taskId);
    if (!rec) throw notFound(taskId);
    return rec;
  }

  #pendingCount(): number {
    return this.#ready.size + this.#delayed.length + this.#waiting.size + this.#acceptingCount;
  }

  /** Forgets a task the store did not take (or holds elsewhere); anyone waiting on it learns it will not run here. */
  #drop(rec: TaskRecord, status?: TaskStatus): void {
    this.#records.delete(rec.task.id);
    rec.place = "done";
    const end: TaskStatus = status ?? { state: "Cancelled", finished_at: this.#clock.now(), reason: "not accepted" };
    for (const w of rec.waiters ?? []) w(end);
    rec.waiters = undefined;
  }

  /** Logs a journal write nobody awaits; if it failed, the store lags behind memory until the task's next write. */
  #record(write: Promise<void> | undefined, rec: TaskRecord): void {
    write?.catch((err: unknown) => this.#logger.error({ err, task_id: rec.task.id }, "could not record a task change in the state store"));
  }

  /** Puts a new or returning task where it belongs: delayed when its time is ahead, else ready. */
  #enqueue(rec: TaskRecord, now: number): void {
    const delay = rec.task.scheduled_time - now;
    if (delay > 0) {
      rec.place = "delayed";
      const d: Delayed = { at: this.#clock.monotonic() + delay, seq: rec.seq, dead: false, rec };
      rec.delayed = d;
      this.#delayed.push(d);
    } else {
      this.#pushReady(rec, this.#clock.monotonic());
    }
  }

  #pushReady(rec: TaskRecord, enqueuedMono: number, seq = rec.seq): void {
    rec.place = "ready";
    rec.enqueued_mono = enqueuedMono;
    this.#ready.push(rec, rec.task.priority, seq);
  }

  /** Takes a not-running task out of wherever it waits. */
  #unplace(rec: TaskRecord): void {
    switch (rec.place) {
      case "ready":
        this.#ready.remove(rec);
        break;
      case "delayed":
        if (rec.delayed) this.#delayed.remove(rec.delayed);
        break;
      case "waiting":
        this.#waiting.remove(rec.task.agent_id, rec);
        break;
      case "retrying":
        this.#clock.clearTimeout(rec.retryTimer);
        this.#retryingCount--;
        break;
      default:
        break;
    }
  }

  /** Aborts a running task whose deadline has passed (TimedOut once its runner has stopped it). */
  #expire(run: Run): void {
    if (run.stop || run.rec.run !== run) return;
    run.stop = "timeout";
    run.abort(taskTimedOut(run.rec.task));
  }

  #agentChanged(agentId: AgentId): void {
    if (!this.#waiting.has(agentId)) return;
    // After the other listeners of this event (the executor's view of the agent) have run.
    queueMicrotask(() => this.#unpark(agentId));
  }

  #unpark(agentId: AgentId): void {
    const list = this.#waiting.take(agentId);
    if (!list) return;
    for (const rec of list) this.#pushReady(rec, rec.enqueued_mono, rec.seq);
    this.#pump();
  }

  // ---- dispatch ----

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      const max = this.#config.max_concurrent_tasks;
      while (!this.#paused && !this.#closing && this.#running.size + this.#claimingCount < max && this.#balancer.hasCapacity()) {
        const rec = this.#ready.pop(this.#clock.monotonic());
        if (!rec) break;
        this.#dispatch(rec);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #dispatch(rec: TaskRecord): void {
    const agentId = rec.task.agent_id;
    const readiness = this.#deciding.has(agentId) ? "wait" : this.#runner.readiness(agentId);
    if (readiness === "wait") {
      rec.place = "waiting";
      this.#waiting.add(agentId, rec);
      return;
    }
    if (readiness !== "ready") {
      this.#finish(rec, { state: "Failed", finished_at: this.#clock.now(), error: taskError(readiness) }, 0);
      return;
    }
    try {
      this.#failures?.admit(agentId);
    } catch (err) {
      this.#finish(rec, { state: "Failed", finished_at: this.#clock.now(), error: taskError(toRuntimeError(err)) }, 0);
      return;
    }
    const slot = this.#balancer.choose() as ExecutorSlot;
    slot.active++;
    slot.assigned++;
    slot.agents.push(agentId);
    if (this.#journal) void this.#claim(rec, slot, this.#journal);
    else this.#start(rec, slot);
  }

  #releaseSlot(slot: ExecutorSlot, agentId: AgentId): void {
    slot.active--;
    // Order does not matter: swap the last entry in rather than shifting every later one.
    const agents = slot.agents;
    const i = agents.lastIndexOf(agentId);
    if (i < 0) return;
    agents[i] = agents[agents.length - 1] as AgentId;
    agents.pop();
  }

  /** Starts the task once the store let this node claim it; a task the store holds as finished never runs again. */
  async #claim(rec: TaskRecord, slot: ExecutorSlot, journal: TaskJournal): Promise<void> {
    rec.place = "claiming";
    this.#claimingCount++;
    let attempts: number | undefined;
    let failure: RuntimeError | undefined;
    try {
      attempts = await journal.claim(rec.task.id);
    } catch (err) {
      failure = toRuntimeError(err);
    }
    this.#claimingCount--;
    if (attempts !== undefined && rec.cancelRequested === undefined && !this.#closing) {
      rec.attempt = attempts - 1;
      this.#start(rec, slot);
      return;
    }
    this.#releaseSlot(slot, rec.task.agent_id);
    const now = this.#clock.now();
    if (failure) {
      this.#logger.error({ err: failure, task_id: rec.task.id }, "could not claim the task in the state store");
      this.#finish(rec, { state: "Failed", finished_at: now, error: taskError(failure) }, 0, false);
    } else if (attempts === undefined) {
      // Finished already, or claimed by another node sharing the store.
      const stored = await journal.status(rec.task.id).catch(() => undefined);
      this.#drop(rec, stored && FINAL.has(stored.state) ? stored : { state: "Cancelled", finished_at: now, reason: "claimed by another node" });
    } else if (rec.cancelRequested !== undefined) {
      this.#finish(rec, { state: "Cancelled", finished_at: now, reason: rec.cancelRequested }, 0);
    } else {
      this.#finish(rec, { state: "Cancelled", finished_at: now, reason: "scheduler shut down" }, 0, false);
    }
    this.#pump();
  }

  #start(rec: TaskRecord, slot: ExecutorSlot): void {
    const task = rec.task;
    const now = this.#clock.now();
    const mono = this.#clock.monotonic();
    rec.attempt++;
    const run = new Run(rec, slot, now, mono, mono + task.timeout, rec.seq, rec.attempt);
    this.#deadlines.push(run);
    rec.run = run;
    rec.place = "running";
    this.#running.set(task.id, rec);
    rec.status = { state: "Running", started_at: now, executor_id: slot.id, attempt: rec.attempt };
    const waitMs = mono - rec.enqueued_mono;
    this.#stats.started(waitMs);
    if (this.#events.listening("task.started")) {
      this.#events.emit("task.started", { task_id: task.id, agent_id: task.agent_id, executor_id: slot.id, attempt: rec.attempt, wait_ms: waitMs });
    }
    let p: Promise<unknown>;
    try {
      p = this.#runner.run(task, run);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (result) => this.#settle(rec, true, result),
      (err: unknown) => this.#settle(rec, false, err),
    );
  }

  #settle(rec: TaskRecord, ok: boolean, value: unknown): void {
    const run = rec.run as Run;
    this.#deadlines.remove(run);
    rec.run = undefined;
    this.#releaseSlot(run.slot, rec.task.agent_id);
    this.#running.delete(rec.task.id);
    const duration = this.#clock.monotonic() - run.started_mono;
    this.#stats.ran(duration);
    const now = this.#clock.now();
    if (run.stop === "cancel" || run.stop === "shutdown") {
      this.#finish(rec, { state: "Cancelled", finished_at: now, reason: run.cancelReason ?? "cancelled" }, duration, run.stop === "cancel");
    } else if (run.stop === "timeout") {
      void this.#failed(rec, taskTimedOut(rec.task), "TimedOut", duration);
    } else if (ok) {
      this.#failures?.recordSuccess(rec.task.agent_id);
      this.#finish(rec, { state: "Completed", finished_at: now, result: value }, duration);
    } else {
      void this.#failed(rec, toRuntimeError(value), "Failed", duration);
    }
    this.#pump();
  }

  /** Asks the error handler what the failure means, then retries, reassigns or finishes the task. */
  async #failed(rec: TaskRecord, error: RuntimeError, final: "Failed" | "TimedOut", duration: number): Promise<void> {
    rec.place = "deciding";
    const agentId = rec.task.agent_id;
    let outcome: { retry_after_ms?: number; reassign_to?: AgentId } = {};
    if (this.#failures) {
      this.#deciding.set(agentId, (this.#deciding.get(agentId) ?? 0) + 1);
      try {
        outcome = await this.#failures.handleTaskFailure(rec.task, error, rec.attempt);
      } catch (err) {
        this.#logger.error({ err, task_id: rec.task.id }, "error handler failed; the task fails");
      } finally {
        const n = (this.#deciding.get(agentId) ?? 1) - 1;
        if (n > 0) this.#deciding.set(agentId, n);
        else {
          this.#deciding.delete(agentId);
          queueMicrotask(() => this.#unpark(agentId));
        }
      }
    }
    const now = this.#clock.now();
    const mayRetry = rec.task.retry_count < this.#config.retry_attempts && !this.#closing;
    if (rec.cancelRequested !== undefined) {
      this.#finish(rec, { state: "Cancelled", finished_at: now, reason: rec.cancelRequested }, duration);
    } else if (mayRetry && outcome.reassign_to !== undefined) {
      const from = rec.task.agent_id;
      rec.task = { ...rec.task, agent_id: outcome.reassign_to, retry_count: rec.task.retry_count + 1 };
      this.#record(this.#journal?.retry(rec.task.id, now, taskError(error)), rec);
      this.#record(this.#journal?.reassign(rec.task.id, outcome.reassign_to), rec);
      this.#events.emit("task.reassigned", { task_id: rec.task.id, agent_id: outcome.reassign_to, from });
      rec.status = this.#pendingStatus(now);
      rec.seq = this.#seq++;
      this.#pushReady(rec, this.#clock.monotonic());
      this.#pump();
    } else if (mayRetry && outcome.retry_after_ms !== undefined) {
      this.#retry(rec, error, outcome.retry_after_ms);
    } else {
      const state = final === "TimedOut" ? ({ state: "TimedOut", finished_at: now, error: taskError(error) } as const) : ({ state: "Failed", finished_at: now, error: taskError(error) } as const);
      this.#finish(rec, state, duration);
    }
  }

  #retry(rec: TaskRecord, error: RuntimeError, delay: number): void {
    const now = this.#clock.now();
    rec.task = { ...rec.task, retry_count: rec.task.retry_count + 1 };
    rec.place = "retrying";
    this.#retryingCount++;
    rec.status = { state: "Retrying", retry_at: now + delay, attempt: rec.attempt + 1, error: taskError(error) };
    this.#record(this.#journal?.retry(rec.task.id, now + delay, rec.status.error), rec);
    this.#events.emit("task.retrying", {
      task_id: rec.task.id,
      agent_id: rec.task.agent_id,
      attempt: rec.attempt + 1,
      delay_ms: delay,
      error_code: error.code,
    });
    const requeue = () => {
      rec.retryTimer = undefined;
      this.#retryingCount--;
      rec.status = this.#pendingStatus(this.#clock.now());
      rec.seq = this.#seq++;
      this.#pushReady(rec, this.#clock.monotonic());
      this.#pump();
    };
    // No wait (a retry after a restart) goes straight back to the queue.
    if (delay <= 0) requeue();
    else rec.retryTimer = this.#clock.setTimeout(requeue, delay);
  }

  /**
   * Ends a task. With a journal the end is committed first (unless `durable` is false: a shutdown leaves the
   * task to the next start), and only then announced.
   */
  #finish(rec: TaskRecord, status: FinalStatus, duration: number, durable = true): void {
    rec.place = "done";
    this.#stats.finished(status.state, rec.task.priority, this.#clock.now());
    const journal = durable ? this.#journal : undefined;
    if (!journal) {
      this.#announce(rec, status, duration);
      return;
    }
    rec.committing = true;
    journal.finish(rec.task.id, status).then(
      () => this.#announce(rec, status, duration),
      (err: unknown) => {
        this.#logger.error({ err, task_id: rec.task.id }, "could not record the task's end in the state store; it may run again after a restart");
        this.#announce(rec, status, duration);
      },
    );
  }

  #announce(rec: TaskRecord, status: FinalStatus, duration: number): void {
    rec.status = status;
    rec.committing = undefined;
    const state = status.state;
    this.#events.emit("task.finished", {
      task_id: rec.task.id,
      agent_id: rec.task.agent_id,
      state,
      attempt: rec.attempt,
      duration_ms: duration,
      ...("error" in status ? { error_code: status.error.code } : {}),
    });
    const waiters = rec.waiters;
    rec.waiters = undefined;
    if (waiters) for (const w of waiters) w(status);
    this.#retain(rec.task.id);
  }

  /** Keeps the newest finished_task_retention finished tasks queryable. */
  #retain(id: TaskId): void {
    this.#finished.push(id);
    while (this.#finished.length - this.#finishedHead > this.#config.finished_task_retention) {
      const old = this.#finished[this.#finishedHead++] as TaskId;
      this.#records.delete(old);
    }
    if (this.#finishedHead > 4096 && this.#finishedHead * 2 > this.#finished.length) {
      this.#finished.splice(0, this.#finishedHead);
      this.#finishedHead = 0;
    }
  }
}

const FINAL: ReadonlySet<TaskStatus["state"]> = new Set(["Completed", "Failed", "Cancelled", "TimedOut"]);
