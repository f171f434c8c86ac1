import { describe, expect, it } from "vitest";
import { randomUuid } from "./uuid.js";

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("randomUuid", () => {
  it("mints distinct v4 UUIDs across many batches", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = randomUuid();
      expect(id).toMatch(V4);
      seen.add(id);
    }
    expect(seen.size).toBe(5_000);
  });

  it("draws every random hex digit from the whole range", () => {
    // Positions outside the fixed version and variant digits: each of the 16 digits shows up at each one.
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 2_000; i++) {
      const id = randomUuid();
      for (let j = 0; j < 36; j++) digits[j]?.add(id[j] as string);
    }
    for (const j of [0, 9, 15, 20, 35]) expect(digits[j]?.size).toBe(16);
    expect([...(digits[14] ?? [])]).toEqual(["4"]);
    expect([...(digits[19] ?? [])].sort()).toEqual(["8", "9", "a", "b"]);
  });
});
