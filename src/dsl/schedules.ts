/**
 * The schedules of a `.symbi` file that are not an agent's execution mode — one-shot (`at`, or
 * `one_shot = true`) and policy-governed ones — as schedule jobs of the agent they run: created when the
 * agent is deployed, brought in line when its definition changes, named as in the file. An `at` time
 * becomes a one-shot job on a UTC cron with the year (`s m h D M * YYYY`), so it fires once, also after a
 * restart (jobs are persisted).
 */
import type { Clock } from "../core/clock.js";
import type { AgentId } from "../core/ids.js";
import type { NewScheduleJob, ScheduleJob, ScheduleJobs } from "../scheduler/index.js";
import type { Diagnostic } from "./diagnostics.js";
import { compileDsl, diagnosticsError, isExecutionMode, type DslFile, type DslSchedule } from "./extract.js";

export type DslScheduleJobs = Pick<ScheduleJobs, "create" | "remove" | "list">;

/** A job a schedule of the file asks for; `at`, `source` and `span` let a time already past be reported where it is written. */
export interface DslJobSpec extends NewScheduleJob {
  readonly at?: number;
  readonly source: string;
  readonly span: DslSchedule["span"];
}

/** A file agent's job schedules, for the agent instance `agentId`. */
export function jobSpecs(file: Pick<DslFile, "schedules" | "source">, fileAgent: string, agentId: AgentId): DslJobSpec[] {
  return file.schedules.filter((s) => s.agent === fileAgent && !isExecutionMode(s)).map((s) => jobSpec(s, file.source, agentId));
}

function jobSpec(s: DslSchedule, source: string, agent_id: AgentId): DslJobSpec {
  const common = { name: s.name, agent_id, policy_ids: s.policy === undefined ? [] : [s.policy], source, span: s.span };
  if (s.at === undefined) return { ...common, cron: s.cron as string, timezone: s.timezone, one_shot: s.one_shot };
  return { ...common, cron: atCron(s.at), timezone: "UTC", one_shot: true, at: s.at };
}

/** A diagnostic for each spec whose `at` time has passed. */
export function pastTimes(specs: readonly DslJobSpec[], clock: Pick<Clock, "now">): Diagnostic[] {
  const now = clock.now();
  return specs
    .filter((s) => s.at !== undefined && s.at <= now)
    .map((s) => ({ span: s.span, message: `schedule '${s.name}': 'at' ${new Date(s.at as number).toISOString()} is in the past` }));
}

/** Throws DSL_EXTRACTION_ERROR, with the usual `details.diagnostics`, when an `at` time has passed. */
export function checkTimes(specs: readonly DslJobSpec[], clock: Pick<Clock, "now">): void {
  const past = pastTimes(specs, clock);
  if (past.length > 0) throw diagnosticsError("DSL_EXTRACTION_ERROR", (specs[0] as DslJobSpec).source, past);
}

/** The UTC cron naming exactly the second of `at` (rounded up, so it never fires early). */
export function atCron(at: number): string {
  const d = new Date(Math.ceil(at / 1000) * 1000);
  return `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} * ${d.getUTCFullYear()}`;
}

/** Creates the jobs; all or nothing. Callers check `at` times first (`checkTimes`). Resolves to the created jobs. */
export async function createJobs(jobs: DslScheduleJobs, specs: readonly DslJobSpec[]): Promise<ScheduleJob[]> {
  const created: ScheduleJob[] = [];
  try {
    for (const { at: _at, source: _source, span: _span, ...spec } of specs) created.push(await jobs.create(spec));
    return created;
  } catch (err) {
    await removeJobs(jobs, created);
    throw err;
  }
}

async function removeJobs(jobs: DslScheduleJobs, list: readonly ScheduleJob[]): Promise<void> {
  for (const j of list) await jobs.remove(j.id).catch(() => undefined);
}

/**
 * Brings the agent's jobs from its previous definition (`previousSource`, the file it was deployed from) in
 * line with `specs`: unchanged ones stay (a one-shot that already ran is not run again), new and changed ones
 * are created before the stale ones are removed, so a failure leaves the previous set in force.
 */
export async function syncJobs(
  jobs: DslScheduleJobs,
  clock: Pick<Clock, "now">,
  agentId: AgentId,
  previousSource: string | undefined,
  specs: readonly DslJobSpec[],
): Promise<void> {
  const previous = new Set(previousSchedules(previousSource).map((s) => s.name));
  const current = jobs.list().filter((j) => j.agent_id === agentId && previous.has(j.name));
  const kept = new Set<ScheduleJob>();
  const toCreate: DslJobSpec[] = [];
  for (const spec of specs) {
    const same = current.find((j) => !kept.has(j) && sameJob(j, spec));
    if (same) kept.add(same);
    else toCreate.push(spec);
  }
  checkTimes(toCreate, clock);
  await createJobs(jobs, toCreate);
  await removeJobs(jobs, current.filter((j) => !kept.has(j)));
}

function previousSchedules(source: string | undefined): readonly DslSchedule[] {
  if (source === undefined) return [];
  try {
    return compileDsl(source).schedules;
  } catch {
    // A definition that no longer compiles (a grammar change) made no jobs this version can recognise.
    return [];
  }
}

function sameJob(j: ScheduleJob, spec: NewScheduleJob): boolean {
  return (
    j.name === spec.name &&
    j.cron === spec.cron &&
    j.timezone === (spec.timezone ?? "UTC") &&
    j.one_shot === (spec.one_shot ?? false) &&
    j.policy_ids.join("\n") === (spec.policy_ids ?? []).join("\n")
  );
}
