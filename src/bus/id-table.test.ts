import { describe, expect, it } from "vitest";
import { MessageId } from "../core/ids.js";
import { IdTable } from "./id-table.js";

const ids = (n: number): MessageId[] => Array.from({ length: n }, () => MessageId.new());

describe("id table - bounded ids, oldest forgotten first", () => {
  it("id table - remembers values and forgets the oldest past its limit", () => {
    const t = new IdTable(3);
    const [a, b, c, d] = ids(4) as [MessageId, MessageId, MessageId, MessageId];
    t.set(a, 1);
    t.set(b, 2);
    t.set(c, 3);
    t.set(a, 10); // an update keeps a's place: it is still the oldest
    t.set(d, 4);
    expect(t.has(a)).toBe(false);
    expect([t.get(b), t.get(c), t.get(d), t.size]).toEqual([2, 3, 4, 3]);
  });

  it("id table - reads an id in upper case as the same id", () => {
    const t = new IdTable(10);
    const [a] = ids(1) as [MessageId];
    t.set(a, 7);
    expect(t.get(a.toUpperCase())).toBe(7);
  });

  it("id table - delete and deleteWhere free their entries; the oldest live one goes next", () => {
    const t = new IdTable(3);
    const [a, b, c, d, e] = ids(5) as [MessageId, MessageId, MessageId, MessageId, MessageId];
    t.set(a, 1);
    t.set(b, 2);
    t.set(c, 3);
    expect(t.delete(b)).toBe(true);
    expect(t.delete(b)).toBe(false);
    t.set(d, 4);
    expect([t.has(a), t.has(c), t.has(d), t.size]).toEqual([true, true, true, 3]);
    t.deleteWhere((v) => v <= 3);
    expect([t.has(a), t.has(c), t.get(d), t.size]).toEqual([false, false, 4, 1]);
    t.set(e, 5);
    expect(t.size).toBe(2);
  });

  it("id table - a table as large as the bus's replay table finds exactly the ids it holds", () => {
    // A million-id limit leaves the fewest hash tag bits beside the slot number in each index entry.
    const t = new IdTable(1_000_000);
    const held = ids(20_000);
    held.forEach((id, i) => t.set(id, i));
    held.forEach((id, i) => i % 2 === 0 && t.delete(id));
    held.forEach((id, i) => expect(t.get(id)).toBe(i % 2 === 0 ? undefined : i));
    for (const id of ids(20_000)) expect(t.has(id)).toBe(false);
    expect(t.size).toBe(10_000);
  });

  it("id table - behaves as a Map trimmed oldest-first under a long mixed sequence", () => {
    let seed = 42;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (const limit of [1, 7, 300]) {
      const table = new IdTable(limit);
      const map = new Map<string, number>();
      const pool = ids(limit * 4 + 5);
      for (let i = 0; i < 30_000; i++) {
        const id = pool[Math.floor(random() * pool.length)] as MessageId;
        const r = random();
        if (r < 0.5) {
          if (!map.has(id) && map.size >= limit) map.delete(map.keys().next().value as string);
          map.set(id, i);
          table.set(id, i);
        } else if (r < 0.7) {
          expect(table.delete(id)).toBe(map.delete(id));
        } else if (r < 0.71) {
          for (const [k, v] of map) if (v <= i - 50) map.delete(k);
          table.deleteWhere((v) => v <= i - 50);
        }
        expect(table.size).toBe(map.size);
      }
      for (const id of pool) expect(table.get(id)).toBe(map.get(id));
    }
  });
});
