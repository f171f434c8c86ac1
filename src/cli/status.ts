/**
 * `symbiont status`: reads the state store of a data dir (read-only; safe while the runtime runs) and
 * prints how many agents, tasks, messages, schedules and dead letters it holds.
 */
import type { Command } from "commander";
import { loadConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { openStateStore, sqliteFileOf } from "../store/index.js";

interface StatusOptions {
  readonly config?: string;
  readonly dataDir?: string;
  readonly json?: boolean;
}

export interface StoreStatus {
  readonly store: { readonly kind: string; readonly location: string; readonly schema_version: number };
  readonly agents: { readonly total: number; readonly by_state: Record<string, number> };
  readonly tasks: { readonly total: number; readonly by_status: Record<string, number> };
  readonly messages: Record<string, number>;
  readonly schedules: number;
  readonly dead_letters: number;
}

function nonZero(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Reads the counts; throws STORE_UNAVAILABLE when the data dir holds no store. */
export async function readStatus(options: StatusOptions): Promise<StoreStatus> {
  const overrides: Record<string, unknown> = {};
  if (options.dataDir !== undefined) overrides.data_dir = options.dataDir;
  const config = loadConfig({ ...(options.config ? { file: options.config } : {}), overrides: overrides as RuntimeConfigInput });
  const store = await openStateStore({ config: config.store, dataDir: config.data_dir, readOnly: true });
  try {
    const [byState, byStatus, messages, schedules, deadLetters] = await Promise.all([
      store.agents.countByState(),
      store.tasks.countByStatus(),
      store.messages.countByStatus(),
      store.schedules.list(),
      store.deadLetters.count(),
    ]);
    return {
      store: { ...store.info, location: config.store.kind === "sqlite" ? sqliteFileOf(config.store, config.data_dir) : store.info.location },
      agents: { total: sum(byState), by_state: byState },
      tasks: { total: sum(byStatus), by_status: byStatus },
      messages,
      schedules: schedules.length,
      dead_letters: deadLetters,
    };
  } finally {
    await store.close();
  }
}

export function formatStatus(s: StoreStatus): string {
  return [
    `store: ${s.store.kind} ${s.store.location} (schema v${s.store.schema_version})`,
    `agents: ${s.agents.total}${nonZero(s.agents.by_state)}`,
    `tasks: ${s.tasks.total}${nonZero(s.tasks.by_status)}`,
    `messages: pending ${s.messages.Pending ?? 0}, in flight ${s.messages.InFlight ?? 0}, delivered ${s.messages.Delivered ?? 0}, failed ${s.messages.Failed ?? 0}, expired ${s.messages.Expired ?? 0}`,
    `schedules: ${s.schedules}`,
    `dead letters: ${s.dead_letters}`,
  ].join("\n");
}

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("print what the state store of a data dir holds (agents, tasks, messages)")
    .option("-c, --config <file>", "YAML or JSON config file")
    .option("-d, --data-dir <dir>", "where embedded state lives (default ./.symbiont)")
    .option("--json", "print JSON")
    .action(async (opts: StatusOptions) => {
      const status = await readStatus(opts);
      process.stdout.write(`${opts.json ? JSON.stringify(status, null, 2) : formatStatus(status)}\n`);
    });
}
