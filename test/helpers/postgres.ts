/**
 * PostgreSQL for tests: a probe for `requirement("postgres", ...)` and throwaway schemas, since other test
 * runs share the database (each store under test gets its own `symbiont_test_<random>` schema).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { requirement, TEST_POSTGRES_URL, type Requirement } from "./requirements.js";

export { TEST_POSTGRES_URL };

/** Resolves whether TEST_POSTGRES_URL answers a query (skips, or fails under SYMBIONT_REQUIRE_SERVICES). */
export function postgresRequirement(): Promise<Requirement> {
  return requirement("postgres", async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

/** A schema name no other run uses. */
export function freshSchemaName(): string {
  return `symbiont_test_${randomBytes(6).toString("hex")}`;
}

/** Drops the named schemas and everything in them. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await client.end();
  }
}
