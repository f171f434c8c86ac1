import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { requirement, TEST_POSTGRES_URL } from "../../test/helpers/requirements.js";
import { ManualClock } from "../core/clock.js";
import { silentLogger } from "../core/logger.js";
import { describeAuditStoreContract } from "./audit-store.contract.js";
import { PostgresAuditStore } from "./postgres-audit-store.js";
import { generateSigner } from "./signing.js";
import { DefaultAuditTrail } from "./trail.js";

const url = process.env.TEST_POSTGRES_URL ?? TEST_POSTGRES_URL;
const pgReq = await requirement("postgres", async () => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  await client.end();
  return true;
});

/** Other sessions share this database: every harness gets its own schema under a per-run prefix. */
const prefix = `symbiont_test_audit_${randomBytes(4).toString("hex")}`;
let n = 0;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  if (!pgReq.available) return;
  await admin(async (c) => {
    const { rows } = await c.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", [`${prefix}%`]);
    for (const r of rows) await c.query(`DROP SCHEMA IF EXISTS ${r.nspname} CASCADE`);
  });
});

describeAuditStoreContract(
  "postgres",
  async () => {
    const schema = `${prefix}_${++n}`;
    return {
      open: () => PostgresAuditStore.open({ url, schema }),
      exec: (sql) => admin(async (c) => void (await c.query(`SET search_path = ${schema}; ${sql}`))),
      cleanup: () => admin(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`))),
    };
  },
  pgReq.available ? {} : { skip: pgReq.reason ?? "postgres unavailable" },
);

describe.skipIf(!pgReq.available)("postgres audit store - specifics", () => {
  it("postgres - an unreachable server is AUDIT_STORE_UNAVAILABLE", async () => {
    await expect(PostgresAuditStore.open({ url: "postgres://postgres@127.0.0.1:1/none", schema: `${prefix}_x` })).rejects.toMatchObject({
      code: "AUDIT_STORE_UNAVAILABLE",
    });
  });

  it("postgres - an invalid schema name is refused before any SQL runs", async () => {
    await expect(PostgresAuditStore.open({ url, schema: "bad; DROP TABLE x" })).rejects.toMatchObject({ code: "AUDIT_STORE_UNAVAILABLE" });
  });

  it("postgres - a schema-1 chain (metadata as jsonb) is migrated at open: its records read and verify as before", async () => {
    const schema = `${prefix}_v1`;
    const signer = generateSigner();
    const trailOn = async (): Promise<DefaultAuditTrail> =>
      new DefaultAuditTrail({ store: await PostgresAuditStore.open({ url, schema }), signer, clock: new ManualClock(), logger: silentLogger() });
    const first = await trailOn();
    for (let i = 1; i <= 5; i++) await first.recordEvent({ event_type: "AgentStarted", details: `d${i}`, metadata: { b: "2", a: String(i) } });
    const before = await first.queryEvents({ limit: 100 });
    await first.close();
    await admin(async (c) => {
      await c.query(`SET search_path = ${schema};
        UPDATE audit_events SET metadata = json_build_object('b', '2', 'a', seq::text)::text;
        ALTER TABLE audit_events ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb;
        DELETE FROM audit_migrations WHERE version > 1;`);
    });
    const upgraded = await trailOn();
    expect(await upgraded.queryEvents({ limit: 100 })).toEqual(before);
    await upgraded.recordEvent({ event_type: "AgentStopped", details: "after the upgrade", metadata: { z: "1", a: "0" } });
    expect(await upgraded.verifySequence()).toMatchObject({ valid: true, records_checked: 6 });
    await upgraded.close();
  });
});
