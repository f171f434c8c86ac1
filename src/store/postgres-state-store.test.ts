import { afterAll, describe, expect, it } from "vitest";
import { dropSchemas, freshSchemaName, postgresRequirement, TEST_POSTGRES_URL } from "../../test/helpers/postgres.js";
import { createPostgresStateStore } from "./postgres-state-store.js";
import { describeStateStoreContract, task } from "./state-store.contract.js";

const pg = await postgresRequirement();
const schemas: string[] = [];
const open = (schema = freshSchemaName()) => {
  if (!schemas.includes(schema)) schemas.push(schema);
  return createPostgresStateStore({ url: TEST_POSTGRES_URL, schema });
};
const schemaOf = (location: string) => location.split(" schema ")[1]!;

afterAll(() => dropSchemas(schemas));

describe.skipIf(!pg.available)("postgres", () => {
  describeStateStoreContract("postgres", () => open(), { reopen: (prev) => open(schemaOf(prev.info.location)) });

  describe("postgres state store - opening", () => {
    it("names where it is without credentials and migrates once when nodes start together", async () => {
      const schema = freshSchemaName();
      const [a, b] = await Promise.all([open(schema), open(schema)]);
      expect(a.info).toEqual({ kind: "postgres", location: `postgres://127.0.0.1:5432/test schema ${schema}`, schema_version: 2 });
      expect(b.info.schema_version).toBe(2);
      // Two nodes on one store: a task accepted by one is claimed by exactly one of them.
      const t = task();
      await a.tasks.accept(t, 1);
      const claims = await Promise.all([a.tasks.claim(t.id, "a", 2), b.tasks.claim(t.id, "b", 2)]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      await Promise.all([a.close(), b.close()]);
    });

    it("an unreachable server is STORE_UNAVAILABLE and the password never appears", async () => {
      const err = await createPostgresStateStore({ url: "postgres://u:hunter2@127.0.0.1:1/db", schema: "x" }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "STORE_UNAVAILABLE" });
      expect(String((err as Error).message)).not.toContain("hunter2");
      expect(JSON.stringify((err as { details: unknown }).details)).not.toContain("hunter2");
    });

    it("a schema name that is not a plain identifier is refused", async () => {
      await expect(createPostgresStateStore({ url: TEST_POSTGRES_URL, schema: 'x"; DROP TABLE y; --' })).rejects.toMatchObject({
        code: "STORE_UNAVAILABLE",
      });
    });
  });
});
