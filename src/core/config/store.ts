import { z } from "zod";

/**
 * Where durable state lives: an embedded SQLite file under data_dir (default), a shared PostgreSQL, or
 * `memory` (an in-process SQLite database: nothing survives a restart; for tests and throwaway runs).
 */
export const storeConfigSchema = z
  .object({
    kind: z.enum(["sqlite", "postgres", "memory"]).default("sqlite"),
    /** The SQLite file; relative paths are under data_dir. */
    sqlite_file: z.string().min(1).default("state.db"),
    /** Required when kind is postgres, e.g. postgres://user@host:5432/db. */
    postgres_url: z.string().min(1).optional(),
    /** The PostgreSQL schema holding the tables (created when missing). */
    postgres_schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "lower-case letters, digits and _ (a plain PostgreSQL identifier)")
      .default("symbiont"),
    /** Connections in the PostgreSQL pool. */
    postgres_pool_size: z.number().int().positive().max(100).default(4),
    /**
     * This runtime's name among nodes sharing one store: tasks it claimed and did not finish are re-queued
     * when a node with the same name starts. Give every node sharing a PostgreSQL its own stable name.
     */
    node_id: z.string().min(1).max(128).default("local"),
    /** Most writes committed in one transaction (group commit). */
    max_batch: z.number().int().positive().max(100_000).default(1_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.kind === "postgres" && !c.postgres_url) {
      ctx.addIssue({ code: "custom", path: ["postgres_url"], message: "required when store.kind is postgres" });
    }
  });

export type StoreConfig = z.output<typeof storeConfigSchema>;
