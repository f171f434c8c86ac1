/**
 * The Scheduled execution mode: each Scheduled agent gets a timer that enqueues a task every `interval` ms,
 * or at each time its `cron` expression (croner, 6 fields with seconds and an optional 7th for the year, optional
 * timezone) names.
 *
 * Fire times that pass while the agent cannot take work (suspended, failed, restarting) or while the
 * process stalled are *missed*; `missed_run_policy` decides what happens to them when the agent can work
 * again: RunOnce enqueues one task, CatchUp one per missed time (at most max_catch_up_runs), Skip none.
 *
 * Installed as a lifecycle hook: a bad cron expression fails the agent's initialization with CRON_INVALID in
 * the reason; termination removes the schedule.
 */
import { Cron } from "croner";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { SchedulerConfig } from "../core/config/scheduler.js";
import { SchedulerError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { AgentInstance, AgentState, ExecutionMode, Priority } from "../core/types.js";
import { INITIALIZED_STATES } from "../lifecycle/state-machine.js";
import type { LifecycleHooks } from "../lifecycle/types.js";
import "./events.js";
import type { TaskControl } from "./types.js";

type ScheduledMode = Extract<ExecutionMode, { type: "Scheduled" }>;

/** A parsed schedule: when the next fire after a given time is. */
export interface Schedule {
  readonly describe: string;
  /** The first fire time strictly after `after` (epoch ms), or undefined when the schedule has ended. */
  next(after: number): number | undefined;
}

/** Parses a Scheduled mode into a Schedule, throwing CRON_INVALID with croner's explanation. */
export function parseSchedule(mode: ScheduledMode): Schedule {
  if (mode.cron === undefined) {
    const interval = mode.interval;
    return { describe: `every ${interval} ms`, next: (after) => after + interval };
  }
  let cron: Cron;
  try {
    cron = new Cron(mode.cron, { paused: true, mode: "6-or-7-parts", ...(mode.timezone ? { timezone: mode.timezone } : {}) });
    // A timezone croner cannot resolve only fails on first use.
    cron.nextRun(new Date(0));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new SchedulerError("CRON_INVALID", `Invalid cron schedule ${JSON.stringify(mode.cron)}: ${reason}`, {
      details: { cron: mode.cron, ...(mode.timezone ? { timezone: mode.timezone } : {}), reason },
      cause: err,
    });
  }
  return {
    describe: `cron ${mode.cron}`,
    next: (after) => cron.nextRun(new Date(after))?.getTime(),
  };
}

const CAN_WORK: ReadonlySet<AgentState> = new Set(["Ready", "Running", "Completed", "Waiting"]);

interface Entry {
  readonly agent_id: AgentId;
  /** The mode it was built from, to notice a changed schedule on restart. */
  readonly key: string;
  readonly schedule: Schedule;
  readonly priority: Priority;
  state: AgentState;
  /** Epoch ms of the next fire time. */
  due: number | undefined;
  timer: TimerHandle | undefined;
  missed: number;
}

export interface AgentSchedulesDeps {
  readonly config: Pick<SchedulerConfig, "missed_run_policy" | "max_catch_up_runs">;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly tasks: TaskControl;
}

export class AgentSchedules implements LifecycleHooks {
  readonly name = "schedules";
  readonly #deps: AgentSchedulesDeps;
  readonly #entries = new Map<AgentId, Entry>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(deps: AgentSchedulesDeps) {
    this.#deps = deps;
    this.#unsubscribe = deps.events.on("agent.state_changed", (e) => {
      const entry = this.#entries.get(e.agent_id);
      if (!entry) return;
      const before = CAN_WORK.has(entry.state);
      entry.state = e.to;
      if (!before && CAN_WORK.has(e.to) && entry.missed > 0) this.#catchUp(entry, false);
    });
  }

  /** Lifecycle hook: installs (or replaces, on restart) the schedule of a Scheduled agent. */
  async onInitialize(agent: AgentInstance): Promise<void> {
    const mode = agent.config.execution_mode;
    if (mode.type !== "Scheduled") return;
    this.add(agent.id, mode, agent.config.priority, agent.state);
  }

  /** Lifecycle hook: a Scheduled agent brought back after a restart fires again (missed runs per policy). */
  async onRecover(agent: AgentInstance): Promise<void> {
    if (INITIALIZED_STATES.has(agent.state)) await this.onInitialize(agent);
  }

  async onTerminate(agent: AgentInstance): Promise<void> {
    this.remove(agent.id);
  }

  /** Starts firing for the agent. Throws CRON_INVALID for a bad expression. */
  add(agentId: AgentId, mode: ScheduledMode, priority: Priority, state: AgentState = "Ready"): void {
    const schedule = parseSchedule(mode);
    const key = JSON.stringify([mode.interval, mode.cron ?? null, mode.timezone ?? null, priority]);
    const previous = this.#entries.get(agentId);
    if (previous && previous.key === key) {
      // A restart keeps the timing (and what was missed while the agent was down).
      previous.state = state;
      return;
    }
    if (previous) this.remove(agentId);
    const entry: Entry = { agent_id: agentId, key, schedule, priority, state, due: undefined, timer: undefined, missed: 0 };
    this.#entries.set(agentId, entry);
    this.#arm(entry, this.#deps.clock.now());
  }

  remove(agentId: AgentId): void {
    const entry = this.#entries.get(agentId);
    if (!entry) return;
    this.#deps.clock.clearTimeout(entry.timer);
    this.#entries.delete(agentId);
  }

  /** The next fire time of the agent's schedule (epoch ms), for status and tests. */
  nextFire(agentId: AgentId): number | undefined {
    return this.#entries.get(agentId)?.due;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const id of [...this.#entries.keys()]) this.remove(id);
  }

  #arm(entry: Entry, after: number): void {
    entry.due = entry.schedule.next(after);
    if (entry.due === undefined) return;
    entry.timer = this.#deps.clock.setTimeout(() => this.#fire(entry), Math.max(0, entry.due - this.#deps.clock.now()));
  }

  #fire(entry: Entry): void {
    if (this.#closed || this.#entries.get(entry.agent_id) !== entry || entry.due === undefined) return;
    const now = this.#deps.clock.now();
    // Every fire time up to now is due: one on time, the rest missed because the timer ran late.
    const dueTimes = [entry.due];
    for (let t = entry.schedule.next(entry.due); t !== undefined && t <= now && dueTimes.length <= 10_000; t = entry.schedule.next(t)) {
      dueTimes.push(t);
    }
    const latest = dueTimes[dueTimes.length - 1] as number;
    if (CAN_WORK.has(entry.state)) {
      entry.missed += dueTimes.length - 1;
      if (entry.missed > 0) this.#catchUp(entry, true);
      this.#enqueue(entry, latest);
    } else {
      entry.missed += dueTimes.length;
    }
    this.#arm(entry, Math.max(now, latest));
  }

  /**
   * Applies missed_run_policy to the runs missed so far. With `runningNow` a regular run is being enqueued
   * at the same moment, which already is RunOnce's one run.
   */
  #catchUp(entry: Entry, runningNow: boolean): void {
    const missed = entry.missed;
    entry.missed = 0;
    const { missed_run_policy: policy, max_catch_up_runs } = this.#deps.config;
    const runs = policy === "Skip" ? 0 : policy === "RunOnce" ? (runningNow ? 0 : 1) : Math.min(missed, max_catch_up_runs);
    this.#deps.events.emit("schedule.missed", { agent_id: entry.agent_id, missed, policy, enqueued: runs });
    const now = this.#deps.clock.now();
    for (let i = 0; i < runs; i++) this.#enqueue(entry, now);
  }

  #enqueue(entry: Entry, due: number): void {
    this.#deps.tasks
      .scheduleTask({ agent_id: entry.agent_id, priority: entry.priority, input: { scheduled_for: due } })
      .then((task) => this.#deps.events.emit("schedule.fired", { agent_id: entry.agent_id, task_id: task.id, due_at: due }))
      .catch((err: unknown) => this.#deps.logger.warn({ err, agent_id: entry.agent_id }, "scheduled run could not be enqueued"));
  }
}
