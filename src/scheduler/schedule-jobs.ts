/**
 * ScheduleJobs: named cron jobs that fire scheduler tasks for an agent, managed at run time (see
 * `schedule-job-types.ts`). Each job has its own timer on the injected Clock; a fire time enqueues a task
 * through the scheduler and follows it to its end to record the run.
 *
 * A fire time is skipped (recorded as a Skipped run) when the job's previous run is still going (a job never
 * overlaps itself), when its agent cannot take work (suspended, failed, ...), or when one of its policies
 * denies `schedule.run`. Fire times missed while the runtime was down follow `missed_run_policy`: Skip records
 * them as skipped, RunOnce and CatchUp run once (a job does not overlap itself, so CatchUp cannot do more).
 *
 * Every change a caller makes is persisted in the state store before it is acknowledged; counters and run
 * outcomes are persisted as they happen. Run histories are kept in memory (the newest
 * `schedule_run_history` per job).
 */
import { randomUUID } from "node:crypto";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { SchedulerConfig } from "../core/config/scheduler.js";
import { SchedulerError, toRuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId, TaskId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { AgentState } from "../core/types.js";
import type { ScheduleRepository } from "../store/types.js";
import { parseSchedule, type Schedule } from "./agent-schedules.js";
import { fromStoredSchedule, isScheduleJobRow, toStoredSchedule } from "./schedule-job-record.js";
import type { JobStatus, NewScheduleJob, RunStatus, ScheduleJob, ScheduleJobPatch, ScheduleRun } from "./schedule-job-types.js";
import type { Scheduler, TaskStatus } from "./types.js";

const CAN_WORK: ReadonlySet<AgentState> = new Set(["Ready", "Running", "Completed", "Waiting"]);

/** How the jobs see agents: the lifecycle controller. */
export interface JobAgents {
  /** Throws AGENT_NOT_FOUND for an unknown agent. */
  getAgentState(agentId: AgentId): Promise<AgentState>;
}

/** How the jobs see policies: the policy engine. */
export interface JobPolicies {
  /** Throws POLICY_NOT_FOUND for a policy that is neither installed nor one of the agent's own. */
  getPolicy(policyId: string, agentId: AgentId): Promise<unknown>;
  evaluatePolicy(policyId: string, context: { agent_id: AgentId; operation: string; resource?: string }): Promise<{ allowed: boolean; reasons: readonly string[] }>;
}

export interface ScheduleJobsDeps {
  readonly config: Pick<SchedulerConfig, "missed_run_policy" | "schedule_dead_letter_after" | "schedule_run_history">;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly tasks: Pick<Scheduler, "scheduleTask" | "waitForTask">;
  readonly store: ScheduleRepository;
  readonly agents: JobAgents;
  readonly policies: JobPolicies;
}

type Run = { -readonly [K in keyof ScheduleRun]: ScheduleRun[K] };

interface Entry {
  job: ScheduleJob;
  schedule: Schedule;
  timer: TimerHandle | undefined;
  /** Oldest first. */
  readonly runs: Run[];
  /** Runs started (or being started) and not finished. */
  inFlight: number;
  /** The chain of this job's store writes, so they land in the order issued. */
  saving: Promise<void>;
}

/** Parses a job's cron (6 or 7 fields) and timezone; CRON_INVALID otherwise. */
export function jobSchedule(cron: string, timezone: string): Schedule {
  return parseSchedule({ type: "Scheduled", interval: 1, cron, timezone });
}

export class ScheduleJobs {
  readonly #deps: ScheduleJobsDeps;
  readonly #entries = new Map<string, Entry>();
  readonly #byTask = new Map<TaskId, Run>();
  readonly #unsubscribe: (() => void)[];
  #closed = false;

  private constructor(deps: ScheduleJobsDeps) {
    this.#deps = deps;
    this.#unsubscribe = [
      deps.events.on("agent.removed", (e) => this.#agentGone(e.agent_id, "was removed")),
      deps.events.on("agent.state_changed", (e) => {
        if (e.to === "Terminated") this.#agentGone(e.agent_id, "was terminated");
      }),
      deps.events.on("task.started", (e) => {
        const run = this.#byTask.get(e.task_id);
        if (run) run.started_at = e.at;
      }),
    ];
  }

  /** Loads the persisted jobs and arms the active ones. */
  static async open(deps: ScheduleJobsDeps): Promise<ScheduleJobs> {
    const jobs = new ScheduleJobs(deps);
    await jobs.#load();
    return jobs;
  }

  /** Every job, oldest first. */
  list(): ScheduleJob[] {
    return [...this.#entries.values()].map((e) => e.job).sort((x, y) => x.created_at - y.created_at || (x.id < y.id ? -1 : 1));
  }

  get(id: string): ScheduleJob {
    return this.#entry(id).job;
  }

  /** Validates (cron, timezone, agent, policies), persists, then arms. */
  async create(input: NewScheduleJob): Promise<ScheduleJob> {
    const now = this.#deps.clock.now();
    const timezone = input.timezone ?? "UTC";
    const schedule = jobSchedule(input.cron, timezone);
    const first = schedule.next(now);
    if (first === undefined) throw neverFires(input.cron);
    await this.#deps.agents.getAgentState(input.agent_id);
    const policy_ids = [...new Set(input.policy_ids ?? [])];
    for (const p of policy_ids) await this.#deps.policies.getPolicy(p, input.agent_id);
    const job: ScheduleJob = {
      id: randomUUID(),
      name: input.name,
      agent_id: input.agent_id,
      cron: input.cron.trim(),
      timezone,
      policy_ids,
      one_shot: input.one_shot ?? false,
      ...(input.input !== undefined ? { input: input.input } : {}),
      status: "Active",
      status_reason: null,
      next_run: first,
      last_run: null,
      run_count: 0,
      failure_count: 0,
      consecutive_failures: 0,
      created_at: now,
      updated_at: now,
    };
    await this.#deps.store.put(toStoredSchedule(job, this.#deps.config.missed_run_policy));
    const entry: Entry = { job, schedule, timer: undefined, runs: [], inFlight: 0, saving: Promise.resolve() };
    this.#entries.set(job.id, entry);
    this.#arm(entry);
    this.#changed(entry, "created");
    return job;
  }

  /** Changes any of name, cron, timezone, policies, one_shot, input; an Active (or Completed) job is re-armed from now. */
  async update(id: string, patch: ScheduleJobPatch): Promise<ScheduleJob> {
    const entry = this.#entry(id);
    const job = entry.job;
    const now = this.#deps.clock.now();
    const cron = patch.cron?.trim() ?? job.cron;
    const timezone = patch.timezone ?? job.timezone;
    const schedule = cron !== job.cron || timezone !== job.timezone ? jobSchedule(cron, timezone) : entry.schedule;
    const policy_ids = patch.policy_ids ? [...new Set(patch.policy_ids)] : job.policy_ids;
    for (const p of policy_ids) await this.#deps.policies.getPolicy(p, entry.job.agent_id);
    let { status, next_run } = job;
    if (status === "Active" || status === "Completed") {
      next_run = schedule.next(now) ?? null;
      status = next_run === null ? "Completed" : "Active";
    }
    const { input: _input, ...rest } = job;
    const input = patch.input !== undefined ? patch.input : job.input;
    const next: ScheduleJob = {
      ...rest,
      ...(input !== undefined ? { input } : {}),
      name: patch.name ?? job.name,
      cron,
      timezone,
      policy_ids,
      one_shot: patch.one_shot ?? job.one_shot,
      status,
      next_run,
      updated_at: now,
    };
    return this.#commit(entry, next, schedule, "updated");
  }

  /** Stops firing; idempotent on a Paused job; SCHEDULE_INVALID_STATE unless Active. */
  async pause(id: string): Promise<ScheduleJob> {
    const entry = this.#entry(id);
    if (entry.job.status === "Paused") return entry.job;
    this.#expect(entry, ["Active"], "pause");
    return this.#commit(entry, { ...entry.job, status: "Paused", next_run: null, updated_at: this.#deps.clock.now() }, entry.schedule, "paused");
  }

  /** Fires again from now (a dead-lettered job starts with a clean failure streak); idempotent on an Active job. */
  async resume(id: string): Promise<ScheduleJob> {
    const entry = this.#entry(id);
    if (entry.job.status === "Active") return entry.job;
    this.#expect(entry, ["Paused", "DeadLetter"], "resume");
    const now = this.#deps.clock.now();
    const next_run = entry.schedule.next(now) ?? null;
    return this.#commit(
      entry,
      { ...entry.job, status: next_run === null ? "Completed" : "Active", status_reason: null, next_run, consecutive_failures: 0, updated_at: now },
      entry.schedule,
      "resumed",
    );
  }

  /** Runs the job now, whatever its timing (not for a Failed job, whose agent is gone). */
  async trigger(id: string): Promise<ScheduleRun> {
    const entry = this.#entry(id);
    this.#expect(entry, ["Active", "Paused", "Completed", "DeadLetter"], "trigger");
    return this.#run(entry, this.#deps.clock.now(), "manual");
  }

  /** Removes the job (a run already enqueued finishes as a task). */
  async remove(id: string): Promise<void> {
    const entry = this.#entry(id);
    this.#deps.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    this.#entries.delete(id);
    const removal = entry.saving.then(() => this.#deps.store.remove(id));
    entry.saving = removal.catch(() => undefined);
    try {
      await removal;
    } catch (err) {
      this.#entries.set(id, entry);
      this.#arm(entry);
      throw err;
    }
    this.#changed(entry, "deleted");
  }

  /** The job's runs, newest first. */
  history(id: string, limit: number): ScheduleRun[] {
    const runs = this.#entry(id).runs;
    return runs.slice(Math.max(0, runs.length - limit)).reverse().map((r) => ({ ...r }));
  }

  /** The next `count` fire times from now (one for a one-shot job; none for a Completed or Failed one). */
  nextRuns(id: string, count: number): number[] {
    const { job, schedule } = this.#entry(id);
    if (job.status === "Completed" || job.status === "Failed") return [];
    const out: number[] = [];
    const n = job.one_shot ? Math.min(1, count) : count;
    for (let t = schedule.next(this.#deps.clock.now()); t !== undefined && out.length < n; t = schedule.next(t)) out.push(t);
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#unsubscribe) u();
    for (const e of this.#entries.values()) this.#deps.clock.clearTimeout(e.timer);
    await Promise.all([...this.#entries.values()].map((e) => e.saving));
  }

  // ---- internals ----

  async #load(): Promise<void> {
    const now = this.#deps.clock.now();
    for (const row of await this.#deps.store.list()) {
      if (!isScheduleJobRow(row)) continue;
      const job = fromStoredSchedule(row);
      let schedule: Schedule | undefined;
      try {
        schedule = job ? jobSchedule(job.cron, job.timezone) : undefined;
      } catch {
        schedule = undefined;
      }
      if (!job || !schedule) {
        this.#deps.logger.warn({ schedule_id: row.id }, "a stored schedule job cannot be read; it is left in the store and not run");
        continue;
      }
      const entry: Entry = { job, schedule, timer: undefined, runs: [], inFlight: 0, saving: Promise.resolve() };
      this.#entries.set(job.id, entry);
      const due = job.next_run;
      if (job.status === "Active" && due !== null && due < now && this.#deps.config.missed_run_policy === "Skip") {
        this.#skip(entry, due, "schedule", `${countFires(schedule, due, now)} fire time(s) missed while the runtime was down`);
        this.#advance(entry, now, due);
        this.#save(entry);
      }
      this.#arm(entry);
    }
  }

  #entry(id: string): Entry {
    const entry = this.#entries.get(id);
    if (!entry) throw new SchedulerError("SCHEDULE_NOT_FOUND", `Schedule ${id} not found`, { details: { schedule_id: id } });
    return entry;
  }

  #expect(entry: Entry, allowed: readonly JobStatus[], action: string): void {
    if (allowed.includes(entry.job.status)) return;
    throw new SchedulerError("SCHEDULE_INVALID_STATE", `Cannot ${action} schedule ${entry.job.id}: it is ${entry.job.status}`, {
      details: { schedule_id: entry.job.id, status: entry.job.status, action },
    });
  }

  /** Applies a caller's change, persists it, and undoes it if the store refuses (nothing half-applied). */
  async #commit(entry: Entry, next: ScheduleJob, schedule: Schedule, action: string): Promise<ScheduleJob> {
    const before = { job: entry.job, schedule: entry.schedule };
    entry.job = next;
    entry.schedule = schedule;
    this.#arm(entry);
    const write = entry.saving.then(() => this.#deps.store.put(toStoredSchedule(next, this.#deps.config.missed_run_policy)));
    entry.saving = write.catch(() => undefined);
    try {
      await write;
    } catch (err) {
      if (entry.job === next) {
        entry.job = before.job;
        entry.schedule = before.schedule;
        this.#arm(entry);
      }
      throw err;
    }
    this.#changed(entry, action);
    return entry.job;
  }

  /** Persists the job as it is when the write runs (counters and outcomes; failures are logged). */
  #save(entry: Entry): void {
    if (this.#closed) return;
    entry.saving = entry.saving
      .then(() => (this.#entries.get(entry.job.id) === entry ? this.#deps.store.put(toStoredSchedule(entry.job, this.#deps.config.missed_run_policy)) : undefined))
      .catch((err: unknown) => this.#deps.logger.error({ err, schedule_id: entry.job.id }, "schedule job state could not be persisted"));
  }

  #arm(entry: Entry): void {
    this.#deps.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    const { job } = entry;
    if (this.#closed || job.status !== "Active" || job.next_run === null || this.#entries.get(job.id) !== entry) return;
    // The clock reaches fire times past setTimeout's 24.8-day limit itself.
    const delay = Math.max(0, job.next_run - this.#deps.clock.now());
    entry.timer = this.#deps.clock.setTimeout(() => void this.#onTimer(entry), delay);
  }

  async #onTimer(entry: Entry): Promise<void> {
    entry.timer = undefined;
    const { job } = entry;
    if (this.#closed || this.#entries.get(job.id) !== entry || job.status !== "Active" || job.next_run === null) return;
    const now = this.#deps.clock.now();
    if (now < job.next_run) return this.#arm(entry);
    const due = job.next_run;
    const late = countFires(entry.schedule, due, now) - 1;
    this.#advance(entry, now, due);
    this.#arm(entry);
    if (late > 0) this.#skip(entry, due, "schedule", `${late} later fire time(s) passed while the timer was late`);
    await this.#run(entry, due, "schedule");
  }

  /** Moves the job past a fire time: the next one after `now`, or Completed when there is none (or it was one-shot). */
  #advance(entry: Entry, now: number, due: number): void {
    const { job } = entry;
    const next = job.one_shot ? undefined : entry.schedule.next(now);
    entry.job = { ...job, last_run: due, next_run: next ?? null, status: next === undefined ? "Completed" : job.status, updated_at: now };
    if (next === undefined) this.#changed(entry, "completed");
  }

  async #run(entry: Entry, scheduledFor: number, trigger: ScheduleRun["trigger"]): Promise<ScheduleRun> {
    if (trigger === "schedule" && entry.inFlight > 0) return this.#skip(entry, scheduledFor, trigger, "the previous run is still in progress");
    const { agent_id, id, name, policy_ids, input } = entry.job;
    entry.inFlight++;
    let started = false;
    try {
      let state: AgentState;
      try {
        state = await this.#deps.agents.getAgentState(agent_id);
      } catch (err) {
        const e = toRuntimeError(err);
        if (e.code === "AGENT_NOT_FOUND") this.#fail(entry, `agent ${agent_id} no longer exists`);
        return this.#skip(entry, scheduledFor, trigger, e.message);
      }
      if (!CAN_WORK.has(state)) return this.#skip(entry, scheduledFor, trigger, `agent ${agent_id} is ${state}`);
      for (const policyId of policy_ids) {
        let verdict: { allowed: boolean; reasons: readonly string[] };
        try {
          verdict = await this.#deps.policies.evaluatePolicy(policyId, { agent_id, operation: "schedule.run", resource: id });
        } catch (err) {
          return this.#skip(entry, scheduledFor, trigger, `policy ${policyId} could not be evaluated: ${toRuntimeError(err).message}`);
        }
        if (!verdict.allowed) {
          return this.#skip(entry, scheduledFor, trigger, `policy ${policyId} denied the run${verdict.reasons.length ? `: ${verdict.reasons.join("; ")}` : ""}`);
        }
      }
      const now = this.#deps.clock.now();
      let taskId: TaskId;
      try {
        taskId = (await this.#deps.tasks.scheduleTask({ agent_id, input: input ?? { schedule_id: id, schedule_name: name, scheduled_for: scheduledFor } })).id;
      } catch (err) {
        const e = toRuntimeError(err);
        const run = this.#record(entry, { run_id: randomUUID(), task_id: null, trigger, scheduled_for: scheduledFor, started_at: now, completed_at: now, status: "Failed", error: `${e.code}: ${e.message}`, execution_time_ms: 0 });
        this.#countOutcome(entry, run);
        return { ...run };
      }
      started = true;
      const run = this.#record(entry, { run_id: taskId, task_id: taskId, trigger, scheduled_for: scheduledFor, started_at: now, completed_at: null, status: "Running", error: null, execution_time_ms: null });
      entry.job = { ...entry.job, run_count: entry.job.run_count + 1, updated_at: now };
      this.#byTask.set(taskId, run);
      this.#save(entry);
      this.#deps.tasks.waitForTask(taskId).then(
        (status) => this.#settle(entry, run, status),
        (err: unknown) => {
          const e = toRuntimeError(err);
          this.#settle(entry, run, { state: "Failed", finished_at: this.#deps.clock.now(), error: { code: e.code, message: e.message } });
        },
      );
      return { ...run };
    } finally {
      if (!started) entry.inFlight--;
    }
  }

  #settle(entry: Entry, run: Run, status: TaskStatus): void {
    if (run.task_id) this.#byTask.delete(run.task_id);
    entry.inFlight--;
    const finished = "finished_at" in status ? status.finished_at : this.#deps.clock.now();
    run.completed_at = finished;
    run.execution_time_ms = Math.max(0, finished - run.started_at);
    run.status = RUN_STATUS[status.state] ?? "Failed";
    if ("error" in status) run.error = `${status.error.code}: ${status.error.message}`;
    else if (status.state === "Cancelled") run.error = `cancelled: ${status.reason}`;
    if (this.#closed || this.#entries.get(entry.job.id) !== entry) return;
    this.#countOutcome(entry, run);
  }

  /** Counts a finished run; a failure streak reaching `schedule_dead_letter_after` dead-letters the job. */
  #countOutcome(entry: Entry, run: Run): void {
    const job = entry.job;
    const now = this.#deps.clock.now();
    if (run.status === "Succeeded") {
      entry.job = { ...job, consecutive_failures: 0, updated_at: now };
    } else {
      const streak = job.consecutive_failures + 1;
      entry.job = { ...job, failure_count: job.failure_count + 1, consecutive_failures: streak, updated_at: now };
      if (streak >= this.#deps.config.schedule_dead_letter_after && job.status === "Active") {
        entry.job = { ...entry.job, status: "DeadLetter", status_reason: `${streak} runs in a row failed; last: ${run.error ?? run.status}`, next_run: null };
        this.#arm(entry);
        this.#changed(entry, "dead_lettered");
      }
    }
    this.#save(entry);
    this.#emitRun(entry, run);
  }

  #skip(entry: Entry, scheduledFor: number, trigger: ScheduleRun["trigger"], reason: string): ScheduleRun {
    const now = this.#deps.clock.now();
    const run = this.#record(entry, { run_id: randomUUID(), task_id: null, trigger, scheduled_for: scheduledFor, started_at: now, completed_at: now, status: "Skipped", error: reason, execution_time_ms: 0 });
    this.#emitRun(entry, run);
    return { ...run };
  }

  #record(entry: Entry, run: Run): Run {
    entry.runs.push(run);
    const over = entry.runs.length - this.#deps.config.schedule_run_history;
    if (over > 0) entry.runs.splice(0, over);
    if (run.status === "Running") this.#emitRun(entry, run);
    return run;
  }

  #fail(entry: Entry, reason: string): void {
    if (entry.job.status === "Failed" || entry.job.status === "Completed") return;
    entry.job = { ...entry.job, status: "Failed", status_reason: reason, next_run: null, updated_at: this.#deps.clock.now() };
    this.#arm(entry);
    this.#save(entry);
    this.#changed(entry, "failed");
  }

  #agentGone(agentId: AgentId, how: string): void {
    for (const entry of this.#entries.values()) if (entry.job.agent_id === agentId) this.#fail(entry, `agent ${agentId} ${how}`);
  }

  #changed(entry: Entry, action: string): void {
    const { id, agent_id, status, status_reason } = entry.job;
    this.#deps.events.emit("schedule.job_changed", { schedule_id: id, agent_id, action, status, ...(status_reason ? { reason: status_reason } : {}) });
  }

  #emitRun(entry: Entry, run: Run): void {
    this.#deps.events.emit("schedule.job_run", {
      schedule_id: entry.job.id,
      agent_id: entry.job.agent_id,
      run_id: run.run_id,
      status: run.status,
      trigger: run.trigger,
      ...(run.error ? { error: run.error } : {}),
    });
  }
}

const RUN_STATUS: Partial<Record<TaskStatus["state"], RunStatus>> = { Completed: "Succeeded", Failed: "Failed", TimedOut: "TimedOut", Cancelled: "Failed" };

/** Fire times from `first` (itself one) up to `until`, bounded. */
function countFires(schedule: Schedule, first: number, until: number): number {
  let n = 1;
  for (let t = schedule.next(first); t !== undefined && t <= until && n < 10_000; t = schedule.next(t)) n++;
  return n;
}

function neverFires(cron: string): SchedulerError {
  return new SchedulerError("CRON_INVALID", `Cron schedule ${JSON.stringify(cron)} names no future time`, { details: { cron, reason: "never fires" } });
}
