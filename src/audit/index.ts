/**
 * The audit trail: tamper-evident (hash chain + Ed25519 checkpoints), durable (acknowledged after commit),
 * queryable and exportable, on SQLite (embedded default) or PostgreSQL.
 *
 * @example
 * const audit = await createAuditTrail({ config: runtimeConfig, clock, logger, events });
 * await audit.recordEvent({ event_type: "SecurityEvent", details: "sandbox escape attempt", agent_id });
 * const report = await audit.verifyIntegrity();
 */
import { join, resolve } from "node:path";
import type { Clock } from "../core/clock.js";
import type { RuntimeConfig } from "../core/config/index.js";
import { AuditError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { Logger } from "../core/logger.js";
import { loadOrCreateKeyFile, signerFromPem, type CheckpointSigner } from "./signing.js";
import { DefaultAuditTrail } from "./trail.js";
import type { AuditStore } from "./types.js";

export type * from "./types.js";
export { AUDIT_EVENT_TYPES } from "./types.js";
export { DefaultAuditTrail, type AuditTrailDeps, type AuditTrailOptions } from "./trail.js";
export { GENESIS_HASH, canonicalBytes, recordHash, checkpointBytes } from "./chain.js";
export { generateSigner, loadOrCreateKeyFile, signerFromPem, parsePublicKey, keyIdOf, type CheckpointSigner } from "./signing.js";
export { verifyChain, type VerifyChainOptions } from "./verify.js";
export { verifyExportFile, type ExportVerification } from "./export-verify.js";
export { auditEventFromRuntime } from "./recorder.js";

export interface AuditStoreSpec {
  readonly kind: "sqlite" | "postgres";
  /** SQLite file. */
  readonly path?: string;
  /** PostgreSQL URL and schema. */
  readonly url?: string;
  readonly schema?: string;
}

/** Opens a store; the driver (better-sqlite3 or pg) is loaded only for the kind asked for. */
export async function createAuditStore(spec: AuditStoreSpec): Promise<AuditStore> {
  if (spec.kind === "sqlite") {
    if (!spec.path) throw new AuditError("AUDIT_STORE_UNAVAILABLE", "The SQLite audit store needs a file path");
    const { SqliteAuditStore } = await import("./sqlite-audit-store.js");
    return SqliteAuditStore.open({ path: spec.path });
  }
  if (!spec.url) {
    throw new AuditError("AUDIT_STORE_UNAVAILABLE", "The PostgreSQL audit store needs audit.postgres_url or store.postgres_url");
  }
  const { PostgresAuditStore } = await import("./postgres-audit-store.js");
  return PostgresAuditStore.open({ url: spec.url, ...(spec.schema ? { schema: spec.schema } : {}) });
}

/** Where the audit settings put the store, resolved against data_dir. */
export function auditStoreSpec(config: RuntimeConfig): AuditStoreSpec {
  const a = config.audit;
  const kind = a.store === "inherit" ? config.store.kind : a.store;
  // A memory state store (embedding, tests) keeps its audit chain in memory too, with the same SQLite code.
  if (kind === "memory") return { kind: "sqlite", path: ":memory:" };
  if (kind === "sqlite") return { kind, path: resolve(a.sqlite_path ?? join(config.data_dir, "audit", "audit.db")) };
  const url = a.postgres_url ?? config.store.postgres_url;
  return { kind, ...(url ? { url } : {}), schema: a.postgres_schema };
}

/** The checkpoint signer from `audit.signing_key`, or the key file (created 0600 on first start). */
export function auditSigner(config: RuntimeConfig): CheckpointSigner {
  if (config.audit.signing_key) return signerFromPem(config.audit.signing_key);
  return loadOrCreateKeyFile(resolve(config.audit.signing_key_file ?? join(config.data_dir, "audit", "signing-key.pem")));
}

export interface CreateAuditTrailOptions {
  readonly config: RuntimeConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events?: EventStream;
  /** Use this store instead of the configured one (the trail then does not close it). */
  readonly store?: AuditStore;
}

/** Builds the trail from the runtime config: store, key, checkpoints, retention and runtime-event recording. */
export async function createAuditTrail(options: CreateAuditTrailOptions): Promise<DefaultAuditTrail> {
  const { config } = options;
  const a = config.audit;
  const signer = auditSigner(config);
  const store = options.store ?? (await createAuditStore(auditStoreSpec(config)));
  return new DefaultAuditTrail({
    store,
    signer,
    clock: options.clock,
    logger: options.logger,
    ...(options.events ? { events: options.events } : {}),
    recordRuntimeEvents: a.record_runtime_events,
    ownsStore: options.store === undefined,
    options: {
      checkpoint_every_records: a.checkpoint_every_records,
      checkpoint_interval_ms: a.checkpoint_interval_ms,
      max_batch_records: a.max_batch_records,
      ...(a.retention
        ? {
            retention: {
              ...a.retention,
              archive_dir: resolve(a.retention.archive_dir ?? join(config.data_dir, "audit", "archive")),
            },
          }
        : {}),
    },
  });
}
