import { z } from "zod";

/** Optional pruning of old audit records. Records are archived (export + signed checkpoint) before they go. */
export const auditRetentionSchema = z
  .object({
    /** Prune records older than this (ms). */
    max_age_ms: z.number().int().positive().optional(),
    /** Keep at most this many records in the store. */
    max_records: z.number().int().positive().optional(),
    /** How often retention runs (ms). */
    interval_ms: z.number().int().positive().default(3_600_000),
    /** Where archives go; default `<data_dir>/audit/archive`. */
    archive_dir: z.string().min(1).optional(),
  })
  .strict()
  .refine((r) => r.max_age_ms !== undefined || r.max_records !== undefined, {
    message: "retention needs max_age_ms or max_records",
  });

/** Audit trail settings. Durations in ms. */
export const auditConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** `inherit` follows `store.kind`; `sqlite` or `postgres` choose for the audit trail alone. */
    store: z.enum(["inherit", "sqlite", "postgres"]).default("inherit"),
    /** SQLite file; default `<data_dir>/audit/audit.db`. */
    sqlite_path: z.string().min(1).optional(),
    /** PostgreSQL URL; default `store.postgres_url`. */
    postgres_url: z.string().min(1).optional(),
    /** PostgreSQL schema holding the audit tables (created when missing). */
    postgres_schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case SQL identifier")
      .default("public"),
    /** Sign a checkpoint once this many records follow the last one. */
    checkpoint_every_records: z.number().int().positive().default(1000),
    /** ...or once this much time passed with unsigned records. */
    checkpoint_interval_ms: z.number().int().positive().default(60_000),
    /** Most records committed in one transaction. */
    max_batch_records: z.number().int().positive().max(50_000).default(2000),
    /** Ed25519 private key file (PKCS#8 PEM, mode 0600); default `<data_dir>/audit/signing-key.pem`, created when missing. */
    signing_key_file: z.string().min(1).optional(),
    /** The Ed25519 private key itself (PKCS#8 PEM), instead of a file. Never logged. */
    signing_key: z.string().min(1).optional(),
    /** Record every runtime event (`events.onAny`) as an audit record. */
    record_runtime_events: z.boolean().default(true),
    retention: auditRetentionSchema.optional(),
  })
  .strict()
  .refine((a) => !(a.signing_key && a.signing_key_file), {
    message: "set signing_key or signing_key_file, not both",
  });

export type AuditConfig = z.output<typeof auditConfigSchema>;
export type AuditRetentionConfig = z.output<typeof auditRetentionSchema>;
