import { z } from "zod";

/** Where durable state lives: an embedded SQLite file under data_dir, or a shared PostgreSQL. */
export const storeConfigSchema = z
  .object({
    kind: z.enum(["sqlite", "postgres"]).default("sqlite"),
    postgres_url: z.string().optional(),
  })
  .strict();

export type StoreConfig = z.output<typeof storeConfigSchema>;
