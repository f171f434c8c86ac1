import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { StoreError } from "../core/errors.js";
import { createSqliteStateStore } from "./sqlite-state-store.js";
import { describeStateStoreContract, task } from "./state-store.contract.js";

const tmp = () => mkdtempSync(join(tmpdir(), "symbiont-sqlite-"));

describeStateStoreContract(
  "sqlite",
  () => createSqliteStateStore({ file: join(tmp(), "state.db") }),
  { reopen: (prev) => createSqliteStateStore({ file: prev.info.location }) },
);

describeStateStoreContract("sqlite :memory:", () => createSqliteStateStore({ file: ":memory:" }));

async function openError(file: string, readOnly = false): Promise<StoreError> {
  const err = await createSqliteStateStore({ file, readOnly }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

describe("sqlite state store - opening", () => {
  it("creates the data directory, uses WAL and records the schema version", async () => {
    const file = join(tmp(), "nested", "dir", "state.db");
    const s = await createSqliteStateStore({ file });
    expect(s.info).toEqual({ kind: "sqlite", location: file, schema_version: 2 });
    await s.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.prepare("SELECT version, name FROM schema_migrations").all()).toEqual([
      { version: 1, name: "initial" },
      { version: 2, name: "bus_keys" },
    ]);
    db.close();
    // Opening again applies nothing twice.
    const again = await createSqliteStateStore({ file });
    expect(again.info.schema_version).toBe(2);
    await again.close();
  });

  it("a garbage file stops start-up with STORE_CORRUPT naming the file, and is left untouched", async () => {
    const file = join(tmp(), "state.db");
    writeFileSync(file, "this is not a database, it is a shopping list ".repeat(200));
    const before = readFileSync(file);
    const err = await openError(file);
    expect(err.code).toBe("STORE_CORRUPT");
    expect(err.message).toContain(file);
    expect(err.details).toMatchObject({ file });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("a store whose pages were damaged is reported corrupt, never reset", async () => {
    const file = join(tmp(), "state.db");
    const s = await createSqliteStateStore({ file });
    await Promise.all(Array.from({ length: 3_000 }, () => s.tasks.accept(task({ payload: "x".repeat(200) }), 1)));
    await s.close();
    const bytes = readFileSync(file);
    // Overwrite the middle of the file (b-tree pages), keeping the header valid.
    bytes.fill(0xa5, Math.floor(bytes.length / 3), Math.floor(bytes.length / 3) + 16_384);
    writeFileSync(file, bytes);
    const err = await openError(file);
    expect(err.code).toBe("STORE_CORRUPT");
    expect(err.message).toContain(file);
  });

  it("an SQLite file of another application is refused, not adopted", async () => {
    const file = join(tmp(), "other.db");
    const db = new Database(file);
    db.exec("CREATE TABLE invoices (id INTEGER)");
    db.close();
    const err = await openError(file);
    expect(err.code).toBe("STORE_CORRUPT");
    expect(err.message).toMatch(/not a Symbiont state store/);
  });

  it("a store from a newer runtime is refused with STORE_VERSION_UNSUPPORTED", async () => {
    const file = join(tmp(), "state.db");
    await (await createSqliteStateStore({ file })).close();
    const db = new Database(file);
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', 0)").run();
    db.close();
    const err = await openError(file);
    expect(err.code).toBe("STORE_VERSION_UNSUPPORTED");
    expect(err.details).toMatchObject({ version: 99, supported: 2 });
  });

  it("a path that cannot be opened as a file is STORE_UNAVAILABLE naming it", async () => {
    const file = join(tmp(), "state.db");
    mkdirSync(file);
    const err = await openError(file);
    expect(err.code).toBe("STORE_UNAVAILABLE");
    expect(err.message).toContain(file);
  });

  it("read-only opening needs an existing store and refuses writes", async () => {
    const dir = tmp();
    const missing = await openError(join(dir, "none.db"), true);
    expect(missing.code).toBe("STORE_UNAVAILABLE");
    const file = join(dir, "state.db");
    const w = await createSqliteStateStore({ file });
    await w.tasks.accept(task(), 1);
    const r = await createSqliteStateStore({ file, readOnly: true });
    expect((await r.tasks.countByStatus()).Pending).toBe(1);
    await expect(r.tasks.accept(task(), 1)).rejects.toMatchObject({ code: "STORE_WRITE_FAILED" });
    await r.close();
    await w.close();
  });

  it("one failing write in a batch fails alone; its neighbours commit", async () => {
    const s = await createSqliteStateStore({ file: ":memory:" });
    const bad = { ...task(), priority: "Urgent" } as unknown as ReturnType<typeof task>;
    const results = await Promise.allSettled([s.tasks.accept(task(), 1), s.tasks.accept(bad, 1), s.tasks.accept(task(), 1)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: "STORE_WRITE_FAILED" });
    expect((await s.tasks.countByStatus()).Pending).toBe(2);
    await s.close();
  });
});
