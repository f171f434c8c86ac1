/**
 * Fixtures for the audit tests: a trail on a fresh SQLite file in a temp dir, on a manual clock.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/core/clock.js";
import type { EventStream } from "../../src/core/events.js";
import { silentLogger } from "../../src/core/logger.js";
import { generateSigner, type CheckpointSigner } from "../../src/audit/signing.js";
import { SqliteAuditStore } from "../../src/audit/sqlite-audit-store.js";
import { DefaultAuditTrail, type AuditTrailOptions } from "../../src/audit/trail.js";

export interface TrailFixture {
  readonly dir: string;
  readonly trail: DefaultAuditTrail;
  readonly store: SqliteAuditStore;
  readonly signer: CheckpointSigner;
  readonly clock: ManualClock;
  /** Closes the trail and removes the temp dir. */
  dispose(): Promise<void>;
}

export async function sqliteTrail(
  options: AuditTrailOptions = {},
  extra: { events?: EventStream; clock?: ManualClock; recordRuntimeEvents?: boolean } = {},
): Promise<TrailFixture> {
  const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-"));
  const store = await SqliteAuditStore.open({ path: join(dir, "audit.db") });
  const signer = generateSigner();
  const clock = extra.clock ?? new ManualClock();
  const trail = new DefaultAuditTrail({
    store,
    signer,
    clock,
    logger: silentLogger(),
    ...(extra.events ? { events: extra.events } : {}),
    recordRuntimeEvents: extra.recordRuntimeEvents ?? false,
    options,
  });
  return {
    dir,
    trail,
    store,
    signer,
    clock,
    async dispose() {
      await trail.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
