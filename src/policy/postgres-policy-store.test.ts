import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { requirement, TEST_POSTGRES_URL } from "../../test/helpers/requirements.js";
import { describePolicyStoreContract } from "./policy-store.contract.js";
import { openPostgresPolicyStore } from "./postgres-policy-store.js";

const url = process.env.TEST_POSTGRES_URL ?? TEST_POSTGRES_URL;
const pgReq = await requirement("postgres", async () => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  await client.end();
  return true;
});

const schemas: string[] = [];
function freshSchema(): string {
  const s = `symbiont_test_policy_${randomBytes(6).toString("hex")}`;
  schemas.push(s);
  return s;
}

afterAll(async () => {
  if (!pgReq.available || schemas.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
});

describePolicyStoreContract(
  "postgres",
  () => {
    const schema = freshSchema();
    return { open: () => openPostgresPolicyStore({ url, schema }), reopen: () => openPostgresPolicyStore({ url, schema }) };
  },
  { skip: !pgReq.available },
);

describe.skipIf(!pgReq.available)("postgres policy store", () => {
  it("postgres policy store - an unreachable server fails with POLICY_STORE_UNAVAILABLE", async () => {
    await expect(openPostgresPolicyStore({ url: "postgres://postgres@127.0.0.1:1/none" })).rejects.toMatchObject({ code: "POLICY_STORE_UNAVAILABLE" });
  });
});
