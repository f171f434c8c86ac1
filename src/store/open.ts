/**
 * Picks and opens the StateStore the runtime config names. Drivers load only when their store is chosen.
 */
import { isAbsolute, join, resolve } from "node:path";
import type { StoreConfig } from "../core/config/index.js";
import type { StateStore } from "./types.js";

export interface OpenStateStoreOptions {
  readonly config: StoreConfig;
  /** Where relative SQLite paths live. */
  readonly dataDir: string;
  /** Only read an existing store (`symbiont status`); never create or migrate. SQLite only. */
  readonly readOnly?: boolean;
}

/** The SQLite file a config points at (absolute). */
export function sqliteFileOf(config: StoreConfig, dataDir: string): string {
  return resolve(isAbsolute(config.sqlite_file) ? config.sqlite_file : join(dataDir, config.sqlite_file));
}

/**
 * @example
 * const store = await openStateStore({ config: runtimeConfig.store, dataDir: runtimeConfig.data_dir });
 */
export async function openStateStore(options: OpenStateStoreOptions): Promise<StateStore> {
  const { config } = options;
  switch (config.kind) {
    case "postgres": {
      const { createPostgresStateStore } = await import("./postgres-state-store.js");
      return createPostgresStateStore({
        url: config.postgres_url as string,
        schema: config.postgres_schema,
        poolSize: config.postgres_pool_size,
        maxBatch: config.max_batch,
      });
    }
    case "memory": {
      const { createSqliteStateStore } = await import("./sqlite-state-store.js");
      return createSqliteStateStore({ file: ":memory:", maxBatch: config.max_batch });
    }
    default: {
      const { createSqliteStateStore } = await import("./sqlite-state-store.js");
      return createSqliteStateStore({
        file: sqliteFileOf(config, options.dataDir),
        maxBatch: config.max_batch,
        readOnly: options.readOnly ?? false,
      });
    }
  }
}
